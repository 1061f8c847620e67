//! The walk (pure): classify, guard and check steps decide each runbook's ownership and
//! which steps run; the first `incident` step reached decides the incident. Conditions see
//! the event, its tags, the classification so far and the incident outcome, never
//! enrichment (it may not have run).

use serde_json::Value;

use crate::ownership::Ownership;
use crate::runbook::context::scoped_context;
use crate::runbook::step::incident::IncidentVerb;
use crate::runbook::step::StepKind;
use crate::runbook::step::{check, classify};
use crate::runbook::Runbook;

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
