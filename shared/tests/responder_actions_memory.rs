//! Responder actions end to end on the in-memory backend: each action applied once under
//! the tracker's version, repeated action ids answered with the first result, concurrency,
//! the resolve that clears the key's open incident, reopen's refusal, the security route's
//! link rule, and what actions put on the bus and page.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use klaxon::action::{ActionKind, ActionRequest, Actor, ActorKind, Channel};
use klaxon::memory::{MemoryBackend, MemoryEngine};
use klaxon::model::{
    Commit, EntryKind, IncidentStatus, LifecycleEvent, OutboundMessage, OutboxItem, Outcome,
    PendingOutbox, ProcessedEvent, Resolution, Transition,
};
use klaxon::ports::IncidentStore;
use serde_json::Value;

fn setup() -> (MemoryBackend, Arc<MemoryEngine>) {
    let (backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
    (backend, Arc::new(engine))
}

fn sample(path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

fn request(
    incident_id: &str,
    kind: ActionKind,
    action_id: &str,
    channel: Channel,
) -> ActionRequest {
    let kind_of_actor = match channel {
        Channel::Api => ActorKind::Iam,
        Channel::Cli => ActorKind::CliLocal,
        _ => ActorKind::Link,
    };
    ActionRequest {
        action_id: action_id.into(),
        incident_id: incident_id.into(),
        kind,
        actor: Actor::new("alice", kind_of_actor, channel),
        at: "2026-12-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap(),
        note: Some("checked the dashboard".into()),
        duration: Some(std::time::Duration::from_secs(1800)),
        severity: Some(klaxon::severity::Severity::Low),
    }
}

async fn open_incident(engine: &MemoryEngine, sample_path: &str) -> String {
    let report = engine.handle_value(&sample(sample_path)).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened, "{sample_path}");
    report.incident_id.unwrap()
}

#[tokio::test]
async fn acknowledge_is_recorded_once_with_actor_and_channel_and_goes_on_the_bus() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    let bus_before = backend.bus_events().len();
    let report = engine
        .act(request(&id, ActionKind::Acknowledge, "n-1", Channel::Link))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Acknowledged);
    let facts = report.action.clone().unwrap();
    assert_eq!(facts.status(), Some(IncidentStatus::Open));
    assert_eq!(facts.actor, "alice (name as given)");
    let incident = backend.incident(&id).await.unwrap().unwrap();
    let ack = incident.acknowledged.unwrap();
    assert_eq!(
        (ack.by.as_str(), ack.channel),
        ("alice (name as given)", Channel::Link)
    );
    let bus = backend.bus_events();
    assert_eq!(bus.len(), bus_before + 1);
    let event = &bus.last().unwrap().event;
    assert_eq!(event.detail_type, "Incident Acknowledged");
    assert_eq!(event.detail["event_id"], "n-1");
    assert_eq!(event.detail["actor_kind"], "link");
    let timeline = backend.timeline(&id).await.unwrap();
    let entry = timeline
        .iter()
        .find(|e| e.kind == EntryKind::Action)
        .unwrap();
    assert_eq!(entry.actor.as_ref().unwrap().channel, Channel::Link);

    // The same form submitted again: applied once, the first result answered.
    let again = engine
        .act(request(&id, ActionKind::Acknowledge, "n-1", Channel::Link))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Acknowledged);
    assert_eq!(backend.bus_events().len(), bus_before + 1);
    assert_eq!(backend.timeline(&id).await.unwrap().len(), timeline.len());
    // A new acknowledgement (another id) changes nothing, and is kept as an attempt.
    let second = engine
        .act(request(&id, ActionKind::Acknowledge, "n-2", Channel::Cli))
        .await
        .unwrap();
    assert_eq!(second.outcome, Outcome::Unchanged);
    assert_eq!(backend.bus_events().len(), bus_before + 1);
    assert_eq!(backend.outbox_len(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_identical_actions_apply_once() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    let bus_before = backend.bus_events().len();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let engine = engine.clone();
            let id = id.clone();
            tokio::spawn(async move {
                engine
                    .act(request(&id, ActionKind::Note, "same-nonce", Channel::Link))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.await.unwrap().outcome, Outcome::NotedByPerson);
    }
    let notes = backend
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Action)
        .count();
    assert_eq!(notes, 1);
    assert_eq!(backend.bus_events().len(), bus_before + 1);
}

