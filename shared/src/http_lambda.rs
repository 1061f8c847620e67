//! The responder handlers' life, as `lambda` is the intake's: logging, configuration and
//! the engine built once, then lambda_http. Converts function URL requests (API Gateway
//! HTTP API v2 payload) to [`HttpRequest`] and back; the identity comes only from the
//! request context Lambda fills in, never from a header.

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Error, Request, RequestExt, Response};

use crate::config::Config;
use crate::respond::{api, links, HttpRequest, HttpResponse, MAX_BODY_BYTES};

/// Which responder a binary is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The incident page behind links (function URL, auth `NONE`).
    Links,
    /// The JSON API (function URL, auth `AWS_IAM`).
    Api,
}

pub async fn serve(surface: Surface) -> Result<(), Error> {
    crate::logging::init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let engine = crate::aws::engine(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "invalid runbooks"))?;
    let engine = &engine;
    // Local runs only (`cargo lambda watch` has no IAM): see `respond::local_sigv4`.
    let local = crate::respond::local_sigv4::from_env().filter(|_| surface == Surface::Api);
    let local = &local;
    lambda_http::run(service_fn(move |request: Request| async move {
        let mut request = from_lambda(request);
        if let (None, Some(verifier)) = (&request.principal, local) {
            request.principal = verifier.caller(&request, chrono::Utc::now());
            request.local_caller = request.principal.is_some();
        }
        let served = match surface {
            Surface::Links => links::serve(engine, &request).await,
            Surface::Api => api::serve(engine, &request).await,
        };
        let response = served.unwrap_or_else(|e| {
            // Reading or writing the table failed before an action committed (after its
            // commit an action answers "applied", engine::act): the responder may simply try
            // again.
            tracing::error!(error = %e, error_type = e.kind(), retryable = e.is_retryable(), "request failed");
            unavailable(surface)
        });
        Ok::<_, Error>(to_lambda(response))
    }))
    .await
}

/// The request as the responder logic sees it.
pub fn from_lambda(request: Request) -> HttpRequest {
    let (principal, source_ip) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => (
            context
                .authorizer
                .as_ref()
                .and_then(|a| a.iam.as_ref())
                .and_then(|iam| iam.user_arn.clone()),
            context.http.source_ip.clone(),
        ),
        _ => (None, None),
    };
    let path = request.raw_http_path().to_string();
    let query = request.uri().query().map(str::to_string);
    let method = request.method().as_str().to_string();
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let body = match request.into_body() {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    // Larger bodies are refused by the logic; keep no more than needed to say so.
    let body = if body.len() > MAX_BODY_BYTES + 1 {
        body[..MAX_BODY_BYTES + 1].to_vec()
    } else {
        body
    };
    HttpRequest {
        method,
        path,
        query,
        headers,
        body,
        source_ip,
        principal,
        local_caller: false,
    }
}

pub fn to_lambda(response: HttpResponse) -> Response<Body> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Body::Text(response.body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

fn unavailable(surface: Surface) -> HttpResponse {
    match surface {
        Surface::Links => HttpResponse::html(
            503,
            "<!doctype html><html lang=\"en\"><title>Klaxon</title><p>Klaxon could not read or write the incident just now, and nothing was changed. Try again in a moment.</p></html>".into(),
        ),
        Surface::Api => HttpResponse::json(
            503,
            &serde_json::json!({"error": "the incident store could not be read or written, and nothing was changed: retry"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_read_or_write_answers_503_saying_nothing_was_changed() {
        let page = unavailable(Surface::Links);
        assert_eq!(page.status, 503);
        assert!(page.body.contains("nothing was changed"));
        assert_eq!(page.header("cache-control"), Some("no-store"));
        let api = unavailable(Surface::Api);
        assert_eq!(api.status, 503);
        assert!(api.body.contains("retry"));
    }
}
