//! `classify`: severity, route or team set by rules over the step context; the first rule
//! that matches wins, and nothing is ever promoted to production.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::ownership::Ownership;
use crate::pattern::Pattern;
use crate::route::Route;
use crate::severity::Severity;
use crate::text;

/// Set severity, route or team by rules over the event, first matching rule wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Classify {
    pub rules: Vec<ClassifyRule>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRule {
    /// An event pattern over the step context (see docs/RUNBOOKS.md).
    pub when: Spanned<Value>,
    pub severity: Option<Severity>,
    pub route: Option<Route>,
    pub team: Option<String>,
}

/// What a classify step changed, for the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    pub ownership: Ownership,
    pub summary: String,
}

/// Classify: the first rule whose condition matches sets severity, route and team. A rule
/// can never send a non-production alarm to the production route.
pub fn classify(
    config: &Classify,
    conditions: &[Pattern],
    context: &Value,
    current: &Ownership,
) -> Classified {
    let mut ownership = current.clone();
    let Some((index, rule)) = config
        .rules
        .iter()
        .enumerate()
        .find(|(i, _)| conditions.get(*i).is_some_and(|p| p.matches(context)))
    else {
        return Classified {
            ownership,
            summary: "no rule matched; severity, route and team unchanged".into(),
        };
    };
    let mut changes = Vec::new();
    if let Some(severity) = rule.severity {
        ownership.severity = severity;
        changes.push(format!("severity {}", severity.as_str()));
    }
    if let Some(route) = rule.route {
        if current.security && route != Route::Security {
            changes.push(format!(
                "route {} refused: security incidents stay on the security route",
                route.as_str()
            ));
        } else if route == Route::Production && !current.production {
            changes.push(format!(
                "route production refused for environment {}",
                current.environment
            ));
        } else {
            ownership.route = route;
            changes.push(format!("route {}", route.as_str()));
        }
    }
    if let Some(team) = &rule.team {
        ownership.team = Some(text::bounded(&text::single_line(team), 256));
        changes.push(format!("team {}", text::for_log(team)));
    }
    Classified {
        ownership,
        summary: format!("rule {} matched: {}", index + 1, changes.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::context::sample_context;
    use crate::runbook::step::common::tests::*;
    use serde_json::json;

    #[test]
    fn classify_first_rule_wins_and_never_promotes_to_production() {
        let rules = Classify {
            rules: vec![
                ClassifyRule {
                    when: spanned(json!({"alarm": {"name": [{"prefix": "sam"}]}})),
                    severity: Some(Severity::Critical),
                    route: Some(Route::Production),
                    team: Some("db".into()),
                },
                ClassifyRule {
                    when: spanned(json!({"alarm": {"name": [{"exists": true}]}})),
                    severity: Some(Severity::Info),
                    route: None,
                    team: None,
                },
            ],
        };
        let conditions: Vec<Pattern> = rules
            .rules
            .iter()
            .map(|r| Pattern::from_value(&r.when.value).unwrap())
            .collect();
        let ctx = sample_context();
        let c = classify(&rules, &conditions, &ctx, &ownership("production"));
        assert_eq!(c.ownership.severity, Severity::Critical);
        assert_eq!(c.ownership.team.as_deref(), Some("db"));
        let staging = classify(&rules, &conditions, &ctx, &ownership("staging"));
        assert_eq!(staging.ownership.route, Route::Test, "{}", staging.summary);
        assert!(staging.summary.contains("refused"));
    }
}
