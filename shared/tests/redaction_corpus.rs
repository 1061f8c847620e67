//! Redaction of security pages (issue 14, items 1-2): a security page must never carry an IP
//! address, an AWS account id or an IAM access key / unique id, however it is written. SNS
//! gives SMS subscribers the whole message, and pages are forwarded to chat and mail gateways.
//!
//! What is here:
//! - a GENERATED must-go corpus: a few distinctive canonical values (IPv4, IPv6, account ids,
//!   key and role ids) crossed with encoders (defanged, Unicode dots and digits, invisible
//!   joiners, separators, confusable letters, integer and hex IPv4, EC2 host names, and
//!   contexts: URLs, ARNs, `user@host`, quotes, ...). Every case is named `value / encoder`,
//!   so a failure says which encoding got through;
//! - a must-stay corpus: what Klaxon's security pages need to keep byte for byte (timestamps
//!   in every format Klaxon prints, incident ids, ports, versions, counts, durations, finding
//!   types, Regions, non-Latin text, CloudWatch reason lines);
//! - unit checks on `klaxon::text::redact_sensitive`;
//! - end-to-end checks through the embedded engine with the shipped runbooks (GuardDuty and
//!   Security Hub ASFF findings carrying every must-go encoding in the fields an attacker
//!   controls), a cut test (a long title with an account id straddling every cut point), a
//!   check that non-security pages are NOT redacted;
//! - property tests (random values through random encoders; random benign shapes).
//!
//! "Did not survive" is decided by an INDEPENDENT detector ([`leak`]), never by calling the
//! redactor again: it normalises the text itself (NFKD, drops format and combining characters,
//! maps digits of every script, Unicode dots/colons/dashes and Cyrillic/Greek look-alikes to
//! ASCII, reads defanged separators) and then looks for the canonical value's parts: three
//! octets of an IPv4 in a row (or the address as one decimal / hex integer), two groups of an
//! IPv6 in a row (or one of its distinctive groups), six consecutive digits of an account id
//! (also across separators: what a cut before redaction leaves), eight consecutive characters
//! of a key id's confusable-folded skeleton. Tests below check that the detector sees every
//! case BEFORE redaction (so a "pass" is never a blind detector) and stays silent on the
//! must-stay corpus and on clean pages (so the canonical values cannot match by accident).

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use klaxon::engine::Report;
use klaxon::memory::{self, Published, PutOnBus};
use klaxon::model::Outcome;
use klaxon::route::Route;
use klaxon::text::redact_sensitive;
use proptest::prelude::*;
use serde_json::{json, Value};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

// =========================================================================================
// Canonical values. Distinctive, so that the detector cannot fire on anything else a page
// holds (the samples' own 123456789012, 10.20.3.41, dates, hex ids): checked by
// `the_detector_is_silent_on_must_stay_text_and_on_clean_pages` and the e2e baseline.

const V4_A: [u8; 4] = [198, 51, 100, 23];
const V4_B: [u8; 4] = [203, 0, 113, 77];
const V6_A: &str = "2001:db8:85a3::8a2e:370:7334";
const ACCOUNT_A: &str = "739184625301";
const ACCOUNT_B: &str = "604918273645";
const KEY_AKIA: &str = "AKIAW4NZQ7HVT2JXKR6M";
const KEY_ASIA: &str = "ASIAZ2B4C6D8FEXAMPL3";
const ROLE_AROA: &str = "AROAX5T3GQ7W2KZN4YBHR";
/// One id for each of the other IAM unique-id prefixes.
const OTHER_IDS: &[&str] = &[
    "ABIAR7K2M5Q3W6T4Z2YN",
    "ACCAH3N6P2V7X4B5D2FG",
    "AIDAM6Q2T7W3Z5C4R2KJ5",
    "AGPAT2W5Z3C6F4H7K2MN",
    "AIPAV3Y6B2E5H7K4N2QS",
    "ANPAD4G7J2M5P3S6V2XZ",
    "ANVAF5J2N6R3U7X4A2DH",
    "APKAK6N3Q7T2W5Z4C3GE",
];
const PREFIXES: &[&str] = &[
    "AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AGPA", "AIPA", "ANPA", "ANVA", "APKA",
];
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[derive(Clone, Debug)]
enum Canon {
    V4([u8; 4]),
    /// IPv6 groups, lower-case hex without leading zeros, `::` expanded (`0`).
    V6(Vec<String>),
    Account(String),
    Key(String),
}

fn v6_groups(address: &str) -> Vec<String> {
    let a: Ipv6Addr = address.parse().expect("a valid IPv6 address");
    a.segments().iter().map(|g| format!("{g:x}")).collect()
}

// =========================================================================================
// The independent detector.

/// Zero of every run of Unicode decimal digits (general category Nd), ASCII included.
const ND_ZEROS: &[u32] = &[
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66,
    0xDE6, 0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
    0x1FBF0,
];

/// Look-alikes a reader takes for Latin letters.
const LOOKALIKES: &[(char, char)] = &[
    // Cyrillic
    ('\u{0410}', 'A'),
    ('\u{0412}', 'B'),
    ('\u{0415}', 'E'),
    ('\u{041A}', 'K'),
    ('\u{041C}', 'M'),
    ('\u{041D}', 'H'),
    ('\u{041E}', 'O'),
    ('\u{0420}', 'P'),
    ('\u{0421}', 'C'),
    ('\u{0422}', 'T'),
    ('\u{0425}', 'X'),
    ('\u{0406}', 'I'),
    ('\u{04C0}', 'I'),
    ('\u{0408}', 'J'),
    ('\u{0405}', 'S'),
    ('\u{0430}', 'a'),
    ('\u{0435}', 'e'),
    ('\u{043E}', 'o'),
    ('\u{0440}', 'p'),
    ('\u{0441}', 'c'),
    ('\u{0445}', 'x'),
    ('\u{0443}', 'y'),
    ('\u{0456}', 'i'),
    ('\u{0458}', 'j'),
    ('\u{0455}', 's'),
    ('\u{043A}', 'k'),
    ('\u{04CF}', 'l'),
    // Greek
    ('\u{0391}', 'A'),
    ('\u{0392}', 'B'),
    ('\u{0395}', 'E'),
    ('\u{0396}', 'Z'),
    ('\u{0397}', 'H'),
    ('\u{0399}', 'I'),
    ('\u{039A}', 'K'),
    ('\u{039C}', 'M'),
    ('\u{039D}', 'N'),
    ('\u{039F}', 'O'),
    ('\u{03A1}', 'P'),
    ('\u{03A4}', 'T'),
    ('\u{03A5}', 'Y'),
    ('\u{03A7}', 'X'),
    ('\u{03B1}', 'a'),
    ('\u{03B9}', 'i'),
    ('\u{03BA}', 'k'),
    ('\u{03BD}', 'v'),
    ('\u{03BF}', 'o'),
    ('\u{03C1}', 'p'),
    ('\u{03C4}', 't'),
    ('\u{03C5}', 'u'),
    ('\u{03C7}', 'x'),
];

/// Characters a reader does not see (format characters, fillers, variation selectors).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{61C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

fn script_digit(c: char) -> Option<u8> {
    let u = c as u32;
    ND_ZEROS
        .iter()
        .find(|&&z| u >= z && u < z + 10)
        .map(|z| (u - z) as u8)
}

fn fold(c: char) -> char {
    if let Some(d) = script_digit(c) {
        return char::from(b'0' + d);
    }
    match c {
        '\u{3002}' | '\u{FF61}' | '\u{FF0E}' | '\u{2024}' | '\u{2027}' | '\u{2219}' | '\u{B7}'
        | '\u{30FB}' | '\u{FF65}' | '\u{2022}' | '\u{22C5}' | '\u{FE52}' | '\u{701}'
        | '\u{702}' | '\u{2E33}' => '.',
        '\u{FF1A}' | '\u{2236}' | '\u{A789}' | '\u{2D0}' | '\u{FE55}' | '\u{FE13}' | '\u{589}'
        | '\u{5C3}' => ':',
        '\u{2010}'..='\u{2015}'
        | '\u{2212}'
        | '\u{FE58}'
        | '\u{FE63}'
        | '\u{FF0D}'
        | '\u{2043}' => '-',
        '\t' | '\r' => ' ',
        c if c.is_whitespace() && c != '\n' => ' ',
        c => LOOKALIKES
            .iter()
            .find(|(from, _)| *from == c)
            .map_or(c, |(_, to)| *to),
    }
}

const DEFANGS: &[(&str, &str)] = &[
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("<.>", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("{dot}", "."),
    ("<dot>", "."),
    ("[:]", ":"),
    ("(:)", ":"),
    ("{:}", ":"),
    ("[colon]", ":"),
];

/// The text as a reader reads it, ASCII lower-case where it is ASCII.
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfkd() {
        if c == '\n' {
            out.push('\n');
        } else if c == '\t' || c == '\r' {
            out.push(' ');
        } else if !(invisible(c) || is_combining_mark(c) || c.is_control()) {
            out.push(fold(c));
        }
    }
    let mut out = out.to_ascii_lowercase();
    for (from, to) in DEFANGS {
        out = out.replace(from, to);
    }
    out
}

