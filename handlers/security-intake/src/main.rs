//! Lambda handler for security events: GuardDuty and Security Hub (ASFF and OCSF)
//! findings, AWS Config compliance changes, CloudTrail calls and console sign-ins.
//! The engine, its clients and the runbooks are built once in `klaxon::lambda::serve`; all
//! logic lives in the shared crate. The three intake handlers differ only in the
//! EventBridge rule that feeds them and in their IAM permissions (infra/).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    klaxon::lambda::serve().await
}
