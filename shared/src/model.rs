//! Records Klaxon keeps: incidents, their timelines, the per-key tracker that orders state
//! changes, idempotency records and the outbox of messages still to deliver. Plain data; the
//! storage layout is the adapter's business (see docs/DATA-MODEL.md for DynamoDB).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intake::{AlarmKind, AlarmState};
use crate::ownership::Ownership;
use crate::route::Route;

/// What processing one delivered event did. The names are a public contract (replay JSON,
/// idempotency records, logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Opened,
    Updated,
    Resolved,
    Noted,
    Duplicate,
    Stale,
    Ignored,
    Rejected,
    /// Runbooks ran, but none of them has an incident step.
    Handled,
    // Responder actions (docs/RESPONDERS.md, the outcome table).
    Acknowledged,
    ResolvedByPerson,
    Reopened,
    NotedByPerson,
    Snoozed,
    SeverityChanged,
    Owned,
    /// The action changes nothing: already in that state, or the incident moved on.
    Unchanged,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Opened => "opened",
            Outcome::Updated => "updated",
            Outcome::Resolved => "resolved",
            Outcome::Noted => "noted",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Ignored => "ignored",
            Outcome::Rejected => "rejected",
            Outcome::Handled => "handled",
            Outcome::Acknowledged => "acknowledged",
            Outcome::ResolvedByPerson => "resolved_by_person",
            Outcome::Reopened => "reopened",
            Outcome::NotedByPerson => "noted_by_person",
            Outcome::Snoozed => "snoozed",
            Outcome::SeverityChanged => "severity_changed",
            Outcome::Owned => "owned",
            Outcome::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub incident_id: String,
    /// Deduplication keys grouped into this incident; today exactly one, the event's
    /// dedup key (an alarm's ARN, a finding's key, ...).
    pub dedup_keys: Vec<String>,
    pub status: IncidentStatus,
    /// The alarm name or the event's title, sanitised: one line, no control characters,
    /// bounded.
    pub title: String,
    pub alarm_arn: String,
    pub alarm_kind: AlarmKind,
    pub account: Option<String>,
    pub region: Option<String>,
    pub ownership: Ownership,
    /// State timestamp of the ALARM that opened it (CloudWatch's detection time).
    pub opened_at: DateTime<Utc>,
    pub opened_by_event: String,
    pub resolved_at: Option<DateTime<Utc>>,
    /// False while every ALARM so far was under an actions suppressor: nobody was told yet.
    pub paged: bool,
    pub paged_at: Option<DateTime<Utc>>,
    pub last_state: AlarmState,
    pub last_state_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every route a page for this incident was committed to; its recovery goes to all.
    #[serde(default)]
    pub paged_routes: Vec<Route>,
    /// How it ended, once resolved. Response-time statistics count only real recoveries
    /// ([`Resolution::is_recovery`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// When a page for it was last delivered (written with the removal of the delivered
    /// outbox items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_delivered_at: Option<DateTime<Utc>>,
    /// Who acknowledged it first, when and through which channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<Acknowledgement>,
    /// The person who took ownership (as recorded: an IAM principal, a local user, or a
    /// name as given through a link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// No repeat pages before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// When it was last resolved, kept when it is reopened: a link issued before a
    /// resolution expires a set time after it, reopened or not ([`crate::link::validity`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_resolved_at: Option<DateTime<Utc>>,
    /// Per route, links issued before this time are refused (`klaxon incident
    /// revoke-links`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links_revoked_before: BTreeMap<Route, DateTime<Utc>>,
}

/// The first acknowledgement of an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    /// The actor's name as recorded ([`crate::action::Actor::shown`]).
    pub by: String,
    pub at: DateTime<Utc>,
    pub channel: crate::action::Channel,
}

/// Why an incident was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The source said so: OK, a closed Health event, an archived or passed finding.
    Recovered,
    /// No OK was delivered, but the next ALARM's previous state says the alarm recovered.
    RecoveryInferred,
    /// The alarm was deleted while its incident was open: not a recovery.
    AlarmDeleted,
    /// The alarm was created again while an incident of the old one was open (its
    /// deletion was not seen): not a recovery.
    AlarmRecreated,
    /// A responder resolved it (the source may still say ALARM: security invariants and
    /// findings often cannot recover on their own).
    ResolvedByPerson,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Recovered => "recovered",
            Resolution::RecoveryInferred => "recovery_inferred",
            Resolution::AlarmDeleted => "alarm_deleted",
            Resolution::AlarmRecreated => "alarm_recreated",
            Resolution::ResolvedByPerson => "resolved_by_person",
        }
    }

    /// Whether the problem is known to be over: false for an alarm that was deleted or
    /// replaced, whose problem may go on unwatched. A person's resolution counts: they
    /// say it is over, and response times end there.
    pub fn is_recovery(self) -> bool {
        matches!(
            self,
            Resolution::Recovered | Resolution::RecoveryInferred | Resolution::ResolvedByPerson
        )
    }
}

