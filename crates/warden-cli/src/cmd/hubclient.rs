//! The CLI as a hub client: `warden login URL`, then `warden hub whoami |
//! models | promote | keys-enrol | approve`.
//!
//! Credentials live in the user's Warden directory (`hub.json`, 0600).
//! Every call is followed by a look at the hub's signed checkpoint: the
//! first one is remembered (with the log key the login saw), and each later
//! one must extend the newest this machine has seen, by a consistency proof
//! checked here ([`warden::hubclient::check_extends`]). A hub that rewrote
//! or forked its history is refused by the next call of any client.
//! Approval keys are made and kept on this machine; the hub receives only
//! the public half and signed approvals.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use warden::hubclient;
use warden_core::{KeyName, Timestamp, VersionRef};

use crate::cli::Global;
use crate::exit;
use crate::output::{self, Failure};

/// The hub's one team: every resource path is under it.
const TEAM: &str = "/api/v1/teams/default";
const CREDENTIALS: &str = "hub.json";

/// What `warden login` keeps.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    url: String,
    token: String,
    /// The log verifier key the hub's checkpoints must be signed by.
    vkey: String,
}

fn user_dir() -> Result<PathBuf, Failure> {
    warden::user_dir().ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "no user directory: set WARDEN_CONFIG_DIR or HOME",
        )
    })
}

/// The hub acts as the principal the token proves, never a declared one.
fn refuse_actor(g: &Global) -> Result<(), Failure> {
    if g.actor.is_some() {
        return Err(Failure::new(
            exit::USAGE,
            "--actor and WARDEN_ACTOR are refused against the hub: it acts as the principal your token proves",
        )
        .with_hint("unset WARDEN_ACTOR (or drop --actor) for `warden login` and `warden hub` commands"));
    }
    Ok(())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let fail = |e: std::io::Error| {
        Failure::new(exit::ERROR, format!("cannot write {}: {e}", path.display()))
    };
    if let Some(parent) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(parent).map_err(fail)?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(fail)?;
    f.write_all(bytes).map_err(fail)
}

struct Session {
    url: String,
    token: String,
    vkey: String,
    dir: PathBuf,
    agent: ureq::Agent,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .max_redirects(0)
        .build()
        .into()
}

/// An HTTP status as the CLI's exit code.
fn code_of(status: u16) -> u8 {
    match status {
        401 | 403 => exit::NOT_AUTHORISED,
        400 | 404 | 405 | 413 => exit::USAGE,
        422 => exit::VERIFICATION,
        _ => exit::ERROR,
    }
}

impl Session {
    fn load(g: &Global) -> Result<Self, Failure> {
        refuse_actor(g)?;
        let dir = user_dir()?;
        let path = dir.join(CREDENTIALS);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Failure::new(
                exit::USAGE,
                format!("not logged in to a hub ({}: {e})", path.display()),
            )
            .with_hint("warden login https://hub.example.com --token-file TOKEN")
        })?;
        let c: Credentials = serde_json::from_str(&text).map_err(|e| {
            Failure::new(exit::ERROR, format!("{} is damaged: {e}", path.display()))
        })?;
        Ok(Session {
            url: c.url,
            token: c.token,
            vkey: c.vkey,
            dir,
            agent: agent(),
        })
    }

    /// One call; a refusal is a failure with the hub's message and the
    /// matching exit code. Then the checkpoint is followed.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let (status, v) = self.send(method, path, body)?;
        self.follow()?;
        // A gate's denial comes back with its reasons, for the caller to show.
        if status == 409 && v.as_object().is_some_and(|o| o.contains_key("gate")) {
            return Ok((status, v));
        }
        refused(status, v)
    }

    /// A GET without following the checkpoint (used while following it).
    fn raw_get(&self, path: &str) -> Result<(u16, Value), Failure> {
        let (status, v) = self.send("GET", path, None)?;
        refused(status, v)
    }

    /// Sends one request with the token; the status and the JSON answer.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), Failure> {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let sent = match method {
            "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.map(Value::to_string).unwrap_or_else(|| "{}".into())),
        };
        let mut r = sent.map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
        json_answer(&url, &mut r, 64 << 20)
    }

    /// Fetches the hub's checkpoint and checks it extends the newest this
    /// machine remembers for the log, then remembers it.
    fn follow(&self) -> Result<(), Failure> {
        let cp = fetch_checkpoint(&self.agent, &self.url, Some(&self.vkey))?;
        follow_checkpoint(&self.dir, &cp, |old, new| {
            let (_, v) = self.raw_get(&format!("/log/consistency?old={old}&new={new}"))?;
            match serde_json::from_value::<warden::ProofFile>(v) {
                Ok(warden::ProofFile::Consistency(p)) => Ok(p),
                Ok(_) => Err(Failure::new(
                    exit::VERIFICATION,
                    "the hub answered a consistency request with another kind of proof",
                )),
                Err(e) => Err(Failure::new(
                    exit::VERIFICATION,
                    format!("consistency proof: {e}"),
                )),
            }
        })
    }
}

