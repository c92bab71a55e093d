//! Personal-data detectors: by column name and by value.
//!
//! Each detector is precise rather than eager: a value counts as a card
//! number only if it passes Luhn and has an issuer prefix, an SSN only if it
//! is in a range that can be issued, an IBAN only if its mod-97 check holds.
//! The same detectors scan free text for embedded PII and redact it (the
//! serving path uses them to filter responses).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Email,
    Phone,
    Ssn,
    Card,
    Iban,
    Ip,
    DateOfBirth,
    Name,
    Address,
    Postcode,
}

impl Entity {
    pub const ALL: [Entity; 10] = [
        Entity::Email,
        Entity::Phone,
        Entity::Ssn,
        Entity::Card,
        Entity::Iban,
        Entity::Ip,
        Entity::DateOfBirth,
        Entity::Name,
        Entity::Address,
        Entity::Postcode,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Email => "email",
            Entity::Phone => "phone",
            Entity::Ssn => "ssn",
            Entity::Card => "card",
            Entity::Iban => "iban",
            Entity::Ip => "ip",
            Entity::DateOfBirth => "date_of_birth",
            Entity::Name => "name",
            Entity::Address => "address",
            Entity::Postcode => "postcode",
        }
    }

    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Direct identifiers point at one person on their own; the default
    /// policy drops them unless they are declared features.
    pub fn is_direct_identifier(self) -> bool {
        !matches!(self, Entity::DateOfBirth | Entity::Postcode)
    }
}

struct Patterns {
    email: Regex,
    phone: Regex,
    ssn: Regex,
    card: Regex,
    iban: Regex,
    ipv4: Regex,
    address: Regex,
    title_name: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are literals checked by the tests; a failure to
        // compile would be a bug caught on the first test run.
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("built-in pattern {s}: {e}"));
        Patterns {
            email: re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"),
            // E.164 (+ and 8-15 digits, separators allowed) or a national
            // number written with separators: (415) 555-0132, 415-555-0132,
            // 020 7946 0958, 06 12 34 56 78.
            phone: re(r"(?:\+[1-9][0-9 .\-()]{7,18}[0-9])|(?:\(\d{2,4}\)\s?\d{3,4}[\s.\-]\d{3,4})|(?:\b\d{3}[.\-]\d{3}[.\-]\d{4}\b)|(?:\b0\d{1,4}[ \-]\d{3,4}[ \-]\d{3,4}\b)|(?:\b0\d(?:[ .]\d{2}){4}\b)"),
            ssn: re(r"\b(\d{3})-(\d{2})-(\d{4})\b"),
            card: re(r"\b(?:\d[ \-]?){12,18}\d\b"),
            iban: re(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b"),
            ipv4: re(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"),
            address: re(r"\b\d{1,6}\s+(?:[A-Z][a-z]+\s+){1,4}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|Square|Sq|Parkway|Pkwy|Highway|Hwy)\b\.?"),
            title_name: re(r"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Master|Rev)\.?\s+[A-Z][a-z]+(?:[\s\-][A-Z][a-z]+)*"),
        }
    })
}

/// Luhn sum of `digits`, doubling every second digit from the right
/// (starting with the rightmost when `check_digit_missing`).
fn luhn_sum(digits: &[u8], check_digit_missing: bool) -> u32 {
    let first_doubled = usize::from(!check_digit_missing);
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let v = u32::from(*d);
            if i % 2 == first_doubled {
                if v * 2 > 9 { v * 2 - 9 } else { v * 2 }
            } else {
                v
            }
        })
        .sum()
}

/// The Luhn checksum used by payment cards.
pub fn luhn_ok(digits: &[u8]) -> bool {
    !digits.is_empty() && luhn_sum(digits, false).is_multiple_of(10)
}

/// The Luhn check digit to append to `digits`.
pub fn luhn_check_digit(digits: &[u8]) -> u8 {
    ((10 - luhn_sum(digits, true) % 10) % 10) as u8
}

/// Whether the digits start with a known card issuer prefix and have a
/// length that issuer uses.
fn card_issuer(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let prefix = |k: usize| -> u32 { d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x)) };
    let (p1, p2, p3, p4, p6) = (prefix(1), prefix(2), prefix(3), prefix(4), prefix(6));
    if p1 == 4 && matches!(n, 13 | 16 | 19) {
        return Some("visa");
    }
    if ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && n == 16 {
        return Some("mastercard");
    }
    if matches!(p2, 34 | 37) && n == 15 {
        return Some("amex");
    }
    if (p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) || (622_126..=622_925).contains(&p6))
        && (16..=19).contains(&n)
    {
        return Some("discover");
    }
    if (3528..=3589).contains(&p4) && (16..=19).contains(&n) {
        return Some("jcb");
    }
    if ((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39) && (14..=19).contains(&n) {
        return Some("diners");
    }
    if p2 == 62 && (16..=19).contains(&n) {
        return Some("unionpay");
    }
    None
}

