//! AWS Config compliance changes: a rule and resource NON_COMPLIANT opens, COMPLIANT
//! resolves.

use serde_json::json;

use crate::intake::envelope::{require_time, Envelope, Parts};
use crate::intake::event::{AlarmKind, AlarmState, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{at, optional_str, s};
use crate::severity::Severity;
use crate::text;

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let d = env.detail;
    let rule = env.need(d.get("configRuleName"), "detail.configRuleName")?;
    let qualifier = at(
        d,
        &[
            "newEvaluationResult",
            "evaluationResultIdentifier",
            "evaluationResultQualifier",
        ],
    );
    let resource_id = env.need(
        d.get("resourceId")
            .or_else(|| qualifier.and_then(|q| q.get("resourceId"))),
        "detail.resourceId",
    )?;
    let resource_type = env.need(
        d.get("resourceType")
            .or_else(|| qualifier.and_then(|q| q.get("resourceType"))),
        "detail.resourceType",
    )?;
    let compliance = env.need(
        at(d, &["newEvaluationResult", "complianceType"]),
        "detail.newEvaluationResult.complianceType",
    )?;
    let state = match compliance {
        "NON_COMPLIANT" => AlarmState::Alarm,
        // NOT_APPLICABLE: the resource left the rule's scope (often: deleted).
        "COMPLIANT" | "NOT_APPLICABLE" => AlarmState::Ok,
        "INSUFFICIENT_DATA" => AlarmState::InsufficientData,
        other => {
            return Err(env.fail(format!(
                "`detail.newEvaluationResult.complianceType` is `{}`; expected NON_COMPLIANT, COMPLIANT, NOT_APPLICABLE or INSUFFICIENT_DATA",
                text::for_log(other)
            )))
        }
    };
    let recorded = require_time(
        env,
        "`detail.newEvaluationResult.resultRecordedTime`",
        &[
            at(d, &["newEvaluationResult", "resultRecordedTime"]),
            at(
                d,
                &[
                    "newEvaluationResult",
                    "evaluationResultIdentifier",
                    "orderingTimestamp",
                ],
            ),
            d.get("notificationCreationTime"),
        ],
    )
    .or_else(|e| env.time.ok_or(e))?;
    let account = optional_str(d.get("awsAccountId")).or_else(|| env.account.clone());
    let region = optional_str(d.get("awsRegion")).or_else(|| env.region.clone());
    let previously = s(at(d, &["oldEvaluationResult", "complianceType"]));
    Ok(env.event(
        AlarmKind::ConfigCompliance,
        Parts {
            // Resource + rule: one incident per rule and resource, whatever the evaluation.
            dedup_key: format!(
                "config:{}:{}:{rule}:{resource_type}:{resource_id}",
                account.as_deref().unwrap_or("-"),
                region.as_deref().unwrap_or("-"),
            ),
            title: format!("Config rule {rule}: {resource_type} non-compliant"),
            signal_type: rule.to_string(),
            state,
            at: recorded,
            severity: Some(Severity::Medium),
            // Security-relevant or not by the rule's name: the `config-security` runbook
            // (security: true) lists the rules that are; others go to ops.
            security: false,
            description: None,
            reason: Some(if previously.is_empty() {
                compliance.to_string()
            } else {
                format!("{compliance} (was {previously})")
            }),
            facts: vec![
                ("Rule", rule.to_string()),
                ("Resource type", resource_type.to_string()),
                ("Resource", resource_id.to_string()),
                ("Compliance", compliance.to_string()),
                ("Previously", previously.clone()),
                ("Rule ARN", s(d.get("configRuleARN"))),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
            ],
            resources: vec![resource_id.to_string()],
            details: json!({
                "compliance": compliance,
                "resource_type": resource_type,
                "rule": rule,
            }),
            count: None,
            tags: EventTags::Provided(Vec::new()),
            feed: None,
            route: None,
        },
    ))
}

samples_become_state_changes!(
    (
        "security/config-noncompliant.json",
        r#"[("config:123456789012:us-east-1:restricted-ssh:AWS::EC2::SecurityGroup:sg-0b7d6e5f4a3c2b190", "ALARM", "Config rule restricted-ssh: AWS::EC2::SecurityGroup non-compliant", Some("medium"), false)]"#
    ),
    (
        "security/config-compliant.json",
        r#"[("config:123456789012:us-east-1:restricted-ssh:AWS::EC2::SecurityGroup:sg-0b7d6e5f4a3c2b190", "OK", "Config rule restricted-ssh: AWS::EC2::SecurityGroup non-compliant", Some("medium"), false)]"#
    ),
);
