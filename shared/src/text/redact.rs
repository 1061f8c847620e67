//! Redaction of security pages: IP addresses, AWS account ids and IAM key / unique ids,
//! however they are written. SNS gives SMS subscribers the whole message, and pages are
//! forwarded to chat and mail gateways, so a security page carries none of them.
//!
//! The text is first read the way a person reads it ([`View`]): compatibility forms folded
//! (NFKC: full-width and mathematical digits, ligatures), invisible characters dropped
//! (joiners, soft hyphens, bidi marks, combining marks), digits of every script, Unicode dots,
//! colons and dashes mapped to ASCII, defanged separators (`[.]`, `(.)`, `{.}`, `[dot]`,
//! `[:]`) read as what they stand for. Detectors run on that reading and mark spans; each span
//! grows to its whole token (a word between spaces or brackets) and the token is replaced in
//! the ORIGINAL text, so everything else comes back byte for byte.
//!
//! Deliberately broad: a false positive costs a word in an SMS, a miss leaks an indicator.
//! What is recognised (docs/CONTRACTS.md, "Redaction"):
//! - IPv4 as four groups separated by dots (decimal, `0x` hex or `0`-octal groups) or by
//!   dashes as in EC2 host names (`ip-10-20-3-41`); as one decimal integer between 1.0.0.0
//!   and 255.255.255.255 (`3325256727`) or one `0x` integer of 7–8 hex digits;
//! - IPv6 (anything `std` parses, inside any token), bare prefixes (`2001:db8::`,
//!   `2001:db8:85a3`);
//! - AWS account ids: 12 digits in a row, or digit groups adding up to 12 separated by
//!   spaces, dots, dashes or underscores (`1234 5678 9012`, `123-456-789-012`);
//! - IAM ids (`AKIA…`, `ASIA…`, `AROA…`, …) in any case, with confusable letters (Cyrillic
//!   or Greek look-alikes, `1`/`l` for `I`, `0` for `O`), also split into upper-case groups;
//! - what is left of any of these where a cut (`…`) ended the text.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// What replaces a sensitive token in security messages.
pub const REDACTED: &str = "[redacted]";

/// For text that leaves Klaxon in a security incident's page, subject, chat text, lifecycle
/// event or SNS attribute: every token that holds an IP address, an AWS account id or an IAM
/// key / unique id, in any of the encodings above, becomes `[redacted]`.
pub fn redact_sensitive(input: &str) -> String {
    if input.is_empty() {
        return String::new();
    }
    let view = View::new(input);
    let mut spans = Vec::new();
    detect_dotted_ipv4(&view.chars, &mut spans);
    detect_integer_ipv4(&view.chars, &mut spans);
    detect_account_ids(&view.chars, &mut spans);
    detect_key_ids(&view.chars, &mut spans);
    detect_ipv6(&view.chars, &mut spans);
    detect_cut_remains(&view.chars, &mut spans);
    if spans.is_empty() {
        return input.to_string();
    }
    let tokens = widen_to_tokens(&view.chars, spans);
    let mut out = String::with_capacity(input.len());
    let mut copied = 0;
    for (start, end) in tokens {
        let from = view.origin[start].0;
        let to = view.origin[end - 1].1;
        if from < copied {
            // Starts inside a character whose other half was redacted with the token before.
            copied = copied.max(to);
            continue;
        }
        out.push_str(&input[copied..from]);
        out.push_str(REDACTED);
        copied = to;
    }
    out.push_str(&input[copied..]);
    out
}

/// The text as a reader sees it, one entry per visible character, each remembering the byte
/// range of the original text it came from.
struct View {
    chars: Vec<char>,
    origin: Vec<(usize, usize)>,
}

