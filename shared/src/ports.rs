//! The small traits between Klaxon's logic and the outside world. One adapter per AWS
//! service implements each (`crate::aws`), and `crate::memory` implements all of them in
//! memory for unit tests and `klaxon replay`.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::error::{CommitError, KlaxonError};
use crate::lookup::{
    HealthCheckReport, HistoryItem, MetricDatum, MetricQuery, MetricSeries, TargetHealth,
};
use crate::model::{
    Commit, Delivery, Incident, KeyTracker, LifecycleEvent, LinkRecord, Notification, OutboxItem,
    ProcessedEvent, Rejection, StepEntry, StepRun, TimelineEntry,
};

/// Incident records, timelines, trackers, idempotency records and the outbox.
pub trait IncidentStore: Send + Sync {
    /// The idempotency record of `event_id` and the tracker of `dedup_key`, read
    /// consistently.
    fn load(
        &self,
        event_id: &str,
        dedup_key: &str,
    ) -> impl Future<Output = Result<(Option<ProcessedEvent>, Option<KeyTracker>), KlaxonError>> + Send;

    /// Writes everything in `commit` atomically, or nothing.
    fn commit(&self, commit: &Commit) -> impl Future<Output = Result<(), CommitError>> + Send;

    /// Undelivered outbox items of an incident, oldest first.
    fn pending_outbox(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<OutboxItem>, KlaxonError>> + Send;

    /// Takes the item's lease if it is still as `item` says (same `lease_until`); false
    /// when another invocation took or delivered it first.
    fn claim_outbox(
        &self,
        item: &OutboxItem,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, KlaxonError>> + Send;

    /// Gives a lease back after a failed delivery so that a retry need not wait for it;
    /// only if `item.lease_until` is still the lease on the record (the caller holds it).
    fn release_outbox(
        &self,
        item: &OutboxItem,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;

    /// A delivery ended: remove its delivered and dropped items, mark the incidents whose
    /// page went out, write its notes and clear the tracker's markers of what is done, in
    /// one write (DynamoDB: one TransactWriteItems).
    fn complete_delivery(
        &self,
        delivery: &Delivery,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;

    fn record_rejection(
        &self,
        rejection: &Rejection,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;

    fn incident(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Option<Incident>, KlaxonError>> + Send;

    fn timeline(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<TimelineEntry>, KlaxonError>> + Send;

    fn open_incidents(&self) -> impl Future<Output = Result<Vec<Incident>, KlaxonError>> + Send;

    /// The link whose token hashes to `token_hash`, read consistently.
    fn link(
        &self,
        token_hash: &str,
    ) -> impl Future<Output = Result<Option<LinkRecord>, KlaxonError>> + Send;

    /// Links of `route` (all routes without one) issued up to `before` stop working
    /// (`klaxon incident revoke-links`). False when the incident does not exist.
    fn revoke_links(
        &self,
        incident_id: &str,
        route: Option<crate::route::Route>,
        before: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, KlaxonError>> + Send;

    /// Writes step entries (overwriting entries with the same event id and sequence).
    fn put_step_entries(
        &self,
        entries: &[StepEntry],
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;

    /// The step entries of one event, in sequence order.
    fn event_step_entries(
        &self,
        incident_id: Option<&str>,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<StepEntry>, KlaxonError>> + Send;

    /// All step entries on an incident's timeline.
    fn step_entries(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<StepEntry>, KlaxonError>> + Send;

    /// The unfinished step run of an event, if any.
    fn step_run(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Option<StepRun>, KlaxonError>> + Send;

    /// Takes (or, with a past time, gives back) the run's lease if it is still as `run`
    /// says; false when another invocation changed or finished it first.
    fn claim_step_run(
        &self,
        run: &StepRun,
        lease_until: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, KlaxonError>> + Send;

    /// Every step of the run has an entry: remove it.
    fn complete_step_run(
        &self,
        run: &StepRun,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;
}

/// Publishes pages (SNS).
pub trait Pager: Send + Sync {
    /// Returns the message id.
    fn publish(
        &self,
        topic_arn: &str,
        notification: &Notification,
    ) -> impl Future<Output = Result<String, KlaxonError>> + Send;
}

/// Puts lifecycle events on the Klaxon bus (EventBridge).
pub trait LifecycleBus: Send + Sync {
    fn put(
        &self,
        bus: &str,
        event: &LifecycleEvent,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;
}

/// Reads a resource's tags: an alarm's (CloudWatch `ListTagsForResource`) or another
/// resource's, such as a security group named by a CloudTrail call (Resource Groups
/// Tagging API `GetResources`).
pub trait TagSource: Send + Sync {
    fn resource_tags(
        &self,
        alarm_arn: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, KlaxonError>> + Send;
}

/// CloudWatch reads and writes for runbook steps: metric snapshots, alarm history, and
/// Klaxon's own metrics.
pub trait Metrics: Send + Sync {
    /// GetMetricData for `queries` in the region of `alarm_arn`, between `start` and `end`.
    fn metric_data(
        &self,
        alarm_arn: &str,
        queries: &[MetricQuery],
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<MetricSeries>, KlaxonError>> + Send;

    /// DescribeAlarmHistory (state updates) of the alarm, newest first, at most `max`.
    fn alarm_history(
        &self,
        alarm_arn: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        max: i32,
    ) -> impl Future<Output = Result<Vec<HistoryItem>, KlaxonError>> + Send;

    /// PutMetricData of one data point, in Klaxon's own region.
    fn put_metric(
        &self,
        datum: &MetricDatum,
    ) -> impl Future<Output = Result<(), KlaxonError>> + Send;
}

/// Elastic Load Balancing v2: which targets of a target group are not healthy, and why.
pub trait LoadBalancers: Send + Sync {
    /// DescribeTargetHealth of every registered target, in the target group's region.
    fn target_health(
        &self,
        target_group_arn: &str,
    ) -> impl Future<Output = Result<Vec<TargetHealth>, KlaxonError>> + Send;
}

/// Route 53 health checks: configuration and the checkers' last failure reason.
pub trait HealthChecks: Send + Sync {
    /// GetHealthCheck and GetHealthCheckLastFailureReason. A missing failure reason is not
    /// an error: the report says so.
    fn health_check(
        &self,
        health_check_id: &str,
    ) -> impl Future<Output = Result<HealthCheckReport, KlaxonError>> + Send;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Everything the engine looks up: tags, and the reads and writes of enrichment and metric
/// steps (one adapter per service behind it; `aws::AwsLookups` routes between them).
pub trait Lookups: TagSource + Metrics + LoadBalancers + HealthChecks {}
impl<T: TagSource + Metrics + LoadBalancers + HealthChecks> Lookups for T {}
