//! Runbooks as code: YAML files in `runbooks/`, loaded and validated once (per container, or
//! by `klaxon runbook check`). Every mistake is reported at load time with file:line:column,
//! never at run time: unknown keys, unknown step kinds, invalid event patterns, invalid
//! templates. The format is documented in docs/RUNBOOKS.md.
//!
//! `load.rs` reads files, `validate.rs` checks them into a `compiled.rs` [`Runbook`],
//! `catalog.rs` orders them and chooses the runbooks for an event. For one event they run as
//! `walk.rs` (pure) → `enrich.rs` (before the page, under deadlines) → `decide.rs` (pure) →
//! the engine's commit → `after_page.rs`; `step/` holds one file per step kind, `context.rs`
//! and `template.rs` what conditions and templates see.

pub mod abort;
pub mod after_page;
mod catalog;
mod compiled;
pub mod context;
pub mod decide;
pub mod enrich;
mod load;
pub mod spec;
pub mod step;
pub mod template;
mod validate;
pub mod walk;

pub use catalog::Catalog;
pub use compiled::{LoadError, LoadMode, Runbook, Step, MAX_STEPS};
pub use load::{load_json, load_path, load_path_with, load_str, load_str_with};
pub use spec::{OnError, RunbookSpec, StepSpec};
pub use step::common::{MAX_DEADLINE_MS, MIN_DEADLINE_MS};
pub use step::StepKind;
