//! Intake: turns the raw JSON that EventBridge delivers into a typed [`AlarmEvent`], an
//! event Klaxon deliberately ignores, or a rejection naming what is wrong.
//!
//! We parse from `serde_json::Value` with our own tolerant rules instead of
//! `aws_lambda_events` types: those model the alarm-*action* payload and reject shapes that
//! CloudWatch really sends (metric math, anomaly bands, composites, missing reasonData).
//! Unknown fields are ignored; only the fields Klaxon cannot work without are required.

use std::collections::BTreeMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// EventBridge events are at most 256 KB; anything larger did not come from EventBridge.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// DynamoDB partition keys are at most 2048 bytes; a real alarm ARN is far shorter.
const MAX_ARN_BYTES: usize = 1600;
const MAX_EVENT_ID_BYTES: usize = 256;

pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";
pub const CLOUDWATCH_SOURCE: &str = "aws.cloudwatch";

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
        }
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

/// What kind of alarm raised the event; shown to responders and kept on the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Metric,
    MetricMath,
    AnomalyDetection,
    Composite,
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

/// Where the alarm's tags come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTags {
    /// `alarmTagsStatus` was `SUCCESS`: the event carries the tags.
    Provided(Vec<(String, String)>),
    /// The event carries no usable tags: look them up with `ListTagsForResource`.
    LookUp,
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
    /// Composite alarms under an actions suppressor: `WaitPeriod`, `ExtensionPeriod`, `Alarm`.
    pub actions_suppressed_by: Option<String>,
    pub actions_suppressed_reason: Option<String>,
    pub alarm_rule: Option<String>,
    pub metrics: Vec<MetricRef>,
    pub tags: EventTags,
}

/// The result of reading one delivered event.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    Alarm(Box<AlarmEvent>),
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
                "event is {} bytes, more than the {} that EventBridge allows",
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
    if source != CLOUDWATCH_SOURCE || detail_type != ALARM_STATE_CHANGE {
        return Ok(Intake::Ignored {
            event_id: id,
            reason: format!(
                "source `{}` / detail-type `{}` is not handled by the alarm intake",
                crate::text::for_log(source),
                crate::text::for_log(detail_type)
            ),
        });
    }

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
    let alarm_name = required_str(detail.get("alarmName"), "detail.alarmName", &id)?;
    if alarm_name.trim().is_empty() {
        return Err(invalid(id, "`detail.alarmName` is empty".into()));
    }
    let state = match detail.get("state") {
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
    let state_value = required_str(state.get("value"), "detail.state.value", &id)?;
    let state_value = AlarmState::parse(state_value).ok_or_else(|| {
        invalid(
            id.clone(),
            format!(
                "`detail.state.value` is `{}`; expected ALARM, OK or INSUFFICIENT_DATA",
                crate::text::for_log(state_value)
            ),
        )
    })?;
    let state_timestamp_raw = required_str(state.get("timestamp"), "detail.state.timestamp", &id)?;
    let state_timestamp = parse_timestamp(state_timestamp_raw).ok_or_else(|| {
        invalid(
            id.clone(),
            format!(
                "`detail.state.timestamp` is `{}`; expected an ISO 8601 time such as 2024-05-01T12:00:00.123+0000",
                crate::text::for_log(state_timestamp_raw)
            ),
        )
    })?;

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
        _ => EventTags::LookUp,
    };

    Ok(Intake::Alarm(Box::new(AlarmEvent {
        event_id,
        account,
        region,
        event_time: optional_str(envelope.get("time"))
            .as_deref()
            .and_then(parse_timestamp),
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
        actions_suppressed_by: optional_str(state.get("actionsSuppressedBy")),
        actions_suppressed_reason: optional_str(state.get("actionsSuppressedReason")),
        alarm_rule,
        metrics,
        tags,
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
            "arn:aws:cloudwatch:{region}:{account}:alarm:{name}"
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
        assert_eq!(a.tags, EventTags::LookUp);
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
    fn tags_used_only_on_success() {
        let mut v = base();
        v["detail"]["alarmTags"] = json!({"Environment": "test"});
        assert_eq!(alarm(&v).tags, EventTags::LookUp);
        v["detail"]["alarmTagsStatus"] = json!("SUCCESS");
        assert_eq!(
            alarm(&v).tags,
            EventTags::Provided(vec![("Environment".into(), "test".into())])
        );
        v["detail"]["alarmTagsStatus"] = json!("FAILURE");
        assert_eq!(alarm(&v).tags, EventTags::LookUp);
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
        v["detail-type"] = json!("CloudWatch Alarm Configuration Change");
        assert!(matches!(parse_value(&v).unwrap(), Intake::Ignored { .. }));
        v["detail-type"] = json!(ALARM_STATE_CHANGE);
        v["source"] = json!("aws.guardduty");
        assert!(matches!(parse_value(&v).unwrap(), Intake::Ignored { .. }));
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
