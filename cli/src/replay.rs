//! `klaxon replay EVENT.json…`: the handlers' logic, in process, on one shared
//! in-memory backend, so deduplication and resolution show across files. Files may also be
//! responder actions (`{"klaxon_action": …}`, docs/RESPONDERS.md). Replay has its own
//! clock: it starts at the first input's envelope `time`, moves to each event's envelope
//! `time` (or its state time, when a sample's envelope predates it) and each action's `at`
//! when later, and never reads the wall clock. With
//! `--state PATH` the records and the clock are kept between runs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use klaxon::engine::Report;
use klaxon::memory::{MemoryBackend, MemoryEngine};
use klaxon::model::Outcome;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::state::StateFile;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON Lines: one object per input file (per finding of a Security Hub custom
    /// action), in order.
    #[arg(long)]
    json: bool,
    /// Runbooks to run (a folder or one file); default: the ones built into klaxon.
    #[arg(long, value_name = "PATH")]
    runbooks: Option<PathBuf>,
    /// Keep the embedded backend's records and clock in this file: loaded first (if it
    /// exists), written at the end. Without it, nothing outlives the run.
    #[arg(long, value_name = "PATH")]
    state: Option<PathBuf>,
    /// Event files and action files, processed in the order given.
    #[arg(required = true, value_name = "EVENT.json")]
    files: Vec<PathBuf>,
}

