//! Runbooks as code: YAML files in `runbooks/`, loaded and validated once (per container, or
//! by `klaxon runbook check`). Every mistake is reported at load time with file:line:column,
//! never at run time: unknown keys, unknown step kinds, invalid event patterns, invalid
//! templates. The format is documented in docs/RUNBOOKS.md.

pub mod spec;
pub mod steps;

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::pattern::Pattern;
pub use spec::{OnError, RunbookSpec, StepKind, StepSpec};

/// A problem in a runbook file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// A validated runbook, ready to run: its patterns compiled and templates parsed.
#[derive(Debug)]
pub struct Runbook {
    pub file: PathBuf,
    pub spec: RunbookSpec,
    pub trigger: Pattern,
    pub steps: Vec<Step>,
}

#[derive(Debug)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    pub on_error: OnError,
    pub retries: u32,
    /// Compiled conditions (guard, classify rules), in the order of the spec.
    pub patterns: Vec<Pattern>,
}

impl Runbook {
    pub fn name(&self) -> &str {
        &self.spec.name.value
    }
}

/// Loads every `*.yaml`/`*.yml` file under `path` (or the one file `path`), in name order.
/// All errors of all files are returned together.
pub fn load_path(path: &Path) -> Result<Vec<Runbook>, Vec<LoadError>> {
    let files = runbook_files(path).map_err(|e| {
        vec![LoadError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: e,
        }]
    })?;
    let mut runbooks = Vec::new();
    let mut errors = Vec::new();
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => match load_str(&file, &text) {
                Ok(runbook) => runbooks.push(runbook),
                Err(mut e) => errors.append(&mut e),
            },
            Err(e) => errors.push(LoadError {
                file: file.clone(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }
    let mut names = HashSet::new();
    for r in &runbooks {
        if !names.insert(r.name().to_string()) {
            errors.push(at(
                &r.file,
                &r.spec.name,
                format!(
                    "name: `{}` is used by another runbook; names must be unique",
                    r.name()
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(runbooks)
    } else {
        Err(errors)
    }
}

fn runbook_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

fn at<T>(file: &Path, spanned: &Spanned<T>, message: String) -> LoadError {
    LoadError {
        file: file.to_path_buf(),
        line: spanned.referenced.line(),
        column: spanned.referenced.column(),
        message,
    }
}

/// Parses and validates one runbook.
pub fn load_str(file: &Path, text: &str) -> Result<Runbook, Vec<LoadError>> {
    let spec: RunbookSpec =
        serde_saphyr::from_str(text).map_err(|e| vec![syntax_error(file, text, &e)])?;
    let mut errors = Vec::new();

    let name = &spec.name.value;
    if !is_identifier(name) {
        errors.push(at(
            file,
            &spec.name,
            format!(
                "name: `{}` must be 1-64 characters of a-z, 0-9 and '-'",
                crate::text::for_log(name)
            ),
        ));
    }
    let trigger = match Pattern::from_value(&spec.trigger.value) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.push(at(file, &spec.trigger, format!("trigger: {e}")));
            None
        }
    };

    let sample = &steps::sample_context();
    let mut steps = Vec::new();
    let mut ids = HashSet::new();
    for step in &spec.steps {
        let id = &step.id.value;
        if !is_identifier(id) {
            errors.push(at(
                file,
                &step.id,
                format!(
                    "steps.id: `{}` must be 1-64 characters of a-z, 0-9 and '-'",
                    crate::text::for_log(id)
                ),
            ));
        }
        if !ids.insert(id.clone()) {
            errors.push(at(
                file,
                &step.id,
                format!("steps.id: `{id}` is used twice in this runbook"),
            ));
        }
        if step.retries > spec::MAX_RETRIES {
            errors.push(at(
                file,
                &step.id,
                format!("steps.{id}.retries: at most {} retries", spec::MAX_RETRIES),
            ));
        }
        let kind = match step.kind() {
            Ok(kind) => kind,
            Err(message) => {
                errors.push(at(file, &step.id, format!("steps.{id}: {message}")));
                continue;
            }
        };
        let mut patterns = Vec::new();
        for (key, condition) in kind.conditions() {
            match Pattern::from_value(&condition.value) {
                Ok(p) => patterns.push(p),
                Err(e) => errors.push(at(file, condition, format!("steps.{id}.{key}: {e}"))),
            }
        }
        for (key, template) in kind.templates() {
            // Rendering against a sample context in strict mode parses the template too, so
            // a syntax error and a misspelt variable both fail here, not in a page.
            if let Err(e) = steps::render(&template.value, sample) {
                errors.push(at(
                    file,
                    template,
                    format!("steps.{id}.{key}: invalid template: {e}"),
                ));
            }
        }
        steps.push(Step {
            id: id.clone(),
            kind: kind.clone(),
            on_error: step.on_error,
            retries: step.retries,
            patterns,
        });
    }
    for test in &spec.tests {
        let event = file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&test.event.value);
        match std::fs::read_to_string(&event) {
            Ok(text) => {
                if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                    errors.push(at(
                        file,
                        &test.event,
                        format!("tests.event: {} is not valid JSON", event.display()),
                    ));
                }
            }
            Err(e) => errors.push(at(
                file,
                &test.event,
                format!("tests.event: cannot read {}: {e}", event.display()),
            )),
        }
        for expected in test.expect.steps.iter().flatten() {
            if !spec.steps.iter().any(|s| &s.id.value == expected) {
                errors.push(at(
                    file,
                    &test.event,
                    format!("tests.expect.steps: `{expected}` is not a step of this runbook"),
                ));
            }
        }
    }

    match (errors.is_empty(), trigger) {
        (true, Some(trigger)) => Ok(Runbook {
            file: file.to_path_buf(),
            spec,
            trigger,
            steps,
        }),
        _ => Err(errors),
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn syntax_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> LoadError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    // serde-saphyr's Display adds a source snippet; the first line holds the message.
    let rendered = e.to_string();
    let message = rendered
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
        _ => message,
    };
    // The parser's hint about its own options means nothing to a runbook author.
    let message = message
        .split(", set DuplicateKeyPolicy")
        .next()
        .unwrap_or_default()
        .to_string();
    // Name the key when the parser's message does not (type errors such as "invalid u32").
    let key = key_at(text, line, column);
    let message = match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("{key}: {message}"),
        _ => message,
    };
    LoadError {
        file: file.to_path_buf(),
        line,
        column,
        message,
    }
}

