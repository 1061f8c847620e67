//! Payloads that reach Klaxon by a path other than an EventBridge rule, each named with how
//! to subscribe Klaxon properly. Users wire Klaxon up wrongly in predictable ways (an alarm's
//! Lambda action, an SNS subscription, a trail's raw records, a PutEvents request pasted as
//! an event); "missing `id`" would tell them nothing.

use serde_json::Value;

/// Why `value` is not an EventBridge event, when it has the shape of a known other delivery
/// path.
pub(super) fn other_path(value: &Value) -> Option<String> {
    if let Value::Array(items) = value {
        return items
            .first()
            .filter(|first| is_put_events_entry(first))
            .map(|_| put_events());
    }
    let object = value.as_object()?;
    if object.contains_key("alarmData") {
        return Some(
            "this is a CloudWatch alarm's Lambda action payload (`alarmData`), not an EventBridge \
             event: Klaxon receives alarms through an EventBridge rule on source `aws.cloudwatch`, \
             detail-type `CloudWatch Alarm State Change` (the AlarmIntakeRule its templates deploy; \
             README, \"Deploy\"). Remove the Lambda action from the alarm: the rule already sees \
             every state change"
                .into(),
        );
    }
    if let Some(Value::Array(records)) = object.get("Records") {
        let sns = records.iter().any(|r| {
            r.get("EventSource").and_then(Value::as_str) == Some("aws:sns")
                || r.get("Sns").is_some()
        });
        if sns {
            return Some(
                "this is an SNS notification (`Records[].Sns`), not an EventBridge event: Klaxon \
                 does not subscribe to SNS topics. Alarms and findings reach it through the \
                 EventBridge rules its templates deploy (README, \"Deploy\"); unsubscribe the \
                 function from the topic"
                    .into(),
            );
        }
    }
    if object.get("Entries").is_some_and(Value::is_array) {
        return Some(put_events());
    }
    let cloudtrail = object.contains_key("eventVersion")
        && object.contains_key("eventName")
        && object.contains_key("eventSource")
        && !object.contains_key("detail");
    if cloudtrail {
        return Some(
            "this is a bare CloudTrail record (`eventVersion`, `eventSource`, `eventName`), as \
             in a trail's log files, not an EventBridge event: EventBridge delivers API calls as \
             `AWS API Call via CloudTrail` events with the record under `detail`, and the rules \
             Klaxon's templates deploy (`klaxon infra rules`) subscribe to them (README, \
             \"Deploy\")"
                .into(),
        );
    }
    None
}

fn is_put_events_entry(value: &Value) -> bool {
    ["Source", "DetailType", "Detail"]
        .iter()
        .any(|k| value.get(*k).is_some())
}

fn put_events() -> String {
    "this is a PutEvents request's entries (`Source`, `DetailType`, `Detail` as a string), not \
     an event: send it with `aws events put-events --entries file://…` to the bus Klaxon's rules \
     watch, and Klaxon receives the event EventBridge builds from it (README, \"Deploy\")"
        .into()
}
