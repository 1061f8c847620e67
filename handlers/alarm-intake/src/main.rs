//! Lambda handler for CloudWatch "Alarm State Change" events: one incident per alarm, a page
//! per transition that deserves one. All logic lives in the shared crate (`klaxon::engine`).

use lambda_runtime::{run, service_fn, Diagnostic, Error, LambdaEvent};
use serde_json::Value;

use klaxon::aws::AwsEngine;
use klaxon::config::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    klaxon::logging::init();
    // Fail the cold start, naming the variable, rather than fail every event later.
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "invalid configuration"))?;
    // The runbooks are loaded and validated here, once: a broken runbook fails the cold
    // start with file:line:column, never an event.
    let engine = klaxon::aws::engine(config)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "invalid runbooks"))?;
    run(service_fn(|event: LambdaEvent<Value>| {
        handle(&engine, event)
    }))
    .await
}

/// Success for everything that was handled or rejected-and-recorded; an error (which Lambda
/// retries) only when a retry can help or a page would otherwise be lost.
async fn handle(engine: &AwsEngine, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match engine.handle_value(&event.payload).await {
        Ok(report) => Ok(klaxon::report::to_json(&report)),
        Err(e) => {
            tracing::error!(error = %e, retryable = e.is_retryable(), request_id = %event.context.request_id, "event not handled; returning an error so that it is retried");
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
