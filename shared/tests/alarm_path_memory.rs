//! The alarm path end to end on the in-memory backend: every sample in `events/`, every
//! transition rule, idempotency, concurrency and injected faults.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use klaxon::engine::{Engine, EngineSettings, Report};
use klaxon::error::KlaxonError;
use klaxon::memory::{CommitFault, MemoryBackend};
use klaxon::model::{IncidentStatus, Outcome, Transition};
use klaxon::ports::IncidentStore;
use klaxon::route::Route;
use serde_json::{json, Value};

type MemEngine = Engine<MemoryBackend, MemoryBackend, MemoryBackend, MemoryBackend>;

const PRODUCTION_TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:klaxon-production";
const TEST_TOPIC: &str = "arn:aws:sns:us-east-1:000000000000:klaxon-test";

fn setup() -> (MemoryBackend, Arc<MemEngine>) {
    let topics = [
        (Route::Production, PRODUCTION_TOPIC.to_string()),
        (Route::Test, TEST_TOPIC.to_string()),
    ]
    .into_iter()
    .collect();
    let (backend, engine) = klaxon::memory::engine(EngineSettings::new(topics, "klaxon".into()));
    (backend, Arc::new(engine))
}

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(events_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sample_json(name: &str) -> Value {
    serde_json::from_slice(&sample(name)).unwrap()
}

async fn handle(engine: &MemEngine, name: &str) -> Report {
    engine
        .handle_bytes(&sample(name))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

async fn handle_value(engine: &MemEngine, v: &Value) -> Report {
    engine.handle_value(v).await.unwrap()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn every_valid_sample_is_handled_as_documented() {
    // (file, outcome on a fresh backend, environment, severity, route of the page if any)
    type Expectation<'a> = (
        &'a str,
        Outcome,
        Option<&'a str>,
        Option<&'a str>,
        Option<Route>,
    );
    let expected: &[Expectation] = &[
        (
            "alarm-anomaly-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("medium"),
            Some(Route::Production),
        ),
        (
            "alarm-composite-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-composite-suppressed-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            None,
        ),
        (
            "alarm-composite-unsuppressed-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-daily-period-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("low"),
            Some(Route::Production),
        ),
        (
            "alarm-extra-fields-alarm.json",
            Outcome::Opened,
            Some("dev"),
            Some("low"),
            Some(Route::Test),
        ),
        (
            "alarm-hostile-text-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-initial-unchecked.json",
            Outcome::Ignored,
            Some("production"),
            Some("high"),
            None,
        ),
        (
            "alarm-metric-math-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-metric-prod-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("critical"),
            Some(Route::Production),
        ),
        (
            "alarm-metric-prod-insufficient.json",
            Outcome::Ignored,
            Some("production"),
            Some("critical"),
            None,
        ),
        (
            "alarm-metric-prod-ok.json",
            Outcome::Ignored,
            Some("production"),
            Some("critical"),
            None,
        ),
        (
            "alarm-alb-unhealthy-hosts-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("critical"),
            Some(Route::Production),
        ),
        (
            "alarm-klaxon-self-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-latency-anomaly-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-metric-tags-unavailable-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-metric-test-alarm.json",
            Outcome::Opened,
            Some("staging"),
            Some("low"),
            Some(Route::Test),
        ),
        (
            "alarm-metric-test-insufficient.json",
            Outcome::Ignored,
            Some("staging"),
            Some("low"),
            None,
        ),
        (
            "alarm-metric-test-ok.json",
            Outcome::Ignored,
            Some("staging"),
            Some("low"),
            None,
        ),
        (
            "alarm-nlb-no-healthy-hosts-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("critical"),
            Some(Route::Production),
        ),
        (
            "alarm-route53-health-check-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        (
            "alarm-metric-untagged-alarm.json",
            Outcome::Opened,
            Some("production"),
            Some("high"),
            Some(Route::Production),
        ),
        // An update with no incident open: the alarm-configuration-change runbook runs
        // (with the alarm's ownership) and changes nothing.
        (
            "cloudwatch-config-change.json",
            Outcome::Ignored,
            Some("production"),
            Some("high"),
            None,
        ),
        (
            "cloudwatch-contributor-state-change.json",
            Outcome::Ignored,
            None,
            None,
            None,
        ),
    ];
    let files = json_files(&events_dir());
    assert_eq!(
        files.len(),
        expected.len(),
        "every sample in events/ has an expectation here"
    );
    for (file, outcome, environment, severity, route) in expected {
        let (backend, engine) = setup();
        let r = handle(&engine, file).await;
        assert_eq!(r.outcome, *outcome, "{file}");
        assert_eq!(r.environment.as_deref(), *environment, "{file}");
        assert_eq!(r.severity.map(|s| s.as_str()), *severity, "{file}");
        let pages = backend.published();
        match route {
            Some(route) => {
                assert_eq!(pages.len(), 1, "{file}");
                assert_eq!(pages[0].notification.route, *route, "{file}");
                let topic = if *route == Route::Production {
                    PRODUCTION_TOPIC
                } else {
                    TEST_TOPIC
                };
                assert_eq!(pages[0].topic_arn, topic, "{file}");
            }
            None => assert!(pages.is_empty(), "{file}: {pages:?}"),
        }
        assert!(backend.rejections().is_empty(), "{file}");
    }
}

#[tokio::test]
async fn every_invalid_sample_is_rejected_and_writes_nothing_else() {
    let files = json_files(&events_dir().join("invalid"));
    assert!(files.len() >= 10);
    for path in files {
        let (backend, engine) = setup();
        let r = engine
            .handle_bytes(&std::fs::read(&path).unwrap())
            .await
            .unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        assert_eq!(r.outcome, Outcome::Rejected, "{name}");
        let reason = r.error.clone().unwrap();
        assert!(reason.len() > 10, "{name}: {reason}");
        assert!(backend.all_incidents().is_empty(), "{name}");
        assert_eq!(backend.timeline_len(), 0, "{name}");
        assert!(backend.published().is_empty(), "{name}");
        assert!(backend.bus_events().is_empty(), "{name}");
        let rejections = backend.rejections();
        assert_eq!(
            rejections.len(),
            1,
            "{name}: the rejection is recorded for an operator"
        );
        assert_eq!(rejections[0].reason, reason);
        // Redelivery of the same bad payload writes the same record, not a second one.
        engine
            .handle_bytes(&std::fs::read(&path).unwrap())
            .await
            .unwrap();
        assert_eq!(backend.rejections().len(), 1, "{name}");
    }
}

#[tokio::test]
async fn invalid_samples_name_their_problem() {
    let (_, engine) = setup();
    for (file, needle) in [
        ("missing-alarm-name.json", "detail.alarmName"),
        ("missing-state-value.json", "detail.state.value"),
        ("missing-state-timestamp.json", "detail.state.timestamp"),
        ("bad-state-value.json", "FIRING"),
        ("bad-timestamp.json", "yesterday"),
        ("missing-id.json", "`id`"),
        ("not-an-object.json", "JSON object"),
        ("truncated.json", "not valid JSON"),
        ("missing-detail.json", "`detail`"),
        ("state-not-object.json", "detail.state"),
        ("securityhub-two-findings.json", "holds 2 findings"),
        ("health-unknown-status.json", "`ongoing`"),
        ("health-missing-event-arn.json", "detail.eventArn"),
        ("guardduty-severity-not-a-number.json", "detail.severity"),
        ("config-unknown-compliance.json", "MOSTLY_COMPLIANT"),
        ("cloudtrail-missing-event-time.json", "detail.eventTime"),
        ("securityhub-ocsf-missing-uid.json", "finding_info.uid"),
        (
            "cloudtrail-ingress-without-group.json",
            "requestParameters.groupId",
        ),
    ] {
        let r = engine
            .handle_bytes(&sample(&format!("invalid/{file}")))
            .await
            .unwrap();
        assert!(
            r.error.as_deref().unwrap().contains(needle),
            "{file}: {:?}",
            r.error
        );
    }
}

#[tokio::test]
async fn production_lifecycle_open_note_resolve() {
    let (backend, engine) = setup();
    let opened = handle(&engine, "alarm-metric-prod-alarm.json").await;
    let noted = handle(&engine, "alarm-metric-prod-insufficient.json").await;
    let resolved = handle(&engine, "alarm-metric-prod-ok.json").await;
    assert_eq!(
        (opened.outcome, noted.outcome, resolved.outcome),
        (Outcome::Opened, Outcome::Noted, Outcome::Resolved)
    );
    let id = opened.incident_id.clone().unwrap();
    assert_eq!(noted.incident_id.as_deref(), Some(id.as_str()));
    assert_eq!(resolved.incident_id.as_deref(), Some(id.as_str()));

    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].notification.transition, Transition::Opened);
    assert_eq!(pages[1].notification.transition, Transition::Resolved);
    assert!(pages.iter().all(|p| p.topic_arn == PRODUCTION_TOPIC));
    assert_eq!(pages[1].notification.attributes["incident_id"], id);

    let bus: Vec<String> = backend
        .bus_events()
        .iter()
        .map(|b| b.event.detail_type.clone())
        .collect();
    assert_eq!(
        bus,
        ["Incident Opened", "Incident Updated", "Incident Resolved"]
    );

    let incident = backend.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(
        incident.resolved_at.unwrap().to_rfc3339(),
        "2024-05-01T12:10:00.789+00:00"
    );
    let timeline = backend.timeline(&id).await.unwrap();
    assert_eq!(timeline.len(), 3);
    // Raw evidence is kept for time-to-detect: reasonData verbatim.
    assert!(timeline[0]
        .evidence
        .as_ref()
        .unwrap()
        .reason_data
        .as_deref()
        .unwrap()
        .contains("\"recentDatapoints\":[12.0,42.0,57.0]"));
    assert!(backend.open_incidents().await.unwrap().is_empty());
    assert_eq!(backend.outbox_len(), 0, "everything delivered");

    // A new ALARM after resolution opens a new incident.
    let mut again = sample_json("alarm-metric-prod-alarm.json");
    again["id"] = json!("after-resolution");
    again["detail"]["state"]["timestamp"] = json!("2024-05-01T13:00:00.000+0000");
    let r = handle_value(&engine, &again).await;
    assert_eq!(r.outcome, Outcome::Opened);
    assert_ne!(r.incident_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn test_environment_alarm_never_reaches_production() {
    let (backend, engine) = setup();
    for file in [
        "alarm-metric-test-alarm.json",
        "alarm-metric-test-insufficient.json",
        "alarm-metric-test-ok.json",
        "alarm-extra-fields-alarm.json",
    ] {
        handle(&engine, file).await;
    }
    let pages = backend.published();
    assert_eq!(pages.len(), 3, "open + resolve for staging, open for dev");
    assert!(pages
        .iter()
        .all(|p| p.topic_arn == TEST_TOPIC && p.notification.route == Route::Test));
    assert!(pages
        .iter()
        .all(|p| p.notification.attributes["environment"] != "production"));
}

#[tokio::test]
async fn tags_are_looked_up_when_the_event_lacks_them() {
    let (backend, engine) = setup();
    let v = sample_json("alarm-metric-untagged-alarm.json");
    let arn = v["resources"][0].as_str().unwrap();
    backend.set_resource_tags(
        arn,
        &[
            ("environment", "QA"),
            ("severity", "medium"),
            ("team", "reports"),
        ],
    );
    let r = handle_value(&engine, &v).await;
    assert_eq!(r.environment.as_deref(), Some("qa"));
    assert_eq!(r.severity.map(|s| s.as_str()), Some("medium"));
    assert_eq!(backend.published()[0].topic_arn, TEST_TOPIC);
    // Events carrying SUCCESS tags never trigger a lookup.
    let before = backend.tag_lookups();
    handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(backend.tag_lookups(), before);
}

#[tokio::test]
async fn same_event_five_times_one_entry_one_page() {
    let (backend, engine) = setup();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(
            handle(&engine, "alarm-metric-prod-alarm.json")
                .await
                .outcome,
        );
    }
    assert_eq!(outcomes[0], Outcome::Opened);
    assert!(outcomes[1..].iter().all(|o| *o == Outcome::Duplicate));
    assert_eq!(backend.timeline_len(), 1);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.bus_events().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_alarms_for_one_alarm_open_one_incident() {
    let (backend, engine) = setup();
    let base = sample_json("alarm-metric-prod-alarm.json");
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut v = base.clone();
        v["id"] = json!(format!("parallel-{i:02}"));
        v["detail"]["state"]["timestamp"] = json!((start + Duration::seconds(i))
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string());
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            engine.handle_value(&v).await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().outcome);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Opened).count(),
        1,
        "{outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Opened | Outcome::Updated | Outcome::Stale)));
    let open = backend.open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(backend.all_incidents().len(), 1);
    assert_eq!(
        backend.timeline(&open[0].incident_id).await.unwrap().len(),
        16
    );
    let pages = backend.published();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].notification.transition, Transition::Opened);
}

