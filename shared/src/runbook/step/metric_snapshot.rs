//! `metric_snapshot`: CloudWatch GetMetricData around the alarm's state time, min, max,
//! average and last value per metric the alarm names.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::error::KlaxonError;
use crate::intake::{MetricRef, StateChange};
use crate::lookup::{MetricQuery, MetricSeries};
use crate::runbook::step::common::{
    deadline_bounds, default_deadline, out_of_range, Enriched, EnrichmentSource, LookupInputs,
    SUMMARY_BYTES,
};
use crate::text;
use serde_json::{json, Value};

/// CloudWatch GetMetricData around the alarm time: min/max/avg/last per alarm metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSnapshot {
    #[serde(default = "fifteen")]
    pub minutes_before: u32,
    #[serde(default)]
    pub minutes_after: u32,
    /// How long a page waits for this enrichment, in milliseconds.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

pub(crate) fn fifteen() -> u32 {
    15
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    pub label: String,
    pub points: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub avg: Option<f64>,
    /// The most recent value.
    pub last: Option<f64>,
}

/// The queries for an alarm's own metrics (metric-math expressions and anomaly bands are
/// not re-evaluated: their input metrics are queried instead).
pub fn queries_for(event: &StateChange) -> Vec<MetricQuery> {
    event
        .metrics
        .iter()
        .filter_map(|m: &MetricRef| Some((m.namespace.clone()?, m.name.clone()?, m)))
        .enumerate()
        .map(|(i, (namespace, name, m))| MetricQuery {
            id: format!("m{i}"),
            label: format!("{namespace} {name}"),
            namespace,
            name,
            dimensions: m
                .dimensions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            stat: m.stat.clone().unwrap_or_else(|| "Average".into()),
            period: m.period.unwrap_or(60),
        })
        .collect()
}

/// The time window around the alarm's state change.
pub fn window(
    event: &StateChange,
    minutes_before: u32,
    minutes_after: u32,
) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        event.state_timestamp - Duration::minutes(i64::from(minutes_before)),
        event.state_timestamp + Duration::minutes(i64::from(minutes_after)),
    )
}

pub fn summarize(query: &MetricQuery, series: Option<&MetricSeries>) -> MetricSummary {
    let mut points: Vec<(DateTime<Utc>, f64)> = series
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|(_, v)| v.is_finite())
                .collect()
        })
        .unwrap_or_default();
    points.sort_by_key(|(t, _)| *t);
    let values: Vec<f64> = points.iter().map(|(_, v)| *v).collect();
    let n = values.len();
    MetricSummary {
        label: query.label.clone(),
        points: n,
        min: values.iter().copied().reduce(f64::min),
        max: values.iter().copied().reduce(f64::max),
        avg: (n > 0).then(|| values.iter().sum::<f64>() / n as f64),
        last: values.last().copied(),
    }
}

pub(crate) fn number(v: f64) -> String {
    let rounded = (v * 1000.0).round() / 1000.0;
    format!("{rounded}")
}

impl MetricSnapshot {
    /// Limits that keep the step within a Lambda invocation and CloudWatch's own limits.
    pub(crate) fn bounds(&self) -> Option<String> {
        deadline_bounds("metric_snapshot", self.deadline_ms)
            .or_else(|| {
                out_of_range(
                    "metric_snapshot",
                    "minutes_before",
                    u64::from(self.minutes_before),
                    (1, 1440),
                    "at most a day of data",
                )
            })
            .or_else(|| {
                out_of_range(
                    "metric_snapshot",
                    "minutes_after",
                    u64::from(self.minutes_after),
                    (0, 60),
                    "at most an hour after the alarm",
                )
            })
    }

    /// Runs the step: reads AWS through the lookups, summarises what it found.
    pub async fn run(
        &self,
        lookups: &impl EnrichmentSource,
        inputs: &LookupInputs,
    ) -> Result<Enriched, KlaxonError> {
        let start =
            inputs.state_timestamp - chrono::Duration::minutes(i64::from(self.minutes_before));
        let end = inputs.state_timestamp + chrono::Duration::minutes(i64::from(self.minutes_after));
        if inputs.queries.is_empty() {
            return Ok(Enriched {
            summary: "the alarm names no metric to query (composite alarm, or metric math without plain metrics)".into(),
            detail: json!({"start": start, "end": end, "metrics": []}),
        });
        }
        let series = lookups
            .metric_data(&inputs.dedup_key, &inputs.queries, start, end)
            .await?;
        let summaries: Vec<MetricSummary> = inputs
            .queries
            .iter()
            .map(|q| summarize(q, series.iter().find(|s| s.id == q.id)))
            .collect();
        let summary = summaries
            .iter()
            .map(|m| match (m.last, m.max, m.avg) {
                (Some(last), Some(max), Some(avg)) => format!(
                    "{}: last {} max {} avg {} ({} points)",
                    m.label,
                    number(last),
                    number(max),
                    number(avg),
                    m.points
                ),
                _ => format!("{}: no data points", m.label),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Ok(Enriched {
            summary: text::bounded(&text::single_line(&summary), SUMMARY_BYTES),
            detail: json!({"start": start, "end": end, "metrics": summaries}),
        })
    }

    /// A result as the step's templates see it, for checking them at load.
    pub(crate) fn sample_result() -> Value {
        json!({
            "start": "2024-05-01T11:45:00Z", "end": "2024-05-01T12:00:00Z",
            "metrics": [{"label": "AWS/EC2 CPUUtilization", "points": 3, "min": 1.0, "max": 3.0, "avg": 2.0, "last": 3.0}],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::step::common::tests::*;

    #[test]
    fn summary_of_points() {
        let q = MetricQuery {
            id: "m0".into(),
            label: "AWS/X Y".into(),
            namespace: "AWS/X".into(),
            name: "Y".into(),
            dimensions: vec![],
            stat: "Sum".into(),
            period: 60,
        };
        let s = summarize(
            &q,
            Some(&MetricSeries {
                id: "m0".into(),
                points: vec![(t(2), 5.0), (t(0), 1.0), (t(1), f64::NAN), (t(3), 3.0)],
            }),
        );
        assert_eq!(
            (s.points, s.min, s.max, s.last),
            (3, Some(1.0), Some(5.0), Some(3.0))
        );
        assert_eq!(s.avg, Some(3.0));
        let empty = summarize(&q, None);
        assert_eq!(
            (empty.points, empty.min, empty.avg, empty.last),
            (0, None, None, None)
        );
    }

    #[test]
    fn queries_come_from_the_alarm_metrics() {
        let v: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../events/alarm-metric-math-alarm.json"
            ))
            .unwrap(),
        )
        .unwrap();
        let crate::intake::Intake::Change(a) = crate::intake::parse_value(&v).unwrap() else {
            panic!()
        };
        let q = queries_for(&a);
        assert_eq!(
            q.len(),
            2,
            "the two input metrics; the expression is not re-queried"
        );
        assert!(q.iter().all(|q| q.id.starts_with('m')));
    }
}
