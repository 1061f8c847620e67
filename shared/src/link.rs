//! Links in pages (docs/RESPONDERS.md, "Links and their security"): an opaque token of 192
//! random bits per page and route, of which the table keeps only the SHA-256; bound to the
//! incident, the route and an expiry; revocable per incident and route. The token is the
//! credential of the incident page (a function URL with auth `NONE`), so it is never
//! logged, and every refusal looks the same.

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

use crate::model::{Incident, IncidentStatus, LinkRecord};
use crate::route::Route;

/// Random bytes per token (192 bits; at least 128 are required).
pub const TOKEN_BYTES: usize = 24;
/// A token as it appears in a URL: lower-case hex.
pub const TOKEN_CHARS: usize = TOKEN_BYTES * 2;
/// How long a link keeps working after its incident resolves (`KLAXON_LINK_TTL_DAYS`).
pub const DEFAULT_LINK_TTL_DAYS: u64 = 7;
/// The longest any link lives, whatever its incident does; DynamoDB's TTL removes it then.
pub const MAX_LINK_LIFETIME_DAYS: i64 = 90;

/// A link just issued: the token goes into the page, the record into the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLink {
    pub token: String,
    pub record: LinkRecord,
}

pub fn issue(incident_id: &str, route: Route, now: DateTime<Utc>) -> IssuedLink {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    let token = hex::encode(bytes);
    IssuedLink {
        record: LinkRecord {
            token_hash: token_hash(&token),
            incident_id: incident_id.to_string(),
            route,
            issued_at: now,
            expires_at: now + Duration::days(MAX_LINK_LIFETIME_DAYS),
        },
        token,
    }
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Whether `token` has a token's shape; anything else is refused before any read.
pub fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The incident page's path under the responder's base URL: `i/<incident>/<token>`.
pub fn path(incident_id: &str, token: &str) -> String {
    format!("i/{incident_id}/{token}")
}

/// The full link for a page: the configured base URL (`KLAXON_RESPONDER_URL`) and the path.
pub fn url(base: &str, incident_id: &str, token: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path(incident_id, token)
    )
}

/// Puts the link on its own line right after the page's first (SMS) line, in the message
/// and in the e-mail copy. Added after redaction: a token must reach the responder intact.
pub fn add_to_page(page: &mut crate::model::Notification, url: &str) {
    let insert = |message: &mut String| {
        let at = message.find('\n').unwrap_or(message.len());
        message.insert_str(at, &format!("\n{url}"));
    };
    insert(&mut page.message);
    if let Some(email) = page.email_message.as_mut() {
        insert(email);
    }
}

/// `http://127.0.0.1[:port]/…` or `http://localhost[:port]/…`: this machine, parsed (not a
/// prefix match, which `http://localhost:@evil.example/` would pass).
pub fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return false,
        None => authority,
    };
    matches!(host, "127.0.0.1" | "localhost")
}

/// Why a link does not work. Never shown: every refusal gets the same page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    WrongIncident,
    Expired,
    Revoked,
}

impl Refusal {
    /// For metrics and logs (never the token).
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Unknown => "unknown",
            Refusal::WrongIncident => "wrong_incident",
            Refusal::Expired => "expired",
            Refusal::Revoked => "revoked",
        }
    }
}

