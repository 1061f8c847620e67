//! The step kinds, one file each (configuration, bounds, logic, tests), and the few
//! places that dispatch on the kind.

pub mod alarm_history;
pub mod check;
pub mod classify;
pub mod common;
pub mod emit;
pub mod guard;
pub mod incident;
pub mod metric_snapshot;
pub mod notify;
pub mod put_metric;
pub mod route53_health_check;
pub mod target_health;

use serde_json::{json, Value};
use serde_saphyr::Spanned;

use chrono::{DateTime, Utc};

use crate::error::KlaxonError;
use crate::intake::AlarmEvent;
use crate::lookup::MetricQuery;
use crate::model::LifecycleEvent;
use crate::text;
pub use alarm_history::AlarmHistory;
pub use check::Check;
pub use classify::{Classify, ClassifyRule};
pub use common::{Enriched, EnrichmentSource, StepError};
use common::{MAX_DEADLINE_MS, MIN_DEADLINE_MS, SUMMARY_BYTES};
pub use emit::Emit;
pub use guard::Guard;
pub use incident::{IncidentAction, IncidentVerb};
pub use metric_snapshot::MetricSnapshot;
pub use notify::Notify;
pub use put_metric::PutMetric;
pub use route53_health_check::Route53HealthCheck;
pub use target_health::TargetHealthStep;

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

/// Limits that keep a step within a Lambda invocation and CloudWatch's own limits.
pub(crate) fn out_of_bounds(kind: &StepKind) -> Option<String> {
    let check = |key: &str, value: u64, min: u64, max: u64, why: &str| {
        (value < min || value > max).then(|| {
            format!(
                "{}.{key}: {value} is outside {min}-{max} ({why})",
                kind.name()
            )
        })
    };
    match kind {
        StepKind::MetricSnapshot(m) => check(
            "deadline_ms",
            m.deadline_ms,
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        )
        .or_else(|| {
            check(
                "minutes_before",
                u64::from(m.minutes_before),
                1,
                1440,
                "at most a day of data",
            )
        })
        .or_else(|| {
            check(
                "minutes_after",
                u64::from(m.minutes_after),
                0,
                60,
                "at most an hour after the alarm",
            )
        }),
        StepKind::AlarmHistory(h) => check(
            "deadline_ms",
            h.deadline_ms,
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        )
        .or_else(|| {
            check(
                "hours",
                u64::from(h.hours),
                1,
                720,
                "CloudWatch keeps alarm history for 30 days",
            )
        }),
        StepKind::TargetHealth(_) | StepKind::Route53HealthCheck(_) => check(
            "deadline_ms",
            kind.deadline_ms().unwrap_or_default(),
            MIN_DEADLINE_MS,
            MAX_DEADLINE_MS,
            "a page waits at most this long",
        ),
        _ => None,
    }
}

/// The alarm facts enrichment needs; kept in the step run so that steps after the page
/// need not re-read the event.
#[derive(Debug, Clone)]
pub struct AlarmInputs {
    pub alarm_arn: String,
    pub state_timestamp: DateTime<Utc>,
    pub queries: Vec<MetricQuery>,
    /// Target group ARNs the alarm watches (for `target_health`).
    pub target_groups: Vec<String>,
    /// Route 53 health check ids the alarm watches (for `route53_health_check`).
    pub health_checks: Vec<String>,
}

impl AlarmInputs {
    pub fn of(event: &AlarmEvent) -> Self {
        AlarmInputs {
            alarm_arn: event.alarm_arn.clone(),
            state_timestamp: event.state_timestamp,
            queries: metric_snapshot::queries_for(event),
            target_groups: target_health::target_groups_for(event),
            health_checks: route53_health_check::health_checks_for(event),
        }
    }
}

