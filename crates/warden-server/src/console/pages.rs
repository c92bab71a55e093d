//! The console's pages: each handler calls the engine as the signed-in
//! principal, turns its typed results into rows of text, and renders a
//! compiled template. What a role may not read is refused by the engine
//! (403); nothing is filtered here.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use warden::{ErrorKind, EventFilter, Workspace};
use warden_core::{ObjectName, VersionRef};

use super::{asset_path, csrf_token, error_page, html, same_site_form, session_token};
use crate::Shared;
use crate::control::{engine_error, run_as, status_of};
use crate::guard::Client;

pub(super) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/console/", get(models))
        .route("/console/models/{name}", get(model))
        .route("/console/models/{name}/drift", get(drift))
        .route("/console/models/{name}/versions/{v}", get(version))
        .route(
            "/console/models/{name}/versions/{v}/passport",
            get(passport),
        )
        .route("/console/models/{name}/versions/{v}/card", get(card))
        .route("/console/models/{name}/versions/{v}/gate/{env}", get(gate))
        .route("/console/models/{name}/versions/{v}/promote", post(promote))
        .route(
            "/console/models/{name}/versions/{v}/evaluations/{id}",
            get(evaluation),
        )
        .route("/console/models/{name}/versions/{v}/bom.json", get(bom))
        .route("/console/environments", get(environments))
        .route("/console/approvals", get(approvals))
        .route("/console/incidents", get(incidents))
        .route("/console/keys", get(keys))
        .route("/console/audit", get(audit))
        .route("/console/audit/proof/{index}", get(audit_proof))
        // Any other console path: a page saying so (the hub's own
        // fallback answers JSON).
        .route("/console/{*rest}", get(not_found).post(not_found))
}

async fn not_found() -> Response {
    error_page(StatusCode::NOT_FOUND, "there is no console page here")
}

/// Renders a template; a template that fails to render (a bug) is a 500
/// page, not a panic.
pub(crate) fn render(t: &impl Template) -> String {
    t.render().unwrap_or_else(|_| {
        "<!doctype html><html lang=\"en\"><head><title>Error</title></head><body>\
         <main><h1>Error</h1><p>The page could not be drawn; see the server log.</p></main></body></html>"
            .to_string()
    })
}

/// What every signed-in page shows at the top: who, and the sign-out
/// form with its CSRF token.
pub(crate) struct Nav {
    pub who: String,
    pub roles: String,
    pub csrf: String,
    pub css: String,
    pub js: String,
    pub here: &'static str,
}

/// A signed-in page: the engine work in `f` as the caller, then the page
/// it returns, or the engine's refusal as a page with its status.
async fn view<F>(
    s: Arc<Shared>,
    c: Option<axum::Extension<Client>>,
    headers: &HeaderMap,
    here: &'static str,
    f: F,
) -> Response
where
    F: FnOnce(&Workspace, Nav) -> Result<String, warden::Error> + Send + 'static,
{
    let Some(axum::Extension(client)) = c else {
        return super::to_login();
    };
    let csrf = session_token(headers).map(csrf_token).unwrap_or_default();
    let who = client.name.to_string();
    let done = run_as(&s, client, move |ws| {
        let roles = ws
            .effective_roles()?
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let nav = Nav {
            who,
            roles: if roles.is_empty() {
                "no role".into()
            } else {
                roles
            },
            csrf,
            css: asset_path("console.css"),
            js: asset_path("console.js"),
            here,
        };
        f(ws, nav)
    })
    .await;
    match done {
        Ok(Ok(page)) => html(StatusCode::OK, page),
        Ok(Err(e)) => refusal(&s, e),
        Err(r) => r,
    }
}

/// An engine error as a page: the same status as the API gives it.
fn refusal(s: &Shared, e: warden::Error) -> Response {
    let status = status_of(&e);
    let message = match (e.kind(), status) {
        (_, StatusCode::INTERNAL_SERVER_ERROR) => {
            crate::state::emit(
                &s.log,
                serde_json::json!({"event": "console.failed", "error": e.to_string()}),
            );
            "the page could not be read; see the server log".to_string()
        }
        (ErrorKind::NotAuthorised, _) => format!("your roles do not allow this page: {e}"),
        _ => e.to_string(),
    };
    error_page(status, &message)
}

