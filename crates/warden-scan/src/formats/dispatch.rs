//! Where content goes. A file on disk, bytes found inside another file and
//! an archive member streaming out of its archive are each recognised
//! (`detect`) and handed to the scanner of their format; format scanners
//! that meet nested content hand it back here, so the formats never call
//! one another. Also the context every scanner reports into ([`Ctx`]) and
//! the limits on nesting.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use super::detect::{Kind, detect_head};
use super::text::{self, is_text};
use super::zip::{self, ZipFacts};
use super::{compress, gguf, keras, npy, onnx, pickled, safetensors, savedmodel};
use crate::allow::Profile;
use crate::input::{FileSrc, Src, StreamSrc, peek};
use crate::pickle::{MAX_DEPTH, Vm, looks_binary_pickle, may_start_pickle};
use crate::{FileReport, Finding, Options, Severity, Status, secrets};

/// Where findings go, and where in the file the scanner is.
pub(crate) struct Ctx<'a> {
    pub profile: Profile,
    pub member: Option<String>,
    pub depth: u32,
    pub findings: &'a mut Vec<Finding>,
}

fn join(parent: &Option<String>, name: &str) -> String {
    match parent {
        Some(p) => format!("{p} → {name}"),
        None => name.to_string(),
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn push(
        &mut self,
        rule: &str,
        severity: Severity,
        message: String,
        offset: Option<u64>,
    ) {
        self.findings.push(Finding {
            rule: rule.into(),
            severity,
            message,
            member: self.member.clone(),
            offset,
            line: None,
            fingerprint: None,
        });
    }
    pub(crate) fn push_member(
        &mut self,
        name: &str,
        rule: &str,
        severity: Severity,
        message: String,
        offset: Option<u64>,
    ) {
        self.findings.push(Finding {
            rule: rule.into(),
            severity,
            message,
            member: Some(join(&self.member, name)),
            offset,
            line: None,
            fingerprint: None,
        });
    }
    pub(crate) fn sub(&mut self, name: String) -> Ctx<'_> {
        Ctx {
            profile: self.profile,
            member: Some(join(&self.member, &name)),
            depth: self.depth + 1,
            findings: self.findings,
        }
    }
}

/// File extensions that promise a model: an unrecognised file with one of
/// these is worth a finding, not just a line in the report.
pub(super) const MODEL_EXTENSIONS: &[&str] = &[
    "pt",
    "pth",
    "bin",
    "ckpt",
    "pkl",
    "pickle",
    "joblib",
    "dill",
    "npy",
    "npz",
    "h5",
    "hdf5",
    "keras",
    "pb",
    "onnx",
    "safetensors",
    "gguf",
    "ggml",
    "tflite",
    "mar",
    "model",
    "dat",
    "data",
    "sav",
    "msgpack",
    "pdparams",
    "nemo",
];

/// Trailing or gap bytes of a container are read and scanned up to this size.
pub(super) const NESTED_MAX: u64 = 64 * 1024 * 1024;

fn read_head(f: &mut File, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    f.by_ref().take(n as u64).read_to_end(&mut head)?;
    f.seek(SeekFrom::Start(0))?;
    Ok(head)
}

/// Scans one file on disk.
pub(crate) fn scan_file(path: &Path, shown: String, opts: &Options, in_dir: bool) -> FileReport {
    let mut rep = FileReport {
        path: shown,
        format: "unknown".into(),
        status: Status::Scanned,
        size: 0,
        sha256: None,
        error: None,
        imports: Vec::new(),
        findings: Vec::new(),
        suppressed: 0,
    };
    let _ = in_dir;
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            rep.status = Status::Error;
            rep.error = Some(format!("cannot open: {e}"));
            return rep;
        }
    };
    let len = match file.metadata() {
        Ok(m) => m.len(),
        Err(e) => {
            rep.status = Status::Error;
            rep.error = Some(format!("cannot read metadata: {e}"));
            return rep;
        }
    };
    rep.size = len;
    if opts.digests {
        match digest(&mut file) {
            Ok(d) => rep.sha256 = Some(d),
            Err(e) => {
                rep.status = Status::Error;
                rep.error = Some(format!("cannot read: {e}"));
                return rep;
            }
        }
    }
    let mut findings = Vec::new();
    let outcome = scan_open_file(&mut file, path, len, opts, &mut rep, &mut findings);
    rep.findings = findings;
    if let Err(e) = outcome {
        rep.status = Status::Error;
        rep.error = Some(format!("cannot scan: {e}"));
    }
    rep
}

fn digest(f: &mut File) -> io::Result<String> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

