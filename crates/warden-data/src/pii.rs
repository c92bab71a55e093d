//! Personal-data detectors: by column name and by value.
//!
//! Each detector is precise rather than eager: a value counts as a card
//! number only if it passes Luhn and has an issuer prefix, an SSN only if it
//! is in a range that can be issued, an IBAN only if its mod-97 check holds.
//! The same detectors scan free text for embedded PII and redact it (the
//! serving path uses them to filter responses). A match counts only at a
//! token boundary (not glued to letters, digits or `-_/.#`), so the
//! SSN-shaped start of an order id is not an SSN.
//!
//! Cards, phones, addresses and person names have their own modules
//! (`card`, `phone`, `address`, `names`); a column's name can also
//! rule an entity out (a column of versions holds no IP addresses).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    /// An email address.
    Email,
    /// A telephone number, international or national.
    Phone,
    /// A US social security number in an issuable range.
    Ssn,
    /// A payment card number: a known issuer (IIN) prefix and length, and a
    /// valid Luhn check digit.
    Card,
    /// An IBAN of its country's length whose mod-97 check holds.
    Iban,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A date of birth; recognised by the column's name only.
    DateOfBirth,
    /// A person's name.
    Name,
    /// A postal address or part of one (street line, post-office box).
    Address,
    /// A postcode; recognised by the column's name only.
    Postcode,
}

impl Entity {
    /// Every entity, in declaration order.
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

    /// The snake_case name used in reports and policy files (`date_of_birth`).
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

    /// The entity named by [`Entity::as_str`]; `None` for any other string.
    pub fn parse(s: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Direct identifiers point at one person on their own; the default
    /// policy drops them unless they are declared features.
    pub fn is_direct_identifier(self) -> bool {
        !matches!(self, Entity::DateOfBirth | Entity::Postcode)
    }
}

mod address;
mod card;
mod names;
mod phone;

pub use address::{is_address, looks_like_address};
pub use card::{is_card, luhn_check_digit, luhn_ok};
pub use names::{is_person_name, looks_like_name};

struct Patterns {
    email: Regex,
    ssn: Regex,
    card: Regex,
    iban: Regex,
    ipv4: Regex,
    ipv6: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are literals checked by the tests; a failure to
        // compile would be a bug caught on the first test run.
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("built-in pattern {s}: {e}"));
        Patterns {
            email: re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}"),
            ssn: re(r"([0-9]{3})-([0-9]{2})-([0-9]{4})"),
            card: re(r"[0-9](?:[ \-]?[0-9]){11,18}"),
            iban: re(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}"),
            ipv4: re(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"),
            ipv6: re(r"[0-9A-Fa-f:]*:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*"),
        }
    })
}

/// Whether a match at `start..end` of `text` stands on its own: not glued
/// to letters, digits or joiners (`-`, `_`, `/`, `.`, `#`) on either side,
/// so the SSN-shaped start of an order id `343-90-7301-X` is not an SSN. A
/// sentence's closing punctuation may follow.
fn bounded(text: &str, start: usize, end: usize) -> bool {
    let left = text[..start].chars().next_back().is_none_or(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '(' | '[' | '{' | '<' | '"' | '\'' | '“' | '‘' | '«' | ':' | ';' | ',' | '=' | '|'
            )
    });
    let mut after = text[end..].chars();
    let right = match after.next() {
        None => true,
        Some(c) if c.is_whitespace() => true,
        Some(')' | ']' | '}' | '>' | '"' | '\'' | '”' | '’' | '»' | ';' | '!' | '?' | '|') => {
            true
        }
        Some('.' | ',' | ':') => after.next().is_none_or(|c| c.is_whitespace()),
        Some(_) => false,
    };
    left && right
}

/// A US social security number `AAA-GG-SSSS` in an issuable range: area not
/// 000, 666 or 900-999; group not 00; serial not 0000.
pub fn is_ssn(s: &str) -> bool {
    patterns().ssn.captures(s).is_some_and(|c| {
        c.get(0).map(|m| m.as_str().len()) == Some(s.len()) && ssn_parts_ok(&c[1], &c[2], &c[3])
    })
}

