//! Intake: turns the raw JSON that EventBridge delivers into a typed [`AlarmEvent`], an
//! event Klaxon deliberately ignores, or a rejection naming what is wrong.
//!
//! Every source becomes an [`AlarmEvent`]: a state change (ALARM opens, OK resolves,
//! INSUFFICIENT_DATA notes) on a deduplication key (`alarm_arn`: the alarm's ARN for
//! CloudWatch, the finding id, the Health event, rule + resource for Config, call +
//! resource for CloudTrail). Non-alarm sources carry a [`Signal`] with what is theirs; the
//! parsers are in `sources.rs`.
//!
//! We parse from `serde_json::Value` with our own tolerant rules instead of
//! `aws_lambda_events` types: those model the alarm-*action* payload and reject shapes that
//! CloudWatch really sends (metric math, anomaly bands, composites, missing reasonData).
//! Unknown fields are ignored; only the fields Klaxon cannot work without are required.

mod alarm_config;
mod delivery;
mod sources;

pub use alarm_config::{ConfigChange, ConfigOperation};

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Klaxon's own limit on one event: 256 KiB, EventBridge's long-standing event size. AWS
/// raised EventBridge events and asynchronous Lambda payloads to 1 MB (2025); Klaxon keeps
/// 256 KiB by choice, so that every accepted event commits within DynamoDB's 400 KB items
/// with its page (`item_size`, `engine::fit_commit`). No AWS source Klaxon reads sends
/// events that large.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// DynamoDB partition keys are at most 2048 bytes; a real alarm ARN is far shorter.
const MAX_ARN_BYTES: usize = 1600;
const MAX_EVENT_ID_BYTES: usize = 256;

pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";
pub const ALARM_CONFIG_CHANGE: &str = "CloudWatch Alarm Configuration Change";
pub const CLOUDWATCH_SOURCE: &str = "aws.cloudwatch";
pub const HEALTH_EVENT: &str = "AWS Health Event";
/// Abuse reports (`service: ABUSE`) arrive under their own detail-type.
pub const HEALTH_ABUSE_EVENT: &str = "AWS Health Abuse Event";
/// AWS Health `service` values that are about the account's security (credentials exposed
/// or compromised, abuse reports): security incidents, served by security-intake.
pub const HEALTH_SECURITY_SERVICES: [&str; 2] = ["RISK", "ABUSE"];
pub const GUARDDUTY_FINDING: &str = "GuardDuty Finding";
pub const SECURITY_HUB_ASFF: &str = "Security Hub Findings - Imported";
pub const SECURITY_HUB_OCSF: &str = "Findings Imported V2";
/// An analyst sent findings to a custom action: an escalation, not a state change.
pub const SECURITY_HUB_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";
/// CloudWatch's `previousState.reason` when the alarm was just created: INSUFFICIENT_DATA
/// with this reason means the alarm did not exist before (deleted and re-created).
pub const INITIAL_CREATION_REASON: &str = "Unchecked: Initial alarm creation";
pub const CONFIG_COMPLIANCE_CHANGE: &str = "Config Rules Compliance Change";
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// AWS documents both spellings for sign-in events; EventBridge delivers what the service
/// sends, so both are accepted.
pub const CLOUDTRAIL_SIGN_IN: [&str; 2] = [
    "AWS Console Sign In via CloudTrail",
    "AWS Console Signin via CloudTrail",
];

pub use sources::guardduty_severity;

/// The detail-types CloudTrail events arrive under (any `aws.*` source for API calls).
pub fn is_cloudtrail_detail_type(detail_type: &str) -> bool {
    detail_type == CLOUDTRAIL_API_CALL || CLOUDTRAIL_SIGN_IN.contains(&detail_type)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Metric => "metric",
            AlarmKind::MetricMath => "metric_math",
            AlarmKind::AnomalyDetection => "anomaly_detection",
            AlarmKind::Composite => "composite",
            AlarmKind::AwsHealth => "aws_health",
            AlarmKind::Finding => "finding",
            AlarmKind::ConfigCompliance => "config_compliance",
            AlarmKind::CloudTrail => "cloudtrail",
        }
    }

    /// A CloudWatch alarm (as opposed to another source normalised into a state change).
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            AlarmKind::Metric
                | AlarmKind::MetricMath
                | AlarmKind::AnomalyDetection
                | AlarmKind::Composite
        )
    }
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "ALARM" => Some(AlarmState::Alarm),
            "OK" => Some(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

/// What raised the event; shown to responders and kept on the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Metric,
    MetricMath,
    AnomalyDetection,
    Composite,
    /// An AWS Health event (`aws.health`).
    AwsHealth,
    /// A GuardDuty or Security Hub finding.
    Finding,
    /// An AWS Config rule compliance change.
    ConfigCompliance,
    /// A CloudTrail API call or console sign-in.
    CloudTrail,
}

