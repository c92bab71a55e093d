//! Uploads to the hub: a CSV ingested as the next version of a dataset,
//! and a model file imported as the next version of a model.
//!
//! Both are `multipart/form-data` bodies whose first part, `request`, is a
//! typed document ([`warden::api::DatasetUpload`],
//! [`warden::api::ModelUpload`]) carrying what the CLI's flags would and the
//! SHA-256 of every file part that follows; the big part comes last. A
//! dataset's CSV is never written anywhere as it arrives: it is handed to
//! the engine's ingest chunk by chunk on a blocking thread (the raw bytes
//! may hold the PII that ingest redacts, so they must not sit in the blob
//! store or a temp file). A model's files are staged in a private scratch
//! directory of the workspace ([`warden::upload_scratch`]), hashed as they
//! are written, and imported from there by the same engine call as
//! `warden model import`; the directory goes when the request ends.
//!
//! The whole body is limited by the hub's `max_upload_bytes` and the
//! request by `upload_timeout_seconds` (see `guard::limits_of`); the small
//! parts have their own caps; at most `max_concurrent_uploads` run at once
//! (503 beyond, with `Retry-After`). A digest that does not match, a part out of
//! order, a body cut short or over the limit: the engine sees a failed
//! read or is never called, and nothing is recorded.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use warden::api::{DatasetUpload, ModelUpload};
use warden::{ImportRequest, IngestRequest};
use warden_core::{Digest, ObjectName, VersionRef};

use crate::Shared;
use crate::control::{client, engine_error, run_as};
use crate::guard::{Client, error};

/// The largest `request` part.
const MAX_REQUEST_PART: usize = 64 << 10;
/// The largest schema or PII policy part (TOML).
const MAX_TOML_PART: usize = 1 << 20;
/// The largest check batch part.
const MAX_CHECK_PART: u64 = 256 << 20;
/// Chunks of the CSV in flight between the connection and the ingest.
const CHANNEL_CHUNKS: usize = 16;

/// `POST …/datasets/{name}/versions`: ingests the `data` part as the next
/// version of `name`, as `warden data ingest` does, as the caller.
pub(crate) async fn dataset(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(name): UrlPath<String>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let start = begin(&s, c, &name, mp, warden::Workspace::authorize_data_ingest).await;
    let Upload {
        caller,
        name,
        _place,
        mut mp,
        scratch,
    } = match start {
        Ok(u) => u,
        Err(r) => return r,
    };
    // `request`, then the TOML parts it announces, then `data`.
    let req: DatasetUpload = match request_part(&mut mp).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let sha256 = match digest("sha256", &req.sha256) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let mut files: Vec<(&str, Option<PathBuf>)> = Vec::new();
    for (part, want) in [
        ("schema", &req.schema_sha256),
        ("pii_policy", &req.pii_policy_sha256),
    ] {
        let Some(want) = want else {
            files.push((part, None));
            continue;
        };
        let path = match small_file_part(&mut mp, part, want, scratch.path()).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        files.push((part, Some(path)));
    }
    let csv = match csv_options(&req) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let source = format!(
        "upload:{}",
        req.source
            .as_deref()
            .map(file_name)
            .unwrap_or_else(|| "data.csv".into())
    );
    let mut schema_file = None;
    let mut pii_policy_file = None;
    for (part, path) in files {
        match part {
            "schema" => schema_file = path,
            _ => pii_policy_file = path,
        }
    }
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    let staged = scratch.path().to_path_buf();
    let ingest = run_as(&s, caller, move |ws| {
        let mut input = ChannelReader::new(rx);
        ws.data_ingest(IngestRequest {
            expected_sha256: req.pin.then_some(sha256),
            source_check: (!req.pin).then_some(sha256),
            schema_file,
            pii_policy_file,
            target: req.target,
            features: req.features,
            sensitive: req.sensitive,
            id: req.id,
            csv,
            screen: !req.no_screen,
            max_label_noise: req.max_label_noise,
            drop_suspects: req.drop_suspects,
            ..IngestRequest::new(name, &mut input, source)
        })
    });
    let feed = async {
        let fed = async {
            let field = next_named(&mut mp, "data").await?;
            if feed(field, &tx).await? == Fed::Refused {
                // The ingest stopped reading; its error is the answer, and
                // the rest of the body is not read.
                return Ok(());
            }
            // Nothing may follow the CSV: a part after it is refused
            // before the ingest is told the CSV ended, so it records
            // nothing.
            match mp.next_field().await {
                Ok(None) => Ok(()),
                Ok(Some(f)) => Err(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "part {:?} after `data`: the CSV comes last",
                        f.name().unwrap_or("")
                    ),
                )),
                Err(e) => Err(multipart_error(&e)),
            }
        }
        .await;
        let _ = match &fed {
            Ok(()) => tx.send(Chunk::End).await,
            Err(_) => tx.send(Chunk::Failed).await,
        };
        fed
    };
    let (done, fed) = tokio::join!(ingest, feed);
    drop(scratch);
    if let Err(r) = fed {
        return r;
    }
    match done {
        Ok(Ok(out)) => (StatusCode::CREATED, Json(out)).into_response(),
        Ok(Err(e)) => upload_error(&s, e, &staged),
        Err(r) => r,
    }
}

