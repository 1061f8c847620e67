//! What every intake handler does with one invocation, so that each `main.rs` stays a few
//! lines (build the engine once, `run(service_fn(...))`) and all handlers answer alike.

use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

use crate::aws::AwsEngine;
use crate::config::Config;

/// A handler's whole life: logging, configuration and runbooks checked once at cold start
/// (a problem fails the start, naming the variable or file:line:column, never an event),
/// the engine and its AWS clients built once, then `run(service_fn(...))`. The intake
/// handlers differ only in the rule that feeds them and in their IAM permissions.
pub async fn serve() -> Result<(), Error> {
    crate::logging::init();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    let engine = crate::aws::engine(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "invalid runbooks"))?;
    run(service_fn(|event: LambdaEvent<Value>| {
        handle(&engine, event)
    }))
    .await
}

/// Success for everything that was handled or rejected-and-recorded; an error (which Lambda
/// retries, then sends to the on-failure destination) only when a retry can help or a page
/// would otherwise be lost. Retryable errors are typed `Retryable.<kind>`.
pub async fn handle(engine: &AwsEngine, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match engine.handle_value_all(&event.payload).await {
        Ok(reports) => Ok(crate::report::response(&reports)),
        Err(e) => {
            // `error_kind` is what the deployment's error alarm filters on: a duplicate that
            // found another invocation delivering (DeliveryInProgress) is a benign race,
            // retried by Lambda, and pages nobody.
            tracing::error!(error = %e, error_kind = e.kind(), retryable = e.is_retryable(), request_id = %event.context.request_id, "event not handled; returning an error so that it is retried");
            Err(Diagnostic {
                error_type: if e.is_retryable() {
                    format!("Retryable.{}", e.kind())
                } else {
                    e.kind().to_string()
                },
                error_message: e.to_string(),
            })
        }
    }
}