/// What a serving replica (`warden serve --hub URL`) acts with: the
/// credentials `warden login URL` stored, and the user directory where
/// the hub's checkpoints are remembered.
pub fn replica_link(
    g: &Global,
    url: &str,
    env: &str,
    trust: Option<Vec<warden::Signer>>,
) -> Result<warden_server::replica::HubSettings, Failure> {
    let s = Session::load(g)?;
    if s.url.trim_end_matches('/') != url.trim_end_matches('/') {
        return Err(
            Failure::new(exit::USAGE, format!("logged in to {}, not {url}", s.url))
                .with_hint(format!("warden login {url} --token-file TOKEN")),
        );
    }
    Ok(warden_server::replica::HubSettings {
        url: s.url,
        token: s.token,
        vkey: s.vkey,
        user_dir: s.dir,
        env: env.to_string(),
        trust,
    })
}

/// A 2xx answer as it is; anything else as a failure with the hub's
/// message and the matching exit code.
fn refused(status: u16, v: Value) -> Result<(u16, Value), Failure> {
    if (200..300).contains(&status) {
        return Ok((status, v));
    }
    let message = warden::api::ErrorBody::message_of(v)
        .unwrap_or_else(|| "the hub refused the call".to_string());
    Err(Failure::new(code_of(status), format!("hub: {message}")))
}

/// An answer read as the document the hub's API defines for it; another
/// shape is a failure naming what was asked.
fn typed<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, Failure> {
    T::deserialize(v).map_err(|e| {
        Failure::new(
            exit::ERROR,
            format!("hub: the answer to {what} is not what this client reads: {e}"),
        )
    })
}

/// `GET /checkpoint`, opened under `vkey` (or the key the hub names, at
/// login, when none is pinned yet).
fn fetch_checkpoint(
    agent: &ureq::Agent,
    base: &str,
    vkey: Option<&str>,
) -> Result<hubclient::OpenedCheckpoint, Failure> {
    let url = format!("{base}/checkpoint");
    let mut r = agent
        .get(&url)
        .call()
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    if r.status().as_u16() != 200 {
        return Err(Failure::new(
            exit::ERROR,
            format!("{url}: answered {}", r.status().as_u16()),
        ));
    }
    let named = r
        .headers()
        .get("x-warden-log-vkey")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let note = r
        .body_mut()
        .with_config()
        .limit(64 << 10)
        .read_to_string()
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    let vkey = match (vkey, named) {
        (Some(k), _) => k.to_string(),
        (None, Some(k)) => k,
        (None, None) => {
            return Err(Failure::new(
                exit::VERIFICATION,
                format!("{url}: the hub names no log key; pass --vkey"),
            ));
        }
    };
    Ok(hubclient::open_checkpoint(&note, &vkey)?)
}

/// Checks `cp` against the remembered checkpoint of its log (fetching a
/// consistency proof with `proof` when the log grew), then remembers it.
fn follow_checkpoint(
    dir: &Path,
    cp: &hubclient::OpenedCheckpoint,
    proof: impl FnOnce(u64, u64) -> Result<warden::ConsistencyProof, Failure>,
) -> Result<(), Failure> {
    if let Some(old) = hubclient::remembered_checkpoint(dir, &cp.origin)? {
        let p = if cp.size > old.size {
            Some(proof(old.size, cp.size)?)
        } else {
            None
        };
        hubclient::check_extends(&old, cp, p.as_ref())?;
    }
    hubclient::remember_checkpoint(dir, cp)?;
    Ok(())
}

/// `warden login URL`.
/// How `warden login` gets its token.
pub enum LoginWith<'a> {
    /// Given: a file, the flag or `WARDEN_HUB_TOKEN`.
    Token {
        token: Option<String>,
        token_file: Option<&'a Path>,
    },
    /// The identity provider's device flow, as the hub publishes it.
    Device { issuer: Option<&'a str> },
}

pub fn login(
    g: &Global,
    url: &str,
    how: LoginWith<'_>,
    vkey: Option<&str>,
) -> Result<ExitCode, Failure> {
    refuse_actor(g)?;
    let url = url.trim_end_matches('/').to_string();
    if !hubclient::endpoint_ok(&url) {
        return Err(Failure::new(
            exit::USAGE,
            format!(
                "{url}: a hub is reached over https:// (plain http only on the loopback address)"
            ),
        ));
    }
    let token = match how {
        LoginWith::Token {
            token_file: Some(p),
            ..
        } => std::fs::read_to_string(p)
            .map_err(|e| Failure::new(exit::USAGE, format!("cannot read {}: {e}", p.display())))?
            .trim()
            .to_string(),
        LoginWith::Token {
            token: Some(t),
            token_file: None,
        } => t.trim().to_string(),
        LoginWith::Token {
            token: None,
            token_file: None,
        } => {
            return Err(Failure::new(exit::USAGE, "no token given").with_hint(
                "pass --token-file FILE, set WARDEN_HUB_TOKEN, or log in with --device",
            ));
        }
        LoginWith::Device { issuer } => device_login(&agent(), &url, issuer)?,
    };
    if token.is_empty() {
        return Err(Failure::new(exit::USAGE, "the token is empty"));
    }
    let dir = user_dir()?;
    let a = agent();
    let cp = fetch_checkpoint(&a, &url, vkey)?;
    let s = Session {
        url: url.clone(),
        token,
        vkey: cp.vkey.clone(),
        dir: dir.clone(),
        agent: a,
    };
    // The token must prove someone before it is kept.
    let (_, me) = s.raw_get("/api/v1/whoami")?;
    let who: warden::api::Whoami = typed(&me, "whoami")?;
    s.follow()?;
    let c = Credentials {
        url,
        token: s.token.clone(),
        vkey: s.vkey.clone(),
    };
    let text = serde_json::to_vec_pretty(&c)
        .map_err(|e| Failure::new(exit::ERROR, format!("credentials: {e}")))?;
    write_private(&dir.join(CREDENTIALS), &text)?;
    if g.json {
        output::json(
            &json!({"hub": c.url, "whoami": me, "log_vkey": c.vkey, "log_size": cp.size}),
        )?;
    } else {
        println!(
            "Logged in to {} as {}",
            c.url,
            who.principal.as_deref().unwrap_or("?")
        );
        println!(
            "  log key  {} (every later call checks the hub's checkpoints against it)",
            c.vkey
        );
        println!("  log      {} events at login", cp.size);
    }
    Ok(ExitCode::SUCCESS)
}

