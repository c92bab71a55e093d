//! Telephone numbers: international (`+CC` or `00CC`) and national formats,
//! with an optional extension.
//!
//! A number is checked against the length of national significant numbers
//! in its country's plan (ITU-T E.164 national plans, as libphonenumber
//! records them) for the common countries, and against the E.164 limits for
//! the rest. National numbers are recognised by shape: a trunk `0` with 9 to
//! 12 digits (most of Europe), ten digits (North America, Italian mobiles)
//! or Spain's nine digits in its own grouping.
//!
//! Why not the `phonenumber` crate (a port of libphonenumber's metadata,
//! 0.3.10): its `is_valid` decides whether a number is *assigned*, and says
//! no to the reserved fictional ranges a table still holds as PII (Ofcom's
//! `(01632) 960123`, `0115 4960086`, `07700 900123`), while its parser accepts `10.2.3.4` and `343-90-7301` as numbers, so it
//! decides neither way on its own. What is left, length per country, is
//! the table below; the crate would add 42 crates to the build (18 s for a
//! fresh debug build of it alone, 36 s release, on this project's 2-core
//! machine).

use std::sync::OnceLock;

use regex::Regex;

/// National significant number lengths (without the trunk prefix) by
/// country calling code.
fn nsn_lengths(cc: &str) -> Option<(usize, usize)> {
    Some(match cc {
        "1" => (10, 10),
        "7" => (10, 10),
        "20" => (8, 10),
        "27" => (9, 9),
        "30" => (10, 10),
        "31" => (9, 9),
        "32" => (8, 9),
        "33" => (9, 9),
        "34" => (9, 9),
        "36" => (8, 9),
        "39" => (6, 11),
        "40" => (9, 9),
        "41" => (9, 9),
        "43" => (4, 13),
        "44" => (7, 10),
        "45" => (8, 8),
        "46" => (7, 10),
        "47" => (8, 8),
        "48" => (9, 9),
        "49" => (6, 13),
        "51" => (8, 9),
        "52" => (10, 10),
        "54" => (10, 11),
        "55" => (10, 11),
        "56" => (9, 9),
        "57" => (10, 10),
        "60" => (8, 10),
        "61" => (9, 9),
        "62" => (8, 12),
        "63" => (10, 10),
        "64" => (8, 10),
        "65" => (8, 8),
        "66" => (8, 9),
        "81" => (9, 10),
        "82" => (8, 10),
        "84" => (9, 10),
        "86" => (10, 11),
        "90" => (10, 10),
        "91" => (10, 10),
        "92" => (9, 10),
        "212" => (9, 9),
        "234" => (8, 10),
        "254" => (9, 9),
        "351" => (9, 9),
        "352" => (4, 11),
        "353" => (7, 9),
        "354" => (7, 9),
        "356" => (8, 8),
        "357" => (8, 8),
        "358" => (5, 12),
        "359" => (7, 9),
        "370" => (8, 8),
        "371" => (8, 8),
        "372" => (7, 8),
        "380" => (9, 9),
        "381" => (8, 9),
        "385" => (8, 9),
        "386" => (8, 8),
        "420" => (9, 9),
        "421" => (9, 9),
        "852" => (8, 8),
        "886" => (8, 9),
        "966" => (9, 9),
        "971" => (8, 9),
        "972" => (8, 9),
        _ => return None,
    })
}

struct Patterns {
    /// A run of digits with the separators numbers are written with.
    candidate: Regex,
    extension: Regex,
    date: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        // The patterns are literals checked by the tests; a failure to
        // compile would be a bug caught on the first test run.
        let re = |s: &str| Regex::new(s).unwrap_or_else(|e| panic!("built-in pattern {s}: {e}"));
        Patterns {
            candidate: re(r"\+?\(?[0-9](?:[0-9]|[ ./\-]?\(0\)[ ./\-]?|[ ./\-]?\(?[0-9]|\)[ ./\-]?[0-9])*"),
            extension: re(r"^(?i:\s*,?\s*(?:x|ext\.?|extn\.?|extension|#|poste|durchwahl)\s*)[0-9]{1,6}"),
            date: re(r"^(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})"),
        }
    })
}

/// Phone-shaped candidates in `text` (byte ranges), each with its
/// extension.
pub(crate) fn candidates(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let p = patterns();
    p.candidate.find_iter(text).map(move |m| {
        let end = p
            .extension
            .find(&text[m.end()..])
            .map_or(m.end(), |x| m.end() + x.end());
        (m.start(), end)
    })
}

/// Word stems that announce a number to call (`call back on`, `Rückruf
/// unter`, `rappeler au`, `richiamare al`, `terugbellen op`).
const CALL_WORDS: &[&str] = &[
    "call", "phone", "tel", "mobil", "cell", "ring", "sms", "whatsapp", "fax", "rückruf", "anruf",
    "ruf", "appel", "rappel", "llam", "chiam", "richiam", "bel", "terugbel", "contact",
];

/// Whether one of the six words before `start` announces a phone number,
/// so a bare run of digits there is one.
pub(crate) fn called_before(text: &str, start: usize) -> bool {
    text[..start].split_whitespace().rev().take(6).any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphabetic()).to_lowercase();
        CALL_WORDS.iter().any(|k| w.starts_with(k))
    })
}

