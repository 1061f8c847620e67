//! Responder actions through the `klaxon` binary on the embedded backend: every action in
//! every state through `klaxon replay` action documents (no state file), and the
//! `klaxon incident` commands on a `--state` file.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn klaxon(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(root())
        .env("USER", "tester")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("klaxon-responder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const ALARM: &str = "events/alarm-metric-prod-alarm.json";
const INCIDENT: &str = "INC-20240501-d79a05a12d";

fn action(dir: &std::path::Path, name: &str, kind: &str, extra: &str) -> String {
    let path = dir.join(format!("{name}.json"));
    std::fs::write(
        &path,
        format!(
            r#"{{"klaxon_action": "{kind}", "incident_id": "{INCIDENT}", "actor": "ana", "channel": "api"{extra}}}"#
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The outcome table of docs/RESPONDERS.md, row by row: each action in each state, one
/// replay per cell, the state reached by earlier action documents.
#[test]
fn replay_gives_every_action_its_documented_outcome_in_every_state() {
    let dir = temp_dir("table");
    let ack = action(&dir, "to-ack", "acknowledge", "");
    let resolve = action(&dir, "to-resolve", "resolve", "");
    let setups: [(&str, Vec<String>); 3] = [
        ("open", vec![]),
        ("acknowledged", vec![ack.clone()]),
        ("resolved", vec![resolve.clone()]),
    ];
    let table = [
        (
            "acknowledge",
            "",
            ["acknowledged", "unchanged", "unchanged"],
        ),
        (
            "resolve",
            "",
            ["resolved_by_person", "resolved_by_person", "unchanged"],
        ),
        ("reopen", "", ["unchanged", "unchanged", "reopened"]),
        ("note", r#", "note": "n""#, ["noted_by_person"; 3]),
        (
            "snooze",
            r#", "duration": "30m""#,
            ["snoozed", "snoozed", "unchanged"],
        ),
        (
            "severity",
            r#", "severity": "low""#,
            ["severity_changed"; 3],
        ),
        ("own", "", ["owned", "owned", "unchanged"]),
    ];
    for (kind, extra, outcomes) in table {
        let doc = action(&dir, kind, kind, extra);
        for ((state, setup), expected) in setups.iter().zip(outcomes) {
            let mut args = vec!["replay", "--json", ALARM];
            args.extend(setup.iter().map(String::as_str));
            args.push(&doc);
            let (code, out, err) = klaxon(&args);
            assert_eq!(code, 0, "{kind} on {state}: {err}");
            let last = lines(&out).pop().unwrap();
            assert_eq!(last["outcome"], expected, "{kind} on {state}: {last}");
            // Every key an event line has, plus the action's own.
            for key in [
                "event_id",
                "incident_id",
                "dedup_key",
                "notifications",
                "lifecycle_events",
                "error",
                "runbooks",
                "steps",
                "actor",
                "channel",
                "action_id",
                "status",
            ] {
                assert!(last.get(key).is_some(), "{key} missing: {last}");
            }
            assert_eq!(last["channel"], "api");
        }
    }
}

#[test]
fn replay_refuses_bad_action_documents_and_unknown_incidents_with_exit_1() {
    let dir = temp_dir("bad");
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"klaxon_action": "ack", "incident_id": "INC-1", "actor": "a", "channel": "cli"}"#,
    )
    .unwrap();
    let unknown = dir.join("unknown.json");
    std::fs::write(&unknown, r#"{"klaxon_action": "note", "incident_id": "INC-nope", "actor": "a", "channel": "cli", "note": "x", "at": "2024-05-01T12:00:00Z"}"#).unwrap();
    let (code, out, _) = klaxon(&[
        "replay",
        "--json",
        bad.to_str().unwrap(),
        unknown.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    let lines = lines(&out);
    assert_eq!(lines[0]["outcome"], "rejected");
    assert!(lines[0]["error"]
        .as_str()
        .unwrap()
        .contains("`klaxon_action` is `ack`"));
    assert_eq!(lines[1]["outcome"], "rejected");
    assert_eq!(lines[1]["error"], "unknown incident INC-nope");
}

#[test]
fn replay_repeats_an_action_id_once_and_keeps_its_own_clock() {
    let dir = temp_dir("clock");
    let note = action(
        &dir,
        "note",
        "note",
        r#", "note": "x", "action_id": "same", "at": "2024-05-01T12:30:00Z""#,
    );
    let (code, out, _) = klaxon(&["replay", "--json", ALARM, &note, &note]);
    assert_eq!(code, 0);
    let lines = lines(&out);
    assert_eq!(lines[1]["outcome"], "noted_by_person");
    assert_eq!(lines[1]["lifecycle_events"].as_array().unwrap().len(), 1);
    assert_eq!(lines[2]["outcome"], "noted_by_person", "the first result");
    assert_eq!(
        lines[2]["lifecycle_events"].as_array().unwrap().len(),
        0,
        "applied once"
    );
}

#[test]
fn incident_commands_act_on_a_state_file_and_keep_it_between_runs() {
    let dir = temp_dir("state");
    let state = dir.join("klaxon.state");
    let state = state.to_str().unwrap();
    let (code, _, err) = klaxon(&["replay", "--state", state, ALARM]);
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = klaxon(&["incident", "list", "--state", state, "--json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["incidents"][0]["incident_id"], INCIDENT);
    assert!(list["incidents"][0].get("timeline").is_none());

    let act = |args: &[&str]| {
        let mut all = vec!["incident"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--state", state, "--json"]);
        let (code, out, err) = klaxon(&all);
        let value: Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|_| panic!("{out}{err}"));
        (code, value)
    };
    let (code, ack) = act(&["ack", INCIDENT, "--at", "2024-05-01T12:03:00Z"]);
    assert_eq!((code, ack["outcome"].as_str()), (0, Some("acknowledged")));
    let (_, again) = act(&["ack", INCIDENT]);
    assert_eq!(again["outcome"], "unchanged");
    let (_, note) = act(&["note", INCIDENT, "rolled back", "--action-id", "n-1"]);
    assert_eq!(note["outcome"], "noted_by_person");
    let (_, repeated) = act(&["note", INCIDENT, "rolled back", "--action-id", "n-1"]);
    assert_eq!(repeated["outcome"], "noted_by_person");
    let (_, snoozed) = act(&["snooze", INCIDENT, "30m"]);
    assert_eq!(snoozed["outcome"], "snoozed");
    let (_, severity) = act(&["severity", INCIDENT, "medium"]);
    assert_eq!(severity["incident"]["severity"], "medium");
    let (_, own) = act(&["own", INCIDENT]);
    assert_eq!(own["incident"]["owner"], "local:tester");
    let (_, resolved) = act(&["resolve", INCIDENT, "--note", "fixed"]);
    assert_eq!(resolved["status"], "resolved");
    let (_, reopened) = act(&["reopen", INCIDENT]);
    assert_eq!(reopened["outcome"], "reopened");

    let (code, shown) = act(&["show", INCIDENT]);
    assert_eq!(code, 0);
    assert_eq!(
        shown["acknowledged"],
        Value::Null,
        "reopened: acknowledged again from scratch"
    );
    let actions: Vec<&Value> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "action")
        .collect();
    assert_eq!(
        actions.len(),
        8,
        "every action once, the repeated note not twice"
    );
    assert!(actions
        .iter()
        .all(|e| e["actor"] == "local:tester" && e["channel"] == "cli"));
    assert_eq!(actions[0]["at"], "2024-05-01T12:03:00.000Z");

    let export = dir.join("audit.json");
    let (code, _, _) = klaxon(&[
        "incident",
        "export",
        INCIDENT,
        "--state",
        state,
        "--output",
        export.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let audit: Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(audit["actions"].as_array().unwrap().len(), 8);
    assert_eq!(audit["actions"][0]["actor_kind"], "cli-local");

    let (code, _, _) = klaxon(&[
        "incident",
        "revoke-links",
        INCIDENT,
        "--state",
        state,
        "--route",
        "production",
    ]);
    assert_eq!(code, 0);
    let (code, _, err) = klaxon(&[
        "incident",
        "revoke-links",
        INCIDENT,
        "--state",
        state,
        "--route",
        "nowhere",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("unknown route `nowhere`"), "{err}");

    // An action the table refuses exits 1; a state file from another release is refused.
    let (code, out, _) = klaxon(&["incident", "ack", "INC-nope", "--state", state]);
    assert_eq!(code, 1, "{out}");
    std::fs::write(
        dir.join("old.state"),
        r#"{"format": "klaxon-state", "version": 7}"#,
    )
    .unwrap();
    let (code, _, err) = klaxon(&[
        "incident",
        "list",
        "--state",
        dir.join("old.state").to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("state file version 7 is not supported"),
        "{err}"
    );
    let (code, _, err) = klaxon(&["incident", "list"]);
    assert_eq!(code, 2);
    assert!(err.contains("--state PATH"), "{err}");
}

#[test]
fn replay_refuses_an_action_before_any_time_and_runbook_test_names_action_documents() {
    let dir = temp_dir("first");
    let note = action(&dir, "note", "note", r#", "note": "x""#);
    let (code, out, _) = klaxon(&["replay", "--json", &note]);
    assert_eq!(code, 1);
    let line = lines(&out).pop().unwrap();
    assert_eq!(line["outcome"], "rejected");
    assert!(
        line["error"].as_str().unwrap().contains("give it an `at`"),
        "{line}"
    );
    let (_, out, _) = klaxon(&["runbook", "test", "--event", &note]);
    assert!(
        out.contains("a responder action (`klaxon_action`), not an event"),
        "{out}"
    );
}

#[test]
fn signed_requests_go_over_https_except_to_this_machine() {
    let (code, _, err) = klaxon(&["incident", "list", "--url", "http://incidents.example.com/"]);
    assert_eq!(code, 2);
    assert!(err.contains("must be https://"), "{err}");
}

#[test]
fn at_is_refused_against_the_api() {
    let (code, _, err) = klaxon(&[
        "incident",
        "ack",
        INCIDENT,
        "--url",
        "http://127.0.0.1:9/",
        "--at",
        "2024-05-01T12:00:00Z",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--at is for the embedded backend"), "{err}");
}

/// Two klaxon processes on one state file take turns: the second waits for the first's
/// lock, and neither loses the other's write.
#[test]
fn a_state_file_is_locked_while_in_use() {
    let dir = temp_dir("lock");
    let state = dir.join("klaxon.state");
    let state = state.to_str().unwrap().to_string();
    let (code, _, _) = klaxon(&["replay", "--state", &state, ALARM]);
    assert_eq!(code, 0);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(format!("{state}.lock"))
        .unwrap();
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
    let child = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(root())
        .args([
            "incident",
            "note",
            INCIDENT,
            "while locked",
            "--state",
            &state,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let before: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        before["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "action")
            .count(),
        0,
        "nothing written while another holds the lock"
    );
    drop(lock);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("waiting for another klaxon"));
    let after: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(
        after["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "action")
            .count(),
        1
    );
    // No temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A document without `action_id` is a new action each time it is given: replay names it
/// `replay-…` after its place in the run and what the state already holds.
#[test]
fn documents_without_an_action_id_are_new_actions_each_time() {
    let dir = temp_dir("generated");
    let note = action(&dir, "note", "note", r#", "note": "again""#);
    let state = dir.join("s.state");
    let state = state.to_str().unwrap();
    let (code, out, _) = klaxon(&["replay", "--json", "--state", state, ALARM, &note, &note]);
    assert_eq!(code, 0);
    let first = lines(&out);
    let ids: Vec<&str> = first[1..]
        .iter()
        .map(|l| l["action_id"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("replay-")), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert!(first[1..].iter().all(|l| l["outcome"] == "noted_by_person"));
    // The same file at the same place in a later run, on the state: a new action too.
    let (_, out, _) = klaxon(&["replay", "--json", "--state", state, &note]);
    let later = lines(&out).pop().unwrap();
    assert_eq!(later["outcome"], "noted_by_person");
    assert!(!ids.contains(&later["action_id"].as_str().unwrap()));
    // And the same inputs on a fresh backend print the same ids (goldens rely on it).
    let (_, again, _) = klaxon(&["replay", "--json", ALARM, &note, &note]);
    let again: Vec<String> = lines(&again)[1..]
        .iter()
        .map(|l| l["action_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(again, ids);
}
