//! Templates (minijinja, strict: a misspelt variable fails at load) rendered against the
//! step context.

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::runbook::step::StepError;
use crate::text;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // A misspelt variable is an error at load (templates are rendered against a sample
    // context then), not an empty string in a page.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("quote", |s: String| text::quoted_block(&s, 4096));
    env
}

/// Renders a template against the context.
pub fn render(template: &str, context: &Value) -> Result<String, StepError> {
    environment()
        .render_str(template, minijinja::value::Serde(context))
        .map_err(|e| {
            // Point at the failing expression: "undefined value at `alarm.nmae`".
            let at = e
                .range()
                .and_then(|r| template.get(r))
                .map(|snippet| format!(" at `{snippet}`"))
                .unwrap_or_default();
            let line = e
                .line()
                .map(|l| format!(" (template line {l})"))
                .unwrap_or_default();
            match e.detail() {
                Some(detail) => StepError::Template(format!("{}: {detail}{line}", e.kind())),
                None => StepError::Template(format!("{}{at}{line}", e.kind())),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::context::sample_context;

    #[test]
    fn strict_templates_reject_unknown_variables() {
        let ctx = sample_context();
        assert_eq!(
            render("{{ alarm.name }} {{ severity | upper }}", &ctx).unwrap(),
            "sample HIGH"
        );
        assert!(render("{{ alarm.nmae }}", &ctx).is_err());
        assert!(render("{{ service or '(untagged)' }}", &ctx)
            .unwrap()
            .contains("untagged"));
    }
}
