//! The transition rules of the alarm path, as a pure function: given what we know about an
//! alarm (its tracker) and one new state change, decide what changes. No I/O here.
//!
//! | state             | no open incident                 | open incident                        |
//! |-------------------|----------------------------------|--------------------------------------|
//! | ALARM             | open (page unless suppressed)    | update (page now if never paged and  |
//! |                   |                                  | this ALARM is not suppressed)        |
//! | OK                | ignored                          | resolve ("recovered" page if paged)  |
//! | INSUFFICIENT_DATA | ignored                          | note on the timeline                 |
//!
//! An event whose state timestamp is not newer than the last one applied for the alarm is
//! `stale`: it changes no state, and is kept on the timeline as evidence.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::intake::{AlarmEvent, AlarmKind, AlarmState, ConfigChange, ConfigOperation};
use crate::model::{
    AlarmTracker, ClosedIncident, EntryKind, Evidence, Incident, IncidentChange, IncidentStatus,
    IncidentUpdate, OpenIncidentRef, Outcome, Resolution, TimelineEntry, Transition,
};
use crate::ownership::Ownership;
use crate::route::Route;
use crate::text;

/// Alarm names are at most 255 characters in CloudWatch; we bound what we store anyway.
pub const MAX_TITLE_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub outcome: Outcome,
    pub tracker: AlarmTracker,
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
        tracker: AlarmTracker,
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
        tracker: AlarmTracker,
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

