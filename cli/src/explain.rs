//! `klaxon runbook test [PATH] --event FILE…`: for each event file (a public sample, a
//! captured event, one a user wrote), whether Klaxon's intake accepts it, and for each
//! runbook whether its trigger matches: which clause matched, or the first field that failed
//! and what the event holds there. Then the runbooks that would run.
//!
//! Event values are printed as JSON (control characters escaped), so a hostile event cannot
//! drive the terminal.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use klaxon::intake::{self, Intake};
use klaxon::pattern::{Clause, Explanation, Found, Miss};
use klaxon::runbook::{Catalog, Runbook};
use serde_json::Value;

/// Other clauses of a trigger shown under a miss (the closest is on the runbook's line).
const OTHER_MISSES_SHOWN: usize = 4;

pub fn run(path: &Path, events: &[std::path::PathBuf]) -> ExitCode {
    let runbooks = match crate::runbook::load_or_report(path, "no event was explained") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let catalog = Catalog::new(runbooks);
    let mut unreadable = false;
    let mut unmatched = false;
    for file in events {
        match explain_file(&catalog, file) {
            Ok((text, matched)) => {
                print!("{text}");
                unmatched |= !matched;
            }
            Err(reason) => {
                eprintln!("{}: {reason}", file.display());
                unreadable = true;
            }
        }
    }
    if unreadable {
        ExitCode::from(2)
    } else if unmatched {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// The report for one file, and whether any runbook's trigger matched.
fn explain_file(catalog: &Catalog, file: &Path) -> Result<(String, bool), String> {
    let raw = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let value: Value = serde_json::from_slice(&raw).map_err(|e| format!("not valid JSON: {e}"))?;
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", file.display(), describe(&value));
    let _ = writeln!(out, "  intake: {}", intake_verdict(&raw));
    let mut candidates: Vec<&Runbook> = Vec::new();
    for runbook in catalog.runbooks() {
        let name = runbook.name();
        let at = runbook.file.display();
        match runbook.trigger.explain(&value) {
            Explanation::Matched { clause, of } => {
                candidates.push(runbook);
                let which = if of > 1 {
                    format!("clause {} of {of}: ", clause.number)
                } else {
                    String::new()
                };
                let fallback = if runbook.spec.fallback {
                    " [fallback]"
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  match     {name} ({at}){fallback}: {which}{}",
                    clause_text(&clause)
                );
                if runbook.when.is_some() {
                    let _ = writeln!(
                        out,
                        "            and then its `when:` decides, on the tags and context (klaxon replay shows it)"
                    );
                }
            }
            Explanation::NotMatched { misses, of } => {
                let Some((closest, others)) = misses.split_first() else {
                    continue;
                };
                // Clauses failing on the same field for the same reason are said once.
                let (same, different): (Vec<&Miss>, Vec<&Miss>) = others
                    .iter()
                    .partition(|m| m.path == closest.path && m.wants == closest.wants);
                let which = match (of, same.len()) {
                    (1, _) => String::new(),
                    (_, 0) => format!("clause {} of {of}: ", closest.clause.number),
                    (_, n) if n + 1 == of => format!("all {of} clauses: "),
                    (_, n) => format!("clause {} and {n} more of {of}: ", closest.clause.number),
                };
                let _ = writeln!(
                    out,
                    "  no match  {name} ({at}): {which}{}",
                    miss_text(closest)
                );
                for other in different.iter().take(OTHER_MISSES_SHOWN) {
                    let _ = writeln!(
                        out,
                        "            clause {}: {}",
                        other.clause.number,
                        miss_text(other)
                    );
                }
                if different.len() > OTHER_MISSES_SHOWN {
                    let _ = writeln!(
                        out,
                        "            and {} more clause(s), none closer",
                        different.len() - OTHER_MISSES_SHOWN
                    );
                }
            }
            Explanation::NotAnObject => {
                let _ = writeln!(
                    out,
                    "  no match  {name} ({at}): the event is not a JSON object"
                );
            }
        }
    }
    let matched = !candidates.is_empty();
    // Catalog's rule: fallbacks run only when no other runbook matched.
    let others = candidates.iter().any(|r| !r.spec.fallback);
    let runs: Vec<String> = candidates
        .iter()
        .filter(|r| !others || !r.spec.fallback)
        .map(|r| match r.when {
            Some(_) => format!("{} (if its `when:` holds)", r.name()),
            None => r.name().to_string(),
        })
        .collect();
    let line = if runs.is_empty() {
        "none (no trigger matches)".to_string()
    } else {
        format!("in run order, {}", runs.join(", "))
    };
    let _ = writeln!(out, "  runs: {line}");
    Ok((out, matched))
}

/// `source "detail-type"`, or what the JSON is when it is not an event.
fn describe(value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return "not a JSON object".to_string();
    };
    match (object.get("source"), object.get("detail-type")) {
        (Some(source), Some(detail_type)) => format!("{source} {detail_type}"),
        _ if klaxon::action::is_action(value) => {
            "a responder action (`klaxon_action`), not an event: runbooks never see it; `klaxon replay` applies it".to_string()
        }
        _ => "no `source` and `detail-type`: not an EventBridge event".to_string(),
    }
}

/// What the handler would do with the event before any runbook: its reason when it is
/// rejected (another delivery path, a malformed event) or ignored.
fn intake_verdict(raw: &[u8]) -> String {
    match intake::parse_bytes(raw) {
        Ok(Intake::Change(_)) => "accepted".to_string(),
        Ok(Intake::Escalation(findings)) => format!(
            "accepted (a Security Hub custom action with {} finding(s))",
            findings.len()
        ),
        Ok(Intake::Ignored { reason, .. }) => format!("ignored: {reason}"),
        Err(invalid) => format!("rejected: {}", invalid.reason),
    }
}

fn clause_text(clause: &Clause) -> String {
    clause
        .fields
        .iter()
        .map(|(path, wants)| format!("{path} {wants}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn miss_text(miss: &Miss) -> String {
    let found = match &miss.found {
        Found::Absent => "is absent".to_string(),
        Found::Values { shown, total } if *total == 1 => format!("is {}", shown[0]),
        Found::Values { shown, total } => {
            let more = if *total > shown.len() {
                format!(", … {} in all", total)
            } else {
                String::new()
            };
            format!("holds {}{more}", shown.join(", "))
        }
    };
    let apart = if miss.only_apart {
        " (it matches in another array element than the fields before it: EventBridge never combines elements)"
    } else {
        ""
    };
    format!(
        "{} {found}; the trigger wants {}{apart}",
        miss.path, miss.wants
    )
}
