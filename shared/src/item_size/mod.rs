//! DynamoDB's size rules, so that a commit is known to fit before it is sent and the memory
//! backend refuses what DynamoDB would refuse (`klaxon replay` then shows what DynamoDB
//! would do; moto's own limit is approximate).
//!
//! Rules (DynamoDB Developer Guide, "Item sizes and formats"): an item's size is the sum of
//! its attribute names' and values' lengths. Strings count their UTF-8 bytes; numbers about
//! one byte per two significant digits plus one (leading and trailing zeroes trimmed);
//! booleans and null one byte; a list or map 3 bytes plus its elements, each element one
//! byte more (a map element also counts its name). An item is at most 400 KB = 409,600
//! bytes; a transaction at most 100 actions and 4 MB in all.

mod bytes;
mod sizes;

pub use bytes::{item_bytes, value_bytes};

use crate::model::{Commit, Incident, IncidentChange};

pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

/// One item a commit writes, with its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub what: &'static str,
    pub bytes: usize,
}

/// What an incident update can make of the incident record: its size is bounded (title,
/// ownership and routes are bounded), so an update is counted at this much.
const INCIDENT_UPDATE_ALLOWANCE: usize = 8 * 1024;

/// The items a commit puts, measured as the DynamoDB adapter writes them (the table layout
/// of `layout.rs`), and the number of actions of its transaction. Measured without building
/// the items: `sizes` counts while serializing.
pub fn commit_items(commit: &Commit) -> (Vec<Measured>, usize) {
    let mut items = vec![
        Measured {
            what: "idempotency record",
            bytes: sizes::processed(&commit.processed),
        },
        Measured {
            what: "tracker",
            bytes: sizes::tracker(&commit.tracker),
        },
    ];
    match &commit.incident {
        Some(IncidentChange::Open(incident)) => items.push(Measured {
            what: "incident",
            bytes: sizes::incident(incident),
        }),
        Some(IncidentChange::Update(_)) => items.push(Measured {
            what: "incident update",
            bytes: INCIDENT_UPDATE_ALLOWANCE,
        }),
        None => {}
    }
    if commit.closed.is_some() {
        items.push(Measured {
            what: "incident update",
            bytes: INCIDENT_UPDATE_ALLOWANCE,
        });
    }
    for entry in commit
        .timeline
        .iter()
        .chain(commit.closed.as_ref().map(|c| &c.entry))
    {
        items.push(Measured {
            what: "timeline entry",
            bytes: sizes::timeline(entry),
        });
    }
    for item in &commit.outbox {
        items.push(Measured {
            what: "outbox item",
            bytes: sizes::outbox(item),
        });
    }
    if let Some(run) = &commit.step_run {
        items.push(Measured {
            what: "step run",
            bytes: sizes::step_run(run),
        });
    }
    for link in &commit.links {
        items.push(Measured {
            what: "link",
            bytes: bytes::item_bytes(&crate::layout::link_item(link)),
        });
    }
    let actions = items.len();
    (items, actions)
}

pub fn incident_bytes(incident: &Incident) -> usize {
    sizes::incident(incident)
}

pub fn step_entry_bytes(entry: &crate::model::StepEntry) -> usize {
    sizes::step_entry(entry)
}

/// Why DynamoDB would refuse a commit, in its own words where it has them.
pub fn refusal(commit: &Commit) -> Option<String> {
    let (items, actions) = commit_items(commit);
    if let Some(big) = items.iter().find(|m| m.bytes > MAX_ITEM_BYTES) {
        return Some(format!(
            "Item size has exceeded the maximum allowed size: the {} is {} bytes (at most {MAX_ITEM_BYTES})",
            big.what, big.bytes
        ));
    }
    if actions > MAX_TRANSACTION_ACTIONS {
        return Some(format!(
            "Member must have length less than or equal to {MAX_TRANSACTION_ACTIONS}: the transaction has {actions} actions"
        ));
    }
    let total: usize = items.iter().map(|m| m.bytes).sum();
    (total > MAX_TRANSACTION_BYTES).then(|| {
        format!(
            "Transaction request cannot be larger than 4 MB: the transaction's items are {total} bytes"
        )
    })
}
