//! The routes an incident's pages went to, and a plan whose page did not go out.

use super::Plan;
use crate::model::{IncidentChange, Transition};
use crate::route::Route;

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
            entry.evidence.as_ref().map_or("-", |e| e.state.as_str()),
            plan.outcome.as_str()
        );
    }
}
