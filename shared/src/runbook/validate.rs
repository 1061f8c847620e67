//! Validation at load time: names, step ids, one kind per step, patterns compiled,
//! conditions free of enrichment, templates rendered with enrichment present and missing,
//! each step kind within its bounds.

use std::collections::HashSet;
use std::path::Path;

use crate::pattern::Pattern;
use crate::runbook::compiled::{at, LoadError, LoadMode, Runbook, Step, MAX_STEPS};
use crate::runbook::spec::RunbookSpec;
use crate::runbook::step::StepKind;

pub(in crate::runbook) fn validate(
    file: &Path,
    spec: RunbookSpec,
    mode: LoadMode,
) -> Result<Runbook, Vec<LoadError>> {
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
            if mentions_key(&condition.value, crate::runbook::context::ENRICHMENT_KEY) {
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
    let enrichment_ids: Vec<(String, serde_json::Value)> = spec
        .steps
        .iter()
        .filter_map(|s| {
            let kind = s.kind().ok().filter(StepKind::is_enrichment)?;
            Some((
                s.id.value.clone(),
                crate::runbook::step::sample_result(&kind),
            ))
        })
        .collect();
    let (with_enrichment, without_enrichment) =
        crate::runbook::context::sample_contexts(&enrichment_ids);
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
        if step.retries > crate::runbook::spec::MAX_RETRIES {
            errors.push(at(
                file,
                &step.id,
                format!(
                    "steps.{id}.retries: at most {} retries",
                    crate::runbook::spec::MAX_RETRIES
                ),
            ));
        }
        let kind = match step.kind() {
            Ok(kind) => kind,
            Err(message) => {
                errors.push(at(file, &step.id, format!("steps.{id}: {message}")));
                continue;
            }
        };
        if let Some(problem) = crate::runbook::step::out_of_bounds(&kind) {
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
                if action.action == crate::runbook::step::IncidentVerb::Annotate && action.note.is_none() {
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
            if mentions_key(&condition.value, crate::runbook::context::ENRICHMENT_KEY) {
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
            if let Err(e) = crate::runbook::template::render(&template.value, &with_enrichment) {
                errors.push(at(
                    file,
                    template,
                    format!("steps.{id}.{key}: invalid template: {e}"),
                ));
            } else if let Err(e) = (!enrichment_ids.is_empty())
                .then(|| crate::runbook::template::render(&template.value, &without_enrichment))
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
