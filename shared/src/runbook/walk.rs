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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ownership::from_tags;
    use crate::runbook::context::sample_context;
    use crate::runbook::load_str;
    use crate::severity::Severity;
    use std::path::Path;

    /// A runbook of the given steps (YAML list items), triggered by CloudWatch alarms.
    pub(crate) fn runbook(name: &str, steps: &str) -> Runbook {
        let text = format!(
            "name: {name}\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\nsteps:\n{steps}"
        );
        load_str(Path::new("walk.yaml"), &text).unwrap()
    }

    const SNAPSHOT: &str = "  - id: snap\n    metric_snapshot: {}\n";
    const TRACK: &str = "  - id: track\n    incident: {action: track}\n";
    const PAGE: &str = "  - id: page\n    notify: {}\n";
    const HISTORY: &str = "  - id: hist\n    alarm_history: {}\n";

    fn done(summary: &str) -> Planned {
        Planned::Done(summary.to_string())
    }

    /// Table: each case is a runbook's steps, whether a page is due, and what the walk plans
    /// for each step.
    #[test]
    fn what_runs_before_and_after_the_page() {
        let guard_fails = "  - id: only-ok\n    guard: {when: {alarm: {state: [OK]}}}\n";
        let guard_holds = "  - id: only-alarm\n    guard: {when: {alarm: {state: [ALARM]}}}\n";
        let cases: Vec<(String, bool, Vec<Planned>)> = vec![
            // Enrichment a notify follows waits for the page when one is due...
            (
                format!("{SNAPSHOT}{TRACK}{PAGE}{HISTORY}"),
                true,
                vec![
                    Planned::EnrichBeforePage,
                    Planned::Incident(IncidentVerb::Track),
                    Planned::Notify,
                    Planned::AfterPage,
                ],
            ),
            // ...and not when none is: everything after the commit.
            (
                format!("{SNAPSHOT}{TRACK}{PAGE}"),
                false,
                vec![
                    Planned::AfterPage,
                    Planned::Incident(IncidentVerb::Track),
                    Planned::Notify,
                ],
            ),
            // A guard that does not hold skips the rest, naming itself.
            (
                format!("{guard_fails}{TRACK}{PAGE}"),
                true,
                vec![
                    done("condition does not hold: the 2 remaining step(s) are skipped"),
                    Planned::Skipped("skipped: `only-ok` did not hold".into()),
                    Planned::Skipped("skipped: `only-ok` did not hold".into()),
                ],
            ),
            (
                format!("{guard_holds}{TRACK}{PAGE}"),
                true,
                vec![
                    done("condition holds"),
                    Planned::Incident(IncidentVerb::Track),
                    Planned::Notify,
                ],
            ),
        ];
        for (steps, page_due, expected) in cases {
            let r = runbook("r", &steps);
            let w = walk(&[&r], &sample_context(), &from_tags(&[]), page_due);
            assert_eq!(
                w.runbooks[0].steps, expected,
                "{steps} (page due: {page_due})"
            );
        }
    }

    #[test]
    fn the_first_incident_step_reached_decides_and_annotate_never_does() {
        let annotate = "  - id: note\n    incident: {action: annotate, note: seen}\n";
        let open = "  - id: open\n    incident: {action: open}\n";
        let first = runbook("first", &format!("{annotate}{PAGE}"));
        let second = runbook("second", &format!("{TRACK}{open}"));
        let w = walk(&[&first, &second], &sample_context(), &from_tags(&[]), true);
        // Runbook 1 (second), step 0 (track); `open` after it does not decide.
        assert_eq!(w.decider, Some((1, 0, IncidentVerb::Track)));
        let only_annotate = walk(&[&first], &sample_context(), &from_tags(&[]), true);
        assert_eq!(only_annotate.decider, None);
    }

    #[test]
    fn classify_sets_the_runbooks_ownership_for_the_steps_after_it() {
        let classify = "  - id: sev\n    classify:\n      rules:\n        - when: {alarm: {state: [ALARM]}}\n          severity: low\n";
        let r = runbook("r", &format!("{classify}{TRACK}"));
        let w = walk(&[&r], &sample_context(), &from_tags(&[]), true);
        assert_eq!(w.runbooks[0].ownership.severity, Severity::Low);
        assert!(
            matches!(&w.runbooks[0].steps[0], Planned::Done(s) if s.contains("rule 1 matched"))
        );
    }
}
