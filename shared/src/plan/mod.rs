//! The transition rules, as a pure function: given what we know about a deduplication key
//! (its tracker) and one new state change on it, decide what changes. No I/O here.
//!
//! | state             | no open incident                 | open incident                        |
//! |-------------------|----------------------------------|--------------------------------------|
//! | ALARM             | open (page unless suppressed)    | update (page now if never paged and  |
//! |                   |                                  | this ALARM is not suppressed)        |
//! | OK                | ignored                          | resolve ("recovered" page if paged)  |
//! | INSUFFICIENT_DATA | ignored                          | note on the timeline                 |
//!
//! An event whose state timestamp is not newer than the last one applied for the key is
//! `stale`: it changes no state, and is kept on the timeline as evidence.

pub mod action;
mod build;
mod config_change;
mod escalation;
mod pages;
mod stale;
mod table;
mod verbs;

pub use escalation::paged_by_escalation;
pub use pages::{record_paged_routes, without_page};
pub use table::plan;
pub use verbs::{observe, plan_as};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::model::{
    ClosedIncident, IncidentChange, IncidentUpdate, KeyTracker, OpenIncidentRef, Outcome,
    Resolution, TimelineEntry, Transition,
};
use crate::ownership::Ownership;
use crate::route::Route;

/// Alarm names are at most 255 characters in CloudWatch; we bound what we store anyway.
pub const MAX_TITLE_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outcome: Outcome,
    pub tracker: KeyTracker,
    pub incident: Option<IncidentChange>,
    /// The incident this event concerns (opened, updated, resolved, or where a stale event
    /// is filed as evidence).
    pub incident_id: Option<String>,
    pub timeline: Option<TimelineEntry>,
    /// A page to send, and for which transition.
    pub page: Option<Transition>,
    /// A lifecycle event to put on the Klaxon bus.
    pub lifecycle: Option<Transition>,
    /// Ownership to use for messages: the open incident's for an existing incident (so a
    /// recovery goes where the page went), this event's for a new one.
    pub ownership: Ownership,
    pub title: String,
    /// How the incident ends, when this event resolves it.
    pub resolution: Option<Resolution>,
    /// Routes that were paged for the incident this event resolves: its recovery (or the
    /// notice that its alarm is gone) goes to each of them.
    pub recovery_routes: Vec<Route>,
    /// The open incident ended in the same commit because this ALARM shows that the
    /// alarm recovered unseen (its OK was lost) and fired again; the new incident's page
    /// says so.
    pub closed: Option<ClosedIncident>,
    /// When the alarm recovered unseen, for the new incident's page.
    pub recovered_unseen_at: Option<DateTime<Utc>>,
}

impl Plan {
    /// A plan that changes no incident: `outcome`, the tracker to write, and whose
    /// ownership and title messages would carry.
    pub fn unchanged(
        outcome: Outcome,
        tracker: KeyTracker,
        ownership: Ownership,
        title: String,
    ) -> Plan {
        Plan {
            outcome,
            tracker,
            incident: None,
            incident_id: None,
            timeline: None,
            page: None,
            lifecycle: None,
            ownership,
            title,
            resolution: None,
            recovery_routes: Vec::new(),
            closed: None,
            recovered_unseen_at: None,
        }
    }
}

impl Plan {
    /// A change to the open incident: its update and timeline entry, under the open
    /// incident's id, ownership and title; the rest as [`Plan::unchanged`].
    fn on_open(
        open: &OpenIncidentRef,
        outcome: Outcome,
        tracker: KeyTracker,
        update: IncidentUpdate,
        entry: TimelineEntry,
    ) -> Plan {
        Plan {
            incident: Some(IncidentChange::Update(update)),
            timeline: Some(entry),
            incident_id: Some(open.incident_id.clone()),
            ..Plan::unchanged(outcome, tracker, open.ownership.clone(), open.title.clone())
        }
    }
}

/// Incident ids are derived from the dedup key and the opening event, so a replay of the
/// same events prints the same ids and a retried open cannot mint a second id.
pub fn incident_id(dedup_key: &str, opening_event_id: &str, opened_at: DateTime<Utc>) -> String {
    let mut hash = Sha256::new();
    hash.update(dedup_key.as_bytes());
    hash.update([0u8]);
    hash.update(opening_event_id.as_bytes());
    let digest = hex::encode(hash.finalize());
    format!("INC-{}-{}", opened_at.format("%Y%m%d"), &digest[..10])
}
