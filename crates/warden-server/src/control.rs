//! The control API under `/api/v1/`: the registry (models, versions, stage
//! pointers), promotion, rollback, quarantine, the audit log and inclusion
//! proofs, over HTTP.
//!
//! Each request acts on the workspace as the caller (`apikey.NAME` or
//! `jwt.SUBJECT` with the roles its credential carries; on the hub, the
//! principal with the roles the workspace grants it and its groups), using
//! a workspace from the [`WorkspacePool`], and calls the same engine
//! function as the CLI: the authorisation policy decides, denials and
//! changes are audited under the caller's name, and the refresh thread
//! picks up any pointer that moved.
//!
//! Every handler answers JSON. An engine error maps to a status: 403 not
//! authorised, 400 a malformed request (an invalid name, a version or
//! index that is not a number, a body that does not parse), 404 not
//! found, 409 a gate denial or a conflict with the registry's state, 422
//! a failed verification, and 500 anything else (logged as
//! `control.failed`, not described to the caller). A request without an
//! authenticated caller is answered 401.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use warden::{ErrorKind, EventFilter, Workspace};
use warden_core::{ActorName, ObjectName, VersionRef};

use crate::Shared;
use crate::guard::{Client, error};

/// The workspace actor a credential acts as.
fn actor_of(c: &Client) -> Result<ActorName, Response> {
    if c.principal {
        // The hub built the name from a verified token (see `hub`).
        return ActorName::new(&c.name).map_err(|_| {
            error(
                StatusCode::FORBIDDEN,
                "this credential cannot act on the registry",
            )
        });
    }
    let raw = match c.name.strip_prefix("jwt:") {
        Some(sub) => format!("jwt.{sub}"),
        None => format!("apikey.{}", c.name),
    };
    let clean: String = raw
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '_' | '-' | '@' | '+') {
                ch
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    ActorName::new(&clean).map_err(|_| {
        error(
            StatusCode::FORBIDDEN,
            "this credential cannot act on the registry",
        )
    })
}

/// Opened workspaces kept between control-API requests. Opening one reads
/// `warden.toml`, compiles the authorisation policy and opens the
/// database, which would otherwise be paid on every call; a kept one is
/// handed to the next caller with every trace of the last one's identity
/// cleared ([`Workspace::acting_as`]). The configuration and policy are
/// therefore those read when each was opened (at most `max` are kept).
pub struct WorkspacePool {
    idle: std::sync::Mutex<Vec<Workspace>>,
    max: usize,
}

impl WorkspacePool {
    /// An empty pool that keeps at most `max` idle workspaces.
    pub fn new(max: usize) -> Self {
        WorkspacePool {
            idle: std::sync::Mutex::new(Vec::new()),
            max,
        }
    }

    /// A workspace acting as `actor`: a kept one, or a newly opened one.
    pub fn take(
        &self,
        root: &std::path::Path,
        opts: &warden::OpenOptions,
        actor: ActorName,
    ) -> Result<Workspace, warden::Error> {
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match kept {
            Some(ws) => Ok(ws.acting_as(actor)),
            None => Workspace::open(root, actor, opts),
        }
    }

    /// Runs `f` on a workspace acting as `actor`, then keeps the workspace.
    pub fn with<T>(
        &self,
        root: &std::path::Path,
        opts: &warden::OpenOptions,
        actor: ActorName,
        f: impl FnOnce(&Workspace) -> Result<T, warden::Error>,
    ) -> Result<T, warden::Error> {
        let ws = self.take(root, opts, actor)?;
        let out = f(&ws);
        self.give(ws);
        out
    }

    /// Keeps `ws` for a later request (or drops it if enough are kept).
    pub fn give(&self, ws: Workspace) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max {
            idle.push(ws);
        }
    }
}

/// An engine error as an HTTP answer. General errors (I/O, a damaged
/// store) are not described to the caller.
pub(crate) fn engine_error(s: &Shared, e: warden::Error) -> Response {
    let status = status_of(&e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        crate::state::emit(
            &s.log,
            json!({"event": "control.failed", "error": e.to_string()}),
        );
        return error(status, "the operation failed; see the server log");
    }
    error(status, e.to_string())
}

