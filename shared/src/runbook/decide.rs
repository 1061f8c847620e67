//! The decision (pure): the incident plan, the pages the `notify` steps render, the step
//! outcomes so far and the steps left for after the page. The engine commits all of it in
//! one transaction, delivers the pages, then runs the rest (`engine/after_page.rs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::intake::{AlarmState, StateChange};
use crate::model::EscalatedFinding;
use crate::model::LifecycleEvent;
use crate::model::Transition;
use crate::model::{
    KeyTracker, Notification, PendingStep, RunbookScope, StepEntry, StepPhase, StepStatus,
};
use crate::ownership::Ownership;
use crate::plan::{self, Plan};
use crate::render;
use crate::route::Route;
use crate::runbook::abort;
use crate::runbook::context::{enrichment_context, scoped_context, with_plan, ENRICHMENT_KEY};
use crate::runbook::enrich::{EarlyEnrichment, EarlyResults};
use crate::runbook::step::common::SUMMARY_BYTES;
use crate::runbook::step::incident::{incident_outcome, IncidentVerb};
use crate::runbook::step::notify::notify_step;
use crate::runbook::step::StepKind;
use crate::runbook::template;
use crate::runbook::walk::{Planned, Walk};
use crate::runbook::Runbook;
use crate::text;

/// Everything decided before the page.
#[derive(Debug, Clone)]
pub struct Decision {
    pub plan: Plan,
    pub pages: Vec<Notification>,
    pub entries: Vec<StepEntry>,
    pub pending: Vec<PendingStep>,
    pub scopes: Vec<RunbookScope>,
    /// The context after-page steps render against (per runbook, see [`scoped_context`]).
    pub context: Value,
    /// The lifecycle event of an incident this event ended unseen (before the new one's).
    pub closed_lifecycle: Option<LifecycleEvent>,
    /// This event's lifecycle event, after its pages.
    pub lifecycle: Option<LifecycleEvent>,
}

/// Inputs of [`decide`] that do not come from the walk.
pub struct DecideInput<'a> {
    pub tracker: Option<&'a KeyTracker>,
    pub event: &'a StateChange,
    pub ownership: &'a Ownership,
    pub base_context: &'a Value,
    pub now: DateTime<Utc>,
    /// Expiry of step entries when the event concerns no incident.
    pub unowned_expiry: DateTime<Utc>,
    /// For a Security Hub custom action: the findings of the event decided before this one.
    pub escalated: &'a [EscalatedFinding],
}

/// What the transition table makes of the event before any runbook step decides: the
/// incident fields the walk's conditions see (outcome, transition) and whether a page is due.
pub fn prospect(
    tracker: Option<&KeyTracker>,
    event: &StateChange,
    ownership: &Ownership,
    now: DateTime<Utc>,
) -> Plan {
    plan::plan(tracker, event, ownership, now)
}

/// The incident plan for the walk's deciding step (or none: nothing changes).
pub fn plan_for(walk: &Walk<'_>, input: &DecideInput<'_>) -> Plan {
    let Some((r, _, verb)) = walk.decider else {
        return plan::observe(input.tracker, input.event, input.ownership, input.now);
    };
    let ownership = &walk.runbooks[r].ownership;
    match verb {
        IncidentVerb::Open => plan::plan_as(
            AlarmState::Alarm,
            input.tracker,
            input.event,
            ownership,
            input.now,
        ),
        IncidentVerb::Resolve => plan::plan_as(
            AlarmState::Ok,
            input.tracker,
            input.event,
            ownership,
            input.now,
        ),
        IncidentVerb::Track | IncidentVerb::Annotate => {
            plan::plan(input.tracker, input.event, ownership, input.now)
        }
    }
}