fn print(g: &Global, v: &Value, text: impl FnOnce(&Value)) -> Result<ExitCode, Failure> {
    if g.json {
        output::json(v)?;
    } else {
        text(v);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn whoami(g: &Global) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("GET", "/api/v1/whoami", None)?;
    let who: warden::api::Whoami = typed(&v, "whoami")?;
    print(g, &v, |_| {
        println!("{}", who.principal.as_deref().unwrap_or("?"));
        println!("  groups  {}", who.groups.join(", "));
        println!("  roles   {}", who.roles.join(", "));
    })
}

pub fn models(g: &Global, name: Option<&str>) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let path = match name {
        Some(n) => format!("{TEAM}/models/{n}"),
        None => format!("{TEAM}/models"),
    };
    let (_, v) = s.call("GET", &path, None)?;
    let rows: Vec<warden::ModelInfo> = match name {
        Some(_) => typed::<warden::api::ModelOverview>(&v, "a model")?.versions,
        None => typed(&v, "the model list")?,
    };
    print(g, &v, |_| {
        for m in &rows {
            let m = &m.record;
            println!(
                "{}@{}  {}  by {}",
                m.name, m.version, m.digest, m.created_by
            );
        }
    })
}

pub fn promote(g: &Global, r: &VersionRef, env: &str) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let v = r
        .version
        .ok_or_else(|| Failure::new(exit::USAGE, "name the version: MODEL@N"))?;
    let (status, out) = s.call(
        "POST",
        &format!("{TEAM}/models/{}/versions/{v}/promote", r.name),
        Some(&json!({"env": env})),
    )?;
    if status == 409 {
        if g.json {
            output::json(&out)?;
        }
        return Err(Failure::new(
            exit::GATE_DENIED,
            warden::api::ErrorBody::message_of(out)
                .unwrap_or_else(|| "the gate denied it".to_string()),
        ));
    }
    print(g, &out, |_| println!("Promoted {}@{v} to {env}", r.name))
}

/// What the hub publishes about an issuer's device flow.
#[derive(Deserialize)]
struct DeviceIssuer {
    name: String,
    client_id: String,
    device_authorization_endpoint: String,
    token_endpoint: String,
    scope: String,
    token: String,
}

/// RFC 8628 §3.2: the device authorization response.
#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// POSTs a form, returning the status and the JSON answer.
fn post_form(a: &ureq::Agent, url: &str, form: &[(&str, &str)]) -> Result<(u16, Value), Failure> {
    let mut r = a
        .post(url)
        .header("Accept", "application/json")
        .send_form(form.iter().copied())
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    json_answer(url, &mut r, 1 << 20)
}

/// An answer's status and JSON body (at most `limit` bytes).
fn json_answer(
    url: &str,
    r: &mut ureq::http::Response<ureq::Body>,
    limit: u64,
) -> Result<(u16, Value), Failure> {
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    let v: Value = serde_json::from_str(&text).map_err(|_| {
        Failure::new(
            exit::ERROR,
            format!("{url}: answered {status} with something that is not JSON"),
        )
    })?;
    Ok((status, v))
}

