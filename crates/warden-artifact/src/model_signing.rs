//! Verification of OpenSSF model-signing signatures (the `model_signing`
//! "key" method): a Sigstore bundle v0.3 whose DSSE envelope carries an
//! in-toto Statement v1 with predicate type
//! `https://model_signing/signature/v1.0`, listing every file of a model
//! directory with its SHA-256, signed with ECDSA P-256 (SHA-256) or P-384
//! (SHA-384).
//!
//! The bundle JSON is hand-parsed with serde (the `sigstore` crate pulls
//! hundreds of dependencies for online flows this format does not use).
//! Warden applies its own ignore policy (`.git`, `.github`, `.gitattributes`,
//! `.gitignore`, and the signature file itself); the ignore list inside the
//! signature is never trusted.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::keys::SigningKey;

/// Largest signature bundle read.
pub const MAX_BUNDLE_BYTES: usize = 16 << 20;
/// Largest shard size accepted in a signature (1 TiB).
pub const MAX_SHARD_SIZE: u64 = 1 << 40;
const BUNDLE_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// Paths never part of a signed model.
const IGNORED: [&str; 4] = [".git", ".github", ".gitattributes", ".gitignore"];

/// Why a model signature does not verify.
#[derive(Debug, thiserror::Error)]
pub enum ModelSigningError {
    /// The bundle, or the in-toto statement it signs, is not of the form
    /// this module reads (its size, JSON, media or payload type, base64,
    /// signature or subject count, predicate type, serialization or
    /// digests); also an out-of-range shard size when signing, or a hashing
    /// thread that failed. Holds the reason.
    #[error("signature bundle is malformed: {0}")]
    Malformed(String),
    /// The bundle's public key hint is not the hint of the key given.
    #[error("the signature was made with another key (hint {hint}, this key's is {expected})")]
    KeyMismatch {
        /// The hint recorded in the bundle.
        hint: String,
        /// The hint of the key given ([`ModelKey::hint`]).
        expected: String,
    },
    /// The DSSE signature is not a DER ECDSA signature that verifies over
    /// the envelope's pre-authentication encoding with the key given.
    #[error("the signature does not verify with this key")]
    BadSignature,
    /// The subject's SHA-256 root digest is not the SHA-256 of the listed
    /// resource digests, in the order listed.
    #[error("the signed manifest's root digest does not match its file list")]
    RootMismatch,
    /// A file (or shard) has a SHA-256 other than the signed one; holds its
    /// relative path (or shard name `path:start:end`).
    #[error("{0}: file differs from the signed manifest")]
    FileMismatch(String),
    /// A signed file (or shard) is not in the directory; holds its relative
    /// path (or shard name).
    #[error("{0}: file is signed but missing")]
    MissingFile(String),
    /// A file (or shard) in the directory, outside Warden's ignore policy,
    /// is not listed in the signature; holds its relative path (or shard
    /// name).
    #[error("{0}: file is not covered by the signature")]
    ExtraFile(String),
    /// The model directory holds a symbolic link; holds its relative path.
    #[error("{0}: symbolic links are not allowed in a signed model")]
    Symlink(String),
    /// Reading the model directory or one of its files failed.
    #[error("{path}: {source}")]
    Io {
        /// The directory or file being read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The key is not an ECDSA P-256 or P-384 key (Ed25519 keys included),
    /// or its SPKI PEM could not be encoded for the hint; holds the reason.
    #[error("unsupported key for model signing: {0}")]
    UnsupportedKey(String),
}

/// A verifying key of the kinds `model_signing` uses.
pub enum ModelKey {
    /// An ECDSA P-256 public key, which verifies signatures over SHA-256.
    P256(p256::ecdsa::VerifyingKey),
    /// An ECDSA P-384 public key, which verifies signatures over SHA-384.
    P384(p384::ecdsa::VerifyingKey),
}

impl ModelKey {
    /// Parses an SPKI PEM public key (P-256 or P-384).
    pub fn from_pem(pem: &str) -> Result<Self, ModelSigningError> {
        use p256::pkcs8::DecodePublicKey;
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(ModelKey::P256(k));
        }
        p384::ecdsa::VerifyingKey::from_public_key_pem(pem)
            .map(ModelKey::P384)
            .map_err(|_| {
                ModelSigningError::UnsupportedKey("not an ECDSA P-256 or P-384 public key".into())
            })
    }

