//! The conditions of a pattern's field and how one event value meets each, with AWS's
//! semantics (numbers to five decimal places, case folding, CIDR, wildcards).

use std::net::IpAddr;

use serde_json::Value;

/// AWS's limit on numeric values in patterns: ±5.0e9.
pub(super) const NUMERIC_LIMIT: f64 = 5.0e9;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Field {
    pub(super) path: String,
    pub(super) conditions: Vec<Condition>,
    /// The conditions as the pattern wrote them (JSON), to explain a match or a miss.
    pub(super) written: String,
}

impl Field {
    /// Met where the event has no value at its path (`exists: false` among its conditions).
    pub(super) fn absence_ok(&self) -> bool {
        self.conditions.contains(&Condition::Exists(false))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Condition {
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
pub(super) enum Case {
    Sensitive,
    Insensitive,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum AnythingBut {
    Values(Vec<Scalar>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    Wildcards(Vec<String>),
    IgnoreCase(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

/// A JSON scalar as a pattern or an event holds it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Scalar {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
}

impl Scalar {
    pub(super) fn from_json(value: &Value) -> Option<Scalar> {
        match value {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => n.as_f64().map(Scalar::Number),
            Value::String(s) => Some(Scalar::String(s.clone())),
            _ => None,
        }
    }
}

pub(super) fn condition_matches(condition: &Condition, value: &Value) -> bool {
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
pub(super) fn fixed_point(n: f64) -> i64 {
    (n * 1e6).round() as i64
}

/// AWS's case-insensitive comparison: each pattern character matches itself, its lower-case
/// or its upper-case form (which can be longer: `ß` matches `SS`), and nothing else (the
/// Kelvin sign does not match `k`). Returns the text positions where a match of the whole
/// pattern starting at `start` can end.
pub(super) fn ci_ends(pattern: &str, text: &str, start: usize) -> Vec<usize> {
    let mut positions = vec![start];
    for c in pattern.chars() {
        positions = advance(&positions, c, |p, v| {
            text.get(p..)
                .is_some_and(|rest| rest.starts_with(v))
                .then(|| p + v.len())
        });
        if positions.is_empty() {
            break;
        }
    }
    positions
}

/// One pattern character consumed at each of `positions`: the positions each of its case
/// variants that `fits` there leads to, sorted, without repeats.
fn advance(
    positions: &[usize],
    c: char,
    fits: impl Fn(usize, &str) -> Option<usize>,
) -> Vec<usize> {
    let variants = case_variants(c);
    let fits = &fits;
    let mut next: Vec<usize> = positions
        .iter()
        .flat_map(|&p| variants.iter().filter_map(move |v| fits(p, v)))
        .collect();
    next.sort_unstable();
    next.dedup();
    next
}

/// A pattern character, its lower-case and its upper-case form (AWS's case folding).
pub(super) fn case_variants(c: char) -> Vec<String> {
    let mut variants = vec![
        c.to_string(),
        c.to_lowercase().collect(),
        c.to_uppercase().collect(),
    ];
    variants.dedup();
    variants
}

pub(super) fn ci_equals(pattern: &str, text: &str) -> bool {
    ci_ends(pattern, text, 0).contains(&text.len())
}

/// Matched from the end, the way [`ci_ends`] matches from the start: the positions where
/// the pattern's last characters can begin, one pattern character at a time. The work grows
/// with the pattern, not with the text.
pub(super) fn ci_suffix(pattern: &str, text: &str) -> bool {
    let mut positions = vec![text.len()];
    for c in pattern.chars().rev() {
        positions = advance(&positions, c, |p, v| {
            text[..p].ends_with(v).then(|| p - v.len())
        });
        if positions.is_empty() {
            return false;
        }
    }
    true
}

pub(super) fn in_cidr(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
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
pub(super) fn wildcard_matches(pattern: &str, text: &str) -> bool {
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

/// The literal parts between unescaped `*`s; `\*` is a literal star and `\\` a literal
/// backslash; any other escape is invalid (None).
pub(super) fn wildcard_parts(pattern: &str) -> Option<Vec<String>> {
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