/// Changes to an existing incident, applied atomically with the rest of a [`Commit`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentUpdate {
    pub incident_id: String,
    pub status: IncidentStatus,
    pub resolved_at: Option<DateTime<Utc>>,
    pub paged_at: Option<DateTime<Utc>>,
    pub last_state: AlarmState,
    pub last_state_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when resolving.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// The incident's paged routes, when this change adds to them.
    #[serde(default)]
    pub paged_routes: Option<Vec<Route>>,
    /// A responder's action: the responder fields as they are to be (all written).
    #[serde(default)]
    pub responder: Option<ResponderFields>,
    /// A resolved incident opened again: its opening time (which orders the open-incident
    /// index it goes back into); its resolution is removed.
    #[serde(default)]
    pub reopened: Option<DateTime<Utc>>,
}

/// The fields responders change, written together by an action (under the tracker's
/// version, so no other writer changed them since they were read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponderFields {
    pub acknowledged: Option<Acknowledgement>,
    pub owner: Option<String>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub severity: crate::severity::Severity,
}

/// An earlier incident of the same key ended in the same commit as this event's change:
/// the recovery the next ALARM reveals (its OK was never delivered).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClosedIncident {
    pub update: IncidentUpdate,
    pub entry: TimelineEntry,
    pub title: String,
    pub ownership: Ownership,
    pub paged: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IncidentChange {
    Open(Box<Incident>),
    Update(IncidentUpdate),
}

/// The raw facts of one delivered event, kept on the timeline so that later work
/// (time-to-detect, post-mortems) can be computed from evidence, not from our summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub event_id: String,
    pub state: AlarmState,
    pub state_timestamp: DateTime<Utc>,
    pub previous_state: Option<AlarmState>,
    pub previous_state_timestamp: Option<DateTime<Utc>>,
    pub event_time: Option<DateTime<Utc>>,
    pub received_at: DateTime<Utc>,
    pub reason: Option<String>,
    pub reason_data: Option<String>,
    pub actions_suppressed_by: Option<String>,
    pub actions_suppressed_reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A delivered event (a state change, a configuration change or an escalation).
    Event,
    /// Something Klaxon did on its own, such as a page dropped as superseded.
    Note,
    /// What a responder did (or tried: unchanged and refused actions are kept too).
    Action,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub incident_id: String,
    /// Ordering time: the event's state (or configuration) time.
    pub at: DateTime<Utc>,
    /// Unique within the incident: the event id for event entries.
    pub entry_id: String,
    pub kind: EntryKind,
    pub outcome: Outcome,
    pub summary: String,
    /// The delivered event's raw facts; actions have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// Actions: who acted and through what.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<crate::action::Actor>,
    /// Actions: which one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::action::ActionKind>,
    /// Actions: the responder's note, as given (cleaned and bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The open incident as the tracker remembers it, so one read tells what to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenIncidentRef {
    pub incident_id: String,
    pub paged: bool,
    pub title: String,
    pub ownership: Ownership,
    pub opened_at: DateTime<Utc>,
    /// Routes its pages went to (committed to the outbox).
    #[serde(default)]
    pub paged_routes: Vec<Route>,
    /// A responder snoozed it: no repeat pages before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snoozed_until: Option<DateTime<Utc>>,
}

/// Per deduplication key: the state-change order and the open incident. Every change to a
/// key's incidents goes through a conditional write on this record's `version`, which
/// serialises concurrent deliveries for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyTracker {
    pub dedup_key: String,
    pub version: u64,
    pub last_state: Option<AlarmState>,
    pub last_state_at: Option<DateTime<Utc>>,
    pub last_event_id: Option<String>,
    pub open_incident: Option<OpenIncidentRef>,
    pub last_incident_id: Option<String>,
    /// Findings: the feed of the last state applied, and its envelope time (ties of the
    /// source's update time are broken by the envelope time within one feed only).
    #[serde(default)]
    pub last_feed: Option<String>,
    #[serde(default)]
    pub last_event_time: Option<DateTime<Utc>>,
    /// Alarms: the configuration time of the last configuration change applied (ordered
    /// apart from state changes).
    #[serde(default)]
    pub last_config_at: Option<DateTime<Utc>>,
    /// Outbox items that may not all be delivered yet, one marker per event and incident
    /// (key [`PendingOutbox::key`]): set by the commit that writes them, removed by the
    /// write that deletes them (DynamoDB: `REMOVE pending_outbox.#key`, no read needed).
    /// When empty, nothing older than a new event's items can be pending, and keeping the
    /// order costs no read.
    #[serde(default)]
    pub pending_outbox: BTreeMap<String, PendingOutbox>,
}

