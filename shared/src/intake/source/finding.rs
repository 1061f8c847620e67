//! What Security Hub and GuardDuty findings share: resources, keys per product, titles
//! without addresses, the feeds, and the one-finding-per-event rule.

use serde_json::Value;

use crate::intake::envelope::Envelope;
use crate::intake::event::{AlarmState, InvalidEvent};
use crate::intake::fields::{json_type, s};

/// A finding's resources: their ids, the first one's type, and the first one itself.
pub(in crate::intake) fn finding_resources<'a>(
    list: Option<&'a Value>,
    id_key: &str,
    type_key: &str,
) -> (Vec<String>, String, Option<&'a Value>) {
    let list = list
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ids = list
        .iter()
        .filter_map(|r| r.get(id_key).and_then(Value::as_str).map(str::to_string))
        .collect();
    let first = list.first();
    (
        ids,
        first.map(|r| s(r.get(type_key))).unwrap_or_default(),
        first,
    )
}

/// Finding ids are free-form in Security Hub (BatchImportFindings): the prefix keeps one
/// from landing on an alarm's or a CloudTrail key.
pub(in crate::intake) fn finding_key(id: &str) -> String {
    format!("finding:{id}")
}

/// The feeds a finding can arrive through; each orders its own copies (`StateChange::feed`).
pub const FEED_GUARDDUTY: &str = "aws.guardduty";
pub const FEED_ASFF: &str = "securityhub:asff";
pub const FEED_OCSF: &str = "securityhub:ocsf";

/// GuardDuty's own product in Security Hub, in any partition and Region:
/// `arn:<partition>:securityhub:<region>::product/aws/guardduty` (`productv2` in OCSF).
pub(in crate::intake) fn is_guardduty_product(product: &str) -> bool {
    let parts: Vec<&str> = product.splitn(6, ':').collect();
    matches!(
        parts.as_slice(),
        ["arn", partition, "securityhub", _, "", "product/aws/guardduty" | "productv2/aws/guardduty"]
            if partition.starts_with("aws")
    )
}

/// A Security Hub finding's key. Only GuardDuty's own product shares the GuardDuty
/// finding's key (its `Id` is GuardDuty's finding ARN), so the GuardDuty event and its
/// Security Hub copies are one incident; any other product's finding is keyed by its
/// product as well, so that it can neither resolve nor mute a GuardDuty incident by
/// reusing its id.
pub(in crate::intake) fn product_finding_key(product: &str, scope: &str, id: &str) -> String {
    if is_guardduty_product(product) {
        finding_key(id)
    } else if scope.is_empty() {
        finding_key(&format!("{product}/{id}"))
    } else {
        finding_key(&format!("{product}/{scope}/{id}"))
    }
}

/// `<product> <finding type or control> on <resource type>`: no addresses or ids.
pub(in crate::intake) fn finding_title(product: &str, what: &str, resource_type: &str) -> String {
    if resource_type.is_empty() {
        format!("{product} {what}")
    } else {
        format!("{product} {what} on {resource_type}")
    }
}

/// A finding that its source closed (archived, resolved, suppressed) resolves the incident.
pub(in crate::intake) fn closed_or_open(closed: bool) -> AlarmState {
    if closed {
        AlarmState::Ok
    } else {
        AlarmState::Alarm
    }
}

/// Tags written as a list of `{key, value}`-like objects (GuardDuty, OCSF).
pub(in crate::intake) fn tag_list(
    list: Option<&Value>,
    key: &str,
    value: &str,
) -> Vec<(String, String)> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t.get(key)?.as_str()?.to_string(),
                t.get(value)?.as_str()?.to_string(),
            ))
        })
        .collect()
}

/// "Each event sends a single finding" (Security Hub's event format): anything else is not
/// an event we understand, and is rejected rather than half-handled.
pub(in crate::intake) fn single_finding<'a>(env: &Envelope<'a>) -> Result<&'a Value, InvalidEvent> {
    match env.detail.get("findings") {
        Some(Value::Array(list)) if list.len() == 1 && list[0].is_object() => Ok(&list[0]),
        Some(Value::Array(list)) if list.len() == 1 => Err(env.fail(format!(
            "`detail.findings[0]` must be an object, found {}",
            json_type(&list[0])
        ))),
        Some(Value::Array(list)) => Err(env.fail(format!(
            "`detail.findings` holds {} findings; Security Hub sends exactly one per event",
            list.len()
        ))),
        Some(other) => Err(env.fail(format!(
            "`detail.findings` must be an array, found {}",
            json_type(other)
        ))),
        None => Err(env.fail("missing `detail.findings`".into())),
    }
}
