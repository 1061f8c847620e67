//! The embedded backend: every port in memory, with the same atomicity and conditional
//! semantics as the DynamoDB adapter, plus fault injection for what moto never does
//! (transaction conflicts) or what is hard to provoke (a crash after the write).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::error::{CommitError, KlaxonError};
use crate::lookup::{
    HealthCheckReport, HistoryItem, MetricDatum, MetricQuery, MetricSeries, TargetHealth,
};
use crate::model::{
    AlarmTracker, Commit, Delivery, Incident, IncidentChange, IncidentStatus, LifecycleEvent,
    Notification, OutboxItem, ProcessedEvent, Rejection, StepEntry, StepRun, TimelineEntry,
};
use crate::ports::{
    Clock, HealthChecks, IncidentStore, LifecycleBus, LoadBalancers, Metrics, Pager, TagSource,
};

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
    trackers: HashMap<String, AlarmTracker>,
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
pub type MemoryEngine = crate::engine::Engine<
    std::sync::Arc<MemoryBackend>,
    std::sync::Arc<MemoryBackend>,
    std::sync::Arc<MemoryBackend>,
    std::sync::Arc<MemoryBackend>,
>;

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
pub fn engine(
    settings: crate::engine::EngineSettings,
) -> (std::sync::Arc<MemoryBackend>, MemoryEngine) {
    let catalog = crate::runbook::Catalog::embedded()
        .expect("the shipped runbooks are valid (klaxon runbook check runs in CI)");
    engine_with(settings, std::sync::Arc::new(catalog))
}

/// A fresh backend and an engine running the given runbooks on it.
pub fn engine_with(
    settings: crate::engine::EngineSettings,
    catalog: std::sync::Arc<crate::runbook::Catalog>,
) -> (std::sync::Arc<MemoryBackend>, MemoryEngine) {
    let backend = std::sync::Arc::new(MemoryBackend::new());
    let engine = crate::engine::Engine::new(
        backend.clone(),
        backend.clone(),
        backend.clone(),
        backend.clone(),
        backend.clone(),
        settings,
        catalog,
    );
    (backend, engine)
}

#[derive(Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
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

    pub fn set_alarm_tags(&self, alarm_arn: &str, tags: &[(&str, &str)]) {
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
}

impl Clock for MemoryBackend {
    fn now(&self) -> DateTime<Utc> {
        self.lock().now.unwrap_or_else(Utc::now)
    }
}

