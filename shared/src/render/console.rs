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
        crate::text::percent_encode(alarm_name)
    ))
}
