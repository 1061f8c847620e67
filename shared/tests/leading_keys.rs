//! The DynamoDB partitions each handler's role may use (`leading_keys` of infra/rules.json,
//! its `ForAllValues:StringLike dynamodb:LeadingKeys` condition in both templates) cover
//! every partition key the handler reads or writes for the events its rules send it: each
//! sample (events/, events/security/, events/health/, events/invalid/ and the public AWS samples of
//! tests/conformance/real-events/) goes through the engine on the memory backend, and every
//! key of what it wrote (idempotency record, tracker, incidents, step entries, rejections),
//! built by `layout` exactly as the DynamoDB adapter builds it, must match one of the
//! patterns of the handler that serves the sample. moto evaluates no IAM condition: a key
//! outside the patterns would only fail in AWS, so this is where a new key format is caught.
//!
//! Also what the patterns separate: an alarm's tracker is alarm-intake's alone, a finding's or
//! a CloudTrail call's security-intake's alone; AWS Health and AWS Config trackers are shared
//! by health-intake and security-intake (their keys do not say whether the event is a
//! security one), as are the event, incident and rejection partitions (docs/DEPLOY.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use klaxon::infra::{handler_for_event, leading_keys, string_like};
use klaxon::intake::{self, Intake};
use klaxon::layout;
use klaxon::runbook::Catalog;
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn samples() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for dir in [
        "events",
        "events/security",
        "events/health",
        "events/invalid",
        "tests/conformance/real-events",
    ] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            let Ok(event) = serde_json::from_slice::<Value>(&std::fs::read(&file).unwrap()) else {
                continue;
            };
            if event.get("source").is_some() {
                out.push((
                    format!("{dir}/{}", file.file_name().unwrap().to_string_lossy()),
                    event,
                ));
            }
        }
    }
    out
}

fn pk(item: &layout::JsonItem) -> String {
    item[layout::PK].as_str().unwrap().to_string()
}

/// Every partition key the engine used for one event, on a fresh memory backend.
async fn keys_of(event: &Value) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    match intake::parse_value(event) {
        Ok(Intake::Change(e)) => {
            keys.insert(layout::tracker_pk(&e.dedup_key));
            keys.insert(layout::processed_pk(&e.event_id));
        }
        Ok(Intake::Escalation(findings)) => {
            for e in findings {
                keys.insert(layout::tracker_pk(&e.dedup_key));
                keys.insert(layout::processed_pk(&e.event_id));
            }
        }
        Ok(Intake::Ignored { .. }) | Err(_) => {}
    }
    let (backend, engine) = klaxon::memory::engine(klaxon::memory::embedded_settings());
    let _ = engine.handle_value_all(event).await;
    for incident in backend.all_incidents() {
        keys.insert(pk(&layout::incident_item(&incident)));
        for dedup_key in &incident.dedup_keys {
            keys.insert(layout::tracker_pk(dedup_key));
        }
    }
    for entry in backend.all_step_entries() {
        keys.insert(pk(&layout::step_entry_item(&entry)));
    }
    for rejection in backend.rejections() {
        keys.insert(pk(&layout::rejection_item(&rejection)));
    }
    keys
}

#[tokio::test]
async fn every_key_a_handler_uses_is_within_its_leading_keys() {
    let catalog = Catalog::embedded().unwrap();
    let deployed: Value = serde_json::from_slice(
        &std::fs::read(repo().join("infra/rules.json")).expect("infra/rules.json"),
    )
    .unwrap();
    let patterns: BTreeMap<String, Vec<String>> =
        serde_json::from_value(deployed["leading_keys"].clone()).unwrap();
    assert_eq!(
        patterns,
        leading_keys(&catalog),
        "infra/rules.json is stale: run `klaxon infra rules`"
    );
    for (handler, list) in &patterns {
        assert!(
            !list.iter().any(|p| p == "*" || p == "ALARM#*"),
            "{handler}: {list:?} would allow every tracker"
        );
    }

    let mut checked = BTreeMap::<&str, usize>::new();
    // Tracker key -> the handlers whose patterns match it.
    let mut trackers = BTreeMap::<String, BTreeSet<String>>::new();
    for (name, event) in samples() {
        let Some(handler) = handler_for_event(&catalog, &event) else {
            continue;
        };
        let keys = keys_of(&event).await;
        assert!(!keys.is_empty(), "{name}: no key used");
        for key in &keys {
            assert!(
                patterns[handler].iter().any(|p| string_like(p, key)),
                "{name}: {handler} uses partition `{key}`, outside its dynamodb:LeadingKeys {:?}",
                patterns[handler]
            );
            if key.starts_with("ALARM#") {
                let matching = patterns
                    .iter()
                    .filter(|(_, ps)| {
                        ps.iter()
                            .any(|p| p.starts_with("ALARM#") && string_like(p, key))
                    })
                    .map(|(h, _)| h.clone())
                    .collect();
                trackers.insert(key.clone(), matching);
            }
        }
        *checked.entry(handler).or_default() += 1;
    }
    for handler in klaxon::infra::HANDLERS {
        assert!(
            checked.get(handler).copied().unwrap_or(0) >= 5,
            "too few samples for {handler}: {checked:?}"
        );
    }
    // What the patterns separate, and what they cannot without another key format.
    for (key, handlers) in &trackers {
        let handlers: Vec<&str> = handlers.iter().map(String::as_str).collect();
        let expected: &[&str] = if key.starts_with("ALARM#arn:") && key.contains(":cloudwatch:") {
            &["alarm-intake"]
        } else if key.starts_with("ALARM#finding:") || key.starts_with("ALARM#cloudtrail:") {
            &["security-intake"]
        } else {
            // AWS Health (`arn:...:health:...`) and AWS Config (`config:...`): one format
            // whether or not the event is a security one.
            &["health-intake", "security-intake"]
        };
        assert_eq!(handlers, expected, "{key}");
    }
}
