//! Payloads of other delivery paths, from public samples (tests/conformance/real-events: the
//! Powertools and Lambda runtime fixtures, the aws-health-tools PutEvents array, a bare
//! CloudTrail record, an SNS wrapper): each is rejected with a reason that names its path and
//! how to subscribe Klaxon through EventBridge, and a rejection record.

use klaxon::model::Outcome;

fn sample(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance/real-events")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn other_delivery_paths_are_named_with_how_to_subscribe() {
    let cases = [
        (
            "powertools-alarm-action-single.json",
            "Lambda action payload (`alarmData`)",
        ),
        (
            "powertools-alarm-action-composite.json",
            "Lambda action payload (`alarmData`)",
        ),
        (
            "rust-alarm-action-metric.json",
            "Lambda action payload (`alarmData`)",
        ),
        (
            "rust-alarm-action-composite-suppressor.json",
            "Lambda action payload (`alarmData`)",
        ),
        (
            "rust-sns-wrapped-alarm.json",
            "SNS notification (`Records[].Sns`)",
        ),
        ("rust-raw-cloudtrail-record.json", "bare CloudTrail record"),
        (
            "healthtools-putevents-entries.json",
            "PutEvents request's entries",
        ),
    ];
    for (file, path) in cases {
        let (backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
        let report = engine.handle_bytes(&sample(file)).await.unwrap();
        assert_eq!(report.outcome, Outcome::Rejected, "{file}");
        let reason = report.error.unwrap_or_default();
        assert!(reason.contains(path), "{file}: {reason}");
        assert!(
            reason.contains("EventBridge") && reason.contains("README"),
            "{file}: points at EventBridge and the README: {reason}"
        );
        assert_eq!(backend.rejections().len(), 1, "{file}: a rejection record");
    }
    // A PutEvents request as the API takes it (`{"Entries": [...]}`) too.
    let (_, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
    let request = br#"{"Entries": [{"Source": "x", "DetailType": "y", "Detail": "{}"}]}"#;
    let report = engine.handle_bytes(request).await.unwrap();
    assert!(report
        .error
        .unwrap()
        .contains("PutEvents request's entries"));
}

#[tokio::test]
async fn a_known_source_with_an_unhandled_detail_type_is_ignored_with_its_reason() {
    let (backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
    let report = engine
        .handle_bytes(&sample("powertools-eventbridge-ec2-state.json"))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Ignored);
    let reason = report.error.unwrap_or_default();
    assert!(
        reason.contains("aws.ec2") && reason.contains("not a source Klaxon handles"),
        "{reason}"
    );
    assert!(backend.rejections().is_empty());
}
