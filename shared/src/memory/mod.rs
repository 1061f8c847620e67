//! The embedded backend: every port in memory, with the same atomicity and conditional
//! semantics as the DynamoDB adapter, plus fault injection for what moto never does
//! (transaction conflicts) or what is hard to provoke (a crash after the write).

mod fault;
mod services;
mod snapshot;
mod store;

pub use fault::{injected, InjectedFault};
pub use snapshot::{decode, encode, Snapshot, SnapshotError, STATE_FORMAT, STATE_VERSION};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::error::KlaxonError;
use crate::lookup::{HealthCheckReport, HistoryItem, MetricDatum, TargetHealth};
use crate::model::{
    Incident, KeyTracker, LifecycleEvent, Notification, OutboxItem, ProcessedEvent, Rejection,
    StepEntry, StepRun, TimelineEntry,
};
use crate::ports::Clock;

/// A fault the next commit meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitFault {
    /// The tracker's conditional check fails as if another writer got there first.
    ConditionalCheckFailed,
    /// DynamoDB cancels the transaction for a conflicting concurrent transaction.
    TransactionConflict,
    /// The write lands, but the caller sees an error (a crash or a lost response).
    LostResponse,
    /// The write lands, but the store reports the event as already processed: what an SDK
    /// retry of a request that had in fact succeeded looks like.
    LandedButAlreadyProcessed,
    /// The write lands, but the store reports a conflict (as moto did under concurrency).
    LandedButConflict,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    pub topic_arn: String,
    pub notification: Notification,
    /// When it was published (to show what a page waited for).
    pub at: std::time::Instant,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PutOnBus {
    pub bus: String,
    pub event: LifecycleEvent,
}

#[derive(Default)]
struct State {
    processed: HashMap<String, ProcessedEvent>,
    /// Links by their token's hash.
    links: BTreeMap<String, crate::model::LinkRecord>,
    trackers: HashMap<String, KeyTracker>,
    incidents: BTreeMap<String, Incident>,
    timelines: HashMap<String, BTreeMap<(DateTime<Utc>, String), TimelineEntry>>,
    outbox: BTreeMap<(String, String), OutboxItem>,
    rejections: BTreeMap<String, Rejection>,
    published: Vec<Published>,
    bus: Vec<PutOnBus>,
    tags: HashMap<String, Vec<(String, String)>>,
    commit_faults: VecDeque<CommitFault>,
    publish_faults: u32,
    /// Removals of delivered outbox items that fail next (the item stays, leased).
    delivery_completion_faults: u32,
    /// Publishes to these topics fail for good (as SNS does for a deleted topic).
    dead_topics: Vec<String>,
    tag_faults: VecDeque<KlaxonError>,
    tag_lookups: u32,
    now: Option<DateTime<Utc>>,
    /// Recorded CloudWatch answers for enrichment, by metric label ("namespace name").
    metric_points: HashMap<String, Vec<(DateTime<Utc>, f64)>>,
    alarm_history: Vec<HistoryItem>,
    metrics_fail: bool,
    /// Each metric read sleeps this long first (to miss a step's deadline).
    metrics_delay: Option<std::time::Duration>,
    put_metrics: Vec<MetricDatum>,
    put_metric_faults: u32,
    bus_faults: u32,
    step_entries: BTreeMap<(String, u32), StepEntry>,
    step_runs: HashMap<String, StepRun>,
    /// Step-entry writes that succeed before the next one fails (`None`: no fault).
    step_entry_fault_after: Option<u32>,
    /// Recorded DescribeTargetHealth answer (every target group answers it).
    target_health: Vec<TargetHealth>,
    /// Recorded Route 53 answer (the id is replaced by the one asked for).
    health_check: Option<HealthCheckReport>,
}

/// The engine on the embedded backend: one [`MemoryBackend`] in every role.
pub type MemoryEngine =
    crate::engine::Engine<MemoryBackend, MemoryBackend, MemoryBackend, MemoryBackend>;

/// Settings for the embedded backend: a topic ARN per route (shown, never called) and
/// the bus `klaxon`.
pub fn embedded_settings() -> crate::engine::EngineSettings {
    let topics = crate::route::Route::ALL
        .iter()
        .map(|r| {
            (
                *r,
                format!("arn:aws:sns:us-east-1:000000000000:klaxon-{}", r.as_str()),
            )
        })
        .collect();
    crate::engine::EngineSettings::new(topics, "klaxon".into())
}

/// A fresh backend and an engine running on it (`klaxon replay`, tests).
pub fn engine(settings: crate::engine::EngineSettings) -> (MemoryBackend, MemoryEngine) {
    let catalog = crate::runbook::Catalog::embedded()
        .expect("the shipped runbooks are valid (klaxon runbook check runs in CI)");
    engine_with(settings, std::sync::Arc::new(catalog))
}

/// A fresh backend and an engine running the given runbooks on it.
pub fn engine_with(
    settings: crate::engine::EngineSettings,
    catalog: std::sync::Arc<crate::runbook::Catalog>,
) -> (MemoryBackend, MemoryEngine) {
    let backend = MemoryBackend::new();
    let engine = engine_on(backend.clone(), settings, catalog);
    (backend, engine)
}

