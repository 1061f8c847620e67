//! The DynamoDB leading keys each handler may touch (its IAM condition), from its sources.

use std::collections::BTreeMap;

use crate::infra::handlers::*;
use crate::runbook::Catalog;

/// The partition keys every handler reads and writes, whatever its sources: idempotency
/// records and step runs (`EVENT#<event id>`), incidents with their timeline, outbox and
/// step entries (`INCIDENT#<incident id>`), links in pages (`LINK#<token hash>`), rejections
/// (`REJECTED#<day>`). None of them
/// names the source, so they cannot be told apart per handler (docs/DEPLOY.md).
pub const COMMON_LEADING_KEYS: [&str; 4] = ["EVENT#*", "INCIDENT#*", "LINK#*", "REJECTED#*"];

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::tests::{catalog, ONE_PER_SOURCE};

    #[test]
    fn leading_keys_follow_the_sources_and_string_like_is_iams() {
        let c = catalog(&ONE_PER_SOURCE);
        let keys = leading_keys(&c);
        let common = ["EVENT#*", "INCIDENT#*", "LINK#*", "REJECTED#*"];
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
}
