//! What a plan is built from: the tracker's versions, a new incident, the event's timeline
//! entry and evidence.

use chrono::{DateTime, Utc};

use crate::intake::StateChange;
use crate::model::{
    EntryKind, Evidence, Incident, IncidentChange, IncidentStatus, KeyTracker, OpenIncidentRef,
    Outcome, TimelineEntry,
};
use crate::ownership::Ownership;

/// The tracker as found (a new one for a key seen first) and the next version to write.
pub(super) fn versions(tracker: Option<&KeyTracker>, dedup_key: &str) -> (KeyTracker, KeyTracker) {
    let previous = tracker
        .cloned()
        .unwrap_or_else(|| KeyTracker::new(dedup_key));
    let mut next = previous.clone();
    next.version = previous.version + 1;
    (previous, next)
}

/// Opens incident `id` on the tracker (its open incident and last incident) and returns
/// the record to create.
pub(super) fn open_new(
    next: &mut KeyTracker,
    id: &str,
    event: &StateChange,
    ownership: &Ownership,
    title: &str,
    received_at: DateTime<Utc>,
    paged: bool,
) -> IncidentChange {
    next.open_incident = Some(OpenIncidentRef {
        incident_id: id.to_string(),
        paged,
        title: title.to_string(),
        ownership: ownership.clone(),
        opened_at: event.state_timestamp,
        paged_routes: Vec::new(),
        snoozed_until: None,
    });
    next.last_incident_id = Some(id.to_string());
    IncidentChange::Open(Box::new(new_incident(
        id,
        event,
        ownership,
        title,
        received_at,
        paged,
    )))
}

/// The record of an incident this event opens.
pub(super) fn new_incident(
    id: &str,
    event: &StateChange,
    ownership: &Ownership,
    title: &str,
    received_at: DateTime<Utc>,
    paged: bool,
) -> Incident {
    Incident {
        incident_id: id.to_string(),
        dedup_keys: vec![event.dedup_key.clone()],
        status: IncidentStatus::Open,
        title: title.to_string(),
        alarm_arn: event.dedup_key.clone(),
        alarm_kind: event.kind,
        account: event.account.clone(),
        region: event.region.clone(),
        ownership: ownership.clone(),
        opened_at: event.state_timestamp,
        opened_by_event: event.event_id.clone(),
        resolved_at: None,
        paged,
        paged_at: paged.then_some(received_at),
        last_state: event.state,
        last_state_at: event.state_timestamp,
        updated_at: received_at,
        paged_routes: Vec::new(),
        resolution: None,
        page_delivered_at: None,
        acknowledged: None,
        owner: None,
        snoozed_until: None,
        last_resolved_at: None,
        links_revoked_before: Default::default(),
    }
}

/// An event that says it opened and ended before it was delivered (see `intake`'s Health
/// parser: `details.ended_on_arrival`).
pub(super) fn ended_on_arrival(event: &StateChange) -> bool {
    event
        .signal
        .as_ref()
        .is_some_and(|s| s.details["ended_on_arrival"] == true)
}

/// The event's entry on an incident's timeline, at its state (or configuration) time.
pub(super) fn event_entry(
    event: &StateChange,
    evidence: &Evidence,
    incident_id: &str,
    outcome: Outcome,
    summary: String,
) -> TimelineEntry {
    TimelineEntry {
        incident_id: incident_id.to_string(),
        at: event.state_timestamp,
        // A stale copy has its own id, so that a redelivery after the idempotency record
        // expired cannot overwrite the entry of the original delivery.
        entry_id: if outcome == Outcome::Stale {
            format!("{}#stale", event.event_id)
        } else {
            event.event_id.clone()
        },
        kind: EntryKind::Event,
        outcome,
        summary,
        evidence: Some(evidence.clone()),
        actor: None,
        action: None,
        note: None,
    }
}

/// The raw facts of the event, for the timeline.
pub(super) fn evidence(event: &StateChange, received_at: DateTime<Utc>) -> Evidence {
    Evidence {
        event_id: event.event_id.clone(),
        state: event.state,
        state_timestamp: event.state_timestamp,
        previous_state: event.previous_state,
        previous_state_timestamp: event.previous_state_timestamp,
        event_time: event.event_time,
        received_at,
        reason: event.reason.clone(),
        reason_data: event.reason_data.clone(),
        actions_suppressed_by: event.actions_suppressed_by.clone(),
        actions_suppressed_reason: event.actions_suppressed_reason.clone(),
    }
}

/// The open incident's ownership (what its pages used), else the event's.
pub(super) fn open_ownership(tracker: &KeyTracker, ownership: &Ownership) -> Ownership {
    tracker
        .open_incident
        .as_ref()
        .map(|o| o.ownership.clone())
        .unwrap_or_else(|| ownership.clone())
}
