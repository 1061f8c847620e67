//! Running the matched runbooks of one alarm event, in three parts:
//!
//! 1. [`walk`] (pure): classify and guard steps decide each runbook's ownership and which
//!    steps run; the first `incident` step reached decides what happens to the incident.
//! 2. [`enrich`] (CloudWatch): enrichment steps that a `notify` follows run before the page,
//!    side by side, each under its deadline and without retries. A miss or an error never
//!    holds the page: the step runs again after it.
//! 3. [`decide`] (pure): the incident plan, the pages the `notify` steps render, the step
//!    outcomes so far, and the steps left for after the page. The engine writes all of it in
//!    one transaction, delivers the pages, then runs the rest ([`run_after_page`]).
//!
//! Conditions (`guard`, `classify`) see the alarm, its tags, the classification so far and
//! the incident outcome, never enrichment (it may not have run); templates see everything.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::intake::{AlarmEvent, AlarmState};
use crate::model::Transition;
use crate::model::{
    AlarmTracker, Notification, PendingStep, RunbookScope, StepEntry, StepPhase, StepStatus,
};
use crate::ownership::Ownership;
use crate::plan::{self, Plan};
use crate::render;
use crate::route::Route;
use crate::runbook::context::{enrichment_context, scoped_context, with_plan, ENRICHMENT_KEY};
use crate::runbook::spec::OnError;
use crate::runbook::step::common::SUMMARY_BYTES;
use crate::runbook::step::incident::{incident_outcome, IncidentVerb};
use crate::runbook::step::StepKind;
use crate::runbook::step::{
    self, check, classify, notify::notify_step, AlarmInputs, Enriched, EnrichmentSource,
};
use crate::runbook::template;
use crate::runbook::Runbook;
use crate::text;

/// What the walk decided for one step.
#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    Skipped(String),
    /// A classify or guard step: done, with its summary.
    Done(String),
    Incident(IncidentVerb),
    Notify,
    EnrichBeforePage,
    AfterPage,
}

#[derive(Debug)]
pub struct RunbookWalk<'a> {
    pub runbook: &'a Runbook,
    pub ownership: Ownership,
    /// One per step of the runbook, same order.
    pub steps: Vec<Planned>,
}

#[derive(Debug)]
pub struct Walk<'a> {
    pub runbooks: Vec<RunbookWalk<'a>>,
    /// The incident step that decides the incident: (runbook index, step index, verb).
    pub decider: Option<(usize, usize, IncidentVerb)>,
}

/// `page_due`: whether the event's transition deserves a page (from the transition table);
/// when it does not, no enrichment runs before the commit.
pub fn walk<'a>(
    selected: &[&'a Runbook],
    base: &Value,
    ownership: &Ownership,
    page_due: bool,
) -> Walk<'a> {
    let mut walks = Vec::with_capacity(selected.len());
    let mut decider = None;
    for (r, runbook) in selected.iter().enumerate() {
        let mut own = ownership.clone();
        let mut ctx = scoped_context(base, runbook.name(), &own);
        let mut planned = Vec::with_capacity(runbook.steps.len());
        let mut stopped_by: Option<String> = None;
        let notify_at = runbook
            .steps
            .iter()
            .rposition(|s| matches!(s.kind, StepKind::Notify(_)));
        for (i, step) in runbook.steps.iter().enumerate() {
            if let Some(guard) = &stopped_by {
                planned.push(Planned::Skipped(format!("skipped: `{guard}` did not hold")));
                continue;
            }
            let p = match &step.kind {
                StepKind::Classify(config) => {
                    let c = classify::classify(config, &step.patterns, &ctx, &own);
                    own = c.ownership;
                    ctx = scoped_context(&ctx, runbook.name(), &own);
                    Planned::Done(c.summary)
                }
                StepKind::Guard(_) => {
                    let holds = step.patterns.first().is_some_and(|p| p.matches(&ctx));
                    if holds {
                        Planned::Done("condition holds".into())
                    } else {
                        stopped_by = Some(step.id.clone());
                        let rest = runbook.steps.len() - i - 1;
                        Planned::Done(format!(
                            "condition does not hold: the {rest} remaining step(s) are skipped"
                        ))
                    }
                }
                StepKind::Check(config) => {
                    let (holds, summary) = check::check(config, &ctx);
                    if !holds {
                        stopped_by = Some(step.id.clone());
                        let rest = runbook.steps.len() - i - 1;
                        Planned::Done(format!(
                            "{summary}: the {rest} remaining step(s) are skipped"
                        ))
                    } else {
                        Planned::Done(summary)
                    }
                }
                StepKind::Incident(action) => {
                    if decider.is_none() && action.action != IncidentVerb::Annotate {
                        decider = Some((r, i, action.action));
                    }
                    Planned::Incident(action.action)
                }
                StepKind::Notify(_) => Planned::Notify,
                kind if kind.is_enrichment() && notify_at.is_some_and(|n| n > i) => {
                    Planned::EnrichBeforePage
                }
                _ => Planned::AfterPage,
            };
            planned.push(p);
        }
        // Enrichment waits before the commit only for a notify that will run and can page.
        for i in 0..planned.len() {
            let notify_ahead = planned[i + 1..].contains(&Planned::Notify);
            if planned[i] == Planned::EnrichBeforePage && !(page_due && notify_ahead) {
                planned[i] = Planned::AfterPage;
            }
        }
        walks.push(RunbookWalk {
            runbook,
            ownership: own,
            steps: planned,
        });
    }
    Walk {
        runbooks: walks,
        decider,
    }
}