/// The OAuth 2.0 device authorization grant (RFC 8628): asks the identity
/// provider the hub names for a code, shows it, and polls until the person
/// approved it in a browser (or it expired or was denied).
fn device_login(a: &ureq::Agent, hub: &str, issuer: Option<&str>) -> Result<String, Failure> {
    let url = format!("{hub}/login/issuers");
    let mut r = a
        .get(&url)
        .call()
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    let (_, answer) = json_answer(&url, &mut r, 1 << 20)?;
    let list: Vec<DeviceIssuer> = serde_json::from_value(answer)
        .map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
    let names = || {
        list.iter()
            .map(|i| i.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match issuer {
        Some(n) => list.iter().find(|i| i.name == n).ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!(
                    "the hub offers no device login for issuer {n:?} (it offers: {})",
                    names()
                ),
            )
        })?,
        None => match list.as_slice() {
            [one] => one,
            [] => {
                return Err(
                    Failure::new(exit::USAGE, "the hub offers no device login").with_hint(
                        "log in with --token-file FILE (a token from your identity provider)",
                    ),
                );
            }
            _ => {
                return Err(Failure::new(
                    exit::USAGE,
                    format!(
                        "the hub offers device login for several issuers: {}",
                        names()
                    ),
                )
                .with_hint("choose one with --issuer NAME"));
            }
        },
    };
    for u in [
        &chosen.device_authorization_endpoint,
        &chosen.token_endpoint,
    ] {
        if !hubclient::endpoint_ok(u) {
            return Err(Failure::new(
                exit::ERROR,
                format!("{u}: an identity provider is reached over https://"),
            ));
        }
    }
    let (status, v) = post_form(
        a,
        &chosen.device_authorization_endpoint,
        &[("client_id", &chosen.client_id), ("scope", &chosen.scope)],
    )?;
    if status != 200 {
        return Err(Failure::new(
            exit::ERROR,
            format!(
                "{}: answered {status}: {}",
                chosen.device_authorization_endpoint,
                v.get("error_description")
                    .or_else(|| v.get("error"))
                    .and_then(Value::as_str)
                    .unwrap_or("no reason given")
            ),
        ));
    }
    let auth: DeviceAuthorization = serde_json::from_value(v).map_err(|e| {
        Failure::new(
            exit::ERROR,
            format!(
                "{}: not a device authorization: {e}",
                chosen.device_authorization_endpoint
            ),
        )
    })?;
    eprintln!(
        "To log in to the hub as yourself, open {} and enter the code {}",
        auth.verification_uri, auth.user_code
    );
    if let Some(c) = &auth.verification_uri_complete {
        eprintln!("  (or open {c})");
    }
    eprintln!(
        "  the code expires in {} s; waiting...",
        auth.expires_in.min(3600)
    );
    // RFC 8628 §3.5: poll no faster than the interval (default 5 s); slow
    // down by 5 s when told to; stop at expiry.
    // The provider's figures are bounded here: at least 1 s between polls,
    // at most 60 s, and no code lives longer than an hour.
    let mut interval = auth.interval.unwrap_or(5).clamp(1, 60);
    let deadline =
        std::time::Instant::now() + std::time::Duration::from_secs(auth.expires_in.min(3600));
    loop {
        std::thread::sleep(std::time::Duration::from_secs(interval));
        if std::time::Instant::now() > deadline {
            return Err(Failure::new(
                exit::NOT_AUTHORISED,
                "the code expired before it was entered",
            )
            .with_hint("run warden login --device again"));
        }
        let (status, v) = post_form(
            a,
            &chosen.token_endpoint,
            &[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &auth.device_code),
                ("client_id", &chosen.client_id),
            ],
        )?;
        if status == 200 {
            return v
                .get(chosen.token.as_str())
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| {
                    Failure::new(
                        exit::ERROR,
                        format!(
                            "{}: the answer has no {}",
                            chosen.token_endpoint, chosen.token
                        ),
                    )
                });
        }
        match v.get("error").and_then(Value::as_str) {
            Some("authorization_pending") => {}
            Some("slow_down") => interval = (interval + 5).min(60),
            Some("access_denied") => {
                return Err(Failure::new(
                    exit::NOT_AUTHORISED,
                    "the login was refused at the identity provider",
                ));
            }
            Some("expired_token") => {
                return Err(Failure::new(
                    exit::NOT_AUTHORISED,
                    "the code expired before it was entered",
                )
                .with_hint("run warden login --device again"));
            }
            other => {
                return Err(Failure::new(
                    exit::ERROR,
                    format!(
                        "{}: answered {status} ({})",
                        chosen.token_endpoint,
                        other.unwrap_or("no error code")
                    ),
                ));
            }
        }
    }
}

/// `warden hub evidence-add MODEL@N`: a report read here (size-checked and
/// parsed as JSON before it is sent), recorded by the hub.
pub fn evidence_add(
    g: &Global,
    r: &VersionRef,
    tool: &str,
    kind: Option<&str>,
    report: &Path,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let v = r
        .version
        .ok_or_else(|| Failure::new(exit::USAGE, "name the version: MODEL@N"))?;
    let meta = std::fs::metadata(report)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", report.display())))?;
    if meta.len() > warden::MAX_EVIDENCE_BYTES {
        return Err(Failure::new(
            exit::ERROR,
            format!(
                "{}: {} bytes, more than the {} a report may have",
                report.display(),
                meta.len(),
                warden::MAX_EVIDENCE_BYTES
            ),
        ));
    }
    let bytes = std::fs::read(report)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", report.display())))?;
    let parsed: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: not JSON: {e}", report.display())))?;
    let mut body = json!({"tool": tool, "report": parsed});
    if let Some(k) = kind {
        body["kind"] = json!(k);
    }
    let (_, out) = s.call(
        "POST",
        &format!("{TEAM}/models/{}/versions/{v}/evidence", r.name),
        Some(&body),
    )?;
    let e: warden::EvidenceInfo = typed(&out, "the evidence upload")?;
    print(g, &out, |_| {
        println!(
            "Recorded evidence {} for {}@{v}: {} finding(s), highest score {}",
            e.record.id,
            r.name,
            e.summary.findings,
            json!(e.summary.max_score)
        )
    })
}

/// `warden hub pipelines [ID]`.
pub fn pipelines(g: &Global, id: Option<u64>) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let path = match id {
        Some(i) => format!("{TEAM}/pipelines/{i}"),
        None => format!("{TEAM}/pipelines"),
    };
    let (_, v) = s.call("GET", &path, None)?;
    let runs: Vec<warden::pipeline::RunReport> = match id {
        Some(_) => vec![typed(&v, "a pipeline run")?],
        None => typed(&v, "the pipeline runs")?,
    };
    print(g, &v, |_| {
        for r in &runs {
            println!(
                "run {}  {}  {}  {} by {}",
                r.id, r.run.pipeline, r.run.status, r.run.started_at, r.created_by
            );
        }
    })
}

