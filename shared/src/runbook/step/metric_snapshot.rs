//! `metric_snapshot`: CloudWatch GetMetricData around the alarm's state time, min, max,
//! average and last value per metric the alarm names.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::intake::{AlarmEvent, MetricRef};
use crate::lookup::{MetricQuery, MetricSeries};
use crate::runbook::step::common::default_deadline;

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
pub fn queries_for(event: &AlarmEvent) -> Vec<MetricQuery> {
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
    event: &AlarmEvent,
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
        let crate::intake::Intake::Alarm(a) = crate::intake::parse_value(&v).unwrap() else {
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