#[tokio::test]
async fn ok_before_its_alarm_leaves_the_alarm_resolved() {
    let (backend, engine) = setup();
    assert_eq!(
        handle(&engine, "alarm-metric-prod-ok.json").await.outcome,
        Outcome::Ignored
    );
    assert_eq!(
        handle(&engine, "alarm-metric-prod-alarm.json")
            .await
            .outcome,
        Outcome::Stale
    );
    assert!(
        backend.all_incidents().is_empty(),
        "the timestamps say the alarm is OK"
    );
    assert!(backend.published().is_empty());
}

#[tokio::test]
async fn alarm_redelivered_after_ok_changes_nothing() {
    let (backend, engine) = setup();
    handle(&engine, "alarm-metric-prod-alarm.json").await;
    handle(&engine, "alarm-metric-prod-ok.json").await;
    // The same event again: a duplicate.
    assert_eq!(
        handle(&engine, "alarm-metric-prod-alarm.json")
            .await
            .outcome,
        Outcome::Duplicate
    );
    // A retry with a new id but the old state timestamp: stale, kept as evidence.
    let mut late = sample_json("alarm-metric-prod-alarm.json");
    late["id"] = json!("late-copy");
    let r = handle_value(&engine, &late).await;
    assert_eq!(r.outcome, Outcome::Stale);
    let incidents = backend.all_incidents();
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].status, IncidentStatus::Resolved);
    assert_eq!(backend.published().len(), 2);
    let timeline = backend.timeline(&incidents[0].incident_id).await.unwrap();
    assert_eq!(
        timeline
            .iter()
            .filter(|e| e.outcome == Outcome::Stale)
            .count(),
        1
    );
}

