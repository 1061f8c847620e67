//! A responder's action applied: the incident, its key's tracker and the action's record
//! read; the outcome decided by `plan::action`; one transaction (the incident update, the
//! timeline entry, the outbox items, the action's record) under the tracker's version, as
//! events commit; then the outbox delivered. A repeated action id is applied once and
//! answers the first result.

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::{chrono_duration, Engine, Report};
use crate::action::ActionRequest;
use crate::error::{CommitError, KlaxonError};
use crate::model::{
    Commit, Incident, IncidentChange, KeyTracker, OutboundMessage, OutboxItem, Outcome,
    PendingOutbox, ProcessedEvent,
};
use crate::plan::action::{decide, ActionPlan};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::render;
use crate::text;

/// How long an action id is remembered: a form resubmitted or an API call retried within
/// this time is applied once. Longer than events' 48 hours because a page's link (and the
/// nonce in its form) lives for days.
pub const ACTION_RECORD_DAYS: i64 = 30;

/// The key of an action's record: action ids are scoped to their incident.
pub fn action_record_id(incident_id: &str, action_id: &str) -> String {
    format!("action:{incident_id}:{action_id}")
}

/// What an action report adds to an event's report.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionFacts {
    pub action_id: String,
    pub actor: String,
    pub channel: crate::action::Channel,
    /// The incident after the action (for an unchanged action, as it had moved on), so that
    /// callers answer with it without reading it again.
    pub incident: Option<Box<Incident>>,
}

