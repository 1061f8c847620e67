//! CloudWatch "Alarm Configuration Change" events: an alarm created, updated or deleted.
//!
//! They are not state changes. They are ordered by `detail.configuration.timestamp` (when the
//! configuration changed), never by `detail.state.timestamp`, which in these events is the
//! alarm's last *state* change. What they mean for an open incident is the transition
//! table's business (`plan/config_change.rs`): a deletion ends it without a recovery, an update is noted.

use serde_json::{Map, Value};

use crate::intake::event::{ConfigChange, ConfigOperation, InvalidEvent};
use crate::intake::fields::{invalid, json_type, parse_timestamp};
use crate::text;

/// Configuration fields not compared: the change time itself, and metric ids, which
/// CloudWatch regenerates on every update.
const NOT_COMPARED: [&str; 1] = ["timestamp"];
const MAX_CHANGES: usize = 20;

pub(in crate::intake) fn parse(
    detail: &Map<String, Value>,
    id: &Option<String>,
) -> Result<ConfigChange, InvalidEvent> {
    let operation = match detail.get("operation") {
        Some(Value::String(op)) => match op.as_str() {
            "create" => ConfigOperation::Create,
            "update" => ConfigOperation::Update,
            "delete" => ConfigOperation::Delete,
            other => {
                return Err(invalid(
                    id.clone(),
                    format!(
                        "`detail.operation` is `{}`; expected create, update or delete",
                        text::for_log(other)
                    ),
                ))
            }
        },
        Some(other) => {
            return Err(invalid(
                id.clone(),
                format!(
                    "`detail.operation` must be a string, found {}",
                    json_type(other)
                ),
            ))
        }
        None => return Err(invalid(id.clone(), "missing `detail.operation`".into())),
    };
    let configuration = detail.get("configuration").and_then(Value::as_object);
    let previous = detail
        .get("previousConfiguration")
        .and_then(Value::as_object);
    let at = configuration
        .and_then(|c| c.get("timestamp"))
        .and_then(Value::as_str)
        .and_then(parse_timestamp);
    let (changes, warnings) = match (operation, configuration, previous) {
        (ConfigOperation::Update, Some(now), Some(before)) => compare(before, now),
        _ => (Vec::new(), Vec::new()),
    };
    Ok(ConfigChange {
        operation,
        at,
        changes,
        warnings,
    })
}

fn compare(before: &Map<String, Value>, now: &Map<String, Value>) -> (Vec<String>, Vec<String>) {
    let mut keys: Vec<&String> = before.keys().chain(now.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changes = Vec::new();
    for key in keys {
        if NOT_COMPARED.contains(&key.as_str()) {
            continue;
        }
        let (old, new) = (
            before.get(key).map(comparable),
            now.get(key).map(comparable),
        );
        if old != new {
            changes.push(format!(
                "{}: {} -> {}",
                text::for_log(key),
                shown(old.as_ref()),
                shown(new.as_ref())
            ));
        }
    }
    changes.truncate(MAX_CHANGES);

    let mut warnings = Vec::new();
    if now.get("actionsEnabled") == Some(&Value::Bool(false))
        && before.get("actionsEnabled") != Some(&Value::Bool(false))
    {
        warnings.push("actionsEnabled is now false: the alarm's own actions no longer run".into());
    }
    let threshold = |m: &Map<String, Value>| m.get("threshold").and_then(Value::as_f64);
    let operator = now
        .get("comparisonOperator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if let (Some(old), Some(new)) = (threshold(before), threshold(now)) {
        let away = match operator {
            "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" => new > old,
            "LessThanThreshold" | "LessThanOrEqualToThreshold" => new < old,
            _ => false,
        };
        if away {
            warnings.push(format!(
                "threshold moved away from the breach ({operator}): {old} -> {new}"
            ));
        }
    }
    (changes, warnings)
}

/// A field's value without the parts CloudWatch changes by itself (metric ids).
fn comparable(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(m) => {
                        let mut m = m.clone();
                        m.remove("id");
                        Value::Object(m)
                    }
                    other => other.clone(),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "(none)".into(),
        Some(v) => text::bounded(&text::single_line(&v.to_string()), 160),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn update_lists_changed_fields_and_ignores_metric_ids() {
        let d = detail(json!({
            "operation": "update",
            "configuration": {"threshold": 80, "comparisonOperator": "GreaterThanThreshold",
                "actionsEnabled": true, "timestamp": "2022-03-03T17:06:34.267+0000",
                "metrics": [{"id": "new", "metricStat": {"period": 300}}]},
            "previousConfiguration": {"threshold": 70, "comparisonOperator": "GreaterThanThreshold",
                "actionsEnabled": true, "timestamp": "2022-03-03T17:06:13.757+0000",
                "metrics": [{"id": "old", "metricStat": {"period": 300}}]}
        }));
        let change = parse(&d, &None).unwrap();
        assert_eq!(change.operation, ConfigOperation::Update);
        assert_eq!(change.changes, vec!["threshold: 70 -> 80".to_string()]);
        assert_eq!(change.warnings.len(), 1);
        assert!(change.warnings[0].contains("away from the breach"));
        assert_eq!(
            change.at.unwrap().to_rfc3339(),
            "2022-03-03T17:06:34.267+00:00"
        );
    }

    #[test]
    fn actions_disabled_and_lower_threshold_of_a_less_than_alarm_are_flagged() {
        let d = detail(json!({
            "operation": "update",
            "configuration": {"threshold": 5, "comparisonOperator": "LessThanThreshold", "actionsEnabled": false},
            "previousConfiguration": {"threshold": 10, "comparisonOperator": "LessThanThreshold", "actionsEnabled": true}
        }));
        let change = parse(&d, &None).unwrap();
        assert_eq!(change.warnings.len(), 2, "{:?}", change.warnings);
        // Towards the breach is not flagged.
        let d = detail(json!({
            "operation": "update",
            "configuration": {"threshold": 60, "comparisonOperator": "GreaterThanThreshold"},
            "previousConfiguration": {"threshold": 70, "comparisonOperator": "GreaterThanThreshold"}
        }));
        assert!(parse(&d, &None).unwrap().warnings.is_empty());
    }

    #[test]
    fn unknown_operation_is_named() {
        let err = parse(&detail(json!({"operation": "rename"})), &None).unwrap_err();
        assert!(err.reason.contains("detail.operation"), "{}", err.reason);
        let err = parse(&detail(json!({})), &None).unwrap_err();
        assert!(err.reason.contains("missing `detail.operation`"));
    }
}
