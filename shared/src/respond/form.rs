//! The incident page's form, and the API's action body, turned into an action request.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::action::{
    parse_duration, valid_action_id, ActionKind, ActionRequest, Actor, ActorKind, Channel,
};
use crate::route::Route;
use crate::severity::Severity;

/// Longest name a link holder may give.
pub const MAX_NAME_CHARS: usize = 100;

/// A form's fields, decoded (`application/x-www-form-urlencoded`).
#[derive(Debug, Default)]
pub struct Form {
    pub nonce: String,
    pub name: String,
    pub action: String,
    pub note: Option<String>,
    pub duration: Option<String>,
    pub severity: Option<String>,
}

pub fn decode_form(body: &[u8]) -> Form {
    let mut form = Form::default();
    for (key, value) in form_urlencoded::parse(body) {
        let value = value.into_owned();
        match key.as_ref() {
            "nonce" => form.nonce = value,
            "name" => form.name = value,
            "action" => form.action = value,
            "note" => form.note = Some(value),
            "duration" => form.duration = Some(value),
            "severity" => form.severity = Some(value),
            // Unknown fields are ignored, as browsers may add their own.
            _ => {}
        }
    }
    form
}

/// A link holder's request: the name as given, the link's route, the caller's address.
/// Each button's action id is `nonce:action`, so a resubmitted form applies once and
/// another button on the same rendering is its own action.
pub fn link_request(
    form: Form,
    incident_id: &str,
    route: Route,
    source_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<ActionRequest, String> {
    let kind = ActionKind::parse(&form.action)
        .ok_or_else(|| "choose an action with one of the buttons".to_string())?;
    if !valid_action_id(&form.nonce) || form.nonce.len() > 64 {
        return Err("the form is incomplete: load the page again".into());
    }
    let name: String = form.name.trim().chars().take(MAX_NAME_CHARS).collect();
    if name.is_empty() {
        return Err("give your name: it is recorded with the action".into());
    }
    let mut actor = Actor::new(&name, ActorKind::Link, Channel::Link);
    actor.route = Some(route);
    actor.source_ip = source_ip;
    Ok(ActionRequest {
        action_id: format!("{}:{}", form.nonce, kind.as_str()),
        incident_id: incident_id.to_string(),
        kind,
        actor,
        at: now,
        note: form.note.filter(|n| !n.trim().is_empty()),
        duration: match (kind, form.duration.as_deref()) {
            (ActionKind::Snooze, Some(d)) => Some(parse_duration(d).map_err(|e| e.to_string())?),
            _ => None,
        },
        severity: match (kind, form.severity.as_deref()) {
            (ActionKind::Severity, Some(s)) => Some(Severity::parse(s).ok_or_else(|| {
                format!(
                    "unknown severity `{}`",
                    crate::text::bounded(&crate::text::single_line(s), 32)
                )
            })?),
            _ => None,
        },
    })
}

/// The API's action body (`POST /incidents/{id}/actions`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiAction {
    pub action: String,
    #[serde(default)]
    pub action_id: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub duration: Option<String>,
    #[serde(default)]
    pub severity: Option<String>,
}

