//! A bounded reader for the UBJSON (Universal Binary JSON, draft 12) that
//! XGBoost writes, into a `serde_json::Value` the JSON reader's typed
//! structs are then read from.
//!
//! Supported: null, no-op, booleans, the integer types `i U I l L`, floats
//! `d D`, chars, strings, arrays and objects, with the optimised `$type` and
//! `#count` headers. High-precision numbers (`H`) are refused. Numbers are
//! big-endian. Nesting is at most [`MAX_DEPTH`] deep, every declared length
//! must fit in the bytes that remain, and at most [`MAX_VALUES`] values are
//! made (the document in memory is about 32 bytes per value).
//! Non-finite floats become `null`, which the typed reader then refuses.

use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects.
pub const MAX_DEPTH: usize = 128;
/// Most values (scalars and containers) in one document.
pub const MAX_VALUES: usize = 1 << 26;

pub(crate) fn to_value(bytes: &[u8]) -> Result<Value, String> {
    let mut r = Reader {
        b: bytes,
        pos: 0,
        values: 0,
    };
    let marker = r.byte()?;
    let v = r.value(marker, 0)?;
    if r.pos != bytes.len() {
        return Err(format!(
            "{} bytes after the document, at byte {}",
            bytes.len() - r.pos,
            r.pos
        ));
    }
    Ok(v)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    values: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| format!("the document ends inside a value at byte {}", self.pos))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn count(&mut self) -> Result<(), String> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(format!("more than {MAX_VALUES} values"));
        }
        Ok(())
    }

    /// An integer of the type `marker`.
    fn int(&mut self, marker: u8) -> Result<i64, String> {
        Ok(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.array()?)),
            b'U' => i64::from(self.byte()?),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            m => return Err(format!("expected an integer type, got {:?}", m as char)),
        })
    }

    /// A length: an integer marker and value, not negative.
    fn length(&mut self) -> Result<usize, String> {
        let m = self.byte()?;
        let n = self.int(m)?;
        usize::try_from(n).map_err(|_| format!("negative length {n} at byte {}", self.pos))
    }

    fn string(&mut self) -> Result<String, String> {
        let n = self.length()?;
        let at = self.pos;
        let s = self.take(n)?;
        std::str::from_utf8(s)
            .map(str::to_string)
            .map_err(|_| format!("string at byte {at} is not UTF-8"))
    }

    fn float(v: f64) -> Value {
        Number::from_f64(v).map_or(Value::Null, Value::Number)
    }

    fn value(&mut self, marker: u8, depth: usize) -> Result<Value, String> {
        self.count()?;
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.int(marker)?),
            b'd' => Self::float(f64::from(f32::from_be_bytes(self.array()?))),
            b'D' => Self::float(f64::from_be_bytes(self.array()?)),
            b'C' => Value::String(char::from(self.byte()?).to_string()),
            b'S' => Value::String(self.string()?),
            b'[' | b'{' => {
                if depth >= MAX_DEPTH {
                    return Err(format!("nested more than {MAX_DEPTH} deep"));
                }
                self.container(marker == b'{', depth + 1)?
            }
            b'H' => return Err("high-precision numbers are not supported".into()),
            m => {
                return Err(format!(
                    "unknown type marker {m:#04x} at byte {}",
                    self.pos.saturating_sub(1)
                ));
            }
        })
    }

    fn container(&mut self, object: bool, depth: usize) -> Result<Value, String> {
        let mut typed = None;
        if self.peek() == Some(b'$') {
            self.pos += 1;
            typed = Some(self.byte()?);
        }
        let mut count = None;
        if self.peek() == Some(b'#') {
            self.pos += 1;
            let n = self.length()?;
            // Every element takes at least one byte (a typed scalar at least
            // one, an object entry a key length): refuse counts the rest of
            // the file cannot hold before allocating for them.
            if n > self.b.len() - self.pos {
                return Err(format!(
                    "{n} elements declared with {} bytes left",
                    self.b.len() - self.pos
                ));
            }
            count = Some(n);
        } else if typed.is_some() {
            return Err("a typed container needs a count".into());
        }
        let mut items = Vec::new();
        let mut map = Map::new();
        let mut i = 0usize;
        loop {
            match count {
                Some(n) if i == n => break,
                None => {
                    // Skip no-ops; the end marker closes the container.
                    while self.peek() == Some(b'N') {
                        self.pos += 1;
                    }
                    let end = if object { b'}' } else { b']' };
                    if self.peek() == Some(end) {
                        self.pos += 1;
                        break;
                    }
                }
                _ => {}
            }
            let key = if object { Some(self.string()?) } else { None };
            let marker = match typed {
                Some(t) => t,
                None => self.byte()?,
            };
            let v = self.value(marker, depth)?;
            match key {
                Some(k) => {
                    if map.insert(k.clone(), v).is_some() {
                        return Err(format!("key {k:?} given twice"));
                    }
                }
                None => items.push(v),
            }
            i += 1;
        }
        Ok(if object {
            Value::Object(map)
        } else {
            Value::Array(items)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subset_xgboost_writes() {
        // {"a": [1.5f32, 2.0f32], "b": "xy", "c": [$U#i2 7 8], "d": -3i8}
        let mut b = vec![b'{'];
        b.extend([b'i', 1, b'a', b'[']);
        b.extend([b'd']);
        b.extend(1.5f32.to_be_bytes());
        b.extend([b'd']);
        b.extend(2.0f32.to_be_bytes());
        b.push(b']');
        b.extend([b'i', 1, b'b', b'S', b'i', 2, b'x', b'y']);
        b.extend([b'i', 1, b'c', b'[', b'$', b'U', b'#', b'i', 2, 7, 8]);
        b.extend([b'i', 1, b'd', b'i', 0xfd]);
        b.push(b'}');
        let v = to_value(&b).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": [1.5, 2.0], "b": "xy", "c": [7, 8], "d": -3})
        );
    }

    #[test]
    fn refuses_what_does_not_fit() {
        assert!(to_value(b"").is_err());
        assert!(to_value(b"[").is_err());
        assert!(to_value(b"[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff").is_err());
        assert!(to_value(b"[#i\xff").is_err());
        assert!(to_value(b"Si\x05ab").is_err());
        assert!(to_value(b"Z]").is_err());
        assert!(to_value(b"H").is_err());
        assert!(to_value(&[b'['; 200]).is_err());
        assert!(to_value(b"{i\x01aZi\x01aZ}").is_err());
    }
}