impl View {
    fn new(input: &str) -> View {
        let mut chars = Vec::with_capacity(input.len());
        let mut origin = Vec::with_capacity(input.len());
        for (at, c) in input.char_indices() {
            let end = at + c.len_utf8();
            if c.is_ascii() {
                chars.push(c);
                origin.push((at, end));
                continue;
            }
            if is_invisible(c) {
                continue;
            }
            decompose_compatible(c, |d| {
                if is_invisible(d) || is_combining_mark(d) {
                    return;
                }
                chars.push(fold(d));
                origin.push((at, end));
            });
        }
        let mut view = View { chars, origin };
        view.undefang();
        view.join_spaced_dots();
        view
    }

    /// `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)`, `[:]`, `(:)`: one separator, whose origin is
    /// the whole bracket group.
    fn undefang(&mut self) {
        let n = self.chars.len();
        if !self.chars.iter().any(|c| matches!(c, '[' | '(' | '{')) {
            return;
        }
        let mut chars = Vec::with_capacity(n);
        let mut origin = Vec::with_capacity(n);
        let mut i = 0;
        while i < n {
            if let Some((sep, len)) = defanged_at(&self.chars[i..]) {
                chars.push(sep);
                origin.push((self.origin[i].0, self.origin[i + len - 1].1));
                i += len;
            } else {
                chars.push(self.chars[i]);
                origin.push(self.origin[i]);
                i += 1;
            }
        }
        self.chars = chars;
        self.origin = origin;
    }
}

impl View {
    /// `198 . 51 . 100 . 23`: spaces (up to three) on either side of a dot between digits
    /// are read as not there, so the numbers join as a person joins them.
    fn join_spaced_dots(&mut self) {
        let n = self.chars.len();
        let mut keep = vec![true; n];
        let mut any = false;
        for dot in 0..n {
            if self.chars[dot] != '.' {
                continue;
            }
            let mut before = dot;
            while before > 0 && dot - before < 3 && self.chars[before - 1] == ' ' {
                before -= 1;
            }
            let mut after = dot + 1;
            while after < n && after - dot <= 3 && self.chars[after] == ' ' {
                after += 1;
            }
            let digits_around = before > 0
                && self.chars[before - 1].is_ascii_digit()
                && self.chars.get(after).is_some_and(char::is_ascii_digit);
            if digits_around && (before < dot || after > dot + 1) {
                keep[before..dot].fill(false);
                keep[dot + 1..after].fill(false);
                any = true;
            }
        }
        if !any {
            return;
        }
        let mut k = 0;
        self.chars.retain(|_| {
            k += 1;
            keep[k - 1]
        });
        let mut k = 0;
        self.origin.retain(|_| {
            k += 1;
            keep[k - 1]
        });
    }
}

/// A defanged separator at the start of `rest`: the separator and how many characters the
/// bracket group takes.
fn defanged_at(rest: &[char]) -> Option<(char, usize)> {
    let close = match rest.first()? {
        '[' => ']',
        '(' => ')',
        '{' => '}',
        _ => return None,
    };
    let inner_end = rest.iter().take(7).position(|c| *c == close)?;
    let inner: String = rest[1..inner_end]
        .iter()
        .filter(|c| **c != ' ')
        .collect::<String>()
        .to_ascii_lowercase();
    let sep = match inner.as_str() {
        "." | "dot" => '.',
        ":" | "colon" => ':',
        _ => return None,
    };
    Some((sep, inner_end + 1))
}

/// Characters a reader does not see: format characters (joiners, soft hyphen, bidi marks,
/// invisible operators, tags), variation selectors, fillers.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{AD}' | '\u{34F}' | '\u{61C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF9}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
        | '\u{600}'..='\u{605}' | '\u{6DD}' | '\u{70F}' | '\u{8E2}' | '\u{110BD}' | '\u{110CD}'
    )
}

/// The first code point of each run of ten decimal digits (Unicode category Nd) outside
/// ASCII and the forms NFKC already folds (full-width, mathematical, segmented).
const DIGIT_ZEROS: [u32; 60] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
];