pub(super) fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn scan_open_file(
    file: &mut File,
    path: &Path,
    len: u64,
    opts: &Options,
    rep: &mut FileReport,
    findings: &mut Vec<Finding>,
) -> io::Result<()> {
    let head = read_head(file, 4096)?;
    let mut kind = detect_head(&head, len);
    if kind == Kind::Safetensors && is_text(&head) && !safetensors::header_ok(file)? {
        kind = Kind::Text;
    }
    // A zip after leading junk (a polyglot) is found by its end record.
    if !matches!(kind, Kind::Zip | Kind::Empty) && len >= 22 && opts.models {
        let mut probe = &mut *file;
        if zip::find_eocd(&mut probe, len)?.is_some()
            && !matches!(
                kind,
                Kind::Npy | Kind::Safetensors | Kind::Gguf | Kind::Hdf5
            )
        {
            kind = Kind::Zip;
        }
        file.seek(SeekFrom::Start(0))?;
    }
    let mut ctx = Ctx {
        profile: opts.profile,
        member: None,
        depth: 0,
        findings,
    };
    let model_kind = !matches!(
        kind,
        Kind::Text | Kind::Unknown | Kind::Empty | Kind::MaybePickle
    );
    if model_kind && !opts.models {
        if opts.secrets && is_text(&head) {
            // Not confidently binary: its secrets are scanned whatever it
            // looks like.
            return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
        }
        rep.format = format!("{kind:?}").to_ascii_lowercase();
        rep.status = Status::Skipped;
        return Ok(());
    }
    match kind {
        Kind::Empty => rep.format = "empty".into(),
        Kind::Pickle => pickled::scan_file(file, len, rep, &mut ctx)?,
        Kind::MaybePickle => {
            if !opts.models {
                return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
            }
            if !pickled::scan_text_file(file, len, rep, &mut ctx)? {
                file.seek(SeekFrom::Start(0))?;
                return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
            }
        }
        Kind::Zip => {
            let facts = scan_zip(file, len, &mut ctx)?;
            rep.format = facts.kind.into();
        }
        Kind::Npy => {
            rep.format = "npy".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            npy::scan(&mut src, &mut ctx)?;
        }
        Kind::Safetensors => {
            rep.format = "safetensors".into();
            safetensors::scan(file, len, &mut ctx)?;
        }
        Kind::Gguf => {
            rep.format = "gguf".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            gguf::scan(&mut src, len, &mut ctx)?;
        }
        Kind::Hdf5 => {
            rep.format = "hdf5".into();
            keras::scan_hdf5(file, len, &mut ctx)?;
        }
        Kind::Onnx => {
            rep.format = "onnx".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            onnx::scan(&mut src, len, path.parent(), &mut ctx)?;
        }
        Kind::SavedModel => {
            rep.format = "savedmodel".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            savedmodel::scan(&mut src, len, &mut ctx)?;
        }
        Kind::Zlib | Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Lzma => {
            let name = compress::name(&kind);
            let reader = compress::stream(&kind, file.try_clone()?);
            pickled::scan_compressed_file(reader, name, rep, &mut ctx)?;
        }
        Kind::OtherCompressed(name) => {
            rep.format = name.into();
            rep.status = Status::Unscanned;
            ctx.push(
                "file.unrecognised",
                Severity::Medium,
                format!("{name}-compressed content is not decompressed by the scanner: not scanned (recompress with zlib, gzip, bzip2, xz or lzma, or extract it)"),
                None,
            );
        }
        Kind::Text | Kind::Unknown => {
            return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
        }
    }
    // A model file that is not confidently binary (a protocol 0 pickle, a
    // header-only file) is text too: its secrets are scanned as well.
    if (model_kind || kind == Kind::MaybePickle)
        && opts.secrets
        && is_text(&head)
        && len <= text::TEXT_MAX
    {
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        secrets::scan_text(&text::decode_text(&bytes), None, ctx.findings);
    }
    Ok(())
}

/// A file of no model format: text goes to the secret scanner ([`text`]),
/// binary is reported as unscanned (unless an ONNX model beside it names it
/// as its external data).
fn text_or_unknown(
    file: &mut File,
    path: &Path,
    len: u64,
    head: &[u8],
    opts: &Options,
    rep: &mut FileReport,
    findings: &mut Vec<Finding>,
) -> io::Result<()> {
    let ext = extension(path);
    if is_text(head) {
        return text::scan(file, len, &ext, opts, rep, findings);
    }
    if let Some(model) = onnx::external_owner(path) {
        // Raw tensor bytes an ONNX model beside it reads: no code, no
        // format of their own (the model's checks cover the reference).
        rep.format = "onnx-external-data".into();
        rep.error = None;
        let _ = model;
        return Ok(());
    }
    rep.format = "unknown".into();
    rep.status = Status::Unscanned;
    if opts.models {
        let (sev, why) = if MODEL_EXTENSIONS.contains(&ext.as_str()) {
            (
                Severity::Medium,
                format!(
                    "named .{ext} but its content is no model format the scanner knows: not scanned"
                ),
            )
        } else {
            (
                Severity::Low,
                "binary content of an unrecognised format: not scanned".to_string(),
            )
        };
        findings.push(Finding {
            rule: "file.unrecognised".into(),
            severity: sev,
            message: why,
            member: None,
            offset: None,
            line: None,
            fingerprint: None,
        });
    }
    Ok(())
}

