//! Runbook execution on the in-memory backend: step outcomes on the timeline, enrichment
//! that never holds a page, on_error and retries, resumption after a crash without
//! repeating completed steps, several runbooks on one event, the hop limit, and
//! `klaxon runbook test` failing with a readable diff.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use klaxon::memory::MemoryBackend;
use klaxon::model::{Outcome, StepPhase, StepStatus};
use klaxon::ports::IncidentStore;
use klaxon::runbook::{load_str, Catalog};
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(root().join("events").join(name)).unwrap()
}

fn catalog(runbooks: &[&str]) -> Arc<Catalog> {
    Arc::new(Catalog::new(
        runbooks
            .iter()
            .enumerate()
            .map(|(i, text)| {
                load_str(Path::new(&format!("test-{i}.yaml")), text)
                    .unwrap_or_else(|e| panic!("{e:?}"))
            })
            .collect(),
    ))
}

fn engine(runbooks: &[&str]) -> (MemoryBackend, klaxon::memory::MemoryEngine) {
    let (backend, engine) =
        klaxon::memory::engine_with(klaxon::memory::embedded_settings(), catalog(runbooks));
    // Just after the sample events' state times, so nothing is "in the future".
    backend.set_now(chrono::Utc.with_ymd_and_hms(2024, 5, 3, 17, 0, 0).unwrap());
    (backend, engine)
}

const HEADER: &str = "description: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\n  detail-type: [CloudWatch Alarm State Change]\n";

fn runbook(name: &str, steps: &str) -> String {
    format!("name: {name}\n{HEADER}steps:\n{steps}")
}

/// metric snapshot (before the page), track, notify, emit, put-metric, put-metric.
fn full_runbook(deadline_ms: u64) -> String {
    runbook(
        "full",
        &format!(
            r#"  - id: snapshot
    on_error: continue
    metric_snapshot: {{minutes_before: 10, deadline_ms: {deadline_ms}}}
  - id: track
    incident: {{action: track}}
  - id: page
    notify:
      subject: "{{{{ alarm.name }}}}"
      body: "{{% if enrichment.snapshot %}}peak {{{{ enrichment.snapshot.metrics[0].max }}}}{{% else %}}no values yet{{% endif %}}"
  - id: count-before
    on_error: continue
    put_metric: {{name: Before, dimensions: {{Service: "{{{{ service or 'none' }}}}"}}}}
  - id: tell
    on_error: continue
    emit: {{detail_type: Something Happened, detail: {{why: test}}}}
  - id: count-after
    on_error: continue
    put_metric: {{name: After}}
"#
        ),
    )
}

#[tokio::test]
async fn every_step_is_on_the_timeline_with_enrichment_in_the_page() {
    let (backend, engine) = engine(&[&full_runbook(1500)]);
    let t = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    backend.record_metric_points(
        "AWS/ApplicationELB HTTPCode_Target_5XX_Count",
        &[(t - chrono::Duration::minutes(1), 42.0), (t, 57.0)],
    );
    let report = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Opened);
    assert_eq!(report.runbooks, ["full"]);
    let steps: Vec<(&str, StepStatus, StepPhase)> = report
        .steps
        .iter()
        .map(|e| (e.step.as_str(), e.status, e.phase))
        .collect();
    assert_eq!(
        steps,
        [
            ("snapshot", StepStatus::Ok, StepPhase::BeforePage),
            ("track", StepStatus::Ok, StepPhase::BeforePage),
            ("page", StepStatus::Ok, StepPhase::BeforePage),
            ("count-before", StepStatus::Ok, StepPhase::AfterPage),
            ("tell", StepStatus::Ok, StepPhase::AfterPage),
            ("count-after", StepStatus::Ok, StepPhase::AfterPage),
        ]
    );
    let page = &backend.published()[0].notification;
    assert!(page.message.contains("peak 57"), "{}", page.message);
    // The timeline holds the step entries, apart from the one event entry.
    let incident = report.incident_id.clone().unwrap();
    let recorded = backend.step_entries(&incident).await.unwrap();
    assert_eq!(recorded.len(), 6);
    assert_eq!(backend.timeline(&incident).await.unwrap().len(), 1);
    assert_eq!(backend.step_runs_len(), 0, "finished runs are removed");
    let metrics = backend.put_metrics();
    assert_eq!(
        metrics.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["Before", "After"]
    );
    assert_eq!(
        metrics[0].dimensions,
        [("Service".to_string(), "checkout".to_string())]
    );
    let emitted: Vec<_> = backend
        .bus_events()
        .into_iter()
        .filter(|e| e.event.source.as_deref() == Some("klaxon.runbook"))
        .collect();
    assert_eq!(emitted.len(), 1);
    assert_eq!(emitted[0].event.detail["klaxon_hops"], 1);
    assert_eq!(emitted[0].event.detail["incident_id"], json!(incident));
    assert_eq!(emitted[0].event.detail["klaxon_step"], "full/tell");
    assert_eq!(
        emitted[0].event.detail["klaxon_event_id"],
        "33ecabbf-275a-4866-8b05-7e030062d0dc"
    );
}