#[tokio::test]
async fn out_of_order_insufficient_data_is_stale() {
    let (backend, engine) = setup();
    handle(&engine, "alarm-metric-prod-alarm.json").await;
    handle(&engine, "alarm-metric-prod-ok.json").await;
    assert_eq!(
        handle(&engine, "alarm-metric-prod-insufficient.json")
            .await
            .outcome,
        Outcome::Stale
    );
    assert_eq!(backend.all_incidents()[0].status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn suppressed_composite_opens_silently_then_pages_once() {
    let (backend, engine) = setup();
    let r = handle(&engine, "alarm-composite-suppressed-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Opened);
    assert!(backend.published().is_empty());
    assert!(!backend.all_incidents()[0].paged);
    let r = handle(&engine, "alarm-composite-unsuppressed-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Updated);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(
        backend.published()[0].notification.transition,
        Transition::Opened
    );
    assert!(backend.all_incidents()[0].paged);
    let bus: Vec<bool> = backend
        .bus_events()
        .iter()
        .map(|b| b.event.detail["paged"].as_bool().unwrap())
        .collect();
    assert_eq!(bus, [false, true]);
}

#[tokio::test]
async fn conditional_check_failures_and_transaction_conflicts_are_retried() {
    let (backend, engine) = setup();
    backend.inject_commit_faults([
        CommitFault::ConditionalCheckFailed,
        CommitFault::TransactionConflict,
        CommitFault::TransactionConflict,
        CommitFault::ConditionalCheckFailed,
    ]);
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Opened);
    assert_eq!(backend.all_incidents().len(), 1);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.timeline_len(), 1);
}

#[tokio::test]
async fn endless_conflicts_end_in_a_retryable_error_without_writes() {
    let (backend, engine) = setup();
    backend.inject_commit_faults(std::iter::repeat_n(CommitFault::TransactionConflict, 64));
    let err = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(backend.all_incidents().is_empty());
    assert!(backend.published().is_empty());
}

#[tokio::test]
async fn crash_between_write_and_publish_is_delivered_by_the_retry() {
    let (backend, engine) = setup();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 5).unwrap();
    backend.set_now(t0);
    backend.inject_commit_faults([CommitFault::LostResponse]);
    let err = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(backend.all_incidents().len(), 1, "the write landed");
    assert!(
        backend.published().is_empty(),
        "the crash came before the publish"
    );

    // A retry while the dead invocation's lease runs: retryable error, still no page.
    backend.set_now(t0 + Duration::seconds(10));
    let err = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("another invocation"), "{err}");
    assert!(backend.published().is_empty());

    // Lambda's retry comes a minute later: the page goes out, once.
    backend.set_now(t0 + Duration::seconds(90));
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(r.notifications.len(), 1);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.bus_events().len(), 1);
    assert_eq!(backend.outbox_len(), 0);
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert!(r.notifications.is_empty());
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.timeline_len(), 1);
}

