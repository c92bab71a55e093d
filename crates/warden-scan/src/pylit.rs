//! The Python literals NumPy's `.npy` header is written in, parsed as
//! `ast.literal_eval` (NumPy's `safe_eval`) reads them: dicts, lists,
//! tuples, strings (either quote, triple quotes, r/b/u prefixes, escapes,
//! adjacent literals joined), numbers, True/False/None, comments. From the
//! parsed `descr`, whether the array holds Python objects is derived the
//! way `numpy.lib.format.descr_to_dtype` builds the dtype.

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Bytes(Vec<u8>),
    Int(i128),
    BigInt,
    Float(f64),
    Bool(bool),
    None,
    Tuple(Vec<Lit>),
    List(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

const MAX_DEPTH: u32 = 64;

struct P<'a> {
    s: &'a [u8],
    i: usize,
}

type R<T> = Result<T, String>;

impl P<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() {
            match self.s[self.i] {
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => self.i += 1,
                b'\\' if self.s.get(self.i + 1) == Some(&b'\n') => self.i += 2,
                b'#' => {
                    while self.i < self.s.len() && self.s[self.i] != b'\n' {
                        self.i += 1;
                    }
                }
                _ => break,
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, c: u8) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}' at {}", c as char, self.i))
        }
    }

    fn value(&mut self, depth: u32) -> R<Lit> {
        if depth > MAX_DEPTH {
            return Err("nested too deep".into());
        }
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Ok(Lit::Dict(out));
                    }
                    let k = self.value(depth + 1)?;
                    self.expect(b':')?;
                    let v = self.value(depth + 1)?;
                    out.push((k, v));
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err(format!("expected ',' or '}}' at {}", self.i)),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let (items, _) = self.seq(b']', depth)?;
                Ok(Lit::List(items))
            }
            Some(b'(') => {
                self.i += 1;
                let (items, comma) = self.seq(b')', depth)?;
                if items.len() == 1 && !comma {
                    return Ok(items.into_iter().next().unwrap_or(Lit::None));
                }
                Ok(Lit::Tuple(items))
            }
            Some(c) if c == b'\'' || c == b'"' || c.is_ascii_alphabetic() || c == b'_' => {
                self.word_or_string()
            }
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' || c == b'.' => self.number(),
            Some(c) => Err(format!("unexpected '{}' at {}", c as char, self.i)),
            None => Err("unexpected end".into()),
        }
    }

    fn seq(&mut self, close: u8, depth: u32) -> R<(Vec<Lit>, bool)> {
        let mut items = Vec::new();
        let mut comma = false;
        loop {
            if self.peek() == Some(close) {
                self.i += 1;
                return Ok((items, comma));
            }
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    comma = true;
                }
                Some(c) if c == close => {}
                _ => return Err(format!("expected ',' at {}", self.i)),
            }
        }
    }

    fn word_or_string(&mut self) -> R<Lit> {
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_')
        {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        if matches!(self.s.get(self.i), Some(b'\'' | b'"')) {
            let prefix = word.to_ascii_lowercase();
            let (raw, bytes) = match prefix.as_slice() {
                b"" | b"u" => (false, false),
                b"r" => (true, false),
                b"b" => (false, true),
                b"rb" | b"br" => (true, true),
                _ => return Err(format!("string prefix {:?}", String::from_utf8_lossy(word))),
            };
            // Adjacent literals are one (of one kind).
            let mut text: Vec<u8> = self.string_body(raw)?;
            loop {
                let save = self.i;
                self.skip_ws();
                let w0 = self.i;
                while self.i < self.s.len() && self.s[self.i].is_ascii_alphabetic() {
                    self.i += 1;
                }
                let p = self.s[w0..self.i].to_ascii_lowercase();
                if !matches!(self.s.get(self.i), Some(b'\'' | b'"')) {
                    self.i = save;
                    break;
                }
                let (r2, b2) = match p.as_slice() {
                    b"" | b"u" => (false, false),
                    b"r" => (true, false),
                    b"b" => (false, true),
                    b"rb" | b"br" => (true, true),
                    _ => return Err("string prefix".into()),
                };
                if b2 != bytes {
                    return Err("cannot mix bytes and nonbytes literals".into());
                }
                text.extend(self.string_body(r2)?);
            }
            return Ok(if bytes {
                Lit::Bytes(text)
            } else {
                Lit::Str(String::from_utf8(text).map_err(|_| "string is not UTF-8".to_string())?)
            });
        }
        match word {
            b"True" => Ok(Lit::Bool(true)),
            b"False" => Ok(Lit::Bool(false)),
            b"None" => Ok(Lit::None),
            _ => Err(format!(
                "name {:?} is not a literal",
                String::from_utf8_lossy(word)
            )),
        }
    }

    /// A quoted body at `self.i` (escapes decoded to UTF-8 bytes).
    fn string_body(&mut self, raw: bool) -> R<Vec<u8>> {
        let q = self.s[self.i];
        let triple = self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]);
        self.i += if triple { 3 } else { 1 };
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err("unterminated string".into());
            };
            if c == q {
                if !triple {
                    self.i += 1;
                    return Ok(out);
                }
                if self.s.get(self.i..self.i + 3) == Some(&[q, q, q][..]) {
                    self.i += 3;
                    return Ok(out);
                }
            }
            if c == b'\n' && !triple {
                return Err("newline in string".into());
            }
            if c == b'\\' {
                let Some(&e) = self.s.get(self.i + 1) else {
                    return Err("unterminated string".into());
                };
                self.i += 2;
                if raw {
                    out.push(b'\\');
                    out.push(e);
                    continue;
                }
                match e {
                    b'\n' => {}
                    b'\\' | b'\'' | b'"' => out.push(e),
                    b'n' => out.push(b'\n'),
                    b't' => out.push(b'\t'),
                    b'r' => out.push(b'\r'),
                    b'a' => out.push(7),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'v' => out.push(11),
                    b'x' | b'u' | b'U' | b'0'..=b'7' => {
                        let (n, radix) = match e {
                            b'x' => (2, 16),
                            b'u' => (4, 16),
                            b'U' => (8, 16),
                            _ => (3, 8),
                        };
                        let start = if radix == 8 { self.i - 1 } else { self.i };
                        let mut end = start;
                        while end < self.s.len()
                            && end - start < n
                            && (self.s[end] as char).is_digit(radix)
                        {
                            end += 1;
                        }
                        if radix == 16 && end - start != n {
                            return Err("truncated escape".into());
                        }
                        let v = u32::from_str_radix(
                            std::str::from_utf8(&self.s[start..end]).map_err(|e| e.to_string())?,
                            radix,
                        )
                        .map_err(|e| e.to_string())?;
                        self.i = end;
                        let ch = char::from_u32(v).ok_or("escape out of range")?;
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                    }
                    other => {
                        out.push(b'\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += 1;
        }
    }

    fn number(&mut self) -> R<Lit> {
        let mut neg = false;
        while let Some(c @ (b'-' | b'+')) = self.peek() {
            if c == b'-' {
                neg = !neg;
            }
            self.i += 1;
        }
        self.skip_ws();
        let start = self.i;
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_alphanumeric() || matches!(self.s[self.i], b'.' | b'_'))
            || (self.i > start
                && matches!(self.s.get(self.i), Some(b'+' | b'-'))
                && matches!(self.s[self.i - 1], b'e' | b'E')
                && !self.s[start..self.i].starts_with(b"0x"))
        {
            self.i += 1;
        }
        let t = &self.s[start..self.i];
        let t = t.strip_suffix(b"L").unwrap_or(t); // Python 2 headers
        if let Some(v) = crate::pyops::py_int(t, true) {
            return Ok(match v {
                crate::pyops::PyInt::Small(i) => Lit::Int(if neg { -i } else { i }),
                crate::pyops::PyInt::Big => Lit::BigInt,
            });
        }
        match crate::pyops::float_operand(t) {
            Some(f) if !t.is_empty() && !t.iter().any(|c| c.is_ascii_whitespace()) => {
                Ok(Lit::Float(if neg { -f } else { f }))
            }
            _ => Err(format!("bad number {:?}", String::from_utf8_lossy(t))),
        }
    }
}

