//! `route53_health_check`: Route 53 GetHealthCheck and GetHealthCheckLastFailureReason for
//! the health checks the alarm watches.

use serde::Deserialize;

use crate::intake::AlarmEvent;
use crate::lookup::HealthCheckReport;
use crate::runbook::step::common::default_deadline;

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
