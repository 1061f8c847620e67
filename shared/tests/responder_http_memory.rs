//! The responder's HTTP surface on the in-memory backend: links taken from delivered pages,
//! GET that changes nothing, POST that acts once, every kind of bad token refused alike,
//! the security route's link rule, the IAM API's identity rule, and escaping.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use klaxon::memory::{MemoryBackend, MemoryEngine};
use klaxon::model::{IncidentStatus, Outcome};
use klaxon::ports::IncidentStore;
use klaxon::respond::{api, links, HttpRequest, HttpResponse};
use serde_json::Value;

const BASE: &str = "https://incidents.example.com/";

fn setup() -> (MemoryBackend, Arc<MemoryEngine>) {
    let mut settings = klaxon::memory::embedded_settings();
    settings.responder_url = Some(BASE.into());
    let (backend, engine) = klaxon::memory::engine(settings);
    backend.set_now("2026-12-01T10:00:00Z".parse().unwrap());
    (backend, Arc::new(engine))
}

fn sample(path: &str) -> Value {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(path);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// Opens an incident from a sample and returns its id and the path of the link its page
/// carried (second line of the delivered message).
async fn opened(backend: &MemoryBackend, engine: &MemoryEngine, file: &str) -> (String, String) {
    let report = engine.handle_value(&sample(file)).await.unwrap();
    assert_eq!(report.outcome, Outcome::Opened, "{file}");
    let id = report.incident_id.unwrap();
    let page = backend
        .published()
        .into_iter()
        .rev()
        .find(|p| p.notification.attributes["incident_id"] == id)
        .expect("a page went out");
    let line = page
        .notification
        .message
        .lines()
        .nth(1)
        .unwrap()
        .to_string();
    assert!(
        line.starts_with(BASE),
        "the link is the second line: {line}"
    );
    assert!(page.notification.message.lines().next().unwrap().len() <= 140);
    (id, format!("/{}", &line[BASE.len()..]))
}

fn get(path: &str) -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: path.into(),
        ..Default::default()
    }
}

fn post_form(path: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".into(),
        path: path.into(),
        headers: BTreeMap::from([(
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )]),
        body: body.as_bytes().to_vec(),
        source_ip: Some("198.51.100.7".into()),
        ..Default::default()
    }
}

async fn serve(engine: &MemoryEngine, request: &HttpRequest) -> HttpResponse {
    links::serve(engine, request).await.unwrap()
}

fn assert_refused(response: &HttpResponse, what: &str) {
    assert_eq!(response.status, 404, "{what}");
    assert!(response.body.contains("This link does not work"), "{what}");
    assert!(
        !response.body.contains("INC-"),
        "{what}: the refusal reveals nothing"
    );
}

#[tokio::test]
async fn get_shows_the_page_with_safe_headers_and_changes_nothing() {
    let (backend, engine) = setup();
    let (id, path) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let before = backend.snapshot();
    let response = serve(&engine, &get(&path)).await;
    assert_eq!(response.status, 200);
    assert!(response.body.contains(&id));
    assert!(response.body.contains("Open, not acknowledged"));
    assert!(response.body.contains("role=\"status\""));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
    let csp = response.header("content-security-policy").unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert!(!response.body.contains("<script"));
    // Forms post back to the page itself: no action attribute, nothing absolute.
    assert!(response.body.contains("<form method=\"post\">"));
    assert_eq!(backend.snapshot(), before, "GET changed nothing");
}

#[tokio::test]
async fn a_posted_form_acts_once_and_shows_who_and_through_what() {
    let (backend, engine) = setup();
    let (id, path) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let form = "nonce=n1&name=Ana&action=acknowledge";
    let response = serve(&engine, &post_form(&path, form)).await;
    assert_eq!(response.status, 200);
    assert!(response
        .body
        .contains("Acknowledged. The timeline below records it."));
    assert!(response.body.contains("Ana (name as given) via link"));
    let incident = backend.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.acknowledged.unwrap().by, "Ana (name as given)");
    let timeline = backend.timeline(&id).await.unwrap();
    let action = timeline.iter().find(|e| e.action.is_some()).unwrap();
    assert_eq!(
        action.actor.as_ref().unwrap().source_ip.as_deref(),
        Some("198.51.100.7")
    );
    // The same submission again (a reload, a double click): applied once.
    let bus = backend.bus_events().len();
    serve(&engine, &post_form(&path, form)).await;
    assert_eq!(backend.bus_events().len(), bus);
    assert_eq!(backend.timeline(&id).await.unwrap().len(), timeline.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_identical_posts_apply_once() {
    let (backend, engine) = setup();
    let (id, path) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let engine = engine.clone();
            let request = post_form(&path, "nonce=same&name=Bo&action=note&note=rolled%20back");
            tokio::spawn(async move { links::serve(&*engine, &request).await.unwrap() })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, 200);
    }
    let notes = backend
        .timeline(&id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.outcome == Outcome::NotedByPerson)
        .count();
    assert_eq!(notes, 1);
}

