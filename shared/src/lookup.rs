//! What Klaxon reads from AWS and writes to it besides its own records, without AWS types:
//! the data the lookup ports ([`crate::ports`]) exchange.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

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

/// One entry of DescribeAlarmHistory (StateUpdate items).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub timestamp: DateTime<Utc>,
    pub summary: String,
    /// The new state, when the item is a state update (`ALARM`, `OK`, `INSUFFICIENT_DATA`).
    pub new_state: Option<String>,
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