/// The HTTP status of an engine error (see the module's documentation).
pub(crate) fn status_of(e: &warden::Error) -> StatusCode {
    match e.kind() {
        ErrorKind::NotAuthorised => StatusCode::FORBIDDEN,
        ErrorKind::Usage => StatusCode::BAD_REQUEST,
        ErrorKind::GateDenied => StatusCode::CONFLICT,
        ErrorKind::Verification => StatusCode::UNPROCESSABLE_ENTITY,
        _ => match e {
            warden::Error::NotFound(_) => StatusCode::NOT_FOUND,
            warden::Error::Conflict(_) | warden::Error::Invalid(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

/// Runs `f` on a workspace opened as the caller, off the async threads.
pub(crate) async fn as_caller<T, F>(s: Arc<Shared>, client: Option<Client>, f: F) -> Response
where
    T: serde::Serialize + Send + 'static,
    F: FnOnce(&Workspace) -> Result<(StatusCode, T), warden::Error> + Send + 'static,
{
    let Some(client) = client else {
        return error(StatusCode::UNAUTHORIZED, "an API key or token is required");
    };
    match run_as(&s, client, f).await {
        Ok(Ok((status, v))) => (status, Json(v)).into_response(),
        Ok(Err(e)) => engine_error(&s, e),
        Err(r) => r,
    }
}

/// Runs `f` on a pooled workspace acting as `client` (its principal, its
/// groups and granted roles on the hub; its own roles otherwise), off the
/// async threads. The outer error is a response already (a credential
/// that cannot act, a task that died); the inner one is the engine's.
pub(crate) async fn run_as<T, F>(
    s: &Arc<Shared>,
    client: Client,
    f: F,
) -> Result<Result<T, warden::Error>, Response>
where
    T: Send + 'static,
    F: FnOnce(&Workspace) -> Result<T, warden::Error> + Send + 'static,
{
    let actor = actor_of(&client)?;
    let shared = s.clone();
    let done = tokio::task::spawn_blocking(move || {
        let ws = shared
            .pool
            .take(&shared.root, &shared.open_options, actor)?;
        // A hub principal holds the roles the workspace grants it and its
        // groups; an API key or a serve-mode token carries its own.
        let ws = if client.principal {
            let ws = ws.with_groups(
                client
                    .groups
                    .iter()
                    .filter_map(|g| ActorName::new(g).ok())
                    .collect(),
            );
            match &client.role_cap {
                Some(cap) => ws.with_role_cap(
                    cap.iter()
                        .filter_map(|r| warden_core::RoleName::new(r).ok())
                        .collect(),
                ),
                None => ws,
            }
        } else {
            ws.with_roles(&client.roles)
        };
        let out = f(&ws);
        shared.pool.give(ws);
        out
    })
    .await;
    done.map_err(|_| error(StatusCode::INTERNAL_SERVER_ERROR, "the operation failed"))
}

pub(crate) fn client(req_client: Option<axum::Extension<Client>>) -> Option<Client> {
    req_client.map(|axum::Extension(c)| c)
}

fn model_name(name: &str) -> Result<ObjectName, warden::Error> {
    Ok(ObjectName::new(name)?)
}

pub(crate) fn version(name: &str, v: &str) -> Result<VersionRef, warden::Error> {
    let version: u64 = v
        .parse()
        .map_err(|_| warden::Error::Usage(format!("version {v:?} is not a number")))?;
    // The store keeps versions as signed 64-bit integers.
    if version > i64::MAX as u64 {
        return Err(warden::Error::NotFound(format!("model {name}@{version}")));
    }
    Ok(VersionRef {
        name: model_name(name)?,
        version: Some(version),
    })
}

pub(crate) fn body<T: DeserializeOwned>(
    b: Result<Bytes, BytesRejection>,
) -> Result<T, warden::Error> {
    let b = b.map_err(|e| warden::Error::Usage(format!("request body: {e}")))?;
    serde_json::from_slice(&b).map_err(|e| {
        warden::Error::Usage(format!(
            "request body: {}",
            e.to_string().chars().take(200).collect::<String>()
        ))
    })
}

/// `GET /api/v1/models`: every registered model version.
pub async fn list_models(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
) -> Response {
    as_caller(s, client(c), |ws| Ok((StatusCode::OK, ws.model_list()?))).await
}

/// `GET /api/v1/models/{name}`: `{"name", "versions", "stages"}`, the
/// model's versions and its stage pointers; 404 if it has no version.
pub async fn show_model(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path(name): Path<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let n = model_name(&name)?;
        let versions = ws.model_versions(&n)?;
        let stages = ws.stages(&n)?;
        Ok((
            StatusCode::OK,
            warden::api::ModelOverview {
                name,
                versions,
                stages,
            },
        ))
    })
    .await
}

/// `GET /api/v1/models/{name}/versions/{version}`: one model version, as
/// `warden model show` describes it.
pub async fn show_version(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path((name, v)): Path<(String, String)>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        Ok((StatusCode::OK, ws.model_show(&version(&name, &v)?)?))
    })
    .await
}

/// `{"env"}`: the environment a promotion or rollback concerns.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnvBody {
    env: String,
}

/// `{"reason"}`: why a version is quarantined.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    reason: String,
}

