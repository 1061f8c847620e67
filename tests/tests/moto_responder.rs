//! Responder actions through the DynamoDB, SNS and EventBridge adapters against moto: every
//! responder field written by the UpdateItem and read back, a person's resolve taking the
//! incident out of the open-incidents index and reopen putting it back, links stored by
//! their hash only and revoked per route, and the API object read from DynamoDB.

use chrono::Utc;
use klaxon::action::{ActionKind, ActionRequest, Actor, ActorKind, Channel};
use klaxon::model::{IncidentStatus, Outcome, Resolution};
use klaxon::ports::IncidentStore;
use klaxon::route::Route;
use klaxon::severity::Severity;
use klaxon_integration_tests::{sample, LocalAws};

fn request(incident: &str, kind: ActionKind, id: &str) -> ActionRequest {
    ActionRequest {
        action_id: id.into(),
        incident_id: incident.into(),
        kind,
        actor: Actor::new(
            "arn:aws:sts::123456789012:assumed-role/oncall/ana",
            ActorKind::Iam,
            Channel::Api,
        ),
        at: Utc::now(),
        note: Some("checked".into()),
        duration: Some(std::time::Duration::from_secs(1800)),
        severity: Some(Severity::Low),
    }
}

#[tokio::test]
async fn every_action_round_trips_through_dynamodb() {
    let aws = LocalAws::fresh("responder-actions").await;
    let mut config = aws.config();
    config.settings.responder_url = Some("https://incidents.example.com/".into());
    let engine = klaxon::aws::engine_from_sdk_config(
        &aws.sdk,
        config,
        std::sync::Arc::new(klaxon::runbook::Catalog::embedded().unwrap()),
    );
    let opened = engine
        .handle_value(&sample("alarm-metric-prod-alarm.json"))
        .await
        .unwrap();
    assert_eq!(opened.outcome, Outcome::Opened);
    let id = opened.incident_id.unwrap();
    let store = engine.store();

    // The page carried a link; DynamoDB has its hash, never the token.
    let pages = aws.drain("production").await;
    let message = pages[0]["Message"].as_str().unwrap().to_string();
    let link = message.lines().nth(1).unwrap();
    let token = link.rsplit('/').next().unwrap();
    let record = store
        .link(&klaxon::link::token_hash(token))
        .await
        .unwrap()
        .expect("link stored");
    assert_eq!(
        (record.incident_id.as_str(), record.route),
        (id.as_str(), Route::Production)
    );
    let scan = aws
        .dynamodb()
        .scan()
        .table_name(aws.table())
        .send()
        .await
        .unwrap();
    assert!(
        !format!("{:?}", scan.items()).contains(token),
        "the raw token is not stored"
    );

    for (kind, action_id, outcome) in [
        (ActionKind::Acknowledge, "a1", Outcome::Acknowledged),
        (ActionKind::Snooze, "a2", Outcome::Snoozed),
        (ActionKind::Severity, "a3", Outcome::SeverityChanged),
        (ActionKind::Own, "a4", Outcome::Owned),
        (ActionKind::Note, "a5", Outcome::NotedByPerson),
    ] {
        let report = engine.act(request(&id, kind, action_id)).await.unwrap();
        assert_eq!(report.outcome, outcome, "{kind:?}");
    }
    let incident = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(
        incident.acknowledged.as_ref().unwrap().channel,
        Channel::Api
    );
    assert!(incident.snoozed_until.is_some());
    assert_eq!(incident.ownership.severity, Severity::Low);
    assert_eq!(
        incident.owner.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/oncall/ana")
    );
    // A repeated id: the first result, nothing written twice.
    let entries = store.timeline(&id).await.unwrap().len();
    let again = engine
        .act(request(&id, ActionKind::Note, "a5"))
        .await
        .unwrap();
    assert_eq!(again.outcome, Outcome::NotedByPerson);
    assert_eq!(store.timeline(&id).await.unwrap().len(), entries);

    // Resolve: out of the open-incidents index; reopen: back in it, resolution removed.
    let resolved = engine
        .act(request(&id, ActionKind::Resolve, "r1"))
        .await
        .unwrap();
    assert_eq!(resolved.outcome, Outcome::ResolvedByPerson);
    let incident = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
    assert_eq!(incident.resolution, Some(Resolution::ResolvedByPerson));
    assert_eq!(incident.snoozed_until, None);
    assert!(store.open_incidents().await.unwrap().is_empty());
    let page = aws.drain("production").await;
    assert_eq!(page.len(), 1, "the route paged is told");
    assert!(page[0]["Message"]
        .as_str()
        .unwrap()
        .starts_with("RESOLVED production"));
    let reopened = engine
        .act(request(&id, ActionKind::Reopen, "o1"))
        .await
        .unwrap();
    assert_eq!(reopened.outcome, Outcome::Reopened);
    let open = store.open_incidents().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].resolution, None);
    assert!(
        open[0].last_resolved_at.is_some(),
        "kept for the links' expiry"
    );
    assert_eq!(open[0].acknowledged, None);

    // Revocation, per route, on a record without the map yet and on one with it.
    assert!(store
        .revoke_links(&id, Some(Route::Production), Utc::now())
        .await
        .unwrap());
    assert!(store.revoke_links(&id, None, Utc::now()).await.unwrap());
    let incident = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.links_revoked_before.len(), Route::ALL.len());
    // An earlier revocation arriving late never moves the time back.
    let latest = incident.links_revoked_before[&Route::Production];
    assert!(store
        .revoke_links(
            &id,
            Some(Route::Production),
            latest - chrono::Duration::hours(1)
        )
        .await
        .unwrap());
    let incident = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.links_revoked_before[&Route::Production], latest);
    assert!(!store
        .revoke_links("INC-none", None, Utc::now())
        .await
        .unwrap());

    // The lifecycle events on the bus, in order.
    let events = aws.drain("lifecycle").await;
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "Incident Opened",
            "Incident Acknowledged",
            "Incident Snoozed",
            "Incident Severity Changed",
            "Incident Owner Changed",
            "Incident Note Added",
            "Incident Resolved",
            "Incident Reopened"
        ]
    );
    assert_eq!(events[1]["detail"]["actor_kind"], "iam");
    assert_eq!(events[6]["detail"]["resolution"], "resolved_by_person");
}
