//! Scanners for what must never reach a model registry unnoticed: hostile
//! model files and leaked secrets.
//!
//! - Model files are recognised **by content, never by extension**
//!   ([`formats`]): pickle of every protocol (and several back to back),
//!   zip containers (PyTorch archives, `.npz`, Keras v3, joblib-in-zip, a
//!   zip after leading junk), legacy PyTorch, joblib (plain and
//!   zlib/gzip-compressed), NumPy `.npy`, HDF5/Keras, TensorFlow
//!   SavedModel, ONNX, safetensors and GGUF. A format it does not know is
//!   reported as unscanned, never as clean.
//! - Pickles are analysed by symbolic execution ([`pickle`]) and judged by
//!   allow lists per [`Profile`]; nothing is ever unpickled.
//! - Secrets ([`secrets`]): provider tokens, private keys, JWTs, database
//!   URLs with passwords and high-entropy assignments in source, configs
//!   and notebooks, and optionally the git history.
//! - Output: a [`Report`] (JSON via serde), a human table, and
//!   [SARIF 2.1.0](sarif) for code-scanning services.
//!
//! ```
//! use warden_scan::{scan_bytes, Profile, Severity};
//! let report = scan_bytes(b"cos\nsystem\n(S'id'\ntR.", Profile::Auto);
//! assert_eq!(report.max_severity(), Some(Severity::Critical));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod allow;
mod compat;
pub mod formats;
mod input;
mod path_escape;
pub mod pickle;
mod pylit;
mod pyops;
pub mod sarif;
pub mod secrets;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

pub use allow::Profile;

/// How serious a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; not a risk by itself.
    Low,
    /// Unknown or unusual (a name no profile allows); review it.
    Medium,
    /// Dangerous without running code by itself: file or network access, a file
    /// that does not parse as what it starts like (see `docs/scan.md`).
    High,
    /// Runs code when loaded, or loads and reaches names of its choosing.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high` or `critical`.
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
    /// The name [`Severity::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// One thing found, with where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Technique, e.g. `pickle.code-execution`, `zip.path-escape`, `secret.github-token`.
    pub rule: String,
    /// How serious it is.
    pub severity: Severity,
    /// What was found, in words.
    pub message: String,
    /// Where inside the file: an archive member, a nested payload, a notebook cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Byte offset (in the file, or in the member when `member` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// 1-based line, for text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Stable identity for allow-listing (set by [`scan`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// What became of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Read to the end by a scanner that understands its format.
    Scanned,
    /// Its format is not one the scanners understand: not known to be clean.
    Unscanned,
    /// Not asked for (a text file in a models-only scan, a symlink).
    Skipped,
    /// Could not be read: not known to be clean.
    Error,
}

/// The result for one file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FileReport {
    /// The file, as given or found under a directory given.
    pub path: String,
    /// The format recognised from its content.
    pub format: String,
    /// Whether it was scanned.
    pub status: Status,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256, when [`Options::digests`] asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Why it could not be read or scanned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Imports a pickle makes (module.name, allowed), for explaining verdicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
    /// What was found in it.
    pub findings: Vec<Finding>,
    /// Findings an allow-list entry suppressed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub suppressed: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// A name a pickle imports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// `module.name`.
    pub name: String,
    /// Whether the scan's profile allows it.
    pub allowed: bool,
}

/// Counts over a whole scan.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// Files looked at.
    pub files: usize,
    /// Files read to the end by a scanner of their format.
    pub scanned: usize,
    /// Files of a format no scanner understands.
    pub unscanned: usize,
    /// Files not asked for.
    pub skipped: usize,
    /// Files that could not be read.
    pub errors: usize,
    /// Findings, all severities.
    pub findings: usize,
    /// Critical findings.
    pub critical: usize,
    /// High findings.
    pub high: usize,
    /// Medium findings.
    pub medium: usize,
    /// Low findings.
    pub low: usize,
    /// Findings an allow-list entry suppressed.
    pub suppressed: usize,
}

/// A whole scan.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The report format's version.
    pub version: u32,
    /// The allow-list profile the pickles were judged by.
    pub profile: Profile,
    /// Every file, in path order.
    pub files: Vec<FileReport>,
    /// Counts over the files.
    pub summary: Summary,
    /// Highest severity found, or "none".
    #[serde(with = "max_sev")]
    pub max_severity: Option<Severity>,
}

