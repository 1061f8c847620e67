//! The records, as DynamoDB keeps them: conditions, transactions, item and transaction
//! size limits, leases; with the faults tests inject.

use chrono::{DateTime, Utc};

use super::fault::injected;
use super::{CommitFault, MemoryBackend};
use crate::error::{CommitError, KlaxonError};
use crate::model::{
    Commit, Delivery, Incident, IncidentChange, IncidentStatus, KeyTracker, LinkRecord, OutboxItem,
    ProcessedEvent, Rejection, StepEntry, StepRun, TimelineEntry,
};
use crate::ports::IncidentStore;
use crate::route::Route;

impl IncidentStore for MemoryBackend {
    async fn load(
        &self,
        event_id: &str,
        dedup_key: &str,
    ) -> Result<(Option<ProcessedEvent>, Option<KeyTracker>), KlaxonError> {
        let s = self.lock();
        Ok((
            s.processed.get(event_id).cloned(),
            s.trackers.get(dedup_key).cloned(),
        ))
    }

    async fn commit(&self, commit: &Commit) -> Result<(), CommitError> {
        let mut s = self.lock();
        let fault = s.commit_faults.pop_front();
        match fault {
            Some(CommitFault::ConditionalCheckFailed) => {
                return Err(CommitError::Conflict(
                    "injected ConditionalCheckFailed on the tracker".into(),
                ))
            }
            Some(CommitFault::TransactionConflict) => {
                return Err(CommitError::Conflict("injected TransactionConflict".into()))
            }
            Some(
                CommitFault::LostResponse
                | CommitFault::LandedButAlreadyProcessed
                | CommitFault::LandedButConflict,
            )
            | None => {}
        }
        // DynamoDB validates the request before any condition: an oversized item or
        // transaction fails the whole request, for good.
        if let Some(why) = crate::item_size::refusal(commit) {
            return Err(CommitError::Failed(too_large("TransactWriteItems", why)));
        }
        if s.processed.contains_key(&commit.processed.event_id) {
            return Err(CommitError::AlreadyProcessed);
        }
        let current = s.trackers.get(&commit.tracker.dedup_key).map(|t| t.version);
        if current != commit.expected_tracker_version {
            return Err(CommitError::Conflict(format!(
                "tracker version is {current:?}, expected {:?}",
                commit.expected_tracker_version
            )));
        }
        // Check every condition before changing anything: all or nothing.
        match &commit.incident {
            Some(IncidentChange::Open(incident))
                if s.incidents.contains_key(&incident.incident_id) =>
            {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: incident.incident_id.clone(),
                    reason: "incident already exists".into(),
                }))
            }
            Some(IncidentChange::Update(update))
                if !s.incidents.contains_key(&update.incident_id) =>
            {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: update.incident_id.clone(),
                    reason: "incident to update does not exist".into(),
                }))
            }
            _ => {}
        }
        if let Some(closed) = &commit.closed {
            if !s.incidents.contains_key(&closed.update.incident_id) {
                return Err(CommitError::Failed(KlaxonError::CorruptRecord {
                    key: closed.update.incident_id.clone(),
                    reason: "incident to close does not exist".into(),
                }));
            }
        }

        s.processed
            .insert(commit.processed.event_id.clone(), commit.processed.clone());
        s.trackers
            .insert(commit.tracker.dedup_key.clone(), commit.tracker.clone());
        match &commit.incident {
            Some(IncidentChange::Open(incident)) => {
                s.incidents
                    .insert(incident.incident_id.clone(), (**incident).clone());
            }
            Some(IncidentChange::Update(u)) => {
                apply_update(
                    s.incidents.get_mut(&u.incident_id).expect("checked above"),
                    u,
                );
            }
            None => {}
        }
        if let Some(closed) = &commit.closed {
            apply_update(
                s.incidents
                    .get_mut(&closed.update.incident_id)
                    .expect("checked above"),
                &closed.update,
            );
        }
        let entries = commit
            .timeline
            .iter()
            .chain(commit.closed.as_ref().map(|c| &c.entry));
        for entry in entries {
            s.timelines
                .entry(entry.incident_id.clone())
                .or_default()
                .insert((entry.at, entry.entry_id.clone()), entry.clone());
        }
        for item in &commit.outbox {
            s.outbox.insert(
                (item.incident_id.clone(), item.item_id.clone()),
                item.clone(),
            );
        }
        if let Some(run) = &commit.step_run {
            s.step_runs.insert(run.event_id.clone(), run.clone());
        }
        for link in &commit.links {
            s.links.insert(link.token_hash.clone(), link.clone());
        }
        match fault {
            Some(CommitFault::LostResponse) => {
                return Err(CommitError::Failed(injected(
                    "commit landed but the response was lost",
                )))
            }
            Some(CommitFault::LandedButAlreadyProcessed) => {
                return Err(CommitError::AlreadyProcessed)
            }
            Some(CommitFault::LandedButConflict) => {
                return Err(CommitError::Conflict(
                    "injected: landed, reported as a conflict".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }

    async fn pending_outbox(&self, incident_id: &str) -> Result<Vec<OutboxItem>, KlaxonError> {
        let s = self.lock();
        let mut items: Vec<OutboxItem> = s
            .outbox
            .values()
            .filter(|i| i.incident_id == incident_id)
            .cloned()
            .collect();
        items.sort_by(|a, b| a.item_id.cmp(&b.item_id));
        Ok(items)
    }

    async fn claim_outbox(
        &self,
        item: &OutboxItem,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let mut s = self.lock();
        match s
            .outbox
            .get_mut(&(item.incident_id.clone(), item.item_id.clone()))
        {
            Some(stored) if stored.lease_until == item.lease_until => {
                stored.lease_until = lease_until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_outbox(&self, item: &OutboxItem) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        // Only the holder gives a lease back: a lease another invocation took since (ours
        // expired) is theirs.
        if let Some(stored) = s
            .outbox
            .get_mut(&(item.incident_id.clone(), item.item_id.clone()))
            .filter(|stored| stored.lease_until == item.lease_until)
        {
            stored.lease_until = DateTime::<Utc>::UNIX_EPOCH;
        }
        Ok(())
    }

    async fn complete_delivery(&self, delivery: &Delivery) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        if s.delivery_completion_faults > 0 {
            s.delivery_completion_faults -= 1;
            return Err(injected("the delivered outbox item could not be removed"));
        }
        for item in &delivery.removed {
            s.outbox
                .remove(&(item.incident_id.clone(), item.item_id.clone()));
        }
        for (incident_id, at) in &delivery.page_delivered {
            if let Some(incident) = s.incidents.get_mut(incident_id) {
                incident.page_delivered_at = Some(*at);
            }
        }
        for note in &delivery.notes {
            s.timelines
                .entry(note.incident_id.clone())
                .or_default()
                .insert((note.at, note.entry_id.clone()), note.clone());
        }
        // Removing map entries by key leaves the version alone (no conflict with commits).
        if let Some(tracker) = s.trackers.get_mut(&delivery.tracker_key) {
            for key in &delivery.done {
                tracker.pending_outbox.remove(key);
            }
        }
        Ok(())
    }

    async fn record_rejection(&self, rejection: &Rejection) -> Result<(), KlaxonError> {
        self.lock()
            .rejections
            .insert(rejection.rejection_id.clone(), rejection.clone());
        Ok(())
    }

    async fn incident(&self, incident_id: &str) -> Result<Option<Incident>, KlaxonError> {
        Ok(self.lock().incidents.get(incident_id).cloned())
    }

    async fn timeline(&self, incident_id: &str) -> Result<Vec<TimelineEntry>, KlaxonError> {
        Ok(self
            .lock()
            .timelines
            .get(incident_id)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default())
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, KlaxonError> {
        Ok(self
            .lock()
            .incidents
            .values()
            .filter(|i| i.status == IncidentStatus::Open)
            .cloned()
            .collect())
    }

    async fn link(&self, token_hash: &str) -> Result<Option<LinkRecord>, KlaxonError> {
        Ok(self.lock().links.get(token_hash).cloned())
    }

    async fn revoke_links(
        &self,
        incident_id: &str,
        route: Option<Route>,
        before: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let mut s = self.lock();
        let Some(incident) = s.incidents.get_mut(incident_id) else {
            return Ok(false);
        };
        let routes = match route {
            Some(r) => vec![r],
            None => Route::ALL.to_vec(),
        };
        // Only forward, as the DynamoDB adapter's condition.
        for r in routes {
            let at = incident.links_revoked_before.entry(r).or_insert(before);
            *at = (*at).max(before);
        }
        Ok(true)
    }

    async fn put_step_entries(&self, entries: &[StepEntry]) -> Result<(), KlaxonError> {
        let mut s = self.lock();
        match s.step_entry_fault_after {
            Some(0) => {
                s.step_entry_fault_after = None;
                return Err(injected("step entry write failed"));
            }
            Some(n) => s.step_entry_fault_after = Some(n - 1),
            None => {}
        }
        for entry in entries {
            let bytes = crate::item_size::step_entry_bytes(entry);
            if bytes > crate::item_size::MAX_ITEM_BYTES {
                return Err(too_large(
                    "BatchWriteItem",
                    format!("Item size has exceeded the maximum allowed size: a step entry is {bytes} bytes"),
                ));
            }
        }
        for entry in entries {
            s.step_entries
                .insert((entry.event_id.clone(), entry.seq), entry.clone());
        }
        Ok(())
    }

    async fn event_step_entries(
        &self,
        _incident_id: Option<&str>,
        event_id: &str,
    ) -> Result<Vec<StepEntry>, KlaxonError> {
        Ok(self
            .lock()
            .step_entries
            .values()
            .filter(|e| e.event_id == event_id)
            .cloned()
            .collect())
    }

    async fn step_entries(&self, incident_id: &str) -> Result<Vec<StepEntry>, KlaxonError> {
        let mut entries: Vec<StepEntry> = self
            .lock()
            .step_entries
            .values()
            .filter(|e| e.incident_id.as_deref() == Some(incident_id))
            .cloned()
            .collect();
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.seq.cmp(&b.seq)));
        Ok(entries)
    }

    async fn step_run(&self, event_id: &str) -> Result<Option<StepRun>, KlaxonError> {
        Ok(self.lock().step_runs.get(event_id).cloned())
    }

    async fn claim_step_run(
        &self,
        run: &StepRun,
        lease_until: DateTime<Utc>,
    ) -> Result<bool, KlaxonError> {
        let mut s = self.lock();
        match s.step_runs.get_mut(&run.event_id) {
            Some(stored) if stored.lease_until == run.lease_until => {
                stored.lease_until = lease_until;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn complete_step_run(&self, run: &StepRun) -> Result<(), KlaxonError> {
        self.lock().step_runs.remove(&run.event_id);
        Ok(())
    }
}

/// An [`IncidentUpdate`](crate::model::IncidentUpdate) as the DynamoDB adapter's UpdateItem
/// applies it.
fn apply_update(incident: &mut Incident, u: &crate::model::IncidentUpdate) {
    incident.status = u.status;
    incident.last_state = u.last_state;
    incident.last_state_at = u.last_state_at;
    incident.updated_at = u.updated_at;
    if u.status == IncidentStatus::Resolved {
        incident.resolved_at = u.resolved_at;
        incident.last_resolved_at = u.resolved_at.or(incident.last_resolved_at);
        incident.resolution = u.resolution;
    }
    if let Some(at) = u.paged_at {
        incident.paged = true;
        incident.paged_at = Some(at);
    }
    if let Some(routes) = &u.paged_routes {
        incident.paged_routes = routes.clone();
    }
    if u.reopened.is_some() {
        incident.resolved_at = None;
        incident.resolution = None;
    }
    if let Some(r) = &u.responder {
        incident.acknowledged = r.acknowledged.clone();
        incident.owner = r.owner.clone();
        incident.snoozed_until = r.snoozed_until;
        incident.ownership.severity = r.severity;
    }
}

/// DynamoDB's answer to an item or transaction over its limits (a ValidationException:
/// retrying the same request cannot help).
fn too_large(operation: &'static str, why: String) -> KlaxonError {
    KlaxonError::Aws {
        service: "dynamodb",
        operation,
        code: "ValidationException".into(),
        message: why,
        retryable: false,
    }
}
