//! `klaxon replay`'s exit status and what it prints for every file (docs/CONTRACTS.md (e)):
//! 2 if a file could not be read or handled, else 1 if an event was rejected, else 0; a file
//! that cannot be read is reported as `rejected` with the error, and the others still run.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn klaxon(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn an_unreadable_file_exits_2_and_every_file_is_still_reported() {
    let (code, out) = klaxon(&[
        "replay",
        "--json",
        "events/no-such-file.json",
        "events/invalid/bad-timestamp.json",
        "events/alarm-metric-prod-alarm.json",
    ]);
    assert_eq!(code, 2, "{out}");
    let lines = lines(&out);
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0]["outcome"], "rejected");
    assert_eq!(lines[0]["file"], "events/no-such-file.json");
    assert!(
        lines[0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot read events/no-such-file.json"),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1]["outcome"], "rejected");
    assert_eq!(lines[2]["outcome"], "opened");
    assert_eq!(
        klaxon(&["replay", "--json", "events/invalid/bad-timestamp.json"]).0,
        1
    );
    assert_eq!(
        klaxon(&["replay", "--json", "events/alarm-metric-prod-alarm.json"]).0,
        0
    );
}

#[test]
fn event_ids_are_printed_without_control_or_bidi_characters() {
    let mut event: Value = serde_json::from_slice(
        &std::fs::read(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../events/alarm-metric-prod-alarm.json"),
        )
        .unwrap(),
    )
    .unwrap();
    event["id"] = "bidi\u{202e}id\u{200f}-1".into();
    let path = std::env::temp_dir().join(format!("klaxon-bidi-{}.json", std::process::id()));
    std::fs::write(&path, event.to_string()).unwrap();
    let file = path.to_string_lossy().into_owned();
    let (code, human) = klaxon(&["replay", &file]);
    assert_eq!(code, 0, "{human}");
    assert!(human.contains("event id     bidiid-1\n"), "{human}");
    let (_, json) = klaxon(&["replay", "--json", &file]);
    assert_eq!(lines(&json)[0]["event_id"], "bidiid-1");
    std::fs::remove_file(&path).unwrap();
}
