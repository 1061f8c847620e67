//! The step context: one JSON object conditions match and templates render, built from
//! the event, its ownership, the incident and enrichment; and the sample contexts templates
//! are checked against at load.
//!
//! Every string in it from the event is attacker-controlled: it is cleaned (no control or
//! bidi characters, bounded) before a template sees it, and the rendered text is cleaned
//! again for where it goes.

use serde_json::{json, Value};

use crate::intake::StateChange;
use crate::model::Transition;
use crate::ownership::Ownership;
use crate::plan::Plan;
use crate::render;
use crate::runbook::Runbook;
use crate::text;

/// The key under which templates find enrichment results: `enrichment.<step id>`.
pub const ENRICHMENT_KEY: &str = "enrichment";

/// The context of an event, as conditions and templates see it.
pub fn event_context(
    event: &StateChange,
    ownership: &Ownership,
    incident_id: Option<&str>,
    transition: Option<Transition>,
) -> Value {
    let line = |s: &str| text::bounded(&text::single_line(s), 1024);
    let quoted = |s: &str| text::quoted_block(s, 4096);
    let signal = event.signal.as_deref();
    json!({
        "source": line(&event.source),
        "security": ownership.security,
        "environment": ownership.environment,
        "production": ownership.production,
        "severity": ownership.severity.as_str(),
        "service": ownership.service,
        "team": ownership.team,
        "route": ownership.route.as_str(),
        "incident_id": incident_id,
        "transition": transition.map(|t| t.as_str()),
        // Set by the runner: the incident outcome of this event, and the runbook running.
        "outcome": Value::Null,
        "runbook": Value::Null,
        "alarm": {
            "name": line(&event.alarm_name),
            "arn": line(&event.dedup_key),
            "kind": event.kind.as_str(),
            "state": event.state.as_str(),
            "previous_state": event.previous_state.map(|s| s.as_str()),
            "state_timestamp": event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            // One line by default, so a template cannot be tricked into printing a forged
            // line; the `_quoted` forms keep the lines, each behind "> ".
            "reason": event.reason.as_deref().map(line),
            "description": event.description.as_deref().map(line),
            "reason_quoted": event.reason.as_deref().map(quoted),
            "description_quoted": event.description.as_deref().map(quoted),
            "account": event.account.as_deref().map(line),
            "region": event.region.as_deref().map(line),
            "console_url": render::console_url(event),
            "suppressed_by": event.actions_suppressed_by.as_deref().map(line),
            "metrics": event.metrics.iter().map(|m| json!({
                "namespace": m.namespace.as_deref().map(line),
                "name": m.name.as_deref().map(line),
                "stat": m.stat.as_deref().map(line),
                "period": m.period,
                "expression": m.expression.as_deref().map(line),
                "dimensions": m.dimensions.iter().map(|(k, v)| (line(k), Value::String(line(v)))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        },
        // What a non-alarm source adds; the same shape for alarms (empty), so that
        // conditions and templates need no existence tests.
        "signal": {
            "type": signal.map(|s| s.signal_type.clone()),
            "security": signal.is_some_and(|s| s.security),
            "severity": signal.and_then(|s| s.severity).map(|s| s.as_str()),
            "resources": signal.map(|s| s.resources.clone()).unwrap_or_default(),
            "facts": signal.map(|s| s.facts.iter().map(|(label, value)| json!({"label": label, "value": value})).collect::<Vec<_>>()).unwrap_or_default(),
            "details": signal.map(|s| s.details.clone()).unwrap_or_else(|| json!({})),
            "count": signal.and_then(|s| s.count),
        },
        "enrichment": {},
    })
}

/// The context one runbook's conditions and templates see.
pub fn scoped_context(base: &Value, runbook: &str, ownership: &Ownership) -> Value {
    let mut ctx = base.clone();
    ctx["runbook"] = json!(runbook);
    ctx["severity"] = json!(ownership.severity.as_str());
    ctx["route"] = json!(ownership.route.as_str());
    ctx["team"] = json!(ownership.team);
    ctx
}

/// Sets the incident fields of the context from a plan.
pub fn with_plan(mut base: Value, plan: &Plan) -> Value {
    base["incident_id"] = json!(plan.incident_id);
    base["outcome"] = json!(plan.outcome.as_str());
    // The lifecycle transition this event causes (opened / updated / resolved), if any.
    base["transition"] = json!(plan.lifecycle.map(|t| t.as_str()));
    base
}

/// `enrichment.<id>` for each enrichment step of the runbook: its result, or null.
pub fn enrichment_context(runbook: &Runbook, result: impl Fn(&str) -> Option<Value>) -> Value {
    let mut map = serde_json::Map::new();
    for step in runbook.steps.iter().filter(|s| s.kind.is_enrichment()) {
        map.insert(step.id.clone(), result(&step.id).unwrap_or(Value::Null));
    }
    Value::Object(map)
}

/// Contexts for checking a runbook's templates at load time: with a sample result for
/// each enrichment step (`(step id, sample)`), and with every result missing.
pub fn sample_contexts(enrichment_steps: &[(String, Value)]) -> (Value, Value) {
    // Built once per process: every runbook load starts from it.
    static SAMPLE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut with = SAMPLE.get_or_init(sample_context).clone();
    with["outcome"] = json!("opened");
    with["runbook"] = json!("sample");
    let mut without = with.clone();
    for (id, sample) in enrichment_steps {
        with["enrichment"][id] = sample.clone();
        without["enrichment"][id] = Value::Null;
    }
    (with, without)
}

/// A context for checking templates at load time: every key present, as at run time.
pub fn sample_context() -> Value {
    let event = crate::intake::parse_value(&json!({
        "id": "sample", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
        "account": "123456789012", "region": "us-east-1", "time": "2024-05-01T12:00:00Z",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:sample"],
        "detail": {"alarmName": "sample", "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.000+0000", "reason": "r"},
                   "configuration": {"description": "d", "metrics": []}}
    }));
    match event {
        Ok(crate::intake::Intake::Change(a)) => event_context(
            &a,
            &crate::ownership::from_tags(&[]),
            Some("INC-20240501-0000000000"),
            Some(Transition::Opened),
        ),
        _ => unreachable!("the sample is a valid alarm event"),
    }
}