#[tokio::test]
async fn failed_publish_returns_error_and_retry_delivers_once() {
    let (backend, engine) = setup();
    backend.fail_next_publishes(1);
    assert!(engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .is_err());
    assert!(backend.published().is_empty());
    // The failed invocation released its lease, so the retry need not wait.
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.timeline_len(), 1);
}

#[tokio::test]
async fn hostile_alarm_text_is_neutralised_everywhere() {
    let (backend, engine) = setup();
    handle(&engine, "alarm-hostile-text-alarm.json").await;
    let page = &backend.published()[0].notification;
    assert!(page.subject.is_ascii() && page.subject.len() < 100 && !page.subject.contains('\n'));
    assert!(
        !page.message.contains('\u{1b}')
            && !page.message.contains('\u{202e}')
            && !page.message.contains('\u{7}')
    );
    assert!(page
        .message
        .lines()
        .all(|l| !l.starts_with("Acknowledge:") && !l.starts_with("Runbook:")));
    assert!(page.attributes.values().all(|v| !v.contains('\n')));
    let bus = &backend.bus_events()[0].event;
    assert!(!bus.detail["alarm"]["name"].as_str().unwrap().contains('\n'));
}

/// The production ALARM's invocation dies after its write: its page and event stay in the
/// outbox, leased for a minute from `t0`.
async fn alarm_invocation_died_after_its_write(
) -> (MemoryBackend, Arc<MemEngine>, chrono::DateTime<Utc>) {
    let (backend, engine) = setup();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 5).unwrap();
    backend.set_now(t0);
    backend.inject_commit_faults([CommitFault::LostResponse]);
    assert!(engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .is_err());
    (backend, engine, t0)
}

