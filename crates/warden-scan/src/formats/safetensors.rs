//! safetensors files, as the format's specification (the "Format" section
//! of the huggingface/safetensors README) lays them out: an 8-byte
//! little-endian header length, a JSON header mapping tensor names to
//! dtype, shape and `data_offsets`, then the data. Every tensor's range is
//! checked against its dtype and shape, the data section and its
//! neighbours; bytes no tensor claims are scanned for what hides there.

use std::io::{self, Read, Seek, SeekFrom};

use super::dispatch::{Ctx, NESTED_MAX, scan_nested_into};
use crate::Severity;
use crate::pickle::{may_start_pickle, nested_candidate};

/// Headers longer than this are not read (a finding instead).
pub(super) const HEADER_MAX: u64 = 100 * 1024 * 1024;

/// The start of a safetensors file: an 8-byte header length that fits the
/// file and the cap, and a header that begins as a JSON object. The whole
/// header must parse before the file is called safetensors
/// ([`header_ok`]).
pub(super) fn prefix(head: &[u8], len: u64) -> bool {
    if head.len() < 10 || head[8] != b'{' {
        return false;
    }
    let n = u64::from_le_bytes([
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
    ]);
    if !(2..=HEADER_MAX).contains(&n) || n.saturating_add(8) > len {
        return false;
    }
    match head.get(8..8 + n as usize) {
        Some(h) => matches!(
            serde_json::from_slice::<serde_json::Value>(h),
            Ok(serde_json::Value::Object(_))
        ),
        None => true,
    }
}

/// Whether the whole safetensors header (its length from the first 8
/// bytes) is a JSON object.
pub(super) fn header_ok<R: Read + Seek>(r: &mut R) -> io::Result<bool> {
    r.seek(SeekFrom::Start(0))?;
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)?;
    let n = u64::from_le_bytes(n8);
    if n > HEADER_MAX {
        return Ok(false);
    }
    let mut header = Vec::with_capacity(n as usize);
    (&mut *r).take(n).read_to_end(&mut header)?;
    r.seek(SeekFrom::Start(0))?;
    Ok(header.len() as u64 == n
        && matches!(
            serde_json::from_slice::<serde_json::Value>(&header),
            Ok(serde_json::Value::Object(_))
        ))
}

