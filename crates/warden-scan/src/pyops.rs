//! Text operands of protocol 0/1 pickles, parsed the way CPython parses
//! them: `int(s, 0)` and `int(s)` (signs, whitespace, `0x`/`0o`/`0b`
//! prefixes, single underscores between digits, the 4300-digit limit on
//! decimal strings), `float(s)`, `codecs.escape_decode` for STRING,
//! `raw-unicode-escape` for UNICODE and UTF-8 with `surrogatepass` for the
//! binary string opcodes. Where `Modules/_pickle.c` (the loader that runs)
//! accepts more than `Lib/pickle.py`, the wider rule is taken: a NUL ends
//! a numeric operand, and INT reads a leading-zero number as octal first
//! (C `strtol`).

/// An integer operand's value: exact when it fits in an i128.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum PyInt {
    Small(i128),
    Big,
}

/// CPython's limit on digits in a decimal string converted to int.
const MAX_STR_DIGITS: usize = 4300;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

/// The part of a numeric operand C reads: everything before the first NUL.
pub(crate) fn until_nul(s: &[u8]) -> &[u8] {
    match memchr::memchr(0, s) {
        Some(i) => &s[..i],
        None => s,
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|&c| !is_space(c)).unwrap_or(s.len());
    let b = s.iter().rposition(|&c| !is_space(c)).map_or(a, |i| i + 1);
    &s[a..b.max(a)]
}

/// Python's `int(s, base)` for base 0 or 10.
pub(crate) fn py_int(s: &[u8], base0: bool) -> Option<PyInt> {
    let s = trim(s);
    let (neg, mut s) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut radix = 10u32;
    let mut prefixed = false;
    if base0 && s.len() >= 2 && s[0] == b'0' {
        radix = match s[1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            b'b' | b'B' => 2,
            _ => 10,
        };
        if radix != 10 {
            s = &s[2..];
            prefixed = true;
            // One underscore may follow the prefix.
            if s.first() == Some(&b'_') {
                s = &s[1..];
            }
        }
    }
    // Digits with single underscores between them.
    let mut digits: Vec<u32> = Vec::with_capacity(s.len().min(64));
    let mut prev_us = true;
    for &c in s {
        if c == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
            continue;
        }
        let d = (c as char).to_digit(radix)?;
        digits.push(d);
        prev_us = false;
    }
    if digits.is_empty() || prev_us {
        return None;
    }
    let _ = prefixed;
    if radix == 10 {
        if base0 && digits[0] == 0 && digits.iter().any(|&d| d != 0) {
            return None; // "010" is not a base-0 literal
        }
        if digits.len() > MAX_STR_DIGITS {
            return None;
        }
    }
    let mut v: i128 = 0;
    for d in digits {
        v = match v
            .checked_mul(radix as i128)
            .and_then(|x| x.checked_add(d as i128))
        {
            Some(x) => x,
            None => return Some(PyInt::Big),
        };
    }
    Some(PyInt::Small(if neg { -v } else { v }))
}

/// C `strtol(s, &end, 0)` on a 64-bit long, accepted only when it reads
/// the whole operand (what `load_int` tries before `int(s, 0)`).
fn strtol_whole(s: &[u8]) -> Option<i128> {
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let mut radix = 10;
    if s.get(i) == Some(&b'0') {
        if matches!(s.get(i + 1), Some(b'x' | b'X'))
            && s.get(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            radix = 16;
            i += 2;
        } else {
            radix = 8;
        }
    }
    let start = i;
    let mut v: i128 = 0;
    while let Some(d) = s.get(i).and_then(|&c| (c as char).to_digit(radix)) {
        v = v * radix as i128 + d as i128;
        if v > i64::MAX as i128 + 1 {
            return None; // ERANGE: C falls back to int(s, 0)
        }
        i += 1;
    }
    if i == start || i != s.len() {
        return None;
    }
    let v = if neg { -v } else { v };
    if v > i64::MAX as i128 || v < i64::MIN as i128 {
        return None;
    }
    Some(v)
}

/// INT's operand (the line without its newline): `Some(Err(b))` for the
/// booleans `00`/`01`, else the integer.
pub(crate) fn int_operand(line: &[u8]) -> Option<Result<PyInt, bool>> {
    if line == b"00" {
        return Some(Err(false));
    }
    if line == b"01" {
        return Some(Err(true));
    }
    let s = until_nul(line);
    if let Some(v) = strtol_whole(s) {
        return Some(Ok(PyInt::Small(v)));
    }
    py_int(s, true).map(Ok)
}

