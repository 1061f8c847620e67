//! GuardDuty findings: keyed by the finding ARN, ordered by `updatedAt`, severity on
//! GuardDuty's bands; an archived finding resolves.

use serde_json::{json, Value};

use crate::intake::envelope::{require_time, Envelope, Parts};
use crate::intake::event::{AlarmKind, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{at, json_type, optional_str, partition_for_region, s};
use crate::intake::source::finding::{
    closed_or_open, finding_key, finding_title, tag_list, FEED_GUARDDUTY,
};
use crate::severity::Severity;

/// GuardDuty's documented bands: 1.0–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0
/// critical (attack sequences).
pub fn guardduty_severity(score: f64) -> Severity {
    match score {
        s if s >= 9.0 => Severity::Critical,
        s if s >= 7.0 => Severity::High,
        s if s >= 4.0 => Severity::Medium,
        s if s >= 1.0 => Severity::Low,
        _ => Severity::Info,
    }
}

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let d = env.detail;
    let id = env.need(d.get("id"), "detail.id")?;
    let finding_type = env.need(d.get("type"), "detail.type")?;
    let score = match d.get("severity") {
        Some(Value::Number(n)) => n.as_f64().unwrap_or_default(),
        Some(other) => {
            return Err(env.fail(format!(
                "`detail.severity` must be a number, found {}",
                json_type(other)
            )))
        }
        None => return Err(env.fail("missing `detail.severity`".into())),
    };
    let updated = require_time(
        env,
        "`detail.updatedAt` and `detail.createdAt`",
        &[d.get("updatedAt"), d.get("createdAt")],
    )?;
    let account = optional_str(d.get("accountId")).or_else(|| env.account.clone());
    let region = optional_str(d.get("region")).or_else(|| env.region.clone());
    // An empty `arn` is no identity: fall back to the finding id, like a missing one.
    let arn = optional_str(d.get("arn")).filter(|a| !a.trim().is_empty());
    let dedup_key = finding_key(&arn.unwrap_or_else(|| {
        format!(
            "arn:{}:guardduty:{}:{}:finding/{id}",
            partition_for_region(region.as_deref().unwrap_or_default()),
            region.as_deref().unwrap_or("-"),
            account.as_deref().unwrap_or("-")
        )
    }));
    // Security Hub's copies write it as the string "true"; some tools do too.
    let archived = match at(d, &["service", "archived"]) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(v)) => v.trim().eq_ignore_ascii_case("true"),
        _ => false,
    };
    let resource_type = s(at(d, &["resource", "resourceType"]));
    let instance = at(d, &["resource", "instanceDetails"]);
    let mut resources = Vec::new();
    if let Some(i) = instance
        .and_then(|i| i.get("instanceId"))
        .and_then(Value::as_str)
    {
        resources.push(i.to_string());
    }
    for bucket in at(d, &["resource", "s3BucketDetails"])
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(arn) = bucket.get("arn").and_then(Value::as_str) {
            resources.push(arn.to_string());
        }
    }
    if let Some(user) = at(d, &["resource", "accessKeyDetails", "userName"]).and_then(Value::as_str)
    {
        resources.push(format!("user {user}"));
    }
    let tags = tag_list(instance.and_then(|i| i.get("tags")), "key", "value");
    let action = at(d, &["service", "action"]);
    let remote_ip = action
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|a| a.values())
        .find_map(|v| {
            v.pointer("/remoteIpDetails/ipAddressV4")
                .and_then(Value::as_str)
        })
        .unwrap_or_default()
        .to_string();
    let count = at(d, &["service", "count"]).and_then(Value::as_u64);
    let source_title = optional_str(d.get("title"));
    Ok(env.event(
        AlarmKind::Finding,
        Parts {
            dedup_key,
            title: finding_title("GuardDuty", finding_type, &resource_type),
            signal_type: finding_type.to_string(),
            state: closed_or_open(archived),
            at: updated,
            severity: Some(guardduty_severity(score)),
            security: true,
            description: optional_str(d.get("description")),
            reason: source_title.clone(),
            facts: vec![
                ("Finding type", finding_type.to_string()),
                (
                    "Severity",
                    format!("{score} ({})", guardduty_severity(score).as_str()),
                ),
                ("Title", source_title.unwrap_or_default()),
                ("Resource type", resource_type),
                ("Resources", resources.join(", ")),
                ("Remote IP", remote_ip),
                ("Count", count.map(|c| c.to_string()).unwrap_or_default()),
                ("First seen", s(at(d, &["service", "eventFirstSeen"]))),
                ("Last seen", s(at(d, &["service", "eventLastSeen"]))),
                ("Archived", archived.to_string()),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
                ("Finding id", id.to_string()),
            ],
            resources,
            details: json!({
                "archived": archived,
                "resource_type": at(d, &["resource", "resourceType"]),
                "severity_score": score,
                "action_type": at(d, &["service", "action", "actionType"]),
            }),
            count,
            tags: EventTags::Provided(tags),
            feed: Some(FEED_GUARDDUTY),
            route: None,
        },
    ))
}

samples_become_state_changes!(
    (
        "security/guardduty-ssh-bruteforce-high.json",
        r#"[("finding:arn:aws:guardduty:us-east-1:123456789012:detector/2ec5f0a1b7d94c3e8f6a1b2c3d4e5f60/finding/4ac7e6b1f0d2a9c35e8b17d2f60a9e41", "ALARM", "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on Instance", Some("high"), true)]"#
    ),
    (
        "security/guardduty-finding-archived.json",
        r#"[("finding:arn:aws:guardduty:us-east-1:123456789012:detector/2ec5f0a1b7d94c3e8f6a1b2c3d4e5f60/finding/4ac7e6b1f0d2a9c35e8b17d2f60a9e41", "OK", "GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on Instance", Some("high"), true)]"#
    ),
);
