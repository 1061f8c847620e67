//! The size of each item of the table layout, counted while serializing: no item is built.
//! `layout.rs` builds the same items as JSON objects for the DynamoDB adapter; the tests
//! below check that both give the same size for every kind of item, so the two cannot drift.
//!
//! A record becomes its fields (as `serde_json::to_value` would make them, which is what
//! serde_dynamo stores), plus the layout's keys and attributes; a JSON-text attribute
//! (`message_json`, `run_json`) counts the bytes of its text, counted by a writer that keeps
//! none of them.

use serde::ser::{self, Serialize};

use super::bytes::number_bytes;
use crate::layout::{
    incident_pk, outbox_sk, processed_pk, sort_time, step_entry_sk, step_pk, timeline_sk,
    tracker_pk, INCIDENT_SK, NO_SERVICE, PK, PROCESSED_SK, SK, STEP_RUN_SK, TRACKER_SK,
    TTL_ATTRIBUTE,
};
use crate::model::{
    Incident, IncidentStatus, KeyTracker, OutboxItem, ProcessedEvent, StepEntry, StepRun,
    TimelineEntry,
};

pub fn processed(p: &ProcessedEvent) -> usize {
    record(
        p,
        &processed_pk(&p.event_id),
        PROCESSED_SK,
        "processed_event",
    ) + number_attr(TTL_ATTRIBUTE, p.expires_at.timestamp())
}

pub fn tracker(t: &KeyTracker) -> usize {
    record(t, &tracker_pk(&t.dedup_key), TRACKER_SK, "alarm_tracker")
}

pub fn incident(i: &Incident) -> usize {
    let order = sort_time(i.opened_at).len() + 1 + i.incident_id.len();
    let service = i.ownership.service.as_deref().unwrap_or(NO_SERVICE);
    let open = if i.status == IncidentStatus::Open {
        "gsi1pk".len() + "OPEN".len() + "gsi1sk".len() + order
    } else {
        0
    };
    record(i, &incident_pk(&i.incident_id), INCIDENT_SK, "incident")
        + open
        + "gsi2pk".len()
        + "SERVICE#".len()
        + service.len()
        + "gsi2sk".len()
        + order
}

pub fn timeline(e: &TimelineEntry) -> usize {
    record(
        e,
        &incident_pk(&e.incident_id),
        &timeline_sk(e),
        "timeline_entry",
    )
}

pub fn outbox(o: &OutboxItem) -> usize {
    string_attr(PK, &incident_pk(&o.incident_id))
        + string_attr(SK, &outbox_sk(o))
        + string_attr("entity", "outbox_item")
        + string_attr("incident_id", &o.incident_id)
        + string_attr("event_id", &o.event_id)
        + string_attr("item_id", &o.item_id)
        + string_attr("created_at", &sort_time(o.created_at))
        + number_attr("lease_until_ms", o.lease_until.timestamp_millis())
        + "message_json".len()
        + json_text_bytes(&o.message)
}

pub fn step_entry(e: &StepEntry) -> usize {
    record(
        e,
        &step_pk(e.incident_id.as_deref(), &e.event_id),
        &step_entry_sk(e),
        "step_entry",
    ) + e
        .expires_at
        .map_or(0, |t| number_attr(TTL_ATTRIBUTE, t.timestamp()))
}

pub fn step_run(r: &StepRun) -> usize {
    string_attr(PK, &processed_pk(&r.event_id))
        + string_attr(SK, STEP_RUN_SK)
        + string_attr("entity", "step_run")
        + string_attr("event_id", &r.event_id)
        + number_attr("lease_until_ms", r.lease_until.timestamp_millis())
        + number_attr(TTL_ATTRIBUTE, r.expires_at.timestamp())
        + "run_json".len()
        + json_text_bytes(r)
}

/// A record's fields (the top level of the item: names and values, no map overhead), plus
/// its keys and entity name.
fn record<T: Serialize>(value: &T, pk: &str, sk: &str, entity: &str) -> usize {
    value.serialize(Sizer { top: true }).unwrap_or(0)
        + string_attr(PK, pk)
        + string_attr(SK, sk)
        + string_attr("entity", entity)
}

fn string_attr(name: &str, value: &str) -> usize {
    name.len() + value.len()
}

fn number_attr(name: &str, value: i64) -> usize {
    name.len() + int_bytes(value.unsigned_abs())
}

fn int_bytes(mut v: u64) -> usize {
    if v == 0 {
        return 1;
    }
    while v.is_multiple_of(10) {
        v /= 10;
    }
    let digits = v.ilog10() as usize + 1;
    digits.div_ceil(2) + 1
}

