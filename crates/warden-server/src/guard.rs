//! The guardrails every request passes, in order: authentication (API
//! key), authorisation (the Rego policy's answer for the key's role), the
//! key's rate limit, the concurrency limit, the body size; then the
//! handler under a timeout. Every response gets security headers, a
//! metrics sample and one access-log line (no payloads, no keys).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde_json::json;
use warden::KeyRejection;
use warden_core::Timestamp;

use crate::Shared;
use crate::config::RateLimit;
use crate::metrics::{KeyLabels, ReasonLabels};

/// One access-log line: no payloads, no credentials.
#[derive(serde::Serialize)]
struct AccessLine<'a> {
    event: &'static str,
    time: Timestamp,
    method: &'a str,
    path: &'a str,
    route: &'static str,
    status: u16,
    ms: f64,
    client: Option<&'a str>,
    roles: Option<&'a [String]>,
    rejected: Option<&'static str>,
}

/// Who is calling, once authenticated (put in the request's extensions).
/// Shared, not owned: an API key's client is built once per snapshot and
/// each request takes a reference to it rather than copying three strings.
#[derive(Clone, Debug)]
pub struct Client {
    /// The API key's name, or `jwt:` and the token's subject.
    pub name: Arc<str>,
    pub roles: Arc<[String]>,
}

impl Client {
    pub fn new(name: impl Into<Arc<str>>, roles: Vec<String>) -> Self {
        Client {
            name: name.into(),
            roles: roles.into(),
        }
    }
}

/// One rate limiter per key, rebuilt if the key's limit changes. Lookups
/// take a read lock; only a caller's first request writes.
#[derive(Default)]
pub struct Limiters(RwLock<HashMap<String, (RateLimit, Arc<DefaultDirectRateLimiter>)>>);

type Verdict = Result<(), governor::NotUntil<<DefaultClock as Clock>::Instant>>;

impl Limiters {
    /// Takes one token from the caller's bucket.
    fn check(&self, key_id: &str, limit: RateLimit) -> Verdict {
        {
            let map = self.0.read().unwrap_or_else(|p| p.into_inner());
            if let Some((l, r)) = map.get(key_id)
                && *l == limit
            {
                return r.check();
            }
        }
        self.get(key_id, limit).check()
    }

    fn get(&self, key_id: &str, limit: RateLimit) -> Arc<DefaultDirectRateLimiter> {
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
    Action(&'static str),
}

/// The route a path belongs to (a bounded label set for metrics) and what
/// it needs.
pub fn classify(path: &str, public_metrics: bool) -> (&'static str, Access) {
    use Access::*;
    match path {
        "/v2/health/live" => ("health_live", Public),
        "/v2/health/ready" => ("health_ready", Public),
        "/metrics" if public_metrics => ("metrics", Public),
        "/metrics" => ("metrics", Action("serve.metrics")),
        "/v2" => ("server_metadata", Action("serve.predict")),
        "/openapi.json" => ("openapi", Action("serve.predict")),
        p if p.starts_with("/v2/models/") && p.ends_with("/infer") => {
            ("infer", Action("serve.predict"))
        }
        p if p.starts_with("/v2/models/") && p.ends_with("/ready") => {
            ("model_ready", Action("serve.predict"))
        }
        p if p.starts_with("/v2/models/") => ("model_metadata", Action("serve.predict")),
        p if p.starts_with("/v1/models/") => ("predict", Action("serve.predict")),
        p if p.starts_with("/api/v1/") => ("control", Authenticated),
        _ => ("other", Action("serve.predict")),
    }
}

/// A JSON error response: `{"error": message}` (the Open Inference
/// Protocol's error shape, used on every route).
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The API key a request presents: `Authorization: Bearer KEY` or
/// `X-API-Key: KEY`.
fn presented_key(h: &HeaderMap) -> Option<&str> {
    if let Some(v) = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") {
            return Some(v[7..].trim());
        }
        return None;
    }
    h.get("x-api-key")
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

/// Authentication, authorisation, rate limit, concurrency, declared size.
/// The authenticated caller is left in `caller`, refused or not, for the log.
fn admit<'a>(
    s: &'a Shared,
    req: &Request,
    action: Option<&'static str>,
    now: &Timestamp,
    caller: &mut Option<Client>,
) -> Result<Option<tokio::sync::SemaphorePermit<'a>>, Rejection> {
    let snap = s.current.get();
    let Some(presented) = presented_key(req.headers()) else {
        let mut r = reject(
            "unauthenticated",
            StatusCode::UNAUTHORIZED,
            "an API key is required: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
        );
        r.response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return Err(r);
    };
    let unauthenticated = |msg: &str| {
        let mut r = reject("unauthenticated", StatusCode::UNAUTHORIZED, msg);
        r.response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    // API keys carry their prefix; anything else is a JWT when JWTs are on.
    let (client, limiter_id, own_limit) = match &s.jwt {
        Some(jwt) if !presented.starts_with(warden::API_KEY_PREFIX) => {
            let id = jwt.load().verify(presented).map_err(unauthenticated)?;
            let sub: String = id.subject.chars().take(128).collect();
            (
                Client::new(format!("jwt:{sub}"), id.roles),
                std::borrow::Cow::Owned(format!("jwt:{}", id.subject)),
                None,
            )
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
            let client = snap
                .clients
                .get(rec.id.as_str())
                .cloned()
                .unwrap_or_else(|| Client::new(rec.name.as_str(), vec![rec.role.clone()]));
            (
                client,
                std::borrow::Cow::Borrowed(rec.id.as_str()),
                rec.rate_limit,
            )
        }
    };
    if let Some(action) = action
        && !client.roles.iter().any(|r| snap.allows(r, action))
    {
        let who = match &*client.roles {
            [] => "a caller with no role".to_string(),
            [one] => format!("role {one}"),
            many => format!("roles {}", many.join(", ")),
        };
        let r = reject(
            "forbidden",
            StatusCode::FORBIDDEN,
            format!("{who} may not {action}"),
        );
        *caller = Some(client);
        return Err(r);
    }
    // The most generous of the caller's roles' limits.
    let limit = client
        .roles
        .iter()
        .map(|r| s.cfg.rate_limit_for(r, own_limit))
        .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        .unwrap_or(s.cfg.default_rate_limit);
    if let Err(not_until) = s.limiters.check(limiter_id.as_ref(), limit) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        s.metrics
            .rate_limited
            .get_or_create(&KeyLabels {
                key: client.name.to_string(),
            })
            .inc();
        let mut r = reject(
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit of {} requests per second exceeded; retry after {} s",
                limit.per_second,
                secs.max(1)
            ),
        );
        r.response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        *caller = Some(client);
        return Err(r);
    }
    *caller = Some(client);
    let permit = s.inflight.try_acquire().map_err(|_| {
        let mut r = reject(
            "busy",
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its concurrency limit; retry shortly",
        );
        r.response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    })?;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared
        && n > s.cfg.max_body_bytes as u64
    {
        return Err(reject(
            "too_large",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "request body of {n} bytes exceeds the limit of {} bytes",
                s.cfg.max_body_bytes
            ),
        ));
    }
    Ok(Some(permit))
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
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(k, HeaderValue::from_static(v));
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
    pub fn new(inner: axum::Router, shared: Arc<Shared>) -> Self {
        Guarded { inner, shared }
    }
}

