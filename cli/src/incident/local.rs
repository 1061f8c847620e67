//! `klaxon incident … --state PATH`: the embedded backend, as `klaxon replay --state` left
//! it. The actor is `local:<user>` (kind `cli-local`, channel `cli`); the action's time is
//! `--at` or the state's clock, and the clock moves to it when later.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use klaxon::action::{Actor, ActorKind, Channel};
use klaxon::ports::IncidentStore;
use klaxon::respond::form::{body_request, ApiAction};
use klaxon::respond::view::{
    action_answer_json, export_json, incident_json, incident_summary_json,
};
use serde_json::json;

use super::{Answer, Command};
use crate::state::StateFile;

pub async fn run(path: &Path, command: &Command) -> Result<Answer, String> {
    let (file, backend) = StateFile::open(path)?;
    let backend = backend.ok_or_else(|| {
        format!(
            "{} does not exist: create it with `klaxon replay --state {} EVENT.json…`",
            path.display(),
            path.display()
        )
    })?;
    let catalog = klaxon::runbook::Catalog::embedded()
        .map_err(|_| "the built-in runbooks are invalid".to_string())?;
    let engine = klaxon::memory::engine_on(
        backend.clone(),
        klaxon::memory::embedded_settings(),
        Arc::new(catalog),
    );
    let store = engine.store();
    let failed = |e: klaxon::error::KlaxonError| e.to_string();
    let unknown = |id: &str| format!("unknown incident {}", klaxon::text::for_log(id));
    let answer = match command {
        Command::List => Answer::Incidents(
            store
                .open_incidents()
                .await
                .map_err(failed)?
                .iter()
                .map(incident_summary_json)
                .collect(),
        ),
        Command::Show { incident } => {
            let (record, timeline) = with_timeline(store, incident).await?;
            Answer::Incident(incident_json(&record, &timeline))
        }
        Command::Export { incident, .. } => {
            let (record, timeline) = with_timeline(store, incident).await?;
            let steps = store.step_entries(incident).await.map_err(failed)?;
            Answer::Export(export_json(&record, &timeline, &steps))
        }
        Command::RevokeLinks { incident, route } => {
            let route = route
                .as_deref()
                .map(|r| {
                    serde_json::from_value(json!(r)).map_err(|_| {
                        format!("unknown route `{r}`: production, test, security or ops")
                    })
                })
                .transpose()?;
            let now = backend.clock().unwrap_or_else(Utc::now);
            if !store
                .revoke_links(incident, route, now)
                .await
                .map_err(failed)?
            {
                return Err(unknown(incident));
            }
            Answer::Revoked
        }
        other => {
            let call = other.action().expect("every other command is an action");
            let body: ApiAction = serde_json::from_value(call.body).map_err(|e| e.to_string())?;
            let at = match call.at.as_deref() {
                Some(text) => {
                    let at = DateTime::parse_from_rfc3339(text)
                        .map_err(|_| format!("--at `{text}` is not an RFC 3339 time"))?
                        .with_timezone(&Utc);
                    backend.advance_to(at);
                    at
                }
                // A state without a clock (no event yet) starts at the wall clock.
                None => backend.clock().unwrap_or_else(Utc::now),
            };
            backend.advance_to(at);
            let actor = Actor::new(&local_user(), ActorKind::CliLocal, Channel::Cli);
            let request = body_request(body, None, &call.incident, actor, at)?;
            let report = engine.act(request).await.map_err(failed)?;
            Answer::Acted(action_answer_json(&report))
        }
    };
    // Reads leave the file as it was; actions and revocations write it.
    if !matches!(
        command,
        Command::List | Command::Show { .. } | Command::Export { .. }
    ) {
        file.save(&backend)?;
    }
    Ok(answer)
}

/// An incident and its timeline, or why not.
async fn with_timeline(
    store: &klaxon::memory::MemoryBackend,
    id: &str,
) -> Result<(klaxon::model::Incident, Vec<klaxon::model::TimelineEntry>), String> {
    let record = store
        .incident(id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("unknown incident {}", klaxon::text::for_log(id)))?;
    let timeline = store.timeline(id).await.map_err(|e| e.to_string())?;
    Ok((record, timeline))
}

/// `local:<user>`: the account this klaxon runs as, as the environment names it.
fn local_user() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(uid);
    format!("local:{user}")
}

#[cfg(unix)]
fn uid() -> String {
    // SAFETY: getuid has no preconditions and cannot fail.
    format!("uid{}", unsafe { libc::getuid() })
}

#[cfg(not(unix))]
fn uid() -> String {
    "unknown".into()
}
