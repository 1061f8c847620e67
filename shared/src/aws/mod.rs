//! One adapter per AWS service, each implementing one port. Clients are built once per
//! container from the standard AWS environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` for a local endpoint such as moto).

pub mod cloudwatch;
pub mod dynamodb;
pub mod elbv2;
mod error;
pub mod eventbridge;
mod lookups;
pub mod regional;
pub mod route53;
pub mod sns;
pub mod tagging;

pub use lookups::AwsLookups;

use std::sync::Arc;

use aws_config::SdkConfig;

use crate::config::Config;
use crate::engine::Engine;
use crate::ports::SystemClock;

pub type AwsEngine =
    Engine<dynamodb::DynamoDbStore, sns::SnsPager, eventbridge::EventBridgeBus, AwsLookups>;

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
        AwsLookups::new(shared),
        Arc::new(SystemClock),
        config.settings,
        catalog,
    )
}
