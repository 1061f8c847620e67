//! A responder action as a file, for `klaxon replay` (docs/RESPONDERS.md, "Actions in
//! replay"): one JSON object, recognised by its `klaxon_action` key.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::{parse_duration, ActionKind, Actor, ActorKind, Channel};
use crate::severity::Severity;

/// The key that makes a JSON object an action document rather than an event.
pub const ACTION_KEY: &str = "klaxon_action";

/// An action document as written (before the clock and a missing action id are filled
/// in).
#[derive(Debug, Clone, PartialEq)]
pub struct ActionDocument {
    pub kind: ActionKind,
    pub incident_id: String,
    pub actor: Actor,
    pub at: Option<DateTime<Utc>>,
    pub action_id: Option<String>,
    pub note: Option<String>,
    pub duration: Option<std::time::Duration>,
    pub severity: Option<Severity>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("action document: {0}")]
pub struct DocumentError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    klaxon_action: String,
    incident_id: String,
    actor: String,
    channel: String,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    action_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    severity: Option<String>,
}

/// Whether `value` is an action document (it may still be a malformed one).
pub fn is_action(value: &Value) -> bool {
    value.get(ACTION_KEY).is_some()
}

pub fn parse_document(value: &Value) -> Result<ActionDocument, DocumentError> {
    let raw: Raw = serde_json::from_value(value.clone()).map_err(|e| {
        DocumentError(crate::text::bounded(
            &crate::text::single_line(&e.to_string()),
            300,
        ))
    })?;
    let shown = |s: &str| crate::text::bounded(&crate::text::single_line(s), 64);
    let kind = ActionKind::parse(&raw.klaxon_action).ok_or_else(|| {
        DocumentError(format!(
            "`klaxon_action` is `{}`: expected one of acknowledge, resolve, reopen, note, snooze, severity, own",
            shown(&raw.klaxon_action)
        ))
    })?;
    let channel = Channel::parse(&raw.channel).ok_or_else(|| {
        DocumentError(format!(
            "`channel` is `{}`: expected one of cli, link, api, sms",
            shown(&raw.channel)
        ))
    })?;
    // Replay has no verified identities: what a channel would have proved is what the
    // record says (docs/RESPONDERS.md).
    let actor_kind = match channel {
        Channel::Api => ActorKind::Iam,
        Channel::Cli => ActorKind::CliLocal,
        Channel::Link | Channel::Sms => ActorKind::Link,
    };
    let at = raw
        .at
        .as_deref()
        .map(|t| {
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| DocumentError(format!("`at` is `{}`: not an RFC 3339 time", shown(t))))
        })
        .transpose()?;
    let duration = raw
        .duration
        .as_deref()
        .map(|d| parse_duration(d).map_err(|e| DocumentError(format!("`duration`: {e}"))))
        .transpose()?;
    let severity = raw
        .severity
        .as_deref()
        .map(|s| {
            Severity::parse(s).ok_or_else(|| {
                DocumentError(format!(
                    "`severity` is `{}`: expected one of critical, high, medium, low, info",
                    shown(s)
                ))
            })
        })
        .transpose()?;
    if raw.incident_id.trim().is_empty() {
        return Err(DocumentError("`incident_id` is empty".into()));
    }
    Ok(ActionDocument {
        kind,
        incident_id: crate::text::bounded(&crate::text::single_line(raw.incident_id.trim()), 128),
        actor: Actor::new(&raw.actor, actor_kind, channel),
        at,
        action_id: raw.action_id,
        note: raw.note,
        duration,
        severity,
    })
}

impl ActionDocument {
    /// The request, at `now` unless the document says when, with a new action id unless
    /// it gives one.
    pub fn request(self, now: DateTime<Utc>) -> super::ActionRequest {
        super::ActionRequest {
            action_id: self.action_id.unwrap_or_else(super::new_action_id),
            incident_id: self.incident_id,
            kind: self.kind,
            actor: self.actor,
            at: self.at.unwrap_or(now),
            note: self.note,
            duration: self.duration,
            severity: self.severity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_form_parses() {
        let doc = parse_document(&json!({
            "klaxon_action": "snooze", "incident_id": "INC-20261201-abc", "actor": "alice",
            "channel": "link", "at": "2026-12-01T10:00:00Z", "action_id": "n-1", "duration": "30m"
        }))
        .unwrap();
        assert_eq!(doc.kind, ActionKind::Snooze);
        assert_eq!(doc.actor.kind, ActorKind::Link);
        assert_eq!(doc.duration, Some(std::time::Duration::from_secs(1800)));
        assert_eq!(doc.action_id.as_deref(), Some("n-1"));
    }

    #[test]
    fn the_channel_says_what_kind_of_actor_a_document_records() {
        for (channel, kind) in [
            ("api", ActorKind::Iam),
            ("cli", ActorKind::CliLocal),
            ("link", ActorKind::Link),
            ("sms", ActorKind::Link),
        ] {
            let doc = parse_document(&json!({
                "klaxon_action": "acknowledge", "incident_id": "INC-1", "actor": "a", "channel": channel
            }))
            .unwrap();
            assert_eq!(doc.actor.kind, kind, "{channel}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            (
                json!({"klaxon_action": "ack", "incident_id": "I", "actor": "a", "channel": "cli"}),
                "`klaxon_action` is `ack`",
            ),
            (
                json!({"klaxon_action": "note", "incident_id": "I", "actor": "a", "channel": "fax"}),
                "`channel` is `fax`",
            ),
            (
                json!({"klaxon_action": "note", "incident_id": "I", "actor": "a"}),
                "missing field `channel`",
            ),
            (
                json!({"klaxon_action": "note", "incident_id": "I", "actor": "a", "channel": "cli", "colour": 1}),
                "unknown field `colour`",
            ),
            (
                json!({"klaxon_action": "snooze", "incident_id": "I", "actor": "a", "channel": "cli", "duration": "1w"}),
                "`duration`",
            ),
            (
                json!({"klaxon_action": "note", "incident_id": "I", "actor": "a", "channel": "cli", "at": "yesterday"}),
                "`at` is `yesterday`",
            ),
            (
                json!({"klaxon_action": "severity", "incident_id": "I", "actor": "a", "channel": "cli", "severity": "sev1"}),
                "`severity` is `sev1`",
            ),
            (
                json!({"klaxon_action": "note", "incident_id": " ", "actor": "a", "channel": "cli"}),
                "`incident_id` is empty",
            ),
        ];
        for (doc, expected) in cases {
            let err = parse_document(&doc).unwrap_err().to_string();
            assert!(err.contains(expected), "{err} should contain {expected}");
        }
    }
}
