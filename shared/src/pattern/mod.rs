//! EventBridge event patterns: parsing with AWS's validation rules, and matching with
//! AWS's semantics, offline. Agrees with AWS on the conformance corpus in
//! `tests/conformance/event-patterns`, with no exception (docs/RUNBOOKS.md).
//!
//! Like EventBridge (and its open-source engine, event-ruler), both the event and the pattern
//! are seen as flat paths of dot-joined keys: `{"a": {"b.c": 1}}` and `{"a.b": {"c": 1}}` both
//! give the path `a.b.c`. Arrays in the event contribute each of their elements' values to
//! the same path; objects and empty arrays contribute no value. A pattern is the AND of its
//! fields; each field's list of conditions is an OR; `$or` adds alternatives.

mod alternatives;
mod explain;
mod walk;

use std::fmt;
use std::net::IpAddr;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub use explain::{Clause, Explanation, Found, Miss};
pub use walk::FlatEvent;

/// AWS's limit on numeric values in patterns: ±5.0e9.
const NUMERIC_LIMIT: f64 = 5.0e9;
/// More wildcard characters than this in one value make AWS reject the pattern as too complex.
const MAX_WILDCARDS: usize = 5;
/// Klaxon's limit on the combinations of `$or` alternatives in one pattern (each is matched
/// on its own): past it, a pattern's cost at load and per event is refused rather than paid
/// (docs/RUNBOOKS.md).
pub const MAX_COMBINATIONS: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    /// Dotted path of the field where the problem is (empty at the top level).
    pub path: String,
    pub reason: String,
}

/// A compiled pattern: build once (per container), match many events.
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

#[derive(Debug, Clone, PartialEq, Default)]
struct Group {
    fields: Vec<Field>,
    /// Each entry is one `$or`: at least one of its alternatives must match.
    ors: Vec<Vec<Group>>,
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    path: String,
    conditions: Vec<Condition>,
    /// The conditions as the pattern wrote them (JSON), to explain a match or a miss.
    written: String,
}