#[tokio::test]
async fn pages_go_out_in_transition_order_after_older_pending_items() {
    let (backend, engine, t0) = alarm_invocation_died_after_its_write().await;
    // An INSUFFICIENT_DATA of the same incident, inside the ALARM's lease: its update must
    // not go out before the ALARM's page, so it waits (a retryable error), sending nothing.
    let err = engine
        .handle_bytes(&sample("alarm-metric-prod-insufficient.json"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "DeliveryInProgress");
    assert!(err.is_retryable());
    // Its retry, still inside the lease, waits again.
    assert!(engine
        .handle_bytes(&sample("alarm-metric-prod-insufficient.json"))
        .await
        .is_err());
    assert!(backend.published().is_empty() && backend.bus_events().is_empty());
    // After the lease, the retry delivers the ALARM's page and event first, then its own.
    backend.set_now(t0 + Duration::seconds(120));
    let r = handle(&engine, "alarm-metric-prod-insufficient.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.published().len(), 1);
    let order = bus_order(&backend);
    assert_eq!(order, ["Incident Opened", "Incident Updated"]);
    assert_eq!(backend.outbox_len(), 0);
    let incident = backend.all_incidents().remove(0);
    assert!(incident.paged);
    assert_eq!(
        incident.page_delivered_at,
        Some(t0 + Duration::seconds(120))
    );
    // The ALARM's own retry then finds nothing left to send.
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.published().len(), 1);
    // Nothing is pending: the tracker's markers are gone, so the next event reads nothing.
    assert_eq!(pending_markers(&backend).await, 0);
}

#[tokio::test]
async fn an_opened_page_left_undelivered_is_superseded_by_the_recovery() {
    let (backend, engine, t0) = alarm_invocation_died_after_its_write().await;
    // The OK arrives after the dead invocation's lease: the "opened" page is no longer
    // true and is dropped, with a note; the events on the bus keep their order.
    backend.set_now(t0 + Duration::seconds(600));
    let r = handle(&engine, "alarm-metric-prod-ok.json").await;
    assert_eq!(r.outcome, Outcome::Resolved);
    let pages = backend.published();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].notification.transition, Transition::Resolved);
    let order = bus_order(&backend);
    assert_eq!(order, ["Incident Opened", "Incident Resolved"]);
    assert!(has_note(&backend, &r, &["dropped as superseded"]).await);
    assert_eq!(backend.outbox_len(), 0);
    // A late retry of the ALARM sends nothing: its page is gone for good.
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.published().len(), 1);
}

#[tokio::test]
async fn an_older_message_that_fails_for_good_is_set_aside_and_newer_ones_go_out() {
    let (backend, engine, t0) = alarm_invocation_died_after_its_write().await;
    // Meanwhile the production topic is deleted: the ALARM's page can never go out.
    backend.delete_topic(PRODUCTION_TOPIC);
    backend.set_now(t0 + Duration::seconds(120));
    let r = handle(&engine, "alarm-metric-prod-insufficient.json").await;
    assert_eq!(r.outcome, Outcome::Noted);
    let order = bus_order(&backend);
    assert_eq!(order, ["Incident Opened", "Incident Updated"]);
    assert_eq!(
        backend.outbox_len(),
        0,
        "set aside, not left to block the key"
    );
    assert!(has_note(&backend, &r, &["could not be delivered", "set aside"]).await);
}

/// Whether the report's incident has a note (an entry Klaxon wrote on its own) saying all of
/// `words`.
async fn has_note(backend: &MemoryBackend, report: &Report, words: &[&str]) -> bool {
    backend
        .timeline(report.incident_id.as_deref().unwrap())
        .await
        .unwrap()
        .iter()
        .any(|e| {
            e.kind == klaxon::model::EntryKind::Note && words.iter().all(|w| e.summary.contains(w))
        })
}

