//! Local runs only: what Lambda does for a function URL with `AWS_IAM` (verify the caller's
//! SigV4 signature, then name the caller), done by the handler itself, because
//! `cargo lambda watch` emulates function URLs without any authorization. It lets
//! `klaxon incident … --url http://127.0.0.1:…/lambda-url/responder-api` run the same
//! signed requests against a local stack (moto) as against AWS.
//!
//! It is on only when `KLAXON_LOCAL_SIGV4_SECRET` is set *and* `AWS_ENDPOINT_URL` points at
//! this machine (a local AWS endpoint: never the case in a deployment), and only for a
//! request without an IAM identity in its context. The caller is then `local:<access key
//! id>` of kind `cli-local`, not an IAM principal. Nothing else about the request is
//! trusted: a wrong, stale or missing signature is refused like no identity at all.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use super::HttpRequest;
use crate::text::percent_encode;

/// The secret key the local caller signs with (`AWS_SECRET_ACCESS_KEY` of the CLI).
pub const SECRET_VARIABLE: &str = "KLAXON_LOCAL_SIGV4_SECRET";
/// How far a signature's time may be from ours, as AWS allows.
const MAX_SKEW_MINUTES: i64 = 5;

/// The verifier, when local verification is on (see the module's rules).
pub fn from_env() -> Option<LocalVerifier> {
    let secret = std::env::var(SECRET_VARIABLE)
        .ok()
        .filter(|s| !s.is_empty())?;
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let local = crate::link::is_loopback_url(&endpoint);
    if !local {
        tracing::warn!(
            "{SECRET_VARIABLE} is set but AWS_ENDPOINT_URL is not a local endpoint: local signature checks stay off"
        );
        return None;
    }
    let function =
        std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "responder-api".into());
    Some(LocalVerifier {
        secret,
        path_prefix: format!("/lambda-url/{function}"),
    })
}

pub struct LocalVerifier {
    secret: String,
    /// `cargo lambda watch` strips `/lambda-url/<fn>` from the path the client signed.
    path_prefix: String,
}

impl LocalVerifier {
    /// The caller (`local:<access key id>`) if the request carries a valid signature.
    pub fn caller(&self, request: &HttpRequest, now: DateTime<Utc>) -> Option<String> {
        // Only from this machine (cargo lambda watch listens on every interface unless told).
        if let Some(ip) = &request.source_ip {
            if ip != "127.0.0.1" && ip != "::1" {
                return None;
            }
        }
        let auth = Authorization::parse(request.headers.get("authorization")?)?;
        let amz_date = request.headers.get("x-amz-date")?;
        let signed_at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .ok()?
            .and_utc();
        let in_scope = auth.service == "lambda" && amz_date.starts_with(&auth.date);
        if (now - signed_at).num_seconds().abs() > MAX_SKEW_MINUTES * 60
            || !in_scope
            || !auth.signed_headers.iter().any(|h| h == "host")
        {
            return None;
        }
        let candidates = [
            request.path.clone(),
            format!("{}{}", self.path_prefix, request.path),
        ];
        let valid = candidates.iter().any(|path| {
            let expected = signature(&self.secret, &auth, amz_date, request, path);
            expected.is_some_and(|e| constant_time_eq(e.as_bytes(), auth.signature.as_bytes()))
        });
        valid.then(|| format!("local:{}", auth.access_key))
    }
}

struct Authorization {
    access_key: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    /// `AWS4-HMAC-SHA256 Credential=AKID/20261201/us-east-1/lambda/aws4_request,
    /// SignedHeaders=host;x-amz-date, Signature=…`
    fn parse(header: &str) -> Option<Self> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => return None,
            }
        }
        let scope: Vec<&str> = credential?.split('/').collect();
        let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
            return None;
        };
        Some(Authorization {
            access_key: access_key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers: signed?.split(';').map(str::to_string).collect(),
            signature: signature?.to_string(),
        })
    }
}

/// The SigV4 signature of the request as the client would have computed it for `path`.
fn signature(
    secret: &str,
    auth: &Authorization,
    amz_date: &str,
    request: &HttpRequest,
    path: &str,
) -> Option<String> {
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let value = request.headers.get(name)?;
        let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let canonical = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method,
        canonical_path(path),
        canonical_query(request.query.as_deref().unwrap_or("")),
        canonical_headers,
        auth.signed_headers.join(";"),
        hex::encode(Sha256::digest(&request.body)),
    );
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    for part in [&auth.region, &auth.service, &"aws4_request".to_string()] {
        key = hmac(&key, part.as_bytes());
    }
    Some(hex::encode(hmac(&key, to_sign.as_bytes())))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Services other than S3 encode each path segment twice.
fn canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(|segment| percent_encode(&percent_encode(&percent_decode(segment))))
        .collect::<Vec<_>>()
        .join("/")
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (percent_encode(&k), percent_encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    use aws_sigv4::sign::v4;
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    /// A request signed by the AWS SDK's own signer, as the CLI sends it.
    fn signed(secret: &str, path: &str, body: &str, at: SystemTime) -> HttpRequest {
        let credentials =
            aws_credential_types::Credentials::new("AKIDLOCAL", secret, None, None, "test");
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let uri = format!("http://127.0.0.1:9711{path}");
        let headers = [
            ("host", "127.0.0.1:9711"),
            ("content-type", "application/json"),
        ];
        let signable = SignableRequest::new(
            "POST",
            &uri,
            headers.into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let mut request = http::Request::builder().method("POST").uri(&uri);
        for (k, v) in headers {
            request = request.header(k, v);
        }
        let mut request = request.body(()).unwrap();
        instructions.apply_to_request_http1x(&mut request);
        HttpRequest {
            method: "POST".into(),
            // What cargo lambda watch hands the function: the path without /lambda-url/<fn>.
            path: path.trim_start_matches("/lambda-url/responder-api").into(),
            headers: request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
                .collect::<BTreeMap<_, _>>(),
            body: body.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    fn verifier() -> LocalVerifier {
        LocalVerifier {
            secret: "test".into(),
            path_prefix: "/lambda-url/responder-api".into(),
        }
    }

    #[test]
    fn a_request_signed_by_the_aws_signer_is_verified_and_anything_else_is_not() {
        let now = SystemTime::now();
        let path = "/lambda-url/responder-api/incidents/INC-20240501-d79a05a12d/actions";
        let body = r#"{"action":"acknowledge"}"#;
        let request = signed("test", path, body, now);
        assert_eq!(
            verifier().caller(&request, Utc::now()),
            Some("local:AKIDLOCAL".into())
        );
        // Another secret, another body, another path, an old signature, no signature.
        assert_eq!(
            verifier().caller(&signed("other", path, body, now), Utc::now()),
            None
        );
        let mut changed = request.clone();
        changed.body = br#"{"action":"resolve"}"#.to_vec();
        assert_eq!(verifier().caller(&changed, Utc::now()), None);
        let mut moved = request.clone();
        moved.path = "/incidents/INC-other/actions".into();
        assert_eq!(verifier().caller(&moved, Utc::now()), None);
        let old = signed(
            "test",
            path,
            body,
            now - std::time::Duration::from_secs(600),
        );
        assert_eq!(verifier().caller(&old, Utc::now()), None);
        let mut remote = request.clone();
        remote.source_ip = Some("192.0.2.7".into());
        assert_eq!(
            verifier().caller(&remote, Utc::now()),
            None,
            "only from this machine"
        );
        let mut bare = request;
        bare.headers.remove("authorization");
        assert_eq!(verifier().caller(&bare, Utc::now()), None);
    }
}
