//! An analyst's escalation of a finding (a Security Hub custom action): open or reopen
//! its incident, paged once for the whole event.

use chrono::{DateTime, Utc};

use super::build::*;
use super::pages::*;
use super::Plan;
use super::{incident_id, MAX_TITLE_BYTES};
use crate::intake::StateChange;
use crate::model::{
    IncidentChange, IncidentStatus, IncidentUpdate, KeyTracker, Outcome, Transition,
};
use crate::ownership::Ownership;
use crate::text;

/// A finding an analyst escalated through a Security Hub custom action. Not a state change:
/// it neither moves the finding's state order nor is stale. It opens the finding's incident
/// if none is open, else adds "escalated by custom action <name>" to its timeline. The page
/// is the decision's (`runbook::decide`): one per event, listing every finding
/// (`render::escalation_page`).
pub(super) fn plan_escalation(
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    escalation: &crate::intake::Escalation,
    ownership: &Ownership,
    received_at: DateTime<Utc>,
) -> Plan {
    let (previous, mut next) = versions(tracker, &event.dedup_key);
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
                responder: None,
                reopened: None,
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
            let id = incident_id(&event.dedup_key, &event.event_id, event.state_timestamp);
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