/// `warden hub keys-enrol NAME`: a key pair made here, its public half
/// enrolled on the hub under the caller's proven name.
pub fn keys_enrol(
    g: &Global,
    name: &KeyName,
    algorithm: warden::Algorithm,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let path = hubclient::approval_key_path(&s.dir, name);
    let passphrase = super::open_options().passphrase;
    let (pem, key_id) =
        hubclient::new_approval_key(&path, algorithm, passphrase.as_ref().map(|p| p.as_bytes()))?;
    let sent = s.call(
        "POST",
        &format!("{TEAM}/keys"),
        Some(&json!({"name": name, "public_pem": pem})),
    );
    let (_, v) = match sent {
        Ok(x) => x,
        Err(e) => {
            // Nothing was enrolled: no key is left that no record explains.
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
    };
    let out = json!({"key": v, "private_key_path": path.display().to_string(), "key_id": key_id});
    print(g, &out, |_| {
        println!("Enrolled approval key {name} ({key_id})");
        println!("  private half  {} (stays on this machine)", path.display());
        println!("  it counts once an admin acknowledges it: warden hub keys-acknowledge {name}");
    })
}

pub fn keys_acknowledge(g: &Global, name: &KeyName) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("POST", &format!("{TEAM}/keys/{name}/acknowledge"), None)?;
    print(g, &v, |_| println!("Acknowledged key {name}"))
}

/// `warden hub approve MODEL@N --env E --key NAME`: the statement is
/// built from the digest the hub reports, signed here, and sent.
pub fn approve(
    g: &Global,
    r: &VersionRef,
    env: &str,
    key: &KeyName,
    comment: Option<&str>,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let v = r
        .version
        .ok_or_else(|| Failure::new(exit::USAGE, "name the version: MODEL@N"))?;
    let (_, me) = s.call("GET", "/api/v1/whoami", None)?;
    let principal = typed::<warden::api::Whoami>(&me, "whoami")?
        .principal
        .and_then(|p| warden_core::ActorName::new(&p).ok())
        .ok_or_else(|| Failure::new(exit::ERROR, "the hub named no principal"))?;
    let (_, m) = s.call(
        "GET",
        &format!("{TEAM}/models/{}/versions/{v}", r.name),
        None,
    )?;
    let digest = typed::<warden::ModelInfo>(&m, "the model version")?
        .record
        .digest;
    let statement = warden::approval_statement(
        r.name.as_str(),
        v,
        &digest,
        env,
        &principal,
        comment,
        &Timestamp::now(),
    );
    let passphrase = super::open_options().passphrase;
    let (envelope, key_id) = hubclient::sign_approval_with(
        &hubclient::approval_key_path(&s.dir, key),
        passphrase.as_ref().map(|p| p.as_bytes()),
        &statement,
    )?;
    let (_, out) = s.call(
        "POST",
        &format!("{TEAM}/models/{}/versions/{v}/approvals", r.name),
        Some(&json!({"env": env, "envelope": envelope})),
    )?;
    print(g, &out, |_| {
        println!(
            "Approved {}@{v} for {env} as {principal} (key {key}, {key_id})",
            r.name
        )
    })
}

