//! AWS Health events: an issue, a scheduled change or an account notification, per event
//! ARN and affected account; its `statusCode` opens or closes it.

use serde_json::{json, Value};

use crate::intake::detail_types::*;
use crate::intake::envelope::{Envelope, Parts};
use crate::intake::event::{AlarmKind, AlarmState, EventTags, InvalidEvent, StateChange};
use crate::intake::fields::{at, first_time, optional_str, s};
use crate::severity::Severity;
use crate::text;

pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<StateChange, InvalidEvent> {
    let d = env.detail;
    let event_arn = env.need(d.get("eventArn"), "detail.eventArn")?;
    // Ordered by when Health last changed the event; without `lastUpdatedTime`, by when
    // EventBridge got it. `startTime` of a scheduled change lies in the future (the engine
    // refuses state times ahead of its clock), and `endTime` is absent until the event
    // closes: both only as a last resort, neither required.
    let updated = first_time(&[d.get("lastUpdatedTime")])
        .or(env.time)
        .or_else(|| first_time(&[d.get("endTime"), d.get("startTime")]))
        .ok_or_else(|| {
            env.fail(
                "no usable time: `detail.lastUpdatedTime`, `time`, `detail.endTime` and `detail.startTime` are all missing or not times".into(),
            )
        })?;
    let end_time = first_time(&[d.get("endTime")]);
    let older_shape = d.get("statusCode").is_none();
    let status = match d.get("statusCode") {
        Some(_) => env
            .need(d.get("statusCode"), "detail.statusCode")?
            .to_string(),
        // The older shape has no `statusCode`: the event is over when its end lies at or
        // before the event's own time (never the wall clock: a replay must not change).
        None => match (end_time, env.time.or(Some(updated))) {
            (Some(end), Some(now)) if end <= now => "closed".to_string(),
            _ => "open".to_string(),
        },
    };
    // Such an event is the only one AWS sends for its problem: when it is already over,
    // it is recorded as an incident that opened and ended, not dropped.
    let ended_on_arrival = older_shape && status == "closed";
    let state = match status.as_str() {
        "open" | "upcoming" => AlarmState::Alarm,
        "closed" => AlarmState::Ok,
        other => {
            return Err(env.fail(format!(
                "`detail.statusCode` is `{}`; expected open, upcoming or closed",
                text::for_log(other)
            )))
        }
    };
    let type_code = env.need(d.get("eventTypeCode"), "detail.eventTypeCode")?;
    let service = s(d.get("service"));
    let category = s(d.get("eventTypeCategory"));
    let scope = s(d.get("eventScopeCode"));
    let event_region = s(d.get("eventRegion"));
    // Credential exposure (`RISK`) and abuse reports (`ABUSE`, with their own detail-type)
    // are about the account's security: SecOps's, on the security route.
    // The deployed rules send exactly these to security-intake (`infra::handler_for`).
    let security = env.detail_type == HEALTH_ABUSE_EVENT
        || HEALTH_SECURITY_SERVICES.contains(&service.as_str());
    let public = scope == "PUBLIC" && !security;
    let entities: Vec<(String, String)> = d
        .get("affectedEntities")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some((
                e.get("entityValue")?.as_str()?.to_string(),
                s(e.get("status")),
            ))
        })
        .collect();
    let resources: Vec<String> = if entities.is_empty() {
        env.resources.clone()
    } else {
        entities.iter().map(|(v, _)| v.clone()).collect()
    };
    let affected_account = optional_str(d.get("affectedAccount")).or_else(|| env.account.clone());
    let description = d
        .get("eventDescription")
        .and_then(Value::as_array)
        .and_then(|list| {
            list.iter()
                .find(|x| x.get("language").and_then(Value::as_str) == Some("en_US"))
                .or_else(|| list.first())
        })
        .and_then(|x| optional_str(x.get("latestDescription")));
    let affected = entities
        .iter()
        .take(20)
        .map(|(v, st)| {
            if st.is_empty() {
                v.clone()
            } else {
                format!("{v} ({st})")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let page = match (s(d.get("page")).as_str(), s(d.get("totalPages")).as_str()) {
        ("" | "1", "" | "1") => String::new(),
        (p, t) => format!(" (page {p} of {t})"),
    };
    let service_issue = matches!(category.as_str(), "issue" | "investigation");
    let severity = match (security, public, category.as_str()) {
        // Exposed or compromised credentials: someone else may hold the keys now.
        (true, _, _) if service == "RISK" => Severity::Critical,
        (true, _, _) => Severity::High,
        // A public event is about a Region's service, not this account's resources: worth
        // the ops route's attention when it is an outage in a Region Klaxon watches (the
        // engine lowers it to low otherwise, see `Engine::watch_health_region`).
        (false, true, _) if service_issue => Severity::Medium,
        (false, true, _) => Severity::Low,
        (false, false, "issue" | "investigation") => Severity::High,
        (false, false, "scheduledChange") => Severity::Medium,
        _ => Severity::Low,
    };
    let dedup_key = if public {
        // Public events are the same for every account: one incident per event ARN. Not
        // per `communicationId`: its counter changes with each update of the event, so the
        // closing update would find nothing open to resolve.
        format!("{event_arn}#public")
    } else {
        // Organisation-wide events share one ARN across accounts.
        format!("{event_arn}#{}", affected_account.as_deref().unwrap_or("-"))
    };
    Ok(env.event(
        AlarmKind::AwsHealth,
        Parts {
            dedup_key,
            title: format!("AWS Health: {service} {type_code}"),
            signal_type: type_code.to_string(),
            state,
            at: updated,
            severity: Some(severity),
            security,
            description,
            reason: Some(format!(
                "AWS Health {status}{page}: {}",
                if affected.is_empty() {
                    "no affected resources listed".to_string()
                } else {
                    format!("affected {affected}")
                }
            )),
            facts: vec![
                ("Event type", type_code.to_string()),
                ("Category", category.clone()),
                ("Service", service.clone()),
                ("Status", status.clone()),
                ("Scope", scope.clone()),
                ("Region", event_region.clone()),
                ("Start", s(d.get("startTime"))),
                ("End", s(d.get("endTime"))),
                ("Affected", affected),
                ("Event ARN", event_arn.to_string()),
            ],
            resources,
            details: json!({
                "status": status,
                "category": at(d, &["eventTypeCategory"]),
                "service": at(d, &["service"]),
                "scope": scope,
                "event_region": event_region,
                // Whether the event deserves a page at all: a public event only when it
                // is a service issue in a watched Region (the engine decides the Region).
                "page": !public || service_issue,
                "ended_on_arrival": ended_on_arrival,
            }),
            count: None,
            tags: EventTags::Provided(Vec::new()),
            feed: None,
            route: public.then_some(crate::route::Route::Ops),
        },
    ))
}

samples_become_state_changes!(
    (
        "health/health-ec2-issue-open.json",
        r#"[("arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_7K2QX_EXAMPLE53#123456789012", "ALARM", "AWS Health: EC2 AWS_EC2_OPERATIONAL_ISSUE", Some("high"), false)]"#
    ),
    (
        "health/health-ec2-issue-closed.json",
        r#"[("arn:aws:health:us-east-1::event/EC2/AWS_EC2_OPERATIONAL_ISSUE/AWS_EC2_OPERATIONAL_ISSUE_7K2QX_EXAMPLE53#123456789012", "OK", "AWS Health: EC2 AWS_EC2_OPERATIONAL_ISSUE", Some("high"), false)]"#
    ),
    (
        "health/health-risk-credentials-exposed.json",
        r#"[("arn:aws:health:global::event/RISK/AWS_RISK_CREDENTIALS_EXPOSED/AWS_RISK_CREDENTIALS_EXPOSED_EXAMPLE01#123456789012", "ALARM", "AWS Health: RISK AWS_RISK_CREDENTIALS_EXPOSED", Some("critical"), true)]"#
    ),
);
