//! CloudTrail calls and console sign-ins delivered by EventBridge: security invariants
//! (an ingress opened to the world, a public bucket, logging stopped, root activity).

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::intake::envelope::{require_time, Envelope, Parts};
use crate::intake::event::{AlarmKind, AlarmState, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{arn_partition, at, optional_str, partition_for_region, s};
use crate::intake::source::cloudtrail_request::{bucket_exposure, ingress_rules};
use crate::text;

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let d = env.detail;
    let name = env.need(d.get("eventName"), "detail.eventName")?;
    let event_source = s(d.get("eventSource"));
    let called_at = require_time(env, "`detail.eventTime`", &[d.get("eventTime")])?;
    let account = optional_str(d.get("recipientAccountId"))
        .or_else(|| optional_str(at(d, &["userIdentity", "accountId"])))
        .or_else(|| env.account.clone());
    let region = optional_str(d.get("awsRegion")).or_else(|| env.region.clone());
    let (account_s, region_s) = (
        account.clone().unwrap_or_else(|| "-".into()),
        region.clone().unwrap_or_else(|| "-".into()),
    );
    let user_type = s(at(d, &["userIdentity", "type"]));
    let caller = s(at(d, &["userIdentity", "arn"]));
    // The caller's ARN says the partition; the region does when there is no caller ARN.
    let partition = arn_partition(&caller)
        .unwrap_or_else(|| partition_for_region(&region_s))
        .to_string();
    let request = d.get("requestParameters").filter(|v| v.is_object());
    let login_result = s(at(d, &["responseElements", "ConsoleLogin"]));
    // A failed sign-in is its own kind of incident: never described as a sign-in, and
    // never the incident a later successful sign-in would be folded into.
    let failed_sign_in = name == "ConsoleLogin" && login_result == "Failure";
    let param = |key: &str| request.and_then(|r| r.get(key)).and_then(Value::as_str);

    let mut details = Map::new();
    details.insert("event_name".into(), json!(name));
    details.insert("event_source".into(), json!(event_source));
    details.insert("user_type".into(), json!(user_type));
    details.insert(
        "error_code".into(),
        d.get("errorCode").cloned().unwrap_or(Value::Null),
    );
    let mut tags = EventTags::Provided(Vec::new());
    let (resource, resource_label) = match name {
        "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules" => {
            // Default-VPC groups can be named by `groupName` alone; the response then
            // still carries the id.
            let group = param("groupId")
                .map(str::to_string)
                .or_else(|| first_rule_group(d))
                .or_else(|| {
                    d.get("responseElements")
                        .and_then(|r| r.pointer("/securityGroupRuleSet/items/0/groupId"))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .or_else(|| param("groupName").map(str::to_string))
                .ok_or_else(|| {
                    env.fail(
                        "`detail.requestParameters.groupId` is missing (and no `groupName`, nor a group id in the response)"
                            .into(),
                    )
                })?;
            details.insert("ingress".into(), Value::Array(ingress_rules(request)));
            let arn = format!("arn:{partition}:ec2:{region_s}:{account_s}:security-group/{group}");
            // The invariant cares whether the group is production's: its tags say so.
            tags = EventTags::LookUp(arn.clone());
            (arn, group)
        }
        "PutBucketPolicy"
        | "PutBucketAcl"
        | "DeleteBucketPublicAccessBlock"
        | "PutBucketPublicAccessBlock" => {
            let bucket = param("bucketName").ok_or_else(|| {
                env.fail("`detail.requestParameters.bucketName` is missing".into())
            })?;
            details.insert("bucket".into(), bucket_exposure(request));
            (format!("arn:{partition}:s3:::{bucket}"), bucket.to_string())
        }
        "StopLogging" | "StartLogging" | "DeleteTrail" | "UpdateTrail" => {
            let trail = param("name")
                .ok_or_else(|| env.fail("`detail.requestParameters.name` is missing".into()))?;
            // `name` is the trail's name or its ARN. These calls are accepted only in the
            // trail's home Region (InvalidHomeRegionException elsewhere), so the call's
            // Region completes a bare name into the same ARN.
            let arn = if trail.starts_with("arn:") {
                trail.to_string()
            } else {
                format!("arn:{partition}:cloudtrail:{region_s}:{account_s}:trail/{trail}")
            };
            let short = arn.rsplit('/').next().unwrap_or(trail).to_string();
            (arn, short)
        }
        "CreateAccessKey" => {
            let for_user = s(at(d, &["responseElements", "accessKey", "userName"]));
            let for_user = if !for_user.is_empty() {
                for_user
            } else {
                param("userName").map(str::to_string).unwrap_or_default()
            };
            details.insert(
                "for_root".into(),
                json!(user_type == "Root" && for_user.is_empty()),
            );
            if user_type == "Root" && for_user.is_empty() {
                (
                    format!("arn:{partition}:iam::{account_s}:root"),
                    "root".to_string(),
                )
            } else {
                let user = if for_user.is_empty() {
                    "caller".to_string()
                } else {
                    for_user
                };
                (
                    format!("arn:{partition}:iam::{account_s}:user/{user}"),
                    format!("user {user}"),
                )
            }
        }
        "ConsoleLogin" => {
            details.insert("login_result".into(), json!(login_result));
            details.insert(
                "mfa_used".into(),
                json!(s(at(d, &["additionalEventData", "MFAUsed"])) == "Yes"),
            );
            let who = if user_type == "Root" {
                "root".to_string()
            } else {
                s(at(d, &["userIdentity", "userName"]))
            };
            let arn = if caller.is_empty() {
                format!("arn:{partition}:iam::{account_s}:{who}")
            } else {
                caller.clone()
            };
            (arn, format!("by {who}"))
        }
        _ => {
            let arn = d
                .get("resources")
                .and_then(Value::as_array)
                .and_then(|l| l.first())
                .and_then(|r| r.get("ARN"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| caller.clone());
            (arn, String::new())
        }
    };
    details.insert("resource".into(), json!(resource));
    let request_text = request
        .map(|r| text::bounded(&r.to_string(), 1024))
        .unwrap_or_default();
    let key_created = s(at(d, &["responseElements", "accessKey", "accessKeyId"]));
    Ok(env.event(
        AlarmKind::CloudTrail,
        Parts {
            dedup_key: cloudtrail_key(&account_s, name, failed_sign_in, &resource, called_at),
            title: match name {
                "AuthorizeSecurityGroupIngress" | "ModifySecurityGroupRules" => {
                    format!("ingress opened on {resource_label}")
                }
                "PutBucketPolicy" => format!("bucket policy set on {resource_label}"),
                "PutBucketAcl" => format!("bucket ACL set on {resource_label}"),
                "DeleteBucketPublicAccessBlock" => {
                    format!("public access block removed from {resource_label}")
                }
                "StopLogging" => format!("logging stopped on trail {resource_label}"),
                "StartLogging" => format!("logging started on trail {resource_label}"),
                "DeleteTrail" => format!("trail {resource_label} deleted"),
                "CreateAccessKey" => format!("access key created for {resource_label}"),
                "ConsoleLogin" if user_type == "Root" && failed_sign_in => {
                    "Root console sign-in failed".to_string()
                }
                "ConsoleLogin" if user_type == "Root" => {
                    "Root user signed in to the console".to_string()
                }
                "ConsoleLogin" if failed_sign_in => {
                    format!("console sign-in failed {resource_label}")
                }
                "ConsoleLogin" => format!("console sign-in {resource_label}"),
                _ if resource_label.is_empty() => format!("CloudTrail {name}"),
                _ => format!("CloudTrail {name} on {resource_label}"),
            },
            signal_type: if failed_sign_in {
                "ConsoleLoginFailure".to_string()
            } else {
                name.to_string()
            },
            // Restarting a trail's logging ends "logging stopped" for that trail.
            state: if name == "StartLogging" {
                AlarmState::Ok
            } else {
                AlarmState::Alarm
            },
            at: called_at,
            severity: None,
            security: true,
            description: None,
            reason: Some(format!(
                "{name} by {} from {}",
                if caller.is_empty() {
                    user_type.clone()
                } else {
                    caller.clone()
                },
                s(d.get("sourceIPAddress"))
            )),
            facts: vec![
                ("Call", format!("{event_source} {name}")),
                ("Caller", caller),
                ("Caller type", user_type),
                ("Source IP", s(d.get("sourceIPAddress"))),
                ("User agent", s(d.get("userAgent"))),
                ("Resource", resource.clone()),
                ("Request", request_text),
                ("Access key created", key_created),
                ("Error", s(d.get("errorCode"))),
                ("Account", account.unwrap_or_default()),
                ("Region", region.unwrap_or_default()),
                ("CloudTrail event id", s(d.get("eventID"))),
            ],
            resources: vec![resource],
            details: Value::Object(details),
            count: None,
            tags,
            feed: None,
            route: None,
        },
    ))
}

/// The incident key of a CloudTrail call.
///
/// - StopLogging / StartLogging: the trail (its ARN), no day: StartLogging of that trail
///   resolves the incident, and a later StopLogging opens a new one.
/// - A failed console sign-in: its own key (per account, principal and UTC day), apart
///   from successful sign-ins, so that failures can neither describe nor mask a real one.
/// - Any other call: call + resource, per UTC day. Repeats group into one incident (one
///   page), and since such a call never reports "fixed", a new day pages again rather than
///   updating an incident nobody resolved.
pub(in crate::intake) fn cloudtrail_key(
    account: &str,
    name: &str,
    failed_sign_in: bool,
    resource: &str,
    called_at: DateTime<Utc>,
) -> String {
    let day = called_at.format("%Y-%m-%d");
    match name {
        "StopLogging" | "StartLogging" => format!("cloudtrail:{account}:logging:{resource}"),
        "ConsoleLogin" if failed_sign_in => {
            format!("cloudtrail:{account}:ConsoleLoginFailure:{resource}:{day}")
        }
        _ => format!("cloudtrail:{account}:{name}:{resource}:{day}"),
    }
}

/// `ModifySecurityGroupRules` names the group inside the rule list.
pub(in crate::intake) fn first_rule_group(d: &Map<String, Value>) -> Option<String> {
    d.get("requestParameters")?
        .pointer("/ModifySecurityGroupRulesRequest/GroupId")
        .and_then(Value::as_str)
        .map(str::to_string)
}

samples_become_state_changes!(
    (
        "security/cloudtrail-stop-logging.json",
        r#"[("cloudtrail:123456789012:logging:arn:aws:cloudtrail:us-east-1:123456789012:trail/org-management-events", "ALARM", "logging stopped on trail org-management-events", None, true)]"#
    ),
    (
        "security/cloudtrail-start-logging.json",
        r#"[("cloudtrail:123456789012:logging:arn:aws:cloudtrail:us-east-1:123456789012:trail/org-management-events", "OK", "logging started on trail org-management-events", None, true)]"#
    ),
    (
        "security/signin-root-console.json",
        r#"[("cloudtrail:123456789012:ConsoleLogin:arn:aws:iam::123456789012:root:2024-05-16", "ALARM", "Root user signed in to the console", None, true)]"#
    ),
);