fn ssn_parts_ok(area: &str, group: &str, serial: &str) -> bool {
    let a: u32 = area.parse().unwrap_or(0);
    a != 0 && a != 666 && a < 900 && group != "00" && serial != "0000"
}

/// IBAN lengths by country (the ISO 13616 registry).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" | "SD" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "MN" | "XK" => 20,
        "CH" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "CR" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" | "VA" => 22,
        "AE" | "GI" | "IL" | "IQ" | "OM" | "SO" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "LY" | "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "BI" | "DJ" | "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "NI" | "PL" | "SV" => 28,
        "BR" | "EG" | "PS" | "QA" | "UA" => 29,
        "JO" | "KW" | "MU" | "YE" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        "RU" => 33,
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

/// The end of the IBAN that starts a candidate, cut at its country's length
/// (so a word in capitals after it is not taken for more of it).
fn iban_end(text: &str, start: usize, candidate_end: usize) -> Option<usize> {
    let want = iban_length(text.get(start..start + 2)?)?;
    let mut seen = 0;
    for (i, c) in text[start..candidate_end].char_indices() {
        if c != ' ' {
            seen += 1;
            if seen == want {
                return Some(start + i + 1);
            }
        }
    }
    None
}

/// An email address.
pub fn is_email(s: &str) -> bool {
    patterns()
        .email
        .find(s)
        .is_some_and(|m| m.as_str().len() == s.len())
}

/// A phone number on its own, written as one: E.164 or a national format
/// with separators, an optional extension.
pub fn is_phone(s: &str) -> bool {
    whole_phone(s.trim(), false)
}

/// A phone number in a column named for phones: any of [`is_phone`], or a
/// bare run of 7 to 15 digits.
pub fn is_phone_in_phone_column(s: &str) -> bool {
    whole_phone(s.trim(), true)
}

fn whole_phone(s: &str, lenient: bool) -> bool {
    phone::candidates(s)
        .next()
        .is_some_and(|(a, b)| a == 0 && b == s.len())
        && phone::phone_ok(s, lenient)
}

/// An IPv4 or IPv6 address.
pub fn is_ip(s: &str) -> bool {
    s.parse::<Ipv4Addr>().is_ok() || (s.contains(':') && s.parse::<Ipv6Addr>().is_ok())
}

/// Words after which a dotted quad is a version, not an address.
const VERSION_WORDS: &[&str] = &[
    "v", "ver", "version", "versión", "versione", "versie", "release", "rel", "build", "firmware",
    "fw", "rev", "revision", "patch", "update", "software", "app", "sw",
];

/// Whether the word just before `start` says a version follows
/// (`version 10.2.3.4`, `release: 4.1.0.2`).
fn version_before(text: &str, start: usize) -> bool {
    let head = text[..start].trim_end_matches([' ', ':', '#']);
    let word: String = head
        .chars()
        .rev()
        .take_while(|c| c.is_alphabetic())
        .collect::<Vec<char>>()
        .into_iter()
        .rev()
        .collect();
    VERSION_WORDS.contains(&word.to_lowercase().as_str())
}

