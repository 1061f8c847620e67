//! Reading runbook files (YAML, or the JSON form build.rs makes for a fast cold start),
//! with every error located at file:line:column.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::runbook::compiled::{at, LoadError, LoadMode, Runbook};
use crate::runbook::spec::RunbookSpec;
use crate::runbook::validate::validate;

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

pub(in crate::runbook) fn check_unique_names(runbooks: &[Runbook], errors: &mut Vec<LoadError>) {
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
