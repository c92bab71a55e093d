//! Running a user's command hermetically: bubblewrap (Debian's `bwrap`)
//! gives it fresh namespaces (no network, its own PID space), a read-only
//! view of the system directories, its code and the inputs it was given, one
//! writable output directory, an empty `/tmp` and home, and a scrubbed
//! environment; `prlimit` (util-linux) caps its CPU time and address space,
//! and Warden kills it at the wall-clock limit.
//!
//! Warden drives existing tools rather than calling the namespace system
//! calls itself: the crate forbids `unsafe`, and bubblewrap is the sandbox
//! Flatpak and others have hardened for years.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::Error;

/// Default CPU time limit, in seconds, when the pipeline file sets none.
pub const DEFAULT_CPU_SECONDS: u64 = 3600;
/// Default address-space limit, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 8192;
/// Default wall-clock limit, in seconds.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 3600;

/// The most of a command's stdout or stderr kept in its record.
const MAX_LOG_BYTES: u64 = 4 << 20;

/// The limits a command ran under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// CPU time, in seconds (applied with `prlimit`).
    pub cpu_seconds: u64,
    /// Address space, in MiB (applied with `prlimit`).
    pub memory_mb: u64,
    /// Wall-clock time, in seconds; Warden kills the command then.
    pub timeout_seconds: u64,
}

/// What to run.
pub struct SandboxRequest<'a> {
    /// The command and its arguments; never run through a shell.
    pub argv: &'a [String],
    /// The code directory: read-only, and the working directory.
    pub workdir: &'a Path,
    /// Where the command sees its one writable directory (`WARDEN_OUTPUT`).
    pub output_at: &'a Path,
    /// The fresh host directory bound there.
    pub output_dir: &'a Path,
    /// Further read-only paths (inputs, toolchains).
    pub read_only: &'a [PathBuf],
    /// Directories hidden under an empty tmpfs even where a read-only path
    /// includes them: the workspace's `.warden` (keys, database) and the
    /// user's Warden directory (approval keys, hub tokens).
    pub masked: &'a [PathBuf],
    /// The whole environment the command gets.
    pub env: &'a [(String, String)],
    /// CPU, memory and wall-clock limits.
    pub limits: Limits,
    /// Run without a sandbox when none is available (recorded).
    pub allow_unsandboxed: bool,
    /// Keep the host's network (evidence tools that fetch a vulnerability
    /// database); never for training.
    pub network: bool,
}

/// How a command ran.
#[derive(Clone, Debug, Serialize)]
pub struct SandboxRun {
    /// `bubblewrap <version>`, or `none` when run unsandboxed.
    pub sandbox: String,
    /// Whether it had its own network namespace (no network).
    pub network_isolated: bool,
    /// The limits it ran under.
    pub limits: Limits,
    /// Whether the CPU and memory limits were applied (prlimit found).
    pub rlimits_applied: bool,
    /// Its exit status (`None`: killed by a signal, a limit among them).
    pub exit_code: Option<i32>,
    /// Whether Warden killed it at the wall-clock limit.
    pub timed_out: bool,
    /// Wall-clock seconds it ran.
    pub seconds: f64,
    /// Its standard output, the first 4 MiB at most (not serialised).
    #[serde(skip)]
    pub stdout: Vec<u8>,
    /// Its standard error, the first 4 MiB at most (not serialised).
    #[serde(skip)]
    pub stderr: Vec<u8>,
}

impl SandboxRun {
    /// Whether it exited with status 0 within the wall-clock limit.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out
    }

    /// A one-line reason for a failed run, with the end of stderr.
    pub fn failure(&self) -> String {
        let why = if self.timed_out {
            format!(
                "killed at the wall-clock limit of {} s",
                self.limits.timeout_seconds
            )
        } else {
            match self.exit_code {
                Some(c) => format!("exited with status {c}"),
                None => "killed by a signal (a CPU or memory limit, or a crash)".to_string(),
            }
        };
        let text = String::from_utf8_lossy(&self.stderr);
        let tail: Vec<&str> = text
            .lines()
            .rev()
            .filter(|l| !l.trim().is_empty())
            .take(3)
            .collect();
        if tail.is_empty() {
            why
        } else {
            let lines: Vec<&str> = tail.into_iter().rev().collect();
            format!("{why}; stderr ends: {}", lines.join(" | "))
        }
    }
}

