//! The engine: one event in, one atomic commit, the outbox delivered, the steps after the
//! page run. Shared verbatim by the Lambda handlers (AWS adapters) and `klaxon replay`
//! (memory). The flow, one file per stage: `receive` → `apply` (runbooks chosen, walked,
//! decided by `runbook::{walk, enrich, decide}`) → `commit` → `outbox` (deliver, redeliver) → `after_page`;
//! `duplicate` for a redelivered event.

mod act;
mod after_page;
mod apply;
mod commit;
mod duplicate;
mod outbox;
mod receive;

pub use act::{action_record_id, ActionFacts, ACTION_RECORD_DAYS};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::model::{LifecycleEvent, Notification, Outcome, RunbookScope, StepEntry};
use crate::ports::{Clock, IncidentStore, LifecycleBus, Lookups, Pager};
use crate::route::Route;
use crate::runbook::Catalog;
use crate::severity::Severity;
use crate::tags::{TagOrigin, TagResolver};

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
    /// Base URL of the incident page (`KLAXON_RESPONDER_URL`): pages carry links under it.
    /// Unset, pages carry none.
    pub responder_url: Option<String>,
    /// How long links keep working after their incident resolves (`KLAXON_LINK_TTL_DAYS`).
    pub link_ttl: Duration,
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
            responder_url: None,
            link_ttl: Duration::from_secs(crate::link::DEFAULT_LINK_TTL_DAYS * 86_400),
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
    /// A responder's action: who, through what, its id, and the incident's status.
    pub action: Option<ActionFacts>,
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
            action: None,
        }
    }
}

/// `S` stores records, `P` pages, `B` puts lifecycle events, `L` looks things up (tags,
/// metrics, alarm history, target health, health checks) for enrichment and metric steps.
pub struct Engine<S, P, B, L> {
    store: S,
    pager: P,
    bus: B,
    lookups: TagResolver<L>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    catalog: Arc<Catalog>,
}

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    pub fn new(
        store: S,
        pager: P,
        bus: B,
        lookups: L,
        clock: Arc<dyn Clock>,
        settings: EngineSettings,
        catalog: Arc<Catalog>,
    ) -> Self {
        Engine {
            lookups: TagResolver::new(lookups, settings.tag_cache_ttl),
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

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    /// The engine's clock (the embedded backend's replay clock, or the system's).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}
