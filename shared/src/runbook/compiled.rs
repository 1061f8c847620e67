//! A runbook as loaded: validated, its patterns compiled, ready to run; and a located load
//! error.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use crate::pattern::Pattern;
use crate::runbook::spec::{OnError, RunbookSpec};
use crate::runbook::step::StepKind;

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

pub(in crate::runbook) fn at<T>(file: &Path, spanned: &Spanned<T>, message: String) -> LoadError {
    LoadError {
        file: file.to_path_buf(),
        line: spanned.referenced.line(),
        column: spanned.referenced.column(),
        message,
    }
}