/// `POST …/models/{name}/versions`: imports the `model` part as the next
/// version of `name` with the `schema` and optional `check` parts, as
/// `warden model import` does, as the caller.
pub(crate) async fn model(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(name): UrlPath<String>,
    mp: Result<Multipart, MultipartRejection>,
) -> Response {
    let start = begin(&s, c, &name, mp, warden::Workspace::authorize_model_import).await;
    let Upload {
        caller,
        name,
        _place,
        mut mp,
        scratch,
    } = match start {
        Ok(u) => u,
        Err(r) => return r,
    };
    let req: ModelUpload = match request_part(&mut mp).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let dataset = match req.dataset.as_deref().map(str::parse::<VersionRef>) {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("dataset: {e}")),
    };
    if let Some(t) = req.check_tolerance
        && !(t.is_finite() && t >= 0.0)
    {
        return error(
            StatusCode::BAD_REQUEST,
            format!("check_tolerance {t}: a finite number of at least 0"),
        );
    }
    let schema = match small_file_part(&mut mp, "schema", &req.schema_sha256, scratch.path()).await
    {
        Ok(p) => p,
        Err(r) => return r,
    };
    let check = match &req.check_sha256 {
        None => None,
        Some(want) => {
            let field = match next_named(&mut mp, "check").await {
                Ok(f) => f,
                Err(r) => return r,
            };
            match stage(field, "check", want, MAX_CHECK_PART, scratch.path()).await {
                Ok(p) => Some(p),
                Err(r) => return r,
            }
        }
    };
    let field = match next_named(&mut mp, "model").await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let file = match stage(field, "model", &req.sha256, u64::MAX, scratch.path()).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    match mp.next_field().await {
        Ok(None) => {}
        Ok(Some(f)) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "part {:?} after `model`: the model file comes last",
                    f.name().unwrap_or("")
                ),
            );
        }
        Err(e) => return multipart_error(&e),
    }
    let staged = scratch.path().to_path_buf();
    let done = run_as(&s, caller, move |ws| {
        ws.model_import(&ImportRequest {
            file,
            name,
            schema,
            check,
            check_tolerance: req.check_tolerance,
            dataset,
            provenance: None,
        })
    })
    .await;
    let answer = match done {
        Ok(Ok(out)) => (StatusCode::CREATED, Json(out)).into_response(),
        Ok(Err(e)) => upload_error(&s, e, &staged),
        Err(r) => r,
    };
    drop(scratch);
    answer
}

/// What the connection hands the ingest: a piece of the CSV, its end, or
/// word that the upload failed. The end is said, never inferred from a
/// closed channel: a request dropped mid-upload (its time ran out, the
/// client went away) closes the channel, and that must read as a failure,
/// not as a shorter CSV.
enum Chunk {
    Data(Bytes),
    End,
    Failed,
}