/// A payment card number: 13-19 digits (spaces or dashes allowed), a known
/// issuer prefix, and a valid Luhn checksum.
pub fn is_card(s: &str) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect();
    (13..=19).contains(&digits.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b == b' ' || b == b'-')
        && card_issuer(&digits).is_some()
        && luhn_ok(&digits)
}

/// A US social security number `AAA-GG-SSSS` in an issuable range: area not
/// 000, 666 or 900-999; group not 00; serial not 0000.
pub fn is_ssn(s: &str) -> bool {
    let Some(c) = patterns().ssn.captures(s) else {
        return false;
    };
    if c.get(0).map(|m| m.as_str().len()) != Some(s.len()) {
        return false;
    }
    ssn_parts_ok(&c[1], &c[2], &c[3])
}

fn ssn_parts_ok(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    a != 0 && a != 666 && a < 900 && group != "00" && serial != "0000"
}

/// IBAN lengths by country (ISO 13616 registry, common countries).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "AD" => 24,
        "AT" => 20,
        "BE" => 16,
        "BG" => 22,
        "CH" => 21,
        "CY" => 28,
        "CZ" => 24,
        "DE" => 22,
        "DK" => 18,
        "EE" => 20,
        "ES" => 24,
        "FI" => 18,
        "FR" => 27,
        "GB" => 22,
        "GI" => 23,
        "GR" => 27,
        "HR" => 21,
        "HU" => 28,
        "IE" => 22,
        "IS" => 26,
        "IT" => 27,
        "LI" => 21,
        "LT" => 20,
        "LU" => 20,
        "LV" => 21,
        "MC" => 27,
        "MT" => 31,
        "NL" => 18,
        "NO" => 15,
        "PL" => 28,
        "PT" => 25,
        "RO" => 24,
        "SE" => 24,
        "SI" => 19,
        "SK" => 24,
        "SM" => 27,
        "TR" => 26,
        "AE" => 23,
        "SA" => 24,
        "IL" => 23,
        "BR" => 29,
        "UA" => 29,
        _ => return None,
    })
}

/// An IBAN: country code, the country's length, and mod-97 == 1.
pub fn is_iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| *c != ' ').collect();
    let b = compact.as_bytes();
    if b.len() < 15
        || b.len() > 34
        || !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    if iban_length(&compact[..2]) != Some(b.len())
        || !b[2].is_ascii_digit()
        || !b[3].is_ascii_digit()
    {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// An email address.
pub fn is_email(s: &str) -> bool {
    patterns()
        .email
        .find(s)
        .is_some_and(|m| m.as_str().len() == s.len())
}

/// A phone number in E.164 or a common national format with separators.
pub fn is_phone(s: &str) -> bool {
    let digits = s.bytes().filter(u8::is_ascii_digit).count();
    (7..=15).contains(&digits)
        && patterns()
            .phone
            .find(s.trim())
            .is_some_and(|m| m.as_str().len() == s.trim().len())
}

/// An IPv4 or IPv6 address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok() || (s.contains(':') && s.parse::<Ipv6Addr>().is_ok())
}

/// A street address: house number, street name, street type.
pub fn is_address(s: &str) -> bool {
    patterns().address.is_match(s)
}

/// A person's name as written in a name column: two to five words, each
/// capitalised (allowing titles, initials, commas, quotes and parentheses,
/// as in "Braund, Mr. Owen Harris").
pub fn looks_like_name(s: &str) -> bool {
    let words: Vec<&str> = s
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if !(2..=12).contains(&words.len()) || s.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let capitalised = words
        .iter()
        .filter(|w| {
            let w = w.trim_matches(|c: char| matches!(c, '(' | ')' | '"' | '\''));
            w.chars().next().is_some_and(char::is_uppercase)
        })
        .count();
    capitalised * 2 > words.len()
}

