//! What a responder's action does to an incident, as a pure function: the outcome table
//! (docs/RESPONDERS.md), the incident's new responder fields, the tracker, and the timeline
//! entry. No I/O; `engine::act` reads, commits and delivers.
//!
//! | action      | open                     | acknowledged             | resolved                 |
//! |-------------|--------------------------|--------------------------|--------------------------|
//! | acknowledge | acknowledged             | unchanged                | unchanged                |
//! | resolve     | resolved_by_person       | resolved_by_person       | unchanged                |
//! | reopen      | unchanged                | unchanged                | reopened (rejected while |
//! |             |                          |                          | a newer one is open)     |
//! | note        | noted_by_person          | noted_by_person          | noted_by_person          |
//! | snooze      | snoozed                  | snoozed                  | unchanged                |
//! | severity    | severity_changed (unchanged when the same)                                     |
//! | own         | owned (unchanged when the same owner)                 | unchanged                |
//!
//! Through a link on the security route only `acknowledge` and `note` are allowed; anything
//! else is `rejected` and kept on the timeline as an attempt.

use chrono::{DateTime, Utc};

use crate::action::{format_duration, ActionKind, ActionRequest, ActorKind};
use crate::model::{
    Acknowledgement, EntryKind, Incident, IncidentStatus, IncidentUpdate, KeyTracker,
    OpenIncidentRef, Outcome, Resolution, ResponderFields, TimelineEntry,
};
use crate::route::Route;

/// An incident's state as the outcome table sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderState {
    Open,
    Acknowledged,
    Resolved,
}

impl ResponderState {
    pub const ALL: [ResponderState; 3] = [
        ResponderState::Open,
        ResponderState::Acknowledged,
        ResponderState::Resolved,
    ];

    pub fn of(incident: &Incident) -> Self {
        match (incident.status, &incident.acknowledged) {
            (IncidentStatus::Resolved, _) => ResponderState::Resolved,
            (IncidentStatus::Open, Some(_)) => ResponderState::Acknowledged,
            (IncidentStatus::Open, None) => ResponderState::Open,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResponderState::Open => "open",
            ResponderState::Acknowledged => "acknowledged",
            ResponderState::Resolved => "resolved",
        }
    }
}

/// The outcome table: what `kind` does in `state`, given whether the requested value is
/// already the incident's (same severity, same owner). Reopen's refusal while a newer
/// incident is open, and the security route's link rule, are decided by [`decide`].
pub fn outcome(kind: ActionKind, state: ResponderState, same_value: bool) -> Outcome {
    use ResponderState::*;
    match (kind, state) {
        (ActionKind::Acknowledge, Open) => Outcome::Acknowledged,
        (ActionKind::Resolve, Open | Acknowledged) => Outcome::ResolvedByPerson,
        (ActionKind::Reopen, Resolved) => Outcome::Reopened,
        (ActionKind::Note, _) => Outcome::NotedByPerson,
        (ActionKind::Snooze, Open | Acknowledged) => Outcome::Snoozed,
        (ActionKind::Severity, _) if !same_value => Outcome::SeverityChanged,
        (ActionKind::Own, Open | Acknowledged) if !same_value => Outcome::Owned,
        _ => Outcome::Unchanged,
    }
}

/// Whether an actor of `kind` through a link of `route` may only acknowledge and note on
/// `incident`: link holders (names as given) on a security incident or a security link.
pub fn restricted_link(kind: ActorKind, route: Option<Route>, incident: &Incident) -> bool {
    kind == ActorKind::Link && (incident.ownership.security || route == Some(Route::Security))
}

/// What an action does, ready to commit.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionPlan {
    pub outcome: Outcome,
    /// Why it was refused (`Outcome::Rejected`).
    pub error: Option<String>,
    /// The tracker to write (its version is the commit's condition).
    pub tracker: KeyTracker,
    /// The incident change; `None` when nothing changes.
    pub update: Option<IncidentUpdate>,
    /// The incident as it is after the action (what pages and events describe).
    pub incident: Incident,
    /// The action's timeline entry (unchanged and refused attempts too: the audit).
    pub entry: TimelineEntry,
    /// Whether a lifecycle event goes on the bus (every change, not an unchanged or
    /// refused attempt).
    pub lifecycle: bool,
    /// Routes to tell that a person resolved it: the routes its pages went to.
    pub page_routes: Vec<Route>,
}