/// An IAM caller's request. The action id: the `Idempotency-Key` header, else the body's
/// `action_id`, else a new one (a new action).
pub fn api_request(
    body: ApiAction,
    idempotency_key: Option<&str>,
    incident_id: &str,
    principal: &str,
    source_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<ActionRequest, String> {
    api_request_as(
        body,
        idempotency_key,
        incident_id,
        (principal, ActorKind::Iam),
        source_ip,
        now,
    )
}

/// As [`api_request`], for a caller of the given kind (`cli-local` on local runs).
pub fn api_request_as(
    body: ApiAction,
    idempotency_key: Option<&str>,
    incident_id: &str,
    (principal, kind): (&str, ActorKind),
    source_ip: Option<String>,
    now: DateTime<Utc>,
) -> Result<ActionRequest, String> {
    let mut actor = Actor::new(principal, kind, Channel::Api);
    actor.source_ip = source_ip;
    body_request(body, idempotency_key, incident_id, actor, now)
}

/// An action body (the API's, or the CLI's on the embedded backend) by `actor` at `at`.
pub fn body_request(
    body: ApiAction,
    idempotency_key: Option<&str>,
    incident_id: &str,
    actor: Actor,
    at: DateTime<Utc>,
) -> Result<ActionRequest, String> {
    let kind = ActionKind::parse(&body.action).ok_or_else(|| {
        format!(
            "`action` is `{}`: expected one of acknowledge, resolve, reopen, note, snooze, severity, own",
            crate::text::bounded(&crate::text::single_line(&body.action), 32)
        )
    })?;
    Ok(ActionRequest {
        action_id: idempotency_key
            .map(str::to_string)
            .or(body.action_id)
            .unwrap_or_else(crate::action::new_action_id),
        incident_id: incident_id.to_string(),
        kind,
        actor,
        at,
        note: body.note,
        duration: body
            .duration
            .as_deref()
            .map(|d| parse_duration(d).map_err(|e| format!("`duration`: {e}")))
            .transpose()?,
        severity: body
            .severity
            .as_deref()
            .map(|s| {
                Severity::parse(s).ok_or_else(|| {
                    "`severity`: expected one of critical, high, medium, low, info".to_string()
                })
            })
            .transpose()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_a_link_request_with_a_per_button_action_id() {
        let form =
            decode_form(b"nonce=abc123&name=Ana%20P%C3%A9rez&action=snooze&duration=30m&note=");
        let now = Utc::now();
        let r = link_request(
            form,
            "INC-1",
            Route::Security,
            Some("192.0.2.1".into()),
            now,
        )
        .unwrap();
        assert_eq!(r.action_id, "abc123:snooze");
        assert_eq!(r.actor.name, "Ana Pérez");
        assert_eq!(r.actor.kind, ActorKind::Link);
        assert_eq!(r.actor.route, Some(Route::Security));
        assert_eq!(r.duration, Some(std::time::Duration::from_secs(1800)));
        assert_eq!(r.note, None);
        for (body, why) in [
            (&b"nonce=a&name=&action=acknowledge"[..], "give your name"),
            (b"nonce=&name=x&action=acknowledge", "incomplete"),
            (b"nonce=a&name=x&action=delete", "choose an action"),
            (
                b"nonce=a&name=x&action=snooze&duration=1w",
                "not a duration",
            ),
        ] {
            let err =
                link_request(decode_form(body), "INC-1", Route::Production, None, now).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }

    #[test]
    fn a_form_name_is_cut_at_100_characters() {
        let body = format!("nonce=a&name={}&action=acknowledge", "é".repeat(300));
        let r = link_request(
            decode_form(body.as_bytes()),
            "INC-1",
            Route::Production,
            None,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(r.actor.name.chars().count(), MAX_NAME_CHARS);
    }

    #[test]
    fn the_api_takes_the_idempotency_key_first() {
        let body: ApiAction =
            serde_json::from_str(r#"{"action":"acknowledge","action_id":"b"}"#).unwrap();
        let r = api_request(
            body,
            Some("k"),
            "INC-1",
            "arn:aws:iam::1:user/ana",
            None,
            Utc::now(),
        )
        .unwrap();
        assert_eq!(r.action_id, "k");
        assert_eq!(r.actor.kind, ActorKind::Iam);
        assert_eq!(r.actor.channel, Channel::Api);
        let body: ApiAction = serde_json::from_str(r#"{"action":"note","note":"x"}"#).unwrap();
        let r = api_request(body, None, "INC-1", "p", None, Utc::now()).unwrap();
        assert_eq!(r.action_id.len(), 32, "a new action");
        assert!(serde_json::from_str::<ApiAction>(r#"{"action":"note","colour":1}"#).is_err());
    }
}
