//! Walking the event tree for one alternative at a time: the exact rules for keys that hold
//! dots (`{"a.b": …}` beside `{"a": {"b": …}}`), used where they arise, and `exists: false`,
//! judged like any other condition within one array element (as event-ruler does: a field is
//! absent from an element that has no value at its path, even if another element has one).

use serde_json::Value;

use super::condition::{condition_matches, Condition, Field};

/// An event prepared for matching against many patterns. Nothing is flattened: matching
/// walks only the parts of the event a pattern names, so its cost is bounded by the event's
/// size times the pattern's fields, however deep or wide the event (docs/RUNBOOKS.md).
pub struct FlatEvent<'a> {
    pub(super) event: &'a Value,
}

impl<'a> FlatEvent<'a> {
    pub fn new(event: &'a Value) -> Self {
        FlatEvent { event }
    }
}

/// How many ways the fields of one object may be spread over keys holding dots (`{"a.b":
/// …}` beside `{"a": {"b": …}}`) before matching settles for "each field somewhere".
const MAX_KEY_SPLITS: usize = 256;

/// The part of `path` below a node that has consumed `consumed` bytes of it.
fn rest(path: &str, consumed: usize) -> &str {
    if consumed == 0 {
        path
    } else {
        path.get(consumed + 1..).unwrap_or("")
    }
}

/// The bytes of a path consumed below `key`.
fn below(consumed: usize, key: &str) -> usize {
    if consumed == 0 {
        key.len()
    } else {
        consumed + 1 + key.len()
    }
}

/// The keys of `map` that a path (below the node) can continue with: its first segment,
/// and its first segments joined by dots when the event's keys hold dots.
fn child_keys<'p>(map: &serde_json::Map<String, Value>, rest: &'p str) -> Vec<&'p str> {
    candidate_keys(map, rest).collect()
}

fn candidate_keys<'p, 'm>(
    map: &'m serde_json::Map<String, Value>,
    rest: &'p str,
) -> impl Iterator<Item = &'p str> + use<'p, 'm> {
    rest.match_indices('.')
        .map(|(at, _)| &rest[..at])
        .chain(std::iter::once(rest))
        .filter(|key| map.contains_key(*key))
}

/// Collects the event's values at `path` below `node` (reached by `consumed` bytes of it):
/// scalars, each element of an array, through keys holding dots as matching reads them.
/// Objects and empty arrays are not values. Stops after 1,000 values (an explanation shows a
/// few). For explanations only.
pub(super) fn values_at<'v>(
    node: &'v Value,
    path: &str,
    consumed: usize,
    out: &mut Vec<&'v Value>,
) {
    if out.len() >= 1000 {
        return;
    }
    match node {
        Value::Array(items) => {
            for item in items {
                values_at(item, path, consumed, out);
            }
        }
        Value::Object(map) => {
            if path.len() > consumed {
                for key in candidate_keys(map, rest(path, consumed)) {
                    values_at(&map[key], path, below(consumed, key), out);
                }
            }
        }
        scalar => {
            if path.len() <= consumed {
                out.push(scalar);
            }
        }
    }
}

/// The one key of `map` a path continues with, when there is exactly one (the common case:
/// no key of the event holds dots that spell the path).
fn only_key<'p, 'm>(
    map: &'m serde_json::Map<String, Value>,
    rest: &'p str,
) -> Option<(&'p str, &'m Value)> {
    // The first segment is looked up once, with its value; longer keys (holding dots) only
    // when the path has more segments.
    let mut keys = rest
        .match_indices('.')
        .map(|(at, _)| &rest[..at])
        .chain(std::iter::once(rest))
        .filter_map(|key| map.get(key).map(|value| (key, value)));
    let first = keys.next()?;
    keys.next().is_none().then_some(first)
}

