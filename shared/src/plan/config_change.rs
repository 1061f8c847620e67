//! An alarm's configuration change on its open incident: a deletion ends it without a
//! recovery, an update is noted; ordered by configuration time.

use chrono::{DateTime, Utc};

use super::build::*;
use super::stale::*;
use super::Plan;
use super::MAX_TITLE_BYTES;
use crate::intake::{ConfigChange, ConfigOperation, StateChange};
use crate::model::{
    IncidentChange, IncidentStatus, IncidentUpdate, KeyTracker, Outcome, Resolution, Transition,
};
use crate::ownership::Ownership;
use crate::text;

/// A CloudWatch alarm configuration change. Ordered by its configuration time against
/// earlier configuration changes only; it never moves the state order.
///
/// | operation | open incident                                   | none    |
/// |-----------|-------------------------------------------------|---------|
/// | delete    | resolved: "alarm deleted — not a recovery"      | ignored |
/// | create    | resolved: "deleted and re-created; deletion not seen" | ignored |
/// | update    | noted: the changed fields, with warnings        | ignored |
///
/// A resolution here is flagged ([`Resolution::is_recovery`] false) and tells the routes
/// that were paged, in words that say it is not a recovery.
pub(super) fn plan_config(
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    change: &ConfigChange,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.dedup_key);
    let title = text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES);
    let at = event.state_timestamp;
    let operation = change.operation.as_str();
    let evidence = evidence(event, received_at);
    let entry = |incident_id: &str, outcome: Outcome, summary: String| {
        event_entry(event, &evidence, incident_id, outcome, summary)
    };
    if previous.last_config_at.is_some_and(|last| at <= last) {
        let summary = format!(
            "alarm configuration {operation} at {} arrived after a newer configuration change; nothing changed",
            at.to_rfc3339()
        );
        return stale_plan(&previous, next, ownership, title, |id| {
            entry(id, Outcome::Stale, summary.clone())
        });
    }
    next.last_config_at = Some(at);
    let base = Plan::unchanged(
        Outcome::Ignored,
        next.clone(),
        ownership.clone(),
        title.clone(),
    );
    let Some(open) = previous.open_incident.as_ref() else {
        return base;
    };
    let update = |status: IncidentStatus, resolution: Option<Resolution>| IncidentUpdate {
        incident_id: open.incident_id.clone(),
        status,
        resolved_at: (status == IncidentStatus::Resolved).then_some(at),
        paged_at: None,
        // The alarm's state is unchanged by its configuration.
        last_state: previous.last_state.unwrap_or(event.state),
        last_state_at: previous.last_state_at.unwrap_or(at),
        updated_at: received_at,
        resolution,
        paged_routes: None,
        responder: None,
        reopened: None,
    };
    let ended = |resolution: Resolution, summary: String| {
        let mut next = next.clone();
        next.open_incident = None;
        Plan {
            page: open.paged.then_some(Transition::Resolved),
            lifecycle: Some(Transition::Resolved),
            resolution: Some(resolution),
            recovery_routes: open.paged_routes.clone(),
            ..Plan::on_open(
                open,
                Outcome::Resolved,
                next,
                update(IncidentStatus::Resolved, Some(resolution)),
                entry(&open.incident_id, Outcome::Resolved, summary),
            )
        }
    };
    match change.operation {
        ConfigOperation::Delete => ended(
            Resolution::AlarmDeleted,
            "alarm deleted — not a recovery: the incident is closed because nothing watches the problem any more".into(),
        ),
        // The new alarm's own incident (opened after the creation) is not the old one.
        ConfigOperation::Create if open.opened_at >= at => base,
        ConfigOperation::Create => ended(
            Resolution::AlarmRecreated,
            "alarm deleted and re-created; deletion not seen — not a recovery".into(),
        ),
        ConfigOperation::Update => {
            let mut summary = if change.changes.is_empty() {
                "alarm configuration updated (no compared field changed)".to_string()
            } else {
                format!(
                    "alarm configuration updated: {}",
                    change.changes.join("; ")
                )
            };
            for warning in &change.warnings {
                summary.push_str(&format!("; WARNING: {warning}"));
            }
            Plan {
                outcome: Outcome::Noted,
                incident: Some(IncidentChange::Update(update(IncidentStatus::Open, None))),
                timeline: Some(entry(
                    &open.incident_id,
                    Outcome::Noted,
                    text::bounded(&summary, 2048),
                )),
                incident_id: Some(open.incident_id.clone()),
                lifecycle: Some(Transition::Updated),
                ownership: open.ownership.clone(),
                title: open.title.clone(),
                ..base
            }
        }
    }
}