impl ActionFacts {
    /// The incident's status after the action.
    pub fn status(&self) -> Option<crate::model::IncidentStatus> {
        self.incident.as_ref().map(|i| i.status)
    }
}

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// Applies one responder action. Refusals (unknown incident, malformed request, not
    /// allowed on the route) are reports with outcome `rejected` and the reason, not
    /// errors; errors are failures to read or write (retryable ones marked so).
    pub async fn act(&self, request: ActionRequest) -> Result<Report, KlaxonError> {
        // Instrumented, not entered: the future may move between threads across awaits.
        let span = tracing::info_span!(
            "action",
            action = request.kind.as_str(),
            incident_id = %text::for_log(&request.incident_id),
            channel = request.actor.channel.as_str(),
        );
        self.apply_action(request).instrument(span).await
    }

    async fn apply_action(&self, request: ActionRequest) -> Result<Report, KlaxonError> {
        let facts = ActionFacts {
            action_id: request.action_id.clone(),
            actor: request.actor.shown(),
            channel: request.actor.channel,
            incident: None,
        };
        let request = match request.checked() {
            Ok(r) => r,
            Err(e) => return Ok(rejected(facts, &e.to_string(), None)),
        };
        let record_id = action_record_id(&request.incident_id, &request.action_id);
        let writer = super::apply::writer_token(&record_id, self.clock.now());
        let mut attempted: Option<(Commit, ActionPlan)> = None;
        for attempt in 1..=self.settings.max_commit_attempts {
            let Some(incident) = self.store.incident(&request.incident_id).await? else {
                let why = format!("unknown incident {}", text::for_log(&request.incident_id));
                return Ok(rejected(facts, &why, Some(&request.incident_id)));
            };
            let dedup_key = incident.dedup_keys.first().cloned().unwrap_or_default();
            let (processed, tracker) = self.store.load(&record_id, &dedup_key).await?;
            let (commit, plan) = match (processed, attempted.take()) {
                (Some(p), Some(mine)) if p.writer == writer => mine,
                (Some(p), _) => {
                    return self
                        .repeated(p, tracker, &incident, request.kind, facts)
                        .await
                }
                (None, _) => {
                    let now = self.clock.now();
                    let expected = tracker.as_ref().map(|t| t.version);
                    let tracker = tracker.unwrap_or_else(|| KeyTracker::new(&dedup_key));
                    let plan = decide(&incident, &tracker, &request, now);
                    let commit =
                        self.action_commit(&plan, &request, &record_id, expected, now, &writer);
                    match self.store.commit(&commit).await {
                        Ok(()) => (commit, plan),
                        Err(CommitError::AlreadyProcessed) => {
                            attempted = Some((commit, plan));
                            continue;
                        }
                        Err(CommitError::Conflict(why)) => {
                            attempted = Some((commit, plan));
                            tracing::debug!(attempt, reason = %why, "concurrent update; reading again");
                            tokio::time::sleep(super::apply::backoff(&record_id, attempt)).await;
                            continue;
                        }
                        Err(CommitError::Failed(e)) => return Err(e),
                    }
                }
            };
            return self.deliver_action(commit, plan, facts).await;
        }
        Err(KlaxonError::Contention {
            dedup_key: text::for_log(&request.incident_id),
            attempts: self.settings.max_commit_attempts,
        })
    }

    fn action_commit(
        &self,
        plan: &ActionPlan,
        request: &ActionRequest,
        record_id: &str,
        expected: Option<u64>,
        now: DateTime<Utc>,
        writer: &str,
    ) -> Commit {
        let mut links = Vec::new();
        let mut messages: Vec<OutboundMessage> = plan
            .page_routes
            .iter()
            .map(|route| {
                let mut page = render::resolved_by_person_page(&plan.incident, request, *route);
                links.extend(self.link_page(&mut page, &plan.incident.incident_id, now));
                OutboundMessage::Page(page)
            })
            .collect();
        if plan.lifecycle {
            messages.push(OutboundMessage::Lifecycle(render::action_lifecycle(
                &plan.incident,
                request,
                plan.outcome,
            )));
        }
        let lease_until = now + chrono_duration(self.settings.outbox_lease);
        let outbox: Vec<OutboxItem> = messages
            .into_iter()
            .enumerate()
            .map(|(n, message)| OutboxItem {
                incident_id: plan.incident.incident_id.clone(),
                event_id: record_id.to_string(),
                item_id: super::commit::outbox_item_id(
                    plan.tracker.version,
                    record_id,
                    &n.to_string(),
                ),
                created_at: now,
                lease_until,
                message,
            })
            .collect();
        let mut tracker = plan.tracker.clone();
        for item in &outbox {
            let marker = PendingOutbox::of(item);
            tracker.pending_outbox.insert(marker.key(), marker);
        }
        Commit {
            processed: ProcessedEvent {
                event_id: record_id.to_string(),
                dedup_key: tracker.dedup_key.clone(),
                outcome: plan.outcome,
                incident_id: Some(plan.incident.incident_id.clone()),
                processed_at: now,
                expires_at: now + chrono::Duration::days(ACTION_RECORD_DAYS),
                writer: writer.to_string(),
                action: Some(request.kind),
                error: plan.error.clone(),
            },
            expected_tracker_version: expected,
            tracker,
            incident: plan.update.clone().map(IncidentChange::Update),
            timeline: Some(plan.entry.clone()),
            closed: None,
            outbox,
            step_run: None,
            links,
        }
    }

    /// Our commit landed: deliver its outbox (after any older items of the key).
    async fn deliver_action(
        &self,
        commit: Commit,
        plan: ActionPlan,
        mut facts: ActionFacts,
    ) -> Result<Report, KlaxonError> {
        tracing::info!(outcome = plan.outcome.as_str(), "action applied");
        // The markers as they were before this action's own.
        let mut markers = commit.tracker.pending_outbox.clone();
        for item in &commit.outbox {
            markers.remove(&PendingOutbox::of(item).key());
        }
        let open = commit
            .tracker
            .open_incident
            .as_ref()
            .map(|o| o.incident_id.clone());
        let delivered = self
            .deliver_in_order(
                commit.outbox.clone(),
                &markers,
                open.as_deref(),
                &commit.tracker.dedup_key,
                None,
            )
            .await;
        let mut error = plan.error.clone();
        // The action stands whatever happens now (one transaction, committed). Its messages
        // stay in the outbox, marked on the tracker, when they cannot all go out: behind an
        // older message another invocation is delivering right now, or SNS or EventBridge
        // failing. They go out with the next event or action on the key, or when this
        // request is repeated with the same action id; the caller is told so, not that
        // nothing happened.
        let (notifications, lifecycle_events) = match delivered {
            Ok(sent) => sent,
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "action applied; its messages wait in the outbox");
                error = Some(pending_message(&e));
                (Vec::new(), Vec::new())
            }
        };
        facts.incident = Some(Box::new(plan.incident.clone()));
        Ok(Report {
            notifications,
            lifecycle_events,
            error,
            action: Some(facts),
            ..incident_report(plan.outcome, &plan.incident)
        })
    }

    /// The action id was seen before: answer its first result with the incident as it is
    /// now, and send what that first attempt committed and did not deliver.
    async fn repeated(
        &self,
        processed: ProcessedEvent,
        tracker: Option<KeyTracker>,
        incident: &Incident,
        kind: crate::action::ActionKind,
        mut facts: ActionFacts,
    ) -> Result<Report, KlaxonError> {
        // The same id for another action is a client's mistake: answering the first result
        // as if it were this one's would tell a person something false.
        if let Some(first) = processed.action.filter(|first| *first != kind) {
            let why = format!(
                "action id {} was already used for `{}` on this incident: use a new id for `{}`",
                text::for_log(&facts.action_id),
                first.as_str(),
                kind.as_str()
            );
            return Ok(rejected(facts, &why, Some(&incident.incident_id)));
        }
        tracing::info!(
            first_outcome = processed.outcome.as_str(),
            "repeated action id"
        );
        let tracker = tracker.unwrap_or_else(|| KeyTracker::new(&processed.dedup_key));
        let mut pending = None;
        let redelivered = self
            .redeliver_outbox(
                &processed.event_id,
                Some(&incident.incident_id),
                &tracker.pending_outbox,
                tracker
                    .open_incident
                    .as_ref()
                    .map(|o| o.incident_id.as_str()),
                &tracker.dedup_key,
            )
            .await;
        let (notifications, lifecycle_events) = match redelivered {
            Ok(sent) => sent,
            // The first request is delivering them right now (a double click, concurrent
            // retries): a person is waiting for an answer, and the first result is it. If
            // that delivery dies, its lease runs out and the next action or event on the
            // key sends the items first (the tracker's markers), as a retry of this id does.
            Err(KlaxonError::DeliveryInProgress { .. }) => (Vec::new(), Vec::new()),
            Err(e) => {
                tracing::warn!(error = %e, "repeated action: its messages still wait");
                pending = Some(pending_message(&e));
                (Vec::new(), Vec::new())
            }
        };
        facts.incident = Some(Box::new(incident.clone()));
        Ok(Report {
            notifications,
            lifecycle_events,
            error: processed.error.clone().or(pending),
            action: Some(facts),
            ..incident_report(processed.outcome, incident)
        })
    }
}

/// What an applied action says when its messages could not all go out yet.
fn pending_message(error: &KlaxonError) -> String {
    match error {
        KlaxonError::DeliveryInProgress { .. } => "applied; its notifications wait for an earlier delivery on the same alarm: repeat the request (same action id) to send them now".into(),
        other => format!(
            "applied; its notifications could not be sent yet ({}): repeat the request (same action id) to send them",
            text::bounded(&text::single_line(&other.to_string()), 200)
        ),
    }
}

fn incident_report(outcome: Outcome, incident: &Incident) -> Report {
    let mut report = Report::empty(outcome, None);
    report.incident_id = Some(incident.incident_id.clone());
    report.dedup_key = incident.dedup_keys.first().cloned();
    report.environment = Some(incident.ownership.environment.clone());
    report.severity = Some(incident.ownership.severity);
    report
}

fn rejected(facts: ActionFacts, why: &str, incident_id: Option<&str>) -> Report {
    tracing::info!(reason = %why, "action refused");
    let mut report = Report::empty(Outcome::Rejected, None);
    report.incident_id = incident_id.map(text::single_line);
    report.error = Some(why.to_string());
    report.action = Some(facts);
    report
}
