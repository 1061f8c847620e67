//! Runbooks against moto over HTTP: a runbook with a metric snapshot, a page, an emitted
//! event and a metric runs end to end, every step on the incident's timeline in DynamoDB;
//! enrichment that fails (DescribeAlarmHistory, which moto answers with a 500) or finds no
//! data never stops the page; the step records' adapter round-trips.

use chrono::{Duration, Utc};
use klaxon::model::{
    Commit, KeyTracker, OutboundMessage, OutboxItem, Outcome, ProcessedEvent, StepEntry, StepPhase,
    StepRun, StepStatus,
};
use klaxon::ports::IncidentStore;
use klaxon::runbook::{load_str, Catalog};
use klaxon_integration_tests::{sample, LocalAws};
use serde_json::{json, Value};

/// The production sample, moved to `minutes_ago` and to a metric namespace of this test.
fn recent_alarm(id: &str, namespace: &str, minutes_ago: i64) -> Value {
    let mut event = sample("alarm-metric-prod-alarm.json");
    let at = Utc::now() - Duration::minutes(minutes_ago);
    event["id"] = json!(id);
    event["time"] = json!(at.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    event["detail"]["state"]["timestamp"] =
        json!(at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string());
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["namespace"] =
        json!(namespace);
    // moto's GetMetricData matches metrics across namespaces: a name of this test's own.
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] =
        json!(metric_name(namespace));
    event
}

fn metric_name(namespace: &str) -> String {
    format!("Errors-{}", namespace.trim_start_matches("Test/"))
}

fn catalog(text: &str) -> Catalog {
    Catalog::new(vec![
        load_str(std::path::Path::new("moto.yaml"), text).unwrap_or_else(|e| panic!("{e:?}"))
    ])
}

async fn put_points(aws: &LocalAws, namespace: &str, points: &[(i64, f64)]) {
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&aws.sdk);
    for (minutes_ago, value) in points {
        let t = Utc::now() - Duration::minutes(*minutes_ago);
        cloudwatch
            .put_metric_data()
            .namespace(namespace)
            .metric_data(
                aws_sdk_cloudwatch::types::MetricDatum::builder()
                    .metric_name(metric_name(namespace))
                    .dimensions(
                        aws_sdk_cloudwatch::types::Dimension::builder()
                            .name("LoadBalancer")
                            .value("app/checkout-api-prod/50dc6c495c0c9188")
                            .build(),
                    )
                    .dimensions(
                        aws_sdk_cloudwatch::types::Dimension::builder()
                            .name("TargetGroup")
                            .value("targetgroup/checkout-api-prod-tg/73e2d6bc24d8a067")
                            .build(),
                    )
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
                        t.timestamp_millis(),
                    ))
                    .value(*value)
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData");
    }
}

#[tokio::test]
async fn a_runbook_runs_end_to_end_with_every_step_on_the_timeline() {
    let aws = LocalAws::fresh("runbook-e2e").await;
    let namespace = format!("Test/{}", aws.table());
    put_points(&aws, &namespace, &[(4, 12.0), (3, 42.0), (2, 57.0)]).await;
    let runbook = format!(
        r#"name: e2e
description: every kind of effect against moto
team: platform
trigger:
  source: [aws.cloudwatch]
steps:
  - id: snapshot
    on_error: continue
    metric_snapshot: {{minutes_before: 15, deadline_ms: 5000}}
  - id: track
    incident: {{action: track}}
  - id: page
    notify:
      subject: "{{{{ alarm.name }}}} in {{{{ alarm.state }}}}"
      body: "{{% if enrichment.snapshot %}}{{% for m in enrichment.snapshot.metrics %}}peak {{{{ m.max }}}} over {{{{ m.points }}}} points{{% endfor %}}{{% endif %}}"
  - id: tell
    emit:
      detail_type: Checkout Errors Paged
      detail: {{action: capture-diagnostics}}
  - id: count
    put_metric:
      namespace: "{namespace}-out"
      name: Paged
      dimensions: {{Service: "{{{{ service }}}}"}}
  - id: history
    on_error: continue
    alarm_history: {{hours: 1}}
"#
    );
    let engine = aws.engine_with(catalog(&runbook));
    let report = engine
        .handle_value(&recent_alarm("e2e-1", &namespace, 1))
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Opened);
    let incident = report.incident_id.clone().unwrap();

    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    let message = pages[0]["Message"].as_str().unwrap();
    assert!(message.contains("peak 57.0 over 3 points"), "{message}");

    let emitted = aws.drain("runbook_events").await;
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(emitted[0]["source"], "klaxon.runbook");
    assert_eq!(emitted[0]["detail-type"], "Checkout Errors Paged");
    assert_eq!(emitted[0]["detail"]["klaxon_hops"], 1);
    assert_eq!(emitted[0]["detail"]["incident_id"], json!(incident));

    let metrics = aws_sdk_cloudwatch::Client::new(&aws.sdk)
        .list_metrics()
        .namespace(format!("{namespace}-out"))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.metrics().len(), 1);
    assert_eq!(metrics.metrics()[0].metric_name(), Some("Paged"));

    // The timeline in DynamoDB: one event entry, and one entry per step.
    let steps = engine.store().step_entries(&incident).await.unwrap();
    let seen: Vec<(&str, StepStatus, StepPhase)> = steps
        .iter()
        .map(|e| (e.step.as_str(), e.status, e.phase))
        .collect();
    assert_eq!(
        seen,
        [
            ("snapshot", StepStatus::Ok, StepPhase::BeforePage),
            ("track", StepStatus::Ok, StepPhase::BeforePage),
            ("page", StepStatus::Ok, StepPhase::BeforePage),
            ("tell", StepStatus::Ok, StepPhase::AfterPage),
            ("count", StepStatus::Ok, StepPhase::AfterPage),
            // moto answers DescribeAlarmHistory with a 500.
            ("history", StepStatus::Failed, StepPhase::AfterPage),
        ]
    );
    assert_eq!(engine.store().timeline(&incident).await.unwrap().len(), 1);
    let items = aws.scan_all().await;
    let step_items = items
        .iter()
        .filter(|i| i["entity"].as_s().unwrap() == "step_entry")
        .count();
    assert_eq!(step_items, 6);
    assert!(
        !items
            .iter()
            .any(|i| i["entity"].as_s().unwrap() == "step_run"),
        "the finished step run is deleted"
    );

    // A redelivery changes nothing.
    let again = engine
        .handle_value(&recent_alarm("e2e-1", &namespace, 1))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert!(aws.drain("runbook_events").await.is_empty());
    assert!(aws.drain("production").await.is_empty());
}

