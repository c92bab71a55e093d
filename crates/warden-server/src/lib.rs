//! The guarded inference server behind `warden serve`.
//!
//! This crate's one job is to put verified models on the network safely.
//! It serves every model whose stage pointer for one environment is set,
//! loaded only after the engine has verified its package and checked it is
//! not quarantined, and re-reads the registry every few seconds so a
//! promotion, rollback or quarantine takes effect without a restart (the
//! new model swaps in atomically: see [`state`]). Every request passes the
//! guardrails of [`guard`] before a handler of [`routes`] validates its
//! input against the model's schema and predicts.
//!
//! The crate never prints: events (loads, skips, one access line per
//! request) go to the [`EventSink`] the caller supplies.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Handlers return `Result<_, Response>`: the error is the response to send,
// built once on a refusal path, so its size does not matter.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod conn;
pub mod console;
pub mod control;
pub mod guard;
pub mod hub;
pub mod jwt;
pub mod metrics;
pub mod monitor;
pub mod openapi;
pub mod replica;
pub mod routes;
pub mod state;
pub mod tls;
pub mod upload;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use serde_json::json;
use warden::Workspace;

pub use config::{RateLimit, ServeConfig};
pub use state::EventSink;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A setting, or a file a setting names, is unusable: the config file
    /// does not parse or has a value out of range, or a TLS certificate or
    /// key, a JWKS, or the monitor's policy cannot be read or is invalid.
    /// The message names the key or the file.
    #[error("server configuration: {0}")]
    Config(String),
    /// The listening socket could not be created or bound (the address is
    /// in use, or the port needs privileges the process lacks).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address the server was told to listen on.
        addr: SocketAddr,
        /// Why the operating system refused it.
        source: std::io::Error,
    },
    /// The engine failed: the workspace could not be opened, or the
    /// registry, API keys or policy could not be read for the first
    /// snapshot.
    #[error(transparent)]
    Engine(#[from] warden::Error),
    /// Any other operating-system error: starting the runtime or a
    /// background thread, or reading the bound address.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// State shared by every request.
pub struct Shared {
    /// The settings the server started with; they do not change while it
    /// runs.
    pub cfg: ServeConfig,
    /// What is served right now, replaced whole by the refresh thread.
    pub current: state::Current,
    /// The callers' rate-limit buckets, by API key id (or `jwt:SUBJECT`,
    /// or `hub:PRINCIPAL`), kept across snapshots so a refresh does not
    /// refill them.
    pub limiters: guard::Limiters,
    /// Everything `/metrics` exports.
    pub metrics: metrics::Metrics,
    /// Requests in flight, held to `cfg.max_concurrency`.
    pub inflight: guard::InFlight,
    /// Where event and access-log lines go.
    pub log: EventSink,
    /// The verifier for bearer JWTs; `None` when the config has no `[jwt]`
    /// table (always on the hub, whose callers are checked by `hub`).
    /// Swapped whole when a JWKS URL is fetched again.
    pub jwt: Option<arc_swap::ArcSwap<jwt::JwtVerifier>>,
    /// The hub's trusted issuers (set only on the hub).
    pub hub: Option<hub::Issuers>,
    /// Opened workspaces kept for control-API requests.
    pub pool: control::WorkspacePool,
    /// Ids of personal access tokens used since the refresh thread last
    /// recorded their use.
    pub token_uses: std::sync::Mutex<std::collections::HashSet<String>>,
    /// The workspace's root directory, opened again by the control API and
    /// the monitor.
    pub root: std::path::PathBuf,
    /// The options the workspace was opened with, used again whenever the
    /// control API or the monitor opens it.
    pub open_options: warden::OpenOptions,
    /// The monitor's queue, once its thread runs; unset when monitoring is
    /// off (always on the hub).
    pub monitor: std::sync::OnceLock<monitor::MonitorHandle>,
    /// Uploads in progress on the hub, held to its
    /// `max_concurrent_uploads`: each may hold a CSV's ingest in memory or
    /// a model's files on disk.
    pub uploads: tokio::sync::Semaphore,
    /// The hub a replica follows (`warden serve --hub`): it serves the
    /// inference routes only, and has no workspace (`root` is empty).
    pub follows: Option<String>,
}

impl Shared {
    /// Notes that a personal access token opened a call; the refresh
    /// thread records it (at most once per refresh, off the request path).
    pub fn note_token_use(&self, id: &str) {
        let mut uses = self.token_uses.lock().unwrap_or_else(|p| p.into_inner());
        if !uses.contains(id) {
            uses.insert(id.to_string());
        }
    }
}

/// The routes with the guard in front of them. The guard wraps the whole
/// router (one service per request) rather than each route, so its cost
/// is paid once and only on what it does.
pub fn router(shared: Arc<Shared>) -> guard::Guarded {
    let inner = if shared.hub.is_some() {
        hub::routes().with_state(shared.clone())
    } else if shared.follows.is_some() {
        inference_routes().with_state(shared.clone())
    } else {
        routes(shared.clone()).with_state(shared.clone())
    };
    guard::Guarded::new(inner, shared)
}

/// The same routes with no guard at all (no authentication, limits,
/// headers, metrics or log). Never serve this: it exists so a benchmark can
/// measure what the guardrails cost.
pub fn unguarded_router(shared: Arc<Shared>) -> Router {
    routes(shared.clone()).with_state(shared)
}

/// The Open Inference Protocol's routes, the records route, metrics and
/// the OpenAPI document: all a replica following a hub serves.
fn inference_routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/health/live", get(routes::live))
        .route("/v2/health/ready", get(routes::ready))
        .route("/v2", get(routes::server_metadata))
        .route("/v2/models/{name}", get(routes::model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            get(routes::model_version_metadata),
        )
        .route("/v2/models/{name}/ready", get(routes::model_ready))
        .route("/v2/models/{name}/infer", post(routes::infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(routes::infer_version),
        )
        .route("/v1/models/{target}", post(routes::predict_records))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(routes::openapi))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
}

/// A workspace's server: the inference routes and the control API.
fn routes(_shared: Arc<Shared>) -> Router<Arc<Shared>> {
    inference_routes()
        .route("/api/v1/models", get(control::list_models))
        .route("/api/v1/models/{name}", get(control::show_model))
        .route("/api/v1/models/{name}/rollback", post(control::rollback))
        .route("/api/v1/models/{name}/drift", get(control::drift))
        .route(
            "/api/v1/models/{name}/versions/{version}",
            get(control::show_version),
        )
        .route(
            "/api/v1/models/{name}/versions/{version}/promote",
            post(control::promote),
        )
        .route(
            "/api/v1/models/{name}/versions/{version}/quarantine",
            post(control::quarantine),
        )
        .route("/api/v1/audit", get(control::audit_log))
        .route("/api/v1/audit/proof/{index}", get(control::audit_proof))
}

/// What [`serve`] reports once it is listening.
#[derive(Clone, Debug)]
pub struct Started {
    /// The address actually bound (with the port the system chose when the
    /// configured port is 0).
    pub addr: SocketAddr,
    /// Whether connections are served over TLS.
    pub tls: bool,
    /// The models served from the start: name and version.
    pub models: Vec<(String, u64)>,
    /// The models the environment points at that could not be served: the
    /// model's name, and `NAME@VERSION: reason`.
    pub missing: Vec<(String, String)>,
}

/// Serves until SIGTERM or SIGINT, then finishes in-flight requests and
/// returns. `started` is called once the socket is bound and the first
/// registry snapshot is loaded.
pub fn serve(
    ws: Workspace,
    open_options: warden::OpenOptions,
    cfg: ServeConfig,
    log: EventSink,
    started: impl FnOnce(&Started),
) -> Result<(), ServerError> {
    serve_until(ws, open_options, cfg, log, started, shutdown_signal())
}

/// As [`serve`], stopping when `shutdown` completes instead of on a signal
/// (for a caller that runs the server itself, such as the demo).
pub fn serve_until(
    ws: Workspace,
    open_options: warden::OpenOptions,
    cfg: ServeConfig,
    log: EventSink,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run(
        Origin::Workspace(Box::new(ws), open_options),
        cfg,
        log,
        started,
        shutdown,
    )
}

/// Serves the models a hub's environment points at, as a replica with no
/// workspace (`warden serve --hub`, see [`replica`]), until `shutdown`
/// completes. The monitor does not run on a replica.
pub fn follow_hub(
    link: replica::HubLink,
    cfg: ServeConfig,
    log: EventSink,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    run(Origin::Hub(Box::new(link)), cfg, log, started, shutdown)
}

/// As [`follow_hub`], stopping on SIGTERM or SIGINT.
pub fn serve_hub_replica(
    link: replica::HubLink,
    cfg: ServeConfig,
    log: EventSink,
    started: impl FnOnce(&Started),
) -> Result<(), ServerError> {
    follow_hub(link, cfg, log, started, shutdown_signal())
}

/// Where a server's registry comes from.
enum Origin {
    Workspace(Box<Workspace>, warden::OpenOptions),
    Hub(Box<replica::HubLink>),
}

fn run(
    origin: Origin,
    mut cfg: ServeConfig,
    log: EventSink,
    started: impl FnOnce(&Started),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("warden-serve")
        .build()?;
    let tls = cfg.tls.as_ref().map(tls::server_config).transpose()?;
    let listener = {
        let _runtime = runtime.enter();
        conn::bind(cfg.addr).map_err(|source| ServerError::Bind {
            addr: cfg.addr,
            source,
        })?
    };
    let addr = listener.local_addr()?;
    // The connection cap stays below the open-file limit, so the refresh
    // thread can open what it needs when every place is taken.
    let open_files = conn::open_file_limit();
    let max_connections = conn::connection_cap(cfg.max_connections, open_files);
    let (shared, failed) = match &origin {
        Origin::Workspace(ws, open_options) => load(ws, open_options.clone(), cfg, log.clone())?,
        Origin::Hub(link) => {
            cfg.monitor.enabled = false;
            load_replica(link, cfg, log.clone())?
        }
    };
    shared
        .metrics
        .connection_limit
        .set(i64::try_from(max_connections).unwrap_or(i64::MAX));
    let conns = conn::Connections::new(
        max_connections,
        shared.cfg.max_connections_per_address,
        shared.metrics.connections_open.clone(),
    );
    let snap = shared.current.get();
    let info = Started {
        addr,
        tls: tls.is_some(),
        models: snap
            .models
            .values()
            .map(|m| (m.model.name.clone(), m.model.version))
            .collect(),
        missing: snap
            .missing
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    };
    drop(snap);

    // The refresh loop owns the workspace (its store connection is not
    // shared with request handlers, which only read snapshots).
    let stop = Arc::new(AtomicBool::new(false));
    let refresher = {
        let shared = shared.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("warden-refresh".into())
            .spawn(move || match origin {
                Origin::Workspace(ws, _) => refresh_loop(*ws, shared, stop, failed),
                Origin::Hub(link) => follow_loop(&link, shared, stop, failed),
            })?
    };

    let monitor_thread = if shared.cfg.monitor.enabled {
        let (handle, thread) = monitor::start(
            &shared.root,
            &shared.open_options,
            &shared.cfg.env,
            &shared.cfg.monitor,
            shared.clone(),
            log.clone(),
            stop.clone(),
        )?;
        let _ = shared.monitor.set(handle);
        Some(thread)
    } else {
        None
    };

    started(&info);
    crate::state::emit(
        &log,
        json!({
            "event": "server.started",
            "addr": addr.to_string(),
            "env": shared.cfg.env,
            "max_connections": max_connections,
            "max_connections_per_address": shared.cfg.max_connections_per_address,
            "open_file_limit": open_files,
        }),
    );
    let app = router(shared.clone());
    let serving = shared.clone();
    let result = runtime.block_on(async move {
        let tls = tls.map(tokio_rustls::TlsAcceptor::from);
        conn::run(listener, tls, app, serving, conns, shutdown).await
    });
    stop.store(true, Ordering::SeqCst);
    let _ = refresher.join();
    if let Some(t) = monitor_thread {
        let _ = t.join();
    }
    crate::state::emit(&log, json!({"event": "server.stopped"}));
    result.map_err(ServerError::Io)
}

/// Load failures already logged and audited, by (model, version): the
/// reason given, so the same failure is not reported again on every
/// refresh.
pub type Failed = HashMap<(String, u64), String>;

/// The first snapshot and the state every request shares.
pub fn load(
    ws: &Workspace,
    open_options: warden::OpenOptions,
    cfg: ServeConfig,
    log: EventSink,
) -> Result<(Arc<Shared>, Failed), ServerError> {
    let home = Home {
        root: ws.root().to_path_buf(),
        open_options,
        follows: None,
    };
    load_from(ws, home, cfg, log)
}

/// The first snapshot of a replica following a hub: the hub's checkpoint
/// followed, then its serving state read and every target verified.
fn load_replica(
    link: &replica::HubLink,
    cfg: ServeConfig,
    log: EventSink,
) -> Result<(Arc<Shared>, Failed), ServerError> {
    link.follow_checkpoint()?;
    let home = Home {
        root: std::path::PathBuf::new(),
        open_options: warden::OpenOptions::default(),
        follows: Some(link.url().to_string()),
    };
    load_from(link, home, cfg, log)
}

/// Where a server's state comes from: its workspace (root and options,
/// opened again by the control API and the monitor), or the hub it follows.
struct Home {
    root: std::path::PathBuf,
    open_options: warden::OpenOptions,
    follows: Option<String>,
}

fn load_from(
    src: &dyn state::Source,
    home: Home,
    cfg: ServeConfig,
    log: EventSink,
) -> Result<(Arc<Shared>, Failed), ServerError> {
    let metrics = metrics::Metrics::new();
    let mut failed = HashMap::new();
    let jwt = cfg
        .jwt
        .clone()
        .map(jwt::JwtVerifier::load)
        .transpose()?
        .map(arc_swap::ArcSwap::from_pointee);
    let hub = cfg.hub.as_ref().map(hub::Issuers::load).transpose()?;
    let limiters = guard::Limiters::default();
    let first = state::refresh(src, &cfg, None, &mut failed, &metrics, &limiters, &log)?;
    let shared = Arc::new(Shared {
        // A replica has no workspace to pool.
        pool: control::WorkspacePool::new(if home.follows.is_some() { 0 } else { 32 }),
        follows: home.follows,
        jwt,
        hub,
        token_uses: Default::default(),
        root: home.root,
        open_options: home.open_options,
        inflight: guard::InFlight::new(cfg.max_concurrency),
        current: state::Current::new(first),
        limiters,
        metrics,
        log,
        uploads: tokio::sync::Semaphore::new(
            cfg.hub.as_ref().map_or(0, |h| h.max_concurrent_uploads),
        ),
        cfg,
        monitor: std::sync::OnceLock::new(),
    });
    Ok((shared, failed))
}

/// A replica's refresh: every `reload_interval`, the hub's checkpoint is
/// followed and its serving state read again. A failure (the hub down, a
/// forked history) keeps what is served and is logged.
fn follow_loop(
    link: &replica::HubLink,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    mut failed: Failed,
) {
    let tick = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(tick);
        waited += tick;
        if waited < shared.cfg.reload_interval {
            continue;
        }
        waited = Duration::ZERO;
        let prev = shared.current.get_full();
        let next = link.follow_checkpoint().and_then(|()| {
            state::refresh(
                link,
                &shared.cfg,
                Some(&prev),
                &mut failed,
                &shared.metrics,
                &shared.limiters,
                &shared.log,
            )
        });
        match next {
            Ok(next) => shared.current.set(next),
            Err(e) => {
                shared.metrics.reload_failures.inc();
                crate::state::emit(
                    &shared.log,
                    json!({"event": "refresh.failed", "hub": link.url(), "error": e.to_string()}),
                );
            }
        }
    }
}