pub fn plan(
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    if let Some(change) = event.config.as_deref() {
        return plan_config(tracker, event, change, ownership, received_at);
    }
    if let Some(escalation) = event.escalation.as_deref() {
        return plan_escalation(tracker, event, escalation, ownership, received_at);
    }
    let dedup_key = event.alarm_arn.as_str();
    let (previous, mut next) = versions(tracker, &event.alarm_arn);
    let title = text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES);
    let suppressed = event.actions_suppressed_by.is_some();
    let evidence = evidence(event, received_at);
    let entry = |incident_id: &str, outcome: Outcome, summary: String| {
        event_entry(event, &evidence, incident_id, outcome, summary)
    };

    if is_stale(&previous, event) {
        let summary = format!(
            "{} at {} arrived after a newer state change ({}); no state changed",
            event.state.as_str(),
            event.state_timestamp.to_rfc3339(),
            previous
                .last_state_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
        return stale_plan(&previous, next, ownership, title, |id| {
            entry(id, Outcome::Stale, summary.clone())
        });
    }

    next.last_state = Some(event.state);
    next.last_state_at = Some(event.state_timestamp);
    next.last_event_id = Some(event.event_id.clone());
    next.last_feed = event.feed.clone();
    next.last_event_time = event.event_time;
    // The alarm's creation is a configuration fact: a deletion or creation configured
    // before it, delivered late, is then stale.
    if let Some(created) = event.created_at() {
        next.last_config_at = next.last_config_at.max(Some(created));
    }

    // An ALARM whose previous state is a recovery (OK, or a re-created alarm) newer than
    // anything applied: the OK was lost. The open incident ended then, and this is a new
    // problem that deserves its own page.
    let unseen_recovery = match (event.recovered_before(), previous.open_incident.as_ref()) {
        (Some(at), Some(open)) if previous.last_state_at.is_none_or(|last| at > last) => {
            Some((at, open.clone()))
        }
        _ => None,
    };
    let open_incident = if unseen_recovery.is_some() {
        None
    } else {
        previous.open_incident.as_ref()
    };
    // A finding resolved by an analyst keeps its source time (`UpdatedAt`): it was
    // resolved when the event says, not earlier.
    let resolved_at = match (&event.feed, event.event_time) {
        (Some(_), Some(t)) => t.max(event.state_timestamp),
        _ => event.state_timestamp,
    };

    let update = |open: &OpenIncidentRef, status, paged_now: bool| IncidentUpdate {
        incident_id: open.incident_id.clone(),
        status,
        resolved_at: (status == IncidentStatus::Resolved).then_some(resolved_at),
        paged_at: paged_now.then_some(received_at),
        last_state: event.state,
        last_state_at: event.state_timestamp,
        updated_at: received_at,
        resolution: (status == IncidentStatus::Resolved).then_some(Resolution::Recovered),
        paged_routes: None,
    };
    let base =
        |outcome, tracker| Plan::unchanged(outcome, tracker, ownership.clone(), title.clone());

    let mut plan = match (event.state, open_incident) {
        (AlarmState::Alarm, None) => {
            let id = incident_id(dedup_key, &event.event_id, event.state_timestamp);
            let paged = !suppressed;
            let opened = open_new(&mut next, &id, event, ownership, &title, received_at, paged);
            let summary = match (paged, &unseen_recovery) {
                (true, Some((at, _))) => format!(
                    "ALARM again after a recovery at {} that was not seen: new incident, responders paged",
                    at.to_rfc3339()
                ),
                (true, None) => "ALARM: incident opened, responders paged".to_string(),
                (false, _) => format!(
                    "ALARM under actions suppressor ({}): incident opened without a page",
                    text::for_log(event.actions_suppressed_by.as_deref().unwrap_or_default())
                ),
            };
            Plan {
                incident: Some(opened),
                timeline: Some(entry(&id, Outcome::Opened, summary)),
                incident_id: Some(id),
                page: paged.then_some(Transition::Opened),
                lifecycle: Some(Transition::Opened),
                ..base(Outcome::Opened, next)
            }
        }
        (AlarmState::Alarm, Some(open)) => {
            let page_now = !open.paged && !suppressed;
            let mut open_now = open.clone();
            open_now.paged = open.paged || page_now;
            next.open_incident = Some(open_now);
            let summary = if page_now {
                "ALARM no longer suppressed: responders paged".to_string()
            } else {
                "ALARM again while the incident is open: no new page".to_string()
            };
            Plan {
                page: page_now.then_some(Transition::Opened),
                lifecycle: Some(Transition::Updated),
                ..Plan::on_open(
                    open,
                    Outcome::Updated,
                    next,
                    update(open, IncidentStatus::Open, page_now),
                    entry(&open.incident_id, Outcome::Updated, summary),
                )
            }
        }
        (AlarmState::Ok, Some(open)) => {
            next.open_incident = None;
            let summary = if open.paged {
                "OK: alarm recovered, incident resolved, responders told".to_string()
            } else {
                "OK: alarm recovered, incident resolved (never paged, so no recovery page)"
                    .to_string()
            };
            Plan {
                page: open.paged.then_some(Transition::Resolved),
                lifecycle: Some(Transition::Resolved),
                resolution: Some(Resolution::Recovered),
                recovery_routes: open.paged_routes.clone(),
                ..Plan::on_open(
                    open,
                    Outcome::Resolved,
                    next,
                    update(open, IncidentStatus::Resolved, false),
                    entry(&open.incident_id, Outcome::Resolved, summary),
                )
            }
        }
        (AlarmState::InsufficientData, Some(open)) => Plan {
            lifecycle: Some(Transition::Updated),
            ..Plan::on_open(
                open,
                Outcome::Noted,
                next,
                update(open, IncidentStatus::Open, false),
                entry(
                    &open.incident_id,
                    Outcome::Noted,
                    "INSUFFICIENT_DATA: the alarm cannot evaluate; incident stays open".to_string(),
                ),
            )
        },
        // The older AWS Health shape sends one event per problem, with no statusCode and
        // no closing event: one that was already over when delivered is recorded as an
        // incident that opened and ended (never paged), or it would leave no trace.
        (AlarmState::Ok, None) if ended_on_arrival(event) => {
            let id = incident_id(dedup_key, &event.event_id, event.state_timestamp);
            next.last_incident_id = Some(id.clone());
            Plan {
                incident: Some(IncidentChange::Open(Box::new(Incident {
                    status: IncidentStatus::Resolved,
                    resolved_at: Some(event.state_timestamp),
                    resolution: Some(Resolution::Recovered),
                    ..new_incident(&id, event, ownership, &title, received_at, false)
                }))),
                timeline: Some(entry(
                    &id,
                    Outcome::Resolved,
                    "already over when delivered (older AWS Health shape: no statusCode, endTime not after the event's time): recorded as resolved, no page".into(),
                )),
                incident_id: Some(id),
                lifecycle: Some(Transition::Resolved),
                resolution: Some(Resolution::Recovered),
                ..base(Outcome::Resolved, next)
            }
        }
        (AlarmState::Ok | AlarmState::InsufficientData, None) => Plan {
            ..base(Outcome::Ignored, next)
        },
    };
    if let Some((at, open)) = unseen_recovery {
        // A re-created alarm's old incident ended with its alarm, not with a recovery.
        let resolution = if event.created_at().is_some() {
            Resolution::AlarmRecreated
        } else {
            Resolution::RecoveryInferred
        };
        plan.closed = Some(ClosedIncident {
            update: IncidentUpdate {
                incident_id: open.incident_id.clone(),
                status: IncidentStatus::Resolved,
                resolved_at: Some(at),
                paged_at: None,
                last_state: AlarmState::Ok,
                last_state_at: at,
                updated_at: received_at,
                resolution: Some(resolution),
                paged_routes: None,
            },
            entry: TimelineEntry {
                incident_id: open.incident_id.clone(),
                at,
                // Its own id: the ALARM's entry belongs to the new incident.
                entry_id: format!("{}#recovery-inferred", event.event_id),
                kind: EntryKind::Event,
                outcome: Outcome::Resolved,
                summary: format!(
                    "recovery not seen; inferred from the next event: ALARM at {} says the alarm was {} from {}; no recovery page",
                    event.state_timestamp.to_rfc3339(),
                    event.previous_state.map_or("OK", |s| s.as_str()),
                    at.to_rfc3339()
                ),
                evidence: evidence.clone(),
            },
            title: open.title.clone(),
            ownership: open.ownership.clone(),
            paged: open.paged,
        });
        plan.recovered_unseen_at = Some(at);
    }
    plan
}

