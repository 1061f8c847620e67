//! JSON as a pattern is written: objects keep their repeated keys, in order, so that the
//! compiler can apply AWS's rule for them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

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
    pub(super) fn from_value(value: &Value) -> RawJson {
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
    pub(super) fn to_json_text(&self) -> String {
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

    pub(super) fn kind(&self) -> &'static str {
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
