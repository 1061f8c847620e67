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

/// What replaces a sensitive token in security messages.
pub const REDACTED: &str = "[redacted]";

/// For text that goes to SMS, chat and subjects of security incidents: replaces every token
/// that holds an IP address (v4 or v6, with or without a prefix length), an AWS account id
/// (12 digits, also inside an ARN) or an access key / principal id (`AKIA…`, `ASIA…`,
/// `AIDA…`, …) with `[redacted]`. Those stay in the e-mail body and the incident record.
/// Deliberately broad: a false positive costs a word in an SMS, a miss leaks an indicator.
pub fn redact_sensitive(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.is_empty() {
            return;
        }
        // A sentence's full stop is not part of an address (a trailing `::` may be).
        let trimmed = token.trim_end_matches('.');
        if is_sensitive_token(trimmed) {
            out.push_str(REDACTED);
            out.push_str(&token[trimmed.len()..]);
        } else {
            out.push_str(token);
        }
        token.clear();
    };
    for ch in input.chars() {
        if ch.is_whitespace()
            || matches!(
                ch,
                ',' | ';'
                    | '('
                    | ')'
                    | '['
                    | ']'
                    | '{'
                    | '}'
                    | '<'
                    | '>'
                    | '"'
                    | '\''
                    | '`'
                    | '|'
                    | '='
            )
        {
            flush(&mut token, &mut out);
            out.push(ch);
        } else {
            token.push(ch);
        }
    }
    flush(&mut token, &mut out);
    out
}

fn is_sensitive_token(token: &str) -> bool {
    // Full-width digits and punctuation look the same to a reader: test them as ASCII.
    let token: String = token
        .chars()
        .map(|c| match c {
            '\u{FF10}'..='\u{FF19}' => char::from(b'0' + (c as u32 - 0xFF10) as u8),
            '\u{FF0E}' => '.',
            '\u{FF1A}' => ':',
            '\u{FF0D}' => '-',
            other => other,
        })
        .collect();
    has_ipv4(&token) || has_account_id(&token) || has_key_id(&token) || has_ipv6(&token)
}

/// Four groups of 1–3 digits separated by dots, or by hyphens as in EC2 host names
/// (`ip-10-20-3-41`, `ec2-54-210-17-88`), anywhere in the token.
fn has_ipv4(token: &str) -> bool {
    token
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .any(|part| {
            let groups: Vec<&str> = part.split(['.', '-']).collect();
            groups.windows(4).any(|w| {
                w.iter()
                    .all(|g| (1..=3).contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit()))
            })
        })
}

/// Twelve digits in a row (an AWS account id, alone or inside an ARN), or written as the
/// console shows it, `1234-5678-9012`.
fn has_account_id(token: &str) -> bool {
    token
        .split(|c: char| !c.is_ascii_digit())
        .any(|digits| digits.len() == 12)
        || token
            .split(|c: char| !(c.is_ascii_digit() || c == '-'))
            .any(|part| {
                let groups: Vec<&str> = part.split('-').collect();
                groups.windows(3).any(|w| {
                    w.iter()
                        .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit()))
                })
            })
}

/// IAM unique-id prefixes anywhere in a run of capitals and digits: access keys (AKIA,
/// ASIA), bearer tokens (ABIA), context keys (ACCA), users, roles, groups, instance
/// profiles, managed policies, public keys.
fn has_key_id(token: &str) -> bool {
    const PREFIXES: [&str; 11] = [
        "AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AGPA", "AIPA", "ANPA", "ANVA", "APKA",
    ];
    token
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit()))
        .any(|run| {
            PREFIXES
                .iter()
                .any(|p| run.match_indices(p).any(|(at, _)| run.len() - at >= 16))
        })
}

/// An IPv6 address anywhere in the token (`2001:db8::1`, `::/0`, `fe80::1%eth0`,
/// `src:2001:db8::7`, `::ffff:192.0.2.1`): every run of hex digits, colons and dots, and
/// every part of it after a colon, is tried as an address.
fn has_ipv6(token: &str) -> bool {
    token
        .split(|c: char| !(c.is_ascii_hexdigit() || c == ':' || c == '.'))
        .filter(|run| run.matches(':').count() >= 2)
        .any(|run| {
            let run = run.trim_end_matches('.');
            std::iter::once(0)
                .chain(run.match_indices(':').map(|(i, _)| i + 1))
                .any(|start| {
                    let candidate = &run[start.min(run.len())..];
                    // `EC2::` (from `AWS::EC2::SecurityGroup`) parses as an address too: a
                    // trailing `::` counts only after two groups (`2001:db8::`) or alone.
                    let bare_prefix = candidate.len() > 2
                        && candidate.ends_with("::")
                        && candidate.trim_end_matches(':').split(':').count() < 2;
                    candidate.matches(':').count() >= 2
                        && !bare_prefix
                        && candidate.parse::<std::net::Ipv6Addr>().is_ok()
                })
        })
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

    #[test]
    fn sensitive_tokens_are_redacted() {
        let cases = [
            ("from 198.51.100.23.", "from [redacted]."),
            ("open to 0.0.0.0/0 on 22", "open to [redacted] on 22"),
            (
                "range ::/0 and 2001:db8::7",
                "range [redacted] and [redacted]",
            ),
            ("account 123456789012 here", "account [redacted] here"),
            ("arn:aws:iam::123456789012:root", "[redacted]"),
            ("key AKIAQX7RZK4VROOTKEY1 made", "key [redacted] made"),
            ("role (AROAQX7RZK4V3EXAMPLE3:ops)", "role ([redacted])"),
            (
                "host ip-10-20-3-41 and ec2-54-210-17-88.compute-1",
                "host [redacted] and [redacted]",
            ),
            ("fe80::1%eth0", "[redacted]"),
            (
                "src:2001:db8::1 and user@fe80::1",
                "[redacted] and [redacted]",
            ),
            ("prefix 2001:db8:: here", "prefix [redacted] here"),
            ("account 1234-5678-9012.", "account [redacted]."),
            (
                "key svcAKIAQX7RZK4VROOTKEY1 and ABIAQX7RZK4VEXAMPLE9",
                "key [redacted] and [redacted]",
            ),
            (
                "full-width １９８．５１．１００．２３",
                "full-width [redacted]",
            ),
            ("mapped ::ffff:192.0.2.1", "mapped [redacted]"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_sensitive(input), expected, "{input}");
        }
        // What must survive: finding types, incident ids, severities, short numbers.
        let kept = "HIGH security INC-20240514-4ac7e6b1f0: UnauthorizedAccess:EC2/SSHBruteForce on Instance (port 22, count 3) at 02:11:37 on 2024-05-14, AWS::EC2::SecurityGroup, cafe::";
        assert_eq!(redact_sensitive(kept), kept);
    }
}
