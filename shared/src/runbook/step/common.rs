//! What step kinds share: the step error, enrichment results and the inputs enrichment
//! reads, the deadline bounds.

use serde_json::Value;

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