#[tokio::test]
async fn a_duplicate_never_sends_a_newer_events_items() {
    let (backend, engine) = setup();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 5).unwrap();
    backend.set_now(t0);
    handle(&engine, "alarm-metric-prod-alarm.json").await;
    // The INSUFFICIENT_DATA's lifecycle event fails to go out: it stays in the outbox.
    backend.fail_next_bus_puts(1);
    assert!(engine
        .handle_bytes(&sample("alarm-metric-prod-insufficient.json"))
        .await
        .is_err());
    let before = backend.bus_events().len();
    // Much later, a redelivery of the older ALARM: it must not send the newer event's item.
    backend.set_now(t0 + Duration::hours(5));
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.bus_events().len(), before);
    assert_eq!(backend.outbox_len(), 1);
    // Its own retry does.
    let r = handle(&engine, "alarm-metric-prod-insufficient.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    assert_eq!(backend.bus_events().len(), before + 1);
    assert_eq!(backend.outbox_len(), 0);
}

/// Every path of every sample: removed, or replaced by each JSON type. The engine must
/// answer (any outcome) and never panic; a rejected mutation must write nothing but its
/// rejection record.
#[tokio::test]
async fn mutated_samples_never_panic_and_never_half_write() {
    fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let mut p = prefix.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let mut p = prefix.clone();
                    p.push(i.to_string());
                    out.push(p.clone());
                    paths(child, p, out);
                }
            }
            _ => {}
        }
    }
    fn mutate(v: &mut Value, path: &[String], replacement: Option<&Value>) {
        let (last, parents) = path.split_last().unwrap();
        let mut cur = v;
        for key in parents {
            cur = match cur {
                Value::Object(m) => m.get_mut(key).unwrap(),
                Value::Array(a) => &mut a[key.parse::<usize>().unwrap()],
                _ => unreachable!(),
            };
        }
        match (cur, replacement) {
            (Value::Object(m), None) => {
                m.remove(last);
            }
            (Value::Object(m), Some(r)) => {
                m.insert(last.clone(), r.clone());
            }
            (Value::Array(a), None) => {
                a.remove(last.parse::<usize>().unwrap());
            }
            (Value::Array(a), Some(r)) => a[last.parse::<usize>().unwrap()] = r.clone(),
            _ => unreachable!(),
        }
    }
    let replacements = [
        json!(null),
        json!(-1.5e300),
        json!(""),
        json!("\u{1b}[2J\u{202e}x\ny"),
        json!([]),
        json!({}),
        json!(true),
    ];
    let mut cases = 0;
    for file in [
        "alarm-metric-prod-alarm.json",
        "alarm-composite-suppressed-alarm.json",
        "alarm-anomaly-alarm.json",
    ] {
        let original = sample_json(file);
        let mut all = Vec::new();
        paths(&original, Vec::new(), &mut all);
        for path in &all {
            for replacement in std::iter::once(None).chain(replacements.iter().map(Some)) {
                let mut v = original.clone();
                mutate(&mut v, path, replacement);
                let (backend, engine) = setup();
                let r = engine
                    .handle_value(&v)
                    .await
                    .unwrap_or_else(|e| panic!("{file} {path:?}: {e}"));
                if r.outcome == Outcome::Rejected {
                    assert!(backend.all_incidents().is_empty() && backend.published().is_empty());
                    assert_eq!(backend.timeline_len(), 0);
                }
                cases += 1;
            }
        }
    }
    assert!(cases > 500, "{cases}");
}

#[tokio::test]
async fn a_commit_that_landed_despite_an_error_report_is_recognised_as_our_own() {
    for fault in [
        CommitFault::LandedButAlreadyProcessed,
        CommitFault::LandedButConflict,
    ] {
        let (backend, engine) = setup();
        backend.inject_commit_faults([fault]);
        let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
        assert_eq!(
            r.outcome,
            Outcome::Opened,
            "{fault:?}: not mistaken for a duplicate"
        );
        assert_eq!(
            r.notifications.len(),
            1,
            "{fault:?}: paged in the same invocation"
        );
        assert_eq!(backend.published().len(), 1);
        assert_eq!(backend.timeline_len(), 1);
        assert_eq!(backend.outbox_len(), 0);
    }
}

#[tokio::test]
async fn state_timestamps_far_in_the_future_are_rejected() {
    let (backend, engine) = setup();
    backend.set_now(Utc.with_ymd_and_hms(2024, 5, 1, 11, 0, 0).unwrap());
    // The sample's state time is 12:00, an hour after "now": it would make every real
    // event of the alarm stale until then.
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert!(r.error.unwrap().contains("in the future"));
    assert!(backend.all_incidents().is_empty());
    // Within the allowed skew it is accepted.
    backend.set_now(Utc.with_ymd_and_hms(2024, 5, 1, 11, 50, 0).unwrap());
    assert_eq!(
        handle(&engine, "alarm-metric-prod-alarm.json")
            .await
            .outcome,
        Outcome::Opened
    );
}

