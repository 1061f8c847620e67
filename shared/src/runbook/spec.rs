//! The runbook file format (YAML), as serde types. Every struct denies unknown keys, so a
//! typo is an error with its line and column. A step names its kind by the key it carries
//! (`notify:`, `guard:`, ...), so an unknown kind is an unknown key too.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::route::Route;
use crate::severity::Severity;

pub const MAX_RETRIES: u32 = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookSpec {
    pub name: Spanned<String>,
    pub description: String,
    /// Owning team.
    pub team: String,
    /// A fallback runbook runs only when no other runbook matched the event.
    #[serde(default)]
    pub fallback: bool,
    /// Runbooks matching one event run in ascending `order`, then by name.
    #[serde(default = "default_order")]
    pub order: i32,
    /// The events this runbook handles are security incidents: the security route only,
    /// pages redacted, served by security-intake. A runbook can make an event a security
    /// incident, never the reverse. (AWS Config rules are security-relevant or not by
    /// their name: the shipped `config-security` runbook lists them.)
    #[serde(default)]
    pub security: bool,
    /// An EventBridge event pattern over the event as delivered.
    pub trigger: Spanned<Value>,
    /// Optional: an event pattern over the step context (the alarm and its tags, looked up
    /// if need be); the runbook runs only when both `trigger` and `when` match.
    pub when: Option<Spanned<Value>>,
    #[serde(default)]
    pub steps: Vec<StepSpec>,
    #[serde(default)]
    pub tests: Vec<TestSpec>,
}

fn default_order() -> i32 {
    100
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop the runbook's remaining steps (the page, if already sent, stays sent).
    #[default]
    Abort,
    Continue,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub id: Spanned<String>,
    #[serde(default)]
    pub on_error: OnError,
    /// Retries for retryable errors, with backoff (enrichment a page waits for never retries).
    #[serde(default)]
    pub retries: u32,
    // Exactly one of the step kinds:
    pub metric_snapshot: Option<MetricSnapshot>,
    pub alarm_history: Option<AlarmHistory>,
    pub classify: Option<Classify>,
    pub incident: Option<IncidentAction>,
    pub notify: Option<Notify>,
    pub emit: Option<Emit>,
    pub put_metric: Option<PutMetric>,
    pub guard: Option<Guard>,
    pub check: Option<Check>,
    pub target_health: Option<TargetHealthStep>,
    pub route53_health_check: Option<Route53HealthCheck>,
}

pub const STEP_KINDS: &str = "metric_snapshot, alarm_history, target_health, route53_health_check, classify, incident, notify, emit, put_metric, guard, check";

#[derive(Debug, Clone)]
pub enum StepKind {
    MetricSnapshot(MetricSnapshot),
    AlarmHistory(AlarmHistory),
    Classify(Classify),
    Incident(IncidentAction),
    Notify(Notify),
    Emit(Emit),
    PutMetric(PutMetric),
    Guard(Guard),
    Check(Check),
    TargetHealth(TargetHealthStep),
    Route53HealthCheck(Route53HealthCheck),
}

