//! Enrichment before the page: the enrichment steps a `notify` follows run side by side,
//! each under its deadline and without retries; a miss or an error never holds the page (the
//! step runs again after it).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::runbook::step::{self, Enriched, EnrichmentSource, LookupInputs};
use crate::runbook::walk::{Planned, Walk};
use crate::text;

/// The result of an enrichment step that ran before the page.
#[derive(Debug, Clone, PartialEq)]
pub enum EarlyEnrichment {
    Done {
        enriched: Enriched,
        duration_ms: u64,
    },
    /// Missed its deadline or failed: why, for the step that runs after the page.
    Deferred(String),
}

/// Results of enrichment that ran before the page, by (runbook, step id).
pub type EarlyResults = HashMap<(String, String), EarlyEnrichment>;

/// Runs every enrichment step the walk wants before the page and `done` lacks, side by
/// side, each under its own deadline and without retries.
pub async fn enrich_before_page<M: EnrichmentSource>(
    metrics: &M,
    walk: &Walk<'_>,
    inputs: &LookupInputs,
    done: &mut EarlyResults,
) {
    let mut wanted = Vec::new();
    for w in &walk.runbooks {
        for (step, planned) in w.runbook.steps.iter().zip(&w.steps) {
            let key = (w.runbook.name().to_string(), step.id.clone());
            if *planned == Planned::EnrichBeforePage && !done.contains_key(&key) {
                wanted.push((key, step));
            }
        }
    }
    let runs = wanted.into_iter().map(|(key, step)| async move {
        let deadline = Duration::from_millis(step.kind.deadline_ms().unwrap_or(1500));
        let started = Instant::now();
        let result =
            match tokio::time::timeout(deadline, step::enrich(metrics, &step.kind, inputs)).await {
                Ok(Ok(enriched)) => EarlyEnrichment::Done {
                    enriched,
                    duration_ms: elapsed_ms(started),
                },
                Ok(Err(e)) => EarlyEnrichment::Deferred(format!(
                    "failed before the page ({})",
                    text::for_log(&e.to_string())
                )),
                Err(_) => EarlyEnrichment::Deferred(format!(
                    "missed its {} ms deadline before the page",
                    deadline.as_millis()
                )),
            };
        (key, result)
    });
    for (key, result) in futures_util::future::join_all(runs).await {
        done.insert(key, result);
    }
}

pub fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
