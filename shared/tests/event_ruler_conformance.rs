//! The pattern matcher against the test suites of aws/event-ruler (the library behind
//! EventBridge's matching) and timbray/quamina: 825 cases in `tests/conformance/event-ruler`
//! (Apache-2.0, see its LICENSE.txt, NOTICE and SOURCE.md), each `NNN/pattern.json`,
//! `NNN/event.json` and `NNN/expect` (`match`, `no match` or `invalid`), with the upstream test
//! that asserts it in `manifest.json`. Every case must agree, whatever its tag (`core`; `ac`,
//! array consistency; `dup`, repeated keys; `num`, numeric equality): where EventBridge's
//! documentation is silent, Klaxon adopts event-ruler's choice (docs/RUNBOOKS.md).

use std::path::PathBuf;

use klaxon::pattern::Pattern;
use serde_json::Value;

#[path = "support/golden.rs"]
mod golden;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/event-ruler")
}

#[test]
fn matcher_agrees_with_event_ruler_and_quamina() {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(corpus().join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest.len(), 825, "the corpus has 825 cases");
    let mut disagreements = Vec::new();
    let mut by_tag = std::collections::BTreeMap::<String, (usize, usize)>::new();
    let mut verdicts = String::new();
    for case in &manifest {
        let id = case["id"].as_str().unwrap();
        let tag = case["tag"].as_str().unwrap().to_string();
        let dir = corpus().join(id);
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let expected = read("expect").trim().to_string();
        assert_eq!(
            expected,
            case["expect"].as_str().unwrap(),
            "{id}: manifest and expect file"
        );
        let event: Value = serde_json::from_str(&read("event.json"))
            .unwrap_or_else(|e| panic!("{id}: event.json: {e}"));
        let (got, detail) = match Pattern::parse(&read("pattern.json")) {
            Err(e) => ("invalid", e.to_string()),
            Ok(p) if p.matches(&event) => ("match", String::new()),
            Ok(_) => ("no match", String::new()),
        };
        verdicts.push_str(&if detail.is_empty() {
            format!("{id}: {got}\n")
        } else {
            format!("{id}: {got}: {detail}\n")
        });
        let tally = by_tag.entry(tag.clone()).or_default();
        tally.0 += 1;
        if got == expected {
            tally.1 += 1;
        } else {
            disagreements.push(format!(
                "{id} [{tag}] {} ({}): expected {expected}, got {got} {detail}",
                case["where"].as_str().unwrap_or(""),
                case["repo"].as_str().unwrap_or("")
            ));
        }
    }
    let summary: Vec<String> = by_tag
        .iter()
        .map(|(tag, (all, agreed))| format!("{tag}: {agreed}/{all}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "{} of 825 cases disagree ({}):\n{}",
        disagreements.len(),
        summary.join(", "),
        disagreements.join("\n")
    );
    // The verdicts with their reasons, byte for byte (refactoring must not change a message).
    golden::check("pattern-verdicts-event-ruler.txt", &verdicts);
}