fn dtype_bits(d: &str) -> Option<u64> {
    Some(match d {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

/// Scans a safetensors file (or bytes) of length `len`.
pub(super) fn scan<R: Read + Seek>(r: &mut R, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let rule = "safetensors.malformed";
    r.seek(SeekFrom::Start(0))?;
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)?;
    let n = u64::from_le_bytes(n8);
    if n > HEADER_MAX {
        ctx.push(
            rule,
            Severity::High,
            format!("header length {n} is above the {HEADER_MAX}-byte cap"),
            Some(0),
        );
        return Ok(());
    }
    if n.saturating_add(8) > len {
        ctx.push(
            rule,
            Severity::High,
            format!("header length {n} runs past the end of the {len}-byte file"),
            Some(0),
        );
        return Ok(());
    }
    let mut header = vec![0u8; n as usize];
    r.read_exact(&mut header)?;
    let map: serde_json::Map<String, serde_json::Value> = match serde_json::from_slice(&header) {
        Ok(serde_json::Value::Object(m)) => m,
        Ok(_) => {
            ctx.push(
                rule,
                Severity::High,
                "header is JSON but not an object".into(),
                Some(8),
            );
            return Ok(());
        }
        Err(e) => {
            ctx.push(
                rule,
                Severity::High,
                format!("header is not valid JSON: {e}"),
                Some(8),
            );
            return Ok(());
        }
    };
    let data_len = len - 8 - n;
    let mut ranges: Vec<(u64, u64, String)> = Vec::new();
    for (name, v) in &map {
        if name == "__metadata__" {
            if !v
                .as_object()
                .is_some_and(|m| m.values().all(|x| x.is_string()))
            {
                ctx.push(
                    rule,
                    Severity::Medium,
                    "__metadata__ must map strings to strings".into(),
                    Some(8),
                );
            }
            continue;
        }
        let dtype = v.get("dtype").and_then(|d| d.as_str());
        let shape: Option<Vec<u64>> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|x| x.as_u64()).collect());
        let offs: Option<Vec<u64>> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|x| x.as_u64()).collect());
        let (Some(dtype), Some(shape), Some(offs)) = (dtype, shape, offs) else {
            ctx.push(
                rule,
                Severity::High,
                format!("tensor {name:?} lacks a valid dtype, shape or data_offsets"),
                Some(8),
            );
            continue;
        };
        if offs.len() != 2 || offs[0] > offs[1] {
            ctx.push(
                rule,
                Severity::High,
                format!(
                    "tensor {name:?} has data_offsets {offs:?} (need [begin, end] with begin ≤ end)"
                ),
                Some(8),
            );
            continue;
        }
        let Some(bits) = dtype_bits(dtype) else {
            ctx.push(
                rule,
                Severity::Medium,
                format!("tensor {name:?} has unknown dtype {dtype:?}"),
                Some(8),
            );
            continue;
        };
        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let bytes = numel
            .and_then(|e| e.checked_mul(bits))
            .map(|b| (b, b % 8 == 0));
        match bytes {
            Some((b, true)) if b / 8 == offs[1] - offs[0] => {}
            Some((b, _)) => ctx.push(
                rule,
                Severity::High,
                format!(
                    "tensor {name:?}: {dtype} × {shape:?} is {} bytes, its range holds {}",
                    b.div_ceil(8),
                    offs[1] - offs[0]
                ),
                Some(8),
            ),
            None => ctx.push(
                rule,
                Severity::High,
                format!("tensor {name:?}: shape {shape:?} overflows"),
                Some(8),
            ),
        }
        if offs[1] > data_len {
            ctx.push(
                rule,
                Severity::High,
                format!(
                    "tensor {name:?} ends at {} but the data section holds {data_len} bytes",
                    offs[1]
                ),
                Some(8),
            );
        }
        ranges.push((offs[0], offs[1], name.clone()));
    }
    ranges.sort();
    let mut at = 0u64;
    let mut gaps: Vec<(u64, u64)> = Vec::new();
    for (b, e, name) in &ranges {
        if *b > at && *b <= data_len {
            gaps.push((at, *b));
        }
        if *b < at {
            ctx.push(rule, Severity::High, format!("tensor {name:?} overlaps the tensor before it (starts at {b}, previous ends at {at})"), Some(8));
        } else if *b > at {
            ctx.push(
                rule,
                Severity::Medium,
                format!(
                    "{} unaccounted bytes before tensor {name:?} (a gap can hide data)",
                    b - at
                ),
                Some(8),
            );
        }
        at = at.max(*e);
    }
    if at < data_len {
        ctx.push(
            rule,
            Severity::Medium,
            format!(
                "{} bytes after the last tensor are not part of any tensor",
                data_len - at
            ),
            Some(8 + n + at),
        );
        gaps.push((at, data_len));
    }
    // What hides in the bytes no tensor claims (a pickle appended after
    // the tensors, an archive in a gap) is scanned.
    for (b, e) in gaps {
        let start = 8 + n + b;
        r.seek(SeekFrom::Start(start))?;
        let mut head = [0u8; 16];
        let got = read_up_to(r, &mut head)?;
        let head = &head[..got];
        if !(nested_candidate(head) || may_start_pickle(head)) {
            continue;
        }
        let take = (e - b).min(NESTED_MAX);
        r.seek(SeekFrom::Start(start))?;
        let mut bytes = Vec::with_capacity(usize::try_from(take).unwrap_or(0).min(1 << 20));
        (&mut *r).take(take).read_to_end(&mut bytes)?;
        let mut sub = ctx.sub(format!("bytes at offset {start}"));
        scan_nested_into(&bytes, &mut sub, !nested_candidate(head));
    }
    Ok(())
}

fn read_up_to<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::scan;
    use super::*;

    fn st(header: &str, data: usize) -> Vec<u8> {
        let mut v = (header.len() as u64).to_le_bytes().to_vec();
        v.extend_from_slice(header.as_bytes());
        v.extend(std::iter::repeat_n(0u8, data));
        v
    }

    #[test]
    fn safetensors_checks() {
        let ok = st(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            8,
        );
        let (fmt, f) = scan(&ok);
        assert_eq!(fmt, "safetensors");
        assert!(f.is_empty(), "{f:?}");
        let (_, f) = scan(&st(
            r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
            8,
        ));
        assert!(f.iter().any(|x| x.message.contains("12 bytes")), "{f:?}");
        let (_, f) = scan(&st(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
            12,
        ));
        assert!(f.iter().any(|x| x.message.contains("overlaps")), "{f:?}");
        let (_, f) = scan(&st(
            r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#,
            4,
        ));
        assert!(
            f.iter().any(|x| x.message.contains("data section")),
            "{f:?}"
        );
        // Text is never safetensors unless its whole header parses; binary
        // with a broken header is a malformed safetensors file.
        let mut big = (1u64 << 40).to_le_bytes().to_vec();
        big.extend_from_slice(b"{\"a\":1}");
        let (fmt, f) = scan(&big);
        assert_eq!(fmt, "safetensors");
        assert!(f.iter().any(|x| x.rule == "safetensors.malformed"), "{f:?}");
        let mut text = b"# header".to_vec();
        text.extend_from_slice(b"{\"a\": 1}\n");
        assert_ne!(scan(&text).0, "safetensors");
        // Python whose bytes 8-9 happen to be '{"'.
        let py = b"x = 1;  {\"k\": 2}\nprint(x)\n";
        assert!(!prefix(py, py.len() as u64));
        // A pickle appended after valid tensors is scanned.
        let mut tail = ok.clone();
        tail.extend_from_slice(b"\x80\x04cos\nsystem\n\x8c\x02id\x85R.");
        let (_, f) = scan(&tail);
        assert!(
            f.iter()
                .any(|x| x.severity == Severity::Critical && x.message.contains("os.system")),
            "{f:?}"
        );
    }
}