/// How a column's name suggests PII.
pub fn entity_from_name(column: &str) -> Option<Entity> {
    let tokens = name_tokens(column);
    let joined: String = tokens.concat();
    let any = |ks: &[&str]| tokens.iter().any(|t| ks.contains(&t.as_str()));
    let contains = |ks: &[&str]| ks.iter().any(|k| joined.contains(k));
    let not_a_person = any(&[
        "file",
        "host",
        "user",
        "username",
        "column",
        "model",
        "product",
        "company",
        "brand",
        "table",
        "field",
        "domain",
        "server",
        "app",
        "device",
        "city",
        "bank",
        "branch",
        "dataset",
        "feature",
        "event",
        "project",
        "package",
        "team",
        "store",
        "shop",
        "category",
        "class",
        "item",
        "plan",
        "campaign",
        "job",
        "role",
        "tag",
        "key",
        "node",
        "service",
        "queue",
        "topic",
        "db",
        "schema",
        "site",
        "page",
        "region",
        "country",
        "state",
        "town",
        "venue",
        "location",
        "street",
        "org",
        "organisation",
        "organization",
        "mac",
        "web",
        "url",
    ]);
    if contains(&["email"]) || any(&["mail", "courriel", "correo"]) {
        Some(Entity::Email)
    } else if contains(&["phone", "telef", "telep", "mobil", "msisdn"])
        || any(&[
            "tel",
            "telnr",
            "fax",
            "cell",
            "gsm",
            "handy",
            "movil",
            "cellulare",
            "portable",
        ])
    {
        Some(Entity::Phone)
    } else if any(&["ssn"]) || contains(&["socialsecurity", "nationalid", "sozialversicherung"]) {
        Some(Entity::Ssn)
    } else if (any(&["card", "pan", "ccnum", "ccn", "cc"])
        || contains(&["creditcard", "cardnumber", "kreditkarte"]))
        && !any(&["cardinal", "cardio"])
    {
        Some(Entity::Card)
    } else if contains(&["iban"]) {
        Some(Entity::Iban)
    } else if any(&["ip", "ipv4", "ipv6", "ipaddr", "ipaddress"])
        || contains(&["ipaddress", "ipaddr", "remoteaddr", "clientaddr"])
    {
        Some(Entity::Ip)
    } else if any(&["dob"])
        || contains(&[
            "birth",
            "geburt",
            "naissance",
            "nacimiento",
            "nascita",
            "geboorte",
        ])
    {
        Some(Entity::DateOfBirth)
    } else if (contains(&[
        "address",
        "adresse",
        "anschrift",
        "street",
        "strasse",
        "indirizzo",
        "direccion",
        "domicil",
    ]) || any(&["addr", "adres", "line1", "line2"]))
        && !any(&["mac", "web", "url", "wallet", "ip", "email", "mail"])
    {
        Some(Entity::Address)
    } else if any(&[
        "zip",
        "zipcode",
        "postcode",
        "postal",
        "postalcode",
        "plz",
        "postleitzahl",
        "cap",
    ]) || contains(&[
        "postcode",
        "zipcode",
        "postalcode",
        "codepostal",
        "codigopostal",
        "postleitzahl",
    ]) {
        Some(Entity::Postcode)
    } else if (joined == "name"
        || any(&[
            "surname",
            "firstname",
            "lastname",
            "fullname",
            "forename",
            "givenname",
            "nom",
            "prenom",
            "nombre",
            "apellido",
            "apellidos",
            "nome",
            "cognome",
            "naam",
            "vorname",
            "nachname",
            "achternaam",
            "voornaam",
            "holder",
            "cardholder",
            "beneficiary",
        ])
        || tokens.last().is_some_and(|t| t == "name"))
        && !not_a_person
    {
        Some(Entity::Name)
    } else {
        None
    }
}

/// The entity a column's name rules out: a column of versions or builds
/// holds dotted quads that are not IP addresses.
pub fn excluded_by_name(column: &str) -> Option<Entity> {
    let tokens = name_tokens(column);
    tokens
        .iter()
        .any(|t| {
            matches!(
                t.as_str(),
                "version" | "ver" | "release" | "build" | "firmware" | "fw" | "revision" | "semver"
            )
        })
        .then_some(Entity::Ip)
}

/// A column name's words, lower case without diacritics: split at
/// non-alphanumerics and at camel case (`billingAddress` → billing, address).
fn name_tokens(column: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in column.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                tokens.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        let mut folded = String::new();
        names::fold(&c.to_string(), &mut folded);
        cur.push_str(&folded.to_lowercase());
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    tokens
}

/// Whether a single value, on its own, is an entity (value-based detection;
/// dates of birth and postcodes need the column's name and are not here).
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
    } else if is_person_name(s) {
        return Some(Entity::Name);
    }
    None
}