/// Parses a whole literal (surrounding whitespace and comments allowed).
pub(crate) fn parse(s: &[u8]) -> R<Lit> {
    let mut p = P { s, i: 0 };
    let v = p.value(0)?;
    if p.peek().is_some() {
        return Err(format!("trailing text at {}", p.i));
    }
    Ok(v)
}

/// Whether a `.npy` descr makes an array of Python objects (its data is a
/// pickle): `None` when NumPy could not build a dtype from it.
pub(crate) fn descr_has_object(d: &Lit, depth: u32) -> Option<bool> {
    if depth > MAX_DEPTH {
        return None;
    }
    match d {
        Lit::Str(s) => type_string_has_object(s),
        Lit::Bytes(b) => type_string_has_object(std::str::from_utf8(b).ok()?),
        // (subtype, shape)
        Lit::Tuple(t) if t.len() == 2 => descr_has_object(&t[0], depth + 1),
        // [(name, descr) | (name, descr, shape), ...]
        Lit::List(fields) => {
            let mut any = false;
            for f in fields {
                let sub = match f {
                    Lit::Tuple(t) | Lit::List(t) if t.len() == 2 || t.len() == 3 => &t[1],
                    Lit::Str(s) if s.chars().count() == 2 => {
                        // A two-letter string unpacks into (name, code).
                        let code: String = s.chars().skip(1).collect();
                        any |= type_string_has_object(&code)?;
                        continue;
                    }
                    _ => return None,
                };
                any |= descr_has_object(sub, depth + 1)?;
            }
            Some(any)
        }
        _ => None,
    }
}

