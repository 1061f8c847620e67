//! The transition table (see [`super`]): one state change on a key's tracker to a plan.

use chrono::{DateTime, Utc};

use super::build::*;
use super::config_change::*;
use super::escalation::*;
use super::stale::*;
use super::Plan;
use super::{incident_id, MAX_TITLE_BYTES};
use crate::intake::{AlarmState, StateChange};
use crate::model::{
    ClosedIncident, EntryKind, Incident, IncidentChange, IncidentStatus, IncidentUpdate,
    KeyTracker, OpenIncidentRef, Outcome, Resolution, TimelineEntry, Transition,
};
use crate::ownership::Ownership;
use crate::text;

pub fn plan(
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    if let Some(change) = event.config.as_deref() {
        return plan_config(tracker, event, change, ownership, received_at);
    }
    if let Some(escalation) = event.escalation.as_deref() {
        return plan_escalation(tracker, event, escalation, ownership, received_at);
    }
    let dedup_key = event.dedup_key.as_str();
    let (previous, mut next) = versions(tracker, &event.dedup_key);
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
        responder: None,
        reopened: None,
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
            // A responder's snooze holds pages back until it ends (docs/RESPONDERS.md).
            let snoozed_until = open
                .snoozed_until
                .filter(|until| event.state_timestamp < *until);
            let page_now = !open.paged && !suppressed && snoozed_until.is_none();
            let mut open_now = open.clone();
            open_now.paged = open.paged || page_now;
            next.open_incident = Some(open_now);
            let summary = match snoozed_until {
                _ if page_now => "ALARM no longer suppressed: responders paged".to_string(),
                Some(until) if !open.paged && !suppressed => {
                    format!("ALARM while snoozed until {}: no page", until.to_rfc3339())
                }
                _ => "ALARM again while the incident is open: no new page".to_string(),
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
                responder: None,
                reopened: None,
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
                evidence: Some(evidence.clone()),
                actor: None,
                action: None,
                note: None,
            },
            title: open.title.clone(),
            ownership: open.ownership.clone(),
            paged: open.paged,
        });
        plan.recovered_unseen_at = Some(at);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{AlarmKind, EventTags};
    use crate::ownership::from_tags;
    use crate::plan::incident_id;
    use chrono::TimeZone;

    fn event(id: &str, state: AlarmState, minute: u32) -> StateChange {
        StateChange {
            event_id: id.into(),
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            event_time: None,
            alarm_name: "cpu".into(),
            dedup_key: "arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu".into(),
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

    fn apply(tracker: Option<&KeyTracker>, e: &StateChange) -> Plan {
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
    fn a_snooze_holds_the_page_back_until_it_ends() {
        let mut e = event("s", AlarmState::Alarm, 0);
        e.actions_suppressed_by = Some("WaitPeriod".into());
        let mut p1 = apply(None, &e);
        let until = Utc.with_ymd_and_hms(2024, 5, 1, 12, 10, 0).unwrap();
        p1.tracker.open_incident.as_mut().unwrap().snoozed_until = Some(until);
        let p2 = apply(Some(&p1.tracker), &event("u", AlarmState::Alarm, 5));
        assert_eq!(p2.page, None, "snoozed: no page");
        assert!(p2.timeline.unwrap().summary.contains("snoozed until"));
        let p3 = apply(Some(&p2.tracker), &event("u2", AlarmState::Alarm, 10));
        assert_eq!(p3.page, Some(Transition::Opened), "the snooze ended");
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
