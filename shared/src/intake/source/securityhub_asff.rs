//! Security Hub findings in ASFF ("Security Hub Findings - Imported").

use serde_json::{json, Value};

use crate::intake::envelope::{require_time, Envelope, Parts};
use crate::intake::event::{AlarmKind, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{optional_str, s};
use crate::intake::source::finding::{
    closed_or_open, finding_resources, finding_title, product_finding_key, single_finding,
    FEED_ASFF,
};
use crate::intake::source::guardduty::guardduty_severity;
use crate::severity::Severity;

pub(in crate::intake) fn asff_severity(f: &Value) -> Option<Severity> {
    match f.pointer("/Severity/Label").and_then(Value::as_str) {
        Some("CRITICAL") => Some(Severity::Critical),
        Some("HIGH") => Some(Severity::High),
        Some("MEDIUM") => Some(Severity::Medium),
        Some("LOW") => Some(Severity::Low),
        Some("INFORMATIONAL") => Some(Severity::Info),
        _ => f
            .pointer("/Severity/Normalized")
            .and_then(Value::as_f64)
            .map(|n| guardduty_severity(n / 10.0)),
    }
}

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    asff_finding(env, single_finding(env)?, 0)
}

/// One ASFF finding (`detail.findings[n]`).
pub(in crate::intake) fn asff_finding(
    env: &Envelope<'_>,
    f: &Value,
    n: usize,
) -> Result<StateChange, InvalidEvent> {
    let field = |name: &str| format!("detail.findings[{n}].{name}");
    let id = env.need(f.get("Id"), &field("Id"))?;
    let product_arn = env.need(f.get("ProductArn"), &field("ProductArn"))?;
    let title = env.need(f.get("Title"), &field("Title"))?;
    let severity = asff_severity(f).ok_or_else(|| {
        env.fail(format!(
            "`{}` has neither a known `Label` nor `Normalized`",
            field("Severity")
        ))
    })?;
    let updated = require_time(
        env,
        &format!("`{}`", field("UpdatedAt")),
        &[
            f.get("UpdatedAt"),
            f.get("LastObservedAt"),
            f.get("CreatedAt"),
        ],
    )?;
    let workflow = s(f.pointer("/Workflow/Status"));
    let record_state = s(f.get("RecordState"));
    let compliance = s(f.pointer("/Compliance/Status"));
    let closed = matches!(workflow.as_str(), "RESOLVED" | "SUPPRESSED")
        || record_state == "ARCHIVED"
        || compliance == "PASSED";
    let (resources, resource_type, first) = finding_resources(f.get("Resources"), "Id", "Type");
    // ASFF tags are an object of names to values.
    let tags = first
        .and_then(|r| r.get("Tags"))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let product = optional_str(f.get("ProductName")).unwrap_or_else(|| "Security Hub".into());
    let generator = s(f.get("GeneratorId"));
    let control = optional_str(f.pointer("/Compliance/SecurityControlId"))
        .or_else(|| {
            (!generator.contains("arn:") && !generator.is_empty()).then(|| generator.clone())
        })
        .or_else(|| {
            f.pointer("/Types/0")
                .and_then(Value::as_str)
                .map(|t| t.rsplit('/').next().unwrap_or(t).to_string())
        })
        .unwrap_or_else(|| "finding".into());
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            // GuardDuty findings imported into Security Hub keep GuardDuty's finding ARN as
            // their `Id`: the same key as the GuardDuty event, so one incident for both.
            dedup_key: product_finding_key(product_arn, "", id),
            title: finding_title(&product, &control, &resource_type),
            signal_type: control.clone(),
            state: closed_or_open(closed),
            at: updated,
            severity: Some(severity),
            security: true,
            description: optional_str(f.get("Description")),
            reason: Some(title.to_string()),
            facts: vec![
                ("Title", title.to_string()),
                ("Product", product),
                ("Control", control),
                ("Severity", severity.as_str().to_string()),
                ("Resources", resources.join(", ")),
                ("Workflow", workflow.clone()),
                ("Record state", record_state.clone()),
                ("Compliance", compliance.clone()),
                (
                    "Remediation",
                    s(f.pointer("/Remediation/Recommendation/Url")),
                ),
                ("Account", s(f.get("AwsAccountId"))),
                ("Region", s(f.get("Region"))),
                ("Finding id", id.to_string()),
            ],
            resources,
            details: json!({
                "format": "asff",
                "workflow": workflow,
                "record_state": record_state,
                "compliance": compliance,
                "resource_type": resource_type,
            }),
            count: None,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_ASFF),
            route: None,
        },
    ))
}

samples_become_state_changes!(
    (
        "security/securityhub-asff-imported.json",
        r#"[("finding:arn:aws:securityhub:us-east-1::product/aws/securityhub/arn:aws:securityhub:us-east-1:123456789012:security-control/EC2.19/finding/6d1f3e2a-9b7c-4c58-a0e4-2f8d1b6c7a93", "ALARM", "Security Hub EC2.19 on AwsEc2SecurityGroup", Some("critical"), true)]"#
    ),
    (
        "security/securityhub-asff-resolved.json",
        r#"[("finding:arn:aws:securityhub:us-east-1::product/aws/securityhub/arn:aws:securityhub:us-east-1:123456789012:security-control/EC2.19/finding/6d1f3e2a-9b7c-4c58-a0e4-2f8d1b6c7a93", "OK", "Security Hub EC2.19 on AwsEc2SecurityGroup", Some("info"), true)]"#
    ),
);