    /// The hint `model_signing` records: hex SHA-256 of the key's SPKI PEM text.
    pub fn hint(&self) -> Result<String, ModelSigningError> {
        use p256::pkcs8::{EncodePublicKey, LineEnding};
        let pem = match self {
            ModelKey::P256(k) => k.to_public_key_pem(LineEnding::LF),
            ModelKey::P384(k) => k.to_public_key_pem(LineEnding::LF),
        }
        .map_err(|e| ModelSigningError::UnsupportedKey(e.to_string()))?;
        Ok(hex::encode(Sha256::digest(pem.as_bytes())))
    }

    fn verify(&self, message: &[u8], der: &[u8]) -> Result<(), ModelSigningError> {
        use p256::ecdsa::signature::Verifier;
        let ok =
            match self {
                ModelKey::P256(k) => p256::ecdsa::Signature::from_der(der)
                    .is_ok_and(|s| k.verify(message, &s).is_ok()),
                ModelKey::P384(k) => p384::ecdsa::Signature::from_der(der)
                    .is_ok_and(|s| k.verify(message, &s).is_ok()),
            };
        if ok {
            Ok(())
        } else {
            Err(ModelSigningError::BadSignature)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bundle {
    media_type: String,
    verification_material: Material,
    dsse_envelope: Envelope,
}

#[derive(Deserialize)]
struct Material {
    #[serde(rename = "publicKey")]
    public_key: Option<PublicKeyRef>,
}

#[derive(Deserialize)]
struct PublicKeyRef {
    hint: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    payload: String,
    payload_type: String,
    signatures: Vec<EnvelopeSignature>,
}

#[derive(Deserialize)]
struct EnvelopeSignature {
    sig: String,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "_type")]
    kind: String,
    subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    predicate_type: String,
    predicate: Predicate,
}

#[derive(Deserialize)]
struct Subject {
    digest: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Predicate {
    serialization: Serialization,
    resources: Vec<Resource>,
}

#[derive(Deserialize)]
struct Serialization {
    method: String,
    hash_type: String,
    #[serde(default)]
    shard_size: Option<u64>,
}

#[derive(Deserialize)]
struct Resource {
    name: String,
    algorithm: String,
    digest: String,
}

/// The DSSE pre-authentication encoding.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

fn malformed(what: impl Into<String>) -> ModelSigningError {
    ModelSigningError::Malformed(what.into())
}

/// What a verified signature covers.
#[derive(Debug, Clone)]
pub struct VerifiedModel {
    /// The subject's root digest (hex).
    pub root_digest: String,
    /// Signed files (POSIX relative paths) and their SHA-256 (hex); with
    /// shard serialization, shards named `path:start:end`.
    pub files: BTreeMap<String, String>,
    /// `Some(size)` for the "shards" serialization method, `None` for "files".
    pub shard_size: Option<u64>,
}

/// Verifies `bundle` (the JSON bytes of a signature file) over the model
/// directory `dir` with `key`. `signature_path` is skipped if it lies inside `dir`.
pub fn verify(
    dir: &Path,
    bundle: &[u8],
    key: &ModelKey,
    signature_path: Option<&Path>,
) -> Result<VerifiedModel, ModelSigningError> {
    verify_progress(dir, bundle, key, signature_path, None)
}

/// [`verify`], reporting hashing progress.
pub fn verify_progress(
    dir: &Path,
    bundle: &[u8],
    key: &ModelKey,
    signature_path: Option<&Path>,
    progress: Option<Progress<'_>>,
) -> Result<VerifiedModel, ModelSigningError> {
    let v = verify_bundle(bundle, key)?;
    check_files(
        &v,
        &hash_dir_progress(dir, signature_path, v.shard_size, progress)?,
    )?;
    Ok(v)
}

/// Checks that the files actually present (`actual`, relative path → SHA-256
/// hex) are exactly the files a verified signature lists: the first file
/// that differs, is missing or is extra is named.
pub fn check_files(
    signed: &VerifiedModel,
    actual: &BTreeMap<String, String>,
) -> Result<(), ModelSigningError> {
    for (name, digest) in &signed.files {
        match actual.get(name) {
            None => return Err(ModelSigningError::MissingFile(name.clone())),
            Some(d) if !d.eq_ignore_ascii_case(digest) => {
                return Err(ModelSigningError::FileMismatch(name.clone()));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = actual.keys().find(|k| !signed.files.contains_key(*k)) {
        return Err(ModelSigningError::ExtraFile(extra.clone()));
    }
    Ok(())
}

/// Verifies the signature of `bundle` with `key` and returns what it covers,
/// without looking at any file: pair it with [`check_files`].
pub fn verify_bundle(bundle: &[u8], key: &ModelKey) -> Result<VerifiedModel, ModelSigningError> {
    if bundle.len() > MAX_BUNDLE_BYTES {
        return Err(malformed(format!("larger than {MAX_BUNDLE_BYTES} bytes")));
    }
    let b: Bundle = serde_json::from_slice(bundle).map_err(|e| malformed(e.to_string()))?;
    if b.media_type != BUNDLE_MEDIA_TYPE {
        return Err(malformed(format!(
            "media type {:?}, expected {BUNDLE_MEDIA_TYPE}",
            b.media_type
        )));
    }
    if let Some(hint) = b.verification_material.public_key.and_then(|p| p.hint) {
        let expected = key.hint()?;
        if hint != expected {
            return Err(ModelSigningError::KeyMismatch { hint, expected });
        }
    }
    let env = &b.dsse_envelope;
    if env.payload_type != PAYLOAD_TYPE {
        return Err(malformed(format!("payload type {:?}", env.payload_type)));
    }
    let payload = B64
        .decode(&env.payload)
        .map_err(|_| malformed("payload is not base64"))?;
    let [sig] = env.signatures.as_slice() else {
        return Err(malformed("expected exactly one signature"));
    };
    let der = B64
        .decode(&sig.sig)
        .map_err(|_| malformed("signature is not base64"))?;
    key.verify(&pae(&env.payload_type, &payload), &der)?;

    // Only now, signed, is the statement trusted enough to read.
    let st: Statement =
        serde_json::from_slice(&payload).map_err(|e| malformed(format!("statement: {e}")))?;
    if st.kind != STATEMENT_TYPE || st.predicate_type != PREDICATE_TYPE {
        return Err(malformed(format!(
            "statement type {} / predicate {}",
            st.kind, st.predicate_type
        )));
    }
    let ser = &st.predicate.serialization;
    let shard_size = match (ser.method.as_str(), ser.shard_size) {
        ("files", _) => None,
        ("shards", Some(n)) if (1..=MAX_SHARD_SIZE).contains(&n) => Some(n),
        ("shards", n) => {
            return Err(malformed(format!(
                "shard size {n:?} is not in 1..={MAX_SHARD_SIZE}"
            )));
        }
        (m, _) => {
            return Err(malformed(format!(
                "serialization method {m} is not supported"
            )));
        }
    };
    if ser.hash_type != "sha256" {
        return Err(malformed(format!(
            "hash type {} is not supported",
            ser.hash_type
        )));
    }
    let [subject] = st.subject.as_slice() else {
        return Err(malformed("expected exactly one subject"));
    };
    let root = subject
        .digest
        .get("sha256")
        .ok_or_else(|| malformed("subject has no sha256 digest"))?;
    let mut hasher = Sha256::new();
    let mut signed = BTreeMap::new();
    for r in &st.predicate.resources {
        if r.algorithm != resource_algorithm(shard_size) {
            return Err(malformed(format!("{}: algorithm {}", r.name, r.algorithm)));
        }
        let mut d = [0u8; 32];
        hex::decode_to_slice(&r.digest, &mut d)
            .map_err(|_| malformed(format!("{}: digest is not sha256 hex", r.name)))?;
        hasher.update(d);
        if signed
            .insert(r.name.clone(), r.digest.to_lowercase())
            .is_some()
        {
            return Err(malformed(format!("{}: listed twice", r.name)));
        }
    }
    if hex::encode(hasher.finalize()) != root.to_lowercase() {
        return Err(ModelSigningError::RootMismatch);
    }

    Ok(VerifiedModel {
        root_digest: root.to_lowercase(),
        files: signed,
        shard_size,
    })
}

/// SHA-256 of every file under `dir` by POSIX relative path, applying
/// Warden's ignore policy; symbolic links are refused. Files are hashed on
/// every core (a file's digest is one SHA-256 stream, as the format needs).
pub fn hash_dir(
    dir: &Path,
    skip: Option<&Path>,
) -> Result<BTreeMap<String, String>, ModelSigningError> {
    hash_dir_progress(dir, skip, None, None)
}

/// Told `(bytes hashed so far, total bytes)` while a directory is hashed.
pub type Progress<'a> = &'a (dyn Fn(u64, u64) + Sync);

/// [`hash_dir`], reporting progress; with `shard_size`, every file is cut
/// into shards of that many bytes (the last one shorter), each hashed on
/// its own and named `path:start:end`, as model_signing's "shards"
/// serialization does — so one large file is hashed on every core.
pub fn hash_dir_progress(
    dir: &Path,
    skip: Option<&Path>,
    shard_size: Option<u64>,
    progress: Option<Progress<'_>>,
) -> Result<BTreeMap<String, String>, ModelSigningError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| ModelSigningError::Io { path: p, source: e }
    };
    let skip = skip.and_then(|s| s.canonicalize().ok());
    let mut files: Vec<(String, PathBuf, u64)> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(io(&d))? {
            let entry = entry.map_err(io(&d))?;
            let path = entry.path();
            let name = entry.file_name();
            if IGNORED.iter().any(|i| name == *i) {
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let ft = entry.file_type().map_err(io(&path))?;
            if ft.is_symlink() {
                return Err(ModelSigningError::Symlink(rel));
            }
            if ft.is_dir() {
                stack.push(path);
                continue;
            }
            if skip
                .as_ref()
                .is_some_and(|s| path.canonicalize().ok().as_ref() == Some(s))
            {
                continue;
            }
            let len = entry.metadata().map_err(io(&path))?.len();
            files.push((rel, path, len));
        }
    }
    // Work items: whole files, or shards (name, path, start, end).
    let mut items: Vec<(String, PathBuf, u64, u64)> = Vec::new();
    for (rel, path, len) in files {
        match shard_size {
            None => items.push((rel, path, 0, len)),
            // model_signing lists no shard for an empty file.
            Some(_) if len == 0 => {}
            Some(step) => {
                let mut start: u64 = 0;
                loop {
                    let end = start.saturating_add(step).min(len);
                    items.push((format!("{rel}:{start}:{end}"), path.clone(), start, end));
                    if end >= len {
                        break;
                    }
                    start = end;
                }
            }
        }
    }
    let mut files = items;
    // Largest first, handed out one at a time, keeps the cores evenly busy.
    files.sort_by_key(|f| std::cmp::Reverse(f.3 - f.2));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let total: u64 = files.iter().map(|f| f.3 - f.2).sum();
    let hashed = std::sync::atomic::AtomicU64::new(0);
    let hash_one = |path: &Path, start: u64, end: u64| -> Result<String, ModelSigningError> {
        use std::io::Seek;
        let mut f = std::fs::File::open(path).map_err(io(path))?;
        if start > 0 {
            f.seek(std::io::SeekFrom::Start(start)).map_err(io(path))?;
        }
        let mut f = f.take(end - start);
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(io(path))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            if let Some(p) = progress {
                let done = hashed.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
                p(done + n as u64, total);
            }
        }
        Ok(hex::encode(h.finalize()))
    };
    let results: Vec<Result<Vec<(usize, String)>, ModelSigningError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((_, path, start, end)) = files.get(i) else {
                            break;
                        };
                        done.push((i, hash_one(path, *start, *end)?));
                    }
                    Ok(done)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(malformed("a hashing thread failed")))
            })
            .collect()
    });
    let mut out = BTreeMap::new();
    for r in results {
        for (i, digest) in r? {
            out.insert(files[i].0.clone(), digest);
        }
    }
    if out.len() != files.len() {
        return Err(malformed("a hashing thread failed"));
    }
    Ok(out)
}