fn version_ref(name: &str, v: &str) -> Result<VersionRef, warden::Error> {
    crate::control::version(name, v)
}

/// What an approver runs on their own machine to sign an approval.
fn approve_command(model: &str, version: u64, env: &str) -> String {
    format!("warden hub approve {model}@{version} --env {env} --key YOUR-APPROVAL-KEY")
}

fn short(digest: &str) -> String {
    let d = digest.strip_prefix("sha256:").unwrap_or(digest);
    d.chars().take(12).collect()
}

// ---------------------------------------------------------------------------
// Models

#[derive(Template)]
#[template(path = "console/models.html")]
struct ModelsPage {
    nav: Nav,
    models: Vec<ModelRow>,
    envs: Vec<String>,
    total: u64,
    first: u64,
    previous: Option<u64>,
    next: Option<u64>,
}

struct ModelRow {
    name: String,
    latest: u64,
    versions: u64,
    kind: String,
    author: String,
    /// Per environment of `envs`: the version there, or empty.
    at: Vec<String>,
}

/// Models per page of the index.
const MODELS_PER_PAGE: u64 = 100;

#[derive(Deserialize)]
struct PageQuery {
    page: Option<u64>,
}

async fn models(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page(StatusCode::BAD_REQUEST, "the one filter is page (a number)");
    };
    let page = q.page.unwrap_or(1).max(1);
    view(s, c, &headers, "models", move |ws, nav| {
        let envs = ws.config().gates.environments.clone();
        let offset = (page - 1).saturating_mul(MODELS_PER_PAGE);
        let (index, total) = ws.model_index(offset, MODELS_PER_PAGE)?;
        let models = index
            .into_iter()
            .map(|m| ModelRow {
                latest: m.newest.version,
                versions: m.versions,
                kind: m.newest.kind.clone(),
                author: m.newest.created_by.to_string(),
                at: envs
                    .iter()
                    .map(|e| {
                        m.stages
                            .iter()
                            .find(|p| &p.env == e)
                            .map(|p| format!("v{}", p.version))
                            .unwrap_or_default()
                    })
                    .collect(),
                name: m.name.to_string(),
            })
            .collect();
        Ok(render(&ModelsPage {
            nav,
            models,
            envs,
            total,
            first: offset + 1,
            previous: (page > 1).then(|| page - 1),
            next: (offset + MODELS_PER_PAGE < total).then(|| page + 1),
        }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/model.html")]
struct ModelPage {
    nav: Nav,
    name: String,
    versions: Vec<VersionRow>,
    stages: Vec<(String, u64, String, String)>,
}

struct VersionRow {
    version: u64,
    digest: String,
    kind: String,
    author: String,
    created: String,
    at: String,
}

async fn model(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let n = ObjectName::new(&name)?;
        let stages = ws.stages(&n)?;
        let mut versions: Vec<VersionRow> = ws
            .model_versions(&n)?
            .into_iter()
            .map(|m| VersionRow {
                version: m.record.version,
                digest: short(&m.record.digest),
                kind: m.record.kind.clone(),
                author: m.record.created_by.to_string(),
                created: m.record.created_at.to_string(),
                at: stages
                    .iter()
                    .filter(|p| p.version == m.record.version)
                    .map(|p| p.env.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.version));
        Ok(render(&ModelPage {
            nav,
            name: n.to_string(),
            versions,
            stages: stages
                .iter()
                .map(|p| {
                    (
                        p.env.clone(),
                        p.version,
                        p.updated_by.to_string(),
                        p.updated_at.to_string(),
                    )
                })
                .collect(),
        }))
    })
    .await
}

// ---------------------------------------------------------------------------
// One version

#[derive(Template)]
#[template(path = "console/version.html")]
struct VersionPage {
    nav: Nav,
    name: String,
    version: u64,
    o: warden::VersionOverview,
    gates: Vec<GateRow>,
    evaluations: Vec<(u64, String, String)>,
    metrics: Vec<(String, String, String)>,
    fairness: Vec<FairnessRow>,
    robustness: Vec<(String, Vec<(f64, f64)>)>,
    robustness_svg: String,
    lineage_svg: String,
    lineage_nodes: Vec<(String, String, String)>,
    evidence: Vec<(String, String, u64, String)>,
    approve_cli: String,
}

/// An environment's row: whether this version is there, and the newest
/// decision recorded for it.
struct GateRow {
    env: String,
    here: bool,
    last: Option<warden::PassportDecision>,
}

#[derive(Template)]
#[template(path = "console/passport.html")]
struct PassportPage {
    nav: Nav,
    name: String,
    version: u64,
    p: warden::Passport,
    lineage_svg: String,
}

#[derive(Template)]
#[template(path = "console/gate.html")]
struct GatePage {
    nav: Nav,
    name: String,
    version: u64,
    env: String,
    g: warden::GateOutcome,
}

struct FairnessRow {
    attribute: String,
    group: String,
    rows: u64,
    selection_rate: String,
    tpr: String,
    fpr: String,
}

fn fig(f: &warden::figures::Figure) -> String {
    match f {
        warden::figures::Figure::Defined(v) => format!("{v:.4}"),
        warden::figures::Figure::Undefined { undefined } => format!("undefined ({undefined})"),
    }
}

fn interval(i: Option<&warden::figures::Interval>) -> String {
    i.map(|i| format!("{:.4} – {:.4}", i.low, i.high))
        .unwrap_or_default()
}

async fn version(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v)): Path<(String, String)>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let r = version_ref(&name, &v)?;
        let o = ws.version_overview(&r)?;
        let number = r.version.unwrap_or_default();
        let gates = ws
            .config()
            .gates
            .environments
            .iter()
            .map(|env| GateRow {
                env: env.clone(),
                here: o.deployed.contains(env),
                last: o.decisions.iter().rev().find(|d| &d.env == env).cloned(),
            })
            .collect();
        let records = ws.evaluations(&r)?;
        let evaluations = records
            .iter()
            .map(|e| {
                (
                    e.id,
                    format!("{}@{}", e.dataset, e.dataset_version),
                    e.created_at.to_string(),
                )
            })
            .collect();
        // The newest evaluation in full: figures with their intervals,
        // rates per group, robust accuracy per radius.
        let newest = records
            .iter()
            .max_by_key(|e| e.id)
            .map(|e| ws.evaluation_report(&r, e.id))
            .transpose()?;
        let mut metrics = Vec::new();
        let mut fairness = Vec::new();
        let mut robustness = Vec::new();
        if let Some((_, rep)) = &newest {
            let perf = &rep.performance;
            let ci = |k: &str| interval(perf.ci95.get(k));
            metrics.push((
                "accuracy".into(),
                format!("{:.4}", perf.accuracy),
                ci("accuracy"),
            ));
            for (label, key, f) in [
                (
                    "balanced accuracy",
                    "balanced_accuracy",
                    &perf.balanced_accuracy,
                ),
                ("macro F1", "macro_f1", &perf.macro_f1),
                ("ROC AUC", "roc_auc", &perf.roc_auc),
                ("PR AUC", "pr_auc", &perf.pr_auc),
                ("log loss", "log_loss", &perf.log_loss),
                ("Brier score", "brier", &perf.brier),
                ("expected calibration error", "ece", &perf.ece),
            ] {
                metrics.push((label.to_string(), fig(f), ci(key)));
            }
            for a in &rep.fairness {
                for g in &a.groups {
                    fairness.push(FairnessRow {
                        attribute: a.attribute.clone(),
                        group: g.group.clone(),
                        rows: g.count,
                        selection_rate: fig(&g.selection_rate),
                        tpr: fig(&g.tpr),
                        fpr: fig(&g.fpr),
                    });
                }
            }
            if let Some(rb) = &rep.robustness {
                for (attack, points) in &rb.attacks {
                    robustness.push((
                        attack.clone(),
                        points.iter().map(|p| (p.eps, p.robust_accuracy)).collect(),
                    ));
                }
            }
        }
        let robustness_svg = super::svg::curves(&robustness);
        let lineage = ws.model_lineage(&r)?;
        let lineage_svg = super::svg::lineage(&lineage, &o.deployed);
        let lineage_nodes = lineage
            .nodes
            .iter()
            .map(|n| (n.kind.clone(), n.label.clone(), short(&n.digest)))
            .collect();
        let evidence = ws
            .evidence_list(Some(&r))?
            .into_iter()
            .map(|e| {
                (
                    e.record.tool,
                    e.record.kind,
                    e.summary.findings,
                    e.record.created_at.to_string(),
                )
            })
            .collect();
        let approve_cli = approve_command(
            r.name.as_str(),
            number,
            ws.config()
                .gates
                .environments
                .last()
                .map_or("production", String::as_str),
        );
        Ok(render(&VersionPage {
            nav,
            name: r.name.to_string(),
            version: number,
            o,
            gates,
            evaluations,
            metrics,
            fairness,
            robustness,
            robustness_svg,
            lineage_svg,
            lineage_nodes,
            evidence,
            approve_cli,
        }))
    })
    .await
}

