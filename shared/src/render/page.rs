//! The page for a transition: subject, SMS line, e-mail body, message attributes.

use std::collections::BTreeMap;

use super::console::console_url;
use super::{attr, MAX_MESSAGE_BYTES, SMS_LINE_BYTES};
use crate::intake::{AlarmKind, MetricRef, StateChange};
use crate::model::{Notification, Transition};
use crate::ownership::Ownership;
use crate::plan::Plan;
use crate::text;

const MAX_REASON_BYTES: usize = 4096;

const MAX_DESCRIPTION_BYTES: usize = 4096;

pub fn page(plan: &Plan, event: &StateChange, transition: Transition) -> Notification {
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

pub(crate) fn attributes(
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::intake::{parse_value, Intake};
    use crate::ownership::from_tags;
    use crate::plan::plan;
    use chrono::Utc;

    pub(crate) fn hostile_event() -> StateChange {
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
            Intake::Change(a) => *a,
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
        let Intake::Change(e) = parse_value(&v).unwrap() else {
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
}
