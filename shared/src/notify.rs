//! Rendering of pages and lifecycle events. Pure: no AWS types.
//!
//! SNS design (docs/CONTRACTS.md): one topic per route; messages are published with the
//! default `MessageStructure` (String), because SNS drops message attributes from messages
//! published with `MessageStructure=json`, and subscribers filter on those attributes (the
//! one opt-in exception is below). The
//! body is plain text (SNS e-mail is text/plain): its first line is written to stand alone
//! as an SMS (SMS subscribers receive the whole body, split or truncated by SNS); the rest
//! is the e-mail body, with attacker-controlled text quoted. Chat integrations use the
//! lifecycle event's `text.chat` (escaped for chat markup) or the SNS attributes.
//! Security pages are redacted of addresses and ids; their unredacted copy
//! (`email_message`) goes to e-mail only when `KLAXON_SECURITY_EMAIL_DETAIL` is on.

use std::collections::BTreeMap;

use serde_json::json;

use crate::intake::{AlarmEvent, AlarmKind, MetricRef};
use crate::model::{LifecycleEvent, Notification, Transition};
use crate::ownership::Ownership;
use crate::plan::Plan;
use crate::text;

/// SNS allows 256 KiB; we stay far below so that the outbox item holding the message
/// (JSON-escaped) stays under DynamoDB's 400 KB item limit.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// One SMS segment is 140 bytes; the first line must say what matters within it.
pub const SMS_LINE_BYTES: usize = 140;
const MAX_REASON_BYTES: usize = 4096;
const MAX_DESCRIPTION_BYTES: usize = 4096;

/// Version of the lifecycle event `detail` schema.
pub const LIFECYCLE_VERSION: &str = "1";
/// `source` of every event Klaxon puts on its bus.
pub const LIFECYCLE_SOURCE: &str = "klaxon";

/// SNS message attribute names (all String). Public contract.
pub mod attr {
    pub const SEVERITY: &str = "severity";
    pub const ENVIRONMENT: &str = "environment";
    pub const SERVICE: &str = "service";
    pub const TEAM: &str = "team";
    pub const INCIDENT_ID: &str = "incident_id";
    pub const TRANSITION: &str = "transition";
    pub const ROUTE: &str = "route";
    pub const SOURCE: &str = "source";
}

