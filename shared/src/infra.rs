//! The EventBridge rules that feed Klaxon's handlers, derived from the runbooks' triggers:
//! one truth for the handler's own matching and for the deployed rules (`klaxon infra rules`
//! writes `infra/rules.json`, which the CDK app reads, and the rules block of the SAM
//! template). The rules only pre-filter: the handler evaluates every runbook itself.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::pattern::Pattern;
use crate::runbook::{Catalog, Runbook};

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

/// The intake handlers, each a Lambda function of its own (own rule, IAM, alarms).
pub const HANDLERS: [&str; 3] = ["alarm-intake", "health-intake", "security-intake"];

/// Which handler serves the events of a source. `cloudtrail_only`: the trigger names only
/// the CloudTrail detail-types ("AWS API Call via CloudTrail", console sign-in), which come
/// with the source of the service called (`aws.ec2`, `aws.s3`, `aws.iam`, ...) and are
/// security invariants whatever the service.
///
/// `security`: the trigger belongs to a security runbook (`security: true`, or AWS Health's
/// RISK / ABUSE services): AWS Health and AWS Config events go to security-intake then, and
/// to health-intake (the non-security intake of AWS service events) otherwise, so that each
/// function publishes only to its own routes.
pub fn handler_for(source: &str, cloudtrail_only: bool, security: bool) -> Option<&'static str> {
    match source {
        _ if cloudtrail_only && source.starts_with("aws.") => Some("security-intake"),
        "aws.health" | "aws.config" if security => Some("security-intake"),
        "aws.cloudwatch" => Some("alarm-intake"),
        "aws.health" | "aws.config" => Some("health-intake"),
        "aws.guardduty" | "aws.securityhub" | "aws.signin" => Some("security-intake"),
        _ => None,
    }
}

/// Which handler the deployed rules send a delivered event to: that of the runbooks whose
/// triggers match it (the rules are made of those triggers); tests and tools use it.
pub fn handler_for_event(catalog: &Catalog, event: &Value) -> Option<&'static str> {
    let source = event["source"].as_str()?;
    catalog.candidates(event).into_iter().find_map(|runbook| {
        runbook_sources(runbook)
            .into_iter()
            .find(|(s, _)| s == source)
            .and_then(|(_, handler)| handler)
    })
}

/// The sources a runbook's trigger names, each with the handler that serves it.
pub fn runbook_sources(runbook: &Runbook) -> Vec<(String, Option<&'static str>)> {
    trigger_sources(&runbook.spec.trigger.value, runbook.spec.security)
}