/// The result of an enrichment step that ran before the page.
#[derive(Debug, Clone, PartialEq)]
pub enum EarlyEnrichment {
    Done {
        enriched: Enriched,
        duration_ms: u64,
    },
    /// Missed its deadline or failed: why, for the step that runs after the page.
    Deferred(String),
}

/// Results of enrichment that ran before the page, by (runbook, step id).
pub type EarlyResults = HashMap<(String, String), EarlyEnrichment>;

/// Runs every enrichment step the walk wants before the page and `done` lacks, side by
/// side, each under its own deadline and without retries.
pub async fn enrich_before_page<M: EnrichmentSource>(
    metrics: &M,
    walk: &Walk<'_>,
    inputs: &AlarmInputs,
    done: &mut EarlyResults,
) {
    let mut wanted = Vec::new();
    for w in &walk.runbooks {
        for (step, planned) in w.runbook.steps.iter().zip(&w.steps) {
            let key = (w.runbook.name().to_string(), step.id.clone());
            if *planned == Planned::EnrichBeforePage && !done.contains_key(&key) {
                wanted.push((key, step));
            }
        }
    }
    let runs = wanted.into_iter().map(|(key, step)| async move {
        let deadline = Duration::from_millis(step.kind.deadline_ms().unwrap_or(1500));
        let started = Instant::now();
        let result =
            match tokio::time::timeout(deadline, step::enrich(metrics, &step.kind, inputs)).await {
                Ok(Ok(enriched)) => EarlyEnrichment::Done {
                    enriched,
                    duration_ms: elapsed_ms(started),
                },
                Ok(Err(e)) => EarlyEnrichment::Deferred(format!(
                    "failed before the page ({})",
                    text::for_log(&e.to_string())
                )),
                Err(_) => EarlyEnrichment::Deferred(format!(
                    "missed its {} ms deadline before the page",
                    deadline.as_millis()
                )),
            };
        (key, result)
    });
    for (key, result) in futures_util::future::join_all(runs).await {
        done.insert(key, result);
    }
}

pub fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

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
}

/// Inputs of [`decide`] that do not come from the walk.
pub struct DecideInput<'a> {
    pub tracker: Option<&'a AlarmTracker>,
    pub event: &'a AlarmEvent,
    pub ownership: &'a Ownership,
    pub base_context: &'a Value,
    pub now: DateTime<Utc>,
    /// Expiry of step entries when the event concerns no incident.
    pub unowned_expiry: DateTime<Utc>,
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
        // (step id, seq) of a failed step whose on_error is abort.
        let mut aborted_by: Option<(String, u32)> = None;
        for (i, planned) in w.steps.iter().enumerate() {
            let step = &runbook.steps[i];
            let this_seq = seq;
            seq += 1;
            // `abort` stops the runbook's other steps, never a page.
            if let (Some((failed, _)), false) = (&aborted_by, *planned == Planned::Notify) {
                entries.push(entry(
                    this_seq,
                    runbook,
                    i,
                    StepStatus::Skipped,
                    format!("skipped: step `{failed}` failed and aborts the runbook"),
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
                        &plan,
                        input.event,
                        &mut paged_routes,
                        &mut pages,
                        produced_by,
                    );
                    (status, summary, None, 0)
                }
            };
            if status == StepStatus::Failed
                && step.on_error == OnError::Abort
                && aborted_by.is_none()
            {
                aborted_by = Some((step.id.clone(), this_seq));
            }
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
        if let Some((failed, failed_seq)) = &aborted_by {
            // Steps of this runbook after the failed one, meant for after the page, do not
            // run either; those before it still do.
            let aborted = |p: &PendingStep| p.runbook == runbook.name() && p.seq > *failed_seq;
            for p in pending.iter().filter(|p| aborted(p)) {
                entries.push(entry(
                    p.seq,
                    runbook,
                    step_index(runbook, &p.step),
                    StepStatus::Skipped,
                    format!("skipped: step `{failed}` failed and aborts the runbook"),
                    None,
                    0,
                ));
            }
            pending.retain(|p| !aborted(p));
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
    Decision {
        context: base,
        plan,
        pages,
        entries,
        pending,
        scopes,
    }
}

fn step_index(runbook: &Runbook, id: &str) -> usize {
    runbook.steps.iter().position(|s| s.id == id).unwrap_or(0)
}

/// Backoff between retries of an after-page step: 100 ms, 200 ms, 400 ms, ... at most 2 s.
pub fn retry_delay(attempt: u32) -> Duration {
    Duration::from_millis((100u64 << attempt.min(5)).min(2000))
}
