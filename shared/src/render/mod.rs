//! Rendering of pages and lifecycle events. Pure: no AWS types.
//!
//! SNS design (docs/CONTRACTS.md): one topic per route; messages are published with the
//! default `MessageStructure` (String), because SNS drops message attributes from messages
//! published with `MessageStructure=json`, and subscribers filter on those attributes (the
//! one opt-in exception is below). The
//! body is plain text (SNS e-mail is text/plain): its first line is written to stand alone
//! as an SMS (SMS subscribers receive the whole body, split or truncated by SNS); the rest
//! is the e-mail body, with attacker-controlled text quoted. Chat integrations use the
//! lifecycle event's `text.chat` (escaped for chat markup) or the SNS attributes.
//! Security pages are redacted of addresses and ids; their unredacted copy
//! (`email_message`) goes to e-mail only when `KLAXON_SECURITY_EMAIL_DETAIL` is on.

mod action;
mod console;
mod escalation;
mod lifecycle;
mod page;

pub use action::{action_detail_type, action_lifecycle, resolved_by_person_page};
pub use console::{alarm_console_url, console_url};
pub use escalation::escalation_page;
pub use lifecycle::{lifecycle, lifecycle_closed};
pub use page::page;

/// SNS allows 256 KiB; we stay far below so that the outbox item holding the message
/// (JSON-escaped) stays under DynamoDB's 400 KB item limit.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// One SMS segment is 140 bytes; the first line must say what matters within it.
pub const SMS_LINE_BYTES: usize = 140;

/// Version of the lifecycle event `detail` schema.
pub const LIFECYCLE_VERSION: &str = "1";
/// `source` of every event Klaxon puts on its bus.
pub const LIFECYCLE_SOURCE: &str = "klaxon";

/// SNS message attribute names (all String). Public contract.
pub mod attr {
    pub const SEVERITY: &str = "severity";
    pub const ENVIRONMENT: &str = "environment";
    pub const SERVICE: &str = "service";
    pub const TEAM: &str = "team";
    pub const INCIDENT_ID: &str = "incident_id";
    pub const TRANSITION: &str = "transition";
    pub const ROUTE: &str = "route";
    pub const SOURCE: &str = "source";
}
