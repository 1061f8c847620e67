//! Lambda handler for AWS Health events ("AWS Health Event" from aws.health).
//! The engine, its clients and the runbooks are built once in `klaxon::lambda::serve`; all
//! logic lives in the shared crate. The three intake handlers differ only in the
//! EventBridge rule that feeds them and in their IAM permissions (infra/).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    klaxon::lambda::serve().await
}
