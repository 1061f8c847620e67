//! The one transaction per event: the incident change, the tracker, the idempotency record,
//! the timeline, the outbox items and the step run, made to fit DynamoDB's limits.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{chrono_duration, Engine};
use crate::intake::StateChange;
use crate::model::{
    Commit, OutboundMessage, OutboxItem, PendingOutbox, PendingStep, ProcessedEvent, StepRun,
};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::runbook::decide::Decision;
use crate::runbook::step::LookupInputs;
use crate::text;

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn commit_for(
        &self,
        decision: Decision,
        event: &StateChange,
        expected_tracker_version: Option<u64>,
        now: DateTime<Utc>,
        writer: &str,
        hops: u64,
        inputs: &LookupInputs,
    ) -> (Commit, Attempt) {
        let plan = &decision.plan;
        // The incident that ended unseen first (its lifecycle event on the bus before the
        // new incident's), then this event's pages and lifecycle event.
        let mut closed_messages: Vec<OutboxItem> = Vec::new();
        if let (Some(closed), Some(lifecycle)) = (&plan.closed, &decision.closed_lifecycle) {
            closed_messages.push(OutboxItem {
                incident_id: closed.update.incident_id.clone(),
                event_id: event.event_id.clone(),
                // `-` sorts before the digits of this event's own items.
                item_id: outbox_item_id(plan.tracker.version, &event.event_id, "-closed"),
                created_at: now,
                lease_until: now + chrono_duration(self.settings.outbox_lease),
                message: OutboundMessage::Lifecycle(lifecycle.clone()),
            });
        }
        let mut links = Vec::new();
        let mut messages: Vec<OutboundMessage> = decision
            .pages
            .iter()
            .cloned()
            .map(|mut page| {
                if let Some(id) = &plan.incident_id {
                    links.extend(self.link_page(&mut page, id, now));
                }
                OutboundMessage::Page(page)
            })
            .collect();
        messages.extend(decision.lifecycle.clone().map(OutboundMessage::Lifecycle));
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
                dedup_key: event.dedup_key.clone(),
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
                dedup_key: event.dedup_key.clone(),
                outcome: plan.outcome,
                incident_id: plan.incident_id.clone(),
                processed_at: now,
                expires_at,
                writer: writer.to_string(),
                action: None,
                error: None,
            },
            expected_tracker_version,
            tracker: plan.tracker.clone(),
            incident: plan.incident.clone(),
            timeline: plan.timeline.clone(),
            closed: plan.closed.clone(),
            outbox: outbox.clone(),
            step_run,
            links,
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
}

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// With a responder URL configured, a link to the incident's page on the page's second
    /// line; its record goes into the same commit.
    pub(super) fn link_page(
        &self,
        page: &mut crate::model::Notification,
        incident_id: &str,
        now: DateTime<Utc>,
    ) -> Option<crate::model::LinkRecord> {
        let base = self.settings.responder_url.as_deref()?;
        let issued = crate::link::issue(incident_id, page.route, now);
        crate::link::add_to_page(page, &crate::link::url(base, incident_id, &issued.token));
        Some(issued.record)
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
        let Some(evidence) = entry.evidence.as_mut() else {
            continue;
        };
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
pub(super) struct Attempt {
    pub(super) decision: Decision,
    pub(super) outbox: Vec<OutboxItem>,
    pub(super) step_run: Option<StepRun>,
    /// What was left out for the commit to fit DynamoDB's limits (`fit_commit`).
    pub(super) given_up: Option<String>,
    /// The tracker's outbox markers before this commit: older items that may be pending.
    pub(super) markers: BTreeMap<String, PendingOutbox>,
}

/// An outbox item's id: the tracker version of the commit that wrote it first (zero-padded,
/// so that ids sort in commit order across the key's incidents), then its event and place.
pub(super) fn outbox_item_id(version: u64, event_id: &str, place: &str) -> String {
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