pub fn token_create(
    g: &Global,
    name: &str,
    roles: &[String],
    expires: &str,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call(
        "POST",
        &format!("{TEAM}/tokens"),
        Some(&json!({"name": name, "roles": roles, "expires": expires})),
    )?;
    let issued: warden::api::TokenIssued = typed(&v, "the token request")?;
    if g.json {
        output::json(&v)?;
    } else {
        // The token alone on stdout, so it can be captured; the rest on stderr.
        println!("{}", issued.token);
        eprintln!(
            "Created access token {name} (roles {}, expires {}); it is shown once",
            roles.join(", "),
            issued.record.expires_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn tokens(g: &Global) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("GET", &format!("{TEAM}/tokens"), None)?;
    let list: Vec<warden::AccessTokenRecord> = typed(&v, "the token list")?;
    print(g, &v, |_| {
        for t in &list {
            let state = if t.revoked_at.is_none() {
                "active"
            } else {
                "revoked"
            };
            println!(
                "{}  {}  roles {}  expires {}  last used {}",
                t.name,
                state,
                t.roles
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                t.expires_at,
                t.last_used_at
                    .as_ref()
                    .map_or_else(|| "never".to_string(), |t| t.to_string())
            );
        }
    })
}

pub fn token_revoke(g: &Global, name: &str) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("POST", &format!("{TEAM}/tokens/{name}/revoke"), None)?;
    print(g, &v, |_| println!("Revoked access token {name}"))
}

/// `warden hub apikey-create NAME --role ROLE`.
pub fn apikey_create(
    g: &Global,
    name: &str,
    role: &str,
    expires: Option<&str>,
    rate_limit: Option<f64>,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call(
        "POST",
        &format!("{TEAM}/apikeys"),
        Some(&json!({"name": name, "role": role, "expires": expires, "rate_limit": rate_limit})),
    )?;
    let issued: warden::api::ApiKeyIssued = typed(&v, "the API key request")?;
    if g.json {
        output::json(&v)?;
    } else {
        // The key alone on stdout, so it can be captured; the rest on stderr.
        println!("{}", issued.key);
        eprintln!(
            "Created API key {name} (role {role}, expires {}); it is shown once",
            issued
                .record
                .expires_at
                .as_ref()
                .map_or_else(|| "never".to_string(), ToString::to_string)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `warden hub apikeys`.
pub fn apikeys(g: &Global) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("GET", &format!("{TEAM}/apikeys"), None)?;
    let list: Vec<warden::ApiKeyRecord> = typed(&v, "the API key list")?;
    print(g, &v, |_| {
        for k in &list {
            let state = if k.revoked_at.is_none() {
                "active"
            } else {
                "revoked"
            };
            println!(
                "{}  {}  role {}  expires {}  by {}",
                k.name,
                state,
                k.role,
                k.expires_at
                    .as_ref()
                    .map_or_else(|| "never".to_string(), ToString::to_string),
                k.created_by
            );
        }
    })
}

/// `warden hub apikey-revoke NAME`.
pub fn apikey_revoke(g: &Global, name: &str) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, v) = s.call("POST", &format!("{TEAM}/apikeys/{name}/revoke"), None)?;
    print(g, &v, |_| println!("Revoked API key {name}"))
}

/// `warden hub roles [--grant|--revoke PRINCIPAL --role ROLE]`.
pub fn roles(
    g: &Global,
    grant: Option<&str>,
    revoke: Option<&str>,
    role: Option<&str>,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let change = match (grant, revoke, role) {
        (Some(p), None, Some(r)) => Some(("grant", p, r)),
        (None, Some(p), Some(r)) => Some(("revoke", p, r)),
        (None, None, None) => None,
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                "give --grant or --revoke PRINCIPAL with --role ROLE, or nothing to list",
            ));
        }
    };
    match change {
        Some((what, principal, role)) => {
            let (_, v) = s.call(
                "POST",
                &format!("{TEAM}/roles/{what}"),
                Some(&json!({"principal": principal, "role": role})),
            )?;
            print(g, &v, |_| {
                let verb = if what == "grant" {
                    "Granted"
                } else {
                    "Revoked"
                };
                println!(
                    "{verb} {role} {} {principal}",
                    if what == "grant" { "to" } else { "from" }
                );
            })
        }
        None => {
            let (_, v) = s.call("GET", &format!("{TEAM}/roles"), None)?;
            let report: warden::RolesReport = typed(&v, "the role list")?;
            print(g, &v, |_| {
                for grant in &report.grants {
                    println!("{}  {}", grant.actor, grant.role);
                }
            })
        }
    }
}

/// `warden hub audit`.
pub fn audit(
    g: &Global,
    action: Option<&str>,
    by: Option<&str>,
    limit: u64,
) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let mut query = format!("limit={}", limit.min(1000));
    // Names and actions are plain ASCII words; anything else is refused
    // rather than sent unescaped in a URL.
    for (k, v) in [("action", action), ("actor", by)] {
        if let Some(v) = v {
            if !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
            {
                return Err(Failure::new(
                    exit::USAGE,
                    format!("--{k} {v:?}: not a name"),
                ));
            }
            query.push_str(&format!("&{k}={}", v.replace('+', "%2B")));
        }
    }
    let (_, v) = s.call("GET", &format!("{TEAM}/audit?{query}"), None)?;
    let events: Vec<warden::EventOut> = typed(&v, "the audit log")?;
    print(g, &v, |_| {
        for e in &events {
            println!(
                "{:>6}  {}  {}  {}  {}",
                e.seq, e.time, e.actor, e.action, e.subject
            );
        }
    })
}

// ---------------------------------------------------------------------------
// Uploads

/// One part of an upload: the `request` document or a file.
enum Part<'a> {
    Request(Vec<u8>),
    File(&'static str, &'a Path),
}

/// The SHA-256 of a file, read once through.
fn file_digest(path: &Path) -> Result<String, Failure> {
    use sha2::Digest as _;
    let fail = |e: std::io::Error| Failure::new(exit::ERROR, format!("{}: {e}", path.display()));
    let mut f = std::fs::File::open(path).map_err(fail)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Readers one after another: a multipart body streamed from its files.
struct Chained(std::collections::VecDeque<Box<dyn std::io::Read + Send>>);

impl std::io::Read for Chained {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(r) = self.0.front_mut() {
            let n = r.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            self.0.pop_front();
        }
        Ok(0)
    }
}

