//! Matching every `$or` combination of a pattern in one walk of the event.
//!
//! A pattern with `$or`s is a list of alternatives (up to [`super::compile::MAX_COMBINATIONS`]), each
//! a list of fields. Walking the event once per alternative costs alternatives × event: a
//! thousand alternatives over a quarter megabyte of arrays took over a second. Here the
//! fields of all alternatives form one trie of path segments, each distinct field knows the
//! set of alternatives it belongs to (a bit set), and one walk of the event carries the set of
//! alternatives still possible: every event node is visited once, and what it costs is a few
//! operations on 16 words.
//!
//! Semantics are those of [`super::walk`] (which the conformance corpora check): the fields
//! of an alternative below an array are met within one element; an object or a missing key is
//! not a value; `exists: false` is met where the element has no value at the path. Where
//! the event has a key holding dots that spells part of a pattern path (`{"a.b": …}` for the
//! path `a.b.c`), the alternatives still open at that object are decided by [`super::walk`],
//! one at a time, as before — up to [`EXACT_AT_DOTTED_KEYS`] of them; past that, each field
//! below that object is judged on its own (met through any key, in any element), as
//! [`super::walk`] already does past its own limit, so that such keys cannot make matching
//! cost alternatives × event.

use serde_json::{Map, Value};

use super::compile::MAX_COMBINATIONS;
use super::condition::{condition_matches, Condition, Field};
use super::walk::{satisfiable, FlatEvent};

const WORDS: usize = MAX_COMBINATIONS.div_ceil(64);

/// How many alternatives are walked one at a time at an object whose keys hold dots that
/// spell pattern paths; more are judged field by field.
const EXACT_AT_DOTTED_KEYS: usize = 16;

/// A set of alternatives, by index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Alts([u64; WORDS]);

impl Alts {
    const NONE: Alts = Alts([0; WORDS]);

    fn first(n: usize) -> Alts {
        let mut set = Alts::NONE;
        for k in 0..n {
            set.0[k / 64] |= 1 << (k % 64);
        }
        set
    }

    fn one(k: usize) -> Alts {
        let mut set = Alts::NONE;
        set.0[k / 64] |= 1 << (k % 64);
        set
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    fn and(mut self, other: &Alts) -> Alts {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a &= b);
        self
    }

    fn or(mut self, other: &Alts) -> Alts {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a |= b);
        self
    }

    fn minus(mut self, other: &Alts) -> Alts {
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a &= !b);
        self
    }

    fn count(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    fn contains(&self, k: usize) -> bool {
        self.0[k / 64] & (1 << (k % 64)) != 0
    }

    fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        (0..WORDS * 64).filter(|k| self.contains(*k))
    }
}

/// A field as it appears in one or more alternatives.
#[derive(Debug, Clone, PartialEq)]
struct Shared {
    field: Field,
    alts: Alts,
}

/// One path segment of the trie; `prefix` is the dotted path down to it.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    prefix: String,
    children: Vec<(String, usize)>,
    /// Fields whose path ends here.
    ends: Vec<usize>,
    /// Fields whose path ends here or below.
    below: Vec<usize>,
    /// The alternatives with a field here or below.
    under: Alts,
    /// The alternatives with a field here or below that absence does not meet: where the
    /// event has no value here, these fail and the others are met.
    needs_value: Alts,
}

/// The trie of a pattern's alternatives, built once when the pattern compiles.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    count: usize,
    fields: Vec<Shared>,
    nodes: Vec<Node>,
}

impl Plan {
    pub(super) fn new(alternatives: &[Vec<Field>]) -> Plan {
        let mut fields: Vec<Shared> = Vec::new();
        for (k, alternative) in alternatives.iter().enumerate() {
            for field in alternative {
                match fields.iter_mut().find(|f| f.field == *field) {
                    Some(shared) => shared.alts = shared.alts.or(&Alts::one(k)),
                    None => fields.push(Shared {
                        field: field.clone(),
                        alts: Alts::one(k),
                    }),
                }
            }
        }
        let mut nodes = vec![Node {
            prefix: String::new(),
            children: Vec::new(),
            ends: Vec::new(),
            below: Vec::new(),
            under: Alts::NONE,
            needs_value: Alts::NONE,
        }];
        for (id, shared) in fields.iter().enumerate() {
            let mut at = 0;
            nodes[0].below.push(id);
            for segment in shared.field.path.split('.') {
                let next = match nodes[at].children.iter().find(|(s, _)| s == segment) {
                    Some((_, next)) => *next,
                    None => {
                        let prefix = if at == 0 {
                            segment.to_string()
                        } else {
                            format!("{}.{segment}", nodes[at].prefix)
                        };
                        nodes.push(Node {
                            prefix,
                            children: Vec::new(),
                            ends: Vec::new(),
                            below: Vec::new(),
                            under: Alts::NONE,
                            needs_value: Alts::NONE,
                        });
                        let next = nodes.len() - 1;
                        nodes[at].children.push((segment.to_string(), next));
                        next
                    }
                };
                nodes[next].below.push(id);
                at = next;
            }
            nodes[at].ends.push(id);
        }
        for node in &mut nodes {
            node.under = node
                .below
                .iter()
                .fold(Alts::NONE, |set, id| set.or(&fields[*id].alts));
            node.needs_value = node
                .below
                .iter()
                .filter(|id| !fields[**id].field.absence_ok())
                .fold(Alts::NONE, |set, id| set.or(&fields[*id].alts));
        }
        Plan {
            count: alternatives.len(),
            fields,
            nodes,
        }
    }