/// The mapping key written on `line` before `column`, if any (`  - retries: x` → `retries`).
fn key_at(text: &str, line: u64, column: u64) -> Option<String> {
    let source = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let before: String = source
        .chars()
        .take(usize::try_from(column).ok()?.saturating_sub(1))
        .collect();
    let (key, _) = before.rsplit_once(':')?;
    let key = key.trim().trim_start_matches("- ").trim().trim_matches('"');
    (!key.is_empty() && !key.contains(' ')).then(|| key.to_string())
}

/// The loaded runbooks, in run order, with the selection rule for an event.
pub struct Catalog {
    runbooks: Vec<Runbook>,
}

impl Catalog {
    /// Sorts into run order: ascending `order`, then name.
    pub fn new(mut runbooks: Vec<Runbook>) -> Self {
        runbooks.sort_by(|a, b| {
            a.spec
                .order
                .cmp(&b.spec.order)
                .then_with(|| a.name().cmp(b.name()))
        });
        Catalog { runbooks }
    }

    pub fn runbooks(&self) -> &[Runbook] {
        &self.runbooks
    }

    /// Every runbook whose trigger matches, in run order; the fallbacks only when no other
    /// runbook matched. The event is flattened once for all triggers.
    pub fn select(&self, event: &serde_json::Value) -> Vec<&Runbook> {
        let flat = crate::pattern::FlatEvent::new(event);
        let matched: Vec<&Runbook> = self
            .runbooks
            .iter()
            .filter(|r| r.trigger.matches_flat(&flat))
            .collect();
        if matched.iter().any(|r| !r.spec.fallback) {
            matched.into_iter().filter(|r| !r.spec.fallback).collect()
        } else {
            matched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn runbook(name: &str, order: i32, fallback: bool, source: &str) -> Runbook {
        let text = format!(
            "name: {name}\ndescription: d\nteam: t\norder: {order}\nfallback: {fallback}\ntrigger:\n  source: [{source}]\n"
        );
        load_str(Path::new("mem.yaml"), &text).unwrap()
    }

    #[test]
    fn all_matching_run_in_order_and_fallback_only_alone() {
        let catalog = Catalog::new(vec![
            runbook("zeta", 10, false, "aws.cloudwatch"),
            runbook("default", 1000, true, "aws.cloudwatch"),
            runbook("alpha", 10, false, "aws.cloudwatch"),
            runbook("first", 1, false, "aws.cloudwatch"),
            runbook("other", 1, false, "aws.guardduty"),
            runbook("catch-all", 2000, true, "aws.guardduty"),
        ]);
        let names = |e: serde_json::Value| {
            catalog
                .select(&e)
                .iter()
                .map(|r| r.name().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(json!({"source": "aws.cloudwatch"})),
            ["first", "alpha", "zeta"]
        );
        assert_eq!(names(json!({"source": "aws.guardduty"})), ["other"]);
        assert!(names(json!({"source": "aws.health"})).is_empty());
        let only_fallbacks = Catalog::new(vec![runbook("default", 1000, true, "aws.cloudwatch")]);
        assert_eq!(
            only_fallbacks
                .select(&json!({"source": "aws.cloudwatch"}))
                .len(),
            1
        );
    }
}
