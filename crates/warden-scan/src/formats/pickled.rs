//! Whole files that are pickles: plain pickles of any protocol (several
//! back to back), legacy PyTorch (`torch.save` before the zip format),
//! joblib, and joblib compressed with zlib, gzip, bzip2, xz or lzma. The
//! pickle itself is analysed by [`crate::pickle`]; this module names the
//! container and reports what the analysis found.

use std::fs::File;
use std::io::{self, Read};

use super::dispatch::Ctx;
use crate::input::{FileSrc, StreamSrc, peek};
use crate::pickle::{PickleFacts, Vm, looks_binary_pickle, may_start_pickle};
use crate::{FileReport, Import, Severity, Status};

/// The format a pickle's facts show: `torch-legacy`, `joblib` or `pickle`.
pub(super) fn format_name(f: &PickleFacts) -> &'static str {
    if f.torch_legacy {
        "torch-legacy"
    } else if f.joblib {
        "joblib"
    } else {
        "pickle"
    }
}

/// Records a pickle file's imports in its report, and where the pickle
/// stops with an error.
fn report_pickle(f: &PickleFacts, rep: &mut FileReport, ctx: &mut Ctx) {
    rep.imports = f
        .globals
        .iter()
        .map(|(n, a)| Import {
            name: n.clone(),
            allowed: *a,
        })
        .collect();
    if let Some((m, at)) = &f.malformed {
        ctx.push(
            "pickle.malformed",
            Severity::High,
            format!("the pickle stops with an error ({m}): loaders run every opcode before it, and the rest is unknown"),
            Some(*at),
        );
    }
}

/// A file that starts like a binary pickle.
pub(super) fn scan_file(
    file: &File,
    len: u64,
    rep: &mut FileReport,
    ctx: &mut Ctx,
) -> io::Result<()> {
    let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
    let facts = Vm::new(ctx.profile, None, 0, ctx.findings).run(&mut src, true)?;
    rep.format = format_name(&facts).into();
    report_pickle(&facts, rep, ctx);
    Ok(())
}

/// A file that may be a protocol 0 pickle (it starts like text). `false`,
/// with nothing reported, when it is not one.
pub(super) fn scan_text_file(
    file: &File,
    len: u64,
    rep: &mut FileReport,
    ctx: &mut Ctx,
) -> io::Result<bool> {
    let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
    let mut tmp = Vec::new();
    let facts = Vm::new(ctx.profile, None, 0, &mut tmp).run(&mut src, false)?;
    if facts.not_pickle {
        return Ok(false);
    }
    ctx.findings.extend(tmp);
    rep.format = format_name(&facts).into();
    report_pickle(&facts, rep, ctx);
    Ok(true)
}

/// A whole compressed file (`name`: the compression), read through
/// `reader`: a pickle inside is scanned; anything else is reported as
/// unscanned.
pub(super) fn scan_compressed_file(
    reader: Box<dyn Read>,
    name: &str,
    rep: &mut FileReport,
    ctx: &mut Ctx,
) -> io::Result<()> {
    let mut src = StreamSrc::new(reader);
    let inner = peek(&mut src, 16)?;
    if looks_binary_pickle(&inner) || may_start_pickle(&inner) {
        let facts = Vm::new(ctx.profile, Some(format!("{name} stream")), 1, ctx.findings)
            .run(&mut src, looks_binary_pickle(&inner))?;
        if facts.not_pickle {
            rep.format = name.into();
            rep.status = Status::Unscanned;
            ctx.push(
                "file.unrecognised",
                Severity::Medium,
                format!("{name}-compressed data that is not a pickle: not scanned"),
                None,
            );
        } else {
            rep.format = format!("{}+{name}", format_name(&facts));
            report_pickle(&facts, rep, ctx);
        }
    } else {
        rep.format = name.into();
        rep.status = Status::Unscanned;
        ctx.push(
            "file.unrecognised",
            Severity::Medium,
            format!("{name}-compressed data of an unrecognised format: not scanned"),
            None,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{EVIL, scan_path};
    use crate::Severity;

    #[test]
    fn compressed_joblib_by_content() {
        use std::io::Write;
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        bz.write_all(EVIL).unwrap();
        let bz = bz.finish().unwrap();
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &EVIL[..], &mut xz).unwrap();
        let mut lz = Vec::new();
        lzma_rs::lzma_compress(&mut &EVIL[..], &mut lz).unwrap();
        for (bytes, fmt) in [(bz, "pickle+bzip2"), (xz, "pickle+xz"), (lz, "pickle+lzma")] {
            // Named anything: found by content.
            let r = scan_path(&bytes, "weights.dat");
            assert_eq!(r.format, fmt);
            assert!(
                r.findings
                    .iter()
                    .any(|x| x.severity == Severity::Critical && x.message.contains("os.system")),
                "{fmt}: {:?}",
                r.findings
            );
        }
    }
}
