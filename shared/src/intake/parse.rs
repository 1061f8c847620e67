//! From the raw JSON EventBridge delivers to an [`Intake`]: the limits, the envelope's
//! checks, and the dispatch to the parser of the event's source.

use serde_json::Value;

use crate::intake::delivery;
use crate::intake::detail_types::*;
use crate::intake::envelope::Envelope;
use crate::intake::event::{Intake, InvalidEvent, StateChange, MAX_ARN_BYTES};
use crate::intake::fields::{invalid, json_type, optional_str, parse_timestamp, required_str};
use crate::intake::source;

/// Klaxon's own limit on one event: 256 KiB, EventBridge's long-standing event size. AWS
/// raised EventBridge events and asynchronous Lambda payloads to 1 MB (2025); Klaxon keeps
/// 256 KiB by choice, so that every accepted event commits within DynamoDB's 400 KB items
/// with its page (`item_size`, `fit_commit` in `engine/commit.rs`). No AWS source Klaxon
/// reads sends events that large.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
const MAX_EVENT_ID_BYTES: usize = 256;

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
    type SourceParser = fn(&Envelope<'_>) -> Result<StateChange, InvalidEvent>;
    let parser: Option<SourceParser> = match (source, detail_type) {
        (CLOUDWATCH_SOURCE, ALARM_STATE_CHANGE | ALARM_CONFIG_CHANGE) => Some(source::alarm::parse),
        ("aws.health", HEALTH_EVENT | HEALTH_ABUSE_EVENT) => Some(source::health::parse),
        ("aws.guardduty", GUARDDUTY_FINDING) => Some(source::guardduty::parse),
        ("aws.securityhub", SECURITY_HUB_ASFF) => Some(source::securityhub_asff::parse),
        ("aws.securityhub", SECURITY_HUB_OCSF) => Some(source::securityhub_ocsf::parse),
        ("aws.securityhub", SECURITY_HUB_CUSTOM_ACTION) => None,
        ("aws.config", CONFIG_COMPLIANCE_CHANGE) => Some(source::config_compliance::parse),
        (s, CLOUDTRAIL_API_CALL) if s.starts_with("aws.") => Some(source::cloudtrail::parse),
        ("aws.signin", t) if is_cloudtrail_detail_type(t) => Some(source::cloudtrail::parse),
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
    let envelope = Envelope {
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
    let too_long = |event: &StateChange| event.dedup_key.len() > MAX_ARN_BYTES;
    let key_too_long = || {
        invalid(
            id.clone(),
            format!("deduplication key is longer than {MAX_ARN_BYTES} bytes"),
        )
    };
    let Some(parse) = parser else {
        let findings = source::securityhub_custom_action::parse(&envelope)?;
        if findings.iter().any(too_long) {
            return Err(key_too_long());
        }
        return Ok(Intake::Escalation(findings));
    };
    let event = parse(&envelope)?;
    if too_long(&event) {
        return Err(key_too_long());
    }
    Ok(Intake::Change(Box::new(event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::source::alarm::tests::base;
    use serde_json::json;

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