impl Session {
    /// POSTs `parts` as a `multipart/form-data` body, streamed from the
    /// files with their length declared; a refusal is a failure with the
    /// hub's message. Then the checkpoint is followed.
    fn upload(&self, path: &str, parts: &[Part<'_>], g: &Global) -> Result<Value, Failure> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce)
            .map_err(|e| Failure::new(exit::ERROR, format!("no randomness: {e}")))?;
        let boundary = format!("warden-upload-{}", hex::encode(nonce));
        let mut body: std::collections::VecDeque<Box<dyn std::io::Read + Send>> =
            std::collections::VecDeque::new();
        let mut length: u64 = 0;
        let mut files: u64 = 0;
        for p in parts {
            let (head, reader, n): (String, Box<dyn std::io::Read + Send>, u64) = match p {
                Part::Request(doc) => (
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"request\"\r\nContent-Type: application/json\r\n\r\n"
                    ),
                    Box::new(std::io::Cursor::new(doc.clone())),
                    doc.len() as u64,
                ),
                Part::File(name, file) => {
                    let fail = |e: std::io::Error| {
                        Failure::new(exit::ERROR, format!("{}: {e}", file.display()))
                    };
                    let f = std::fs::File::open(file).map_err(fail)?;
                    let n = f.metadata().map_err(fail)?.len();
                    files += n;
                    let shown: String = file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                        .chars()
                        .map(|c| {
                            if c == '"' || c == '\\' || c.is_control() {
                                '_'
                            } else {
                                c
                            }
                        })
                        .collect();
                    (
                        format!(
                            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{shown}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                        ),
                        Box::new(f),
                        n,
                    )
                }
            };
            length += head.len() as u64 + n + 2;
            body.push_back(Box::new(std::io::Cursor::new(head.into_bytes())));
            body.push_back(reader);
            body.push_back(Box::new(std::io::Cursor::new(b"\r\n".to_vec())));
        }
        let tail = format!("--{boundary}--\r\n");
        length += tail.len() as u64;
        body.push_back(Box::new(std::io::Cursor::new(tail.into_bytes())));
        let mode = output::Progress::of(g.progress);
        let bar = if g.json || mode != output::Progress::Bar || files < (8 << 20) {
            indicatif::ProgressBar::hidden()
        } else {
            let bar = indicatif::ProgressBar::with_draw_target(
                Some(length),
                indicatif::ProgressDrawTarget::stderr(),
            );
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "upload {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        };
        let reader = bar.wrap_read(Chained(body));
        // An upload is as long as the file: no overall time limit, but
        // the hub must answer within an hour of the last byte.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_recv_response(Some(std::time::Duration::from_secs(3600)))
            .timeout_connect(Some(std::time::Duration::from_secs(30)))
            .max_redirects(0)
            .build()
            .into();
        let url = format!("{}{path}", self.url);
        let sent = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            )
            .header("Content-Length", &length.to_string())
            // The hub answers a refusal (roles, size) before the body is
            // sent, instead of cutting the connection under it.
            .header("Expect", "100-continue")
            .send(ureq::SendBody::from_owned_reader(reader));
        bar.finish_and_clear();
        let mut r = sent.map_err(|e| Failure::new(exit::ERROR, format!("{url}: {e}")))?;
        let (status, v) = json_answer(&url, &mut r, 64 << 20)?;
        self.follow()?;
        if status == 422
            && let Some(list) = v.get("expectations").and_then(Value::as_array)
        {
            for e in list.iter().filter(|e| e["passed"] == json!(false)) {
                eprintln!(
                    "  {} {}: observed {}",
                    e["column"].as_str().unwrap_or("?"),
                    e["expectation"].as_str().unwrap_or("?"),
                    e["observed"].as_str().unwrap_or("?")
                );
            }
        }
        refused(status, v).map(|(_, v)| v)
    }
}

/// What `warden hub ingest` is told, besides the file.
pub struct IngestArgs {
    pub name: String,
    pub pin: bool,
    pub schema: Option<PathBuf>,
    pub pii_policy: Option<PathBuf>,
    pub request: warden::api::DatasetUpload,
}

/// `warden hub ingest FILE --name N …`.
pub fn ingest(g: &Global, file: &Path, a: IngestArgs) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    warden_core::ObjectName::new(&a.name)
        .map_err(|e| Failure::new(exit::USAGE, format!("--name: {e}")))?;
    let mut req = a.request;
    req.sha256 = file_digest(file)?;
    req.pin = a.pin;
    req.source = file.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut parts = Vec::new();
    if let Some(p) = &a.schema {
        req.schema_sha256 = Some(file_digest(p)?);
    }
    if let Some(p) = &a.pii_policy {
        req.pii_policy_sha256 = Some(file_digest(p)?);
    }
    let doc = serde_json::to_vec(&req).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    parts.push(Part::Request(doc));
    if let Some(p) = &a.schema {
        parts.push(Part::File("schema", p));
    }
    if let Some(p) = &a.pii_policy {
        parts.push(Part::File("pii_policy", p));
    }
    parts.push(Part::File("data", file));
    let out = s.upload(&format!("{TEAM}/datasets/{}/versions", a.name), &parts, g)?;
    if let Some(list) = out.get("warnings").and_then(Value::as_array) {
        for w in list.iter().filter_map(Value::as_str) {
            eprintln!("warning: {w}");
        }
    }
    print(g, &out, |v| {
        let d = &v["dataset"];
        println!(
            "Recorded {}@{} on the hub ({} rows, {} columns)",
            d["name"].as_str().unwrap_or("?"),
            d["version"],
            d["rows"],
            v["report"]["output_columns"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0)
        );
        println!(
            "  source   {} ({} bytes)",
            v["report"]["source_digest"].as_str().unwrap_or("?"),
            v["report"]["source_bytes"]
        );
        println!("  dataset  {}", d["digest"].as_str().unwrap_or("?"));
        if let Some(u) = v["report"]["pii"]["unmasked"].as_array()
            && !u.is_empty()
        {
            let names: Vec<&str> = u.iter().filter_map(Value::as_str).collect();
            println!("  UNMASKED PII kept: {}", names.join(", "));
        }
    })
}

