//! The examples docs/CONTRACTS.md shows are what Klaxon sends for them: the SNS page body
//! ((c) Body), the lifecycle event ((d), with its rule pattern), the `klaxon replay --json`
//! line ((e)) and the handler's response ((f)), all for `events/alarm-metric-prod-alarm.json`
//! on the embedded backend with the shipped runbooks, as `klaxon replay` runs it.

use std::path::{Path, PathBuf};

use klaxon::engine::Report;
use klaxon::memory::{self, MemoryBackend};
use klaxon::model::Outcome;
use serde_json::{json, Value};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The first fenced block after `marker` in docs/CONTRACTS.md, without its fences.
fn block_after(marker: &str) -> String {
    let doc = std::fs::read_to_string(root().join("docs/CONTRACTS.md")).unwrap();
    let start = doc
        .find(marker)
        .unwrap_or_else(|| panic!("docs/CONTRACTS.md has no `{marker}`"));
    let rest = &doc[start..];
    let fence = rest.find("```").expect("a code block");
    let body = &rest[fence..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").expect("its end")].to_string()
}

/// The production alarm sample, then (with `ok`) its recovery, as `klaxon replay` runs them.
async fn replay(ok: bool) -> (MemoryBackend, Vec<Report>) {
    let (backend, engine) = memory::engine(memory::embedded_settings());
    let mut reports = Vec::new();
    let mut files = vec!["alarm-metric-prod-alarm.json"];
    if ok {
        files.push("alarm-metric-prod-ok.json");
    }
    for file in files {
        let raw = std::fs::read(root().join("events").join(file)).unwrap();
        reports.push(engine.handle_bytes(&raw).await.unwrap());
    }
    (backend, reports)
}

#[tokio::test]
async fn the_page_body_example_is_what_klaxon_sends() {
    let (backend, reports) = replay(true).await;
    assert_eq!(reports[0].outcome, Outcome::Opened);
    let pages = backend.published();
    let example = block_after("Plain text:");
    assert_eq!(pages[0].notification.message.trim_end(), example.trim_end());
    // The subjects of (c) Subject.
    assert_eq!(
        pages[0].notification.subject,
        "[CRITICAL][production] prod-checkout-api-5xx-errors in ALARM"
    );
    assert_eq!(
        pages[1].notification.subject,
        "[RESOLVED][production] prod-checkout-api-5xx-errors recovered"
    );
}

#[tokio::test]
async fn the_lifecycle_event_example_is_what_klaxon_puts_on_the_bus() {
    let (backend, _) = replay(true).await;
    let example: Value = serde_json::from_str(&block_after("Example (from `events/")).unwrap();
    let bus = backend.bus_events();
    let opened = &bus[0].event;
    assert_eq!(opened.detail_type, example["detail-type"]);
    assert_eq!(json!(opened.resources), example["resources"]);
    // Every field the example shows has the example's value (EventBridge sets `id`, `time`,
    // `account` and `region`).
    for (key, value) in example["detail"].as_object().unwrap() {
        assert_eq!(&opened.detail[key], value, "detail.{key}");
    }
    // `text.plain` starts with the severity even for `Incident Resolved`.
    let resolved = &bus[1].event;
    assert_eq!(resolved.detail_type, "Incident Resolved");
    assert_eq!(
        resolved.detail["text"]["plain"],
        "CRITICAL production INC-20240501-d79a05a12d: prod-checkout-api-5xx-errors is OK"
    );
    assert_eq!(resolved.detail["resolution"], "recovered");
    assert_eq!(resolved.detail["status"], "resolved");
}

#[test]
fn the_example_rule_pattern_takes_the_example_event() {
    let pattern: Value = serde_json::from_str(&block_after(
        "Example rule pattern (a rule on the Klaxon bus)",
    ))
    .unwrap();
    let pattern = klaxon::pattern::Pattern::from_value(&pattern).unwrap();
    let mut event: Value = serde_json::from_str(&block_after("Example (from `events/")).unwrap();
    assert!(pattern.matches(&event));
    event["detail"]["severity"] = json!("low");
    assert!(!pattern.matches(&event), "only critical and high");
}

#[tokio::test]
async fn the_replay_line_and_the_response_are_the_examples() {
    let (_, reports) = replay(false).await;
    let mut example: Value = serde_json::from_str(&block_after("```json\n{\"dedup_key\"")).unwrap();
    let mut line = klaxon::report::to_json(&reports[0]);
    line.as_object_mut()
        .unwrap()
        .insert("file".into(), json!("events/alarm-metric-prod-alarm.json"));
    // How long a step took is the one value that is not the example's.
    for steps in [&mut line["steps"], &mut example["steps"]] {
        for step in steps.as_array_mut().unwrap() {
            step["duration_ms"] = json!(0);
        }
    }
    assert_eq!(line, example);
    // The handler's response is the same object without `file`.
    let mut response = klaxon::report::response(&reports);
    for step in response["steps"].as_array_mut().unwrap() {
        step["duration_ms"] = json!(0);
    }
    example.as_object_mut().unwrap().remove("file");
    assert_eq!(response, example);
}
