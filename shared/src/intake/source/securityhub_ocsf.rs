//! Security Hub findings in OCSF ("Findings Imported V2").

use serde_json::{json, Value};

use crate::intake::envelope::{require_time, Envelope, Parts};
use crate::intake::event::{AlarmKind, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{optional_str, s};
use crate::intake::source::finding::{
    closed_or_open, finding_resources, finding_title, product_finding_key, single_finding,
    tag_list, FEED_OCSF,
};
use crate::severity::Severity;

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let f = single_finding(env)?;
    let uid = env.need(
        f.pointer("/finding_info/uid"),
        "detail.findings[0].finding_info.uid",
    )?;
    // OCSF identifies a finding by product, account and the provider's id together
    // (Security Hub's OcsfFindingIdentifier).
    let product_uid = env.need(
        f.pointer("/metadata/product/uid"),
        "detail.findings[0].metadata.product.uid",
    )?;
    let account_uid = s(f.pointer("/cloud/account/uid"));
    // OCSF severity_id: 1 informational … 5 critical, 6 fatal.
    let severity = match f.get("severity_id").and_then(Value::as_u64) {
        Some(5 | 6) => Severity::Critical,
        Some(4) => Severity::High,
        Some(3) => Severity::Medium,
        Some(2) => Severity::Low,
        Some(1) => Severity::Info,
        _ => f
            .get("severity")
            .and_then(Value::as_str)
            .and_then(|label| match label {
                "Fatal" => Some(Severity::Critical),
                "Informational" => Some(Severity::Info),
                other => Severity::parse(other),
            })
            .ok_or_else(|| {
                env.fail("`detail.findings[0].severity_id` is missing or not 1–6".into())
            })?,
    };
    let updated = require_time(
        env,
        "`detail.findings[0].finding_info.modified_time_dt` and `time_dt`",
        &[
            f.pointer("/finding_info/modified_time_dt"),
            f.pointer("/finding_info/modified_time"),
            f.get("time_dt"),
            f.get("time"),
        ],
    )?;
    // OCSF status_id: 1 new, 2 in progress, 3 suppressed, 4 resolved, 5 archived; an
    // activity `Close` also ends it.
    let status_id = f.get("status_id").and_then(Value::as_u64);
    let closed = matches!(status_id, Some(3..=5))
        || f.get("activity_name").and_then(Value::as_str) == Some("Close");
    let (resources, resource_type, first) = finding_resources(f.get("resources"), "uid", "type");
    let tags = tag_list(first.and_then(|r| r.get("tags")), "name", "value");
    let product =
        optional_str(f.pointer("/metadata/product/name")).unwrap_or_else(|| "Security Hub".into());
    let finding_type = optional_str(f.pointer("/finding_info/types/0"))
        .or_else(|| optional_str(f.get("type_name")))
        .unwrap_or_else(|| "finding".into());
    let title = s(f.pointer("/finding_info/title"));
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            dedup_key: product_finding_key(product_uid, &account_uid, uid),
            title: finding_title(&product, &finding_type, &resource_type),
            signal_type: finding_type.clone(),
            state: closed_or_open(closed),
            at: updated,
            severity: Some(severity),
            security: true,
            description: optional_str(f.pointer("/finding_info/desc")),
            reason: (!title.is_empty()).then(|| title.clone()),
            facts: vec![
                ("Title", title),
                ("Product", product),
                ("Finding type", finding_type),
                ("Severity", s(f.get("severity"))),
                ("Status", s(f.get("status"))),
                ("Resources", resources.join(", ")),
                ("Account", s(f.pointer("/cloud/account/uid"))),
                ("Region", s(f.pointer("/cloud/region"))),
                ("Finding id", uid.to_string()),
            ],
            resources,
            details: json!({
                "format": "ocsf",
                "status_id": status_id,
                "class_uid": f.get("class_uid"),
                "resource_type": resource_type,
            }),
            count: None,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_OCSF),
            route: None,
        },
    ))
}

samples_become_state_changes!(
    (
        "security/securityhub-ocsf-imported.json",
        r#"[("finding:arn:aws:guardduty:us-east-1:123456789012:detector/2ec5f0a1b7d94c3e8f6a1b2c3d4e5f60/finding/4ac7e6b1f0d2a9c35e8b17d2f60a9e41", "ALARM", "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on AWS::EC2::Instance", Some("high"), true)]"#
    ),
    (
        "security/securityhub-ocsf-resolved.json",
        r#"[("finding:arn:aws:guardduty:us-east-1:123456789012:detector/2ec5f0a1b7d94c3e8f6a1b2c3d4e5f60/finding/4ac7e6b1f0d2a9c35e8b17d2f60a9e41", "OK", "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on AWS::EC2::Instance", Some("high"), true)]"#
    ),
);