/// Decides `request` on `incident`, whose key's tracker is `tracker`. `now`: when the
/// action is applied (the record's `updated_at`).
pub fn decide(
    incident: &Incident,
    tracker: &KeyTracker,
    request: &ActionRequest,
    now: DateTime<Utc>,
) -> ActionPlan {
    let state = ResponderState::of(incident);
    let same_value = match request.kind {
        ActionKind::Severity => request.severity == Some(incident.ownership.severity),
        ActionKind::Own => incident.owner.as_deref() == Some(request.actor.shown().as_str()),
        _ => false,
    };
    let mut outcome = outcome(request.kind, state, same_value);
    let mut error = None;
    // A link holder (or an SMS reply: an unverified name too) on a security incident, or
    // holding a link sent to the security route (a runbook may page it for any incident).
    if restricted_link(request.actor.kind, request.actor.route, incident)
        && !request.kind.allowed_by_security_link()
    {
        outcome = Outcome::Rejected;
        error = Some(format!(
            "`{}` is not allowed through a link on the security route: use the IAM API or the CLI",
            request.kind.as_str()
        ));
    } else if outcome == Outcome::Reopened {
        if let Some(open) = tracker
            .open_incident
            .as_ref()
            .filter(|o| o.incident_id != incident.incident_id)
        {
            outcome = Outcome::Rejected;
            error = Some(format!(
                "cannot reopen {}: {} is open for the same alarm or finding; act on it instead",
                incident.incident_id, open.incident_id
            ));
        }
    }

    let mut next = incident.clone();
    let mut tracker_next = tracker.clone();
    tracker_next.version = tracker.version + 1;
    let shown = request.actor.shown();
    match outcome {
        Outcome::Acknowledged => {
            next.acknowledged = Some(Acknowledgement {
                by: shown.clone(),
                at: request.at,
                channel: request.actor.channel,
            });
        }
        Outcome::ResolvedByPerson => {
            next.status = IncidentStatus::Resolved;
            next.resolved_at = Some(request.at);
            next.last_resolved_at = Some(request.at);
            next.resolution = Some(Resolution::ResolvedByPerson);
            next.snoozed_until = None;
            if tracker_next
                .open_incident
                .as_ref()
                .is_some_and(|o| o.incident_id == incident.incident_id)
            {
                // The alarm's next ALARM opens a new incident; its OK changes nothing.
                tracker_next.open_incident = None;
            }
        }
        Outcome::Reopened => {
            next.status = IncidentStatus::Open;
            next.resolved_at = None;
            next.resolution = None;
            next.acknowledged = None;
            next.snoozed_until = None;
        }
        Outcome::Snoozed => {
            let until = request.at
                + chrono::Duration::from_std(request.duration.unwrap_or_default())
                    .unwrap_or_default();
            next.snoozed_until = Some(until);
        }
        Outcome::SeverityChanged => {
            if let Some(severity) = request.severity {
                next.ownership.severity = severity;
            }
        }
        Outcome::Owned => next.owner = Some(shown.clone()),
        _ => {}
    }
    let changed = !matches!(outcome, Outcome::Unchanged | Outcome::Rejected);
    if changed {
        next.updated_at = now;
    }
    // The tracker remembers what the next event's plan needs without another read.
    if outcome == Outcome::Reopened {
        tracker_next.open_incident = Some(OpenIncidentRef {
            incident_id: next.incident_id.clone(),
            paged: next.paged,
            title: next.title.clone(),
            ownership: next.ownership.clone(),
            opened_at: next.opened_at,
            paged_routes: next.paged_routes.clone(),
            snoozed_until: None,
        });
    } else if let Some(open) = tracker_next
        .open_incident
        .as_mut()
        .filter(|o| o.incident_id == incident.incident_id)
    {
        open.ownership.severity = next.ownership.severity;
        open.snoozed_until = next.snoozed_until;
    }
    let update = changed.then(|| IncidentUpdate {
        incident_id: next.incident_id.clone(),
        status: next.status,
        resolved_at: next.resolved_at,
        paged_at: None,
        last_state: next.last_state,
        last_state_at: next.last_state_at,
        updated_at: next.updated_at,
        resolution: next.resolution,
        paged_routes: None,
        responder: Some(ResponderFields {
            acknowledged: next.acknowledged.clone(),
            owner: next.owner.clone(),
            snoozed_until: next.snoozed_until,
            severity: next.ownership.severity,
        }),
        reopened: (outcome == Outcome::Reopened).then_some(next.opened_at),
    });
    let entry = TimelineEntry {
        incident_id: incident.incident_id.clone(),
        at: request.at,
        entry_id: format!("action#{}", request.action_id),
        kind: EntryKind::Action,
        outcome,
        summary: summary(request, outcome, incident, &next, error.as_deref()),
        evidence: None,
        actor: Some(request.actor.clone()),
        action: Some(request.kind),
        note: request.note.clone(),
    };
    ActionPlan {
        outcome,
        error,
        tracker: tracker_next,
        update,
        page_routes: if outcome == Outcome::ResolvedByPerson {
            incident.paged_routes.clone()
        } else {
            Vec::new()
        },
        incident: next,
        entry,
        lifecycle: changed,
    }
}

