//! What is known of the stack at synthesis: its name and the self-alarm prefix that keeps
//! Klaxon watching itself from looping.

use serde_json::Value;

/// Klaxon's own alarms (its health alarms) are named `<stack name>-...`: this prefix, as a
/// CloudFormation `Fn::Sub` text. The alarm rule excludes them, so that Klaxon watching
/// itself cannot loop into a paging storm.
pub const SELF_ALARM_NAME_PREFIX: &str = "${AWS::StackName}-";

/// What the alarm rule excludes (`resources`: `anything-but` this prefix, an `Fn::Sub`
/// text): only *this* stack's own alarms, in its partition, Region and account. A
/// customer's alarm named `klaxon-...`, another Klaxon stack's alarms and alarms of other
/// accounts (sent to this bus by their own rules) are handled like any alarm. The ops
/// topic lets CloudWatch publish for the same alarms only (`aws:SourceArn`, with `*`).
pub const SELF_ALARM_ARN_PREFIX: &str =
    "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-";

/// Where a stack runs: what CloudFormation puts in place of the pseudo parameters of the
/// generated rules' `Fn::Sub` texts. Tests and tools use it to get a pattern as deployed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub partition: String,
    pub region: String,
    pub account: String,
    pub stack_name: String,
}

impl Deployment {
    pub fn new(partition: &str, region: &str, account: &str, stack_name: &str) -> Self {
        Deployment {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            stack_name: stack_name.into(),
        }
    }

    /// The longest values (a stack name has at most 128 characters): what the rules are
    /// measured with, so that a pattern fits EventBridge's quota in any deployment.
    pub fn longest() -> Self {
        Deployment::new(
            &"p".repeat(16),
            &"r".repeat(20),
            "000000000000",
            &"s".repeat(128),
        )
    }

    /// An `Fn::Sub` text with the pseudo parameters replaced.
    pub fn sub(&self, text: &str) -> String {
        text.replace("${AWS::Partition}", &self.partition)
            .replace("${AWS::Region}", &self.region)
            .replace("${AWS::AccountId}", &self.account)
            .replace("${AWS::StackName}", &self.stack_name)
    }

    /// A generated pattern as deployed: each `{"Fn::Sub": text}` replaced by its text.
    pub fn pattern(&self, pattern: &Value) -> Value {
        match pattern {
            Value::Object(m) if m.len() == 1 && m.contains_key("Fn::Sub") => {
                Value::String(self.sub(m["Fn::Sub"].as_str().unwrap_or_default()))
            }
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), self.pattern(v)))
                    .collect(),
            ),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.pattern(v)).collect()),
            other => other.clone(),
        }
    }

    /// Whether an alarm ARN is one of this stack's own alarms (which the alarm rule
    /// excludes).
    pub fn is_own_alarm(&self, alarm_arn: &str) -> bool {
        alarm_arn.starts_with(&self.sub(SELF_ALARM_ARN_PREFIX))
    }
}
