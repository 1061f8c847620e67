//! Runbooks as code: YAML files in `runbooks/`, loaded and validated once (per container, or
//! by `klaxon runbook check`). Every mistake is reported at load time with file:line:column,
//! never at run time: unknown keys, unknown step kinds, invalid event patterns, invalid
//! templates. The format is documented in docs/RUNBOOKS.md.

pub mod run;
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
    /// The compiled `when:` condition over the step context.
    pub when: Option<Pattern>,
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

    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// At most this many steps per runbook: a runbook is a checklist, not a program.
pub const MAX_STEPS: usize = 25;

/// Whether loading also checks the `tests:` blocks' event files (not in a Lambda
/// container, which has the runbooks but not the test events).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    WithTests,
    Runtime,
}

/// Loads every `*.yaml`/`*.yml` file under `path` (or the one file `path`), in name order.
/// All errors of all files are returned together.
pub fn load_path(path: &Path) -> Result<Vec<Runbook>, Vec<LoadError>> {
    load_path_with(path, LoadMode::WithTests)
}

pub fn load_path_with(path: &Path, mode: LoadMode) -> Result<Vec<Runbook>, Vec<LoadError>> {
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
            Ok(text) => match load_str_with(&file, &text, mode) {
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
    check_unique_names(&runbooks, &mut errors);
    if errors.is_empty() {
        Ok(runbooks)
    } else {
        Err(errors)
    }
}

fn check_unique_names(runbooks: &[Runbook], errors: &mut Vec<LoadError>) {
    let mut names = HashSet::new();
    for r in runbooks {
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

/// Parses and validates one runbook, including its tests' event files.
pub fn load_str(file: &Path, text: &str) -> Result<Runbook, Vec<LoadError>> {
    load_str_with(file, text, LoadMode::WithTests)
}

/// Parses and validates one runbook.
pub fn load_str_with(file: &Path, text: &str, mode: LoadMode) -> Result<Runbook, Vec<LoadError>> {
    let spec: RunbookSpec =
        serde_saphyr::from_str(text).map_err(|e| vec![syntax_error(file, text, &e)])?;
    validate(file, spec, mode)
}

/// Loads a runbook from the JSON form build.rs made of its YAML (the YAML parser costs
/// ~0.5 ms per file, which every cold start would pay). Errors carry no line and column:
/// callers fall back to the YAML for those.
pub fn load_json(file: &Path, json: &str) -> Result<Runbook, Vec<LoadError>> {
    let spec: RunbookSpec = serde_json::from_str(json).map_err(|e| {
        vec![LoadError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: e.to_string(),
        }]
    })?;
    validate(file, spec, LoadMode::Runtime)
}

fn validate(file: &Path, spec: RunbookSpec, mode: LoadMode) -> Result<Runbook, Vec<LoadError>> {
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

    let when = match &spec.when {
        Some(condition) => {
            if mentions_key(&condition.value, run::ENRICHMENT_KEY) {
                errors.push(at(
                    file,
                    condition,
                    "when: cannot use `enrichment` (it runs after the runbook is chosen)".into(),
                ));
            }
            match Pattern::from_value(&condition.value) {
                Ok(p) => Some(p),
                Err(e) => {
                    errors.push(at(file, condition, format!("when: {e}")));
                    None
                }
            }
        }
        None => None,
    };
    // Templates are checked twice: with every enrichment result present, and with none
    // (enrichment can miss its deadline or fail, and the page must still render).
    let enrichment_ids: Vec<(String, &'static str)> = spec
        .steps
        .iter()
        .filter_map(|s| {
            let kind = s.kind().ok().filter(StepKind::is_enrichment)?;
            Some((s.id.value.clone(), kind.name()))
        })
        .collect();
    let (with_enrichment, without_enrichment) = steps::sample_contexts(&enrichment_ids);
    if spec.steps.len() > MAX_STEPS {
        errors.push(at(
            file,
            &spec.name,
            format!(
                "steps: {} steps; a runbook has at most {MAX_STEPS}",
                spec.steps.len()
            ),
        ));
    }
    let mut steps = Vec::new();
    let mut ids = HashSet::new();
    let mut seen_incident_step = false;
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
        if let Some(problem) = out_of_bounds(&kind) {
            errors.push(at(file, &step.id, format!("steps.{id}.{problem}")));
        }
        if let StepKind::Check(check) = &kind {
            if let Err(problem) = check.validate() {
                errors.push(at(file, &step.id, format!("steps.{id}.check: {problem}")));
            }
        }
        match &kind {
            StepKind::Incident(action) => {
                seen_incident_step = true;
                if action.action == spec::IncidentVerb::Annotate && action.note.is_none() {
                    errors.push(at(
                        file,
                        &step.id,
                        format!("steps.{id}.incident.note: `annotate` needs a `note` template"),
                    ));
                }
            }
            StepKind::Notify(_) if !seen_incident_step => errors.push(at(
                file,
                &step.id,
                format!(
                    "steps.{id}.notify: a page belongs to an incident; put an `incident` step before it in this runbook"
                ),
            )),
            _ => {}
        }
        let mut patterns = Vec::new();
        for (key, condition) in kind.conditions() {
            if mentions_key(&condition.value, run::ENRICHMENT_KEY) {
                errors.push(at(
                    file,
                    condition,
                    format!(
                        "steps.{id}.{key}: conditions cannot use `enrichment` (it may not have run yet); use it in templates"
                    ),
                ));
            }
            match Pattern::from_value(&condition.value) {
                Ok(p) => patterns.push(p),
                Err(e) => errors.push(at(file, condition, format!("steps.{id}.{key}: {e}"))),
            }
        }
        for (key, template) in kind.templates() {
            // Rendering against a sample context in strict mode parses the template too, so
            // a syntax error and a misspelt variable both fail here, not in a page.
            if let Err(e) = steps::render(&template.value, &with_enrichment) {
                errors.push(at(
                    file,
                    template,
                    format!("steps.{id}.{key}: invalid template: {e}"),
                ));
            } else if let Err(e) = (!enrichment_ids.is_empty())
                .then(|| steps::render(&template.value, &without_enrichment))
                .transpose()
            {
                errors.push(at(
                    file,
                    template,
                    format!(
                        "steps.{id}.{key}: template fails when enrichment is missing ({e}); enrichment can miss its deadline or fail, so test it first: {{% if enrichment.<step> %}}...{{% endif %}}"
                    ),
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
    for test in spec.tests.iter().filter(|_| mode == LoadMode::WithTests) {
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
            when,
            steps,
        }),
        _ => Err(errors),
    }
}

/// Limits that keep a step within a Lambda invocation and CloudWatch's own limits.
fn out_of_bounds(kind: &StepKind) -> Option<String> {
    let check = |key: &str, value: u64, min: u64, max: u64, why: &str| {
        (value < min || value > max).then(|| {
            format!(
                "{}.{key}: {value} is outside {min}-{max} ({why})",
                kind.name()
            )
        })
    };
    match kind {
        StepKind::MetricSnapshot(m) => check(
            "deadline_ms",
            m.deadline_ms,
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        )
        .or_else(|| {
            check(
                "minutes_before",
                u64::from(m.minutes_before),
                1,
                1440,
                "at most a day of data",
            )
        })
        .or_else(|| {
            check(
                "minutes_after",
                u64::from(m.minutes_after),
                0,
                60,
                "at most an hour after the alarm",
            )
        }),
        StepKind::AlarmHistory(h) => check(
            "deadline_ms",
            h.deadline_ms,
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        )
        .or_else(|| {
            check(
                "hours",
                u64::from(h.hours),
                1,
                720,
                "CloudWatch keeps alarm history for 30 days",
            )
        }),
        StepKind::TargetHealth(_) | StepKind::Route53HealthCheck(_) => check(
            "deadline_ms",
            kind.deadline_ms().unwrap_or_default(),
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        ),
        _ => None,
    }
}

/// A page waits at most this long for enrichment (a Lambda invocation must also commit and
/// deliver within its timeout).
pub const MAX_DEADLINE_MS: u64 = 5000;
pub const MIN_DEADLINE_MS: u64 = 50;

/// Whether a pattern uses `key` at its top level (or in a top-level `$or` branch).
fn mentions_key(pattern: &serde_json::Value, key: &str) -> bool {
    let Some(map) = pattern.as_object() else {
        return false;
    };
    map.contains_key(key)
        || map
            .get("$or")
            .and_then(|v| v.as_array())
            .is_some_and(|branches| branches.iter().any(|b| mentions_key(b, key)))
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

// The shipped runbooks, `(file name, YAML, JSON form)`, generated by build.rs from `runbooks/`.
include!(concat!(env!("OUT_DIR"), "/embedded_runbooks.rs"));

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

    /// Every route a runbook names (`notify.route`, `classify` rules), with where:
    /// `(runbook, step, route)`. A route without an SNS topic must fail the cold start.
    pub fn routes(&self) -> Vec<(&str, &str, crate::route::Route)> {
        let mut routes = Vec::new();
        for r in &self.runbooks {
            for step in &r.steps {
                match &step.kind {
                    StepKind::Notify(n) => {
                        routes.extend(n.route.map(|route| (r.name(), step.id.as_str(), route)))
                    }
                    StepKind::Classify(c) => routes.extend(
                        c.rules
                            .iter()
                            .filter_map(|rule| rule.route)
                            .map(|route| (r.name(), step.id.as_str(), route)),
                    ),
                    _ => {}
                }
            }
        }
        routes
    }

    pub fn find(&self, name: &str) -> Option<&Runbook> {
        self.runbooks.iter().find(|r| r.name() == name)
    }

    /// The runbooks built into the binary (`runbooks/` at build time), validated like
    /// any other runbook file.
    pub fn embedded() -> Result<Self, Vec<LoadError>> {
        let mut runbooks = Vec::new();
        let mut errors = Vec::new();
        for (name, yaml, json) in EMBEDDED {
            let file = Path::new("runbooks").join(name);
            // The JSON form is fast; on any error, the YAML gives the located messages.
            let loaded = json
                .and_then(|json| load_json(&file, json).ok())
                .map(Ok)
                .unwrap_or_else(|| load_str_with(&file, yaml, LoadMode::Runtime));
            match loaded {
                Ok(r) => runbooks.push(r),
                Err(mut e) => errors.append(&mut e),
            }
        }
        check_unique_names(&runbooks, &mut errors);
        if errors.is_empty() {
            Ok(Catalog::new(runbooks))
        } else {
            Err(errors)
        }
    }

    /// The runbooks of a directory (or file), for a container (`KLAXON_RUNBOOKS`).
    pub fn from_path(path: &Path) -> Result<Self, Vec<LoadError>> {
        load_path_with(path, LoadMode::Runtime).map(Catalog::new)
    }

    /// Every runbook whose trigger matches, in run order; the fallbacks only when no other
    /// runbook matched. For runbooks without `when:` (see [`Catalog::choose`]).
    pub fn select(&self, event: &serde_json::Value) -> Vec<&Runbook> {
        Self::fallback_rule(self.candidates(event))
    }

    /// Every runbook whose trigger matches the event, in run order. The event is flattened
    /// once for all triggers.
    pub fn candidates(&self, event: &serde_json::Value) -> Vec<&Runbook> {
        let flat = crate::pattern::FlatEvent::new(event);
        self.runbooks
            .iter()
            .filter(|r| r.trigger.matches_flat(&flat))
            .collect()
    }

    /// The runbooks that run: candidates whose `when:` matches the step context, the
    /// fallbacks only when no other runbook is left.
    pub fn choose<'a>(
        candidates: Vec<&'a Runbook>,
        context: &serde_json::Value,
    ) -> Vec<&'a Runbook> {
        Self::fallback_rule(
            candidates
                .into_iter()
                .filter(|r| r.when.as_ref().is_none_or(|w| w.matches(context)))
                .collect(),
        )
    }

    fn fallback_rule(matched: Vec<&Runbook>) -> Vec<&Runbook> {
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
    fn embedded_runbooks_load_from_their_json_form_like_from_yaml() {
        assert!(!EMBEDDED.is_empty());
        for (name, yaml, json) in EMBEDDED {
            let file = Path::new("runbooks").join(name);
            let from_json = load_json(&file, json.expect("shipped runbooks parse"))
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let from_yaml = load_str_with(&file, yaml, LoadMode::Runtime).unwrap();
            assert_eq!(from_json.name(), from_yaml.name());
            assert_eq!(
                from_json.steps.iter().map(|s| &s.id).collect::<Vec<_>>(),
                from_yaml.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
            );
            assert_eq!(from_json.spec.trigger.value, from_yaml.spec.trigger.value);
        }
        assert_eq!(
            Catalog::embedded().unwrap().runbooks().len(),
            EMBEDDED.len()
        );
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
