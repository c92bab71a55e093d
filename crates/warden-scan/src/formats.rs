//! Recognising a file by its bytes and sending it to the right scanner:
//! pickle (and legacy PyTorch, joblib, compressed joblib), zip containers,
//! NumPy `.npy`, safetensors, GGUF, HDF5/Keras, Keras v3 configs, ONNX and
//! TensorFlow SavedModel protobufs, notebooks and text.
//!
//! Header formats are checked without reading tensor data: sizes and
//! counts are compared with the file length before anything is allocated.

use std::fs::File;
use std::io::{self, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

use crate::allow::Profile;
use crate::input::{FileSrc, Src, StreamSrc, peek, read_vec};
use crate::pickle::{self, MAX_DEPTH, Vm, looks_binary_pickle, may_start_pickle, nested_candidate};
use crate::{FileReport, Finding, Import, Options, Severity, Status, secrets};

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
const MODEL_EXTENSIONS: &[&str] = &[
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

#[derive(Debug, PartialEq)]
enum Kind {
    Empty,
    Pickle,
    Zip,
    Npy,
    Safetensors,
    Gguf,
    Hdf5,
    Onnx,
    SavedModel,
    Zlib,
    Gzip,
    Bzip2,
    Xz,
    /// LZMA "alone" (.lzma): joblib's `compress='lzma'`.
    Lzma,
    OtherCompressed(&'static str),
    MaybePickle,
    Text,
    Unknown,
}

fn detect_head(head: &[u8], len: u64) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(b"\x93NUMPY") {
        return Kind::Npy;
    }
    if head.starts_with(b"GGUF") {
        return Kind::Gguf;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Kind::Hdf5;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    if looks_binary_pickle(head) {
        return Kind::Pickle;
    }
    if safetensors_prefix(head, len) {
        return Kind::Safetensors;
    }
    // Binary with a JSON object where the header goes: a safetensors file
    // whose header is broken (reported as such). Text never is.
    if head.len() >= 10 && head[8] == b'{' && head[9] == b'"' && !is_text(head) {
        return Kind::Safetensors;
    }
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return Kind::Gzip;
    }
    if head.len() >= 2
        && head[0] & 0x0f == 8
        && head[0] >> 4 <= 7
        && (u16::from(head[0]) * 256 + u16::from(head[1])) % 31 == 0
        && inflates(head)
    {
        return Kind::Zlib;
    }
    if head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == *b"1AY&SY" || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        return Kind::Bzip2;
    }
    if head.starts_with(b"\xfd7zXZ\x00") {
        return Kind::Xz;
    }
    if looks_lzma_alone(head) {
        return Kind::Lzma;
    }
    if head.starts_with(b"\x04\x22\x4d\x18") {
        return Kind::OtherCompressed("lz4");
    }
    if head.starts_with(b"7z\xbc\xaf\x27\x1c") {
        return Kind::OtherCompressed("7z");
    }
    if head.starts_with(b"\x28\xb5\x2f\xfd") {
        return Kind::OtherCompressed("zstd");
    }
    if let Some(k) = detect_protobuf(head) {
        return k;
    }
    if may_start_pickle(head) {
        return Kind::MaybePickle;
    }
    let _ = len;
    if is_text(head) {
        Kind::Text
    } else {
        Kind::Unknown
    }
}

/// The 13-byte header of an LZMA "alone" stream: a properties byte
/// (lc, lp, pb), a dictionary size of 2^n or 2^n + 2^(n-1), and an
/// uncompressed size that is unknown (all ones) or below 2^48; then the
/// first byte of the range coder, which is always 0.
fn looks_lzma_alone(h: &[u8]) -> bool {
    if h.len() < 14 || h[0] > 224 || h[13] != 0 {
        return false;
    }
    let dict = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    let size = u64::from_le_bytes([h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12]]);
    let dict_ok = dict >= 4096
        && (dict.is_power_of_two() || (dict.is_multiple_of(3) && (dict / 3).is_power_of_two()));
    dict_ok && (size == u64::MAX || size < 1 << 48)
}

/// A decompressor that runs on its own thread and hands its output over
/// in chunks (lzma-rs writes into a `Write`): memory stays bounded, and
/// the thread stops when the reader is dropped.
struct Piped {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    at: usize,
}

struct PipeWriter {
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl io::Write for PipeWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader gone"))
    }
}

impl Read for Piped {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn lzma_reader(input: File, xz: bool) -> Piped {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut w = PipeWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        let mut r = io::BufReader::new(input);
        let res = if xz {
            lzma_rs::xz_decompress(&mut r, &mut w)
        } else {
            lzma_rs::lzma_decompress(&mut r, &mut w)
        };
        let flushed = io::Write::flush(&mut w);
        if let Err(e) = res {
            let _ = tx.send(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                e.to_string(),
            )));
        } else if let Err(e) = flushed {
            let _ = tx.send(Err(e));
        }
    });
    Piped {
        rx,
        buf: Vec::new(),
        at: 0,
    }
}

