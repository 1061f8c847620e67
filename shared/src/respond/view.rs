//! The incident as responders see it: one JSON object, the same from the IAM API's
//! `GET /incidents/{id}` and from `klaxon incident show --json` (public contract,
//! docs/RESPONDERS.md). Security incidents show only what their pages show: free text is
//! redacted of addresses and ids.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::{EntryKind, Incident, StepEntry, TimelineEntry};

/// The incident with its timeline (`show`).
pub fn incident_json(incident: &Incident, timeline: &[TimelineEntry]) -> Value {
    let mut value = incident_summary_json(incident);
    let o = &incident.ownership;
    value["timeline"] = Value::Array(
        timeline
            .iter()
            .map(|e| {
                json!({
                    "at": time(e.at),
                    "kind": kind(e.kind),
                    "outcome": e.outcome.as_str(),
                    "actor": e.actor.as_ref().map(|a| o.shown(a.shown())),
                    "channel": e.actor.as_ref().map(|a| a.channel.as_str()),
                    "summary": o.shown(summary(e)),
                })
            })
            .collect(),
    );
    value
}

/// The incident without its timeline (`list`).
pub fn incident_summary_json(incident: &Incident) -> Value {
    let o = &incident.ownership;
    json!({
        "incident_id": incident.incident_id,
        "status": incident.status.as_str(),
        "acknowledged": incident.acknowledged.as_ref().map(|a| json!({
            "by": o.shown(a.by.clone()),
            "at": time(a.at),
            "channel": a.channel.as_str(),
        })),
        "severity": o.severity.as_str(),
        "environment": o.shown(o.environment.clone()),
        "route": o.route.as_str(),
        "owner": incident.owner.as_ref().map(|w| o.shown(w.clone())),
        "opened_at": time(incident.opened_at),
        "resolved_at": incident.resolved_at.map(time),
    })
}

/// An action's answer, from the API and from `klaxon incident … --json`: `outcome`, the
/// incident's `status`, `action_id`, `error` and the `incident` (without timeline), as the
/// action left it (no second read).
pub fn action_answer_json(report: &crate::engine::Report) -> Value {
    let action = report.action.as_ref();
    let incident = action.and_then(|a| a.incident.as_deref());
    json!({
        "outcome": report.outcome.as_str(),
        "status": incident.map(|i| i.status.as_str()),
        "action_id": action.map(|a| a.action_id.clone()),
        "error": report.error,
        "incident": incident.map(incident_summary_json),
    })
}

/// A note's text belongs with its summary: the timeline shows what the responder wrote.
pub(super) fn summary(entry: &TimelineEntry) -> String {
    match &entry.note {
        Some(note) => format!("{}: {}", entry.summary, crate::text::single_line(note)),
        None => entry.summary.clone(),
    }
}

pub(super) fn kind(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Event => "event",
        EntryKind::Note => "note",
        EntryKind::Action => "action",
    }
}

/// Times as the records and the lifecycle events write them: UTC, milliseconds, `Z`.
pub fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The full audit of an incident's actions (`klaxon incident export`): every action entry
/// with actor, kind of identity, channel, route of the link, source address where known,
/// time, outcome and note; the step outcomes and events for context.
pub fn export_json(incident: &Incident, timeline: &[TimelineEntry], steps: &[StepEntry]) -> Value {
    json!({
        "incident": incident_json(incident, timeline),
        "actions": timeline.iter().filter(|e| e.kind == EntryKind::Action).map(|e| {
            let actor = e.actor.as_ref();
            json!({
                "action_id": e.entry_id.trim_start_matches("action#"),
                "action": e.action.map(|a| a.as_str()),
                "at": time(e.at),
                "outcome": e.outcome.as_str(),
                "actor": actor.map(|a| a.name.clone()),
                "actor_kind": actor.map(|a| a.kind.as_str()),
                "channel": actor.map(|a| a.channel.as_str()),
                "link_route": actor.and_then(|a| a.route).map(|r| r.as_str()),
                "source_ip": actor.and_then(|a| a.source_ip.clone()),
                "note": e.note,
                "summary": e.summary,
            })
        }).collect::<Vec<_>>(),
        "steps": steps.iter().map(|s| json!({
            "runbook": s.runbook,
            "step": s.step,
            "status": s.status.as_str(),
            "at": time(s.at),
            "summary": s.summary,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::action::tests::incident;
    use crate::plan::action::ResponderState;

    #[test]
    fn the_object_has_exactly_the_documented_keys() {
        let value = incident_json(&incident(ResponderState::Acknowledged), &[]);
        let mut keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "acknowledged",
                "environment",
                "incident_id",
                "opened_at",
                "owner",
                "resolved_at",
                "route",
                "severity",
                "status",
                "timeline"
            ]
        );
        assert_eq!(value["acknowledged"]["channel"], "cli");
        let listed = incident_summary_json(&incident(ResponderState::Open));
        assert!(listed.get("timeline").is_none());
        assert_eq!(listed["acknowledged"], Value::Null);
    }
}
