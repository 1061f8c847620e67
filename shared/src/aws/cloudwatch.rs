//! CloudWatch adapter for [`TagSource`] and [`Metrics`]. Reads about an alarm go to the
//! alarm's own region (taken from its ARN), so a central deployment can read alarms of other
//! regions; reading other accounts needs an assumed role, which comes with the organisation
//! set-up. Klaxon's own metrics go to Klaxon's region.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    Dimension, HistoryItemType, Metric, MetricDataQuery, MetricDatum as AwsDatum, MetricStat,
    StandardUnit,
};
use chrono::{DateTime, Utc};

use crate::error::KlaxonError;
use crate::lookup::{HistoryItem, MetricDatum, MetricQuery, MetricSeries};
use crate::ports::{Metrics, TagSource};

use super::regional::Regional;

pub struct CloudWatch {
    clients: Regional<aws_sdk_cloudwatch::Client>,
}

impl CloudWatch {
    pub fn new(shared: SdkConfig) -> Self {
        CloudWatch {
            clients: Regional::new(&shared, |shared, region| {
                let mut config = aws_sdk_cloudwatch::config::Builder::from(shared);
                if let Some(region) = region {
                    config = config.region(aws_sdk_cloudwatch::config::Region::new(region));
                }
                aws_sdk_cloudwatch::Client::from_conf(config.build())
            }),
        }
    }

    /// A client for the alarm's region.
    fn client_for(&self, alarm_arn: &str) -> aws_sdk_cloudwatch::Client {
        self.clients.for_arn(alarm_arn)
    }
}

fn to_aws(t: DateTime<Utc>) -> AwsDateTime {
    AwsDateTime::from_millis(t.timestamp_millis())
}

fn from_aws(t: &AwsDateTime) -> Option<DateTime<Utc>> {
    t.to_millis().ok().and_then(DateTime::from_timestamp_millis)
}

fn alarm_name(alarm_arn: &str) -> &str {
    alarm_arn
        .split_once(":alarm:")
        .map(|(_, name)| name)
        .unwrap_or(alarm_arn)
}

impl TagSource for CloudWatch {
    async fn resource_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        let output = self
            .client_for(alarm_arn)
            .list_tags_for_resource()
            .resource_arn(alarm_arn)
            .send()
            .await
            .map_err(|e| super::error::classify("cloudwatch", "ListTagsForResource", e))?;
        Ok(output
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }
}

impl Metrics for CloudWatch {
    async fn metric_data(
        &self,
        alarm_arn: &str,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, KlaxonError> {
        if queries.is_empty() {
            return Ok(Vec::new());
        }
        let mut request = self
            .client_for(alarm_arn)
            .get_metric_data()
            .start_time(to_aws(start))
            .end_time(to_aws(end));
        for q in queries {
            let mut metric = Metric::builder()
                .namespace(&q.namespace)
                .metric_name(&q.name);
            for (name, value) in &q.dimensions {
                metric = metric.dimensions(Dimension::builder().name(name).value(value).build());
            }
            let stat = MetricStat::builder()
                .metric(metric.build())
                .period(i32::try_from(q.period).unwrap_or(60))
                .stat(&q.stat)
                .build();
            request = request.metric_data_queries(
                MetricDataQuery::builder()
                    .id(&q.id)
                    .label(&q.label)
                    .metric_stat(stat)
                    .return_data(true)
                    .build(),
            );
        }
        let mut series: HashMap<String, Vec<(DateTime<Utc>, f64)>> = HashMap::new();
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| super::error::classify("cloudwatch", "GetMetricData", e))?;
            for result in page.metric_data_results() {
                let points = series
                    .entry(result.id().unwrap_or_default().to_string())
                    .or_default();
                for (t, v) in result.timestamps().iter().zip(result.values()) {
                    if let Some(t) = from_aws(t) {
                        points.push((t, *v));
                    }
                }
            }
        }
        // One value per timestamp and query, even if the service repeats a page.
        Ok(series
            .into_iter()
            .map(|(id, mut points)| {
                points.sort_by_key(|(t, _)| *t);
                points.dedup_by_key(|(t, _)| *t);
                MetricSeries { id, points }
            })
            .collect())
    }

    async fn alarm_history(
        &self,
        alarm_arn: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: i32,
    ) -> Result<Vec<HistoryItem>, KlaxonError> {
        let output = self
            .client_for(alarm_arn)
            .describe_alarm_history()
            .alarm_name(alarm_name(alarm_arn))
            .history_item_type(HistoryItemType::StateUpdate)
            .start_date(to_aws(start))
            .end_date(to_aws(end))
            .max_records(max.clamp(1, 100))
            .send()
            .await
            .map_err(|e| super::error::classify("cloudwatch", "DescribeAlarmHistory", e))?;
        Ok(output
            .alarm_history_items()
            .iter()
            .filter_map(|item| {
                Some(HistoryItem {
                    timestamp: from_aws(item.timestamp()?)?,
                    summary: crate::text::for_log(item.history_summary().unwrap_or_default()),
                    new_state: item.history_data().and_then(new_state_from_history_data),
                })
            })
            .collect())
    }

    async fn put_metric(&self, datum: &MetricDatum) -> Result<(), KlaxonError> {
        let mut builder = AwsDatum::builder()
            .metric_name(&datum.name)
            .value(datum.value);
        for (name, value) in &datum.dimensions {
            builder = builder.dimensions(Dimension::builder().name(name).value(value).build());
        }
        if let Some(unit) = &datum.unit {
            builder = builder.unit(StandardUnit::from(unit.as_str()));
        }
        self.clients
            .home()
            .put_metric_data()
            .namespace(&datum.namespace)
            .metric_data(builder.build())
            .send()
            .await
            .map_err(|e| super::error::classify("cloudwatch", "PutMetricData", e))?;
        Ok(())
    }
}

/// The new state from a StateUpdate item's `HistoryData` JSON (`{"newState": {"stateValue": …}}`).
pub fn new_state_from_history_data(data: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(data).ok()?;
    v["newState"]["stateValue"].as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_data_parses() {
        let data = r#"{"version":"1.0","oldState":{"stateValue":"OK"},"newState":{"stateValue":"ALARM","stateReason":"x"}}"#;
        assert_eq!(new_state_from_history_data(data).as_deref(), Some("ALARM"));
        assert_eq!(new_state_from_history_data("not json"), None);
    }
}
