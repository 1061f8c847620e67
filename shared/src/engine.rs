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
use crate::model::{
    Commit, LifecycleEvent, Notification, OutboundMessage, OutboxItem, Outcome, ProcessedEvent,
    Rejection,
};
use crate::notify;
use crate::ownership::{self, Route, Severity};
use crate::plan::{self, Plan};
use crate::ports::{Clock, IncidentStore, LifecycleBus, Pager, TagSource};
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
}

impl Report {
    fn empty(outcome: Outcome, event_id: Option<String>) -> Self {
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
        }
    }
}

pub struct Engine<S, P, B, T> {
    store: S,
    pager: P,
    bus: B,
    tags: TagResolver<T>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
}

impl<S: IncidentStore, P: Pager, B: LifecycleBus, T: TagSource> Engine<S, P, B, T> {
    pub fn new(
        store: S,
        pager: P,
        bus: B,
        tags: T,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
    ) -> Self {
        Engine {
            tags: TagResolver::new(tags, settings.tag_cache_ttl),
            store,
            pager,
            bus,
            clock,
            settings,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Handles raw bytes (replay, tests): invalid JSON is rejected like any invalid event.
    pub async fn handle_bytes(&self, raw: &[u8]) -> Result<Report, KlaxonError> {
        match intake::parse_bytes(raw).and_then(|intake| self.check_time(intake)) {
            Ok(intake) => self.handle_intake(intake).await,
            Err(invalid) => self.reject(invalid, raw).await,
        }
    }

    /// Handles an event as the Lambda runtime hands it over. It goes through the same bytes
    /// path, so the size limit applies and a rejection gets the same id as in replay.
    pub async fn handle_value(&self, event: &Value) -> Result<Report, KlaxonError> {
        let raw = serde_json::to_vec(event).unwrap_or_default();
        self.handle_bytes(&raw).await
    }

    /// A state change dated in the future would make every real event of the alarm `stale`
    /// until then; CloudWatch's clock is AWS's, so more than a few minutes ahead is invalid.
    fn check_time(&self, intake: Intake) -> Result<Intake, InvalidEvent> {
        if let Intake::Alarm(event) = &intake {
            let latest = self.clock.now() + chrono::Duration::minutes(MAX_FUTURE_MINUTES);
            if event.state_timestamp > latest {
                return Err(InvalidEvent {
                    event_id: Some(event.event_id.clone()),
                    reason: format!(
                        "`detail.state.timestamp` {} is more than {MAX_FUTURE_MINUTES} minutes in the future",
                        event.state_timestamp.to_rfc3339()
                    ),
                });
            }
        }
        Ok(intake)
    }

    async fn handle_intake(&self, intake: Intake) -> Result<Report, KlaxonError> {
        match intake {
            Intake::Ignored { event_id, reason } => {
                tracing::info!(event_id = event_id.as_deref().map(text::for_log), reason = %reason, "event ignored");
                Ok(Report::empty(Outcome::Ignored, event_id))
            }
            Intake::Alarm(event) => self.handle_alarm(&event).await,
        }
    }

    async fn reject(&self, invalid: InvalidEvent, raw: &[u8]) -> Result<Report, KlaxonError> {
        let now = self.clock.now();
        let digest = hex::encode(Sha256::digest(raw));
        let rejection = Rejection {
            rejection_id: digest[..32].to_string(),
            event_id: invalid.event_id.as_deref().map(text::for_log),
            reason: invalid.reason.clone(),
            received_at: now,
            excerpt: text::bounded(&text::single_line(&String::from_utf8_lossy(raw)), 8 * 1024),
            expires_at: now + chrono_duration(self.settings.rejection_ttl),
        };
        self.store.record_rejection(&rejection).await?;
        tracing::error!(
            event_id = rejection.event_id.as_deref(),
            rejection_id = %rejection.rejection_id,
            reason = %text::for_log(&invalid.reason),
            "event rejected and recorded; not retried"
        );
        let mut report = Report::empty(Outcome::Rejected, rejection.event_id.clone());
        report.error = Some(invalid.reason);
        Ok(report)
    }

    async fn handle_alarm(&self, event: &AlarmEvent) -> Result<Report, KlaxonError> {
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
        Box::pin(self.apply_alarm(event, &span).instrument(span.clone())).await
    }

    async fn apply_alarm(
        &self,
        event: &AlarmEvent,
        span: &tracing::Span,
    ) -> Result<Report, KlaxonError> {
        let received_at = self.clock.now();
        let (tags, tag_origin) = match &event.tags {
            EventTags::Provided(tags) => (tags.clone(), TagOrigin::Event),
            EventTags::LookUp => self.tags.tags(&event.alarm_arn).await?,
        };
        let ownership = ownership::from_tags(&tags);
        let dedup_key = event.alarm_arn.as_str();

        let writer = writer_token(&event.event_id, received_at);
        // The last commit attempted: if the store reports the event as processed and the
        // record carries our token, that attempt landed and its outbox is ours to deliver.
        let mut attempted: Option<(Plan, Vec<OutboxItem>)> = None;
        for attempt in 1..=self.settings.max_commit_attempts {
            let (processed, tracker) = self.store.load(&event.event_id, dedup_key).await?;
            let (plan, outbox) = match (processed, attempted.take()) {
                (Some(p), Some(mine)) if p.writer == writer => mine,
                (Some(p), _) => return self.redeliver(p, event).await,
                (None, _) => {
                    let plan = plan::plan(tracker.as_ref(), event, &ownership, received_at);
                    let (commit, outbox) = self.commit_for(
                        &plan,
                        event,
                        tracker.as_ref().map(|t| t.version),
                        received_at,
                        &writer,
                    );
                    match self.store.commit(&commit).await {
                        Ok(()) => (plan, outbox),
                        Err(CommitError::AlreadyProcessed) => {
                            attempted = Some((plan, outbox));
                            continue;
                        }
                        Err(CommitError::Conflict(why)) => {
                            attempted = Some((plan, outbox));
                            tracing::debug!(attempt, reason = %why, "concurrent update; reading again");
                            tokio::time::sleep(backoff(&event.event_id, attempt)).await;
                            continue;
                        }
                        Err(CommitError::Failed(e)) => return Err(e),
                    }
                }
            };
            tracing::debug!(attempt, "commit landed");
            return self.finish(plan, outbox, event, tag_origin, span).await;
        }
        // The last attempt may have landed although it was reported as a conflict.
        if let Some((plan, outbox)) = attempted {
            if let (Some(p), _) = self.store.load(&event.event_id, dedup_key).await? {
                if p.writer == writer {
                    return self.finish(plan, outbox, event, tag_origin, span).await;
                }
            }
        }
        Err(KlaxonError::Contention {
            dedup_key: text::for_log(dedup_key),
            attempts: self.settings.max_commit_attempts,
        })
    }

    /// After our commit landed: deliver its outbox and report.
    async fn finish(
        &self,
        plan: Plan,
        outbox: Vec<OutboxItem>,
        event: &AlarmEvent,
        tag_origin: TagOrigin,
        span: &tracing::Span,
    ) -> Result<Report, KlaxonError> {
        if let Some(id) = &plan.incident_id {
            span.record("incident_id", tracing::field::display(id));
        }
        tracing::info!(outcome = plan.outcome.as_str(), "event applied");
        let (notifications, lifecycle_events) = self.deliver(&outbox).await?;
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
            error: None,
        })
    }

