//! CloudWatch alarm state changes and configuration changes: the alarm's ARN is the
//! deduplication key; metric, metric-math, anomaly-detection and composite alarms, with or
//! without `reasonData`, tags in the event when CloudWatch could add them.

use serde_json::Value;

use crate::intake::detail_types::{ALARM_CONFIG_CHANGE, CLOUDWATCH_SOURCE};
use crate::intake::envelope::Envelope;
use crate::intake::event::{
    AlarmKind, AlarmState, EventTags, InvalidEvent, MetricRef, StateChange, MAX_ARN_BYTES,
};
use crate::intake::fields::{
    invalid, json_type, optional_str, parse_timestamp, partition_for_region, required_str,
};
use crate::intake::source::alarm_config;

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let id = env.id.clone();
    let event_id = env.event_id.clone();
    let detail = env.detail;
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
    let config_change = if env.detail_type == ALARM_CONFIG_CHANGE {
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
    let envelope_time = env.time;
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

    let account = env.account.clone();
    let region = env.region.clone();
    let alarm_arn = alarm_arn(&env.resources, alarm_name, account.as_deref(), region.as_deref())
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

    Ok(StateChange {
        event_id,
        account,
        region,
        event_time: envelope_time,
        alarm_name: alarm_name.to_string(),
        dedup_key: alarm_arn,
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
    })
}

fn alarm_arn(
    resources: &[String],
    name: &str,
    account: Option<&str>,
    region: Option<&str>,
) -> Option<String> {
    let from_resources = resources.iter().find(|arn| {
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

#[cfg(test)]
pub(in crate::intake) mod tests {
    use super::*;
    use crate::intake::detail_types::*;
    use crate::intake::event::ConfigOperation;
    use crate::intake::event::Intake;
    use crate::intake::parse::parse_value;
    use serde_json::json;

    pub(in crate::intake) fn base() -> Value {
        json!({
            "version": "0", "id": "e1", "detail-type": ALARM_STATE_CHANGE, "source": "aws.cloudwatch",
            "account": "123456789012", "time": "2024-05-01T12:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"],
            "detail": {"alarmName": "a", "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.123+0000"}}
        })
    }

    pub(in crate::intake) fn alarm(v: &Value) -> StateChange {
        match parse_value(v).unwrap() {
            Intake::Change(a) => *a,
            other => panic!("expected alarm, got {other:?}"),
        }
    }

    #[test]
    fn minimal_event_parses() {
        let a = alarm(&base());
        assert_eq!(
            a.dedup_key,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"
        );
        assert_eq!(a.state, AlarmState::Alarm);
        assert_eq!(a.state_timestamp.timestamp_millis(), 1714564800123);
        assert_eq!(a.kind, AlarmKind::Metric);
        assert_eq!(a.tags, EventTags::LookUp(a.dedup_key.clone()));
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
            alarm(&v).dedup_key,
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:a"
        );
        v.as_object_mut().unwrap().remove("account");
        assert!(parse_value(&v).unwrap_err().reason.contains("ARN"));
    }

    #[test]
    fn built_arns_carry_the_partition() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("resources");
        v["region"] = json!("cn-north-1");
        assert_eq!(
            alarm(&v).dedup_key,
            "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:a"
        );

        // A security group named by id in GovCloud is looked up (tags) under its own partition.
        let raw = include_str!("../../../../events/security/cloudtrail-sg-open-ssh-world.json");
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
}