/// Paths in `model_signing`'s order: sorted by path components, so `a/b.txt`
/// comes before `a.txt`.
fn component_order(a: &str, b: &str) -> std::cmp::Ordering {
    a.split('/').cmp(b.split('/'))
}

/// The digest name of a resource: `sha256`, or for shards of N bytes
/// `sha256-sharded-N` (model_signing's name).
fn resource_algorithm(shard_size: Option<u64>) -> String {
    match shard_size {
        None => "sha256".into(),
        Some(n) => format!("sha256-sharded-{n}"),
    }
}

/// A shard name `path:start:end` split into its parts.
fn shard_parts(name: &str) -> Option<(&str, u64, u64)> {
    let mut it = name.rsplitn(3, ':');
    let end = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    Some((it.next()?, start, end))
}

/// Resource order: by path, component by component; shards of one file by
/// offset (model_signing's order, so the root digest is the same).
fn resource_order(a: &str, b: &str, shards: bool) -> std::cmp::Ordering {
    match (shards, shard_parts(a), shard_parts(b)) {
        (true, Some((pa, sa, ea)), Some((pb, sb, eb))) => {
            component_order(pa, pb).then(sa.cmp(&sb)).then(ea.cmp(&eb))
        }
        _ => component_order(a, b),
    }
}