pub async fn run(args: Args) -> ExitCode {
    let catalog = match &args.runbooks {
        Some(path) => klaxon::runbook::Catalog::from_path(path),
        None => klaxon::runbook::Catalog::embedded(),
    };
    let catalog = match catalog {
        Ok(c) => Arc::new(c),
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let (state, backend) = match &args.state {
        Some(path) => match StateFile::open(path) {
            Ok((file, backend)) => (Some(file), backend.unwrap_or_default()),
            Err(e) => {
                eprintln!("klaxon: {e}");
                return ExitCode::from(2);
            }
        },
        None => (None, MemoryBackend::new()),
    };
    let engine = klaxon::memory::engine_on(
        backend.clone(),
        klaxon::memory::embedded_settings(),
        catalog,
    );
    let mut rejected = 0usize;
    let mut failed = 0usize;
    for (position, file) in args.files.iter().enumerate() {
        let shown = file.display().to_string();
        let result = match std::fs::read(file) {
            Ok(bytes) => replay_one(&engine, &backend, &bytes, position).await,
            Err(e) => Err(format!("cannot read {shown}: {e}")),
        };
        // One report per event, or per finding of a Security Hub custom action.
        let reports = match result {
            Ok(reports) => reports,
            Err(error) => {
                failed += 1;
                vec![Report {
                    error: Some(error),
                    ..Report::empty(Outcome::Rejected, None)
                }]
            }
        };
        if reports.iter().any(|r| r.outcome == Outcome::Rejected) {
            rejected += 1;
        }
        for report in &reports {
            if args.json {
                let mut line = klaxon::report::to_json(report);
                line.as_object_mut()
                    .expect("object")
                    .insert("file".into(), shown.clone().into());
                println!("{line}");
            } else {
                print_human(&shown, report);
            }
        }
    }
    if let Some(state) = &state {
        if let Err(e) = state.save(&backend) {
            eprintln!("klaxon: {e}");
            return ExitCode::from(2);
        }
    }
    if !args.json {
        println!(
            "{} file(s): {} rejected. Open incidents: {}.",
            args.files.len(),
            rejected,
            backend
                .all_incidents()
                .iter()
                .filter(|i| i.status == klaxon::model::IncidentStatus::Open)
                .count()
        );
    }
    if failed > 0 {
        ExitCode::from(2)
    } else if rejected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One file: an action document, or an event (or several, for a custom action), after
/// moving the clock.
async fn replay_one(
    engine: &MemoryEngine,
    backend: &MemoryBackend,
    bytes: &[u8],
    position: usize,
) -> Result<Vec<Report>, String> {
    let value: Option<Value> = serde_json::from_slice(bytes).ok();
    if let Some(value) = value.as_ref().filter(|v| klaxon::action::is_action(v)) {
        return Ok(vec![
            replay_action(engine, backend, value, bytes, position).await?,
        ]);
    }
    if let Some(value) = value.as_ref() {
        if let Some(time) = envelope_time(value) {
            backend.advance_to(time);
        }
        // Nothing is observed before it happens: some public samples carry an envelope
        // time older than the change they report, which a real clock (Lambda's, after both)
        // never shows.
        if let Some(time) = state_time(value) {
            backend.advance_to(time);
        }
    }
    engine
        .handle_bytes_all(bytes)
        .await
        .map_err(|e| e.to_string())
}

async fn replay_action(
    engine: &MemoryEngine,
    backend: &MemoryBackend,
    value: &Value,
    bytes: &[u8],
    position: usize,
) -> Result<Report, String> {
    let document = match klaxon::action::parse_document(value) {
        Ok(d) => d,
        Err(e) => {
            let mut report = Report::empty(Outcome::Rejected, None);
            report.error = Some(e.to_string());
            return Ok(report);
        }
    };
    if let Some(at) = document.at {
        backend.advance_to(at);
    }
    // Without an action id, a new action: named after its place in the run and what the
    // backend holds already (a later run on the same state is new too), so that the same
    // inputs on the same state print the same ids.
    let seen = backend.records_count().to_be_bytes();
    let generated = format!(
        "replay-{}",
        &hex::encode(Sha256::digest(
            [&position.to_be_bytes()[..], &seen[..], bytes].concat()
        ))[..16]
    );
    // Replay never reads the wall clock: an action needs a time, its own or an event's.
    let Some(now) = backend.clock() else {
        let mut report = Report::empty(Outcome::Rejected, None);
        report.error = Some(
            "the action has no `at`, and no event before it set replay's clock: give it an `at`"
                .into(),
        );
        return Ok(report);
    };
    let mut request = document.request(now);
    if value.get("action_id").is_none() {
        request.action_id = generated;
    }
    engine.act(request).await.map_err(|e| e.to_string())
}

/// The latest state time the event reports (of its finding or findings).
fn state_time(value: &Value) -> Option<DateTime<Utc>> {
    match klaxon::intake::parse_value(value).ok()? {
        klaxon::intake::Intake::Change(change) => Some(change.state_timestamp),
        klaxon::intake::Intake::Escalation(findings) => {
            findings.iter().map(|f| f.state_timestamp).max()
        }
        _ => None,
    }
}

/// The EventBridge envelope's `time`: of the event, or of the first of an array of them.
fn envelope_time(value: &Value) -> Option<DateTime<Utc>> {
    let event = match value {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let time = event.get("time")?.as_str()?;
    DateTime::parse_from_rfc3339(time)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn print_human(file: &str, r: &Report) {
    println!("== {}", klaxon::text::single_line(file));
    println!("   outcome      {}", r.outcome.as_str());
    let show = |label: &str, value: Option<&str>| {
        if let Some(v) = value {
            println!("   {label:<12} {}", klaxon::text::single_line(v));
        }
    };
    show("event id", r.event_id.as_deref());
    show("incident", r.incident_id.as_deref());
    if let Some(action) = &r.action {
        show("actor", Some(&action.actor));
        show("channel", Some(action.channel.as_str()));
        show("action id", Some(&action.action_id));
        show("status", action.status().map(|s| s.as_str()));
    }
    show("dedup key", r.dedup_key.as_deref());
    show("environment", r.environment.as_deref());
    show("severity", r.severity.map(|s| s.as_str()));
    show(
        "tags from",
        r.tag_origin.map(|o| match o {
            klaxon::tags::TagOrigin::Event => "the event (alarm tags or resource tags)",
            klaxon::tags::TagOrigin::Lookup => "ListTagsForResource (none on the embedded backend)",
            klaxon::tags::TagOrigin::Cache => "cache",
            klaxon::tags::TagOrigin::Unavailable => "unavailable: treated as untagged",
        }),
    );
    show("error", r.error.as_deref());
    if !r.runbooks.is_empty() {
        show("runbooks", Some(&r.runbooks.join(", ")));
    }
    for e in &r.steps {
        println!(
            "   step         {}/{} ({}) {} [{}]: {}",
            e.runbook,
            e.step,
            e.kind,
            e.status.as_str(),
            e.phase.as_str(),
            klaxon::text::single_line(&e.summary)
        );
    }
    for n in &r.notifications {
        println!(
            "   page         -> route {} ({})",
            n.route.as_str(),
            n.transition.as_str()
        );
        println!("     subject    {}", n.subject);
        let attrs: Vec<String> = n
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("     attributes {}", attrs.join(" "));
        println!(
            "     sms        {}",
            n.message.lines().next().unwrap_or_default()
        );
        println!("     email body");
        for line in n.message.lines().skip(2) {
            println!("       | {line}");
        }
    }
    for e in &r.lifecycle_events {
        println!(
            "   bus event    {} (source klaxon, version {})",
            e.detail_type,
            e.detail["version"].as_str().unwrap_or("?")
        );
    }
}
