//! `incident`: track (the transition table), open, resolve or annotate the incident; the
//! first such step reached decides the incident for every runbook of the event.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::model::StepStatus;
use crate::plan::Plan;
use crate::text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentVerb {
    /// Apply the alarm transition table (open, update, resolve, note; see docs/CONTRACTS.md).
    Track,
    Open,
    Annotate,
    Resolve,
}

impl IncidentVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentVerb::Track => "track",
            IncidentVerb::Open => "open",
            IncidentVerb::Annotate => "annotate",
            IncidentVerb::Resolve => "resolve",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentAction {
    pub action: IncidentVerb,
    pub note: Option<Spanned<String>>,
}

/// The incident step that decides the incident for the event: `(runbook, step id, verb)`.
pub type Decider<'a> = (&'a str, &'a str, IncidentVerb);

/// The outcome of an incident step: `decides` when it is the deciding step; otherwise
/// `decider` names the one that is (none: only `annotate` steps ran).
pub(crate) fn incident_outcome(
    decides: bool,
    decider: Option<Decider<'_>>,
    verb: IncidentVerb,
    plan: &Plan,
    note: Option<Result<String, String>>,
) -> (StepStatus, String, Option<Value>, u64) {
    let note_text = match note {
        Some(Ok(n)) => Some(text::bounded(&text::single_line(&n), 512)),
        // The note is the point of `annotate`; elsewhere the incident change happened anyway.
        Some(Err(e)) if verb == IncidentVerb::Annotate => {
            return (StepStatus::Failed, format!("note: {e}"), None, 0)
        }
        Some(Err(e)) => Some(format!("(could not be rendered: {e})")),
        None => None,
    };
    let with_note = |s: String| match &note_text {
        Some(n) => format!("{s}; note: {n}"),
        None => s,
    };
    if decides {
        let what = match (&plan.incident_id, plan.timeline.as_ref()) {
            (Some(id), Some(entry)) => format!("{} {id}: {}", plan.outcome.as_str(), entry.summary),
            (Some(id), None) => format!("{} {id}", plan.outcome.as_str()),
            (None, _) => format!(
                "{}: no incident concerned (no open incident for this state)",
                plan.outcome.as_str()
            ),
        };
        return (StepStatus::Ok, with_note(what), None, 0);
    }
    if verb == IncidentVerb::Annotate {
        return match &plan.incident_id {
            Some(id) => (
                StepStatus::Ok,
                with_note(format!("annotated {id}")),
                None,
                0,
            ),
            None => (
                StepStatus::Skipped,
                "no incident to annotate".into(),
                None,
                0,
            ),
        };
    }
    let (runbook, step, dverb) = decider.expect("a non-annotate step implies a decider");
    (
        StepStatus::Skipped,
        format!(
            "the incident is decided by runbook `{runbook}` step `{step}` ({})",
            dverb.as_str()
        ),
        None,
        0,
    )
}
