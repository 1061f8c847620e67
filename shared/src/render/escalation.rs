//! The one security page of an analyst's escalation, listing every finding of the event.

use super::page::attributes;
use super::{MAX_MESSAGE_BYTES, SMS_LINE_BYTES};
use crate::model::{EscalatedFinding, Notification, Transition};
use crate::ownership::Ownership;
use crate::text;

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
