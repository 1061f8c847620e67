//! SDK errors as [`KlaxonError`]s, marked retryable or not.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::error::KlaxonError;

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