impl Field {
    /// Met where the event has no value at its path (`exists: false` among its conditions).
    fn absence_ok(&self) -> bool {
        self.conditions.contains(&Condition::Exists(false))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Exact(Scalar),
    Prefix(String, Case),
    Suffix(String, Case),
    EqualsIgnoreCase(String),
    Wildcard(String),
    Numeric(Vec<(Op, f64)>),
    Exists(bool),
    Cidr(IpAddr, u8),
    AnythingBut(AnythingBut),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Sensitive,
    Insensitive,
}

#[derive(Debug, Clone, PartialEq)]
enum AnythingBut {
    Values(Vec<Scalar>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Wildcards(Vec<String>),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

/// A JSON scalar as a pattern or an event holds it.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

impl Scalar {
    fn from_json(value: &Value) -> Option<Scalar> {
        match value {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Scalar::Number),
            Value::String(s) => Some(Scalar::String(s.clone())),
            _ => None,
        }
    }
}

/// JSON as read for a pattern: objects keep repeated keys (AWS applies each of them).
#[derive(Debug, Clone, PartialEq)]
pub enum RawJson {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<RawJson>),
    Object(Vec<(String, RawJson)>),
}

impl RawJson {
    fn from_value(value: &Value) -> RawJson {
        match value {
            Value::Null => RawJson::Null,
            Value::Bool(b) => RawJson::Bool(*b),
            Value::Number(n) => RawJson::Number(n.clone()),
            Value::String(s) => RawJson::String(s.clone()),
            Value::Array(a) => RawJson::Array(a.iter().map(RawJson::from_value).collect()),
            Value::Object(o) => RawJson::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), RawJson::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Compact JSON text (repeated keys kept as written).
    fn to_json_text(&self) -> String {
        match self {
            RawJson::Null => "null".to_string(),
            RawJson::Bool(b) => b.to_string(),
            RawJson::Number(n) => n.to_string(),
            RawJson::String(s) => Value::String(s.clone()).to_string(),
            RawJson::Array(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(RawJson::to_json_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            RawJson::Object(entries) => format!(
                "{{{}}}",
                entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), v.to_json_text()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RawJson::Null => "null",
            RawJson::Bool(_) => "a boolean",
            RawJson::Number(_) => "a number",
            RawJson::String(_) => "a string",
            RawJson::Array(_) => "an array",
            RawJson::Object(_) => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for RawJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawVisitor;
        impl<'de> Visitor<'de> for RawVisitor {
            type Value = RawJson;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<RawJson, E> {
                Ok(RawJson::Null)
            }
            fn visit_none<E>(self) -> Result<RawJson, E> {
                Ok(RawJson::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<RawJson, E> {
                Ok(RawJson::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<RawJson, E> {
                Ok(RawJson::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<RawJson, E> {
                Ok(RawJson::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawJson, E> {
                serde_json::Number::from_f64(v)
                    .map(RawJson::Number)
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }
            fn visit_str<E>(self, v: &str) -> Result<RawJson, E> {
                Ok(RawJson::String(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<RawJson, E> {
                Ok(RawJson::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawJson, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawJson::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawJson, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, RawJson>()? {
                    entries.push((k, v));
                }
                Ok(RawJson::Object(entries))
            }
        }
        deserializer.deserialize_any(RawVisitor)
    }
}

fn err(path: &str, reason: impl Into<String>) -> PatternError {
    PatternError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

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

impl Group {
    /// A path given twice (a repeated key, or `a.b` beside `{"a": {"b": …}}`): the last one
    /// wins, as in event-ruler (its default rule compiler). EventBridge does not document it;
    /// AWS's own verdict in the LocalStack corpus (`complex_multi_key_event`) agrees.
    fn add(&mut self, field: Field) {
        match self.fields.iter_mut().find(|f| f.path == field.path) {
            Some(existing) => *existing = field,
            None => self.fields.push(field),
        }
    }
}

/// The operators of EventBridge's patterns: not field names inside `$or`, where AWS refuses
/// them (an alternative is a pattern of fields).
const OPERATORS: [&str; 8] = [
    "prefix",
    "suffix",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "equals-ignore-case",
    "wildcard",
];

fn compile_group(entries: &[(String, RawJson)], prefix: &str) -> Result<Group, PatternError> {
    compile_group_in(entries, prefix, false)
}

/// `in_or`: the entries are (or are below) an alternative of `$or`.
fn compile_group_in(
    entries: &[(String, RawJson)],
    prefix: &str,
    in_or: bool,
) -> Result<Group, PatternError> {
    let mut group = Group::default();
    for (key, value) in entries {
        if key == "$or" {
            let RawJson::Array(alternatives) = value else {
                return Err(err(
                    prefix,
                    format!("$or must be an array, found {}", value.kind()),
                ));
            };
            if alternatives.len() < 2 {
                return Err(err(prefix, "$or needs at least two alternatives"));
            }
            let mut compiled = Vec::new();
            for alternative in alternatives {
                let RawJson::Object(inner) = alternative else {
                    return Err(err(
                        prefix,
                        format!(
                            "each $or alternative must be an object, found {}",
                            alternative.kind()
                        ),
                    ));
                };
                compiled.push(compile_group_in(inner, prefix, true)?);
            }
            group.ors.push(compiled);
            continue;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if in_or && OPERATORS.contains(&key.as_str()) {
            return Err(err(
                &path,
                format!(
                    "\"{key}\" is an operator, not a field name: inside $or each alternative is a pattern of fields (put operators in a field's list, as in {{\"field\": [{{\"{key}\": ...}}]}})"
                ),
            ));
        }
        match value {
            RawJson::Object(inner) if inner.is_empty() => {
                return Err(err(
                    &path,
                    format!("Empty objects are not allowed (at {path})"),
                ));
            }
            RawJson::Object(inner) => {
                let nested = compile_group_in(inner, &path, in_or)?;
                for field in nested.fields {
                    group.add(field);
                }
                group.ors.extend(nested.ors);
            }
            RawJson::Array(items) => {
                if items.is_empty() {
                    return Err(err(
                        &path,
                        format!("Empty arrays are not allowed (at {path})"),
                    ));
                }
                let conditions = items
                    .iter()
                    .map(|item| compile_condition(item, &path))
                    .collect::<Result<Vec<_>, _>>()?;
                group.add(Field {
                    path,
                    conditions,
                    written: value.to_json_text(),
                });
            }
            other => {
                return Err(err(
                    &path,
                    format!(
                        "\"{path}\" must be an object or an array, found {}",
                        other.kind()
                    ),
                ))
            }
        }
    }
    Ok(group)
}

fn number(n: &serde_json::Number, path: &str) -> Result<f64, PatternError> {
    let value = n.as_f64().ok_or_else(|| err(path, "number out of range"))?;
    Ok(value)
}

fn compile_condition(item: &RawJson, path: &str) -> Result<Condition, PatternError> {
    let entries = match item {
        RawJson::Null => return Ok(Condition::Exact(Scalar::Null)),
        RawJson::Bool(b) => return Ok(Condition::Exact(Scalar::Bool(*b))),
        RawJson::Number(n) => return Ok(Condition::Exact(Scalar::Number(number(n, path)?))),
        RawJson::String(s) => return Ok(Condition::Exact(Scalar::String(s.clone()))),
        RawJson::Array(_) => {
            return Err(err(
                path,
                format!("a match value in {path} cannot be an array"),
            ))
        }
        RawJson::Object(entries) => entries,
    };
    let [(operator, operand)] = entries.as_slice() else {
        return Err(err(
            path,
            format!("a filter in {path} must have exactly one operator"),
        ));
    };
    let string_operand = |name: &str| match operand {
        RawJson::String(s) => Ok(s.clone()),
        other => Err(err(
            path,
            format!("{name} in {path} must be a string, found {}", other.kind()),
        )),
    };
    match operator.as_str() {
        "prefix" | "suffix" => {
            let (value, case) = match operand {
                RawJson::String(s) => (s.clone(), Case::Sensitive),
                RawJson::Object(inner) => match inner.as_slice() {
                    [(k, RawJson::String(s))] if k == "equals-ignore-case" => (s.clone(), Case::Insensitive),
                    _ => {
                        return Err(err(
                            path,
                            format!("{operator} in {path} takes a string or {{\"equals-ignore-case\": string}}"),
                        ))
                    }
                },
                other => return Err(err(path, format!("{operator} in {path} must be a string, found {}", other.kind()))),
            };
            Ok(if operator == "prefix" {
                Condition::Prefix(value, case)
            } else {
                Condition::Suffix(value, case)
            })
        }
        "equals-ignore-case" => Ok(Condition::EqualsIgnoreCase(string_operand(
            "equals-ignore-case",
        )?)),
        "wildcard" => Ok(Condition::Wildcard(wildcard(
            &string_operand("wildcard")?,
            path,
        )?)),
        "exists" => match operand {
            RawJson::Bool(b) => Ok(Condition::Exists(*b)),
            other => Err(err(
                path,
                format!(
                    "exists in {path} must be true or false, found {}",
                    other.kind()
                ),
            )),
        },
        "numeric" => numeric(operand, path).map(Condition::Numeric),
        "cidr" => cidr(&string_operand("cidr")?, path),
        "anything-but" => anything_but(operand, path).map(Condition::AnythingBut),
        other => Err(err(
            path,
            format!("unrecognized operator \"{other}\" in {path} (operators are case-sensitive)"),
        )),
    }
}

fn wildcard(value: &str, path: &str) -> Result<String, PatternError> {
    let parts = wildcard_parts(value).ok_or_else(|| {
        err(
            path,
            format!("invalid escape in the wildcard in {path}: only \\* and \\\\ are allowed"),
        )
    })?;
    // An empty part between two wildcards is two wildcards in a row.
    if parts.len() > 2 && parts[1..parts.len() - 1].iter().any(String::is_empty) {
        return Err(err(
            path,
            format!("consecutive wildcard characters in {path} are not allowed"),
        ));
    }
    let stars = parts.len() - 1;
    if stars > MAX_WILDCARDS {
        return Err(err(
            path,
            format!("the wildcard in {path} is too complex ({stars} '*', at most {MAX_WILDCARDS})"),
        ));
    }
    Ok(value.to_string())
}

/// The literal parts between unescaped `*`s; `\*` is a literal star and `\\` a literal
/// backslash; any other escape is invalid (None).
fn wildcard_parts(pattern: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('*' | '\\')) => parts.last_mut()?.push(escaped),
                _ => return None,
            },
            '*' => parts.push(String::new()),
            c => parts.last_mut()?.push(c),
        }
    }
    Some(parts)
}

fn numeric(operand: &RawJson, path: &str) -> Result<Vec<(Op, f64)>, PatternError> {
    let RawJson::Array(items) = operand else {
        return Err(err(
            path,
            format!("numeric in {path} must be an array such as [\">\", 0, \"<=\", 5]"),
        ));
    };
    if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
        return Err(err(
            path,
            format!(
                "numeric in {path} must be pairs of operator and number: [op, n] or [op, n, op, n]"
            ),
        ));
    }
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let op = match &pair[0] {
            RawJson::String(s) => match s.as_str() {
                ">" => Op::Gt,
                ">=" => Op::Ge,
                "<" => Op::Lt,
                "<=" => Op::Le,
                "=" => Op::Eq,
                other => {
                    return Err(err(
                        path,
                        format!("unrecognized numeric operator \"{other}\" in {path}"),
                    ))
                }
            },
            other => {
                return Err(err(
                    path,
                    format!(
                        "expected a numeric operator in {path}, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        let value = match &pair[1] {
            RawJson::Number(n) => number(n, path)?,
            other => {
                return Err(err(
                    path,
                    format!(
                        "expected a number after the operator in {path}, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        if !(-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(&value) {
            return Err(err(
                path,
                format!("numeric values in {path} must be between -5.0e9 and 5.0e9"),
            ));
        }
        out.push((op, value));
    }
    if out.len() == 2 {
        let lower = matches!(out[0].0, Op::Gt | Op::Ge);
        let upper = matches!(out[1].0, Op::Lt | Op::Le);
        if !(lower && upper) {
            return Err(err(path, format!("a numeric range in {path} is a lower bound (> or >=) then an upper bound (< or <=)")));
        }
        if out[0].1 >= out[1].1 {
            return Err(err(path, format!("the numeric range in {path} is empty")));
        }
    }
    Ok(out)
}

fn cidr(value: &str, path: &str) -> Result<Condition, PatternError> {
    let bad = || {
        err(
            path,
            format!("\"{value}\" in {path} is not a valid CIDR block"),
        )
    };
    let (ip, bits) = value.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = ip.parse().map_err(|_| bad())?;
    let bits: u8 = bits.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if bits > max {
        return Err(bad());
    }
    Ok(Condition::Cidr(ip, bits))
}

fn anything_but(operand: &RawJson, path: &str) -> Result<AnythingBut, PatternError> {
    let type_error = |what: &str| err(path, format!("anything-but in {path}: {what}"));
    match operand {
        RawJson::String(s) => Ok(AnythingBut::Values(vec![Scalar::String(s.clone())])),
        RawJson::Number(n) => Ok(AnythingBut::Values(vec![Scalar::Number(number(n, path)?)])),
        RawJson::Array(items) => {
            if items.is_empty() {
                return Err(type_error("the list is empty"));
            }
            let all_strings = items.iter().all(|i| matches!(i, RawJson::String(_)));
            let all_numbers = items.iter().all(|i| matches!(i, RawJson::Number(_)));
            if !all_strings && !all_numbers {
                return Err(type_error("a list must hold only strings or only numbers"));
            }
            items
                .iter()
                .map(|i| match i {
                    RawJson::String(s) => Ok(Scalar::String(s.clone())),
                    RawJson::Number(n) => number(n, path).map(Scalar::Number),
                    _ => unreachable!("checked above"),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(AnythingBut::Values)
        }
        RawJson::Object(inner) => {
            let [(operator, value)] = inner.as_slice() else {
                return Err(type_error("an object must hold exactly one of prefix, suffix, wildcard, equals-ignore-case"));
            };
            let strings = |allow_empty: bool| -> Result<Vec<String>, PatternError> {
                let list = match value {
                    RawJson::String(s) => vec![s.clone()],
                    RawJson::Array(items) if !items.is_empty() => items
                        .iter()
                        .map(|i| match i {
                            RawJson::String(s) => Ok(s.clone()),
                            other => Err(type_error(&format!(
                                "{operator} values must be strings, found {}",
                                other.kind()
                            ))),
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    other => {
                        return Err(type_error(&format!(
                            "{operator} must be a string or a list of strings, found {}",
                            other.kind()
                        )))
                    }
                };
                if !allow_empty && list.iter().any(String::is_empty) {
                    return Err(type_error(&format!("{operator} must not be empty")));
                }
                Ok(list)
            };
            match operator.as_str() {
                "prefix" => Ok(AnythingBut::Prefixes(strings(false)?)),
                "suffix" => Ok(AnythingBut::Suffixes(strings(false)?)),
                "wildcard" => {
                    let list = strings(true)?;
                    for w in &list {
                        wildcard(w, path)?;
                    }
                    Ok(AnythingBut::Wildcards(list))
                }
                "equals-ignore-case" => Ok(AnythingBut::IgnoreCase(strings(true)?)),
                other => Err(type_error(&format!("unsupported operator \"{other}\""))),
            }
        }
        other => Err(type_error(&format!(
            "must be a string, a number, a list or an object, found {}",
            other.kind()
        ))),
    }
}

impl Group {
    /// How many combinations [`Group::expand`] would make (saturating), counted without
    /// making them.
    fn combinations(&self) -> usize {
        self.ors.iter().fold(1usize, |total, alternatives| {
            let here = alternatives
                .iter()
                .fold(0usize, |sum, a| sum.saturating_add(a.combinations()));
            total.saturating_mul(here)
        })
    }

    /// The pattern without `$or`: every combination of alternatives, as lists of fields.
    fn expand(&self) -> Vec<Vec<&Field>> {
        let mut lists: Vec<Vec<&Field>> = vec![self.fields.iter().collect()];
        for alternatives in &self.ors {
            let mut next = Vec::new();
            for list in &lists {
                for alternative in alternatives {
                    for tail in alternative.expand() {
                        let mut combined = list.clone();
                        combined.extend(tail);
                        next.push(combined);
                    }
                }
            }
            lists = next;
        }
        lists
    }
}

fn condition_matches(condition: &Condition, value: &Value) -> bool {
    let text = value.as_str();
    match condition {
        Condition::Exact(expected) => Scalar::from_json(value).as_ref() == Some(expected),
        Condition::Prefix(p, Case::Sensitive) => text.is_some_and(|t| t.starts_with(p.as_str())),
        Condition::Prefix(p, Case::Insensitive) => {
            text.is_some_and(|t| !ci_ends(p, t, 0).is_empty())
        }
        Condition::Suffix(s, Case::Sensitive) => text.is_some_and(|t| t.ends_with(s.as_str())),
        Condition::Suffix(s, Case::Insensitive) => text.is_some_and(|t| ci_suffix(s, t)),
        Condition::EqualsIgnoreCase(s) => text.is_some_and(|t| ci_equals(s, t)),
        Condition::Wildcard(w) => text.is_some_and(|t| wildcard_matches(w, t)),
        // AWS compares numbers within ±5.0e9 at six decimal places; outside that range a
        // numeric condition never matches.
        Condition::Numeric(bounds) => value
            .as_f64()
            .filter(|n| (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(n))
            .is_some_and(|n| {
                let n = fixed_point(n);
                bounds.iter().all(|(op, b)| {
                    let b = fixed_point(*b);
                    match op {
                        Op::Gt => n > b,
                        Op::Ge => n >= b,
                        Op::Lt => n < b,
                        Op::Le => n <= b,
                        Op::Eq => n == b,
                    }
                })
            }),
        Condition::Exists(_) => unreachable!("handled per field"),
        Condition::Cidr(network, bits) => text
            .and_then(|t| t.parse::<IpAddr>().ok())
            .is_some_and(|ip| in_cidr(ip, *network, *bits)),
        Condition::AnythingBut(but) => match but {
            AnythingBut::Values(excluded) => {
                Scalar::from_json(value).is_some_and(|v| !excluded.contains(&v))
            }
            AnythingBut::Prefixes(ps) => {
                text.is_none_or(|t| !ps.iter().any(|p| t.starts_with(p.as_str())))
            }
            AnythingBut::Suffixes(ss) => {
                text.is_none_or(|t| !ss.iter().any(|s| t.ends_with(s.as_str())))
            }
            AnythingBut::Wildcards(ws) => {
                text.is_none_or(|t| !ws.iter().any(|w| wildcard_matches(w, t)))
            }
            AnythingBut::IgnoreCase(list) => {
                text.is_none_or(|t| !list.iter().any(|s| ci_equals(s, t)))
            }
        },
    }
}

/// A number at six decimal places (exact in i64 for |n| <= 5e9).
fn fixed_point(n: f64) -> i64 {
    (n * 1e6).round() as i64
}

/// AWS's case-insensitive comparison: each pattern character matches itself, its lower-case
/// or its upper-case form (which can be longer: `ß` matches `SS`), and nothing else (the
/// Kelvin sign does not match `k`). Returns the text positions where a match of the whole
/// pattern starting at `start` can end.
fn ci_ends(pattern: &str, text: &str, start: usize) -> Vec<usize> {
    let mut positions = vec![start];
    for c in pattern.chars() {
        let variants = case_variants(c);
        let mut next: Vec<usize> = positions
            .iter()
            .flat_map(|&p| {
                variants
                    .iter()
                    .filter(move |v| {
                        text.get(p..)
                            .is_some_and(|rest| rest.starts_with(v.as_str()))
                    })
                    .map(move |v| p + v.len())
            })
            .collect();
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return next;
        }
        positions = next;
    }
    positions
}

/// A pattern character, its lower-case and its upper-case form (AWS's case folding).
fn case_variants(c: char) -> Vec<String> {
    let mut variants = vec![
        c.to_string(),
        c.to_lowercase().collect(),
        c.to_uppercase().collect(),
    ];
    variants.dedup();
    variants
}

fn ci_equals(pattern: &str, text: &str) -> bool {
    ci_ends(pattern, text, 0).contains(&text.len())
}

/// Matched from the end, the way [`ci_ends`] matches from the start: the positions where
/// the pattern's last characters can begin, one pattern character at a time. The work grows
/// with the pattern, not with the text.
fn ci_suffix(pattern: &str, text: &str) -> bool {
    let mut positions = vec![text.len()];
    for c in pattern.chars().rev() {
        let variants = case_variants(c);
        let mut next: Vec<usize> = positions
            .iter()
            .flat_map(|&p| {
                variants
                    .iter()
                    .filter(move |v| text[..p].ends_with(v.as_str()))
                    .map(move |v| p - v.len())
            })
            .collect();
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return false;
        }
        positions = next;
    }
    true
}

fn in_cidr(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// `*` matches any run of characters (including none); `\*` is a literal star.
fn wildcard_matches(pattern: &str, text: &str) -> bool {
    // Validated at compile time, so the parse cannot fail here.
    let Some(parts) = wildcard_parts(pattern) else {
        return false;
    };
    if parts.len() == 1 {
        return parts[0] == text;
    }
    let (first, rest) = parts.split_first().expect("non-empty");
    let (last, middle) = rest.split_last().expect("two or more");
    if !text.starts_with(first.as_str())
        || text.len() < first.len() + last.len()
        || !text.ends_with(last.as_str())
    {
        return false;
    }
    let mut remaining = &text[first.len()..text.len() - last.len()];
    for part in middle {
        match remaining.find(part.as_str()) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
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
