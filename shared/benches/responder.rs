//! Benchmarks of the responder's work that needs no network: rendering the incident page
//! (a 40-entry timeline, 6 step outcomes), serving a link's GET end to end on the embedded
//! backend (token hash, link and incident reads, render), and one action end to end on the
//! embedded backend (decide, commit, lifecycle event delivered). Run:
//! `cargo bench -p klaxon-shared --bench responder`.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use klaxon::action::{ActionKind, ActionRequest, Actor, ActorKind, Channel};
use klaxon::ports::IncidentStore;
use klaxon::respond::page::{incident_page, PageInput};
use klaxon::respond::{links, HttpRequest};

fn sample() -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/alarm-metric-prod-alarm.json"),
        )
        .unwrap(),
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut settings = klaxon::memory::embedded_settings();
    settings.responder_url = Some("https://incidents.example.com/".into());
    let (backend, engine) = klaxon::memory::engine(settings);
    backend.set_now("2026-12-01T10:00:00Z".parse().unwrap());
    let report = runtime.block_on(engine.handle_value(&sample())).unwrap();
    let id = report.incident_id.unwrap();
    let link = backend.published()[0]
        .notification
        .message
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    let path = format!(
        "/{}",
        link.trim_start_matches("https://incidents.example.com/")
    );
    // A timeline a long incident has: 40 notes.
    for n in 0..40 {
        let request = ActionRequest {
            action_id: format!("n-{n}"),
            incident_id: id.clone(),
            kind: ActionKind::Note,
            actor: Actor::new("ana", ActorKind::Link, Channel::Link),
            at: "2026-12-01T10:00:00Z".parse().unwrap(),
            note: Some(format!(
                "note {n}: checked the dashboards and the deploy log"
            )),
            duration: None,
            severity: None,
        };
        runtime.block_on(engine.act(request)).unwrap();
    }
    let incident = runtime.block_on(backend.incident(&id)).unwrap().unwrap();
    let timeline = runtime.block_on(backend.timeline(&id)).unwrap();
    let steps = runtime.block_on(backend.step_entries(&id)).unwrap();

    c.bench_function("incident page render (40-entry timeline)", |b| {
        b.iter(|| {
            incident_page(PageInput {
                incident: black_box(&incident),
                timeline: &timeline,
                steps: &steps,
                now: incident.updated_at,
                nonce: "0123456789abcdef0123456789abcdef",
                route: None,
                result: None,
            })
        })
    });
    let get = HttpRequest {
        method: "GET".into(),
        path,
        ..Default::default()
    };
    c.bench_function("link GET end to end (embedded backend)", |b| {
        b.iter(|| {
            runtime
                .block_on(links::serve(&engine, black_box(&get)))
                .unwrap()
        })
    });
    let mut n = 0u64;
    c.bench_function("note action end to end (embedded backend)", |b| {
        b.iter(|| {
            n += 1;
            let request = ActionRequest {
                action_id: format!("bench-{n}"),
                incident_id: id.clone(),
                kind: ActionKind::Note,
                actor: Actor::new("ana", ActorKind::Iam, Channel::Api),
                at: "2026-12-01T10:00:00Z".parse().unwrap(),
                note: Some("x".into()),
                duration: None,
                severity: None,
            };
            runtime.block_on(engine.act(request)).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
