//! The incident page, server-rendered HTML that works without JavaScript and on a phone
//! (docs/RESPONDERS.md, "The page"). Templates are minijinja with HTML auto-escaping: every
//! value from an alarm, a finding or a responder is escaped by the engine, not by hand.
//! The style sheet is inline, allowed by its hash in the Content-Security-Policy; no
//! script at all.

use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::view::{kind, summary, time};
use crate::action::ActionKind;
use crate::model::{Incident, IncidentStatus, StepEntry, TimelineEntry};
use crate::plan::action::ResponderState;

const CSS: &str = include_str!("templates/page.css");
const INCIDENT_HTML: &str = include_str!("templates/incident.html");
const REFUSED_HTML: &str = include_str!("templates/refused.html");

/// The newest timeline entries the page shows; older ones are counted, and `klaxon incident
/// export` (or the API) has them all. Keeps a long incident's page far below Lambda's 6 MB
/// response limit and quick on a phone.
pub const MAX_PAGE_ENTRIES: usize = 200;

/// Durations offered for a snooze (the one duration grammar).
pub const SNOOZE_CHOICES: [&str; 5] = ["15m", "30m", "1h", "4h", "1d"];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html`: auto-escaping on (minijinja's default for the extension).
        env.add_template("incident.html", INCIDENT_HTML)
            .expect("the incident template parses (tested)");
        env.add_template("refused.html", REFUSED_HTML)
            .expect("the refusal template parses (tested)");
        env
    })
}

/// The Content-Security-Policy of every page: nothing loads, nothing runs, nothing frames
/// it; the one inline style sheet is allowed by its hash.
pub fn content_security_policy() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        use base64::Engine as _;
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// What the page says after a POST, in its `role=status` region.
#[derive(Debug, Clone, Serialize)]
pub struct ResultNote {
    pub message: String,
    /// `done` or `refused` (style only; the words say it).
    pub class: &'static str,
}

#[derive(Serialize)]
struct Ack {
    by: String,
    channel: &'static str,
    at: String,
    at_shown: String,
    age: String,
}

#[derive(Serialize)]
struct Step {
    runbook: String,
    step: String,
    kind: String,
    status: &'static str,
    summary: String,
}

#[derive(Serialize)]
struct Entry {
    at: String,
    at_shown: String,
    age: String,
    kind: &'static str,
    outcome: &'static str,
    actor: Option<String>,
    channel: Option<&'static str>,
    summary: String,
}

#[derive(Serialize)]
struct PageView {
    css: &'static str,
    incident_id: String,
    title: String,
    status_words: String,
    status_class: &'static str,
    severity: &'static str,
    environment: String,
    route: &'static str,
    security: bool,
    opened_at: String,
    opened_at_shown: String,
    opened_age: String,
    resolved_at: Option<String>,
    resolved_at_shown: Option<String>,
    resolution: Option<&'static str>,
    acknowledged: Option<Ack>,
    owner: Option<String>,
    snoozed_until: Option<String>,
    source_label: &'static str,
    source_kind: &'static str,
    last_state: &'static str,
    last_state_at: String,
    console_url: Option<String>,
    actions: Vec<&'static str>,
    nonce: String,
    durations: [&'static str; 5],
    severities: Vec<&'static str>,
    steps: Vec<Step>,
    timeline: Vec<Entry>,
    /// Entries older than the ones shown.
    earlier: usize,
    result: Option<ResultNote>,
    now: String,
    now_shown: String,
}

/// The actions a link holder may take on `incident` now: the outcome table's changes only
/// (no button that would do nothing), and on the security route only acknowledge and note.
pub fn link_actions(incident: &Incident, route: Option<crate::route::Route>) -> Vec<ActionKind> {
    let state = ResponderState::of(incident);
    let restricted =
        crate::plan::action::restricted_link(crate::action::ActorKind::Link, route, incident);
    ActionKind::ALL
        .into_iter()
        .filter(|k| !restricted || k.allowed_by_security_link())
        .filter(|k| {
            let outcome = crate::plan::action::outcome(*k, state, false);
            outcome != crate::model::Outcome::Unchanged
        })
        .collect()
}

pub struct PageInput<'a> {
    pub incident: &'a Incident,
    pub timeline: &'a [TimelineEntry],
    pub steps: &'a [StepEntry],
    pub now: DateTime<Utc>,
    /// A fresh random nonce: each button's action id is `nonce:action`.
    pub nonce: &'a str,
    /// The route of the link that opened the page (its buttons follow its rules).
    pub route: Option<crate::route::Route>,
    pub result: Option<ResultNote>,
}

pub fn incident_page(input: PageInput<'_>) -> String {
    let PageInput {
        incident,
        timeline,
        steps,
        now,
        nonce,
        route,
        result,
    } = input;
    let o = &incident.ownership;
    let shown = |s: &str| o.shown(s.to_string());
    let (status_words, status_class) = match (incident.status, &incident.acknowledged) {
        (IncidentStatus::Resolved, _) => ("Resolved".to_string(), "resolved"),
        (IncidentStatus::Open, Some(a)) => (
            format!("Open, acknowledged by {}", shown(&a.by)),
            "acknowledged",
        ),
        (IncidentStatus::Open, None) => ("Open, not acknowledged".to_string(), "open"),
    };
    let view = PageView {
        css: CSS,
        incident_id: incident.incident_id.clone(),
        title: shown(&incident.title),
        status_words,
        status_class,
        severity: o.severity.as_str(),
        environment: if o.security {
            "security".into()
        } else {
            shown(&o.environment)
        },
        route: o.route.as_str(),
        security: o.security,
        opened_at: time(incident.opened_at),
        opened_at_shown: shown_time(incident.opened_at),
        opened_age: age(incident.opened_at, now),
        resolved_at: incident.resolved_at.map(time),
        resolved_at_shown: incident.resolved_at.map(shown_time),
        resolution: incident.resolution.map(|r| r.as_str()),
        acknowledged: incident.acknowledged.as_ref().map(|a| Ack {
            by: shown(&a.by),
            channel: a.channel.as_str(),
            at: time(a.at),
            at_shown: shown_time(a.at),
            age: age(a.at, now),
        }),
        owner: incident.owner.as_deref().map(shown),
        snoozed_until: incident
            .snoozed_until
            .filter(|until| *until > now)
            .map(shown_time),
        source_label: if incident.alarm_kind.is_alarm() {
            "Alarm"
        } else {
            "Source"
        },
        source_kind: incident.alarm_kind.as_str(),
        last_state: incident.last_state.as_str(),
        last_state_at: shown_time(incident.last_state_at),
        // Built from the unredacted name: not on a security incident's page.
        console_url: (!o.security)
            .then(|| {
                crate::render::alarm_console_url(
                    incident.alarm_kind,
                    incident.region.as_deref(),
                    &incident.title,
                )
            })
            .flatten(),
        actions: link_actions(incident, route)
            .into_iter()
            .map(ActionKind::as_str)
            .collect(),
        nonce: nonce.to_string(),
        durations: SNOOZE_CHOICES,
        severities: ["critical", "high", "medium", "low", "info"].to_vec(),
        steps: steps
            .iter()
            .map(|s| Step {
                runbook: s.runbook.clone(),
                step: s.step.clone(),
                kind: s.kind.clone(),
                status: s.status.as_str(),
                summary: shown(&s.summary),
            })
            .collect(),
        earlier: timeline.len().saturating_sub(MAX_PAGE_ENTRIES),
        timeline: timeline[timeline.len().saturating_sub(MAX_PAGE_ENTRIES)..]
            .iter()
            .map(|e| Entry {
                at: time(e.at),
                at_shown: shown_time(e.at),
                age: age(e.at, now),
                kind: kind(e.kind),
                outcome: e.outcome.as_str(),
                actor: e.actor.as_ref().map(|a| shown(&a.shown())),
                channel: e.actor.as_ref().map(|a| a.channel.as_str()),
                summary: shown(&summary(e)),
            })
            .collect(),
        result,
        now: time(now),
        now_shown: shown_time(now),
    };
    render("incident.html", &view)
}

/// The one page every refused link gets: it says nothing about why.
pub fn refused_page() -> String {
    #[derive(Serialize)]
    struct Refused {
        css: &'static str,
    }
    render("refused.html", &Refused { css: CSS })
}

fn render<T: Serialize>(name: &str, view: &T) -> String {
    environment()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(view)))
        // The templates are ours and tested; a failure here is a bug, shown plainly.
        .unwrap_or_else(|e| {
            format!(
                "<!doctype html><title>Klaxon</title><p>page error: {}</p>",
                crate::text::html_escape(&e.to_string())
            )
        })
}

fn shown_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "12 minutes ago", "3 hours ago", "2 days ago" (or "in …" for a time ahead).
pub fn age(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - t).num_seconds();
    let (n, ahead) = (seconds.unsigned_abs(), seconds < 0);
    let (value, unit) = match n {
        0..=59 => {
            return if ahead {
                "in under a minute".into()
            } else {
                "just now".into()
            }
        }
        60..=3599 => (n / 60, "minute"),
        3600..=86_399 => (n / 3600, "hour"),
        _ => (n / 86_400, "day"),
    };
    let plural = if value == 1 { "" } else { "s" };
    if ahead {
        format!("in {value} {unit}{plural}")
    } else {
        format!("{value} {unit}{plural} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::action::tests::incident;

    #[test]
    fn ages_read_as_words() {
        let now: DateTime<Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
        let ago = |s: i64| age(now - chrono::Duration::seconds(s), now);
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(60), "1 minute ago");
        assert_eq!(ago(3 * 3600 + 5), "3 hours ago");
        assert_eq!(ago(2 * 86_400), "2 days ago");
        assert_eq!(ago(-120), "in 2 minutes");
    }

    #[test]
    fn buttons_are_the_actions_that_change_something() {
        let open = incident(ResponderState::Open);
        assert_eq!(
            link_actions(&open, None),
            [
                ActionKind::Acknowledge,
                ActionKind::Resolve,
                ActionKind::Note,
                ActionKind::Snooze,
                ActionKind::Severity,
                ActionKind::Own
            ]
        );
        let resolved = incident(ResponderState::Resolved);
        assert_eq!(
            link_actions(&resolved, None),
            [ActionKind::Reopen, ActionKind::Note, ActionKind::Severity]
        );
        let mut security = open.clone();
        security.ownership.security = true;
        assert_eq!(
            link_actions(&security, None),
            [ActionKind::Acknowledge, ActionKind::Note]
        );
        // A link sent to the security route, whatever the incident.
        assert_eq!(
            link_actions(&open, Some(crate::route::Route::Security)),
            [ActionKind::Acknowledge, ActionKind::Note]
        );
    }

    #[test]
    fn a_long_timeline_shows_its_newest_entries_and_counts_the_rest() {
        let open = incident(ResponderState::Open);
        let entry = |n: usize| TimelineEntry {
            incident_id: "INC-1".into(),
            at: open.opened_at + chrono::Duration::seconds(n as i64),
            entry_id: format!("e{n}"),
            kind: crate::model::EntryKind::Note,
            outcome: crate::model::Outcome::Noted,
            summary: format!("entry number {n}"),
            evidence: None,
            actor: None,
            action: None,
            note: None,
        };
        let timeline: Vec<TimelineEntry> = (0..MAX_PAGE_ENTRIES + 50).map(entry).collect();
        let html = incident_page(PageInput {
            incident: &open,
            timeline: &timeline,
            steps: &[],
            now: open.opened_at,
            nonce: "n",
            route: None,
            result: None,
        });
        assert!(html.contains("50 earlier entries are not shown"), "count");
        assert!(!html.contains("entry number 49<"), "an old entry shown");
        assert!(html.contains(&format!("entry number {}", MAX_PAGE_ENTRIES + 49)));
    }

    #[test]
    fn hostile_text_is_escaped_and_the_policy_allows_only_the_inline_style() {
        let mut hostile = incident(ResponderState::Open);
        hostile.title = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>".into();
        hostile.owner = Some("<b>mallory</b>".into());
        let now = hostile.opened_at;
        let html = incident_page(PageInput {
            incident: &hostile,
            timeline: &[],
            steps: &[],
            now,
            nonce: "n",
            route: None,
            result: Some(ResultNote {
                message: "<i>done</i>".into(),
                class: "done",
            }),
        });
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>mallory"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("&lt;i&gt;done"));
        let csp = content_security_policy();
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline"));
        // The style element holds exactly the hashed text.
        assert!(html.contains(&format!("<style>{CSS}</style>")));
        assert!(refused_page().contains("This link does not work"));
    }
}
