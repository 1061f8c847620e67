//! "Never miss a page, never describe it wrongly": the cases an adversarial review and the
//! public AWS samples found, each reproduced on the embedded backend with the shipped
//! runbooks (docs/GUARANTEES.md names these tests).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use klaxon::engine::Report;
use klaxon::memory::{self, MemoryBackend, MemoryEngine};
use klaxon::model::{IncidentStatus, Outcome, Resolution};
use klaxon::ports::IncidentStore;
use klaxon::route::Route;
use klaxon::severity::Severity;
use serde_json::{json, Value};

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(events().join(name)).unwrap()).unwrap()
}

fn shipped() -> (MemoryBackend, MemoryEngine) {
    let (backend, engine) = memory::engine(memory::embedded_settings());
    backend.set_now(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
    (backend, engine)
}

async fn handle(engine: &MemoryEngine, event: &Value) -> Report {
    engine.handle_value(event).await.unwrap()
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 1, 12, minute, 0).unwrap()
}

fn cw(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// The production alarm sample in `state` at `minute`, its previous state `previous` at
/// `previous_minute` (with `reason`), under its own event id.
fn alarm(
    id: &str,
    state: &str,
    minute: u32,
    previous: &str,
    previous_minute: u32,
    reason: &str,
) -> Value {
    let mut v = sample("alarm-metric-prod-alarm.json");
    v["id"] = json!(id);
    v["detail"]["state"]["value"] = json!(state);
    v["detail"]["state"]["timestamp"] = json!(cw(at(minute)));
    v["detail"]["previousState"] = json!({
        "value": previous, "timestamp": cw(at(previous_minute)), "reason": reason
    });
    v
}

fn config_change(id: &str, operation: &str, config_minute: u32) -> Value {
    let mut v = sample("cloudwatch-config-change.json");
    v["id"] = json!(id);
    v["detail"]["operation"] = json!(operation);
    v["detail"]["configuration"]["timestamp"] = json!(cw(at(config_minute)));
    if operation != "update" {
        v["detail"]
            .as_object_mut()
            .unwrap()
            .remove("previousConfiguration");
    }
    v
}

const ARN: &str = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-checkout-api-5xx-errors";

#[tokio::test]
async fn a_lost_ok_does_not_silence_the_next_alarm() {
    let (backend, engine) = shipped();
    let first = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    assert_eq!(first.outcome, Outcome::Opened);
    // The OK at 12:10 is lost. At 12:20 the alarm fires again; its previous state says
    // it was OK from 12:10.
    let second = handle(&engine, &alarm("a2", "ALARM", 20, "OK", 10, "r")).await;
    assert_eq!(second.outcome, Outcome::Opened, "a new incident, paged");
    assert_ne!(second.incident_id, first.incident_id);
    let old = backend
        .incident(first.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old.status, IncidentStatus::Resolved);
    assert_eq!(old.resolved_at, Some(at(10)), "resolved when it recovered");
    assert_eq!(old.resolution, Some(Resolution::RecoveryInferred));
    let timeline = backend.timeline(&old.incident_id).await.unwrap();
    assert!(
        timeline.iter().any(|e| e
            .summary
            .starts_with("recovery not seen; inferred from the next event")),
        "{timeline:#?}"
    );
    // Pages: the first opening and the second; no recovery page for the unseen OK.
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    assert!(pages
        .iter()
        .all(|p| p.notification.transition == klaxon::model::Transition::Opened));
    let body = &pages[1].notification.message;
    assert!(
        body.contains("Recovered:") && body.contains("2024-05-01T12:10:00.000Z"),
        "the page says it recovered at T and fires again:\n{body}"
    );
    // On the bus: the old incident resolved (inferred), then the new one opened.
    let bus: Vec<_> = backend
        .bus_events()
        .iter()
        .map(|e| {
            (
                e.event.detail_type.clone(),
                e.event.detail["resolution"].clone(),
            )
        })
        .collect();
    assert_eq!(
        bus[1..],
        [
            ("Incident Resolved".into(), json!("recovery_inferred")),
            ("Incident Opened".into(), Value::Null)
        ]
    );
    // A late copy of the missed OK is stale: the new incident stays open.
    let late = handle(&engine, &alarm("o1", "OK", 10, "ALARM", 0, "r")).await;
    assert_eq!(late.outcome, Outcome::Stale);
    let open = backend.open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(Some(open[0].incident_id.clone()), second.incident_id);
}

#[tokio::test]
async fn an_alarm_recreated_unseen_ends_the_old_incident_and_other_insufficient_data_does_not() {
    let (backend, engine) = shipped();
    handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    // Not a recovery: the alarm could not evaluate for a while, then fired again.
    let r = handle(
        &engine,
        &alarm(
            "a2",
            "ALARM",
            20,
            "INSUFFICIENT_DATA",
            10,
            "Insufficient Data: 1 datapoint was unknown.",
        ),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Updated);
    // Deleted and re-created (CloudWatch's initial-creation reason), then fires.
    let r = handle(
        &engine,
        &alarm(
            "a3",
            "ALARM",
            40,
            "INSUFFICIENT_DATA",
            30,
            "Unchecked: Initial alarm creation",
        ),
    )
    .await;
    assert_eq!(r.outcome, Outcome::Opened);
    assert_eq!(backend.all_incidents().len(), 2);
    assert_eq!(backend.published().len(), 2);
}

#[tokio::test]
async fn alarm_deleted_while_open_is_not_a_recovery_and_the_paged_routes_are_told() {
    let (backend, engine) = shipped();
    let opened = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    let deleted = handle(&engine, &config_change("c1", "delete", 30)).await;
    assert_eq!(deleted.outcome, Outcome::Resolved);
    let incident = backend
        .incident(opened.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.resolution, Some(Resolution::AlarmDeleted));
    assert!(
        !incident.resolution.unwrap().is_recovery(),
        "response-time statistics exclude it"
    );
    assert_eq!(incident.resolved_at, Some(at(30)));
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    let notice = &pages[1].notification;
    assert_eq!(notice.route, Route::Production);
    assert!(
        notice.subject.contains("alarm deleted - not a recovery"),
        "{}",
        notice.subject
    );
    assert!(
        notice.message.contains("NOT a recovery"),
        "{}",
        notice.message
    );
    // The tracker's state order did not move: its last state is still the ALARM.
    let (_, tracker) = backend.load("none", ARN).await.unwrap();
    let tracker = tracker.unwrap();
    assert_eq!(tracker.last_state_at, Some(at(0)));
    assert_eq!(tracker.last_config_at, Some(at(30)));
    assert!(tracker.open_incident.is_none());
}

#[tokio::test]
async fn configuration_changes_are_ordered_by_configuration_time_and_updates_are_noted() {
    let (backend, engine) = shipped();
    let opened = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    // An update whose configuration time is later than its (older) state time.
    let mut update = config_change("c1", "update", 31);
    update["detail"]["configuration"]["actionsEnabled"] = json!(false);
    update["detail"]["configuration"]["threshold"] = json!(80);
    update["detail"]["previousConfiguration"]["threshold"] = json!(50);
    update["detail"]["previousConfiguration"]["actionsEnabled"] = json!(true);
    update["detail"]["configuration"]["comparisonOperator"] = json!("GreaterThanThreshold");
    let noted = handle(&engine, &update).await;
    assert_eq!(noted.outcome, Outcome::Noted);
    let timeline = backend
        .timeline(opened.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    let note = &timeline.last().unwrap().summary;
    assert!(note.contains("threshold: 50 -> 80"), "{note}");
    assert!(note.contains("actionsEnabled is now false"), "{note}");
    assert!(
        note.contains("threshold moved away from the breach"),
        "{note}"
    );
    // A deletion configured earlier than the update, delivered late: stale, still open.
    let late = handle(&engine, &config_change("c0", "delete", 20)).await;
    assert_eq!(late.outcome, Outcome::Stale);
    assert_eq!(backend.open_incidents().await.unwrap().len(), 1);
    // A state change is not stale because of a configuration time: OK at 12:25 resolves.
    let ok = handle(&engine, &alarm("o1", "OK", 25, "ALARM", 0, "r")).await;
    assert_eq!(ok.outcome, Outcome::Resolved);
}

#[tokio::test]
async fn an_alarm_created_again_while_its_incident_is_open_ends_the_old_one() {
    let (backend, engine) = shipped();
    let opened = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    let created = handle(&engine, &config_change("c1", "create", 40)).await;
    assert_eq!(created.outcome, Outcome::Resolved);
    let incident = backend
        .incident(opened.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.resolution, Some(Resolution::AlarmRecreated));
    let timeline = backend.timeline(&incident.incident_id).await.unwrap();
    assert!(timeline.iter().any(|e| e
        .summary
        .contains("deleted and re-created; deletion not seen")));
}

fn sign_in(failed: bool, id: &str, minute: u32) -> Value {
    let mut v = sample("security/signin-root-console.json");
    v["id"] = json!(id);
    v["detail"]["eventTime"] = json!(format!("2024-05-16T07:{minute:02}:00Z"));
    if failed {
        v["detail"]["responseElements"] = json!({"ConsoleLogin": "Failure"});
        v["detail"]["errorMessage"] = json!("Failed authentication");
    }
    v
}

#[tokio::test]
async fn a_failed_root_sign_in_neither_describes_nor_masks_a_real_one() {
    let (backend, engine) = shipped();
    let failed = handle(&engine, &sign_in(true, "f1", 0)).await;
    assert_eq!(failed.outcome, Outcome::Opened);
    assert_eq!(failed.severity, Some(Severity::High));
    let failed_again = handle(&engine, &sign_in(true, "f2", 5)).await;
    assert_eq!(
        failed_again.outcome,
        Outcome::Updated,
        "one failure incident a day"
    );
    let pages = backend.published();
    assert_eq!(pages.len(), 1);
    assert!(pages[0]
        .notification
        .subject
        .contains("Root console sign-in failed"));
    assert!(!pages[0].notification.message.contains("signed in"));
    // The first successful root sign-in of the day pages at critical, whatever came before.
    let signed_in = handle(&engine, &sign_in(false, "s1", 10)).await;
    assert_eq!(signed_in.outcome, Outcome::Opened);
    assert_eq!(signed_in.severity, Some(Severity::Critical));
    assert_ne!(signed_in.incident_id, failed.incident_id);
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    assert!(pages[1]
        .notification
        .subject
        .contains("[CRITICAL][security] Root user signed in to the console"));
}

fn trail_call(name: &str, id: &str, hour: u32, trail: &str) -> Value {
    let mut v = sample("security/cloudtrail-stop-logging.json");
    v["id"] = json!(id);
    v["detail"]["eventName"] = json!(name);
    v["detail"]["eventID"] = json!(format!("ct-{id}"));
    v["detail"]["eventTime"] = json!(format!("2024-05-19T{hour:02}:00:00Z"));
    v["detail"]["requestParameters"]["name"] = json!(trail);
    v
}

#[tokio::test]
async fn stop_logging_is_keyed_by_the_trail_and_start_logging_resolves_it() {
    let (backend, engine) = shipped();
    let arn = "arn:aws:cloudtrail:us-east-1:123456789012:trail/org-management-events";
    let stopped = handle(&engine, &trail_call("StopLogging", "e1", 1, arn)).await;
    assert_eq!(stopped.outcome, Outcome::Opened);
    // The same trail named without its ARN (the call is made in its home Region).
    let again = handle(
        &engine,
        &trail_call("StopLogging", "e2", 2, "org-management-events"),
    )
    .await;
    assert_eq!(again.incident_id, stopped.incident_id);
    let started = handle(
        &engine,
        &trail_call("StartLogging", "e3", 3, "org-management-events"),
    )
    .await;
    assert_eq!(started.outcome, Outcome::Resolved);
    // Stopped again the same day: a new incident, paged.
    let later = handle(&engine, &trail_call("StopLogging", "e4", 4, arn)).await;
    assert_eq!(later.outcome, Outcome::Opened);
    assert_ne!(later.incident_id, stopped.incident_id);
    let subjects: Vec<String> = backend
        .published()
        .iter()
        .map(|p| p.notification.subject.clone())
        .collect();
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects[1].starts_with("[RESOLVED][security] Audit logging restarted"));
    // DeleteTrail keeps its per-day key: StartLogging of another trail cannot end it.
    let deleted = handle(&engine, &trail_call("DeleteTrail", "e5", 5, "other")).await;
    assert_eq!(deleted.outcome, Outcome::Opened);
    let start_other = handle(&engine, &trail_call("StartLogging", "e6", 6, "other")).await;
    assert_eq!(start_other.outcome, Outcome::Ignored);
}

#[tokio::test]
async fn guardduty_active_archived_then_a_late_security_hub_copy_of_active_is_stale() {
    let (backend, engine) = shipped();
    let active = sample("security/guardduty-ssh-bruteforce-high.json");
    let opened = handle(&engine, &active).await;
    assert_eq!(opened.outcome, Outcome::Opened);
    let mut archived = active.clone();
    archived["id"] = json!("gd-archived");
    archived["detail"]["service"]["archived"] = json!(true);
    archived["detail"]["updatedAt"] = json!("2024-05-14T03:00:00.000Z");
    archived["time"] = json!("2024-05-14T03:00:05Z");
    assert_eq!(handle(&engine, &archived).await.outcome, Outcome::Resolved);
    // Security Hub's copy of the earlier, active state arrives last (later envelope time).
    let mut copy = sample("security/securityhub-ocsf-imported.json");
    copy["time"] = json!("2024-05-14T04:00:00Z");
    let late = handle(&engine, &copy).await;
    assert_eq!(late.outcome, Outcome::Stale, "no reopening, no page");
    assert_eq!(backend.open_incidents().await.unwrap().len(), 0);
    assert_eq!(
        backend.published().len(),
        2,
        "the opening page and the resolution, nothing more"
    );
}

#[tokio::test]
async fn security_hub_failed_then_analyst_resolved_with_the_same_updated_at_resolves() {
    let (_backend, engine) = shipped();
    let failed = sample("security/securityhub-asff-imported.json");
    assert_eq!(handle(&engine, &failed).await.outcome, Outcome::Opened);
    // BatchUpdateFindings leaves UpdatedAt as it was; only the envelope time is later.
    let mut resolved = failed.clone();
    resolved["id"] = json!("analyst-resolved");
    resolved["time"] = json!("2024-05-30T10:00:00Z");
    resolved["detail"]["findings"][0]["Workflow"]["Status"] = json!("RESOLVED");
    assert_eq!(handle(&engine, &resolved).await.outcome, Outcome::Resolved);
}

#[tokio::test]
async fn a_guardduty_finding_resolved_by_an_analyst_in_security_hub_resolves() {
    let (_backend, engine) = shipped();
    let gd = sample("security/guardduty-ssh-bruteforce-high.json");
    assert_eq!(handle(&engine, &gd).await.outcome, Outcome::Opened);
    // Security Hub's copy (GuardDuty's product, same UpdatedAt), resolved by an analyst:
    // BatchUpdateFindings keeps UpdatedAt, only the envelope is later.
    let mut resolved = sample("security/securityhub-asff-resolved.json");
    resolved["id"] = json!("analyst-resolves-gd");
    resolved["time"] = json!("2024-05-15T09:00:00Z");
    let finding = &mut resolved["detail"]["findings"][0];
    finding["Id"] = gd["detail"]["arn"].clone();
    finding["ProductArn"] = json!("arn:aws:securityhub:us-east-1::product/aws/guardduty");
    finding["UpdatedAt"] = gd["detail"]["updatedAt"].clone();
    assert_eq!(handle(&engine, &resolved).await.outcome, Outcome::Resolved);
}

#[tokio::test]
async fn a_late_creation_or_deletion_never_ends_the_new_alarms_incident() {
    let (backend, engine) = shipped();
    let old = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    // The alarm is deleted and created again at 12:30; its first ALARM (12:35) arrives
    // before either configuration event.
    let new = handle(
        &engine,
        &alarm(
            "a2",
            "ALARM",
            35,
            "INSUFFICIENT_DATA",
            30,
            "Unchecked: Initial alarm creation",
        ),
    )
    .await;
    assert_eq!(new.outcome, Outcome::Opened);
    let ended = backend
        .incident(old.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ended.resolution, Some(Resolution::AlarmRecreated));
    assert!(backend.published()[1]
        .notification
        .message
        .contains("Re-created:"));
    // The late configuration events are older than the creation the ALARM revealed.
    for (id, operation, minute) in [("c-del", "delete", 29), ("c-new", "create", 30)] {
        let r = handle(&engine, &config_change(id, operation, minute)).await;
        assert_eq!(r.outcome, Outcome::Stale, "{operation}");
    }
    let open = backend.open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(Some(open[0].incident_id.clone()), new.incident_id);
}

#[tokio::test]
async fn another_product_can_neither_resolve_nor_mute_a_guardduty_incident() {
    let (backend, engine) = shipped();
    let gd = sample("security/guardduty-ssh-bruteforce-high.json");
    let opened = handle(&engine, &gd).await;
    // A third-party product imports a finding whose Id is GuardDuty's finding ARN,
    // resolved and at low severity.
    let mut other = sample("security/securityhub-asff-resolved.json");
    other["id"] = json!("third-party");
    let finding = &mut other["detail"]["findings"][0];
    finding["Id"] = gd["detail"]["arn"].clone();
    finding["ProductArn"] =
        json!("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default");
    finding["UpdatedAt"] = json!("2024-05-20T00:00:00Z");
    let r = handle(&engine, &other).await;
    assert_ne!(r.dedup_key, opened.dedup_key);
    let open = backend.open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(Some(open[0].incident_id.clone()), opened.incident_id);
    // GuardDuty's own product in Security Hub (any Region) is the same finding.
    let mut own = other.clone();
    own["id"] = json!("gd-copy");
    own["detail"]["findings"][0]["ProductArn"] =
        json!("arn:aws:securityhub:eu-west-1::product/aws/guardduty");
    let r = handle(&engine, &own).await;
    assert_eq!(r.dedup_key, opened.dedup_key);
    assert_eq!(r.outcome, Outcome::Resolved);
}

#[tokio::test]
async fn odd_identifiers_empty_guardduty_arn_and_archived_as_a_string() {
    let (_backend, engine) = shipped();
    let mut gd = sample("security/guardduty-ssh-bruteforce-high.json");
    gd["detail"]["arn"] = json!("");
    let opened = handle(&engine, &gd).await;
    let key = opened.dedup_key.unwrap();
    assert!(
        key.ends_with(&format!("finding/{}", gd["detail"]["id"].as_str().unwrap())),
        "{key}"
    );
    let mut archived = gd.clone();
    archived["id"] = json!("archived-as-string");
    archived["detail"]["service"]["archived"] = json!("true");
    archived["detail"]["updatedAt"] = json!("2024-05-14T05:00:00.000Z");
    assert_eq!(handle(&engine, &archived).await.outcome, Outcome::Resolved);
}

/// Pages production on ALARM only; a second runbook sends the recovery to the test route.
const OPENINGS_ONLY: &str = r#"
name: openings-only
description: pages on ALARM, never on recovery
team: t
trigger:
  source: [aws.cloudwatch]
  detail-type: [CloudWatch Alarm State Change]
steps:
  - id: track
    incident: {action: track}
  - id: openings
    guard: {when: {transition: [opened]}}
  - id: page
    notify: {}
"#;

const RECOVERY_ELSEWHERE: &str = r#"
name: recovery-elsewhere
description: sends recoveries to the test route only
team: t
trigger:
  source: [aws.cloudwatch]
  detail-type: [CloudWatch Alarm State Change]
steps:
  - id: note
    incident: {action: annotate, note: "recovery routed to test"}
  - id: recoveries
    guard: {when: {transition: [resolved]}}
  - id: page
    notify: {route: test}
"#;

#[tokio::test]
async fn the_recovery_goes_to_every_route_that_was_paged() {
    let catalog = klaxon::runbook::Catalog::new(
        [OPENINGS_ONLY, RECOVERY_ELSEWHERE]
            .iter()
            .enumerate()
            .map(|(n, text)| {
                klaxon::runbook::load_str(Path::new(&format!("r{n}.yaml")), text).unwrap()
            })
            .collect(),
    );
    let (backend, engine) = memory::engine_with(memory::embedded_settings(), Arc::new(catalog));
    backend.set_now(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
    let opened = handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    let incident = backend
        .incident(opened.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(incident.paged_routes, vec![Route::Production]);
    handle(&engine, &alarm("o1", "OK", 10, "ALARM", 0, "r")).await;
    let routes: Vec<(Route, &str)> = backend
        .published()
        .iter()
        .map(|p| (p.notification.route, p.notification.transition.as_str()))
        .collect::<Vec<_>>()
        .into_iter()
        .collect();
    assert!(routes.contains(&(Route::Production, "opened")));
    assert!(
        routes.contains(&(Route::Production, "resolved")),
        "the paged route hears of the recovery: {routes:?}"
    );
}

#[tokio::test]
async fn a_custom_action_escalates_each_finding_once_with_one_page() {
    let (backend, engine) = shipped();
    // A GuardDuty finding already open, and a new one from Security Hub.
    let gd = sample("security/guardduty-ssh-bruteforce-high.json");
    let open = handle(&engine, &gd).await;
    let mut asff =
        sample("security/securityhub-asff-imported.json")["detail"]["findings"][0].clone();
    asff["Id"] = json!("arn:aws:securityhub:us-east-1:123456789012:finding/escalated-1");
    let gd_copy = json!({
        "SchemaVersion": "2018-10-08",
        "Id": gd["detail"]["arn"],
        "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
        "Title": "SSH brute force", "Severity": {"Label": "HIGH"},
        "UpdatedAt": "2024-05-14T02:14:05.913Z", "Types": ["TTPs/Initial Access"],
        "Resources": [{"Type": "AwsEc2Instance", "Id": "i-1"}]
    });
    let event = json!({
        "version": "0", "id": "custom-action-1", "source": "aws.securityhub",
        "detail-type": "Security Hub Findings - Custom Action", "account": "123456789012",
        "time": "2024-05-21T10:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:securityhub:us-east-1:123456789012:action/custom/escalate"],
        "detail": {"actionName": "Escalate", "actionDescription": "page SecOps", "findings": [gd_copy, asff]}
    });
    let reports = engine.handle_value_all(&event).await.unwrap();
    assert_eq!(reports.len(), 2);
    assert!(reports
        .iter()
        .all(|r| r.event_id.as_deref() == Some("custom-action-1")));
    assert_eq!(reports[0].outcome, Outcome::Updated);
    assert_eq!(reports[0].incident_id, open.incident_id);
    assert_eq!(reports[1].outcome, Outcome::Opened);
    let timeline = backend
        .timeline(open.incident_id.as_deref().unwrap())
        .await
        .unwrap();
    assert!(timeline
        .iter()
        .any(|e| e.summary == "escalated by custom action Escalate"));
    let pages = backend.published();
    assert_eq!(
        pages.len(),
        2,
        "the finding's own page, then one for the action"
    );
    let page = &pages[1].notification;
    assert_eq!(page.route, Route::Security);
    assert!(page
        .subject
        .contains("custom action Escalate: 2 findings escalated"));
    for r in &reports {
        assert!(page.message.contains(r.incident_id.as_deref().unwrap()));
    }
    // Delivered again: each finding applies once, no second page.
    let again = engine.handle_value_all(&event).await.unwrap();
    assert!(again.iter().all(|r| r.outcome == Outcome::Duplicate));
    assert_eq!(backend.published().len(), 2);
}

/// The notice of a deletion is no recovery page: `Change:` instead of `State:`, a
/// `Resolution:` line, a `[CLOSED]` subject, and `resolution: alarm_deleted` on the bus
/// (docs/CONTRACTS.md (c), (d)).
#[tokio::test]
async fn the_notice_of_a_deletion_says_what_changed_and_how_it_ended() {
    let (backend, engine) = shipped();
    handle(&engine, &alarm("a1", "ALARM", 0, "OK", 0, "r")).await;
    handle(&engine, &config_change("c1", "delete", 30)).await;
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    let notice = &pages[1].notification;
    let lines: Vec<&str> = notice.message.lines().collect();
    assert!(lines.iter().any(|l| l.starts_with("Change:")), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.starts_with("Resolution:")),
        "{lines:#?}"
    );
    assert!(!lines.iter().any(|l| l.starts_with("State:")), "{lines:#?}");
    assert!(
        notice.subject.starts_with("[CLOSED][production] "),
        "{}",
        notice.subject
    );
    let resolved = backend.bus_events().last().unwrap().event.clone();
    assert_eq!(resolved.detail_type, "Incident Resolved");
    assert_eq!(resolved.detail["resolution"], "alarm_deleted");
}
