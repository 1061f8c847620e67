//! What step kinds share: the step error, enrichment results and the inputs enrichment
//! reads, the deadline bounds.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::lookup::MetricQuery;

use crate::ports::{HealthChecks, LoadBalancers, Metrics};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("template failed: {0}")]
    Template(String),
    #[error(
        "hop limit: the event has already passed through {hops} runbook emits (at most {max})"
    )]
    HopLimit { hops: u64, max: u64 },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn default_deadline() -> u64 {
    1500
}

pub(crate) const SUMMARY_BYTES: usize = 1024;

/// What an enrichment step found.
#[derive(Debug, Clone, PartialEq)]
pub struct Enriched {
    pub summary: String,
    pub detail: Value,
}

/// What enrichment steps read: CloudWatch, ELB target health, Route 53 health checks.
pub trait EnrichmentSource: Metrics + LoadBalancers + HealthChecks {}

impl<T: Metrics + LoadBalancers + HealthChecks> EnrichmentSource for T {}

/// A page waits at most this long for enrichment (a Lambda invocation must also commit and
/// deliver within its timeout).
pub const MAX_DEADLINE_MS: u64 = 5000;

pub const MIN_DEADLINE_MS: u64 = 50;

/// The alarm facts enrichment needs; kept in the step run so that steps after the page
/// need not re-read the event.
#[derive(Debug, Clone)]
pub struct LookupInputs {
    pub dedup_key: String,
    pub state_timestamp: DateTime<Utc>,
    pub queries: Vec<MetricQuery>,
    /// Target group ARNs the alarm watches (for `target_health`).
    pub target_groups: Vec<String>,
    /// Route 53 health check ids the alarm watches (for `route53_health_check`).
    pub health_checks: Vec<String>,
}

/// `<kind>.<key>: <value> is outside <min>-<max> (<why>)` when the value is out of range.
pub(crate) fn out_of_range(
    kind: &str,
    key: &str,
    value: u64,
    (min, max): (u64, u64),
    why: &str,
) -> Option<String> {
    (value < min || value > max)
        .then(|| format!("{kind}.{key}: {value} is outside {min}-{max} ({why})"))
}

/// An enrichment step's deadline within [`MIN_DEADLINE_MS`]..=[`MAX_DEADLINE_MS`].
pub(crate) fn deadline_bounds(kind: &str, deadline_ms: u64) -> Option<String> {
    out_of_range(
        kind,
        "deadline_ms",
        deadline_ms,
        (MIN_DEADLINE_MS, MAX_DEADLINE_MS),
        "a page waits at most this long",
    )
}

/// What identifies an after-page step's effect: emitted events carry it, so consumers can
/// deduplicate (a step can run twice in the documented window).
pub struct EffectOrigin<'a> {
    pub hops: u64,
    pub dedup_key: &'a str,
    pub event_id: &'a str,
    /// `runbook/step`
    pub step: &'a str,
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::ownership::Ownership;
    use serde_saphyr::Spanned;

    /// 2024-05-01 12:MM:00 UTC.
    pub(crate) fn t(m: u32) -> chrono::DateTime<chrono::Utc> {
        use chrono::TimeZone;
        chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, m, 0).unwrap()
    }

    pub(crate) fn spanned<T>(value: T) -> Spanned<T> {
        Spanned::new(
            value,
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )
    }

    pub(crate) fn ownership(env: &str) -> Ownership {
        crate::ownership::from_tags(&[("Environment".into(), env.into())])
    }
}
