//! The guardrails every request to a non-public route passes, in order:
//! authentication (an API key, or a bearer JWT when `[jwt]` is configured;
//! on the hub an identity token or a personal access token), authorisation
//! (the Rego policy's answer for the caller's roles; the control API's
//! operations are authorised by the engine instead), the caller's rate
//! limit, the declared body size, the concurrency limit; then the handler
//! under a timeout, with the body size enforced again as it is read. Every
//! response, public routes' included, gets security headers, a metrics
//! sample and one access-log line (no payloads, no keys).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;
use warden::KeyRejection;
use warden_core::{Action, Timestamp};

use crate::Shared;
use crate::config::RateLimit;
use crate::metrics::{KeyLabels, ReasonLabels};

/// One access-log line (no payloads, no credentials), written as the
/// request goes: what was asked before admission, who asked during it
/// (while the snapshot that holds the caller is borrowed, so the caller is
/// never copied for the log), the outcome at the end. What the request
/// brings (method, path, caller) goes through serde_json's escaping; field
/// names, the route and the refusal reason are this module's own
/// constants, and a timestamp's text is RFC 3339 digits and punctuation,
/// so those are written as they are.
struct AccessLine {
    buf: Vec<u8>,
    caller: bool,
}

impl AccessLine {
    fn start(now: &Timestamp, method: &str, path: &str, route: &'static str) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(br#"{"event":"access","time":""#);
        buf.extend_from_slice(now.as_str().as_bytes());
        buf.extend_from_slice(br#"","method":"#);
        let mut line = AccessLine { buf, caller: false };
        line.value(method);
        line.buf.extend_from_slice(br#","path":"#);
        line.value(path);
        line.buf.extend_from_slice(br#","route":""#);
        line.buf.extend_from_slice(route.as_bytes());
        line.buf.push(b'"');
        line
    }

    fn value<T: serde::Serialize + ?Sized>(&mut self, v: &T) {
        // Writing to a Vec fails only on a value that cannot be
        // serialised; none of these can.
        let _ = serde_json::to_writer(&mut self.buf, v);
    }

    /// The authenticated caller, refused or not.
    fn caller(&mut self, name: &str, roles: &[String]) {
        self.buf.extend_from_slice(br#","client":"#);
        self.value(name);
        self.buf.extend_from_slice(br#","roles":"#);
        self.value(roles);
        self.caller = true;
    }

    fn finish(mut self, status: u16, ms: f64, rejected: Option<&'static str>) -> Option<String> {
        if !self.caller {
            self.buf
                .extend_from_slice(br#","client":null,"roles":null"#);
        }
        self.buf.extend_from_slice(br#","status":"#);
        self.value(&status);
        self.buf.extend_from_slice(br#","ms":"#);
        self.value(&ms);
        match rejected {
            Some(r) => {
                self.buf.extend_from_slice(br#","rejected":""#);
                self.buf.extend_from_slice(r.as_bytes());
                self.buf.extend_from_slice(br#""}"#);
            }
            None => self.buf.extend_from_slice(br#","rejected":null}"#),
        }
        String::from_utf8(self.buf).ok()
    }
}

/// Who is calling, once authenticated (put in the request's extensions).
/// Shared, not owned: an API key's client is built once per snapshot and
/// each request takes a reference to it rather than copying three strings.
#[derive(Clone, Debug)]
pub struct Client {
    /// The API key's name, `jwt:` and the token's subject, or (on the hub)
    /// the principal's actor name.
    pub name: Arc<str>,
    /// The roles the credential carries: an API key's one role, or those a
    /// JWT's roles claim lists. Empty for a hub principal.
    pub roles: Arc<[String]>,
    /// On the hub: the principal's groups (`group.NAME`).
    pub groups: Arc<[String]>,
    /// Whether `name` is a hub principal, whose roles are the workspace's
    /// grants to it and its groups rather than `roles`.
    pub principal: bool,
    /// A personal access token's scope: the principal's roles count only
    /// within it. `None` for an identity token.
    pub role_cap: Option<Arc<[String]>>,
}

impl Client {
    /// A caller whose credential carries its own roles (an API key, or a
    /// JWT outside the hub): no groups, not a principal, no role cap.
    pub fn new(name: impl Into<Arc<str>>, roles: Vec<String>) -> Self {
        Client {
            name: name.into(),
            roles: roles.into(),
            groups: Arc::new([]),
            principal: false,
            role_cap: None,
        }
    }

    /// A hub principal proven by a token.
    pub fn principal(id: &crate::hub::HubIdentity) -> Self {
        Client {
            name: id.principal.as_str().into(),
            roles: Arc::new([]),
            groups: id.groups.iter().map(|g| g.to_string()).collect(),
            principal: true,
            role_cap: None,
        }
    }

    /// A hub principal acting through a personal access token: no groups
    /// (a token is the person's, not their identity provider's session),
    /// and roles within the token's scope.
    pub fn token(rec: &warden::AccessTokenRecord) -> Self {
        Client {
            name: rec.owner.as_str().into(),
            roles: Arc::new([]),
            groups: Arc::new([]),
            principal: true,
            role_cap: Some(rec.roles.iter().map(|r| r.to_string()).collect()),
        }
    }
}

/// An API key's caller as the snapshot holds it: who, at what rate, and
/// the key's bucket, resolved once per snapshot so a request neither
/// copies the caller nor looks its bucket up under a lock.
pub struct KeyCaller {
    /// The key's name and its one role.
    pub client: Client,
    /// The rate limit in force: the key's own requests per second if it
    /// has one, else its role's, else the default.
    pub limit: RateLimit,
    /// The key's token bucket at `limit`, the same one [`Limiters`] holds,
    /// so it carries over from one snapshot to the next.
    pub limiter: Arc<DefaultDirectRateLimiter>,
}

impl KeyCaller {
    /// Resolves a key record's caller, limit and bucket: the bucket the
    /// key already has in `limiters` if its limit is unchanged, else a
    /// new, full one.
    pub fn new(cfg: &crate::ServeConfig, limiters: &Limiters, rec: &warden::ApiKeyRecord) -> Self {
        let client = Client::new(rec.name.as_str(), vec![rec.role.clone()]);
        let limit = limit_for(cfg, &client.roles, rec.rate_limit);
        let limiter = limiters.get(&rec.id, limit);
        KeyCaller {
            client,
            limit,
            limiter,
        }
    }
}

/// The most generous of the caller's roles' limits (a key's own limit
/// replaces its role's).
fn limit_for(cfg: &crate::ServeConfig, roles: &[String], own: Option<f64>) -> RateLimit {
    roles
        .iter()
        .map(|r| cfg.rate_limit_for(r, own))
        .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        .unwrap_or(cfg.default_rate_limit)
}

/// The concurrency limit: requests in flight, one atomic counter. The
/// guard never waits for a place (over the limit is 503 at once), so it
/// needs no queue of waiters — tokio's semaphore takes a lock on every
/// release to look for one.
pub struct InFlight {
    n: AtomicUsize,
    max: usize,
}

impl InFlight {
    /// A limit of `max` requests in flight at once, none taken.
    pub fn new(max: usize) -> Self {
        InFlight {
            n: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a place; false at the limit (and nothing taken).
    fn take(&self) -> bool {
        if self.n.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.n.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn give_back(&self) {
        self.n.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One rate limiter per key, rebuilt if the key's limit changes. Lookups
/// take a read lock; only a new caller or a changed limit writes.
#[derive(Default)]
pub struct Limiters(RwLock<HashMap<String, (RateLimit, Arc<DefaultDirectRateLimiter>)>>);

type Verdict = Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>;

impl Limiters {
    /// Takes one token from the caller's bucket.
    pub(crate) fn check(&self, key_id: &str, limit: RateLimit) -> Verdict {
        self.get(key_id, limit).check()
    }

    /// The bucket for `key_id` at `limit`: the one it has if the limit is
    /// unchanged, else a new, full one.
    pub fn get(&self, key_id: &str, limit: RateLimit) -> Arc<DefaultDirectRateLimiter> {
        {
            let map = self.0.read().unwrap_or_else(|p| p.into_inner());
            if let Some((l, r)) = map.get(key_id)
                && *l == limit
            {
                return r.clone();
            }
        }
        let mut map = self.0.write().unwrap_or_else(|p| p.into_inner());
        if let Some((l, r)) = map.get(key_id)
            && *l == limit
        {
            return r.clone();
        }
        let period = Duration::from_secs_f64(1.0 / limit.per_second);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        let r = Arc::new(RateLimiter::direct(quota));
        // Callers are keys and token subjects; if their number ever grows
        // past this, start the buckets afresh rather than grow without end.
        if map.len() >= 100_000 {
            map.clear();
        }
        map.insert(key_id.to_string(), (limit, r.clone()));
        r
    }
}

/// What a route needs from a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Nothing (the health probes).
    Public,
    /// A credential; the engine asks the policy per operation (the
    /// control API).
    Authenticated,
    /// A credential whose roles the policy allows this action.
    Needs(Action),
}

/// The route a path belongs to (a bounded label set for metrics) and what
/// it needs.
pub fn classify(path: &str, public_metrics: bool) -> (&'static str, Access) {
    use Access::*;
    match path {
        "/v2/health/live" => ("health_live", Public),
        "/v2/health/ready" => ("health_ready", Public),
        "/metrics" if public_metrics => ("metrics", Public),
        "/metrics" => ("metrics", Needs(Action::ServeMetrics)),
        "/v2" => ("server_metadata", Needs(Action::ServePredict)),
        "/openapi.json" => ("openapi", Needs(Action::ServePredict)),
        p if p.starts_with("/v2/models/") && p.ends_with("/infer") => {
            ("infer", Needs(Action::ServePredict))
        }
        p if p.starts_with("/v2/models/") && p.ends_with("/ready") => {
            ("model_ready", Needs(Action::ServePredict))
        }
        p if p.starts_with("/v2/models/") => ("model_metadata", Needs(Action::ServePredict)),
        p if p.starts_with("/v1/models/") => ("predict", Needs(Action::ServePredict)),
        p if p.starts_with("/api/v1/") => ("control", Authenticated),
        _ => ("other", Needs(Action::ServePredict)),
    }
}

/// The hub's routes: health and the checkpoint are open, everything else
/// needs a verified identity (the engine asks the policy per operation;
/// consistency proofs need no role).
pub fn classify_hub(path: &str) -> (&'static str, Access) {
    use Access::*;
    match path {
        "/v2/health/live" => ("health_live", Public),
        "/v2/health/ready" => ("health_ready", Public),
        "/checkpoint" => ("checkpoint", Public),
        "/login/issuers" => ("login_issuers", Public),
        "/openapi.json" => ("openapi", Public),
        // Any verified caller, whatever their roles (no role is needed to
        // check the log), but rate-limited and counted like every call: a
        // proof costs a pass over the leaves.
        "/log/consistency" => ("log_consistency", Authenticated),
        // A new dataset or model version: a streamed upload, with the
        // hub's upload limits instead of the request's.
        p if p.starts_with("/api/v1/teams/") && p.ends_with("/versions") => {
            ("upload", Authenticated)
        }
        p if p.starts_with("/api/v1/") => ("control", Authenticated),
        // The console's way in (the login page, the identity provider's
        // redirect back, the embedded assets) is open; its pages need the
        // session cookie (see `console`).
        "/console/login" | "/console/callback" => ("console_login", Public),
        p if p.starts_with("/console/login/") => ("console_login", Public),
        p if p.starts_with("/console/assets/") => ("console_asset", Public),
        "/console" => ("console_login", Public),
        p if p.starts_with("/console/") => ("console", Authenticated),
        _ => ("other", Authenticated),
    }
}

/// A JSON error response: `{"error": message}` (the Open Inference
/// Protocol's error shape, used on every route).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The API key a request presents: `Authorization: Bearer KEY` or
/// `X-API-Key: KEY`.
fn presented_key(h: &HeaderMap, console: bool) -> Option<&str> {
    // A console page is opened by the browser's session cookie, and only
    // by it: a console route never reads a bearer header, and no API route
    // reads the cookie, so a page can be forged neither by a script's
    // header nor by a cross-site form's cookie (see `console`).
    if console {
        return crate::console::session_token(h);
    }
    if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
        return None;
    }
    // A header name built once: looking one up by `&str` parses it again.
    const X_API_KEY: header::HeaderName = header::HeaderName::from_static("x-api-key");
    h.get(X_API_KEY)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

struct Rejection {
    reason: &'static str,
    response: Response,
}

fn reject(reason: &'static str, status: StatusCode, message: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        response: error(status, message),
    }
}

impl Rejection {
    /// The refusal with a header telling the client what to do next.
    fn with(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.response.headers_mut().insert(name, value);
        self
    }
}

/// Authentication, authorisation, rate limit, declared size, concurrency.
/// Admitted, the request holds a place in [`InFlight`] that the caller
/// must give back. The authenticated caller goes into the access line,
/// refused or not; a copy of it is returned only when `attach` says the
/// route needs it (the control API acts as the caller, the monitor
/// attributes traffic), asked once the request is admitted.
/// The largest body and the longest time a request on `route` may take:
/// an upload to the hub gets the hub's upload limits, anything else the
/// server's request limits.
fn limits_of(s: &Shared, route: &str) -> (u64, std::time::Duration) {
    match (&s.cfg.hub, route) {
        (Some(h), "upload") => (h.max_upload_bytes, h.upload_timeout),
        _ => (s.cfg.max_body_bytes as u64, s.cfg.request_timeout),
    }
}

fn admit(
    s: &Shared,
    req: &Request,
    body_limit: u64,
    action: Option<Action>,
    now: &Timestamp,
    line: &mut AccessLine,
    attach: impl FnOnce() -> bool,
) -> Result<Option<Client>, Rejection> {
    let snap = s.current.get();
    let unauthenticated = |msg: &str| {
        reject("unauthenticated", StatusCode::UNAUTHORIZED, msg)
            .with(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    };
    // A console page (hub only) is opened by the session cookie; without
    // a valid one the browser is sent to the login page.
    let console = s.hub.is_some() && req.uri().path().starts_with("/console/");
    let to_login = || Rejection {
        reason: "unauthenticated",
        response: crate::console::to_login(),
    };
    // A hub service account: no token, and the connection's verified
    // client certificate is one `hub.toml` names.
    let presented = presented_key(req.headers(), console);
    let service_account = match (&s.cfg.hub, presented, console) {
        (Some(hub), None, false) => req
            .extensions()
            .get::<crate::conn::PeerCertificate>()
            .and_then(|p| hub.service_account(&p.0)),
        _ => None,
    };
    // API keys carry their prefix; anything else is a JWT when JWTs are on.
    // A token's caller is built for the request; a key's is the snapshot's.
    let owned;
    let (client, limit, verdict) = if let Some(id) = service_account {
        owned = Client::principal(&id);
        let limit = s.cfg.default_rate_limit;
        let verdict = s.limiters.check(&format!("hub:{}", owned.name), limit);
        (&owned, limit, verdict)
    } else {
        let Some(presented) = presented else {
            if console {
                return Err(to_login());
            }
            return Err(unauthenticated(
                "an API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            ));
        };
        match (&s.hub, &s.jwt) {
            (Some(hub), _) => {
                if console {
                    let id = hub.identify(presented).map_err(|_| to_login())?;
                    owned = Client::principal(&id);
                } else if presented.starts_with(warden::API_KEY_PREFIX) {
                    return Err(unauthenticated(
                        "inference API keys do not open the hub; present an identity token",
                    ));
                } else if presented.starts_with(warden::TOKEN_PREFIX) {
                    let verifier = snap
                        .tokens
                        .as_ref()
                        .ok_or_else(|| unauthenticated("invalid access token"))?;
                    let rec = verifier.verify(presented, now).map_err(|e| {
                        unauthenticated(match e {
                            KeyRejection::Revoked => "this access token has been revoked",
                            KeyRejection::Expired => "this access token has expired",
                            _ => "invalid access token",
                        })
                    })?;
                    s.note_token_use(&rec.id);
                    owned = Client::token(rec);
                } else {
                    let id = hub.identify(presented).map_err(unauthenticated)?;
                    owned = Client::principal(&id);
                }
                let limit = s.cfg.default_rate_limit;
                let verdict = s.limiters.check(&format!("hub:{}", owned.name), limit);
                (&owned, limit, verdict)
            }
            (None, Some(jwt)) if !presented.starts_with(warden::API_KEY_PREFIX) => {
                let id = jwt.load().verify(presented).map_err(unauthenticated)?;
                let sub: String = id.subject.chars().take(128).collect();
                owned = Client::new(format!("jwt:{sub}"), id.roles);
                let limit = limit_for(&s.cfg, &owned.roles, None);
                let verdict = s.limiters.check(&format!("jwt:{}", id.subject), limit);
                (&owned, limit, verdict)
            }
            _ => {
                let rec = snap.keys.verify(presented, now).map_err(|e| {
                if e == KeyRejection::Blocked {
                    return reject(
                        "blocked",
                        StatusCode::FORBIDDEN,
                        "this API key is blocked; an operator can lift the block (`warden apikey unblock NAME`)",
                    );
                }
                unauthenticated(match e {
                    KeyRejection::Revoked => "this API key has been revoked",
                    KeyRejection::Expired => "this API key has expired",
                    _ => "invalid API key",
                })
            })?;
                // The verifier and the callers come from one read of the
                // store, so a verified key has a caller; if not, fail closed.
                let c = snap
                    .callers
                    .get(rec.id.as_str())
                    .ok_or_else(|| unauthenticated("invalid API key"))?;
                (&c.client, c.limit, c.limiter.check())
            }
        }
    };
    if client.principal {
        line.caller(&client.name, &client.groups);
    } else {
        line.caller(&client.name, &client.roles);
    }
    if let Some(action) = action
        && !client.roles.iter().any(|r| snap.allows(r, action))
    {
        let who = match &*client.roles {
            [] => "a caller with no role".to_string(),
            [one] => format!("role {one}"),
            many => format!("roles {}", many.join(", ")),
        };
        return Err(reject(
            "forbidden",
            StatusCode::FORBIDDEN,
            format!("{who} may not {action}"),
        ));
    }
    if let Err(not_until) = verdict {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        s.metrics
            .rate_limited
            .get_or_create(&KeyLabels {
                key: client.name.to_string(),
            })
            .inc();
        return Err(reject(
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit of {} requests per second exceeded; retry after {} s",
                limit.per_second,
                secs.max(1)
            ),
        )
        .with(header::RETRY_AFTER, HeaderValue::from(secs.max(1))));
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > body_limit
    {
        return Err(reject(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body of {n} bytes exceeds the limit of {body_limit} bytes"),
        ));
    }
    if !s.inflight.take() {
        return Err(reject(
            "busy",
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its concurrency limit; retry shortly",
        )
        .with(header::RETRY_AFTER, HeaderValue::from_static("1")));
    }
    Ok(attach().then(|| client.clone()))
}

/// At most `n` bytes of `s`, cut on a character boundary.
fn bounded(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The headers OWASP's REST guidance asks of an API response (HSTS is
/// added when serving TLS).
fn secure(h: &mut HeaderMap, tls: bool) {
    // Header names as constants: inserting by string would parse and
    // validate each name on every response. No `reserve`: a handler's map
    // (content type alone) has room for these six, and reserving more
    // would reallocate and rehash it on every response.
    for (k, v) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
    }
    // The console's pages set their own (a stricter one for pages with a
    // script, long caching for content-addressed assets).
    for (k, v) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.entry(k).or_insert(HeaderValue::from_static(v));
    }
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    if h.get(header::CONTENT_TYPE).is_none() {
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
}

/// The guard as a service in front of the router.
#[derive(Clone)]
pub struct Guarded {
    inner: axum::Router,
    shared: Arc<Shared>,
}

impl Guarded {
    /// Puts the guard in front of `inner` (the inference routes, or the
    /// hub's), with the settings, snapshot, limits, metrics and log of
    /// `shared`.
    pub fn new(inner: axum::Router, shared: Arc<Shared>) -> Self {
        Guarded { inner, shared }
    }
}

impl tower_service::Service<Request> for Guarded {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = GuardFuture;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // The router is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    /// Admission runs here, before any future exists: it never waits, a
    /// refused request is answered without one, and an admitted request
    /// is routed through the router this service holds rather than a copy.
    fn call(&mut self, mut req: Request) -> Self::Future {
        let start = Instant::now();
        let now = Timestamp::now();
        let s = &*self.shared;
        let (route, access) = if s.hub.is_some() {
            classify_hub(req.uri().path())
        } else {
            classify(req.uri().path(), s.cfg.public_metrics)
        };
        let mut line = AccessLine::start(
            &now,
            req.method().as_str(),
            bounded(req.uri().path(), 200),
            route,
        );
        // The control API acts as the caller; the monitor attributes
        // traffic to it. A predict route's request is observed only within
        // the monitor's budget; the route hands it over only if the client
        // is attached. Nothing else needs the caller in the request.
        let observed = || {
            access == Access::Authenticated
                || (route == "predict" || route == "infer")
                    && s.monitor.get().is_some_and(|m| m.admit())
        };
        let (body_limit, time_limit) = limits_of(s, route);
        let admitted = match access {
            Access::Public => Ok(None),
            Access::Authenticated => {
                admit(s, &req, body_limit, None, &now, &mut line, observed).map(Some)
            }
            Access::Needs(a) => {
                admit(s, &req, body_limit, Some(a), &now, &mut line, observed).map(Some)
            }
        };
        let holds_place = match admitted {
            Err(r) => {
                let resp = done(s, start, route, line, Some(r.reason), r.response);
                return GuardFuture::Answered(Some(resp));
            }
            Ok(None) => false,
            Ok(Some(client)) => {
                if let Some(c) = client {
                    req.extensions_mut().insert(c);
                }
                true
            }
        };
        // The body limit the extractors enforce (413 past it), set on the
        // request here rather than as a layer on every route.
        axum::extract::DefaultBodyLimit::max(usize::try_from(body_limit).unwrap_or(usize::MAX))
            .apply(&mut req);
        let deadline = start + time_limit;
        let place = Place {
            shared: self.shared.clone(),
            held: holds_place,
        };
        let call = tower_service::Service::call(&mut self.inner, req);
        GuardFuture::Running(Running {
            call,
            timer: None,
            deadline,
            start,
            route,
            line: Some(line),
            place,
        })
    }
}

/// A request's future: answered at once (refused), or the router's
/// future under the request timeout; either way the response then gets
/// its security headers, metrics and access line. A named type rather
/// than a boxed `async` block, so the connection keeps it in a slot of its
/// own and a request allocates no future.
// Boxing the large variant would bring back the allocation per request
// this type exists to avoid; the refused variant's spare bytes cost nothing.
#[allow(clippy::large_enum_variant)]
pub enum GuardFuture {
    /// Refused at admission: the refusal, taken by the first poll.
    Answered(Option<Response>),
    /// Admitted: the router's future, under the request timeout.
    Running(Running),
}

/// An admitted request in the router.
pub struct Running {
    call: axum::routing::future::RouteFuture<std::convert::Infallible>,
    /// Armed only for a request that did not complete on its first poll
    /// (nearly every request does: the body is in hand and the handlers
    /// compute without waiting), so most requests never touch the timer
    /// wheel.
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    deadline: Instant,
    start: Instant,
    route: &'static str,
    /// Taken when the response is built.
    line: Option<AccessLine>,
    place: Place,
}

impl std::future::Future for GuardFuture {
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let run = match self.get_mut() {
            GuardFuture::Answered(r) => {
                // Polled again after its answer (a caller's mistake): an
                // error rather than a panic.
                return Poll::Ready(Ok(r.take().unwrap_or_else(|| {
                    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                })));
            }
            GuardFuture::Running(run) => run,
        };
        let (reason, resp) = match std::pin::Pin::new(&mut run.call).poll(cx) {
            Poll::Ready(Ok(r)) => (None, r),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let deadline = tokio::time::Instant::from_std(run.deadline);
                let timer = run
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(()) => (
                        Some("timeout"),
                        error(StatusCode::SERVICE_UNAVAILABLE, "the request timed out"),
                    ),
                }
            }
        };
        run.place.give_back();
        let Some(line) = run.line.take() else {
            return Poll::Ready(Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            )));
        };
        Poll::Ready(Ok(done(
            &run.place.shared,
            run.start,
            run.route,
            line,
            reason,
            resp,
        )))
    }
}

/// An admitted request's place in flight, held by its future and given
/// back when the handler is done — or when the future is dropped (a client
/// that hangs up mid-request).
struct Place {
    shared: Arc<Shared>,
    held: bool,
}

impl Place {
    fn give_back(&mut self) {
        if std::mem::take(&mut self.held) {
            self.shared.inflight.give_back();
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.give_back();
    }
}

/// What every response gets: the reason it counts as refused (from its
/// status, if the guard did not refuse it), security headers, metrics and
/// the access line.
fn done(
    s: &Shared,
    start: Instant,
    route: &'static str,
    line: AccessLine,
    mut reason: Option<&'static str>,
    mut resp: Response,
) -> Response {
    let status = resp.status();
    if reason.is_none() {
        reason = match status {
            StatusCode::PAYLOAD_TOO_LARGE => Some("too_large"),
            StatusCode::UNPROCESSABLE_ENTITY | StatusCode::BAD_REQUEST => Some("invalid"),
            StatusCode::NOT_FOUND => Some("not_found"),
            _ => None,
        };
    }
    secure(resp.headers_mut(), s.cfg.tls.is_some());
    let elapsed = start.elapsed();
    s.metrics
        .observe_request(route, status.as_u16(), elapsed.as_secs_f64());
    if let Some(r) = reason {
        s.metrics
            .rejections
            .get_or_create(&ReasonLabels { reason: r })
            .inc();
    }
    let ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    if let Some(text) = line.finish(status.as_u16(), ms, reason) {
        (s.log)(text);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: Option<String>) -> serde_json::Value {
        let text = line.expect("utf-8 line");
        serde_json::from_str(&text).expect("one JSON object")
    }

    #[test]
    fn an_access_line_is_one_json_object_with_every_field() {
        let now = Timestamp::parse("2026-11-27T10:00:00.000001Z").expect("time");
        let mut line = AccessLine::start(&now, "POST", "/v1/models/a\"b\\c\n:predict", "predict");
        line.caller("web \"front\"", &["predictor".to_string()]);
        let v = parse(line.finish(200, 0.125, None));
        assert_eq!(v["event"], "access");
        assert_eq!(v["time"], "2026-11-27T10:00:00.000001Z");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["path"], "/v1/models/a\"b\\c\n:predict");
        assert_eq!(v["route"], "predict");
        assert_eq!(v["client"], "web \"front\"");
        assert_eq!(v["roles"], serde_json::json!(["predictor"]));
        assert_eq!(v["status"], 200);
        assert_eq!(v["ms"], 0.125);
        assert!(v["rejected"].is_null());
        assert_eq!(v.as_object().map(|o| o.len()), Some(10));
    }

    #[test]
    fn route_names_need_no_json_escaping() {
        // The access line writes route names as they are.
        for path in [
            "/v2/health/live",
            "/v2/health/ready",
            "/metrics",
            "/v2",
            "/openapi.json",
            "/v2/models/a/infer",
            "/v2/models/a/ready",
            "/v2/models/a",
            "/v1/models/a:predict",
            "/api/v1/models",
            "/elsewhere",
        ] {
            for public in [false, true] {
                let (route, _) = classify(path, public);
                assert!(
                    !route.is_empty() && route.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                    "{route}"
                );
            }
        }
    }

    #[test]
    fn a_refused_access_line_names_the_reason() {
        let now = Timestamp::now();
        let line = AccessLine::start(&now, "POST", "/v1/models/a:predict", "predict");
        let v = parse(line.finish(429, 0.02, Some("rate_limited")));
        assert_eq!(v["rejected"], "rate_limited");
        assert_eq!(v["status"], 429);
        assert_eq!(v["time"], now.as_str());
    }

    #[test]
    fn an_unauthenticated_access_line_names_no_caller() {
        let now = Timestamp::now();
        let line = AccessLine::start(&now, "GET", "/metrics", "metrics");
        let v = parse(line.finish(401, 0.01, Some("unauthenticated")));
        assert!(v["client"].is_null());
        assert!(v["roles"].is_null());
        assert_eq!(v["rejected"], "unauthenticated");
    }

    #[test]
    fn in_flight_places_are_limited_and_given_back() {
        let f = InFlight::new(2);
        assert!(f.take() && f.take());
        assert!(!f.take());
        assert!(!f.take(), "a refusal takes no place");
        f.give_back();
        assert!(f.take());
        assert!(!f.take());
        f.give_back();
        f.give_back();
        assert_eq!(f.n.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_bucket_is_kept_while_its_limit_is_unchanged() {
        let l = Limiters::default();
        let slow = RateLimit {
            per_second: 1.0,
            burst: 1,
        };
        let a = l.get("k1", slow);
        assert!(a.check().is_ok());
        assert!(a.check().is_err(), "a burst of one");
        // The same limit: the same, spent bucket.
        assert!(Arc::ptr_eq(&a, &l.get("k1", slow)));
        assert!(l.check("k1", slow).is_err());
        // A changed limit: a new, full bucket.
        let fast = RateLimit {
            per_second: 100.0,
            burst: 5,
        };
        let b = l.get("k1", fast);
        assert!(!Arc::ptr_eq(&a, &b));
        assert!(b.check().is_ok());
        // Another key has its own.
        assert!(l.check("k2", slow).is_ok());
    }
}
