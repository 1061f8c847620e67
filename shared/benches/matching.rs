//! Benchmarks of the per-event work that needs no network: parsing an alarm event,
//! selecting runbooks among 200 (triggers compiled once, the event flattened once), handling
//! one event end to end through the engine on the embedded backend with 204 runbooks (4 of
//! them run classify, track and a templated notify), and loading the shipped runbooks (what
//! a cold start pays). Run: `cargo bench -p klaxon-shared --bench matching`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use klaxon::intake::{parse_bytes, Intake};
use klaxon::runbook::{load_str, Catalog};

fn sample() -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/alarm-metric-prod-alarm.json"),
    )
    .unwrap()
}

/// 200 runbooks with realistic triggers: a mix of sources, detail-types, alarm-name
/// prefixes, tag conditions, numeric and anything-but rules; 4 of them match the sample.
fn catalog() -> Catalog {
    let mut runbooks = Vec::new();
    for i in 0..200 {
        let trigger = match i % 5 {
            0 => format!("source: [aws.cloudwatch]\n  detail-type: [CloudWatch Alarm State Change]\n  detail:\n    alarmName: [{{prefix: team-{i}-}}]"),
            1 => format!("source: [aws.guardduty]\n  detail:\n    severity: [{{numeric: ['>=', {}]}}]", i % 9),
            2 => format!("source: [aws.cloudwatch]\n  detail:\n    alarmTags:\n      Service: [service-{i}]\n    state:\n      value: [ALARM]"),
            3 => format!("source: [aws.config]\n  detail:\n    configRuleName: [{{anything-but: {{prefix: rule-{i}}}}}]"),
            _ => format!("source: [aws.health]\n  detail:\n    service: [EC2, RDS, service-{i}]"),
        };
        let text = format!("name: rb-{i}\ndescription: d\nteam: t\ntrigger:\n  {trigger}\n");
        runbooks.push(load_str(Path::new("bench.yaml"), &text).unwrap());
    }
    for (i, trigger) in [
        "source: [aws.cloudwatch]",
        "detail-type: [CloudWatch Alarm State Change]",
        "detail:\n    alarmTags:\n      Environment: [production]",
        "detail:\n    state:\n      value: [ALARM]\n    alarmName: [{wildcard: 'prod-*-errors'}]",
    ]
    .iter()
    .enumerate()
    {
        let text =
            format!("name: match-{i}\ndescription: d\nteam: t\ntrigger:\n  {trigger}\n{STEPS}");
        runbooks.push(load_str(Path::new("bench.yaml"), &text).unwrap());
    }
    Catalog::new(runbooks)
}

const STEPS: &str = r#"steps:
  - id: severity
    classify:
      rules:
        - when: {production: [true], alarm: {name: [{prefix: prod-}]}}
          severity: critical
  - id: track
    incident: {action: track}
  - id: page
    notify:
      subject: "[{{ severity | upper }}] {{ alarm.name }} {{ transition }}"
      body: "{{ incident_id }} {{ alarm.reason_quoted }} {{ service or 'untagged' }}"
"#;

fn benches(c: &mut Criterion) {
    let raw = sample();
    let event: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    let catalog = catalog();
    assert_eq!(catalog.select(&event).len(), 4);
    c.bench_function("select runbooks: 1 event x 204 runbooks", |b| {
        b.iter(|| catalog.select(black_box(&event)).len())
    });
    let catalog = std::sync::Arc::new(catalog);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    c.bench_function(
        "handle 1 alarm event end to end (embedded backend, 204 runbooks, 4 run)",
        |b| {
            b.iter_batched(
                || {
                    klaxon::memory::engine_with(
                        klaxon::memory::embedded_settings(),
                        catalog.clone(),
                    )
                },
                |(_backend, engine)| {
                    let report = runtime.block_on(engine.handle_bytes(black_box(&raw)));
                    report.map(|r| r.steps.len()).unwrap_or(0)
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("load the shipped runbooks (cold start)", |b| {
        b.iter(|| klaxon::runbook::Catalog::embedded().map(|c| c.runbooks().len()))
    });
    c.bench_function("parse alarm event", |b| {
        b.iter(|| match parse_bytes(black_box(&raw)) {
            Ok(Intake::Change(a)) => a.alarm_name.len(),
            _ => 0,
        })
    });
    let finding = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events/security/guardduty-ssh-bruteforce-high.json"),
    )
    .unwrap();
    c.bench_function("parse GuardDuty finding (redacted title, facts)", |b| {
        b.iter(|| match parse_bytes(black_box(&finding)) {
            Ok(Intake::Change(a)) => a.alarm_name.len(),
            _ => 0,
        })
    });
    // The shipped runbooks on a security event: the security path end to end.
    let shipped = std::sync::Arc::new(klaxon::runbook::Catalog::embedded().unwrap());
    c.bench_function(
        "handle 1 GuardDuty finding end to end (embedded backend, shipped runbooks)",
        |b| {
            b.iter_batched(
                || {
                    klaxon::memory::engine_with(
                        klaxon::memory::embedded_settings(),
                        shipped.clone(),
                    )
                },
                |(_backend, engine)| {
                    let report = runtime.block_on(engine.handle_bytes(black_box(&finding)));
                    report.map(|r| r.steps.len()).unwrap_or(0)
                },
                criterion::BatchSize::SmallInput,
            )
        },
    );
}

criterion_group!(matching, benches);
criterion_main!(matching);