/// Scans bytes found inside another file (a payload in a pickle).
pub(crate) fn scan_nested(
    bytes: &[u8],
    profile: Profile,
    member: Option<String>,
    depth: u32,
    findings: &mut Vec<Finding>,
) {
    let mut ctx = Ctx {
        profile,
        member,
        depth,
        findings,
    };
    scan_nested_into(bytes, &mut ctx, true);
}

/// Scans bytes as a whole file (returns the format).
pub(crate) fn scan_nested_top(
    bytes: &[u8],
    profile: Profile,
    findings: &mut Vec<Finding>,
) -> String {
    let mut ctx = Ctx {
        profile,
        member: None,
        depth: 0,
        findings,
    };
    scan_nested_into(bytes, &mut ctx, false)
}

/// Scans in-memory bytes. `quiet`: the bytes are only suspected to be a
/// pickle (a payload that happens to start like one), so a parse error
/// alone is not reported.
pub(crate) fn scan_nested_into(bytes: &[u8], ctx: &mut Ctx, quiet: bool) -> String {
    if ctx.depth > MAX_DEPTH {
        ctx.push(
            "file.too-deep",
            Severity::High,
            "content nested deeper than the scanner follows: not scanned".into(),
            None,
        );
        return "nested".into();
    }
    let len = bytes.len() as u64;
    let head = &bytes[..bytes.len().min(4096)];
    let mut kind = detect_head(head, len);
    if kind == Kind::Safetensors
        && is_text(head)
        && !safetensors::header_ok(&mut Cursor::new(bytes)).unwrap_or(false)
    {
        kind = Kind::Unknown;
    }
    if kind != Kind::Zip
        && !matches!(
            kind,
            Kind::Npy | Kind::Safetensors | Kind::Gguf | Kind::Hdf5
        )
        && let Ok(Some(_)) = zip::find_eocd(&mut Cursor::new(bytes), len)
    {
        kind = Kind::Zip;
    }
    let r: io::Result<String> = (|| match kind {
        Kind::Pickle | Kind::MaybePickle => {
            let mut src = StreamSrc::new(bytes);
            let facts = Vm::new(ctx.profile, ctx.member.clone(), ctx.depth, ctx.findings)
                .run(&mut src, kind == Kind::Pickle && !quiet)?;
            if facts.not_pickle {
                return Ok("data".to_string());
            }
            if let Some((m, at)) = &facts.malformed
                && !quiet
            {
                ctx.push(
                    "pickle.malformed",
                    Severity::High,
                    format!("the pickle stops with an error ({m})"),
                    Some(*at),
                );
            }
            Ok(pickled::format_name(&facts).to_string())
        }
        Kind::Zip => {
            let f = scan_zip(&mut Cursor::new(bytes), len, ctx)?;
            Ok(f.kind.to_string())
        }
        Kind::Npy => {
            let mut src = StreamSrc::new(bytes);
            npy::scan(&mut src, ctx)?;
            Ok("npy".into())
        }
        Kind::Safetensors => {
            safetensors::scan(&mut Cursor::new(bytes), len, ctx)?;
            Ok("safetensors".into())
        }
        Kind::Gguf => {
            let mut src = StreamSrc::new(bytes);
            gguf::scan(&mut src, len, ctx)?;
            Ok("gguf".into())
        }
        Kind::Gzip | Kind::Zlib | Kind::Bzip2 | Kind::Xz | Kind::Lzma => {
            let inner = compress::bounded(&kind, bytes, ctx)?;
            let mut sub = ctx.sub(format!("{} stream", compress::name(&kind)));
            let f = scan_nested_into(&inner, &mut sub, quiet);
            Ok(format!("{f}+{}", compress::name(&kind)))
        }
        _ => Ok("data".into()),
    })();
    match r {
        Ok(f) => f,
        Err(e) => {
            if !quiet {
                ctx.push(
                    "file.malformed",
                    Severity::Medium,
                    format!("cannot be parsed: {e}"),
                    None,
                );
            }
            "data".into()
        }
    }
}

