//! Reading fields of an event: times in the forms AWS writes, partitions, strings that
//! must or may be there, and the error that names what is wrong.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::{Map, Value};

use crate::intake::event::InvalidEvent;

/// CloudWatch writes `2024-05-01T12:00:00.123+0000` (no colon in the offset), which strict
/// RFC 3339 parsers reject; EventBridge's envelope `time` is RFC 3339 (`...Z`).
pub fn parse_timestamp(raw: &str) -> Option<DateTime<Utc>> {
    let raw = raw.trim();
    DateTime::parse_from_rfc3339(raw)
        .or_else(|_| DateTime::<FixedOffset>::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The partition of a region (`aws`, `aws-cn`, `aws-us-gov`, ...), for the ARNs Klaxon builds
/// when an event names a resource without its ARN: a tag lookup or an incident key in China or
/// GovCloud needs that partition's ARN. Region prefixes as in the SDKs' partition table;
/// anything else is the commercial partition.
pub fn partition_for_region(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 7] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("us-iso-", "aws-iso"),
        ("eu-isoe-", "aws-iso-e"),
        ("eusc-", "aws-eusc"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, partition)| partition)
}

/// The partition field of an ARN (`arn:PARTITION:service:...`), when it is one.
pub fn arn_partition(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn"))
        .then(|| parts.next())
        .flatten()
        .filter(|p| p.starts_with("aws"))
}

pub(in crate::intake) fn required_str<'a>(
    value: Option<&'a Value>,
    name: &str,
    id: &Option<String>,
) -> Result<&'a str, InvalidEvent> {
    match value {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(invalid(
            id.clone(),
            format!("`{name}` must be a string, found {}", json_type(other)),
        )),
        None => Err(invalid(id.clone(), format!("missing `{name}`"))),
    }
}

pub(in crate::intake) fn optional_str(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_string)
}

pub(in crate::intake) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(in crate::intake) fn invalid(event_id: Option<String>, reason: String) -> InvalidEvent {
    InvalidEvent { event_id, reason }
}

pub(in crate::intake) fn s(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// The value at `path` under `detail` (no copy of the detail is made).
pub(in crate::intake) fn at<'a>(
    detail: &'a Map<String, Value>,
    path: &[&str],
) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    rest.iter()
        .try_fold(detail.get(*first)?, |v, key| v.get(key))
}

/// A time from any of the candidates, first that parses. AWS Health writes RFC 1123
/// (`Wed, 22 May 2024 13:05:00 GMT`), the others ISO 8601.
pub(in crate::intake) fn first_time(candidates: &[Option<&Value>]) -> Option<DateTime<Utc>> {
    candidates.iter().flatten().find_map(|v| match v {
        Value::String(raw) => parse_timestamp(raw).or_else(|| {
            DateTime::parse_from_rfc2822(raw.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc))
        }),
        // OCSF epoch milliseconds.
        Value::Number(n) => n.as_i64().and_then(DateTime::<Utc>::from_timestamp_millis),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        for (region, partition) in [
            ("us-east-1", "aws"),
            ("eu-west-3", "aws"),
            ("cn-north-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eusc-de-east-1", "aws-eusc"),
            ("", "aws"),
        ] {
            assert_eq!(partition_for_region(region), partition, "{region}");
        }
        assert_eq!(
            arn_partition("arn:aws-cn:iam::123456789012:root"),
            Some("aws-cn")
        );
        assert_eq!(
            arn_partition("arn:aws:sts::1:assumed-role/r/s"),
            Some("aws")
        );
        assert_eq!(arn_partition("AIDAEXAMPLE"), None);
        assert_eq!(arn_partition("arn:evil:iam::1:root"), None);
    }
}
