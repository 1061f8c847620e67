//! `klaxon replay EVENT.json…`: the handlers' logic, in process, on one shared
//! in-memory backend, so deduplication and resolution show across files.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use klaxon::engine::Report;
use klaxon::model::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// Print JSON Lines: one object per input file (per finding of a Security Hub custom
    /// action), in order.
    #[arg(long)]
    json: bool,
    /// Runbooks to run (a folder or one file); default: the ones built into klaxon.
    #[arg(long, value_name = "PATH")]
    runbooks: Option<PathBuf>,
    /// Event files, processed in the order given.
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
    let (backend, engine) =
        klaxon::memory::engine_with(klaxon::memory::embedded_settings(), catalog);
    let mut rejected = 0usize;
    let mut failed = 0usize;
    for file in &args.files {
        let shown = file.display().to_string();
        let result = match std::fs::read(file) {
            Ok(bytes) => engine
                .handle_bytes_all(&bytes)
                .await
                .map_err(|e| e.to_string()),
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