/// [`satisfiable`] at an object, when each field continues through exactly one key (the
/// common case: no key of the event holds dots that spell a path): each key's fields
/// together below it, decided key by key in the fields' order, so that the first field that
/// fails ends the walk. `None` when a field has no key or several, or for more than 16 fields
/// (the general walk decides). Allocates only for a key that several fields share.
fn satisfiable_by_keys(
    map: &serde_json::Map<String, Value>,
    consumed: usize,
    fields: &[&Field],
) -> Option<bool> {
    let mut taken = [false; 16];
    if fields.len() > taken.len() {
        return None;
    }
    for i in 0..fields.len() {
        if taken[i] {
            continue;
        }
        let field = fields[i];
        if field.path.len() <= consumed {
            // An object is not a value: only absence is met here.
            if field.absence_ok() {
                continue;
            }
            return Some(false);
        }
        let (key, inner) = only_key(map, rest(&field.path, consumed))?;
        let mut group: Vec<&Field> = Vec::new();
        for j in i + 1..fields.len() {
            let other = rest(&fields[j].path, consumed);
            let through_key = other.starts_with(key)
                && (other.len() == key.len() || other.as_bytes()[key.len()] == b'.');
            if !taken[j] && through_key && only_key(map, other)?.0 == key {
                taken[j] = true;
                if group.is_empty() {
                    group.push(field);
                }
                group.push(fields[j]);
            }
        }
        let met = if group.is_empty() {
            satisfiable(inner, below(consumed, key), std::slice::from_ref(&field))
        } else {
            satisfiable(inner, below(consumed, key), &group)
        };
        if !met {
            return Some(false);
        }
    }
    Some(true)
}

/// Whether `node` (reached by `consumed` bytes of each field's path) holds, for every field,
/// a value that satisfies it, with no two values from different elements of one array (as
/// EventBridge matches arrays). Each node is visited once per pattern alternative.
pub(super) fn satisfiable(node: &Value, consumed: usize, fields: &[&Field]) -> bool {
    if fields.is_empty() {
        return true;
    }
    match node {
        // Every field through an array is satisfied within one element; an empty array holds
        // no value.
        Value::Array(items) if items.is_empty() => fields.iter().all(|f| f.absence_ok()),
        Value::Array(items) => items.iter().any(|item| satisfiable(item, consumed, fields)),
        Value::Object(map) => {
            // Common case first: one key per field, nothing to choose.
            if let Some(met) = satisfiable_by_keys(map, consumed, fields) {
                return met;
            }
            // Fields with no value in this object are met only by absence, and leave.
            let mut present: Vec<&Field> = Vec::with_capacity(fields.len());
            let mut choices: Vec<Vec<&str>> = Vec::with_capacity(fields.len());
            for field in fields {
                let keys = if field.path.len() <= consumed {
                    Vec::new() // an object is not a value
                } else {
                    child_keys(map, rest(&field.path, consumed))
                };
                if keys.is_empty() {
                    if field.absence_ok() {
                        continue;
                    }
                    return false;
                }
                present.push(field);
                choices.push(keys);
            }
            let fields = &present[..];
            if fields.is_empty() {
                return true;
            }
            let ways = choices
                .iter()
                .try_fold(1usize, |n, c| n.checked_mul(c.len()))
                .unwrap_or(usize::MAX);
            if ways > MAX_KEY_SPLITS {
                // Keys with dots in every combination: settle for each field on its own.
                return fields.iter().zip(&choices).all(|(field, keys)| {
                    keys.iter()
                        .any(|key| satisfiable(&map[*key], below(consumed, key), &[*field]))
                });
            }
            let mut pick = vec![0; fields.len()];
            loop {
                if spread(map, consumed, fields, &choices, &pick) {
                    return true;
                }
                // The next combination, like an odometer.
                let mut k = 0;
                loop {
                    if k == pick.len() {
                        return false;
                    }
                    pick[k] += 1;
                    if pick[k] < choices[k].len() {
                        break;
                    }
                    pick[k] = 0;
                    k += 1;
                }
            }
        }
        scalar => fields.iter().all(|field| {
            if field.path.len() > consumed {
                // The path goes on below a scalar: no value there.
                return field.absence_ok();
            }
            field.conditions.iter().any(|c| match c {
                Condition::Exists(expected) => *expected,
                other => condition_matches(other, scalar),
            })
        }),
    }
}

/// One way of sending each field to one of its keys: every key's fields satisfied below it.
fn spread(
    map: &serde_json::Map<String, Value>,
    consumed: usize,
    fields: &[&Field],
    choices: &[Vec<&str>],
    pick: &[usize],
) -> bool {
    let chosen: Vec<&str> = pick.iter().zip(choices).map(|(k, c)| c[*k]).collect();
    let mut keys = chosen.clone();
    keys.sort_unstable();
    keys.dedup();
    keys.iter().all(|key| {
        let group: Vec<&Field> = fields
            .iter()
            .zip(&chosen)
            .filter(|(_, k)| *k == key)
            .map(|(f, _)| *f)
            .collect();
        satisfiable(&map[*key], below(consumed, key), &group)
    })
}