/// `POST /api/v1/models/{name}/versions/{version}/promote` with
/// `{"env"}`: runs the environment's gate and, if it allows, points the
/// environment at the version. 200 with the outcome when allowed; 409
/// with the outcome and an `error` listing the gate's reasons when not
/// (the decision is recorded either way).
pub async fn promote(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path((name, v)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: EnvBody = body(b)?;
        let out = ws.promote(&version(&name, &v)?, &req.env)?;
        let allowed = out.gate.allowed;
        let mut body = serde_json::to_value(&out)
            .map_err(|e| warden::Error::Invalid(format!("promotion outcome: {e}")))?;
        if allowed {
            return Ok((StatusCode::OK, body));
        }
        // A denial is an error answer with the gate's outcome beside it.
        if let Some(o) = body.as_object_mut() {
            o.insert(
                "error".into(),
                json!(format!(
                    "the {} gate denied it: {}",
                    req.env,
                    out.gate.reasons.join("; ")
                )),
            );
        }
        Ok((StatusCode::CONFLICT, body))
    })
    .await
}

/// `POST /api/v1/models/{name}/rollback` with `{"env"}`: points the
/// environment back at the last version of the model that passed its gate
/// there and is not quarantined.
pub async fn rollback(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path(name): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: EnvBody = body(b)?;
        Ok((StatusCode::OK, ws.rollback(&model_name(&name)?, &req.env)?))
    })
    .await
}

/// `POST /api/v1/models/{name}/versions/{version}/quarantine` with
/// `{"reason"}`: takes the version out of every environment and blocks
/// its promotion; answers `{"quarantine", "removed_from"}`, the record and
/// the environments that pointed at it.
pub async fn quarantine(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path((name, v)): Path<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: ReasonBody = body(b)?;
        let (record, removed_from) = ws.quarantine(&version(&name, &v)?, &req.reason)?;
        Ok((
            StatusCode::OK,
            warden::api::Quarantined {
                quarantine: record,
                removed_from,
            },
        ))
    })
    .await
}

/// The query parameters of `GET /api/v1/audit`, all optional: `since`
/// (only events whose sequence number is at least this), `actor` (an
/// exact actor name), `action` (an action, which also matches the actions
/// under it: `model` matches `model.approve`) and `limit` (100 unless
/// given, at most 1000).
/// Any other parameter is refused with 400.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    since: Option<u64>,
    actor: Option<String>,
    action: Option<String>,
    limit: Option<u64>,
}

/// At most this many events per request.
const MAX_EVENTS: u64 = 1000;

/// `GET /api/v1/audit`: the audit events that match the [`AuditQuery`],
/// the earliest first.
pub async fn audit_log(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(q) = match q {
        Ok(q) => q,
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "query: since, actor, action and limit are the parameters",
            );
        }
    };
    as_caller(s, client(c), move |ws| {
        let filter = EventFilter {
            since: q.since.map(|n| n.min(i64::MAX as u64)),
            actor: q.actor,
            action: q.action,
            limit: Some(q.limit.unwrap_or(100).min(MAX_EVENTS)),
        };
        Ok((StatusCode::OK, ws.audit_log(&filter)?))
    })
    .await
}

/// `GET /api/v1/audit/proof/{index}`: the inclusion proof of event
/// `index` against the latest checkpoint, in the file format of `warden
/// audit proof --index N --json` (which `warden audit check-proof` reads).
pub async fn audit_proof(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path(index): Path<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let index: u64 = index
            .parse()
            .map_err(|_| warden::Error::Usage(format!("index {index:?} is not a number")))?;
        if index > i64::MAX as u64 {
            return Err(warden::Error::NotFound(format!("audit event {index}")));
        }
        // The same file `warden audit proof --index N --json` writes, so
        // `warden audit check-proof` reads it.
        Ok((
            StatusCode::OK,
            warden::ProofFile::Inclusion(ws.audit_inclusion_proof(index)?),
        ))
    })
    .await
}

/// The query of `GET /api/v1/models/{name}/drift`: `limit`, the number of
/// windows to return (10 unless given, kept within 1 to 100). Any other
/// parameter is refused with 400.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftQuery {
    limit: Option<u64>,
}

/// `GET /api/v1/models/{name}/drift`: the latest monitoring windows
/// (newest first, `?limit=N`, at most 100) and whether automated
/// responses are paused.
pub async fn drift(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    c: Option<axum::Extension<Client>>,
    q: Result<Query<DriftQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: limit is the only parameter",
        );
    };
    as_caller(s, client(c), move |ws| {
        model_name(&name)?;
        let status = ws.monitor_status(&name, q.limit.unwrap_or(10).clamp(1, 100))?;
        Ok((StatusCode::OK, status))
    })
    .await
}