/// LONG's operand: one trailing `L` dropped, then `int(s, 0)`.
pub(crate) fn long_operand(line: &[u8]) -> Option<PyInt> {
    let s = match line.last() {
        Some(b'L') => &line[..line.len() - 1],
        _ => line,
    };
    py_int(until_nul(s), true)
}

/// PUT/GET operand: `int(s)` (base 10).
pub(crate) fn index_operand(line: &[u8]) -> Option<PyInt> {
    py_int(until_nul(line), false)
}

/// FLOAT's operand: Python's `float(s)`.
pub(crate) fn float_operand(line: &[u8]) -> Option<f64> {
    let s = trim(until_nul(line));
    let t = std::str::from_utf8(s).ok()?;
    // Underscores only between digits.
    let b = t.as_bytes();
    let mut clean = String::with_capacity(t.len());
    for (i, &c) in b.iter().enumerate() {
        if c == b'_' {
            let ok = i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if !ok {
                return None;
            }
            continue;
        }
        clean.push(c as char);
    }
    let lower = clean.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if body.len() + 1 < lower.len() {
        return None; // more than one sign
    }
    let neg = lower.starts_with('-');
    let v = match body {
        "inf" | "infinity" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => {
            if !body
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
                || !body.bytes().any(|c| c.is_ascii_digit())
            {
                return None;
            }
            body.parse::<f64>().ok()?
        }
    };
    Some(if neg { -v } else { v })
}

/// `codecs.escape_decode` of STRING's quoted body.
pub(crate) fn escape_decode(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = *body.get(i + 1)?; // a trailing backslash is an error
        i += 2;
        match e {
            b'\n' => {}
            b'\\' => out.push(b'\\'),
            b'\'' => out.push(b'\''),
            b'"' => out.push(b'"'),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                let mut k = 0;
                while k < 2 && i < body.len() && (b'0'..=b'7').contains(&body[i]) {
                    v = v * 8 + u32::from(body[i] - b'0');
                    i += 1;
                    k += 1;
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => {
                let h = body.get(i..i + 2)?;
                let v = std::str::from_utf8(h)
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())?;
                out.push(v);
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Some(out)
}

/// STRING's operand: quoted, then escape-decoded; bytes become text as
/// latin-1 (the widest `encoding` a loader passes; ASCII, the default,
/// fails on the rest).
pub(crate) fn string_operand(line: &[u8]) -> Option<String> {
    if line.len() < 2 || line[0] != line[line.len() - 1] || !matches!(line[0], b'\'' | b'"') {
        return None;
    }
    let b = escape_decode(&line[1..line.len() - 1])?;
    Some(b.iter().map(|&c| c as char).collect())
}

/// `str(b, 'raw-unicode-escape')`: `\uXXXX` and `\UXXXXXXXX` after an odd
/// run of backslashes; every other byte is its latin-1 character. Lone
/// surrogates (which Rust strings cannot hold) become U+FFFD.
pub(crate) fn raw_unicode_escape(l: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(l.len());
    let mut i = 0;
    while i < l.len() {
        if l[i] != b'\\' {
            out.push(l[i] as char);
            i += 1;
            continue;
        }
        let run_start = i;
        while i < l.len() && l[i] == b'\\' {
            i += 1;
        }
        let run = i - run_start;
        let escape = run % 2 == 1 && matches!(l.get(i), Some(b'u' | b'U'));
        let literal = if escape { run - 1 } else { run };
        out.extend(std::iter::repeat_n('\\', literal));
        if !escape {
            continue;
        }
        let n = if l[i] == b'u' { 4 } else { 8 };
        let h = l.get(i + 1..i + 1 + n)?;
        let v = std::str::from_utf8(h)
            .ok()
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
            .and_then(|h| u32::from_str_radix(h, 16).ok())?;
        if v > 0x10ffff {
            return None;
        }
        out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
        i += 1 + n;
    }
    Some(out)
}

/// `str(b, 'utf-8', 'surrogatepass')`: encoded surrogates become U+FFFD.
pub(crate) fn utf8_surrogatepass(b: &[u8]) -> Option<String> {
    if let Ok(s) = std::str::from_utf8(b) {
        return Some(s.to_string());
    }
    let mut out = String::with_capacity(b.len());
    let mut rest = b;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                return Some(out);
            }
            Err(e) => {
                let (ok, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(ok).ok()?);
                if bad.len() >= 3
                    && bad[0] == 0xed
                    && (0xa0..=0xbf).contains(&bad[1])
                    && (0x80..=0xbf).contains(&bad[2])
                {
                    out.push('\u{fffd}');
                    rest = &bad[3..];
                } else {
                    return None;
                }
            }
        }
    }
}

