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

use crate::intake::{AlarmEvent, AlarmState};
use crate::model::{
    AlarmTracker, EntryKind, Evidence, Incident, IncidentChange, IncidentStatus, IncidentUpdate,
    OpenIncidentRef, Outcome, TimelineEntry, Transition,
};
use crate::ownership::Ownership;
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
    let dedup_key = event.alarm_arn.as_str();
    let previous = tracker
        .cloned()
        .unwrap_or_else(|| AlarmTracker::new(dedup_key));
    let mut next = previous.clone();
    next.version = previous.version + 1;
    let title = text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES);
    let suppressed = event.actions_suppressed_by.is_some();

    let evidence = Evidence {
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
    };
    let entry = |incident_id: &str, outcome: Outcome, summary: String| TimelineEntry {
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
    };

    // CloudTrail calls have no OK state to be overtaken by, and come with one-second
    // times: two calls in one second (a tool adding rules in parallel) must both count.
    let is_stale = event.kind != crate::intake::AlarmKind::CloudTrail
        && previous
            .last_state_at
            .is_some_and(|last| event.state_timestamp <= last);
    if is_stale {
        // Evidence only: file it on the open incident, or the last one for this alarm.
        let target = previous
            .open_incident
            .as_ref()
            .map(|o| o.incident_id.clone())
            .or_else(|| previous.last_incident_id.clone());
        let summary = format!(
            "{} at {} arrived after a newer state change ({}); no state changed",
            event.state.as_str(),
            event.state_timestamp.to_rfc3339(),
            previous
                .last_state_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_default()
        );
        return Plan {
            outcome: Outcome::Stale,
            timeline: target
                .as_deref()
                .map(|id| entry(id, Outcome::Stale, summary)),
            incident_id: target,
            tracker: next,
            incident: None,
            page: None,
            lifecycle: None,
            ownership: previous
                .open_incident
                .as_ref()
                .map(|o| o.ownership.clone())
                .unwrap_or_else(|| ownership.clone()),
            title,
        };
    }

    next.last_state = Some(event.state);
    next.last_state_at = Some(event.state_timestamp);
    next.last_event_id = Some(event.event_id.clone());

    let update = |open: &OpenIncidentRef, status, paged_now: bool| IncidentUpdate {
        incident_id: open.incident_id.clone(),
        status,
        resolved_at: (status == IncidentStatus::Resolved).then_some(event.state_timestamp),
        paged_at: paged_now.then_some(received_at),
        last_state: event.state,
        last_state_at: event.state_timestamp,
        updated_at: received_at,
    };
    let base = |outcome, tracker| Plan {
        outcome,
        tracker,
        incident: None,
        incident_id: None,
        timeline: None,
        page: None,
        lifecycle: None,
        ownership: ownership.clone(),
        title: title.clone(),
    };

    match (event.state, previous.open_incident.as_ref()) {
        (AlarmState::Alarm, None) => {
            let id = incident_id(dedup_key, &event.event_id, event.state_timestamp);
            let paged = !suppressed;
            next.open_incident = Some(OpenIncidentRef {
                incident_id: id.clone(),
                paged,
                title: title.clone(),
                ownership: ownership.clone(),
                opened_at: event.state_timestamp,
            });
            next.last_incident_id = Some(id.clone());
            let summary = if paged {
                "ALARM: incident opened, responders paged".to_string()
            } else {
                format!(
                    "ALARM under actions suppressor ({}): incident opened without a page",
                    text::for_log(event.actions_suppressed_by.as_deref().unwrap_or_default())
                )
            };
            Plan {
                incident: Some(IncidentChange::Open(Box::new(Incident {
                    incident_id: id.clone(),
                    dedup_keys: vec![dedup_key.to_string()],
                    status: IncidentStatus::Open,
                    title: title.clone(),
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
                }))),
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
                incident: Some(IncidentChange::Update(update(
                    open,
                    IncidentStatus::Open,
                    page_now,
                ))),
                timeline: Some(entry(&open.incident_id, Outcome::Updated, summary)),
                incident_id: Some(open.incident_id.clone()),
                page: page_now.then_some(Transition::Opened),
                lifecycle: Some(Transition::Updated),
                ownership: open.ownership.clone(),
                title: open.title.clone(),
                ..base(Outcome::Updated, next)
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
                incident: Some(IncidentChange::Update(update(
                    open,
                    IncidentStatus::Resolved,
                    false,
                ))),
                timeline: Some(entry(&open.incident_id, Outcome::Resolved, summary)),
                incident_id: Some(open.incident_id.clone()),
                page: open.paged.then_some(Transition::Resolved),
                lifecycle: Some(Transition::Resolved),
                ownership: open.ownership.clone(),
                title: open.title.clone(),
                ..base(Outcome::Resolved, next)
            }
        }
        (AlarmState::InsufficientData, Some(open)) => Plan {
            incident: Some(IncidentChange::Update(update(
                open,
                IncidentStatus::Open,
                false,
            ))),
            timeline: Some(entry(
                &open.incident_id,
                Outcome::Noted,
                "INSUFFICIENT_DATA: the alarm cannot evaluate; incident stays open".to_string(),
            )),
            incident_id: Some(open.incident_id.clone()),
            lifecycle: Some(Transition::Updated),
            ownership: open.ownership.clone(),
            title: open.title.clone(),
            ..base(Outcome::Noted, next)
        },
        (AlarmState::Ok | AlarmState::InsufficientData, None) => Plan {
            ..base(Outcome::Ignored, next)
        },
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

/// The plan when no runbook has an incident step: the alarm's state order is kept, and the
/// open incident (if any) is named so that steps can refer to it, but nothing changes.
pub fn observe(
    tracker: Option<&AlarmTracker>,
    event: &AlarmEvent,
    ownership: &Ownership,
    _received_at: DateTime<Utc>,
) -> Plan {
    let previous = tracker
        .cloned()
        .unwrap_or_else(|| AlarmTracker::new(&event.alarm_arn));
    let mut next = previous.clone();
    next.version = previous.version + 1;
    if previous
        .last_state_at
        .is_none_or(|last| event.state_timestamp > last)
    {
        next.last_state = Some(event.state);
        next.last_state_at = Some(event.state_timestamp);
        next.last_event_id = Some(event.event_id.clone());
    }
    Plan {
        outcome: Outcome::Handled,
        incident_id: previous
            .open_incident
            .as_ref()
            .map(|o| o.incident_id.clone()),
        ownership: previous
            .open_incident
            .as_ref()
            .map(|o| o.ownership.clone())
            .unwrap_or_else(|| ownership.clone()),
        tracker: next,
        incident: None,
        timeline: None,
        page: None,
        lifecycle: None,
        title: text::bounded(&text::single_line(&event.alarm_name), MAX_TITLE_BYTES),
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