pub fn page(plan: &Plan, event: &AlarmEvent, transition: Transition) -> Notification {
    let o = &plan.ownership;
    let incident_id = plan.incident_id.as_deref().unwrap_or("-");
    use crate::model::Resolution;
    let (tag, verb) = match (transition, event.kind) {
        // Not recoveries: the alarm is gone, so the problem may go on unwatched.
        (Transition::Resolved, _) if plan.resolution == Some(Resolution::AlarmDeleted) => {
            ("CLOSED".to_string(), "alarm deleted - not a recovery")
        }
        (Transition::Resolved, _) if plan.resolution == Some(Resolution::AlarmRecreated) => (
            "CLOSED".to_string(),
            "alarm re-created (deletion not seen) - not a recovery",
        ),
        (Transition::Resolved, kind) if kind.is_alarm() => ("RESOLVED".to_string(), "recovered"),
        (Transition::Resolved, _) => ("RESOLVED".to_string(), "resolved"),
        (_, kind) if kind.is_alarm() => (o.severity.as_str().to_ascii_uppercase(), "in ALARM"),
        (_, AlarmKind::AwsHealth) => (o.severity.as_str().to_ascii_uppercase(), "ongoing"),
        _ => (o.severity.as_str().to_ascii_uppercase(), "detected"),
    };
    // Security incidents: the environment slot says "security" (their route), and every
    // line that reaches SMS, chat or a subject is redacted of addresses and ids.
    let scope = if o.security {
        "security"
    } else {
        o.environment.as_str()
    };
    let safe = |s: String| o.shown(s);
    let subject = text::sns_subject(&safe(format!("[{tag}][{scope}] {} {verb}", plan.title)));

    let owner = match (&o.service, &o.team) {
        (Some(s), Some(t)) => format!(" ({s}/{t})"),
        (Some(s), None) => format!(" ({s})"),
        (None, Some(t)) => format!(" ({t})"),
        (None, None) => String::new(),
    };
    // The incident id comes before the (attacker-sized) alarm name so it survives the cut.
    let sms = text::bounded(
        &safe(format!(
            "{tag} {} {incident_id}: {} {verb}{owner}",
            // Bounded, so that a long Environment tag cannot push the incident id out.
            text::bounded(scope, 24),
            plan.title
        )),
        SMS_LINE_BYTES,
    );

    let mut body = String::new();
    body.push_str(&sms);
    body.push_str("\n\n");
    // Labels in a 13-wide column; a longer label (a source's fact) keeps one space.
    let mut line = |label: &str, value: &str| body.push_str(&format!("{label:<12} {value}\n"));
    line("Incident:", incident_id);
    line("Transition:", transition.as_str());
    line(
        if event.kind.is_alarm() {
            "Alarm:"
        } else {
            "Title:"
        },
        &plan.title,
    );
    match &event.config {
        // A configuration change's time is when the configuration changed.
        Some(change) => line(
            "Change:",
            &format!(
                "alarm {} at {} (its state: {})",
                change.operation.as_str(),
                event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                event.state.as_str()
            ),
        ),
        None => line(
            "State:",
            &format!(
                "{} at {}{}",
                event.state.as_str(),
                event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ"),
                event
                    .previous_state
                    .map(|p| format!(" (was {})", p.as_str()))
                    .unwrap_or_default()
            ),
        ),
    }
    if let Some(at) = plan.recovered_unseen_at {
        let recreated = plan
            .closed
            .as_ref()
            .is_some_and(|c| c.update.resolution == Some(Resolution::AlarmRecreated));
        let at = at.format("%Y-%m-%dT%H:%M:%S%.3fZ");
        if recreated {
            line(
                "Re-created:",
                &format!("the alarm was created again at {at} (its deletion was never delivered to Klaxon) and fires: a new incident"),
            );
        } else {
            line(
                "Recovered:",
                &format!("at {at} (that recovery was never delivered to Klaxon) and fires again: a new incident"),
            );
        }
    }
    if transition == Transition::Resolved {
        if let Some(resolution) = plan.resolution.filter(|r| !r.is_recovery()) {
            line(
                "Resolution:",
                match resolution {
                    Resolution::AlarmDeleted => {
                        "the alarm was deleted: this is NOT a recovery, and nothing watches the problem any more"
                    }
                    _ => "the alarm was deleted and created again: this is NOT a recovery; the new alarm pages anew",
                },
            );
        }
    }
    line("Severity:", o.severity.as_str());
    line("Environment:", &o.environment);
    line("Service:", o.service.as_deref().unwrap_or("(untagged)"));
    line("Team:", o.team.as_deref().unwrap_or("(untagged)"));
    if event.kind.is_alarm() {
        line("Alarm kind:", event.kind.as_str());
    } else {
        line(
            "Source:",
            &format!("{} ({})", text::for_log(&event.source), event.kind.as_str()),
        );
    }
    for metric in event
        .metrics
        .iter()
        .filter(|m| m.return_data != Some(false))
    {
        line(
            "Metric:",
            &text::bounded(&text::single_line(&describe_metric(metric)), 512),
        );
    }
    if let Some(rule) = &event.alarm_rule {
        line("Rule:", &text::bounded(&text::single_line(rule), 1024));
    }
    if let Some(signal) = &event.signal {
        // Facts are the source's own values (sanitised at intake); for security incidents
        // the whole message is redacted below, the full facts stay on the timeline.
        for (label, value) in &signal.facts {
            line(&format!("{label}:"), value);
        }
        if signal.resources.len() > 1 {
            line("Resources:", &signal.resources.join(", "));
        }
    }
    if let Some(url) = console_url(event) {
        line("Console:", &url);
    }
    line("Event id:", &text::for_log(&event.event_id));
    let origin = if event.kind.is_alarm() {
        "CloudWatch".to_string()
    } else {
        text::for_log(&event.source)
    };
    if let Some(reason) = &event.reason {
        body.push_str(&format!("\nReason (from {origin}, quoted):\n"));
        body.push_str(&text::quoted_block(reason, MAX_REASON_BYTES));
        body.push('\n');
    }
    if let Some(description) = &event.description {
        body.push_str(if event.kind.is_alarm() {
            "\nAlarm description (quoted):\n"
        } else {
            "\nDescription (quoted):\n"
        });
        body.push_str(&text::quoted_block(description, MAX_DESCRIPTION_BYTES));
        body.push('\n');
    }

    // E-mail may carry what SMS and chat may not (sent only if the deployment turns it on).
    let email_message = o.security.then(|| text::bounded(&body, MAX_MESSAGE_BYTES));
    Notification {
        route: o.route,
        transition,
        subject,
        // SMS subscribers receive the whole message, not just its first line.
        message: text::bounded(&safe(body), MAX_MESSAGE_BYTES),
        attributes: attributes(o, incident_id, transition),
        email_message,
        produced_by: None,
    }
}

