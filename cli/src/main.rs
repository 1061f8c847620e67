//! `klaxon`: Klaxon's command-line tool.

mod explain;
mod incident;
mod infra;
mod pattern;
mod replay;
mod runbook;
mod state;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "klaxon", version, about = "Codified incident response for AWS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run events through Klaxon's real handler logic on the embedded in-memory backend
    /// (no AWS account, no extra service) and show what would happen.
    Replay(replay::Args),
    /// EventBridge event patterns, offline.
    #[command(subcommand)]
    Pattern(pattern::Command),
    /// Deployment: the EventBridge rules derived from the runbooks.
    #[command(subcommand)]
    Infra(infra::Command),
    /// Runbooks as code: validate them and run their tests.
    #[command(subcommand)]
    Runbook(runbook::Command),
    /// Responders: list, show and act on incidents (embedded state, or the IAM API).
    Incident(incident::Args),
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so `klaxon replay … | head` would panic on the closed pipe. A
    // command-line tool should end quietly there, as `cat` does.
    #[cfg(unix)]
    // SAFETY: called first, before any other thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("klaxon: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Replay(args) => runtime.block_on(replay::run(args)),
        Command::Pattern(command) => pattern::run(command),
        Command::Runbook(command) => runbook::run(command, &runtime),
        Command::Infra(command) => infra::run(command),
        Command::Incident(args) => runtime.block_on(incident::run(args)),
    }
}
