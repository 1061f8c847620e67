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
    /// Run the runbooks' `tests:` offline on the embedded backend; a failing test prints
    /// what was expected and what came out, and the exit code is 1.
    ///
    /// With `--event FILE`, run no tests: explain, for each runbook, whether its trigger
    /// matches the event (which clause), or why not (the first failing field and the
    /// event's value there). Exit 0 when some runbook matches every event, 1 when an event
    /// matches none, 2 when a file cannot be read.
    Test {
        #[arg(value_name = "PATH", default_value = "runbooks")]
        path: PathBuf,
        /// An event to explain (a public sample, a captured or hand-written event); repeat
        /// for several.
        #[arg(long = "event", value_name = "FILE")]
        events: Vec<PathBuf>,
    },
}

pub fn run(command: Command, runtime: &tokio::runtime::Runtime) -> ExitCode {
    match command {
        Command::Check { path } => check(&path),
        Command::Test { path, events } if !events.is_empty() => crate::explain::run(&path, &events),
        Command::Test { path, .. } => runtime.block_on(test(&path)),
    }
}

/// The runbooks of `path`, or their load errors printed, ending with `what_not` (exit 2).
pub fn load_or_report(
    path: &std::path::Path,
    what_not: &str,
) -> Result<Vec<klaxon::runbook::Runbook>, ExitCode> {
    klaxon::runbook::load_path(path).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("{} error(s); {what_not}", errors.len());
        ExitCode::from(2)
    })
}

async fn test(path: &std::path::Path) -> ExitCode {
    let runbooks = match load_or_report(path, "no test ran") {
        Ok(r) => r,
        Err(code) => return code,
    };
    let catalog = std::sync::Arc::new(klaxon::runbook::Catalog::new(runbooks));
    let results =
        klaxon::runbook_test::run_all(catalog, &klaxon::memory::embedded_settings()).await;
    let failed = results.iter().filter(|r| !r.passed()).count();
    for r in &results {
        if r.passed() {
            println!("ok   {}: {}", r.runbook, klaxon::text::single_line(&r.test));
        } else {
            print!("{}", klaxon::runbook_test::render_failure(r));
        }
    }
    println!(
        "{} test(s): {} passed, {} failed",
        results.len(),
        results.len() - failed,
        failed
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn check(path: &std::path::Path) -> ExitCode {
    match klaxon::runbook::load_path(path) {
        Ok(runbooks) => {
            // Valid is not enough: the trigger must also make a rule EventBridge accepts.
            let mut undeployable = 0;
            for r in &runbooks {
                match klaxon::infra::deployable(r) {
                    Ok(_) => println!(
                        "ok   {} ({}; {} steps, {} tests)",
                        r.file.display(),
                        r.name(),
                        r.steps.len(),
                        r.spec.tests.len()
                    ),
                    Err(errors) => {
                        undeployable += errors.len();
                        for e in errors {
                            eprintln!("{}: {e}", r.file.display());
                        }
                    }
                }
            }
            if undeployable > 0 {
                eprintln!("{undeployable} error(s)");
                return ExitCode::from(1);
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
