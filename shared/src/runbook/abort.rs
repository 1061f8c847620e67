//! `on_error: abort` (the default), written once: a failed step skips the later steps of its
//! runbook, before or after the page, but never a page (the decision lets a `notify` step
//! run whatever failed before it, so a failed step cannot silence an incident).

use crate::model::{StepEntry, StepStatus};
use crate::runbook::spec::OnError;
use crate::runbook::Runbook;

/// The step whose failure skips the step at `seq` of `runbook`: the first failed step before
/// it in that runbook whose `on_error` is `abort`, among the outcomes recorded so far.
pub fn aborted_by<'a>(runbook: &Runbook, outcomes: &'a [StepEntry], seq: u32) -> Option<&'a str> {
    outcomes
        .iter()
        .filter(|e| e.runbook == runbook.name() && e.seq < seq && e.status == StepStatus::Failed)
        .filter(|e| {
            runbook
                .step(&e.step)
                .is_some_and(|s| s.on_error == OnError::Abort)
        })
        .min_by_key(|e| e.seq)
        .map(|e| e.step.as_str())
}

/// The summary of a step skipped because `failed` failed.
pub fn skipped(failed: &str) -> String {
    format!("skipped: step `{failed}` failed and aborts the runbook")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StepPhase;
    use crate::runbook::load_str;
    use chrono::Utc;
    use std::path::Path;

    fn runbook() -> Runbook {
        load_str(
            Path::new("abort.yaml"),
            "name: r\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\nsteps:\n  - id: a\n    metric_snapshot: {}\n  - id: b\n    alarm_history: {}\n    on_error: continue\n  - id: c\n    incident: {action: track}\n  - id: page\n    notify: {}\n",
        )
        .unwrap()
    }

    fn outcome(runbook: &str, step: &str, seq: u32, status: StepStatus) -> StepEntry {
        StepEntry {
            incident_id: None,
            event_id: "e".into(),
            seq,
            runbook: runbook.into(),
            step: step.into(),
            kind: "k".into(),
            status,
            phase: StepPhase::BeforePage,
            at: Utc::now(),
            duration_ms: 0,
            attempts: 1,
            summary: String::new(),
            detail: None,
            expires_at: None,
        }
    }

    #[test]
    fn the_first_failure_of_an_aborting_step_before_skips_the_rest_of_its_runbook() {
        let r = runbook();
        let failed_a = [outcome("r", "a", 0, StepStatus::Failed)];
        // Table: (outcomes so far, seq of the step in question, the failed step named).
        let cases: [(&[StepEntry], u32, Option<&str>); 7] = [
            (&failed_a, 2, Some("a")),
            (&failed_a, 0, None), // not before itself
            // `on_error: continue` does not abort.
            (&[outcome("r", "b", 1, StepStatus::Failed)], 2, None),
            // Ok and skipped steps do not abort.
            (&[outcome("r", "a", 0, StepStatus::Ok)], 2, None),
            (&[outcome("r", "a", 0, StepStatus::Skipped)], 2, None),
            // Another runbook's failure is its own business.
            (&[outcome("other", "a", 0, StepStatus::Failed)], 2, None),
            // Two failures: the first is named, whatever the order recorded.
            (
                &[
                    outcome("r", "c", 2, StepStatus::Failed),
                    outcome("r", "a", 0, StepStatus::Failed),
                ],
                3,
                Some("a"),
            ),
        ];
        for (outcomes, seq, expected) in cases {
            assert_eq!(
                aborted_by(&r, outcomes, seq),
                expected,
                "{outcomes:?} at {seq}"
            );
        }
        assert_eq!(
            skipped("a"),
            "skipped: step `a` failed and aborts the runbook"
        );
    }
}