/// The tracker as found (a new one for a key seen first) and the next version to write.
fn versions(tracker: Option<&AlarmTracker>, dedup_key: &str) -> (AlarmTracker, AlarmTracker) {
    let previous = tracker
        .cloned()
        .unwrap_or_else(|| AlarmTracker::new(dedup_key));
    let mut next = previous.clone();
    next.version = previous.version + 1;
    (previous, next)
}

/// Opens incident `id` on the tracker (its open incident and last incident) and returns
/// the record to create.
fn open_new(
    next: &mut AlarmTracker,
    id: &str,
    event: &AlarmEvent,
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
fn new_incident(
    id: &str,
    event: &AlarmEvent,
    ownership: &Ownership,
    title: &str,
    received_at: DateTime<Utc>,
    paged: bool,
) -> Incident {
    Incident {
        incident_id: id.to_string(),
        dedup_keys: vec![event.alarm_arn.clone()],
        status: IncidentStatus::Open,
        title: title.to_string(),
        alarm_arn: event.alarm_arn.clone(),
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
    }
}

/// An event that says it opened and ended before it was delivered (see `intake`'s Health
/// parser: `details.ended_on_arrival`).
fn ended_on_arrival(event: &AlarmEvent) -> bool {
    event
        .signal
        .as_ref()
        .is_some_and(|s| s.details["ended_on_arrival"] == true)
}

/// The event's entry on an incident's timeline, at its state (or configuration) time.
fn event_entry(
    event: &AlarmEvent,
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
        evidence: evidence.clone(),
    }
}