/// One metric (or expression) from `detail.configuration.metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRef {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub period: Option<u32>,
    pub stat: Option<String>,
    pub expression: Option<String>,
    pub return_data: Option<bool>,
}

/// Where the event's tags (Environment, Service, Team, Severity) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTags {
    /// The event carries them (`alarmTagsStatus` SUCCESS, a finding's resource tags), or
    /// there are none to have (an empty list).
    Provided(Vec<(String, String)>),
    /// Look up the tags of this ARN (an alarm: CloudWatch `ListTagsForResource`; another
    /// resource: the Resource Groups Tagging API).
    LookUp(String),
}

/// What a non-alarm source adds to its state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Security sources (findings, Config, CloudTrail): the security route only, and no
    /// addresses or ids in SMS and chat.
    pub security: bool,
    /// The severity the source states (GuardDuty bands, ASFF label, OCSF id, Health
    /// category); `None` leaves it to tags and runbooks.
    pub severity: Option<crate::ownership::Severity>,
    /// Finding type, Health event type code, Config rule name or CloudTrail event name.
    pub signal_type: String,
    /// The resources concerned, as the source names them (sanitised, bounded).
    pub resources: Vec<String>,
    /// Labelled facts for the e-mail body and the record; may be sensitive (IPs, ids).
    pub facts: Vec<(String, String)>,
    /// Structured facts for runbook steps (e.g. CloudTrail ingress permissions).
    pub details: Value,
    /// How often the source has seen it (GuardDuty `service.count`).
    pub count: Option<u64>,
    /// A route the source implies for a non-security event (public AWS Health events go
    /// to `ops`); security events are pinned to `security` whatever this says.
    pub route: Option<crate::ownership::Route>,
}

/// A CloudWatch alarm state change, validated. Text fields are raw (attacker-controlled):
/// escape them where they go.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmEvent {
    pub event_id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub alarm_name: String,
    pub alarm_arn: String,
    pub kind: AlarmKind,
    pub description: Option<String>,
    pub state: AlarmState,
    pub state_timestamp: DateTime<Utc>,
    pub reason: Option<String>,
    /// `reasonData` exactly as sent: a JSON document in a string (absent for e.g.
    /// "Unchecked: Initial alarm creation").
    pub reason_data: Option<String>,
    pub previous_state: Option<AlarmState>,
    pub previous_state_timestamp: Option<DateTime<Utc>>,
    /// `previousState.reason`: tells a re-created alarm (INSUFFICIENT_DATA, "Unchecked:
    /// Initial alarm creation") from one that could not evaluate.
    pub previous_state_reason: Option<String>,
    /// Composite alarms under an actions suppressor: `WaitPeriod`, `ExtensionPeriod`, `Alarm`.
    pub actions_suppressed_by: Option<String>,
    pub actions_suppressed_reason: Option<String>,
    pub alarm_rule: Option<String>,
    pub metrics: Vec<MetricRef>,
    pub tags: EventTags,
    /// The envelope's `source` (`aws.cloudwatch`, `aws.guardduty`, ...).
    pub source: String,
    /// `None` for CloudWatch alarms.
    pub signal: Option<Box<Signal>>,
    /// Findings: the feed that delivered it (`aws.guardduty`, `securityhub:asff`,
    /// `securityhub:ocsf`). A finding is ordered by its source's update time; the envelope
    /// time breaks ties only within one feed (an analyst's workflow change keeps
    /// `UpdatedAt`), never across feeds (a late copy from another feed is stale).
    pub feed: Option<String>,
    /// A CloudWatch alarm configuration change (create, update, delete) instead of a
    /// state change; ordered by its configuration time, apart from the state order.
    pub config: Option<Box<ConfigChange>>,
    /// A finding an analyst sent to a Security Hub custom action: an escalation, not a
    /// state change (`event_id` is then this finding's idempotency key).
    pub escalation: Option<Box<Escalation>>,
}