/// One line for the timeline: what happened, by whom, through what. The actor's name and
/// the note are the responder's text: escaped where shown, never interpreted.
fn summary(
    request: &ActionRequest,
    outcome: Outcome,
    before: &Incident,
    after: &Incident,
    error: Option<&str>,
) -> String {
    let (kind, channel) = (request.actor.kind.as_str(), request.actor.channel.as_str());
    let by = if kind == channel {
        format!("by {} ({channel})", request.actor.shown())
    } else {
        format!("by {} ({kind}, {channel})", request.actor.shown())
    };
    let what = match outcome {
        Outcome::Acknowledged => "acknowledged".to_string(),
        Outcome::ResolvedByPerson => "resolved".to_string(),
        Outcome::Reopened => "reopened".to_string(),
        Outcome::NotedByPerson => "note added".to_string(),
        Outcome::Snoozed => format!(
            "snoozed for {} (until {})",
            format_duration(request.duration.unwrap_or_default()),
            after
                .snoozed_until
                .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default()
        ),
        Outcome::SeverityChanged => format!(
            "severity {} -> {}",
            before.ownership.severity.as_str(),
            after.ownership.severity.as_str()
        ),
        Outcome::Owned => "ownership taken".to_string(),
        Outcome::Rejected => {
            return format!(
                "{} {by} refused: {}",
                request.kind.as_str(),
                error.unwrap_or("not allowed")
            )
        }
        _ => {
            return format!(
                "{} {by} changed nothing: the incident is already {}",
                request.kind.as_str(),
                ResponderState::of(before).as_str()
            )
        }
    };
    format!("{what} {by}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::action::{Actor, Channel};
    use crate::intake::{AlarmKind, AlarmState};
    use crate::ownership::from_tags;
    use chrono::TimeZone;

    fn t(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap()
    }

    pub(crate) fn incident(state: ResponderState) -> Incident {
        Incident {
            incident_id: "INC-1".into(),
            dedup_keys: vec!["arn:a".into()],
            status: if state == ResponderState::Resolved {
                IncidentStatus::Resolved
            } else {
                IncidentStatus::Open
            },
            title: "cpu".into(),
            alarm_arn: "arn:a".into(),
            alarm_kind: AlarmKind::Metric,
            account: None,
            region: None,
            ownership: from_tags(&[]),
            opened_at: t(0),
            opened_by_event: "e1".into(),
            resolved_at: (state == ResponderState::Resolved).then_some(t(5)),
            paged: true,
            paged_at: Some(t(0)),
            last_state: AlarmState::Alarm,
            last_state_at: t(0),
            updated_at: t(0),
            paged_routes: vec![Route::Production],
            resolution: (state == ResponderState::Resolved).then_some(Resolution::Recovered),
            page_delivered_at: None,
            acknowledged: (state == ResponderState::Acknowledged).then(|| Acknowledgement {
                by: "bob".into(),
                at: t(1),
                channel: Channel::Cli,
            }),
            owner: None,
            snoozed_until: None,
            last_resolved_at: (state == ResponderState::Resolved).then_some(t(5)),
            links_revoked_before: Default::default(),
        }
    }

    fn tracker(open: bool) -> KeyTracker {
        let mut tracker = KeyTracker::new("arn:a");
        tracker.version = 3;
        if open {
            tracker.open_incident = Some(OpenIncidentRef {
                incident_id: "INC-1".into(),
                paged: true,
                title: "cpu".into(),
                ownership: from_tags(&[]),
                opened_at: t(0),
                paged_routes: vec![Route::Production],
                snoozed_until: None,
            });
        }
        tracker
    }

    fn request(kind: ActionKind, channel: Channel) -> ActionRequest {
        ActionRequest {
            action_id: "a1".into(),
            incident_id: "INC-1".into(),
            kind,
            actor: Actor::new(
                "alice",
                if channel == Channel::Link {
                    ActorKind::Link
                } else {
                    ActorKind::CliLocal
                },
                channel,
            ),
            at: t(10),
            note: Some("looked".into()),
            duration: Some(std::time::Duration::from_secs(1800)),
            severity: Some(crate::severity::Severity::Low),
        }
    }

    #[test]
    fn acknowledge_records_who_when_and_through_what_once() {
        let plan = decide(
            &incident(ResponderState::Open),
            &tracker(true),
            &request(ActionKind::Acknowledge, Channel::Cli),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::Acknowledged);
        let ack = plan.incident.acknowledged.clone().unwrap();
        assert_eq!(
            (ack.by.as_str(), ack.at, ack.channel),
            ("alice", t(10), Channel::Cli)
        );
        assert_eq!(plan.tracker.version, 4);
        assert!(plan.lifecycle);
        let again = decide(
            &plan.incident,
            &plan.tracker,
            &request(ActionKind::Acknowledge, Channel::Cli),
            t(12),
        );
        assert_eq!(again.outcome, Outcome::Unchanged);
        assert!(again.update.is_none() && !again.lifecycle);
        assert_eq!(again.entry.kind, EntryKind::Action);
    }

    #[test]
    fn resolve_clears_the_trackers_open_incident_and_pages_the_paged_routes() {
        let plan = decide(
            &incident(ResponderState::Acknowledged),
            &tracker(true),
            &request(ActionKind::Resolve, Channel::Api),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::ResolvedByPerson);
        assert_eq!(plan.tracker.open_incident, None);
        assert_eq!(plan.page_routes, vec![Route::Production]);
        let update = plan.update.unwrap();
        assert_eq!(update.status, IncidentStatus::Resolved);
        assert_eq!(update.resolution, Some(Resolution::ResolvedByPerson));
        assert_eq!(update.resolved_at, Some(t(10)));
    }

    #[test]
    fn reopen_is_refused_while_a_newer_incident_is_open_and_says_which() {
        let mut newer = tracker(true);
        newer.open_incident.as_mut().unwrap().incident_id = "INC-2".into();
        let plan = decide(
            &incident(ResponderState::Resolved),
            &newer,
            &request(ActionKind::Reopen, Channel::Cli),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::Rejected);
        assert!(plan.error.unwrap().contains("INC-2 is open"));
        assert!(plan.update.is_none());
        let plan = decide(
            &incident(ResponderState::Resolved),
            &tracker(false),
            &request(ActionKind::Reopen, Channel::Cli),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::Reopened);
        assert_eq!(
            plan.tracker.open_incident.map(|o| o.incident_id),
            Some("INC-1".into())
        );
        assert_eq!(plan.update.unwrap().reopened, Some(t(0)));
        assert_eq!(plan.incident.resolution, None);
    }

    #[test]
    fn security_links_may_only_acknowledge_and_note() {
        let mut security = incident(ResponderState::Open);
        security.ownership.security = true;
        security.ownership.route = Route::Security;
        for kind in ActionKind::ALL {
            let plan = decide(
                &security,
                &tracker(true),
                &request(kind, Channel::Link),
                t(11),
            );
            if kind.allowed_by_security_link() {
                assert_ne!(plan.outcome, Outcome::Rejected, "{kind:?}");
            } else {
                assert_eq!(plan.outcome, Outcome::Rejected, "{kind:?}");
                assert!(plan.update.is_none(), "{kind:?}");
                assert!(plan.entry.summary.contains("refused"), "{kind:?}");
            }
            // The IAM API and the CLI may do everything the table allows.
            let plan = decide(
                &security,
                &tracker(true),
                &request(kind, Channel::Api),
                t(11),
            );
            assert_ne!(plan.outcome, Outcome::Rejected, "{kind:?}");
        }
    }

    #[test]
    fn a_security_route_link_is_restricted_whatever_the_incident() {
        // Not a security incident, but a runbook paged the security route with it.
        let plain = incident(ResponderState::Open);
        let mut resolve = request(ActionKind::Resolve, Channel::Link);
        resolve.actor.route = Some(Route::Security);
        let plan = decide(&plain, &tracker(true), &resolve, t(11));
        assert_eq!(plan.outcome, Outcome::Rejected);
        let mut note = request(ActionKind::Note, Channel::Link);
        note.actor.route = Some(Route::Security);
        assert_eq!(
            decide(&plain, &tracker(true), &note, t(11)).outcome,
            Outcome::NotedByPerson
        );
        // The production route's link may resolve it.
        resolve.actor.route = Some(Route::Production);
        assert_eq!(
            decide(&plain, &tracker(true), &resolve, t(11)).outcome,
            Outcome::ResolvedByPerson
        );
    }

    #[test]
    fn snooze_and_severity_reach_the_tracker_for_the_next_event() {
        let plan = decide(
            &incident(ResponderState::Open),
            &tracker(true),
            &request(ActionKind::Snooze, Channel::Cli),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::Snoozed);
        let until = t(10) + chrono::Duration::minutes(30);
        assert_eq!(
            plan.tracker.open_incident.unwrap().snoozed_until,
            Some(until)
        );
        assert!(plan.entry.summary.contains("snoozed for 30m"));
        let plan = decide(
            &incident(ResponderState::Open),
            &tracker(true),
            &request(ActionKind::Severity, Channel::Cli),
            t(11),
        );
        assert_eq!(plan.outcome, Outcome::SeverityChanged);
        assert_eq!(
            plan.tracker.open_incident.unwrap().ownership.severity,
            crate::severity::Severity::Low
        );
        assert!(plan.entry.summary.contains("high -> low"));
    }

    #[test]
    fn the_outcome_table_holds_for_every_action_and_state() {
        use Outcome::*;
        use ResponderState as S;
        let expected = [
            (
                ActionKind::Acknowledge,
                [Acknowledged, Unchanged, Unchanged],
            ),
            (
                ActionKind::Resolve,
                [ResolvedByPerson, ResolvedByPerson, Unchanged],
            ),
            (ActionKind::Reopen, [Unchanged, Unchanged, Reopened]),
            (
                ActionKind::Note,
                [NotedByPerson, NotedByPerson, NotedByPerson],
            ),
            (ActionKind::Snooze, [Snoozed, Snoozed, Unchanged]),
            (
                ActionKind::Severity,
                [SeverityChanged, SeverityChanged, SeverityChanged],
            ),
            (ActionKind::Own, [Owned, Owned, Unchanged]),
        ];
        for (kind, row) in expected {
            for (state, want) in S::ALL.into_iter().zip(row) {
                assert_eq!(outcome(kind, state, false), want, "{kind:?} on {state:?}");
                // And through decide, on a real record.
                let plan = decide(
                    &incident(state),
                    &tracker(state != S::Resolved),
                    &request(kind, Channel::Cli),
                    t(11),
                );
                assert_eq!(plan.outcome, want, "decide: {kind:?} on {state:?}");
            }
        }
        assert_eq!(outcome(ActionKind::Severity, S::Open, true), Unchanged);
        assert_eq!(outcome(ActionKind::Own, S::Open, true), Unchanged);
    }
}