/// Whether a value of a column named for `named` (and ruling out
/// `excluded`) is an entity: [`value_entity`], and in a column named for
/// it, a phone without separators, an address in any common format, a
/// name in one or more words.
pub fn value_entity_in_column(
    s: &str,
    named: Option<Entity>,
    excluded: Option<Entity>,
) -> Option<Entity> {
    let lenient = match named {
        Some(Entity::Phone) => is_phone_in_phone_column(s),
        Some(Entity::Address) => looks_like_address(s),
        Some(Entity::Name) => looks_like_name(s),
        _ => false,
    };
    let found = if lenient { named } else { value_entity(s) };
    found.filter(|e| Some(*e) != excluded)
}

/// One piece of PII found inside a longer text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// What the text holds there.
    pub entity: Entity,
    /// Byte offset of the first byte.
    pub start: usize,
    /// Byte offset just past the last byte.
    pub end: usize,
}

/// Every piece of PII embedded in free text, non-overlapping, in order.
pub fn find_in_text(text: &str) -> Vec<Span> {
    find_in_text_excluding(text, None)
}

/// [`find_in_text`] without the entity a column's name rules out.
pub fn find_in_text_excluding(text: &str, excluded: Option<Entity>) -> Vec<Span> {
    let p = patterns();
    let mut spans: Vec<Span> = Vec::new();
    let mut add = |entity, start, end| {
        if Some(entity) != excluded {
            spans.push(Span { entity, start, end });
        }
    };
    if text.contains('@') {
        for m in p.email.find_iter(text) {
            if bounded(text, m.start(), m.end()) {
                add(Entity::Email, m.start(), m.end());
            }
        }
    }
    let has_digit = text.bytes().any(|b| b.is_ascii_digit());
    if has_digit {
        for c in p.ssn.captures_iter(text) {
            if let Some(m) = c.get(0)
                && bounded(text, m.start(), m.end())
                && ssn_parts_ok(&c[1], &c[2], &c[3])
            {
                add(Entity::Ssn, m.start(), m.end());
            }
        }
        for m in p.card.find_iter(text) {
            if bounded(text, m.start(), m.end()) && is_card(m.as_str()) {
                add(Entity::Card, m.start(), m.end());
            }
        }
        for m in p.iban.find_iter(text) {
            if let Some(end) = iban_end(text, m.start(), m.end())
                && bounded(text, m.start(), end)
                && is_iban(&text[m.start()..end])
            {
                add(Entity::Iban, m.start(), end);
            }
        }
        for m in p.ipv4.find_iter(text) {
            if bounded(text, m.start(), m.end())
                && m.as_str().parse::<Ipv4Addr>().is_ok()
                && !version_before(text, m.start())
            {
                add(Entity::Ip, m.start(), m.end());
            }
        }
        for (a, b) in phone::candidates(text) {
            if bounded(text, a, b)
                && (phone::phone_ok(&text[a..b], false)
                    || (phone::called_before(text, a) && phone::phone_ok(&text[a..b], true)))
            {
                add(Entity::Phone, a, b);
            }
        }
        for (a, b) in address::find_addresses(text) {
            add(Entity::Address, a, b);
        }
    }
    if text.contains(':') {
        for m in p.ipv6.find_iter(text) {
            let s = m.as_str().trim_end_matches('.');
            let s = match s.strip_suffix(':') {
                Some(t) if !s.ends_with("::") => t,
                _ => s,
            };
            let end = m.start() + s.len();
            if s.bytes().filter(u8::is_ascii_hexdigit).count() >= 2
                && bounded(text, m.start(), end)
                && s.parse::<Ipv6Addr>().is_ok()
            {
                add(Entity::Ip, m.start(), end);
            }
        }
    }
    for (a, b) in names::find_names(text) {
        add(Entity::Name, a, b);
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
    redact_text_excluding(text, None)
}

/// [`redact_text`] without the entity a column's name rules out.
pub fn redact_text_excluding(text: &str, excluded: Option<Entity>) -> (String, usize) {
    let spans = find_in_text_excluding(text, excluded);
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
    fn column_names() {
        assert_eq!(entity_from_name("Full Name"), Some(Entity::Name));
        assert_eq!(entity_from_name("name"), Some(Entity::Name));
        assert_eq!(entity_from_name("username"), None);
        assert_eq!(entity_from_name("product_name"), None);
        assert_eq!(entity_from_name("date_of_birth"), Some(Entity::DateOfBirth));
        assert_eq!(entity_from_name("card_number"), Some(Entity::Card));
        assert_eq!(entity_from_name("company"), None, "pan inside a word");
        assert_eq!(entity_from_name("income"), None);
        assert_eq!(entity_from_name("billingAddress"), Some(Entity::Address));
        assert_eq!(entity_from_name("ip_address"), Some(Entity::Ip));
        assert_eq!(entity_from_name("mac_address"), None);
        assert_eq!(entity_from_name("Telefonnummer"), Some(Entity::Phone));
        assert_eq!(entity_from_name("téléphone"), Some(Entity::Phone));
        assert_eq!(entity_from_name("Anschrift"), Some(Entity::Address));
        assert_eq!(entity_from_name("PLZ"), Some(Entity::Postcode));
        assert_eq!(entity_from_name("capacity"), None);
        assert_eq!(excluded_by_name("app_version"), Some(Entity::Ip));
        assert_eq!(excluded_by_name("ip"), None);
    }

    #[test]
    fn matches_stand_at_token_boundaries() {
        for t in [
            "order 343-90-7301-X shipped",
            "ref A123-45-6789",
            "id 4111111111111111-2",
            "see 1.10.2.3.4 notes",
        ] {
            assert!(find_in_text(t).is_empty(), "{t}: {:?}", find_in_text(t));
        }
        let kinds =
            |t: &str| -> Vec<Entity> { find_in_text(t).into_iter().map(|s| s.entity).collect() };
        assert_eq!(kinds("SSN: 123-45-6789."), [Entity::Ssn]);
        assert_eq!(kinds("(4111 1111 1111 1111)"), [Entity::Card]);
    }

    #[test]
    fn ip_addresses_in_text_and_versions() {
        let kinds =
            |t: &str| -> Vec<Entity> { find_in_text(t).into_iter().map(|s| s.entity).collect() };
        assert_eq!(kinds("login from 2001:db8::1 blocked"), [Entity::Ip]);
        assert_eq!(
            kinds("sessions from add:12e3:b092:58ce:27fc:a833:436c:6d2a."),
            [Entity::Ip]
        );
        assert_eq!(kinds("login from 203.0.113.7, blocked"), [Entity::Ip]);
        for t in [
            "upgraded to version 10.2.3.4",
            "client on v10.2.3.4",
            "release 10.2.3.4 fixes it",
            "build: 10.2.3.4",
            "at 14:22:05 today",
        ] {
            assert!(kinds(t).is_empty(), "{t}: {:?}", kinds(t));
        }
        assert_eq!(
            value_entity_in_column("10.2.3.4", None, excluded_by_name("app_version")),
            None
        );
        assert_eq!(
            value_entity_in_column("10.2.3.4", None, None),
            Some(Entity::Ip)
        );
    }

    #[test]
    fn values_judged_with_their_column() {
        assert_eq!(
            value_entity_in_column("4155550132", Some(Entity::Phone), None),
            Some(Entity::Phone)
        );
        assert_eq!(value_entity_in_column("4155550132", None, None), None);
        assert_eq!(
            value_entity_in_column(
                "Flat 7\nJones Light\nNorth Holly\nS6 7LJ",
                Some(Entity::Address),
                None
            ),
            Some(Entity::Address)
        );
        assert_eq!(value_entity("Dalton Fletcher"), Some(Entity::Name));
        assert_eq!(value_entity("Premium Plus"), None);
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
        let t = "order 4111 1111 1111 1112 and 000-12-3456";
        assert!(find_in_text(t).is_empty(), "{:?}", find_in_text(t));
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