/// One finding of a "Security Hub Findings - Custom Action" event.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The custom action's name (the analyst's words: sanitised, bounded).
    pub action: String,
    /// The envelope's `id`, shared by every finding of the event.
    pub envelope_id: String,
    /// Position of this finding in the event, and how many it carries.
    pub position: usize,
    pub count: usize,
}

impl AlarmEvent {
    pub fn is_security(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.security)
    }

    /// ALARM whose previous state says the alarm recovered (OK) or was re-created
    /// (INSUFFICIENT_DATA, initial creation) at that time: the time, if so.
    pub fn recovered_before(&self) -> Option<DateTime<Utc>> {
        if self.state != AlarmState::Alarm || !self.kind.is_alarm() || self.config.is_some() {
            return None;
        }
        let recovered = match self.previous_state? {
            AlarmState::Ok => true,
            AlarmState::InsufficientData => self
                .previous_state_reason
                .as_deref()
                .is_some_and(|r| r.trim().starts_with(INITIAL_CREATION_REASON)),
            AlarmState::Alarm => false,
        };
        recovered.then_some(self.previous_state_timestamp).flatten()
    }

    /// When the alarm was (re-)created, if this state change is its first: its previous
    /// state is INSUFFICIENT_DATA with CloudWatch's initial-creation reason. A configuration
    /// fact: a deletion or creation configured before it is old news.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        let created = self.kind.is_alarm()
            && self.config.is_none()
            && self.previous_state == Some(AlarmState::InsufficientData)
            && self
                .previous_state_reason
                .as_deref()
                .is_some_and(|r| r.trim().starts_with(INITIAL_CREATION_REASON));
        created.then_some(self.previous_state_timestamp).flatten()
    }
}

/// The result of reading one delivered event.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    Alarm(Box<AlarmEvent>),
    /// A Security Hub custom action: each finding it carries, in order (one or more).
    Escalation(Vec<AlarmEvent>),
    /// A well-formed event that this handler deliberately does nothing with.
    Ignored {
        event_id: Option<String>,
        reason: String,
    },
}

/// Why an event was rejected. `event_id` is set when the envelope had one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidEvent {
    pub event_id: Option<String>,
    pub reason: String,
}

pub fn parse_bytes(raw: &[u8]) -> Result<Intake, InvalidEvent> {
    parse_bytes_value(raw).map(|(intake, _)| intake)
}

/// Like [`parse_bytes`], also returning the parsed JSON (runbook triggers match it).
pub fn parse_bytes_value(raw: &[u8]) -> Result<(Intake, Value), InvalidEvent> {
    if raw.len() > MAX_EVENT_BYTES {
        return Err(invalid(
            None,
            format!(
                "event is {} bytes, more than the {} Klaxon accepts (its own limit, below the 1 MB that EventBridge allows)",
                raw.len(),
                MAX_EVENT_BYTES
            ),
        ));
    }
    let value: Value = serde_json::from_slice(raw)
        .map_err(|e| invalid(None, format!("event is not valid JSON: {e}")))?;
    let intake = parse_value(&value)?;
    Ok((intake, value))
}

