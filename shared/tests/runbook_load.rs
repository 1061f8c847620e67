//! Runbook files: the shipped ones load; each deliberately broken one is rejected at load
//! with file:line:column, the key, and what was expected.

use std::path::PathBuf;

use klaxon::runbook::load_path;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn shipped_runbooks_are_valid() {
    let runbooks = load_path(&root().join("runbooks")).unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    });
    assert!(runbooks
        .iter()
        .any(|r| r.name() == "default-alarm" && r.spec.fallback));
}

#[test]
fn broken_runbooks_are_rejected_with_locations() {
    // (file, line, column, text the message must contain)
    let expected = [
        (
            "bad-yaml.yaml",
            2,
            14,
            "description: expected string scalar",
        ),
        (
            "invalid-guard.yaml",
            10,
            9,
            "unrecognized operator \"Prefix\"",
        ),
        (
            "invalid-pattern.yaml",
            5,
            3,
            "trigger: Event pattern is not valid",
        ),
        (
            "deadline-too-long.yaml",
            7,
            9,
            "steps.snapshot.metric_snapshot.deadline_ms: 120000 is outside 50-5000",
        ),
        (
            "enrichment-in-guard.yaml",
            11,
            13,
            "conditions cannot use `enrichment`",
        ),
        (
            "enrichment-unguarded.yaml",
            14,
            13,
            "template fails when enrichment is missing",
        ),
        (
            "invalid-template.yaml",
            11,
            16,
            "steps.page.subject: invalid template",
        ),
        (
            "no-step-kind.yaml",
            7,
            9,
            "expected one of: metric_snapshot",
        ),
        (
            "notify-without-incident.yaml",
            7,
            9,
            "put an `incident` step before it",
        ),
        (
            "unknown-key.yaml",
            8,
            5,
            "unknown field `on_eror`, expected one of id, on_error",
        ),
        (
            "unknown-step-kind.yaml",
            8,
            5,
            "unknown field `send_pigeon`",
        ),
        (
            "unknown-variable.yaml",
            12,
            13,
            "steps.page.body: invalid template: template failed: undefined value: `alarm.nmae` is undefined",
        ),
        ("wrong-type.yaml", 8, 14, "retries: invalid u32"),
    ];
    let dir = root().join("tests/runbooks-broken");
    let errors = load_path(&dir).expect_err("every file there is broken");
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (file, line, column, needle) in expected {
        let e = errors
            .iter()
            .find(|e| e.file.file_name().unwrap() == file)
            .unwrap_or_else(|| panic!("no error for {file}"));
        assert_eq!((e.line, e.column), (line, column), "{e}");
        assert!(e.message.contains(needle), "{e}");
        assert!(e
            .to_string()
            .starts_with(&format!("{}:{line}:{column}: ", e.file.display())));
    }
}

#[test]
fn duplicate_names_across_files_are_rejected() {
    let dir = std::env::temp_dir().join(format!("klaxon-dup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = "name: same\ndescription: d\nteam: t\ntrigger:\n  source: [x]\n";
    std::fs::write(dir.join("a.yaml"), text).unwrap();
    std::fs::write(dir.join("b.yaml"), text).unwrap();
    let errors = load_path(&dir).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("unique"), "{}", errors[0]);
    assert_eq!(errors[0].line, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The two AWS Config runbooks split the rules between them: `config-security`'s prefixes
/// (security rules) and `config-compliance`'s `anything-but` list (the others) must be the
/// same list (plus `securityhub-`, left to Security Hub's own findings), or a rule would be
/// served twice or by neither.
#[test]
fn the_config_runbooks_split_the_rules_by_one_list() {
    let runbooks = load_path(&root().join("runbooks")).unwrap();
    let find = |name: &str| {
        runbooks
            .iter()
            .find(|r| r.name() == name)
            .unwrap_or_else(|| panic!("{name} is shipped"))
    };
    let security = find("config-security");
    assert!(security.spec.security);
    let mut prefixes: Vec<String> = security.spec.trigger.value["detail"]["configRuleName"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["prefix"].as_str().unwrap().to_string())
        .collect();
    let compliance = find("config-compliance");
    assert!(!compliance.spec.security);
    let mut excluded: Vec<String> = compliance.spec.trigger.value["detail"]["configRuleName"][0]
        ["anything-but"]["prefix"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    prefixes.push("securityhub-".into());
    prefixes.sort();
    excluded.sort();
    assert_eq!(prefixes, excluded);
    assert!(prefixes.len() > 40, "the managed security rules are listed");
}

/// A step retries at most 5 times (docs/GUARANTEES.md, "Bounded work"); more is refused at
/// load, naming the step.
#[test]
fn a_step_retries_at_most_five_times() {
    let text = |retries: u32| {
        format!(
            "name: retries\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\nsteps:\n  - id: track\n    incident: {{action: track}}\n  - id: count\n    retries: {retries}\n    put_metric: {{name: Fired}}\n"
        )
    };
    klaxon::runbook::load_str(std::path::Path::new("five.yaml"), &text(5))
        .unwrap_or_else(|e| panic!("{e:?}"));
    let errors =
        klaxon::runbook::load_str(std::path::Path::new("six.yaml"), &text(6)).expect_err("refused");
    assert!(
        errors
            .iter()
            .any(|e| e.message.contains("steps.count.retries: at most 5 retries")),
        "{errors:?}"
    );
}
