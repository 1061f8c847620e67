//! The alarm path against moto server over HTTP: DynamoDB, SNS→SQS (with a filter policy),
//! EventBridge rule→SQS, CloudWatch tags.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use klaxon::model::{IncidentStatus, Outcome};
use klaxon::ports::IncidentStore;
use klaxon_integration_tests::{sample, sns_attribute, LocalAws};
use serde_json::json;

#[tokio::test]
async fn alarm_opens_pages_and_ok_resolves() {
    let aws = LocalAws::fresh("open-resolve").await;
    let engine = aws.engine();

    let opened = engine
        .handle_value(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    assert_eq!(opened.outcome, Outcome::Opened);
    let id = opened.incident_id.clone().unwrap();

    // Read back from DynamoDB, through the adapter and raw.
    let incident = engine
        .store()
        .incident(&id)
        .await
        .unwrap()
        .expect("incident stored");
    assert_eq!(incident.status, IncidentStatus::Open);
    assert_eq!(incident.ownership.service.as_deref(), Some("checkout"));
    let raw = aws
        .dynamodb()
        .get_item()
        .table_name(aws.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("INCIDENT#{id}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("INCIDENT".into()),
        )
        .send()
        .await
        .unwrap();
    let item = raw.item.expect("raw item");
    assert_eq!(item["gsi1pk"].as_s().unwrap(), "OPEN");
    assert!(
        !item.contains_key("expires_at_epoch"),
        "incident records have no TTL"
    );
    assert_eq!(engine.store().open_incidents().await.unwrap().len(), 1);

    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    assert!(pages[0]["Subject"]
        .as_str()
        .unwrap()
        .starts_with("[CRITICAL][production]"));
    assert_eq!(sns_attribute(&pages[0], "incident_id"), Some(id.as_str()));
    assert_eq!(sns_attribute(&pages[0], "transition"), Some("opened"));
    assert_eq!(sns_attribute(&pages[0], "severity"), Some("critical"));
    let lifecycle = aws.drain("lifecycle").await;
    assert_eq!(lifecycle.len(), 1);
    assert_eq!(lifecycle[0]["detail-type"], "Incident Opened");
    assert_eq!(lifecycle[0]["source"], "klaxon");
    assert_eq!(lifecycle[0]["detail"]["incident_id"], json!(id));
    assert_eq!(lifecycle[0]["detail"]["version"], "1");

    let resolved = engine
        .handle_value(&sample("alarm-metric-prod-ok.json"))
        .await
        .unwrap();
    assert_eq!(resolved.outcome, Outcome::Resolved);
    let incident = engine.store().incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert!(
        engine.store().open_incidents().await.unwrap().is_empty(),
        "resolved leaves the open index"
    );
    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    assert_eq!(sns_attribute(&pages[0], "transition"), Some("resolved"));
    assert_eq!(
        aws.drain("lifecycle").await[0]["detail-type"],
        "Incident Resolved"
    );
    assert_eq!(engine.store().timeline(&id).await.unwrap().len(), 2);
    assert!(aws.drain("test").await.is_empty());
    assert!(
        engine.store().pending_outbox(&id).await.unwrap().is_empty(),
        "outbox emptied"
    );
    // The write that removed the delivered items also marked the page delivered and
    // cleared the tracker's markers (REMOVE pending_outbox.#key), so the next event of
    // this alarm needs no read to keep the order.
    assert!(incident.paged_routes == vec![klaxon::route::Route::Production]);
    let incident = engine.store().incident(&id).await.unwrap().unwrap();
    assert!(incident.page_delivered_at.is_some());
    let (_, tracker) = engine
        .store()
        .load(
            "none",
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-checkout-api-5xx-errors",
        )
        .await
        .unwrap();
    assert!(tracker.unwrap().pending_outbox.is_empty());
}

#[tokio::test]
async fn filter_policy_subscriber_gets_exactly_the_matching_pages() {
    let aws = LocalAws::fresh("filter-policy").await;
    let engine = aws.engine();
    for file in [
        "alarm-metric-prod-alarm.json",
        "alarm-metric-untagged-alarm.json",
        "alarm-anomaly-alarm.json",
    ] {
        engine.handle_value(&sample(file)).await.unwrap();
    }
    let all = aws.drain("production").await;
    assert_eq!(all.len(), 3);
    let critical = aws.drain("production_critical").await;
    assert_eq!(
        critical.len(),
        1,
        "only severity=critical passes the filter policy"
    );
    assert_eq!(sns_attribute(&critical[0], "severity"), Some("critical"));
}

#[tokio::test]
async fn test_tagged_alarm_never_reaches_the_production_topic() {
    let aws = LocalAws::fresh("test-route").await;
    let engine = aws.engine();
    for file in [
        "alarm-metric-test-alarm.json",
        "alarm-metric-test-insufficient.json",
        "alarm-metric-test-ok.json",
        "alarm-extra-fields-alarm.json",
    ] {
        engine.handle_value(&sample(file)).await.unwrap();
    }
    assert!(aws.drain("production").await.is_empty());
    let test = aws.drain("test").await;
    assert_eq!(test.len(), 3);
    assert!(test
        .iter()
        .all(|m| sns_attribute(m, "environment") != Some("production")));
}

#[tokio::test]
async fn same_event_five_times_one_entry_one_page() {
    let aws = LocalAws::fresh("five-times").await;
    let engine = aws.engine();
    let event = sample("alarm-metric-prod-alarm.json");
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.push(engine.handle_value(&event).await.unwrap().outcome);
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Opened,
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Duplicate,
            Outcome::Duplicate
        ]
    );
    let open = engine.store().open_incidents().await.unwrap();
    assert_eq!(
        engine
            .store()
            .timeline(&open[0].incident_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(aws.drain("production").await.len(), 1);
    assert_eq!(aws.drain("lifecycle").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_parallel_alarms_one_incident_one_page() {
    let aws = LocalAws::fresh("sixteen").await;
    let engine = Arc::new(aws.engine());
    let base = sample("alarm-metric-prod-alarm.json");
    let start = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut v = base.clone();
        v["id"] = json!(format!("parallel-{i:02}"));
        v["detail"]["state"]["timestamp"] = json!((start + Duration::seconds(i))
            .format("%Y-%m-%dT%H:%M:%S%.3f+0000")
            .to_string());
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move { engine.handle_value(&v).await }));
    }
    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().expect("every invocation succeeds").outcome);
    }
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Opened).count(),
        1,
        "{outcomes:?}"
    );
    let open = engine.store().open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(
        engine
            .store()
            .timeline(&open[0].incident_id)
            .await
            .unwrap()
            .len(),
        16
    );
    let pages = aws.drain("production").await;
    assert_eq!(pages.len(), 1);
    assert_eq!(sns_attribute(&pages[0], "transition"), Some("opened"));
    let incidents = aws
        .scan_all()
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().unwrap() == "INCIDENT")
        .count();
    assert_eq!(incidents, 1);
}

