//! The alarm path: intake → ownership → plan → one atomic commit → deliver the outbox.
//! Shared verbatim by the Lambda handler (AWS adapters) and `klaxon replay` (memory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::{CommitError, KlaxonError};
use crate::intake::{self, AlarmEvent, EventTags, Intake, InvalidEvent};
mod outbox;

use crate::model::{
    AlarmTracker, Commit, LifecycleEvent, Notification, OutboundMessage, OutboxItem, Outcome,
    PendingOutbox, PendingStep, ProcessedEvent, Rejection, RunbookScope, StepEntry, StepPhase,
    StepRun, StepStatus,
};
use crate::notify;
use crate::ownership;
use crate::plan;
use crate::ports::{Clock, IncidentStore, LifecycleBus, Pager, TagSource};
use crate::route::Route;
use crate::runbook::context as step_logic;
use crate::runbook::run::{self, Decision, EarlyResults};
use crate::runbook::spec::OnError;
use crate::runbook::step::emit::MAX_HOPS;
use crate::runbook::step::{AfterPageEffect, AlarmInputs};
use crate::runbook::{Catalog, Step};
use crate::severity::Severity;
use crate::tags::{TagOrigin, TagResolver};
use crate::text;

/// How far ahead of our clock a state timestamp may be (clock skew allowance).
pub const MAX_FUTURE_MINUTES: i64 = 15;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// SNS topic ARN per route; a route without a topic cannot be paged.
    pub topics: BTreeMap<Route, String>,
    /// Name or ARN of the Klaxon event bus.
    pub event_bus: String,
    /// How long idempotency records live (at least 30 h: EventBridge retries for 24 h).
    pub idempotency_ttl: Duration,
    /// How long an invocation owns an outbox item it is delivering; must exceed the
    /// function timeout.
    pub outbox_lease: Duration,
    pub rejection_ttl: Duration,
    pub tag_cache_ttl: Duration,
    /// Optimistic-concurrency attempts before giving up (and letting Lambda retry).
    pub max_commit_attempts: u32,
    /// Regions whose public AWS Health issues deserve an `ops` page
    /// (`KLAXON_HEALTH_REGIONS`, default the function's own Region).
    pub health_regions: Vec<String>,
}

impl EngineSettings {
    pub const DEFAULT_IDEMPOTENCY_HOURS: u64 = 48;
    pub const DEFAULT_OUTBOX_LEASE_SECONDS: u64 = 60;
    pub const DEFAULT_TAG_CACHE_SECONDS: u64 = 300;

    pub fn new(topics: BTreeMap<Route, String>, event_bus: String) -> Self {
        EngineSettings {
            topics,
            event_bus,
            idempotency_ttl: Duration::from_secs(Self::DEFAULT_IDEMPOTENCY_HOURS * 3600),
            outbox_lease: Duration::from_secs(Self::DEFAULT_OUTBOX_LEASE_SECONDS),
            rejection_ttl: Duration::from_secs(30 * 24 * 3600),
            tag_cache_ttl: Duration::from_secs(Self::DEFAULT_TAG_CACHE_SECONDS),
            max_commit_attempts: 40,
            health_regions: vec!["us-east-1".to_string()],
        }
    }
}

/// What handling one event did; printed by `klaxon replay`, returned by the handler.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub outcome: Outcome,
    pub event_id: Option<String>,
    pub incident_id: Option<String>,
    pub dedup_key: Option<String>,
    pub environment: Option<String>,
    pub severity: Option<Severity>,
    pub tag_origin: Option<TagOrigin>,
    /// Pages delivered by this invocation (a duplicate may deliver pages a crashed
    /// invocation left in the outbox).
    pub notifications: Vec<Notification>,
    pub lifecycle_events: Vec<LifecycleEvent>,
    pub error: Option<String>,
    /// Runbooks that ran for the event, in run order.
    pub runbooks: Vec<String>,
    /// Each runbook's ownership after its own classification.
    pub scopes: Vec<RunbookScope>,
    /// Step outcomes recorded for the event (by this invocation or, for a duplicate, by
    /// the invocation it resumed), in sequence order.
    pub steps: Vec<StepEntry>,
}

