//! Events older than the last state applied for their key: `stale`, filed as evidence
//! and changing nothing.

use super::build::open_ownership;
use super::Plan;
use crate::intake::{AlarmKind, StateChange};
use crate::model::{KeyTracker, Outcome, TimelineEntry};
use crate::ownership::Ownership;

/// Whether the event is older than the last state applied for its key.
///
/// - Alarms, Health, Config: a state time not newer than the last is stale.
/// - CloudTrail calls come with one-second times: two calls in one second (a tool adding
///   rules in parallel) must both count, so only an older time is stale.
/// - Findings are ordered by the source's update time; on a tie, a later envelope time
///   moves on only within the feed that set the last state (Security Hub keeps `UpdatedAt`
///   when an analyst changes the workflow), and a copy from another feed is stale.
pub(super) fn is_stale(previous: &KeyTracker, event: &StateChange) -> bool {
    let Some(last) = previous.last_state_at else {
        return false;
    };
    if event.kind == AlarmKind::CloudTrail {
        return event.state_timestamp < last;
    }
    match &event.feed {
        Some(feed) if event.state_timestamp == last => {
            let same_feed = previous.last_feed.as_deref() == Some(feed.as_str());
            let later = match (event.event_time, previous.last_event_time) {
                (Some(now), Some(before)) => now > before,
                _ => false,
            };
            // Another feed's copy of the same update is stale. But a change of state with
            // the same update time is an analyst's (Security Hub keeps `UpdatedAt` when its
            // workflow changes): it applies from whichever feed it comes, or resolving a
            // GuardDuty finding in Security Hub would be lost.
            let changed = previous.last_state != Some(event.state);
            !(later && (same_feed || changed))
        }
        _ => event.state_timestamp <= last,
    }
}

/// Evidence only: filed on the open incident, or the last one for the key.
pub(super) fn stale_plan(
    previous: &KeyTracker,
    next: KeyTracker,
    ownership: &Ownership,
    title: String,
    entry: impl Fn(&str) -> TimelineEntry,
) -> Plan {
    let target = previous
        .open_incident
        .as_ref()
        .map(|o| o.incident_id.clone())
        .or_else(|| previous.last_incident_id.clone());
    let ownership = open_ownership(previous, ownership);
    Plan {
        timeline: target.as_deref().map(entry),
        incident_id: target,
        ..Plan::unchanged(Outcome::Stale, next, ownership, title)
    }
}
