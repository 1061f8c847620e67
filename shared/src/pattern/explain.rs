//! Why an event matches a pattern, or why it does not: for a runbook author
//! (`klaxon runbook test --event`), the question EventBridge's console cannot answer. Not on
//! the intake's path: it walks the event once per field of every alternative, which matching
//! never does.

use serde_json::Value;

use super::condition::Field;
use super::{walk, Pattern};

/// At most this many of the event's values at a path are shown.
const SHOWN_VALUES: usize = 5;
/// A shown value longer than this (as JSON) is cut, with the number of characters left out.
const SHOWN_CHARS: usize = 120;

/// One alternative of a pattern (a combination of its `$or` choices; a pattern without `$or`
/// has one), as written: `(path, conditions as JSON)` per field, shallow fields first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// 1-based, in the order the pattern's `$or` alternatives expand.
    pub number: usize,
    pub fields: Vec<(String, String)>,
}

/// What the event holds at a field's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No value: the path is not in the event (or only objects and empty arrays are there).
    Absent,
    /// The values (JSON, at most [`SHOWN_VALUES`], each cut at [`SHOWN_CHARS`]) and how many
    /// there are in all (an array contributes each element).
    Values { shown: Vec<String>, total: usize },
}

/// Why one alternative did not match: its first field (shallow fields first, then in the
/// pattern's order) that the event does not satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    pub clause: Clause,
    /// The failing field's path and its conditions as written.
    pub path: String,
    pub wants: String,
    pub found: Found,
    /// How many of the clause's fields, before the failing one, the event satisfied.
    pub fields_met: usize,
    /// The failing field is satisfied on its own, but not within the same array element as
    /// the fields before it (EventBridge never combines values of different elements).
    pub only_apart: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Explanation {
    /// The first alternative that matched, and how many the pattern has.
    Matched { clause: Clause, of: usize },
    /// Each alternative's miss, closest first (most fields met), and how many there are.
    NotMatched { misses: Vec<Miss>, of: usize },
    /// The event is not a JSON object: no pattern matches it.
    NotAnObject,
}

impl Pattern {
    /// Explains [`Pattern::matches`]: agrees with it on every event (a test checks), and says
    /// which alternative matched or, for each one, the first field that failed and what the
    /// event holds there.
    pub fn explain(&self, event: &Value) -> Explanation {
        if !event.is_object() {
            return Explanation::NotAnObject;
        }
        let of = self.alternatives.len();
        let mut misses = Vec::new();
        for (i, fields) in self.alternatives.iter().enumerate() {
            let clause = Clause {
                number: i + 1,
                fields: fields
                    .iter()
                    .map(|f| (f.path.clone(), f.written.clone()))
                    .collect(),
            };
            match first_failure(event, fields) {
                None => return Explanation::Matched { clause, of },
                Some((at, only_apart)) => {
                    let field = &fields[at];
                    misses.push(Miss {
                        clause,
                        path: field.path.clone(),
                        wants: field.written.clone(),
                        found: found(event, &field.path),
                        fields_met: at,
                        only_apart,
                    });
                }
            }
        }
        // Stable: among equally close alternatives, the pattern's order.
        misses.sort_by_key(|m| std::cmp::Reverse(m.fields_met));
        Explanation::NotMatched { misses, of }
    }
}

/// The index of the first field that the event cannot satisfy together with the fields
/// before it, and whether it is satisfiable on its own; `None` when all fields are met.
fn first_failure(event: &Value, fields: &[Field]) -> Option<(usize, bool)> {
    let all: Vec<&Field> = fields.iter().collect();
    (0..all.len())
        .find(|&k| !walk::satisfiable(event, 0, &all[..=k]))
        .map(|k| (k, walk::satisfiable(event, 0, &all[k..=k])))
}

fn found(event: &Value, path: &str) -> Found {
    let mut values = Vec::new();
    walk::values_at(event, path, 0, &mut values);
    if values.is_empty() {
        return Found::Absent;
    }
    Found::Values {
        shown: values
            .iter()
            .take(SHOWN_VALUES)
            .map(|v| cut(&v.to_string()))
            .collect(),
        total: values.len(),
    }
}