#[tokio::test]
async fn a_person_resolves_then_ok_changes_nothing_and_the_next_alarm_opens_anew() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    let pages_before = backend.published().len();
    let report = engine
        .act(request(&id, ActionKind::Resolve, "r-1", Channel::Api))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::ResolvedByPerson);
    let published = backend.published();
    assert_eq!(
        published.len(),
        pages_before + 1,
        "the routes paged are told"
    );
    let page = &published.last().unwrap().notification;
    assert_eq!(page.transition, Transition::Resolved);
    assert!(
        page.message.starts_with("RESOLVED production"),
        "{}",
        page.message
    );
    let incident = backend.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolution, Some(Resolution::ResolvedByPerson));
    assert!(backend.open_incidents().await.unwrap().is_empty());

    // Acknowledging afterwards answers the current state, not an error.
    let late = engine
        .act(request(
            &id,
            ActionKind::Acknowledge,
            "a-late",
            Channel::Api,
        ))
        .await
        .unwrap();
    assert_eq!(late.outcome, Outcome::Unchanged);
    assert_eq!(
        late.action.unwrap().status(),
        Some(IncidentStatus::Resolved)
    );

    // The alarm's OK changes nothing; its next ALARM opens a new incident.
    let ok = engine
        .handle_value(&sample("alarm-metric-prod-ok.json"))
        .await
        .unwrap();
    assert_eq!(ok.outcome, Outcome::Ignored);
    let mut again = sample("alarm-metric-prod-alarm.json");
    again["id"] = "second-alarm".into();
    let ok_time = sample("alarm-metric-prod-ok.json")["detail"]["state"]["timestamp"].clone();
    let later = bump(ok_time.as_str().unwrap());
    again["detail"]["state"]["timestamp"] = later.into();
    again["detail"]["previousState"]["value"] = "OK".into();
    let reopened = engine.handle_value(&again).await.unwrap();
    assert_eq!(reopened.outcome, Outcome::Opened);
    let new_id = reopened.incident_id.unwrap();
    assert_ne!(new_id, id);

    // Reopening the old one is refused while the new one is open, naming it.
    let refused = engine
        .act(request(&id, ActionKind::Reopen, "re-1", Channel::Cli))
        .await
        .unwrap();
    assert_eq!(refused.outcome, Outcome::Rejected);
    assert!(refused.error.unwrap().contains(&new_id));
}

/// A CloudWatch state timestamp one minute later.
fn bump(timestamp: &str) -> String {
    let t = DateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S%.3f%z").unwrap();
    (t + chrono::Duration::minutes(1))
        .format("%Y-%m-%dT%H:%M:%S%.3f%z")
        .to_string()
}

#[tokio::test]
async fn reopen_puts_it_back_and_its_alarms_ok_resolves_it() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    engine
        .act(request(&id, ActionKind::Resolve, "r-1", Channel::Cli))
        .await
        .unwrap();
    let report = engine
        .act(request(&id, ActionKind::Reopen, "o-1", Channel::Cli))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Reopened);
    assert_eq!(backend.open_incidents().await.unwrap().len(), 1);
    let ok = engine
        .handle_value(&sample("alarm-metric-prod-ok.json"))
        .await
        .unwrap();
    assert_eq!(ok.outcome, Outcome::Resolved);
    assert_eq!(ok.incident_id.as_deref(), Some(id.as_str()));
}

#[tokio::test]
async fn security_links_cannot_resolve_but_the_attempt_is_kept() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let report = engine
        .act(request(&id, ActionKind::Resolve, "x-1", Channel::Link))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Rejected);
    assert!(report.error.unwrap().contains("IAM API or the CLI"));
    let incident = backend.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Open);
    let attempt = backend
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == EntryKind::Action)
        .unwrap();
    assert_eq!(attempt.outcome, Outcome::Rejected);
    // Acknowledging through the link is allowed.
    let ack = engine
        .act(request(&id, ActionKind::Acknowledge, "x-2", Channel::Link))
        .await
        .unwrap();
    assert_eq!(ack.outcome, Outcome::Acknowledged);
    let resolved = engine
        .act(request(&id, ActionKind::Resolve, "x-3", Channel::Api))
        .await
        .unwrap();
    assert_eq!(resolved.outcome, Outcome::ResolvedByPerson);
}

#[tokio::test]
async fn unknown_incidents_and_malformed_requests_are_refused_with_the_reason() {
    let (_backend, engine) = setup();
    let report = engine
        .act(request(
            "INC-nope",
            ActionKind::Acknowledge,
            "a",
            Channel::Cli,
        ))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Rejected);
    assert_eq!(report.error.as_deref(), Some("unknown incident INC-nope"));
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    let mut note = request(&id, ActionKind::Note, "b", Channel::Cli);
    note.note = None;
    let report = engine.act(note).await.unwrap();
    assert_eq!(report.outcome, Outcome::Rejected);
    assert_eq!(report.error.as_deref(), Some("`note` needs a note"));
}

#[tokio::test]
async fn action_records_live_30_days() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    engine
        .act(request(&id, ActionKind::Acknowledge, "kept", Channel::Cli))
        .await
        .unwrap();
    let record = backend
        .snapshot()
        .processed
        .into_iter()
        .find(|p| p.event_id == klaxon::engine::action_record_id(&id, "kept"))
        .expect("the action's record");
    assert_eq!(
        record.expires_at - record.processed_at,
        chrono::Duration::days(klaxon::engine::ACTION_RECORD_DAYS)
    );
    assert_eq!(klaxon::engine::ACTION_RECORD_DAYS, 30);
}

