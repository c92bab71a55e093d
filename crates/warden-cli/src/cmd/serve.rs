//! `warden serve`: the guarded inference server in the foreground.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use warden_server::tls::TlsSettings;
use warden_server::{ServeConfig, ServerError};

use crate::cli::Global;
use crate::exit;
use crate::output::Failure;

fn server_failure(e: ServerError) -> Failure {
    match e {
        ServerError::Engine(e) => Failure::from_engine(e),
        ServerError::Config(m) => Failure::new(exit::USAGE, m),
        other => Failure::new(exit::ERROR, other.to_string()),
    }
}

/// The command line's settings (over the config file's).
pub struct Flags {
    pub env: Option<String>,
    pub addr: Option<String>,
    pub config: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
}

/// The config file's settings with the flags over them.
fn config(f: Flags) -> Result<ServeConfig, Failure> {
    let mut cfg = match &f.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::new(exit::USAGE, format!("cannot read {}: {e}", p.display()))
            })?;
            ServeConfig::from_toml(&text, p).map_err(server_failure)?
        }
        None => ServeConfig::default(),
    };
    if let (Some(cert), Some(key)) = (f.tls_cert, f.tls_key) {
        cfg.tls = Some(TlsSettings {
            cert,
            key,
            client_ca: f.tls_client_ca,
            client_cert_optional: false,
        });
    }
    if let Some(e) = f.env {
        cfg.env = e;
    }
    if let Some(a) = f.addr {
        cfg.addr = a.parse().map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("--addr {a:?}: {e} (expected HOST:PORT)"),
            )
        })?;
    }
    Ok(cfg)
}

