//! The EventBridge rules: each handler's triggers, without those another covers, split
//! within EventBridge's 2,048 characters; and `klaxon infra rules`' document.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::infra::deployment::*;
use crate::infra::handlers::*;
use crate::pattern::Pattern;
use crate::runbook::{Catalog, Runbook};

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
    use crate::infra::tests::catalog;

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
}
