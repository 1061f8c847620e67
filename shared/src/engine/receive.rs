//! An event arrives: raw bytes or JSON to an intake, its times checked, rejected events
//! recorded, and each state change handed to [`apply`](super::apply).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{chrono_duration, Engine, Report, MAX_FUTURE_MINUTES};
use crate::error::KlaxonError;
use crate::intake::{self, Intake, InvalidEvent, StateChange};
use crate::model::{Outcome, Rejection};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::runbook::step::emit::MAX_HOPS;
use crate::severity::Severity;
use crate::text;

impl<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups> Engine<S, P, B, L> {
    /// Handles raw bytes (replay, tests): invalid JSON is rejected like any invalid event.
    /// One report per event, or per finding of a Security Hub custom action (in order; the
    /// last carries the event's page).
    pub async fn handle_bytes_all(&self, raw: &[u8]) -> Result<Vec<Report>, KlaxonError> {
        let parsed = intake::parse_bytes_value(raw).and_then(|(intake, value)| {
            Ok((self.watch_health_region(self.check_time(intake)?), value))
        });
        match parsed {
            Ok((intake, value)) => self.handle_intake(intake, &value).await,
            Err(invalid) => Ok(vec![self.reject(invalid, raw).await?]),
        }
    }

    /// [`Self::handle_bytes_all`] for one report: the event's, or for a custom action the
    /// last finding's (the one that carries the page).
    pub async fn handle_bytes(&self, raw: &[u8]) -> Result<Report, KlaxonError> {
        let mut reports = self.handle_bytes_all(raw).await?;
        Ok(reports.pop().expect("one report at least"))
    }

    /// Handles an event given as JSON (tests; the Lambda handler passes the raw payload to
    /// [`Self::handle_bytes_all`]). It goes through the same bytes path, so the size limit
    /// applies and a rejection gets the same id as in replay.
    pub async fn handle_value_all(&self, event: &Value) -> Result<Vec<Report>, KlaxonError> {
        let raw = serde_json::to_vec(event).unwrap_or_default();
        self.handle_bytes_all(&raw).await
    }

    /// [`Self::handle_value_all`] for one report (see [`Self::handle_bytes`]).
    pub async fn handle_value(&self, event: &Value) -> Result<Report, KlaxonError> {
        let mut reports = self.handle_value_all(event).await?;
        Ok(reports.pop().expect("one report at least"))
    }

    /// A state change dated in the future would make every real event of its key `stale`
    /// until then; CloudWatch's clock is AWS's, so more than a few minutes ahead is invalid.
    pub(super) fn check_time(&self, intake: Intake) -> Result<Intake, InvalidEvent> {
        let events: Vec<&StateChange> = match &intake {
            Intake::Change(event) => vec![event],
            Intake::Escalation(findings) => findings.iter().collect(),
            Intake::Ignored { .. } => Vec::new(),
        };
        for event in events {
            let latest = self.clock.now() + chrono::Duration::minutes(MAX_FUTURE_MINUTES);
            if event.state_timestamp > latest {
                return Err(InvalidEvent {
                    event_id: Some(event.event_id.clone()),
                    reason: format!(
                        "the event's state time {} (`detail.state.timestamp` for alarms) is more than {MAX_FUTURE_MINUTES} minutes in the future",
                        event.state_timestamp.to_rfc3339()
                    ),
                });
            }
        }
        Ok(intake)
    }

    /// A public AWS Health event (a Region's service, not this account's resources) pages
    /// `ops` only when it is an issue in a Region this deployment watches; any other is
    /// recorded at low, without a page (the `aws-health` runbook's guard reads `page`).
    pub(super) fn watch_health_region(&self, mut intake: Intake) -> Intake {
        if let Intake::Change(event) = &mut intake {
            let region = event.region.clone();
            if let Some(signal) = event.signal.as_deref_mut() {
                let details = &mut signal.details;
                if event.kind == crate::intake::AlarmKind::AwsHealth
                    && details["scope"] == "PUBLIC"
                    && !signal.security
                {
                    let event_region = details["event_region"]
                        .as_str()
                        .filter(|r| !r.is_empty())
                        .map(str::to_string)
                        .or(region)
                        .unwrap_or_default();
                    let watched = self.settings.health_regions.contains(&event_region);
                    details["watched_region"] = Value::Bool(watched);
                    if !watched {
                        details["page"] = Value::Bool(false);
                        signal.severity = Some(Severity::Low);
                    }
                }
            }
        }
        intake
    }

    pub(super) async fn handle_intake(
        &self,
        intake: Intake,
        value: &Value,
    ) -> Result<Vec<Report>, KlaxonError> {
        // Events emitted by runbooks count their hops; past the limit Klaxon does nothing,
        // so that runbooks triggering each other cannot loop.
        let hops = crate::runbook::step::emit::incoming_hops(value);
        if hops >= MAX_HOPS {
            let event_id = value["id"].as_str().map(text::for_log);
            let reason = format!(
                "hop limit: the event has passed through {hops} runbook emits (at most {MAX_HOPS}); not acted on"
            );
            tracing::warn!(event_id = event_id.as_deref(), reason = %reason, "event ignored");
            let mut report = Report::empty(Outcome::Ignored, event_id);
            report.error = Some(reason);
            return Ok(vec![report]);
        }
        match intake {
            Intake::Ignored { event_id, reason } => {
                tracing::info!(event_id = event_id.as_deref().map(text::for_log), reason = %reason, "event ignored");
                let mut report = Report::empty(Outcome::Ignored, event_id);
                report.error = Some(reason);
                Ok(vec![report])
            }
            Intake::Change(event) => Ok(vec![self.handle_change(&event, value, hops, &[]).await?]),
            Intake::Escalation(findings) => self.handle_escalation(&findings, value, hops).await,
        }
    }

    pub(super) async fn reject(
        &self,
        invalid: InvalidEvent,
        raw: &[u8],
    ) -> Result<Report, KlaxonError> {
        let now = self.clock.now();
        let digest = hex::encode(Sha256::digest(raw));
        let rejection = Rejection {
            rejection_id: digest[..32].to_string(),
            event_id: invalid.event_id.as_deref().map(text::for_log),
            reason: invalid.reason.clone(),
            received_at: now,
            // Only the start is read: a rejected event may be up to 1 MiB.
            excerpt: text::bounded(
                &text::single_line(&String::from_utf8_lossy(
                    &raw[..raw.len().min(8 * 1024 + 4)],
                )),
                8 * 1024,
            ),
            expires_at: now + chrono_duration(self.settings.rejection_ttl),
        };
        self.store.record_rejection(&rejection).await?;
        // `outcome = "rejected"` is what the deployment's RejectedEvents metric filter counts.
        tracing::error!(
            outcome = "rejected",
            event_id = rejection.event_id.as_deref(),
            rejection_id = %rejection.rejection_id,
            bytes = raw.len(),
            reason = %text::for_log(&invalid.reason),
            "event rejected and recorded; not retried"
        );
        let mut report = Report::empty(Outcome::Rejected, rejection.event_id.clone());
        report.error = Some(invalid.reason);
        Ok(report)
    }
}
