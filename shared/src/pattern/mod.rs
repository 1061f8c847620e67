//! EventBridge event patterns: parsing with AWS's validation rules, and matching with
//! AWS's semantics, offline. Agrees with AWS on the conformance corpus in
//! `tests/conformance/event-patterns`, with no exception (docs/RUNBOOKS.md).
//!
//! Like EventBridge (and its open-source engine, event-ruler), both the event and the pattern
//! are seen as flat paths of dot-joined keys: `{"a": {"b.c": 1}}` and `{"a.b": {"c": 1}}` both
//! give the path `a.b.c`. Arrays in the event contribute each of their elements' values to
//! the same path; objects and empty arrays contribute no value. A pattern is the AND of its
//! fields; each field's list of conditions is an OR; `$or` adds alternatives.
//!
//! `raw.rs` reads the JSON, `compile.rs` validates and compiles it, `condition.rs` decides
//! one value, `walk.rs` and `alternatives.rs` match an event, `explain.rs` says why.

mod alternatives;
mod compile;
mod condition;
mod explain;
mod raw;
mod walk;

use serde_json::Value;

use compile::{compile_group, err};
use condition::Field;

pub use compile::{PatternError, MAX_COMBINATIONS};
pub use explain::{Clause, Explanation, Found, Miss};
pub use raw::RawJson;
pub use walk::FlatEvent;

#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    /// The pattern without `$or`: each entry one combination of alternatives (expanded once).
    alternatives: Vec<Vec<Field>>,
    /// The alternatives as one trie, matched in one walk of the event: for patterns of more
    /// than [`ONE_AT_A_TIME`] alternatives (fewer are walked one at a time, which costs less
    /// than the trie's bookkeeping).
    plan: Option<alternatives::Plan>,
}

/// Up to this many alternatives, each is matched with its own walk of the event.
const ONE_AT_A_TIME: usize = 8;

