//! The EventBridge envelope every source shares, and what a source parser fills in
//! ([`Parts`]) to become a state change on a deduplication key.

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use crate::intake::event::{AlarmKind, AlarmState, EventTags, InvalidEvent, Signal, StateChange};
use crate::intake::fields::{first_time, invalid, json_type};
use crate::severity::Severity;
use crate::text;

/// Envelope fields every source shares.
pub(in crate::intake) struct Envelope<'a> {
    pub id: Option<String>,
    pub event_id: String,
    pub source: String,
    pub detail_type: String,
    pub account: Option<String>,
    pub region: Option<String>,
    pub time: Option<DateTime<Utc>>,
    pub resources: Vec<String>,
    pub detail: &'a Map<String, Value>,
}

impl Envelope<'_> {
    pub(in crate::intake) fn need<'v>(
        &self,
        value: Option<&'v Value>,
        name: &str,
    ) -> Result<&'v str, InvalidEvent> {
        match value {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
            Some(Value::String(_)) => Err(invalid(self.id.clone(), format!("`{name}` is empty"))),
            Some(other) => Err(invalid(
                self.id.clone(),
                format!("`{name}` must be a string, found {}", json_type(other)),
            )),
            None => Err(invalid(self.id.clone(), format!("missing `{name}`"))),
        }
    }

    pub(in crate::intake) fn fail(&self, reason: String) -> InvalidEvent {
        invalid(self.id.clone(), reason)
    }

    pub(in crate::intake) fn event(&self, kind: AlarmKind, parts: Parts) -> StateChange {
        let security = parts.security;
        let evidence = evidence_json(&parts);
        // Redacted before it is cut, so that no half address survives the cut.
        let clean = |s: &str| {
            let one = text::single_line(s);
            let one = if security {
                text::redact_sensitive(one.trim())
            } else {
                one.trim().to_string()
            };
            text::bounded(&one, 256)
        };
        StateChange {
            event_id: self.event_id.clone(),
            account: self.account.clone(),
            region: self.region.clone(),
            event_time: self.time,
            alarm_name: clean(&parts.title),
            dedup_key: parts.dedup_key,
            kind,
            description: parts.description,
            state: parts.state,
            state_timestamp: parts.at,
            reason: parts.reason,
            reason_data: Some(evidence),
            previous_state: None,
            previous_state_timestamp: None,
            previous_state_reason: None,
            actions_suppressed_by: None,
            actions_suppressed_reason: None,
            alarm_rule: None,
            metrics: Vec::new(),
            tags: parts.tags,
            source: self.source.clone(),
            signal: Some(Box::new(Signal {
                security,
                severity: parts.severity,
                signal_type: text::bounded(&text::single_line(&parts.signal_type), 256),
                resources: parts
                    .resources
                    .iter()
                    .take(MAX_RESOURCES)
                    .map(|r| text::bounded(&text::single_line(r), 512))
                    .collect(),
                facts: parts
                    .facts
                    .into_iter()
                    .filter(|(_, v)| !v.trim().is_empty())
                    .map(|(k, v)| (k.to_string(), text::bounded(&text::single_line(&v), 1024)))
                    .collect(),
                details: parts.details,
                count: parts.count,
                route: parts.route,
            })),
            feed: parts.feed.map(str::to_string),
            config: None,
            escalation: None,
        }
    }
}

/// The source's facts, details and resources as JSON text: kept verbatim on the timeline
/// entry (`Evidence.reason_data`), where responders find what pages leave out (addresses
/// and ids of security incidents). Bounded: without `details` if they are large.
pub(in crate::intake) fn evidence_json(parts: &Parts) -> String {
    let facts: serde_json::Map<String, Value> = parts
        .facts
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| ((*k).to_string(), json!(v)))
        .collect();
    let full = json!({"facts": facts, "resources": parts.resources, "details": parts.details});
    let text = full.to_string();
    if text.len() <= 16 * 1024 {
        return text;
    }
    text::bounded(
        &json!({"facts": facts, "resources": parts.resources.iter().take(20).collect::<Vec<_>>()})
            .to_string(),
        16 * 1024,
    )
}

/// Resources kept per event (Health events can list hundreds of entities).
pub(in crate::intake) const MAX_RESOURCES: usize = 50;

/// What a source parser fills in; [`Envelope::event`] turns it into an event.
pub(in crate::intake) struct Parts {
    pub(in crate::intake) dedup_key: String,
    pub(in crate::intake) title: String,
    pub(in crate::intake) signal_type: String,
    pub(in crate::intake) state: AlarmState,
    pub(in crate::intake) at: DateTime<Utc>,
    pub(in crate::intake) severity: Option<Severity>,
    pub(in crate::intake) security: bool,
    pub(in crate::intake) description: Option<String>,
    pub(in crate::intake) reason: Option<String>,
    pub(in crate::intake) resources: Vec<String>,
    pub(in crate::intake) facts: Vec<(&'static str, String)>,
    pub(in crate::intake) details: Value,
    pub(in crate::intake) count: Option<u64>,
    pub(in crate::intake) tags: EventTags,
    /// Findings: the feed that delivered it (see `StateChange::feed`).
    pub(in crate::intake) feed: Option<&'static str>,
    pub(in crate::intake) route: Option<crate::route::Route>,
}

/// The first usable time among the candidates, or a rejection naming `what`.
pub(in crate::intake) fn require_time(
    env: &Envelope<'_>,
    what: &str,
    candidates: &[Option<&Value>],
) -> Result<DateTime<Utc>, InvalidEvent> {
    first_time(candidates).ok_or_else(|| {
        env.fail(format!(
            "no usable time: {what} is missing or not a time (ISO 8601, RFC 1123 or epoch milliseconds)"
        ))
    })
}
