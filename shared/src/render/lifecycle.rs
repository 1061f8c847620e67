//! The lifecycle events on the Klaxon bus (docs/CONTRACTS.md (d)).

use serde_json::{json, Map, Value};

use super::LIFECYCLE_VERSION;
use crate::intake::StateChange;
use crate::model::{LifecycleEvent, Transition};
use crate::ownership::Ownership;
use crate::plan::Plan;
use crate::text;

/// The lifecycle event of an incident that ended in the same commit as a newer one (its
/// recovery was not seen; [`crate::model::ClosedIncident`]).
pub fn lifecycle_closed(
    closed: &crate::model::ClosedIncident,
    event: &StateChange,
) -> LifecycleEvent {
    let mut as_if = event.clone();
    as_if.state = crate::intake::AlarmState::Ok;
    as_if.state_timestamp = closed.update.last_state_at;
    let plan = Plan {
        incident_id: Some(closed.update.incident_id.clone()),
        lifecycle: Some(Transition::Resolved),
        resolution: closed.update.resolution,
        ..Plan::unchanged(
            crate::model::Outcome::Resolved,
            crate::model::KeyTracker::new(&event.dedup_key),
            closed.ownership.clone(),
            closed.title.clone(),
        )
    };
    lifecycle(&plan, &as_if, Transition::Resolved, closed.paged)
}

pub fn lifecycle(
    plan: &Plan,
    event: &StateChange,
    transition: Transition,
    paged: bool,
) -> LifecycleEvent {
    let o = &plan.ownership;
    // A one-line summary in three renderings, so consumers need not escape it themselves.
    let summary = format!(
        "{} {} {}: {} is {}",
        o.severity.as_str().to_ascii_uppercase(),
        if o.security {
            "security"
        } else {
            o.environment.as_str()
        },
        plan.incident_id.as_deref().unwrap_or("-"),
        plan.title,
        event.state.as_str()
    );
    // Chat integrations post `text.chat`: for security incidents, no addresses or ids; the
    // other free-text fields (names, tag values) likewise. Identifiers consumers correlate on
    // (`dedup_key`, `resources`, `event_id`, `alarm.arn`) stay as they are.
    let summary = o.shown(summary);
    let mut detail = ownership_detail(o, &summary);
    detail.extend(as_object(json!({
        "incident_id": plan.incident_id,
        "dedup_key": text::for_log(&event.dedup_key),
        "transition": transition.as_str(),
        "outcome": plan.outcome.as_str(),
        "status": if transition == Transition::Resolved { "resolved" } else { "open" },
        "source": text::for_log(&event.source),
        "paged": paged,
        // How a resolved incident ended; only `recovered` and `recovery_inferred` are
        // recoveries (the others: the alarm was deleted or replaced).
        "resolution": plan.resolution.map(|r| r.as_str()),
        "alarm": {
            "name": o.shown(plan.title.clone()),
            "arn": text::for_log(&event.dedup_key),
            "kind": event.kind,
            "state": event.state.as_str(),
            "state_timestamp": event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "previous_state": event.previous_state.map(|s| s.as_str()),
            "actions_suppressed_by": event.actions_suppressed_by.as_deref().map(text::for_log),
        },
        "event_id": text::for_log(&event.event_id),
    })));
    LifecycleEvent {
        source: None,
        detail_type: transition.detail_type().to_string(),
        // Sanitised: EventBridge rejects resources with control characters.
        resources: vec![text::bounded(&text::single_line(&event.dedup_key), 1600)],
        detail: Value::Object(detail),
    }
}

/// What every lifecycle event's detail says of the incident's owner and route, with the
/// schema version and the one-line summary in three renderings (plain, chat, HTML), so that
/// consumers need not escape it themselves. Free text is redacted on security incidents.
pub(super) fn ownership_detail(o: &Ownership, summary: &str) -> Map<String, Value> {
    let shown = |value: &Option<String>| value.clone().map(|v| o.shown(v));
    as_object(json!({
        "version": LIFECYCLE_VERSION,
        "severity": o.severity.as_str(),
        "environment": o.shown(o.environment.clone()),
        "production": o.production,
        "service": shown(&o.service),
        "team": shown(&o.team),
        "route": o.route.as_str(),
        "security": o.security,
        "text": {
            "plain": summary,
            "chat": text::chat_escape(summary),
            "html": text::html_escape(summary),
        },
    }))
}

/// The object inside a `json!({…})`.
pub(super) fn as_object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::page::tests::hostile_event;
    use crate::ownership::from_tags;
    use crate::plan::plan;
    use chrono::Utc;

    #[test]
    fn lifecycle_has_version_and_ids() {
        let e = hostile_event();
        let p = plan(None, &e, &from_tags(&[]), Utc::now());
        let l = lifecycle(&p, &e, Transition::Opened, true);
        assert_eq!(l.detail_type, "Incident Opened");
        assert_eq!(l.detail["version"], "1");
        assert_eq!(l.detail["incident_id"], serde_json::json!(p.incident_id));
        assert!(!l.detail["alarm"]["name"].as_str().unwrap().contains('\n'));
        let chat = l.detail["text"]["chat"].as_str().unwrap();
        assert!(!chat.contains('<') && !chat.contains('\n'), "{chat}");
        assert!(chat.contains("&lt;!channel&gt;"), "{chat}");
        assert!(l.detail["text"]["html"]
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt;"));
    }
}
