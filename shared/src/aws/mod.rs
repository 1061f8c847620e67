//! One adapter per AWS service, each implementing one port. Clients are built once per
//! container from the standard AWS environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` for a local endpoint such as moto).

pub mod cloudwatch;
pub mod dynamodb;
pub mod eventbridge;
pub mod sns;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::KlaxonError;
use crate::ports::SystemClock;

pub type AwsEngine = Engine<
    dynamodb::DynamoDbStore,
    sns::SnsPager,
    eventbridge::EventBridgeBus,
    cloudwatch::CloudWatch,
>;

/// Loads the shared AWS configuration once (standard environment and profile settings,
/// including `AWS_ENDPOINT_URL`) and builds every client from it.
pub async fn engine(config: Config) -> Result<AwsEngine, crate::config::ConfigError> {
    let catalog = Arc::new(config.catalog()?);
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(engine_from_sdk_config(&shared, config, catalog))
}

pub fn engine_from_sdk_config(
    shared: &SdkConfig,
    config: Config,
    catalog: Arc<crate::runbook::Catalog>,
) -> AwsEngine {
    Engine::new(
        dynamodb::DynamoDbStore::new(aws_sdk_dynamodb::Client::new(shared), config.table),
        sns::SnsPager::new(aws_sdk_sns::Client::new(shared)),
        eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(shared)),
        cloudwatch::CloudWatch::new(shared.clone()),
        Arc::new(SystemClock),
        config.settings,
        catalog,
    )
}

/// Error codes that mean "try again later".
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TooManyRequestsException",
    "InternalServerError",
    "InternalFailure",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionInProgressException",
    "KMSThrottlingException",
];

/// Maps an SDK error to a [`KlaxonError`], marking throttling, 5xx, timeouts and network
/// failures retryable. (The SDK has already retried these a few times by then.)
pub(crate) fn classify<E>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, HttpResponse>,
) -> KlaxonError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let (code, message, retryable) = match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let retryable = RETRYABLE_CODES.contains(&code.as_str())
                || status.is_some_and(|s| s >= 500 || s == 429);
            (code, e.message().unwrap_or_default().to_string(), retryable)
        }
        SdkError::TimeoutError(_) => ("Timeout".into(), format!("{err}"), true),
        SdkError::DispatchFailure(_) => {
            ("DispatchFailure".into(), aws_smithy_error_chain(&err), true)
        }
        SdkError::ResponseError(_) => ("ResponseError".into(), aws_smithy_error_chain(&err), true),
        _ => (
            "ConstructionFailure".into(),
            aws_smithy_error_chain(&err),
            false,
        ),
    };
    KlaxonError::Aws {
        service,
        operation,
        code,
        message: crate::text::for_log(&message),
        retryable,
    }
}

fn aws_smithy_error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