    fn commit_for(
        &self,
        plan: &Plan,
        event: &AlarmEvent,
        expected_tracker_version: Option<u64>,
        now: DateTime<Utc>,
        writer: &str,
    ) -> (Commit, Vec<OutboxItem>) {
        let mut messages = Vec::new();
        if let Some(transition) = plan.page {
            messages.push(OutboundMessage::Page(notify::page(plan, event, transition)));
        }
        if let Some(transition) = plan.lifecycle {
            let paged = plan
                .tracker
                .open_incident
                .as_ref()
                .map(|o| o.paged)
                .unwrap_or(plan.page.is_some());
            messages.push(OutboundMessage::Lifecycle(notify::lifecycle(
                plan, event, transition, paged,
            )));
        }
        let lease_until = now + chrono_duration(self.settings.outbox_lease);
        let outbox: Vec<OutboxItem> = match &plan.incident_id {
            Some(incident_id) => messages
                .into_iter()
                .enumerate()
                .map(|(n, message)| OutboxItem {
                    incident_id: incident_id.clone(),
                    event_id: event.event_id.clone(),
                    item_id: format!("{:013}#{}#{n}", now.timestamp_millis(), event.event_id),
                    created_at: now,
                    lease_until,
                    message,
                })
                .collect(),
            None => Vec::new(),
        };
        let commit = Commit {
            processed: ProcessedEvent {
                event_id: event.event_id.clone(),
                dedup_key: event.alarm_arn.clone(),
                outcome: plan.outcome,
                incident_id: plan.incident_id.clone(),
                processed_at: now,
                expires_at: now + chrono_duration(self.settings.idempotency_ttl),
                writer: writer.to_string(),
            },
            expected_tracker_version,
            tracker: plan.tracker.clone(),
            incident: plan.incident.clone(),
            timeline: plan.timeline.clone(),
            outbox: outbox.clone(),
        };
        (commit, outbox)
    }

