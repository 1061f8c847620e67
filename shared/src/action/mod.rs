//! What a responder asks Klaxon to do to an incident: the action, who asks and through
//! which channel (docs/RESPONDERS.md). Plain data and its parsing; what an action does to an
//! incident is decided in `plan::action`, and applied in `engine::act`.

mod document;
mod duration;

pub use document::{is_action, parse_document, ActionDocument, DocumentError, ACTION_KEY};
pub use duration::{format_duration, parse_duration, DurationError, MAX_DURATION};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::severity::Severity;

/// The actions responders take. Their names are a public contract (replay documents, the
/// API, lifecycle events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    Acknowledge,
    Resolve,
    Reopen,
    Note,
    Snooze,
    Severity,
    Own,
}

impl ActionKind {
    pub const ALL: [ActionKind; 7] = [
        ActionKind::Acknowledge,
        ActionKind::Resolve,
        ActionKind::Reopen,
        ActionKind::Note,
        ActionKind::Snooze,
        ActionKind::Severity,
        ActionKind::Own,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Acknowledge => "acknowledge",
            ActionKind::Resolve => "resolve",
            ActionKind::Reopen => "reopen",
            ActionKind::Note => "note",
            ActionKind::Snooze => "snooze",
            ActionKind::Severity => "severity",
            ActionKind::Own => "own",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// What a link holder on the security route may do: acknowledge and add notes. A link
    /// names a route, not a person, and a security page reaches more people than should be
    /// able to close a security incident; the rest needs the IAM API or the CLI.
    pub fn allowed_by_security_link(self) -> bool {
        matches!(self, ActionKind::Acknowledge | ActionKind::Note)
    }
}

/// How the actor was identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActorKind {
    /// The caller's IAM principal, verified by Lambda (function URL with `AWS_IAM`).
    #[serde(rename = "iam")]
    Iam,
    /// A name typed into the form of a page's link: recorded as given, not verified (a link
    /// identifies a route, not a person).
    #[serde(rename = "link")]
    Link,
    /// `klaxon incident … --state PATH` on this machine: `local:<user>`.
    #[serde(rename = "cli-local")]
    CliLocal,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Iam => "iam",
            ActorKind::Link => "link",
            ActorKind::CliLocal => "cli-local",
        }
    }
}

/// Through what the action arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Cli,
    Link,
    Api,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Cli => "cli",
            Channel::Link => "link",
            Channel::Api => "api",
            Channel::Sms => "sms",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Channel::Cli, Channel::Link, Channel::Api, Channel::Sms]
            .into_iter()
            .find(|c| c.as_str() == value)
    }
}

/// Who acted, as recorded on the timeline and in lifecycle events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Sanitised (one line, bounded): an IAM ARN, `local:<user>`, or a name as typed.
    pub name: String,
    pub kind: ActorKind,
    pub channel: Channel,
    /// The route of the link that was used (links identify a route, not a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<crate::route::Route>,
    /// The caller's address where known (function URL request context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// Longest actor name kept (IAM role session ARNs are at most about 2 KB; names typed into
/// a form are cut much shorter by the form itself).
pub const MAX_ACTOR_BYTES: usize = 512;
/// Longest note kept; the rest is cut (a note is one timeline entry, inside one item).
pub const MAX_NOTE_BYTES: usize = 8 * 1024;
/// Longest action id: form nonces and `Idempotency-Key` headers are far shorter.
pub const MAX_ACTION_ID_BYTES: usize = 128;

impl Actor {
    /// An actor whose name is cleaned of control characters and bounded.
    pub fn new(name: &str, kind: ActorKind, channel: Channel) -> Self {
        Actor {
            name: crate::text::bounded(crate::text::single_line(name).trim(), MAX_ACTOR_BYTES),
            kind,
            channel,
            route: None,
            source_ip: None,
        }
    }

    /// The name as shown to people: link names are marked as given, not verified.
    pub fn shown(&self) -> String {
        match self.kind {
            ActorKind::Link => format!("{} (name as given)", self.name),
            _ => self.name.clone(),
        }
    }
}

/// One action on one incident, checked and ready to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionRequest {
    /// Makes a repeated request (a resubmitted form, a retried API call) apply once.
    pub action_id: String,
    pub incident_id: String,
    pub kind: ActionKind,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub note: Option<String>,
    /// Snooze: for how long.
    pub duration: Option<std::time::Duration>,
    /// Severity: the new one.
    pub severity: Option<Severity>,
}

