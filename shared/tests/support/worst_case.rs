//! The most expensive inputs we can construct within Klaxon's limits, shared by the refusal
//! and handling tests (`tests/input_limits.rs`), the criterion benchmark
//! (`benches/worst_case.rs`) and the peak-memory measurement (`examples/worst_case.rs`).
//!
//! Each event is built on a real sample and grown until it is just under the 256 KiB that
//! Klaxon accepts (or, for the refusals, past a limit): nesting as deep as JSON parsing
//! allows, an object of thousands of keys, one key of a quarter megabyte, thousands of
//! array elements on the very paths a shipped trigger walks, and a quarter megabyte of text
//! built to make every redaction detector fire on every character.

#![allow(dead_code)] // each user takes the part it needs

use std::path::Path;

use serde_json::{json, Value};

/// Klaxon's own event limit (`klaxon::intake::MAX_EVENT_BYTES`).
pub const LIMIT: usize = 256 * 1024;

/// What handling the event must end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Accepted and matched: an incident is opened and paged.
    Opened,
    /// Refused with a rejection record, before any matching.
    Rejected,
}

pub struct Case {
    pub name: &'static str,
    pub bytes: Vec<u8>,
    pub expect: Expect,
}

fn sample(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// The event with `fill(n)` put in place, `n` the largest that keeps it within `limit`
/// bytes (found by bisection: `fill` must grow with `n`).
fn grown(base: &Value, limit: usize, fill: impl Fn(&mut Value, usize)) -> Vec<u8> {
    let build = |n: usize| {
        let mut v = base.clone();
        fill(&mut v, n);
        serde_json::to_vec(&v).unwrap()
    };
    let (mut low, mut high) = (0usize, 8 * limit);
    while low < high {
        let mid = (low + high).div_ceil(2);
        if build(mid).len() <= limit {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    let bytes = build(low);
    assert!(
        bytes.len() <= limit && bytes.len() > limit - 2048,
        "{}",
        bytes.len()
    );
    bytes
}

/// A production alarm: the shipped default runbook opens an incident and pages.
fn alarm() -> Value {
    sample("alarm-metric-prod-alarm.json")
}

/// An object of as many small keys as fit.
pub fn wide_object() -> Vec<u8> {
    grown(&alarm(), LIMIT - 16, |v, n| {
        let extra: serde_json::Map<String, Value> = (0..n / 16)
            .map(|k| (format!("k{k:06}"), json!(0)))
            .collect();
        v["detail"]["extra"] = Value::Object(extra);
    })
}

/// Objects and arrays nested as deep as the JSON parser accepts (its limit is 128), each
/// level holding a share of the bytes.
pub fn deep_nesting() -> Vec<u8> {
    grown(&alarm(), LIMIT - 16, |v, n| {
        let mut inner = json!(vec![1; n / 8]);
        for level in 0..60 {
            inner = json!({ "a": [inner, level] });
        }
        v["detail"]["extra"] = inner;
    })
}

/// One key of a quarter megabyte.
pub fn long_key() -> Vec<u8> {
    grown(&alarm(), LIMIT - 16, |v, n| {
        let mut extra = serde_json::Map::new();
        extra.insert("k".repeat(n), json!(1));
        v["detail"]["extra"] = Value::Object(extra);
    })
}

/// CloudTrail `AuthorizeSecurityGroupIngress` with thousands of permissions, each with
/// ranges, all private but the very last: the admin-ports invariant's `suffix: "/0"` walks
/// `ipPermissions.items[].ipRanges.items[].cidrIp` and `ipv6Ranges` of every element.
pub fn arrays_on_trigger_paths() -> Vec<u8> {
    let base = sample("security/cloudtrail-sg-open-ssh-world.json");
    grown(&base, LIMIT - 16, |v, n| {
        let permission = |cidr: &str| {
            json!({
                "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}, {"cidrIp": cidr}]},
                "ipv6Ranges": {"items": [{"cidrIpv6": "fd00::/8"}]}
            })
        };
        let mut items: Vec<Value> = (0..n / 160).map(|_| permission("10.1.0.0/16")).collect();
        items.push(permission("0.0.0.0/0"));
        v["detail"]["requestParameters"]["ipPermissions"]["items"] = Value::Array(items);
    })
}

/// [`arrays_on_trigger_paths`] with, in every permission, a key holding dots that spells part
/// of a trigger path (`"ipRanges.items"`): there the matcher walks each alternative on its own.
pub fn dotted_keys_on_trigger_paths() -> Value {
    let mut event: Value = serde_json::from_slice(&arrays_on_trigger_paths()).unwrap();
    for item in event["detail"]["requestParameters"]["ipPermissions"]["items"]
        .as_array_mut()
        .unwrap()
    {
        item["ipRanges.items"] = json!([{"cidrIp": "10.2.0.0/16"}]);
    }
    event
}

/// A GuardDuty finding whose description is a quarter megabyte with no space in it, made
/// so that every detector finds something everywhere: dotted quads, colon runs, cuts
/// (`...`), digit chains, key prefixes.
pub fn adversarial_text() -> Vec<u8> {
    let base = sample("security/guardduty-ssh-bruteforce-high.json");
    const CHUNK: &str = "1.1.1.1:1::1...12-34_56.AKIA7.0x1:";
    grown(&base, LIMIT - 16, |v, n| {
        v["detail"]["description"] = json!(CHUNK.repeat(n / CHUNK.len()));
    })
}

/// Just over the limit: refused by size.
pub fn just_over_the_limit() -> Vec<u8> {
    let mut v = alarm();
    v["detail"]["extra"] = json!("x".repeat(LIMIT));
    serde_json::to_vec(&v).unwrap()
}

/// 1 MiB, the most EventBridge delivers: refused by size, read no further than needed.
pub fn one_mebibyte() -> Vec<u8> {
    let mut v = alarm();
    v["detail"]["extra"] = json!("x".repeat(1024 * 1024 - 8192));
    let bytes = serde_json::to_vec(&v).unwrap();
    assert!(bytes.len() <= 1024 * 1024);
    bytes
}

/// Arrays nested 100,000 deep: within the size limit, refused by the parser's depth limit.
pub fn too_deep() -> Vec<u8> {
    let depth = 100_000;
    let mut s = String::from(r#"{"id":"deep","detail":"#);
    s.push_str(&"[".repeat(depth));
    s.push_str(&"]".repeat(depth));
    s.push('}');
    assert!(s.len() <= LIMIT);
    s.into_bytes()
}

/// One case: its name, how to build it, what handling it must end in.
pub type CaseSpec = (&'static str, fn() -> Vec<u8>, Expect);

/// Every case.
pub const CASES: &[CaseSpec] = &[
    ("wide object", wide_object, Expect::Opened),
    ("deep nesting", deep_nesting, Expect::Opened),
    ("long key", long_key, Expect::Opened),
    (
        "arrays on trigger paths",
        arrays_on_trigger_paths,
        Expect::Opened,
    ),
    ("adversarial text", adversarial_text, Expect::Opened),
    ("just over the limit", just_over_the_limit, Expect::Rejected),
    ("1 MiB", one_mebibyte, Expect::Rejected),
    ("too deep", too_deep, Expect::Rejected),
];

/// Every case, built.
pub fn cases() -> Vec<Case> {
    CASES
        .iter()
        .map(|(name, build, expect)| Case {
            name,
            bytes: build(),
            expect: *expect,
        })
        .collect()
}

/// A trigger at the matcher's limit: three `$or`s of ten alternatives (1,000 combinations),
/// each alternative a different operator on a path the CloudTrail event above has in
/// thousands of elements, and none matching there: every element is visited for each.
pub fn widest_pattern() -> Value {
    let alternatives = |field: &str, n: usize| -> Vec<Value> {
        (0..n)
            .map(|k| match k % 5 {
                0 => json!({ field: [{"suffix": {"equals-ignore-case": format!("/{k}")}}] }),
                1 => json!({ field: [{"wildcard": format!("*.{k}.*.*/*")}] }),
                2 => json!({ field: [{"prefix": {"equals-ignore-case": format!("{k}.")}}] }),
                3 => json!({ field: [{"numeric": [">", k]}] }),
                _ => json!({ field: [{"equals-ignore-case": format!("{k}.0.0.0/0")}] }),
            })
            .collect()
    };
    json!({
        "source": ["aws.ec2"],
        "detail": {
            "requestParameters": {
                "ipPermissions": {"items": {
                    "ipRanges": {"items": {"$or": alternatives("cidrIp", 10)}},
                    "ipv6Ranges": {"items": {"$or": alternatives("cidrIpv6", 10)}},
                    "$or": alternatives("ipProtocol", 10)
                }}
            }
        }
    })
}

/// One more alternative than [`widest_pattern`] allows: 40 `$or`s of two (2^40
/// combinations) in 1.6 KB, refused before anything is expanded.
pub fn exploding_pattern() -> Value {
    let mut detail = serde_json::Map::new();
    for k in 0..40 {
        detail.insert(
            format!("f{k}"),
            json!({"$or": [{"a": ["x"]}, {"b": ["y"]}]}),
        );
    }
    json!({"source": ["aws.ec2"], "detail": detail})
}

/// A runbook file around a trigger.
pub fn runbook_with(trigger: &Value) -> String {
    format!(
        "name: worst\ndescription: d\nteam: t\ntrigger: {trigger}\nsteps:\n  - id: track\n    incident:\n      action: track\n"
    )
}
