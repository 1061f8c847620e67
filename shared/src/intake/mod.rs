//! Intake: turns the raw JSON that EventBridge delivers into a typed [`StateChange`], an
//! event Klaxon deliberately ignores, or a rejection naming what is wrong.
//!
//! Every source becomes a [`StateChange`]: a state change (ALARM opens, OK resolves,
//! INSUFFICIENT_DATA notes) on a deduplication key (`dedup_key`: the alarm's ARN for
//! CloudWatch, the finding id, the Health event, rule + resource for Config, call +
//! resource for CloudTrail). Non-alarm sources carry a [`Signal`] with what is theirs; the
//! parsers are in `source/`, one file per source.
//!
//! We parse from `serde_json::Value` with our own tolerant rules instead of
//! `aws_lambda_events` types: those model the alarm-*action* payload and reject shapes that
//! CloudWatch really sends (metric math, anomaly bands, composites, missing reasonData).
//! Unknown fields are ignored; only the fields Klaxon cannot work without are required.
//!
//! `parse.rs` checks the envelope and dispatches on source and detail-type to
//! `source/<source>.rs`; `envelope.rs` is what every source shares; `event.rs` is what comes
//! out; `delivery.rs` names the payloads of other delivery paths.

mod delivery;
mod detail_types;
mod envelope;
mod event;
mod fields;
mod parse;
mod source;

pub use detail_types::*;
pub use event::{
    AlarmKind, AlarmState, ConfigChange, ConfigOperation, Escalation, EventTags, Intake,
    InvalidEvent, MetricRef, Signal, StateChange,
};
pub use fields::{arn_partition, parse_timestamp, partition_for_region};
pub use parse::{parse_bytes, parse_bytes_value, parse_value, MAX_EVENT_BYTES};
pub use source::guardduty::guardduty_severity;
