//! The embedded backend's records as one versioned document, so that `klaxon … --state PATH`
//! can keep them between runs (docs/RESPONDERS.md, "Persisted embedded state"). Only what
//! DynamoDB would hold, and the backend's clock; faults, recorded AWS answers and what was
//! published are a run's own.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::MemoryBackend;
use crate::model::{
    Incident, KeyTracker, OutboxItem, ProcessedEvent, Rejection, StepEntry, StepRun, TimelineEntry,
};

/// The `format` of a state document.
pub const STATE_FORMAT: &str = "klaxon-state";
/// The one version this build reads and writes.
pub const STATE_VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    pub format: String,
    pub version: u64,
    /// The backend's clock (replay's clock, advanced by events and actions).
    pub now: Option<DateTime<Utc>>,
    pub processed: Vec<ProcessedEvent>,
    pub trackers: Vec<KeyTracker>,
    pub incidents: Vec<Incident>,
    pub timeline: Vec<TimelineEntry>,
    pub outbox: Vec<OutboxItem>,
    pub rejections: Vec<Rejection>,
    pub step_entries: Vec<StepEntry>,
    pub step_runs: Vec<StepRun>,
    #[serde(default)]
    pub links: Vec<crate::model::LinkRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a Klaxon state file: {0}")]
    NotState(String),
    #[error("state file version {found} is not supported: this klaxon reads version {STATE_VERSION} (written by another klaxon release?)")]
    UnknownVersion { found: String },
    #[error("state file is damaged: {0}")]
    Damaged(String),
}

/// Reads a state document, checking its format and version before anything else, so that
/// a file from another release says so rather than failing on a field.
pub fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| SnapshotError::NotState(format!("not JSON ({e})")))?;
    if value.get("format").and_then(Value::as_str) != Some(STATE_FORMAT) {
        return Err(SnapshotError::NotState(format!(
            "its `format` is not \"{STATE_FORMAT}\""
        )));
    }
    match value.get("version") {
        Some(v) if v.as_u64() == Some(STATE_VERSION) => {}
        other => {
            return Err(SnapshotError::UnknownVersion {
                found: other.map_or("(none)".to_string(), Value::to_string),
            })
        }
    }
    serde_json::from_value(value).map_err(|e| SnapshotError::Damaged(e.to_string()))
}

pub fn encode(snapshot: &Snapshot) -> Vec<u8> {
    // Records are plain data: serialising them cannot fail.
    serde_json::to_vec_pretty(snapshot).unwrap_or_default()
}

impl MemoryBackend {
    /// Everything DynamoDB would hold, and the clock.
    pub fn snapshot(&self) -> Snapshot {
        let s = self.lock();
        let mut processed: Vec<ProcessedEvent> = s.processed.values().cloned().collect();
        processed.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let mut trackers: Vec<KeyTracker> = s.trackers.values().cloned().collect();
        trackers.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
        let mut step_runs: Vec<StepRun> = s.step_runs.values().cloned().collect();
        step_runs.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let mut timeline: Vec<TimelineEntry> = s
            .timelines
            .values()
            .flat_map(|t| t.values().cloned())
            .collect();
        timeline.sort_by(|a, b| {
            (&a.incident_id, a.at, &a.entry_id).cmp(&(&b.incident_id, b.at, &b.entry_id))
        });
        Snapshot {
            format: STATE_FORMAT.into(),
            version: STATE_VERSION,
            now: s.now,
            processed,
            trackers,
            incidents: s.incidents.values().cloned().collect(),
            timeline,
            outbox: s.outbox.values().cloned().collect(),
            rejections: s.rejections.values().cloned().collect(),
            step_entries: s.step_entries.values().cloned().collect(),
            step_runs,
            links: s.links.values().cloned().collect(),
        }
    }

    /// A backend holding a snapshot's records.
    pub fn restore(snapshot: Snapshot) -> Self {
        let backend = MemoryBackend::new();
        {
            let mut s = backend.lock();
            s.now = snapshot.now;
            s.processed = snapshot
                .processed
                .into_iter()
                .map(|p| (p.event_id.clone(), p))
                .collect();
            s.trackers = snapshot
                .trackers
                .into_iter()
                .map(|t| (t.dedup_key.clone(), t))
                .collect();
            s.incidents = snapshot
                .incidents
                .into_iter()
                .map(|i| (i.incident_id.clone(), i))
                .collect();
            for entry in snapshot.timeline {
                s.timelines
                    .entry(entry.incident_id.clone())
                    .or_default()
                    .insert((entry.at, entry.entry_id.clone()), entry);
            }
            s.outbox = snapshot
                .outbox
                .into_iter()
                .map(|i| ((i.incident_id.clone(), i.item_id.clone()), i))
                .collect();
            s.rejections = snapshot
                .rejections
                .into_iter()
                .map(|r| (r.rejection_id.clone(), r))
                .collect();
            s.step_entries = snapshot
                .step_entries
                .into_iter()
                .map(|e| ((e.event_id.clone(), e.seq), e))
                .collect();
            s.step_runs = snapshot
                .step_runs
                .into_iter()
                .map(|r| (r.event_id.clone(), r))
                .collect();
            s.links = snapshot
                .links
                .into_iter()
                .map(|l| (l.token_hash.clone(), l))
                .collect();
        }
        backend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_snapshot_round_trips_every_record_and_the_clock() {
        let (backend, engine) = crate::memory::engine(crate::memory::embedded_settings());
        let at: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        backend.set_now(at);
        let event = include_bytes!("../../../events/alarm-metric-prod-alarm.json");
        engine.handle_bytes(event).await.unwrap();
        let snapshot = backend.snapshot();
        assert_eq!(snapshot.incidents.len(), 1);
        assert!(!snapshot.timeline.is_empty());
        let restored = MemoryBackend::restore(decode(&encode(&snapshot)).unwrap());
        assert_eq!(restored.snapshot(), snapshot);
        use crate::ports::Clock;
        assert_eq!(restored.now(), at);
    }

    #[test]
    fn other_versions_and_other_files_are_refused_by_name() {
        let err = decode(br#"{"format":"klaxon-state","version":2}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("state file version 2 is not supported"),
            "{err}"
        );
        let err = decode(br#"{"format":"klaxon-state"}"#).unwrap_err();
        assert!(err.to_string().contains("version (none)"), "{err}");
        let err = decode(br#"{"incidents":[]}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("not a Klaxon state file"),
            "{err}"
        );
        let err = decode(b"\x00garbage").unwrap_err();
        assert!(err.to_string().contains("not JSON"), "{err}");
        let err = decode(br#"{"format":"klaxon-state","version":1,"now":null}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("state file is damaged"),
            "{err}"
        );
    }
}