mod max_sev {
    use super::Severity;
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Severity>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.map(Severity::as_str).unwrap_or("none"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Severity>, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Severity::parse(&s))
    }
}

impl Report {
    /// A report over these files (summary and maximum computed).
    pub fn new(profile: Profile, files: Vec<FileReport>) -> Report {
        let mut s = Summary {
            files: files.len(),
            ..Summary::default()
        };
        let mut max = None;
        for f in &files {
            match f.status {
                Status::Scanned => s.scanned += 1,
                Status::Unscanned => s.unscanned += 1,
                Status::Skipped => s.skipped += 1,
                Status::Error => s.errors += 1,
            }
            s.suppressed += f.suppressed;
            for x in &f.findings {
                s.findings += 1;
                match x.severity {
                    Severity::Critical => s.critical += 1,
                    Severity::High => s.high += 1,
                    Severity::Medium => s.medium += 1,
                    Severity::Low => s.low += 1,
                }
                if max < Some(x.severity) {
                    max = Some(x.severity);
                }
            }
        }
        Report {
            version: 1,
            profile,
            files,
            summary: s,
            max_severity: max,
        }
    }

    /// The highest severity found (`None`: no finding).
    pub fn max_severity(&self) -> Option<Severity> {
        self.max_severity
    }

    /// Whether any finding is at or above `level`.
    pub fn fails(&self, level: Severity) -> bool {
        self.max_severity.is_some_and(|m| m >= level)
    }

    /// Whether some file could not be read or scanned (never clean).
    pub fn has_errors(&self) -> bool {
        self.summary.errors > 0
    }
}

/// Known test fixtures and accepted findings: paths (globs) and fingerprints.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    /// Path globs whose files' findings are suppressed.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Finding fingerprints that are suppressed.
    #[serde(default)]
    pub fingerprints: Vec<String>,
    #[serde(skip)]
    globs: Option<globset::GlobSet>,
}

impl Allowlist {
    /// Parses an allow-list file (TOML: `paths = [...]`, `fingerprints = [...]`).
    pub fn parse(text: &str) -> Result<Allowlist, ScanError> {
        let mut a: Allowlist =
            toml::from_str(text).map_err(|e| ScanError::Allowlist(e.to_string()))?;
        let mut b = globset::GlobSetBuilder::new();
        for p in &a.paths {
            b.add(
                globset::Glob::new(p)
                    .map_err(|e| ScanError::Allowlist(format!("path pattern {p:?}: {e}")))?,
            );
        }
        a.globs = Some(b.build().map_err(|e| ScanError::Allowlist(e.to_string()))?);
        Ok(a)
    }

    fn path_allowed(&self, path: &str) -> bool {
        self.globs.as_ref().is_some_and(|g| g.is_match(path))
    }
}

/// Why a scan could not start.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// The allow-list file does not parse, or a pattern in it is invalid.
    #[error("allow-list: {0}")]
    Allowlist(String),
}

/// What to scan for and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// The allow-list profile pickles are judged by.
    pub profile: Profile,
    /// Model-file scanners.
    pub models: bool,
    /// Secret scanners (text files and notebooks).
    pub secrets: bool,
    /// Also scan every commit of the git repositories given as directories.
    pub git_history: bool,
    /// Paths and fingerprints whose findings are suppressed.
    pub allowlist: Allowlist,
    /// Compute each file's SHA-256 (for recording scans against packages).
    pub digests: bool,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: Profile::Auto,
            models: true,
            secrets: true,
            git_history: false,
            allowlist: Allowlist::default(),
            digests: false,
            threads: 0,
        }
    }
}

/// Scans files and directories (recursively; `.git` is not entered, and
/// symbolic links inside directories are not followed), files in parallel.
/// `progress(done, total)` is called as files finish.
pub fn scan(paths: &[PathBuf], opts: &Options, progress: &(dyn Fn(usize, usize) + Sync)) -> Report {
    let mut targets: Vec<Target> = Vec::new();
    for p in paths {
        collect(p, &mut targets);
    }
    let total = targets.len();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    } else {
        opts.threads
    }
    .min(total.max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<FileReport>>> = Mutex::new(vec![None; total]);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = targets.get(i) else { break };
                    let r = scan_target(t, opts);
                    if let Ok(mut g) = results.lock() {
                        g[i] = Some(r);
                    }
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                }
            });
        }
    });
    let mut files: Vec<FileReport> = results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    if opts.git_history {
        for p in paths {
            if p.join(".git").exists() {
                files.push(secrets::scan_git_history(p, &opts.allowlist));
            }
        }
    }
    for f in &mut files {
        finish(f, &opts.allowlist);
    }
    Report::new(opts.profile, files)
}