/// Digits of any script, and the dots, colons, dashes and spaces that look like ASCII ones,
/// as ASCII.
fn fold(c: char) -> char {
    let code = c as u32;
    if let Some(zero) = DIGIT_ZEROS
        .iter()
        .find(|zero| (**zero..**zero + 10).contains(&code))
    {
        return char::from(b'0' + (code - zero) as u8);
    }
    match c {
        '\u{3002}' | '\u{FF61}' | '\u{2024}' | '\u{2027}' | '\u{B7}' | '\u{2219}' | '\u{22C5}'
        | '\u{2022}' | '\u{30FB}' | '\u{FF65}' | '\u{66B}' | '\u{6D4}' | '\u{FE52}'
        | '\u{FE12}' | '\u{2E33}' => '.',
        '\u{2236}' | '\u{A789}' | '\u{2F8}' | '\u{FE13}' | '\u{FE55}' | '\u{FF1A}' | '\u{589}' => {
            ':'
        }
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{FF0D}'
        | '\u{2043}' => '-',
        c if c.is_whitespace() => ' ',
        c => c,
    }
}

/// Where a token ends: spaces and the punctuation that brackets or lists words.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
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
        || !c.is_ascii() && !c.is_alphanumeric()
}

/// Each span grown to the whole tokens it touches (a sentence's full stop stays outside),
/// sorted and merged.
/// Linear however many spans share one long token: a walk never goes back over what the
/// previous span's token covered.
fn widen_to_tokens(chars: &[char], mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        let covered = out.last().map_or(0, |last| last.1);
        if start < covered && end <= covered {
            continue;
        }
        let mut from = start;
        while from > covered && !is_delimiter(chars[from - 1]) {
            from -= 1;
        }
        let mut to = end.max(covered);
        while to < chars.len() && !is_delimiter(chars[to]) {
            to += 1;
        }
        while to > end && matches!(chars[to - 1], '.' | '…') {
            to -= 1;
        }
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => out.push((from, to)),
        }
    }
    out
}

