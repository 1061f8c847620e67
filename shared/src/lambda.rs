//! What every intake handler does with one invocation, so that each `main.rs` stays a few
//! lines (build the engine once, `run(service_fn(...))`) and all handlers answer alike.

use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;

use crate::aws::AwsEngine;

/// Success for everything that was handled or rejected-and-recorded; an error (which Lambda
/// retries, then sends to the on-failure destination) only when a retry can help or a page
/// would otherwise be lost. Retryable errors are typed `Retryable.<kind>`.
pub async fn handle(engine: &AwsEngine, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match engine.handle_value(&event.payload).await {
        Ok(report) => Ok(crate::report::to_json(&report)),
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