/// Where the caller's credentials for other systems usually live (SSH,
/// cloud CLIs, registries, package indexes, git): hidden in the sandbox
/// (an empty directory, or an empty file) wherever a read-only path would
/// show them, so a pipeline file, or a symbolic link it brings, cannot
/// hand them to a training command.
pub fn credential_paths() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else {
        return Vec::new();
    };
    [
        ".ssh",
        ".aws",
        ".azure",
        ".gnupg",
        ".kube",
        ".docker",
        ".config/gcloud",
        ".config/gh",
        ".netrc",
        ".git-credentials",
        ".pypirc",
        ".npmrc",
        ".cargo/credentials",
        ".cargo/credentials.toml",
        ".cache/huggingface/token",
        ".huggingface/token",
        ".config/hub",
    ]
    .iter()
    .filter_map(|p| home.join(p).canonicalize().ok())
    .collect()
}

/// Directories the sandbox makes its own (`/proc`, `/dev`, `/tmp`) or that
/// hold the host's sockets and kernel state (`/sys`, `/run`, `/var/run`): a
/// read-only path may not be one of them, inside one, or above one (a bind
/// of `/` would bring the host's `/tmp` and its sockets back).
pub fn check_read_only(path: &Path) -> Result<(), String> {
    const SYSTEM: [&str; 6] = ["/proc", "/dev", "/sys", "/run", "/var/run", "/tmp"];
    for s in SYSTEM {
        let s = Path::new(s);
        let inside_system = path.starts_with(s) && s != Path::new("/tmp");
        if s.starts_with(path) || inside_system {
            return Err(format!(
                "{} covers or lies in {}, which the sandbox keeps its own",
                path.display(),
                s.display()
            ));
        }
    }
    Ok(())
}

/// A program on `PATH`, or at a path.
pub fn find_program(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// The bubblewrap on this machine, if it can make a sandbox here: its path
/// and version. (Inside some containers user namespaces are off and it
/// cannot.) Probed once per process: every stage of a run asks.
pub fn bubblewrap() -> Option<(PathBuf, String)> {
    static PROBED: std::sync::OnceLock<Option<(PathBuf, String)>> = std::sync::OnceLock::new();
    PROBED.get_or_init(probe_bubblewrap).clone()
}

fn probe_bubblewrap() -> Option<(PathBuf, String)> {
    let bwrap = find_program("bwrap")?;
    let version = Command::new(&bwrap)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
    let ok = Command::new(&bwrap)
        .args([
            "--ro-bind",
            "/",
            "/",
            "--unshare-all",
            "--die-with-parent",
            "--",
            "true",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some((bwrap, version))
}

/// The interpreter prefix a virtualenv was made from (`home` in
/// `pyvenv.cfg`, one level up from its `bin`), so it can be read too.
pub fn venv_base(dir: &Path) -> Option<PathBuf> {
    let cfg = std::fs::read_to_string(dir.join("pyvenv.cfg")).ok()?;
    let home = cfg.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "home").then(|| PathBuf::from(v.trim()))
    })?;
    let base = if home.ends_with("bin") {
        home.parent()?.to_path_buf()
    } else {
        home
    };
    base.canonicalize().ok()
}

