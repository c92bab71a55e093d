//! GGUF files (llama.cpp), as the GGUF specification (`docs/gguf.md` in
//! the ggml repository) lays them out: header, typed metadata key/values,
//! tensor infos, aligned tensor data; versions 1 to 3, little-endian. Every
//! count and length is checked against the bytes left before it is used,
//! tensor ranges against the file, and chat templates for server-side
//! template injection. Block sizes follow ggml's `ggml_type` table.

use std::io;

use super::dispatch::Ctx;
use crate::Severity;
use crate::input::{Src, read_vec};

fn ggml_block(t: u32) -> Option<(u64, u64)> {
    // (elements per block, bytes per block)
    Some(match t {
        0 => (1, 4),
        1 => (1, 2),
        2 => (32, 18),
        3 => (32, 20),
        6 => (32, 22),
        7 => (32, 24),
        8 => (32, 34),
        9 => (32, 36),
        10 => (256, 84),
        11 => (256, 110),
        12 => (256, 144),
        13 => (256, 176),
        14 => (256, 210),
        15 => (256, 292),
        24 => (1, 1),
        25 => (1, 2),
        26 => (1, 4),
        27 => (1, 8),
        28 => (1, 8),
        30 => (1, 2),
        _ => return None,
    })
}

struct Gg<'s> {
    src: &'s mut dyn Src,
    len: u64,
    v1: bool,
}

impl Gg<'_> {
    fn left(&self) -> u64 {
        self.len.saturating_sub(self.src.pos())
    }
    fn u32(&mut self) -> io::Result<u32> {
        let b = read_vec(self.src, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> io::Result<u64> {
        if self.v1 {
            return self.u32().map(u64::from);
        }
        let b = read_vec(self.src, 8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&b);
        Ok(u64::from_le_bytes(a))
    }
    fn count(&mut self, what: &str, min_each: u64) -> io::Result<u64> {
        let n = self.u64()?;
        if n.saturating_mul(min_each) > self.left() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{what} count {n} cannot fit in the {} bytes left",
                    self.left()
                ),
            ));
        }
        Ok(n)
    }
    /// A string: its length is checked against the file before reading.
    fn string(&mut self, keep: usize) -> io::Result<Option<String>> {
        let n = self.u64()?;
        if n > self.left() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("string length {n} runs past the end of the file"),
            ));
        }
        if n as usize <= keep {
            let b = read_vec(self.src, n as usize)?;
            return Ok(Some(String::from_utf8_lossy(&b).into_owned()));
        }
        self.src.skip(n)?;
        Ok(None)
    }
    fn value(&mut self, t: u32, depth: u32) -> io::Result<Option<GVal>> {
        let fixed = match t {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            _ => 0,
        };
        if fixed > 0 {
            let b = read_vec(self.src, fixed)?;
            if t == 4 {
                return Ok(Some(GVal::U(u64::from(u32::from_le_bytes([
                    b[0], b[1], b[2], b[3],
                ])))));
            }
            return Ok(None);
        }
        match t {
            8 => Ok(self.string(1 << 20)?.map(GVal::S)),
            9 => {
                if depth > 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "arrays nested too deep",
                    ));
                }
                let et = self.u32()?;
                let min = match et {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    10..=12 => 8,
                    8 => 8,
                    9 => 12,
                    _ => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("unknown array element type {et}"),
                        ));
                    }
                };
                let n = self.count("array element", min)?;
                if matches!(et, 8 | 9) {
                    for _ in 0..n {
                        self.value(et, depth + 1)?;
                    }
                } else {
                    self.src.skip(n * min)?;
                }
                Ok(None)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown value type {t}"),
            )),
        }
    }
}

enum GVal {
    U(u64),
    S(String),
}