#[tokio::test]
async fn an_action_behind_a_delivery_in_progress_is_applied_and_says_its_messages_wait() {
    let (backend, engine) = setup();
    let t0: DateTime<Utc> = "2024-05-01T12:00:05Z".parse().unwrap();
    backend.set_now(t0);
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    // Another invocation committed a message for the same alarm and is delivering it right
    // now: its item is under a live lease, marked on the tracker.
    let key = backend.incident(&id).await.unwrap().unwrap().dedup_keys[0].clone();
    let (_, tracker) = backend.load("in-flight", &key).await.unwrap();
    let mut tracker = tracker.unwrap();
    let expected = tracker.version;
    tracker.version += 1;
    let item = OutboxItem {
        incident_id: id.clone(),
        event_id: "in-flight".into(),
        item_id: format!("{:020}#in-flight#0", tracker.version),
        created_at: t0,
        lease_until: t0 + chrono::Duration::seconds(60),
        message: OutboundMessage::Lifecycle(LifecycleEvent {
            source: None,
            detail_type: "Incident Updated".into(),
            resources: vec![],
            detail: serde_json::json!({"version": "1"}),
        }),
    };
    let marker = PendingOutbox::of(&item);
    tracker.pending_outbox.insert(marker.key(), marker);
    backend
        .commit(&Commit {
            processed: ProcessedEvent {
                event_id: "in-flight".into(),
                dedup_key: key,
                outcome: Outcome::Updated,
                incident_id: Some(id.clone()),
                processed_at: t0,
                expires_at: t0 + chrono::Duration::hours(48),
                writer: "other".into(),
                action: None,
                error: None,
            },
            expected_tracker_version: Some(expected),
            tracker,
            incident: None,
            timeline: None,
            closed: None,
            outbox: vec![item],
            step_run: None,
            links: vec![],
        })
        .await
        .unwrap();
    backend.set_now(t0 + chrono::Duration::seconds(10));
    let report = engine
        .act(request(
            &id,
            ActionKind::Acknowledge,
            "behind",
            Channel::Api,
        ))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Acknowledged);
    assert!(report
        .error
        .as_deref()
        .unwrap()
        .starts_with("applied; its notifications wait"));
    let incident = backend.incident(&id).await.unwrap().unwrap();
    assert!(incident.acknowledged.is_some(), "the action stands");
    assert_eq!(
        backend.outbox_len(),
        2,
        "its lifecycle event waits in the outbox behind the one in flight"
    );
}

#[tokio::test]
async fn replay_documents_through_sms_count_as_link_holders_on_the_security_route() {
    let (_backend, engine) = setup();
    let id = open_incident(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    let mut sms = request(&id, ActionKind::Resolve, "s-1", Channel::Sms);
    sms.actor = Actor::new("+15550100", ActorKind::Link, Channel::Sms);
    let report = engine.act(sms).await.unwrap();
    assert_eq!(report.outcome, Outcome::Rejected);
}

#[tokio::test]
async fn an_action_whose_messages_fail_is_answered_as_applied_and_sent_on_repeat() {
    let (backend, engine) = setup();
    let id = open_incident(&engine, "alarm-metric-prod-alarm.json").await;
    let pages = backend.published().len();
    backend.fail_next_publishes(1);
    let report = engine
        .act(request(&id, ActionKind::Resolve, "r-fail", Channel::Api))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::ResolvedByPerson);
    assert!(
        report
            .error
            .as_deref()
            .unwrap()
            .starts_with("applied; its notifications could not be sent yet"),
        "{:?}",
        report.error
    );
    assert_eq!(
        backend.incident(&id).await.unwrap().unwrap().status,
        IncidentStatus::Resolved
    );
    // The same request again: the first result, and the page goes out now.
    let again = engine
        .act(request(&id, ActionKind::Resolve, "r-fail", Channel::Api))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::ResolvedByPerson);
    assert_eq!(backend.published().len(), pages + 1);
    assert_eq!(backend.outbox_len(), 0);
}

#[tokio::test]
async fn an_action_id_names_one_action_and_keeps_its_first_reason() {
    let (_backend, engine) = setup();
    let id = open_incident(&engine, "security/guardduty-ssh-bruteforce-high.json").await;
    engine
        .act(request(&id, ActionKind::Acknowledge, "k-1", Channel::Api))
        .await
        .unwrap();
    let other = engine
        .act(request(&id, ActionKind::Resolve, "k-1", Channel::Api))
        .await
        .unwrap();
    assert_eq!(other.outcome, Outcome::Rejected);
    assert!(other
        .error
        .unwrap()
        .contains("was already used for `acknowledge`"));
    // A refusal repeated is the same refusal, with its reason.
    let first = engine
        .act(request(&id, ActionKind::Resolve, "k-2", Channel::Link))
        .await
        .unwrap();
    let repeat = engine
        .act(request(&id, ActionKind::Resolve, "k-2", Channel::Link))
        .await
        .unwrap();
    assert_eq!(first.outcome, Outcome::Rejected);
    assert_eq!(repeat.outcome, Outcome::Rejected);
    assert_eq!(repeat.error, first.error);
}
