//! Configuration from environment variables, validated once at cold start. Every error
//! names the variable. The variables are a public contract (docs/CONTRACTS.md).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::EngineSettings;
use crate::route::Route;

pub const TABLE: &str = "KLAXON_TABLE";
pub const TOPIC_PRODUCTION: &str = "KLAXON_TOPIC_PRODUCTION";
pub const TOPIC_TEST: &str = "KLAXON_TOPIC_TEST";
pub const TOPIC_SECURITY: &str = "KLAXON_TOPIC_SECURITY";
pub const TOPIC_OPS: &str = "KLAXON_TOPIC_OPS";
pub const EVENT_BUS: &str = "KLAXON_EVENT_BUS";
pub const IDEMPOTENCY_HOURS: &str = "KLAXON_IDEMPOTENCY_HOURS";
pub const OUTBOX_LEASE_SECONDS: &str = "KLAXON_OUTBOX_LEASE_SECONDS";
pub const TAG_CACHE_SECONDS: &str = "KLAXON_TAG_CACHE_SECONDS";
/// A directory (or file) of runbooks to run instead of the ones built into the binary.
pub const RUNBOOKS: &str = "KLAXON_RUNBOOKS";
/// `true`: security pages reach e-mail subscribers with addresses and ids (SNS per-protocol
/// message), at the price of message attributes on the security topic. Default `false`.
pub const SECURITY_EMAIL_DETAIL: &str = "KLAXON_SECURITY_EMAIL_DETAIL";
/// Regions whose public AWS Health issues open an `ops` incident (comma-separated);
/// default: the function's own Region (`AWS_REGION`).
pub const HEALTH_REGIONS: &str = "KLAXON_HEALTH_REGIONS";
/// Base URL of the incident page (the responder's function URL, or a custom domain in front
/// of it): pages carry links under it. Unset: pages carry no links.
pub const RESPONDER_URL: &str = "KLAXON_RESPONDER_URL";
/// Days links keep working after their incident resolves (1-90, default 7).
pub const LINK_TTL_DAYS: &str = "KLAXON_LINK_TTL_DAYS";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("missing environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("runbooks are invalid:\n{0}")]
    Runbooks(String),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub table: String,
    pub settings: EngineSettings,
    /// `KLAXON_RUNBOOKS`; unset: the runbooks built into the binary.
    pub runbooks: Option<std::path::PathBuf>,
    /// `KLAXON_SECURITY_EMAIL_DETAIL`.
    pub security_email_detail: bool,
}