impl IncidentStore for MemoryBackend {
    async fn load(
        &self,
        event_id: &str,
        dedup_key: &str,
    ) -> Result<(Option<ProcessedEvent>, Option<AlarmTracker>), KlaxonError> {
        let s = self.lock();
        Ok((
            s.processed.get(event_id).cloned(),
            s.trackers.get(dedup_key).cloned(),
        ))
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        let mut s = self.lock();
        let fault = s.commit_faults.pop_front();
        match fault {
            Some(CommitFault::ConditionalCheckFailed) => {
                return Err(CommitError::Conflict(
                    "injected ConditionalCheckFailed on the tracker".into(),
                ))
            }
            Some(CommitFault::TransactionConflict) => {
                return Err(CommitError::Conflict("injected TransactionConflict".into()))
            }
            Some(
                CommitFault::LostResponse
                | CommitFault::LandedButAlreadyProcessed
                | CommitFault::LandedButConflict,
            )
            | None => {}
        }
        // DynamoDB validates the request before any condition: an oversized item or
        // transaction fails the whole request, for good.
        if let Some(why) = crate::item_size::refusal(commit) {
            return Err(CommitError::Failed(too_large("TransactWriteItems", why)));
        }
        if s.processed.contains_key(&commit.processed.event_id) {
            return Err(CommitError::AlreadyProcessed);
        }
        let current = s.trackers.get(&commit.tracker.dedup_key).map(|t| t.version);
        if current != commit.expected_tracker_version {
            return Err(CommitError::Conflict(format!(
                "tracker version is {current:?}, expected {:?}",
                commit.expected_tracker_version
            )));
        }
        // Check every condition before changing anything: all or nothing.
        match &commit.incident {
            Some(IncidentChange::Open(incident))
                if s.incidents.contains_key(&incident.incident_id) =>
            {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: incident.incident_id.clone(),
                    reason: "incident already exists".into(),
                }))
            }
            Some(IncidentChange::Update(update))
                if !s.incidents.contains_key(&update.incident_id) =>
            {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: update.incident_id.clone(),
                    reason: "incident to update does not exist".into(),
                }))
            }
            _ => {}
        }
        if let Some(closed) = &commit.closed {
            if !s.incidents.contains_key(&closed.update.incident_id) {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: closed.update.incident_id.clone(),
                    reason: "incident to close does not exist".into(),
                }));
            }
        }

        s.processed
            .insert(commit.processed.event_id.clone(), commit.processed.clone());
        s.trackers
            .insert(commit.tracker.dedup_key.clone(), commit.tracker.clone());
        match &commit.incident {
            Some(IncidentChange::Open(incident)) => {
                s.incidents
                    .insert(incident.incident_id.clone(), (**incident).clone());
            }
            Some(IncidentChange::Update(u)) => {
                apply_update(
                    s.incidents.get_mut(&u.incident_id).expect("checked above"),
                    u,
                );
            }
            None => {}
        }
        if let Some(closed) = &commit.closed {
            apply_update(
                s.incidents
                    .get_mut(&closed.update.incident_id)
                    .expect("checked above"),
                &closed.update,
            );
        }
        let entries = commit
            .timeline
            .iter()
            .chain(commit.closed.as_ref().map(|c| &c.entry));
        for entry in entries {
            s.timelines
                .entry(entry.incident_id.clone())
                .or_default()
                .insert((entry.at, entry.entry_id.clone()), entry.clone());
        }
        for item in &commit.outbox {
            s.outbox.insert(
                (item.incident_id.clone(), item.item_id.clone()),
                item.clone(),
            );
        }
        if let Some(run) = &commit.step_run {
            s.step_runs.insert(run.event_id.clone(), run.clone());
        }
        match fault {
            Some(CommitFault::LostResponse) => {
                return Err(CommitError::Failed(KlaxonError::Injected(
                    "commit landed but the response was lost".into(),
                )))
            }
            Some(CommitFault::LandedButAlreadyProcessed) => {
                return Err(CommitError::AlreadyProcessed)
            }
            Some(CommitFault::LandedButConflict) => {
                return Err(CommitError::Conflict(
                    "injected: landed, reported as a conflict".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    async fn pending_outbox(&self, incident_id: &str) -> Result<Vec<OutboxItem>, KlaxonError> {
        let s = self.lock();
        let mut items: Vec<OutboxItem> = s
            .outbox
            .values()
            .filter(|i| i.incident_id == incident_id)
            .cloned()
            .collect();
        items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        Ok(items)
    }

    async fn claim_outbox(
        &self,
        item: &OutboxItem,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let mut s = self.lock();
        match s
            .outbox
            .get_mut(&(item.incident_id.clone(), item.item_id.clone()))
        {
            Some(stored) if stored.lease_until == item.lease_until => {
                stored.lease_until = lease_until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_outbox(&self, item: &OutboxItem) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        // Only the holder gives a lease back: a lease another invocation took since (ours
        // expired) is theirs.
        if let Some(stored) = s
            .outbox
            .get_mut(&(item.incident_id.clone(), item.item_id.clone()))
            .filter(|stored| stored.lease_until == item.lease_until)
        {
            stored.lease_until = DateTime::<Utc>::UNIX_EPOCH;
        }
        Ok(())
    }

    async fn complete_delivery(&self, delivery: &Delivery) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.delivery_completion_faults > 0 {
            s.delivery_completion_faults -= 1;
            return Err(KlaxonError::Injected(
                "the delivered outbox item could not be removed".into(),
            ));
        }
        for item in &delivery.removed {
            s.outbox
                .remove(&(item.incident_id.clone(), item.item_id.clone()));
        }
        for (incident_id, at) in &delivery.page_delivered {
            if let Some(incident) = s.incidents.get_mut(incident_id) {
                incident.page_delivered_at = Some(*at);
            }
        }
        for note in &delivery.notes {
            s.timelines
                .entry(note.incident_id.clone())
                .or_default()
                .insert((note.at, note.entry_id.clone()), note.clone());
        }
        // Removing map entries by key leaves the version alone (no conflict with commits).
        if let Some(tracker) = s.trackers.get_mut(&delivery.tracker_key) {
            for key in &delivery.done {
                tracker.pending_outbox.remove(key);
            }
        }
        Ok(())
    }

    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), KlaxonError> {
        self.lock()
            .rejections
            .insert(rejection.rejection_id.clone(), rejection.clone());
        Ok(())
    }

    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>, KlaxonError> {
        Ok(self.lock().incidents.get(incident_id).cloned())
    }

    async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEntry>, KlaxonError> {
        Ok(self
            .lock()
            .timelines
            .get(incident_id)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, KlaxonError> {
        Ok(self
            .lock()
            .incidents
            .values()
            .filter(|i| i.status == IncidentStatus::Open)
            .cloned()
            .collect())
    }

    async fn put_step_entries(&self, entries: &[StepEntry]) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        match s.step_entry_fault_after {
            Some(0) => {
                s.step_entry_fault_after = None;
                return Err(KlaxonError::Injected("step entry write failed".into()));
            }
            Some(n) => s.step_entry_fault_after = Some(n - 1),
            None => {}
        }
        for entry in entries {
            let bytes = crate::item_size::step_entry_bytes(entry);
            if bytes > crate::item_size::MAX_ITEM_BYTES {
                return Err(too_large(
                    "BatchWriteItem",
                    format!("Item size has exceeded the maximum allowed size: a step entry is {bytes} bytes"),
                ));
            }
        }
        for entry in entries {
            s.step_entries
                .insert((entry.event_id.clone(), entry.seq), entry.clone());
        }
        Ok(())
    }

    async fn event_step_entries(
        &self,
        _incident_id: Option<&str>,
        event_id: &str,
    ) -> Result<Vec<StepEntry>, KlaxonError> {
        Ok(self
            .lock()
            .step_entries
            .values()
            .filter(|e| e.event_id == event_id)
            .cloned()
            .collect())
    }

    async fn step_entries(&self, incident_id: &str) -> Result<Vec<StepEntry>, KlaxonError> {
        let mut entries: Vec<StepEntry> = self
            .lock()
            .step_entries
            .values()
            .filter(|e| e.incident_id.as_deref() == Some(incident_id))
            .cloned()
            .collect();
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
        Ok(entries)
    }

    async fn step_run(&self, event_id: &str) -> Result<Option<StepRun>, KlaxonError> {
        Ok(self.lock().step_runs.get(event_id).cloned())
    }

    async fn claim_step_run(
        &self,
        run: &StepRun,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let mut s = self.lock();
        match s.step_runs.get_mut(&run.event_id) {
            Some(stored) if stored.lease_until == run.lease_until => {
                stored.lease_until = lease_until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn complete_step_run(&self, run: &StepRun) -> Result<(), KlaxonError> {
        self.lock().step_runs.remove(&run.event_id);
        Ok(())
    }
}

impl Pager for MemoryBackend {
    async fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> Result<String, KlaxonError> {
        let mut s = self.lock();
        if s.publish_faults > 0 {
            s.publish_faults -= 1;
            return Err(KlaxonError::Injected("SNS publish failed".into()));
        }
        if s.dead_topics.iter().any(|t| t == topic_arn) {
            return Err(KlaxonError::Aws {
                service: "sns",
                operation: "Publish",
                code: "NotFound".into(),
                message: "Topic does not exist".into(),
                retryable: false,
            });
        }
        s.published.push(Published {
            topic_arn: topic_arn.to_string(),
            notification: notification.clone(),
            at: std::time::Instant::now(),
        });
        Ok(format!("memory-message-{}", s.published.len()))
    }
}

impl LifecycleBus for MemoryBackend {
    async fn put(&self, bus: &str, event: &LifecycleEvent) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.bus_faults > 0 {
            s.bus_faults -= 1;
            return Err(KlaxonError::Injected("PutEvents failed".into()));
        }
        s.bus.push(PutOnBus {
            bus: bus.to_string(),
            event: event.clone(),
        });
        Ok(())
    }
}

impl TagSource for MemoryBackend {
    async fn alarm_tags(&self, alarm_arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        let mut s = self.lock();
        s.tag_lookups += 1;
        if let Some(error) = s.tag_faults.pop_front() {
            return Err(error);
        }
        Ok(s.tags.get(alarm_arn).cloned().unwrap_or_default())
    }
}

impl MemoryBackend {
    /// The delay set by [`MemoryBackend::delay_metric_reads`], outside the lock.
    async fn metric_read_delay(&self) {
        let delay = self.lock().metrics_delay;
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
    }
}

impl Metrics for MemoryBackend {
    async fn metric_data(
        &self,
        _alarm_arn: &str,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<MetricSeries>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(KlaxonError::Injected("GetMetricData failed".into()));
        }
        Ok(queries
            .iter()
            .map(|q| MetricSeries {
                id: q.id.clone(),
                points: s
                    .metric_points
                    .get(&q.label)
                    .map(|p| {
                        p.iter()
                            .copied()
                            .filter(|(t, _)| *t >= start && *t <= end)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect())
    }

    async fn alarm_history(
        &self,
        _alarm_arn: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: i32,
    ) -> Result<Vec<HistoryItem>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(KlaxonError::Injected("DescribeAlarmHistory failed".into()));
        }
        let mut items: Vec<HistoryItem> = s
            .alarm_history
            .iter()
            .filter(|i| i.timestamp >= start && i.timestamp <= end)
            .cloned()
            .collect();
        items.sort_by_key(|i| std::cmp::Reverse(i.timestamp));
        items.truncate(usize::try_from(max).unwrap_or(0));
        Ok(items)
    }

    async fn put_metric(&self, datum: &MetricDatum) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.put_metric_faults > 0 {
            s.put_metric_faults -= 1;
            return Err(KlaxonError::Injected("PutMetricData failed".into()));
        }
        s.put_metrics.push(datum.clone());
        Ok(())
    }
}

impl LoadBalancers for MemoryBackend {
    async fn target_health(
        &self,
        _target_group_arn: &str,
    ) -> Result<Vec<TargetHealth>, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(KlaxonError::Injected("DescribeTargetHealth failed".into()));
        }
        Ok(s.target_health.clone())
    }
}

impl HealthChecks for MemoryBackend {
    async fn health_check(&self, health_check_id: &str) -> Result<HealthCheckReport, KlaxonError> {
        self.metric_read_delay().await;
        let s = self.lock();
        if s.metrics_fail {
            return Err(KlaxonError::Injected("GetHealthCheck failed".into()));
        }
        match &s.health_check {
            Some(report) => Ok(HealthCheckReport {
                id: health_check_id.to_string(),
                ..report.clone()
            }),
            None => Err(KlaxonError::Injected(format!(
                "no recorded answer for health check {health_check_id}"
            ))),
        }
    }
}

/// An [`IncidentUpdate`] as the DynamoDB adapter's UpdateItem applies it.
fn apply_update(incident: &mut Incident, u: &crate::model::IncidentUpdate) {
    incident.status = u.status;
    incident.last_state = u.last_state;
    incident.last_state_at = u.last_state_at;
    incident.updated_at = u.updated_at;
    if u.status == IncidentStatus::Resolved {
        incident.resolved_at = u.resolved_at;
        incident.resolution = u.resolution;
    }
    if let Some(at) = u.paged_at {
        incident.paged = true;
        incident.paged_at = Some(at);
    }
    if let Some(routes) = &u.paged_routes {
        incident.paged_routes = routes.clone();
    }
}

/// DynamoDB's answer to an item or transaction over its limits (a ValidationException:
/// retrying the same request cannot help).
fn too_large(operation: &'static str, why: String) -> KlaxonError {
    KlaxonError::Aws {
        service: "dynamodb",
        operation,
        code: "ValidationException".into(),
        message: why,
        retryable: false,
    }
}