#[tokio::test]
async fn tampered_unknown_wrong_incident_expired_and_revoked_links_are_refused_alike() {
    let (backend, engine) = setup();
    let (id, path) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let (other_id, other_path) = opened(&backend, &engine, "alarm-metric-test-alarm.json").await;
    let token = path.rsplit('/').next().unwrap().to_string();
    let flipped = {
        let mut t = token.clone().into_bytes();
        t[0] = if t[0] == b'a' { b'b' } else { b'a' };
        String::from_utf8(t).unwrap()
    };
    assert_refused(
        &serve(&engine, &get(&format!("/i/{id}/{flipped}"))).await,
        "tampered",
    );
    assert_refused(
        &serve(&engine, &get(&format!("/i/{id}/{}", "0".repeat(48)))).await,
        "unknown",
    );
    assert_refused(
        &serve(&engine, &get(&format!("/i/{id}/{}", &token[..20]))).await,
        "truncated",
    );
    assert_refused(
        &serve(&engine, &get(&format!("/i/{other_id}/{token}"))).await,
        "wrong incident",
    );
    assert_refused(
        &serve(
            &engine,
            &post_form(
                &format!("/i/{other_id}/{token}"),
                "nonce=x&name=x&action=resolve",
            ),
        )
        .await,
        "wrong incident POST",
    );
    assert_eq!(
        backend.incident(&other_id).await.unwrap().unwrap().status,
        IncidentStatus::Open
    );
    // Revoked: links of that route stop working, the other incident's link still works.
    assert!(backend.revoke_links(&id, None, engine.now()).await.unwrap());
    assert_refused(&serve(&engine, &get(&path)).await, "revoked");
    assert_eq!(serve(&engine, &get(&other_path)).await.status, 200);
    // Expired: seven days after the incident resolves.
    let ok = engine
        .handle_value(&sample("alarm-metric-test-ok.json"))
        .await
        .unwrap();
    assert_eq!(ok.outcome, Outcome::Resolved);
    let resolved_at = backend
        .incident(&other_id)
        .await
        .unwrap()
        .unwrap()
        .resolved_at
        .unwrap();
    backend.set_now(resolved_at + Duration::days(7) - Duration::seconds(1));
    assert_eq!(serve(&engine, &get(&other_path)).await.status, 200);
    backend.set_now(resolved_at + Duration::days(7));
    assert_refused(&serve(&engine, &get(&other_path)).await, "expired");
}

#[tokio::test]
async fn security_links_may_acknowledge_and_note_but_not_resolve() {
    let (backend, engine) = setup();
    let (id, path) = opened(
        &backend,
        &engine,
        "security/guardduty-ssh-bruteforce-high.json",
    )
    .await;
    let page = serve(&engine, &get(&path)).await;
    assert!(page.body.contains("value=\"acknowledge\""));
    // Only what the security page showed: no addresses, no account.
    for secret in ["198.51.100.23", "10.20.3.41", "123456789012"] {
        assert!(
            !page.body.contains(secret),
            "{secret} on a security incident's page"
        );
    }
    assert!(
        !page.body.contains("value=\"resolve\""),
        "no resolve button"
    );
    // A hand-made POST is refused all the same.
    let response = serve(
        &engine,
        &post_form(&path, "nonce=r&name=Eve&action=resolve"),
    )
    .await;
    assert!(response.body.contains("Not done"), "{}", response.body);
    assert_eq!(
        backend.incident(&id).await.unwrap().unwrap().status,
        IncidentStatus::Open
    );
    let response = serve(
        &engine,
        &post_form(&path, "nonce=a&name=Eve&action=acknowledge"),
    )
    .await;
    assert!(response.body.contains("Acknowledged."));
}

#[tokio::test]
async fn attacker_text_is_escaped_on_the_page() {
    let (backend, engine) = setup();
    let (_id, path) = opened(&backend, &engine, "alarm-hostile-text-alarm.json").await;
    serve(
        &engine,
        &post_form(&path, "nonce=h&name=%3Cscript%3Ealert(3)%3C%2Fscript%3E&action=note&note=%3Cimg%20src%3Dx%20onerror%3Dalert(4)%3E"),
    )
    .await;
    let body = serve(&engine, &get(&path)).await.body;
    for raw in ["<script", "<img", "onerror=alert(1)>", "\u{1b}", "\u{202e}"] {
        assert!(!body.contains(raw), "{raw:?} reached the page");
    }
    assert!(body.contains("&lt;script&gt;alert(3)"));
    assert!(body.contains("&lt;img src=x onerror=alert(4)&gt;"));
}

