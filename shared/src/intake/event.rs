//! What intake makes of an event: a state change on a deduplication key (every source),
//! an event Klaxon ignores on purpose, or a rejection naming what is wrong.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::intake::detail_types::INITIAL_CREATION_REASON;

/// The longest deduplication key Klaxon accepts: DynamoDB partition keys are at most 2048
/// bytes; a real alarm ARN is far shorter.
pub(in crate::intake) const MAX_ARN_BYTES: usize = 1600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Alarm,
    Ok,
    InsufficientData,
}

impl AlarmKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmKind::Metric => "metric",
            AlarmKind::MetricMath => "metric_math",
            AlarmKind::AnomalyDetection => "anomaly_detection",
            AlarmKind::Composite => "composite",
            AlarmKind::AwsHealth => "aws_health",
            AlarmKind::Finding => "finding",
            AlarmKind::ConfigCompliance => "config_compliance",
            AlarmKind::CloudTrail => "cloudtrail",
        }
    }

    /// A CloudWatch alarm (as opposed to another source normalised into a state change).
    pub fn is_alarm(self) -> bool {
        matches!(
            self,
            AlarmKind::Metric
                | AlarmKind::MetricMath
                | AlarmKind::AnomalyDetection
                | AlarmKind::Composite
        )
    }
}

impl AlarmState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Alarm => "ALARM",
            AlarmState::Ok => "OK",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    pub(in crate::intake) fn parse(value: &str) -> Option<Self> {
        match value {
            "ALARM" => Some(AlarmState::Alarm),
            "OK" => Some(AlarmState::Ok),
            "INSUFFICIENT_DATA" => Some(AlarmState::InsufficientData),
            _ => None,
        }
    }
}

/// What raised the event; shown to responders and kept on the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Metric,
    MetricMath,
    AnomalyDetection,
    Composite,
    /// An AWS Health event (`aws.health`).
    AwsHealth,
    /// A GuardDuty or Security Hub finding.
    Finding,
    /// An AWS Config rule compliance change.
    ConfigCompliance,
    /// A CloudTrail API call or console sign-in.
    CloudTrail,
}

/// One metric (or expression) from `detail.configuration.metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRef {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub dimensions: BTreeMap<String, String>,
    pub period: Option<u32>,
    pub stat: Option<String>,
    pub expression: Option<String>,
    pub return_data: Option<bool>,
}

/// Where the event's tags (Environment, Service, Team, Severity) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventTags {
    /// The event carries them (`alarmTagsStatus` SUCCESS, a finding's resource tags), or
    /// there are none to have (an empty list).
    Provided(Vec<(String, String)>),
    /// Look up the tags of this ARN (an alarm: CloudWatch `ListTagsForResource`; another
    /// resource: the Resource Groups Tagging API).
    LookUp(String),
}

/// What a non-alarm source adds to its state change.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Security sources (findings, Config, CloudTrail): the security route only, and no
    /// addresses or ids in SMS and chat.
    pub security: bool,
    /// The severity the source states (GuardDuty bands, ASFF label, OCSF id, Health
    /// category); `None` leaves it to tags and runbooks.
    pub severity: Option<crate::severity::Severity>,
    /// Finding type, Health event type code, Config rule name or CloudTrail event name.
    pub signal_type: String,
    /// The resources concerned, as the source names them (sanitised, bounded).
    pub resources: Vec<String>,
    /// Labelled facts for the e-mail body and the record; may be sensitive (IPs, ids).
    pub facts: Vec<(String, String)>,
    /// Structured facts for runbook steps (e.g. CloudTrail ingress permissions).
    pub details: Value,
    /// How often the source has seen it (GuardDuty `service.count`).
    pub count: Option<u64>,
    /// A route the source implies for a non-security event (public AWS Health events go
    /// to `ops`); security events are pinned to `security` whatever this says.
    pub route: Option<crate::route::Route>,
}

