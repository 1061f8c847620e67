//! The responder: the incident page reached from a page's link (`links`, function URL with
//! auth `NONE`, the token is the credential) and the IAM-authenticated JSON API (`api`,
//! function URL with `AWS_IAM`). Both speak plain [`HttpRequest`]/[`HttpResponse`], so the
//! logic is tested without Lambda; `lambda::http` converts (docs/RESPONDERS.md).

pub mod api;
pub mod form;
pub mod links;
pub mod local_sigv4;
pub mod page;
pub mod view;

/// A request as the function URL delivers it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    /// The path after the function URL's host (and after `/lambda-url/<fn>` under
    /// `cargo lambda watch`).
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased.
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: Vec<u8>,
    /// The caller's address (request context).
    pub source_ip: Option<String>,
    /// The caller's IAM principal ARN, from the request context that Lambda fills in for a
    /// function URL with `AWS_IAM` after verifying the SigV4 signature. Never from a header.
    pub principal: Option<String>,
    /// The principal was verified by the handler itself on a local run (`local_sigv4`), not
    /// by IAM: recorded as `cli-local`.
    pub local_caller: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The largest request body read (a note is at most 8 KiB; forms and JSON add little).
pub const MAX_BODY_BYTES: usize = 32 * 1024;

impl HttpResponse {
    /// An HTML page with the headers every page carries: nothing cached or stored,
    /// no referrer (the URL holds the token), a strict policy, no framing.
    pub fn html(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
                ("referrer-policy".into(), "no-referrer".into()),
                (
                    "content-security-policy".into(),
                    page::content_security_policy().into(),
                ),
                ("x-content-type-options".into(), "nosniff".into()),
                ("x-frame-options".into(), "DENY".into()),
                ("x-robots-tag".into(), "noindex, nofollow".into()),
            ],
            body,
        }
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
                ("x-content-type-options".into(), "nosniff".into()),
            ],
            body: body.to_string(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The path's segments, without empty ones.
fn segments(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}
