//! How `klaxon incident …` prints its answers: the API's objects with `--json`, words
//! otherwise. An action that was refused exits 1, as a rejected event does in replay.

use std::process::ExitCode;

use serde_json::Value;

use super::{Answer, Command};

pub fn print(answer: Answer, json: bool, command: &Command) -> ExitCode {
    match answer {
        Answer::Incidents(list) => {
            if json {
                println!("{}", serde_json::json!({ "incidents": list }));
            } else if list.is_empty() {
                println!("no open incidents");
            } else {
                for incident in &list {
                    println!("{}", summary_line(incident));
                }
            }
        }
        Answer::Incident(incident) => {
            if json {
                println!("{incident}");
            } else {
                print_incident(&incident);
            }
        }
        Answer::Export(export) => {
            let text = serde_json::to_string_pretty(&export).unwrap_or_default();
            if let Command::Export {
                output: Some(path), ..
            } = command
            {
                if let Err(e) = std::fs::write(path, text + "\n") {
                    eprintln!("klaxon: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            } else {
                println!("{text}");
            }
        }
        Answer::Revoked => {
            if json {
                println!("{}", serde_json::json!({ "revoked": true }));
            } else {
                println!("links revoked: they stop working now; later pages carry new ones");
            }
        }
        Answer::Acted(result) => {
            if json {
                println!("{result}");
            } else {
                let line = format!(
                    "{} {} (status {}){}",
                    text(&result["outcome"]),
                    text(&result["incident"]["incident_id"]),
                    text(&result["status"]),
                    result["error"]
                        .as_str()
                        .map(|e| format!(": {}", klaxon::text::single_line(e)))
                        .unwrap_or_default()
                );
                println!("{line}");
            }
            if result["outcome"] == "rejected" {
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::SUCCESS
}

fn text(value: &Value) -> String {
    klaxon::text::single_line(value.as_str().unwrap_or("-"))
}

fn summary_line(incident: &Value) -> String {
    let ack = match &incident["acknowledged"] {
        Value::Null => "not acknowledged".to_string(),
        a => format!("acknowledged by {}", text(&a["by"])),
    };
    format!(
        "{}  {:<8} {:<8} {:<11} opened {}  {}",
        text(&incident["incident_id"]),
        text(&incident["status"]),
        text(&incident["severity"]),
        text(&incident["environment"]),
        text(&incident["opened_at"]),
        ack
    )
}

fn print_incident(incident: &Value) {
    println!("{}", summary_line(incident));
    if let Some(owner) = incident["owner"].as_str() {
        println!("  owner        {}", klaxon::text::single_line(owner));
    }
    if let Some(at) = incident["resolved_at"].as_str() {
        println!("  resolved at  {at}");
    }
    println!("  route        {}", text(&incident["route"]));
    println!("  timeline");
    for entry in incident["timeline"].as_array().into_iter().flatten() {
        let who = match entry["actor"].as_str() {
            Some(actor) => format!(
                " [{} via {}]",
                klaxon::text::single_line(actor),
                text(&entry["channel"])
            ),
            None => String::new(),
        };
        println!(
            "    {}  {:<6} {:<18}{who} {}",
            text(&entry["at"]),
            text(&entry["kind"]),
            text(&entry["outcome"]),
            text(&entry["summary"])
        );
    }
}
