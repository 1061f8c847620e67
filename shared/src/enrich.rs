//! Enrichment, pure part: what the `metric_snapshot` and `alarm_history` steps compute from
//! CloudWatch's answers. The calls themselves go through [`crate::ports::Metrics`].

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::intake::{AlarmEvent, MetricRef};

/// A CloudWatch data point to put (the `put_metric` step), without AWS types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDatum {
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub value: f64,
    pub unit: Option<String>,
}

/// One metric query for GetMetricData.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricQuery {
    /// GetMetricData ids must start with a lower-case letter: `m0`, `m1`, ...
    pub id: String,
    pub label: String,
    pub namespace: String,
    pub name: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub period: u32,
}

/// Values of one query, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub id: String,
    pub points: Vec<(DateTime<Utc>, f64)>,
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

/// One entry of DescribeAlarmHistory (StateUpdate items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub timestamp: DateTime<Utc>,
    pub summary: String,
    /// The new state, when the item is a state update (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
    pub new_state: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryReport {
    pub transitions: usize,
    pub to_alarm: usize,
    /// Three or more transitions into ALARM in the window: the alarm flaps.
    pub flapping: bool,
    pub recent: Vec<HistoryItem>,
}

pub const FLAPPING_ALARMS: usize = 3;

pub fn history_report(mut items: Vec<HistoryItem>, keep: usize) -> HistoryReport {
    items.sort_by_key(|i| std::cmp::Reverse(i.timestamp));
    let transitions = items.iter().filter(|i| i.new_state.is_some()).count();
    let to_alarm = items
        .iter()
        .filter(|i| i.new_state.as_deref() == Some("ALARM"))
        .count();
    items.truncate(keep);
    HistoryReport {
        transitions,
        to_alarm,
        flapping: to_alarm >= FLAPPING_ALARMS,
        recent: items,
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
    use chrono::TimeZone;

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 12, m, 0).unwrap()
    }

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
    fn flapping_needs_three_alarms() {
        let item = |m, s: &str| HistoryItem {
            timestamp: t(m),
            summary: s.into(),
            new_state: Some(s.into()),
        };
        let r = history_report(
            vec![
                item(0, "ALARM"),
                item(1, "OK"),
                item(2, "ALARM"),
                item(3, "OK"),
                item(4, "ALARM"),
            ],
            2,
        );
        assert!(r.flapping);
        assert_eq!((r.transitions, r.to_alarm, r.recent.len()), (5, 3, 2));
        assert_eq!(r.recent[0].timestamp, t(4), "newest first");
        assert!(!history_report(vec![item(0, "ALARM")], 5).flapping);
    }

    #[test]
    fn history_data_parses() {
        let data = r#"{"version":"1.0","oldState":{"stateValue":"OK"},"newState":{"stateValue":"ALARM","stateReason":"x"}}"#;
        assert_eq!(new_state_from_history_data(data).as_deref(), Some("ALARM"));
        assert_eq!(new_state_from_history_data("not json"), None);
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
