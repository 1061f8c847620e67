//! `klaxon incident list|show|ack|resolve|reopen|note|snooze|severity|own|revoke-links|export`
//! (docs/RESPONDERS.md, "The CLI"). Three places to act on:
//! - `--state PATH`: the embedded backend kept by `klaxon replay --state PATH`; the actor is
//!   `local:<user>` (`cli-local`), the time the state's clock or `--at`;
//! - `--url URL` or `KLAXON_API_URL`: the IAM API's function URL (or the responder under
//!   `cargo lambda watch`), each request signed with SigV4 from the standard AWS credential
//!   chain; the actor is whoever the API verifies;
//! - `--stack NAME`: the same, the URL read from the stack's `ResponderApiUrl` output.

mod local;
mod remote;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;

#[derive(clap::Args, Clone)]
pub struct Target {
    /// The embedded backend's state file (written by `klaxon replay --state PATH`).
    #[arg(long, value_name = "PATH", global = true, conflicts_with_all = ["url", "stack"])]
    state: Option<PathBuf>,
    /// The responder API's URL (function URL); default `KLAXON_API_URL`.
    #[arg(long, value_name = "URL", global = true, conflicts_with = "stack")]
    url: Option<String>,
    /// A deployed Klaxon stack: the API's URL is its `ResponderApiUrl` output.
    #[arg(long, value_name = "NAME", global = true)]
    stack: Option<String>,
    /// Print JSON (the API's objects) instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Args, Clone)]
pub struct ActionOptions {
    /// Makes a retried command apply once (default: a new action).
    #[arg(long, value_name = "ID")]
    action_id: Option<String>,
    /// `--state` only: when the action happens (RFC 3339; default: the state's clock).
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
}

#[derive(clap::Subcommand, Clone)]
pub enum Command {
    /// Open incidents.
    List,
    /// One incident with its timeline.
    Show { incident: String },
    /// Acknowledge: "I have this".
    Ack {
        incident: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Resolve (an incident whose source cannot recover on its own, or that you have ended).
    Resolve {
        incident: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Open a resolved incident again (refused while a newer one is open for its alarm).
    Reopen {
        incident: String,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Add a note to the timeline.
    Note {
        incident: String,
        text: String,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// No repeat pages for a while (30m, 2h, 1d; at most 30d).
    Snooze {
        incident: String,
        duration: String,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Change the severity (critical, high, medium, low, info).
    Severity {
        incident: String,
        severity: String,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Take ownership.
    Own {
        incident: String,
        #[command(flatten)]
        options: ActionOptions,
    },
    /// Make the links in the incident's pages stop working (all routes, or one).
    RevokeLinks {
        incident: String,
        #[arg(long, value_name = "ROUTE")]
        route: Option<String>,
    },
    /// The incident's full action audit as JSON (actor, channel, time, address).
    Export {
        incident: String,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    command: Command,
}

/// An action as the CLI passes it on: the API's action body.
#[derive(Debug, Clone)]
pub struct ActionCall {
    pub incident: String,
    pub body: Value,
    pub at: Option<String>,
}

/// What a backend answers.
pub enum Answer {
    Incidents(Vec<Value>),
    Incident(Value),
    /// An action's result: `{"outcome", "status", "action_id", "error", "incident"}`.
    Acted(Value),
    Revoked,
    Export(Value),
}

pub async fn run(args: Args) -> ExitCode {
    let Args { target, command } = args;
    let json = target.json;
    let result = match (&target.state, remote::api_url(&target).await) {
        (Some(path), _) => local::run(path, &command).await,
        (None, Ok(Some(url))) => remote::run(&url, &command).await,
        (None, Ok(None)) => Err("say where the incidents are: --state PATH (the embedded backend), --url URL or KLAXON_API_URL (the API), or --stack NAME".to_string()),
        (None, Err(e)) => Err(e),
    };
    match result {
        Ok(answer) => show::print(answer, json, &command),
        Err(e) => {
            eprintln!("klaxon: {e}");
            ExitCode::from(2)
        }
    }
}

impl Command {
    /// The action this command takes, as the API's body; `None` for reads.
    pub fn action(&self) -> Option<ActionCall> {
        use serde_json::json;
        let (incident, body, options) = match self {
            Command::Ack {
                incident,
                note,
                options,
            } => (
                incident,
                json!({"action": "acknowledge", "note": note}),
                options,
            ),
            Command::Resolve {
                incident,
                note,
                options,
            } => (
                incident,
                json!({"action": "resolve", "note": note}),
                options,
            ),
            Command::Reopen { incident, options } => {
                (incident, json!({"action": "reopen"}), options)
            }
            Command::Note {
                incident,
                text,
                options,
            } => (incident, json!({"action": "note", "note": text}), options),
            Command::Snooze {
                incident,
                duration,
                options,
            } => (
                incident,
                json!({"action": "snooze", "duration": duration}),
                options,
            ),
            Command::Severity {
                incident,
                severity,
                options,
            } => (
                incident,
                json!({"action": "severity", "severity": severity}),
                options,
            ),
            Command::Own { incident, options } => (incident, json!({"action": "own"}), options),
            _ => return None,
        };
        let mut body = body;
        let object = body.as_object_mut().expect("object");
        object.retain(|_, v| !v.is_null());
        if let Some(id) = &options.action_id {
            object.insert("action_id".into(), id.clone().into());
        }
        Some(ActionCall {
            incident: incident.clone(),
            body,
            at: options.at.clone(),
        })
    }
}