/// A NumPy type string: object when its code is `O` (with a byte order and
/// a size or not) or its name is one of object's.
fn type_string_has_object(s: &str) -> Option<bool> {
    let t = s.trim_start_matches(['<', '>', '=', '|']);
    if t.is_empty() {
        return None;
    }
    if matches!(t, "object" | "object_" | "object0" | "O") {
        return Some(true);
    }
    if let Some(rest) = t.strip_prefix('O') {
        return Some(rest.bytes().all(|c| c.is_ascii_digit()));
    }
    // Structured strings ("i4,O") list several codes.
    if t.contains(',') {
        let mut any = false;
        for part in t.split(',') {
            let p = part.trim();
            let p = p.trim_start_matches(|c: char| {
                c.is_ascii_digit() || c == '(' || c == ')' || c == ','
            });
            any |= type_string_has_object(p)?;
        }
        return Some(any);
    }
    Some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(h: &str) -> Option<bool> {
        let Lit::Dict(d) = parse(h.as_bytes()).ok()? else {
            return None;
        };
        let (_, descr) = d.iter().find(|(k, _)| *k == Lit::Str("descr".into()))?;
        descr_has_object(descr, 0)
    }

    #[test]
    fn headers_as_numpy_writes_and_reads_them() {
        assert_eq!(
            obj("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }"),
            Some(false)
        );
        assert_eq!(
            obj("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }"),
            Some(true)
        );
        assert_eq!(
            obj("{\"descr\": \"object\", 'fortran_order': False, 'shape': (3,)}"),
            Some(true)
        );
        assert_eq!(
            obj("{'descr': 'ob' 'ject', 'fortran_order': False, 'shape': ()}"),
            Some(true)
        );
        assert_eq!(
            obj("{'descr': u'\\x4f', 'fortran_order': False, 'shape': ()}"),
            Some(true)
        );
        assert_eq!(
            obj("{'descr': 'O8', 'fortran_order': False, 'shape': ()}"),
            Some(true)
        );
        assert_eq!(
            obj(
                "{'descr': [('a', '<f8'), ('b', '|O', (2,))], 'fortran_order': False, 'shape': (2,)}"
            ),
            Some(true)
        );
        assert_eq!(
            obj(
                "{'descr': [(('t', 'a'), '<i4'), ('', '|V4')], 'fortran_order': False, 'shape': (2,)} # c\n"
            ),
            Some(false)
        );
        assert_eq!(
            obj("{'descr': ('|O', (2,)), 'fortran_order': False, 'shape': (1L,)}"),
            Some(true)
        );
        assert_eq!(
            obj("{'descr': 'i4,O', 'fortran_order': False, 'shape': (1,)}"),
            Some(true)
        );
        assert!(parse(b"{'descr': __import__('os')}").is_err());
        assert_eq!(
            parse(b"(-1, +2.5e3, 0x10)").ok(),
            Some(Lit::Tuple(vec![
                Lit::Int(-1),
                Lit::Float(2500.0),
                Lit::Int(16)
            ]))
        );
    }
}