#[tokio::test]
async fn enrichment_that_misses_its_deadline_does_not_hold_the_page() {
    let (backend, engine) = engine(&[&full_runbook(100)]);
    backend.delay_metric_reads(Duration::from_millis(1500));
    let started = Instant::now();
    let report = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    let total = started.elapsed();
    let published = backend.published();
    assert_eq!(published.len(), 1);
    let page_after = published[0].at.duration_since(started);
    assert!(
        page_after < Duration::from_millis(800),
        "the page waited {page_after:?}"
    );
    assert!(
        total >= Duration::from_millis(1500),
        "the snapshot ran again after the page"
    );
    assert!(published[0].notification.message.contains("no values yet"));
    let snapshot = report.steps.iter().find(|e| e.step == "snapshot").unwrap();
    assert_eq!(snapshot.phase, StepPhase::AfterPage);
    assert_eq!(snapshot.status, StepStatus::Ok);
    assert!(
        snapshot.summary.contains("missed its 100 ms deadline"),
        "{}",
        snapshot.summary
    );
}

#[tokio::test]
async fn failing_enrichment_fails_its_step_not_the_page() {
    let text = runbook(
        "history",
        r#"  - id: history
    on_error: continue
    retries: 2
    alarm_history: {}
  - id: track
    incident: {action: track}
  - id: page
    notify: {}
  - id: count
    put_metric: {name: Fired}
"#,
    );
    let (backend, engine) = engine(&[&text]);
    backend.fail_metric_reads(true);
    let report = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    assert_eq!(backend.published().len(), 1, "the page went");
    let history = report.steps.iter().find(|e| e.step == "history").unwrap();
    assert_eq!(history.status, StepStatus::Failed);
    assert_eq!(history.phase, StepPhase::AfterPage);
    assert_eq!(history.attempts, 3, "bounded retries after the page");
    let count = report.steps.iter().find(|e| e.step == "count").unwrap();
    assert_eq!(count.status, StepStatus::Ok, "on_error: continue");
}

#[tokio::test]
async fn on_error_abort_skips_the_rest_and_retries_recover() {
    let text = runbook(
        "policy",
        r#"  - id: track
    incident: {action: track}
  - id: flaky
    retries: 2
    put_metric: {name: Flaky}
  - id: fragile
    retries: 3
    put_metric: {name: Fragile, dimensions: {Service: "{{ '' }}"}}
  - id: never
    put_metric: {name: Never}
"#,
    );
    let (backend, engine) = engine(&[&text]);
    // `flaky` fails twice (retryable) and succeeds on its third attempt. `fragile` renders
    // an empty dimension: not retryable, so one attempt; it aborts, and `never` is skipped.
    backend.fail_next_put_metrics(2);
    let report = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    let by_id = |id: &str| report.steps.iter().find(|e| e.step == id).unwrap();
    assert_eq!(by_id("flaky").status, StepStatus::Ok);
    assert_eq!(by_id("flaky").attempts, 3);
    assert_eq!(by_id("fragile").status, StepStatus::Failed);
    assert_eq!(by_id("fragile").attempts, 1, "{:?}", by_id("fragile"));
    assert_eq!(by_id("never").status, StepStatus::Skipped);
    assert!(by_id("never").summary.contains("`fragile` failed"));
    assert_eq!(backend.put_metrics().len(), 1);
}

