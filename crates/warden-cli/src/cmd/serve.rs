//! `warden serve`: the guarded inference server in the foreground.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

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

pub fn run(g: &Global, f: Flags) -> Result<ExitCode, Failure> {
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
    let ws = super::workspace(g)?;
    ws.authorize_serving(&cfg.env)?;
    // One JSON object per line on stdout; a lock keeps lines whole.
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let log: warden_server::EventSink = Arc::new(move |v| {
        let mut line = v.to_string();
        line.push('\n');
        let guard = match out.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut lock = guard.lock();
        let _ = lock.write_all(line.as_bytes());
        let _ = lock.flush();
    });
    let env = cfg.env.clone();
    warden_server::serve(ws, cfg, log, |s| {
        let scheme = if s.tls { "https" } else { "http" };
        eprintln!("warden serve: listening on {scheme}://{} (env {env})", s.addr);
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
    })
    .map_err(server_failure)?;
    eprintln!("warden serve: stopped");
    Ok(ExitCode::SUCCESS)
}
