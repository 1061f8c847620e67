//! The IAM-authenticated JSON API (function URL with `AWS_IAM`; public contract,
//! docs/RESPONDERS.md "The API"):
//!
//! | request                              | answer                                          |
//! |--------------------------------------|-------------------------------------------------|
//! | `GET /incidents`                     | `{"incidents": [incident without timeline]}`   |
//! | `GET /incidents/{id}`                | the incident with its timeline                  |
//! | `GET /incidents/{id}/export`         | the full action audit                           |
//! | `POST /incidents/{id}/actions`       | `{"outcome", "status", "action_id", "error", "incident"}` |
//! | `POST /incidents/{id}/revoke-links`  | `{"revoked": true}`                             |
//!
//! The actor is the caller's IAM principal from the request context; a request without it
//! is refused (403) whatever else it carries.

use serde_json::json;

use super::form::{api_request_as, ApiAction};
use super::view::{action_answer_json, export_json, incident_json, incident_summary_json};
use super::{segments, HttpRequest, HttpResponse, MAX_BODY_BYTES};
use crate::action::ActorKind;
use crate::engine::Engine;
use crate::error::KlaxonError;
use crate::model::Outcome;
use crate::ports::{IncidentStore, LifecycleBus, Lookups, Pager};
use crate::route::Route;

pub async fn serve<S: IncidentStore, P: Pager, B: LifecycleBus, L: Lookups>(
    engine: &Engine<S, P, B, L>,
    request: &HttpRequest,
) -> Result<HttpResponse, KlaxonError> {
    let Some(principal) = request.principal.as_deref().filter(|p| !p.is_empty()) else {
        tracing::warn!("API request without an IAM identity refused");
        return Ok(error(
            403,
            "no IAM identity in the request context: the API's function URL must use AuthType AWS_IAM, and requests must be signed with SigV4",
        ));
    };
    let store = engine.store();
    let parts = segments(&request.path);
    match (request.method.as_str(), parts.as_slice()) {
        ("GET", ["incidents"]) => {
            let incidents = store.open_incidents().await?;
            Ok(HttpResponse::json(
                200,
                &json!({"incidents": incidents.iter().map(incident_summary_json).collect::<Vec<_>>()}),
            ))
        }
        ("GET", ["incidents", id]) => match store.incident(id).await? {
            Some(incident) => {
                let timeline = store.timeline(id).await?;
                Ok(HttpResponse::json(
                    200,
                    &incident_json(&incident, &timeline),
                ))
            }
            None => Ok(unknown(id)),
        },
        ("GET", ["incidents", id, "export"]) => match store.incident(id).await? {
            Some(incident) => {
                let (timeline, steps) =
                    tokio::try_join!(store.timeline(id), store.step_entries(id))?;
                Ok(HttpResponse::json(
                    200,
                    &export_json(&incident, &timeline, &steps),
                ))
            }
            None => Ok(unknown(id)),
        },
        ("POST", ["incidents", id, "actions"]) => {
            let body: ApiAction = match parse_body(request) {
                Ok(b) => b,
                Err(why) => return Ok(error(400, &why)),
            };
            let key = request.headers.get("idempotency-key").map(String::as_str);
            // On a local run the handler verified the signature itself: not an IAM caller.
            let kind = if request.local_caller {
                ActorKind::CliLocal
            } else {
                ActorKind::Iam
            };
            let action = match api_request_as(
                body,
                key,
                id,
                (principal, kind),
                request.source_ip.clone(),
                engine.now(),
            ) {
                Ok(a) => a,
                Err(why) => return Ok(error(400, &why)),
            };
            let report = engine.act(action).await?;
            let why = report.error.as_deref().unwrap_or_default();
            let status = match report.outcome {
                Outcome::Rejected if why.starts_with("unknown incident") => 404,
                Outcome::Rejected
                    if why.starts_with("cannot reopen") || why.starts_with("action id") =>
                {
                    409
                }
                Outcome::Rejected => 400,
                _ => 200,
            };
            Ok(HttpResponse::json(status, &action_answer_json(&report)))
        }
        ("POST", ["incidents", id, "revoke-links"]) => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Revoke {
                #[serde(default)]
                route: Option<Route>,
            }
            let body: Revoke = if request.body.is_empty() {
                Revoke { route: None }
            } else {
                match parse_body(request) {
                    Ok(b) => b,
                    Err(why) => return Ok(error(400, &why)),
                }
            };
            if store.revoke_links(id, body.route, engine.now()).await? {
                tracing::info!(incident_id = %crate::text::for_log(id), route = ?body.route, by = %crate::text::for_log(principal), "links revoked");
                Ok(HttpResponse::json(200, &json!({"revoked": true})))
            } else {
                Ok(unknown(id))
            }
        }
        (_, ["incidents", ..]) => Ok(error(405, "method not allowed here")),
        _ => Ok(error(
            404,
            "no such resource: see docs/RESPONDERS.md for the API",
        )),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, String> {
    if request.body.len() > MAX_BODY_BYTES {
        return Err(format!("the body is larger than {MAX_BODY_BYTES} bytes"));
    }
    serde_json::from_slice(&request.body).map_err(|e| {
        format!(
            "the body is not a valid action: {}",
            crate::text::bounded(&crate::text::single_line(&e.to_string()), 300)
        )
    })
}

fn unknown(id: &str) -> HttpResponse {
    error(
        404,
        &format!("unknown incident {}", crate::text::for_log(id)),
    )
}

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, &json!({"error": message}))
}