/// The passport, checked now (signature, the whole log, every fact
/// against its event).
async fn passport(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v)): Path<(String, String)>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let r = version_ref(&name, &v)?;
        let (p, _) = ws.passport(&r)?;
        let lineage_svg = super::svg::lineage(&ws.model_lineage(&r)?, &p.model.held_environments);
        Ok(render(&PassportPage {
            nav,
            name: r.name.to_string(),
            version: r.version.unwrap_or_default(),
            p,
            lineage_svg,
        }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/card.html")]
struct CardPage {
    nav: Nav,
    name: String,
    version: u64,
    card: String,
}

/// The model card, as `warden model card` writes it.
async fn card(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v)): Path<(String, String)>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let r = version_ref(&name, &v)?;
        let card = ws.model_card(&r)?;
        Ok(render(&CardPage {
            nav,
            name: r.name.to_string(),
            version: r.version.unwrap_or_default(),
            card,
        }))
    })
    .await
}

/// The gate of one environment, run now (nothing recorded).
async fn gate(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v, env)): Path<(String, String, String)>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let r = version_ref(&name, &v)?;
        let g = ws.gate(&r, &env)?;
        Ok(render(&GatePage {
            nav,
            name: r.name.to_string(),
            version: r.version.unwrap_or_default(),
            env,
            g,
        }))
    })
    .await
}