impl StepSpec {
    pub fn kind(&self) -> Result<StepKind, String> {
        let mut kinds: Vec<StepKind> = [
            self.metric_snapshot.clone().map(StepKind::MetricSnapshot),
            self.alarm_history.clone().map(StepKind::AlarmHistory),
            self.classify.clone().map(StepKind::Classify),
            self.incident.clone().map(StepKind::Incident),
            self.notify.clone().map(StepKind::Notify),
            self.emit.clone().map(StepKind::Emit),
            self.put_metric.clone().map(StepKind::PutMetric),
            self.guard.clone().map(StepKind::Guard),
            self.check.clone().map(StepKind::Check),
            self.target_health.clone().map(StepKind::TargetHealth),
            self.route53_health_check
                .clone()
                .map(StepKind::Route53HealthCheck),
        ]
        .into_iter()
        .flatten()
        .collect();
        match kinds.len() {
            1 => Ok(kinds.pop().expect("one")),
            0 => Err(format!(
                "a step needs exactly one kind; expected one of: {STEP_KINDS}"
            )),
            n => Err(format!("a step has exactly one kind, this one has {n}")),
        }
    }
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::MetricSnapshot(_) => "metric_snapshot",
            StepKind::AlarmHistory(_) => "alarm_history",
            StepKind::Classify(_) => "classify",
            StepKind::Incident(_) => "incident",
            StepKind::Notify(_) => "notify",
            StepKind::Emit(_) => "emit",
            StepKind::PutMetric(_) => "put_metric",
            StepKind::Guard(_) => "guard",
            StepKind::Check(_) => "check",
            StepKind::TargetHealth(_) => "target_health",
            StepKind::Route53HealthCheck(_) => "route53_health_check",
        }
    }

    /// Steps that read AWS to add context (they may run before a page, under a deadline,
    /// when a `notify` follows them).
    pub fn is_enrichment(&self) -> bool {
        self.deadline_ms().is_some()
    }

    /// How long a page waits for this enrichment.
    pub fn deadline_ms(&self) -> Option<u64> {
        match self {
            StepKind::MetricSnapshot(m) => Some(m.deadline_ms),
            StepKind::AlarmHistory(h) => Some(h.deadline_ms),
            StepKind::TargetHealth(t) => Some(t.deadline_ms),
            StepKind::Route53HealthCheck(r) => Some(r.deadline_ms),
            _ => None,
        }
    }

    /// Event-pattern conditions of this step, with the key they are under.
    pub fn conditions(&self) -> Vec<(&'static str, &Spanned<Value>)> {
        match self {
            StepKind::Guard(g) => vec![("when", &g.when)],
            StepKind::Classify(c) => c.rules.iter().map(|r| ("rules.when", &r.when)).collect(),
            _ => Vec::new(),
        }
    }

    /// Templates of this step, with the key they are under.
    pub fn templates(&self) -> Vec<(&'static str, &Spanned<String>)> {
        match self {
            StepKind::Notify(n) => [("subject", &n.subject), ("body", &n.body), ("sms", &n.sms)]
                .into_iter()
                .filter_map(|(key, t)| t.as_ref().map(|t| (key, t)))
                .collect(),
            StepKind::Incident(i) => i.note.iter().map(|n| ("note", n)).collect(),
            StepKind::PutMetric(m) => m.dimensions.values().map(|d| ("dimensions", d)).collect(),
            _ => Vec::new(),
        }
    }
}

/// CloudWatch GetMetricData around the alarm time: min/max/avg/last per alarm metric.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSnapshot {
    #[serde(default = "fifteen")]
    pub minutes_before: u32,
    #[serde(default)]
    pub minutes_after: u32,
    /// How long a page waits for this enrichment, in milliseconds.
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

/// CloudWatch DescribeAlarmHistory: recent transitions, flapping evidence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlarmHistory {
    #[serde(default = "twenty_four")]
    pub hours: u32,
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

/// ELBv2 DescribeTargetHealth for the target groups the alarm watches (its `TargetGroup`
/// dimensions): each target that is not healthy, with port, state, reason code and
/// description.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetHealthStep {
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

/// Route 53 GetHealthCheck and GetHealthCheckLastFailureReason for the health checks the
/// alarm watches (`HealthCheckId` dimensions of AWS/Route53 metrics).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route53HealthCheck {
    #[serde(default = "default_deadline")]
    pub deadline_ms: u64,
}

/// Set severity, route or team by rules over the event, first matching rule wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classify {
    pub rules: Vec<ClassifyRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRule {
    /// An event pattern over the step context (see docs/RUNBOOKS.md).
    pub when: Spanned<Value>,
    pub severity: Option<Severity>,
    pub route: Option<Route>,
    pub team: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentVerb {
    /// Apply the alarm transition table (open, update, resolve, note; see docs/CONTRACTS.md).
    Track,
    Open,
    Annotate,
    Resolve,
}

impl IncidentVerb {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentVerb::Track => "track",
            IncidentVerb::Open => "open",
            IncidentVerb::Annotate => "annotate",
            IncidentVerb::Resolve => "resolve",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentAction {
    pub action: IncidentVerb,
    pub note: Option<Spanned<String>>,
}

/// A page on a route's SNS topic, from templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Defaults to the route the event was classified to.
    pub route: Option<Route>,
    /// Each part defaults to Klaxon's standard page (docs/CONTRACTS.md).
    pub subject: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    /// The first line of the message (the SMS); defaults to Klaxon's summary line.
    pub sms: Option<Spanned<String>>,
}

/// An event on the Klaxon bus, for chaining or for remediation on your side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    pub detail_type: String,
    #[serde(default)]
    pub detail: BTreeMap<String, Value>,
}