#[tokio::test]
async fn out_of_order_and_late_events_follow_the_timestamps() {
    let aws = LocalAws::fresh("order").await;
    let engine = aws.engine();
    assert_eq!(
        engine
            .handle_value(&sample("alarm-metric-prod-ok.json"))
            .await
            .unwrap()
            .outcome,
        Outcome::Ignored
    );
    assert_eq!(
        engine
            .handle_value(&sample("alarm-metric-prod-alarm.json"))
            .await
            .unwrap()
            .outcome,
        Outcome::Stale
    );
    assert!(engine.store().open_incidents().await.unwrap().is_empty());
    assert!(aws.drain("production").await.is_empty());

    // A second alarm: ALARM, OK, then the ALARM redelivered with a new id (late retry).
    let mut alarm = sample("alarm-anomaly-alarm.json");
    engine.handle_value(&alarm).await.unwrap();
    let mut ok = alarm.clone();
    ok["id"] = json!("anomaly-ok");
    ok["detail"]["state"]["value"] = json!("OK");
    ok["detail"]["state"]["timestamp"] = json!("2024-05-01T13:30:00.000+0000");
    assert_eq!(
        engine.handle_value(&ok).await.unwrap().outcome,
        Outcome::Resolved
    );
    alarm["id"] = json!("anomaly-alarm-late-copy");
    assert_eq!(
        engine.handle_value(&alarm).await.unwrap().outcome,
        Outcome::Stale
    );
    assert!(engine.store().open_incidents().await.unwrap().is_empty());
    assert_eq!(
        aws.drain("production").await.len(),
        2,
        "opened + resolved, nothing for the stale copy"
    );
}

