//! What the most expensive inputs cost (built in `tests/support/worst_case.rs`): each
//! 256 KiB worst-case event end to end on the embedded backend with the shipped runbooks,
//! the refusals of the events past a limit, a trigger at the 1,000-combination limit walking
//! thousands of array elements, the redaction of a quarter megabyte built to make every
//! detector fire, and loading a runbook at and past the limit (what `klaxon runbook check`
//! pays). Peak memory per case: `cargo run --release -p klaxon-shared --example worst_case`.
//!
//!     cargo bench -p klaxon-shared --bench worst_case

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

#[path = "../tests/support/worst_case.rs"]
mod worst_case;

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let shipped = std::sync::Arc::new(klaxon::runbook::Catalog::embedded().unwrap());
    let mut group = c.benchmark_group("worst case");
    group.sample_size(20);
    for case in worst_case::cases() {
        group.bench_function(format!("handle: {}", case.name), |b| {
            b.iter_batched(
                || {
                    klaxon::memory::engine_with(
                        klaxon::memory::embedded_settings(),
                        shipped.clone(),
                    )
                },
                |(_backend, engine)| {
                    let report = runtime.block_on(engine.handle_bytes(black_box(&case.bytes)));
                    report.map(|r| r.outcome).ok()
                },
                BatchSize::PerIteration,
            )
        });
    }
    let pattern = klaxon::pattern::Pattern::from_value(&worst_case::widest_pattern()).unwrap();
    let event: serde_json::Value =
        serde_json::from_slice(&worst_case::arrays_on_trigger_paths()).unwrap();
    group.bench_function("match: 1,000 combinations over 256 KiB of arrays", |b| {
        b.iter(|| pattern.matches(black_box(&event)))
    });
    let dotted = worst_case::dotted_keys_on_trigger_paths();
    group.bench_function(
        "match: 1,000 combinations, keys with dots on every element",
        |b| b.iter(|| pattern.matches(black_box(&dotted))),
    );
    let text = serde_json::from_slice::<serde_json::Value>(&worst_case::adversarial_text())
        .unwrap()["detail"]["description"]
        .as_str()
        .unwrap()
        .to_string();
    group.bench_function("redact: 256 KiB of adversarial text", |b| {
        b.iter(|| klaxon::text::redact_sensitive(black_box(&text)).len())
    });
    let widest = worst_case::runbook_with(&worst_case::widest_pattern());
    group.bench_function("load a runbook at the combination limit", |b| {
        b.iter(|| klaxon::runbook::load_str(Path::new("widest.yaml"), black_box(&widest)).is_ok())
    });
    let exploding = worst_case::runbook_with(&worst_case::exploding_pattern());
    group.bench_function("refuse a runbook of 2^40 combinations", |b| {
        b.iter(|| {
            klaxon::runbook::load_str(Path::new("worst.yaml"), black_box(&exploding)).is_err()
        })
    });
    group.finish();
}

criterion_group!(worst, benches);
criterion_main!(worst);