/// The length of a value's compact JSON text, counted without keeping it.
fn json_text_bytes<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

#[derive(Debug)]
struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Unsupported {}
impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

/// Counts DynamoDB's size of the value `serde_json::to_value` would make. `top`: the item
/// itself, whose attributes carry no container overhead.
#[derive(Clone, Copy)]
struct Sizer {
    top: bool,
}

const NESTED: Sizer = Sizer { top: false };

/// A list or map being counted.
struct Compound {
    top: bool,
    bytes: usize,
    /// For a variant (`{"Variant": ...}`): the wrapper's extra bytes.
    wrapper: usize,
}

impl Compound {
    fn new(top: bool, wrapper: usize) -> Self {
        Compound {
            top,
            bytes: if top { 0 } else { 3 },
            wrapper,
        }
    }

    fn element(&mut self, name: usize, value: usize) {
        self.bytes += name + value + usize::from(!self.top);
    }

    fn end(self) -> usize {
        self.bytes + self.wrapper
    }
}

/// `{"Variant": value}`: a map of one element.
fn variant_wrapper(variant: &str) -> usize {
    3 + 1 + variant.len()
}

impl ser::Serializer for Sizer {
    type Ok = usize;
    type Error = Unsupported;
    type SerializeSeq = Compound;
    type SerializeTuple = Compound;
    type SerializeTupleStruct = Compound;
    type SerializeTupleVariant = Compound;
    type SerializeMap = MapCompound;
    type SerializeStruct = Compound;
    type SerializeStructVariant = Compound;

