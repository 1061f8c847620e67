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

/// One target of a load-balancer target group, as `DescribeTargetHealth` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<i32>,
    pub availability_zone: Option<String>,
    /// `initial`, `healthy`, `unhealthy`, `unhealthy.draining`, `unused`, `draining`,
    /// `unavailable`.
    pub state: String,
    /// `Target.Timeout`, `Target.ResponseCodeMismatch`, `Target.FailedHealthChecks`, ...
    pub reason: Option<String>,
    pub description: Option<String>,
}

/// What a `target_health` step found for one target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupReport {
    pub target_group: String,
    pub total: usize,
    pub healthy: usize,
    /// Every target that is not `healthy`, with its reason.
    pub unhealthy_targets: Vec<TargetHealth>,
}

/// The target groups an alarm watches: `TargetGroup` dimensions of AWS/ApplicationELB and
/// AWS/NetworkELB metrics (`targetgroup/<name>/<id>`), as ARNs in the alarm's account and
/// region.
pub fn target_groups_for(event: &AlarmEvent) -> Vec<String> {
    let (Some(account), Some(region)) = (event.account.as_deref(), event.region.as_deref()) else {
        return Vec::new();
    };
    // The alarm's own partition (aws, aws-cn, aws-us-gov), else its region's.
    let partition = crate::intake::arn_partition(&event.alarm_arn)
        .unwrap_or_else(|| crate::intake::partition_for_region(region));
    let mut arns: Vec<String> = event
        .metrics
        .iter()
        .filter(|m| {
            matches!(
                m.namespace.as_deref(),
                Some("AWS/ApplicationELB" | "AWS/NetworkELB" | "AWS/GatewayELB")
            )
        })
        .filter_map(|m| m.dimensions.get("TargetGroup"))
        .filter(|tg| tg.starts_with("targetgroup/") && !tg.contains(char::is_whitespace))
        .map(|tg| format!("arn:{partition}:elasticloadbalancing:{region}:{account}:{tg}"))
        .collect();
    arns.dedup();
    arns
}

pub fn target_group_report(target_group: &str, targets: Vec<TargetHealth>) -> TargetGroupReport {
    let total = targets.len();
    let unhealthy_targets: Vec<TargetHealth> = targets
        .into_iter()
        .filter(|t| t.state != "healthy")
        .collect();
    TargetGroupReport {
        target_group: target_group.to_string(),
        total,
        healthy: total - unhealthy_targets.len(),
        unhealthy_targets,
    }
}

/// One line per target group: "2 of 4 targets not healthy: i-1:8080 unhealthy
/// (Target.Timeout), ...".
pub fn target_health_summary(reports: &[TargetGroupReport]) -> String {
    if reports.is_empty() {
        return "the alarm names no load-balancer target group".into();
    }
    reports
        .iter()
        .map(|r| {
            let name = r.target_group.rsplit(':').next().unwrap_or(&r.target_group);
            if r.unhealthy_targets.is_empty() {
                return format!("{name}: all {} target(s) healthy", r.total);
            }
            let targets = r
                .unhealthy_targets
                .iter()
                .take(10)
                .map(|t| {
                    format!(
                        "{}{} {}{}",
                        t.id,
                        t.port.map(|p| format!(":{p}")).unwrap_or_default(),
                        t.state,
                        t.reason
                            .as_deref()
                            .map(|r| format!(" ({r})"))
                            .unwrap_or_default()
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!(
                "{name}: {} of {} target(s) not healthy: {targets}",
                r.unhealthy_targets.len(),
                r.total
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A Route 53 health check's configuration and what its checkers last saw fail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckReport {
    #[serde(default)]
    pub id: String,
    /// `HTTP`, `HTTPS`, `HTTP_STR_MATCH`, `TCP`, `CALCULATED`, `CLOUDWATCH_METRIC`, ...
    pub check_type: Option<String>,
    /// What is checked: `https://shop.example.com:443/health`, `203.0.113.5:443`, ...
    pub target: Option<String>,
    pub request_interval: Option<i32>,
    pub failure_threshold: Option<i32>,
    /// The checkers' last failure reports, newest first.
    #[serde(default)]
    pub last_failures: Vec<HealthCheckObservation>,
    /// Set when the last failure reason could not be read (the check itself was).
    pub last_failure_unavailable: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheckObservation {
    pub region: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// The checker's status text, e.g. "Failure: HTTP Status Code 503, Service Unavailable".
    pub status: String,
}

/// Health check ids of an alarm on `AWS/Route53` `HealthCheckStatus` (or any AWS/Route53
/// metric with a `HealthCheckId` dimension).
pub fn health_checks_for(event: &AlarmEvent) -> Vec<String> {
    let mut ids: Vec<String> = event
        .metrics
        .iter()
        .filter(|m| m.namespace.as_deref() == Some("AWS/Route53"))
        .filter_map(|m| m.dimensions.get("HealthCheckId"))
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        .cloned()
        .collect();
    ids.dedup();
    ids
}

pub fn health_check_summary(reports: &[HealthCheckReport]) -> String {
    if reports.is_empty() {
        return "the alarm names no Route 53 health check".into();
    }
    reports
        .iter()
        .map(|r| {
            let what = format!(
                "{} {} {}",
                r.id,
                r.check_type.as_deref().unwrap_or("?"),
                r.target.as_deref().unwrap_or("")
            );
            match (r.last_failures.first(), &r.last_failure_unavailable) {
                (Some(o), _) => format!(
                    "{}: last failure {}{}",
                    what.trim_end(),
                    o.status,
                    o.region
                        .as_deref()
                        .map(|g| format!(" (from {g})"))
                        .unwrap_or_default()
                ),
                (None, Some(why)) => format!(
                    "{}: last failure reason unavailable ({why})",
                    what.trim_end()
                ),
                (None, None) => format!("{}: no failure reported by the checkers", what.trim_end()),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
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
