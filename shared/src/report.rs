//! The JSON form of a [`Report`]: one line of `klaxon replay --json`, and the handler's
//! response. Keys are a public contract; a key with nothing to say is `null`.

use serde_json::{json, Value};

use crate::engine::Report;
use crate::text::single_line;

pub fn to_json(report: &Report) -> Value {
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