/// Whether the link `record` (looked up by the token's hash) opens `incident`, named in the
/// URL as `path_incident`, at `now`. `ttl`: how long after resolution links keep working.
pub fn validity(
    record: Option<&LinkRecord>,
    incident: Option<&Incident>,
    path_incident: &str,
    now: DateTime<Utc>,
    ttl: Duration,
) -> Result<(), Refusal> {
    let record = record.ok_or(Refusal::Unknown)?;
    if record.incident_id != path_incident {
        return Err(Refusal::WrongIncident);
    }
    let incident = incident.ok_or(Refusal::Unknown)?;
    if now >= record.expires_at {
        return Err(Refusal::Expired);
    }
    // Every link of a resolved incident ends a set time after the resolution; a link issued
    // before a resolution that a reopen undid ends then too (a reopen must not bring expired
    // links back).
    let ended = |at: DateTime<Utc>| at.checked_add_signed(ttl).is_some_and(|end| now >= end);
    let expired = match (
        incident.status,
        incident.resolved_at,
        incident.last_resolved_at,
    ) {
        (IncidentStatus::Resolved, Some(at), _) => ended(at),
        (IncidentStatus::Open, _, Some(at)) => record.issued_at <= at && ended(at),
        _ => false,
    };
    if expired {
        return Err(Refusal::Expired);
    }
    if incident
        .links_revoked_before
        .get(&record.route)
        .is_some_and(|before| record.issued_at <= *before)
    {
        return Err(Refusal::Revoked);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::action::tests::incident;
    use crate::plan::action::ResponderState;

    fn now() -> DateTime<Utc> {
        "2026-12-01T10:00:00Z".parse().unwrap()
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let a = issue("INC-1", Route::Production, now());
        let b = issue("INC-1", Route::Production, now());
        assert_ne!(a.token, b.token);
        assert!(well_formed(&a.token));
        assert_eq!(a.record.token_hash, token_hash(&a.token));
        assert!(!a.record.token_hash.contains(&a.token));
        assert_eq!(a.token.len() * 4, 192);
        assert_eq!(
            url("https://x.lambda-url.us-east-1.on.aws/", "INC-1", &a.token),
            format!("https://x.lambda-url.us-east-1.on.aws/i/INC-1/{}", a.token)
        );
        assert!(!well_formed(&a.token.to_uppercase()));
        assert!(!well_formed(&a.token[1..]));
    }

    #[test]
    fn the_link_is_the_second_line() {
        let mut page = crate::model::Notification {
            route: Route::Production,
            transition: crate::model::Transition::Opened,
            subject: "s".into(),
            message: "HIGH production INC-1: cpu in ALARM\n\nIncident:    INC-1\n".into(),
            attributes: Default::default(),
            email_message: Some("sms\n\nbody".into()),
            produced_by: None,
        };
        add_to_page(&mut page, "https://r/i/INC-1/t");
        assert_eq!(
            page.message,
            "HIGH production INC-1: cpu in ALARM\nhttps://r/i/INC-1/t\n\nIncident:    INC-1\n"
        );
        assert_eq!(
            page.email_message.as_deref(),
            Some("sms\nhttps://r/i/INC-1/t\n\nbody")
        );
    }

    #[test]
    fn each_reason_to_refuse_is_found() {
        let ttl = Duration::days(7);
        let link = issue("INC-1", Route::Production, now());
        let open = incident(ResponderState::Open);
        let ok = |inc: &Incident, at| validity(Some(&link.record), Some(inc), "INC-1", at, ttl);
        assert_eq!(ok(&open, now()), Ok(()));
        assert_eq!(
            validity(None, Some(&open), "INC-1", now(), ttl),
            Err(Refusal::Unknown)
        );
        assert_eq!(
            validity(Some(&link.record), Some(&open), "INC-2", now(), ttl),
            Err(Refusal::WrongIncident)
        );
        assert_eq!(ok(&open, now() + Duration::days(91)), Err(Refusal::Expired));
        let mut resolved = incident(ResponderState::Resolved);
        resolved.resolved_at = Some(now());
        assert_eq!(ok(&resolved, now() + Duration::days(6)), Ok(()));
        assert_eq!(
            ok(&resolved, now() + Duration::days(7)),
            Err(Refusal::Expired)
        );
        // Reopened after its links expired: they stay expired; a page sent after the reopen
        // carries a link that works.
        let mut reopened = incident(ResponderState::Open);
        reopened.last_resolved_at = Some(now());
        assert_eq!(
            ok(&reopened, now() + Duration::days(8)),
            Err(Refusal::Expired)
        );
        let after_reopen = issue("INC-1", Route::Production, now() + Duration::days(8));
        assert_eq!(
            validity(
                Some(&after_reopen.record),
                Some(&reopened),
                "INC-1",
                now() + Duration::days(9),
                ttl
            ),
            Ok(())
        );
        let mut revoked = open.clone();
        revoked
            .links_revoked_before
            .insert(Route::Production, now());
        assert_eq!(ok(&revoked, now()), Err(Refusal::Revoked));
        // A link issued after the revocation works; another route's links are untouched.
        let later = issue("INC-1", Route::Production, now() + Duration::seconds(1));
        assert_eq!(
            validity(Some(&later.record), Some(&revoked), "INC-1", now(), ttl),
            Ok(())
        );
        let other = issue("INC-1", Route::Ops, now());
        assert_eq!(
            validity(Some(&other.record), Some(&revoked), "INC-1", now(), ttl),
            Ok(())
        );
    }
}
