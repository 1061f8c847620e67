//! `put_metric`: a CloudWatch data point (e.g. test-environment failures per service),
//! dimensions rendered from templates.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::lookup::MetricDatum;
use crate::runbook::step::common::{out_of_range, StepError};
use crate::runbook::template::render;
use crate::text;

/// A CloudWatch metric data point (e.g. count test-environment failures per service).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutMetric {
    #[serde(default = "klaxon_namespace")]
    pub namespace: String,
    pub name: String,
    #[serde(default)]
    pub dimensions: BTreeMap<String, Spanned<String>>,
    #[serde(default = "one")]
    pub value: f64,
    pub unit: Option<String>,
}

pub(crate) fn one() -> f64 {
    1.0
}

pub(crate) fn klaxon_namespace() -> String {
    "Klaxon".to_string()
}

/// CloudWatch allows at most 30 dimensions, each value 1–1024 characters.
pub fn metric_datum(config: &PutMetric, context: &Value) -> Result<MetricDatum, StepError> {
    let mut dimensions = Vec::new();
    for (name, template) in &config.dimensions {
        let value = text::bounded(&text::single_line(&render(&template.value, context)?), 1024);
        if value.is_empty() {
            return Err(StepError::Invalid(format!(
                "dimension {name} rendered empty"
            )));
        }
        dimensions.push((name.clone(), value));
    }
    Ok(MetricDatum {
        namespace: config.namespace.clone(),
        name: config.name.clone(),
        dimensions,
        value: config.value,
        unit: config.unit.clone(),
    })
}

/// CloudWatch's limit on the dimensions of one metric.
pub const MAX_DIMENSIONS: usize = 30;

impl PutMetric {
    /// CloudWatch's limits, checked at load rather than met at PutMetricData after the page.
    pub(crate) fn bounds(&self) -> Option<String> {
        out_of_range(
            "put_metric",
            "dimensions",
            u64::try_from(self.dimensions.len()).unwrap_or(u64::MAX),
            (0, MAX_DIMENSIONS as u64),
            "CloudWatch allows at most 30 dimensions per metric",
        )
    }

    /// The timeline summary of a put data point.
    pub fn summary(datum: &MetricDatum) -> String {
        let dimensions = text::pairs(datum.dimensions.iter().map(|(k, v)| (k, v)));
        format!(
            "put {}/{} = {} ({dimensions})",
            datum.namespace, datum.name, datum.value
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runbook::step::common::tests::*;

    use crate::runbook::context::sample_context;

    #[test]
    fn metric_dimensions_render() {
        let config = PutMetric {
            namespace: "Klaxon".into(),
            name: "TestEnvironmentFailures".into(),
            dimensions: BTreeMap::from([(
                "Service".to_string(),
                spanned("{{ service or 'unknown' }}".to_string()),
            )]),
            value: 1.0,
            unit: Some("Count".into()),
        };
        let d = metric_datum(&config, &sample_context()).unwrap();
        assert_eq!(
            d.dimensions,
            vec![("Service".to_string(), "unknown".to_string())]
        );
    }

    #[test]
    fn at_most_30_dimensions_are_accepted_at_load() {
        let yaml = |n: usize| {
            let dims: String = (0..n).map(|i| format!("        d{i}: x\n")).collect();
            format!("name: r\ndescription: d\nteam: t\ntrigger:\n  source: [aws.cloudwatch]\nsteps:\n  - id: count\n    put_metric:\n      name: m\n      dimensions:\n{dims}")
        };
        let load = |n| crate::runbook::load_str(std::path::Path::new("m.yaml"), &yaml(n));
        if let Err(e) = load(MAX_DIMENSIONS) {
            panic!("{e:?}");
        }
        let errors = load(MAX_DIMENSIONS + 1).unwrap_err();
        assert!(
            errors[0]
                .message
                .contains("put_metric.dimensions: 31 is outside 0-30"),
            "{errors:?}"
        );
    }
}
