//! One adapter per AWS service, each implementing one port. Clients are built once per
//! container from the standard AWS environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` for a local endpoint such as moto).

pub mod cloudwatch;
pub mod dynamodb;
pub mod elbv2;
pub mod eventbridge;
pub mod regional;
pub mod route53;
pub mod sns;
pub mod tagging;

use std::sync::Arc;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::config::Config;
use crate::engine::Engine;
use crate::error::KlaxonError;
use crate::ports::{HealthChecks, LoadBalancers, Metrics, SystemClock, TagSource};

pub type AwsEngine =
    Engine<dynamodb::DynamoDbStore, sns::SnsPager, eventbridge::EventBridgeBus, Lookups>;

/// Everything the engine reads about the world: tags (CloudWatch for alarms, the tagging
/// API for other resources), CloudWatch metrics and history, ELB target health, Route 53
/// health checks. One adapter per service; this only routes between them.
pub struct Lookups {
    pub cloudwatch: cloudwatch::CloudWatch,
    pub elbv2: elbv2::ElbV2,
    pub route53: route53::Route53,
    pub tagging: tagging::ResourceTags,
}

impl Lookups {
    pub fn new(shared: &SdkConfig) -> Self {
        Lookups {
            cloudwatch: cloudwatch::CloudWatch::new(shared.clone()),
            elbv2: elbv2::ElbV2::new(shared),
            route53: route53::Route53::new(shared),
            tagging: tagging::ResourceTags::new(shared),
        }
    }
}

impl TagSource for Lookups {
    async fn alarm_tags(&self, arn: &str) -> Result<Vec<(String, String)>, KlaxonError> {
        if arn.contains(":cloudwatch:") && arn.contains(":alarm:") {
            self.cloudwatch.alarm_tags(arn).await
        } else {
            self.tagging.tags(arn).await
        }
    }
}

impl Metrics for Lookups {
    async fn metric_data(
        &self,
        alarm_arn: &str,
        queries: &[crate::enrich::MetricQuery],
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<crate::enrich::MetricSeries>, KlaxonError> {
        self.cloudwatch
            .metric_data(alarm_arn, queries, start, end)
            .await
    }

    async fn alarm_history(
        &self,
        alarm_arn: &str,
        start: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        max: i32,
    ) -> Result<Vec<crate::enrich::HistoryItem>, KlaxonError> {
        self.cloudwatch
            .alarm_history(alarm_arn, start, end, max)
            .await
    }

    async fn put_metric(&self, datum: &crate::enrich::MetricDatum) -> Result<(), KlaxonError> {
        self.cloudwatch.put_metric(datum).await
    }
}

impl LoadBalancers for Lookups {
    async fn target_health(
        &self,
        target_group_arn: &str,
    ) -> Result<Vec<crate::enrich::TargetHealth>, KlaxonError> {
        self.elbv2.target_health(target_group_arn).await
    }
}

impl HealthChecks for Lookups {
    async fn health_check(
        &self,
        health_check_id: &str,
    ) -> Result<crate::enrich::HealthCheckReport, KlaxonError> {
        self.route53.health_check(health_check_id).await
    }
}

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
        sns::SnsPager::new(
            aws_sdk_sns::Client::new(shared),
            config.security_email_detail,
        ),
        eventbridge::EventBridgeBus::new(aws_sdk_eventbridge::Client::new(shared)),
        Lookups::new(shared),
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
