//! One grammar for durations everywhere (snooze, `--at` offsets, documents):
//! `^([0-9]+[smhd])+$`, such as `30m`, `1h30m` or `2d`, at most 30 days.

use std::time::Duration;

/// The longest duration accepted: a snooze longer than a month is forgetting, not
/// snoozing.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error(
        "`{0}` is not a duration: write numbers each followed by s, m, h or d (30m, 1h30m, 2d)"
    )]
    Grammar(String),
    #[error("`{0}` is longer than 30 days")]
    TooLong(String),
    #[error("`{0}` is zero: a duration must be positive")]
    Zero(String),
}

pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let grammar =
        || DurationError::Grammar(crate::text::bounded(&crate::text::single_line(text), 64));
    if text.is_empty() {
        return Err(grammar());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(grammar()),
        };
        if digits.is_empty() {
            return Err(grammar());
        }
        // Anything that overflows is far beyond the bound anyway.
        let n: u64 = digits.parse().unwrap_or(u64::MAX);
        total = total.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(grammar());
    }
    let duration = Duration::from_secs(total);
    if duration > MAX_DURATION {
        return Err(DurationError::TooLong(text.to_string()));
    }
    if duration.is_zero() {
        return Err(DurationError::Zero(text.to_string()));
    }
    Ok(duration)
}

/// The shortest spelling of a duration in the same grammar (`5400s` → `1h30m`).
pub fn format_duration(duration: Duration) -> String {
    let mut left = duration.as_secs();
    let mut out = String::new();
    for (unit, size) in [('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)] {
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_accepts_units_in_any_combination() {
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30d"), Ok(MAX_DURATION));
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for bad in ["", "30", "m", "1.5h", "30 m", "-5m", "1w", "1H", "h1"] {
            assert!(
                matches!(parse_duration(bad), Err(DurationError::Grammar(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            parse_duration("31d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_duration("720h1s"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999d"),
            Err(DurationError::TooLong(_))
        ));
        assert!(matches!(parse_duration("0m"), Err(DurationError::Zero(_))));
    }

    #[test]
    fn formatting_round_trips() {
        for s in ["30m", "1h30m", "2d", "1d1h1m1s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