/// How a column's name suggests PII.
pub fn entity_from_name(column: &str) -> Option<Entity> {
    let c = column.to_ascii_lowercase().replace([' ', '-'], "_");
    let has = |ks: &[&str]| ks.iter().any(|k| c.contains(k));
    if has(&["email", "e_mail"]) {
        Some(Entity::Email)
    } else if has(&["phone", "mobile", "tel", "fax"]) {
        Some(Entity::Phone)
    } else if has(&["ssn", "social_security", "national_id"]) {
        Some(Entity::Ssn)
    } else if has(&["card", "cc_num", "pan"]) && !has(&["cardinal"]) {
        Some(Entity::Card)
    } else if has(&["iban"]) {
        Some(Entity::Iban)
    } else if c == "ip" || has(&["ip_addr", "ipaddress", "ip_address"]) {
        Some(Entity::Ip)
    } else if has(&["dob", "birth"]) {
        Some(Entity::DateOfBirth)
    } else if has(&["address", "street"]) {
        Some(Entity::Address)
    } else if has(&["zip", "postcode", "postal"]) {
        Some(Entity::Postcode)
    } else if c == "name"
        || has(&[
            "full_name",
            "first_name",
            "last_name",
            "surname",
            "given_name",
            "fullname",
            "firstname",
            "lastname",
            "_name",
        ]) && !has(&[
            "file_name",
            "host_name",
            "user_name",
            "username",
            "column_name",
            "model_name",
        ])
    {
        Some(Entity::Name)
    } else {
        None
    }
}

/// Whether a single value, on its own, is an entity (value-based detection;
/// names and dates of birth need the column context and are not here).
pub fn value_entity(s: &str) -> Option<Entity> {
    let s = s.trim();
    if s.is_empty() || s.len() > 256 {
        return None;
    }
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    if s.contains('@') && is_email(s) {
        return Some(Entity::Email);
    }
    if has_digit {
        if is_ssn(s) {
            return Some(Entity::Ssn);
        }
        if is_card(s) {
            return Some(Entity::Card);
        }
        if is_iban(s) {
            return Some(Entity::Iban);
        }
        if is_ip(s) {
            return Some(Entity::Ip);
        }
        if is_phone(s) {
            return Some(Entity::Phone);
        }
        if is_address(s) {
            return Some(Entity::Address);
        }
    } else if s.contains(':') && is_ip(s) {
        return Some(Entity::Ip);
    }
    None
}

/// One piece of PII found inside a longer text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub entity: Entity,
    pub start: usize,
    pub end: usize,
}

/// Every piece of PII embedded in free text, non-overlapping, in order.
pub fn find_in_text(text: &str) -> Vec<Span> {
    let p = patterns();
    let mut spans: Vec<Span> = Vec::new();
    let mut add = |entity, m: regex::Match<'_>| {
        spans.push(Span {
            entity,
            start: m.start(),
            end: m.end(),
        });
    };
    if text.contains('@') {
        for m in p.email.find_iter(text) {
            add(Entity::Email, m);
        }
    }
    if text.bytes().any(|b| b.is_ascii_digit()) {
        for c in p.ssn.captures_iter(text) {
            if let Some(m) = c.get(0)
                && ssn_parts_ok(&c[1], &c[2], &c[3])
            {
                add(Entity::Ssn, m);
            }
        }
        for m in p.card.find_iter(text) {
            if is_card(m.as_str()) {
                add(Entity::Card, m);
            }
        }
        for m in p.iban.find_iter(text) {
            if is_iban(m.as_str()) {
                add(Entity::Iban, m);
            }
        }
        for m in p.ipv4.find_iter(text) {
            if is_ip(m.as_str()) {
                add(Entity::Ip, m);
            }
        }
        for m in p.phone.find_iter(text) {
            let digits = m.as_str().bytes().filter(u8::is_ascii_digit).count();
            if (7..=15).contains(&digits) {
                add(Entity::Phone, m);
            }
        }
        for m in p.address.find_iter(text) {
            add(Entity::Address, m);
        }
    }
    for m in p.title_name.find_iter(text) {
        add(Entity::Name, m);
    }
    // Earlier-starting, then longer, spans win; drop overlaps.
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if out.last().is_none_or(|l| s.start >= l.end) {
            out.push(s);
        }
    }
    out
}