#[derive(Deserialize)]
struct PromoteForm {
    env: String,
    csrf: Option<String>,
}

#[derive(Template)]
#[template(path = "console/promoted.html")]
struct PromotedPage {
    nav: Nav,
    name: String,
    version: u64,
    env: String,
    allowed: bool,
    reasons: Vec<String>,
}

/// `POST …/promote`: the same engine call as `warden promote`; the gate
/// decides and the decision is recorded either way.
async fn promote(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v)): Path<(String, String)>,
    form: Result<axum::Form<PromoteForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(axum::Form(form)) = form else {
        return error_page(StatusCode::BAD_REQUEST, "the form is malformed");
    };
    if !same_site_form(&headers, form.csrf.as_deref()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "this form did not come from a console page of this session",
        );
    }
    view(s, c, &headers, "models", move |ws, nav| {
        let r = version_ref(&name, &v)?;
        let o = ws.promote(&r, &form.env)?;
        let (allowed, reasons) = (o.gate.allowed, o.gate.reasons);
        Ok(render(&PromotedPage {
            nav,
            name: r.name.to_string(),
            version: r.version.unwrap_or_default(),
            env: form.env,
            allowed,
            reasons,
        }))
    })
    .await
}

/// The recorded evaluation as its full HTML report (charts and all). The
/// report is a self-contained page with its own inline style and no
/// script; its policy allows exactly that.
async fn evaluation(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path((name, v, id)): Path<(String, String, String)>,
) -> Response {
    let mut r = view(s, c, &headers, "models", move |ws, _| {
        let r = version_ref(&name, &v)?;
        let id: u64 = id
            .parse()
            .map_err(|_| warden::Error::Usage(format!("evaluation {id:?} is not a number")))?;
        ws.evaluation_html(&r, id)
    })
    .await;
    if r.status() == StatusCode::OK {
        r.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ),
        );
    }
    r
}