/// An engine running on `backend` (a restored one: `klaxon … --state`).
pub fn engine_on(
    backend: MemoryBackend,
    settings: crate::engine::EngineSettings,
    catalog: std::sync::Arc<crate::runbook::Catalog>,
) -> MemoryEngine {
    crate::engine::Engine::new(
        backend.clone(),
        backend.clone(),
        backend.clone(),
        backend.clone(),
        std::sync::Arc::new(backend),
        settings,
        catalog,
    )
}

/// One backend plays every role; clones share the same state (cheap: one `Arc`).
#[derive(Default, Clone)]
pub struct MemoryBackend {
    state: std::sync::Arc<Mutex<State>>,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in a test thread must not hide the state from the others.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn inject_commit_faults(&self, faults: impl IntoIterator<Item = CommitFault>) {
        self.lock().commit_faults.extend(faults);
    }

    /// The next `count` publishes fail with a retryable error.
    pub fn fail_next_publishes(&self, count: u32) {
        self.lock().publish_faults = count;
    }

    /// The next `count` writes that complete a delivery (remove delivered outbox items) fail
    /// with a retryable error, as when the write after a successful `Publish` fails.
    pub fn fail_next_delivery_completions(&self, count: u32) {
        self.lock().delivery_completion_faults = count;
    }

    /// Every publish to `topic_arn` fails from now on with a non-retryable error, as SNS
    /// answers for a topic that was deleted (`NotFound`).
    pub fn delete_topic(&self, topic_arn: &str) {
        self.lock().dead_topics.push(topic_arn.to_string());
    }

    pub fn fail_next_tag_lookup(&self, error: KlaxonError) {
        self.lock().tag_faults.push_back(error);
    }

    pub fn set_resource_tags(&self, alarm_arn: &str, tags: &[(&str, &str)]) {
        self.lock().tags.insert(
            alarm_arn.to_string(),
            tags.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
    }

    pub fn tag_lookups(&self) -> u32 {
        self.lock().tag_lookups
    }

    pub fn published(&self) -> Vec<Published> {
        self.lock().published.clone()
    }

    pub fn bus_events(&self) -> Vec<PutOnBus> {
        self.lock().bus.clone()
    }

    pub fn rejections(&self) -> Vec<Rejection> {
        self.lock().rejections.values().cloned().collect()
    }

    pub fn all_incidents(&self) -> Vec<Incident> {
        self.lock().incidents.values().cloned().collect()
    }

    pub fn timeline_len(&self) -> usize {
        self.lock().timelines.values().map(BTreeMap::len).sum()
    }

    pub fn outbox_len(&self) -> usize {
        self.lock().outbox.len()
    }

    /// Records what GetMetricData answers for the metric labelled `label` ("namespace name").
    pub fn record_metric_points(&self, label: &str, points: &[(DateTime<Utc>, f64)]) {
        self.lock()
            .metric_points
            .insert(label.to_string(), points.to_vec());
    }

    pub fn record_alarm_history(&self, items: Vec<HistoryItem>) {
        self.lock().alarm_history = items;
    }

    /// Every CloudWatch read fails (as moto's DescribeAlarmHistory does with a 500).
    pub fn fail_metric_reads(&self, fail: bool) {
        self.lock().metrics_fail = fail;
    }

    /// Every CloudWatch read waits this long before answering.
    pub fn delay_metric_reads(&self, delay: std::time::Duration) {
        self.lock().metrics_delay = Some(delay);
    }

    /// The next `count` PutMetricData calls fail with a retryable error.
    pub fn fail_next_put_metrics(&self, count: u32) {
        self.lock().put_metric_faults = count;
    }

    /// The next `count` PutEvents calls fail with a retryable error.
    pub fn fail_next_bus_puts(&self, count: u32) {
        self.lock().bus_faults = count;
    }

    /// After `successes` more step-entry writes, one fails (as if the invocation died
    /// between a step's effect and its record).
    pub fn fail_step_entry_write_after(&self, successes: u32) {
        self.lock().step_entry_fault_after = Some(successes);
    }

    /// Every step entry, by event and sequence.
    pub fn all_step_entries(&self) -> Vec<StepEntry> {
        self.lock().step_entries.values().cloned().collect()
    }

    pub fn step_runs_len(&self) -> usize {
        self.lock().step_runs.len()
    }

    pub fn put_metrics(&self) -> Vec<MetricDatum> {
        self.lock().put_metrics.clone()
    }

    /// Records what DescribeTargetHealth answers (for any target group).
    pub fn record_target_health(&self, targets: Vec<TargetHealth>) {
        self.lock().target_health = targets;
    }

    /// Records what Route 53 answers for a health check (for any id).
    pub fn record_health_check(&self, report: HealthCheckReport) {
        self.lock().health_check = Some(report);
    }

    /// Sets the time this backend reports as its [`Clock`]; unset, it is the system time.
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.lock().now = Some(now);
    }

    /// Moves the clock to `at` if that is later (replay's clock never goes back); sets it
    /// when unset.
    pub fn advance_to(&self, at: DateTime<Utc>) {
        let mut s = self.lock();
        s.now = Some(s.now.map_or(at, |now| now.max(at)));
    }

    /// How many idempotency records (events and actions) the backend holds.
    pub fn records_count(&self) -> usize {
        self.lock().processed.len()
    }

    /// The clock if it was ever set (replay's clock), without falling back to the system's.
    pub fn clock(&self) -> Option<DateTime<Utc>> {
        self.lock().now
    }
}

impl Clock for MemoryBackend {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now.unwrap_or_else(Utc::now)
    }
}
