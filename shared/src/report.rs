//! The JSON form of a [`Report`]: one line of `klaxon replay --json`, and the handler's
//! response. Keys are a public contract; a key with nothing to say is `null`.

use serde_json::{json, Value};

use crate::engine::Report;
use crate::text::single_line;

pub fn to_json(report: &Report) -> Value {
    let mut line = event_json(report);
    // A responder's action: every key an event has, plus who, through what, its id and
    // the incident's status (docs/RESPONDERS.md).
    if let (Some(action), Some(object)) = (&report.action, line.as_object_mut()) {
        object.insert("actor".into(), json!(single_line(&action.actor)));
        object.insert("channel".into(), json!(action.channel.as_str()));
        object.insert("action_id".into(), json!(single_line(&action.action_id)));
        object.insert("status".into(), json!(action.status().map(|s| s.as_str())));
    }
    line
}

fn event_json(report: &Report) -> Value {
    json!({
        // Keys and ids from the event are attacker-controlled: no control or bidi characters.
        "event_id": report.event_id.as_deref().map(single_line),
        "outcome": report.outcome.as_str(),
        "incident_id": report.incident_id,
        "dedup_key": report.dedup_key.as_deref().map(single_line),
        "environment": report.environment,
        "severity": report.severity.map(|s| s.as_str()),
        "notifications": report.notifications.iter().map(|n| json!({
            "route": n.route.as_str(),
            "subject": n.subject,
            "attributes": n.attributes,
        })).collect::<Vec<_>>(),
        "lifecycle_events": report.lifecycle_events.iter().map(|e| e.detail_type.clone()).collect::<Vec<_>>(),
        "error": report.error,
        "runbooks": report.runbooks,
        "steps": report.steps.iter().map(|e| json!({
            "runbook": e.runbook,
            "step": e.step,
            "kind": e.kind,
            "outcome": e.status.as_str(),
            "phase": e.phase.as_str(),
            "attempts": e.attempts,
            "duration_ms": e.duration_ms,
            "summary": e.summary,
        })).collect::<Vec<_>>(),
    })
}

/// The handler's response: the report of the event, or for a Security Hub custom action
/// that carries several findings, an array of them (one per finding, in order).
pub fn response(reports: &[Report]) -> Value {
    match reports {
        [one] => to_json(one),
        many => Value::Array(many.iter().map(to_json).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    #[test]
    fn keys_are_stable_and_ids_lose_control_and_bidi_characters() {
        let mut report = Report::empty(Outcome::Ignored, Some("id\u{202e}-1\u{7}".into()));
        report.dedup_key = Some("arn:aws:cloudwatch:us-east-1:1:alarm:a\nb".into());
        let line = to_json(&report);
        let mut keys: Vec<&str> = line
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "dedup_key",
                "environment",
                "error",
                "event_id",
                "incident_id",
                "lifecycle_events",
                "notifications",
                "outcome",
                "runbooks",
                "severity",
                "steps"
            ]
        );
        assert_eq!(line["event_id"], "id-1");
        assert_eq!(
            line["dedup_key"],
            "arn:aws:cloudwatch:us-east-1:1:alarm:a b"
        );
        assert_eq!(line["outcome"], "ignored");
        // Nothing to say: `null` or `[]`.
        assert_eq!(line["incident_id"], Value::Null);
        assert_eq!(line["notifications"], json!([]));
    }

    #[test]
    fn the_response_is_the_report_or_one_per_finding() {
        let one = Report::empty(Outcome::Opened, Some("e".into()));
        assert_eq!(response(std::slice::from_ref(&one)), to_json(&one));
        let two = [one, Report::empty(Outcome::Updated, Some("e".into()))];
        let answer = response(&two);
        assert_eq!(answer.as_array().map(Vec::len), Some(2));
        assert_eq!(answer[1]["outcome"], "updated");
    }
}