impl tower_service::Service<Request> for Guarded {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // The router is always ready.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let shared = self.shared.clone();
        let inner = self.inner.clone();
        Box::pin(async move { Ok(guard(shared, req, inner).await) })
    }
}

/// Awaits `fut` until `deadline`. Nearly every request completes on its
/// first poll (the body is in hand and the handlers compute without
/// waiting), so the timer — a timer-wheel entry registered and removed per
/// request — is armed only for a request that did not.
async fn lazy_timeout<F: std::future::Future>(
    deadline: Instant,
    fut: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
    if let std::task::Poll::Ready(v) = first {
        return Ok(v);
    }
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), fut).await
}

/// Everything around one request.
async fn guard(s: Arc<Shared>, mut req: Request, mut inner: axum::Router) -> Response {
    let start = Instant::now();
    let now = Timestamp::now();
    let (route, access) = classify(req.uri().path(), s.cfg.public_metrics);
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut reason: Option<&'static str> = None;
    let mut client = None;
    let admitted = match access {
        Access::Public => Ok(None),
        Access::Authenticated => admit(&s, &req, None, &now, &mut client),
        Access::Action(a) => admit(&s, &req, Some(a), &now, &mut client),
    };
    // The control API acts as the caller; the monitor attributes traffic
    // to it. Nothing else needs it, so it is not copied otherwise.
    // A predict route's request is observed only within the monitor's
    // budget; the route hands it over only if the client is attached.
    if let Some(c) = &client
        && admitted.is_ok()
        && (access == Access::Authenticated
            || (route == "predict" || route == "infer")
                && s.monitor.get().is_some_and(|m| m.admit()))
    {
        req.extensions_mut().insert(c.clone());
    }
    let mut resp = match admitted {
        Err(r) => {
            reason = Some(r.reason);
            r.response
        }
        Ok(permit) => {
            // The body limit the extractors enforce (413 past it), set on
            // the request here rather than as a layer on every route.
            axum::extract::DefaultBodyLimit::max(s.cfg.max_body_bytes).apply(&mut req);
            let call = tower_service::Service::call(&mut inner, req);
            let r = lazy_timeout(start + s.cfg.request_timeout, call).await;
            drop(permit);
            match r {
                Ok(Ok(r)) => r,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    reason = Some("timeout");
                    error(StatusCode::SERVICE_UNAVAILABLE, "the request timed out")
                }
            }
        }
    };
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
    let line = AccessLine {
        event: "access",
        time: now,
        method: method.as_str(),
        path: bounded(uri.path(), 200),
        route,
        status: status.as_u16(),
        ms: (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        client: client.as_ref().map(|c| &*c.name),
        roles: client.as_ref().map(|c| &*c.roles),
        rejected: reason,
    };
    let mut text = Vec::with_capacity(256);
    if serde_json::to_writer(&mut text, &line).is_ok()
        && let Ok(text) = String::from_utf8(text)
    {
        (s.log)(text);
    }
    resp
}