/// Runs the command; an error means it could not be started at all.
pub fn run(req: &SandboxRequest<'_>) -> Result<SandboxRun, Error> {
    check_read_only(req.workdir).map_err(|e| Error::Invalid(format!("the code directory: {e}")))?;
    let logs = tempfile::tempdir()
        .map_err(|e| Error::Invalid(format!("cannot create a scratch directory: {e}")))?;
    let out_path = logs.path().join("stdout");
    let err_path = logs.path().join("stderr");
    let out = std::fs::File::create(&out_path).map_err(|e| Error::io(&out_path, e))?;
    let err = std::fs::File::create(&err_path).map_err(|e| Error::io(&err_path, e))?;
    let prlimit = find_program("prlimit");
    let mut inner: Vec<String> = Vec::new();
    if let Some(p) = &prlimit {
        inner.push(p.display().to_string());
        inner.push(format!("--cpu={}", req.limits.cpu_seconds));
        inner.push(format!(
            "--as={}",
            req.limits.memory_mb.saturating_mul(1 << 20)
        ));
        inner.push("--".into());
    }
    inner.extend(req.argv.iter().cloned());
    let (mut cmd, sandbox, isolated) = match bubblewrap() {
        Some((bwrap, version)) => {
            let mut c = Command::new(bwrap);
            c.args(["--die-with-parent", "--new-session", "--unshare-all"]);
            if req.network {
                c.arg("--share-net");
            }
            c.arg("--clearenv");
            for (k, v) in req.env {
                c.arg("--setenv").arg(k).arg(v);
            }
            for d in [
                "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
            ] {
                let p = Path::new(d);
                match std::fs::symlink_metadata(p) {
                    Ok(m) if m.file_type().is_symlink() => {
                        if let Ok(target) = std::fs::read_link(p) {
                            c.arg("--symlink").arg(target).arg(p);
                        }
                    }
                    Ok(m) if m.is_dir() => {
                        c.arg("--ro-bind").arg(p).arg(p);
                    }
                    _ => {}
                }
            }
            c.args(["--tmpfs", "/tmp"]);
            if let Some(home) = req.env.iter().find(|(k, _)| k == "HOME") {
                c.arg("--dir").arg(&home.1);
            }
            c.arg("--ro-bind").arg(req.workdir).arg(req.workdir);
            for p in req.read_only {
                c.arg("--ro-bind").arg(p).arg(p);
            }
            c.arg("--bind").arg(req.output_dir).arg(req.output_at);
            // The sandbox's own /proc and /dev, over anything bound before.
            c.args(["--proc", "/proc", "--dev", "/dev"]);
            for m in req.masked.iter().chain(&credential_paths()) {
                match std::fs::metadata(m) {
                    Ok(meta) if meta.is_dir() => {
                        c.arg("--tmpfs").arg(m);
                    }
                    Ok(_) => {
                        c.arg("--ro-bind").arg("/dev/null").arg(m);
                    }
                    Err(_) => {}
                }
            }
            c.arg("--chdir").arg(req.workdir);
            c.arg("--");
            c.args(&inner);
            (c, version, !req.network)
        }
        None if req.allow_unsandboxed => {
            let mut c = Command::new(&inner[0]);
            c.args(&inner[1..]);
            c.env_clear();
            for (k, v) in req.env {
                c.env(k, v);
            }
            c.current_dir(req.workdir);
            (c, "none".to_string(), false)
        }
        None => {
            return Err(Error::Invalid(
                "no sandbox is available: install bubblewrap (Debian: apt-get install bubblewrap) and allow unprivileged user namespaces, or run with --allow-unsandboxed (recorded in the provenance)"
                    .to_string(),
            ));
        }
    };
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let t0 = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        Error::Invalid(format!(
            "cannot start {}: {e}",
            req.argv.first().map_or("", |s| s.as_str())
        ))
    })?;
    let deadline = Duration::from_secs(req.limits.timeout_seconds);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if t0.elapsed() >= deadline => {
                timed_out = true;
                let _ = child.kill();
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                return Err(Error::Invalid(format!("waiting for the command: {e}")));
            }
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    Ok(SandboxRun {
        sandbox,
        network_isolated: isolated,
        limits: req.limits,
        rlimits_applied: prlimit.is_some(),
        exit_code: status.and_then(|s| s.code()),
        timed_out,
        seconds,
        stdout: read_capped(&out_path)?,
        stderr: read_capped(&err_path)?,
    })
}

fn read_capped(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut v = Vec::new();
    f.take(MAX_LOG_BYTES)
        .read_to_end(&mut v)
        .map_err(|e| Error::io(path, e))?;
    Ok(v)
}