#[tokio::test]
async fn tags_come_from_cloudwatch_when_the_event_has_none() {
    let aws = LocalAws::fresh("tags").await;
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&aws.sdk);
    // CloudWatch alarms are account-wide on the shared server: a name of this test's own.
    let name = format!("{}-cpu-high", aws.table());
    cloudwatch
        .put_metric_alarm()
        .alarm_name(&name)
        .namespace("AWS/EC2")
        .metric_name("CPUUtilization")
        .statistic(aws_sdk_cloudwatch::types::Statistic::Average)
        .period(300)
        .evaluation_periods(1)
        .threshold(90.0)
        .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
        .tags(
            aws_sdk_cloudwatch::types::Tag::builder()
                .key("environment")
                .value("Sandbox")
                .build(),
        )
        .tags(
            aws_sdk_cloudwatch::types::Tag::builder()
                .key("TEAM")
                .value("reports")
                .build(),
        )
        .send()
        .await
        .expect("PutMetricAlarm");
    let arn = cloudwatch
        .describe_alarms()
        .alarm_names(&name)
        .send()
        .await
        .unwrap()
        .metric_alarms()[0]
        .alarm_arn()
        .unwrap()
        .to_string();
    let mut event = sample("alarm-metric-untagged-alarm.json");
    event["resources"] = json!([arn]);
    let r = aws.engine().handle_value(&event).await.unwrap();
    assert_eq!(r.environment.as_deref(), Some("sandbox"));
    assert!(aws.drain("production").await.is_empty());
    let test = aws.drain("test").await;
    assert_eq!(test.len(), 1);
    assert_eq!(sns_attribute(&test[0], "team"), Some("reports"));

    // An alarm CloudWatch does not know: permanent lookup failure, treated as untagged.
    let mut unknown = sample("alarm-metric-untagged-alarm.json");
    unknown["id"] = json!("unknown-alarm");
    unknown["resources"] =
        json!(["arn:aws:cloudwatch:us-east-1:123456789012:alarm:does-not-exist"]);
    let r = aws.engine().handle_value(&unknown).await.unwrap();
    assert_eq!(r.environment.as_deref(), Some("production"));
}

#[tokio::test]
async fn invalid_events_are_recorded_and_write_nothing_else() {
    let aws = LocalAws::fresh("invalid").await;
    let engine = aws.engine();
    let dir = klaxon_integration_tests::repo_root().join("events/invalid");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let r = engine
            .handle_bytes(&std::fs::read(&path).unwrap())
            .await
            .unwrap();
        assert_eq!(r.outcome, Outcome::Rejected, "{}", path.display());
        count += 1;
    }
    let items = aws.scan_all().await;
    assert_eq!(
        items.len(),
        count,
        "one rejection record per file and nothing else"
    );
    assert!(items
        .iter()
        .all(|i| i["entity"].as_s().unwrap() == "rejection"));
    assert!(items.iter().all(|i| i.contains_key("expires_at_epoch")));
    assert!(aws.drain("production").await.is_empty());
    assert!(aws.drain("lifecycle").await.is_empty());
}
