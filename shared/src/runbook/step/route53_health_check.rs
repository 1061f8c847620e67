//! `route53_health_check`: Route 53 GetHealthCheck and GetHealthCheckLastFailureReason for
//! the health checks the alarm watches.

use serde::Deserialize;

use crate::error::KlaxonError;
use crate::intake::StateChange;
use crate::lookup::HealthCheckReport;
use crate::runbook::step::common::{
    default_deadline, Enriched, EnrichmentSource, LookupInputs, SUMMARY_BYTES,
};
use crate::text;
use serde_json::{json, Value};

/// Route 53 GetHealthCheck and GetHealthCheckLastFailureReason for the health checks the
/// alarm watches (`HealthCheckId` dimensions of AWS/Route53 metrics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53HealthCheck {
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

/// Health check ids of an alarm on `AWS/Route53` `HealthCheckStatus` (or any AWS/Route53
/// metric with a `HealthCheckId` dimension).
pub fn health_checks_for(event: &StateChange) -> Vec<String> {
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

impl Route53HealthCheck {
    /// Runs the step: reads AWS through the lookups, summarises what it found.
    pub async fn run(
        &self,
        lookups: &impl EnrichmentSource,
        inputs: &LookupInputs,
    ) -> Result<Enriched, KlaxonError> {
        let mut reports = Vec::with_capacity(inputs.health_checks.len());
        for id in &inputs.health_checks {
            reports.push(lookups.health_check(id).await?);
        }
        Ok(Enriched {
            summary: text::bounded(
                &text::single_line(&health_check_summary(&reports)),
                SUMMARY_BYTES,
            ),
            detail: json!({ "health_checks": reports }),
        })
    }

    /// A result as the step's templates see it, for checking them at load.
    pub(crate) fn sample_result() -> Value {
        json!({
            "health_checks": [{
                "id": "abcdef01-2345-6789-abcd-ef0123456789", "check_type": "HTTPS",
                "target": "https://shop.example.com:443/health", "request_interval": 30, "failure_threshold": 3,
                "last_failures": [{"region": "us-east-1", "checked_at": "2024-05-01T12:00:00Z",
                    "status": "Failure: HTTP Status Code 503, Service Unavailable"}],
                "last_failure_unavailable": null,
            }],
        })
    }
}