#[tokio::test]
async fn a_retry_after_a_crash_does_not_repeat_completed_steps() {
    let (backend, engine) = engine(&[&full_runbook(1500)]);
    // Writes: 1 = the outcomes decided before the page, 2 = `count-before`; the third
    // (`tell`'s record) fails after its event went out, as if the invocation died there.
    backend.fail_step_entry_write_after(2);
    let raw = sample("alarm-metric-prod-alarm.json");
    let first = engine.handle_bytes(&raw).await;
    assert!(first.is_err(), "the invocation fails and Lambda retries it");
    assert_eq!(backend.published().len(), 1);

    let retry = engine.handle_bytes(&raw).await.unwrap();
    assert_eq!(retry.outcome, Outcome::Duplicate);
    assert_eq!(backend.published().len(), 1, "no second page");
    let names: Vec<String> = backend.put_metrics().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["Before", "After"], "count-before ran once");
    // `tell` had no record, so it ran again: the documented at-least-once window.
    let emitted = backend
        .bus_events()
        .iter()
        .filter(|e| e.event.source.as_deref() == Some("klaxon.runbook"))
        .count();
    assert_eq!(emitted, 2);
    let incident = retry.incident_id.clone().unwrap();
    let entries = backend.step_entries(&incident).await.unwrap();
    assert_eq!(entries.len(), 6);
    assert!(entries.iter().all(|e| e.status == StepStatus::Ok));
    assert_eq!(backend.step_runs_len(), 0);

    // A third delivery finds nothing left to do.
    let again = engine.handle_bytes(&raw).await.unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert!(again.steps.is_empty());
    assert_eq!(backend.put_metrics().len(), 2);
}

#[tokio::test]
async fn several_runbooks_run_in_order_and_page_a_route_once() {
    let first = "name: first\norder: 10\n".to_string()
        + HEADER
        + "steps:\n  - id: track\n    incident: {action: track}\n  - id: page\n    notify: {subject: first}\n";
    let second = "name: second\norder: 20\n".to_string()
        + HEADER
        + "steps:\n  - id: track\n    incident: {action: track}\n  - id: page\n    notify: {subject: second}\n  - id: ops\n    notify: {route: ops, subject: ops copy}\n";
    let fallback = "name: fallback\nfallback: true\norder: 1\n".to_string()
        + HEADER
        + "steps:\n  - id: track\n    incident: {action: track}\n  - id: page\n    notify: {}\n";
    let (backend, engine) = engine(&[&second, &fallback, &first]);
    let report = engine
        .handle_bytes(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    assert_eq!(report.runbooks, ["first", "second"], "fallback only alone");
    let subjects: Vec<String> = backend
        .published()
        .iter()
        .map(|p| p.notification.subject.clone())
        .collect();
    assert_eq!(subjects, ["first", "ops copy"]);
    let skipped = report
        .steps
        .iter()
        .find(|e| e.runbook == "second" && e.step == "page")
        .unwrap();
    assert_eq!(skipped.status, StepStatus::Skipped);
    assert!(
        skipped.summary.contains("already paged"),
        "{}",
        skipped.summary
    );
    let second_track = report
        .steps
        .iter()
        .find(|e| e.runbook == "second" && e.step == "track")
        .unwrap();
    assert!(second_track.summary.contains("decided by runbook `first`"));
    assert_eq!(backend.all_incidents().len(), 1);
}

#[tokio::test]
async fn a_guard_skips_the_remaining_steps() {
    let text = runbook(
        "guarded",
        r#"  - id: track
    incident: {action: track}
  - id: production-only
    guard:
      when: {environment: [production]}
  - id: page
    notify: {}
"#,
    );
    let (backend, engine) = engine(&[&text]);
    let staging = engine
        .handle_bytes(&sample("alarm-metric-test-alarm.json"))
        .await
        .unwrap();
    assert_eq!(staging.outcome, Outcome::Opened);
    let page = staging.steps.iter().find(|e| e.step == "page").unwrap();
    assert_eq!(page.status, StepStatus::Skipped);
    assert!(backend.published().is_empty());
    let incident = backend.all_incidents().pop().unwrap();
    assert!(
        !incident.paged,
        "no page went, so the incident is not marked paged"
    );
}

#[tokio::test]
async fn events_past_the_hop_limit_are_not_acted_on() {
    let (backend, engine) = engine(&[&full_runbook(1500)]);
    let mut event: Value = serde_json::from_slice(&sample("alarm-metric-prod-alarm.json")).unwrap();
    event["detail"]["klaxon_hops"] = json!(3);
    let report = engine.handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Ignored);
    assert!(report.error.unwrap().contains("hop limit"));
    assert!(backend.published().is_empty());
    event["detail"]["klaxon_hops"] = json!(2);
    let report = engine.handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened);
    // Emitted one hop further; a third emit would be refused at the next runbook.
    let emitted = backend
        .bus_events()
        .into_iter()
        .find(|e| e.event.source.as_deref() == Some("klaxon.runbook"))
        .unwrap();
    assert_eq!(emitted.event.detail["klaxon_hops"], 3);
}

