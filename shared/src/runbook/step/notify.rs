//! `notify`: a page on a route's topic from templates (each part defaults to Klaxon's
//! standard page), at most one per route and event; a failed template sends the standard
//! page instead.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::model::{Notification, StepStatus, Transition};
use crate::ownership::Ownership;
use crate::render::{self, MAX_MESSAGE_BYTES};
use crate::route::Route;
use crate::runbook::step::common::StepError;
use crate::runbook::template::render;
use crate::text;

/// A page on a route's SNS topic, from templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notify {
    /// Defaults to the route the event was classified to.
    pub route: Option<Route>,
    /// Each part defaults to Klaxon's standard page (docs/CONTRACTS.md).
    pub subject: Option<Spanned<String>>,
    pub body: Option<Spanned<String>>,
    /// The first line of the message (the SMS); defaults to Klaxon's summary line.
    pub sms: Option<Spanned<String>>,
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
            render::SMS_LINE_BYTES,
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
    attributes.insert(render::attr::ROUTE.into(), route.as_str().into());
    attributes.insert(
        render::attr::SEVERITY.into(),
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

/// A notify step: the page it renders from the event's standard page (at most one per route
/// and event), or why none.
pub(crate) fn notify_step(
    config: &Notify,
    ctx: &Value,
    own: &Ownership,
    standard: &Result<(Transition, Notification), String>,
    paged_routes: &mut BTreeMap<Route, String>,
    pages: &mut Vec<Notification>,
    produced_by: String,
) -> (StepStatus, String) {
    let (transition, standard) = match standard {
        Ok((transition, page)) => (*transition, page.clone()),
        Err(why) => return (StepStatus::Skipped, why.clone()),
    };
    let (mut page, status, summary) = match render_notification(config, ctx, own, &standard) {
        Ok(page) => {
            let summary = format!(
                "page on route {} ({})",
                page.route.as_str(),
                transition.as_str()
            );
            (page, StepStatus::Ok, summary)
        }
        // Never lose a page to a template: send Klaxon's own.
        Err(e) => {
            let summary = format!(
                "{e}; Klaxon's standard page was sent on route {} instead",
                standard.route.as_str()
            );
            (standard, StepStatus::Failed, summary)
        }
    };
    match paged_routes.entry(page.route) {
        std::collections::btree_map::Entry::Occupied(by) => (
            StepStatus::Skipped,
            format!(
                "route {} was already paged for this event by {}",
                page.route.as_str(),
                by.get()
            ),
        ),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(produced_by.clone());
            page.produced_by = Some(produced_by);
            pages.push(page);
            (status, summary)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Transition;
    use crate::runbook::context::sample_context;
    use crate::runbook::step::common::tests::*;
    use serde_json::json;

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
}
