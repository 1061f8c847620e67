//! Lambda handler for Security events: GuardDuty findings, Security Hub findings (ASFF and OCSF), AWS Config compliance changes, CloudTrail API calls and console sign-ins for security invariants. Security incidents go to the security route only.
//! All logic lives in the shared crate (`klaxon::engine`); the handlers differ only in the
//! events their EventBridge rule sends them and in their IAM permissions.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

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
        klaxon::lambda::handle(&engine, event)
    }))
    .await
}