/// The version's CycloneDX ML-BOM as a download.
async fn bom(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path((name, v)): Path<(String, String)>,
) -> Response {
    let Some(axum::Extension(client)) = c else {
        return super::to_login();
    };
    let file = format!("{name}-{v}.cdx.json");
    let done = run_as(&s, client, move |ws| {
        let r = version_ref(&name, &v)?;
        let bom = ws.model_bom(&r)?;
        serde_json::to_vec_pretty(&bom).map_err(|e| warden::Error::Invalid(e.to_string()))
    })
    .await;
    match done {
        Ok(Ok(bytes)) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.cyclonedx+json"),
            );
            let safe: String = file
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                .collect();
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            r
        }
        Ok(Err(e)) => refusal(&s, e),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------
// Drift

/// A feature of a window: name, its tests in words, whether it drifted.
type FeatureRow = (String, String, bool);

#[derive(Template)]
#[template(path = "console/drift.html")]
struct DriftPage {
    nav: Nav,
    name: String,
    paused: Option<String>,
    windows: Vec<warden::WindowOut>,
    features: Vec<(u64, Vec<FeatureRow>)>,
    timeline_svg: String,
}

async fn drift(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    view(s, c, &headers, "models", move |ws, nav| {
        let n = ObjectName::new(&name)?;
        let status = ws.monitor_status(n.as_str(), 50)?;
        let timeline_svg = super::svg::drift_timeline(&status.windows);
        let features = status
            .windows
            .iter()
            .map(|w| (w.id, super::svg::window_features(&w.report)))
            .collect();
        Ok(render(&DriftPage {
            nav,
            name: n.to_string(),
            paused: status
                .paused
                .as_ref()
                .map(|p| format!("{} ({} at {})", p.reason, p.paused_by, p.paused_at)),
            windows: status.windows,
            features,
            timeline_svg,
        }))
    })
    .await
}

// ---------------------------------------------------------------------------
// Environments, approvals, incidents, keys

/// A model deployed in an environment: name, version, moved by, at.
type Deployed = (String, u64, String, String);

#[derive(Template)]
#[template(path = "console/environments.html")]
struct EnvironmentsPage {
    nav: Nav,
    envs: Vec<(String, Vec<Deployed>)>,
}