fn refresh_loop(ws: Workspace, shared: Arc<Shared>, stop: Arc<AtomicBool>, mut failed: Failed) {
    let tick = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    // Where the store can tell of writes (PostgreSQL), a pointer moved or a
    // key revoked by any replica is taken up at the next tick instead of
    // the next reload; the reload interval stays as the backstop. A lost
    // listener is replaced at the next reload.
    let mut listener = listen(&ws, &shared);
    let mut jwks_waited = Duration::ZERO;
    let mut hub_seconds = 0u64;
    let mut hub_waited = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(tick);
        waited += tick;
        jwks_waited += tick;
        hub_waited += tick;
        if let Some(issuers) = &shared.hub
            && hub_waited >= Duration::from_secs(1)
        {
            hub_waited = Duration::ZERO;
            hub_seconds += 1;
            // A failed fetch keeps the keys the hub has.
            for (issuer, e) in issuers.refresh(hub_seconds) {
                crate::state::emit(
                    &shared.log,
                    json!({"event": "jwks.refresh_failed", "issuer": issuer, "error": e}),
                );
            }
        }
        if let (Some(current), Some(settings)) = (&shared.jwt, &shared.cfg.jwt)
            && matches!(settings.jwks, jwt::JwksSource::Url(_))
            && jwks_waited >= Duration::from_secs(settings.jwks_refresh_seconds)
        {
            jwks_waited = Duration::ZERO;
            // A failed fetch keeps the keys the server has.
            match jwt::JwtVerifier::load(settings.clone()) {
                Ok(v) => current.store(Arc::new(v)),
                Err(e) => crate::state::emit(
                    &shared.log,
                    json!({"event": "jwks.refresh_failed", "error": e.to_string()}),
                ),
            }
        }
        let heard = match listener.as_mut().map(|l| l.changed()) {
            Some(Ok(heard)) => heard,
            Some(Err(e)) => {
                crate::state::emit(
                    &shared.log,
                    json!({"event": "store.listen_failed", "error": e.to_string()}),
                );
                listener = None;
                false
            }
            None => false,
        };
        if !heard && waited < shared.cfg.reload_interval {
            continue;
        }
        if listener.is_none() && waited >= shared.cfg.reload_interval {
            listener = listen(&ws, &shared);
        }
        waited = Duration::ZERO;
        let used: Vec<String> = {
            let mut uses = shared.token_uses.lock().unwrap_or_else(|p| p.into_inner());
            uses.drain().collect()
        };
        for id in used {
            if let Err(e) = ws.token_touch(&id) {
                crate::state::emit(
                    &shared.log,
                    json!({"event": "token.touch_failed", "error": e.to_string()}),
                );
            }
        }
        let prev = shared.current.get_full();
        match state::refresh(
            &ws,
            &shared.cfg,
            Some(&prev),
            &mut failed,
            &shared.metrics,
            &shared.limiters,
            &shared.log,
        ) {
            Ok(next) => shared.current.set(next),
            Err(e) => {
                shared.metrics.reload_failures.inc();
                crate::state::emit(
                    &shared.log,
                    json!({"event": "refresh.failed", "error": e.to_string()}),
                );
            }
        }
    }
}

/// The store's change listener, if it has one; a failure to open it is
/// logged and the loop polls.
fn listen(ws: &Workspace, shared: &Shared) -> Option<Box<dyn warden::ChangeListener>> {
    match ws.listen_for_changes() {
        Ok(l) => l,
        Err(e) => {
            crate::state::emit(
                &shared.log,
                json!({"event": "store.listen_failed", "error": e.to_string()}),
            );
            None
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
