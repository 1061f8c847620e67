//! The `klaxon` binary as a user runs it: output and exit codes.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn klaxon(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn write(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("klaxon-cli-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn pattern_test_exit_codes() {
    let alarm = write(
        "p1.json",
        r#"{"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}}"#,
    );
    assert_eq!(
        klaxon(&[
            "pattern",
            "test",
            &alarm,
            "events/alarm-metric-prod-alarm.json"
        ]),
        (0, "match\n".into(), String::new())
    );
    assert_eq!(
        klaxon(&[
            "pattern",
            "test",
            &alarm,
            "events/alarm-metric-prod-ok.json"
        ]),
        (1, "no match\n".into(), String::new())
    );
    let invalid = write("p2.json", r#"{"source": "aws.cloudwatch"}"#);
    let (code, out, err) = klaxon(&[
        "pattern",
        "test",
        &invalid,
        "events/alarm-metric-prod-ok.json",
    ]);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("\"source\" must be an object or an array"),
        "{err}"
    );
    let (code, _, err) = klaxon(&[
        "pattern",
        "test",
        &alarm,
        "events/invalid/not-an-object.json",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("must be a JSON object"), "{err}");
}

#[test]
fn replay_json_lines_are_stable_and_complete() {
    let files = [
        "events/alarm-metric-prod-alarm.json",
        "events/alarm-metric-prod-alarm.json",
        "events/alarm-metric-prod-ok.json",
    ];
    let mut args = vec!["replay", "--json"];
    args.extend(files);
    let (code, first, _) = klaxon(&args);
    let (_, second, _) = klaxon(&args);
    assert_eq!(code, 0);
    assert_eq!(first, second, "the same replay prints the same ids");
    let lines: Vec<Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for key in [
        "file",
        "event_id",
        "outcome",
        "incident_id",
        "dedup_key",
        "environment",
        "severity",
        "notifications",
        "error",
        "runbooks",
        "steps",
    ] {
        assert!(lines.iter().all(|l| l.get(key).is_some()), "key {key}");
    }
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["opened", "duplicate", "resolved"]);
    assert_eq!(lines[0]["incident_id"], lines[2]["incident_id"]);
    assert_eq!(lines[0]["notifications"][0]["route"], "production");
    assert!(lines[1]["notifications"].as_array().unwrap().is_empty());
    assert_eq!(lines[1]["error"], Value::Null);
    assert_eq!(lines[0]["runbooks"], serde_json::json!(["default-alarm"]));
    let steps: Vec<(String, String, String, String)> = lines[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let f = |k: &str| s[k].as_str().unwrap().to_string();
            (f("runbook"), f("step"), f("kind"), f("outcome"))
        })
        .collect();
    assert_eq!(
        steps,
        [
            (
                "default-alarm".into(),
                "track".into(),
                "incident".into(),
                "ok".into()
            ),
            (
                "default-alarm".into(),
                "page".into(),
                "notify".into(),
                "ok".into()
            ),
        ]
    );
}

#[test]
fn runbook_test_passes_on_the_shipped_runbooks_and_fails_with_a_diff() {
    let (code, out, err) = klaxon(&["runbook", "test", "runbooks"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" passed, 0 failed"), "{out}");
    let (code, out, _) = klaxon(&["runbook", "test", "tests/runbooks-wrong-expectation"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL wrong-expectation: wrongly expects"),
        "{out}"
    );
    assert!(
        out.contains("    - expected: production\n    + got:      test"),
        "{out}"
    );
    assert!(out.contains("2 test(s): 1 passed, 1 failed"), "{out}");
    // A runbook that does not load runs no test.
    let (code, _, err) = klaxon(&["runbook", "test", "tests/runbooks-broken"]);
    assert_eq!(code, 2);
    assert!(err.contains("no test ran"), "{err}");
}

#[test]
fn replay_rejected_file_does_not_stop_the_others() {
    let (code, out, _) = klaxon(&[
        "replay",
        "--json",
        "events/invalid/bad-timestamp.json",
        "events/alarm-metric-test-alarm.json",
    ]);
    assert_eq!(code, 1);
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["outcome"], "rejected");
    assert!(lines[0]["error"].as_str().unwrap().contains("yesterday"));
    assert_eq!(lines[1]["outcome"], "opened");
    assert_eq!(lines[1]["environment"], "staging");
}