/// Why an action request is not well-formed (before any incident is read).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(
        "an action id must be 1 to {MAX_ACTION_ID_BYTES} printable ASCII characters without spaces"
    )]
    ActionId,
    #[error("`{0}` needs a note")]
    NoteRequired(&'static str),
    #[error("snooze needs a duration (for example 30m or 2h)")]
    DurationRequired,
    #[error("severity needs one of critical, high, medium, low, info")]
    SeverityRequired,
    #[error("the actor is empty: say who acts")]
    ActorRequired,
}

impl ActionRequest {
    /// Checks what each action needs, and cleans the free text.
    pub fn checked(mut self) -> Result<Self, RequestError> {
        if !valid_action_id(&self.action_id) {
            return Err(RequestError::ActionId);
        }
        if !crate::text::has_visible(&self.actor.name) {
            return Err(RequestError::ActorRequired);
        }
        self.note = self
            .note
            .map(|n| crate::text::bounded(crate::text::multi_line(&n).trim(), MAX_NOTE_BYTES))
            .filter(|n| !n.is_empty());
        match self.kind {
            ActionKind::Note if self.note.is_none() => Err(RequestError::NoteRequired("note")),
            ActionKind::Snooze if self.duration.is_none() => Err(RequestError::DurationRequired),
            ActionKind::Severity if self.severity.is_none() => Err(RequestError::SeverityRequired),
            _ => Ok(self),
        }
    }
}

/// Action ids come from forms, headers and files: printable ASCII, no spaces, bounded,
/// because they become part of a record key.
pub fn valid_action_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ACTION_ID_BYTES && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A new random action id (128 bits, hex), for an action given without one.
pub fn new_action_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: ActionKind) -> ActionRequest {
        ActionRequest {
            action_id: "a-1".into(),
            incident_id: "INC-1".into(),
            kind,
            actor: Actor::new("alice", ActorKind::CliLocal, Channel::Cli),
            at: Utc::now(),
            note: None,
            duration: None,
            severity: None,
        }
    }

    #[test]
    fn each_action_is_checked_for_what_it_needs() {
        assert_eq!(
            request(ActionKind::Note).checked(),
            Err(RequestError::NoteRequired("note"))
        );
        assert_eq!(
            request(ActionKind::Snooze).checked(),
            Err(RequestError::DurationRequired)
        );
        assert_eq!(
            request(ActionKind::Severity).checked(),
            Err(RequestError::SeverityRequired)
        );
        assert!(request(ActionKind::Acknowledge).checked().is_ok());
        let mut blank = request(ActionKind::Note);
        blank.note = Some(" \n\t ".into());
        assert_eq!(blank.checked(), Err(RequestError::NoteRequired("note")));
        let mut bad_id = request(ActionKind::Acknowledge);
        bad_id.action_id = "has space".into();
        assert_eq!(bad_id.clone().checked(), Err(RequestError::ActionId));
        bad_id.action_id = "x".repeat(MAX_ACTION_ID_BYTES + 1);
        assert_eq!(bad_id.checked(), Err(RequestError::ActionId));
        // A name of fillers only (U+3164) says nobody.
        let mut invisible = request(ActionKind::Acknowledge);
        invisible.actor = Actor::new("\u{3164}\u{3164}", ActorKind::Link, Channel::Link);
        assert_eq!(invisible.checked(), Err(RequestError::ActorRequired));
    }

    #[test]
    fn names_lose_control_characters_and_link_names_are_marked() {
        let actor = Actor::new("  eve\u{202e}\n<b>  ", ActorKind::Link, Channel::Link);
        assert!(!actor.name.contains('\n') && !actor.name.contains('\u{202e}'));
        assert!(actor.shown().ends_with("(name as given)"));
        assert_eq!(
            ActionKind::parse("acknowledge"),
            Some(ActionKind::Acknowledge)
        );
        assert_eq!(ActionKind::parse("ack"), None);
        assert!(ActionKind::Acknowledge.allowed_by_security_link());
        assert!(!ActionKind::Resolve.allowed_by_security_link());
    }

    #[test]
    fn names_and_notes_are_bounded() {
        let actor = Actor::new(&"n".repeat(2000), ActorKind::Iam, Channel::Api);
        assert!(actor.name.len() <= MAX_ACTOR_BYTES);
        let mut long = request(ActionKind::Note);
        long.note = Some("x".repeat(20_000));
        let checked = long.checked().unwrap();
        assert!(checked.note.unwrap().len() <= MAX_NOTE_BYTES);
    }

    #[test]
    fn generated_action_ids_are_128_bits_and_valid() {
        let (a, b) = (new_action_id(), new_action_id());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert!(valid_action_id(&a));
    }
}