/// The raw facts of the event, for the timeline.
fn evidence(event: &AlarmEvent, received_at: DateTime<Utc>) -> Evidence {
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

/// Whether the event is older than the last state applied for its key.
///
/// - Alarms, Health, Config: a state time not newer than the last is stale.
/// - CloudTrail calls come with one-second times: two calls in one second (a tool adding
///   rules in parallel) must both count, so only an older time is stale.
/// - Findings are ordered by the source's update time; on a tie, a later envelope time
///   moves on only within the feed that set the last state (Security Hub keeps `UpdatedAt`
///   when an analyst changes the workflow), and a copy from another feed is stale.
fn is_stale(previous: &AlarmTracker, event: &AlarmEvent) -> bool {
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
fn stale_plan(
    previous: &AlarmTracker,
    next: AlarmTracker,
    ownership: &Ownership,
    title: String,
    entry: impl Fn(&str) -> TimelineEntry,
) -> Plan {
    let target = previous
        .open_incident
        .as_ref()
        .map(|o| o.incident_id.clone())
        .or_else(|| previous.last_incident_id.clone());
    let ownership = previous
        .open_incident
        .as_ref()
        .map(|o| o.ownership.clone())
        .unwrap_or_else(|| ownership.clone());
    Plan {
        timeline: target.as_deref().map(entry),
        incident_id: target,
        ..Plan::unchanged(Outcome::Stale, next, ownership, title)
    }
}

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
fn plan_config(
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
    change: &ConfigChange,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.alarm_arn);
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

/// Records the routes this event's pages go to on the open incident (tracker and record),
/// so that its recovery reaches every one of them later.
pub fn record_paged_routes(plan: &mut Plan, routes: &[Route]) {
    if plan.page != Some(Transition::Opened) || routes.is_empty() {
        return;
    }
    let Some(open) = plan.tracker.open_incident.as_mut() else {
        return;
    };
    if plan.incident_id.as_deref() != Some(open.incident_id.as_str()) {
        return;
    }
    let before = open.paged_routes.clone();
    for route in routes {
        if !open.paged_routes.contains(route) {
            open.paged_routes.push(*route);
        }
    }
    open.paged_routes.sort();
    let all = open.paged_routes.clone();
    match plan.incident.as_mut() {
        Some(IncidentChange::Open(incident)) => incident.paged_routes = all,
        Some(IncidentChange::Update(update)) if all != before => {
            update.paged_routes = Some(all);
        }
        _ => {}
    }
}

/// No runbook step sent the page the plan wanted: the incident stays "never paged", so the
/// next ALARM (or an acknowledgement flow) can still page, and no recovery page follows.
pub fn without_page(plan: &mut Plan) {
    let Some(transition) = plan.page.take() else {
        return;
    };
    if transition == Transition::Opened {
        if let Some(open) = plan.tracker.open_incident.as_mut() {
            open.paged = false;
        }
        match plan.incident.as_mut() {
            Some(IncidentChange::Open(incident)) => {
                incident.paged = false;
                incident.paged_at = None;
            }
            Some(IncidentChange::Update(update)) => update.paged_at = None,
            None => {}
        }
    }
    if let Some(entry) = plan.timeline.as_mut() {
        entry.summary = format!(
            "{}: incident {}; no runbook step sent a page",
            entry.evidence.state.as_str(),
            plan.outcome.as_str()
        );
    }
}

/// A finding an analyst escalated through a Security Hub custom action. Not a state change:
/// it neither moves the finding's state order nor is stale. It opens the finding's incident
/// if none is open, else adds "escalated by custom action <name>" to its timeline. The page
/// is the engine's: one per event, listing every finding (`notify::escalation_page`).
fn plan_escalation(
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
    escalation: &crate::intake::Escalation,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.alarm_arn);
    let title = text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES);
    let evidence = evidence(event, received_at);
    let action = text::for_log(&escalation.action);
    match previous.open_incident.as_ref() {
        Some(open) => Plan {
            incident: Some(IncidentChange::Update(IncidentUpdate {
                incident_id: open.incident_id.clone(),
                status: IncidentStatus::Open,
                resolved_at: None,
                paged_at: None,
                last_state: previous.last_state.unwrap_or(event.state),
                last_state_at: previous.last_state_at.unwrap_or(event.state_timestamp),
                updated_at: received_at,
                resolution: None,
                paged_routes: None,
            })),
            timeline: Some(event_entry(
                event,
                &evidence,
                &open.incident_id,
                Outcome::Updated,
                format!("escalated by custom action {action}"),
            )),
            incident_id: Some(open.incident_id.clone()),
            lifecycle: Some(Transition::Updated),
            ..Plan::unchanged(
                Outcome::Updated,
                next,
                open.ownership.clone(),
                open.title.clone(),
            )
        },
        None => {
            let id = incident_id(&event.alarm_arn, &event.event_id, event.state_timestamp);
            let opened = open_new(&mut next, &id, event, ownership, &title, received_at, false);
            Plan {
                incident: Some(opened),
                timeline: Some(event_entry(
                    event,
                    &evidence,
                    &id,
                    Outcome::Opened,
                    format!("opened: escalated by custom action {action} (an analyst's escalation, not a state change)"),
                )),
                incident_id: Some(id),
                lifecycle: Some(Transition::Opened),
                ..Plan::unchanged(Outcome::Opened, next, ownership.clone(), title)
            }
        }
    }
}