pub fn run(g: &Global, f: Flags) -> Result<ExitCode, Failure> {
    let cfg = config(f)?;
    let ws = super::workspace(g)?;
    ws.authorize_serving(&cfg.env)?;
    let (writer, log) = LogWriter::start();
    let env = cfg.env.clone();
    let result = warden_server::serve(ws, super::open_options(), cfg, log, |s| {
        let scheme = if s.tls { "https" } else { "http" };
        eprintln!(
            "warden serve: listening on {scheme}://{} (env {env})",
            s.addr
        );
        for (m, v) in &s.models {
            eprintln!("  serving {m}@{v}");
        }
        for (m, why) in &s.missing {
            eprintln!("  not serving {m}: {why}");
        }
        if s.models.is_empty() && s.missing.is_empty() {
            eprintln!(
                "  no model is promoted to {env} yet; the server picks one up once it is (warden promote MODEL@N --to {env})"
            );
        }
    });
    writer.finish();
    result.map_err(server_failure)?;
    eprintln!("warden serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// `warden serve --hub URL --env E`: a replica of a hub's environment.
pub fn replica(
    g: &Global,
    url: &str,
    trust_keys: &[PathBuf],
    f: Flags,
) -> Result<ExitCode, Failure> {
    let cfg = config(f)?;
    let trust = if trust_keys.is_empty() {
        None
    } else {
        let mut keys = Vec::new();
        for p in trust_keys {
            let pem = std::fs::read_to_string(p).map_err(|e| {
                Failure::new(exit::USAGE, format!("cannot read {}: {e}", p.display()))
            })?;
            keys.push(warden::Signer::from_pem(&p.display().to_string(), &pem)?);
        }
        Some(keys)
    };
    let settings = super::hubclient::replica_link(g, url, &cfg.env, trust)?;
    let link = warden_server::replica::HubLink::new(settings);
    let (writer, log) = LogWriter::start();
    let env = cfg.env.clone();
    let hub = link.url().to_string();
    let result = warden_server::serve_hub_replica(link, cfg, log, |s| {
        let scheme = if s.tls { "https" } else { "http" };
        eprintln!(
            "warden serve: listening on {scheme}://{} (env {env} of {hub})",
            s.addr
        );
        for (m, v) in &s.models {
            eprintln!("  serving {m}@{v}");
        }
        for (m, why) in &s.missing {
            eprintln!("  not serving {m}: {why}");
        }
        if s.models.is_empty() && s.missing.is_empty() {
            eprintln!(
                "  no model is promoted to {env} yet; the replica picks one up once it is (warden hub promote MODEL@N --env {env})"
            );
        }
    });
    writer.finish();
    result.map_err(server_failure)?;
    eprintln!("warden serve: stopped");
    Ok(ExitCode::SUCCESS)
}

/// `warden hub serve`'s settings.
pub struct HubFlags {
    pub config: PathBuf,
    pub addr: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

pub fn hub(g: &Global, f: HubFlags) -> Result<ExitCode, Failure> {
    let text = std::fs::read_to_string(&f.config).map_err(|e| {
        Failure::new(
            exit::USAGE,
            format!("cannot read {}: {e}", f.config.display()),
        )
    })?;
    let mut cfg = warden_server::hub::config_from_toml(&text, &f.config).map_err(server_failure)?;
    if let (Some(cert), Some(key)) = (f.tls_cert, f.tls_key) {
        // The file's client CA (service accounts' certificates) stays.
        let client_ca = cfg.tls.as_ref().and_then(|t| t.client_ca.clone());
        cfg.tls = Some(TlsSettings {
            cert,
            key,
            client_ca,
            client_cert_optional: true,
        });
    }
    if let Some(a) = f.addr {
        cfg.addr = a.parse().map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("--addr {a:?}: {e} (expected HOST:PORT)"),
            )
        })?;
    }
    let ws = super::workspace(g)?;
    ws.authorize_hub()?;
    let issuers: Vec<String> = cfg
        .hub
        .as_ref()
        .map(|h| {
            h.issuers
                .iter()
                .map(|i| format!("{} ({})", i.name, i.jwt.issuer))
                .collect()
        })
        .unwrap_or_default();
    let (writer, log) = LogWriter::start();
    let result = warden_server::serve(ws, super::open_options(), cfg, log, |s| {
        let scheme = if s.tls { "https" } else { "http" };
        eprintln!("warden hub: listening on {scheme}://{}", s.addr);
        for i in &issuers {
            eprintln!("  trusting tokens of {i}");
        }
    });
    writer.finish();
    result.map_err(server_failure)?;
    eprintln!("warden hub: stopped");
    Ok(ExitCode::SUCCESS)
}

/// The server's log: one JSON object per line on stdout, written by a
/// thread of its own so a request never waits for the terminal or disk.
/// Requests put lines on a bounded lock-free queue (std's array channel)
/// that the writer drains every 25 ms; because the writer polls rather
/// than waits, a request never has to wake it. If 65,536 lines are waiting
/// (stdout blocked), new lines are dropped and counted, and the count is
/// logged once writing resumes.
struct LogWriter {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

const MAX_QUEUED: usize = 65_536;

impl LogWriter {
    fn start() -> (Self, warden_server::EventSink) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(MAX_QUEUED);
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let (stopping, lost) = (stop.clone(), dropped.clone());
        let thread = std::thread::spawn(move || {
            let out = std::io::stdout();
            let mut batch = String::new();
            loop {
                let last = stopping.load(Ordering::Acquire);
                while let Ok(line) = rx.try_recv() {
                    batch.push_str(&line);
                    batch.push('\n');
                }
                let n = lost.swap(0, Ordering::Relaxed);
                if n > 0 {
                    batch.push_str(&format!("{{\"event\":\"log.dropped\",\"lines\":{n}}}\n"));
                }
                if !batch.is_empty() {
                    let mut lock = out.lock();
                    let _ = lock.write_all(batch.as_bytes());
                    let _ = lock.flush();
                    batch.clear();
                }
                if last {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
        });
        let sink: warden_server::EventSink = Arc::new(move |line: String| {
            if tx.try_send(line).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
        (LogWriter { stop, thread }, sink)
    }

    /// Writes what is queued and stops.
    fn finish(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}
