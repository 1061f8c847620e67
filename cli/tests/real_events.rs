//! Public AWS sample events (tests/conformance/real-events: AWS documentation, Cloud
//! Custodian, Powertools, aws-health-tools and Lambda runtime fixtures, none written here)
//! replayed through the `klaxon` binary as a user would run it: each file alone in its own
//! process, and each listed sequence in one process. `expected.jsonl` gives, per file or
//! sequence step, the outcomes allowed and the routes paged (`null`: not checked). Every
//! difference is reported with the file, the expected and the actual outcome.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/real-events")
}

/// One replay of `files` in one process: its JSON lines, in order.
fn replay(files: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(corpus())
        .arg("replay")
        .arg("--json")
        .args(files)
        .output()
        .expect("klaxon runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "klaxon replay {files:?} exited {code}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The lines of a sequence, one group per file: a file prints as many lines in a sequence
/// as alone (one per finding of a Security Hub custom action, else one).
fn replay_sequence(files: &[&str]) -> Vec<Vec<Value>> {
    let mut lines = replay(files).into_iter();
    files
        .iter()
        .map(|f| lines.by_ref().take(replay(&[f]).len()).collect())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// A difference between one step's lines and what is expected of them, if any.
fn check(what: &str, lines: &[Value], outcomes: &[String], routes: &Value) -> Option<String> {
    let actual: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or("?"))
        .collect();
    if lines.is_empty() || actual.iter().any(|o| !outcomes.iter().any(|e| e == o)) {
        return Some(format!(
            "{what}: expected outcome one of {outcomes:?}, got {actual:?} (errors: {:?})",
            lines.iter().map(|l| &l["error"]).collect::<Vec<_>>()
        ));
    }
    if routes.is_null() {
        return None;
    }
    let expected: BTreeSet<String> = strings(routes).into_iter().collect();
    let paged: BTreeSet<String> = lines
        .iter()
        .flat_map(|l| l["notifications"].as_array().cloned().unwrap_or_default())
        .filter_map(|n| n["route"].as_str().map(str::to_string))
        .collect();
    (paged != expected).then(|| {
        format!(
            "{what}: expected pages to routes {expected:?}, got {paged:?} (outcomes {actual:?})"
        )
    })
}

#[test]
fn public_samples_replay_as_expected_alone_and_in_sequences() {
    let expected = std::fs::read_to_string(corpus().join("expected.jsonl")).unwrap();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in expected.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        if let Some(file) = case["file"].as_str() {
            let lines = replay(&[file]);
            let outcomes = strings(&case["outcome"]);
            failures.extend(check(file, &lines, &outcomes, &case["routes"]));
        } else {
            let files = strings(&case["sequence"]);
            let refs: Vec<&str> = files.iter().map(String::as_str).collect();
            let groups = replay_sequence(&refs);
            for (n, (group, outcomes)) in groups
                .iter()
                .zip(case["outcome"].as_array().unwrap())
                .enumerate()
            {
                let what = format!("sequence {:?} step {} ({})", files, n + 1, files[n]);
                failures.extend(check(&what, group, &strings(outcomes), &Value::Null));
            }
        }
        checked += 1;
    }
    assert!(
        checked >= 51,
        "expected.jsonl lists 45 files and 6 sequences"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_sample_in_the_corpus_is_listed() {
    let expected = std::fs::read_to_string(corpus().join("expected.jsonl")).unwrap();
    let listed: BTreeSet<String> = expected
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|c| c["file"].as_str().map(str::to_string))
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(corpus())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && n != "manifest.json")
        .collect();
    assert_eq!(listed, on_disk);
}