/// One finding of an analyst's escalation, as its page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct EscalatedFinding {
    pub incident_id: Option<String>,
    pub title: String,
    pub severity: crate::severity::Severity,
    pub outcome: crate::model::Outcome,
}

/// The one page of a Security Hub custom action: every finding it carries with its
/// incident. Security route, redacted like every security page (the analyst's action name
/// included); the findings' details stay on their timelines.
pub fn escalation_page(
    action: &str,
    findings: &[EscalatedFinding],
    ownership: &Ownership,
) -> Notification {
    let severity = findings
        .iter()
        .map(|f| f.severity)
        .min()
        .unwrap_or(crate::severity::Severity::Medium);
    let mut o = ownership.clone();
    o.severity = severity;
    let tag = severity.as_str().to_ascii_uppercase();
    let action = text::bounded(&text::single_line(action), 64);
    let count = match findings.len() {
        1 => "1 finding".to_string(),
        n => format!("{n} findings"),
    };
    let first_incident = findings
        .iter()
        .find_map(|f| f.incident_id.clone())
        .unwrap_or_else(|| "-".into());
    let subject = text::sns_subject(&o.shown(format!(
        "[{tag}][security] Security Hub custom action {action}: {count} escalated"
    )));
    let sms = text::bounded(
        &o.shown(format!(
            "{tag} security {first_incident}: {count} escalated by custom action {action}"
        )),
        SMS_LINE_BYTES,
    );
    let mut body = format!("{sms}\n\nAn analyst escalated {count} with the Security Hub custom action \"{action}\".\n\n");
    for f in findings {
        body.push_str(&format!(
            "{:<12} {} [{}] {} ({})\n",
            "Finding:",
            f.incident_id.as_deref().unwrap_or("-"),
            f.severity.as_str(),
            f.title,
            match f.outcome {
                crate::model::Outcome::Opened => "incident opened",
                crate::model::Outcome::Duplicate => "already handled",
                _ => "escalation added to its open incident",
            }
        ));
    }
    body.push_str("\nThe findings' details are on each incident's timeline.\n");
    let incident_id = first_incident.clone();
    Notification {
        route: o.route,
        transition: Transition::Opened,
        subject,
        message: text::bounded(&o.shown(body.clone()), MAX_MESSAGE_BYTES),
        attributes: attributes(&o, &incident_id, Transition::Opened),
        email_message: o.security.then(|| text::bounded(&body, MAX_MESSAGE_BYTES)),
        produced_by: Some("klaxon/custom-action".into()),
    }
}

fn attributes(
    o: &Ownership,
    incident_id: &str,
    transition: Transition,
) -> BTreeMap<String, String> {
    let mut a = BTreeMap::new();
    a.insert(attr::SEVERITY.into(), o.severity.as_str().into());
    // Tag values are free text: on a security page they are redacted like the message, so
    // filter policies on the security topic see redacted values (docs/CONTRACTS.md).
    a.insert(attr::ENVIRONMENT.into(), o.shown(o.environment.clone()));
    if let Some(s) = &o.service {
        a.insert(attr::SERVICE.into(), o.shown(s.clone()));
    }
    if let Some(t) = &o.team {
        a.insert(attr::TEAM.into(), o.shown(t.clone()));
    }
    a.insert(attr::INCIDENT_ID.into(), incident_id.into());
    a.insert(attr::TRANSITION.into(), transition.as_str().into());
    a.insert(attr::ROUTE.into(), o.route.as_str().into());
    a.insert(attr::SOURCE.into(), "klaxon".into());
    // SNS rejects empty attribute values; an empty environment can only come from tags.
    a.retain(|_, v| !v.is_empty());
    a
}

fn describe_metric(m: &MetricRef) -> String {
    if let Some(expr) = &m.expression {
        return format!("{} = {}", m.id.as_deref().unwrap_or("expr"), expr);
    }
    let dims = text::pairs(&m.dimensions);
    format!(
        "{} {} ({dims}) {} every {}s",
        m.namespace.as_deref().unwrap_or("?"),
        m.name.as_deref().unwrap_or("?"),
        m.stat.as_deref().unwrap_or("?"),
        m.period
            .map(|p| p.to_string())
            .unwrap_or_else(|| "?".into())
    )
}

/// Link to the alarm in the CloudWatch console; the name is percent-encoded so that a
/// hostile name cannot change where the link points.
pub fn console_url(event: &AlarmEvent) -> Option<String> {
    if !event.kind.is_alarm() {
        return None;
    }
    let region = event.region.as_deref()?;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    Some(format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        percent_encode(&event.alarm_name)
    ))
}

fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The lifecycle event of an incident that ended in the same commit as a newer one (its
/// recovery was not seen; [`crate::model::ClosedIncident`]).
pub fn lifecycle_closed(
    closed: &crate::model::ClosedIncident,
    event: &AlarmEvent,
) -> LifecycleEvent {
    let mut as_if = event.clone();
    as_if.state = crate::intake::AlarmState::Ok;
    as_if.state_timestamp = closed.update.last_state_at;
    let plan = Plan {
        incident_id: Some(closed.update.incident_id.clone()),
        lifecycle: Some(Transition::Resolved),
        resolution: closed.update.resolution,
        ..Plan::unchanged(
            crate::model::Outcome::Resolved,
            crate::model::AlarmTracker::new(&event.alarm_arn),
            closed.ownership.clone(),
            closed.title.clone(),
        )
    };
    lifecycle(&plan, &as_if, Transition::Resolved, closed.paged)
}

pub fn lifecycle(
    plan: &Plan,
    event: &AlarmEvent,
    transition: Transition,
    paged: bool,
) -> LifecycleEvent {
    let o = &plan.ownership;
    // A one-line summary in three renderings, so consumers need not escape it themselves.
    let summary = format!(
        "{} {} {}: {} is {}",
        o.severity.as_str().to_ascii_uppercase(),
        if o.security {
            "security"
        } else {
            o.environment.as_str()
        },
        plan.incident_id.as_deref().unwrap_or("-"),
        plan.title,
        event.state.as_str()
    );
    // Chat integrations post `text.chat`: for security incidents, no addresses or ids; the
    // other free-text fields (names, tag values) likewise. Identifiers consumers correlate on
    // (`dedup_key`, `resources`, `event_id`, `alarm.arn`) stay as they are.
    let summary = o.shown(summary);
    let shown = |value: &Option<String>| value.clone().map(|v| o.shown(v));
    LifecycleEvent {
        source: None,
        detail_type: transition.detail_type().to_string(),
        // Sanitised: EventBridge rejects resources with control characters.
        resources: vec![text::bounded(&text::single_line(&event.alarm_arn), 1600)],
        detail: json!({
            "version": LIFECYCLE_VERSION,
            "incident_id": plan.incident_id,
            "dedup_key": text::for_log(&event.alarm_arn),
            "transition": transition.as_str(),
            "outcome": plan.outcome.as_str(),
            "status": if transition == Transition::Resolved { "resolved" } else { "open" },
            "severity": o.severity.as_str(),
            "environment": o.shown(o.environment.clone()),
            "production": o.production,
            "service": shown(&o.service),
            "team": shown(&o.team),
            "route": o.route.as_str(),
            "security": o.security,
            "source": text::for_log(&event.source),
            "paged": paged,
            // How a resolved incident ended; only `recovered` and `recovery_inferred` are
            // recoveries (the others: the alarm was deleted or replaced).
            "resolution": plan.resolution.map(|r| r.as_str()),
            "text": {
                "plain": summary,
                "chat": text::chat_escape(&summary),
                "html": text::html_escape(&summary),
            },
            "alarm": {
                "name": o.shown(plan.title.clone()),
                "arn": text::for_log(&event.alarm_arn),
                "kind": event.kind,
                "state": event.state.as_str(),
                "state_timestamp": event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                "previous_state": event.previous_state.map(|s| s.as_str()),
                "actions_suppressed_by": event.actions_suppressed_by.as_deref().map(text::for_log),
            },
            "event_id": text::for_log(&event.event_id),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{parse_value, Intake};
    use crate::ownership::from_tags;
    use crate::plan::plan;
    use chrono::Utc;

    fn hostile_event() -> AlarmEvent {
        let v = serde_json::json!({
            "id": "e1", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "account": "1", "region": "us-east-1",
            "detail": {
                "alarmName": "evil\nAcknowledge: http://x\u{1b}[2J\u{202e}name <!channel>",
                "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.000+0000",
                          "reason": "line1\nSubject: fake"},
                "configuration": {"description": "<script>alert(1)</script>\nRunbook: http://evil"}
            }
        });
        match parse_value(&v).unwrap() {
            Intake::Alarm(a) => *a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn hostile_text_cannot_forge_lines() {
        let e = hostile_event();
        let tags = vec![
            ("Environment".to_string(), "prod".to_string()),
            ("Service".to_string(), "s".to_string()),
        ];
        let p = plan(None, &e, &from_tags(&tags), Utc::now());
        let n = page(&p, &e, Transition::Opened);
        assert!(n.subject.len() < 100 && n.subject.is_ascii() && !n.subject.contains('\n'));
        assert!(!n.message.contains('\u{1b}') && !n.message.contains('\u{202e}'));
        // Every attacker line sits behind a quote marker; the name stays on one line.
        for line in n.message.lines() {
            assert!(
                !line.starts_with("Acknowledge:")
                    && !line.starts_with("Subject:")
                    && !line.starts_with("Runbook:"),
                "{line}"
            );
        }
        let first = n.message.lines().next().unwrap();
        assert!(first.len() <= SMS_LINE_BYTES);
        assert!(first.starts_with("HIGH production INC-"), "{first}");
        assert!(first.contains(": evil Acknowledge"), "{first}");
        assert!(console_url(&e)
            .unwrap()
            .contains("evil%0AAcknowledge%3A%20http%3A%2F%2Fx"));
    }

    #[test]
    fn the_body_is_plain_text_not_escaped() {
        let e = hostile_event();
        let p = plan(None, &e, &from_tags(&[]), Utc::now());
        let n = page(&p, &e, Transition::Opened);
        // `<`, `>` and `&` reach subscribers as they are; only the lines are neutralised.
        assert!(
            n.message.contains("> <script>alert(1)</script>"),
            "{}",
            n.message
        );
        assert!(n.message.contains("name <!channel>"), "{}", n.message);
        assert!(!n.message.contains("&lt;"), "{}", n.message);
    }

    #[test]
    fn the_whole_message_is_at_most_64_kib() {
        let metrics: Vec<serde_json::Value> = (0..600)
            .map(|i| {
                serde_json::json!({
                    "id": format!("m{i}"),
                    "returnData": true,
                    "metricStat": {
                        "metric": {
                            "namespace": "AWS/ApplicationELB",
                            "name": "HTTPCode_Target_5XX_Count",
                            "dimensions": {"LoadBalancer": format!("{}{i}", "d".repeat(150))}
                        },
                        "period": 60,
                        "stat": "Sum"
                    }
                })
            })
            .collect();
        let v = serde_json::json!({
            "id": "e1", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
            "account": "123456789012", "region": "us-east-1",
            "detail": {
                "alarmName": "many-metrics",
                "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.000+0000",
                          "reason": "r".repeat(4096)},
                "configuration": {"description": "d".repeat(4096), "metrics": metrics}
            }
        });
        let Intake::Alarm(e) = parse_value(&v).unwrap() else {
            panic!("an alarm")
        };
        let p = plan(None, &e, &from_tags(&[]), Utc::now());
        let n = page(&p, &e, Transition::Opened);
        assert!(n.message.len() <= MAX_MESSAGE_BYTES, "{}", n.message.len());
        assert!(
            n.message.len() > MAX_MESSAGE_BYTES - 1024,
            "the test reaches the limit: {}",
            n.message.len()
        );
    }

    #[test]
    fn attributes_carry_routing_fields() {
        let e = hostile_event();
        let tags = vec![
            ("Environment".to_string(), "staging".to_string()),
            ("Team".to_string(), "t".to_string()),
        ];
        let p = plan(None, &e, &from_tags(&tags), Utc::now());
        let n = page(&p, &e, Transition::Opened);
        assert_eq!(n.attributes["severity"], "low");
        assert_eq!(n.attributes["environment"], "staging");
        assert_eq!(n.attributes["team"], "t");
        assert_eq!(n.attributes["route"], "test");
        assert_eq!(n.attributes["transition"], "opened");
        assert!(!n.attributes.contains_key("service"));
        assert_eq!(n.route, crate::route::Route::Test);
    }

    #[test]
    fn lifecycle_has_version_and_ids() {
        let e = hostile_event();
        let p = plan(None, &e, &from_tags(&[]), Utc::now());
        let l = lifecycle(&p, &e, Transition::Opened, true);
        assert_eq!(l.detail_type, "Incident Opened");
        assert_eq!(l.detail["version"], "1");
        assert_eq!(l.detail["incident_id"], serde_json::json!(p.incident_id));
        assert!(!l.detail["alarm"]["name"].as_str().unwrap().contains('\n'));
        let chat = l.detail["text"]["chat"].as_str().unwrap();
        assert!(!chat.contains('<') && !chat.contains('\n'), "{chat}");
        assert!(chat.contains("&lt;!channel&gt;"), "{chat}");
        assert!(l.detail["text"]["html"]
            .as_str()
            .unwrap()
            .contains("&lt;!channel&gt;"));
    }
}
