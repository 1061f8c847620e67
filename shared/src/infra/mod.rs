//! The EventBridge rules that feed Klaxon's handlers, derived from the runbooks' triggers:
//! one truth for the handler's own matching and for the deployed rules (`klaxon infra rules`
//! writes `infra/rules.json`, which the CDK app reads, and the rules block of the SAM
//! template). The rules only pre-filter: the handler evaluates every runbook itself.

mod deployment;
mod handlers;
mod leading_keys;
mod rules;

pub use deployment::*;
pub use handlers::*;
pub use leading_keys::*;
pub use rules::*;

#[cfg(test)]
pub(crate) mod tests {
    use crate::runbook::{load_str, Catalog};
    use std::path::Path;

    /// One runbook per source family: alarms, Health, findings, a CloudTrail call.
    pub(crate) const ONE_PER_SOURCE: [(&str, &str); 4] = [
        ("alarms", r#"{"source": ["aws.cloudwatch"]}"#),
        ("health", r#"{"source": ["aws.health"]}"#),
        (
            "findings",
            r#"{"source": ["aws.guardduty", "aws.securityhub"]}"#,
        ),
        (
            "sg",
            r#"{"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"]}"#,
        ),
    ];

    pub(crate) fn catalog(triggers: &[(&str, &str)]) -> Catalog {
        Catalog::new(
            triggers
                .iter()
                .map(|(name, trigger)| {
                    load_str(
                        Path::new("t.yaml"),
                        &format!("name: {name}\ndescription: d\nteam: t\ntrigger: {trigger}\n"),
                    )
                    .unwrap()
                })
                .collect(),
        )
    }
}