/// Signs the model directory `dir` with an ECDSA P-256 or P-384 key,
/// producing the JSON of a bundle that `model_signing verify key` accepts.
/// `signature_path` is skipped if it lies inside `dir`.
pub fn sign(
    dir: &Path,
    key: &SigningKey,
    signature_path: Option<&Path>,
) -> Result<(Vec<u8>, VerifiedModel), ModelSigningError> {
    sign_progress(dir, key, signature_path, None, None)
}

/// [`sign`], reporting hashing progress; with `shard_size` (in
/// 1..=[`MAX_SHARD_SIZE`] bytes) the files are signed as "shards"
/// serialization, as [`hash_dir_progress`] cuts them.
pub fn sign_progress(
    dir: &Path,
    key: &SigningKey,
    signature_path: Option<&Path>,
    shard_size: Option<u64>,
    progress: Option<Progress<'_>>,
) -> Result<(Vec<u8>, VerifiedModel), ModelSigningError> {
    if shard_size.is_some_and(|n| !(1..=MAX_SHARD_SIZE).contains(&n)) {
        return Err(malformed(format!(
            "shard size must be in 1..={MAX_SHARD_SIZE}"
        )));
    }
    let files = hash_dir_progress(dir, signature_path, shard_size, progress)?;
    let subject_name = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "model".into());
    sign_files(files, &subject_name, key, shard_size)
}

