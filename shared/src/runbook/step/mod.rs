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

use serde_json::Value;
use serde_saphyr::Spanned;

use crate::error::KlaxonError;
use crate::intake::StateChange;
use crate::model::LifecycleEvent;
pub use alarm_history::AlarmHistory;
pub use check::Check;
pub use classify::{Classify, ClassifyRule};
pub use common::{EffectOrigin, Enriched, EnrichmentSource, LookupInputs, StepError};
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
    match kind {
        StepKind::MetricSnapshot(config) => config.bounds(),
        StepKind::AlarmHistory(config) => config.bounds(),
        StepKind::TargetHealth(config) => {
            common::deadline_bounds("target_health", config.deadline_ms)
        }
        StepKind::Route53HealthCheck(config) => {
            common::deadline_bounds("route53_health_check", config.deadline_ms)
        }
        StepKind::PutMetric(config) => config.bounds(),
        _ => None,
    }
}

impl LookupInputs {
    pub fn of(event: &StateChange) -> Self {
        LookupInputs {
            dedup_key: event.dedup_key.clone(),
            state_timestamp: event.state_timestamp,
            queries: metric_snapshot::queries_for(event),
            target_groups: target_health::target_groups_for(event),
            health_checks: route53_health_check::health_checks_for(event),
        }
    }
}

/// Runs one enrichment step.
pub async fn enrich<M: EnrichmentSource>(
    lookups: &M,
    kind: &StepKind,
    inputs: &LookupInputs,
) -> Result<Enriched, KlaxonError> {
    match kind {
        StepKind::TargetHealth(config) => config.run(lookups, inputs).await,
        StepKind::Route53HealthCheck(config) => config.run(lookups, inputs).await,
        StepKind::MetricSnapshot(config) => config.run(lookups, inputs).await,
        StepKind::AlarmHistory(config) => config.run(lookups, inputs).await,
        other => Err(KlaxonError::CorruptRecord {
            key: other.name().to_string(),
            reason: "not an enrichment step".into(),
        }),
    }
}

/// A sample result of an enrichment step, for checking templates at load (null for other
/// kinds).
pub(crate) fn sample_result(kind: &StepKind) -> Value {
    match kind {
        StepKind::TargetHealth(_) => TargetHealthStep::sample_result(),
        StepKind::Route53HealthCheck(_) => Route53HealthCheck::sample_result(),
        StepKind::MetricSnapshot(_) => MetricSnapshot::sample_result(),
        StepKind::AlarmHistory(_) => AlarmHistory::sample_result(),
        _ => Value::Null,
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
pub fn after_page_effect(
    kind: &StepKind,
    ctx: &Value,
    origin: &EffectOrigin<'_>,
) -> Result<Option<AfterPageEffect>, StepError> {
    match kind {
        StepKind::Emit(config) => Ok(Some(AfterPageEffect::Emit(config.effect(ctx, origin)?))),
        StepKind::PutMetric(config) => Ok(Some(AfterPageEffect::Metric(put_metric::metric_datum(
            config, ctx,
        )?))),
        _ => Ok(None),
    }
}