/// Runs one enrichment step.
pub async fn enrich<M: EnrichmentSource>(
    metrics: &M,
    kind: &StepKind,
    inputs: &AlarmInputs,
) -> Result<Enriched, KlaxonError> {
    match kind {
        StepKind::TargetHealth(_) => {
            let mut reports = Vec::with_capacity(inputs.target_groups.len());
            for arn in &inputs.target_groups {
                let targets = metrics.target_health(arn).await?;
                reports.push(target_health::target_group_report(arn, targets));
            }
            Ok(Enriched {
                summary: text::bounded(
                    &text::single_line(&target_health::target_health_summary(&reports)),
                    SUMMARY_BYTES,
                ),
                detail: json!({ "target_groups": reports }),
            })
        }
        StepKind::Route53HealthCheck(_) => {
            let mut reports = Vec::with_capacity(inputs.health_checks.len());
            for id in &inputs.health_checks {
                reports.push(metrics.health_check(id).await?);
            }
            Ok(Enriched {
                summary: text::bounded(
                    &text::single_line(&route53_health_check::health_check_summary(&reports)),
                    SUMMARY_BYTES,
                ),
                detail: json!({ "health_checks": reports }),
            })
        }
        StepKind::MetricSnapshot(config) => {
            let start = inputs.state_timestamp
                - chrono::Duration::minutes(i64::from(config.minutes_before));
            let end =
                inputs.state_timestamp + chrono::Duration::minutes(i64::from(config.minutes_after));
            if inputs.queries.is_empty() {
                return Ok(Enriched {
                    summary: "the alarm names no metric to query (composite alarm, or metric math without plain metrics)".into(),
                    detail: json!({"start": start, "end": end, "metrics": []}),
                });
            }
            let series = metrics
                .metric_data(&inputs.alarm_arn, &inputs.queries, start, end)
                .await?;
            let summaries: Vec<metric_snapshot::MetricSummary> = inputs
                .queries
                .iter()
                .map(|q| metric_snapshot::summarize(q, series.iter().find(|s| s.id == q.id)))
                .collect();
            let summary = summaries
                .iter()
                .map(|m| match (m.last, m.max, m.avg) {
                    (Some(last), Some(max), Some(avg)) => format!(
                        "{}: last {} max {} avg {} ({} points)",
                        m.label,
                        metric_snapshot::number(last),
                        metric_snapshot::number(max),
                        metric_snapshot::number(avg),
                        m.points
                    ),
                    _ => format!("{}: no data points", m.label),
                })
                .collect::<Vec<_>>()
                .join("; ");
            Ok(Enriched {
                summary: text::bounded(&text::single_line(&summary), SUMMARY_BYTES),
                detail: json!({"start": start, "end": end, "metrics": summaries}),
            })
        }
        StepKind::AlarmHistory(config) => {
            let start = inputs.state_timestamp - chrono::Duration::hours(i64::from(config.hours));
            let items = metrics
                .alarm_history(&inputs.alarm_arn, start, inputs.state_timestamp, 100)
                .await?;
            let mut report = alarm_history::history_report(items, 10);
            // History summaries quote the alarm name: attacker-controlled text.
            for item in &mut report.recent {
                item.summary = text::bounded(&text::single_line(&item.summary), 512);
            }
            let summary = format!(
                "{} state change(s) in {} h, {} into ALARM{}",
                report.transitions,
                config.hours,
                report.to_alarm,
                if report.flapping {
                    ": the alarm is flapping"
                } else {
                    ""
                }
            );
            Ok(Enriched {
                summary,
                detail: serde_json::to_value(&report).unwrap_or(Value::Null),
            })
        }
        other => Err(KlaxonError::CorruptRecord {
            key: other.name().to_string(),
            reason: "not an enrichment step".into(),
        }),
    }
}

/// What an after-page step produced.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterPageEffect {
    Enriched(Enriched),
    Emit(LifecycleEvent),
    Metric(crate::lookup::MetricDatum),
}

/// The pure part of an after-page step: what to call, rendered from the context.
/// What identifies an after-page step's effect: emitted events carry it, so consumers can
/// deduplicate (a step can run twice in the documented window).
pub struct EffectOrigin<'a> {
    pub hops: u64,
    pub alarm_arn: &'a str,
    pub event_id: &'a str,
    /// `runbook/step`
    pub step: &'a str,
}

pub fn after_page_effect(
    kind: &StepKind,
    ctx: &Value,
    origin: &EffectOrigin<'_>,
) -> Result<Option<AfterPageEffect>, StepError> {
    match kind {
        StepKind::Emit(config) => {
            let mut event = emit::emit_event(config, ctx, origin.hops)?;
            event.resources = vec![text::bounded(&text::single_line(origin.alarm_arn), 1600)];
            event.detail["klaxon_event_id"] = json!(text::for_log(origin.event_id));
            event.detail["klaxon_step"] = json!(origin.step);
            Ok(Some(AfterPageEffect::Emit(event)))
        }
        StepKind::PutMetric(config) => Ok(Some(AfterPageEffect::Metric(put_metric::metric_datum(
            config, ctx,
        )?))),
        _ => Ok(None),
    }
}
