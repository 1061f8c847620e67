//! The runbook file format (YAML), as serde types. Every struct denies unknown keys, so a
//! typo is an error with its line and column. A step names its kind by the key it carries
//! (`notify:`, `guard:`, ...), so an unknown kind is an unknown key too.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::lookup::{HealthCheckReport, TargetHealth};
use crate::route::Route;
use crate::runbook::step::{
    AlarmHistory, Check, Classify, Emit, Guard, IncidentAction, MetricSnapshot, Notify, PutMetric,
    Route53HealthCheck, StepKind, TargetHealthStep, STEP_KINDS,
};
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
    /// What CloudWatch, ELB and Route 53 answer the enrichment steps.
    #[serde(default)]
    pub recorded: Recorded,
    pub expect: Expect,
}

/// Recorded answers of the lookups (CloudWatch, ELB, Route 53) for a runbook test.
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
    pub target_health: Vec<TargetHealth>,
    /// GetHealthCheck / GetHealthCheckLastFailureReason answers, for every health check the
    /// alarm names.
    pub health_check: Option<HealthCheckReport>,
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
