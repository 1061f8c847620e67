//! The incident page behind a page's link: `GET /i/{incident}/{token}` shows it and never
//! changes anything (mail scanners follow every link); `POST` to the same address acts.
//! A malformed, unknown, tampered, expired, revoked or wrong-incident token gets the same
//! plain refusal, and no log line carries the token.

use super::form::{decode_form, link_request};
use super::page::{incident_page, refused_page, PageInput, ResultNote};
use super::{segments, HttpRequest, HttpResponse, MAX_BODY_BYTES};
use crate::engine::Engine;
use crate::error::KlaxonError;
use crate::link::{token_hash, validity, well_formed, Refusal};
use crate::model::{LinkRecord, Outcome};
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};

/// Serves one request to the incident page. Errors are failures to read or write the
/// table (the handler answers 503 and logs them); refusals are responses.
pub async fn serve<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups>(
    engine: &Engine<S, P, B, L>,
    request: &HttpRequest,
) -> Result<HttpResponse, KlaxonError> {
    let parts = segments(&request.path);
    // `…/i/{incident}/{token}`: the last three segments, whatever prefix a custom domain's
    // path adds.
    let (incident_id, token) = match parts.as_slice() {
        [.., "i", incident, token] => (*incident, *token),
        _ => return Ok(refuse(Refusal::Malformed)),
    };
    if !well_formed(token) {
        return Ok(refuse(Refusal::Malformed));
    }
    let store = engine.store();
    let record = store.link(&token_hash(token)).await?;
    let incident = match &record {
        Some(r) if r.incident_id == incident_id => store.incident(incident_id).await?,
        _ => None,
    };
    let now = engine.now();
    let ttl =
        chrono::Duration::from_std(engine.settings().link_ttl).unwrap_or(chrono::Duration::MAX);
    if let Err(why) = validity(record.as_ref(), incident.as_ref(), incident_id, now, ttl) {
        return Ok(refuse(why));
    }
    let record = record.expect("valid links have a record");
    match request.method.as_str() {
        // The incident as just read: a GET costs the link, the incident, its timeline and
        // its step entries (4 reads).
        "GET" | "HEAD" => render(engine, incident_id, record.route, None, incident).await,
        "POST" => act(engine, request, &record).await,
        _ => {
            let mut response = HttpResponse::html(405, refused_page());
            response
                .headers
                .push(("allow".into(), "GET, HEAD, POST".into()));
            Ok(response)
        }
    }
}

async fn act<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups>(
    engine: &Engine<S, P, B, L>,
    request: &HttpRequest,
    link: &LinkRecord,
) -> Result<HttpResponse, KlaxonError> {
    let form_type = request
        .headers
        .get("content-type")
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form_type || request.body.len() > MAX_BODY_BYTES {
        return Ok(HttpResponse::html(400, refused_page()));
    }
    let parsed = link_request(
        decode_form(&request.body),
        &link.incident_id,
        link.route,
        request.source_ip.clone(),
        engine.now(),
    );
    // The incident as the action left it, so that the page needs no second read of it.
    let (note, known) = match parsed {
        Err(why) => (
            ResultNote {
                message: format!("Nothing was done: {why}."),
                class: "refused",
            },
            None,
        ),
        Ok(action) => {
            let kind = action.kind;
            let report = engine.act(action).await?;
            let note = result_note(kind, report.outcome, report.error.as_deref());
            (note, report.action.and_then(|a| a.incident).map(|i| *i))
        }
    };
    // The action is decided: a page that cannot be read back now still says what happened.
    match render(
        engine,
        &link.incident_id,
        link.route,
        Some(note.clone()),
        known,
    )
    .await
    {
        Ok(page) => Ok(page),
        Err(e) => {
            tracing::warn!(error = %e, "action answered without the page (read failed)");
            Ok(HttpResponse::html(
                200,
                format!(
                    "<!doctype html><html lang=\"en\"><title>Klaxon</title><div role=\"status\">{}</div><p>Reload to see the incident.</p></html>",
                    crate::text::html_escape(&note.message)
                ),
            ))
        }
    }
}

/// What the `role=status` region announces after an action.
fn result_note(
    kind: crate::action::ActionKind,
    outcome: Outcome,
    error: Option<&str>,
) -> ResultNote {
    // An applied action whose messages could not all go out yet says so after its result.
    let done = |message: &str| ResultNote {
        message: match error {
            Some(why) => format!("{message} But: {why}."),
            None => message.to_string(),
        },
        class: "done",
    };
    match outcome {
        Outcome::Acknowledged => done("Acknowledged. The timeline below records it."),
        Outcome::ResolvedByPerson => done("Resolved. Everyone paged is told."),
        Outcome::Reopened => done("Reopened."),
        Outcome::NotedByPerson => done("Note added."),
        Outcome::Snoozed => done("Snoozed: no repeat pages until it ends."),
        Outcome::SeverityChanged => done("Severity changed."),
        Outcome::Owned => done("You own this incident now."),
        Outcome::Unchanged => done(&format!(
            "Nothing changed: {} does not apply to the incident as it is now.",
            kind.as_str()
        )),
        _ => ResultNote {
            message: format!("Not done: {}.", error.unwrap_or("the action was refused")),
            class: "refused",
        },
    }
}

/// The page; `known`: the incident when it was just read (else it is read, as after an
/// action).
async fn render<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups>(
    engine: &Engine<S, P, B, L>,
    incident_id: &str,
    route: crate::route::Route,
    result: Option<ResultNote>,
    known: Option<crate::model::Incident>,
) -> Result<HttpResponse, KlaxonError> {
    let store = engine.store();
    let read_incident = async {
        match known {
            Some(incident) => Ok(Some(incident)),
            None => store.incident(incident_id).await,
        }
    };
    let (incident, timeline, steps) = tokio::try_join!(
        read_incident,
        store.timeline(incident_id),
        store.step_entries(incident_id),
    )?;
    let Some(incident) = incident else {
        return Ok(refuse(Refusal::Unknown));
    };
    let nonce = crate::action::new_action_id();
    let html = incident_page(PageInput {
        incident: &incident,
        timeline: &timeline,
        steps: &steps,
        now: engine.now(),
        nonce: &nonce,
        route: Some(route),
        result,
    });
    Ok(HttpResponse::html(200, html))
}

fn refuse(why: Refusal) -> HttpResponse {
    // The reason is logged for operators; the token never is, and the page says nothing.
    tracing::info!(refusal = why.as_str(), "link refused");
    HttpResponse::html(404, refused_page())
}