/// A base URL for links: `https://…`, or `http://` on 127.0.0.1 or localhost only (local
/// runs under `cargo lambda watch`). Links carry credentials: never over plain HTTP
/// elsewhere.
fn responder_url(url: &str) -> Result<String, ConfigError> {
    let https_host = url
        .strip_prefix("https://")
        .map(|rest| rest.split('/').next().unwrap_or_default())
        .filter(|host| !host.is_empty() && !host.contains('@'));
    let ok = https_host.is_some() || crate::link::is_loopback_url(url);
    if !ok || url.contains(['?', '#', ' ']) || url.chars().any(char::is_control) {
        return Err(ConfigError::Invalid {
            name: RESPONDER_URL,
            reason: format!(
                "expected an https:// URL without query or fragment (http:// only on 127.0.0.1 or localhost), found `{}`",
                crate::text::for_log(url)
            ),
        });
    }
    Ok(url.to_string())
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup`, so tests need not touch the process env.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));

        let table = required(TABLE)?;
        if table.len() < 3
            || table.len() > 255
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: TABLE,
                reason: "a DynamoDB table name is 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'"
                    .into(),
            });
        }
        let mut topics = BTreeMap::new();
        for (name, route, needed) in [
            (TOPIC_PRODUCTION, Route::Production, true),
            (TOPIC_TEST, Route::Test, true),
            (TOPIC_SECURITY, Route::Security, false),
            (TOPIC_OPS, Route::Ops, false),
        ] {
            let value = if needed {
                Some(required(name)?)
            } else {
                get(name)
            };
            if let Some(arn) = value {
                if arn.ends_with(".fifo") {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: "a FIFO topic cannot be used: Klaxon publishes without MessageGroupId, and SMS and e-mail cannot subscribe to FIFO topics".into(),
                    });
                }
                if !is_arn_of(&arn, "sns") {
                    return Err(ConfigError::Invalid {
                        name,
                        reason: format!("expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), found `{}`", crate::text::for_log(&arn)),
                    });
                }
                topics.insert(route, arn);
            }
        }
        let event_bus = required(EVENT_BUS)?;
        if !(is_arn_of(&event_bus, "events")
            || event_bus
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c)))
        {
            return Err(ConfigError::Invalid {
                name: EVENT_BUS,
                reason: "expected an event bus name or ARN".into(),
            });
        }

        let mut settings = EngineSettings::new(topics, event_bus);
        if let Some(hours) = number(&get, IDEMPOTENCY_HOURS, 30, 24 * 30)? {
            settings.idempotency_ttl = Duration::from_secs(hours * 3600);
        }
        if let Some(seconds) = number(&get, OUTBOX_LEASE_SECONDS, 5, 120)? {
            settings.outbox_lease = Duration::from_secs(seconds);
        }
        if let Some(seconds) = number(&get, TAG_CACHE_SECONDS, 0, 3600)? {
            settings.tag_cache_ttl = Duration::from_secs(seconds);
        }
        let regions = get(HEALTH_REGIONS).or_else(|| get("AWS_REGION"));
        if let Some(list) = regions {
            let regions: Vec<String> = list
                .split(',')
                .map(|r| r.trim().to_string())
                .filter(|r| !r.is_empty())
                .collect();
            if let Some(bad) = regions.iter().find(|r| {
                !r.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            }) {
                return Err(ConfigError::Invalid {
                    name: HEALTH_REGIONS,
                    reason: format!(
                        "expected Region names such as us-east-1, separated by commas; found `{}`",
                        crate::text::for_log(bad)
                    ),
                });
            }
            settings.health_regions = regions;
        }
        if let Some(url) = get(RESPONDER_URL) {
            settings.responder_url = Some(responder_url(&url)?);
        }
        if let Some(days) = number(
            &get,
            LINK_TTL_DAYS,
            1,
            crate::link::MAX_LINK_LIFETIME_DAYS as u64,
        )? {
            settings.link_ttl = Duration::from_secs(days * 86_400);
        }
        let runbooks = get(RUNBOOKS).map(std::path::PathBuf::from);
        if let Some(path) = &runbooks {
            if !path.exists() {
                return Err(ConfigError::Invalid {
                    name: RUNBOOKS,
                    reason: format!("{} does not exist", path.display()),
                });
            }
        }
        let security_email_detail = match get(SECURITY_EMAIL_DETAIL).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: SECURITY_EMAIL_DETAIL,
                    reason: format!(
                        "expected true or false, found `{}`",
                        crate::text::for_log(other)
                    ),
                })
            }
        };
        Ok(Config {
            table,
            settings,
            runbooks,
            security_email_detail,
        })
    }

    /// Loads and validates the runbooks once (cold start): every error with file:line:column.
    pub fn catalog(&self) -> Result<crate::runbook::Catalog, ConfigError> {
        let loaded = match &self.runbooks {
            Some(path) => crate::runbook::Catalog::from_path(path),
            None => crate::runbook::Catalog::embedded(),
        };
        let catalog = loaded.map_err(|errors| {
            ConfigError::Runbooks(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })?;
        // Security events page the security route whatever the runbook says.
        if !self.settings.topics.contains_key(&Route::Security) {
            let security = catalog.runbooks().iter().find(|r| {
                r.spec.security
                    || crate::infra::runbook_sources(r)
                        .iter()
                        .any(|(_, handler)| *handler == Some("security-intake"))
            });
            if let Some(runbook) = security {
                return Err(ConfigError::Invalid {
                    name: topic_variable(Route::Security),
                    reason: format!(
                        "runbook `{}` handles security events, which page the security route only, and it has no topic",
                        runbook.name()
                    ),
                });
            }
        }
        // A page to a route without a topic could never be delivered: refuse to start.
        for (runbook, step, route) in catalog.routes() {
            if !self.settings.topics.contains_key(&route) {
                return Err(ConfigError::Invalid {
                    name: topic_variable(route),
                    reason: format!(
                        "runbook `{runbook}` step `{step}` sends to route `{}`, which has no topic",
                        route.as_str()
                    ),
                });
            }
        }
        Ok(catalog)
    }
}

fn topic_variable(route: Route) -> &'static str {
    match route {
        Route::Production => TOPIC_PRODUCTION,
        Route::Test => TOPIC_TEST,
        Route::Security => TOPIC_SECURITY,
        Route::Ops => TOPIC_OPS,
    }
}

fn number(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(None);
    };
    match raw.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(ConfigError::Invalid {
            name,
            reason: format!(
                "expected a whole number from {min} to {max}, found `{}`",
                crate::text::for_log(&raw)
            ),
        }),
    }
}

fn is_arn_of(value: &str, service: &str) -> bool {
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && !parts[5].is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const GOOD: &[(&str, &str)] = &[
        (TABLE, "klaxon"),
        (
            TOPIC_PRODUCTION,
            "arn:aws:sns:us-east-1:123456789012:klaxon-production",
        ),
        (TOPIC_TEST, "arn:aws:sns:us-east-1:123456789012:klaxon-test"),
        (EVENT_BUS, "klaxon"),
    ];

    /// `GOOD` plus `extra`.
    fn with(extra: &[(&'static str, &str)]) -> Result<Config, ConfigError> {
        let mut pairs: Vec<(&str, &str)> = GOOD.to_vec();
        pairs.extend_from_slice(extra);
        Config::from_lookup(env(&pairs))
    }

    #[test]
    fn numeric_settings_have_their_defaults_and_ranges() {
        let c = with(&[]).unwrap();
        assert_eq!(c.settings.idempotency_ttl, Duration::from_secs(48 * 3600));
        assert_eq!(c.settings.outbox_lease, Duration::from_secs(60));
        assert_eq!(c.settings.tag_cache_ttl, Duration::from_secs(300));
        for (name, min, max) in [
            (IDEMPOTENCY_HOURS, 30u64, 720u64),
            (OUTBOX_LEASE_SECONDS, 5, 120),
            (TAG_CACHE_SECONDS, 0, 3600),
        ] {
            for n in [min, max] {
                let value = n.to_string();
                assert!(with(&[(name, value.as_str())]).is_ok(), "{name}={value}");
            }
            let mut outside = vec![max + 1];
            if min > 0 {
                outside.push(min - 1);
            }
            for n in outside {
                let value = n.to_string();
                let err = with(&[(name, value.as_str())]).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("environment variable {name} is invalid: expected a whole number from {min} to {max}, found `{value}`")
                );
            }
        }
        let c = with(&[
            (IDEMPOTENCY_HOURS, "720"),
            (OUTBOX_LEASE_SECONDS, "120"),
            (TAG_CACHE_SECONDS, "0"),
        ])
        .unwrap();
        assert_eq!(c.settings.idempotency_ttl, Duration::from_secs(720 * 3600));
        assert_eq!(c.settings.outbox_lease, Duration::from_secs(120));
        assert_eq!(c.settings.tag_cache_ttl, Duration::ZERO);
        // Not configurable.
        assert_eq!(c.settings.max_commit_attempts, 40);
        assert_eq!(
            c.settings.rejection_ttl,
            Duration::from_secs(30 * 24 * 3600)
        );
    }

    /// The error messages docs/CONTRACTS.md (a) shows are the real ones.
    #[test]
    fn the_documented_error_messages_are_the_real_ones() {
        let without = |name: &str| {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != name).collect();
            Config::from_lookup(env(&pairs)).unwrap_err().to_string()
        };
        assert_eq!(
            without(TOPIC_TEST),
            "missing environment variable KLAXON_TOPIC_TEST"
        );
        let message = |extra: &[(&'static str, &str)]| with(extra).unwrap_err().to_string();
        assert_eq!(
            message(&[(TOPIC_OPS, "klaxon-ops")]),
            "environment variable KLAXON_TOPIC_OPS is invalid: expected an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), found `klaxon-ops`"
        );
        assert_eq!(
            message(&[(TOPIC_PRODUCTION, "arn:aws:sns:us-east-1:123456789012:pages.fifo")]),
            "environment variable KLAXON_TOPIC_PRODUCTION is invalid: a FIFO topic cannot be used: Klaxon publishes without MessageGroupId, and SMS and e-mail cannot subscribe to FIFO topics"
        );
        assert_eq!(
            message(&[(IDEMPOTENCY_HOURS, "12")]),
            "environment variable KLAXON_IDEMPOTENCY_HOURS is invalid: expected a whole number from 30 to 720, found `12`"
        );
        assert_eq!(
            message(&[(TABLE, "a b")]),
            "environment variable KLAXON_TABLE is invalid: a DynamoDB table name is 3-255 characters of a-z, A-Z, 0-9, '_', '-', '.'"
        );
        assert_eq!(
            message(&[(EVENT_BUS, "my bus")]),
            "environment variable KLAXON_EVENT_BUS is invalid: expected an event bus name or ARN"
        );
    }

    #[test]
    fn values_are_trimmed_and_empty_counts_as_unset() {
        let c = with(&[(TABLE, "  klaxon-incidents\n"), (TOPIC_OPS, "   ")]).unwrap();
        assert_eq!(c.table, "klaxon-incidents");
        assert!(!c.settings.topics.contains_key(&Route::Ops), "empty: unset");
        let empty_required = with(&[(TOPIC_TEST, " ")]).unwrap_err();
        assert_eq!(empty_required, ConfigError::Missing(TOPIC_TEST));
    }

    #[test]
    fn topic_arns_are_checked_loosely() {
        for ok in [
            "arn:aws:sns:us-east-1:123456789012:klaxon-ops",
            "arn:aws-cn:sns:cn-north-1:123456789012:ops",
            "arn:aws-us-gov:sns:us-gov-west-1:123456789012:ops",
        ] {
            assert!(with(&[(TOPIC_OPS, ok)]).is_ok(), "{ok}");
        }
        for bad in [
            "arn:aws:sqs:us-east-1:123456789012:ops",
            "arn:aws:sns:us-east-1:123456789012:",
            "arn:azure:sns:us-east-1:123456789012:ops",
            "arn:aws:sns:us-east-1:ops",
        ] {
            assert!(
                matches!(
                    with(&[(TOPIC_OPS, bad)]),
                    Err(ConfigError::Invalid {
                        name: TOPIC_OPS,
                        ..
                    })
                ),
                "{bad}"
            );
        }
        // A bus by name (letters, digits, `. _ - /`) or by ARN.
        for ok in [
            "klaxon",
            "klaxon-prod_bus.v2",
            "arn:aws:events:us-east-1:123456789012:event-bus/klaxon",
        ] {
            assert!(with(&[(EVENT_BUS, ok)]).is_ok(), "{ok}");
        }
    }

    #[test]
    fn health_regions_default_to_the_functions_region_and_runbooks_must_exist() {
        assert_eq!(
            with(&[("AWS_REGION", "eu-west-1")])
                .unwrap()
                .settings
                .health_regions,
            ["eu-west-1"]
        );
        assert_eq!(
            with(&[
                ("AWS_REGION", "eu-west-1"),
                (HEALTH_REGIONS, "us-east-1, eu-central-1")
            ])
            .unwrap()
            .settings
            .health_regions,
            ["us-east-1", "eu-central-1"]
        );
        assert!(matches!(
            with(&[(HEALTH_REGIONS, "US-EAST-1")]),
            Err(ConfigError::Invalid {
                name: HEALTH_REGIONS,
                ..
            })
        ));
        assert!(matches!(
            with(&[(RUNBOOKS, "/no/such/klaxon/runbooks")]),
            Err(ConfigError::Invalid { name: RUNBOOKS, .. })
        ));
        // Invalid runbooks fail the start, one `file:line:column: message` per problem.
        let broken = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/runbooks-broken");
        let err = with(&[(RUNBOOKS, broken)])
            .unwrap()
            .catalog()
            .err()
            .expect("refused")
            .to_string();
        assert!(err.starts_with("runbooks are invalid:\n"), "{err}");
        assert!(err.contains("bad-yaml.yaml:2:14: "), "{err}");
    }

    #[test]
    fn complete_configuration_loads() {
        let c = Config::from_lookup(env(GOOD)).unwrap();
        assert_eq!(c.table, "klaxon");
        assert_eq!(c.settings.topics.len(), 2);
        assert_eq!(c.settings.idempotency_ttl, Duration::from_secs(48 * 3600));
    }

    #[test]
    fn each_missing_variable_is_named() {
        for skip in [TABLE, TOPIC_PRODUCTION, TOPIC_TEST, EVENT_BUS] {
            let pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != skip).collect();
            let err = Config::from_lookup(env(&pairs)).unwrap_err();
            assert_eq!(err, ConfigError::Missing(skip));
            assert!(err.to_string().contains(skip));
        }
    }

    #[test]
    fn malformed_values_are_named() {
        let mut pairs = GOOD.to_vec();
        pairs.push((TOPIC_OPS, "klaxon-ops"));
        let err = Config::from_lookup(env(&pairs)).unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: TOPIC_OPS,
                    ..
                }
            ),
            "{err}"
        );
        let mut pairs = GOOD.to_vec();
        pairs.push((IDEMPOTENCY_HOURS, "12"));
        let err = Config::from_lookup(env(&pairs)).unwrap_err();
        assert!(err.to_string().contains(IDEMPOTENCY_HOURS));
        let mut pairs = GOOD.to_vec();
        pairs[1] = (
            TOPIC_PRODUCTION,
            "arn:aws:sns:us-east-1:123456789012:pages.fifo",
        );
        assert!(Config::from_lookup(env(&pairs))
            .unwrap_err()
            .to_string()
            .contains("FIFO"));
        let mut pairs = GOOD.to_vec();
        pairs[0] = (TABLE, "a b");
        assert!(matches!(
            Config::from_lookup(env(&pairs)).unwrap_err(),
            ConfigError::Invalid { name: TABLE, .. }
        ));
    }

    #[test]
    fn security_email_detail_is_off_unless_set_to_true() {
        assert!(
            !Config::from_lookup(env(GOOD))
                .unwrap()
                .security_email_detail
        );
        for (value, expected) in [("true", Some(true)), ("false", Some(false)), ("yes", None)] {
            let mut pairs = GOOD.to_vec();
            pairs.push((SECURITY_EMAIL_DETAIL, value));
            match (Config::from_lookup(env(&pairs)), expected) {
                (Ok(c), Some(on)) => assert_eq!(c.security_email_detail, on),
                (Err(e), None) => assert!(e.to_string().contains(SECURITY_EMAIL_DETAIL), "{e}"),
                (other, _) => panic!("{value}: {other:?}"),
            }
        }
    }

    #[test]
    fn responder_links_need_https_except_on_this_machine() {
        let c = with(&[]).unwrap();
        assert_eq!(c.settings.responder_url, None);
        assert_eq!(c.settings.link_ttl, Duration::from_secs(7 * 86_400));
        for good in [
            "https://abc.lambda-url.us-east-1.on.aws/",
            "https://incidents.example.com/klaxon",
            "http://127.0.0.1:9000/lambda-url/responder/",
        ] {
            let c = with(&[(RESPONDER_URL, good)]).unwrap();
            assert_eq!(c.settings.responder_url.as_deref(), Some(good));
        }
        for bad in [
            "http://incidents.example.com/",
            "ftp://x",
            "https://",
            "https://x/?a=1",
            "https://x/#f",
            "https://x/\u{7}",
            "http://127.0.0.1.evil.example/",
            "http://localhost:@evil.example/",
            "https://user@evil.example/",
            "http://127.0.0.1:80x/",
        ] {
            let err = with(&[(RESPONDER_URL, bad)]).unwrap_err();
            assert!(err.to_string().contains(RESPONDER_URL), "{bad}: {err}");
        }
        let c = with(&[(LINK_TTL_DAYS, "3")]).unwrap();
        assert_eq!(c.settings.link_ttl, Duration::from_secs(3 * 86_400));
        for bad in ["0", "91", "x"] {
            let err = with(&[(LINK_TTL_DAYS, bad)]).unwrap_err();
            assert!(err.to_string().contains(LINK_TTL_DAYS), "{bad}: {err}");
        }
    }

    #[test]
    fn shipped_security_runbooks_need_the_security_topic() {
        let err = Config::from_lookup(env(GOOD))
            .unwrap()
            .catalog()
            .err()
            .expect("refused without a security topic");
        assert!(
            matches!(
                err,
                ConfigError::Invalid {
                    name: TOPIC_SECURITY,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("security route"), "{err}");
        let mut pairs = GOOD.to_vec();
        pairs.push((
            TOPIC_SECURITY,
            "arn:aws:sns:us-east-1:123456789012:klaxon-security",
        ));
        // The shipped config-compliance runbook records other Config rules on `ops`.
        let err = Config::from_lookup(env(&pairs))
            .unwrap()
            .catalog()
            .err()
            .expect("refused without an ops topic");
        assert!(err.to_string().contains(TOPIC_OPS), "{err}");
        pairs.push((TOPIC_OPS, "arn:aws:sns:us-east-1:123456789012:klaxon-ops"));
        assert!(Config::from_lookup(env(&pairs)).unwrap().catalog().is_ok());
    }
}
