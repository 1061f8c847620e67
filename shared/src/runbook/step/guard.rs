//! `guard`: the runbook's remaining steps run only when an event pattern over the step
//! context holds.

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::pattern::Pattern;

/// Skip the remaining steps unless the condition holds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guard {
    pub when: Spanned<Value>,
}

/// Guard: whether the remaining steps run.
pub fn guard_passes(condition: &Pattern, context: &Value) -> bool {
    condition.matches(context)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::context::sample_context;
    use serde_json::json;

    #[test]
    fn guard_matches_the_context() {
        let ctx = sample_context();
        let production = Pattern::from_value(&json!({"environment": ["production"]})).unwrap();
        let critical = Pattern::from_value(&json!({"severity": ["critical"]})).unwrap();
        assert!(guard_passes(&production, &ctx));
        assert!(!guard_passes(&critical, &ctx));
    }
}
