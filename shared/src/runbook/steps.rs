//! The pure part of each step kind: what a step decides or renders from its config and the
//! step context, with no I/O. The runner (next) adds the AWS calls, timeline entries,
//! retries and deadlines around these.
//!
//! The step context is one JSON object that conditions (`guard`, `classify`) match with
//! event-pattern syntax and templates (`notify`, `incident.note`, `put_metric` dimensions)
//! render with minijinja. Every string in it from the event is attacker-controlled: it is
//! cleaned (no control or bidi characters, bounded) before a template sees it, and the
//! rendered text is cleaned again for where it goes.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::{json, Value};

pub use crate::enrich::MetricDatum;
use crate::intake::AlarmEvent;
use crate::model::{LifecycleEvent, Notification, Transition};
use crate::notify::{self, MAX_MESSAGE_BYTES};
use crate::ownership::Ownership;
use crate::pattern::Pattern;
use crate::route::Route;
use crate::runbook::spec::{Classify, Emit, Notify, PutMetric};
use crate::text;

/// Events emitted by runbooks carry their hop count here; Klaxon refuses to act on an event
/// whose count reached [`MAX_HOPS`], so chains of runbooks cannot loop.
pub const HOPS_FIELD: &str = "klaxon_hops";
pub const MAX_HOPS: u64 = 3;
/// `source` of events emitted by runbooks.
pub const EMIT_SOURCE: &str = "klaxon.runbook";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StepError {
    #[error("template failed: {0}")]
    Template(String),
    #[error(
        "hop limit: the event has already passed through {hops} runbook emits (at most {max})"
    )]
    HopLimit { hops: u64, max: u64 },
    #[error("{0}")]
    Invalid(String),
}