/// Replaces every embedded entity with `[ENTITY]`.
pub fn redact_text(text: &str) -> (String, usize) {
    let spans = find_in_text(text);
    if spans.is_empty() {
        return (text.to_string(), 0);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for s in &spans {
        out.push_str(&text[at..s.start]);
        out.push('[');
        out.push_str(&s.entity.as_str().to_ascii_uppercase());
        out.push(']');
        at = s.end;
    }
    out.push_str(&text[at..]);
    (out, spans.len())
}

/// Masks all but the last four alphanumeric characters with `*`, keeping
/// separators so the shape stays recognisable.
pub fn mask_keep_last4(s: &str) -> String {
    let total = s.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen + 4 > total { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards() {
        for ok in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5500005555555559",
            "378282246310005",
            "6011111111111117",
            "3530111333300000",
        ] {
            assert!(is_card(ok), "{ok}");
        }
        // Fails Luhn, unknown issuer, too short, letters.
        for bad in [
            "4111 1111 1111 1112",
            "9111111111111111",
            "411111111111",
            "4111 1111 1111 111a",
            "1234567890123456",
        ] {
            assert!(!is_card(bad), "{bad}");
        }
    }

    #[test]
    fn check_digits_make_valid_numbers() {
        let payload = [4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let d = luhn_check_digit(&payload);
        assert_eq!(d, 1);
        let mut full = payload.to_vec();
        full.push(d);
        assert!(luhn_ok(&full));
    }

    #[test]
    fn ssns() {
        assert!(is_ssn("123-45-6789"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "900-12-3456",
            "999-12-3456",
            "123-00-4567",
            "123-45-0000",
            "123456789",
            "123-45-67890",
        ] {
            assert!(!is_ssn(bad), "{bad}");
        }
    }

    #[test]
    fn ibans() {
        assert!(is_iban("GB82 WEST 1234 5698 7654 32"));
        assert!(is_iban("DE89370400440532013000"));
        assert!(!is_iban("GB82 WEST 1234 5698 7654 33"));
        assert!(!is_iban("XX82WEST12345698765432"));
        assert!(!is_iban("DE8937040044053201300"));
    }

    #[test]
    fn emails_phones_ips_addresses() {
        assert!(is_email("ana.lee+x@mail.example.co.uk"));
        assert!(!is_email("ana at example dot com"));
        assert!(!is_email("@example.com"));
        for ok in [
            "+14155550132",
            "+44 20 7946 0958",
            "(415) 555-0132",
            "415-555-0132",
            "020 7946 0958",
            "06 12 34 56 78",
        ] {
            assert!(is_phone(ok), "{ok}");
        }
        for bad in ["12345", "2026-11-22", "3.14159", "415555013", "1,234,567"] {
            assert!(!is_phone(bad), "{bad}");
        }
        assert!(is_ip("192.168.1.20") && is_ip("2001:db8::1"));
        assert!(!is_ip("999.1.1.1") && !is_ip("1.2.3"));
        assert!(is_address("221 Baker Street") && is_address("1600 Pennsylvania Ave"));
        assert!(!is_address("Baker Street"));
    }

    #[test]
    fn names() {
        assert!(looks_like_name("Braund, Mr. Owen Harris"));
        assert!(looks_like_name("Ana Lee"));
        assert!(!looks_like_name("approved"));
        assert!(!looks_like_name("A/5 21171"));
        assert_eq!(entity_from_name("Full Name"), Some(Entity::Name));
        assert_eq!(entity_from_name("name"), Some(Entity::Name));
        assert_eq!(entity_from_name("username"), None);
        assert_eq!(entity_from_name("date_of_birth"), Some(Entity::DateOfBirth));
        assert_eq!(entity_from_name("card_number"), Some(Entity::Card));
        assert_eq!(entity_from_name("income"), None);
    }

    #[test]
    fn free_text_is_scanned_and_redacted() {
        let t = "Call Mrs. Jane Doe on (415) 555-0132 or mail jane@example.com; card 4111 1111 1111 1111, ssn 123-45-6789.";
        let found: Vec<Entity> = find_in_text(t).into_iter().map(|s| s.entity).collect();
        assert_eq!(
            found,
            [
                Entity::Name,
                Entity::Phone,
                Entity::Email,
                Entity::Card,
                Entity::Ssn
            ]
        );
        let (r, n) = redact_text(t);
        assert_eq!(n, 5);
        assert_eq!(
            r,
            "Call [NAME] on [PHONE] or mail [EMAIL]; card [CARD], ssn [SSN]."
        );
        // Invalid numbers in text are left alone.
        assert!(find_in_text("order 4111 1111 1111 1112 and 000-12-3456").is_empty());
    }

    #[test]
    fn masking_keeps_last_four() {
        assert_eq!(
            mask_keep_last4("4111-1111-1111-1234"),
            "****-****-****-1234"
        );
        assert_eq!(mask_keep_last4("abc"), "abc");
    }
}
