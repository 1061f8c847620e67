//! `klaxon replay EVENT.json…`: the alarm handler's logic, in process, on one shared
//! in-memory backend, so deduplication and resolution show across files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use klaxon::engine::{EngineSettings, Report};
use klaxon::model::Outcome;
use klaxon::ownership::Route;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON Lines: one object per input file, in order.
    #[arg(long)]
    json: bool,
    /// Event files, processed in the order given.
    #[arg(required = true, value_name = "EVENT.json")]
    files: Vec<PathBuf>,
}

/// Topic ARNs shown for each route on the embedded backend.
pub fn embedded_settings() -> EngineSettings {
    let topics: BTreeMap<Route, String> = Route::ALL
        .iter()
        .map(|r| {
            (
                *r,
                format!("arn:aws:sns:us-east-1:000000000000:klaxon-{}", r.as_str()),
            )
        })
        .collect();
    EngineSettings::new(topics, "klaxon".into())
}

pub async fn run(args: Args) -> ExitCode {
    let (backend, engine) = klaxon::memory::engine(embedded_settings());
    let mut rejected = 0usize;
    let mut failed = 0usize;
    for file in &args.files {
        let shown = file.display().to_string();
        let result = match std::fs::read(file) {
            Ok(bytes) => engine.handle_bytes(&bytes).await.map_err(|e| e.to_string()),
            Err(e) => Err(format!("cannot read {shown}: {e}")),
        };
        let report = match result {
            Ok(report) => report,
            Err(error) => {
                failed += 1;
                Report {
                    outcome: Outcome::Rejected,
                    event_id: None,
                    incident_id: None,
                    dedup_key: None,
                    environment: None,
                    severity: None,
                    tag_origin: None,
                    notifications: vec![],
                    lifecycle_events: vec![],
                    error: Some(error),
                }
            }
        };
        if report.outcome == Outcome::Rejected {
            rejected += 1;
        }
        if args.json {
            let mut line = klaxon::report::to_json(&report);
            line.as_object_mut()
                .expect("object")
                .insert("file".into(), shown.into());
            println!("{line}");
        } else {
            print_human(&shown, &report);
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

fn print_human(file: &str, r: &Report) {
    println!("== {}", klaxon::text::single_line(file));
    println!("   outcome      {}", r.outcome.as_str());
    let show = |label: &str, value: Option<&str>| {
        if let Some(v) = value {
            println!("   {label:<12} {}", klaxon::text::single_line(v));
        }
    };
    show("event id", r.event_id.as_deref());
    show("incident", r.incident_id.as_deref());
    show("dedup key", r.dedup_key.as_deref());
    show("environment", r.environment.as_deref());
    show("severity", r.severity.map(|s| s.as_str()));
    show(
        "tags from",
        r.tag_origin.map(|o| match o {
            klaxon::tags::TagOrigin::Event => "the event (alarmTags)",
            klaxon::tags::TagOrigin::Lookup => "ListTagsForResource (none on the embedded backend)",
            klaxon::tags::TagOrigin::Cache => "cache",
            klaxon::tags::TagOrigin::Unavailable => "unavailable: treated as untagged",
        }),
    );
    show("error", r.error.as_deref());
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