/// A CloudWatch metric data point (e.g. count test-environment failures per service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutMetric {
    #[serde(default = "klaxon_namespace")]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, Spanned<String>>,
    #[serde(default = "one")]
    pub value: f64,
    pub unit: Option<String>,
}

/// Skip the remaining steps unless the condition holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub when: Spanned<Value>,
}

/// A built-in check of what an event pattern cannot express; like a guard, the runbook's
/// remaining steps run only when it holds. Exactly one check per step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Holds when a security-group call opens one of these ports to the whole internet
    /// (`0.0.0.0/0` or `::/0`) in the same permission: port and range tied together.
    pub open_to_world: Option<Vec<u16>>,
    /// `true`: holds when a bucket call makes the bucket public (a policy statement that
    /// allows everyone unless a condition pins the caller, an ACL grant to
    /// AllUsers/AuthenticatedUsers, a public canned ACL).
    pub public_bucket: Option<bool>,
}

impl Check {
    /// The one check this step makes, or why the step is malformed.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.open_to_world, self.public_bucket) {
            (Some(ports), None) if ports.is_empty() => {
                Err("check `open_to_world` needs at least one port".into())
            }
            (Some(_), None) | (None, Some(true)) => Ok(()),
            (None, Some(false)) => {
                Err("check `public_bucket: false` checks nothing; use `true`".into())
            }
            (None, None) => Err("a check needs one of: open_to_world, public_bucket".into()),
            (Some(_), Some(_)) => {
                Err("a check step makes exactly one check; this one has two".into())
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    pub name: String,
    /// Event file, relative to the runbook file.
    pub event: Spanned<String>,
    /// Tags the alarm (or the resource a CloudTrail call names) has when the event carries
    /// none, as the tag lookup answers.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// What CloudWatch answers the enrichment steps.
    #[serde(default)]
    pub recorded: Recorded,
    pub expect: Expect,
}

/// Recorded CloudWatch answers for a runbook test.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recorded {
    /// GetMetricData values per metric (`"<namespace> <name>"`), oldest first, one per
    /// minute, the last one at the alarm's state time.
    #[serde(default)]
    pub metrics: BTreeMap<String, Vec<f64>>,
    /// DescribeAlarmHistory state updates, newest first, ten minutes apart, the first at
    /// the alarm's state time: `ALARM`, `OK`, `INSUFFICIENT_DATA`.
    #[serde(default)]
    pub alarm_history: Vec<String>,
    /// Every CloudWatch, ELB and Route 53 read fails (a throttled or unreachable API).
    #[serde(default)]
    pub unavailable: bool,
    /// DescribeTargetHealth answers: the targets of every target group the alarm names.
    #[serde(default)]
    pub target_health: Vec<crate::enrich::TargetHealth>,
    /// GetHealthCheck / GetHealthCheckLastFailureReason answers, for every health check the
    /// alarm names.
    pub health_check: Option<crate::enrich::HealthCheckReport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub matched: bool,
    pub severity: Option<Severity>,
    pub route: Option<Route>,
    /// Step ids that ran (ok or failed, not skipped), in order.
    pub steps: Option<Vec<String>>,
    /// Step ids that were skipped.
    pub skipped: Option<Vec<String>>,
    /// Whether this runbook sent a notification.
    pub notified: Option<bool>,
    pub notification_subject_contains: Option<String>,
    pub notification_body_contains: Option<String>,
    /// Strings neither the page's subject nor any part of its message may contain (SMS
    /// subscribers receive the whole message).
    pub notification_excludes: Option<Vec<String>>,
    /// The event's outcome: opened, updated, resolved, noted, stale, ignored, handled.
    pub outcome: Option<String>,
}

fn fifteen() -> u32 {
    15
}
fn twenty_four() -> u32 {
    24
}
fn default_deadline() -> u64 {
    1500
}
fn one() -> f64 {
    1.0
}
fn klaxon_namespace() -> String {
    "Klaxon".to_string()
}