#[tokio::test]
async fn failing_or_empty_enrichment_does_not_stop_the_page() {
    let aws = LocalAws::fresh("runbook-enrich-fails").await;
    let namespace = format!("Test/{}", aws.table());
    let runbook = r#"name: enrich-fails
description: enrichment a page wants, which moto cannot give
team: platform
trigger:
  source: [aws.cloudwatch]
steps:
  - id: history
    on_error: continue
    alarm_history: {deadline_ms: 3000}
  - id: snapshot
    on_error: continue
    metric_snapshot: {deadline_ms: 3000}
  - id: track
    incident: {action: track}
  - id: page
    notify:
      subject: "{{ alarm.name }}"
      body: "{% if enrichment.history %}flapping: {{ enrichment.history.flapping }}{% else %}history unavailable{% endif %}"
"#;
    let engine = aws.engine_with(catalog(runbook));
    let mut event = recent_alarm("enrich-fails-1", &namespace, 1);
    // A metric nobody wrote (moto's GetMetricData is loose about namespaces).
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["name"] =
        json!(format!("Missing-{}", aws.table()));
    let report = engine.handle_value(&event).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened);
    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1, "the page went");
    assert!(pages[0]["Message"]
        .as_str()
        .unwrap()
        .contains("history unavailable"));
    let by_id = |id: &str| report.steps.iter().find(|e| e.step == id).unwrap().clone();
    let history = by_id("history");
    assert_eq!(history.status, StepStatus::Failed);
    assert_eq!(history.phase, StepPhase::AfterPage);
    assert!(
        history.summary.contains("failed before the page"),
        "{}",
        history.summary
    );
    // No data for the alarm's metric: the step succeeds and says so.
    let snapshot = by_id("snapshot");
    assert_eq!(snapshot.status, StepStatus::Ok);
    assert!(
        snapshot.summary.contains("no data points"),
        "{}",
        snapshot.summary
    );
}

