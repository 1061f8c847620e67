//! Which handler serves which source: alarms, Health, security (findings, Config, CloudTrail).

use serde_json::Value;

use crate::runbook::{Catalog, Runbook};

/// The intake handlers, each a Lambda function of its own (own rule, IAM, alarms).
pub const HANDLERS: [&str; 3] = ["alarm-intake", "health-intake", "security-intake"];

/// Which handler serves the events of a source. `cloudtrail_only`: the trigger names only
/// the CloudTrail detail-types ("AWS API Call via CloudTrail", console sign-in), which come
/// with the source of the service called (`aws.ec2`, `aws.s3`, `aws.iam`, ...) and are
/// security invariants whatever the service.
///
/// `security`: the trigger belongs to a security runbook (`security: true`, or AWS Health's
/// RISK / ABUSE services): AWS Health and AWS Config events go to security-intake then, and
/// to health-intake (the non-security intake of AWS service events) otherwise, so that each
/// function publishes only to its own routes.
pub fn handler_for(source: &str, cloudtrail_only: bool, security: bool) -> Option<&'static str> {
    match source {
        _ if cloudtrail_only && source.starts_with("aws.") => Some("security-intake"),
        "aws.health" | "aws.config" if security => Some("security-intake"),
        "aws.cloudwatch" => Some("alarm-intake"),
        "aws.health" | "aws.config" => Some("health-intake"),
        "aws.guardduty" | "aws.securityhub" | "aws.signin" => Some("security-intake"),
        _ => None,
    }
}

/// Which handler the deployed rules send a delivered event to: that of the runbooks whose
/// triggers match it (the rules are made of those triggers); tests and tools use it.
pub fn handler_for_event(catalog: &Catalog, event: &Value) -> Option<&'static str> {
    let source = event["source"].as_str()?;
    catalog.candidates(event).into_iter().find_map(|runbook| {
        runbook_sources(runbook)
            .into_iter()
            .find(|(s, _)| s == source)
            .and_then(|(_, handler)| handler)
    })
}

/// The sources a runbook's trigger names, each with the handler that serves it.
pub fn runbook_sources(runbook: &Runbook) -> Vec<(String, Option<&'static str>)> {
    trigger_sources(&runbook.spec.trigger.value, runbook.spec.security)
}

/// The strings of a trigger's top-level field (`source`, `detail-type`).
pub(crate) fn trigger_strings<'a>(trigger: &'a Value, key: &str) -> Vec<&'a str> {
    trigger[key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The trigger names only the CloudTrail detail-types (API calls, console sign-ins).
pub(crate) fn cloudtrail_only(trigger: &Value) -> bool {
    let detail_types = trigger_strings(trigger, "detail-type");
    !detail_types.is_empty()
        && detail_types
            .iter()
            .all(|d| crate::intake::is_cloudtrail_detail_type(d))
}

/// The sources a trigger names, each with the handler that serves it (`None`: no handler).
pub fn trigger_sources(trigger: &Value, security: bool) -> Vec<(String, Option<&'static str>)> {
    let strings = |key: &str| trigger_strings(trigger, key);
    let cloudtrail_only = cloudtrail_only(trigger);
    // AWS Health's security services (RISK, ABUSE) are security incidents: a trigger that
    // names only them belongs to security-intake, so that each function publishes only to
    // its own routes.
    let services: Vec<&str> = trigger["detail"]["service"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let health_security = !services.is_empty()
        && services
            .iter()
            .all(|s| crate::intake::HEALTH_SECURITY_SERVICES.contains(s));
    strings("source")
        .into_iter()
        .map(|source| {
            (
                source.to_string(),
                handler_for(source, cloudtrail_only, security || health_security),
            )
        })
        .collect()
}

/// The `source` of every event Klaxon puts on its bus: lifecycle events and runbook events
/// (the `events:source` condition on each role's `events:PutEvents`).
pub const EVENT_SOURCES: [&str; 2] = [
    crate::render::LIFECYCLE_SOURCE,
    crate::runbook::step::emit::EMIT_SOURCE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::tests::{catalog, ONE_PER_SOURCE};
    use crate::pattern::Pattern;
    use serde_json::json;

    #[test]
    fn sources_go_to_their_handlers_and_only_alarm_rules_exclude_self_alarms() {
        let mut triggers = ONE_PER_SOURCE.to_vec();
        triggers.extend([(
            "cw-api",
            r#"{"source": ["aws.cloudwatch"], "detail-type": ["AWS API Call via CloudTrail"]}"#,
        )]);
        let c = catalog(&triggers);
        let rules = crate::infra::rules(&c).unwrap();
        let by: Vec<(&str, Vec<&str>)> = rules
            .iter()
            .map(|r| {
                (
                    r.handler.as_str(),
                    r.runbooks.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                ("alarm-intake", vec!["alarms"]),
                ("health-intake", vec!["health"]),
                ("security-intake", vec!["cw-api", "findings", "sg"]),
            ]
        );
        assert!(rules[0].event_pattern.get("resources").is_some());
        assert!(rules[1].event_pattern.get("resources").is_none());
        assert!(rules[2].event_pattern.get("resources").is_none());
        // A GuardDuty finding has `resources: []`: the security rule must still take it.
        let finding =
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "resources": []});
        assert!(Pattern::from_value(&rules[2].event_pattern)
            .unwrap()
            .matches(&finding));
        assert!(HANDLERS.iter().all(|h| by.iter().any(|(b, _)| b == h)));
    }
}