/// Scans a GGUF file of length `len` from its magic on.
pub(super) fn scan(src: &mut dyn Src, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let rule = "gguf.malformed";
    let head = read_vec(src, 8)?;
    let version = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    if !(1..=3).contains(&version) {
        ctx.push(rule, Severity::Medium, format!("GGUF version {version} is unknown (big-endian files are not supported): not scanned"), Some(4));
        return Ok(());
    }
    let mut g = Gg {
        src,
        len,
        v1: version == 1,
    };
    let r: io::Result<()> = (|| {
        let tensors = g.count("tensor", 33)?;
        let kvs = g.count("metadata", 14)?;
        let mut alignment = 32u64;
        for _ in 0..kvs {
            let key = g.string(4096)?.unwrap_or_default();
            let t = g.u32()?;
            let v = g.value(t, 0)?;
            match (key.as_str(), v) {
                ("general.alignment", Some(GVal::U(a))) => {
                    if a == 0 || !a.is_power_of_two() {
                        ctx.push(
                            rule,
                            Severity::Medium,
                            format!("general.alignment {a} is not a power of two"),
                            None,
                        );
                    } else {
                        alignment = a;
                    }
                }
                (k, Some(GVal::S(s))) if k.contains("chat_template") => {
                    if let Some(why) = template_injection(&s) {
                        ctx.push(
                            "gguf.template-injection",
                            Severity::High,
                            format!(
                                "{k} {why}: a Jinja template rendered without a sandbox runs code"
                            ),
                            None,
                        );
                    }
                }
                _ => {}
            }
        }
        let mut infos = Vec::new();
        for _ in 0..tensors {
            let name = g.string(4096)?.unwrap_or_default();
            let nd = g.u32()?;
            if nd > 4 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("tensor {name:?} has {nd} dimensions (at most 4)"),
                ));
            }
            let mut numel = 1u64;
            for _ in 0..nd {
                let d = g.u64()?;
                numel = numel.checked_mul(d).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("tensor {name:?} size overflows"),
                    )
                })?;
            }
            let t = g.u32()?;
            let off = g.u64()?;
            infos.push((name, numel, t, off));
        }
        let data_start = g.src.pos().div_ceil(alignment) * alignment;
        for (name, numel, t, off) in infos {
            if off % alignment != 0 {
                ctx.push(
                    rule,
                    Severity::Medium,
                    format!("tensor {name:?} offset {off} is not aligned to {alignment}"),
                    None,
                );
            }
            let size = ggml_block(t).map(|(per, bytes)| numel.div_ceil(per).saturating_mul(bytes));
            let end = data_start
                .saturating_add(off)
                .saturating_add(size.unwrap_or(0));
            if end > len {
                ctx.push(
                    rule,
                    Severity::High,
                    format!(
                        "tensor {name:?} runs to byte {end}, past the end of the {len}-byte file"
                    ),
                    None,
                );
            }
        }
        Ok(())
    })();
    if let Err(e) = r {
        if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::UnexpectedEof {
            ctx.push(rule, Severity::High, format!("header invalid: {e}"), None);
        } else {
            return Err(e);
        }
    }
    Ok(())
}

/// Server-side template injection markers in a chat template.
fn template_injection(t: &str) -> Option<&'static str> {
    const MARKERS: &[(&str, &str)] = &[
        ("__class__", "reaches __class__"),
        ("__subclasses__", "enumerates subclasses"),
        ("__globals__", "reaches function globals"),
        ("__builtins__", "reaches the builtins"),
        ("__import__", "imports modules"),
        ("__mro__", "walks the class hierarchy"),
        ("__base__", "walks the class hierarchy"),
        ("__init__", "reaches constructors"),
        ("popen", "calls popen"),
        ("subprocess", "names subprocess"),
        ("os.system", "names os.system"),
        ("|attr(", "reads attributes by name"),
    ];
    MARKERS.iter().find(|(m, _)| t.contains(m)).map(|(_, w)| *w)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::scan;
    use super::*;

    fn gguf_bytes(tensors: u64, kvs: u64, body: &[u8]) -> Vec<u8> {
        let mut v = b"GGUF".to_vec();
        v.extend_from_slice(&3u32.to_le_bytes());
        v.extend_from_slice(&tensors.to_le_bytes());
        v.extend_from_slice(&kvs.to_le_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn gguf_counts_are_bounded() {
        let (fmt, f) = scan(&gguf_bytes(u64::MAX, 0, &[]));
        assert_eq!(fmt, "gguf");
        assert!(
            f.iter().any(|x| x.message.contains("tensor count")),
            "{f:?}"
        );
        // One string kv with an absurd length.
        let mut body = 4u64.to_le_bytes().to_vec();
        body.extend_from_slice(b"name");
        body.extend_from_slice(&8u32.to_le_bytes());
        body.extend_from_slice(&(1u64 << 40).to_le_bytes());
        let (_, f) = scan(&gguf_bytes(0, 1, &body));
        assert!(
            f.iter().any(|x| x.message.contains("string length")),
            "{f:?}"
        );
        // A benign file: one kv, no tensors.
        let mut body = 4u64.to_le_bytes().to_vec();
        body.extend_from_slice(b"name");
        body.extend_from_slice(&8u32.to_le_bytes());
        body.extend_from_slice(&2u64.to_le_bytes());
        body.extend_from_slice(b"ok");
        let (_, f) = scan(&gguf_bytes(0, 1, &body));
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn template_injection_is_found() {
        assert!(template_injection("{{ cycler.__init__.__globals__.os.popen('id') }}").is_some());
        assert!(template_injection("{% for m in messages %}{{ m.content }}{% endfor %}").is_none());
    }
}
