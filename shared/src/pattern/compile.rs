//! A pattern's JSON compiled with AWS's validation rules: each refusal names the path and
//! the reason in AWS's words; `$or` alternatives are counted before they are expanded.

use std::net::IpAddr;

use super::condition::{
    wildcard_parts, AnythingBut, Case, Condition, Field, Op, Scalar, NUMERIC_LIMIT,
};
use super::raw::RawJson;

/// More wildcard characters than this in one value make AWS reject the pattern as too complex.
pub(super) const MAX_WILDCARDS: usize = 5;
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

#[derive(Debug, Clone, PartialEq, Default)]
pub(super) struct Group {
    pub(super) fields: Vec<Field>,
    /// Each entry is one `$or`: at least one of its alternatives must match.
    pub(super) ors: Vec<Vec<Group>>,
}

pub(super) fn err(path: &str, reason: impl Into<String>) -> PatternError {
    PatternError {
        path: path.to_string(),
        reason: reason.into(),
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
pub(super) const OPERATORS: [&str; 8] = [
    "prefix",
    "suffix",
    "anything-but",
    "numeric",
    "exists",
    "cidr",
    "equals-ignore-case",
    "wildcard",
];

pub(super) fn compile_group(
    entries: &[(String, RawJson)],
    prefix: &str,
) -> Result<Group, PatternError> {
    compile_group_in(entries, prefix, false)
}

/// `in_or`: the entries are (or are below) an alternative of `$or`.
pub(super) fn compile_group_in(
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

pub(super) fn number(n: &serde_json::Number, path: &str) -> Result<f64, PatternError> {
    let value = n.as_f64().ok_or_else(|| err(path, "number out of range"))?;
    Ok(value)
}

pub(super) fn compile_condition(item: &RawJson, path: &str) -> Result<Condition, PatternError> {
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

pub(super) fn wildcard(value: &str, path: &str) -> Result<String, PatternError> {
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

pub(super) fn numeric(operand: &RawJson, path: &str) -> Result<Vec<(Op, f64)>, PatternError> {
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

pub(super) fn cidr(value: &str, path: &str) -> Result<Condition, PatternError> {
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

pub(super) fn anything_but(operand: &RawJson, path: &str) -> Result<AnythingBut, PatternError> {
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
    pub(super) fn combinations(&self) -> usize {
        self.ors.iter().fold(1usize, |total, alternatives| {
            let here = alternatives
                .iter()
                .fold(0usize, |sum, a| sum.saturating_add(a.combinations()));
            total.saturating_mul(here)
        })
    }

    /// The pattern without `$or`: every combination of alternatives, as lists of fields.
    pub(super) fn expand(&self) -> Vec<Vec<&Field>> {
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