#[tokio::test]
async fn oversized_events_are_rejected_on_the_lambda_path_too() {
    let (backend, engine) = setup();
    let mut v = sample_json("alarm-metric-prod-alarm.json");
    v["detail"]["state"]["reason"] = json!("x".repeat(300 * 1024));
    let r = handle_value(&engine, &v).await;
    assert_eq!(r.outcome, Outcome::Rejected);
    assert!(r.error.unwrap().contains("bytes"));
    assert!(backend.all_incidents().is_empty());
    assert_eq!(backend.rejections().len(), 1);
}

#[tokio::test]
async fn a_last_attempt_that_landed_is_delivered_not_reported_as_contention() {
    let (backend, engine) = setup();
    let mut faults = vec![CommitFault::TransactionConflict; 39];
    faults.push(CommitFault::LandedButConflict);
    backend.inject_commit_faults(faults);
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Opened);
    assert_eq!(backend.published().len(), 1);
    assert_eq!(backend.outbox_len(), 0);
}

/// Idempotency records outlive EventBridge's retries (`KLAXON_IDEMPOTENCY_HOURS`, default
/// 48); rejection records are kept 30 days (docs/GUARANTEES.md, docs/CONTRACTS.md (a)).
#[tokio::test]
async fn records_expire_as_configured() {
    let (backend, engine) = setup();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 5).unwrap();
    backend.set_now(t0);
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    let (processed, _) = backend
        .load(
            r.event_id.as_deref().unwrap(),
            r.dedup_key.as_deref().unwrap(),
        )
        .await
        .unwrap();
    let processed = processed.expect("the idempotency record");
    assert_eq!(processed.processed_at, t0);
    assert_eq!(processed.expires_at, t0 + Duration::hours(48));
    let rejected = handle(&engine, "invalid/missing-state-value.json").await;
    assert_eq!(rejected.outcome, Outcome::Rejected);
    let rejections = backend.rejections();
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].expires_at, t0 + Duration::days(30));
}

/// A commit is attempted at most 40 times: 39 conflicts still open the incident, 40 end in
/// `Retryable.Contention` with nothing written (docs/CONTRACTS.md (a), (f)).
#[tokio::test]
async fn a_commit_is_attempted_at_most_40_times() {
    let (backend, engine) = setup();
    backend.inject_commit_faults(std::iter::repeat_n(CommitFault::TransactionConflict, 39));
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Opened);

    let (backend, engine) = setup();
    backend.inject_commit_faults(std::iter::repeat_n(CommitFault::TransactionConflict, 40));
    let err = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), "Contention", "{err}");
    assert!(err.is_retryable());
    assert!(backend.all_incidents().is_empty());
    assert!(backend.published().is_empty());
    assert_eq!(backend.timeline_len(), 0);
}

/// Anything that fails before the commit (here a throttled tag lookup) writes nothing: the
/// invocation fails, and Lambda's retry handles the event from scratch.
#[tokio::test]
async fn a_failure_before_the_commit_writes_nothing_and_the_retry_starts_afresh() {
    let (backend, engine) = setup();
    backend.fail_next_tag_lookup(KlaxonError::Aws {
        service: "cloudwatch",
        operation: "ListTagsForResource",
        code: "Throttling".into(),
        message: "Rate exceeded".into(),
        retryable: true,
    });
    let raw = sample("alarm-metric-untagged-alarm.json");
    let err = engine.handle_bytes(&raw).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(backend.all_incidents().is_empty());
    assert_eq!(backend.timeline_len(), 0);
    assert!(backend.published().is_empty() && backend.bus_events().is_empty());
    assert_eq!(backend.outbox_len(), 0);
    let event_id = sample_json("alarm-metric-untagged-alarm.json")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (processed, _) = backend.load(&event_id, "none").await.unwrap();
    assert!(processed.is_none(), "no idempotency record either");
    let r = engine.handle_bytes(&raw).await.unwrap();
    assert_eq!(
        r.outcome,
        Outcome::Opened,
        "processed from scratch, not a duplicate"
    );
    assert_eq!(backend.published().len(), 1);
}