pub fn decide(walk: &Walk<'_>, early: &EarlyResults, input: &DecideInput<'_>) -> Decision {
    let mut plan = plan_for(walk, input);
    let base = with_plan(input.base_context.clone(), &plan);
    let mut pages: Vec<Notification> = Vec::new();
    let mut paged_routes: BTreeMap<Route, String> = BTreeMap::new();
    let mut entries = Vec::new();
    let mut pending = Vec::new();
    let mut scopes = Vec::new();
    let mut seq: u32 = 0;
    let entry = |seq: u32,
                 runbook: &Runbook,
                 step: usize,
                 status: StepStatus,
                 summary: String,
                 detail: Option<&Value>,
                 duration_ms: u64| {
        let s = &runbook.steps[step];
        StepEntry {
            // Set for all entries at the end, once the plan is final.
            incident_id: None,
            event_id: input.event.event_id.clone(),
            seq,
            runbook: runbook.name().to_string(),
            step: s.id.clone(),
            kind: s.kind.name().to_string(),
            status,
            phase: StepPhase::BeforePage,
            at: input.now,
            duration_ms,
            attempts: u32::from(status != StepStatus::Skipped),
            summary: text::bounded(&text::single_line(&summary), SUMMARY_BYTES),
            detail: detail.map(Value::to_string),
            expires_at: None,
        }
    };

    // The standard page, rendered once for every notify step, or why no page is due.
    let standard = match (plan.page, plan.incident_id.as_deref()) {
        (Some(transition), Some(_)) => Ok((transition, render::page(&plan, input.event, transition))),
        _ if input.event.escalation.is_some() => Err(
            "an escalation by a custom action: its one security page lists every finding of the event"
                .to_string(),
        ),
        _ => Err(format!(
            "no page due: the event's outcome is {}",
            plan.outcome.as_str()
        )),
    };
    for (r, w) in walk.runbooks.iter().enumerate() {
        let runbook = w.runbook;
        let is_decider = walk.decider.is_some_and(|(d, _, _)| d == r);
        // The deciding runbook pages with the incident's ownership (a recovery goes where
        // the page went); the others with their own classification.
        let own = if is_decider {
            plan.ownership.clone()
        } else {
            w.ownership.clone()
        };
        scopes.push(RunbookScope {
            runbook: runbook.name().to_string(),
            ownership: own.clone(),
        });
        let mut ctx = scoped_context(&base, runbook.name(), &own);
        ctx[ENRICHMENT_KEY] = enrichment_context(runbook, |id| {
            match early.get(&(runbook.name().to_string(), id.to_string())) {
                Some(EarlyEnrichment::Done { enriched, .. }) => Some(enriched.detail.clone()),
                _ => None,
            }
        });
        for (i, planned) in w.steps.iter().enumerate() {
            let step = &runbook.steps[i];
            let this_seq = seq;
            seq += 1;
            // A page is never skipped.
            let failed = (*planned != Planned::Notify)
                .then(|| abort::aborted_by(runbook, &entries, this_seq))
                .flatten();
            if let Some(failed) = failed {
                let summary = abort::skipped(failed);
                entries.push(entry(
                    this_seq,
                    runbook,
                    i,
                    StepStatus::Skipped,
                    summary,
                    None,
                    0,
                ));
                continue;
            }
            let (status, summary, detail, duration) = match planned {
                Planned::Skipped(why) => (StepStatus::Skipped, why.clone(), None, 0),
                Planned::Done(summary) => (StepStatus::Ok, summary.clone(), None, 0),
                Planned::AfterPage => {
                    pending.push(PendingStep {
                        seq: this_seq,
                        runbook: runbook.name().to_string(),
                        step: step.id.clone(),
                        kind: step.kind.name().to_string(),
                        deferred_because: None,
                    });
                    continue;
                }
                Planned::EnrichBeforePage => {
                    match early.get(&(runbook.name().to_string(), step.id.clone())) {
                        Some(EarlyEnrichment::Done {
                            enriched,
                            duration_ms,
                        }) => (
                            StepStatus::Ok,
                            enriched.summary.clone(),
                            Some(enriched.detail.clone()),
                            *duration_ms,
                        ),
                        other => {
                            let why = match other {
                                Some(EarlyEnrichment::Deferred(why)) => why.clone(),
                                _ => "did not run before the page".into(),
                            };
                            pending.push(PendingStep {
                                seq: this_seq,
                                runbook: runbook.name().to_string(),
                                step: step.id.clone(),
                                kind: step.kind.name().to_string(),
                                deferred_because: Some(why),
                            });
                            continue;
                        }
                    }
                }
                Planned::Incident(verb) => {
                    let note = match &step.kind {
                        StepKind::Incident(a) => a
                            .note
                            .as_ref()
                            .map(|n| template::render(&n.value, &ctx).map_err(|e| e.to_string())),
                        _ => None,
                    };
                    incident_outcome(
                        walk.decider.is_some_and(|(dr, di, _)| dr == r && di == i),
                        walk.decider.map(|(dr, di, dverb)| {
                            let by = walk.runbooks[dr].runbook;
                            (by.name(), by.steps[di].id.as_str(), dverb)
                        }),
                        *verb,
                        &plan,
                        note,
                    )
                }
                Planned::Notify => {
                    let StepKind::Notify(config) = &step.kind else {
                        unreachable!("planned from the kind")
                    };
                    let produced_by = format!("{}/{}", runbook.name(), step.id);
                    let (status, summary) = notify_step(
                        config,
                        &ctx,
                        &own,
                        &standard,
                        &mut paged_routes,
                        &mut pages,
                        produced_by,
                    );
                    (status, summary, None, 0)
                }
            };
            entries.push(entry(
                this_seq,
                runbook,
                i,
                status,
                summary,
                detail.as_ref(),
                duration,
            ));
        }
        // Steps of this runbook left for after the page and after an aborting failure do
        // not run either; those before it still do.
        let aborted: Vec<(u32, String, String)> = pending
            .iter()
            .filter(|p| p.runbook == runbook.name())
            .filter_map(|p| {
                let failed = abort::aborted_by(runbook, &entries, p.seq)?;
                Some((p.seq, p.step.clone(), abort::skipped(failed)))
            })
            .collect();
        for (p_seq, p_step, summary) in aborted {
            pending.retain(|p| !(p.runbook == runbook.name() && p.seq == p_seq));
            entries.push(entry(
                p_seq,
                runbook,
                step_index(runbook, &p_step),
                StepStatus::Skipped,
                summary,
                None,
                0,
            ));
        }
    }
    // The recovery goes where the pages went, whatever route the runbooks chose for it.
    if plan.page == Some(Transition::Resolved) {
        for route in plan.recovery_routes.clone() {
            if pages.iter().all(|p| p.route != route) {
                let mut to_route = plan.clone();
                to_route.ownership.route = route;
                let mut page = render::page(&to_route, input.event, Transition::Resolved);
                page.produced_by = Some("klaxon/recovery-routes".into());
                pages.push(page);
            }
        }
    }
    let routes: Vec<Route> = pages.iter().map(|p| p.route).collect();
    plan::record_paged_routes(&mut plan, &routes);
    if pages.is_empty() {
        plan::without_page(&mut plan);
    }
    let incident_id = plan.incident_id.clone();
    for e in &mut entries {
        e.incident_id = incident_id.clone();
        e.expires_at = incident_id.is_none().then_some(input.unowned_expiry);
    }
    entries.sort_by_key(|e| e.seq);
    if let Some(escalation) = &input.event.escalation {
        escalate(
            &mut plan,
            &mut pages,
            input.event,
            escalation,
            input.escalated,
            input.now,
        );
    }
    let closed_lifecycle = plan
        .closed
        .as_ref()
        .map(|closed| render::lifecycle_closed(closed, input.event));
    let lifecycle = plan.lifecycle.map(|transition| {
        let paged = plan
            .tracker
            .open_incident
            .as_ref()
            .map(|o| o.paged)
            .unwrap_or(!pages.is_empty());
        render::lifecycle(&plan, input.event, transition, paged)
    });
    Decision {
        context: base,
        plan,
        pages,
        entries,
        pending,
        scopes,
        closed_lifecycle,
        lifecycle,
    }
}