/// The strings of a trigger's top-level field (`source`, `detail-type`).
fn trigger_strings<'a>(trigger: &'a Value, key: &str) -> Vec<&'a str> {
    trigger[key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The trigger names only the CloudTrail detail-types (API calls, console sign-ins).
fn cloudtrail_only(trigger: &Value) -> bool {
    let detail_types = trigger_strings(trigger, "detail-type");
    !detail_types.is_empty()
        && detail_types
            .iter()
            .all(|d| crate::intake::is_cloudtrail_detail_type(d))
}

/// The sources a trigger names, each with the handler that serves it (`None`: no handler).
pub fn trigger_sources(trigger: &Value, security: bool) -> Vec<(String, Option<&'static str>)> {
    let strings = |key: &str| trigger_strings(trigger, key);
    let cloudtrail_only = cloudtrail_only(trigger);
    // AWS Health's security services (RISK, ABUSE) are security incidents: a trigger that
    // names only them belongs to security-intake, so that each function publishes only to
    // its own routes.
    let services: Vec<&str> = trigger["detail"]["service"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let health_security = !services.is_empty()
        && services
            .iter()
            .all(|s| crate::intake::HEALTH_SECURITY_SERVICES.contains(s));
    strings("source")
        .into_iter()
        .map(|source| {
            (
                source.to_string(),
                handler_for(source, cloudtrail_only, security || health_security),
            )
        })
        .collect()
}

/// The `source` of every event Klaxon puts on its bus: lifecycle events and runbook events
/// (the `events:source` condition on each role's `events:PutEvents`).
pub const EVENT_SOURCES: [&str; 2] = [
    crate::render::LIFECYCLE_SOURCE,
    crate::runbook::step::emit::EMIT_SOURCE,
];

/// The partition keys every handler reads and writes, whatever its sources: idempotency
/// records and step runs (`EVENT#<event id>`), incidents with their timeline, outbox and
/// step entries (`INCIDENT#<incident id>`), rejections (`REJECTED#<day>`). None of them
/// names the source, so they cannot be told apart per handler (docs/DEPLOY.md).
pub const COMMON_LEADING_KEYS: [&str; 3] = ["EVENT#*", "INCIDENT#*", "REJECTED#*"];

/// The tracker key (`ALARM#<dedup key>`, `layout::tracker_pk`) of the events of a source, as
/// an IAM `StringLike` pattern for `dynamodb:LeadingKeys`. The dedup keys (`intake`):
/// CloudWatch alarms their ARN (from `resources`, or built from account, Region and name:
/// `arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>`); AWS Health events
/// `<eventArn>#<account | public | ->`; AWS Config `config:...`; GuardDuty and Security Hub
/// findings `finding:...`; CloudTrail calls and console sign-ins `cloudtrail:...`.
pub fn tracker_key_pattern(source: &str, cloudtrail_only: bool) -> Option<&'static str> {
    match source {
        _ if cloudtrail_only && source.starts_with("aws.") => Some("ALARM#cloudtrail:*"),
        "aws.cloudwatch" => Some("ALARM#arn:*:cloudwatch:*:alarm:*"),
        "aws.health" => Some("ALARM#arn:*:health:*"),
        "aws.config" => Some("ALARM#config:*"),
        "aws.guardduty" | "aws.securityhub" => Some("ALARM#finding:*"),
        "aws.signin" => Some("ALARM#cloudtrail:*"),
        _ => None,
    }
}

/// Per handler, the partition keys it may read and write (`dynamodb:LeadingKeys` of its
/// role, with `ForAllValues:StringLike`): the tracker keys of the sources its runbooks'
/// triggers send it, and [`COMMON_LEADING_KEYS`]. Sorted.
pub fn leading_keys(catalog: &Catalog) -> BTreeMap<String, Vec<String>> {
    let mut by_handler: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for runbook in catalog.runbooks() {
        let trigger = &runbook.spec.trigger.value;
        let cloudtrail = cloudtrail_only(trigger);
        for (source, handler) in runbook_sources(runbook) {
            let (Some(handler), Some(key)) = (handler, tracker_key_pattern(&source, cloudtrail))
            else {
                continue;
            };
            by_handler
                .entry(handler.to_string())
                .or_default()
                .insert(key.to_string());
        }
    }
    by_handler
        .into_iter()
        .map(|(handler, mut keys)| {
            keys.extend(COMMON_LEADING_KEYS.iter().map(|k| k.to_string()));
            (handler, keys.into_iter().collect())
        })
        .collect()
}

/// IAM's `StringLike`, case-sensitive: `*` matches any characters (none included), `?`
/// any one character; everything else itself.
pub fn string_like(pattern: &str, value: &str) -> bool {
    let (p, v): (Vec<char>, Vec<char>) = (pattern.chars().collect(), value.chars().collect());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < v.len() {
        if i < p.len() && (p[i] == '?' || (p[i] != '*' && p[i] == v[j])) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// EventBridge's default quota for one rule's event pattern, in characters. A handler's
/// triggers are spread over as many rules as it takes to stay within it.
pub const MAX_EVENT_PATTERN_CHARS: usize = 2048;
/// What rules are packed to: below the quota, so that a pattern serialised with a little
/// more whitespace than Klaxon's compact JSON (CloudFormation's own serialisation is not
/// documented) still fits.
const PATTERN_BUDGET_CHARS: usize = 1900;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Logical name, also the SAM resource suffix: `AlarmIntakeRule`, then
    /// `AlarmIntakeRule2`, ... when the handler's triggers need several rules.
    pub name: String,
    pub handler: String,
    pub runbooks: Vec<String>,
    pub event_pattern: Value,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("runbook `{runbook}`: {reason}")]
pub struct RuleError {
    pub runbook: String,
    pub reason: String,
}

/// One rule per handler: the triggers of the runbooks it serves, without those another
/// trigger already covers, combined with `$or`, and Klaxon's own alarms excluded.
pub fn rules(catalog: &Catalog) -> Result<Vec<Rule>, Vec<RuleError>> {
    let mut by_handler: BTreeMap<&'static str, Vec<(String, Value)>> = BTreeMap::new();
    let mut errors = Vec::new();
    for runbook in catalog.runbooks() {
        match deployable(runbook) {
            Ok(handlers) => {
                for handler in handlers {
                    by_handler.entry(handler).or_default().push((
                        runbook.name().to_string(),
                        runbook.spec.trigger.value.clone(),
                    ));
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut errors = Vec::new();
    let mut rules = Vec::new();
    for (handler, triggers) in by_handler {
        let kept = without_covered(triggers);
        // First fit, in the runbooks' order: each rule's pattern within the budget.
        let mut groups: Vec<Vec<(Value, Vec<String>)>> = vec![Vec::new()];
        'triggers: for trigger in kept {
            for group in groups.iter_mut() {
                let mut candidate = group.clone();
                candidate.push(trigger.clone());
                if deployed_chars(&rule_pattern(handler, &candidate)) <= PATTERN_BUDGET_CHARS {
                    *group = candidate;
                    continue 'triggers;
                }
            }
            let alone = rule_pattern(handler, std::slice::from_ref(&trigger));
            if deployed_chars(&alone) > MAX_EVENT_PATTERN_CHARS {
                errors.extend(trigger.1.iter().map(|runbook| RuleError {
                    runbook: runbook.clone(),
                    reason: format!(
                        "its trigger makes an event pattern of {} characters; EventBridge allows {MAX_EVENT_PATTERN_CHARS} per rule by default (shorten it, or split the runbook)",
                        deployed_chars(&alone)
                    ),
                }));
                continue;
            }
            groups.push(vec![trigger]);
        }
        for (n, group) in groups.into_iter().filter(|g| !g.is_empty()).enumerate() {
            let event_pattern = rule_pattern(handler, &group);
            debug_assert!(
                Pattern::from_value(&Deployment::longest().pattern(&event_pattern)).is_ok()
            );
            rules.push(Rule {
                name: if n == 0 {
                    format!("{}Rule", pascal(handler))
                } else {
                    format!("{}Rule{}", pascal(handler), n + 1)
                },
                handler: handler.to_string(),
                runbooks: group.iter().flat_map(|(_, names)| names.clone()).collect(),
                event_pattern,
            });
        }
    }
    if errors.is_empty() {
        Ok(rules)
    } else {
        Err(errors)
    }
}

/// Whether a runbook's trigger can be deployed: it names exact sources that handlers serve,
/// leaves `resources` to the deployed rule, and alone makes an event pattern within
/// EventBridge's quota for each handler it reaches (as deployed with the longest stack name,
/// partition, Region and account). The handlers, or why not. `klaxon runbook check` and
/// `klaxon infra rules` both ask.
pub fn deployable(runbook: &Runbook) -> Result<Vec<&'static str>, Vec<RuleError>> {
    let trigger = &runbook.spec.trigger.value;
    let error = |reason: String| RuleError {
        runbook: runbook.name().to_string(),
        reason,
    };
    let sources = runbook_sources(runbook);
    if sources.is_empty() {
        return Err(vec![error(
            "its trigger must name `source` with exact values, so that a handler can be chosen and the deployed rule stays narrow".into(),
        )]);
    }
    if trigger.get("resources").is_some() {
        return Err(vec![error(
            "its trigger uses `resources`, which the deployed rule needs to exclude Klaxon's own alarms; match the alarm name under `detail` instead".into(),
        )]);
    }
    let mut handlers: Vec<&'static str> = Vec::new();
    let mut errors = Vec::new();
    for (source, handler) in &sources {
        match handler {
            Some(h) if !handlers.contains(h) => handlers.push(h),
            Some(_) => {}
            None => errors.push(error(format!("no handler serves source `{source}` yet"))),
        }
    }
    for handler in &handlers {
        let alone = rule_pattern(handler, &[(trigger.clone(), Vec::new())]);
        let chars = deployed_chars(&alone);
        if chars > MAX_EVENT_PATTERN_CHARS {
            errors.push(error(format!(
                "its trigger makes an event pattern of {chars} characters; EventBridge allows {MAX_EVENT_PATTERN_CHARS} per rule by default (shorten it, or split the runbook)"
            )));
        }
    }
    if errors.is_empty() {
        Ok(handlers)
    } else {
        Err(errors)
    }
}

/// The event pattern of one rule: its triggers (`$or` of several) and, for the alarm
/// handler, the exclusion of Klaxon's own alarms.
fn rule_pattern(handler: &str, triggers: &[(Value, Vec<String>)]) -> Value {
    let mut pattern = match triggers {
        [(one, _)] => one.as_object().cloned().unwrap_or_default(),
        many => {
            let mut m = Map::new();
            m.insert(
                "$or".into(),
                Value::Array(many.iter().map(|(t, _)| t.clone()).collect()),
            );
            m
        }
    };
    // Only alarm events carry the alarm's ARN in `resources`; other sources send `[]`
    // there, which an `anything-but` (a value test) would never match. The prefix is
    // this stack's (`Fn::Sub`, resolved by CloudFormation at deployment).
    if handler == "alarm-intake" {
        pattern.insert(
            "resources".into(),
            json!([{"anything-but": {"prefix": {"Fn::Sub": SELF_ALARM_ARN_PREFIX}}}]),
        );
    }
    Value::Object(pattern)
}

/// The pattern's length (compact JSON).
pub fn pattern_chars(pattern: &Value) -> usize {
    pattern.to_string().chars().count()
}

/// The pattern's length as deployed with the longest stack name, partition, Region and
/// account.
pub fn deployed_chars(pattern: &Value) -> usize {
    pattern_chars(&Deployment::longest().pattern(pattern))
}

/// Drops triggers that another trigger covers: a trigger whose every condition also appears,
/// identically, in another is at least as broad, so the narrower one adds nothing to a
/// pre-filter. (Only plain triggers are compared; `$or` ones are kept.) Each kept trigger
/// carries the runbooks it serves (its own, identical ones, and those it covers).
fn without_covered(all: Vec<(String, Value)>) -> Vec<(Value, Vec<String>)> {
    let mut triggers: Vec<(Value, Vec<String>)> = Vec::new();
    for (runbook, t) in all {
        match triggers.iter_mut().find(|(seen, _)| *seen == t) {
            Some((_, names)) => names.push(runbook),
            None => triggers.push((t, vec![runbook])),
        }
    }
    let leaves: Vec<Option<BTreeMap<String, Value>>> =
        triggers.iter().map(|(t, _)| flat_leaves(t, "")).collect();
    let covering = |i: usize| {
        leaves[i].as_ref().and_then(|narrow| {
            leaves.iter().enumerate().position(|(j, broad)| {
                j != i
                    && broad.as_ref().is_some_and(|broad| {
                        broad.len() < narrow.len()
                            && broad.iter().all(|(k, v)| narrow.get(k) == Some(v))
                    })
            })
        })
    };
    let cover: Vec<Option<usize>> = (0..triggers.len()).map(covering).collect();
    let mut kept: Vec<(Value, Vec<String>)> = triggers.clone();
    for (i, by) in cover.iter().enumerate() {
        if let Some(j) = by {
            let names = triggers[i].1.clone();
            kept[*j].1.extend(names);
        }
    }
    kept.into_iter()
        .zip(cover)
        .filter_map(|(t, by)| by.is_none().then_some(t))
        .collect()
}

/// Leaf conditions by dotted path; `None` when the pattern uses `$or`.
fn flat_leaves(pattern: &Value, prefix: &str) -> Option<BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for (key, value) in pattern.as_object()? {
        if key == "$or" {
            return None;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(_) => out.extend(flat_leaves(value, &path)?),
            leaf => {
                out.insert(path, leaf.clone());
            }
        }
    }
    Some(out)
}

/// `alarm-intake` -> `AlarmIntake`: the handler's name in resource names.
pub fn pascal(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The CloudWatch namespaces the runbooks' `put_metric` steps write (the IAM condition on
/// `cloudwatch:PutMetricData`), always with Klaxon's own.
pub fn metric_namespaces(catalog: &Catalog) -> Vec<String> {
    let mut namespaces = std::collections::BTreeSet::from(["Klaxon".to_string()]);
    for runbook in catalog.runbooks() {
        for step in &runbook.steps {
            if let crate::runbook::StepKind::PutMetric(m) = &step.kind {
                namespaces.insert(m.namespace.clone());
            }
        }
    }
    namespaces.into_iter().collect()
}

/// The committed form (`infra/rules.json`), stable for a diff. Texts with `${AWS::...}`
/// are CloudFormation `Fn::Sub` texts; in the patterns they stand as `{"Fn::Sub": text}`.
pub fn rules_document(
    rules: &[Rule],
    metric_namespaces: &[String],
    leading_keys: &BTreeMap<String, Vec<String>>,
) -> Value {
    json!({
        "generated_by": "klaxon infra rules (do not edit: change runbooks/ and run it again)",
        "self_alarm_name_prefix": SELF_ALARM_NAME_PREFIX,
        "self_alarm_arn_prefix": SELF_ALARM_ARN_PREFIX,
        "metric_namespaces": metric_namespaces,
        "leading_keys": leading_keys,
        "event_sources": EVENT_SOURCES,
        "rules": rules.iter().map(|r| json!({
            "name": r.name,
            "handler": r.handler,
            "runbooks": r.runbooks,
            "event_pattern": r.event_pattern,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::load_str;
    use std::path::Path;

    fn catalog(triggers: &[(&str, &str)]) -> Catalog {
        Catalog::new(
            triggers
                .iter()
                .map(|(name, trigger)| {
                    load_str(
                        Path::new("t.yaml"),
                        &format!("name: {name}\ndescription: d\nteam: t\ntrigger: {trigger}\n"),
                    )
                    .unwrap()
                })
                .collect(),
        )
    }

    #[test]
    fn covered_triggers_are_dropped_and_self_alarms_excluded() {
        let c = catalog(&[
            (
                "all",
                r#"{"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}"#,
            ),
            (
                "same",
                r#"{"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"]}"#,
            ),
            (
                "narrow",
                r#"{"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"], "detail": {"alarmName": [{"prefix": "db-"}]}}"#,
            ),
        ]);
        let rules = super::rules(&c).unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0].name, "AlarmIntakeRule");
        let mut served = rules[0].runbooks.clone();
        served.sort();
        assert_eq!(served, ["all", "narrow", "same"]);
        let p = &rules[0].event_pattern;
        assert!(p.get("$or").is_none(), "{p}");
        // The exclusion is this stack's: an `Fn::Sub` that CloudFormation resolves.
        assert_eq!(
            p["resources"],
            json!([{"anything-but": {"prefix": {"Fn::Sub": SELF_ALARM_ARN_PREFIX}}}])
        );
        let prod = Deployment::new("aws", "eu-west-1", "123456789012", "klaxon-prod");
        let pattern = Pattern::from_value(&prod.pattern(p)).unwrap();
        let event = |account: &str, name: &str| {
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change",
                   "resources": [format!("arn:aws:cloudwatch:eu-west-1:{account}:alarm:{name}")]})
        };
        assert!(pattern.matches(&event("123456789012", "db-cpu")));
        // This stack's own alarm: excluded.
        assert!(!pattern.matches(&event("123456789012", "klaxon-prod-alarm-intake-errors")));
        assert!(prod.is_own_alarm(
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:klaxon-prod-alarm-intake-errors"
        ));
        // A customer's alarm named klaxon-*, another stack's, another account's: handled.
        assert!(pattern.matches(&event("123456789012", "klaxon-db-cpu")));
        assert!(pattern.matches(&event("123456789012", "klaxon-dev-alarm-intake-errors")));
        assert!(pattern.matches(&event("210987654321", "klaxon-prod-alarm-intake-errors")));
    }

    #[test]
    fn leading_keys_follow_the_sources_and_string_like_is_iams() {
        let c = catalog(&[
            ("alarms", r#"{"source": ["aws.cloudwatch"]}"#),
            ("health", r#"{"source": ["aws.health"]}"#),
            (
                "findings",
                r#"{"source": ["aws.guardduty", "aws.securityhub"]}"#,
            ),
            (
                "sg",
                r#"{"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"]}"#,
            ),
        ]);
        let keys = leading_keys(&c);
        let common = ["EVENT#*", "INCIDENT#*", "REJECTED#*"];
        let with = |extra: &[&str]| {
            let mut all: Vec<String> = extra.iter().chain(&common).map(|s| s.to_string()).collect();
            all.sort();
            all
        };
        assert_eq!(
            keys["alarm-intake"],
            with(&["ALARM#arn:*:cloudwatch:*:alarm:*"])
        );
        assert_eq!(keys["health-intake"], with(&["ALARM#arn:*:health:*"]));
        assert_eq!(
            keys["security-intake"],
            with(&["ALARM#cloudtrail:*", "ALARM#finding:*"])
        );
        assert!(string_like(
            "ALARM#arn:*:cloudwatch:*:alarm:*",
            "ALARM#arn:aws:cloudwatch:us-east-1:1:alarm:x"
        ));
        assert!(!string_like(
            "ALARM#arn:*:cloudwatch:*:alarm:*",
            "ALARM#finding:arn:aws:guardduty:x"
        ));
        assert!(string_like("a*b?c", "aXXbYc") && string_like("*", "") && !string_like("a?", "a"));
        assert!(string_like("EVENT#*", "EVENT#") && !string_like("EVENT#*", "event#1"));
    }

    #[test]
    fn triggers_spread_over_rules_within_eventbridges_pattern_size() {
        let long = |n: usize| {
            let names: Vec<String> = (0..60)
                .map(|i| format!(r#"{{"prefix": "rule-{n}-{i:02}-abcdefgh"}}"#))
                .collect();
            format!(
                r#"{{"source": ["aws.config"], "detail-type": ["Config Rules Compliance Change"], "detail": {{"configRuleName": [{}]}}}}"#,
                names.join(", ")
            )
        };
        let (a, b) = (long(1), long(2));
        let c = catalog(&[("a", a.as_str()), ("b", b.as_str())]);
        let rules = super::rules(&c).unwrap();
        assert_eq!(
            rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["HealthIntakeRule", "HealthIntakeRule2"]
        );
        for rule in &rules {
            assert!(pattern_chars(&rule.event_pattern) <= MAX_EVENT_PATTERN_CHARS);
        }
        // One trigger longer than a rule allows cannot deploy: refused, naming the runbook.
        let names: Vec<String> = (0..120)
            .map(|i| format!(r#"{{"prefix": "too-long-{i:03}-abcdefgh"}}"#))
            .collect();
        let huge = format!(
            r#"{{"source": ["aws.config"], "detail": {{"configRuleName": [{}]}}}}"#,
            names.join(", ")
        );
        let errors = super::rules(&catalog(&[("huge", huge.as_str())])).unwrap_err();
        assert_eq!(errors[0].runbook, "huge");
        assert!(errors[0].reason.contains("2048"), "{}", errors[0].reason);
    }

    #[test]
    fn distinct_triggers_are_ored_and_unknown_sources_refused() {
        let c = catalog(&[
            (
                "a",
                r#"{"source": ["aws.cloudwatch"], "detail": {"state": {"value": ["ALARM"]}}}"#,
            ),
            (
                "b",
                r#"{"source": ["aws.cloudwatch"], "detail": {"alarmName": [{"prefix": "x"}]}}"#,
            ),
        ]);
        let rules = super::rules(&c).unwrap();
        assert_eq!(rules[0].event_pattern["$or"].as_array().unwrap().len(), 2);
        assert!(
            Pattern::from_value(&Deployment::longest().pattern(&rules[0].event_pattern)).is_ok()
        );
        let bad = catalog(&[
            ("g", r#"{"source": ["aws.codebuild"]}"#),
            ("n", r#"{"detail-type": ["x"]}"#),
        ]);
        let errors = super::rules(&bad).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert!(errors[0]
            .to_string()
            .contains("no handler serves source `aws.codebuild`"));
        assert!(errors[1].to_string().contains("must name `source`"));
    }

    #[test]
    fn sources_go_to_their_handlers_and_only_alarm_rules_exclude_self_alarms() {
        let c = catalog(&[
            ("alarms", r#"{"source": ["aws.cloudwatch"]}"#),
            ("health", r#"{"source": ["aws.health"]}"#),
            (
                "findings",
                r#"{"source": ["aws.guardduty", "aws.securityhub"]}"#,
            ),
            (
                "sg",
                r#"{"source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"]}"#,
            ),
            (
                "cw-api",
                r#"{"source": ["aws.cloudwatch"], "detail-type": ["AWS API Call via CloudTrail"]}"#,
            ),
        ]);
        let rules = super::rules(&c).unwrap();
        let by: Vec<(&str, Vec<&str>)> = rules
            .iter()
            .map(|r| {
                (
                    r.handler.as_str(),
                    r.runbooks.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            by,
            [
                ("alarm-intake", vec!["alarms"]),
                ("health-intake", vec!["health"]),
                ("security-intake", vec!["cw-api", "findings", "sg"]),
            ]
        );
        assert!(rules[0].event_pattern.get("resources").is_some());
        assert!(rules[1].event_pattern.get("resources").is_none());
        assert!(rules[2].event_pattern.get("resources").is_none());
        // A GuardDuty finding has `resources: []`: the security rule must still take it.
        let finding =
            json!({"source": "aws.guardduty", "detail-type": "GuardDuty Finding", "resources": []});
        assert!(Pattern::from_value(&rules[2].event_pattern)
            .unwrap()
            .matches(&finding));
        assert!(HANDLERS.iter().all(|h| by.iter().any(|(b, _)| b == h)));
    }
}