/// Whether the bytes start a zlib stream that really inflates (a zlib
/// header is only 16 bits: text such as `(S'` passes the header check).
fn inflates(head: &[u8]) -> bool {
    let mut out = [0u8; 16];
    matches!(flate2::read::ZlibDecoder::new(head).read(&mut out), Ok(n) if n > 0)
}

/// Text unless confidently binary: a NUL byte (outside UTF-16 with a
/// byte-order mark) or mostly control characters. Text in a legacy
/// encoding (latin-1, cp1252) is text.
fn is_text(head: &[u8]) -> bool {
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return true;
    }
    if head.contains(&0) {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&c| (c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b)) || c == 0x7f)
        .count();
    control * 10 <= head.len()
}

/// A file's text for the secret scanner: UTF-8 (lossy), or UTF-16 after a
/// byte-order mark.
fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |be: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if bytes.starts_with(b"\xff\xfe") {
        utf16(false)
    } else if bytes.starts_with(b"\xfe\xff") {
        utf16(true)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// The start of a safetensors file: an 8-byte header length that fits the
/// file and the cap, and a header that begins as a JSON object. The whole
/// header must parse before the file is called safetensors
/// ([`safetensors_header_ok`]).
fn safetensors_prefix(head: &[u8], len: u64) -> bool {
    if head.len() < 10 || head[8] != b'{' {
        return false;
    }
    let n = u64::from_le_bytes([
        head[0], head[1], head[2], head[3], head[4], head[5], head[6], head[7],
    ]);
    if !(2..=SAFETENSORS_HEADER_MAX).contains(&n) || n.saturating_add(8) > len {
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
fn safetensors_header_ok<R: Read + Seek>(r: &mut R) -> io::Result<bool> {
    r.seek(SeekFrom::Start(0))?;
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)?;
    let n = u64::from_le_bytes(n8);
    if n > SAFETENSORS_HEADER_MAX {
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

/// ONNX ModelProto and SavedModel both start with field 1 (a version);
/// field 2 is the producer name (text) in ONNX and a MetaGraphDef in a
/// SavedModel.
fn detect_protobuf(head: &[u8]) -> Option<Kind> {
    if head.first() != Some(&0x08) {
        return None;
    }
    let mut i = 1;
    let (_, n) = varint(&head[i..])?;
    i += n;
    let (tag, n) = varint(head.get(i..)?)?;
    i += n;
    let field = tag >> 3;
    let wire = tag & 7;
    match (field, wire) {
        (2, 2) => {
            let (l, n) = varint(head.get(i..)?)?;
            let body = head.get(
                i + n
                    ..(i + n)
                        .saturating_add(usize::try_from(l).unwrap_or(usize::MAX))
                        .min(head.len()),
            )?;
            if !body.is_empty() && body.iter().all(|&b| (0x20..0x7f).contains(&b)) {
                Some(Kind::Onnx)
            } else if body.first().is_some_and(|&b| b == 0x0a || b == 0x12) {
                Some(Kind::SavedModel)
            } else {
                None
            }
        }
        (3..=8, 2) | (8, 0) | (14, 2) | (20, 2) | (25, 2) => Some(Kind::Onnx),
        _ => None,
    }
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

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

fn extension(path: &Path) -> String {
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
    if kind == Kind::Safetensors && is_text(&head) && !safetensors_header_ok(file)? {
        kind = Kind::Text;
    }
    // A zip after leading junk (a polyglot) is found by its end record.
    if !matches!(kind, Kind::Zip | Kind::Empty) && len >= 22 && opts.models {
        let mut probe = &mut *file;
        if crate::zip::find_eocd(&mut probe, len)?.is_some()
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
        Kind::Pickle => {
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            let facts = Vm::new(opts.profile, None, 0, ctx.findings).run(&mut src, true)?;
            rep.format = pickle_format(&facts).into();
            report_pickle(&facts, rep, &mut ctx);
        }
        Kind::MaybePickle => {
            if !opts.models {
                return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
            }
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            let mut tmp = Vec::new();
            let facts = Vm::new(opts.profile, None, 0, &mut tmp).run(&mut src, false)?;
            if facts.not_pickle {
                file.seek(SeekFrom::Start(0))?;
                return text_or_unknown(file, path, len, &head, opts, rep, ctx.findings);
            }
            ctx.findings.extend(tmp);
            rep.format = pickle_format(&facts).into();
            report_pickle(&facts, rep, &mut ctx);
        }
        Kind::Zip => {
            let facts = crate::zip::scan(file, len, &mut ctx)?;
            rep.format = facts.kind.into();
        }
        Kind::Npy => {
            rep.format = "npy".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            npy(&mut src, &mut ctx)?;
        }
        Kind::Safetensors => {
            rep.format = "safetensors".into();
            safetensors(file, len, &mut ctx)?;
        }
        Kind::Gguf => {
            rep.format = "gguf".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            gguf(&mut src, len, &mut ctx)?;
        }
        Kind::Hdf5 => {
            rep.format = "hdf5".into();
            hdf5(file, len, &mut ctx)?;
        }
        Kind::Onnx => {
            rep.format = "onnx".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            onnx(&mut src, len, path.parent(), &mut ctx)?;
        }
        Kind::SavedModel => {
            rep.format = "savedmodel".into();
            let mut src = FileSrc::new(file.try_clone()?, len, 0)?;
            savedmodel(&mut src, len, &mut ctx)?;
        }
        Kind::Zlib | Kind::Gzip | Kind::Bzip2 | Kind::Xz | Kind::Lzma => {
            let name = match kind {
                Kind::Zlib => "zlib",
                Kind::Gzip => "gzip",
                Kind::Bzip2 => "bzip2",
                Kind::Xz => "xz",
                _ => "lzma",
            };
            let f = file.try_clone()?;
            let reader: Box<dyn Read> = match kind {
                Kind::Zlib => Box::new(flate2::read::ZlibDecoder::new(f)),
                Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
                Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
                Kind::Xz => Box::new(lzma_reader(f, true)),
                _ => Box::new(lzma_reader(f, false)),
            };
            let mut src = StreamSrc::new(reader);
            let inner = peek(&mut src, 16)?;
            if looks_binary_pickle(&inner) || may_start_pickle(&inner) {
                let facts = Vm::new(
                    opts.profile,
                    Some(format!("{name} stream")),
                    1,
                    ctx.findings,
                )
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
                    rep.format = format!("{}+{name}", pickle_format(&facts));
                    report_pickle(&facts, rep, &mut ctx);
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
        && len <= TEXT_MAX
    {
        file.seek(SeekFrom::Start(0))?;
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes)?;
        secrets::scan_text(&decode_text(&bytes), None, ctx.findings);
    }
    Ok(())
}

const TEXT_MAX: u64 = 64 * 1024 * 1024;

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
    if !is_text(head) {
        if let Some(model) = onnx_external_owner(path) {
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
        return Ok(());
    }
    rep.format = "text".into();
    if !opts.secrets {
        rep.status = Status::Skipped;
        if MODEL_EXTENSIONS.contains(&ext.as_str()) && opts.models {
            rep.status = Status::Unscanned;
            findings.push(Finding {
                rule: "file.unrecognised".into(),
                severity: Severity::Medium,
                message: format!(
                    "named .{ext} but holds text, not a model format the scanner knows: not scanned"
                ),
                member: None,
                offset: None,
                line: None,
                fingerprint: None,
            });
        }
        return Ok(());
    }
    if len > TEXT_MAX {
        rep.status = Status::Unscanned;
        findings.push(Finding {
            rule: "file.unrecognised".into(),
            severity: Severity::Low,
            message: format!("text file of {len} bytes is larger than the secret scanner reads ({TEXT_MAX}): not scanned"),
            member: None,
            offset: None,
            line: None,
            fingerprint: None,
        });
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes)?;
    let text = decode_text(&bytes);
    if text.trim_start().starts_with('{')
        && (ext == "ipynb" || text.contains("\"nbformat\""))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v.get("cells").is_some_and(|c| c.is_array())
    {
        rep.format = "notebook".into();
        secrets::scan_notebook(&v, findings);
        return Ok(());
    }
    secrets::scan_text(&text, None, findings);
    Ok(())
}

fn pickle_format(f: &pickle::PickleFacts) -> &'static str {
    if f.torch_legacy {
        "torch-legacy"
    } else if f.joblib {
        "joblib"
    } else {
        "pickle"
    }
}

fn report_pickle(f: &pickle::PickleFacts, rep: &mut FileReport, ctx: &mut Ctx) {
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
        && !safetensors_header_ok(&mut Cursor::new(bytes)).unwrap_or(false)
    {
        kind = Kind::Unknown;
    }
    if kind != Kind::Zip
        && !matches!(
            kind,
            Kind::Npy | Kind::Safetensors | Kind::Gguf | Kind::Hdf5
        )
        && let Ok(Some(_)) = crate::zip::find_eocd(&mut Cursor::new(bytes), len)
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
            Ok(pickle_format(&facts).to_string())
        }
        Kind::Zip => {
            let f = crate::zip::scan(&mut Cursor::new(bytes), len, ctx)?;
            Ok(f.kind.to_string())
        }
        Kind::Npy => {
            let mut src = StreamSrc::new(bytes);
            npy(&mut src, ctx)?;
            Ok("npy".into())
        }
        Kind::Safetensors => {
            safetensors(&mut Cursor::new(bytes), len, ctx)?;
            Ok("safetensors".into())
        }
        Kind::Gguf => {
            let mut src = StreamSrc::new(bytes);
            gguf(&mut src, len, ctx)?;
            Ok("gguf".into())
        }
        Kind::Gzip | Kind::Zlib | Kind::Bzip2 | Kind::Xz | Kind::Lzma => {
            let inner = decompress_bounded(&kind, bytes, ctx)?;
            let mut sub = ctx.sub(format!("{} stream", compressed_name(&kind)));
            let f = scan_nested_into(&inner, &mut sub, quiet);
            Ok(format!("{f}+{}", compressed_name(&kind)))
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
        let inner = decompress_bounded(&kind, &bytes, ctx)?;
        let mut sub = ctx.sub(format!("{} stream", compressed_name(&kind)));
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
        npy(src, ctx)?;
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
        crate::zip::scan(&mut Cursor::new(bytes), len, ctx)?;
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

// ---------------------------------------------------------------------------
// NumPy .npy

fn npy(src: &mut dyn Src, ctx: &mut Ctx) -> io::Result<()> {
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

// ---------------------------------------------------------------------------
// safetensors

const SAFETENSORS_HEADER_MAX: u64 = 100 * 1024 * 1024;

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

fn safetensors<R: Read + Seek>(r: &mut R, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let rule = "safetensors.malformed";
    r.seek(SeekFrom::Start(0))?;
    let mut n8 = [0u8; 8];
    r.read_exact(&mut n8)?;
    let n = u64::from_le_bytes(n8);
    if n > SAFETENSORS_HEADER_MAX {
        ctx.push(
            rule,
            Severity::High,
            format!("header length {n} is above the {SAFETENSORS_HEADER_MAX}-byte cap"),
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

fn compressed_name(k: &Kind) -> &'static str {
    match k {
        Kind::Zlib => "zlib",
        Kind::Gzip => "gzip",
        Kind::Bzip2 => "bzip2",
        Kind::Xz => "xz",
        _ => "lzma",
    }
}

/// Compressed bytes inside another file, decompressed in memory up to
/// `NESTED_MAX` (past that, a finding, and the first part is scanned).
fn decompress_bounded(kind: &Kind, bytes: &[u8], ctx: &mut Ctx) -> io::Result<Vec<u8>> {
    struct Capped(Vec<u8>, bool);
    impl io::Write for Capped {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let room = (NESTED_MAX as usize).saturating_sub(self.0.len());
            if room < b.len() {
                self.0.extend_from_slice(&b[..room]);
                self.1 = true;
                return Err(io::Error::other("decompressed data past the cap"));
            }
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new(), false);
    let res: io::Result<()> = match kind {
        Kind::Xz => lzma_rs::xz_decompress(&mut io::BufReader::new(bytes), &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        Kind::Lzma => lzma_rs::lzma_decompress(&mut io::BufReader::new(bytes), &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        _ => {
            let mut r: Box<dyn Read> = match kind {
                Kind::Zlib => Box::new(flate2::read::ZlibDecoder::new(bytes)),
                Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
                _ => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
            };
            io::copy(&mut r, &mut out).map(|_| ())
        }
    };
    if out.1 {
        ctx.push(
            "file.too-deep",
            Severity::High,
            format!(
                "{}-compressed data expands past {NESTED_MAX} bytes: only the first part was scanned",
                compressed_name(kind)
            ),
            None,
        );
    } else if let Err(e) = res {
        ctx.push(
            "file.malformed",
            Severity::Medium,
            format!(
                "{}-compressed data cannot be decompressed: {e}",
                compressed_name(kind)
            ),
            None,
        );
    }
    Ok(out.0)
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

/// Trailing or gap bytes of a container are read and scanned up to this size.
const NESTED_MAX: u64 = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------
// GGUF

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

fn gguf(src: &mut dyn Src, len: u64, ctx: &mut Ctx) -> io::Result<()> {
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

// ---------------------------------------------------------------------------
// HDF5 (Keras .h5): the model configuration is JSON stored in an attribute.

fn hdf5(file: &mut File, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let finder = memchr::memmem::Finder::new(b"{\"class_name\"");
    let mut buf = vec![0u8; 4 << 20];
    let mut base = 0u64;
    let mut carry = 0usize;
    let mut found = 0usize;
    file.seek(SeekFrom::Start(0))?;
    loop {
        let n = file.read(&mut buf[carry..])?;
        if n == 0 {
            break;
        }
        let filled = carry + n;
        let mut pos = 0;
        while let Some(i) = finder.find(&buf[pos..filled]) {
            let at = base + (pos + i) as u64;
            found += 1;
            let mut r = file.try_clone()?;
            r.seek(SeekFrom::Start(at))?;
            let mut json = Vec::new();
            r.take((64u64 << 20).min(len - at)).read_to_end(&mut json)?;
            let mut it =
                serde_json::Deserializer::from_slice(&json).into_iter::<serde_json::Value>();
            if let Some(Ok(v)) = it.next() {
                keras_value(&v, &mut ctx.sub(format!("model config at byte {at}")));
                pos += i + it.byte_offset().max(1);
            } else {
                pos += i + 1;
            }
            if pos >= filled {
                break;
            }
        }
        let keep = 16.min(filled);
        buf.copy_within(filled - keep..filled, 0);
        base += (filled - keep) as u64;
        carry = keep;
        if found > 64 {
            break;
        }
    }
    Ok(())
}

/// Checks a Keras model configuration (config.json of a .keras archive).
pub(crate) fn keras_config(bytes: &[u8], ctx: &mut Ctx) {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => keras_value(&v, ctx),
        Err(e) => ctx.push(
            "keras.malformed",
            Severity::Medium,
            format!("config.json is not valid JSON: {e}"),
            None,
        ),
    }
}

const KERAS_MODULES: &[&str] = &[
    "keras",
    "tensorflow",
    "tf_keras",
    "keras_hub",
    "keras_nlp",
    "keras_cv",
    "tensorflow_hub",
];

fn keras_value(v: &serde_json::Value, ctx: &mut Ctx) {
    fn walk(v: &serde_json::Value, ctx: &mut Ctx, path: &str, depth: u32) {
        if depth > 64 {
            return;
        }
        match v {
            serde_json::Value::Object(m) => {
                let class = m.get("class_name").and_then(|c| c.as_str()).unwrap_or("");
                let name = m
                    .get("config")
                    .and_then(|c| c.get("name"))
                    .and_then(|n| n.as_str())
                    .unwrap_or(path);
                if class == "Lambda" {
                    let bytecode =
                        m.get("config")
                            .and_then(|c| c.get("function"))
                            .is_some_and(|f| {
                                f.is_array()
                                    || f.get("class_name").and_then(|c| c.as_str())
                                        == Some("__lambda__")
                                    || f.is_string() && f.as_str().is_some_and(|s| s.len() > 40)
                            });
                    let (sev, what) = if bytecode {
                        (
                            Severity::Critical,
                            "holds serialized Python bytecode that runs when the model loads",
                        )
                    } else {
                        (
                            Severity::High,
                            "calls a Python function when the model runs",
                        )
                    };
                    ctx.push(
                        "keras.lambda",
                        sev,
                        format!("Lambda layer {name:?} {what}"),
                        None,
                    );
                }
                if let Some(module) = m.get("module").and_then(|x| x.as_str()) {
                    let top = module.split('.').next().unwrap_or("");
                    if !(KERAS_MODULES.contains(&top)
                        || top == "builtins" && class.starts_with("__"))
                    {
                        let v = crate::allow::verdict(
                            module,
                            if class.is_empty() { "?" } else { class },
                        );
                        let sev = if v.severity >= Severity::High {
                            Severity::Critical
                        } else {
                            Severity::Medium
                        };
                        ctx.push(
                            "keras.module-reference",
                            sev,
                            format!("layer {name:?} loads {module}.{class}: code from outside Keras runs when the model loads"),
                            None,
                        );
                    }
                }
                if m.get("function_type").and_then(|x| x.as_str()) == Some("lambda")
                    && class != "Lambda"
                {
                    ctx.push(
                        "keras.lambda",
                        Severity::Critical,
                        format!("{name:?} carries serialized Python bytecode"),
                        None,
                    );
                }
                for (k, x) in m {
                    walk(x, ctx, k, depth + 1);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, ctx, path, depth + 1)),
            _ => {}
        }
    }
    walk(v, ctx, "model", 0);
}

// ---------------------------------------------------------------------------
// Protobuf (ONNX, SavedModel): a streaming walk that descends only into the
// messages that matter and skips every other payload without reading it.

#[derive(Clone, Copy, PartialEq, Debug)]
enum Msg {
    OnnxModel,
    OnnxGraph,
    OnnxNode,
    OnnxAttr,
    OnnxTensor,
    OnnxSparse,
    OnnxEntry,
    OnnxFunction,
    SmRoot,
    SmMeta,
    SmGraph,
    SmLibrary,
    SmFunction,
    SmNode,
}

fn child(m: Msg, field: u64) -> Option<Msg> {
    use Msg::*;
    Some(match (m, field) {
        (OnnxModel, 7) => OnnxGraph,
        (OnnxModel, 25) => OnnxFunction,
        (OnnxGraph, 1) => OnnxNode,
        (OnnxGraph, 5) => OnnxTensor,
        (OnnxGraph, 15) => OnnxSparse,
        (OnnxNode, 5) => OnnxAttr,
        (OnnxAttr, 5) | (OnnxAttr, 10) => OnnxTensor,
        (OnnxAttr, 6) | (OnnxAttr, 11) => OnnxGraph,
        (OnnxAttr, 22) | (OnnxAttr, 23) => OnnxSparse,
        (OnnxSparse, 1) | (OnnxSparse, 2) => OnnxTensor,
        (OnnxTensor, 13) => OnnxEntry,
        (OnnxFunction, 7) => OnnxNode,
        (SmRoot, 2) => SmMeta,
        (SmMeta, 2) => SmGraph,
        (SmGraph, 1) => SmNode,
        (SmGraph, 2) => SmLibrary,
        (SmLibrary, 1) => SmFunction,
        (SmFunction, 3) => SmNode,
        _ => return None,
    })
}

/// Strings worth reading: (message, field).
fn wanted_string(m: Msg, field: u64) -> bool {
    use Msg::*;
    matches!(
        (m, field),
        (OnnxNode, 4)
            | (OnnxNode, 7)
            | (OnnxEntry, 1)
            | (OnnxEntry, 2)
            | (OnnxTensor, 8)
            | (SmNode, 1)
            | (SmNode, 2)
    )
}

#[derive(Default)]
struct PbFacts {
    /// (tensor name, location) of external data.
    external: Vec<(String, String)>,
    domains: Vec<String>,
    ops: Vec<(String, String)>,
}

fn read_varint(src: &mut dyn Src) -> io::Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = read_vec(src, 1)?[0];
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "varint longer than 10 bytes",
    ))
}

fn pb_walk(
    src: &mut dyn Src,
    end: u64,
    m: Msg,
    depth: u32,
    facts: &mut PbFacts,
    cur: &mut Vec<(u64, String)>,
) -> io::Result<()> {
    if depth > 64 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "messages nested deeper than 64",
        ));
    }
    while src.pos() < end {
        let tag = read_varint(src)?;
        let field = tag >> 3;
        match tag & 7 {
            0 => {
                read_varint(src)?;
            }
            1 => {
                read_vec(src, 8)?;
            }
            5 => {
                read_vec(src, 4)?;
            }
            2 => {
                let n = read_varint(src)?;
                if src.pos().saturating_add(n) > end {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("field {field} of {n} bytes runs past its message"),
                    ));
                }
                if let Some(c) = child(m, field) {
                    let mut inner = Vec::new();
                    let sub_end = src.pos() + n;
                    pb_walk(src, sub_end, c, depth + 1, facts, &mut inner)?;
                    match c {
                        Msg::OnnxEntry => {
                            let key = inner
                                .iter()
                                .find(|(f, _)| *f == 1)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            if key == "location" {
                                let val = inner
                                    .iter()
                                    .find(|(f, _)| *f == 2)
                                    .map(|x| x.1.clone())
                                    .unwrap_or_default();
                                cur.push((1000, val));
                            }
                        }
                        Msg::OnnxTensor => {
                            let name = inner
                                .iter()
                                .find(|(f, _)| *f == 8)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            for (f, v) in &inner {
                                if *f == 1000 {
                                    facts.external.push((name.clone(), v.clone()));
                                }
                            }
                        }
                        Msg::OnnxNode => {
                            if let Some((_, d)) = inner.iter().find(|(f, _)| *f == 7)
                                && !facts.domains.contains(d)
                            {
                                facts.domains.push(d.clone());
                            }
                        }
                        Msg::SmNode => {
                            let name = inner
                                .iter()
                                .find(|(f, _)| *f == 1)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            let op = inner
                                .iter()
                                .find(|(f, _)| *f == 2)
                                .map(|x| x.1.clone())
                                .unwrap_or_default();
                            facts.ops.push((name, op));
                        }
                        _ => {}
                    }
                } else if wanted_string(m, field) && n <= 1 << 20 {
                    let b = read_vec(src, n as usize)?;
                    cur.push((field, String::from_utf8_lossy(&b).into_owned()));
                } else if src.skip(n)? < n {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
                }
            }
            w => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("wire type {w} (field {field}) is not valid"),
                ));
            }
        }
    }
    if src.pos() != end {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a field runs past the end of its message",
        ));
    }
    Ok(())
}