/// Scans one archive member as it streams out of the archive.
pub(crate) fn scan_member_stream(src: &mut dyn Src, name: &str, ctx: &mut Ctx) -> io::Result<()> {
    let head = peek(src, 16)?;
    if head.is_empty() {
        // A member shorter than the buffer may need a second fill.
        return Ok(());
    }
    let kind = detect_head(&head, u64::MAX);
    // A compressed member (a joblib file stored in an archive); not zlib,
    // whose two-byte header raw tensor bytes match too often.
    if matches!(kind, Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Lzma) {
        let mut bytes = Vec::new();
        src.take(NESTED_MAX).read_to_end(&mut bytes)?;
        let inner = compress::bounded(&kind, &bytes, ctx)?;
        let mut sub = ctx.sub(format!("{} stream", compress::name(&kind)));
        scan_nested_into(&inner, &mut sub, false);
        return Ok(());
    }
    let named_pickle = {
        let n = name.to_ascii_lowercase();
        n.ends_with(".pkl") || n.ends_with(".pickle") || n.ends_with("data.pkl")
    };
    if looks_binary_pickle(&head) {
        let facts = Vm::new(ctx.profile, ctx.member.clone(), ctx.depth, ctx.findings)
            .run(src, named_pickle)?;
        if let Some((m, at)) = &facts.malformed {
            ctx.push(
                "pickle.malformed",
                Severity::High,
                format!("the pickle stops with an error ({m}): loaders run every opcode before it"),
                Some(*at),
            );
        }
    } else if head.starts_with(b"\x93NUMPY") {
        npy::scan(src, ctx)?;
    } else if head.starts_with(b"PK\x03\x04") && ctx.depth >= MAX_DEPTH {
        ctx.push(
            "file.too-deep",
            Severity::High,
            "an archive nested deeper than the scanner follows: not scanned".into(),
            None,
        );
    } else if head.starts_with(b"PK\x03\x04") {
        let mut bytes = Vec::new();
        src.take(256 * 1024 * 1024).read_to_end(&mut bytes)?;
        let len = bytes.len() as u64;
        scan_zip(&mut Cursor::new(bytes), len, ctx)?;
    } else if may_start_pickle(&head) {
        let facts = Vm::new(ctx.profile, ctx.member.clone(), ctx.depth, ctx.findings)
            .run(src, named_pickle)?;
        if let Some((m, at)) = &facts.malformed {
            ctx.push(
                "pickle.malformed",
                Severity::High,
                format!("the pickle stops with an error ({m})"),
                Some(*at),
            );
        }
    } else if named_pickle {
        ctx.push(
            "pickle.malformed",
            Severity::High,
            "named as a pickle but does not start like one: not scanned".into(),
            None,
        );
    }
    Ok(())
}

/// Scans a zip archive, then the Keras model configuration it holds when
/// it is a Keras v3 archive (the archive reader hands the configuration
/// over rather than calling the Keras scanner itself).
fn scan_zip<R: Read + Seek>(r: &mut R, len: u64, ctx: &mut Ctx) -> io::Result<ZipFacts> {
    let mut facts = zip::scan(r, len, ctx)?;
    if let Some(config) = facts.keras_config.take() {
        keras::scan_config(&config, &mut ctx.sub("config.json".into()));
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{EVIL, scan, scan_path, stored_zip};
    use crate::Severity;

    #[test]
    fn archives_nested_past_the_limit_are_too_deep() {
        let mut data = EVIL.to_vec();
        let mut name = "data.pkl".to_string();
        for depth in 1..=12 {
            data = stored_zip(&name, &data);
            name = format!("level{depth}.zip");
            let (_, f) = scan(&data);
            let found = f.iter().any(|x| x.message.contains("os.system"));
            let deep = f.iter().any(|x| x.rule == "file.too-deep");
            assert!(found || deep, "depth {depth}: {f:?}");
            if depth > 6 {
                assert!(deep, "depth {depth}: {f:?}");
            }
        }
    }

    #[test]
    fn compressed_members_and_payloads_are_scanned() {
        let mut xz = Vec::new();
        lzma_rs::xz_compress(&mut &EVIL[..], &mut xz).unwrap();
        let (_, f) = scan(&stored_zip("model.joblib", &xz));
        assert!(
            f.iter()
                .any(|x| x.severity == Severity::Critical && x.message.contains("os.system")),
            "{f:?}"
        );
    }

    #[test]
    fn a_text_pickle_is_also_scanned_for_secrets() {
        let p = b"(dp0\nS'token'\np1\nS'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789'\np2\ns.";
        let r = scan_path(p, "config.pkl");
        assert_eq!(r.format, "pickle");
        assert!(
            r.findings.iter().any(|x| x.rule.starts_with("secret.")),
            "{:?}",
            r.findings
        );
    }
}
