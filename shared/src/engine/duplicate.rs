//! A duplicate delivery: nothing new happens, but what an earlier delivery committed and did
//! not send is sent now.

use super::{chrono_duration, Engine, Report};
use crate::error::KlaxonError;
use crate::intake::StateChange;
use crate::model::{KeyTracker, Outcome, ProcessedEvent, StepRun};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::text;

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// A duplicate delivery: nothing new happens, but anything an earlier delivery of this
    /// event (or of another for the same incident) failed to send is sent now.
    pub(super) async fn redeliver(
        &self,
        processed: ProcessedEvent,
        tracker: Option<KeyTracker>,
        event: &StateChange,
    ) -> Result<Report, KlaxonError> {
        let mut report = Report::empty(Outcome::Duplicate, Some(event.event_id.clone()));
        report.dedup_key = Some(processed.dedup_key.clone());
        report.incident_id = processed.incident_id.clone();
        let tracker = tracker.unwrap_or_else(|| KeyTracker::new(&event.dedup_key));
        let (notifications, lifecycle_events) = self
            .redeliver_outbox(
                &event.event_id,
                processed.incident_id.as_deref(),
                &tracker.pending_outbox,
                tracker
                    .open_incident
                    .as_ref()
                    .map(|o| o.incident_id.as_str()),
                &event.dedup_key,
            )
            .await?;
        report.notifications = notifications;
        report.lifecycle_events = lifecycle_events;
        // Steps an earlier delivery of this event left unfinished: finish them, skipping
        // the ones it completed.
        let now = self.clock.now();
        match self.store.step_run(&event.event_id).await? {
            Some(run) if run.lease_until > now => {
                return Err(KlaxonError::DeliveryInProgress {
                    incident_id: run.incident_id.clone().unwrap_or_default(),
                    item_id: format!("step run of event {}", text::for_log(&run.event_id)),
                    lease_until: run.lease_until.to_rfc3339(),
                });
            }
            Some(run) => {
                let lease_until = now + chrono_duration(self.settings.outbox_lease);
                if self.store.claim_step_run(&run, lease_until).await? {
                    tracing::warn!(
                        "duplicate delivery found unfinished runbook steps; finishing them"
                    );
                    report.runbooks = run.scopes.iter().map(|s| s.runbook.clone()).collect();
                    report.scopes = run.scopes.clone();
                    report.steps = self
                        .run_steps(StepRun { lease_until, ..run }, false)
                        .await?;
                }
            }
            None => tracing::info!(
                first_outcome = processed.outcome.as_str(),
                "duplicate delivery"
            ),
        }
        Ok(report)
    }
}