struct Tok {
    text: String,
    hex: bool,
    start: usize,
    end: usize,
}

/// Decimal digit runs and `0x` hex numbers.
fn numeric_groups(n: &[char]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < n.len() {
        if n[i] == '0' && i + 2 < n.len() && n[i + 1] == 'x' && n[i + 2].is_ascii_hexdigit() {
            let mut j = i + 2;
            while j < n.len() && n[j].is_ascii_hexdigit() {
                j += 1;
            }
            out.push(Tok {
                text: n[i + 2..j].iter().collect(),
                hex: true,
                start: i,
                end: j,
            });
            i = j;
        } else if n[i].is_ascii_digit() {
            let mut j = i;
            while j < n.len() && n[j].is_ascii_digit() {
                j += 1;
            }
            out.push(Tok {
                text: n[i..j].iter().collect(),
                hex: false,
                start: i,
                end: j,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Alphanumeric runs (IPv6 groups are among them).
fn alnum_tokens(n: &[char]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < n.len() {
        if n[i].is_alphanumeric() {
            let mut j = i;
            while j < n.len() && n[j].is_alphanumeric() {
                j += 1;
            }
            let text: String = n[i..j].iter().collect();
            out.push(Tok {
                hex: text.chars().all(|c| c.is_ascii_hexdigit()),
                text,
                start: i,
                end: j,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Tokens read as one value: separated by at most three separator characters (`.`, `-`,
/// ` `, `:`, `_`, `/`, ...) on one line.
fn chains(n: &[char], tokens: Vec<Tok>) -> Vec<Vec<Tok>> {
    let mut out: Vec<Vec<Tok>> = Vec::new();
    for t in tokens {
        let joined = out.last().and_then(|c| c.last()).is_some_and(|prev| {
            let gap = &n[prev.end..t.start];
            gap.len() <= 3 && gap.iter().all(|c| !c.is_alphanumeric() && *c != '\n')
        });
        if joined {
            out.last_mut().unwrap().push(t);
        } else {
            out.push(vec![t]);
        }
    }
    out
}

fn strip_zeros(s: &str) -> &str {
    let t = s.trim_start_matches('0');
    if t.is_empty() && !s.is_empty() {
        "0"
    } else {
        t
    }
}

fn group_value(t: &Tok) -> Option<u64> {
    let digits = strip_zeros(&t.text);
    if t.hex {
        (digits.len() <= 16)
            .then(|| u64::from_str_radix(digits, 16).ok())
            .flatten()
    } else {
        (digits.len() <= 19).then(|| digits.parse().ok()).flatten()
    }
}

fn leak_v4(o: [u8; 4], n: &[char]) -> Option<String> {
    let ip = u64::from(u32::from_be_bytes(o));
    let ip_decimal = ip.to_string();
    for chain in chains(n, numeric_groups(n)) {
        if let Some(t) = chain.iter().find(|t| group_value(t) == Some(ip)) {
            return Some(format!("the address as one integer `{}`", t.text));
        }
        let values: Vec<Option<u64>> = chain.iter().map(group_value).collect();
        for (k, w) in values.windows(3).enumerate() {
            for start in [0, 1] {
                let want: Vec<Option<u64>> = o[start..start + 3]
                    .iter()
                    .map(|b| Some(u64::from(*b)))
                    .collect();
                if w == want.as_slice() {
                    let seen: Vec<&str> = chain[k..k + 3].iter().map(|t| t.text.as_str()).collect();
                    return Some(format!("three octets in a row {seen:?}"));
                }
            }
        }
        let mut concat = String::new();
        for t in &chain {
            if t.hex {
                concat.clear();
            } else {
                concat.push_str(&t.text);
                if concat.contains(&ip_decimal) {
                    return Some(format!("the address as a split integer `{concat}`"));
                }
            }
        }
    }
    None
}

fn leak_account(account: &str, n: &[char]) -> Option<String> {
    for chain in chains(n, numeric_groups(n)) {
        let mut concat = String::new();
        for t in &chain {
            if t.hex {
                concat.clear();
                continue;
            }
            concat.push_str(&t.text);
            for i in 0..=account.len() - 6 {
                let w = &account[i..i + 6];
                if concat.contains(w) {
                    return Some(format!(
                        "six digits of the account id in a row `{w}` (in `{concat}`)"
                    ));
                }
            }
        }
    }
    None
}

/// Upper-case, only ASCII letters and digits, `I`/`l`/`1`/`|` read as `I` and `0` as `O`.
fn skeleton(s: &str) -> String {
    s.chars()
        .filter_map(|c| {
            let c = match c {
                '|' | '!' => 'I',
                c => c.to_ascii_uppercase(),
            };
            c.is_ascii_alphanumeric().then_some(match c {
                'L' | '1' => 'I',
                '0' => 'O',
                c => c,
            })
        })
        .collect()
}

fn leak_key(key: &str, normalised: &str) -> Option<String> {
    let k = skeleton(key);
    let out = skeleton(normalised);
    let k: Vec<char> = k.chars().collect();
    for w in k.windows(8) {
        let w: String = w.iter().collect();
        if out.contains(&w) {
            return Some(format!("eight characters of the id in a row `{w}`"));
        }
    }
    None
}

fn leak_v6(groups: &[String], n: &[char]) -> Option<String> {
    let distinctive: Vec<&str> = groups
        .iter()
        .map(String::as_str)
        .filter(|g| g.len() >= 3 && g.chars().any(|c| c.is_ascii_alphabetic()))
        .collect();
    let pairs: Vec<(&str, &str)> = groups
        .windows(2)
        .filter(|w| w[0] != "0" && w[1] != "0")
        .map(|w| (w[0].as_str(), w[1].as_str()))
        .collect();
    let tokens = alnum_tokens(n);
    if let Some(t) = tokens
        .iter()
        .find(|t| t.hex && distinctive.contains(&strip_zeros(&t.text)))
    {
        return Some(format!("the group `{}`", t.text));
    }
    for chain in chains(n, tokens) {
        for w in chain.windows(2) {
            if !(w[0].hex && w[1].hex) {
                continue;
            }
            let pair = (strip_zeros(&w[0].text), strip_zeros(&w[1].text));
            if pairs.contains(&pair) {
                return Some(format!("two groups in a row `{}:{}`", w[0].text, w[1].text));
            }
        }
    }
    None
}

/// Whether (and how) `text` still shows `canon` to a reader.
fn leak(canon: &Canon, text: &str) -> Option<String> {
    let n = normalise(text);
    let chars: Vec<char> = n.chars().collect();
    match canon {
        Canon::V4(o) => leak_v4(*o, &chars),
        Canon::V6(groups) => leak_v6(groups, &chars),
        Canon::Account(a) => leak_account(a, &chars),
        Canon::Key(k) => leak_key(k, &n),
    }
}

// =========================================================================================
// Encoders.

fn dotted(o: [u8; 4], sep: &str) -> String {
    o.iter()
        .map(|b| b.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// ASCII digits written in the script whose zero is `zero`.
fn digits_to(s: &str, zero: u32) -> String {
    s.chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(zero + d).unwrap(),
            _ => c,
        })
        .collect()
}

/// Every printable ASCII character in its full-width form.
fn fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| {
            if ('!'..='~').contains(&c) {
                char::from_u32(c as u32 + 0xFEE0).unwrap()
            } else {
                c
            }
        })
        .collect()
}

fn between_every(s: &str, sep: char) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 {
            out.push(sep);
        }
        out.push(c);
    }
    out
}

/// `sep` between two ASCII characters that `pred` accepts.
fn inside(s: &str, sep: char, pred: fn(char) -> bool) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        out.push(*c);
        if i + 1 < chars.len() && pred(*c) && pred(chars[i + 1]) {
            out.push(sep);
        }
    }
    out
}

fn inside_digits(s: &str, sep: char) -> String {
    inside(s, sep, |c| c.is_ascii_digit())
}

fn inside_alnum(s: &str, sep: char) -> String {
    inside(s, sep, |c| c.is_ascii_alphanumeric())
}

fn after_each(s: &str, mark: char, pred: fn(char) -> bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        out.push(c);
        if pred(c) {
            out.push(mark);
        }
    }
    out
}

const CYRILLIC: &[(char, char)] = &[
    ('A', '\u{0410}'),
    ('B', '\u{0412}'),
    ('C', '\u{0421}'),
    ('E', '\u{0415}'),
    ('H', '\u{041D}'),
    ('I', '\u{0406}'),
    ('J', '\u{0408}'),
    ('K', '\u{041A}'),
    ('M', '\u{041C}'),
    ('O', '\u{041E}'),
    ('P', '\u{0420}'),
    ('S', '\u{0405}'),
    ('T', '\u{0422}'),
    ('X', '\u{0425}'),
    ('a', '\u{0430}'),
    ('c', '\u{0441}'),
    ('e', '\u{0435}'),
    ('i', '\u{0456}'),
    ('j', '\u{0458}'),
    ('k', '\u{043A}'),
    ('o', '\u{043E}'),
    ('p', '\u{0440}'),
    ('s', '\u{0455}'),
    ('x', '\u{0445}'),
    ('y', '\u{0443}'),
];

const GREEK: &[(char, char)] = &[
    ('A', '\u{0391}'),
    ('B', '\u{0392}'),
    ('E', '\u{0395}'),
    ('H', '\u{0397}'),
    ('I', '\u{0399}'),
    ('K', '\u{039A}'),
    ('M', '\u{039C}'),
    ('N', '\u{039D}'),
    ('O', '\u{039F}'),
    ('P', '\u{03A1}'),
    ('T', '\u{03A4}'),
    ('X', '\u{03A7}'),
    ('Y', '\u{03A5}'),
    ('Z', '\u{0396}'),
];

fn look_alike(s: &str, table: &[(char, char)]) -> String {
    s.chars()
        .map(|c| {
            table
                .iter()
                .find(|(from, _)| *from == c)
                .map_or(c, |(_, to)| *to)
        })
        .collect()
}

/// `f` applied to the key's four-letter prefix only.
fn on_prefix(key: &str, f: impl Fn(&str) -> String) -> String {
    format!("{}{}", f(&key[..4]), &key[4..])
}

fn math_bold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'A'..='Z' => char::from_u32(0x1D400 + (c as u32 - 'A' as u32)).unwrap(),
            'a'..='z' => char::from_u32(0x1D41A + (c as u32 - 'a' as u32)).unwrap(),
            '0'..='9' => char::from_u32(0x1D7CE + (c as u32 - '0' as u32)).unwrap(),
            c => c,
        })
        .collect()
}

fn groups_of(s: &str, sizes: &[usize], seps: &[&str]) -> String {
    let mut out = String::new();
    let mut at = 0;
    for (i, size) in sizes.iter().enumerate() {
        if i > 0 {
            out.push_str(seps[(i - 1) % seps.len()]);
        }
        out.push_str(&s[at..at + size]);
        at += size;
    }
    out.push_str(&s[at..]);
    out
}

/// `s` in groups of `size` characters (the last one may be shorter) joined by `sep`.
fn chunks(s: &str, size: usize, sep: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    chars
        .chunks(size)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(sep)
}

fn v6_expanded(s: &str) -> String {
    let a: Ipv6Addr = s.parse().unwrap();
    a.segments()
        .iter()
        .map(|g| format!("{g:04x}"))
        .collect::<Vec<_>>()
        .join(":")
}

type V4Encoder = (&'static str, fn([u8; 4]) -> String);
type TextEncoder = (&'static str, fn(&str) -> String);
type KeyEncoder = (&'static str, fn(&str) -> Option<String>);

fn v4_encoders() -> Vec<V4Encoder> {
    let mut v: Vec<V4Encoder> = Vec::new();
    let mut add = |name: &'static str, f: fn([u8; 4]) -> String| v.push((name, f));
    add("plain", |o| dotted(o, "."));
    add("defanged [.] before the last group", |o| {
        format!("{}.{}.{}[.]{}", o[0], o[1], o[2], o[3])
    });
    add("defanged [.]", |o| dotted(o, "[.]"));
    add("defanged (.)", |o| dotted(o, "(.)"));
    add("defanged {.}", |o| dotted(o, "{.}"));
    add("defanged [dot]", |o| dotted(o, "[dot]"));
    add("defanged (dot)", |o| dotted(o, "(dot)"));
    add("defanged {dot}", |o| dotted(o, "{dot}"));
    add("defanged [DOT] upper-case", |o| dotted(o, "[DOT]"));
    add("full-width digits and full stop", |o| {
        fullwidth(&dotted(o, "."))
    });
    add("full-width digits, ASCII dots", |o| {
        digits_to(&dotted(o, "."), 0xFF10)
    });
    add("ideographic full stop U+3002", |o| dotted(o, "\u{3002}"));
    add("halfwidth ideographic full stop U+FF61", |o| {
        dotted(o, "\u{FF61}")
    });
    add("one dot leader U+2024", |o| dotted(o, "\u{2024}"));
    add("hyphenation point U+2027", |o| dotted(o, "\u{2027}"));
    add("bullet operator U+2219", |o| dotted(o, "\u{2219}"));
    add("middle dot U+00B7", |o| dotted(o, "\u{B7}"));
    add("katakana middle dot U+30FB", |o| dotted(o, "\u{30FB}"));
    add("small full stop U+FE52", |o| dotted(o, "\u{FE52}"));
    add("Arabic-Indic digits", |o| digits_to(&dotted(o, "."), 0x660));
    add("Extended Arabic-Indic (Persian) digits", |o| {
        digits_to(&dotted(o, "."), 0x6F0)
    });
    add("Devanagari digits", |o| digits_to(&dotted(o, "."), 0x966));
    add("Bengali digits", |o| digits_to(&dotted(o, "."), 0x9E6));
    add("Thai digits", |o| digits_to(&dotted(o, "."), 0xE50));
    add("mathematical bold digits", |o| {
        digits_to(&dotted(o, "."), 0x1D7CE)
    });
    add("mathematical monospace digits", |o| {
        digits_to(&dotted(o, "."), 0x1D7F6)
    });
    add("mixed scripts, one per group", |o| {
        format!(
            "{}.{}.{}.{}",
            digits_to(&o[0].to_string(), 0x660),
            digits_to(&o[1].to_string(), 0x966),
            digits_to(&o[2].to_string(), 0xFF10),
            digits_to(&o[3].to_string(), 0x1D7CE)
        )
    });
    add("word joiner U+2060 inside digits", |o| {
        inside_digits(&dotted(o, "."), '\u{2060}')
    });
    add("soft hyphen U+00AD inside digits", |o| {
        inside_digits(&dotted(o, "."), '\u{AD}')
    });
    add("byte order mark U+FEFF inside digits", |o| {
        inside_digits(&dotted(o, "."), '\u{FEFF}')
    });
    add("zero-width space U+200B between every character", |o| {
        between_every(&dotted(o, "."), '\u{200B}')
    });
    add(
        "zero-width non-joiner U+200C between every character",
        |o| between_every(&dotted(o, "."), '\u{200C}'),
    );
    add("zero-width joiner U+200D between every character", |o| {
        between_every(&dotted(o, "."), '\u{200D}')
    });
    add("decimal integer", |o| u32::from_be_bytes(o).to_string());
    add("hex integer 0x upper-case", |o| {
        format!("0x{:08X}", u32::from_be_bytes(o))
    });
    add("hex integer 0x lower-case", |o| {
        format!("0x{:08x}", u32::from_be_bytes(o))
    });
    add("dotted hex 0x groups", |o| {
        o.iter()
            .map(|b| format!("0x{b:02x}"))
            .collect::<Vec<_>>()
            .join(".")
    });
    add("EC2 host name ip-a-b-c-d", |o| {
        format!("ip-{}", dotted(o, "-"))
    });
    add("EC2 private DNS name", |o| {
        format!("ip-{}.ec2.internal", dotted(o, "-"))
    });
    add("EC2 public DNS name", |o| {
        format!("ec2-{}.compute-1.amazonaws.com", dotted(o, "-"))
    });
    add("defanged [.] + full-width digits", |o| {
        digits_to(&dotted(o, "[.]"), 0xFF10)
    });
    add("defanged [.] all full-width (brackets too)", |o| {
        fullwidth(&dotted(o, "[.]"))
    });
    add("defanged [.] + Arabic-Indic digits", |o| {
        digits_to(&dotted(o, "[.]"), 0x660)
    });
    add("defanged (dot) + Devanagari digits", |o| {
        digits_to(&dotted(o, "(dot)"), 0x966)
    });
    add("defanged [.] + word joiners inside digits", |o| {
        inside_digits(&dotted(o, "[.]"), '\u{2060}')
    });
    add(
        "full-width + zero-width joiner between every character",
        |o| between_every(&fullwidth(&dotted(o, ".")), '\u{200D}'),
    );
    add("EC2 host name + full-width digits", |o| {
        digits_to(&format!("ip-{}", dotted(o, "-")), 0xFF10)
    });
    add("ideographic full stop + Arabic-Indic digits", |o| {
        digits_to(&dotted(o, "\u{3002}"), 0x660)
    });
    add("in a URL with port", |o| {
        format!("http://{}:8080/login", dotted(o, "."))
    });
    add("in a defanged URL hxxp://", |o| {
        format!("hxxp://{}/admin", dotted(o, "[.]"))
    });
    add("user@host", |o| format!("root@{}", dotted(o, ".")));
    add("in parentheses", |o| format!("({})", dotted(o, ".")));
    add("in double quotes", |o| format!("\"{}\"", dotted(o, ".")));
    add("in single quotes", |o| format!("'{}'", dotted(o, ".")));
    add("in backticks", |o| format!("`{}`", dotted(o, ".")));
    add("after a colon", |o| format!("src:{}", dotted(o, ".")));
    add("key=value", |o| format!("client_ip={}", dotted(o, ".")));
    add("CIDR /32", |o| format!("{}/32", dotted(o, ".")));
    add("with port :22", |o| format!("{}:22", dotted(o, ".")));
    add("IPv4-mapped IPv6", |o| format!("::ffff:{}", dotted(o, ".")));
    add("end of a sentence", |o| format!("{}.", dotted(o, ".")));
    add("wildcard DNS host name", |o| {
        format!("app.{}.nip.io", dotted(o, "."))
    });
    add("JSON value", |o| {
        format!("{{\"sourceIPAddress\":\"{}\"}}", dotted(o, "."))
    });
    add("X-Forwarded-For header", |o| {
        format!("X-Forwarded-For: {}", dotted(o, "."))
    });
    add("extra: zero-padded groups", |o| {
        format!("{:03}.{:03}.{:03}.{:03}", o[0], o[1], o[2], o[3])
    });
    add("extra: spaces around the dots", |o| dotted(o, " . "));
    add("extra: combining low line under every digit", |o| {
        after_each(&dotted(o, "."), '\u{332}', |c| c.is_ascii_digit())
    });
    v
}

fn v6_encoders() -> Vec<TextEncoder> {
    let mut v: Vec<TextEncoder> = Vec::new();
    let mut add = |name: &'static str, f: fn(&str) -> String| v.push((name, f));
    add("plain", |s| s.to_string());
    add("expanded with leading zeros", v6_expanded);
    add("upper-case", |s| s.to_ascii_uppercase());
    add("defanged [:]", |s| s.replace(':', "[:]"));
    add("full-width (digits, letters, colons)", fullwidth);
    add("zero-width space U+200B between every character", |s| {
        between_every(s, '\u{200B}')
    });
    add("word joiner U+2060 inside groups", |s| {
        inside_alnum(s, '\u{2060}')
    });
    add("soft hyphen U+00AD inside groups", |s| {
        inside_alnum(s, '\u{AD}')
    });
    add("Arabic-Indic digits", |s| digits_to(s, 0x660));
    add("expanded + full-width", |s| fullwidth(&v6_expanded(s)));
    add("in a URL with port", |s| format!("https://[{s}]:8443/"));
    add("with a zone id", |s| format!("{s}%eth0"));
    add("with a prefix length", |s| format!("{s}/64"));
    add("after a colon", |s| format!("src:{s}"));
    add("in parentheses", |s| format!("({s})"));
    add("in double quotes", |s| format!("\"{s}\""));
    add("end of a sentence", |s| format!("{s}."));
    v
}

/// Bare IPv6 prefixes (the canonical value is `2001:db8::`).
fn v6_prefix_encodings() -> Vec<(&'static str, String)> {
    vec![
        ("bare prefix", "2001:db8::".into()),
        ("bare prefix with length", "2001:db8::/32".into()),
        ("bare prefix upper-case", "2001:DB8::".into()),
        ("bare prefix defanged [:]", "2001[:]db8[:][:]".into()),
        ("bare prefix full-width", fullwidth("2001:db8::/32")),
        (
            "bare prefix in a sentence",
            "range 2001:db8::/32, all of it".into(),
        ),
    ]
}

fn account_encoders() -> Vec<TextEncoder> {
    let mut v: Vec<TextEncoder> = Vec::new();
    let mut add = |name: &'static str, f: fn(&str) -> String| v.push((name, f));
    add("plain", |a| a.to_string());
    add("dashes 4-4-4 (console)", |a| {
        groups_of(a, &[4, 4, 4], &["-"])
    });
    add("spaces 4-4-4", |a| groups_of(a, &[4, 4, 4], &[" "]));
    add("dots 4-4-4", |a| groups_of(a, &[4, 4, 4], &["."]));
    add("underscores 4-4-4", |a| groups_of(a, &[4, 4, 4], &["_"]));
    add("dashes 3-3-3-3", |a| groups_of(a, &[3, 3, 3, 3], &["-"]));
    add("spaces 3-3-3-3", |a| groups_of(a, &[3, 3, 3, 3], &[" "]));
    add("dots 3-3-3-3", |a| groups_of(a, &[3, 3, 3, 3], &["."]));
    add("spaces in pairs", |a| {
        groups_of(a, &[2, 2, 2, 2, 2, 2], &[" "])
    });
    add("mixed separators dash and dot", |a| {
        groups_of(a, &[4, 4, 4], &["-", "."])
    });
    add("mixed separators space, dash, underscore", |a| {
        groups_of(a, &[3, 3, 3, 3], &[" ", "-", "_"])
    });
    add("defanged [.] 4-4-4", |a| groups_of(a, &[4, 4, 4], &["[.]"]));
    add("full-width digits", |a| digits_to(a, 0xFF10));
    add("full-width digits, spaces 4-4-4", |a| {
        digits_to(&groups_of(a, &[4, 4, 4], &[" "]), 0xFF10)
    });
    add("Arabic-Indic digits", |a| digits_to(a, 0x660));
    add("Arabic-Indic digits, dashes 4-4-4", |a| {
        digits_to(&groups_of(a, &[4, 4, 4], &["-"]), 0x660)
    });
    add("Devanagari digits", |a| digits_to(a, 0x966));
    add("mathematical bold digits", |a| digits_to(a, 0x1D7CE));
    add("word joiner U+2060 inside digits", |a| {
        inside_digits(a, '\u{2060}')
    });
    add("soft hyphen U+00AD inside digits", |a| {
        inside_digits(a, '\u{AD}')
    });
    add("zero-width space U+200B between every digit", |a| {
        between_every(a, '\u{200B}')
    });
    add(
        "zero-width joiner U+200D between every character, dashes 4-4-4",
        |a| between_every(&groups_of(a, &[4, 4, 4], &["-"]), '\u{200D}'),
    );
    add("in an IAM role ARN", |a| {
        format!("arn:aws:iam::{a}:role/ops-admin")
    });
    add("in an ARN, full-width digits", |a| {
        format!("arn:aws:iam::{}:root", digits_to(a, 0xFF10))
    });
    add("in an assumed-role ARN", |a| {
        format!("arn:aws:sts::{a}:assumed-role/ops/session-1")
    });
    add("in a sign-in URL", |a| {
        format!("https://{a}.signin.aws.amazon.com/console")
    });
    add("in an ECR registry host", |a| {
        format!("{a}.dkr.ecr.us-east-1.amazonaws.com/app:latest")
    });
    add("in an S3 bucket name", |a| format!("logs-{a}-us-east-1"));
    add("user@account", |a| format!("root@{a}"));
    add("in parentheses", |a| format!("({a})"));
    add("in double quotes", |a| format!("\"{a}\""));
    add("after a colon", |a| format!("account:{a}"));
    add("key=value", |a| format!("AccountId={a}"));
    add("JSON value", |a| format!("{{\"accountId\":\"{a}\"}}"));
    add("end of a sentence", |a| format!("{a}."));
    v
}

fn key_encoders() -> Vec<KeyEncoder> {
    let mut v: Vec<KeyEncoder> = Vec::new();
    let mut add = |name: &'static str, f: fn(&str) -> Option<String>| v.push((name, f));
    add("plain", |k| Some(k.to_string()));
    add("lower-case", |k| Some(k.to_ascii_lowercase()));
    add("mixed case", |k| {
        Some(
            k.chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 1 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect(),
        )
    });
    add("Cyrillic look-alikes in the prefix", |k| {
        Some(on_prefix(k, |p| look_alike(p, CYRILLIC)))
    });
    add("Cyrillic look-alikes everywhere", |k| {
        Some(look_alike(k, CYRILLIC))
    });
    add("lower-case + Cyrillic look-alikes", |k| {
        Some(look_alike(&k.to_ascii_lowercase(), CYRILLIC))
    });
    add("Greek look-alikes in the prefix", |k| {
        Some(on_prefix(k, |p| look_alike(p, GREEK)))
    });
    add("Greek look-alikes everywhere", |k| {
        Some(look_alike(k, GREEK))
    });
    add("`1` for `I` in the prefix", |k| {
        k[..4]
            .contains('I')
            .then(|| on_prefix(k, |p| p.replace('I', "1")))
    });
    add("`l` for `I` in the prefix", |k| {
        k[..4]
            .contains('I')
            .then(|| on_prefix(k, |p| p.replace('I', "l")))
    });
    add("`|` for `I` in the prefix", |k| {
        k[..4]
            .contains('I')
            .then(|| on_prefix(k, |p| p.replace('I', "|")))
    });
    add("`0` for `O`", |k| {
        k.contains('O').then(|| k.replace('O', "0"))
    });
    add("lower-case + `1` for `I` in the prefix", |k| {
        k[..4]
            .contains('I')
            .then(|| on_prefix(&k.to_ascii_lowercase(), |p| p.replace('i', "1")))
    });
    add("full-width", |k| Some(fullwidth(k)));
    add("mathematical bold", |k| Some(math_bold(k)));
    add("zero-width space U+200B between every character", |k| {
        Some(between_every(k, '\u{200B}'))
    });
    add("zero-width joiner U+200D between every character", |k| {
        Some(between_every(k, '\u{200D}'))
    });
    add("word joiner U+2060 after the prefix and inside", |k| {
        Some(inside_alnum(k, '\u{2060}'))
    });
    add("soft hyphen U+00AD inside", |k| {
        Some(inside_alnum(k, '\u{AD}'))
    });
    add("byte order mark U+FEFF after the prefix", |k| {
        Some(format!("{}\u{FEFF}{}", &k[..4], &k[4..]))
    });
    add("Cyrillic look-alikes + zero-width joiners", |k| {
        Some(between_every(&look_alike(k, CYRILLIC), '\u{200D}'))
    });
    add("full-width + lower-case", |k| {
        Some(fullwidth(&k.to_ascii_lowercase()))
    });
    add("extra: split in groups of four by spaces", |k| {
        Some(chunks(k, 4, " "))
    });
    add("extra: split in groups of four by dashes", |k| {
        Some(chunks(k, 4, "-"))
    });
    add("extra: combining acute accent on every letter", |k| {
        Some(after_each(k, '\u{301}', |c| c.is_ascii_alphabetic()))
    });
    add("in double quotes", |k| Some(format!("\"{k}\"")));
    add("in parentheses", |k| Some(format!("({k})")));
    add("in backticks", |k| Some(format!("`{k}`")));
    add("after a colon", |k| Some(format!("AccessKeyId:{k}")));
    add("key=value", |k| Some(format!("aws_access_key_id={k}")));
    add("in a presigned URL credential", |k| {
        Some(format!(
            "https://bucket.s3.amazonaws.com/x?X-Amz-Credential={k}/20240514/us-east-1/s3/aws4_request"
        ))
    });
    add("principal id with session", |k| {
        Some(format!("{k}:ops-session"))
    });
    add("glued after lower-case letters", |k| {
        Some(format!("svc{k}"))
    });
    add("glued before _old", |k| Some(format!("{k}_old")));
    add("JSON value", |k| {
        Some(format!("{{\"accessKeyId\":\"{k}\"}}"))
    });
    add("end of a sentence", |k| Some(format!("{k}.")));
    v
}

#[derive(Clone, Debug)]
struct Case {
    name: String,
    canon: Canon,
    text: String,
}

/// The must-go corpus: every canonical value through every encoder that applies to it.
fn must_go() -> Vec<Case> {
    let mut cases = Vec::new();
    for o in [V4_A, V4_B] {
        for (enc, f) in v4_encoders() {
            cases.push(Case {
                name: format!("ipv4 {} / {enc}", dotted(o, ".")),
                canon: Canon::V4(o),
                text: f(o),
            });
        }
    }
    for (enc, f) in v6_encoders() {
        cases.push(Case {
            name: format!("ipv6 {V6_A} / {enc}"),
            canon: Canon::V6(v6_groups(V6_A)),
            text: f(V6_A),
        });
    }
    for (enc, text) in v6_prefix_encodings() {
        cases.push(Case {
            name: format!("ipv6 2001:db8:: / {enc}"),
            canon: Canon::V6(vec!["2001".into(), "db8".into()]),
            text,
        });
    }
    for a in [ACCOUNT_A, ACCOUNT_B] {
        for (enc, f) in account_encoders() {
            cases.push(Case {
                name: format!("account {a} / {enc}"),
                canon: Canon::Account(a.into()),
                text: f(a),
            });
        }
    }
    for k in [KEY_AKIA, KEY_ASIA, ROLE_AROA] {
        for (enc, f) in key_encoders() {
            if let Some(text) = f(k) {
                cases.push(Case {
                    name: format!("key {k} / {enc}"),
                    canon: Canon::Key(k.into()),
                    text,
                });
            }
        }
    }
    for k in OTHER_IDS {
        for (enc, text) in [
            ("plain", k.to_string()),
            ("lower-case", k.to_ascii_lowercase()),
        ] {
            cases.push(Case {
                name: format!("key {k} / {enc}"),
                canon: Canon::Key(k.to_string()),
                text,
            });
        }
    }
    cases
}

fn embedded(value: &str) -> String {
    format!("Remote {value} tried")
}

// =========================================================================================
// Must-stay corpus: what a security page needs, byte for byte.

const MUST_STAY: &[&str] = &[
    // Timestamps, as Klaxon prints them (`%Y-%m-%dT%H:%M:%S%.3fZ`, to_rfc3339, `%Y-%m-%d`)
    // and as its sources write them (CloudWatch, Health RFC 1123, CloudWatch reasons).
    "2024-05-14T02:11:37.123Z",
    "2024-05-14T02:11:37Z",
    "2024-05-14T02:11:37.482+00:00",
    "2024-05-01T12:00:00.123+0000",
    "2024-05-14 02:11 UTC",
    "2024-05-14 02:11:37",
    "14/05/24 02:11:00",
    "Tue, 14 May 2024 02:11:37 GMT",
    "2024-05-14",
    "02:11:37",
    "State:       ALARM at 2024-05-01T12:00:00.123Z (was OK)",
    // Incident ids (`INC-%Y%m%d-` + 10 hex), including all-digit suffixes.
    "INC-20240514-4ac7e6b1f0",
    "INC-20240501-d79a05a12d",
    "INC-20240501-0000000000",
    "INC-20240514-3817264950",
    "INC-20991231-ffffffffff",
    "INC-20240514-0000a00000",
    "HIGH security INC-20240514-4ac7e6b1f0: GuardDuty UnauthorizedAccess:EC2/SSHBruteForce on Instance detected (checkout/payments)",
    // Ports.
    "port 22",
    "22/tcp",
    "0-65535",
    "tcp/3389",
    "ports 1024-65535",
    "SSH (22) and MySQL (3306) open to the world",
    // Versions.
    "1.2.3",
    "v2.10.4",
    "schema 1",
    "version 2.0",
    "TLSv1.2",
    "Ubuntu 22.04 LTS",
    "standards/aws-foundational-security-best-practices/v/1.0.0",
    "NIST.800-53.r5 AC-4",
    // Counts and values.
    "count 3",
    "Count:       3",
    "5 of 12 datapoints",
    "3 out of the last 3 datapoints",
    "Severity:    8 (high)",
    "Normalized 90",
    "99.9%",
    "p99 latency 1.25 s",
    // Durations.
    "300s",
    "5m",
    "1h30m",
    "PT5M",
    "P1DT2H30M",
    "Sum every 60s",
    // CIDR sizes.
    "/24",
    "/0",
    "a /16 network",
    // Severities.
    "CRITICAL",
    "HIGH",
    "MEDIUM",
    "LOW",
    "INFORMATIONAL",
    // Finding types, resource types, controls.
    "UnauthorizedAccess:EC2/SSHBruteForce",
    "Recon:EC2/PortProbeUnprotectedPort",
    "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
    "CryptoCurrency:EC2/BitcoinTool.B!DNS",
    "Policy:IAMUser/RootCredentialUsage",
    "Discovery:S3/MaliciousIPCaller",
    "AWS::EC2::SecurityGroup",
    "AWS::IAM::AccessKey",
    "AWS::IAM::User",
    "AWS::IAM::Role",
    "AWS::S3::Bucket",
    "AWS::KMS::Key",
    "AWS::CloudTrail::Trail",
    "AWS::EC2::Instance",
    "Config rule iam-user-mfa-enabled: AWS::IAM::User non-compliant",
    "AwsEc2SecurityGroup",
    "Security Hub EC2.19 on AwsEc2SecurityGroup",
    "cafe::",
    // Regions.
    "us-east-1",
    "eu-west-2",
    "ap-southeast-2",
    "us-gov-west-1",
    "cn-north-1",
    "Asia Pacific (Sydney)",
    // Resource ids and other identifiers that are not addresses, accounts or keys.
    "i-0a1b2c3d4e5f67890",
    "sg-0f3c9a1d2b4e5f607",
    "vpc-0a1b2c3d4e5f60718",
    "ami-0c7217cdde317cfec",
    "4ac7e6b1f0d2a9c35e8b17d2f60a9e41",
    "33ecabbf-275a-4866-8b05-7e030062d0dc",
    "t3.medium",
    // Metrics and dimensions.
    "AWS/ApplicationELB HTTPCode_Target_5XX_Count (LoadBalancer=app/checkout-api-prod/50dc6c495c0c9188, TargetGroup=targetgroup/checkout-api-prod-tg/73e2d6bc24d8a067) Sum every 60s",
    "CPUUtilization >= 90.0 for 3 datapoints within 15 minutes",
    "InstanceId=i-0a1b2c3d4e5f67890",
    "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#alarmsV2:alarm/prod-checkout-api-5xx-errors",
    // CloudWatch reason lines.
    "Threshold Crossed: 1 out of the last 1 datapoints [97.5 (14/05/24 12:00:00)] was greater than the threshold (90.0).",
    "Threshold Crossed: 2 out of the last 3 datapoints [57.0 (01/05/24 11:59:00), 42.0 (01/05/24 11:58:00)] were greater than or equal to the threshold (25.0) (minimum 2 datapoints for OK -> ALARM transition).",
    // Ordinary English and non-Latin text without numbers.
    "Brute force attacks are used to gain unauthorized access to your instance by guessing the SSH password.",
    "ACCESS DENIED FOR THE ROOT USER",
    "Обнаружена попытка подбора пароля к серверу. Проверьте журнал доступа.",
    "不正なアクセスが検出されました。管理者に連絡してください。",
    "检测到针对实例的暴力破解尝试。",
    "Εντοπίστηκε ύποπτη δραστηριότητα στον λογαριασμό.",
    "تم اكتشاف محاولة وصول غير مصرح بها إلى الخادم.",
    "सर्वर पर संदिग्ध गतिविधि का पता चला।",
    "서버에서 의심스러운 활동이 감지되었습니다.",
];

// =========================================================================================
// Corpus sanity: sizes, names, the encodings the issue names, and the detector itself.

#[test]
fn the_corpora_are_large_distinct_and_hold_every_encoding_the_issue_names() {
    let cases = must_go();
    assert!(cases.len() >= 200, "{} must-go cases", cases.len());
    assert!(
        MUST_STAY.len() >= 50,
        "{} must-stay strings",
        MUST_STAY.len()
    );
    let mut names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    let mut texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), cases.len(), "every case is a different text");
    // Verbatim examples of the issue and the fix description.
    for text in [
        "198.51.100[.]23",
        "3325256727",
        "0xC6336417",
        "0xc6.0x33.0x64.0x17",
        "ip-198-51-100-23",
        "2001:db8::",
        "2001:db8::/32",
        "7391 8462 5301",
        "7391.8462.5301",
        "739-184-625-301",
        "7391_8462_5301",
        "7391-8462-5301",
        "akiaw4nzq7hvt2jxkr6m",
        "AK1AW4NZQ7HVT2JXKR6M",
        "AR0AX5T3GQ7W2KZN4YBHR",
        "198(.)51(.)100(.)23",
        "198{.}51{.}100{.}23",
        "198[dot]51[dot]100[dot]23",
        "198(dot)51(dot)100(dot)23",
    ] {
        assert!(texts.contains(&text), "the corpus holds `{text}`");
    }
    // Every IAM prefix, and each named encoder family, at least once.
    for p in PREFIXES {
        assert!(
            cases
                .iter()
                .any(|c| matches!(&c.canon, Canon::Key(k) if k.starts_with(p))),
            "{p}"
        );
    }
    for part in [
        "U+3002",
        "U+FF61",
        "U+2024",
        "U+2027",
        "U+2219",
        "U+00B7",
        "U+2060",
        "U+00AD",
        "U+200B",
        "U+200C",
        "U+200D",
        "U+FEFF",
        "Arabic-Indic",
        "Devanagari",
        "full-width",
        "mathematical bold",
        "defanged [:]",
        "Cyrillic",
        "Greek",
        "`l` for `I`",
        "`|` for `I`",
        "mixed separators",
        "ARN",
        "URL",
        "user@",
        "parentheses",
        "quotes",
        "after a colon",
        "EC2",
        "defanged [.] + full-width",
        "word joiners inside digits",
    ] {
        assert!(
            cases.iter().any(|c| c.name.contains(part)),
            "an encoder named `{part}`"
        );
    }
}

#[test]
fn the_detector_sees_every_must_go_case_before_redaction() {
    let blind: Vec<String> = must_go()
        .iter()
        .filter(|c| leak(&c.canon, &embedded(&c.text)).is_none())
        .map(|c| format!("{} ({:?})", c.name, c.text))
        .collect();
    assert!(
        blind.is_empty(),
        "the detector misses {} raw cases:\n{}",
        blind.len(),
        blind.join("\n")
    );
}

fn all_canons() -> Vec<Canon> {
    let mut canons = vec![
        Canon::V4(V4_A),
        Canon::V4(V4_B),
        Canon::V6(v6_groups(V6_A)),
        Canon::V6(vec!["2001".into(), "db8".into()]),
        Canon::Account(ACCOUNT_A.into()),
        Canon::Account(ACCOUNT_B.into()),
        Canon::Key(KEY_AKIA.into()),
        Canon::Key(KEY_ASIA.into()),
        Canon::Key(ROLE_AROA.into()),
    ];
    canons.extend(OTHER_IDS.iter().map(|k| Canon::Key(k.to_string())));
    canons
}

#[test]
fn the_detector_is_silent_on_must_stay_text_and_on_redaction_markers() {
    let all = format!("{}\n{}", MUST_STAY.join("\n"), MUST_STAY.join(" "));
    for canon in all_canons() {
        for text in MUST_STAY.iter().copied().chain([
            all.as_str(),
            "Remote [redacted] tried",
            "Remote tried",
        ]) {
            assert_eq!(leak(&canon, text), None, "{canon:?} in {text:?}");
        }
    }
    // And it does see what it must, also partly.
    assert!(leak(&Canon::V4(V4_A), "from 198.51.100.[redacted]").is_some());
    assert!(leak(&Canon::Account(ACCOUNT_A.into()), "id 73918462530…").is_some());
    assert!(leak(&Canon::Account(ACCOUNT_A.into()), "id …846253").is_some());
    assert!(leak(&Canon::Account(ACCOUNT_A.into()), "id 73918").is_none());
    assert!(leak(&Canon::Key(KEY_AKIA.into()), "[redacted]Q7HVT2JXKR6M").is_some());
}

// =========================================================================================
// Unit level: `redact_sensitive`.

#[test]
fn must_go_cases_do_not_survive_redaction() {
    let cases = must_go();
    let mut failures = Vec::new();
    for case in &cases {
        let input = embedded(&case.text);
        let out = redact_sensitive(&input);
        if let Some(why) = leak(&case.canon, &out) {
            failures.push(format!("{}: {why}; {input:?} -> {out:?}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} must-go cases survive redaction:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn must_stay_strings_survive_redaction_unchanged() {
    let mut failures = Vec::new();
    for s in MUST_STAY {
        for input in [s.to_string(), format!("Note: {s} (see the console)")] {
            let out = redact_sensitive(&input);
            if out != input {
                failures.push(format!("{input:?} -> {out:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} must-stay strings changed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// =========================================================================================
// End to end: the embedded engine with the shipped runbooks.

fn events() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

fn sample(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(events().join(name)).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Clone, Copy, Debug)]
enum Feed {
    GuardDuty,
    SecurityHubAsff,
}

/// A security finding of `feed` (a new finding, so a new incident, for each `n`) with `value`
/// in every field an attacker controls that reaches the page: title, description, finding
/// type / control (the incident title), the remote IP, a resource id, the Service, Team and
/// Environment tags, the remediation URL.
fn finding_with(feed: Feed, n: usize, value: &str) -> Value {
    match feed {
        Feed::GuardDuty => {
            let mut v = sample("security/guardduty-ssh-bruteforce-high.json");
            let id = format!("{:032x}", 0xfeed_0000_u64 + n as u64);
            v["id"] = json!(format!("redaction-gd-{n}"));
            let d = &mut v["detail"];
            d["id"] = json!(id);
            d["arn"] = json!(format!(
                "arn:aws:guardduty:us-east-1:123456789012:detector/2ec5f0a1b7d94c3e8f6a1b2c3d4e5f60/finding/{id}"
            ));
            d["type"] = json!(format!("Recon:EC2/{value}"));
            d["title"] = json!(format!("Remote {value} tried SSH brute force"));
            d["description"] = json!(format!(
                "Brute force from {value}.\nGuessing the SSH password of {value} again."
            ));
            d["service"]["action"]["networkConnectionAction"]["remoteIpDetails"]["ipAddressV4"] =
                json!(value);
            d["resource"]["instanceDetails"]["instanceId"] =
                json!(format!("i-0a1b2c3d4e5f67890 {value}"));
            d["resource"]["instanceDetails"]["tags"] = json!([
                {"key": "Name", "value": format!("bastion {value}")},
                {"key": "Environment", "value": format!("prod {value}")},
                {"key": "Service", "value": format!("svc {value}")},
                {"key": "Team", "value": format!("team {value}")},
            ]);
            v
        }
        Feed::SecurityHubAsff => {
            let mut v = sample("security/securityhub-asff-imported.json");
            v["id"] = json!(format!("redaction-asff-{n}"));
            let f = &mut v["detail"]["findings"][0];
            f["Id"] = json!(format!(
                "arn:aws:securityhub:us-east-1:123456789012:security-control/EC2.19/finding/6d1f3e2a-9b7c-4c58-a0e4-{n:012x}"
            ));
            f["Title"] = json!(format!("Remote {value} tried"));
            f["Description"] = json!(format!(
                "Security group open to {value}.\nSeen from {value} again."
            ));
            f["Compliance"]["SecurityControlId"] = json!(format!("EC2.19 {value}"));
            f["Remediation"]["Recommendation"]["Url"] =
                json!(format!("https://example.com/fix/{value}"));
            f["Resources"][0]["Id"] = json!(format!("sg-0f3c9a1d2b4e5f607 {value}"));
            f["Resources"][0]["Tags"] = json!({
                "Name": format!("bastion {value}"),
                "Environment": format!("prod {value}"),
                "Service": format!("svc {value}"),
                "Team": format!("team {value}"),
            });
            v
        }
    }
}

struct Run {
    report: Report,
    pages: Vec<Published>,
    bus: Vec<PutOnBus>,
}

async fn run_one(event: &Value) -> Run {
    let (backend, engine) = memory::engine(memory::embedded_settings());
    let report = engine.handle_value(event).await.expect("handled");
    Run {
        report,
        pages: backend.published(),
        bus: backend.bus_events(),
    }
}

/// Everything a security incident sends that must be free of addresses and ids: each page's
/// subject, message and attribute values, and the first (SMS) line of its e-mail copy
/// (docs/CONTRACTS.md: the same redacted line); each lifecycle event's text, alarm name,
/// service, team and environment. (Identifiers — dedup key, resources, event id — are not
/// page text.)
fn checked_outputs(run: &Run) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, p) in run.pages.iter().enumerate() {
        let n = &p.notification;
        out.push((format!("page[{i}].subject"), n.subject.clone()));
        out.push((format!("page[{i}].message"), n.message.clone()));
        if let Some(first) = n.email_message.as_deref().and_then(|e| e.lines().next()) {
            out.push((format!("page[{i}].email_message line 1"), first.to_string()));
        }
        for (k, v) in &n.attributes {
            out.push((format!("page[{i}].attributes.{k}"), v.clone()));
        }
    }
    for (i, e) in run.bus.iter().enumerate() {
        let d = &e.event.detail;
        for (path, name) in [
            ("/text/plain", "text.plain"),
            ("/text/chat", "text.chat"),
            ("/text/html", "text.html"),
            ("/alarm/name", "alarm.name"),
            ("/service", "service"),
            ("/team", "team"),
            ("/environment", "environment"),
        ] {
            if let Some(s) = d.pointer(path).and_then(Value::as_str) {
                out.push((format!("bus[{i}].detail.{name}"), s.to_string()));
            }
        }
    }
    out
}

/// Runs every must-go case through `feed`; returns one line per case that leaked.
async fn e2e_failures(feed: Feed) -> (usize, Vec<String>) {
    let cases = must_go();
    let mut failures = Vec::new();
    for (n, case) in cases.iter().enumerate() {
        let run = run_one(&finding_with(feed, n, &case.text)).await;
        assert_eq!(
            run.report.outcome,
            Outcome::Opened,
            "{feed:?} {}: {:?}",
            case.name,
            run.report
        );
        assert_eq!(run.pages.len(), 1, "{feed:?} {}: one page", case.name);
        assert_eq!(run.pages[0].notification.route, Route::Security);
        assert!(
            !run.bus.is_empty(),
            "{feed:?} {}: a lifecycle event",
            case.name
        );
        let outputs = checked_outputs(&run);
        let leaks: Vec<String> = outputs
            .iter()
            .filter_map(|(field, text)| {
                leak(&case.canon, text).map(|why| format!("{field} ({why})"))
            })
            .collect();
        if !leaks.is_empty() {
            failures.push(format!("{}: {}", case.name, leaks.join(", ")));
        }
    }
    (cases.len(), failures)
}

#[tokio::test]
async fn guardduty_findings_carrying_every_encoding_page_without_it() {
    let (total, failures) = e2e_failures(Feed::GuardDuty).await;
    assert!(
        failures.is_empty(),
        "{} of {total} GuardDuty cases leak:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn security_hub_findings_carrying_every_encoding_page_without_it() {
    let (total, failures) = e2e_failures(Feed::SecurityHubAsff).await;
    assert!(
        failures.is_empty(),
        "{} of {total} Security Hub (ASFF) cases leak:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The checks above are not vacuous: a marker put where the encodings go reaches every
/// checked output, and on such a clean page the detector finds none of the canonical values
/// (the samples' own addresses and ids do not match them). What a security page must keep
/// (the incident id, finding type, severity) is kept.
#[tokio::test]
async fn the_injected_fields_reach_every_checked_output_and_clean_pages_do_not_match() {
    const MARKER: &str = "Zqxmarker";
    for feed in [Feed::GuardDuty, Feed::SecurityHubAsff] {
        let run = run_one(&finding_with(feed, 9999, MARKER)).await;
        assert_eq!(run.report.outcome, Outcome::Opened, "{feed:?}");
        let outputs = checked_outputs(&run);
        for field in [
            "page[0].subject",
            "page[0].message",
            "page[0].attributes.service",
            "page[0].attributes.team",
            "page[0].attributes.environment",
            "page[0].email_message line 1",
            "bus[0].detail.text.plain",
            "bus[0].detail.text.chat",
            "bus[0].detail.text.html",
            "bus[0].detail.alarm.name",
            "bus[0].detail.service",
            "bus[0].detail.team",
            "bus[0].detail.environment",
        ] {
            let (_, text) = outputs
                .iter()
                .find(|(f, _)| f == field)
                .unwrap_or_else(|| panic!("{feed:?}: no {field} in {outputs:#?}"));
            assert!(
                text.to_lowercase().contains(&MARKER.to_lowercase()),
                "{feed:?}: the marker reaches {field}: {text}"
            );
        }
        let message = &run.pages[0].notification.message;
        for quoted in [
            "Remote Zqxmarker tried",
            "Zqxmarker.\n> ",
            "Resources:",
            "Zqxmarker again",
        ] {
            assert!(
                message.contains(quoted),
                "{feed:?}: `{quoted}` in {message}"
            );
        }
        // The clean page's e-mail copy too (it keeps addresses and ids by design, but this
        // page has none of the canonical values).
        let email = run.pages[0].notification.email_message.clone();
        let everything: Vec<(String, String)> = outputs
            .into_iter()
            .chain(email.map(|e| ("page[0].email_message".to_string(), e)))
            .collect();
        for canon in all_canons() {
            for (field, text) in &everything {
                assert_eq!(
                    leak(&canon, text),
                    None,
                    "{feed:?} {field}: {canon:?} in {text}"
                );
            }
        }
        // What responders need stays on the page.
        let n = &run.pages[0].notification;
        let incident = run.report.incident_id.clone().expect("an incident id");
        assert!(
            n.message.lines().next().unwrap().contains(&incident),
            "{}",
            n.message
        );
        assert_eq!(n.attributes["incident_id"], incident);
        match feed {
            Feed::GuardDuty => {
                assert!(
                    n.subject
                        .starts_with("[HIGH][security] GuardDuty Recon:EC2/Zqxmarker on Instance"),
                    "{}",
                    n.subject
                );
                assert!(n.message.contains("Count:       3"), "{}", n.message);
                assert!(
                    n.message.contains("2024-05-14T02:14:05.913Z"),
                    "{}",
                    n.message
                );
            }
            Feed::SecurityHubAsff => {
                assert!(
                    n.subject
                        .starts_with("[CRITICAL][security] Security Hub EC2.19 Zqxmarker"),
                    "{}",
                    n.subject
                );
            }
        }
    }
}

/// A title longer than the subject (99), the SMS line (140 bytes) and the intake's title
/// bound (256): an account id is moved one character at a time across every cut point. What
/// a cut leaves of it must not be six of its digits in a row.
#[tokio::test]
async fn a_long_security_title_cut_anywhere_leaks_no_six_digits_of_an_account_id() {
    let canon = Canon::Account(ACCOUNT_A.into());
    let forms = [
        ("plain", ACCOUNT_A.to_string()),
        ("spaces 4-4-4", groups_of(ACCOUNT_A, &[4, 4, 4], &[" "])),
        ("dashes 4-4-4", groups_of(ACCOUNT_A, &[4, 4, 4], &["-"])),
        ("dots 3-3-3-3", groups_of(ACCOUNT_A, &[3, 3, 3, 3], &["."])),
    ];
    let mut failures = Vec::new();
    let (mut subject_cut, mut sms_cut, mut title_cut) = (false, false, false);
    let mut n = 20_000;
    for (form, value) in &forms {
        for glued in [false, true] {
            for pad in 0..=300 {
                n += 1;
                let padding = "p".repeat(pad);
                let finding_type = if glued {
                    format!("Recon:EC2/{padding}{value} tail")
                } else {
                    format!("Recon:EC2/{padding} {value} tail")
                };
                let mut event = finding_with(Feed::GuardDuty, n, "benign");
                event["detail"]["type"] = json!(finding_type);
                let run = run_one(&event).await;
                assert_eq!(run.report.outcome, Outcome::Opened, "{form} {pad}");
                assert_eq!(run.pages.len(), 1, "{form} {pad}");
                let page = &run.pages[0].notification;
                subject_cut |= page.subject.ends_with("...");
                sms_cut |= page.message.lines().next().unwrap().ends_with('…');
                title_cut |= run.bus[0].event.detail["alarm"]["name"]
                    .as_str()
                    .unwrap()
                    .ends_with('…');
                for (field, text) in checked_outputs(&run) {
                    if let Some(why) = leak(&canon, &text) {
                        failures.push(format!(
                            "{form}{} padding {pad}: {field}: {why}",
                            if glued { " glued" } else { "" }
                        ));
                    }
                }
            }
        }
    }
    assert!(
        subject_cut && sms_cut && title_cut,
        "the cut points were reached: subject {subject_cut}, SMS {sms_cut}, title {title_cut}"
    );
    assert!(
        failures.is_empty(),
        "{} cut pages leak digits:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Redaction is for security incidents only: a production alarm's page keeps what its
/// author wrote, addresses and ids included.
#[tokio::test]
async fn a_production_alarm_page_is_not_redacted() {
    let mut v = sample("alarm-metric-prod-alarm.json");
    v["detail"]["alarmName"] = json!("prod-edge-198.51.100.23-5xx");
    v["detail"]["alarmTags"]["Service"] = json!("edge 198.51.100.23");
    v["detail"]["configuration"]["description"] =
        json!("Owner account 739184625301, deploy key AKIAW4NZQ7HVT2JXKR6M, peer 2001:db8::7.");
    let run = run_one(&v).await;
    assert_eq!(run.report.outcome, Outcome::Opened);
    assert_eq!(run.pages.len(), 1);
    let n = &run.pages[0].notification;
    assert_eq!(n.route, Route::Production);
    assert!(
        n.subject.contains("prod-edge-198.51.100.23-5xx"),
        "{}",
        n.subject
    );
    assert!(
        n.message
            .lines()
            .next()
            .unwrap()
            .contains("prod-edge-198.51.100.23-5xx"),
        "{}",
        n.message
    );
    for kept in [
        "Alarm:       prod-edge-198.51.100.23-5xx",
        "739184625301",
        "AKIAW4NZQ7HVT2JXKR6M",
        "2001:db8::7",
    ] {
        assert!(n.message.contains(kept), "{kept}: {}", n.message);
    }
    assert_eq!(n.attributes["service"], "edge 198.51.100.23");
    assert_eq!(n.email_message, None);
    let d = &run.bus[0].event.detail;
    assert_eq!(d["alarm"]["name"], "prod-edge-198.51.100.23-5xx");
    assert_eq!(d["service"], "edge 198.51.100.23");
    assert!(
        d["text"]["plain"]
            .as_str()
            .unwrap()
            .contains("prod-edge-198.51.100.23-5xx"),
        "{d}"
    );
}

// =========================================================================================
// Property tests.

fn sensitive() -> impl Strategy<Value = (Canon, String, String)> {
    let v4 = (
        1u8..=223,
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0..v4_encoders().len(),
    )
        .prop_map(|(a, b, c, d, i)| {
            let o = [a, b, c, d];
            let (enc, f) = v4_encoders()[i];
            (
                Canon::V4(o),
                format!("ipv4 {} / {enc}", dotted(o, ".")),
                f(o),
            )
        });
    let account = (
        prop::collection::vec(0u8..10, 12),
        0..account_encoders().len(),
    )
        .prop_map(|(digits, i)| {
            let a: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let (enc, f) = account_encoders()[i];
            (
                Canon::Account(a.clone()),
                format!("account {a} / {enc}"),
                f(&a),
            )
        });
    let key = (
        0..PREFIXES.len(),
        prop::collection::vec(0..BASE32.len(), 16),
        0..key_encoders().len(),
    )
        .prop_filter_map("the encoder applies to this key", |(p, body, i)| {
            let k: String = PREFIXES[p]
                .chars()
                .chain(body.iter().map(|&b| char::from(BASE32[b])))
                .collect();
            let (enc, f) = key_encoders()[i];
            f(&k).map(|text| (Canon::Key(k.clone()), format!("key {k} / {enc}"), text))
        });
    prop_oneof![v4, account, key]
}

fn benign_word() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "remote",
        "Remote",
        "host",
        "tried",
        "login",
        "from",
        "user",
        "blocked",
        "ssh",
        "session",
        "alert",
        "port",
        "on",
        "the",
        "сервер",
        "接続",
        "¿qué?",
        "(see",
        "note:",
    ])
}

fn benign_shape() -> impl Strategy<Value = String> {
    let timestamp = (
        2000i32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        0i64..1000,
        0usize..10,
    )
        .prop_map(|(y, mo, d, h, mi, s, ms, f)| {
            let t = Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + Duration::milliseconds(ms);
            match f {
                0 => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                1 => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                2 => t.to_rfc3339(),
                3 => t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
                4 => t.format("%d/%m/%y %H:%M:%S").to_string(),
                5 => t.format("%Y-%m-%d %H:%M UTC").to_string(),
                6 => t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
                7 => t.format("%Y-%m-%d").to_string(),
                8 => t.format("%H:%M:%S").to_string(),
                _ => t
                    .format("State:       ALARM at %Y-%m-%dT%H:%M:%S%.3fZ (was OK)")
                    .to_string(),
            }
        });
    let incident_id = (
        2000i32..2100,
        1u32..=12,
        1u32..=28,
        prop::collection::vec(0u32..16, 10),
        any::<bool>(),
    )
        .prop_map(|(y, m, d, hex, digits_only)| {
            let suffix: String = hex
                .iter()
                .map(|&h| char::from_digit(if digits_only { h % 10 } else { h }, 16).unwrap())
                .collect();
            format!("INC-{y:04}{m:02}{d:02}-{suffix}")
        });
    let number = (0u32..100_000, 0u32..100, 0usize..4).prop_map(|(n, m, f)| match f {
        0 => n.to_string(),
        1 => format!("count {n}"),
        2 => format!("{m} of {n} datapoints"),
        _ => format!("{n}.{m}%"),
    });
    let port = (0u32..=65535, 0u32..=65535, 0usize..4).prop_map(|(a, b, f)| match f {
        0 => format!("port {a}"),
        1 => format!("{a}/tcp"),
        2 => format!("{}-{}", a.min(b), a.max(b)),
        _ => format!("ports {}-{}", a.min(b), a.max(b)),
    });
    let version = (0u32..100, 0u32..100, 0u32..100, any::<bool>())
        .prop_map(|(a, b, c, v)| format!("{}{a}.{b}.{c}", if v { "v" } else { "" }));
    let duration =
        (1u32..100_000, 0u32..24, 0u32..60, 0usize..4).prop_map(|(n, h, m, f)| match f {
            0 => format!("{n}s"),
            1 => format!("{n}m"),
            2 => format!("{h}h{m}m"),
            _ => format!("PT{n}M"),
        });
    let reason = (
        1u32..10,
        1u32..10,
        0u32..1000,
        0u32..10,
        0u32..1000,
        1u32..=28,
        1u32..=12,
        0u32..24,
        0u32..60,
    )
        .prop_map(|(a, b, v, f, t, d, m, h, mi)| {
            format!(
                "Threshold Crossed: {a} out of the last {b} datapoints [{v}.{f} ({d:02}/{m:02}/24 {h:02}:{mi:02}:00)] was greater than the threshold ({t}.0)."
            )
        });
    prop_oneof![
        timestamp,
        incident_id,
        number,
        port,
        version,
        duration,
        reason
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_sensitive_values_never_survive(
        (canon, name, value) in sensitive(),
        before in benign_word(),
        after in benign_word(),
    ) {
        let input = format!("{before} {value} {after}");
        prop_assert!(leak(&canon, &input).is_some(), "the detector sees {name}: {input:?}");
        let out = redact_sensitive(&input);
        let why = leak(&canon, &out);
        prop_assert!(why.is_none(), "{name}: {why:?}; {input:?} -> {out:?}");
    }

    #[test]
    fn generated_benign_shapes_survive_unchanged(s in benign_shape(), word in benign_word()) {
        prop_assert_eq!(redact_sensitive(&s), s.clone());
        let sentence = format!("{word} {s} {word}");
        prop_assert_eq!(redact_sensitive(&sentence), sentence);
    }
}
