//! The table layout: key formats and fixed attribute names shared by the DynamoDB adapter
//! (`aws/dynamodb.rs`) and the item-size check (`item_size/`), which must measure items
//! exactly as the adapter writes them. Layout documented in docs/DATA-MODEL.md.

use chrono::{DateTime, Utc};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// Sparse index of open incidents: `gsi1pk = "OPEN"`, `gsi1sk = opened_at#incident_id`.
pub const OPEN_INDEX: &str = "open-incidents";
/// Incidents by service and time: `gsi2pk = "SERVICE#<service>"`, `gsi2sk = opened_at#id`.
pub const SERVICE_INDEX: &str = "by-service";
/// Reserved for escalation: `gsi3pk = "ESCALATION"`, `gsi3sk = next_escalation_at#id`.
pub const ESCALATION_INDEX: &str = "escalation-due";
/// TTL attribute (epoch seconds) on idempotency, rejection and link records only.
pub const TTL_ATTRIBUTE: &str = "expires_at_epoch";

pub const INCIDENT_SK: &str = "INCIDENT";
pub const TRACKER_SK: &str = "TRACKER";
pub const PROCESSED_SK: &str = "PROCESSED";
pub const TIMELINE_PREFIX: &str = "TIMELINE#";
pub const OUTBOX_PREFIX: &str = "OUTBOX#";
pub const STEP_PREFIX: &str = "STEP#";
pub const STEP_RUN_SK: &str = "STEPRUN";
pub const LINK_SK: &str = "LINK";
pub const NO_SERVICE: &str = "(none)";

pub fn incident_pk(id: &str) -> String {
    format!("INCIDENT#{id}")
}
pub fn tracker_pk(dedup_key: &str) -> String {
    format!("ALARM#{dedup_key}")
}
pub fn link_pk(token_hash: &str) -> String {
    format!("LINK#{token_hash}")
}
pub fn processed_pk(event_id: &str) -> String {
    format!("EVENT#{event_id}")
}
/// Step entries live on the incident's timeline, or under the event when it concerns none.
pub fn step_pk(incident_id: Option<&str>, event_id: &str) -> String {
    match incident_id {
        Some(id) => incident_pk(id),
        None => processed_pk(event_id),
    }
}
pub fn step_sk_prefix(event_id: &str) -> String {
    format!("{STEP_PREFIX}{event_id}#")
}
/// Fixed-width UTC time, so that sort keys order chronologically.
pub fn sort_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

// ---------------------------------------------------------------------------------------
// Items, as JSON objects: the DynamoDB adapter converts each to attribute values one to one
// (strings S, numbers N, booleans BOOL, null NULL, arrays L, objects M), and `item_size`
// measures the same objects, so the size check sees exactly what DynamoDB stores.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::{
    Incident, IncidentStatus, KeyTracker, LinkRecord, OutboxItem, ProcessedEvent, Rejection,
    StepEntry, StepRun, TimelineEntry,
};

pub type JsonItem = Map<String, Value>;

/// A record's fields plus its keys and entity name.
pub fn record<T: Serialize>(value: &T, pk: String, sk: &str, entity: &str) -> JsonItem {
    let mut item = match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        // Records are structs: always objects.
        _ => Map::new(),
    };
    item.insert(PK.into(), json!(pk));
    item.insert(SK.into(), json!(sk));
    item.insert("entity".into(), json!(entity));
    item
}

pub fn processed_item(p: &ProcessedEvent) -> JsonItem {
    let mut item = record(
        p,
        processed_pk(&p.event_id),
        PROCESSED_SK,
        "processed_event",
    );
    item.insert(TTL_ATTRIBUTE.into(), json!(p.expires_at.timestamp()));
    item
}

pub fn tracker_item(t: &KeyTracker) -> JsonItem {
    record(t, tracker_pk(&t.dedup_key), TRACKER_SK, "alarm_tracker")
}