/// Scans bytes held in memory as if they were a file (tests, embedding).
pub fn scan_bytes(bytes: &[u8], profile: Profile) -> Report {
    let mut findings = Vec::new();
    let format = formats::scan_nested_top(bytes, profile, &mut findings);
    let mut f = FileReport {
        path: "<bytes>".into(),
        format,
        status: Status::Scanned,
        size: bytes.len() as u64,
        sha256: None,
        error: None,
        imports: Vec::new(),
        findings,
        suppressed: 0,
    };
    finish(&mut f, &Allowlist::default());
    Report::new(profile, vec![f])
}

enum Target {
    File {
        path: PathBuf,
        shown: String,
        in_dir: bool,
    },
    Symlink {
        shown: String,
    },
    Missing {
        shown: String,
        error: String,
    },
}

fn collect(p: &Path, out: &mut Vec<Target>) {
    let shown = p.display().to_string();
    match std::fs::metadata(p) {
        Err(e) => out.push(Target::Missing {
            shown,
            error: e.to_string(),
        }),
        Ok(m) if m.is_dir() => {
            let walker = walkdir::WalkDir::new(p)
                .follow_links(false)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| !(e.file_type().is_dir() && e.file_name() == ".git"));
            for e in walker {
                match e {
                    Ok(e) if e.file_type().is_file() => out.push(Target::File {
                        shown: e.path().display().to_string(),
                        path: e.into_path(),
                        in_dir: true,
                    }),
                    Ok(e) if e.path_is_symlink() => out.push(Target::Symlink {
                        shown: e.path().display().to_string(),
                    }),
                    Ok(_) => {}
                    Err(err) => out.push(Target::Missing {
                        shown: err
                            .path()
                            .map(|x| x.display().to_string())
                            .unwrap_or_else(|| shown.clone()),
                        error: err.to_string(),
                    }),
                }
            }
        }
        Ok(_) => out.push(Target::File {
            path: p.to_path_buf(),
            shown,
            in_dir: false,
        }),
    }
}

fn blank(path: String, status: Status) -> FileReport {
    FileReport {
        path,
        format: "unknown".into(),
        status,
        size: 0,
        sha256: None,
        error: None,
        imports: Vec::new(),
        findings: Vec::new(),
        suppressed: 0,
    }
}

fn scan_target(t: &Target, opts: &Options) -> FileReport {
    match t {
        Target::Missing { shown, error } => {
            let mut f = blank(shown.clone(), Status::Error);
            f.error = Some(error.clone());
            f
        }
        Target::Symlink { shown } => {
            let mut f = blank(shown.clone(), Status::Skipped);
            f.format = "symlink".into();
            f.error = Some("symbolic link inside a directory: not followed".into());
            f
        }
        Target::File {
            path,
            shown,
            in_dir,
        } => {
            if opts.allowlist.path_allowed(shown) {
                let mut f = blank(shown.clone(), Status::Skipped);
                f.format = "allow-listed".into();
                return f;
            }
            formats::scan_file(path, shown.clone(), opts, *in_dir)
        }
    }
}

/// Fingerprints and allow-list suppression.
fn finish(f: &mut FileReport, allow: &Allowlist) {
    use sha2::Digest as _;
    for x in &mut f.findings {
        if x.fingerprint.is_none() {
            let mut h = sha2::Sha256::new();
            h.update(x.rule.as_bytes());
            h.update([0]);
            h.update(x.member.as_deref().unwrap_or("").as_bytes());
            h.update([0]);
            h.update(x.message.as_bytes());
            x.fingerprint = Some(hex::encode(&h.finalize()[..12]));
        }
    }
    if !allow.fingerprints.is_empty() {
        let before = f.findings.len();
        f.findings.retain(|x| {
            !x.fingerprint
                .as_ref()
                .is_some_and(|fp| allow.fingerprints.iter().any(|a| a == fp))
        });
        f.suppressed += before - f.findings.len();
    }
}
