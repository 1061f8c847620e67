//! `klaxon runbook check [PATH]`: validates runbook files; every error names
//! file:line:column, the key, and what was expected. Exit 0 when all are valid, 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Validate runbook files (a folder or one file; default `runbooks/`).
    Check {
        #[arg(value_name = "PATH", default_value = "runbooks")]
        path: PathBuf,
    },
}

pub fn run(command: Command) -> ExitCode {
    let Command::Check { path } = command;
    match klaxon::runbook::load_path(&path) {
        Ok(runbooks) => {
            for r in &runbooks {
                println!(
                    "ok   {} ({}; {} steps, {} tests)",
                    r.file.display(),
                    r.name(),
                    r.steps.len(),
                    r.spec.tests.len()
                );
            }
            println!("{} runbook(s) valid", runbooks.len());
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            ExitCode::from(1)
        }
    }
}