/// The context of an alarm event, as conditions and templates see it.
pub fn alarm_context(
    event: &AlarmEvent,
    ownership: &Ownership,
    incident_id: Option<&str>,
    transition: Option<Transition>,
) -> Value {
    let line = |s: &str| text::bounded(&text::single_line(s), 1024);
    let quoted = |s: &str| text::quoted_block(s, 4096);
    let signal = event.signal.as_deref();
    json!({
        "source": line(&event.source),
        "security": ownership.security,
        "environment": ownership.environment,
        "production": ownership.production,
        "severity": ownership.severity.as_str(),
        "service": ownership.service,
        "team": ownership.team,
        "route": ownership.route.as_str(),
        "incident_id": incident_id,
        "transition": transition.map(|t| t.as_str()),
        // Set by the runner: the incident outcome of this event, and the runbook running.
        "outcome": Value::Null,
        "runbook": Value::Null,
        "alarm": {
            "name": line(&event.alarm_name),
            "arn": line(&event.alarm_arn),
            "kind": event.kind.as_str(),
            "state": event.state.as_str(),
            "previous_state": event.previous_state.map(|s| s.as_str()),
            "state_timestamp": event.state_timestamp.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            // One line by default, so a template cannot be tricked into printing a forged
            // line; the `_quoted` forms keep the lines, each behind "> ".
            "reason": event.reason.as_deref().map(line),
            "description": event.description.as_deref().map(line),
            "reason_quoted": event.reason.as_deref().map(quoted),
            "description_quoted": event.description.as_deref().map(quoted),
            "account": event.account.as_deref().map(line),
            "region": event.region.as_deref().map(line),
            "console_url": notify::console_url(event),
            "suppressed_by": event.actions_suppressed_by.as_deref().map(line),
            "metrics": event.metrics.iter().map(|m| json!({
                "namespace": m.namespace.as_deref().map(line),
                "name": m.name.as_deref().map(line),
                "stat": m.stat.as_deref().map(line),
                "period": m.period,
                "expression": m.expression.as_deref().map(line),
                "dimensions": m.dimensions.iter().map(|(k, v)| (line(k), Value::String(line(v)))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        },
        // What a non-alarm source adds; the same shape for alarms (empty), so that
        // conditions and templates need no existence tests.
        "signal": {
            "type": signal.map(|s| s.signal_type.clone()),
            "security": signal.is_some_and(|s| s.security),
            "severity": signal.and_then(|s| s.severity).map(|s| s.as_str()),
            "resources": signal.map(|s| s.resources.clone()).unwrap_or_default(),
            "facts": signal.map(|s| s.facts.iter().map(|(label, value)| json!({"label": label, "value": value})).collect::<Vec<_>>()).unwrap_or_default(),
            "details": signal.map(|s| s.details.clone()).unwrap_or_else(|| json!({})),
            "count": signal.and_then(|s| s.count),
        },
        "enrichment": {},
    })
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable is an error at load (templates are rendered against a sample
    // context then), not an empty string in a page.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("quote", |s: String| text::quoted_block(&s, 4096));
    env
}

/// Renders a template against the context.
pub fn render(template: &str, context: &Value) -> Result<String, StepError> {
    environment()
        .render_str(template, minijinja::value::Serde(context))
        .map_err(|e| {
            // Point at the failing expression: "undefined value at `alarm.nmae`".
            let at = e
                .range()
                .and_then(|r| template.get(r))
                .map(|snippet| format!(" at `{snippet}`"))
                .unwrap_or_default();
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            match e.detail() {
                Some(detail) => StepError::Template(format!("{}: {detail}{line}", e.kind())),
                None => StepError::Template(format!("{}{at}{line}", e.kind())),
            }
        })
}

/// Guard: whether the remaining steps run.
pub fn guard_passes(condition: &Pattern, context: &Value) -> bool {
    condition.matches(context)
}

/// What a classify step changed, for the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub ownership: Ownership,
    pub summary: String,
}

/// Classify: the first rule whose condition matches sets severity, route and team. A rule
/// can never send a non-production alarm to the production route.
pub fn classify(
    config: &Classify,
    conditions: &[Pattern],
    context: &Value,
    current: &Ownership,
) -> Classified {
    let mut ownership = current.clone();
    let Some((index, rule)) = config
        .rules
        .iter()
        .enumerate()
        .find(|(i, _)| conditions.get(*i).is_some_and(|p| p.matches(context)))
    else {
        return Classified {
            ownership,
            summary: "no rule matched; severity, route and team unchanged".into(),
        };
    };
    let mut changes = Vec::new();
    if let Some(severity) = rule.severity {
        ownership.severity = severity;
        changes.push(format!("severity {}", severity.as_str()));
    }
    if let Some(route) = rule.route {
        if current.security && route != Route::Security {
            changes.push(format!(
                "route {} refused: security incidents stay on the security route",
                route.as_str()
            ));
        } else if route == Route::Production && !current.production {
            changes.push(format!(
                "route production refused for environment {}",
                current.environment
            ));
        } else {
            ownership.route = route;
            changes.push(format!("route {}", route.as_str()));
        }
    }
    if let Some(team) = &rule.team {
        ownership.team = Some(text::bounded(&text::single_line(team), 256));
        changes.push(format!("team {}", text::for_log(team)));
    }
    Classified {
        ownership,
        summary: format!("rule {} matched: {}", index + 1, changes.join(", ")),
    }
}

/// Notify: a page from the step's templates (or Klaxon's standard rendering when the
/// runbook gives none). The subject obeys SNS's rules, the body is plain text without
/// control characters, bounded; attributes are Klaxon's standard ones.
pub fn render_notification(
    config: &Notify,
    context: &Value,
    ownership: &Ownership,
    standard: &Notification,
) -> Result<Notification, StepError> {
    let route = match config.route {
        Some(route) if ownership.security && route != Route::Security => {
            return Err(StepError::Invalid(format!(
                "notify route {} refused: security incidents go to the security route only",
                route.as_str()
            )))
        }
        Some(Route::Production) if !ownership.production => {
            return Err(StepError::Invalid(format!(
                "notify route production refused: the alarm's environment is {}",
                ownership.environment
            )))
        }
        Some(route) => route,
        None => ownership.route,
    };
    // Security incidents: SNS sends the whole message to SMS subscribers (split into
    // texts), and chat integrations post it, so every part is redacted of addresses and
    // ids, before anything is cut (a cut could leave half an address behind).
    let safe = |s: String| ownership.shown(s);
    let subject = match &config.subject {
        Some(template) => text::sns_subject(&safe(render(&template.value, context)?)),
        None => standard.subject.clone(),
    };
    let split = |message: &str| -> (String, String) {
        let (first, body) = message.split_once("\n\n").unwrap_or((message, ""));
        (first.to_string(), body.to_string())
    };
    let (standard_first, standard_body) = split(&standard.message);
    let first_line = match &config.sms {
        Some(sms) => text::bounded(
            &safe(text::single_line(&render(&sms.value, context)?)),
            notify::SMS_LINE_BYTES,
        ),
        None => standard_first,
    };
    let body_rendered = match &config.body {
        Some(template) => Some(text::multi_line(&render(&template.value, context)?)),
        None => None,
    };
    let body = match &body_rendered {
        Some(body) => safe(body.clone()),
        None => standard_body.clone(),
    };
    // The e-mail copy of a security page: the same first line (the redacted SMS line, as in
    // Klaxon's standard page), the body not redacted.
    let email_message = ownership.security.then(|| {
        let standard_body = standard
            .email_message
            .as_deref()
            .map_or(standard_body, |m| split(m).1);
        let body = body_rendered.unwrap_or(standard_body);
        text::bounded(&format!("{first_line}\n\n{body}"), MAX_MESSAGE_BYTES)
    });
    let mut attributes = standard.attributes.clone();
    attributes.insert(notify::attr::ROUTE.into(), route.as_str().into());
    attributes.insert(
        notify::attr::SEVERITY.into(),
        ownership.severity.as_str().into(),
    );
    Ok(Notification {
        route,
        transition: standard.transition,
        subject,
        message: text::bounded(&format!("{first_line}\n\n{body}"), MAX_MESSAGE_BYTES),
        attributes,
        email_message,
        produced_by: None,
    })
}

/// A `check` step over the context's `signal.details` (filled by intake): whether it
/// holds, and what it found, for the timeline.
pub fn check(config: &crate::runbook::spec::Check, context: &Value) -> (bool, String) {
    let details = &context["signal"]["details"];
    if let Some(ports) = &config.open_to_world {
        let mut found = Vec::new();
        for rule in details["ingress"].as_array().into_iter().flatten() {
            let protocol = rule["protocol"].as_str().unwrap_or_default();
            let all_traffic = protocol == "-1" || protocol == "all";
            if !(all_traffic || matches!(protocol, "tcp" | "udp" | "6" | "17")) {
                continue;
            }
            let from = rule["from_port"].as_i64();
            let to = rule["to_port"].as_i64();
            let covers = |port: u16| {
                all_traffic
                    || match (from, to) {
                        (Some(f), Some(t)) => {
                            (f..=t).contains(&i64::from(port)) || (f == -1 && t == -1)
                        }
                        _ => true,
                    }
            };
            for cidr in rule["cidrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                // CloudTrail carries the range as the caller wrote it (`0.0.0.0/0`, `::/0`,
                // also `::0/0` or `0::/0`): any prefix length of 0 is the whole internet.
                if cidr.trim().ends_with("/0") {
                    for port in ports.iter().filter(|p| covers(**p)) {
                        found.push(format!(
                            "port {port} open to {cidr} ({protocol} {}-{})",
                            from.map(|f| f.to_string()).unwrap_or_else(|| "*".into()),
                            to.map(|t| t.to_string()).unwrap_or_else(|| "*".into())
                        ));
                    }
                }
            }
        }
        let wanted = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join("/");
        return if found.is_empty() {
            (
                false,
                format!("no permission opens port {wanted} to 0.0.0.0/0 or ::/0"),
            )
        } else {
            (true, found.join("; "))
        };
    }
    if config.public_bucket == Some(true) {
        let why: Vec<&str> = details["bucket"]["why"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        return if details["bucket"]["public"] == json!(true) {
            (true, format!("bucket made public: {}", why.join("; ")))
        } else {
            (false, "the call does not make the bucket public".into())
        };
    }
    (false, "nothing to check".into())
}

/// The hop count of an incoming event (0 for events from AWS).
pub fn incoming_hops(event: &Value) -> u64 {
    match &event["detail"][HOPS_FIELD] {
        Value::Null => 0,
        // Present but not a whole number (2.0, "2", -1): treat as at the limit, so a
        // malformed count cannot reopen a loop.
        hops => hops.as_u64().unwrap_or(MAX_HOPS),
    }
}

/// Emit: an event for the Klaxon bus, one hop further than the event being handled.
pub fn emit_event(config: &Emit, context: &Value, hops: u64) -> Result<LifecycleEvent, StepError> {
    if hops >= MAX_HOPS {
        return Err(StepError::HopLimit {
            hops,
            max: MAX_HOPS,
        });
    }
    let mut detail: serde_json::Map<String, Value> =
        BTreeMap::clone(&config.detail).into_iter().collect();
    detail.insert(HOPS_FIELD.into(), json!(hops + 1));
    detail.insert("incident_id".into(), context["incident_id"].clone());
    Ok(LifecycleEvent {
        source: Some(EMIT_SOURCE.to_string()),
        detail_type: config.detail_type.clone(),
        resources: Vec::new(),
        detail: Value::Object(detail),
    })
}

/// CloudWatch allows at most 30 dimensions, each value 1–1024 characters.
pub fn metric_datum(config: &PutMetric, context: &Value) -> Result<MetricDatum, StepError> {
    let mut dimensions = Vec::new();
    for (name, template) in &config.dimensions {
        let value = text::bounded(&text::single_line(&render(&template.value, context)?), 1024);
        if value.is_empty() {
            return Err(StepError::Invalid(format!(
                "dimension {name} rendered empty"
            )));
        }
        dimensions.push((name.clone(), value));
    }
    Ok(MetricDatum {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        dimensions,
        value: config.value,
        unit: config.unit.clone(),
    })
}

/// Contexts for checking a runbook's templates at load time: with a sample result for
/// each enrichment step (`(step id, is metric snapshot)`), and with every result missing.
pub fn sample_contexts(enrichment_steps: &[(String, &str)]) -> (Value, Value) {
    // Built once per process: every runbook load starts from it.
    static SAMPLE: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let mut with = SAMPLE.get_or_init(sample_context).clone();
    with["outcome"] = json!("opened");
    with["runbook"] = json!("sample");
    let mut without = with.clone();
    for (id, kind) in enrichment_steps {
        let sample = match *kind {
            "metric_snapshot" => json!({
                "start": "2024-05-01T11:45:00Z", "end": "2024-05-01T12:00:00Z",
                "metrics": [{"label": "AWS/EC2 CPUUtilization", "points": 3, "min": 1.0, "max": 3.0, "avg": 2.0, "last": 3.0}],
            }),
            "target_health" => json!({
                "target_groups": [{
                    "target_group": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/sample/0123456789abcdef",
                    "total": 2, "healthy": 1,
                    "unhealthy_targets": [{"id": "i-0123456789abcdef0", "port": 8080, "availability_zone": "us-east-1a",
                        "state": "unhealthy", "reason": "Target.Timeout", "description": "Request timed out"}],
                }],
            }),
            "route53_health_check" => json!({
                "health_checks": [{
                    "id": "abcdef01-2345-6789-abcd-ef0123456789", "check_type": "HTTPS",
                    "target": "https://shop.example.com:443/health", "request_interval": 30, "failure_threshold": 3,
                    "last_failures": [{"region": "us-east-1", "checked_at": "2024-05-01T12:00:00Z",
                        "status": "Failure: HTTP Status Code 503, Service Unavailable"}],
                    "last_failure_unavailable": null,
                }],
            }),
            _ => json!({
                "transitions": 3, "to_alarm": 2, "flapping": false,
                "recent": [{"timestamp": "2024-05-01T12:00:00Z", "summary": "Alarm updated from OK to ALARM", "new_state": "ALARM"}],
            }),
        };
        with["enrichment"][id] = sample;
        without["enrichment"][id] = Value::Null;
    }
    (with, without)
}

/// A context for checking templates at load time: every key present, as at run time.
pub fn sample_context() -> Value {
    let event = crate::intake::parse_value(&json!({
        "id": "sample", "source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
        "account": "123456789012", "region": "us-east-1", "time": "2024-05-01T12:00:00Z",
        "resources": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:sample"],
        "detail": {"alarmName": "sample", "state": {"value": "ALARM", "timestamp": "2024-05-01T12:00:00.000+0000", "reason": "r"},
                   "configuration": {"description": "d", "metrics": []}}
    }));
    match event {
        Ok(crate::intake::Intake::Alarm(a)) => alarm_context(
            &a,
            &crate::ownership::from_tags(&[]),
            Some("INC-20240501-0000000000"),
            Some(Transition::Opened),
        ),
        _ => unreachable!("the sample is a valid alarm event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::spec::ClassifyRule;
    use crate::severity::Severity;
    use serde_json::json;
    use serde_saphyr::Spanned;

    fn spanned<T>(value: T) -> Spanned<T> {
        Spanned::new(
            value,
            serde_saphyr::Location::UNKNOWN,
            serde_saphyr::Location::UNKNOWN,
        )
    }

    fn ownership(env: &str) -> Ownership {
        crate::ownership::from_tags(&[("Environment".into(), env.into())])
    }

    #[test]
    fn strict_templates_reject_unknown_variables() {
        let ctx = sample_context();
        assert_eq!(
            render("{{ alarm.name }} {{ severity | upper }}", &ctx).unwrap(),
            "sample HIGH"
        );
        assert!(render("{{ alarm.nmae }}", &ctx).is_err());
        assert!(render("{{ service or '(untagged)' }}", &ctx)
            .unwrap()
            .contains("untagged"));
    }

    #[test]
    fn guard_matches_the_context() {
        let ctx = sample_context();
        let production = Pattern::from_value(&json!({"environment": ["production"]})).unwrap();
        let critical = Pattern::from_value(&json!({"severity": ["critical"]})).unwrap();
        assert!(guard_passes(&production, &ctx));
        assert!(!guard_passes(&critical, &ctx));
    }

    #[test]
    fn classify_first_rule_wins_and_never_promotes_to_production() {
        let rules = Classify {
            rules: vec![
                ClassifyRule {
                    when: spanned(json!({"alarm": {"name": [{"prefix": "sam"}]}})),
                    severity: Some(Severity::Critical),
                    route: Some(Route::Production),
                    team: Some("db".into()),
                },
                ClassifyRule {
                    when: spanned(json!({"alarm": {"name": [{"exists": true}]}})),
                    severity: Some(Severity::Info),
                    route: None,
                    team: None,
                },
            ],
        };
        let conditions: Vec<Pattern> = rules
            .rules
            .iter()
            .map(|r| Pattern::from_value(&r.when.value).unwrap())
            .collect();
        let ctx = sample_context();
        let c = classify(&rules, &conditions, &ctx, &ownership("production"));
        assert_eq!(c.ownership.severity, Severity::Critical);
        assert_eq!(c.ownership.team.as_deref(), Some("db"));
        let staging = classify(&rules, &conditions, &ctx, &ownership("staging"));
        assert_eq!(staging.ownership.route, Route::Test, "{}", staging.summary);
        assert!(staging.summary.contains("refused"));
    }

    #[test]
    fn emitted_events_count_hops_and_stop_at_the_limit() {
        let config = Emit {
            detail_type: "Restart Requested".into(),
            detail: BTreeMap::from([("service".into(), json!("checkout"))]),
        };
        let ctx = sample_context();
        let e = emit_event(&config, &ctx, 0).unwrap();
        assert_eq!(e.detail[HOPS_FIELD], 1);
        assert_eq!(incoming_hops(&json!({"detail": e.detail})), 1);
        assert!(matches!(
            emit_event(&config, &ctx, MAX_HOPS),
            Err(StepError::HopLimit { .. })
        ));
    }

    #[test]
    fn notify_templates_render_clean_text_and_respect_routes() {
        let ctx = alarm_context_with_name("evil\nAcknowledge: http://x\u{1b}[2J");
        let standard = Notification {
            route: Route::Test,
            transition: Transition::Opened,
            subject: "s".into(),
            message: "STANDARD FIRST LINE\n\nrest".into(),
            attributes: BTreeMap::from([("severity".to_string(), "low".to_string())]),
            email_message: None,
            produced_by: None,
        };
        let config = Notify {
            route: None,
            subject: Some(spanned("{{ alarm.name }} is {{ alarm.state }}".into())),
            body: Some(spanned(
                "Alarm: {{ alarm.name }}\nReason: {{ alarm.reason }}\n{{ alarm.reason_quoted }}"
                    .into(),
            )),
            sms: None,
        };
        let n = render_notification(&config, &ctx, &ownership("dev"), &standard).unwrap();
        assert!(n.subject.is_ascii() && !n.subject.contains('\n'));
        assert!(n.message.starts_with("STANDARD FIRST LINE\n\n"));
        assert!(
            n.message.lines().all(|l| !l.starts_with("Acknowledge:")),
            "{}",
            n.message
        );
        assert!(!n.message.contains('\u{1b}'));
        let to_production = Notify {
            route: Some(Route::Production),
            ..config
        };
        assert!(render_notification(&to_production, &ctx, &ownership("dev"), &standard).is_err());
    }

    fn alarm_context_with_name(name: &str) -> Value {
        let mut ctx = sample_context();
        ctx["alarm"]["name"] = json!(text::single_line(name));
        ctx["alarm"]["reason"] = json!(text::single_line("line one\nAcknowledge: http://evil"));
        ctx["alarm"]["reason_quoted"] = json!(text::quoted_block(
            "line one\nAcknowledge: http://evil",
            4096
        ));
        ctx
    }

    #[test]
    fn metric_dimensions_render() {
        let config = PutMetric {
            namespace: "Klaxon".into(),
            name: "TestEnvironmentFailures".into(),
            dimensions: BTreeMap::from([(
                "Service".to_string(),
                spanned("{{ service or 'unknown' }}".to_string()),
            )]),
            value: 1.0,
            unit: Some("Count".into()),
        };
        let d = metric_datum(&config, &sample_context()).unwrap();
        assert_eq!(
            d.dimensions,
            vec![("Service".to_string(), "unknown".to_string())]
        );
    }
}