/// The number part of a candidate (without its extension).
fn number_part(s: &str) -> &str {
    let cut = s
        .find(|c: char| c.is_ascii_alphabetic() || c == '#' || c == ',')
        .unwrap_or(s.len());
    s[..cut].trim_end()
}

/// Whether a candidate span (as found by [`candidates`]) is written like a
/// telephone number. `lenient` (a column named for phones) also accepts
/// bare runs of 7 to 15 digits.
pub(crate) fn phone_ok(s: &str, lenient: bool) -> bool {
    let num = number_part(s.trim());
    let digits: Vec<u8> = num
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    if !(6..=15).contains(&digits.len()) || patterns().date.is_match(num) {
        return false;
    }
    if num.bytes().filter(|b| *b == b'(').count() != num.bytes().filter(|b| *b == b')').count() {
        return false;
    }
    let separated = num
        .bytes()
        .any(|b| matches!(b, b' ' | b'-' | b'.' | b'/' | b'('));
    if lenient && (7..=15).contains(&digits.len()) {
        return true;
    }
    // A dotted quad is an IP address or a version, not a number to call.
    if num.bytes().filter(|b| *b == b'.').count() == 3
        && !num
            .bytes()
            .any(|b| matches!(b, b' ' | b'-' | b'/' | b'(' | b'+'))
    {
        return false;
    }
    let groups: Vec<&str> = num
        .split([' ', '-', '.', '/', '(', ')'])
        .filter(|g| !g.is_empty())
        .collect();
    if let Some(rest) = num.strip_prefix('+') {
        return international(rest, &digits);
    }
    if num.starts_with("00") && digits.len() >= 10 {
        return international(&num[2..], &digits[2..]);
    }
    if !separated {
        return false;
    }
    // The shape of a US SSN (3-2-4) is never how a number to call is written.
    if groups.len() == 3 && groups.iter().map(|g| g.len()).eq([3, 2, 4]) {
        return false;
    }
    // Thousands grouping (12 345 678, 1.234.567) is an amount.
    if groups.len() >= 3 && groups[1..].iter().all(|g| g.len() == 3) && digits[0] != 0 {
        return false;
    }
    let n = digits.len();
    if digits[0] == 0 {
        // A trunk prefix: most of Europe and the UK.
        return (9..=12).contains(&n) || (n >= 7 && num.starts_with("(0"));
    }
    // North America (3-3-4) and Italian mobiles (3xx xxx xxxx); Spain's
    // nine digits (6xx/7xx/8xx/9xx) grouped 3-2-2-2 or 3-3-3 after a
    // prefix-free start.
    n == 10 || (n == 9 && (6..=9).contains(&digits[0]) && groups.len() >= 4)
}

/// Digits after `+` (or `00`): a country code then a national number of
/// that country's length (a trunk `0` or `(0)` after the code is allowed).
fn international(rest: &str, digits: &[u8]) -> bool {
    let all: String = rest
        .replace("(0)", "")
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(char::from)
        .collect();
    for k in 1..=3 {
        if all.len() <= k {
            break;
        }
        if let Some((lo, hi)) = nsn_lengths(&all[..k]) {
            let nsn = &all[k..];
            let nsn = nsn
                .strip_prefix('0')
                .filter(|s| s.len() >= lo)
                .unwrap_or(nsn);
            return (lo..=hi).contains(&nsn.len());
        }
    }
    (8..=15).contains(&digits.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(s: &str, lenient: bool) -> bool {
        candidates(s)
            .next()
            .is_some_and(|(a, b)| a == 0 && b == s.len())
            && phone_ok(s, lenient)
    }

    #[test]
    fn national_and_international_formats() {
        for ok in [
            "+14155550132",
            "+44 20 7946 0958",
            "(415) 555-0132",
            "415-555-0132",
            "415.555.0132",
            "020 7946 0958",
            "06 12 34 56 78",
            "(01632) 960123",
            "0115 4960086",
            "07700 900123",
            "+44(0)131 4960979",
            "+49 (0) 5102 734646",
            "+33 (0)6 44 83 37 88",
            "(0439)-150008",
            "068-6958969",
            "001-335-504-9258",
            "+1-517-863-7412x2772",
            "883-237-8876x232",
            "(710)827-3464x686",
            "+34 912 34 56 78",
            "912 34 56 78",
            "+310548283234",
            "0161 496 0897 ext. 45",
        ] {
            assert!(whole(ok, false), "{ok}");
        }
        for bad in [
            "12345",
            "2026-11-22",
            "12.03.1985",
            "3.14159",
            "415555013",
            "4155550132",
            "10.2.3.4",
            "12 345 678",
            "+99",
            "343-90-7301",
        ] {
            assert!(!whole(bad, false), "{bad}");
        }
        // A column named for phones: bare numbers count.
        for ok in ["4155550132", "07700900123", "0521833786"] {
            assert!(whole(ok, true), "{ok}");
        }
        assert!(!whole("12345", true));
    }
}