#[tokio::test]
async fn step_records_round_trip_through_dynamodb() {
    let aws = LocalAws::fresh("step-records").await;
    let engine = aws.engine();
    let store = engine.store();
    let now = Utc::now();
    let entry = |seq: u32| StepEntry {
        incident_id: None,
        event_id: "ev-1".into(),
        seq,
        runbook: "r".into(),
        step: format!("s{seq}"),
        kind: "put_metric".into(),
        status: StepStatus::Ok,
        phase: StepPhase::AfterPage,
        at: now,
        duration_ms: 3,
        attempts: 1,
        summary: "done".into(),
        detail: Some(r#"{"a":1}"#.into()),
        expires_at: Some(now + Duration::hours(48)),
    };
    let run = StepRun {
        event_id: "ev-1".into(),
        incident_id: None,
        dedup_key: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x".into(),
        state_timestamp: now,
        hops: 0,
        metric_queries: vec![],
        target_groups: Vec::new(),
        health_checks: Vec::new(),
        context: json!({"alarm": {"name": "x\u{1b}"}}),
        scopes: vec![],
        entries: vec![entry(0)],
        pending: vec![],
        created_at: now,
        lease_until: now + Duration::seconds(60),
        expires_at: now + Duration::hours(48),
    };
    let outbox = OutboxItem {
        incident_id: "INC-lease".into(),
        event_id: "ev-1".into(),
        item_id: "0000000000001#ev-1#0".into(),
        created_at: now,
        lease_until: now + Duration::seconds(60),
        message: OutboundMessage::Lifecycle(klaxon::model::LifecycleEvent {
            source: None,
            detail_type: "Incident Updated".into(),
            resources: vec![],
            detail: json!({"version": "1"}),
        }),
    };
    let commit = Commit {
        processed: ProcessedEvent {
            event_id: "ev-1".into(),
            dedup_key: "k".into(),
            outcome: Outcome::Handled,
            incident_id: None,
            processed_at: now,
            expires_at: now + Duration::hours(48),
            writer: "w".into(),
            action: None,
            error: None,
        },
        expected_tracker_version: None,
        tracker: KeyTracker::new("k"),
        incident: None,
        timeline: None,
        closed: None,
        outbox: vec![outbox.clone()],
        step_run: Some(run.clone()),
        links: Vec::new(),
    };
    store.commit(&commit).await.unwrap();
    // A lease is given back only by its holder: after A's lease expired and B claimed the
    // item, A's release leaves B's lease alone.
    let a = OutboxItem {
        lease_until: now - Duration::seconds(1),
        ..outbox.clone()
    };
    assert!(store.claim_outbox(&outbox, a.lease_until).await.unwrap());
    let b_lease = now + Duration::seconds(60);
    assert!(store.claim_outbox(&a, b_lease).await.unwrap());
    store.release_outbox(&a).await.unwrap();
    let pending = store.pending_outbox("INC-lease").await.unwrap();
    assert_eq!(
        pending[0].lease_until.timestamp_millis(),
        b_lease.timestamp_millis(),
        "B still holds the item"
    );
    // B's own release gives it back.
    store
        .release_outbox(&OutboxItem {
            lease_until: b_lease,
            ..outbox.clone()
        })
        .await
        .unwrap();
    let pending = store.pending_outbox("INC-lease").await.unwrap();
    assert_eq!(pending[0].lease_until.timestamp_millis(), 0);
    // A tracker written before the outbox markers existed has no `pending_outbox` map:
    // the markers cannot be removed from it, and the delivered item must go all the same.
    use aws_sdk_dynamodb::types::AttributeValue::{N, S};
    aws.dynamodb()
        .put_item()
        .table_name(aws.table())
        .item("pk", S("ALARM#legacy".into()))
        .item("sk", S("TRACKER".into()))
        .item("entity", S("alarm_tracker".into()))
        .item("dedup_key", S("legacy".into()))
        .item("version", N("3".into()))
        .send()
        .await
        .unwrap();
    store
        .complete_delivery(&klaxon::model::Delivery {
            removed: vec![outbox.clone()],
            page_delivered: Vec::new(),
            notes: Vec::new(),
            tracker_key: "legacy".into(),
            done: vec!["INC-lease|ev-1".into()],
        })
        .await
        .unwrap();
    assert!(store.pending_outbox("INC-lease").await.unwrap().is_empty());
    let stored = store
        .step_run("ev-1")
        .await
        .unwrap()
        .expect("written with the commit");
    assert_eq!(stored.context, run.context);
    assert_eq!(
        stored.lease_until.timestamp_millis(),
        run.lease_until.timestamp_millis()
    );
    let stale = StepRun {
        lease_until: now - Duration::seconds(5),
        ..stored.clone()
    };
    assert!(!store.claim_step_run(&stale, now).await.unwrap());
    assert!(store
        .claim_step_run(&stored, now + Duration::seconds(120))
        .await
        .unwrap());
    // More than one BatchWriteItem's worth (25).
    let entries: Vec<StepEntry> = (0..30).map(entry).collect();
    store.put_step_entries(&entries).await.unwrap();
    store.put_step_entries(&entries[..2]).await.unwrap(); // rewriting is harmless
    let read = store.event_step_entries(None, "ev-1").await.unwrap();
    assert_eq!(read.len(), 30);
    assert_eq!(read[29].seq, 29);
    assert_eq!(read[0].detail.as_deref(), Some(r#"{"a":1}"#));
    store.complete_step_run(&stored).await.unwrap();
    assert!(store.step_run("ev-1").await.unwrap().is_none());
}
