//! The runbook `incident` verbs other than `track`: open or resolve whatever the state
//! says, and observe (record, change nothing).

use chrono::{DateTime, Utc};

use super::build::*;
use super::table::*;
use super::Plan;
use super::MAX_TITLE_BYTES;
use crate::intake::{AlarmState, StateChange};
use crate::model::{KeyTracker, Outcome};
use crate::ownership::Ownership;
use crate::text;

/// The plan when no runbook has an incident step: the alarm's state order is kept, and the
/// open incident (if any) is named so that steps can refer to it, but nothing changes.
pub fn observe(
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    ownership: &Ownership,
    _received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.dedup_key);
    if event.config.is_some() {
        if previous
            .last_config_at
            .is_none_or(|last| event.state_timestamp > last)
        {
            next.last_config_at = Some(event.state_timestamp);
        }
    } else if previous
        .last_state_at
        .is_none_or(|last| event.state_timestamp > last)
    {
        next.last_state = Some(event.state);
        next.last_state_at = Some(event.state_timestamp);
        next.last_event_id = Some(event.event_id.clone());
    }
    let ownership = open_ownership(&previous, ownership);
    Plan {
        incident_id: previous
            .open_incident
            .as_ref()
            .map(|o| o.incident_id.clone()),
        ..Plan::unchanged(
            Outcome::Handled,
            next,
            ownership,
            text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES),
        )
    }
}

/// The plan for a runbook's `incident: open` or `incident: resolve`: the transition table
/// applied as if the alarm were in ALARM (open) or OK (resolve). The evidence and the
/// tracker keep the state the event really carried.
pub fn plan_as(
    state: AlarmState,
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    if state == event.state {
        return plan(tracker, event, ownership, received_at);
    }
    let mut as_if = event.clone();
    as_if.state = state;
    let mut p = plan(tracker, &as_if, ownership, received_at);
    if p.tracker.last_event_id.as_deref() == Some(event.event_id.as_str()) {
        p.tracker.last_state = Some(event.state);
    }
    if let Some(entry) = p.timeline.as_mut() {
        if let Some(evidence) = entry.evidence.as_mut() {
            evidence.state = event.state;
        }
        entry.summary = format!(
            "{} (runbook treated {} as {})",
            entry.summary,
            event.state.as_str(),
            state.as_str()
        );
    }
    p
}
