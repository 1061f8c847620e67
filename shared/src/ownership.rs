//! Who owns an event and where its pages go: from the tags of its alarm or resource, then
//! from its source.
//!
//! Rules (public contract, documented in docs/CONTRACTS.md): tag keys `Environment`,
//! `Service`, `Team`, `Severity`, matched case-insensitively. `production`/`prod`/`prd` (any
//! case) or no `Environment` tag at all means production: an untagged alarm must never miss
//! a real page. Any other environment goes to the `test` route, never to `production`.

use serde::{Deserialize, Serialize};

use crate::text;

use crate::route::Route;
use crate::severity::Severity;

/// Ownership of one event, derived from its tags ([`from_tags`]) and its source
/// ([`for_event`]). All strings are sanitised (one line, no control characters, bounded), so
/// they are safe to log and to use as SNS attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// `production`, or the environment's own name lower-cased (`staging`, `dev`, ...).
    pub environment: String,
    pub production: bool,
    pub severity: Severity,
    pub service: Option<String>,
    pub team: Option<String>,
    pub route: Route,
    /// A security incident: pinned to the security route (no classification or notify
    /// step can move it), and its SMS, chat text and subjects are redacted.
    #[serde(default)]
    pub security: bool,
}

impl Ownership {
    /// Text as it may go out in a page, a subject or chat: for security incidents with
    /// addresses and ids redacted (SNS gives SMS subscribers the whole message).
    pub fn shown(&self, text: String) -> String {
        if self.security {
            text::redact_sensitive(&text)
        } else {
            text
        }
    }
}

/// Upper bound on a tag value we carry around (CloudWatch allows 256 characters).
const MAX_TAG_VALUE_BYTES: usize = 256;

pub fn from_tags(tags: &[(String, String)]) -> Ownership {
    // Keys match in any case, but when several casings exist (`Environment` and
    // `environment` on one resource), the documented spelling wins, whatever their order.
    let lookup = |key: &str| {
        tags.iter()
            .find(|(k, _)| k.trim() == key)
            .or_else(|| {
                tags.iter()
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
            })
            .map(|(_, v)| text::bounded(text::single_line(v).trim(), MAX_TAG_VALUE_BYTES))
            .filter(|v| !v.is_empty())
    };
    let environment_tag = lookup("Environment").map(|e| e.to_lowercase());
    let production = match environment_tag.as_deref() {
        None | Some("production" | "prod" | "prd") => true,
        Some(_) => false,
    };
    let environment = if production {
        "production".to_string()
    } else {
        environment_tag.unwrap_or_default()
    };
    let default_severity = if production {
        Severity::High
    } else {
        Severity::Low
    };
    Ownership {
        environment,
        production,
        severity: lookup("Severity")
            .and_then(|s| Severity::parse(&s))
            .unwrap_or(default_severity),
        service: lookup("Service"),
        team: lookup("Team"),
        route: if production {
            Route::Production
        } else {
            Route::Test
        },
        security: false,
    }
}

/// Ownership of an event: from its tags, then what the source says. A severity the source
/// states (a GuardDuty score, a Security Hub label) outranks the tag default; an explicit
/// `Severity` tag outranks it for Health events, and for security sources only when it is
/// more severe. Security sources go to the security route whatever the environment,
/// because their responders are SecOps, not the service's on-call.
pub fn for_event(tags: &[(String, String)], event: &crate::intake::StateChange) -> Ownership {
    let mut ownership = from_tags(tags);
    if let Some(signal) = &event.signal {
        let tagged_severity = tags.iter().any(|(k, v)| {
            k.trim().eq_ignore_ascii_case("Severity") && Severity::parse(v).is_some()
        });
        ownership.severity = match (signal.severity, tagged_severity) {
            (None, _) => ownership.severity,
            // Anyone who may tag a resource could otherwise mute its findings with
            // `Severity=low`: for security sources the more severe of the two wins.
            (Some(source), true) if signal.security => source.min(ownership.severity),
            (Some(_), true) => ownership.severity,
            (Some(source), false) => source,
        };
        if signal.security {
            ownership.security = true;
            ownership.route = Route::Security;
        } else if let Some(route) = signal.route {
            ownership.route = route;
        }
    }
    ownership
}

/// Ownership of an event a security runbook handles (`security: true`): pinned to the
/// security route, redacted like every security incident.
pub fn secured(mut ownership: Ownership) -> Ownership {
    ownership.security = true;
    ownership.route = Route::Security;
    ownership
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn untagged_alarm_is_production_high() {
        let o = from_tags(&[]);
        assert!(o.production);
        assert_eq!(o.environment, "production");
        assert_eq!(o.severity, Severity::High);
        assert_eq!(o.route, Route::Production);
    }

    #[test]
    fn production_spellings_any_case() {
        for v in ["production", "PROD", "Prd", " prod "] {
            let o = from_tags(&tags(&[("environment", v)]));
            assert!(o.production, "{v}");
            assert_eq!(o.route, Route::Production);
        }
    }

    #[test]
    fn other_environments_go_to_test_with_low_default() {
        for v in [
            "test",
            "dev",
            "Staging",
            "qa",
            "sandbox",
            "production-like",
            "preprod",
        ] {
            let o = from_tags(&tags(&[("ENVIRONMENT", v)]));
            assert!(!o.production, "{v}");
            assert_eq!(o.route, Route::Test);
            assert_eq!(o.severity, Severity::Low);
            assert_eq!(o.environment, v.to_lowercase());
        }
    }

    #[test]
    fn severity_service_team_case_insensitive_keys() {
        let o = from_tags(&tags(&[
            ("SEVERITY", "Critical"),
            ("service", "checkout"),
            ("TeAm", "payments"),
        ]));
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.service.as_deref(), Some("checkout"));
        assert_eq!(o.team.as_deref(), Some("payments"));
    }

    #[test]
    fn unknown_severity_falls_back_and_hostile_values_are_cleaned() {
        let o = from_tags(&tags(&[
            ("Severity", "sev1"),
            ("Environment", "dev"),
            ("Service", "a\nb\u{1b}c"),
        ]));
        assert_eq!(o.severity, Severity::Low);
        assert_eq!(o.service.as_deref(), Some("a bc"));
        let long = "x".repeat(5000);
        let o = from_tags(&tags(&[("Team", long.as_str())]));
        assert!(o.team.unwrap().len() <= MAX_TAG_VALUE_BYTES);
    }

    #[test]
    fn the_exact_key_spelling_wins_over_other_casings() {
        for pairs in [
            [("environment", "dev"), ("Environment", "prod")],
            [("Environment", "prod"), ("environment", "dev")],
        ] {
            let o = from_tags(&tags(&pairs));
            assert!(o.production, "{pairs:?}");
        }
        assert!(!from_tags(&tags(&[("ENVIRONMENT", "dev")])).production);
    }

    #[test]
    fn empty_environment_value_counts_as_untagged() {
        assert!(from_tags(&tags(&[("Environment", "  ")])).production);
    }
}