#[tokio::test]
async fn a_runbook_test_expecting_the_wrong_outcome_fails_with_a_diff() {
    let dir = root().join("tests/runbooks-wrong-expectation");
    let runbooks = klaxon::runbook::load_path(&dir).unwrap();
    let results = klaxon::runbook_test::run_all(
        Arc::new(Catalog::new(runbooks)),
        &klaxon::memory::embedded_settings(),
    )
    .await;
    assert_eq!(results.len(), 2);
    let failed: Vec<_> = results.iter().filter(|r| !r.passed()).collect();
    assert_eq!(failed.len(), 1, "{results:#?}");
    let text = klaxon::runbook_test::render_failure(failed[0]);
    assert!(
        text.contains("route\n    - expected: production\n    + got:      test"),
        "{text}"
    );
    assert!(
        text.contains("steps\n    - expected: [\"track\"]"),
        "{text}"
    );
}

#[tokio::test]
async fn a_failed_step_never_skips_a_page_but_aborts_the_rest() {
    let text = runbook(
        "abort-before-page",
        r#"  - id: track
    incident: {action: track}
  - id: to-production
    notify: {route: production, subject: "never for staging"}
  - id: to-ops
    notify: {route: ops, subject: "ops copy"}
  - id: count
    put_metric: {name: Counted}
"#,
    );
    let (backend, engine) = engine(&[&text]);
    let report = engine
        .handle_bytes(&sample("alarm-metric-test-alarm.json"))
        .await
        .unwrap();
    let by_id = |id: &str| report.steps.iter().find(|e| e.step == id).unwrap();
    // Refused (staging cannot page production): Klaxon's standard page goes to its route.
    assert_eq!(by_id("to-production").status, StepStatus::Failed);
    assert!(by_id("to-production").summary.contains("standard page"));
    // `abort` does not stop a page...
    assert_eq!(by_id("to-ops").status, StepStatus::Ok);
    // ...but stops the other steps.
    assert_eq!(by_id("count").status, StepStatus::Skipped);
    let topics: Vec<String> = backend
        .published()
        .into_iter()
        .map(|p| p.topic_arn)
        .collect();
    assert_eq!(
        topics,
        [
            "arn:aws:sns:us-east-1:000000000000:klaxon-test",
            "arn:aws:sns:us-east-1:000000000000:klaxon-ops"
        ]
    );
    assert!(backend.put_metrics().is_empty());
}

#[test]
fn a_route_without_a_topic_fails_the_cold_start_naming_the_variable() {
    let dir = std::env::temp_dir().join(format!("klaxon-routes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("ops.yaml"),
        runbook(
            "to-ops",
            "  - id: track\n    incident: {action: track}\n  - id: page\n    notify: {route: ops}\n",
        ),
    )
    .unwrap();
    let vars = [
        ("KLAXON_TABLE", "klaxon"),
        ("KLAXON_EVENT_BUS", "klaxon"),
        (
            "KLAXON_TOPIC_PRODUCTION",
            "arn:aws:sns:us-east-1:123456789012:p",
        ),
        ("KLAXON_TOPIC_TEST", "arn:aws:sns:us-east-1:123456789012:t"),
    ];
    let dir_text = dir.to_string_lossy().into_owned();
    let config = klaxon::config::Config::from_lookup(|name| {
        if name == "KLAXON_RUNBOOKS" {
            return Some(dir_text.clone());
        }
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    let error = config.catalog().err().expect("refused").to_string();
    assert!(error.contains("KLAXON_TOPIC_OPS"), "{error}");
    assert!(error.contains("runbook `to-ops` step `page`"), "{error}");
    std::fs::remove_dir_all(&dir).unwrap();
}
