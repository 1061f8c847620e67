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
    Test {
        #[arg(value_name = "PATH", default_value = "runbooks")]
        path: PathBuf,
    },
}

pub fn run(command: Command, runtime: &tokio::runtime::Runtime) -> ExitCode {
    match command {
        Command::Check { path } => check(&path),
        Command::Test { path } => runtime.block_on(test(&path)),
    }
}

async fn test(path: &std::path::Path) -> ExitCode {
    let runbooks = match klaxon::runbook::load_path(path) {
        Ok(r) => r,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s); no test ran", errors.len());
            return ExitCode::from(2);
        }
    };
    let catalog = std::sync::Arc::new(klaxon::runbook::Catalog::new(runbooks));
    let results =
        klaxon::runbook::testing::run_all(catalog, &klaxon::memory::embedded_settings()).await;
    let failed = results.iter().filter(|r| !r.passed()).count();
    for r in &results {
        if r.passed() {
            println!("ok   {}: {}", r.runbook, klaxon::text::single_line(&r.test));
        } else {
            print!("{}", klaxon::runbook::testing::render_failure(r));
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