pub fn incident_item(incident: &Incident) -> JsonItem {
    let mut item = record(
        incident,
        incident_pk(&incident.incident_id),
        INCIDENT_SK,
        "incident",
    );
    let order = open_order(incident.opened_at, &incident.incident_id);
    if incident.status == IncidentStatus::Open {
        item.insert("gsi1pk".into(), json!(OPEN_PARTITION));
        item.insert("gsi1sk".into(), json!(order.clone()));
    }
    let service = incident.ownership.service.as_deref().unwrap_or(NO_SERVICE);
    item.insert("gsi2pk".into(), json!(format!("SERVICE#{service}")));
    item.insert("gsi2sk".into(), json!(order));
    item
}

/// The partition of the open-incident index.
pub const OPEN_PARTITION: &str = "OPEN";

/// The sort key of an incident in the open-incident and by-service indexes.
pub fn open_order(opened_at: DateTime<Utc>, incident_id: &str) -> String {
    format!("{}#{incident_id}", sort_time(opened_at))
}

pub fn timeline_sk(entry: &TimelineEntry) -> String {
    format!(
        "{TIMELINE_PREFIX}{}#{}",
        sort_time(entry.at),
        entry.entry_id
    )
}

pub fn timeline_item(entry: &TimelineEntry) -> JsonItem {
    record(
        entry,
        incident_pk(&entry.incident_id),
        &timeline_sk(entry),
        "timeline_entry",
    )
}

pub fn outbox_sk(item: &OutboxItem) -> String {
    format!("{OUTBOX_PREFIX}{}", item.item_id)
}

pub fn outbox_item(item: &OutboxItem) -> JsonItem {
    // Stored as JSON text: the lifecycle detail is arbitrary JSON and must round-trip exactly.
    let message = serde_json::to_string(&item.message).unwrap_or_default();
    let value = json!({
        PK: incident_pk(&item.incident_id),
        SK: outbox_sk(item),
        "entity": "outbox_item",
        "incident_id": item.incident_id,
        "event_id": item.event_id,
        "item_id": item.item_id,
        "created_at": sort_time(item.created_at),
        "lease_until_ms": item.lease_until.timestamp_millis(),
        "message_json": message,
    });
    value.as_object().cloned().unwrap_or_default()
}

pub fn step_entry_sk(entry: &StepEntry) -> String {
    format!("{}{:04}", step_sk_prefix(&entry.event_id), entry.seq)
}

pub fn step_entry_item(entry: &StepEntry) -> JsonItem {
    let mut item = record(
        entry,
        step_pk(entry.incident_id.as_deref(), &entry.event_id),
        &step_entry_sk(entry),
        "step_entry",
    );
    if let Some(expires_at) = entry.expires_at {
        item.insert(TTL_ATTRIBUTE.into(), json!(expires_at.timestamp()));
    }
    item
}

pub fn step_run_item(run: &StepRun) -> JsonItem {
    // JSON text: the step context is arbitrary JSON and must round-trip exactly.
    let text = serde_json::to_string(run).unwrap_or_default();
    let value = json!({
        PK: processed_pk(&run.event_id),
        SK: STEP_RUN_SK,
        "entity": "step_run",
        "event_id": run.event_id,
        "lease_until_ms": run.lease_until.timestamp_millis(),
        TTL_ATTRIBUTE: run.expires_at.timestamp(),
        "run_json": text,
    });
    value.as_object().cloned().unwrap_or_default()
}

/// A link to an incident's page, keyed by its token's hash, removed by TTL at its latest
/// expiry.
pub fn link_item(link: &LinkRecord) -> JsonItem {
    let mut item = record(link, link_pk(&link.token_hash), LINK_SK, "link");
    item.insert(TTL_ATTRIBUTE.into(), json!(link.expires_at.timestamp()));
    item
}

pub fn rejection_item(rejection: &Rejection) -> JsonItem {
    let pk = format!("REJECTED#{}", rejection.received_at.format("%Y-%m-%d"));
    let mut item = record(
        rejection,
        pk,
        &format!("REJECTION#{}", rejection.rejection_id),
        "rejection",
    );
    item.insert(
        TTL_ATTRIBUTE.into(),
        json!(rejection.expires_at.timestamp()),
    );
    item
}
