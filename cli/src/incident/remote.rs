//! `klaxon incident …` against the IAM API: each request signed with SigV4 (service
//! `lambda`, the Region of the function URL), credentials from the standard AWS chain
//! (environment, profile, SSO, instance role). The API verifies the signature and records
//! the caller's principal as the actor.

use std::time::SystemTime;

use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::{Answer, Command, Target};

/// The stack output that holds the API's URL (infra/template.yaml, the CDK app).
pub const URL_OUTPUT: &str = "ResponderApiUrl";
/// The environment variable that names the API's URL.
pub const URL_VARIABLE: &str = "KLAXON_API_URL";

/// Where the API is: `--url`, `KLAXON_API_URL`, or the stack's output.
pub async fn api_url(target: &Target) -> Result<Option<String>, String> {
    if target.state.is_some() {
        return Ok(None);
    }
    let stack = match choose(
        target.url.as_deref(),
        target.stack.as_deref(),
        std::env::var(URL_VARIABLE).ok().as_deref(),
    ) {
        Choice::Url(url) => return Ok(Some(url)),
        Choice::Nowhere => return Ok(None),
        Choice::Stack(stack) => stack,
    };
    let stack = &stack;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_cloudformation::Client::new(&config);
    let stacks = client
        .describe_stacks()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot read stack {stack}: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(&e)
            )
        })?;
    stacks
        .stacks()
        .first()
        .and_then(|s| {
            s.outputs()
                .iter()
                .find(|o| o.output_key() == Some(URL_OUTPUT))
        })
        .and_then(|o| o.output_value().map(str::to_string))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "stack {stack} has no {URL_OUTPUT} output (a Klaxon stack with the responder API?)"
            )
        })
}

/// Where to look: `--url`, else `--stack`, else `KLAXON_API_URL` (an explicit flag wins
/// over the environment).
#[derive(Debug, PartialEq, Eq)]
enum Choice {
    Url(String),
    Stack(String),
    Nowhere,
}

fn choose(url: Option<&str>, stack: Option<&str>, env: Option<&str>) -> Choice {
    match (url, stack, env.filter(|e| !e.is_empty())) {
        (Some(url), _, _) => Choice::Url(url.to_string()),
        (None, Some(stack), _) => Choice::Stack(stack.to_string()),
        (None, None, Some(env)) => Choice::Url(env.to_string()),
        (None, None, None) => Choice::Nowhere,
    }
}

pub async fn run(base: &str, command: &Command) -> Result<Answer, String> {
    if command.action().is_some_and(|call| call.at.is_some()) {
        return Err("--at is for the embedded backend (--state): the API acts now".into());
    }
    let api = Api::new(base).await?;
    let id = |i: &str| klaxon::text::percent_encode(i);
    match command {
        Command::List => {
            let value = api.call("GET", "incidents", None, None).await?;
            Ok(Answer::Incidents(
                value["incidents"].as_array().cloned().unwrap_or_default(),
            ))
        }
        Command::Show { incident } => Ok(Answer::Incident(
            api.call("GET", &format!("incidents/{}", id(incident)), None, None)
                .await?,
        )),
        Command::Export { incident, .. } => Ok(Answer::Export(
            api.call(
                "GET",
                &format!("incidents/{}/export", id(incident)),
                None,
                None,
            )
            .await?,
        )),
        Command::RevokeLinks { incident, route } => {
            let body = serde_json::json!({ "route": route });
            api.call(
                "POST",
                &format!("incidents/{}/revoke-links", id(incident)),
                Some(body),
                None,
            )
            .await?;
            Ok(Answer::Revoked)
        }
        other => {
            let call = other.action().expect("every other command is an action");
            let key = call
                .body
                .get("action_id")
                .and_then(Value::as_str)
                .map(str::to_string);
            Ok(Answer::Acted(
                api.call(
                    "POST",
                    &format!("incidents/{}/actions", id(&call.incident)),
                    Some(call.body),
                    key.as_deref(),
                )
                .await?,
            ))
        }
    }
}

struct Api {
    base: String,
    region: String,
    credentials: aws_credential_types::Credentials,
    client: Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        Full<bytes::Bytes>,
    >,
}

impl Api {
    async fn new(base: &str) -> Result<Self, String> {
        // Signed requests carry the session token: never in clear text to another machine.
        if !base.starts_with("https://") && !klaxon::link::is_loopback_url(base) {
            return Err(format!(
                "{base}: the API's URL must be https:// (http:// only to 127.0.0.1 or localhost)"
            ));
        }
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let region = region_of(base)
            .or_else(|| config.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".into());
        let provider = config.credentials_provider().ok_or(
            "no AWS credentials: set a profile or AWS_ACCESS_KEY_ID (the API verifies who you are)",
        )?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {e}"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("cannot load the system's certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            region,
            credentials,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// One signed request; the answer's JSON, or the API's error message.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, String> {
        let url = format!("{}/{path}", self.base);
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json");
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        let mut request = request
            .body(Full::new(bytes::Bytes::from(bytes.clone())))
            .map_err(|e| format!("bad URL {url}: {e}"))?;
        self.sign(&mut request, &bytes)?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("cannot reach {url}: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {url}: {e}"))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
            serde_json::json!({"error": String::from_utf8_lossy(&body[..body.len().min(300)]).to_string()})
        });
        match status {
            200..=299 => Ok(value),
            // An action the API refused still answers its outcome (rejected) with the reason.
            400 | 404 | 409 if value.get("outcome").is_some() => Ok(value),
            _ => Err(format!(
                "{method} {url}: HTTP {status}: {}",
                value["error"].as_str().unwrap_or("(no message)")
            )),
        }
    }

    fn sign(
        &self,
        request: &mut http::Request<Full<bytes::Bytes>>,
        body: &[u8],
    ) -> Result<(), String> {
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing: {e}"))?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            &uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )
        .map_err(|e| format!("signing: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("signing: {e}"))?
            .into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

/// `https://<id>.lambda-url.<region>.on.aws/` names its Region.
fn region_of(url: &str) -> Option<String> {
    let host = url.split("://").nth(1)?.split(['/', ':']).next()?;
    let mut parts = host.split('.');
    let (_, marker, region) = (parts.next()?, parts.next()?, parts.next()?);
    (marker == "lambda-url").then(|| region.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_flag_wins_over_the_environment() {
        let url = |u: &str| Choice::Url(u.to_string());
        assert_eq!(choose(Some("u"), Some("s"), Some("e")), url("u"));
        assert_eq!(
            choose(None, Some("s"), Some("e")),
            Choice::Stack("s".into())
        );
        assert_eq!(choose(None, None, Some("e")), url("e"));
        assert_eq!(choose(None, None, Some("")), Choice::Nowhere);
        assert_eq!(choose(None, None, None), Choice::Nowhere);
    }

    #[test]
    fn the_region_comes_from_a_function_url() {
        assert_eq!(
            region_of("https://abc123.lambda-url.eu-west-1.on.aws/"),
            Some("eu-west-1".into())
        );
        assert_eq!(
            region_of("http://127.0.0.1:9000/lambda-url/responder-api"),
            None
        );
        assert_eq!(klaxon::text::percent_encode("INC-1/../x"), "INC-1%2F..%2Fx");
    }
}