/// The CSV as a blocking reader over the chunks the connection receives.
struct ChannelReader {
    rx: mpsc::Receiver<Chunk>,
    current: Bytes,
    ended: bool,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Chunk>) -> Self {
        ChannelReader {
            rx,
            current: Bytes::new(),
            ended: false,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Chunk::Data(b)) => self.current = b,
                Some(Chunk::End) => self.ended = true,
                Some(Chunk::Failed) | None => {
                    return Err(std::io::Error::other("the upload did not arrive whole"));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

/// How feeding the CSV to the ingest ended.
#[derive(Debug, PartialEq)]
enum Fed {
    /// The part ended.
    Whole,
    /// The ingest stopped reading: it refused the CSV.
    Refused,
}

/// Passes `field`'s chunks to the ingest until it ends. An error is the
/// answer to give (the ingest is then told the upload failed).
async fn feed(mut field: Field<'_>, tx: &mpsc::Sender<Chunk>) -> Result<Fed, Response> {
    loop {
        match field.chunk().await {
            Ok(Some(b)) => {
                if tx.send(Chunk::Data(b)).await.is_err() {
                    return Ok(Fed::Refused);
                }
            }
            Ok(None) => return Ok(Fed::Whole),
            Err(e) => return Err(multipart_error(&e)),
        }
    }
}

/// An upload let in: its caller, the name it adds a version to, its place
/// among the hub's `max_concurrent_uploads`, its body and its scratch
/// directory.
struct Upload<'s> {
    caller: Client,
    name: ObjectName,
    _place: tokio::sync::SemaphorePermit<'s>,
    mp: Multipart,
    scratch: tempfile::TempDir,
}

/// What both uploads do first, in this order: a caller, a valid name, the
/// engine's yes to `check` as the caller (a refusal is audited there), a
/// place among the uploads, a multipart body, a scratch directory. Nothing
/// of the body is read before the refusal that applies.
async fn begin<'s>(
    s: &'s Arc<Shared>,
    c: Option<axum::Extension<Client>>,
    name: &str,
    mp: Result<Multipart, MultipartRejection>,
    check: fn(&warden::Workspace, &ObjectName) -> Result<(), warden::Error>,
) -> Result<Upload<'s>, Response> {
    let caller = client(c).ok_or_else(|| error(StatusCode::UNAUTHORIZED, "a token is required"))?;
    let name = ObjectName::new(name).map_err(|e| error(StatusCode::BAD_REQUEST, e.to_string()))?;
    let subject = name.clone();
    match run_as(s, caller.clone(), move |ws| check(ws, &subject)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(engine_error(s, e)),
        Err(r) => return Err(r),
    }
    let place = s.uploads.try_acquire().map_err(|_| busy())?;
    let mp = mp.map_err(|e| not_multipart(&e))?;
    let scratch = warden::upload_scratch(&s.root).map_err(|e| engine_error(s, e))?;
    Ok(Upload {
        caller,
        name,
        _place: place,
        mp,
        scratch,
    })
}

/// The first part, `request`, read as `T`.
async fn request_part<T: serde::de::DeserializeOwned>(mp: &mut Multipart) -> Result<T, Response> {
    let field = next_named(mp, "request").await?;
    let bytes = read_capped(field, "request", MAX_REQUEST_PART).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| error(StatusCode::BAD_REQUEST, format!("part `request`: {e}")))
}

/// The next part, which must be called `name`.
async fn next_named<'a>(mp: &'a mut Multipart, name: &str) -> Result<Field<'a>, Response> {
    match mp.next_field().await {
        Ok(Some(f)) if f.name() == Some(name) => Ok(f),
        Ok(Some(f)) => Err(error(
            StatusCode::BAD_REQUEST,
            format!(
                "expected the part `{name}` next, found {:?}",
                f.name().unwrap_or("")
            ),
        )),
        Ok(None) => Err(error(
            StatusCode::BAD_REQUEST,
            format!("the upload ended before the part `{name}`"),
        )),
        Err(e) => Err(multipart_error(&e)),
    }
}

/// A whole part of at most `cap` bytes.
async fn read_capped(mut field: Field<'_>, part: &str, cap: usize) -> Result<Vec<u8>, Response> {
    let mut out = Vec::new();
    while let Some(b) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        if out.len() + b.len() > cap {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("part `{part}` is larger than {cap} bytes"),
            ));
        }
        out.extend_from_slice(&b);
    }
    Ok(out)
}

/// The next part, `part`, a small TOML file: staged in `dir` once its bytes
/// hash to `want`.
async fn small_file_part(
    mp: &mut Multipart,
    part: &str,
    want: &str,
    dir: &Path,
) -> Result<PathBuf, Response> {
    let field = next_named(mp, part).await?;
    stage(field, part, want, MAX_TOML_PART as u64, dir).await
}

/// Writes `field` to `dir/PART/NAME` (NAME: the uploader's file name,
/// reduced to safe characters), hashing as it goes; refused past `cap`
/// bytes or unless the bytes hash to `want`.
async fn stage(
    mut field: Field<'_>,
    part: &str,
    want: &str,
    cap: u64,
    dir: &Path,
) -> Result<PathBuf, Response> {
    let want = digest(&format!("{part}_sha256"), want)?;
    let folder = dir.join(part);
    let name = field
        .file_name()
        .map(file_name)
        .unwrap_or_else(|| part.into());
    let path = folder.join(name);
    let failed = |what: &str| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the upload could not be staged ({what})"),
        )
    };
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(|_| failed("directory"))?;
    let mut out = tokio::fs::File::create(&path)
        .await
        .map_err(|_| failed("file"))?;
    let mut hasher = Sha256::new();
    let mut n: u64 = 0;
    while let Some(b) = field.chunk().await.map_err(|e| multipart_error(&e))? {
        n += b.len() as u64;
        if n > cap {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("part `{part}` is larger than {cap} bytes"),
            ));
        }
        hasher.update(&b);
        out.write_all(&b).await.map_err(|_| failed("write"))?;
    }
    out.flush().await.map_err(|_| failed("write"))?;
    let got = Digest::from_bytes(hasher.finalize().into());
    if got != want {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "part `{part}`: its {n} bytes hash to {got}, not the {want} the request names; nothing was recorded"
            ),
        ));
    }
    Ok(path)
}