async fn environments(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
) -> Response {
    view(s, c, &headers, "environments", |ws, nav| {
        let (index, _) = ws.model_index(0, u64::MAX)?;
        let mut envs: Vec<(String, Vec<Deployed>)> = ws
            .config()
            .gates
            .environments
            .iter()
            .map(|e| (e.clone(), Vec::new()))
            .collect();
        for m in index {
            for p in m.stages {
                if let Some((_, rows)) = envs.iter_mut().find(|(e, _)| *e == p.env) {
                    rows.push((
                        m.name.to_string(),
                        p.version,
                        p.updated_by.to_string(),
                        p.updated_at.to_string(),
                    ));
                }
            }
        }
        Ok(render(&EnvironmentsPage { nav, envs }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/approvals.html")]
struct ApprovalsPage {
    nav: Nav,
    pending: Vec<(String, u64, String, String, String)>,
    history: Vec<warden::EventOut>,
}

async fn approvals(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
) -> Response {
    view(s, c, &headers, "approvals", |ws, nav| {
        // Pending: each model's newest version, for each environment it is
        // not in, whose newest recorded gate decision there was a denial
        // naming a missing approval (recorded rows only: running every
        // gate would re-verify the log once per model and environment).
        let (index, _) = ws.model_index(0, u64::MAX)?;
        let mut pending = Vec::new();
        for (n, v) in index.into_iter().map(|m| (m.name, m.newest.version)) {
            let o = ws.version_overview(&VersionRef {
                name: n.clone(),
                version: Some(v),
            })?;
            for env in &ws.config().gates.environments {
                if o.deployed.contains(env) {
                    continue;
                }
                let Some(last) = o.decisions.iter().rev().find(|d| &d.env == env) else {
                    continue;
                };
                if last.allowed {
                    continue;
                }
                if let Some(reason) = last.reasons.iter().find(|x| x.contains("approv")) {
                    pending.push((
                        n.to_string(),
                        v,
                        env.clone(),
                        reason.clone(),
                        approve_command(n.as_str(), v, env),
                    ));
                }
            }
        }
        let mut history = ws.audit_log(&EventFilter {
            action: Some("model.approve".into()),
            ..Default::default()
        })?;
        history.reverse();
        history.truncate(200);
        Ok(render(&ApprovalsPage {
            nav,
            pending,
            history,
        }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/incidents.html")]
struct IncidentsPage {
    nav: Nav,
    incidents: Vec<warden_store_view::Incident>,
}

/// Incident rows as the page shows them.
mod warden_store_view {
    pub struct Incident {
        pub id: u64,
        pub model: String,
        pub kind: String,
        pub summary: String,
        pub opened: String,
        pub closed: String,
    }
}

async fn incidents(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
) -> Response {
    view(s, c, &headers, "incidents", |ws, nav| {
        let mut incidents: Vec<_> = ws
            .incident_list()?
            .into_iter()
            .map(|i| warden_store_view::Incident {
                id: i.id,
                model: format!("{}@{}", i.model, i.version),
                kind: i.kind,
                summary: i.summary,
                opened: format!("{} by {}", i.opened_at, i.opened_by),
                closed: match (i.closed_at, i.closed_by) {
                    (Some(at), Some(by)) => {
                        format!("{at} by {by}: {}", i.resolution.unwrap_or_default())
                    }
                    _ => "open".into(),
                },
            })
            .collect();
        incidents.reverse();
        Ok(render(&IncidentsPage { nav, incidents }))
    })
    .await
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    nav: Nav,
    signing: Vec<warden::KeySummary>,
    tokens: Vec<(String, String, String, String, String)>,
    apikeys: Vec<(String, String, String, String, String)>,
}

fn state_of(revoked: Option<String>, expires: Option<String>) -> String {
    match (revoked, expires) {
        (Some(r), _) => format!("revoked {r}"),
        (None, Some(e)) => format!("expires {e}"),
        (None, None) => "active".into(),
    }
}

async fn keys(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
) -> Response {
    view(s, c, &headers, "keys", |ws, nav| {
        let signing = ws.keys_list()?;
        let tokens = ws
            .token_list()?
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    t.owner.to_string(),
                    t.roles
                        .iter()
                        .map(|r| r.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    t.last_used_at
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "never".into()),
                    state_of(
                        t.revoked_at.map(|t| t.to_string()),
                        Some(t.expires_at.to_string()),
                    ),
                )
            })
            .collect();
        // Inference API keys are an operator's to read; a role without it
        // sees the rest of the page.
        let apikeys = match ws.apikey_list() {
            Ok(list) => list
                .into_iter()
                .map(|k| {
                    (
                        k.name,
                        k.role,
                        k.created_by.to_string(),
                        k.rate_limit
                            .map(|r| format!("{r}/s"))
                            .unwrap_or_else(|| "default".into()),
                        state_of(
                            k.revoked_at.map(|t| t.to_string()),
                            k.expires_at.map(|t| t.to_string()),
                        ),
                    )
                })
                .collect(),
            Err(e) if e.kind() == ErrorKind::NotAuthorised => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(render(&KeysPage {
            nav,
            signing,
            tokens,
            apikeys,
        }))
    })
    .await
}

// ---------------------------------------------------------------------------
// The audit log

#[derive(Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    from: Option<u64>,
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    nav: Nav,
    events: Vec<AuditRow>,
    actor: String,
    action: String,
    size: u64,
    older: Option<String>,
    newer: Option<String>,
    vkey: String,
}

struct AuditRow {
    seq: i64,
    time: String,
    actor: String,
    action: String,
    subject: String,
    payload: String,
    /// The payload's first characters, for the collapsed row.
    brief: String,
}

/// Events per audit page.
const PAGE: u64 = 50;

fn audit_link(actor: &str, action: &str, from: u64) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    if !actor.is_empty() {
        q.append_pair("actor", actor);
    }
    if !action.is_empty() {
        q.append_pair("action", action);
    }
    q.append_pair("from", &from.to_string());
    format!("/console/audit?{}", q.finish())
}

async fn audit(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "the filters are actor, action and from (an event number)",
        );
    };
    view(s, c, &headers, "audit", move |ws, nav| {
        let (note, vkey) = ws.audit_checkpoint()?;
        let size = warden::hubclient::open_checkpoint(&note, &vkey)?.size;
        let actor = q.actor.unwrap_or_default().trim().to_string();
        let action = q.action.unwrap_or_default().trim().to_string();
        let filtered = !actor.is_empty() || !action.is_empty();
        // Unfiltered, the newest page first; filtered, from the start (or
        // `from`) forward.
        let from = q.from.unwrap_or(if filtered {
            0
        } else {
            size.saturating_sub(PAGE)
        });
        let events = ws.audit_log(&EventFilter {
            since: Some(from),
            actor: (!actor.is_empty()).then(|| actor.clone()),
            action: (!action.is_empty()).then(|| action.clone()),
            limit: Some(PAGE),
        })?;
        let last = events.last().map(|e| e.seq.max(0) as u64);
        let newer = match last {
            Some(l) if l + 1 < size && (filtered || events.len() as u64 == PAGE) => {
                Some(audit_link(&actor, &action, l + 1))
            }
            _ => None,
        };
        let older = (from > 0).then(|| audit_link(&actor, &action, from.saturating_sub(PAGE)));
        let mut rows: Vec<AuditRow> = events
            .into_iter()
            .map(|e| AuditRow {
                seq: e.seq,
                time: e.time,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                brief: {
                    let t = e.payload.to_string();
                    format!("{}…", t.chars().take(48).collect::<String>())
                },
                payload: {
                    let t = e.payload.to_string();
                    if t.chars().count() > 2000 {
                        format!("{}…", t.chars().take(2000).collect::<String>())
                    } else {
                        t
                    }
                },
            })
            .collect();
        rows.reverse();
        Ok(render(&AuditPage {
            nav,
            events: rows,
            actor,
            action,
            size,
            older,
            newer,
            vkey,
        }))
    })
    .await
}

/// `GET /console/audit/proof/{index}`: the inclusion proof the audit
/// page's script checks (the same document as `warden audit proof`).
async fn audit_proof(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    Path(index): Path<String>,
) -> Response {
    let Some(axum::Extension(client)) = c else {
        return super::to_login();
    };
    let done = run_as(&s, client, move |ws| {
        let index: u64 = index
            .parse()
            .map_err(|_| warden::Error::Usage(format!("index {index:?} is not a number")))?;
        if index > i64::MAX as u64 {
            return Err(warden::Error::NotFound(format!("audit event {index}")));
        }
        ws.audit_inclusion_proof(index)
    })
    .await;
    match done {
        Ok(Ok(p)) => (StatusCode::OK, axum::Json(warden::ProofFile::Inclusion(p))).into_response(),
        Ok(Err(e)) => engine_error(&s, e),
        Err(r) => r,
    }
}

// ---------------------------------------------------------------------------
// Plain pages

#[derive(Template)]
#[template(path = "console/message.html")]
pub(crate) struct Message {
    pub title: String,
    pub message: String,
    pub refresh: Option<String>,
    pub css: String,
}

#[derive(Template)]
#[template(path = "console/login.html")]
pub(crate) struct Login {
    issuers: Vec<(String, String)>,
    css: String,
}

impl Login {
    pub(crate) fn new(issuers: Vec<(String, String)>) -> Self {
        Login {
            issuers,
            css: asset_path("console.css"),
        }
    }
}