impl Report {
    pub fn empty(outcome: Outcome, event_id: Option<String>) -> Self {
        Report {
            outcome,
            event_id,
            incident_id: None,
            dedup_key: None,
            environment: None,
            severity: None,
            tag_origin: None,
            notifications: Vec::new(),
            lifecycle_events: Vec::new(),
            error: None,
            runbooks: Vec::new(),
            scopes: Vec::new(),
            steps: Vec::new(),
        }
    }
}

/// `C` is CloudWatch: alarm tags, and the reads and writes of enrichment and metric steps.
pub struct Engine<S, P, B, C> {
    store: S,
    pager: P,
    bus: B,
    cloudwatch: TagResolver<C>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    catalog: Arc<Catalog>,
}

impl<
        S: IncidentStore,
        P: Pager,
        B: LifecycleBus,
        C: TagSource + crate::runbook::step::EnrichmentSource,
    > Engine<S, P, B, C>
{
    pub fn new(
        store: S,
        pager: P,
        bus: B,
        cloudwatch: C,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        catalog: Arc<Catalog>,
    ) -> Self {
        Engine {
            cloudwatch: TagResolver::new(cloudwatch, settings.tag_cache_ttl),
            store,
            pager,
            bus,
            clock,
            settings,
            catalog,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Handles raw bytes (replay, tests): invalid JSON is rejected like any invalid event.
    /// One report per event, or per finding of a Security Hub custom action (in order; the
    /// last carries the event's page).
    pub async fn handle_bytes_all(&self, raw: &[u8]) -> Result<Vec<Report>, KlaxonError> {
        let parsed = intake::parse_bytes_value(raw).and_then(|(intake, value)| {
            Ok((self.watch_health_region(self.check_time(intake)?), value))
        });
        match parsed {
            Ok((intake, value)) => self.handle_intake(intake, &value).await,
            Err(invalid) => Ok(vec![self.reject(invalid, raw).await?]),
        }
    }

    /// [`Self::handle_bytes_all`] for one report: the event's, or for a custom action the
    /// last finding's (the one that carries the page).
    pub async fn handle_bytes(&self, raw: &[u8]) -> Result<Report, KlaxonError> {
        let mut reports = self.handle_bytes_all(raw).await?;
        Ok(reports.pop().expect("one report at least"))
    }

    /// Handles an event as the Lambda runtime hands it over. It goes through the same bytes
    /// path, so the size limit applies and a rejection gets the same id as in replay.
    pub async fn handle_value_all(&self, event: &Value) -> Result<Vec<Report>, KlaxonError> {
        let raw = serde_json::to_vec(event).unwrap_or_default();
        self.handle_bytes_all(&raw).await
    }

    /// [`Self::handle_value_all`] for one report (see [`Self::handle_bytes`]).
    pub async fn handle_value(&self, event: &Value) -> Result<Report, KlaxonError> {
        let mut reports = self.handle_value_all(event).await?;
        Ok(reports.pop().expect("one report at least"))
    }

    /// A state change dated in the future would make every real event of the alarm `stale`
    /// until then; CloudWatch's clock is AWS's, so more than a few minutes ahead is invalid.
    fn check_time(&self, intake: Intake) -> Result<Intake, InvalidEvent> {
        let events: Vec<&AlarmEvent> = match &intake {
            Intake::Alarm(event) => vec![event],
            Intake::Escalation(findings) => findings.iter().collect(),
            Intake::Ignored { .. } => Vec::new(),
        };
        for event in events {
            let latest = self.clock.now() + chrono::Duration::minutes(MAX_FUTURE_MINUTES);
            if event.state_timestamp > latest {
                return Err(InvalidEvent {
                    event_id: Some(event.event_id.clone()),
                    reason: format!(
                        "the event's state time {} (`detail.state.timestamp` for alarms) is more than {MAX_FUTURE_MINUTES} minutes in the future",
                        event.state_timestamp.to_rfc3339()
                    ),
                });
            }
        }
        Ok(intake)
    }

    /// A public AWS Health event (a Region's service, not this account's resources) pages
    /// `ops` only when it is an issue in a Region this deployment watches; any other is
    /// recorded at low, without a page (the `aws-health` runbook's guard reads `page`).
    fn watch_health_region(&self, mut intake: Intake) -> Intake {
        if let Intake::Alarm(event) = &mut intake {
            let region = event.region.clone();
            if let Some(signal) = event.signal.as_deref_mut() {
                let details = &mut signal.details;
                if event.kind == crate::intake::AlarmKind::AwsHealth
                    && details["scope"] == "PUBLIC"
                    && !signal.security
                {
                    let event_region = details["event_region"]
                        .as_str()
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .or(region)
                        .unwrap_or_default();
                    let watched = self.settings.health_regions.contains(&event_region);
                    details["watched_region"] = Value::Bool(watched);
                    if !watched {
                        details["page"] = Value::Bool(false);
                        signal.severity = Some(Severity::Low);
                    }
                }
            }
        }
        intake
    }

    async fn handle_intake(
        &self,
        intake: Intake,
        value: &Value,
    ) -> Result<Vec<Report>, KlaxonError> {
        // Events emitted by runbooks count their hops; past the limit Klaxon does nothing,
        // so that runbooks triggering each other cannot loop.
        let hops = crate::runbook::step::emit::incoming_hops(value);
        if hops >= MAX_HOPS {
            let event_id = value["id"].as_str().map(text::for_log);
            let reason = format!(
                "hop limit: the event has passed through {hops} runbook emits (at most {MAX_HOPS}); not acted on"
            );
            tracing::warn!(event_id = event_id.as_deref(), reason = %reason, "event ignored");
            let mut report = Report::empty(Outcome::Ignored, event_id);
            report.error = Some(reason);
            return Ok(vec![report]);
        }
        match intake {
            Intake::Ignored { event_id, reason } => {
                tracing::info!(event_id = event_id.as_deref().map(text::for_log), reason = %reason, "event ignored");
                let mut report = Report::empty(Outcome::Ignored, event_id);
                report.error = Some(reason);
                Ok(vec![report])
            }
            Intake::Alarm(event) => Ok(vec![self.handle_alarm(&event, value, hops, &[]).await?]),
            Intake::Escalation(findings) => self.handle_escalation(&findings, value, hops).await,
        }
    }

    /// A Security Hub custom action: each finding in order as its own idempotent change,
    /// then one security page listing them all, committed with the last finding (a retry
    /// finds the earlier findings done and sends the page once).
    async fn handle_escalation(
        &self,
        findings: &[AlarmEvent],
        value: &Value,
        hops: u64,
    ) -> Result<Vec<Report>, KlaxonError> {
        let mut reports = Vec::with_capacity(findings.len());
        let mut listed: Vec<notify::EscalatedFinding> = Vec::new();
        for finding in findings {
            let mut report = self.handle_alarm(finding, value, hops, &listed).await?;
            listed.push(notify::EscalatedFinding {
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

    async fn reject(&self, invalid: InvalidEvent, raw: &[u8]) -> Result<Report, KlaxonError> {
        let now = self.clock.now();
        let digest = hex::encode(Sha256::digest(raw));
        let rejection = Rejection {
            rejection_id: digest[..32].to_string(),
            event_id: invalid.event_id.as_deref().map(text::for_log),
            reason: invalid.reason.clone(),
            received_at: now,
            // Only the start is read: a rejected event may be up to 1 MiB.
            excerpt: text::bounded(
                &text::single_line(&String::from_utf8_lossy(
                    &raw[..raw.len().min(8 * 1024 + 4)],
                )),
                8 * 1024,
            ),
            expires_at: now + chrono_duration(self.settings.rejection_ttl),
        };
        self.store.record_rejection(&rejection).await?;
        // `outcome = "rejected"` is what the deployment's RejectedEvents metric filter counts.
        tracing::error!(
            outcome = "rejected",
            event_id = rejection.event_id.as_deref(),
            rejection_id = %rejection.rejection_id,
            bytes = raw.len(),
            reason = %text::for_log(&invalid.reason),
            "event rejected and recorded; not retried"
        );
        let mut report = Report::empty(Outcome::Rejected, rejection.event_id.clone());
        report.error = Some(invalid.reason);
        Ok(report)
    }

    /// `escalated`: for a finding of a custom action, the findings before it in the event
    /// (the last one's commit carries the page listing them all).
    async fn handle_alarm(
        &self,
        event: &AlarmEvent,
        value: &Value,
        hops: u64,
        escalated: &[notify::EscalatedFinding],
    ) -> Result<Report, KlaxonError> {
        // Every log line of this event carries its ids (instrumented, not entered: the
        // future may move between threads across awaits).
        let span = tracing::info_span!(
            "alarm_event",
            event_id = %text::for_log(&event.event_id),
            dedup_key = %text::for_log(&event.alarm_arn),
            incident_id = tracing::field::Empty,
        );
        // Boxed: unboxed, the nested future type is deep enough to overflow rustc's query
        // depth when the handler's main computes its layout.
        Box::pin(
            self.apply_alarm(event, value, hops, escalated, &span)
                .instrument(span.clone()),
        )
        .await
    }

    async fn apply_alarm(
        &self,
        event: &AlarmEvent,
        value: &Value,
        hops: u64,
        escalated: &[notify::EscalatedFinding],
        span: &tracing::Span,
    ) -> Result<Report, KlaxonError> {
        let received_at = self.clock.now();
        let candidates = self.catalog.candidates(value);
        if candidates.is_empty() {
            return Ok(self.no_runbook(event));
        }
        let (tags, tag_origin) = match &event.tags {
            EventTags::Provided(tags) => (tags.clone(), TagOrigin::Event),
            EventTags::LookUp(arn) => self.cloudwatch.tags(arn).await?,
        };
        let mut ownership = ownership::for_event(&tags, event);
        let dedup_key = event.alarm_arn.as_str();
        let mut base_context = step_logic::alarm_context(event, &ownership, None, None);
        let selected = Catalog::choose(candidates, &base_context);
        if selected.is_empty() {
            return Ok(self.no_runbook(event));
        }
        // A security runbook makes the event a security incident (never the reverse).
        if !ownership.security && selected.iter().any(|r| r.spec.security) {
            ownership = ownership::secured(ownership);
            base_context = step_logic::alarm_context(event, &ownership, None, None);
        }
        let inputs = AlarmInputs::of(event);
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
                    let prospective = plan::plan(tracker.as_ref(), event, &ownership, received_at);
                    let walk = run::walk(
                        &selected,
                        &crate::runbook::context::with_plan(base_context.clone(), &prospective),
                        &ownership,
                        prospective.page.is_some(),
                    );
                    run::enrich_before_page(self.cloudwatch.source(), &walk, &inputs, &mut early)
                        .await;
                    let mut decision = run::decide(
                        &walk,
                        &early,
                        &run::DecideInput {
                            tracker: tracker.as_ref(),
                            event,
                            ownership: &ownership,
                            base_context: &base_context,
                            now: received_at,
                            unowned_expiry: received_at
                                + chrono_duration(self.settings.idempotency_ttl),
                        },
                    );
                    if let Some(escalation) = &event.escalation {
                        escalate(&mut decision, event, escalation, escalated, received_at);
                    }
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

    fn no_runbook(&self, event: &AlarmEvent) -> Report {
        tracing::info!("no runbook matched; nothing to do");
        let mut report = Report::empty(Outcome::Ignored, Some(event.event_id.clone()));
        report.error = Some("no runbook matched the event".into());
        report
    }

    /// After our commit landed: deliver its outbox, run the steps left for after the page,
    /// and report.
    async fn finish(
        &self,
        landed: Attempt,
        event: &AlarmEvent,
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
            .deliver_in_order(outbox, &markers, open, &event.alarm_arn, None)
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
            dedup_key: Some(event.alarm_arn.clone()),
            environment: Some(plan.ownership.environment.clone()),
            severity: Some(plan.ownership.severity),
            tag_origin: Some(tag_origin),
            notifications,
            lifecycle_events,
            error: given_up,
            runbooks: decision.scopes.iter().map(|s| s.runbook.clone()).collect(),
            scopes: decision.scopes.clone(),
            steps,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_for(
        &self,
        decision: Decision,
        event: &AlarmEvent,
        expected_tracker_version: Option<u64>,
        now: DateTime<Utc>,
        writer: &str,
        hops: u64,
        inputs: &AlarmInputs,
    ) -> (Commit, Attempt) {
        let plan = &decision.plan;
        // The incident that ended unseen first (its lifecycle event on the bus before the
        // new incident's), then this event's pages and lifecycle event.
        let mut closed_messages: Vec<OutboxItem> = Vec::new();
        if let Some(closed) = &plan.closed {
            closed_messages.push(OutboxItem {
                incident_id: closed.update.incident_id.clone(),
                event_id: event.event_id.clone(),
                // `-` sorts before the digits of this event's own items.
                item_id: outbox_item_id(plan.tracker.version, &event.event_id, "-closed"),
                created_at: now,
                lease_until: now + chrono_duration(self.settings.outbox_lease),
                message: OutboundMessage::Lifecycle(notify::lifecycle_closed(closed, event)),
            });
        }
        let mut messages: Vec<OutboundMessage> = decision
            .pages
            .iter()
            .cloned()
            .map(OutboundMessage::Page)
            .collect();
        if let Some(transition) = plan.lifecycle {
            let paged = plan
                .tracker
                .open_incident
                .as_ref()
                .map(|o| o.paged)
                .unwrap_or(!decision.pages.is_empty());
            messages.push(OutboundMessage::Lifecycle(notify::lifecycle(
                plan, event, transition, paged,
            )));
        }
        let lease_until = now + chrono_duration(self.settings.outbox_lease);
        let mut outbox = closed_messages;
        if let Some(incident_id) = &plan.incident_id {
            outbox.extend(
                messages
                    .into_iter()
                    .enumerate()
                    .map(|(n, message)| OutboxItem {
                        incident_id: incident_id.clone(),
                        event_id: event.event_id.clone(),
                        item_id: outbox_item_id(
                            plan.tracker.version,
                            &event.event_id,
                            &n.to_string(),
                        ),
                        created_at: now,
                        lease_until,
                        message,
                    }),
            );
        }
        let expires_at = now + chrono_duration(self.settings.idempotency_ttl);
        let step_run =
            (!decision.entries.is_empty() || !decision.pending.is_empty()).then(|| StepRun {
                event_id: event.event_id.clone(),
                incident_id: plan.incident_id.clone(),
                alarm_arn: event.alarm_arn.clone(),
                state_timestamp: event.state_timestamp,
                hops,
                // Only what a step after the page will read: an alarm's metrics are in
                // the context already, and stored twice they would double the item.
                metric_queries: needed(&decision.pending, "metric_snapshot", &inputs.queries),
                target_groups: needed(&decision.pending, "target_health", &inputs.target_groups),
                health_checks: needed(
                    &decision.pending,
                    "route53_health_check",
                    &inputs.health_checks,
                ),
                context: decision.context.clone(),
                scopes: decision.scopes.clone(),
                entries: decision.entries.clone(),
                pending: decision.pending.clone(),
                created_at: now,
                lease_until,
                expires_at,
            });
        let mut commit = Commit {
            processed: ProcessedEvent {
                event_id: event.event_id.clone(),
                dedup_key: event.alarm_arn.clone(),
                outcome: plan.outcome,
                incident_id: plan.incident_id.clone(),
                processed_at: now,
                expires_at,
                writer: writer.to_string(),
            },
            expected_tracker_version,
            tracker: plan.tracker.clone(),
            incident: plan.incident.clone(),
            timeline: plan.timeline.clone(),
            closed: plan.closed.clone(),
            outbox: outbox.clone(),
            step_run,
        };
        // The markers as read, before this event's own: what may be older than them.
        let markers = commit.tracker.pending_outbox.clone();
        for item in &outbox {
            let marker = PendingOutbox::of(item);
            commit.tracker.pending_outbox.insert(marker.key(), marker);
        }
        // Bounded, so that a long outage cannot grow the tracker past one item: the oldest
        // markers go first (their items stay; their own event's retries still send them).
        while commit.tracker.pending_outbox.len() > MAX_PENDING_MARKERS {
            let oldest = commit
                .tracker
                .pending_outbox
                .iter()
                .min_by_key(|(_, m)| m.version)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(key) => commit.tracker.pending_outbox.remove(&key),
                None => break,
            };
        }
        let given_up = fit_commit(&mut commit);
        let step_run = commit.step_run.clone();
        (
            commit,
            Attempt {
                decision,
                outbox,
                step_run,
                given_up,
                markers,
            },
        )
    }

    /// Records the outcomes decided before the page and runs the steps left for after it,
    /// each recorded as soon as it ends. `fresh`: this invocation wrote the run, so nothing
    /// of it can have been recorded yet; otherwise entries already recorded are skipped.
    async fn run_steps(&self, run: StepRun, fresh: bool) -> Result<Vec<StepEntry>, KlaxonError> {
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

    async fn run_steps_inner(
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

    async fn release_step_run(&self, run: &StepRun) {
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
    async fn run_pending(
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
                duration_ms: run::elapsed_ms(started),
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
        let aborted_by = recorded.iter().find(|e| {
            e.runbook == pending.runbook
                && e.status == StepStatus::Failed
                && e.seq < pending.seq
                && runbook
                    .step(&e.step)
                    .is_some_and(|s| s.on_error == OnError::Abort)
        });
        if let Some(failed) = aborted_by {
            return entry(
                StepStatus::Skipped,
                0,
                format!(
                    "skipped: step `{}` failed and aborts the runbook",
                    failed.step
                ),
                None,
            );
        }
        let ctx = self.step_context(run, runbook, recorded);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.execute_after_page(step, &ctx, run).await {
                Ok((summary, detail)) => return entry(StepStatus::Ok, attempt, summary, detail),
                Err((message, retryable)) if retryable && attempt <= step.retries => {
                    tracing::warn!(step = %step.id, attempt, error = %message, "step failed; retrying");
                    tokio::time::sleep(run::retry_delay(attempt - 1)).await;
                }
                Err((message, _)) => return entry(StepStatus::Failed, attempt, message, None),
            }
        }
    }

    /// The context a runbook's after-page step renders against: the committed context,
    /// the runbook's own classification, and the enrichment results recorded so far.
    fn step_context(
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

    /// One attempt at an after-page step: a summary and optional detail, or an error
    /// message and whether a retry can help.
    async fn execute_after_page(
        &self,
        step: &Step,
        ctx: &Value,
        run: &StepRun,
    ) -> Result<(String, Option<Value>), (String, bool)> {
        let aws = |e: KlaxonError| (e.to_string(), e.is_retryable());
        if step.kind.is_enrichment() {
            let inputs = AlarmInputs {
                alarm_arn: run.alarm_arn.clone(),
                state_timestamp: run.state_timestamp,
                queries: run.metric_queries.clone(),
                target_groups: run.target_groups.clone(),
                health_checks: run.health_checks.clone(),
            };
            let enriched =
                crate::runbook::step::enrich(self.cloudwatch.source(), &step.kind, &inputs)
                    .await
                    .map_err(aws)?;
            return Ok((enriched.summary, Some(enriched.detail)));
        }
        let label = format!(
            "{}/{}",
            ctx["runbook"].as_str().unwrap_or_default(),
            step.id
        );
        let origin = crate::runbook::step::EffectOrigin {
            hops: run.hops,
            alarm_arn: &run.alarm_arn,
            event_id: &run.event_id,
            step: &label,
        };
        match crate::runbook::step::after_page_effect(&step.kind, ctx, &origin) {
            Ok(Some(AfterPageEffect::Emit(event))) => {
                self.bus
                    .put(&self.settings.event_bus, &event)
                    .await
                    .map_err(aws)?;
                Ok((crate::runbook::step::Emit::summary(&event, run.hops), None))
            }
            Ok(Some(AfterPageEffect::Metric(datum))) => {
                self.cloudwatch
                    .source()
                    .put_metric(&datum)
                    .await
                    .map_err(aws)?;
                Ok((crate::runbook::step::PutMetric::summary(&datum), None))
            }
            Ok(Some(AfterPageEffect::Enriched(e))) => Ok((e.summary, Some(e.detail))),
            Ok(None) => Err((
                format!("a {} step does not run after the page", step.kind.name()),
                false,
            )),
            Err(e) => Err((e.to_string(), false)),
        }
    }

    /// A duplicate delivery: nothing new happens, but anything an earlier delivery of this
    /// event (or of another for the same incident) failed to send is sent now.
    async fn redeliver(
        &self,
        processed: ProcessedEvent,
        tracker: Option<AlarmTracker>,
        event: &AlarmEvent,
    ) -> Result<Report, KlaxonError> {
        let mut report = Report::empty(Outcome::Duplicate, Some(event.event_id.clone()));
        report.dedup_key = Some(processed.dedup_key.clone());
        report.incident_id = processed.incident_id.clone();
        let tracker = tracker.unwrap_or_else(|| AlarmTracker::new(&event.alarm_arn));
        let (notifications, lifecycle_events) = self
            .redeliver_outbox(
                &event.event_id,
                processed.incident_id.as_deref(),
                &tracker.pending_outbox,
                tracker
                    .open_incident
                    .as_ref()
                    .map(|o| o.incident_id.as_str()),
                &event.alarm_arn,
            )
            .await?;
        report.notifications = notifications;
        report.lifecycle_events = lifecycle_events;
        // Steps an earlier delivery of this event left unfinished: finish them, skipping
        // the ones it completed.
        let now = self.clock.now();
        match self.store.step_run(&event.event_id).await? {
            Some(run) if run.lease_until > now => {
                return Err(KlaxonError::DeliveryInProgress {
                    incident_id: run.incident_id.clone().unwrap_or_default(),
                    item_id: format!("step run of event {}", text::for_log(&run.event_id)),
                    lease_until: run.lease_until.to_rfc3339(),
                });
            }
            Some(run) => {
                let lease_until = now + chrono_duration(self.settings.outbox_lease);
                if self.store.claim_step_run(&run, lease_until).await? {
                    tracing::warn!(
                        "duplicate delivery found unfinished runbook steps; finishing them"
                    );
                    report.runbooks = run.scopes.iter().map(|s| s.runbook.clone()).collect();
                    report.scopes = run.scopes.clone();
                    report.steps = self
                        .run_steps(StepRun { lease_until, ..run }, false)
                        .await?;
                }
            }
            None => tracing::info!(
                first_outcome = processed.outcome.as_str(),
                "duplicate delivery"
            ),
        }
        Ok(report)
    }
}

/// A custom action's finding: no runbook page of its own; the incident counts as paged
/// by the event's one page, which the last finding's commit carries, listing them all.
fn escalate(
    decision: &mut Decision,
    event: &AlarmEvent,
    escalation: &crate::intake::Escalation,
    earlier: &[notify::EscalatedFinding],
    now: DateTime<Utc>,
) {
    decision.pages.clear();
    plan::paged_by_escalation(&mut decision.plan, now);
    if escalation.position + 1 == escalation.count {
        let plan = &decision.plan;
        let mut listed = earlier.to_vec();
        listed.push(notify::EscalatedFinding {
            incident_id: plan.incident_id.clone(),
            title: event.alarm_name.clone(),
            severity: plan.ownership.severity,
            outcome: plan.outcome,
        });
        decision.pages.push(notify::escalation_page(
            &escalation.action,
            &listed,
            &plan.ownership,
        ));
    }
}

/// Makes a commit fit DynamoDB's limits (`item_size`: 400 KB items, 4 MB and 100 actions
/// per transaction), giving up what matters least first and never the page: an event up to
/// Klaxon's 256 KiB limit always commits. Returns what was given up, for the record.
///
/// 1. the enrichment details copied into the step run's recorded entries (the invocation
///    that commits still has them and writes the entries itself);
/// 2. the step run's recorded entries;
/// 3. the raw reason and `reasonData` kept as timeline evidence, bounded to 64 KiB each;
/// 4. as a last resort, the step run: the runbooks' after-page steps do not run, and the
///    timeline entry says so.
fn fit_commit(commit: &mut Commit) -> Option<String> {
    refusal(commit)?;
    if let Some(run) = commit.step_run.as_mut() {
        run.entries.iter_mut().for_each(|e| e.detail = None);
        if refusal(commit).is_none() {
            tracing::warn!("step run too large for one item: enrichment details left out of its stored entries");
            return None;
        }
    }
    if let Some(run) = commit.step_run.as_mut() {
        run.entries.clear();
        if refusal(commit).is_none() {
            tracing::warn!(
                "step run too large for one item: its before-page outcomes are not stored with it"
            );
            return None;
        }
    }
    for entry in commit
        .timeline
        .iter_mut()
        .chain(commit.closed.as_mut().map(|c| &mut c.entry))
    {
        let evidence = &mut entry.evidence;
        for text in [&mut evidence.reason, &mut evidence.reason_data]
            .into_iter()
            .flatten()
        {
            *text = text::bounded(text, MAX_EVIDENCE_TEXT_BYTES);
        }
    }
    if refusal(commit).is_none() {
        return Some("the raw reason and reasonData on the timeline were cut to 64 KiB".into());
    }
    let dropped = commit.step_run.take().map(|run| {
        let steps = run
            .pending
            .iter()
            .map(|p| format!("{}/{}", p.runbook, p.step))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "the runbooks' after-page steps were dropped ({}): their record would exceed DynamoDB's limits",
            if steps.is_empty() { "none pending" } else { steps.as_str() }
        )
    });
    if let (Some(why), Some(entry)) = (&dropped, commit.timeline.as_mut()) {
        entry.summary = format!("{}; {why}", entry.summary);
    }
    if let Some(why) = refusal(commit) {
        // Nothing left to give up: DynamoDB will refuse it, and the error says why.
        tracing::error!(reason = %why, "the commit exceeds DynamoDB's limits even without its step run");
    }
    dropped
}

fn refusal(commit: &Commit) -> Option<String> {
    crate::item_size::refusal(commit)
}

/// How much of an event's raw reason and reasonData the timeline keeps when the whole
/// would not fit one item.
const MAX_EVIDENCE_TEXT_BYTES: usize = 64 * 1024;

/// A commit attempt: what was decided, and what it will deliver and run once it lands.
struct Attempt {
    decision: Decision,
    outbox: Vec<OutboxItem>,
    step_run: Option<StepRun>,
    /// What was left out for the commit to fit DynamoDB's limits (`fit_commit`).
    given_up: Option<String>,
    /// The tracker's outbox markers before this commit: older items that may be pending.
    markers: BTreeMap<String, PendingOutbox>,
}

/// An outbox item's id: the tracker version of the commit that wrote it first (zero-padded,
/// so that ids sort in commit order across the key's incidents), then its event and place.
fn outbox_item_id(version: u64, event_id: &str, place: &str) -> String {
    format!("{version:020}#{event_id}#{place}")
}

/// Most events a tracker marks as having outbox items pending.
const MAX_PENDING_MARKERS: usize = 32;

/// `values` when a pending step of `kind` reads them, else nothing.
fn needed<T: Clone>(pending: &[PendingStep], kind: &str, values: &[T]) -> Vec<T> {
    if pending.iter().any(|p| p.kind == kind) {
        values.to_vec()
    } else {
        Vec::new()
    }
}

/// A token unique to this attempt at handling an event.
fn writer_token(event_id: &str, received_at: DateTime<Utc>) -> String {
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

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// Exponential backoff with jitter derived from the event id, so that concurrent
/// invocations for one alarm spread out instead of colliding again.
fn backoff(event_id: &str, attempt: u32) -> Duration {
    let base_ms = 4u64 << attempt.min(4);
    let digest = Sha256::digest(format!("{event_id}#{attempt}").as_bytes());
    let jitter = u64::from(digest[0]) * base_ms / 255;
    Duration::from_millis(base_ms / 2 + jitter)
}