/// The escalation page goes with this plan: the incident counts as paged, on the security
/// route (every finding of the event is listed on that page).
pub fn paged_by_escalation(plan: &mut Plan, now: DateTime<Utc>) {
    let route = plan.ownership.route;
    if let Some(open) = plan.tracker.open_incident.as_mut() {
        open.paged = true;
    }
    match plan.incident.as_mut() {
        Some(IncidentChange::Open(incident)) => {
            incident.paged = true;
            incident.paged_at = Some(now);
        }
        Some(IncidentChange::Update(update)) => update.paged_at = Some(now),
        None => {}
    }
    let page = plan.page.replace(Transition::Opened);
    record_paged_routes(plan, &[route]);
    plan.page = page;
}

/// The plan when no runbook has an incident step: the alarm's state order is kept, and the
/// open incident (if any) is named so that steps can refer to it, but nothing changes.
pub fn observe(
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
    ownership: &Ownership,
    _received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.alarm_arn);
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
    let ownership = previous
        .open_incident
        .as_ref()
        .map(|o| o.ownership.clone())
        .unwrap_or_else(|| ownership.clone());
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
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
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
        entry.evidence.state = event.state;
        entry.summary = format!(
            "{} (runbook treated {} as {})",
            entry.summary,
            event.state.as_str(),
            state.as_str()
        );
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{AlarmKind, EventTags};
    use crate::ownership::from_tags;
    use chrono::TimeZone;

    fn event(id: &str, state: AlarmState, minute: u32) -> AlarmEvent {
        AlarmEvent {
            event_id: id.into(),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            event_time: None,
            alarm_name: "cpu".into(),
            alarm_arn: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu".into(),
            kind: AlarmKind::Metric,
            description: None,
            state,
            state_timestamp: Utc.with_ymd_and_hms(2024, 5, 1, 12, minute, 0).unwrap(),
            reason: Some("r".into()),
            reason_data: None,
            previous_state: None,
            previous_state_timestamp: None,
            actions_suppressed_by: None,
            actions_suppressed_reason: None,
            alarm_rule: None,
            metrics: vec![],
            tags: EventTags::LookUp(String::new()),
            source: "aws.cloudwatch".into(),
            signal: None,
            previous_state_reason: None,
            feed: None,
            config: None,
            escalation: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 5, 1, 13, 0, 0).unwrap()
    }

    fn apply(tracker: Option<&AlarmTracker>, e: &AlarmEvent) -> Plan {
        plan(tracker, e, &from_tags(&[]), now())
    }

    #[test]
    fn alarm_opens_and_pages() {
        let p = apply(None, &event("a", AlarmState::Alarm, 0));
        assert_eq!(p.outcome, Outcome::Opened);
        assert_eq!(p.page, Some(Transition::Opened));
        assert_eq!(p.lifecycle, Some(Transition::Opened));
        assert_eq!(p.tracker.version, 1);
        assert!(p.tracker.open_incident.is_some());
        assert!(p
            .incident_id
            .as_deref()
            .unwrap()
            .starts_with("INC-20240501-"));
    }

    #[test]
    fn alarm_while_open_updates_without_page_then_ok_resolves() {
        let p1 = apply(None, &event("a", AlarmState::Alarm, 0));
        let p2 = apply(Some(&p1.tracker), &event("b", AlarmState::Alarm, 1));
        assert_eq!(p2.outcome, Outcome::Updated);
        assert_eq!(p2.page, None);
        assert_eq!(p2.incident_id, p1.incident_id);
        let p3 = apply(Some(&p2.tracker), &event("c", AlarmState::Ok, 2));
        assert_eq!(p3.outcome, Outcome::Resolved);
        assert_eq!(p3.page, Some(Transition::Resolved));
        assert!(p3.tracker.open_incident.is_none());
        // A new ALARM after resolution opens a new incident.
        let p4 = apply(Some(&p3.tracker), &event("d", AlarmState::Alarm, 3));
        assert_eq!(p4.outcome, Outcome::Opened);
        assert_ne!(p4.incident_id, p1.incident_id);
    }

    #[test]
    fn insufficient_data_notes_or_ignores() {
        let p = apply(None, &event("a", AlarmState::InsufficientData, 0));
        assert_eq!(p.outcome, Outcome::Ignored);
        assert!(p.timeline.is_none() && p.incident.is_none());
        let p1 = apply(None, &event("a", AlarmState::Alarm, 0));
        let p2 = apply(
            Some(&p1.tracker),
            &event("b", AlarmState::InsufficientData, 1),
        );
        assert_eq!(p2.outcome, Outcome::Noted);
        assert_eq!(p2.page, None);
        assert!(p2.tracker.open_incident.is_some());
    }

    #[test]
    fn ok_without_incident_is_ignored_but_orders_later_events() {
        let p = apply(None, &event("ok", AlarmState::Ok, 5));
        assert_eq!(p.outcome, Outcome::Ignored);
        assert_eq!(p.incident, None);
        // The ALARM that preceded it arrives late: stale, nothing opens.
        let late = apply(Some(&p.tracker), &event("alarm", AlarmState::Alarm, 0));
        assert_eq!(late.outcome, Outcome::Stale);
        assert!(late.tracker.open_incident.is_none());
        assert_eq!(late.page, None);
    }

    #[test]
    fn stale_event_is_evidence_on_the_incident() {
        let p1 = apply(None, &event("a", AlarmState::Alarm, 5));
        let p2 = apply(Some(&p1.tracker), &event("old-ok", AlarmState::Ok, 1));
        assert_eq!(p2.outcome, Outcome::Stale);
        assert!(
            p2.tracker.open_incident.is_some(),
            "stale OK must not resolve"
        );
        let stale_entry = p2.timeline.unwrap();
        assert_eq!(stale_entry.incident_id, p1.incident_id.unwrap());
        assert_eq!(
            stale_entry.entry_id, "old-ok#stale",
            "never overwrites an original entry"
        );
        // Equal timestamps are not newer either.
        let p3 = apply(Some(&p2.tracker), &event("same", AlarmState::Ok, 5));
        assert_eq!(p3.outcome, Outcome::Stale);
    }

    #[test]
    fn suppressed_alarm_opens_silently_and_first_unsuppressed_pages() {
        let mut e = event("s", AlarmState::Alarm, 0);
        e.actions_suppressed_by = Some("WaitPeriod".into());
        let p1 = apply(None, &e);
        assert_eq!(p1.outcome, Outcome::Opened);
        assert_eq!(p1.page, None);
        let mut e2 = event("s2", AlarmState::Alarm, 1);
        e2.actions_suppressed_by = Some("Alarm".into());
        let p2 = apply(Some(&p1.tracker), &e2);
        assert_eq!(p2.page, None);
        let p3 = apply(Some(&p2.tracker), &event("u", AlarmState::Alarm, 2));
        assert_eq!(p3.outcome, Outcome::Updated);
        assert_eq!(p3.page, Some(Transition::Opened));
        let p4 = apply(Some(&p3.tracker), &event("u2", AlarmState::Alarm, 3));
        assert_eq!(p4.page, None, "paged once only");
    }

    #[test]
    fn never_paged_incident_resolves_without_recovery_page() {
        let mut e = event("s", AlarmState::Alarm, 0);
        e.actions_suppressed_by = Some("WaitPeriod".into());
        let p1 = apply(None, &e);
        let p2 = apply(Some(&p1.tracker), &event("ok", AlarmState::Ok, 1));
        assert_eq!(p2.outcome, Outcome::Resolved);
        assert_eq!(p2.page, None);
        assert_eq!(p2.lifecycle, Some(Transition::Resolved));
    }

    #[test]
    fn recovery_goes_where_the_page_went() {
        let p1 = plan(
            None,
            &event("a", AlarmState::Alarm, 0),
            &from_tags(&[("Environment".into(), "dev".into())]),
            now(),
        );
        let p2 = apply(Some(&p1.tracker), &event("b", AlarmState::Ok, 1));
        assert_eq!(p2.ownership.environment, "dev");
    }

    #[test]
    fn incident_ids_are_stable() {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
        assert_eq!(incident_id("k", "e", t), incident_id("k", "e", t));
        assert_ne!(incident_id("k", "e", t), incident_id("k", "f", t));
    }
}
