//! What every intake handler does with one invocation, so that each `main.rs` stays a few
//! lines (build the engine once, run the runtime) and all handlers answer alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent, LambdaInvocation, Runtime};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::aws::AwsEngine;
use crate::config::Config;

/// A handler's whole life: logging, configuration and runbooks checked once at cold start
/// (a problem fails the start, naming the variable or file:line:column, never an event),
/// the engine and its AWS clients built once, then the runtime. The intake handlers differ
/// only in the rule that feeds them and in their IAM permissions.
pub async fn serve() -> Result<(), Error> {
    crate::logging::init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let engine = crate::aws::engine(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "invalid runbooks"))?;
    let bodies = RawBodies::default();
    let handler = service_fn(|event: LambdaEvent<Unparsed>| {
        let raw = bodies.take(&event.context.request_id);
        handle_raw(&engine, raw, event.context.request_id)
    });
    Runtime::new(handler)
        .layer(KeepRawBody(bodies.clone()))
        .layer(lambda_runtime::layers::TracingLayer::new())
        .run()
        .await
}

/// The invocation's payload as the runtime deserialises it: not at all. The engine reads the
/// raw bytes itself, once, after its size check, so that an event too large, too deep or
/// otherwise unreadable for serde_json still leaves a rejection record instead of failing in
/// the runtime before any handler code runs. The payload is skimmed (no allocation) so that
/// the runtime finds it consumed; a skim error is the engine's to report.
pub struct Unparsed;

impl<'de> Deserialize<'de> for Unparsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let _ = serde::de::IgnoredAny::deserialize(deserializer);
        Ok(Unparsed)
    }
}

/// The raw bodies of the invocations in progress, by request id (one at a time unless the
/// function runs invocations concurrently).
#[derive(Clone, Default)]
struct RawBodies(Arc<Mutex<HashMap<String, Bytes>>>);

impl RawBodies {
    fn keep(&self, request_id: &str, body: Bytes) {
        let mut bodies = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bodies.insert(request_id.to_string(), body);
    }

    fn take(&self, request_id: &str) -> Bytes {
        let mut bodies = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bodies.remove(request_id).unwrap_or_default()
    }
}

/// Keeps each invocation's body (a reference-counted view of the runtime's buffer, not a
/// copy) for the handler.
struct KeepRawBody(RawBodies);

impl<S> Layer<S> for KeepRawBody {
    type Service = KeepRawBodyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeepRawBodyService {
            inner,
            bodies: self.0.clone(),
        }
    }
}

struct KeepRawBodyService<S> {
    inner: S,
    bodies: RawBodies,
}

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for KeepRawBodyService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        self.bodies
            .keep(&invocation.context.request_id, invocation.body.clone());
        self.inner.call(invocation)
    }
}

/// Success for everything that was handled or rejected-and-recorded; an error (which Lambda
/// retries, then sends to the on-failure destination) only when a retry can help or a page
/// would otherwise be lost. Retryable errors are typed `Retryable.<kind>`.
pub async fn handle_raw(
    engine: &AwsEngine,
    raw: Bytes,
    request_id: String,
) -> Result<Value, Diagnostic> {
    match engine.handle_bytes_all(&raw).await {
        Ok(reports) => Ok(crate::report::response(&reports)),
        Err(e) => {
            // `error_kind` is what the deployment's error alarm filters on: a duplicate that
            // found another invocation delivering (DeliveryInProgress) is a benign race,
            // retried by Lambda, and pages nobody.
            tracing::error!(error = %e, error_kind = e.kind(), retryable = e.is_retryable(), request_id = %request_id, "event not handled; returning an error so that it is retried");
            Err(Diagnostic {
                error_type: error_type(&e),
                error_message: e.to_string(),
            })
        }
    }
}

/// Lambda's `errorType` for an error: `Retryable.<Kind>` when a retry can help, else `<Kind>`.
fn error_type(e: &crate::error::KlaxonError) -> String {
    if e.is_retryable() {
        format!("Retryable.{}", e.kind())
    } else {
        e.kind().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_payload_deserialises_so_that_the_engine_sees_it() {
        // What the runtime does with a body: serde_json on the bytes, through
        // serde_path_to_error. None of these may fail before the handler runs.
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        for body in [
            br#"{"id": "x"}"#.as_slice(),
            deep.as_bytes(),
            br#"{"n": 1e400}"#,
            br#"{"s": "\ud800"}"#,
            b"not json",
            b"",
        ] {
            let de = &mut serde_json::Deserializer::from_slice(body);
            assert!(serde_path_to_error::deserialize::<_, Unparsed>(de).is_ok());
        }
    }

    #[test]
    fn error_types_say_whether_a_retry_can_help() {
        use crate::error::KlaxonError;
        let aws = |retryable| KlaxonError::Aws {
            service: "dynamodb",
            operation: "TransactWriteItems",
            code: "X".into(),
            message: "m".into(),
            retryable,
        };
        for (error, expected) in [
            (aws(true), "Retryable.AwsError"),
            (aws(false), "AwsError"),
            (
                KlaxonError::Contention {
                    dedup_key: "k".into(),
                    attempts: 40,
                },
                "Retryable.Contention",
            ),
            (
                KlaxonError::DeliveryInProgress {
                    incident_id: "i".into(),
                    item_id: "o".into(),
                    lease_until: "t".into(),
                },
                "Retryable.DeliveryInProgress",
            ),
            (
                KlaxonError::CorruptRecord {
                    key: "k".into(),
                    reason: "r".into(),
                },
                "CorruptRecord",
            ),
            (KlaxonError::NoTopicForRoute("ops"), "NoTopicForRoute"),
            (crate::memory::injected("x"), "Retryable.InjectedFault"),
        ] {
            assert_eq!(error_type(&error), expected, "{error}");
        }
    }

    #[test]
    fn bodies_are_taken_once() {
        let bodies = RawBodies::default();
        bodies.keep("r1", Bytes::from_static(b"{}"));
        assert_eq!(bodies.take("r1"), Bytes::from_static(b"{}"));
        assert!(bodies.take("r1").is_empty());
    }
}