/// The removal of a delivered page fails (logged; the invocation succeeds): the page is
/// still stored, leased, and a later duplicate of its event sends it again once the lease
/// has run out: the second copy docs/GUARANTEES.md describes, with the same `incident_id`
/// and `transition` attributes.
#[tokio::test]
async fn a_page_whose_removal_failed_is_sent_again_after_its_lease_with_the_same_attributes() {
    let (backend, engine) = setup();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 5).unwrap();
    backend.set_now(t0);
    backend.fail_next_delivery_completions(1);
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Opened, "the invocation succeeds");
    assert_eq!(backend.published().len(), 1);
    assert_eq!(
        backend.outbox_len(),
        1,
        "the delivered page is still stored"
    );
    // Within the lease, a duplicate sends nothing (its own item is held).
    backend.set_now(t0 + Duration::seconds(10));
    assert!(engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .is_err());
    assert_eq!(backend.published().len(), 1);
    // After the lease, the duplicate sends the page a second time.
    backend.set_now(t0 + Duration::seconds(90));
    let r = handle(&engine, "alarm-metric-prod-alarm.json").await;
    assert_eq!(r.outcome, Outcome::Duplicate);
    let pages = backend.published();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0].notification.subject, pages[1].notification.subject);
    for key in ["incident_id", "transition"] {
        assert_eq!(
            pages[0].notification.attributes[key], pages[1].notification.attributes[key],
            "{key}"
        );
    }
    assert_eq!(backend.outbox_len(), 0);
    assert_eq!(
        backend.bus_events().len(),
        1,
        "the lifecycle event went once"
    );
}

/// In a long outage (every PutEvents fails) each event of the key leaves its items pending:
/// the tracker keeps at most 32 markers, the oldest forgotten, and once the bus is back the
/// retries of the events deliver every item, in order.
#[tokio::test]
async fn a_long_outage_keeps_at_most_32_markers_and_every_item_still_goes_out() {
    let (backend, engine) = setup();
    backend.set_now(Utc.with_ymd_and_hms(2024, 5, 1, 12, 5, 0).unwrap());
    backend.fail_next_bus_puts(10_000);
    let mut events = vec![sample_json("alarm-metric-prod-alarm.json")];
    for i in 0..40 {
        let mut v = sample_json("alarm-metric-prod-insufficient.json");
        v["id"] = json!(format!("noted-{i:02}"));
        v["detail"]["state"]["timestamp"] = json!(format!("2024-05-01T12:01:{i:02}.000+0000"));
        events.push(v);
    }
    for v in &events {
        assert!(engine.handle_value(v).await.is_err(), "{}", v["id"]);
    }
    assert_eq!(pending_markers(&backend).await, 32);
    assert_eq!(
        backend.outbox_len(),
        41,
        "every event's lifecycle item is stored"
    );
    backend.fail_next_bus_puts(0);
    for v in &events {
        let r = engine.handle_value(v).await.unwrap();
        assert_eq!(r.outcome, Outcome::Duplicate, "{}", v["id"]);
    }
    assert_eq!(backend.outbox_len(), 0);
    let order = bus_order(&backend);
    assert_eq!(order.len(), 41);
    assert_eq!(order[0], "Incident Opened");
    assert!(
        order[1..].iter().all(|t| t == "Incident Updated"),
        "{order:?}"
    );
}

/// `stale`, `ignored`, `duplicate` and `rejected` events put nothing on the bus
/// (docs/CONTRACTS.md (d)); an event no runbook serves is `ignored`, saying so (e).
#[tokio::test]
async fn stale_ignored_duplicate_and_rejected_events_emit_nothing() {
    let (backend, engine) = setup();
    let outcomes = [
        handle(&engine, "alarm-metric-prod-ok.json").await.outcome,
        handle(&engine, "alarm-metric-prod-alarm.json")
            .await
            .outcome,
        handle(&engine, "alarm-metric-prod-ok.json").await.outcome,
        handle(&engine, "invalid/bad-timestamp.json").await.outcome,
    ];
    assert_eq!(
        outcomes,
        [
            Outcome::Ignored,
            Outcome::Stale,
            Outcome::Duplicate,
            Outcome::Rejected
        ]
    );
    let unserved = handle(&engine, "security/signin-iam-user-console.json").await;
    assert_eq!(unserved.outcome, Outcome::Ignored);
    assert_eq!(
        unserved.error.as_deref(),
        Some("no runbook matched the event")
    );
    assert!(backend.bus_events().is_empty());
    assert!(backend.published().is_empty());
}

/// The detail-types put on the bus, in order.
fn bus_order(backend: &MemoryBackend) -> Vec<String> {
    backend
        .bus_events()
        .iter()
        .map(|e| e.event.detail_type.clone())
        .collect()
}

/// The outbox markers the 5xx alarm's tracker holds (items not yet known to be delivered).
async fn pending_markers(backend: &MemoryBackend) -> usize {
    let (_, tracker) = backend
        .load(
            "none",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-checkout-api-5xx-errors",
        )
        .await
        .unwrap();
    tracker.unwrap().pending_outbox.len()
}
