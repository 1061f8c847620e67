//! What a responder's action sends: its lifecycle event on the Klaxon bus (docs/CONTRACTS.md
//! (d), the action additions), and for a resolve, the page that tells the routes a person
//! resolved it.

use serde_json::{json, Value};

use super::lifecycle::{as_object, ownership_detail};

use super::page::attributes;
use super::{MAX_MESSAGE_BYTES, SMS_LINE_BYTES};
use crate::action::{ActionKind, ActionRequest, ActorKind};
use crate::model::{Incident, LifecycleEvent, Notification, Outcome, Transition};
use crate::route::Route;
use crate::text;

/// The detail-type of each action's lifecycle event (public contract).
pub fn action_detail_type(kind: ActionKind) -> &'static str {
    match kind {
        ActionKind::Acknowledge => "Incident Acknowledged",
        ActionKind::Resolve => "Incident Resolved",
        ActionKind::Reopen => "Incident Reopened",
        ActionKind::Note => "Incident Note Added",
        ActionKind::Snooze => "Incident Snoozed",
        ActionKind::Severity => "Incident Severity Changed",
        ActionKind::Own => "Incident Owner Changed",
    }
}

/// Schema "1" with additions only: the fields every lifecycle event has, then `actor`,
/// `actor_kind`, `channel`, `action` and `acknowledged`. `event_id` is the action id.
pub fn action_lifecycle(
    incident: &Incident,
    request: &ActionRequest,
    outcome: Outcome,
) -> LifecycleEvent {
    let o = &incident.ownership;
    let transition = if outcome == Outcome::ResolvedByPerson {
        Transition::Resolved
    } else {
        Transition::Updated
    };
    let actor = o.shown(request.actor.shown());
    let summary = o.shown(format!(
        "{} {} {}: {} {} by {}",
        o.severity.as_str().to_ascii_uppercase(),
        if o.security {
            "security"
        } else {
            o.environment.as_str()
        },
        incident.incident_id,
        incident.title,
        verb(outcome),
        actor
    ));
    let dedup_key = incident.dedup_keys.first().cloned().unwrap_or_default();
    let mut detail = ownership_detail(o, &summary);
    detail.extend(as_object(json!({
        "incident_id": incident.incident_id,
        "dedup_key": text::for_log(&dedup_key),
        "transition": transition.as_str(),
        "outcome": outcome.as_str(),
        "status": incident.status.as_str(),
        "source": "klaxon",
        "paged": incident.paged,
        "resolution": incident.resolution.map(|r| r.as_str()),
        "alarm": {
            "name": o.shown(incident.title.clone()),
            "arn": text::for_log(&incident.alarm_arn),
            "kind": incident.alarm_kind,
            "state": incident.last_state.as_str(),
            "state_timestamp": incident.last_state_at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "previous_state": null,
            "actions_suppressed_by": null,
        },
        "event_id": request.action_id,
        "actor": actor,
        "actor_kind": request.actor.kind.as_str(),
        "channel": request.actor.channel.as_str(),
        "action": request.kind.as_str(),
        "acknowledged": incident.acknowledged.as_ref().map(|a| json!({
            "by": o.shown(a.by.clone()),
            "at": a.at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "channel": a.channel.as_str(),
        })),
    })));
    LifecycleEvent {
        source: None,
        detail_type: action_detail_type(request.kind).to_string(),
        resources: vec![text::bounded(&text::single_line(&dedup_key), 1600)],
        detail: Value::Object(detail),
    }
}

fn verb(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Acknowledged => "acknowledged",
        Outcome::ResolvedByPerson => "resolved",
        Outcome::Reopened => "reopened",
        Outcome::NotedByPerson => "annotated",
        Outcome::Snoozed => "snoozed",
        Outcome::SeverityChanged => "severity changed",
        Outcome::Owned => "owned",
        _ => "unchanged",
    }
}