/// JSON text (control characters already escaped by serde_json) cut to [`SHOWN_CHARS`].
fn cut(json: &str) -> String {
    let count = json.chars().count();
    if count <= SHOWN_CHARS {
        return json.to_string();
    }
    let kept: String = json.chars().take(SHOWN_CHARS).collect();
    format!("{kept}… ({} more characters)", count - SHOWN_CHARS)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn explain(pattern: Value, event: Value) -> Explanation {
        Pattern::from_value(&pattern).unwrap().explain(&event)
    }

    fn values(shown: &[&str], total: usize) -> Found {
        Found::Values {
            shown: shown.iter().map(|s| s.to_string()).collect(),
            total,
        }
    }

    #[test]
    fn a_match_names_the_alternative_that_matched() {
        let pattern = json!({"source": ["aws.cloudwatch"], "$or": [
            {"detail.state.value": ["OK"]},
            {"detail.state.value": ["ALARM"], "detail.alarmName": [{"prefix": "prod-"}]}
        ]});
        let event = json!({"source": "aws.cloudwatch",
            "detail": {"state": {"value": "ALARM"}, "alarmName": "prod-cpu"}});
        let Explanation::Matched { clause, of } = explain(pattern, event) else {
            panic!("should match")
        };
        assert_eq!(of, 2);
        assert_eq!(clause.number, 2);
        assert_eq!(
            clause.fields,
            vec![
                ("source".to_string(), "[\"aws.cloudwatch\"]".to_string()),
                (
                    "detail.alarmName".to_string(),
                    "[{\"prefix\": \"prod-\"}]".to_string()
                ),
                ("detail.state.value".to_string(), "[\"ALARM\"]".to_string()),
            ]
        );
    }

    #[test]
    fn a_miss_names_the_first_failing_field_and_the_value_found() {
        let pattern = json!({"source": ["aws.cloudwatch"],
            "detail": {"state": {"value": ["ALARM"]}, "alarmName": [{"prefix": "prod-"}]}});
        let event = json!({"source": "aws.cloudwatch",
            "detail": {"state": {"value": "ALARM"}, "alarmName": "staging-cpu"}});
        let Explanation::NotMatched { misses, of: 1 } = explain(pattern, event) else {
            panic!("should not match")
        };
        let miss = &misses[0];
        assert_eq!(miss.path, "detail.alarmName");
        assert_eq!(miss.wants, "[{\"prefix\": \"prod-\"}]");
        assert_eq!(miss.found, values(&["\"staging-cpu\""], 1));
        assert_eq!(miss.fields_met, 1);
        assert!(!miss.only_apart);
    }

    #[test]
    fn a_missing_field_is_absent_and_an_object_is_not_a_value() {
        let pattern = json!({"detail": {"severity": [{"numeric": [">=", 7]}]}});
        let Explanation::NotMatched { misses, .. } =
            explain(pattern.clone(), json!({"detail": {"type": "x"}}))
        else {
            panic!()
        };
        assert_eq!(misses[0].found, Found::Absent);
        let Explanation::NotMatched { misses, .. } =
            explain(pattern, json!({"detail": {"severity": {"label": "HIGH"}}}))
        else {
            panic!()
        };
        assert_eq!(misses[0].found, Found::Absent);
    }

    #[test]
    fn values_of_an_array_are_listed_and_elements_are_not_combined() {
        let pattern = json!({"detail": {"resources": {"type": ["AwsEc2Instance"], "id": ["i-1"]}}});
        let event = json!({"detail": {"resources": [
            {"type": "AwsS3Bucket", "id": "i-1"},
            {"type": "AwsEc2Instance", "id": "i-2"}
        ]}});
        let Explanation::NotMatched { misses, .. } = explain(pattern, event) else {
            panic!()
        };
        let miss = &misses[0];
        // Both fields are met somewhere, never in one element.
        assert!(miss.only_apart);
        assert_eq!(miss.fields_met, 1);
        // (json! sorts keys: `id` comes first, `type` fails.)
        assert_eq!(miss.path, "detail.resources.type");
        assert_eq!(
            miss.found,
            values(&["\"AwsS3Bucket\"", "\"AwsEc2Instance\""], 2)
        );
    }

    #[test]
    fn misses_closest_first_and_long_values_cut() {
        let long = "x".repeat(300);
        let pattern = json!({"$or": [
            {"source": ["other"]},
            {"source": ["aws.guardduty"], "detail.type": ["Recon"]}
        ]});
        let event = json!({"source": "aws.guardduty", "detail": {"type": long}});
        let Explanation::NotMatched { misses, of: 2 } = explain(pattern, event) else {
            panic!()
        };
        assert_eq!(misses[0].clause.number, 2);
        assert_eq!(misses[0].path, "detail.type");
        let Found::Values { shown, total: 1 } = &misses[0].found else {
            panic!()
        };
        assert!(
            shown[0].ends_with("… (182 more characters)"),
            "{}",
            shown[0]
        );
        assert_eq!(misses[1].clause.number, 1);
        assert_eq!(misses[1].fields_met, 0);
    }

    #[test]
    fn dotted_keys_are_found_like_matching_finds_them() {
        let pattern = json!({"detail": {"a": {"b": ["1"]}}});
        let event = json!({"detail": {"a.b": "2"}});
        let Explanation::NotMatched { misses, .. } = explain(pattern, event) else {
            panic!()
        };
        assert_eq!(misses[0].found, values(&["\"2\""], 1));
    }

    #[test]
    fn not_an_object() {
        assert_eq!(
            explain(json!({"source": ["x"]}), json!([1])),
            Explanation::NotAnObject
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The explanation never disagrees with the matcher.
        #[test]
        fn agrees_with_matches(
            (pattern, event) in super::super::tests::one_walk_agrees_with_one_at_a_time::generated()
        ) {
            let Ok(compiled) = Pattern::from_value(&pattern) else { return Ok(()) };
            let explained = matches!(compiled.explain(&event), Explanation::Matched { .. });
            proptest::prop_assert_eq!(explained, compiled.matches(&event));
        }
    }
}