    /// A duplicate delivery: nothing new happens, but anything an earlier delivery of this
    /// event (or of another for the same incident) failed to send is sent now.
    async fn redeliver(
        &self,
        processed: ProcessedEvent,
        event: &AlarmEvent,
    ) -> Result<Report, KlaxonError> {
        let mut report = Report::empty(Outcome::Duplicate, Some(event.event_id.clone()));
        report.dedup_key = Some(processed.dedup_key.clone());
        report.incident_id = processed.incident_id.clone();
        let Some(incident_id) = processed.incident_id.as_deref() else {
            tracing::info!(
                first_outcome = processed.outcome.as_str(),
                "duplicate delivery; nothing to do"
            );
            return Ok(report);
        };
        let now = self.clock.now();
        let pending = self.store.pending_outbox(incident_id).await?;
        // This event's own items under a live lease: the invocation that wrote them may have
        // died. Retry after the lease, and claim nothing before saying so.
        if let Some(item) = pending
            .iter()
            .find(|i| i.event_id == event.event_id && i.lease_until > now)
        {
            return Err(KlaxonError::DeliveryInProgress {
                incident_id: item.incident_id.clone(),
                item_id: item.item_id.clone(),
                lease_until: item.lease_until.to_rfc3339(),
            });
        }
        let mut claimed = Vec::new();
        // Other events' items under a live lease belong to their invocation (or its retry).
        for item in pending.into_iter().filter(|i| i.lease_until <= now) {
            let lease_until = now + chrono_duration(self.settings.outbox_lease);
            if self.store.claim_outbox(&item, lease_until).await? {
                claimed.push(OutboxItem {
                    lease_until,
                    ..item
                });
            }
        }
        if !claimed.is_empty() {
            tracing::warn!(
                items = claimed.len(),
                "duplicate delivery found undelivered messages; delivering them now"
            );
        }
        let (notifications, lifecycle_events) = self.deliver(&claimed).await?;
        report.notifications = notifications;
        report.lifecycle_events = lifecycle_events;
        Ok(report)
    }

    /// Delivers leased outbox items in order, deleting each once delivered. On failure the
    /// remaining leases are released and the error returned, so the invocation is retried.
    async fn deliver(
        &self,
        items: &[OutboxItem],
    ) -> Result<(Vec<Notification>, Vec<LifecycleEvent>), KlaxonError> {
        let mut pages = Vec::new();
        let mut events = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let sent = match &item.message {
                OutboundMessage::Page(n) => match self.settings.topics.get(&n.route) {
                    Some(topic) => self.pager.publish(topic, n).await.map(|message_id| {
                        tracing::info!(route = n.route.as_str(), transition = n.transition.as_str(), %message_id, "page published");
                        pages.push(n.clone());
                    }),
                    None => Err(KlaxonError::NoTopicForRoute(n.route.as_str())),
                },
                OutboundMessage::Lifecycle(e) => self.bus.put(&self.settings.event_bus, e).await.map(|()| {
                    tracing::info!(detail_type = %e.detail_type, "lifecycle event put");
                    events.push(e.clone());
                }),
            };
            match sent {
                Ok(()) => {
                    // Delivered. If the delete fails, the item stays and a later duplicate
                    // delivery may send it again: log it, but do not fail (and so re-send)
                    // this invocation for it.
                    if let Err(e) = self.store.complete_outbox(item).await {
                        tracing::warn!(error = %e, item_id = %text::for_log(&item.item_id), "delivered, but the outbox item could not be deleted");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, item_id = %text::for_log(&item.item_id), "delivery failed; the invocation will be retried");
                    for rest in &items[index..] {
                        if let Err(release) = self.store.release_outbox(rest).await {
                            tracing::warn!(error = %release, "could not release an outbox lease; it expires by itself");
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok((pages, events))
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
