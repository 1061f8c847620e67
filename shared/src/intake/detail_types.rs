//! The sources and detail-types Klaxon reads, as EventBridge names them.

pub const ALARM_STATE_CHANGE: &str = "CloudWatch Alarm State Change";
pub const ALARM_CONFIG_CHANGE: &str = "CloudWatch Alarm Configuration Change";
pub const CLOUDWATCH_SOURCE: &str = "aws.cloudwatch";
pub const HEALTH_EVENT: &str = "AWS Health Event";
/// Abuse reports (`service: ABUSE`) arrive under their own detail-type.
pub const HEALTH_ABUSE_EVENT: &str = "AWS Health Abuse Event";
/// AWS Health `service` values that are about the account's security (credentials exposed
/// or compromised, abuse reports): security incidents, served by security-intake.
pub const HEALTH_SECURITY_SERVICES: [&str; 2] = ["RISK", "ABUSE"];
pub const GUARDDUTY_FINDING: &str = "GuardDuty Finding";
pub const SECURITY_HUB_ASFF: &str = "Security Hub Findings - Imported";
pub const SECURITY_HUB_OCSF: &str = "Findings Imported V2";
/// An analyst sent findings to a custom action: an escalation, not a state change.
pub const SECURITY_HUB_CUSTOM_ACTION: &str = "Security Hub Findings - Custom Action";
/// CloudWatch's `previousState.reason` when the alarm was just created: INSUFFICIENT_DATA
/// with this reason means the alarm did not exist before (deleted and re-created).
pub const INITIAL_CREATION_REASON: &str = "Unchecked: Initial alarm creation";
pub const CONFIG_COMPLIANCE_CHANGE: &str = "Config Rules Compliance Change";
pub const CLOUDTRAIL_API_CALL: &str = "AWS API Call via CloudTrail";
/// AWS documents both spellings for sign-in events; EventBridge delivers what the service
/// sends, so both are accepted.
pub const CLOUDTRAIL_SIGN_IN: [&str; 2] = [
    "AWS Console Sign In via CloudTrail",
    "AWS Console Signin via CloudTrail",
];

/// The detail-types CloudTrail events arrive under (any `aws.*` source for API calls).
pub fn is_cloudtrail_detail_type(detail_type: &str) -> bool {
    detail_type == CLOUDTRAIL_API_CALL || CLOUDTRAIL_SIGN_IN.contains(&detail_type)
}