fn api_request(method: &str, path: &str, body: &str, principal: Option<&str>) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        body: body.as_bytes().to_vec(),
        principal: principal.map(str::to_string),
        headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_api_refuses_without_an_iam_identity_and_acts_as_the_caller() {
    let (backend, engine) = setup();
    let (id, _) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let refused = api::serve(&*engine, &api_request("GET", "/incidents", "", None))
        .await
        .unwrap();
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("AWS_IAM"));
    let principal = "arn:aws:sts::123456789012:assumed-role/oncall/ana";
    let caller = Some(principal);
    let list = api::serve(&*engine, &api_request("GET", "/incidents", "", caller))
        .await
        .unwrap();
    let list: Value = serde_json::from_str(&list.body).unwrap();
    assert_eq!(list["incidents"][0]["incident_id"], id.as_str());
    assert!(list["incidents"][0].get("timeline").is_none());
    let mut ack = api_request(
        "POST",
        &format!("/incidents/{id}/actions"),
        r#"{"action":"acknowledge"}"#,
        caller,
    );
    ack.headers.insert("idempotency-key".into(), "k-1".into());
    let first = api::serve(&*engine, &ack).await.unwrap();
    assert_eq!(first.status, 200);
    let first: Value = serde_json::from_str(&first.body).unwrap();
    assert_eq!(first["outcome"], "acknowledged");
    assert_eq!(first["action_id"], "k-1");
    let again: Value =
        serde_json::from_str(&api::serve(&*engine, &ack).await.unwrap().body).unwrap();
    assert_eq!(again["outcome"], "acknowledged", "the first result, again");
    let shown = api::serve(
        &*engine,
        &api_request("GET", &format!("/incidents/{id}"), "", caller),
    )
    .await
    .unwrap();
    let shown: Value = serde_json::from_str(&shown.body).unwrap();
    assert_eq!(shown["acknowledged"]["by"], principal);
    assert_eq!(shown["acknowledged"]["channel"], "api");
    let incident = backend.incident(&id).await.unwrap().unwrap();
    let timeline = backend.timeline(&id).await.unwrap();
    assert_eq!(
        shown,
        klaxon::respond::view::incident_json(&incident, &timeline)
    );
    let bad = api::serve(
        &*engine,
        &api_request(
            "POST",
            &format!("/incidents/{id}/actions"),
            r#"{"action":"explode"}"#,
            caller,
        ),
    )
    .await
    .unwrap();
    assert_eq!(bad.status, 400);
    let missing = api::serve(
        &*engine,
        &api_request("GET", "/incidents/INC-none", "", caller),
    )
    .await
    .unwrap();
    assert_eq!(missing.status, 404);
    let _: DateTime<Utc> = engine.now();
}

#[tokio::test]
async fn head_shows_other_methods_are_refused_with_the_same_headers() {
    let (backend, engine) = setup();
    let (_id, path) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let mut head = get(&path);
    head.method = "HEAD".into();
    assert_eq!(serve(&engine, &head).await.status, 200);
    let mut put = get(&path);
    put.method = "PUT".into();
    let refused = serve(&engine, &put).await;
    assert_eq!(refused.status, 405);
    assert_eq!(refused.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(refused.header("cache-control"), Some("no-store"));
    assert!(refused.header("content-security-policy").is_some());
}

#[tokio::test]
async fn the_api_answers_409_for_a_refused_reopen_405_and_a_body_limit() {
    let (backend, engine) = setup();
    let (id, _) = opened(&backend, &engine, "alarm-metric-prod-alarm.json").await;
    let caller = Some("arn:aws:iam::123456789012:user/ana");
    let post = |path: String, body: &str| api_request("POST", &path, body, caller);
    let resolve = api::serve(
        &*engine,
        &post(
            format!("/incidents/{id}/actions"),
            r#"{"action":"resolve"}"#,
        ),
    )
    .await
    .unwrap();
    assert_eq!(resolve.status, 200);
    // A newer incident for the same alarm: its next ALARM after an OK.
    engine
        .handle_value(&sample("alarm-metric-prod-ok.json"))
        .await
        .unwrap();
    let mut again = sample("alarm-metric-prod-alarm.json");
    again["id"] = "second".into();
    again["detail"]["state"]["timestamp"] = "2024-05-01T13:00:00.000+0000".into();
    let newer = engine.handle_value(&again).await.unwrap();
    assert_eq!(newer.outcome, Outcome::Opened);
    let reopen = api::serve(
        &*engine,
        &post(format!("/incidents/{id}/actions"), r#"{"action":"reopen"}"#),
    )
    .await
    .unwrap();
    assert_eq!(reopen.status, 409);
    let body: Value = serde_json::from_str(&reopen.body).unwrap();
    assert_eq!(body["outcome"], "rejected");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains(newer.incident_id.as_deref().unwrap()));
    let delete = api::serve(
        &*engine,
        &api_request("DELETE", &format!("/incidents/{id}"), "", caller),
    )
    .await
    .unwrap();
    assert_eq!(delete.status, 405);
    let huge = format!(r#"{{"action":"note","note":"{}"}}"#, "x".repeat(40 * 1024));
    let too_big = api::serve(&*engine, &post(format!("/incidents/{id}/actions"), &huge))
        .await
        .unwrap();
    assert_eq!(too_big.status, 400);
    assert!(too_big.body.contains("larger than"));
}