/// Python's `str.isidentifier()` on every dotted part (ASCII and
/// alphabetic characters; close enough to tell a module path from prose).
pub(crate) fn dotted_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|p| {
            let mut c = p.chars();
            matches!(c.next(), Some(ch) if ch == '_' || ch.is_alphabetic())
                && c.all(|ch| ch == '_' || ch.is_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints_as_cpython_reads_them() {
        let i = |s: &str| int_operand(s.as_bytes());
        assert_eq!(i("10"), Some(Ok(PyInt::Small(10))));
        assert_eq!(i("0x1f"), Some(Ok(PyInt::Small(31))));
        assert_eq!(i("0X1F"), Some(Ok(PyInt::Small(31))));
        assert_eq!(i("0o17"), Some(Ok(PyInt::Small(15))));
        assert_eq!(i("0b101"), Some(Ok(PyInt::Small(5))));
        assert_eq!(i("1_000"), Some(Ok(PyInt::Small(1000))));
        assert_eq!(i("0x_ff"), Some(Ok(PyInt::Small(255))));
        assert_eq!(i(" -12 "), Some(Ok(PyInt::Small(-12))));
        assert_eq!(i("010"), Some(Ok(PyInt::Small(8))), "C strtol reads octal");
        assert_eq!(i("00"), Some(Err(false)));
        assert_eq!(i("01"), Some(Err(true)));
        assert_eq!(i("5\0junk"), Some(Ok(PyInt::Small(5))));
        assert_eq!(i("1__0"), None);
        assert_eq!(i("_1"), None);
        assert_eq!(i("1_"), None);
        assert_eq!(i("0x"), None);
        assert_eq!(i(""), None);
        assert_eq!(i("1.5"), None);
        assert_eq!(i(&"9".repeat(60)), Some(Ok(PyInt::Big)));
        assert_eq!(i(&"9".repeat(4301)), None);
        assert_eq!(long_operand(b"0x10L"), Some(PyInt::Small(16)));
        assert_eq!(long_operand(b"010"), None);
        assert_eq!(long_operand(b"0_0"), Some(PyInt::Small(0)));
        assert_eq!(index_operand(b" 1_0\r"), Some(PyInt::Small(10)));
        assert_eq!(index_operand(b"010"), Some(PyInt::Small(10)));
        assert_eq!(index_operand(b"0x10"), None);
    }

    #[test]
    fn floats_strings_and_unicode() {
        assert_eq!(float_operand(b" 1_0.5 "), Some(10.5));
        assert_eq!(float_operand(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(float_operand(b"nan").is_some_and(f64::is_nan));
        assert_eq!(float_operand(b"1e"), None);
        assert_eq!(float_operand(b"_1"), None);
        assert_eq!(string_operand(b"'o\\x73'").as_deref(), Some("os"));
        assert_eq!(
            string_operand(b"'\\a\\v\\101'").as_deref(),
            Some("\x07\x0bA")
        );
        assert_eq!(string_operand(b"'abc\\'"), None);
        assert_eq!(string_operand(b"'\\x4'"), None);
        assert_eq!(string_operand(b"'ab\""), None);
        assert_eq!(raw_unicode_escape(b"a\\u0062").as_deref(), Some("ab"));
        assert_eq!(
            raw_unicode_escape(b"a\\\\u0062").as_deref(),
            Some("a\\\\u0062")
        );
        assert_eq!(
            raw_unicode_escape(b"a\\\\\\u0062").as_deref(),
            Some("a\\\\b")
        );
        assert_eq!(raw_unicode_escape(b"\\u12"), None);
        assert_eq!(
            utf8_surrogatepass(b"a\xed\xa0\x80b").as_deref(),
            Some("a\u{fffd}b")
        );
        assert_eq!(utf8_surrogatepass(b"a\xffb"), None);
    }
}
