//! "Security Hub Findings - Custom Action": an analyst escalates the findings it carries.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::intake::envelope::Envelope;
use crate::intake::event::{Escalation, InvalidEvent, StateChange};
use crate::intake::fields::{json_type, s};
use crate::intake::source::securityhub_asff::asff_finding;
use crate::text;

/// Most findings an escalation is read for: a custom action sends the findings an analyst
/// selected (AWS now sends one per event; older events carried several).
pub(in crate::intake) const MAX_ESCALATED_FINDINGS: usize = 100;

/// "Security Hub Findings - Custom Action": an analyst's escalation of the findings it
/// carries. Each finding is read like an imported one and marked as escalated; its
/// idempotency key is the event id with the finding's product and id, so a retry of the
/// event applies each finding once.
pub(in crate::intake) fn parse(env: &Envelope<'_>) -> Result<Vec<StateChange>, InvalidEvent> {
    let action = env.need(env.detail.get("actionName"), "detail.actionName")?;
    let findings = match env.detail.get("findings") {
        Some(Value::Array(list)) if !list.is_empty() => list,
        Some(Value::Array(_)) => return Err(env.fail("`detail.findings` is empty".into())),
        Some(other) => {
            return Err(env.fail(format!(
                "`detail.findings` must be an array, found {}",
                json_type(other)
            )))
        }
        None => return Err(env.fail("missing `detail.findings`".into())),
    };
    if findings.len() > MAX_ESCALATED_FINDINGS {
        return Err(env.fail(format!(
            "`detail.findings` holds {} findings; at most {MAX_ESCALATED_FINDINGS} are read from one custom action",
            findings.len()
        )));
    }
    let action = text::bounded(&text::single_line(action), 64);
    findings
        .iter()
        .enumerate()
        .map(|(n, f)| {
            if !f.is_object() {
                return Err(env.fail(format!(
                    "`detail.findings[{n}]` must be an object, found {}",
                    json_type(f)
                )));
            }
            let mut event = asff_finding(env, f, n)?;
            let key = Sha256::digest(
                format!("{}\u{0}{}", s(f.get("ProductArn")), s(f.get("Id"))).as_bytes(),
            );
            event.event_id = format!("{}#finding-{}", env.event_id, hex::encode(&key[..8]));
            event.escalation = Some(Box::new(Escalation {
                action: action.clone(),
                envelope_id: env.event_id.clone(),
                position: n,
                count: findings.len(),
            }));
            Ok(event)
        })
        .collect()
}