pub fn parse_value(value: &Value) -> Result<Intake, InvalidEvent> {
    // Every EventBridge event has a `detail-type` and a `detail`: without them, a payload of
    // another delivery path is named as such (some fixtures wrap an alarm action's
    // `alarmData` in an EventBridge-like envelope).
    if value.get("detail-type").is_none() || value.get("detail").is_none() {
        if let Some(reason) = delivery::other_path(value) {
            return Err(invalid(None, reason));
        }
    }
    let Some(envelope) = value.as_object() else {
        return Err(invalid(
            None,
            format!("event must be a JSON object, found {}", json_type(value)),
        ));
    };
    let event_id =
        match envelope.get("id") {
            Some(Value::String(id)) if !id.trim().is_empty() => {
                if id.len() > MAX_EVENT_ID_BYTES {
                    return Err(invalid(
                        None,
                        format!("`id` is longer than {MAX_EVENT_ID_BYTES} bytes"),
                    ));
                }
                // EventBridge ids are UUIDs; an id that could forge log lines is not one.
                if id.chars().any(char::is_control) {
                    return Err(invalid(None, "`id` contains control characters".into()));
                }
                id.clone()
            }
            Some(Value::String(_)) => return Err(invalid(None, "`id` is empty".into())),
            Some(other) => {
                return Err(invalid(
                    None,
                    format!("`id` must be a string, found {}", json_type(other)),
                ))
            }
            None => return Err(invalid(
                None,
                "missing `id`: EventBridge events always carry one, and Klaxon deduplicates on it"
                    .into(),
            )),
        };
    let id = Some(event_id.clone());
    let source = required_str(envelope.get("source"), "source", &id)?;
    let detail_type = required_str(envelope.get("detail-type"), "detail-type", &id)?;
    type SourceParser = fn(&sources::Envelope<'_>) -> Result<AlarmEvent, InvalidEvent>;
    let parser: Option<SourceParser> = match (source, detail_type) {
        (CLOUDWATCH_SOURCE, ALARM_STATE_CHANGE | ALARM_CONFIG_CHANGE) => None,
        ("aws.health", HEALTH_EVENT | HEALTH_ABUSE_EVENT) => Some(sources::health),
        ("aws.guardduty", GUARDDUTY_FINDING) => Some(sources::guardduty),
        ("aws.securityhub", SECURITY_HUB_ASFF) => Some(sources::securityhub_asff),
        ("aws.securityhub", SECURITY_HUB_OCSF) => Some(sources::securityhub_ocsf),
        ("aws.securityhub", SECURITY_HUB_CUSTOM_ACTION) => None,
        ("aws.config", CONFIG_COMPLIANCE_CHANGE) => Some(sources::config_compliance),
        (s, CLOUDTRAIL_API_CALL) if s.starts_with("aws.") => Some(sources::cloudtrail),
        ("aws.signin", t) if is_cloudtrail_detail_type(t) => Some(sources::cloudtrail),
        _ => {
            return Ok(Intake::Ignored {
                event_id: id,
                reason: format!(
                    "source `{}` / detail-type `{}` is not a source Klaxon handles",
                    crate::text::for_log(source),
                    crate::text::for_log(detail_type)
                ),
            })
        }
    };
    let detail = match envelope.get("detail") {
        Some(Value::Object(d)) => d,
        Some(other) => {
            return Err(invalid(
                id,
                format!("`detail` must be an object, found {}", json_type(other)),
            ))
        }
        None => return Err(invalid(id, "missing `detail`".into())),
    };
    let custom_action = (source, detail_type) == ("aws.securityhub", SECURITY_HUB_CUSTOM_ACTION);
    if parser.is_some() || custom_action {
        let envelope = sources::Envelope {
            id: id.clone(),
            event_id,
            source: source.to_string(),
            detail_type: detail_type.to_string(),
            account: optional_str(envelope.get("account")),
            region: optional_str(envelope.get("region")),
            time: optional_str(envelope.get("time"))
                .as_deref()
                .and_then(parse_timestamp),
            resources: envelope
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            detail,
        };
        let too_long = |event: &AlarmEvent| event.alarm_arn.len() > MAX_ARN_BYTES;
        let key_too_long = || {
            invalid(
                id.clone(),
                format!("deduplication key is longer than {MAX_ARN_BYTES} bytes"),
            )
        };
        let Some(parse) = parser else {
            let findings = sources::securityhub_custom_action(&envelope)?;
            if findings.iter().any(too_long) {
                return Err(key_too_long());
            }
            return Ok(Intake::Escalation(findings));
        };
        let event = parse(&envelope)?;
        if too_long(&event) {
            return Err(key_too_long());
        }
        return Ok(Intake::Alarm(Box::new(event)));
    }

    let alarm_name = required_str(detail.get("alarmName"), "detail.alarmName", &id)?;
    if alarm_name.trim().is_empty() {
        return Err(invalid(id, "`detail.alarmName` is empty".into()));
    }
    if !crate::text::has_visible(alarm_name) {
        return Err(invalid(
            id,
            "`detail.alarmName` has no visible characters (only spaces, controls or invisible marks)".into(),
        ));
    }
    let config_change = if detail_type == ALARM_CONFIG_CHANGE {
        Some(alarm_config::parse(detail, &id)?)
    } else {
        None
    };
    let missing_state = serde_json::Map::new();
    let state = match detail.get("state") {
        // Configuration changes carry the alarm's state as a fact, not as a change.
        None if config_change.is_some() => &missing_state,
        Some(Value::Object(s)) => s,
        Some(other) => {
            return Err(invalid(
                id,
                format!(
                    "`detail.state` must be an object, found {}",
                    json_type(other)
                ),
            ))
        }
        None => return Err(invalid(id, "missing `detail.state`".into())),
    };
    let state_value = match (state.get("value"), &config_change) {
        (None, Some(_)) => "INSUFFICIENT_DATA",
        (value, _) => required_str(value, "detail.state.value", &id)?,
    };
    let state_value = AlarmState::parse(state_value).ok_or_else(|| {
        invalid(
            id.clone(),
            format!(
                "`detail.state.value` is `{}`; expected ALARM, OK or INSUFFICIENT_DATA",
                crate::text::for_log(state_value)
            ),
        )
    })?;
    let envelope_time = optional_str(envelope.get("time"))
        .as_deref()
        .and_then(parse_timestamp);
    // A configuration change is ordered by when the configuration changed (its
    // `state.timestamp` is the alarm's last state change), else by the envelope's time.
    let state_timestamp = match &config_change {
        Some(change) => change.at.or(envelope_time).ok_or_else(|| {
            invalid(
                id.clone(),
                "no usable time: `detail.configuration.timestamp` and `time` are missing or not times"
                    .into(),
            )
        })?,
        None => {
            let raw = required_str(state.get("timestamp"), "detail.state.timestamp", &id)?;
            parse_timestamp(raw).ok_or_else(|| {
                invalid(
                    id.clone(),
                    format!(
                        "`detail.state.timestamp` is `{}`; expected an ISO 8601 time such as 2024-05-01T12:00:00.123+0000",
                        crate::text::for_log(raw)
                    ),
                )
            })?
        }
    };

    let account = optional_str(envelope.get("account"));
    let region = optional_str(envelope.get("region"));
    let alarm_arn = alarm_arn(envelope.get("resources"), alarm_name, account.as_deref(), region.as_deref())
        .ok_or_else(|| invalid(id.clone(), "cannot tell the alarm's ARN: `resources` holds no CloudWatch alarm ARN and `account` or `region` is missing".into()))?;
    if alarm_arn.len() > MAX_ARN_BYTES {
        return Err(invalid(
            id,
            format!("alarm ARN is longer than {MAX_ARN_BYTES} bytes"),
        ));
    }

    let configuration = detail.get("configuration").and_then(Value::as_object);
    let metrics = configuration
        .and_then(|c| c.get("metrics"))
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(metric_ref).collect::<Vec<_>>())
        .unwrap_or_default();
    let alarm_rule = configuration.and_then(|c| optional_str(c.get("alarmRule")));
    let kind = if alarm_rule.is_some() {
        AlarmKind::Composite
    } else if metrics.iter().any(|m| {
        m.expression
            .as_deref()
            .is_some_and(|e| e.contains("ANOMALY_DETECTION_BAND"))
    }) {
        AlarmKind::AnomalyDetection
    } else if metrics.iter().any(|m| m.expression.is_some()) {
        AlarmKind::MetricMath
    } else {
        AlarmKind::Metric
    };

    let previous = detail.get("previousState").and_then(Value::as_object);
    let tags = match (
        optional_str(detail.get("alarmTagsStatus")).as_deref(),
        detail.get("alarmTags"),
    ) {
        (Some("SUCCESS"), Some(Value::Object(map))) => EventTags::Provided(
            map.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
        ),
        _ => EventTags::LookUp(alarm_arn.clone()),
    };

    Ok(Intake::Alarm(Box::new(AlarmEvent {
        event_id,
        account,
        region,
        event_time: envelope_time,
        alarm_name: alarm_name.to_string(),
        alarm_arn,
        kind,
        description: configuration.and_then(|c| optional_str(c.get("description"))),
        state: state_value,
        state_timestamp,
        reason: optional_str(state.get("reason")),
        reason_data: optional_str(state.get("reasonData")),
        previous_state: previous
            .and_then(|p| optional_str(p.get("value")))
            .and_then(|v| AlarmState::parse(&v)),
        previous_state_timestamp: previous
            .and_then(|p| optional_str(p.get("timestamp")))
            .as_deref()
            .and_then(parse_timestamp),
        previous_state_reason: previous.and_then(|p| optional_str(p.get("reason"))),
        actions_suppressed_by: optional_str(state.get("actionsSuppressedBy")),
        actions_suppressed_reason: optional_str(state.get("actionsSuppressedReason")),
        alarm_rule,
        metrics,
        tags,
        source: CLOUDWATCH_SOURCE.to_string(),
        signal: None,
        feed: None,
        config: config_change.map(Box::new),
        escalation: None,
    })))
}

