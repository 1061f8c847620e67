//! No page is lost to DynamoDB's limits: every event up to Klaxon's 256 KiB limit commits
//! within 400 KB items and 4 MB / 100-action transactions, counted by DynamoDB's rules,
//! which the memory backend enforces as DynamoDB would.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use klaxon::intake::MAX_EVENT_BYTES;
use klaxon::memory::{self, MemoryBackend, MemoryEngine};
use klaxon::model::Outcome;
use klaxon::ports::IncidentStore;
use klaxon::runbook::{load_str, Catalog};
use serde_json::{json, Value};

fn sample(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A runbook whose metric snapshot runs after the page, so its step run holds the metric
/// queries as well as the context: the record that could outgrow one item.
const AFTER_PAGE: &str = r#"
name: after-page
description: page, then a metric snapshot and an emitted event
team: t
trigger:
  source: [aws.cloudwatch]
  detail-type: [CloudWatch Alarm State Change]
steps:
  - id: track
    incident: {action: track}
  - id: page
    notify: {}
  - id: emit
    emit: {detail_type: Checked}
  - id: snapshot
    metric_snapshot: {minutes_before: 10}
"#;

fn engine() -> (MemoryBackend, MemoryEngine) {
    let catalog = Catalog::new(vec![
        load_str(Path::new("after-page.yaml"), AFTER_PAGE).unwrap()
    ]);
    let (backend, engine) = memory::engine_with(memory::embedded_settings(), Arc::new(catalog));
    backend.set_now(Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap());
    (backend, engine)
}

/// Pads `v` with `fill(n)` until its JSON is as close to Klaxon's limit as it gets.
fn at_the_limit(v: &Value, fill: impl Fn(&mut Value, usize)) -> Vec<u8> {
    let (mut low, mut high) = (0usize, MAX_EVENT_BYTES);
    let mut best = serde_json::to_vec(v).unwrap();
    while low < high {
        let mid = (low + high).div_ceil(2);
        let mut candidate = v.clone();
        fill(&mut candidate, mid);
        let bytes = serde_json::to_vec(&candidate).unwrap();
        if bytes.len() <= MAX_EVENT_BYTES {
            low = mid;
            best = bytes;
        } else {
            high = mid - 1;
        }
    }
    assert!(best.len() > MAX_EVENT_BYTES - 4096, "{}", best.len());
    best
}

#[tokio::test]
async fn every_event_up_to_the_limit_commits_and_pages() {
    let alarm = sample("alarm-metric-prod-alarm.json");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "reasonData",
            at_the_limit(&alarm, |v, n| {
                v["detail"]["state"]["reasonData"] = json!("r".repeat(n));
            }),
        ),
        (
            "reason",
            at_the_limit(&alarm, |v, n| {
                v["detail"]["state"]["reason"] = json!("\"q\" ".repeat(n / 4));
            }),
        ),
        (
            "description",
            at_the_limit(&alarm, |v, n| {
                v["detail"]["configuration"]["description"] = json!("d".repeat(n));
            }),
        ),
        (
            // Metrics are in the step context and, for a metric snapshot after the page,
            // in its queries too: the record that outgrows one item.
            "metrics",
            at_the_limit(&alarm, |v, n| {
                let metric = |i: usize| {
                    json!({"id": format!("m{i}"), "returnData": true, "metricStat": {
                        "metric": {"namespace": "AWS/ApplicationELB", "name": "HTTPCode_Target_5XX_Count",
                            "dimensions": {"LoadBalancer": "x".repeat(900), "TargetGroup": "y".repeat(900)}},
                        "period": 60, "stat": "Sum"}})
                };
                v["detail"]["configuration"]["metrics"] =
                    json!((0..n / 1900).map(metric).collect::<Vec<_>>());
            }),
        ),
    ];
    for (what, raw) in cases {
        let (backend, engine) = engine();
        let report = engine.handle_bytes(&raw).await.unwrap();
        assert_eq!(
            report.outcome,
            Outcome::Opened,
            "{what}: {:?}",
            report.error
        );
        assert_eq!(backend.published().len(), 1, "{what}: the page went");
        let incident = report.incident_id.clone().unwrap();
        let timeline = backend.timeline(&incident).await.unwrap();
        assert_eq!(timeline.len(), 1, "{what}");
        if what == "metrics" {
            // The last resort: committed without the step run, and the record says so.
            assert!(
                timeline[0].summary.contains(
                    "after-page steps were dropped (after-page/emit, after-page/snapshot)"
                ),
                "{what}: {}",
                timeline[0].summary
            );
            assert!(report.error.is_some());
        }
    }
}

#[tokio::test]
async fn the_memory_backend_refuses_what_dynamodb_refuses() {
    let (backend, engine) = engine();
    let raw = serde_json::to_vec(&sample("alarm-metric-prod-alarm.json")).unwrap();
    engine.handle_bytes(&raw).await.unwrap();
    // A step entry of more than 400 KB, written as the engine would after a step.
    let mut entry = backend.all_step_entries()[0].clone();
    entry.seq = 99;
    entry.detail = Some("x".repeat(410 * 1024));
    let err = backend.put_step_entries(&[entry]).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("Item size has exceeded the maximum allowed size"),
        "{err}"
    );
    assert!(!err.is_retryable());
}