/// One event's outbox items on one incident that may still be pending.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingOutbox {
    pub incident_id: String,
    pub event_id: String,
    /// The tracker version of the commit that wrote them (the oldest marker goes first
    /// when there are too many).
    #[serde(default)]
    pub version: u64,
}

impl PendingOutbox {
    pub fn key(&self) -> String {
        format!("{}|{}", self.incident_id, self.event_id)
    }

    pub fn of(item: &OutboxItem) -> Self {
        PendingOutbox {
            incident_id: item.incident_id.clone(),
            event_id: item.event_id.clone(),
            // The item id begins with the commit's tracker version (engine).
            version: item
                .item_id
                .split('#')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        }
    }
}

impl KeyTracker {
    pub fn new(dedup_key: &str) -> Self {
        KeyTracker {
            dedup_key: dedup_key.to_string(),
            version: 0,
            last_state: None,
            last_state_at: None,
            last_event_id: None,
            open_incident: None,
            last_incident_id: None,
            last_feed: None,
            last_event_time: None,
            last_config_at: None,
            pending_outbox: BTreeMap::new(),
        }
    }
}

/// Idempotency record: this event id was processed. Kept at least 30 hours (EventBridge
/// retries for up to 24).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessedEvent {
    pub event_id: String,
    pub dedup_key: String,
    pub outcome: Outcome,
    pub incident_id: Option<String>,
    pub processed_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Token of the invocation attempt that wrote this record. When a commit reports the
    /// event as already processed, a matching token means it was our own write (an SDK
    /// retry of a request that had in fact succeeded), not a duplicate delivery.
    #[serde(default)]
    pub writer: String,
    /// A responder's action: which one (a repeated id must name the same action).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<crate::action::ActionKind>,
    /// A responder's action that was refused: why (answered again to a repeat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    Opened,
    Updated,
    Resolved,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Opened => "opened",
            Transition::Updated => "updated",
            Transition::Resolved => "resolved",
        }
    }

    pub fn detail_type(self) -> &'static str {
        match self {
            Transition::Opened => "Incident Opened",
            Transition::Updated => "Incident Updated",
            Transition::Resolved => "Incident Resolved",
        }
    }
}

/// A page, ready to publish to the route's SNS topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub route: Route,
    pub transition: Transition,
    pub subject: String,
    /// Plain text: the first line is a self-contained SMS, the rest is the e-mail body.
    pub message: String,
    pub attributes: BTreeMap<String, String>,
    /// Security incidents only: the same page with addresses and ids kept, for e-mail
    /// subscribers (sent only when `KLAXON_SECURITY_EMAIL_DETAIL` is on; docs/CONTRACTS.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_message: Option<String>,
    /// `runbook/step` that rendered it; not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced_by: Option<String>,
}

/// An event for the Klaxon bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// EventBridge `source`; `None` is Klaxon's lifecycle source (`klaxon`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub detail_type: String,
    pub resources: Vec<String>,
    pub detail: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundMessage {
    Page(Notification),
    Lifecycle(LifecycleEvent),
}

/// A message written in the same transaction as the state change that caused it, delivered
/// afterwards and then deleted (transactional outbox). `lease_until` keeps two invocations
/// from delivering the same item at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxItem {
    pub incident_id: String,
    /// The event whose processing wrote this item.
    pub event_id: String,
    /// Unique within the incident; sorts in creation order.
    pub item_id: String,
    pub created_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub message: OutboundMessage,
}

/// What one delivery did, written at once when it ends: the delivered (or superseded)
/// outbox items removed, the incidents whose page went out marked (`page_delivered_at`),
/// notes of what was dropped, and the tracker's markers of the events now fully delivered.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Delivery {
    /// Delivered or dropped: remove them.
    pub removed: Vec<OutboxItem>,
    /// Incidents a page was delivered for, and when.
    pub page_delivered: Vec<(String, DateTime<Utc>)>,
    /// Timeline notes (pages dropped as superseded).
    pub notes: Vec<TimelineEntry>,
    /// The tracker's key and the markers to remove from it ([`PendingOutbox::key`]).
    pub tracker_key: String,
    pub done: Vec<String>,
}

