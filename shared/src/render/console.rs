//! Links to the AWS console: the CloudWatch alarm of an alarm's event (other sources have
//! none).

use crate::intake::StateChange;

/// Link to the alarm in the CloudWatch console; the name is percent-encoded so that a
/// hostile name cannot change where the link points.
pub fn console_url(event: &StateChange) -> Option<String> {
    alarm_console_url(event.kind, event.region.as_deref(), &event.alarm_name)
}

/// The same link from an incident's record (its kind, Region and alarm name).
pub fn alarm_console_url(
    kind: crate::intake::AlarmKind,
    region: Option<&str>,
    alarm_name: &str,
) -> Option<String> {
    if !kind.is_alarm() {
        return None;
    }
    let region = region?;
    if !region
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return None;
    }
    Some(format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{}",
        percent_encode(alarm_name)
    ))
}

fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
