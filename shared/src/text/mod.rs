//! Attacker-controlled text (alarm names, descriptions, reasons, tag values: anyone with
//! `cloudwatch:PutMetricAlarm` writes them) made safe for each place it goes.

/// Removes control characters (C0, DEL, C1) and Unicode bidi overrides, which can hide or
/// reorder text in a terminal, a log line or a mail client. Newlines become spaces.
pub fn single_line(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.chars() {
        if ch == '\n' || ch == '\r' || ch == '\t' || is_line_separator(ch) {
            out.push(' ');
        } else if !is_unsafe_char(ch) {
            out.push(ch);
        }
    }
    out
}

/// Like [`single_line`] but keeps line breaks (normalised to `\n`), for multi-line bodies.
pub fn multi_line(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.replace("\r\n", "\n").chars() {
        if ch == '\n' || is_line_separator(ch) {
            out.push('\n');
        } else if ch == '\t' || ch == '\r' {
            out.push(' ');
        } else if !is_unsafe_char(ch) {
            out.push(ch);
        }
    }
    out
}

/// Characters that renderers show as a line break although `str::lines` does not split on
/// them: NEL, LINE SEPARATOR, PARAGRAPH SEPARATOR.
fn is_line_separator(ch: char) -> bool {
    matches!(ch, '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_unsafe_char(ch: char) -> bool {
    ch.is_control()
        // Bidi embedding/override/isolate controls: used to disguise text ("trojan source").
        || matches!(ch, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
        // Zero-width characters that make two different names look the same.
        || matches!(ch, '\u{200B}'..='\u{200D}' | '\u{FEFF}')
}

/// Whether any character would be seen: not whitespace, control, format (soft hyphen,
/// joiners, bidi marks) or a blank filler that renders as nothing (Hangul fillers, the
/// braille blank). A name made only of such characters looks empty to a responder.
pub fn has_visible(input: &str) -> bool {
    input.chars().any(|ch| {
        !(ch.is_whitespace()
            || is_unsafe_char(ch)
            || is_line_separator(ch)
            || matches!(
                ch,
                '\u{AD}'
                    | '\u{34F}'
                    | '\u{115F}'
                    | '\u{1160}'
                    | '\u{17B4}'
                    | '\u{17B5}'
                    | '\u{180B}'..='\u{180F}'
                    | '\u{2060}'..='\u{206F}'
                    | '\u{2800}'
                    | '\u{3164}'
                    | '\u{FE00}'..='\u{FE0F}'
                    | '\u{FFA0}'
                    | '\u{E0000}'..='\u{E007F}'
            ))
    })
}

/// Truncates to at most `max_bytes` bytes on a char boundary, marking the cut with `…`.
pub fn bounded(input: &str, max_bytes: usize) -> String {
    if input.len() <= max_bytes {
        return input.to_string();
    }
    let marker = "…";
    let mut end = max_bytes.saturating_sub(marker.len());
    while end > 0 && !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &input[..end], marker)
}

/// Text safe for a log field: one line, no control characters, bounded.
pub fn for_log(input: &str) -> String {
    bounded(&single_line(input), 512)
}

/// An SNS `Subject`: ASCII only, starting with a letter, digit or punctuation, no line
/// breaks or control characters, fewer than 100 characters (SNS Publish API reference).
pub fn sns_subject(input: &str) -> String {
    let mut out: String = single_line(input)
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    out = out.trim().to_string();
    if out.is_empty() {
        out = "Klaxon".to_string();
    } else if !out.starts_with(|c: char| c.is_ascii_graphic()) {
        out.insert_str(0, "Klaxon ");
    }
    if out.len() > 99 {
        out.truncate(96);
        out.push_str("...");
    }
    out
}

/// Escapes text for an HTML body (email clients that render HTML, chat web views).
pub fn html_escape(input: &str) -> String {
    escape(input, true)
}

/// Escapes text for Slack-style chat markup, where `<...>` makes links and mentions
/// (`<!channel>`) and `&` starts an entity.
pub fn chat_escape(input: &str) -> String {
    escape(input, false)
}

fn escape(input: &str, quotes: bool) -> String {
    let mut out = String::with_capacity(input.len());
    for ch in input.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if quotes => out.push_str("&quot;"),
            '\'' if quotes => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes attacker-controlled multi-line text in a plain-text body so that it cannot pass
/// for Klaxon's own lines (a forged "Acknowledge: https://…" line, say): every line is
/// prefixed with `> `.
pub fn quoted_block(input: &str, max_bytes: usize) -> String {
    let clean = bounded(&multi_line(input), max_bytes);
    clean
        .lines()
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

mod redact;
pub use redact::{redact_sensitive, REDACTED};

/// Percent-encodes everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`):
/// a name in a URL that cannot change where the URL points, and SigV4's URI encoding.
pub fn percent_encode(input: &str) -> String {
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

/// `k=v, k=v`: dimensions and similar pairs on one line.
pub fn pairs<K: std::fmt::Display, V: std::fmt::Display>(
    items: impl IntoIterator<Item = (K, V)>,
) -> String {
    items
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_strips_controls_and_bidi() {
        assert_eq!(single_line("a\u{7}b\nc\u{202E}d\u{1b}[31m"), "ab cd[31m");
    }

    #[test]
    fn multi_line_keeps_newlines_only() {
        assert_eq!(multi_line("a\r\nb\u{0}\tc"), "a\nb c");
    }

    #[test]
    fn unicode_line_separators_are_line_breaks() {
        assert_eq!(single_line("a\u{2028}b\u{2029}c\u{85}d\u{61C}"), "a b c d");
        assert_eq!(
            quoted_block("x\u{2028}Ack: http://evil", 100),
            "> x\n> Ack: http://evil"
        );
    }

    #[test]
    fn bounded_cuts_on_char_boundary() {
        let s = "ééééé"; // 10 bytes
        let b = bounded(s, 7);
        assert!(b.len() <= 7, "{b}");
        assert!(b.ends_with('…'));
        assert_eq!(bounded("short", 10), "short");
    }

    #[test]
    fn subject_is_short_ascii_one_line() {
        let s = sns_subject(&format!("héllo\nworld {}", "x".repeat(300)));
        assert!(s.len() < 100);
        assert!(s.is_ascii());
        assert!(!s.contains('\n'));
        assert!(s.starts_with("h?llo world"));
        assert_eq!(sns_subject("  "), "Klaxon");
        assert!(sns_subject(" \u{1}").starts_with("Klaxon"));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(chat_escape("<!channel> & co"), "&lt;!channel&gt; &amp; co");
    }

    #[test]
    fn quoted_block_prefixes_every_line() {
        assert_eq!(
            quoted_block("one\nAck: http://evil", 100),
            "> one\n> Ack: http://evil"
        );
    }
}
