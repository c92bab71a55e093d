//! NumPy `.npy` files, as the NumPy format specification (`numpy.lib.format`,
//! versions 1.0 to 3.0) lays them out: magic, version, header length, and a
//! header that is a Python dict literal. An object dtype means the array
//! data is a pickle (`allow_pickle=True`), which is then scanned.

use std::io;

use super::dispatch::Ctx;
use crate::Severity;
use crate::input::{Src, peek, read_vec};
use crate::pickle::{Vm, looks_binary_pickle};

/// Scans a `.npy` file or member from its magic on.
pub(super) fn scan(src: &mut dyn Src, ctx: &mut Ctx) -> io::Result<()> {
    let pre = read_vec(src, 8)?;
    let major = pre[6];
    let hlen = match major {
        1 => {
            let b = read_vec(src, 2)?;
            u16::from_le_bytes([b[0], b[1]]) as usize
        }
        2 | 3 => {
            let b = read_vec(src, 4)?;
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        v => {
            ctx.push(
                "npy.malformed",
                Severity::Medium,
                format!("NumPy format version {v} is unknown: not scanned"),
                Some(6),
            );
            return Ok(());
        }
    };
    if hlen > 1024 * 1024 {
        ctx.push(
            "npy.malformed",
            Severity::Medium,
            format!("header of {hlen} bytes is larger than NumPy accepts: not scanned"),
            Some(8),
        );
        return Ok(());
    }
    let header = read_vec(src, hlen)?;
    // Versions 1 and 2 are latin-1, version 3 UTF-8; NumPy reads the
    // header with ast.literal_eval.
    let text: Vec<u8> = if major < 3 {
        header
            .iter()
            .map(|&c| c as char)
            .collect::<String>()
            .into_bytes()
    } else {
        header
    };
    let object = match crate::pylit::parse(&text) {
        Ok(crate::pylit::Lit::Dict(d)) => d
            .iter()
            .find(|(k, _)| *k == crate::pylit::Lit::Str("descr".into()))
            .and_then(|(_, descr)| crate::pylit::descr_has_object(descr, 0)),
        _ => None,
    };
    let object = match object {
        Some(o) => o,
        None => {
            ctx.push(
                "npy.malformed",
                Severity::Medium,
                "the header is not a dict with a descr NumPy can build a dtype from".into(),
                Some(8),
            );
            // Whatever follows is scanned if it is a pickle.
            looks_binary_pickle(&peek(src, 3)?)
        }
    };
    if object {
        ctx.push(
            "npy.object-dtype",
            Severity::Low,
            "object array: loading it needs allow_pickle=True, which runs the pickle that follows the header".into(),
            Some(0),
        );
        let facts = Vm::new(ctx.profile, ctx.member.clone(), ctx.depth, ctx.findings)
            .with_base(src.pos())
            .run(src, true)?;
        if let Some((m, at)) = &facts.malformed {
            ctx.push(
                "pickle.malformed",
                Severity::High,
                format!("the object array's pickle stops with an error ({m})"),
                Some(*at),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{EVIL, scan};
    use crate::Severity;

    #[test]
    fn npy_object_array_scans_its_pickle() {
        let header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }";
        let mut v = b"\x93NUMPY\x01\x00".to_vec();
        v.extend_from_slice(&(header.len() as u16).to_le_bytes());
        v.extend_from_slice(header.as_bytes());
        v.extend_from_slice(b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.");
        let (fmt, f) = scan(&v);
        assert_eq!(fmt, "npy");
        assert!(f.iter().any(|x| x.rule == "npy.object-dtype"));
        assert!(f.iter().any(|x| x.message.contains("os.system")), "{f:?}");
    }

    #[test]
    fn npy_object_dtype_however_spelled() {
        for descr in [
            "'|O'",
            "'object'",
            "\"O\"",
            "'<O8'",
            "[('a', '<f8'), ('b', 'O')]",
            "('|O', (2,))",
            "'ob' 'ject'",
        ] {
            let mut header =
                format!("{{'descr': {descr}, 'fortran_order': False, 'shape': (1,), }}")
                    .into_bytes();
            while (10 + header.len() + 1) % 64 != 0 {
                header.push(b' ');
            }
            header.push(b'\n');
            let mut npy = b"\x93NUMPY\x01\x00".to_vec();
            npy.extend_from_slice(&(header.len() as u16).to_le_bytes());
            npy.extend_from_slice(&header);
            npy.extend_from_slice(EVIL);
            let (fmt, f) = scan(&npy);
            assert_eq!(fmt, "npy");
            assert!(
                f.iter()
                    .any(|x| x.severity == Severity::Critical && x.message.contains("os.system")),
                "{descr}: {f:?}"
            );
        }
    }
}
