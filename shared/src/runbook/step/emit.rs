//! `emit`: an event on the Klaxon bus for chaining or remediation, one hop further than
//! the event being handled; chains stop at the hop limit.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::model::LifecycleEvent;
use crate::runbook::step::common::{EffectOrigin, StepError};
use crate::text;

/// An event on the Klaxon bus, for chaining or for remediation on your side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emit {
    pub detail_type: String,
    #[serde(default)]
    pub detail: BTreeMap<String, Value>,
}

/// Events emitted by runbooks carry their hop count here; Klaxon refuses to act on an event
/// whose count reached [`MAX_HOPS`], so chains of runbooks cannot loop.
pub const HOPS_FIELD: &str = "klaxon_hops";

pub const MAX_HOPS: u64 = 3;

/// `source` of events emitted by runbooks.
pub const EMIT_SOURCE: &str = "klaxon.runbook";

/// The hop count of an incoming event (0 for events from AWS).
pub fn incoming_hops(event: &Value) -> u64 {
    match &event["detail"][HOPS_FIELD] {
        Value::Null => 0,
        // Present but not a whole number (2.0, "2", -1): treat as at the limit, so a
        // malformed count cannot reopen a loop.
        hops => hops.as_u64().unwrap_or(MAX_HOPS),
    }
}

/// Emit: an event for the Klaxon bus, one hop further than the event being handled.
pub fn emit_event(config: &Emit, context: &Value, hops: u64) -> Result<LifecycleEvent, StepError> {
    if hops >= MAX_HOPS {
        return Err(StepError::HopLimit {
            hops,
            max: MAX_HOPS,
        });
    }
    let mut detail: serde_json::Map<String, Value> =
        BTreeMap::clone(&config.detail).into_iter().collect();
    detail.insert(HOPS_FIELD.into(), json!(hops + 1));
    detail.insert("incident_id".into(), context["incident_id"].clone());
    Ok(LifecycleEvent {
        source: Some(EMIT_SOURCE.to_string()),
        detail_type: config.detail_type.clone(),
        resources: Vec::new(),
        detail: Value::Object(detail),
    })
}

impl Emit {
    /// The event to put: [`emit_event`] with what identifies the step that emitted it, so
    /// consumers can deduplicate (a step can run twice in the documented window).
    pub fn effect(
        &self,
        ctx: &Value,
        origin: &EffectOrigin<'_>,
    ) -> Result<LifecycleEvent, StepError> {
        let mut event = emit_event(self, ctx, origin.hops)?;
        event.resources = vec![text::bounded(&text::single_line(origin.dedup_key), 1600)];
        event.detail["klaxon_event_id"] = json!(text::for_log(origin.event_id));
        event.detail["klaxon_step"] = json!(origin.step);
        Ok(event)
    }

    /// The timeline summary of a put event.
    pub fn summary(event: &LifecycleEvent, hops: u64) -> String {
        format!(
            "emitted `{}` on the Klaxon bus (hop {})",
            event.detail_type,
            hops + 1
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::context::sample_context;
    use serde_json::json;

    #[test]
    fn emitted_events_count_hops_and_stop_at_the_limit() {
        let config = Emit {
            detail_type: "Restart Requested".into(),
            detail: BTreeMap::from([("service".into(), json!("checkout"))]),
        };
        let ctx = sample_context();
        let e = emit_event(&config, &ctx, 0).unwrap();
        assert_eq!(e.detail[HOPS_FIELD], 1);
        assert_eq!(incoming_hops(&json!({"detail": e.detail})), 1);
        assert!(matches!(
            emit_event(&config, &ctx, MAX_HOPS),
            Err(StepError::HopLimit { .. })
        ));
    }
}