#[test]
fn the_documented_example_runbook_is_the_tested_one_and_passes() {
    let example = std::fs::read_to_string(root().join("docs/examples/checkout-5xx.yaml")).unwrap();
    let doc = std::fs::read_to_string(root().join("docs/RUNBOOKS.md")).unwrap();
    assert!(
        doc.contains(&format!("```yaml\n{example}```")),
        "docs/RUNBOOKS.md must show docs/examples/checkout-5xx.yaml verbatim"
    );
    let (code, out, err) = klaxon(&["runbook", "test", "docs/examples"]);
    assert_eq!(code, 0, "{out}{err}");
}

/// `klaxon runbook check` refuses what could not deploy: a trigger whose rule would pass
/// EventBridge's 2,048 characters, and a trigger whose `$or` combinations pass the matcher's
/// limit; the shipped runbooks pass.
#[test]
fn runbook_check_refuses_triggers_that_could_not_deploy() {
    let (code, out, err) = klaxon(&["runbook", "check", "runbooks"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("runbook(s) valid"), "{out}");

    let names: Vec<String> = (0..60)
        .map(|n| format!("\"prod-checkout-service-alarm-number-{n:03}\""))
        .collect();
    let long = write(
        "long-trigger.yaml",
        &format!(
            "name: long-trigger\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\n  detail:\n    alarmName: [{}]\nsteps:\n  - id: track\n    incident:\n      action: track\n",
            names.join(", ")
        ),
    );
    let (code, out, err) = klaxon(&["runbook", "check", &long]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("long-trigger")
            && err.contains("event pattern of")
            && err.contains("EventBridge allows 2048"),
        "{err}"
    );
    assert!(!out.contains("valid"), "{out}");

    // Eleven `$or`s of two alternatives each: 2,048 combinations, past the 1,000 allowed.
    let ors: Vec<String> = (0..11)
        .map(|n| format!("{{\"$or\": [{{\"f{n}\": [\"a\"]}}, {{\"g{n}\": [\"b\"]}}]}}"))
        .collect();
    let mut detail = String::from("{\"x\": [\"y\"]");
    for (n, o) in ors.iter().enumerate() {
        detail.push_str(&format!(", \"k{n}\": {o}"));
    }
    detail.push('}');
    let wide = write(
        "wide-or.yaml",
        &format!(
            "name: wide-or\ndescription: d\nteam: t\ntrigger: {{\"source\": [\"aws.cloudwatch\"], \"detail\": {detail}}}\nsteps:\n  - id: track\n    incident:\n      action: track\n"
        ),
    );
    let (code, out, err) = klaxon(&["runbook", "check", &wide]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("combinations"), "{err}");
}

/// `klaxon runbook test --event`: for each runbook, the clause that matched or the first
/// field that failed with the event's value there, on three kinds of pattern (a prefix on an
/// alarm's name, a numeric range on a finding's severity, the `$or` of a shipped invariant on
/// a CloudTrail call), on public samples and a user's file; and the exit codes.
#[test]
fn runbook_test_event_explains_each_trigger_by_its_first_failing_field() {
    let prefix = write(
        "explain-prefix.yaml",
        "name: prod-only\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\n  detail-type: [CloudWatch Alarm State Change]\n  detail:\n    alarmName: [{prefix: checkout-}]\n    state: {value: [ALARM]}\nsteps:\n  - id: track\n    incident:\n      action: track\n",
    );
    let (code, out, err) = klaxon(&[
        "runbook",
        "test",
        &prefix,
        "--event",
        "events/alarm-anomaly-alarm.json",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("intake: accepted"), "{out}");
    assert!(
        out.contains(
            "no match  prod-only (",
        ) && out.contains(
            "): detail.alarmName is \"prod-search-api-request-count-anomaly\"; the trigger wants [{\"prefix\": \"checkout-\"}]"
        ),
        "{out}"
    );
    assert!(out.contains("runs: none (no trigger matches)"), "{out}");

    // A numeric range on a public GuardDuty sample (severity 5): fails, then matches.
    let numeric = |low: u32| {
        write(
            &format!("explain-numeric-{low}.yaml"),
            &format!("name: severe-findings\ndescription: d\nteam: t\ntrigger:\n  source: [aws.guardduty]\n  detail:\n    type: [{{prefix: \"UnauthorizedAccess:\"}}]\n    severity: [{{numeric: [\">=\", {low}]}}]\nsteps:\n  - id: track\n    incident:\n      action: track\n"),
        )
    };
    let sample = "tests/conformance/real-events/custodian-guardduty-iam.json";
    let (code, out, err) = klaxon(&["runbook", "test", &numeric(7), "--event", sample]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("detail.severity is 5; the trigger wants [{\"numeric\": [\">=\", 7]}]"),
        "{out}"
    );
    let (code, out, err) = klaxon(&["runbook", "test", &numeric(4), "--event", sample]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("match     severe-findings (")
            && out.contains("detail.severity [{\"numeric\": [\">=\", 4]}]")
            && out.contains("runs: in run order, severe-findings"),
        "{out}"
    );

    // The shipped invariant's five `$or` clauses, on a user's copy of a public CloudTrail
    // sample that opens port 55 to 10.0.0.0/8 only: each clause's failing field is named.
    let mut call: Value =
        serde_json::from_str(
            &std::fs::read_to_string(root().join(
                "tests/conformance/real-events/reflex-cloudtrail-sg-ingress-port55-world.json",
            ))
            .unwrap(),
        )
        .unwrap();
    let items = &mut call["detail"]["requestParameters"]["ipPermissions"]["items"];
    items[0]["ipRanges"]["items"][0]["cidrIp"] = Value::from("10.0.0.0/8");
    items[1]["ipv6Ranges"] = serde_json::json!({});
    let private = write("explain-private.json", &call.to_string());
    let (code, out, err) = klaxon(&[
        "runbook",
        "test",
        "runbooks",
        "--event",
        &private,
        "--event",
        "tests/conformance/real-events/reflex-cloudtrail-sg-ingress-port55-world.json",
    ]);
    // No runbook matches the private call (there is no fallback for CloudTrail): exit 1.
    assert_eq!(code, 1, "{out}{err}");
    let private_part = out.split("reflex-cloudtrail").next().unwrap();
    assert!(
        private_part.contains(
            "detail.requestParameters.ipPermissions.items.ipRanges.items.cidrIp is \"10.0.0.0/8\"; the trigger wants [{\"suffix\": \"/0\"}]"
        ),
        "{out}"
    );
    assert!(
        private_part.contains(
            "clause 2: detail.requestParameters.ipPermissions.items.ipv6Ranges.items.cidrIpv6 is absent"
        ) && private_part.contains("clause 5: ")
            && private_part.contains("runs: none"),
        "{out}"
    );
    let public_part = out.split("reflex-cloudtrail").nth(1).unwrap();
    assert!(
        public_part.contains("match     invariant-admin-ports-open-to-world (")
            && public_part.contains("clause 1 of 5"),
        "{out}"
    );

    // Another delivery path is named by the intake; an unreadable file exits 2.
    let (code, out, _) = klaxon(&[
        "runbook",
        "test",
        "--event",
        "tests/conformance/real-events/rust-sns-wrapped-alarm.json",
    ]);
    assert_eq!(code, 1);
    assert!(
        out.contains("intake: rejected: this is an SNS notification")
            && out.contains("detail-type is absent"),
        "{out}"
    );
    let (code, _, err) = klaxon(&["runbook", "test", "--event", "no-such-file.json"]);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-file.json: cannot read"), "{err}");
}

/// A reader that stops early (`klaxon replay … | head`) ends klaxon quietly, as it ends
/// `cat`: no panic on the closed pipe. The output (every sample) is larger than a pipe's
/// buffer, so klaxon is still writing when the pipe closes.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_klaxon_without_a_panic() {
    use std::io::Read;
    let mut files: Vec<String> = Vec::new();
    for dir in ["events", "events/security", "events/health"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path.to_string_lossy().into_owned());
            }
        }
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_klaxon"))
        .current_dir(root())
        .arg("replay")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe's read end is dropped here.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?}",
        out.status
    );
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13 // SIGPIPE on Linux and macOS
}
