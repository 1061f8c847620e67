//! `target_health`: ELBv2 DescribeTargetHealth for the target groups the alarm watches:
//! each target that is not healthy, with port, state, reason code and description.

use serde::{Deserialize, Serialize};

use crate::error::KlaxonError;
use crate::intake::StateChange;
use crate::lookup::TargetHealth;
use crate::runbook::step::common::{
    default_deadline, Enriched, EnrichmentSource, LookupInputs, SUMMARY_BYTES,
};
use crate::text;
use serde_json::{json, Value};

/// ELBv2 DescribeTargetHealth for the target groups the alarm watches (its `TargetGroup`
/// dimensions): each target that is not healthy, with port, state, reason code and
/// description.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetHealthStep {
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
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
pub fn target_groups_for(event: &StateChange) -> Vec<String> {
    let (Some(account), Some(region)) = (event.account.as_deref(), event.region.as_deref()) else {
        return Vec::new();
    };
    // The alarm's own partition (aws, aws-cn, aws-us-gov), else its region's.
    let partition = crate::intake::arn_partition(&event.dedup_key)
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

impl TargetHealthStep {
    /// Runs the step: reads AWS through the lookups, summarises what it found.
    pub async fn run(
        &self,
        lookups: &impl EnrichmentSource,
        inputs: &LookupInputs,
    ) -> Result<Enriched, KlaxonError> {
        let mut reports = Vec::with_capacity(inputs.target_groups.len());
        for arn in &inputs.target_groups {
            let targets = lookups.target_health(arn).await?;
            reports.push(target_group_report(arn, targets));
        }
        Ok(Enriched {
            summary: text::bounded(
                &text::single_line(&target_health_summary(&reports)),
                SUMMARY_BYTES,
            ),
            detail: json!({ "target_groups": reports }),
        })
    }

    /// A result as the step's templates see it, for checking them at load.
    pub(crate) fn sample_result() -> Value {
        json!({
            "target_groups": [{
                "target_group": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/sample/0123456789abcdef",
                "total": 2, "healthy": 1,
                "unhealthy_targets": [{"id": "i-0123456789abcdef0", "port": 8080, "availability_zone": "us-east-1a",
                    "state": "unhealthy", "reason": "Target.Timeout", "description": "Request timed out"}],
            }],
        })
    }
}
