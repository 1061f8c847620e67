//! The steps after the page: recorded outcomes first, then each pending step with its
//! retries, each recorded as soon as it ends, never twice.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Engine;
use crate::error::KlaxonError;
use crate::model::{PendingStep, StepEntry, StepPhase, StepRun, StepStatus};
use crate::ownership;
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::runbook::after_page::{StepFailure, StepOutput};
use crate::runbook::step::{AfterPageEffect, LookupInputs};
use crate::runbook::Step;
use crate::runbook::{after_page, enrich as early};
use crate::text;

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// Records the outcomes decided before the page and runs the steps left for after it,
    /// each recorded as soon as it ends. `fresh`: this invocation wrote the run, so nothing
    /// of it can have been recorded yet; otherwise entries already recorded are skipped.
    pub(super) async fn run_steps(
        &self,
        run: StepRun,
        fresh: bool,
    ) -> Result<Vec<StepEntry>, KlaxonError> {
        let result = self.run_steps_inner(&run, fresh).await;
        match result {
            Ok(entries) => {
                if let Err(e) = self.store.complete_step_run(&run).await {
                    // Every step has its entry, so a later retry would only find them.
                    tracing::warn!(error = %e, "steps done, but the step run could not be deleted");
                }
                Ok(entries)
            }
            Err(e) => {
                tracing::error!(error = %e, "recording runbook steps failed; the invocation will be retried");
                self.release_step_run(&run).await;
                Err(e)
            }
        }
    }

    pub(super) async fn run_steps_inner(
        &self,
        run: &StepRun,
        fresh: bool,
    ) -> Result<Vec<StepEntry>, KlaxonError> {
        let mut recorded: Vec<StepEntry> = if fresh {
            Vec::new()
        } else {
            self.store
                .event_step_entries(run.incident_id.as_deref(), &run.event_id)
                .await?
        };
        let missing: Vec<StepEntry> = run
            .entries
            .iter()
            .filter(|e| !recorded.iter().any(|r| r.seq == e.seq))
            .cloned()
            .collect();
        if !missing.is_empty() {
            self.store.put_step_entries(&missing).await?;
            recorded.extend(missing);
        }
        for pending in &run.pending {
            if recorded.iter().any(|r| r.seq == pending.seq) {
                continue; // completed by an earlier attempt: never run twice
            }
            let entry = self.run_pending(run, pending, &recorded).await;
            tracing::info!(
                runbook = %entry.runbook,
                step = %entry.step,
                kind = %entry.kind,
                status = entry.status.as_str(),
                attempts = entry.attempts,
                duration_ms = entry.duration_ms,
                "runbook step after the page"
            );
            self.store
                .put_step_entries(std::slice::from_ref(&entry))
                .await?;
            recorded.push(entry);
        }
        recorded.sort_by_key(|e| e.seq);
        Ok(recorded)
    }

    pub(super) async fn release_step_run(&self, run: &StepRun) {
        if let Err(e) = self
            .store
            .claim_step_run(run, DateTime::<Utc>::UNIX_EPOCH)
            .await
        {
            tracing::warn!(error = %e, "could not release the step run's lease; it expires by itself");
        }
    }

    /// Runs one after-page step with its retries; never fails the invocation (the outcome
    /// says what happened).
    pub(super) async fn run_pending(
        &self,
        run: &StepRun,
        pending: &PendingStep,
        recorded: &[StepEntry],
    ) -> StepEntry {
        let started = std::time::Instant::now();
        let entry = |status: StepStatus, attempts: u32, summary: String, detail: Option<Value>| {
            let summary = match &pending.deferred_because {
                Some(why) => format!("after the page ({why}): {summary}"),
                None => summary,
            };
            StepEntry {
                incident_id: run.incident_id.clone(),
                event_id: run.event_id.clone(),
                seq: pending.seq,
                runbook: pending.runbook.clone(),
                step: pending.step.clone(),
                kind: pending.kind.clone(),
                status,
                phase: StepPhase::AfterPage,
                at: self.clock.now(),
                duration_ms: early::elapsed_ms(started),
                attempts,
                summary: text::bounded(&text::single_line(&summary), 1024),
                detail: detail.map(|d| d.to_string()),
                expires_at: run.incident_id.is_none().then_some(run.expires_at),
            }
        };
        let Some(runbook) = self.catalog.find(&pending.runbook) else {
            return entry(
                StepStatus::Failed,
                0,
                format!("runbook `{}` is no longer deployed", pending.runbook),
                None,
            );
        };
        let Some(step) = runbook.step(&pending.step) else {
            return entry(
                StepStatus::Failed,
                0,
                format!(
                    "step `{}` is no longer in runbook `{}`",
                    pending.step, pending.runbook
                ),
                None,
            );
        };
        if let Some(failed) = crate::runbook::abort::aborted_by(runbook, recorded, pending.seq) {
            return entry(
                StepStatus::Skipped,
                0,
                crate::runbook::abort::skipped(failed),
                None,
            );
        }
        let ctx = self.step_context(run, runbook, recorded);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.execute_after_page(step, &ctx, run).await {
                Ok(out) => return entry(StepStatus::Ok, attempt, out.summary, out.detail),
                Err(e) if e.is_retryable() && attempt <= step.retries => {
                    tracing::warn!(step = %step.id, attempt, error = %e, "step failed; retrying");
                    tokio::time::sleep(after_page::retry_delay(attempt - 1)).await;
                }
                Err(e) => return entry(StepStatus::Failed, attempt, e.to_string(), None),
            }
        }
    }

    /// The context a runbook's after-page step renders against: the committed context,
    /// the runbook's own classification, and the enrichment results recorded so far.
    pub(super) fn step_context(
        &self,
        run: &StepRun,
        runbook: &crate::runbook::Runbook,
        recorded: &[StepEntry],
    ) -> Value {
        let ownership = run
            .scopes
            .iter()
            .find(|s| s.runbook == runbook.name())
            .map(|s| s.ownership.clone())
            .unwrap_or_else(|| ownership::from_tags(&[]));
        let mut ctx =
            crate::runbook::context::scoped_context(&run.context, runbook.name(), &ownership);
        ctx[crate::runbook::context::ENRICHMENT_KEY] =
            crate::runbook::context::enrichment_context(runbook, |id| {
                recorded
                    .iter()
                    .find(|e| {
                        e.runbook == runbook.name() && e.step == id && e.status == StepStatus::Ok
                    })
                    .and_then(|e| e.detail.as_deref())
                    .and_then(|d| serde_json::from_str(d).ok())
            });
        ctx
    }

    /// One attempt at an after-page step.
    pub(super) async fn execute_after_page(
        &self,
        step: &Step,
        ctx: &Value,
        run: &StepRun,
    ) -> Result<StepOutput, StepFailure> {
        if step.kind.is_enrichment() {
            let inputs = LookupInputs {
                dedup_key: run.dedup_key.clone(),
                state_timestamp: run.state_timestamp,
                queries: run.metric_queries.clone(),
                target_groups: run.target_groups.clone(),
                health_checks: run.health_checks.clone(),
            };
            let enriched =
                crate::runbook::step::enrich(self.lookups.source(), &step.kind, &inputs).await?;
            return Ok(StepOutput {
                summary: enriched.summary,
                detail: Some(enriched.detail),
            });
        }
        let label = format!(
            "{}/{}",
            ctx["runbook"].as_str().unwrap_or_default(),
            step.id
        );
        let origin = crate::runbook::step::EffectOrigin {
            hops: run.hops,
            dedup_key: &run.dedup_key,
            event_id: &run.event_id,
            step: &label,
        };
        let summary = match crate::runbook::step::after_page_effect(&step.kind, ctx, &origin)? {
            Some(AfterPageEffect::Emit(event)) => {
                self.bus.put(&self.settings.event_bus, &event).await?;
                crate::runbook::step::Emit::summary(&event, run.hops)
            }
            Some(AfterPageEffect::Metric(datum)) => {
                self.lookups.source().put_metric(&datum).await?;
                crate::runbook::step::PutMetric::summary(&datum)
            }
            Some(AfterPageEffect::Enriched(e)) => {
                return Ok(StepOutput {
                    summary: e.summary,
                    detail: Some(e.detail),
                })
            }
            None => return Err(StepFailure::NotAfterPage(step.kind.name())),
        };
        Ok(StepOutput {
            summary,
            detail: None,
        })
    }
}