const STANDARD_DOMAINS: &[&str] = &[
    "",
    "ai.onnx",
    "ai.onnx.ml",
    "ai.onnx.training",
    "ai.onnx.preview.training",
];

/// The ONNX model in the same directory that names this file as external
/// data, if any (at most 64 `.onnx` files of up to 256 MiB are read).
fn onnx_external_owner(path: &Path) -> Option<std::path::PathBuf> {
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
        if pb_walk(
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
            location_escapes(loc).is_none()
                && Path::new(loc.trim_start_matches("./")) == Path::new(name)
        }) {
            return Some(p);
        }
    }
    None
}

fn onnx(src: &mut dyn Src, len: u64, dir: Option<&Path>, ctx: &mut Ctx) -> io::Result<()> {
    let mut facts = PbFacts::default();
    if let Err(e) = pb_walk(src, len, Msg::OnnxModel, 0, &mut facts, &mut Vec::new()) {
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
        if let Some(why) = location_escapes(loc) {
            ctx.push(
                "onnx.external-data-escape",
                Severity::High,
                format!("tensor {tensor:?} reads external data from {loc:?}, which {why}"),
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

fn location_escapes(loc: &str) -> Option<&'static str> {
    let n = loc.replace('\\', "/");
    if n.starts_with('/') {
        return Some("is an absolute path");
    }
    let b = n.as_bytes();
    if b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic() {
        return Some("names a drive");
    }
    if n.split('/').any(|p| p == "..") {
        return Some("climbs out of the model directory");
    }
    if n.contains("://") {
        return Some("is a URL");
    }
    None
}

/// TensorFlow ops that read or write files or call into Python.
const TF_DANGEROUS: &[(&str, &str)] = &[
    ("ReadFile", "reads any file"),
    ("WriteFile", "writes any file"),
    ("MatchingFiles", "lists files"),
    ("PyFunc", "calls Python code"),
    ("PyFuncStateless", "calls Python code"),
    ("EagerPyFunc", "calls Python code"),
    ("ImmutableConst", "maps a file into memory"),
    ("DebugIdentityV2", "writes debug data to files"),
    ("DebugIdentityV3", "writes debug data to files"),
    ("PrintV2", "writes to an output stream that can be a file"),
    ("LoadAndRemapMatrix", "reads checkpoint files"),
    ("FixedLengthRecordReader", "reads files"),
    ("FixedLengthRecordReaderV2", "reads files"),
    ("TextLineReader", "reads files"),
    ("TextLineReaderV2", "reads files"),
    ("WholeFileReader", "reads files"),
    ("WholeFileReaderV2", "reads files"),
    ("TFRecordReader", "reads files"),
    ("TFRecordReaderV2", "reads files"),
    ("WriteSummary", "writes event files"),
    ("CreateSummaryFileWriter", "writes event files"),
    ("Socket", "opens network connections"),
];

fn savedmodel(src: &mut dyn Src, len: u64, ctx: &mut Ctx) -> io::Result<()> {
    let mut facts = PbFacts::default();
    if let Err(e) = pb_walk(src, len, Msg::SmRoot, 0, &mut facts, &mut Vec::new()) {
        if matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
        ) {
            ctx.push(
                "savedmodel.malformed",
                Severity::Medium,
                format!("not a well-formed SavedModel protobuf: {e}"),
                None,
            );
            return Ok(());
        }
        return Err(e);
    }
    let mut seen = std::collections::HashSet::new();
    for (node, op) in &facts.ops {
        if let Some((_, why)) = TF_DANGEROUS.iter().find(|(o, _)| o == op)
            && seen.insert((op.clone(), node.clone()))
        {
            let sev = if op.contains("PyFunc") {
                Severity::Critical
            } else {
                Severity::High
            };
            ctx.push(
                "savedmodel.dangerous-op",
                sev,
                format!("node {node:?} runs {op}, which {why}"),
                None,
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> (String, Vec<Finding>) {
        let mut f = Vec::new();
        let fmt = scan_nested_top(bytes, Profile::Auto, &mut f);
        (fmt, f)
    }

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
        assert!(!safetensors_prefix(py, py.len() as u64));
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

    #[test]
    fn binary_or_text() {
        assert!(is_text(b"caf\xe9 latin-1 text\n"));
        assert!(is_text(b"\xff\xfek\x00e\x00y\x00"));
        assert!(!is_text(b"\x00\x01\x02abc"));
        assert!(!is_text(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 11]));
        assert_eq!(decode_text(b"\xff\xfek\x00e\x00y\x00"), "key");
    }

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
    fn template_injection_is_found() {
        assert!(template_injection("{{ cycler.__init__.__globals__.os.popen('id') }}").is_some());
        assert!(template_injection("{% for m in messages %}{{ m.content }}{% endfor %}").is_none());
    }

    #[test]
    fn keras_lambda_is_found() {
        let cfg = br#"{"class_name":"Sequential","config":{"layers":[{"module":"keras.layers","class_name":"Lambda","config":{"name":"evil","function":{"class_name":"__lambda__","config":{"code":"4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAdABkAYMBUwCpAk4="}}}},{"module":"os","class_name":"system","config":{"name":"x"}}]}}"#;
        let mut f = Vec::new();
        let mut ctx = Ctx {
            profile: Profile::Auto,
            member: None,
            depth: 0,
            findings: &mut f,
        };
        keras_config(cfg, &mut ctx);
        assert!(
            f.iter()
                .any(|x| x.rule == "keras.lambda" && x.severity == Severity::Critical),
            "{f:?}"
        );
        assert!(
            f.iter()
                .any(|x| x.rule == "keras.module-reference" && x.severity == Severity::Critical),
            "{f:?}"
        );
    }

    #[test]
    fn protobuf_detection() {
        // ONNX: ir_version then producer_name "pytorch".
        assert_eq!(
            detect_protobuf(b"\x08\x07\x12\x07pytorch"),
            Some(Kind::Onnx)
        );
        // SavedModel: schema version then a MetaGraphDef starting with meta_info_def.
        assert_eq!(
            detect_protobuf(b"\x08\x01\x12\x05\x0a\x03\x0a\x01x"),
            Some(Kind::SavedModel)
        );
    }

    #[test]
    fn savedmodel_readfile_is_found() {
        // NodeDef{name:"r", op:"ReadFile"} in GraphDef in MetaGraphDef in SavedModel.
        let node = [&b"\x0a\x01r\x12\x08ReadFile"[..]].concat();
        let graph = [&[0x0a, node.len() as u8][..], &node].concat();
        let meta = [&[0x12, graph.len() as u8][..], &graph].concat();
        let sm = [&b"\x08\x01"[..], &[0x12, meta.len() as u8], &meta].concat();
        let mut f = Vec::new();
        let mut ctx = Ctx {
            profile: Profile::Auto,
            member: None,
            depth: 0,
            findings: &mut f,
        };
        let mut src = StreamSrc::new(&sm[..]);
        savedmodel(&mut src, sm.len() as u64, &mut ctx).unwrap();
        assert!(
            f.iter()
                .any(|x| x.rule == "savedmodel.dangerous-op" && x.message.contains("ReadFile")),
            "{f:?}"
        );
    }

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
        onnx(&mut src, model.len() as u64, None, &mut ctx).unwrap();
        assert!(
            f.iter().any(|x| x.rule == "onnx.external-data-escape"),
            "{f:?}"
        );
    }

    const EVIL: &[u8] =
        b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";

    fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
        let crc = crc32fast::hash(data);
        let n = data.len() as u32;
        let mut z = b"PK\x03\x04".to_vec();
        for v in [20u16, 0, 0, 0, 0] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, n, n] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z.extend_from_slice(name.as_bytes());
        z.extend_from_slice(data);
        let cd = z.len() as u32;
        z.extend_from_slice(b"PK\x01\x02");
        for v in [20u16, 20, 0, 0, 0, 0] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, n, n] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        for v in [name.len() as u16, 0, 0, 0, 0] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(&0u32.to_le_bytes());
        z.extend_from_slice(name.as_bytes());
        let cd_len = z.len() as u32 - cd;
        z.extend_from_slice(b"PK\x05\x06");
        for v in [0u16, 0, 1, 1] {
            z.extend_from_slice(&v.to_le_bytes());
        }
        z.extend_from_slice(&cd_len.to_le_bytes());
        z.extend_from_slice(&cd.to_le_bytes());
        z.extend_from_slice(&0u16.to_le_bytes());
        z
    }

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

    fn scan_path(bytes: &[u8], name: &str) -> FileReport {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        scan_file(&p, name.into(), &Options::default(), false)
    }

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

    #[test]
    fn text_that_looks_like_a_header_is_scanned_for_secrets() {
        // Bytes 8-9 are '{"'; a token further on.
        let src = b"config = {\"token\": \"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\"}\n";
        let opts = Options {
            models: false,
            ..Options::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.py");
        std::fs::write(&p, src).unwrap();
        let r = scan_file(&p, "settings.py".into(), &opts, false);
        assert_eq!(r.format, "text");
        assert!(
            r.findings.iter().any(|x| x.rule.starts_with("secret.")),
            "{:?}",
            r.findings
        );
        let r = scan_file(&p, "settings.py".into(), &Options::default(), false);
        assert!(
            !r.findings.iter().any(|x| x.rule.starts_with("safetensors")),
            "{:?}",
            r.findings
        );
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