    /// Whether any alternative matches `event` (an object).
    pub(super) fn matches(&self, alternatives: &[Vec<Field>], flat: &FlatEvent) -> bool {
        let pass = Pass {
            plan: self,
            alternatives,
        };
        !pass.met(flat.event, 0, Alts::first(self.count)).is_empty()
    }
}

struct Pass<'a> {
    plan: &'a Plan,
    alternatives: &'a [Vec<Field>],
}

impl Pass<'_> {
    /// The alternatives of `open` whose fields at or below trie node `at` are all met within
    /// `value`.
    fn met(&self, value: &Value, at: usize, open: Alts) -> Alts {
        let node = &self.plan.nodes[at];
        let here = open.and(&node.under);
        if here.is_empty() {
            return open;
        }
        let met = match value {
            // An empty array holds no value: only absence is met.
            Value::Array(items) if items.is_empty() => here.minus(&node.needs_value),
            Value::Array(items) => {
                let mut met = Alts::NONE;
                for item in items {
                    let left = here.minus(&met);
                    if left.is_empty() {
                        break;
                    }
                    met = met.or(&self.met(item, at, left).and(&left));
                }
                met
            }
            Value::Object(map) => self.met_in_object(map, value, at, here),
            scalar => {
                let mut met = here;
                for id in &node.ends {
                    let shared = &self.plan.fields[*id];
                    let holds = shared.field.conditions.iter().any(|c| match c {
                        Condition::Exists(expected) => *expected,
                        other => condition_matches(other, scalar),
                    });
                    if !holds {
                        met = met.minus(&shared.alts);
                    }
                }
                // A path that goes on below a scalar has no value.
                for (_, child) in &node.children {
                    met = met.minus(&self.plan.nodes[*child].needs_value);
                }
                met
            }
        };
        open.minus(&here).or(&met)
    }

    fn met_in_object(
        &self,
        map: &Map<String, Value>,
        value: &Value,
        at: usize,
        here: Alts,
    ) -> Alts {
        let node = &self.plan.nodes[at];
        let mut met = here;
        // An object is not a value: only absence is met here.
        for id in &node.ends {
            let shared = &self.plan.fields[*id];
            if !shared.field.absence_ok() {
                met = met.minus(&shared.alts);
            }
        }
        if self.spells_a_path(map, at) {
            return self.one_at_a_time(value, at, met);
        }
        for (segment, child) in &node.children {
            let wanted = met.and(&self.plan.nodes[*child].under);
            if wanted.is_empty() {
                continue;
            }
            let got = match map.get(segment) {
                Some(inner) => self.met(inner, *child, wanted).and(&wanted),
                // No value here: only absence is met.
                None => wanted.minus(&self.plan.nodes[*child].needs_value),
            };
            met = met.minus(&wanted.minus(&got));
        }
        met
    }

    /// Whether a key of `map` holding dots continues a path of the trie from `at`: then a
    /// field may be reached through either key, and the exact walk decides.
    fn spells_a_path(&self, map: &Map<String, Value>, at: usize) -> bool {
        map.keys().filter(|k| k.contains('.')).any(|key| {
            let mut node = at;
            key.split('.').all(|segment| {
                match self.plan.nodes[node]
                    .children
                    .iter()
                    .find(|(s, _)| s == segment)
                {
                    Some((_, next)) => {
                        node = *next;
                        true
                    }
                    None => false,
                }
            })
        })
    }

    /// The exact walk of [`super::walk`] for each alternative of `open` on its own, or for
    /// many, each field on its own.
    fn one_at_a_time(&self, value: &Value, at: usize, open: Alts) -> Alts {
        let prefix = &self.plan.nodes[at].prefix;
        if open.count() > EXACT_AT_DOTTED_KEYS {
            let mut met = open;
            for id in &self.plan.nodes[at].below {
                let shared = &self.plan.fields[*id];
                if !shared.alts.and(&met).is_empty()
                    && !satisfiable(value, prefix.len(), &[&shared.field])
                {
                    met = met.minus(&shared.alts);
                }
            }
            return met;
        }
        let mut met = Alts::NONE;
        for k in open.indices() {
            let fields: Vec<&Field> = self.alternatives[k]
                .iter()
                .filter(|f| {
                    prefix.is_empty()
                        || f.path == *prefix
                        || f.path.starts_with(prefix.as_str())
                            && f.path.as_bytes().get(prefix.len()) == Some(&b'.')
                })
                .collect();
            if satisfiable(value, prefix.len(), &fields) {
                met = met.or(&Alts::one(k));
            }
        }
        met
    }
}
