//! One state change applied: runbooks chosen, walked and enriched, the decision committed
//! under optimistic concurrency (retried on conflict), then delivered and the steps after
//! the page run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::commit::Attempt;
use super::{chrono_duration, Engine, Report};
use crate::error::{CommitError, KlaxonError};
use crate::intake::{EventTags, StateChange};
use crate::model::Outcome;
use crate::ownership;
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::runbook::context as step_logic;
use crate::runbook::decide::{self};
use crate::runbook::enrich::{self as early, EarlyResults};
use crate::runbook::step::LookupInputs;
use crate::runbook::walk;
use crate::runbook::Catalog;
use crate::severity::Severity;
use crate::tags::TagOrigin;
use crate::text;

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// A Security Hub custom action: each finding in order as its own idempotent change,
    /// then one security page listing them all, committed with the last finding (a retry
    /// finds the earlier findings done and sends the page once).
    pub(super) async fn handle_escalation(
        &self,
        findings: &[StateChange],
        value: &Value,
        hops: u64,
    ) -> Result<Vec<Report>, KlaxonError> {
        let mut reports = Vec::with_capacity(findings.len());
        let mut listed: Vec<crate::model::EscalatedFinding> = Vec::new();
        for finding in findings {
            let mut report = self.handle_change(finding, value, hops, &listed).await?;
            listed.push(crate::model::EscalatedFinding {
                incident_id: report.incident_id.clone(),
                title: finding.alarm_name.clone(),
                // A duplicate reports no severity: the finding's own, then.
                severity: report
                    .severity
                    .or(finding.signal.as_ref().and_then(|s| s.severity))
                    .unwrap_or(Severity::Medium),
                outcome: report.outcome,
            });
            // One event: every line names the envelope's id.
            if let Some(escalation) = &finding.escalation {
                report.event_id = Some(escalation.envelope_id.clone());
            }
            reports.push(report);
        }
        Ok(reports)
    }

    /// `escalated`: for a finding of a custom action, the findings before it in the event
    /// (the last one's commit carries the page listing them all).
    pub(super) async fn handle_change(
        &self,
        event: &StateChange,
        value: &Value,
        hops: u64,
        escalated: &[crate::model::EscalatedFinding],
    ) -> Result<Report, KlaxonError> {
        // Every log line of this event carries its ids (instrumented, not entered: the
        // future may move between threads across awaits).
        let span = tracing::info_span!(
            "state_change",
            event_id = %text::for_log(&event.event_id),
            dedup_key = %text::for_log(&event.dedup_key),
            incident_id = tracing::field::Empty,
        );
        // Boxed: unboxed, the nested future type is deep enough to overflow rustc's query
        // depth when the handler's main computes its layout.
        Box::pin(
            self.apply_change(event, value, hops, escalated, &span)
                .instrument(span.clone()),
        )
        .await
    }

    pub(super) async fn apply_change(
        &self,
        event: &StateChange,
        value: &Value,
        hops: u64,
        escalated: &[crate::model::EscalatedFinding],
        span: &tracing::Span,
    ) -> Result<Report, KlaxonError> {
        let received_at = self.clock.now();
        let candidates = self.catalog.candidates(value);
        if candidates.is_empty() {
            return Ok(self.no_runbook(event));
        }
        let (tags, tag_origin) = match &event.tags {
            EventTags::Provided(tags) => (tags.clone(), TagOrigin::Event),
            EventTags::LookUp(arn) => self.lookups.tags(arn).await?,
        };
        let mut ownership = ownership::for_event(&tags, event);
        let dedup_key = event.dedup_key.as_str();
        let mut base_context = step_logic::event_context(event, &ownership, None, None);
        let selected = Catalog::choose(candidates, &base_context);
        if selected.is_empty() {
            return Ok(self.no_runbook(event));
        }
        // A security runbook makes the event a security incident (never the reverse).
        if !ownership.security && selected.iter().any(|r| r.spec.security) {
            ownership = ownership::secured(ownership);
            base_context = step_logic::event_context(event, &ownership, None, None);
        }
        let inputs = LookupInputs::of(event);
        // Enrichment that ran before the page, kept across commit attempts.
        let mut early = EarlyResults::new();

        let writer = writer_token(&event.event_id, received_at);
        // The last commit attempted: if the store reports the event as processed and the
        // record carries our token, that attempt landed and its outbox is ours to deliver.
        let mut attempted: Option<Attempt> = None;
        for attempt in 1..=self.settings.max_commit_attempts {
            let (processed, tracker) = self.store.load(&event.event_id, dedup_key).await?;
            let landed = match (processed, attempted.take()) {
                (Some(p), Some(mine)) if p.writer == writer => mine,
                (Some(p), _) => return self.redeliver(p, tracker, event).await,
                (None, _) => {
                    let prospective =
                        decide::prospect(tracker.as_ref(), event, &ownership, received_at);
                    let walk = walk::walk(
                        &selected,
                        &crate::runbook::context::with_plan(base_context.clone(), &prospective),
                        &ownership,
                        prospective.page.is_some(),
                    );
                    early::enrich_before_page(self.lookups.source(), &walk, &inputs, &mut early)
                        .await;
                    let decision = decide::decide(
                        &walk,
                        &early,
                        &decide::DecideInput {
                            tracker: tracker.as_ref(),
                            event,
                            ownership: &ownership,
                            base_context: &base_context,
                            now: received_at,
                            unowned_expiry: received_at
                                + chrono_duration(self.settings.idempotency_ttl),
                            escalated,
                        },
                    );
                    let (commit, mine) = self.commit_for(
                        decision,
                        event,
                        tracker.as_ref().map(|t| t.version),
                        received_at,
                        &writer,
                        hops,
                        &inputs,
                    );
                    match self.store.commit(&commit).await {
                        Ok(()) => mine,
                        Err(CommitError::AlreadyProcessed) => {
                            attempted = Some(mine);
                            continue;
                        }
                        Err(CommitError::Conflict(why)) => {
                            attempted = Some(mine);
                            tracing::debug!(attempt, reason = %why, "concurrent update; reading again");
                            tokio::time::sleep(backoff(&event.event_id, attempt)).await;
                            continue;
                        }
                        Err(CommitError::Failed(e)) => return Err(e),
                    }
                }
            };
            tracing::debug!(attempt, "commit landed");
            return self.finish(landed, event, tag_origin, span).await;
        }
        // The last attempt may have landed although it was reported as a conflict.
        if let Some(mine) = attempted {
            if let (Some(p), _) = self.store.load(&event.event_id, dedup_key).await? {
                if p.writer == writer {
                    return self.finish(mine, event, tag_origin, span).await;
                }
            }
        }
        Err(KlaxonError::Contention {
            dedup_key: text::for_log(dedup_key),
            attempts: self.settings.max_commit_attempts,
        })
    }

    pub(super) fn no_runbook(&self, event: &StateChange) -> Report {
        tracing::info!("no runbook matched; nothing to do");
        let mut report = Report::empty(Outcome::Ignored, Some(event.event_id.clone()));
        report.error = Some("no runbook matched the event".into());
        report
    }

    /// After our commit landed: deliver its outbox, run the steps left for after the page,
    /// and report.
    pub(super) async fn finish(
        &self,
        landed: Attempt,
        event: &StateChange,
        tag_origin: TagOrigin,
        span: &tracing::Span,
    ) -> Result<Report, KlaxonError> {
        let Attempt {
            decision,
            outbox,
            step_run,
            given_up,
            markers,
        } = landed;
        let plan = &decision.plan;
        if let Some(id) = &plan.incident_id {
            span.record("incident_id", tracing::field::display(id));
        }
        tracing::info!(outcome = plan.outcome.as_str(), "event applied");
        let open = plan
            .tracker
            .open_incident
            .as_ref()
            .map(|o| o.incident_id.as_str());
        let delivered = self
            .deliver_in_order(outbox, &markers, open, &event.dedup_key, None)
            .await;
        let (notifications, lifecycle_events) = match delivered {
            Ok(d) => d,
            Err(e) => {
                if let Some(run) = &step_run {
                    self.release_step_run(run).await;
                }
                return Err(e);
            }
        };
        let steps = match step_run {
            Some(mut run) => {
                // The stored run may have been trimmed to fit one item (`fit_in_one_item`);
                // this invocation still has every outcome.
                run.entries = decision.entries.clone();
                self.run_steps(run, true).await?
            }
            None => Vec::new(),
        };
        Ok(Report {
            outcome: plan.outcome,
            event_id: Some(event.event_id.clone()),
            incident_id: plan.incident_id.clone(),
            dedup_key: Some(event.dedup_key.clone()),
            environment: Some(plan.ownership.environment.clone()),
            severity: Some(plan.ownership.severity),
            tag_origin: Some(tag_origin),
            notifications,
            lifecycle_events,
            error: given_up,
            runbooks: decision.scopes.iter().map(|s| s.runbook.clone()).collect(),
            scopes: decision.scopes.clone(),
            steps,
            action: None,
        })
    }
}

/// A token unique to this attempt at handling an event.
pub(super) fn writer_token(event_id: &str, received_at: DateTime<Utc>) -> String {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let seed = format!(
        "{event_id}#{}#{}#{n}#{:?}",
        received_at.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id(),
        std::time::SystemTime::now()
    );
    hex::encode(&Sha256::digest(seed.as_bytes())[..12])
}

/// Exponential backoff with jitter derived from the event id, so that concurrent
/// invocations for one key spread out instead of colliding again.
pub(super) fn backoff(event_id: &str, attempt: u32) -> Duration {
    let base_ms = 4u64 << attempt.min(4);
    let digest = Sha256::digest(format!("{event_id}#{attempt}").as_bytes());
    let jitter = u64::from(digest[0]) * base_ms / 255;
    Duration::from_millis(base_ms / 2 + jitter)
}