/// CloudWatch writes `2024-05-01T12:00:00.123+0000` (no colon in the offset), which strict
/// RFC 3339 parsers reject; EventBridge's envelope `time` is RFC 3339 (`...Z`).
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`, ...), for the ARNs Klaxon builds
/// when an event names a resource without its ARN: a tag lookup or an incident key in China or
/// GovCloud needs that partition's ARN. Region prefixes as in the SDKs' partition table;
/// anything else is the commercial partition.
pub fn partition_for_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// The partition field of an ARN (`arn:PARTITION:service:...`), when it is one.
pub fn arn_partition(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.next())
        .flatten()
        .filter(|p| p.starts_with("aws"))
}

fn alarm_arn(
    resources: Option<&Value>,
    name: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> Option<String> {
    let from_resources = resources
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|arn| {
            arn.starts_with("arn:") && arn.contains(":cloudwatch:") && arn.contains(":alarm:")
        });
    if let Some(arn) = from_resources {
        return Some(arn.to_string());
    }
    match (account, region) {
        (Some(account), Some(region)) => Some(format!(
            "arn:{}:cloudwatch:{region}:{account}:alarm:{name}",
            partition_for_region(region)
        )),
        _ => None,
    }
}

fn metric_ref(value: &Value) -> Option<MetricRef> {
    let m = value.as_object()?;
    let stat = m.get("metricStat").and_then(Value::as_object);
    let metric = stat
        .and_then(|s| s.get("metric"))
        .and_then(Value::as_object);
    Some(MetricRef {
        id: optional_str(m.get("id")),
        namespace: metric.and_then(|x| optional_str(x.get("namespace"))),
        name: metric.and_then(|x| optional_str(x.get("name"))),
        dimensions: metric
            .and_then(|x| x.get("dimensions"))
            .and_then(Value::as_object)
            .map(|d| {
                d.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default(),
        period: stat
            .and_then(|s| s.get("period"))
            .or_else(|| m.get("period"))
            .and_then(Value::as_u64)
            .and_then(|p| u32::try_from(p).ok()),
        stat: stat.and_then(|s| optional_str(s.get("stat"))),
        expression: optional_str(m.get("expression")),
        return_data: m.get("returnData").and_then(Value::as_bool),
    })
}

fn required_str<'a>(
    value: Option<&'a Value>,
    name: &str,
    id: &Option<String>,
) -> Result<&'a str, InvalidEvent> {
    match value {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(
            id.clone(),
            format!("`{name}` must be a string, found {}", json_type(other)),
        )),
        None => Err(invalid(id.clone(), format!("missing `{name}`"))),
    }
}

fn optional_str(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_string)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn invalid(event_id: Option<String>, reason: String) -> InvalidEvent {
    InvalidEvent { event_id, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": ALARM_STATE_CHANGE, "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"],
            "detail": {"alarmName": "a", "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.123+0000"}}
        })
    }

    fn alarm(v: &Value) -> AlarmEvent {
        match parse_value(v).unwrap() {
            Intake::Alarm(a) => *a,
            other => panic!("expected alarm, got {other:?}"),
        }
    }

    #[test]
    fn minimal_event_parses() {
        let a = alarm(&base());
        assert_eq!(
            a.alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"
        );
        assert_eq!(a.state, AlarmState::Alarm);
        assert_eq!(a.state_timestamp.timestamp_millis(), 1714564800123);
        assert_eq!(a.kind, AlarmKind::Metric);
        assert_eq!(a.tags, EventTags::LookUp(a.alarm_arn.clone()));
        assert_eq!(a.reason_data, None);
    }

    #[test]
    fn both_timestamp_forms_parse() {
        let a = parse_timestamp("2024-05-01T12:00:00.123+0000").unwrap();
        let b = parse_timestamp("2024-05-01T12:00:00.123Z").unwrap();
        let c = parse_timestamp("2024-05-01T14:00:00.123+02:00").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn arn_is_built_when_resources_missing() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("resources");
        assert_eq!(
            alarm(&v).alarm_arn,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"
        );
        v.as_object_mut().unwrap().remove("account");
        assert!(parse_value(&v).unwrap_err().reason.contains("ARN"));
    }

    #[test]
    fn partitions_follow_the_region() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eusc-de-east-1", "aws-eusc"),
            ("", "aws"),
        ] {
            assert_eq!(partition_for_region(region), partition, "{region}");
        }
        assert_eq!(
            arn_partition("arn:aws-cn:iam::123456789012:root"),
            Some("aws-cn")
        );
        assert_eq!(
            arn_partition("arn:aws:sts::1:assumed-role/r/s"),
            Some("aws")
        );
        assert_eq!(arn_partition("AIDAEXAMPLE"), None);
        assert_eq!(arn_partition("arn:evil:iam::1:root"), None);
    }

    #[test]
    fn built_arns_carry_the_partition() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("resources");
        v["region"] = json!("cn-north-1");
        assert_eq!(
            alarm(&v).alarm_arn,
            "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:a"
        );

        // A security group named by id in GovCloud is looked up (tags) under its own partition.
        let raw = include_str!("../../../events/security/cloudtrail-sg-open-ssh-world.json");
        let mut v: Value = serde_json::from_str(raw).unwrap();
        v["region"] = json!("us-gov-west-1");
        v["detail"]["awsRegion"] = json!("us-gov-west-1");
        v["detail"]["userIdentity"]["arn"] =
            json!("arn:aws-us-gov:sts::123456789012:assumed-role/admin/jordan");
        let event = alarm(&v);
        match &event.tags {
            EventTags::LookUp(arn) => assert!(
                arn.starts_with("arn:aws-us-gov:ec2:us-gov-west-1:123456789012:security-group/"),
                "{arn}"
            ),
            other => panic!("expected a tag lookup, got {other:?}"),
        }
    }

    #[test]
    fn tags_used_only_on_success() {
        let mut v = base();
        v["detail"]["alarmTags"] = json!({"Environment": "test"});
        let look_up = EventTags::LookUp("arn:aws:cloudwatch:us-east-1:123456789012:alarm:a".into());
        assert_eq!(alarm(&v).tags, look_up);
        v["detail"]["alarmTagsStatus"] = json!("SUCCESS");
        assert_eq!(
            alarm(&v).tags,
            EventTags::Provided(vec![("Environment".into(), "test".into())])
        );
        v["detail"]["alarmTagsStatus"] = json!("FAILURE");
        assert_eq!(alarm(&v).tags, look_up);
    }

    #[test]
    fn essential_fields_are_named_when_missing() {
        for (path, expected) in [("alarmName", "detail.alarmName"), ("state", "detail.state")] {
            let mut v = base();
            v["detail"].as_object_mut().unwrap().remove(path);
            let err = parse_value(&v).unwrap_err();
            assert!(err.reason.contains(expected), "{}", err.reason);
            assert_eq!(err.event_id.as_deref(), Some("e1"));
        }
        let mut v = base();
        v["detail"]["state"]
            .as_object_mut()
            .unwrap()
            .remove("timestamp");
        assert!(parse_value(&v)
            .unwrap_err()
            .reason
            .contains("detail.state.timestamp"));
        let mut v = base();
        v["detail"]["state"]["value"] = json!("FIRING");
        assert!(parse_value(&v).unwrap_err().reason.contains("FIRING"));
    }

    #[test]
    fn other_detail_types_are_ignored() {
        let mut v = base();
        v["detail-type"] = json!("CloudWatch Alarm Contributor State Change");
        assert!(matches!(parse_value(&v).unwrap(), Intake::Ignored { .. }));
        v["detail-type"] = json!(ALARM_STATE_CHANGE);
        v["source"] = json!("aws.guardduty");
        assert!(matches!(parse_value(&v).unwrap(), Intake::Ignored { .. }));
        v["source"] = json!("aws.cloudwatch");
        v["detail-type"] = json!(GUARDDUTY_FINDING);
        assert!(matches!(parse_value(&v).unwrap(), Intake::Ignored { .. }));
    }

    #[test]
    fn configuration_changes_are_ordered_by_their_configuration_time() {
        let mut v = base();
        v["detail-type"] = json!(ALARM_CONFIG_CHANGE);
        v["detail"]["operation"] = json!("delete");
        v["detail"]["configuration"] = json!({"timestamp": "2024-05-01T12:30:00.000+0000"});
        let a = alarm(&v);
        let change = a.config.as_deref().expect("a configuration change");
        assert_eq!(change.operation, ConfigOperation::Delete);
        // Not `detail.state.timestamp` (12:00:00.123): that is the last state change.
        assert_eq!(
            a.state_timestamp,
            parse_timestamp("2024-05-01T12:30:00Z").unwrap()
        );
        // Without a configuration time, the envelope's.
        v["detail"]["configuration"] = json!({});
        assert_eq!(
            alarm(&v).state_timestamp,
            parse_timestamp("2024-05-01T12:00:00Z").unwrap()
        );
        // The state is a fact here, not required.
        v["detail"].as_object_mut().unwrap().remove("state");
        assert_eq!(alarm(&v).state, AlarmState::InsufficientData);
    }

    #[test]
    fn an_alarm_name_of_invisible_characters_is_rejected_like_an_empty_one() {
        for name in [
            "\u{200B}\u{200D}",
            "\u{2060}\u{00AD}",
            "\u{3164}",
            " \u{FEFF} ",
        ] {
            let mut v = base();
            v["detail"]["alarmName"] = json!(name);
            let err = parse_value(&v).unwrap_err();
            assert!(
                err.reason.contains("detail.alarmName"),
                "{name:?}: {}",
                err.reason
            );
        }
    }

    #[test]
    fn previous_state_tells_a_recovery_the_event_did_not_deliver() {
        let mut v = base();
        v["detail"]["previousState"] =
            json!({"value": "OK", "timestamp": "2024-05-01T11:58:00.000+0000"});
        assert_eq!(
            alarm(&v).recovered_before(),
            parse_timestamp("2024-05-01T11:58:00Z")
        );
        v["detail"]["previousState"] = json!({"value": "INSUFFICIENT_DATA",
            "reason": "Unchecked: Initial alarm creation", "timestamp": "2024-05-01T11:59:00.000+0000"});
        assert!(alarm(&v).recovered_before().is_some(), "re-created alarm");
        v["detail"]["previousState"] = json!({"value": "INSUFFICIENT_DATA",
            "reason": "Insufficient Data: 1 datapoint was unknown", "timestamp": "2024-05-01T11:59:00.000+0000"});
        assert_eq!(alarm(&v).recovered_before(), None, "not a recovery");
    }

    #[test]
    fn ids_with_control_characters_are_rejected() {
        let mut v = base();
        v["id"] = json!("abc\nforged log line");
        assert!(parse_value(&v)
            .unwrap_err()
            .reason
            .contains("control characters"));
    }

    #[test]
    fn envelope_ids_and_names_are_checked() {
        let reason = |v: &Value| parse_value(v).unwrap_err().reason;
        let mut v = base();
        v["id"] = json!("e".repeat(MAX_EVENT_ID_BYTES));
        assert!(parse_value(&v).is_ok(), "256 bytes");
        v["id"] = json!("e".repeat(MAX_EVENT_ID_BYTES + 1));
        assert!(
            reason(&v).contains("longer than 256 bytes"),
            "{}",
            reason(&v)
        );
        v["id"] = json!("  ");
        assert!(reason(&v).contains("`id` is empty"), "{}", reason(&v));
        v["id"] = json!(7);
        assert!(
            reason(&v).contains("`id` must be a string"),
            "{}",
            reason(&v)
        );
        v.as_object_mut().unwrap().remove("id");
        assert!(reason(&v).contains("missing `id`"), "{}", reason(&v));
        for field in ["source", "detail-type"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(field);
            assert!(
                reason(&v).contains(&format!("missing `{field}`")),
                "{}",
                reason(&v)
            );
        }
        let mut v = base();
        v["resources"] = json!([format!(
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{}",
            "a".repeat(MAX_ARN_BYTES)
        )]);
        assert!(
            reason(&v).contains("longer than 1600 bytes"),
            "{}",
            reason(&v)
        );
    }

    #[test]
    fn non_objects_and_oversize_are_rejected() {
        assert!(parse_bytes(b"[1]").unwrap_err().reason.contains("an array"));
        assert!(parse_bytes(b"{\"id\":")
            .unwrap_err()
            .reason
            .contains("not valid JSON"));
        let big = vec![b' '; MAX_EVENT_BYTES + 1];
        assert!(parse_bytes(&big).unwrap_err().reason.contains("bytes"));
    }
}
