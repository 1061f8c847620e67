//! The CloudWatch adapter's enrichment calls against moto: GetMetricData around an alarm's
//! time, PutMetricData, and DescribeAlarmHistory (which moto answers with a 500: the adapter
//! must turn that into a retryable error, never a panic or an empty "all fine").

use chrono::{Duration, TimeZone, Utc};
use klaxon::aws::cloudwatch::CloudWatch;
use klaxon::lookup::{MetricDatum, MetricQuery};
use klaxon::ports::Metrics;
use klaxon::runbook::step::metric_snapshot;
use klaxon_integration_tests::LocalAws;

#[tokio::test]
async fn metric_snapshot_reads_points_around_the_alarm_time() {
    let aws = LocalAws::fresh("metric-snapshot").await;
    let sdk = aws_sdk_cloudwatch::Client::new(&aws.sdk);
    // A namespace of this test's own: metrics are account-wide on the shared server.
    let namespace = format!("Test/{}", aws.table());
    let alarm_time = Utc::now() - Duration::minutes(10);
    for (minutes_before, value) in [(6, 2.0), (4, 9.0), (2, 30.0), (1, 57.0)] {
        let t = alarm_time - Duration::minutes(minutes_before);
        sdk.put_metric_data()
            .namespace(&namespace)
            .metric_data(
                aws_sdk_cloudwatch::types::MetricDatum::builder()
                    .metric_name("Errors")
                    .dimensions(
                        aws_sdk_cloudwatch::types::Dimension::builder()
                            .name("Service")
                            .value("checkout")
                            .build(),
                    )
                    .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(
                        t.timestamp_millis(),
                    ))
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .expect("PutMetricData");
    }
    let query = MetricQuery {
        id: "m0".into(),
        label: format!("{namespace} Errors"),
        namespace: namespace.clone(),
        name: "Errors".into(),
        dimensions: vec![("Service".into(), "checkout".into())],
        stat: "Maximum".into(),
        period: 60,
    };
    let cloudwatch = CloudWatch::new(aws.sdk.clone());
    let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:checkout-errors";
    let series = cloudwatch
        .metric_data(
            arn,
            std::slice::from_ref(&query),
            alarm_time - Duration::minutes(15),
            alarm_time,
        )
        .await
        .expect("GetMetricData");
    let summary = metric_snapshot::summarize(&query, series.iter().find(|s| s.id == "m0"));
    // Real CloudWatch returns one datapoint per minute that has data (4 here); moto 5.2
    // buckets GetMetricData differently (it also fills later buckets), so the count is a
    // lower bound and the values are exact.
    assert!(summary.points >= 4, "{summary:?}");
    assert_eq!(
        (summary.min, summary.max, summary.last),
        (Some(2.0), Some(57.0), Some(57.0))
    );

    // A metric nobody wrote: no points, no error.
    let missing = MetricQuery {
        name: "Nothing".into(),
        label: "none".into(),
        ..query
    };
    let series = cloudwatch
        .metric_data(
            arn,
            std::slice::from_ref(&missing),
            alarm_time - Duration::minutes(15),
            alarm_time,
        )
        .await
        .unwrap();
    assert_eq!(
        metric_snapshot::summarize(&missing, series.first()).points,
        0
    );
}

#[tokio::test]
async fn put_metric_writes_a_data_point() {
    let aws = LocalAws::fresh("put-metric").await;
    let namespace = format!("Klaxon/{}", aws.table());
    let cloudwatch = CloudWatch::new(aws.sdk.clone());
    cloudwatch
        .put_metric(&MetricDatum {
            namespace: namespace.clone(),
            name: "TestEnvironmentFailures".into(),
            dimensions: vec![("Service".into(), "checkout".into())],
            value: 1.0,
            unit: Some("Count".into()),
        })
        .await
        .expect("PutMetricData");
    let listed = aws_sdk_cloudwatch::Client::new(&aws.sdk)
        .list_metrics()
        .namespace(&namespace)
        .send()
        .await
        .unwrap();
    assert!(listed
        .metrics()
        .iter()
        .any(|m| m.metric_name() == Some("TestEnvironmentFailures")));
}

#[tokio::test]
async fn alarm_history_failure_is_a_retryable_error() {
    let aws = LocalAws::fresh("alarm-history").await;
    let cloudwatch = CloudWatch::new(aws.sdk.clone());
    let t = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let arn = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:anything";
    // moto 5.2 answers DescribeAlarmHistory with HTTP 500 (see docs/ARCHITECTURE.md, Testing);
    // the pure part (flapping evidence from history items) is unit-tested in enrich.rs.
    match cloudwatch
        .alarm_history(arn, t - Duration::hours(24), t, 20)
        .await
    {
        Err(e) => assert!(e.is_retryable(), "{e}"),
        Ok(items) => assert!(items.is_empty(), "moto started answering: {items:?}"),
    }
}
