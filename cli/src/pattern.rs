//! `klaxon pattern test PATTERN.json EVENT.json`: the offline twin of
//! `aws events test-event-pattern`. Prints `match` (exit 0) or `no match` (exit 1); an
//! invalid pattern or an event that is not a JSON object prints the reason on stderr (exit 2).

use std::path::PathBuf;
use std::process::ExitCode;

use klaxon::pattern::Pattern;
use serde_json::Value;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Test whether an event matches an EventBridge event pattern.
    Test {
        #[arg(value_name = "PATTERN.json")]
        pattern: PathBuf,
        #[arg(value_name = "EVENT.json")]
        event: PathBuf,
    },
}

pub fn run(command: Command) -> ExitCode {
    let Command::Test { pattern, event } = command;
    match evaluate(&pattern, &event) {
        Ok(true) => {
            println!("match");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("no match");
            ExitCode::from(1)
        }
        Err(reason) => {
            eprintln!("klaxon pattern test: {reason}");
            ExitCode::from(2)
        }
    }
}

fn evaluate(pattern: &PathBuf, event: &PathBuf) -> Result<bool, String> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let pattern =
        Pattern::parse(&read(pattern)?).map_err(|e| format!("{}: {e}", pattern.display()))?;
    let event_value: Value = serde_json::from_str(&read(event)?)
        .map_err(|e| format!("{}: not valid JSON: {e}", event.display()))?;
    if !event_value.is_object() {
        return Err(format!(
            "{}: the event must be a JSON object",
            event.display()
        ));
    }
    Ok(pattern.matches(&event_value))
}