impl Pattern {
    /// Parses JSON text; repeated keys are all kept, as AWS does.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let raw: RawJson =
            serde_json::from_str(text).map_err(|e| err("", format!("not valid JSON: {e}")))?;
        Self::from_raw(&raw)
    }

    pub fn from_value(value: &Value) -> Result<Pattern, PatternError> {
        Self::from_raw(&RawJson::from_value(value))
    }

    pub fn from_raw(raw: &RawJson) -> Result<Pattern, PatternError> {
        let RawJson::Object(entries) = raw else {
            return Err(err(
                "",
                format!("the pattern must be a JSON object, found {}", raw.kind()),
            ));
        };
        let root = compile_group(entries, "")?;
        let combinations = root.combinations();
        if combinations > MAX_COMBINATIONS {
            return Err(err(
                "",
                format!(
                    "the pattern's $or alternatives make {} combinations; Klaxon allows at most {MAX_COMBINATIONS} (split the runbook, or merge alternatives into one field's list)",
                    if combinations == usize::MAX { "too many".to_string() } else { combinations.to_string() }
                ),
            ));
        }
        // Shallow fields first (`source`, `detail-type`): most events fail there, cheaply.
        let alternatives: Vec<Vec<Field>> = root
            .expand()
            .into_iter()
            .map(|fields| {
                let mut fields: Vec<Field> = fields.into_iter().cloned().collect();
                fields.sort_by_key(|f| f.path.matches('.').count());
                fields
            })
            .collect();
        let plan =
            (alternatives.len() > ONE_AT_A_TIME).then(|| alternatives::Plan::new(&alternatives));
        Ok(Pattern { alternatives, plan })
    }

    /// Whether `event` matches. An event that is not a JSON object matches nothing.
    pub fn matches(&self, event: &Value) -> bool {
        self.matches_flat(&FlatEvent::new(event))
    }

    /// Matching against an event flattened once, for many patterns.
    pub fn matches_flat(&self, event: &FlatEvent) -> bool {
        match &self.plan {
            Some(plan) => event.event.is_object() && plan.matches(&self.alternatives, event),
            None => self.matches_one_at_a_time(event),
        }
    }

    /// The decision in one walk for all alternatives, whatever their number (what the tests
    /// compare with [`Self::matches_one_at_a_time`]).
    #[cfg(test)]
    fn matches_in_one_walk(&self, event: &Value) -> bool {
        event.is_object()
            && alternatives::Plan::new(&self.alternatives)
                .matches(&self.alternatives, &FlatEvent::new(event))
    }

    /// Each alternative with its own walk of the event ([`walk`]).
    fn matches_one_at_a_time(&self, flat: &FlatEvent) -> bool {
        let event = flat.event;
        event.is_object()
            && self.alternatives.iter().any(|fields| {
                // No allocation for the common case (per runbook per event).
                if fields.len() <= 16 {
                    let Some(first) = fields.first() else {
                        return true;
                    };
                    let mut refs = [first; 16];
                    for (slot, field) in refs.iter_mut().zip(fields) {
                        *slot = field;
                    }
                    return walk::satisfiable(event, 0, &refs[..fields.len()]);
                }
                let all: Vec<&Field> = fields.iter().collect();
                walk::satisfiable(event, 0, &all)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::compile::wildcard;
    use super::condition::{ci_ends, ci_equals, ci_suffix, wildcard_matches};
    use super::*;
    use serde_json::json;

    fn m(pattern: Value, event: Value) -> bool {
        Pattern::from_value(&pattern).unwrap().matches(&event)
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_matches("a*c", "abbbc"));
        assert!(wildcard_matches("a*", "a"));
        assert!(!wildcard_matches("a*c", "ab"));
        assert!(wildcard_matches("*/dir/*", "x/dir/y"));
        assert!(wildcard_matches("a\\*b", "a*b"));
        assert!(!wildcard_matches("a\\*b", "axb"));
        assert!(
            wildcard_matches("a\\\\*", "a\\anything"),
            "escaped backslash, then a wildcard"
        );
        assert!(wildcard("a\\b", "p").is_err(), "unknown escape");
        assert!(
            wildcard("\\**", "p").is_ok(),
            "a literal star then a wildcard"
        );
        assert!(wildcard("a**", "p").is_err());
        assert!(
            wildcard("\\*\\*\\*\\*\\*\\*x*", "p").is_ok(),
            "escaped stars do not count"
        );
        assert!(
            !wildcard_matches("ab*ba", "aba"),
            "prefix and suffix may not overlap"
        );
    }

    #[test]
    fn basics() {
        assert!(m(
            json!({"source": ["aws.cloudwatch"]}),
            json!({"source": "aws.cloudwatch"})
        ));
        assert!(!m(
            json!({"source": ["aws.cloudwatch"]}),
            json!({"source": "aws.ec2"})
        ));
        assert!(m(
            json!({"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}),
            json!({"detail": {"n": 5}})
        ));
        assert!(m(
            json!({"ip": [{"cidr": "10.0.0.0/8"}]}),
            json!({"ip": "10.1.2.3"})
        ));
        assert!(
            !m(json!({"a": ["x"]}), json!(["x"])),
            "a non-object event matches nothing"
        );
    }

    #[test]
    fn values_from_different_array_elements_do_not_combine() {
        let event = json!({"metrics": [
            {"namespace": "AWS/EC2", "name": "NetworkIn"},
            {"namespace": "AWS/RDS", "name": "CPUUtilization"}
        ]});
        assert!(!m(
            json!({"metrics": {"namespace": ["AWS/EC2"], "name": ["CPUUtilization"]}}),
            event.clone()
        ));
        assert!(m(
            json!({"metrics": {"namespace": ["AWS/RDS"], "name": ["CPUUtilization"]}}),
            event.clone()
        ));
        assert!(m(
            json!({"metrics": {"namespace": ["AWS/EC2"]}, "$or": [{"metrics": {"name": ["NetworkIn"]}}, {"x": ["y"]}]}),
            event
        ));
    }

    #[test]
    fn numeric_precision_and_range_like_aws() {
        assert!(m(
            json!({"n": [{"numeric": ["=", 1.0000001]}]}),
            json!({"n": 1.0000002})
        ));
        assert!(!m(json!({"n": [{"numeric": [">", 0]}]}), json!({"n": 6e9})));
        assert!(m(
            json!({"n": [{"numeric": [">", 0, "<=", 5]}]}),
            json!({"n": 5.0})
        ));
    }

    #[test]
    fn case_insensitive_like_aws() {
        assert!(ci_equals("ß", "SS"));
        assert!(ci_equals("Straße", "STRASSE"));
        assert!(!ci_equals("k", "\u{212A}"), "the Kelvin sign is not k");
        assert!(ci_equals("abc", "AbC"));
        assert!(!ci_equals("abc", "abcd"));
        assert!(!ci_ends("i", "İstanbul", 0).contains(&1));
        assert!(ci_suffix("TXT", "file.txt"));
        assert!(!ci_suffix("TXT", "file.tx"));
        assert!(ci_suffix("", "x"));
        assert!(m(
            json!({"a": [{"equals-ignore-case": "ß"}]}),
            json!({"a": "SS"})
        ));
        assert!(!m(
            json!({"a": [{"prefix": {"equals-ignore-case": "k"}}]}),
            json!({"a": "\u{212A}x"})
        ));
        assert!(m(
            json!({"a": [{"suffix": {"equals-ignore-case": ".TXT"}}]}),
            json!({"a": "f.txt"})
        ));
    }

    #[test]
    fn invalid_patterns_name_the_path() {
        let e = Pattern::from_value(&json!({"detail": {"state": "x"}})).unwrap_err();
        assert_eq!(e.path, "detail.state");
        assert!(e
            .to_string()
            .starts_with("Event pattern is not valid. Reason:"));
        assert!(Pattern::from_value(&json!({"a": [{"Prefix": "x"}]})).is_err());
        assert!(Pattern::from_value(&json!({"a": [{"numeric": [">", 5, "<", 1]}]})).is_err());
        assert!(Pattern::parse("[1]").is_err());
    }

    #[test]
    fn repeated_keys_the_last_one_wins() {
        let p = Pattern::parse(r#"{"a": [{"prefix": "us-"}], "a": [{"anything-but": "us-east"}]}"#)
            .unwrap();
        assert!(p.matches(&json!({"a": "eu-west"})));
        assert!(
            !p.matches(&json!({"a": "us-east"})),
            "the first `a` is overridden"
        );
        let q = Pattern::parse(r#"{"a": [{"prefix": "x"}], "a": [{"prefix": "y"}]}"#).unwrap();
        assert!(q.matches(&json!({"a": "y1"})));
        assert!(!q.matches(&json!({"a": "x1"})));
    }

    #[test]
    fn exists_false_is_judged_per_array_element() {
        let p = Pattern::parse(r#"{"e": {"name": ["Anna"], "ids": [{"exists": false}]}}"#).unwrap();
        let event = json!({"e": [{"name": "John", "ids": [1]}, {"name": "Anna"}]});
        assert!(p.matches(&event), "Anna's element has no ids");
        let event = json!({"e": [{"name": "Anna", "ids": [1]}, {"name": "John"}]});
        assert!(!p.matches(&event), "Anna's element has ids");
        // An empty array holds no value.
        assert!(p.matches(&json!({"e": {"name": "Anna", "ids": []}})));
    }

    #[test]
    fn aws_refusals_empty_objects_and_operators_inside_or() {
        let e = Pattern::parse(r#"{"source": ["aws.health"], "detail": {}}"#).unwrap_err();
        assert!(
            e.to_string().contains("Empty objects are not allowed"),
            "{e}"
        );
        let e = Pattern::parse(
            r#"{"detail": {"$or": [{"numeric": [">", 0]}, {"numeric": ["<", -5]}]}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"numeric\" is an operator"), "{e}");
        // Outside $or such a key is a field like any other.
        assert!(Pattern::parse(r#"{"detail": {"numeric": ["x"]}}"#).is_ok());
    }

    pub(in crate::pattern) mod one_walk_agrees_with_one_at_a_time {
        use super::*;
        use proptest::prelude::*;

        /// A generated pattern and an event over the same few keys (shared with the
        /// explanation's test).
        pub(in crate::pattern) fn generated() -> impl Strategy<Value = (Value, Value)> {
            (
                pattern(),
                prop::collection::btree_map(
                    prop_oneof![Just("a"), Just("b"), Just("c"), Just("a.b")],
                    event_value(),
                    0..4,
                )
                .prop_map(|event| {
                    Value::Object(event.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                }),
            )
        }

        /// Event values over a few keys (dotted ones included), nested up to three levels,
        /// with arrays of objects and of scalars.
        fn event_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(json!("x")),
                Just(json!("y")),
                Just(json!("X-tail")),
                Just(json!(1)),
                Just(json!(null)),
                Just(json!(true)),
            ];
            leaf.prop_recursive(3, 24, 4, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![Just("a"), Just("b"), Just("c"), Just("a.b"), Just("b.c")],
                        inner,
                        0..4
                    )
                    .prop_map(|m| Value::Object(
                        m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
                    )),
                ]
            })
        }

        fn condition() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(json!("x")),
                Just(json!(1)),
                Just(json!(null)),
                Just(json!({"prefix": "x"})),
                Just(json!({"suffix": {"equals-ignore-case": "TAIL"}})),
                Just(json!({"exists": true})),
                Just(json!({"exists": false})),
                Just(json!({"anything-but": "y"})),
            ]
        }

        /// Patterns over the same keys: plain fields, nested objects and `$or`s.
        fn pattern() -> impl Strategy<Value = Value> {
            let field = (
                prop_oneof![Just("a"), Just("b"), Just("c")],
                prop::collection::vec(condition(), 1..3),
            )
                .prop_map(|(k, c)| json!({ k: c }))
                .boxed();
            let nested = (prop_oneof![Just("a"), Just("b")], field.clone())
                .prop_map(|(k, inner)| json!({ k: inner }))
                .boxed();
            let part = prop_oneof![field.clone(), nested.clone()].boxed();
            let or = prop::collection::vec(part.clone(), 2..4)
                .prop_map(|alts| json!({"$or": alts}))
                .boxed();
            prop::collection::vec(prop_oneof![part.clone(), or.clone(), nested], 1..4).prop_map(
                |parts| {
                    let mut merged = serde_json::Map::new();
                    for p in parts {
                        for (k, v) in p.as_object().unwrap() {
                            merged.entry(k.clone()).or_insert(v.clone());
                        }
                    }
                    Value::Object(merged)
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]
            #[test]
            fn on_generated_events_and_patterns((pattern, event) in generated()) {
                if let Ok(p) = Pattern::from_value(&pattern) {
                    prop_assert_eq!(
                        p.matches_in_one_walk(&event),
                        p.matches_one_at_a_time(&FlatEvent::new(&event)),
                        "pattern {} event {}", pattern, event
                    );
                }
            }
        }
    }
}