    fn serialize_bool(self, _: bool) -> Result<usize, Unsupported> {
        Ok(1)
    }
    fn serialize_i8(self, v: i8) -> Result<usize, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<usize, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<usize, Unsupported> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<usize, Unsupported> {
        Ok(int_bytes(v.unsigned_abs()))
    }
    fn serialize_u8(self, v: u8) -> Result<usize, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<usize, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<usize, Unsupported> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<usize, Unsupported> {
        Ok(int_bytes(v))
    }
    fn serialize_f32(self, v: f32) -> Result<usize, Unsupported> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<usize, Unsupported> {
        // serde_json stores a non-finite float as null.
        Ok(serde_json::Number::from_f64(v).map_or(1, |n| number_bytes(&n.to_string())))
    }
    fn serialize_char(self, v: char) -> Result<usize, Unsupported> {
        Ok(v.len_utf8())
    }
    fn serialize_str(self, v: &str) -> Result<usize, Unsupported> {
        Ok(v.len())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<usize, Unsupported> {
        // serde_json makes bytes a list of numbers.
        Ok(3 + v
            .iter()
            .map(|b| 1 + int_bytes(u64::from(*b)))
            .sum::<usize>())
    }
    fn serialize_none(self) -> Result<usize, Unsupported> {
        Ok(1)
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<usize, Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<usize, Unsupported> {
        Ok(1)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<usize, Unsupported> {
        Ok(1)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<usize, Unsupported> {
        Ok(variant.len())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<usize, Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<usize, Unsupported> {
        Ok(variant_wrapper(variant) + value.serialize(NESTED)?)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Compound, Unsupported> {
        Ok(Compound::new(false, 0))
    }
    fn serialize_tuple(self, _: usize) -> Result<Compound, Unsupported> {
        Ok(Compound::new(false, 0))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound, Unsupported> {
        Ok(Compound::new(false, 0))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Unsupported> {
        Ok(Compound::new(false, variant_wrapper(variant)))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapCompound, Unsupported> {
        Ok(MapCompound {
            inner: Compound::new(self.top, 0),
            key: 0,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound, Unsupported> {
        Ok(Compound::new(self.top, 0))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Compound, Unsupported> {
        Ok(Compound::new(false, variant_wrapper(variant)))
    }
}

impl ser::SerializeSeq for Compound {
    type Ok = usize;
    type Error = Unsupported;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Unsupported> {
        let bytes = value.serialize(NESTED)?;
        self.element(0, bytes);
        Ok(())
    }
    fn end(self) -> Result<usize, Unsupported> {
        Ok(Compound::end(self))
    }
}

/// Tuples count like lists.
macro_rules! like_a_list {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound {
            type Ok = usize;
            type Error = Unsupported;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Unsupported> {
                ser::SerializeSeq::serialize_element(self, value)
            }
            fn end(self) -> Result<usize, Unsupported> {
                Ok(Compound::end(self))
            }
        }
    )*};
}

like_a_list!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeStruct for Compound {
    type Ok = usize;
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        let bytes = value.serialize(NESTED)?;
        self.element(key.len(), bytes);
        Ok(())
    }
    fn end(self) -> Result<usize, Unsupported> {
        Ok(Compound::end(self))
    }
}

impl ser::SerializeStructVariant for Compound {
    type Ok = usize;
    type Error = Unsupported;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<usize, Unsupported> {
        Ok(Compound::end(self))
    }
}

/// A map: keys become strings (serde_json turns number keys into their text).
struct MapCompound {
    inner: Compound,
    key: usize,
}

impl ser::SerializeMap for MapCompound {
    type Ok = usize;
    type Error = Unsupported;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.key = match serde_json::to_value(key) {
            Ok(serde_json::Value::String(k)) => k.len(),
            Ok(other) => other.to_string().len(),
            Err(e) => return Err(Unsupported(e.to_string())),
        };
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Unsupported> {
        let bytes = value.serialize(NESTED)?;
        self.inner.element(self.key, bytes);
        Ok(())
    }
    fn end(self) -> Result<usize, Unsupported> {
        Ok(self.inner.end())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item_size::item_bytes;
    use crate::layout;

    /// Every kind of item, taken from a real run of the engine on the memory backend, is
    /// counted here exactly as `layout` builds it for the adapter.
    #[tokio::test]
    async fn counted_sizes_equal_the_built_items() {
        use crate::ports::IncidentStore;
        let (backend, engine) = crate::memory::engine(crate::memory::embedded_settings());
        backend.fail_next_publishes(1);
        let raw = include_bytes!("../../../events/alarm-metric-prod-alarm.json");
        let _ = engine.handle_bytes(raw).await;
        let record = backend.all_incidents().remove(0);
        assert_eq!(
            incident(&record),
            item_bytes(&layout::incident_item(&record))
        );
        let mut resolved = record.clone();
        resolved.status = IncidentStatus::Resolved;
        assert_eq!(
            incident(&resolved),
            item_bytes(&layout::incident_item(&resolved))
        );
        for entry in backend.timeline(&record.incident_id).await.unwrap() {
            assert_eq!(timeline(&entry), item_bytes(&layout::timeline_item(&entry)));
        }
        let pending = backend.pending_outbox(&record.incident_id).await.unwrap();
        assert!(!pending.is_empty());
        for item in &pending {
            assert_eq!(outbox(item), item_bytes(&layout::outbox_item(item)));
        }
        let (processed_record, tracker_record) = backend
            .load(
                "33ecabbf-275a-4866-8b05-7e030062d0dc",
                "arn:aws:cloudwatch:us-east-1:123456789012:alarm:prod-checkout-api-5xx-errors",
            )
            .await
            .unwrap();
        let p = processed_record.unwrap();
        assert_eq!(processed(&p), item_bytes(&layout::processed_item(&p)));
        let t = tracker_record.unwrap();
        assert!(!t.pending_outbox.is_empty(), "a marker is counted too");
        assert_eq!(tracker(&t), item_bytes(&layout::tracker_item(&t)));
        let ok = include_bytes!("../../../events/alarm-metric-prod-ok.json");
        engine.handle_bytes(ok).await.unwrap();
        let entries = backend.all_step_entries();
        assert!(!entries.is_empty());
        for entry in entries {
            assert_eq!(
                step_entry(&entry),
                item_bytes(&layout::step_entry_item(&entry))
            );
        }
    }

    #[test]
    fn a_step_run_is_counted_like_its_item() {
        let run: StepRun = serde_json::from_value(serde_json::json!({
            "event_id": "e", "incident_id": null, "alarm_arn": "a",
            "state_timestamp": "2024-05-01T12:00:00Z", "hops": 0, "metric_queries": [],
            "context": {"alarm": {"name": "x", "n": 1.5, "list": [1, "two", null, true]}},
            "scopes": [], "entries": [], "pending": [],
            "created_at": "2024-05-01T12:00:00Z", "lease_until": "2024-05-01T12:01:00Z",
            "expires_at": "2024-05-03T12:00:00Z"
        }))
        .unwrap();
        assert_eq!(step_run(&run), item_bytes(&layout::step_run_item(&run)));
        // The stored attribute keeps its name (`alarm_arn`) whatever the field is called.
        assert_eq!(run.dedup_key, "a");
        assert_eq!(serde_json::to_value(&run).unwrap()["alarm_arn"], "a");
    }
}