/// What `warden hub import` is told, besides the file.
pub struct ImportArgs {
    pub name: String,
    pub schema: PathBuf,
    pub check: Option<PathBuf>,
    pub check_tolerance: Option<f64>,
    pub dataset: Option<String>,
}

/// `warden hub import FILE --name N --schema S …`.
pub fn import(g: &Global, file: &Path, a: ImportArgs) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    warden_core::ObjectName::new(&a.name)
        .map_err(|e| Failure::new(exit::USAGE, format!("--name: {e}")))?;
    if let Some(d) = &a.dataset {
        d.parse::<VersionRef>()
            .map_err(|e| Failure::new(exit::USAGE, format!("--dataset: {e}")))?;
    }
    let req = warden::api::ModelUpload {
        sha256: file_digest(file)?,
        schema_sha256: file_digest(&a.schema)?,
        check_sha256: a.check.as_deref().map(file_digest).transpose()?,
        check_tolerance: a.check_tolerance,
        dataset: a.dataset.clone(),
    };
    let doc = serde_json::to_vec(&req).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    let mut parts = vec![Part::Request(doc), Part::File("schema", &a.schema)];
    if let Some(c) = &a.check {
        parts.push(Part::File("check", c));
    }
    parts.push(Part::File("model", file));
    let out = s.upload(&format!("{TEAM}/models/{}/versions", a.name), &parts, g)?;
    print(g, &out, |v| {
        let m = &v["model"];
        println!(
            "Imported {}@{} on the hub ({}, {})",
            m["name"].as_str().unwrap_or("?"),
            m["version"],
            v["engine"].as_str().unwrap_or("?"),
            v["source_digest"].as_str().unwrap_or("?")
        );
        if let Some(c) = v.get("check").filter(|c| !c.is_null()) {
            println!(
                "  check    {} rows reproduced (largest difference {})",
                c["rows"], c["max_abs_diff"]
            );
        }
    })
}

/// `warden hub rollback MODEL --env E`.
pub fn rollback(g: &Global, model: &str, env: &str) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    warden_core::ObjectName::new(model)
        .map_err(|e| Failure::new(exit::USAGE, format!("MODEL: {e}")))?;
    let (_, out) = s.call(
        "POST",
        &format!("{TEAM}/models/{model}/rollback"),
        Some(&json!({"env": env})),
    )?;
    print(g, &out, |v| {
        let from = v["from"]
            .as_u64()
            .map_or_else(|| "nothing".to_string(), |f| format!("{model}@{f}"));
        println!("Rolled {env} back from {from} to {model}@{}", v["to"]);
    })
}

/// `warden hub quarantine MODEL@N --reason R`.
pub fn quarantine(g: &Global, r: &VersionRef, reason: &str) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let v = r
        .version
        .ok_or_else(|| Failure::new(exit::USAGE, "name the version: MODEL@N"))?;
    let (_, out) = s.call(
        "POST",
        &format!("{TEAM}/models/{}/versions/{v}/quarantine", r.name),
        Some(&json!({"reason": reason})),
    )?;
    let q: warden::api::Quarantined = typed(&out, "the quarantine")?;
    print(g, &out, |_| {
        println!("Quarantined {}@{v}: {}", r.name, q.quarantine.reason);
        if !q.removed_from.is_empty() {
            println!("  removed from {}", q.removed_from.join(", "));
        }
    })
}

/// `warden hub keys`: the hub's trust store (public keys only).
pub fn keys(g: &Global) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let (_, out) = s.call("GET", &format!("{TEAM}/keys"), None)?;
    let list = out
        .as_array()
        .ok_or_else(|| Failure::new(exit::ERROR, "hub: the key list is not a list"))?
        .clone();
    print(g, &out, |_| {
        for k in &list {
            let text = |f: &str| k[f].as_str().unwrap_or("-").to_string();
            let state = if k["revoked"] == json!(true) {
                "revoked"
            } else if k["purpose"] == json!("approval") && k["acknowledged_by"].is_null() {
                "awaiting acknowledgement"
            } else {
                "active"
            };
            println!(
                "{}  {}  {}  owner {}  {state}",
                text("name"),
                text("algorithm"),
                text("key_id"),
                text("owner")
            );
        }
    })
}

/// `warden hub evidence MODEL@N`: the reports bound to a version.
pub fn evidence(g: &Global, r: &VersionRef) -> Result<ExitCode, Failure> {
    let s = Session::load(g)?;
    let v = r
        .version
        .ok_or_else(|| Failure::new(exit::USAGE, "name the version: MODEL@N"))?;
    let (_, out) = s.call(
        "GET",
        &format!("{TEAM}/models/{}/versions/{v}/evidence", r.name),
        None,
    )?;
    let list: Vec<warden::EvidenceInfo> = typed(&out, "the evidence list")?;
    print(g, &out, |_| {
        if list.is_empty() {
            println!("No evidence recorded for {}@{v}", r.name);
        }
        for e in &list {
            println!(
                "{}  {}  {} finding(s), highest score {}",
                e.record.id,
                e.record.tool,
                e.summary.findings,
                json!(e.summary.max_score)
            );
        }
    })
}
