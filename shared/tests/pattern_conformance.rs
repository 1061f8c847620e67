//! The EventBridge pattern matcher against AWS's own verdicts: the conformance corpus in
//! `tests/conformance/event-patterns` (Apache-2.0, see its LICENSE.txt). A name ending in
//! `_NEG` must not match, `_EXC` must be rejected as invalid, any other must match.

use std::path::PathBuf;

use klaxon::pattern::Pattern;
use serde_json::Value;

#[path = "support/golden.rs"]
mod golden;

/// Cases where Klaxon knowingly differs from the corpus, each with its reason (docs/RUNBOOKS.md
/// would list them too). At most five; today there are none.
const EXCEPTIONS: &[(&str, &str)] = &[];

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/event-patterns")
}

#[derive(Debug, PartialEq)]
enum Verdict {
    Match,
    NoMatch,
    Invalid(String),
}

fn run(pattern: Result<Pattern, klaxon::pattern::PatternError>, event: &Value) -> Verdict {
    match pattern {
        Err(e) => Verdict::Invalid(e.to_string()),
        Ok(p) if p.matches(event) => Verdict::Match,
        Ok(_) => Verdict::NoMatch,
    }
}

#[test]
fn matcher_agrees_with_aws_on_the_corpus() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json5"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 155, "the corpus has 155 JSON5 cases");
    let mut disagreements = Vec::new();
    let mut agreed_exceptions = Vec::new();
    let mut verdicts = String::new();
    for path in &files {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let case: Value = json5::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = if name.ends_with("_EXC") {
            "invalid"
        } else if name.ends_with("_NEG") {
            "no match"
        } else {
            "match"
        };
        let verdict = run(Pattern::from_value(&case["EventPattern"]), &case["Event"]);
        let got = match &verdict {
            Verdict::Match => "match",
            Verdict::NoMatch => "no match",
            Verdict::Invalid(_) => "invalid",
        };
        match &verdict {
            Verdict::Invalid(reason) => verdicts.push_str(&format!("{name}: invalid: {reason}\n")),
            _ => verdicts.push_str(&format!("{name}: {got}\n")),
        }
        let excepted = EXCEPTIONS.iter().any(|(n, _)| *n == name);
        match (got == expected, excepted) {
            (false, false) => disagreements.push(format!(
                "{name}: AWS says {expected}, Klaxon says {verdict:?}"
            )),
            (true, true) => agreed_exceptions.push(name),
            _ => {}
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(
        agreed_exceptions.is_empty(),
        "no longer exceptions, remove them: {agreed_exceptions:?}"
    );
    assert!(EXCEPTIONS.len() <= 5);
    // The verdicts with their reasons, byte for byte (refactoring must not change a message).
    golden::check("pattern-verdicts-localstack.txt", &verdicts);
}

#[test]
fn repeated_keys_case_from_the_corpus() {
    let pattern =
        std::fs::read_to_string(corpus().join("complex_multi_key_event_pattern.json")).unwrap();
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(corpus().join("complex_multi_key_event.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(run(Pattern::parse(&pattern), &event), Verdict::Match);
}