/// Maximal runs of ASCII digits: (start, end).
fn digit_runs(chars: &[char]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// One group of a dotted IPv4 address: decimal (1–3 digits), `0x` hex (1–2 digits) or
/// `0`-octal (up to 4 digits), as `inet_aton` reads them.
fn is_ipv4_group(group: &[char], dotted: bool) -> bool {
    let all = |s: &[char], f: fn(&char) -> bool| !s.is_empty() && s.iter().all(f);
    if all(group, char::is_ascii_digit) {
        return group.len() <= 3
            || dotted && group.len() == 4 && group[0] == '0' && group.iter().all(|c| *c <= '7');
    }
    dotted
        && group.len() >= 3
        && group.len() <= 4
        && group[0] == '0'
        && matches!(group[1], 'x' | 'X')
        && all(&group[2..], char::is_ascii_hexdigit)
}

/// Four groups separated by dots (decimal, hex or octal) or by dashes (decimal, as in EC2
/// host names), anywhere in a run of letters, digits, dots and dashes.
fn detect_dotted_ipv4(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let mut i = 0;
    while i < chars.len() {
        if !(chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-'))
        {
            i += 1;
        }
        let run = &chars[start..i];
        if !run.iter().any(char::is_ascii_digit) {
            continue;
        }
        // Groups with the separator that follows each.
        let mut groups: Vec<(usize, usize, Option<char>)> = Vec::new();
        let mut g = 0;
        for (k, c) in run.iter().enumerate() {
            if matches!(c, '.' | '-') {
                groups.push((g, k, Some(*c)));
                g = k + 1;
            }
        }
        groups.push((g, run.len(), None));
        for window in groups.windows(4) {
            let sep = window[0].2;
            let uniform = window[..3].iter().all(|w| w.2 == sep);
            let dotted = sep == Some('.');
            if uniform
                && window
                    .iter()
                    .all(|(a, b, _)| is_ipv4_group(&run[*a..*b], dotted))
            {
                spans.push((start + window[0].0, start + window[3].1));
            }
        }
    }
}

/// One integer that is an IPv4 address (`3325256727`, `0xC6336417`): standalone (between
/// spaces, brackets, quotes or `:`/`=`/`/`/`@`), not part of a decimal number, a word, an id
/// (`INC-20240514-…`) or a date written `YYYYMMDD`.
fn detect_integer_ipv4(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let open =
        |c: Option<char>| c.is_none_or(|c| is_delimiter(c) || matches!(c, ':' | '/' | '@' | '#'));
    let standalone = |start: usize, end: usize| {
        let before = start.checked_sub(1).map(|k| chars[k]);
        let after = chars.get(end).copied();
        let sentence_end =
            after == Some('.') && !chars.get(end + 1).is_some_and(char::is_ascii_alphanumeric);
        open(before) && (open(after) || sentence_end)
    };
    for (start, end) in digit_runs(chars) {
        let len = end - start;
        if (8..=10).contains(&len) && standalone(start, end) {
            let value = decimal(&chars[start..end]);
            if (0x0100_0000..=0xFFFF_FFFF).contains(&value) && !is_date(value) {
                spans.push((start, end));
            }
        }
    }
    // `0x` and 7-8 hex digits.
    let mut i = 0;
    while i + 2 < chars.len() {
        if chars[i] == '0' && matches!(chars[i + 1], 'x' | 'X') {
            let mut end = i + 2;
            while end < chars.len() && chars[end].is_ascii_hexdigit() {
                end += 1;
            }
            if (7..=8).contains(&(end - i - 2)) && standalone(i, end) {
                spans.push((i, end));
            }
            i = end;
        } else {
            i += 1;
        }
    }
}

/// `YYYYMMDD` between 1900 and 2099.
fn is_date(value: u64) -> bool {
    let (year, month, day) = (value / 10_000, value / 100 % 100, value % 100);
    (1900..=2099).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// Twelve digits in a row, or digit groups adding up to twelve joined by up to three
/// spaces, dots, dashes or underscores.
fn detect_account_ids(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let runs = digit_runs(chars);
    let joined = |a: (usize, usize), b: (usize, usize)| {
        let gap = &chars[a.1..b.0];
        (1..=3).contains(&gap.len()) && gap.iter().all(|c| matches!(c, ' ' | '.' | '-' | '_'))
    };
    let mut chain_start = 0;
    for k in 0..=runs.len() {
        let chain_ends = k == runs.len() || (k > chain_start && !joined(runs[k - 1], runs[k]));
        if !chain_ends {
            continue;
        }
        let chain = &runs[chain_start..k];
        // Every run of consecutive groups that adds up to exactly twelve digits.
        for first in 0..chain.len() {
            let mut digits = 0;
            for last in first..chain.len() {
                digits += chain[last].1 - chain[last].0;
                if digits == 12 && (first == last || !starts_with_dated_id(chars, chain[first])) {
                    spans.push((chain[first].0, chain[last].1));
                }
                if digits >= 12 {
                    break;
                }
            }
        }
        chain_start = k;
    }
}

/// A date written `YYYYMMDD` and a dash opening a name (`INC-20240514-0000a00000`,
/// `backup-20240514-1230`): the groups after it are that name's, not an account id's. Letters
/// glued to a chain do not exempt it (`p7391 8462 5301` is still an account id).
fn starts_with_dated_id(chars: &[char], (start, end): (usize, usize)) -> bool {
    end - start == 8 && chars.get(end) == Some(&'-') && is_date(decimal(&chars[start..end]))
}

/// The value of a run of at most 19 ASCII digits.
fn decimal(digits: &[char]) -> u64 {
    digits
        .iter()
        .fold(0, |v, c| v * 10 + u64::from(*c as u8 - b'0'))
}

/// IAM unique-id prefixes: access keys (AKIA, ASIA), bearer tokens (ABIA), context keys
/// (ACCA), users, roles, groups, instance profiles, managed policies, public keys.
const KEY_PREFIXES: [&str; 11] = [
    "AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AGPA", "AIPA", "ANPA", "ANVA", "APKA",
];
/// Characters after the prefix that make an id (real ones have 16 or 17; a little less
/// still identifies one).
const KEY_BODY_MIN: usize = 12;

/// A letter or digit as the ASCII upper-case character it looks like (Cyrillic and Greek
/// look-alikes included); None for anything else.
fn key_char(c: char) -> Option<char> {
    if c.is_ascii_alphanumeric() {
        return Some(c.to_ascii_uppercase());
    }
    let latin = match c {
        'А' | 'а' | 'Α' | 'α' => 'A',
        'В' | 'в' | 'Β' | 'β' => 'B',
        'С' | 'с' | 'Ϲ' | 'ϲ' => 'C',
        'Е' | 'е' | 'Ε' | 'ε' => 'E',
        'Н' | 'н' | 'Η' | 'η' | 'һ' => 'H',
        'І' | 'і' | 'Ι' | 'ι' | 'Ӏ' | 'ӏ' | 'ı' => 'I',
        'Ј' | 'ј' => 'J',
        'К' | 'к' | 'Κ' | 'κ' => 'K',
        'М' | 'м' | 'Μ' | 'μ' => 'M',
        'Ν' | 'ν' => 'N',
        'О' | 'о' | 'Ο' | 'ο' => 'O',
        'Р' | 'р' | 'Ρ' | 'ρ' => 'P',
        'Ѕ' | 'ѕ' => 'S',
        'Т' | 'т' | 'Τ' | 'τ' => 'T',
        'Х' | 'х' | 'Χ' | 'χ' => 'X',
        'У' | 'у' | 'Υ' | 'υ' => 'Y',
        'Ζ' | 'ζ' => 'Z',
        // Stands for `I` only in a prefix (see `looks_like`).
        '|' | '!' => '|',
        _ => return None,
    };
    Some(latin)
}

/// Whether `seen` (as [`key_char`] reads it) can stand for the prefix letter `wanted`.
fn looks_like(seen: char, wanted: char) -> bool {
    seen == wanted
        || (wanted == 'I' && matches!(seen, '1' | 'L' | '|'))
        || (wanted == 'O' && seen == '0')
}

fn detect_key_ids(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let keys: Vec<Option<char>> = chars.iter().map(|c| key_char(*c)).collect();
    let mut i = 0;
    while i < keys.len() {
        if keys[i].is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < keys.len() && keys[i].is_some() {
            i += 1;
        }
        // A run of look-alike letters and digits: a prefix with enough after it.
        for at in start..i.saturating_sub(3) {
            if i - at >= 4 + KEY_BODY_MIN && starts_with_prefix(&keys[at..at + 4]) {
                spans.push((at, i));
                break;
            }
        }
    }
    detect_split_key_ids(chars, &keys, spans);
}

fn starts_with_prefix(four: &[Option<char>]) -> bool {
    KEY_PREFIXES.iter().any(|p| {
        p.chars()
            .zip(four)
            .all(|(wanted, seen)| seen.is_some_and(|s| looks_like(s, wanted)))
    })
}

/// A key written in groups (`AKIA QX7R ZK4V EXAM PLE7`, `AKIA-QX7R-…`): a group that starts
/// with a prefix, followed by short groups adding up to the body length. In upper case, a
/// digit among the groups or groups of exactly four tell a key from a shouted sentence. In
/// lower case (a tag value lower-cased on its way to a page) words are common, so the groups
/// must be of exactly four (the last may be shorter): `akia w4nz q7hv t2jx kr6m`, not
/// `asia pacific 2 region`.
fn detect_split_key_ids(chars: &[char], keys: &[Option<char>], spans: &mut Vec<(usize, usize)>) {
    let mut i = 0;
    while i + 4 <= chars.len() {
        let boundary = i == 0 || !chars[i - 1].is_alphanumeric();
        if !(boundary && starts_with_prefix(&keys[i..i + 4])) {
            i += 1;
            continue;
        }
        let lower = chars[i..i + 4].iter().all(|c| !c.is_uppercase());
        let is_group_char = |c: char| {
            if lower {
                c.is_ascii_digit() || c.is_lowercase() && key_char(c).is_some()
            } else {
                c.is_ascii_digit() || c.is_ascii_uppercase()
            }
        };
        let mut end = i + 4;
        while end < chars.len() && is_group_char(chars[end]) {
            end += 1;
        }
        let mut lengths = vec![end - i];
        let mut digit = chars[i + 4..end].iter().any(char::is_ascii_digit);
        let mut body = end - i - 4;
        let mut last = end;
        let mut k = end;
        while body < KEY_BODY_MIN + 4 {
            let gap = k;
            while k < chars.len() && k - gap < 2 && matches!(chars[k], ' ' | '-' | '_' | '.') {
                k += 1;
            }
            if k == gap {
                break;
            }
            let group = k;
            while k < chars.len() && is_group_char(chars[k]) {
                k += 1;
            }
            if k == group || k - group > 8 {
                break;
            }
            digit |= chars[group..k].iter().any(char::is_ascii_digit);
            lengths.push(k - group);
            body += k - group;
            last = k;
        }
        // Every group of four but the last, which may be shorter.
        let fours = lengths.len() > 1
            && lengths[..lengths.len() - 1].iter().all(|n| *n == 4)
            && lengths[lengths.len() - 1] <= 4;
        let shaped = if lower { fours } else { digit || fours };
        if body >= KEY_BODY_MIN && last > end && shaped {
            spans.push((i, last));
        }
        i += 1;
    }
}

/// An IPv6 address anywhere in a token (`2001:db8::7`, `::/0`, `fe80::1%eth0`,
/// `src:2001:db8::1`, `::ffff:192.0.2.1`), or a bare prefix of three or more groups whose
/// first has four hex digits (`2001:db8:85a3`; a clock's `12:00:00` stays).
fn detect_ipv6(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let is_v6_char = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '.';
    let mut i = 0;
    while i < chars.len() {
        if !is_v6_char(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_v6_char(chars[i]) {
            i += 1;
        }
        // Hex letters that run on into a word (`::Acce` of `AWS::IAM::AccessKey`, `peer2001`)
        // belong to the word, not to an address.
        let (mut from, mut to) = (start, i);
        if chars.get(to).is_some_and(char::is_ascii_alphabetic) {
            while to > from && chars[to - 1].is_ascii_hexdigit() {
                to -= 1;
            }
        }
        if from > 0 && chars[from - 1].is_ascii_alphabetic() {
            while from < to && chars[from].is_ascii_hexdigit() {
                from += 1;
            }
        }
        let (start, end) = (from, to);
        if chars[start..end].iter().filter(|c| **c == ':').count() < 2 {
            continue;
        }
        // `::` alone (from `AWS::IAM::User`) is an address only as a range (`::/0`).
        if !chars[start..end].iter().any(char::is_ascii_hexdigit) && chars.get(end) != Some(&'/') {
            continue;
        }
        let run: String = chars[start..end].iter().collect();
        if is_ipv6_run(&run) || is_bare_prefix(&run) {
            spans.push((start, end));
        }
    }
}

/// The longest written IPv6 address (`ffff:…:ffff:255.255.255.255`): a candidate that
/// starts further back than this from the run's end cannot parse, so it is not tried (a
/// long run of colons stays linear).
const IPV6_MAX_CHARS: usize = 45;

fn is_ipv6_run(run: &str) -> bool {
    let run = run.trim_end_matches('.');
    let first = run.len().saturating_sub(IPV6_MAX_CHARS);
    std::iter::once(0)
        .chain(run.match_indices(':').map(|(i, _)| i + 1))
        .filter(|start| *start >= first)
        .any(|start| {
            let candidate = &run[start.min(run.len())..];
            // `EC2::` (from `AWS::EC2::SecurityGroup`) parses as an address too: a trailing
            // `::` counts only after two groups (`2001:db8::`) or alone.
            let bare_prefix = candidate.len() > 2
                && candidate.ends_with("::")
                && candidate.trim_end_matches(':').split(':').count() < 2;
            candidate.matches(':').count() >= 2
                && !bare_prefix
                && candidate.parse::<std::net::Ipv6Addr>().is_ok()
        })
}

fn is_bare_prefix(run: &str) -> bool {
    run.split(':')
        .filter(|g| !g.is_empty())
        .collect::<Vec<_>>()
        .windows(3)
        .any(|w| {
            w[0].len() == 4
                && w.iter()
                    .all(|g| (1..=4).contains(&g.len()) && g.chars().all(|c| c.is_ascii_hexdigit()))
        })
}

/// How far back from a cut its remains are looked for: more than any value's written form
/// (an account id in groups with three-character separators is 45).
const CUT_LOOKBACK: usize = 64;

/// What a cut left of a value: six or more digits (in groups), dotted numbers of four or
/// more digits, or an IAM prefix, right before the cut marker (`…`, which the reading sees as
/// `...`, as it sees a subject's `...`).
fn detect_cut_remains(chars: &[char], spans: &mut Vec<(usize, usize)>) {
    let cuts = (0..chars.len().saturating_sub(2))
        .filter(|&k| chars[k..k + 3] == ['.', '.', '.'] && (k == 0 || chars[k - 1] != '.'));
    for cut in cuts {
        // What a cut leaves of a value is short: looking further back finds nothing more,
        // and would make a text of many cuts quadratic.
        let floor = cut.saturating_sub(CUT_LOOKBACK);
        let mut start = cut;
        while start > floor && !is_delimiter(chars[start - 1]) {
            start -= 1;
        }
        // Digits joined like an account id, walking back over separators too.
        let mut digits = 0;
        let mut k = cut;
        while k > floor
            && (chars[k - 1].is_ascii_digit() || matches!(chars[k - 1], ' ' | '.' | '-' | '_'))
        {
            if chars[k - 1].is_ascii_digit() {
                digits += 1;
            }
            k -= 1;
        }
        while k < cut && !chars[k].is_ascii_digit() {
            k += 1;
        }
        let token = &chars[start..cut];
        let numbers: Vec<&[char]> = token
            .split(|c| *c == '.')
            .filter(|g| !g.is_empty() && g.iter().all(char::is_ascii_digit))
            .collect();
        let dotted = numbers.len() >= 2 && numbers.iter().map(|g| g.len()).sum::<usize>() >= 4;
        let keys: Vec<Option<char>> = token.iter().map(|c| key_char(*c)).collect();
        let key_prefix =
            (0..keys.len().saturating_sub(3)).any(|at| starts_with_prefix(&keys[at..at + 4]));
        if digits >= 6 || dotted || key_prefix {
            spans.push((k.min(start), cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_forms_are_redacted() {
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
            // The encodings of the adversarial review.
            ("ip 198.51.100[.]23 seen", "ip [redacted] seen"),
            ("ip 198(.)51(.)100(.)23 seen", "ip [redacted] seen"),
            ("ip 198[dot]51[dot]100[dot]23", "ip [redacted]"),
            ("v6 2001[:]db8[:][:]7", "v6 [redacted]"),
            ("ip 198。51。100。23", "ip [redacted]"),
            ("ip ١٩٨.٥١.١٠٠.٢٣", "ip [redacted]"),
            ("ip 1\u{2060}98.51.1\u{200D}00.23", "ip [redacted]"),
            ("ip 3325256727 now", "ip [redacted] now"),
            ("ip 0xC6336417 now", "ip [redacted] now"),
            ("ip 0xc6.0x33.0x64.0x17", "ip [redacted]"),
            ("ip 0306.063.0144.027", "ip [redacted]"),
            ("net 2001:db8:85a3 block", "net [redacted] block"),
            ("acct 1234 5678 9012 x", "acct [redacted] x"),
            ("acct 1234.5678.9012 x", "acct [redacted] x"),
            ("acct 123-456-789-012 x", "acct [redacted] x"),
            ("acct 1234_5678_9012 x", "acct [redacted] x"),
            ("acct 12\u{AD}34567890\u{200B}12 x", "acct [redacted] x"),
            ("key akiaqx7rzk4vrootkey1 x", "key [redacted] x"),
            ("key AKlAQX7RZK4VROOTKEY1 x", "key [redacted] x"),
            ("key AK1AQX7RZK4VROOTKEY1 x", "key [redacted] x"),
            ("key АКІАQX7RZK4VROOTKEY1 x", "key [redacted] x"),
            ("key AKIA QX7R ZK4V ROOT KEY1 x", "key [redacted] x"),
            ("cut 12345678901…", "cut [redacted]…"),
            ("cut 198.51.…", "cut [redacted].…"),
            ("ip 198 . 51 . 100 . 23 seen", "ip [redacted] seen"),
            ("ip 198 [.] 51 [.] 100 [.] 23 seen", "ip [redacted] seen"),
            ("key AK|AQX7RZK4VROOTKEY1 x", "key [redacted] x"),
            ("key ακιαqx7rzk4vrootkey1 x", "key [redacted] x"),
            ("env akia-qx7r-zk4v-root-key1 x", "env [redacted] x"),
            ("acct p7391 8462 5301 tail", "acct [redacted] tail"),
            ("acct 7391-8462-5301tail", "acct [redacted]"),
            ("peer2001:db8::7 x", "[redacted] x"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_sensitive(input), expected, "{input}");
        }
    }

    #[test]
    fn ordinary_text_survives() {
        let kept = [
            "HIGH security INC-20240514-4ac7e6b1f0: UnauthorizedAccess:EC2/SSHBruteForce on Instance (port 22, count 3) at 02:11:37 on 2024-05-14, AWS::EC2::SecurityGroup, cafe::",
            "State:       ALARM at 2024-05-14T02:11:37.123Z (was OK)",
            "Threshold Crossed: 1 out of the last 1 datapoints [97.5 (14/05/24 12:00:00)] was greater than the threshold (90.0).",
            "version 1.2.3, v2.10.4, ports 0-65535, 300s, PT5M, /24",
            "instance i-0123456789abcdef0 in us-east-1",
            "Группа безопасности открыта для всех",
            "AWS::IAM::AccessKey, AWS::S3::Bucket, AWS::CloudTrail::Trail",
            "INC-20240514-0000a00000 and backup-20240514-1230",
            "region asia pacific 2 region, asia-southeast-2 plan, asia east west",
            "step 1. 2 more, 3 . 4 of them",
            "セキュリティグループが公開されています",
        ];
        for text in kept {
            assert_eq!(redact_sensitive(text), text);
        }
    }

    /// The price of the broad rules (docs/CONTRACTS.md (b2)): a browser version reads as an
    /// IPv4 address, a lower-case `asia` with groups of four as a split key id.
    #[test]
    fn some_harmless_tokens_are_redacted_too() {
        assert_eq!(
            redact_sensitive("Chrome/124.0.0.0 Safari"),
            "[redacted] Safari"
        );
        assert_eq!(
            redact_sensitive("browser 124.0.0.0 and env asia-qx7r-zk4v-root"),
            "browser [redacted] and env [redacted]"
        );
    }

    #[test]
    fn digit_zeros_start_runs_of_ten_digits() {
        for zero in DIGIT_ZEROS {
            for k in 0..10 {
                let c = char::from_u32(zero + k).unwrap();
                assert!(c.is_numeric(), "{c:?} U+{:X}", zero + k);
            }
        }
    }
}