/// Signs already-hashed files (relative POSIX path → SHA-256 hex) as the
/// model `subject_name`: the same bundle [`sign`] makes for a directory
/// holding those files.
pub fn sign_files(
    files: BTreeMap<String, String>,
    subject_name: &str,
    key: &SigningKey,
    shard_size: Option<u64>,
) -> Result<(Vec<u8>, VerifiedModel), ModelSigningError> {
    let public = match key {
        SigningKey::EcdsaP256(k) => ModelKey::P256(*k.verifying_key()),
        SigningKey::EcdsaP384(k) => ModelKey::P384(*k.verifying_key()),
        SigningKey::Ed25519(_) => {
            return Err(ModelSigningError::UnsupportedKey(
                "an Ed25519 key: OpenSSF model signing needs ECDSA P-256 or P-384".into(),
            ));
        }
    };
    let mut names: Vec<&String> = files.keys().collect();
    names.sort_by(|a, b| resource_order(a, b, shard_size.is_some()));
    let mut root = Sha256::new();
    let mut resources = Vec::with_capacity(names.len());
    for name in names {
        let digest = &files[name];
        let mut raw = [0u8; 32];
        hex::decode_to_slice(digest, &mut raw).map_err(|_| malformed("internal digest"))?;
        root.update(raw);
        resources.push(serde_json::json!({"name": name, "algorithm": resource_algorithm(shard_size), "digest": digest}));
    }
    let root_digest = hex::encode(root.finalize());
    let serialization = match shard_size {
        None => {
            serde_json::json!({"method": "files", "hash_type": "sha256", "allow_symlinks": false,
                                   "ignore_paths": IGNORED})
        }
        Some(n) => serde_json::json!({"method": "shards", "hash_type": "sha256", "shard_size": n,
                                      "allow_symlinks": false, "ignore_paths": IGNORED}),
    };
    let statement = serde_json::json!({
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": {"sha256": root_digest}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": serialization,
            "resources": resources,
        },
    });
    let payload = serde_json::to_vec(&statement).map_err(|e| malformed(e.to_string()))?;
    // ECDSA over SHA-256 (P-256) or SHA-384 (P-384), DER-encoded, as
    // model_signing's key signer makes them.
    let sig = key.sign(&pae(PAYLOAD_TYPE, &payload));
    let hint = public.hint()?;
    let bundle = serde_json::json!({
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": hint}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": B64.encode(&payload),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": B64.encode(&sig), "keyid": ""}],
        },
    });
    let bytes = serde_json::to_vec_pretty(&bundle).map_err(|e| malformed(e.to_string()))?;
    Ok((
        bytes,
        VerifiedModel {
            root_digest,
            files,
            shard_size,
        },
    ))
}