/// The page that tells `route` a person resolved the incident: like a recovery page, but
/// it says who, through what, and that the source may still be firing.
pub fn resolved_by_person_page(
    incident: &Incident,
    request: &ActionRequest,
    route: Route,
) -> Notification {
    let o = &incident.ownership;
    let scope = if o.security {
        "security"
    } else {
        o.environment.as_str()
    };
    // Short in the subject and the SMS line, and a link holder's name always marked: a
    // name as given must not pass for Klaxon's own words on every paged phone.
    let actor = match request.actor.kind {
        ActorKind::Link => format!("{} (name as given)", text::bounded(&request.actor.name, 24)),
        _ => text::bounded(&request.actor.name, 64),
    };
    let subject = text::sns_subject(&o.shown(format!(
        "[RESOLVED][{scope}] {} resolved by {actor}",
        incident.title
    )));
    // The incident id comes first, the actor's (possibly long) name last, so that the cut
    // keeps what and which.
    let sms = text::bounded(
        &o.shown(format!(
            "RESOLVED {} {}: {} resolved by a person ({actor})",
            text::bounded(scope, 24),
            incident.incident_id,
            text::bounded(&incident.title, 64),
        )),
        SMS_LINE_BYTES,
    );
    let mut body = String::new();
    body.push_str(&sms);
    body.push_str("\n\n");
    let mut line = |label: &str, value: &str| body.push_str(&format!("{label:<12} {value}\n"));
    line("Incident:", &incident.incident_id);
    line("Transition:", "resolved");
    line("Resolved by:", &request.actor.shown());
    line(
        "Through:",
        &format!(
            "{} ({})",
            request.actor.channel.as_str(),
            request.actor.kind.as_str()
        ),
    );
    line(
        "At:",
        &request.at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    );
    line(
        "Source:",
        &format!(
            "last {} at {}: a person resolved it, the source may still say so",
            incident.last_state.as_str(),
            incident.last_state_at.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        ),
    );
    line("Severity:", o.severity.as_str());
    line("Environment:", &o.environment);
    if let Some(note) = &request.note {
        body.push_str("\nNote (from the responder, quoted):\n");
        body.push_str(&text::quoted_block(note, 4096));
        body.push('\n');
    }
    let mut ownership = o.clone();
    ownership.route = route;
    Notification {
        route,
        transition: Transition::Resolved,
        subject,
        message: text::bounded(&o.shown(body), MAX_MESSAGE_BYTES),
        attributes: attributes(&ownership, &incident.incident_id, Transition::Resolved),
        email_message: None,
        produced_by: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::{Actor, ActorKind, Channel};
    use crate::plan::action::{decide, ResponderState};
    use chrono::Utc;

    fn hostile_request(kind: ActionKind) -> ActionRequest {
        ActionRequest {
            action_id: "n-1".into(),
            incident_id: "INC-1".into(),
            kind,
            actor: Actor::new(
                "<script>alert(1)</script> <!channel> 10.0.0.1",
                ActorKind::Link,
                Channel::Link,
            ),
            at: Utc::now(),
            note: Some("call +1 555 0100\n</pre><img src=x onerror=alert(1)>".into()),
            duration: None,
            severity: None,
        }
    }

    fn security_incident() -> Incident {
        let mut incident = crate::plan::action::tests::incident(ResponderState::Open);
        incident.ownership.security = true;
        incident.ownership.route = Route::Security;
        incident
    }

    #[test]
    fn the_event_adds_who_and_through_what_to_schema_1() {
        let incident = crate::plan::action::tests::incident(ResponderState::Open);
        let request = hostile_request(ActionKind::Acknowledge);
        let tracker = crate::model::KeyTracker::new("arn:a");
        let plan = decide(&incident, &tracker, &request, Utc::now());
        let event = action_lifecycle(&plan.incident, &request, plan.outcome);
        assert_eq!(event.detail_type, "Incident Acknowledged");
        let d = &event.detail;
        assert_eq!(d["version"], "1");
        assert_eq!(d["event_id"], "n-1");
        assert_eq!(d["actor_kind"], "link");
        assert_eq!(d["channel"], "link");
        assert_eq!(d["action"], "acknowledge");
        assert_eq!(d["status"], "open");
        assert_eq!(d["outcome"], "acknowledged");
        assert_eq!(d["acknowledged"]["channel"], "link");
        assert!(d["actor"].as_str().unwrap().ends_with("(name as given)"));
        let chat = d["text"]["chat"].as_str().unwrap();
        assert!(!chat.contains('<'), "{chat}");
        assert!(!d["text"]["html"].as_str().unwrap().contains("<script"));
    }

    #[test]
    fn a_link_holders_name_is_short_and_marked_in_the_sms_line_and_subject() {
        let incident = crate::plan::action::tests::incident(ResponderState::Open);
        let mut request = hostile_request(ActionKind::Resolve);
        request.actor = Actor::new(
            &format!(
                "ALL CLEAR verify at https://evil.example/{}",
                "x".repeat(80)
            ),
            ActorKind::Link,
            Channel::Link,
        );
        let page = resolved_by_person_page(&incident, &request, Route::Production);
        let first = page.message.lines().next().unwrap();
        assert!(first.ends_with("(name as given))"), "{first}");
        assert!(first.len() <= SMS_LINE_BYTES, "{first}");
        assert!(page.subject.contains("(name as given)"), "{}", page.subject);
    }

    #[test]
    fn security_actions_carry_no_addresses_in_any_text() {
        let incident = security_incident();
        let request = hostile_request(ActionKind::Note);
        let event = action_lifecycle(&incident, &request, Outcome::NotedByPerson);
        assert!(
            !event.detail.to_string().contains("10.0.0.1"),
            "{}",
            event.detail
        );
        let page = resolved_by_person_page(&incident, &request, Route::Security);
        assert!(!page.message.contains("10.0.0.1"), "{}", page.message);
        assert!(!page.subject.contains("10.0.0.1"));
    }

    #[test]
    fn the_resolve_page_says_a_person_resolved_it_within_one_sms_line() {
        let incident = crate::plan::action::tests::incident(ResponderState::Open);
        let mut request = hostile_request(ActionKind::Resolve);
        request.actor = Actor::new(&"x".repeat(400), ActorKind::Iam, Channel::Api);
        let page = resolved_by_person_page(&incident, &request, Route::Production);
        let first = page.message.lines().next().unwrap();
        assert!(first.len() <= SMS_LINE_BYTES, "{first}");
        assert!(
            first.starts_with("RESOLVED production INC-1: cpu resolved by a person"),
            "{first}"
        );
        assert_eq!(page.attributes["transition"], "resolved");
        // The note is quoted, line by line, never raw.
        assert!(page.message.contains("> </pre><img"), "{}", page.message);
    }
}