/// A state change on a deduplication key, from any source (a CloudWatch alarm, a finding, a
/// Health event, a Config rule, a CloudTrail call), validated. Text fields are raw
/// (attacker-controlled): escape them where they go.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub event_id: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub event_time: Option<DateTime<Utc>>,
    pub alarm_name: String,
    pub dedup_key: String,
    pub kind: AlarmKind,
    pub description: Option<String>,
    pub state: AlarmState,
    pub state_timestamp: DateTime<Utc>,
    pub reason: Option<String>,
    /// `reasonData` exactly as sent: a JSON document in a string (absent for e.g.
    /// "Unchecked: Initial alarm creation").
    pub reason_data: Option<String>,
    pub previous_state: Option<AlarmState>,
    pub previous_state_timestamp: Option<DateTime<Utc>>,
    /// `previousState.reason`: tells a re-created alarm (INSUFFICIENT_DATA, "Unchecked:
    /// Initial alarm creation") from one that could not evaluate.
    pub previous_state_reason: Option<String>,
    /// Composite alarms under an actions suppressor: `WaitPeriod`, `ExtensionPeriod`, `Alarm`.
    pub actions_suppressed_by: Option<String>,
    pub actions_suppressed_reason: Option<String>,
    pub alarm_rule: Option<String>,
    pub metrics: Vec<MetricRef>,
    pub tags: EventTags,
    /// The envelope's `source` (`aws.cloudwatch`, `aws.guardduty`, ...).
    pub source: String,
    /// `None` for CloudWatch alarms.
    pub signal: Option<Box<Signal>>,
    /// Findings: the feed that delivered it (`aws.guardduty`, `securityhub:asff`,
    /// `securityhub:ocsf`). A finding is ordered by its source's update time; the envelope
    /// time breaks ties only within one feed (an analyst's workflow change keeps
    /// `UpdatedAt`), never across feeds (a late copy from another feed is stale).
    pub feed: Option<String>,
    /// A CloudWatch alarm configuration change (create, update, delete) instead of a
    /// state change; ordered by its configuration time, apart from the state order.
    pub config: Option<Box<ConfigChange>>,
    /// A finding an analyst sent to a Security Hub custom action: an escalation, not a
    /// state change (`event_id` is then this finding's idempotency key).
    pub escalation: Option<Box<Escalation>>,
}

/// One finding of a "Security Hub Findings - Custom Action" event.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// The custom action's name (the analyst's words: sanitised, bounded).
    pub action: String,
    /// The envelope's `id`, shared by every finding of the event.
    pub envelope_id: String,
    /// Position of this finding in the event, and how many it carries.
    pub position: usize,
    pub count: usize,
}

impl StateChange {
    pub fn is_security(&self) -> bool {
        self.signal.as_ref().is_some_and(|s| s.security)
    }

    /// ALARM whose previous state says the alarm recovered (OK) or was re-created
    /// (INSUFFICIENT_DATA, initial creation) at that time: the time, if so.
    pub fn recovered_before(&self) -> Option<DateTime<Utc>> {
        if self.state != AlarmState::Alarm || !self.kind.is_alarm() || self.config.is_some() {
            return None;
        }
        let recovered = match self.previous_state? {
            AlarmState::Ok => true,
            AlarmState::InsufficientData => self
                .previous_state_reason
                .as_deref()
                .is_some_and(|r| r.trim().starts_with(INITIAL_CREATION_REASON)),
            AlarmState::Alarm => false,
        };
        recovered.then_some(self.previous_state_timestamp).flatten()
    }

    /// When the alarm was (re-)created, if this state change is its first: its previous
    /// state is INSUFFICIENT_DATA with CloudWatch's initial-creation reason. A configuration
    /// fact: a deletion or creation configured before it is old news.
    pub fn created_at(&self) -> Option<DateTime<Utc>> {
        let created = self.kind.is_alarm()
            && self.config.is_none()
            && self.previous_state == Some(AlarmState::InsufficientData)
            && self
                .previous_state_reason
                .as_deref()
                .is_some_and(|r| r.trim().starts_with(INITIAL_CREATION_REASON));
        created.then_some(self.previous_state_timestamp).flatten()
    }
}

/// The result of reading one delivered event.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    Change(Box<StateChange>),
    /// A Security Hub custom action: each finding it carries, in order (one or more).
    Escalation(Vec<StateChange>),
    /// A well-formed event that this handler deliberately does nothing with.
    Ignored {
        event_id: Option<String>,
        reason: String,
    },
}

/// Why an event was rejected. `event_id` is set when the envelope had one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidEvent {
    pub event_id: Option<String>,
    pub reason: String,
}

/// What an alarm's configuration change did: create, update or delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConfigOperation {
    Create,
    Update,
    Delete,
}

impl ConfigOperation {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigOperation::Create => "create",
            ConfigOperation::Update => "update",
            ConfigOperation::Delete => "delete",
        }
    }
}

/// A CloudWatch alarm's configuration change, read from the event
/// (`source/alarm_config.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigChange {
    pub operation: ConfigOperation,
    /// `detail.configuration.timestamp`, when present and a time.
    pub at: Option<DateTime<Utc>>,
    /// Fields that differ from `previousConfiguration` (update), as `name: old -> new`.
    pub changes: Vec<String>,
    /// Changes that can keep the alarm from paging: actions disabled, or the threshold
    /// moved away from the breach (higher for a "greater than" alarm, lower for "less than").
    pub warnings: Vec<String>,
}
