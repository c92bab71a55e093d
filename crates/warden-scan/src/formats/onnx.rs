//! ONNX models (`onnx.proto`, and "External Data" in the ONNX docs):
//! tensors whose data lives in files outside the model must name a
//! location inside the model's directory, and operators from non-standard
//! domains need native code to load. Also recognises a file that an ONNX
//! model beside it names as its external data.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use super::dispatch::{Ctx, extension};
use super::protobuf::{self, Msg, PbFacts};
use crate::Severity;
use crate::input::{FileSrc, Src};
use crate::path_escape;

const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

/// The ONNX model in the same directory that names this file as external
/// data, if any (at most 64 `.onnx` files of up to 256 MiB are read).
pub(super) fn external_owner(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let name = path.file_name()?.to_str()?;
    let entries = std::fs::read_dir(dir).ok()?;
    let mut seen = 0;
    for e in entries.flatten() {
        let p = e.path();
        if extension(&p) != "onnx" || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        seen += 1;
        if seen > 64 {
            break;
        }
        let Ok(f) = File::open(&p) else { continue };
        let Ok(len) = f.metadata().map(|m| m.len()) else {
            continue;
        };
        if len > 256 * 1024 * 1024 {
            continue;
        }
        let Ok(mut src) = FileSrc::new(f, len, 0) else {
            continue;
        };
        let mut facts = PbFacts::default();
        if protobuf::walk(
            &mut src,
            len,
            Msg::OnnxModel,
            0,
            &mut facts,
            &mut Vec::new(),
        )
        .is_err()
        {
            continue;
        }
        if facts.external.iter().any(|(_, loc)| {
            path_escape::check(loc).is_ok()
                && Path::new(loc.trim_start_matches("./")) == Path::new(name)
        }) {
            return Some(p);
        }
    }
    None
}

/// Scans an ONNX model; `dir` is the directory it was read from, where its
/// external data is looked for.
pub(super) fn scan(
    src: &mut dyn Src,
    len: u64,
    dir: Option<&Path>,
    ctx: &mut Ctx,
) -> io::Result<()> {
    let mut facts = PbFacts::default();
    if let Err(e) = protobuf::walk(src, len, Msg::OnnxModel, 0, &mut facts, &mut Vec::new()) {
        if matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        ) {
            ctx.push(
                "onnx.malformed",
                Severity::Medium,
                format!("not a well-formed ONNX protobuf: {e}"),
                None,
            );
            return Ok(());
        }
        return Err(e);
    }
    for (tensor, loc) in &facts.external {
        if let Err(why) = path_escape::check(loc) {
            ctx.push(
                "onnx.external-data-escape",
                Severity::High,
                format!(
                    "tensor {tensor:?} reads external data from {loc:?}, which {}",
                    why.reason("the model directory")
                ),
                None,
            );
            continue;
        }
        if let Some(d) = dir {
            let p = d.join(loc);
            match (p.canonicalize(), d.canonicalize()) {
                (Ok(real), Ok(base)) if !real.starts_with(&base) => ctx.push(
                    "onnx.external-data-escape",
                    Severity::High,
                    format!("tensor {tensor:?} reads external data from {loc:?}, a link that leads outside the model directory"),
                    None,
                ),
                (Err(_), _) => ctx.push(
                    "onnx.external-data-missing",
                    Severity::Low,
                    format!("tensor {tensor:?} reads external data from {loc:?}, which does not exist"),
                    None,
                ),
                _ => {}
            }
        }
    }
    for d in &facts.domains {
        if !STANDARD_DOMAINS.contains(&d.as_str()) {
            ctx.push(
                "onnx.custom-operator",
                Severity::Low,
                format!("operators from domain {d:?} need a custom runtime library (native code) to load"),
                None,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allow::Profile;
    use crate::input::StreamSrc;

    #[test]
    fn onnx_external_data_escape() {
        // TensorProto{name:"w", external_data:{key:"location", value:"../../etc/passwd"}, data_location:1}
        let entry = [&b"\x0a\x08location\x12\x10../../etc/passwd"[..]].concat();
        let tensor = [
            &b"\x42\x01w"[..],
            &[0x6a, entry.len() as u8],
            &entry,
            &[0x70, 0x01],
        ]
        .concat();
        let graph = [&[0x2a, tensor.len() as u8][..], &tensor].concat();
        let model = [
            &b"\x08\x07\x12\x04test"[..],
            &[0x3a, graph.len() as u8],
            &graph,
        ]
        .concat();
        let mut f = Vec::new();
        let mut ctx = Ctx {
            profile: Profile::Auto,
            member: None,
            depth: 0,
            findings: &mut f,
        };
        let mut src = StreamSrc::new(&model[..]);
        scan(&mut src, model.len() as u64, None, &mut ctx).unwrap();
        assert!(
            f.iter().any(|x| x.rule == "onnx.external-data-escape"
                && x.message
                    .ends_with("which climbs out of the model directory")),
            "{f:?}"
        );
    }
}