/// Everything one event changes, written atomically: all of it or none of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub processed: ProcessedEvent,
    /// The tracker as it must be found (`None`: it must not exist yet).
    pub expected_tracker_version: Option<u64>,
    pub tracker: KeyTracker,
    pub incident: Option<IncidentChange>,
    pub timeline: Option<TimelineEntry>,
    /// An earlier incident resolved in the same transaction (a recovery seen late).
    pub closed: Option<ClosedIncident>,
    pub outbox: Vec<OutboxItem>,
    /// Runbook step outcomes to record and steps still to run after delivery.
    pub step_run: Option<StepRun>,
    /// The links the commit's pages carry (their tokens' hashes).
    pub links: Vec<LinkRecord>,
}

/// A link to an incident's page, as the table keeps it: the SHA-256 of its token, never the
/// token (which exists only in the undelivered outbox item and the delivered message).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    /// Lower-case hex SHA-256 of the token.
    pub token_hash: String,
    pub incident_id: String,
    /// The route whose page carried it: a link identifies a route, not a person.
    pub route: Route,
    pub issued_at: DateTime<Utc>,
    /// The latest it can be valid, whatever the incident does (and when DynamoDB's TTL
    /// deletes it); it also expires a set time after the incident resolves
    /// ([`crate::link::validity`]).
    pub expires_at: DateTime<Utc>,
}

/// An event Klaxon could not accept, kept for an operator with the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// Stable for the same payload, so a retried delivery writes the same record.
    pub rejection_id: String,
    pub event_id: Option<String>,
    pub reason: String,
    pub received_at: DateTime<Utc>,
    /// The start of the payload, sanitised, for diagnosis.
    pub excerpt: String,
    pub expires_at: DateTime<Utc>,
}

/// How one runbook step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Ok,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Ok => "ok",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }
}

/// Whether a step ran before the page was sent (in the decision that wrote the incident)
/// or after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepPhase {
    BeforePage,
    AfterPage,
}

impl StepPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            StepPhase::BeforePage => "before_page",
            StepPhase::AfterPage => "after_page",
        }
    }
}

/// One runbook step's outcome for one event: a step entry on the incident's timeline,
/// distinct from the event entries. `(event_id, seq)` identifies it, so writing it again
/// (a retry) overwrites the same record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepEntry {
    /// The incident whose timeline holds it; `None` when the event concerns no incident
    /// (then the record expires with the event's idempotency record).
    pub incident_id: Option<String>,
    pub event_id: String,
    /// Position among all steps run for this event (runbooks in run order, steps in order).
    pub seq: u32,
    pub runbook: String,
    pub step: String,
    pub kind: String,
    pub status: StepStatus,
    pub phase: StepPhase,
    /// When the step finished.
    pub at: DateTime<Utc>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub summary: String,
    /// Step output as JSON text (enrichment results), if any.
    pub detail: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A step that runs after the page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingStep {
    pub seq: u32,
    pub runbook: String,
    pub step: String,
    pub kind: String,
    /// Set when the step was meant to run before the page but missed its deadline or
    /// failed there: why it runs now.
    pub deferred_because: Option<String>,
}

/// A runbook's view of the event after its own classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunbookScope {
    pub runbook: String,
    pub ownership: Ownership,
}

/// What the after-page part of an event's runbooks needs, written in the same transaction
/// as the incident: the outcomes decided before the page (to record) and the steps still
/// to run. A retry of the event resumes it, skipping steps that already have an entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub event_id: String,
    pub incident_id: Option<String>,
    /// Stored as `alarm_arn` (the attribute name is a contract, docs/DATA-MODEL.md).
    #[serde(rename = "alarm_arn")]
    pub dedup_key: String,
    pub state_timestamp: DateTime<Utc>,
    /// Hop count of the event being handled (see `runbook::step::emit::HOPS_FIELD`).
    pub hops: u64,
    pub metric_queries: Vec<crate::lookup::MetricQuery>,
    #[serde(default)]
    pub target_groups: Vec<String>,
    #[serde(default)]
    pub health_checks: Vec<String>,
    /// The step context shared by all runbooks (templates render against it).
    pub context: Value,
    pub scopes: Vec<RunbookScope>,
    pub entries: Vec<StepEntry>,
    pub pending: Vec<PendingStep>,
    pub created_at: DateTime<Utc>,
    pub lease_until: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// One finding of an analyst's escalation, as its page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalatedFinding {
    pub incident_id: Option<String>,
    pub title: String,
    pub severity: crate::severity::Severity,
    pub outcome: crate::model::Outcome,
}