/// A digest the request names: 64 hex characters, `sha256:` allowed.
fn digest(what: &str, hex: &str) -> Result<Digest, Response> {
    Digest::from_hex(hex.trim_start_matches("sha256:")).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            format!("{what}: {:?} is not 64 hex characters", bounded(hex)),
        )
    })
}

/// The CSV reading options the request asks for.
fn csv_options(req: &DatasetUpload) -> Result<warden::table::CsvOptions, Response> {
    let mut o = warden::table::CsvOptions::default();
    if let Some(d) = &req.delimiter {
        o.delimiter = match d.as_str() {
            "tab" | "\\t" => b'\t',
            d if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
            d => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "delimiter: one ASCII character or `tab`, not {:?}",
                        bounded(d)
                    ),
                ));
            }
        };
    }
    o.trim = req.trim;
    if let Some(m) = &req.missing {
        o.missing = m.clone();
    }
    if let Some(n) = req.max_field_bytes {
        o.max_field_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    Ok(o)
}

/// The last component of an uploader's file name, in letters, digits,
/// `.`, `_` and `-` (anything else becomes `_`), at most 100 characters;
/// never empty, `.` or `..`.
fn file_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if clean.is_empty() || clean.chars().all(|c| c == '.') {
        "upload".into()
    } else {
        clean
    }
}

fn bounded(s: &str) -> String {
    s.chars().take(80).collect()
}

/// An engine error from an upload as an answer. Bad input (a CSV that does
/// not parse, a model file the import refuses) is the uploader's to fix: a
/// 400 or 422 with the engine's words, in which the staging directory is
/// not named (a message says `credit.onnx`, not where the hub put it).
fn upload_error(s: &Shared, e: warden::Error, staged: &Path) -> Response {
    let scrub = |m: String| {
        let mut m = m;
        for part in ["schema", "pii_policy", "check", "model"] {
            m = m.replace(&format!("{}/", staged.join(part).display()), "");
        }
        m.replace(&staged.display().to_string(), "upload")
    };
    match e {
        warden::Error::Validation(results) => {
            let failed = results.iter().filter(|r| !r.passed).count();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!("{failed} expectation(s) failed; nothing was recorded"),
                    "expectations": results,
                })),
            )
                .into_response()
        }
        warden::Error::Data(m) => error(StatusCode::BAD_REQUEST, scrub(m)),
        warden::Error::Invalid(m) => error(StatusCode::UNPROCESSABLE_ENTITY, scrub(m)),
        e if crate::control::status_of(&e) != StatusCode::INTERNAL_SERVER_ERROR => {
            let status = crate::control::status_of(&e);
            error(status, scrub(e.to_string()))
        }
        e => engine_error(s, e),
    }
}

/// 503: the hub is at `max_concurrent_uploads`.
fn busy() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the hub is taking as many uploads as it accepts at once; retry shortly",
    );
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    r
}

fn not_multipart(e: &MultipartRejection) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        format!("the body must be multipart/form-data: {}", e.body_text()),
    )
}

fn multipart_error(e: &MultipartError) -> Response {
    let status = e.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return error(status, "the upload is larger than the hub accepts");
    }
    error(
        StatusCode::BAD_REQUEST,
        format!("the multipart body is malformed: {}", e.body_text()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploaded_file_names_cannot_leave_their_folder() {
        for (raw, want) in [
            ("credit.csv", "credit.csv"),
            ("../../etc/passwd", "passwd"),
            ("C:\\Users\\x\\model.onnx", "model.onnx"),
            ("..", "upload"),
            ("", "upload"),
            ("a b;c.toml", "a_b_c.toml"),
        ] {
            assert_eq!(file_name(raw), want, "{raw}");
        }
        let long = "x".repeat(500);
        assert_eq!(file_name(&long).len(), 100);
    }

    #[test]
    fn the_reader_ends_only_when_told() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"a,b\n1,2\n")))
            .unwrap();
        tx.try_send(Chunk::End).unwrap();
        let mut r = ChannelReader::new(rx);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "a,b\n1,2\n");

        // A channel closed without the end is a failed read, not a
        // shorter CSV.
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Data(Bytes::from_static(b"a,b\n")))
            .unwrap();
        drop(tx);
        let mut r = ChannelReader::new(rx);
        let mut s = String::new();
        assert!(r.read_to_string(&mut s).is_err());

        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Chunk::Failed).unwrap();
        let mut r = ChannelReader::new(rx);
        assert!(r.read_to_string(&mut String::new()).is_err());
    }
}