/// A custom action's finding: no runbook page of its own; the incident counts as paged
/// by the event's one page, which the last finding's commit carries, listing them all.
fn escalate(
    plan: &mut Plan,
    pages: &mut Vec<Notification>,
    event: &StateChange,
    escalation: &crate::intake::Escalation,
    earlier: &[EscalatedFinding],
    now: DateTime<Utc>,
) {
    pages.clear();
    plan::paged_by_escalation(plan, now);
    if escalation.position + 1 == escalation.count {
        let mut listed = earlier.to_vec();
        listed.push(EscalatedFinding {
            incident_id: plan.incident_id.clone(),
            title: event.alarm_name.clone(),
            severity: plan.ownership.severity,
            outcome: plan.outcome,
        });
        pages.push(render::escalation_page(
            &escalation.action,
            &listed,
            &plan.ownership,
        ));
    }
}

fn step_index(runbook: &Runbook, id: &str) -> usize {
    runbook.steps.iter().position(|s| s.id == id).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{parse_value, Intake};
    use crate::model::{Outcome, StepStatus};
    use crate::ownership::from_tags;
    use crate::runbook::context::event_context;
    use crate::runbook::enrich::EarlyResults;
    use crate::runbook::walk::tests::runbook;
    use crate::runbook::walk::walk;
    use serde_json::json;

    fn change(state: &str) -> StateChange {
        let v = json!({
            "id": format!("e-{state}"), "source": "aws.cloudwatch",
            "detail-type": "CloudWatch Alarm State Change",
            "account": "123456789012", "region": "us-east-1", "time": "2024-05-01T12:00:00Z",
            "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:cpu"],
            "detail": {"alarmName": "cpu", "state": {"value": state, "timestamp": "2024-05-01T12:00:00.000+0000"}}
        });
        match parse_value(&v).unwrap() {
            Intake::Change(c) => *c,
            other => panic!("{other:?}"),
        }
    }

    /// The decision for `event` on a key seen first, with these runbooks (enrichment before
    /// the page found nothing).
    fn decision(event: &StateChange, runbooks: &[&Runbook]) -> Decision {
        let ownership = from_tags(&[]);
        let now = event.state_timestamp;
        let base = event_context(event, &ownership, None, None);
        let prospective = prospect(None, event, &ownership, now);
        let w = walk(
            runbooks,
            &crate::runbook::context::with_plan(base.clone(), &prospective),
            &ownership,
            prospective.page.is_some(),
        );
        decide(
            &w,
            &EarlyResults::new(),
            &DecideInput {
                tracker: None,
                event,
                ownership: &ownership,
                base_context: &base,
                now,
                unowned_expiry: now,
                escalated: &[],
            },
        )
    }

    fn outcome<'a>(d: &'a Decision, step: &str) -> (&'a StepStatus, &'a str) {
        let e = d.entries.iter().find(|e| e.step == step).expect(step);
        (&e.status, e.summary.as_str())
    }

    const TRACK: &str = "  - id: track\n    incident: {action: track}\n";
    const PAGE: &str = "  - id: page\n    notify: {}\n";

    #[test]
    fn one_page_per_route_whatever_the_runbooks() {
        let first = runbook("first", &format!("{TRACK}{PAGE}"));
        let second = runbook(
            "second",
            &format!("  - id: note\n    incident: {{action: annotate, note: seen}}\n{PAGE}"),
        );
        let d = decision(&change("ALARM"), &[&first, &second]);
        assert_eq!(d.plan.outcome, Outcome::Opened);
        assert_eq!(d.pages.len(), 1);
        assert_eq!(d.pages[0].produced_by.as_deref(), Some("first/page"));
        let first_page = d
            .entries
            .iter()
            .find(|e| e.runbook == "first" && e.step == "page")
            .unwrap();
        assert_eq!(first_page.status, StepStatus::Ok);
        assert_eq!(first_page.summary, "page on route production (opened)");
        let skipped = d
            .entries
            .iter()
            .find(|e| e.runbook == "second" && e.step == "page")
            .unwrap();
        assert_eq!(skipped.status, StepStatus::Skipped);
        assert_eq!(
            skipped.summary,
            "route production was already paged for this event by first/page"
        );
        // The lifecycle event is rendered here too, after the page.
        let lifecycle = d.lifecycle.as_ref().unwrap();
        assert_eq!(lifecycle.detail_type, "Incident Opened");
        assert_eq!(lifecycle.detail["paged"], true);
        assert!(d.closed_lifecycle.is_none());
    }

    #[test]
    fn no_page_is_due_for_an_ok_with_nothing_open() {
        let r = runbook("r", &format!("{TRACK}{PAGE}"));
        let d = decision(&change("OK"), &[&r]);
        assert_eq!(d.plan.outcome, Outcome::Ignored);
        assert!(d.pages.is_empty() && d.lifecycle.is_none());
        assert_eq!(
            outcome(&d, "page"),
            (
                &StepStatus::Skipped,
                "no page due: the event's outcome is ignored"
            )
        );
        // No incident: the entries expire like the event's record.
        assert!(d
            .entries
            .iter()
            .all(|e| e.incident_id.is_none() && e.expires_at.is_some()));
    }

    #[test]
    fn steps_after_the_page_are_left_pending_in_order() {
        let history = "  - id: hist\n    alarm_history: {}\n";
        let snapshot = "  - id: snap\n    metric_snapshot: {}\n";
        let r = runbook("r", &format!("{snapshot}{TRACK}{PAGE}{history}"));
        let d = decision(&change("ALARM"), &[&r]);
        let pending: Vec<(&str, Option<&str>)> = d
            .pending
            .iter()
            .map(|p| (p.step.as_str(), p.deferred_because.as_deref()))
            .collect();
        // The snapshot was wanted before the page but did not run: it runs after, saying why.
        assert_eq!(
            pending,
            [
                ("snap", Some("did not run before the page")),
                ("hist", None)
            ]
        );
        let seqs: Vec<u32> = d.entries.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            [1, 2],
            "track and page decided before the page, in order"
        );
    }
}
