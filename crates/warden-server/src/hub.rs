//! Warden Hub (`warden hub serve`): the workspace's control plane over
//! HTTP for people, teams and CI, where identity is proven, never declared.
//!
//! The hub is this crate's server with a different front door:
//!
//! - **Identity.** A caller presents an OIDC bearer token. The token's
//!   unverified `iss` only picks which configured issuer checks it; that
//!   issuer's verifier then checks signature (a key of its JWKS, an
//!   asymmetric algorithm on its allow-list), issuer, audience, expiry and
//!   not-before. The caller is then the principal `ISSUER.CLAIM` (the
//!   issuer's configured name, then the principal claim escaped by
//!   [`escape_claim`], which is injective) and belongs to the groups the
//!   issuer's rules give it (`group.NAME`). There is no `--actor` and no
//!   actor field anywhere in the API: the principal in every audit event,
//!   gate input and approval is the authenticated one.
//! - **Roles.** Who may do what is the workspace's audited role grants,
//!   to principals and to groups (`warden roles grant group.ci-main
//!   ml-engineer`, or `POST …/roles/grant` on the hub): a token carries no
//!   roles of its own, so changing what a person or a pipeline may do is
//!   always an audited call, never an edit at the identity provider alone.
//! - **Teams.** Every resource is under `/api/v1/teams/{team}/`; this hub
//!   has one team, `default`, so a team scope can be added later without
//!   breaking a client.
//! - **Guardrails.** The same guard as the inference server: per-principal
//!   rate limits, body and connection caps, header-read and idle timeouts,
//!   security headers, errors without paths or stack traces.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_core::{ActorName, KeyName, RoleName};

use crate::config::ServeConfig;
use crate::control::{self, as_caller, body, client};
use crate::guard::{Client, error};
use crate::jwt::{JwksSource, JwtSettings, JwtVerifier};
use crate::{ServerError, Shared};

/// The one team of this hub; every resource path is under
/// `/api/v1/teams/default/`.
pub const DEFAULT_TEAM: &str = "default";

/// How the hub knows its callers: the issuers it trusts.
#[derive(Clone, Debug, PartialEq)]
pub struct HubSettings {
    /// The trusted issuers, at least one, with distinct names and distinct
    /// `iss` values; a token is checked by the one whose `iss` it names.
    pub issuers: Vec<IssuerSettings>,
    /// The largest upload (a dataset's CSV, a model with its schema and
    /// check batch) accepted, in bytes (`max_upload_bytes`, 4 GiB by
    /// default); other requests keep `max_body_bytes`.
    pub max_upload_bytes: u64,
    /// How long an upload may take, from its first byte to the answer
    /// (`upload_timeout_seconds`, 30 minutes by default); other requests
    /// keep `request_timeout_seconds`.
    pub upload_timeout: std::time::Duration,
    /// Uploads in progress at once, at most (`max_concurrent_uploads`, 4 by
    /// default); beyond, 503 with `Retry-After`.
    pub max_concurrent_uploads: usize,
    /// Service accounts that prove themselves with a TLS client
    /// certificate instead of a token (`[[service_account]]`; needs
    /// `[tls] client_ca`).
    pub service_accounts: Vec<ServiceAccount>,
}

/// A pipeline or service that connects with a client certificate: the
/// certificate must chain to `[tls] client_ca` and be exactly this one.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceAccount {
    /// Names the principal, `mtls.NAME`.
    pub name: String,
    /// SHA-256 of the certificate's DER bytes (what `openssl x509
    /// -noout -fingerprint -sha256` prints).
    pub certificate_sha256: [u8; 32],
}

impl HubSettings {
    /// The principal a verified client certificate (its SHA-256) proves,
    /// if it is a service account's.
    pub fn service_account(&self, certificate_sha256: &[u8; 32]) -> Option<HubIdentity> {
        let a = self
            .service_accounts
            .iter()
            .find(|a| &a.certificate_sha256 == certificate_sha256)?;
        Some(HubIdentity {
            principal: ActorName::new(&format!("mtls.{}", a.name)).ok()?,
            groups: Vec::new(),
            issuer: "mtls".into(),
        })
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceAccountFile {
    name: String,
    certificate_sha256: String,
}

/// The default of `max_upload_bytes`.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 4 << 30;
/// The default of `max_concurrent_uploads`.
pub const DEFAULT_MAX_CONCURRENT_UPLOADS: usize = 4;
/// The default of `upload_timeout_seconds`.
pub const DEFAULT_UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// One trusted OIDC issuer (a company identity provider, GitHub Actions,
/// GitLab CI) and how its tokens' claims become a principal and groups.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerSettings {
    /// Names the issuer's principals: `NAME.CLAIM`.
    pub name: String,
    /// How its tokens are verified: its `iss`, the accepted audiences and
    /// algorithms, its key set and the clock leeway (`roles_claim` is
    /// unused: roles come from the workspace's grants).
    pub jwt: JwtSettings,
    /// The claim naming the principal (`sub` unless configured; `email`
    /// for people is common).
    pub principal_claim: String,
    /// A claim listing the caller's groups at the identity provider; each
    /// becomes the group `group.NAME.VALUE`.
    pub groups_claim: Option<String>,
    /// Groups given by claim values (the CI path: a workflow on a
    /// protected branch of one repository).
    pub rules: Vec<GroupRule>,
    /// How a person gets a token from this issuer on a terminal: the OAuth
    /// 2.0 device authorization grant (RFC 8628), published to clients at
    /// `GET /login/issuers`.
    pub login: Option<LoginSettings>,
    /// How a person signs in to the web console with this issuer: the
    /// OAuth 2.0 authorization code grant with PKCE (RFC 7636).
    pub browser: Option<crate::console::BrowserLogin>,
}

/// The public client a terminal logs in with (RFC 8628). Nothing here is
/// secret: a device-flow client has no client secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    /// The client id registered at the identity provider for the device
    /// flow.
    pub client_id: String,
    /// Where a terminal starts the device flow and gets its user code
    /// (`https://`, or `http://` to the loopback address).
    pub device_authorization_endpoint: String,
    /// Where a terminal polls for the token once the person has approved
    /// (`https://`, or `http://` to the loopback address).
    pub token_endpoint: String,
    /// The space-separated scopes requested (`openid email` unless
    /// configured).
    pub scope: String,
    /// Which token of the answer the hub verifies: `id_token` or `access_token`.
    pub token: String,
}

/// `group = "ci-main"` when every listed claim has the listed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRule {
    /// The group a matching token gives, without its prefix: the caller
    /// joins `group.GROUP`.
    pub group: String,
    /// The claims that must all hold: claim name (or dotted path) to the
    /// value required, compared as text (`true`, `42`). Never empty.
    pub claims: BTreeMap<String, String>,
}

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubIdentity {
    /// The principal, `ISSUER.CLAIM`: the issuer's configured name, then
    /// the principal claim escaped by [`escape_claim`].
    pub principal: ActorName,
    /// The groups the token's claims give (`group.…`), sorted and without
    /// duplicates; at most 64.
    pub groups: Vec<ActorName>,
    /// The configured name of the issuer that verified the token (not its
    /// `iss` URL).
    pub issuer: String,
}

/// At most this many groups per caller.
const MAX_GROUPS: usize = 64;

/// Escapes a claim value into the characters of an actor name: ASCII
/// letters, digits and `. _ - @` stay, every other byte becomes `+` and
/// two lowercase hex digits (so `+` itself is `+2b`). Injective: two
/// different claim values never give the same principal, so no subject
/// can be shaped to impersonate another.
pub fn escape_claim(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@') {
            out.push(char::from(b));
        } else {
            out.push('+');
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// The text of a claim for matching: strings as they are, booleans and
/// numbers as JSON writes them (`ref_protected = "true"`).
fn claim_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    let mut c = Some(claims);
    for part in path.split('.') {
        c = c.and_then(|c| c.get(part));
    }
    c
}

impl IssuerSettings {
    /// The principal and groups a verified token's claims give.
    pub fn identity(&self, claims: &Value) -> Result<HubIdentity, &'static str> {
        let raw = claim_at(claims, &self.principal_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("token lacks the principal claim")?;
        let principal = ActorName::new(&format!("{}.{}", self.name, escape_claim(raw)))
            .map_err(|_| "token's principal name is too long")?;
        let mut groups = Vec::new();
        if let Some(gc) = &self.groups_claim {
            let values: Vec<&str> = match claim_at(claims, gc) {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                Some(Value::String(s)) => vec![s.as_str()],
                _ => Vec::new(),
            };
            for v in values {
                if let Ok(g) = ActorName::new(&format!("group.{}.{}", self.name, escape_claim(v))) {
                    groups.push(g);
                }
            }
        }
        for rule in &self.rules {
            let holds = rule.claims.iter().all(|(k, want)| {
                claim_at(claims, k).and_then(claim_text).as_deref() == Some(want.as_str())
            });
            if holds && let Ok(g) = ActorName::new(&format!("group.{}", rule.group)) {
                groups.push(g);
            }
        }
        groups.sort();
        groups.dedup();
        if groups.len() > MAX_GROUPS {
            return Err("token names too many groups");
        }
        Ok(HubIdentity {
            principal,
            groups,
            issuer: self.name.clone(),
        })
    }
}

/// The trusted issuers with their current key sets.
pub struct Issuers {
    list: Vec<(IssuerSettings, arc_swap::ArcSwap<JwtVerifier>)>,
    /// Tokens already verified, by SHA-256 of the token: the identity and
    /// the token's `exp`. A signature check (ES256, RS256) costs more than
    /// the rest of a read; a client sends the same token on every call.
    /// Cleared whenever a key set is fetched again, so a key removed from
    /// the set stops its tokens at once; bounded by [`MAX_CACHED_TOKENS`].
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], (HubIdentity, u64)>>,
}

/// Verified tokens kept at most; past it the cache starts again.
const MAX_CACHED_TOKENS: usize = 4096;

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(u64::MAX)
}

impl Issuers {
    /// Reads (or fetches) every issuer's key set.
    pub fn load(settings: &HubSettings) -> Result<Self, ServerError> {
        let mut list = Vec::new();
        for i in &settings.issuers {
            let v = JwtVerifier::load(i.jwt.clone())
                .map_err(|e| ServerError::Config(format!("issuer {}: {e}", i.name)))?;
            list.push((i.clone(), arc_swap::ArcSwap::from_pointee(v)));
        }
        Ok(Issuers {
            list,
            verified: Default::default(),
        })
    }

    /// Verifies a bearer token; the error is a reason safe to show.
    pub fn identify(&self, token: &str) -> Result<HubIdentity, &'static str> {
        use sha2::Digest as _;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let now = unix_now();
        {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((id, exp)) = cache.get(&key)
                && now < *exp
            {
                return Ok(id.clone());
            }
        }
        let (id, exp) = self.verify(token)?;
        let mut cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_TOKENS {
            cache.clear();
        }
        cache.insert(key, (id.clone(), exp));
        Ok(id)
    }

    /// Verifies the ID token the console's sign-in got from the issuer
    /// named `issuer` (by configured name): the same checks as a bearer
    /// token, by that issuer only, and its `nonce` must be the one this
    /// browser's sign-in sent (OpenID Connect Core §3.1.3.7). Returns the
    /// identity and the token's `exp`.
    pub fn verify_login(
        &self,
        issuer: &str,
        token: &str,
        nonce: &str,
    ) -> Result<(HubIdentity, u64), &'static str> {
        let (settings, verifier) = self
            .list
            .iter()
            .find(|(s, _)| s.name == issuer)
            .ok_or("token issuer not accepted")?;
        let claims = verifier.load().verify_claims(token)?;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err("the token's nonce is not this sign-in's");
        }
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or("token lacks a required claim (exp, iss, aud, sub)")?;
        Ok((settings.identity(&claims)?, exp))
    }

    /// The full check of a token: its identity and its `exp`.
    fn verify(&self, token: &str) -> Result<(HubIdentity, u64), &'static str> {
        let iss = crate::jwt::unverified_issuer(token).ok_or("malformed token")?;
        let (settings, verifier) = self
            .list
            .iter()
            .find(|(s, _)| s.jwt.issuer == iss)
            .ok_or("token issuer not accepted")?;
        let claims = verifier.load().verify_claims(token)?;
        // `verify_claims` required a numeric `exp` and checked it.
        let exp = claims
            .get("exp")
            .and_then(Value::as_u64)
            .ok_or("token lacks a required claim (exp, iss, aud, sub)")?;
        Ok((settings.identity(&claims)?, exp))
    }

    /// Fetches again the key sets served from URLs whose refresh interval
    /// has passed (key rotation); a failed fetch keeps the keys in hand.
    /// Returns the errors, by issuer.
    pub fn refresh(&self, elapsed_seconds: u64) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for (s, current) in &self.list {
            if !matches!(s.jwt.jwks, JwksSource::Url(_))
                || !elapsed_seconds.is_multiple_of(s.jwt.jwks_refresh_seconds.max(1))
            {
                continue;
            }
            match JwtVerifier::load(s.jwt.clone()) {
                Ok(v) => {
                    current.store(Arc::new(v));
                    // A key dropped from the set must stop its tokens now.
                    self.verified
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .clear();
                }
                Err(e) => failed.push((s.name.clone(), e.to_string())),
            }
        }
        failed
    }
}

// ---------------------------------------------------------------------------
// Configuration

/// The keys of a serve config that make no sense on the hub.
const NOT_ON_THE_HUB: [&str; 6] = [
    "env",
    "jwt",
    "monitor",
    "max_instances",
    "range_tolerance",
    "min_confidence",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerFile {
    name: String,
    issuer: String,
    audience: crate::jwt::OneOrMany,
    jwks_file: Option<std::path::PathBuf>,
    jwks_url: Option<String>,
    #[serde(default = "default_refresh")]
    jwks_refresh_seconds: u64,
    #[serde(default = "default_algorithms")]
    algorithms: Vec<String>,
    #[serde(default = "default_principal_claim")]
    principal_claim: String,
    groups_claim: Option<String>,
    #[serde(default = "default_leeway")]
    leeway_seconds: u64,
    #[serde(default)]
    group: Vec<GroupRuleFile>,
    #[serde(default)]
    login: Option<LoginFile>,
    #[serde(default)]
    browser: Option<crate::console::BrowserFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginFile {
    client_id: String,
    device_authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default = "default_scope")]
    scope: String,
    #[serde(default = "default_login_token")]
    token: String,
}

fn default_scope() -> String {
    "openid email".into()
}
fn default_login_token() -> String {
    "id_token".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRuleFile {
    name: String,
    claims: BTreeMap<String, String>,
}

fn default_refresh() -> u64 {
    300
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}
fn default_principal_claim() -> String {
    "sub".into()
}
fn default_leeway() -> u64 {
    30
}

fn bad(what: &str, why: impl Into<String>) -> ServerError {
    ServerError::Config(format!("{what}: {}", why.into()))
}

fn issuer_name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Parses `hub.toml`: the serve config's listener, TLS, limits and
/// timeouts, plus one `[[issuer]]` table per trusted identity provider.
/// Relative paths are relative to the file's directory.
pub fn config_from_toml(text: &str, source: &Path) -> Result<ServeConfig, ServerError> {
    let base = source.parent().unwrap_or(Path::new("."));
    let mut table: toml::Table = toml::from_str(text)
        .map_err(|e| ServerError::Config(format!("{}: {e}", source.display())))?;
    for key in NOT_ON_THE_HUB {
        if table.contains_key(key) {
            return Err(bad(
                &format!("{}: {key}", source.display()),
                "is a `warden serve` setting; the hub serves no models",
            ));
        }
    }
    let issuers = table.remove("issuer");
    let max_upload_bytes = match table.remove("max_upload_bytes") {
        None => DEFAULT_MAX_UPLOAD_BYTES,
        Some(toml::Value::Integer(n)) if n >= 1024 => n as u64,
        Some(v) => {
            return Err(bad(
                &format!("{}: max_upload_bytes", source.display()),
                format!("{v} is not a whole number of bytes of at least 1024"),
            ));
        }
    };
    let max_concurrent_uploads = match table.remove("max_concurrent_uploads") {
        None => DEFAULT_MAX_CONCURRENT_UPLOADS,
        Some(toml::Value::Integer(n)) if (1..=1024).contains(&n) => n as usize,
        Some(v) => {
            return Err(bad(
                &format!("{}: max_concurrent_uploads", source.display()),
                format!("{v} is not a whole number from 1 to 1024"),
            ));
        }
    };
    let upload_timeout = match table.remove("upload_timeout_seconds") {
        None => DEFAULT_UPLOAD_TIMEOUT,
        Some(v) => match v.as_float().or(v.as_integer().map(|n| n as f64)) {
            Some(secs) if secs.is_finite() && (1.0..=86_400.0).contains(&secs) => {
                std::time::Duration::from_secs_f64(secs)
            }
            _ => {
                return Err(bad(
                    &format!("{}: upload_timeout_seconds", source.display()),
                    format!("{v} is not a number of seconds from 1 to 86400"),
                ));
            }
        },
    };
    let accounts = table.remove("service_account");
    let default_limit = !table.contains_key("default_rate_limit");
    let default_idle = !table.contains_key("idle_timeout_seconds");
    let rest = toml::to_string(&table)
        .map_err(|e| ServerError::Config(format!("{}: {e}", source.display())))?;
    let mut cfg = ServeConfig::from_toml(&rest, source)?;
    if default_limit {
        // A person or pipeline scripting against the hub, not a browser.
        cfg.default_rate_limit = crate::RateLimit {
            per_second: 200.0,
            burst: 400,
        };
    }
    if default_idle {
        // An upload's last byte is followed by its ingest or import, in
        // which nothing moves on the connection: give it five minutes.
        cfg.idle_timeout = cfg.idle_timeout.max(std::time::Duration::from_secs(300));
    }
    cfg.env = String::new();
    cfg.monitor.enabled = false;
    let files: Vec<IssuerFile> = match issuers {
        None => Vec::new(),
        Some(v) => v
            .try_into()
            .map_err(|e| bad(&format!("{}: issuer", source.display()), e.to_string()))?,
    };
    if files.is_empty() {
        return Err(bad(
            &source.display().to_string(),
            "the hub needs at least one [[issuer]]: it accepts no caller it cannot verify",
        ));
    }
    let mut out = Vec::new();
    for f in files {
        let what = format!("issuer {:?}", f.name);
        // `group.` names groups and `mtls.` service accounts: an issuer
        // with either name could spell one of them.
        if !issuer_name_ok(&f.name) || f.name == "group" || f.name == "mtls" {
            return Err(bad(
                &what,
                "name: 1 to 32 lowercase letters, digits and -, starting with a letter, not \"group\" or \"mtls\"",
            ));
        }
        if out.iter().any(|i: &IssuerSettings| i.name == f.name) {
            return Err(bad(&what, "two issuers have this name"));
        }
        if out
            .iter()
            .any(|i: &IssuerSettings| i.jwt.issuer == f.issuer)
        {
            return Err(bad(
                &what,
                format!("issuer {} is configured twice", f.issuer),
            ));
        }
        let jwks = match (f.jwks_file, f.jwks_url) {
            (Some(p), None) => JwksSource::File(base.join(p)),
            (None, Some(u)) => JwksSource::url(&u)?,
            _ => return Err(bad(&what, "give exactly one of jwks_file and jwks_url")),
        };
        if f.jwks_refresh_seconds == 0 {
            return Err(bad(&what, "jwks_refresh_seconds must be at least 1"));
        }
        let mut rules = Vec::new();
        for g in f.group {
            if ActorName::new(&format!("group.{}", g.name)).is_err() || g.name.contains("..") {
                return Err(bad(
                    &what,
                    format!("group {:?}: letters, digits and . _ -", g.name),
                ));
            }
            if g.claims.is_empty() {
                return Err(bad(
                    &what,
                    format!(
                        "group {:?} names no claims: every token would match",
                        g.name
                    ),
                ));
            }
            rules.push(GroupRule {
                group: g.name,
                claims: g.claims,
            });
        }
        let login = match f.login {
            None => None,
            Some(l) => {
                for (field, u) in [
                    (
                        "device_authorization_endpoint",
                        &l.device_authorization_endpoint,
                    ),
                    ("token_endpoint", &l.token_endpoint),
                ] {
                    if !warden::hubclient::endpoint_ok(u) {
                        return Err(bad(
                            &what,
                            format!(
                                "login.{field} {u:?}: https://, or http:// on the loopback address"
                            ),
                        ));
                    }
                }
                if l.client_id.is_empty() || l.client_id.chars().any(|c| c.is_control()) {
                    return Err(bad(&what, "login.client_id is empty"));
                }
                if l.token != "id_token" && l.token != "access_token" {
                    return Err(bad(
                        &what,
                        format!("login.token {:?}: id_token or access_token", l.token),
                    ));
                }
                Some(LoginSettings {
                    client_id: l.client_id,
                    device_authorization_endpoint: l.device_authorization_endpoint,
                    token_endpoint: l.token_endpoint,
                    scope: l.scope,
                    token: l.token,
                })
            }
        };
        let browser = match f.browser {
            None => None,
            Some(b) => Some(b.check().map_err(|why| bad(&what, why))?),
        };
        out.push(IssuerSettings {
            name: f.name,
            jwt: JwtSettings {
                jwks,
                jwks_refresh_seconds: f.jwks_refresh_seconds,
                issuer: f.issuer,
                audience: f.audience.into_vec(),
                algorithms: f.algorithms,
                roles_claim: String::new(),
                leeway_seconds: f.leeway_seconds,
            },
            principal_claim: f.principal_claim,
            groups_claim: f.groups_claim,
            rules,
            login,
            browser,
        });
    }
    // Checks every issuer's algorithms and key set now, not on a request.
    let files: Vec<ServiceAccountFile> = match accounts {
        None => Vec::new(),
        Some(v) => v.try_into().map_err(|e| {
            bad(
                &format!("{}: service_account", source.display()),
                e.to_string(),
            )
        })?,
    };
    let mut service_accounts: Vec<ServiceAccount> = Vec::new();
    for f in files {
        let what = format!("service_account {:?}", f.name);
        if !issuer_name_ok(&f.name) {
            return Err(bad(
                &what,
                "name: 1 to 32 lowercase letters, digits and -, starting with a letter",
            ));
        }
        // `sha256:HEX`, HEX, or openssl's `AB:CD:…`.
        let hex_digits: String = f
            .certificate_sha256
            .trim()
            .trim_start_matches("sha256:")
            .chars()
            .filter(|c| *c != ':')
            .collect();
        let mut fp = [0u8; 32];
        hex::decode_to_slice(hex_digits.to_ascii_lowercase(), &mut fp).map_err(|_| {
            bad(
                &what,
                "certificate_sha256: the certificate's SHA-256, 64 hex digits (openssl x509 -noout -fingerprint -sha256)",
            )
        })?;
        if service_accounts.iter().any(|a| a.name == f.name) {
            return Err(bad(&what, "two service accounts have this name"));
        }
        if service_accounts.iter().any(|a| a.certificate_sha256 == fp) {
            return Err(bad(&what, "another service account has this certificate"));
        }
        service_accounts.push(ServiceAccount {
            name: f.name,
            certificate_sha256: fp,
        });
    }
    // People present tokens: on the hub a client certificate is optional,
    // and one presented must chain to the CA.
    if let Some(t) = cfg.tls.as_mut() {
        t.client_cert_optional = true;
    }
    if !service_accounts.is_empty() && cfg.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
        return Err(bad(
            &format!("{}: service_account", source.display()),
            "service accounts connect with client certificates: set [tls] cert, key and client_ca",
        ));
    }
    let settings = HubSettings {
        issuers: out,
        max_upload_bytes,
        upload_timeout,
        max_concurrent_uploads,
        service_accounts,
    };
    Issuers::load(&settings)?;
    cfg.hub = Some(settings);
    Ok(cfg)
}

// ---------------------------------------------------------------------------
// Routes

/// The hub's routes: health, the public checkpoint, consistency proofs for
/// any caller, who-am-I, and the
/// registry under `/api/v1/teams/default/`.
pub fn routes() -> Router<Arc<Shared>> {
    let team = Router::new()
        .route("/datasets/{name}/versions", post(crate::upload::dataset))
        .route("/models/{name}/versions", post(crate::upload::model))
        .route("/models", get(control::list_models))
        .route("/models/{name}", get(control::show_model))
        .route("/models/{name}/rollback", post(control::rollback))
        .route(
            "/models/{name}/versions/{version}",
            get(control::show_version),
        )
        .route(
            "/models/{name}/versions/{version}/promote",
            post(control::promote),
        )
        .route(
            "/models/{name}/versions/{version}/quarantine",
            post(control::quarantine),
        )
        .route("/models/{name}/versions/{version}/approvals", post(approve))
        .route(
            "/models/{name}/versions/{version}/evidence",
            get(evidence_list).post(evidence_add),
        )
        .route(
            "/models/{name}/versions/{version}/package",
            get(package_listing),
        )
        .route(
            "/models/{name}/versions/{version}/package/{file}",
            get(package_file),
        )
        .route("/environments/{env}/serving", get(serving_state))
        .route("/environments/{env}/apikeys/check", post(apikey_check))
        .route("/environments/{env}/serving/events", post(serving_event))
        .route("/apikeys", get(apikeys_list).post(apikeys_create))
        .route("/apikeys/{name}/revoke", post(apikeys_revoke))
        .route("/pipelines", get(pipelines_list))
        .route("/pipelines/{id}", get(pipeline_show))
        .route("/keys", get(keys_list).post(keys_enrol))
        .route("/keys/{name}/acknowledge", post(keys_acknowledge))
        .route("/tokens", get(tokens_list).post(tokens_create))
        .route("/tokens/{name}/revoke", post(tokens_revoke))
        .route("/roles", get(roles_list))
        .route("/roles/grant", post(roles_grant))
        .route("/roles/revoke", post(roles_revoke))
        .route("/audit", get(control::audit_log))
        .route("/audit/proof/{index}", get(control::audit_proof))
        .fallback(crate::routes::not_found);
    Router::new()
        .route("/v2/health/live", get(crate::routes::live))
        .route("/v2/health/ready", get(crate::routes::live))
        .route("/checkpoint", get(checkpoint))
        .route("/login/issuers", get(login_issuers))
        .route("/openapi.json", get(openapi))
        .route("/log/consistency", get(log_consistency))
        .route("/api/v1/whoami", get(whoami))
        .nest(&format!("/api/v1/teams/{DEFAULT_TEAM}"), team)
        .route("/api/v1/teams/{team}", get(no_team))
        .route("/api/v1/teams/{team}/{*rest}", get(no_team).post(no_team))
        .merge(crate::console::routes())
        .fallback(crate::routes::not_found)
        .method_not_allowed_fallback(crate::routes::method_not_allowed)
}

async fn no_team(UrlPath(p): UrlPath<BTreeMap<String, String>>) -> Response {
    let team = p.get("team").map(String::as_str).unwrap_or_default();
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no team named {:?}: this hub has one team, {DEFAULT_TEAM}",
            team.chars().take(64).collect::<String>()
        ),
    )
}

/// The hub's own name for the reads that need no caller (the checkpoint
/// and consistency proofs are for everyone).
fn hub_actor() -> Result<ActorName, warden::Error> {
    Ok(ActorName::new("warden-hub")?)
}

/// `GET /checkpoint`: the log's newest signed checkpoint, as a C2SP
/// tlog-checkpoint note (text), with the verifier key in a header. Open
/// to everyone: a client that remembers the last one it saw detects a
/// rewritten or forked history by asking for a consistency proof.
async fn checkpoint(State(s): State<Arc<Shared>>) -> Response {
    let done = tokio::task::spawn_blocking(move || {
        s.pool.with(&s.root, &s.open_options, hub_actor()?, |ws| {
            ws.audit_checkpoint()
        })
    })
    .await;
    match done {
        Ok(Ok((note, vkey))) => {
            let mut r = (StatusCode::OK, note).into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if let Ok(v) = header::HeaderValue::from_str(&vkey) {
                r.headers_mut().insert("x-warden-log-vkey", v);
            }
            r
        }
        Ok(Err(warden::Error::NotFound(m))) => error(StatusCode::NOT_FOUND, format!("no {m}")),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the checkpoint could not be read",
        ),
    }
}

/// `GET /api/v1/whoami`: the authenticated principal, its groups and the
/// roles the workspace grants them.
async fn whoami(State(s): State<Arc<Shared>>, c: Option<axum::Extension<Client>>) -> Response {
    let c = client(c);
    let groups: Vec<String> = c.as_ref().map(|c| c.groups.to_vec()).unwrap_or_default();
    let principal = c.as_ref().map(|c| c.name.to_string());
    as_caller(s, c, move |ws| {
        let roles = ws.effective_roles()?;
        Ok((
            StatusCode::OK,
            warden::api::Whoami {
                principal,
                groups,
                roles: roles.iter().map(|r| r.to_string()).collect(),
                team: DEFAULT_TEAM.to_string(),
            },
        ))
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    env: String,
    /// The DSSE envelope, read by the engine once the caller may approve.
    envelope: Value,
}

/// `POST …/models/{name}/versions/{version}/approvals`: an approval the
/// caller signed on their own machine (`{"env", "envelope"}`); it must
/// verify against an approval key the same principal enrolled.
async fn approve(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath((name, v)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: ApproveBody = body(b)?;
        let r = control::version(&name, &v)?;
        Ok((
            StatusCode::CREATED,
            ws.approve_signed(&r, &req.env, &req.envelope)?,
        ))
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EvidenceBody {
    /// A short name for the tool (`bandit`, `pip-audit`, `trivy`).
    tool: String,
    /// `sast`, `sca`, `container`, `dockerfile` or `other` (default: by tool).
    #[serde(default)]
    kind: Option<String>,
    /// The report itself: a SARIF 2.1.0 log or pip-audit JSON.
    report: serde_json::Value,
}

/// `POST …/versions/{version}/evidence`: binds another tool's report to the
/// version (a CI job's SAST or dependency audit, say), as `evidence add` does.
async fn evidence_add(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath((name, v)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: EvidenceBody = body(b)?;
        let r = control::version(&name, &v)?;
        let kind = match &req.kind {
            Some(k) => k.parse().map_err(warden::Error::Usage)?,
            None => warden::EvidenceKind::of_tool(&req.tool),
        };
        let bytes = serde_json::to_vec(&req.report).map_err(warden::Error::from)?;
        Ok((
            StatusCode::CREATED,
            ws.evidence_add_report(&r, &req.tool, kind, &bytes, warden::ReportSource::Request)?,
        ))
    })
    .await
}

async fn evidence_list(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath((name, v)): UrlPath<(String, String)>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let r = control::version(&name, &v)?;
        Ok((StatusCode::OK, ws.evidence_list(Some(&r))?))
    })
    .await
}

async fn pipelines_list(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
) -> Response {
    as_caller(s, client(c), |ws| {
        Ok((StatusCode::OK, ws.pipeline_list(None)?))
    })
    .await
}

async fn pipeline_show(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let id: u64 = id
            .parse()
            .map_err(|_| warden::Error::Usage(format!("pipeline run {id:?}: not a number")))?;
        Ok((StatusCode::OK, ws.pipeline_show(id)?))
    })
    .await
}

async fn keys_list(State(s): State<Arc<Shared>>, c: Option<axum::Extension<Client>>) -> Response {
    as_caller(s, client(c), |ws| Ok((StatusCode::OK, ws.keys_list()?))).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct EnrolBody {
    name: String,
    public_pem: String,
}

/// `POST …/keys`: enrols the public half of the caller's approval key.
async fn keys_enrol(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: EnrolBody = body(b)?;
        let name = KeyName::new(&req.name)?;
        Ok((
            StatusCode::CREATED,
            ws.keys_enrol_public(&name, &req.public_pem)?,
        ))
    })
    .await
}

async fn keys_acknowledge(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let name = KeyName::new(&name)?;
        Ok((StatusCode::OK, ws.keys_acknowledge(&name)?))
    })
    .await
}

// ---------------------------------------------------------------------------
// What serving replicas (`warden serve --hub`) call

/// `GET …/models/{name}/versions/{version}/package`: the package's files,
/// digest and signature bundle, for a replica to fetch and verify itself.
async fn package_listing(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath((name, v)): UrlPath<(String, String)>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        Ok((
            StatusCode::OK,
            ws.serving_package(&control::version(&name, &v)?)?,
        ))
    })
    .await
}

/// `GET …/models/{name}/versions/{version}/package/{file}`: one file of
/// the package, as bytes. The replica checks it against the signed file
/// list; the hub only serves what its blob store verified as it read.
async fn package_file(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath((name, v, file)): UrlPath<(String, String, String)>,
) -> Response {
    let Some(client) = client(c) else {
        return error(StatusCode::UNAUTHORIZED, "an identity token is required");
    };
    let shared = s.clone();
    match control::run_as(&s, client, move |ws| {
        ws.serving_package_file(&control::version(&name, &v)?, &file)
    })
    .await
    {
        Ok(Ok(bytes)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            bytes,
        )
            .into_response(),
        Ok(Err(e)) => control::engine_error(&shared, e),
        Err(r) => r,
    }
}

/// `GET …/environments/{env}/serving`: what a replica serving the
/// environment needs at each refresh.
async fn serving_state(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(env): UrlPath<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        Ok((StatusCode::OK, ws.serving_state(&env)?))
    })
    .await
}

/// `{"key"}`: an API key a replica was presented.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct KeyCheckBody {
    key: String,
}

/// `POST …/environments/{env}/apikeys/check`: whether an API key is valid
/// now. The hub keeps the secret the keys are hashed with; replicas ask.
async fn apikey_check(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(env): UrlPath<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: KeyCheckBody = body(b)?;
        Ok((StatusCode::OK, ws.apikey_check(&env, &req.key)?))
    })
    .await
}

/// `{"action", "model", "version", "details"}`: what a replica did with a
/// version.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ServingEventBody {
    /// `serve.load` or `serve.skip`.
    action: String,
    model: String,
    version: u64,
    /// The digest and key (a load) or the reason (a skip).
    #[serde(default)]
    details: serde_json::Map<String, Value>,
}

/// `POST …/environments/{env}/serving/events`: records a replica's load
/// or skip in the hub's log, as the replica's principal.
async fn serving_event(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(env): UrlPath<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: ServingEventBody = body(b)?;
        ws.record_replica_serving(
            &env,
            &req.action,
            &req.model,
            req.version,
            Value::Object(req.details),
        )?;
        Ok((
            StatusCode::CREATED,
            warden::api::ServingRecorded {
                recorded: req.action,
            },
        ))
    })
    .await
}

/// `{"name", "role", "expires", "rate_limit"}`: an inference API key to
/// create.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ApiKeyBody {
    name: String,
    role: String,
    /// `30d`, `12h` or an RFC 3339 time; none: never.
    #[serde(default)]
    expires: Option<String>,
    /// Requests per second (none: the role's default).
    #[serde(default)]
    rate_limit: Option<f64>,
}

async fn apikeys_list(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
) -> Response {
    as_caller(s, client(c), |ws| Ok((StatusCode::OK, ws.apikey_list()?))).await
}

/// `POST …/apikeys`: an inference API key, for every replica that follows
/// this hub.
async fn apikeys_create(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: ApiKeyBody = body(b)?;
        let now = warden_core::Timestamp::now();
        let expires = req
            .expires
            .as_deref()
            .map(|e| warden::parse_expiry(e, &now))
            .transpose()?;
        let made = ws.apikey_create(&req.name, &req.role, expires, req.rate_limit)?;
        Ok((
            StatusCode::CREATED,
            warden::api::ApiKeyIssued {
                key: made.key.as_str().to_string(),
                record: made.record,
                note: "the key is shown once; keep it secret".to_string(),
            },
        ))
    })
    .await
}

async fn apikeys_revoke(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        Ok((StatusCode::OK, ws.apikey_revoke(&name)?))
    })
    .await
}

async fn roles_list(State(s): State<Arc<Shared>>, c: Option<axum::Extension<Client>>) -> Response {
    as_caller(s, client(c), |ws| Ok((StatusCode::OK, ws.roles_list()?))).await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    name: String,
    roles: Vec<String>,
    /// An RFC 3339 time, or a duration from now (`30d`, `12h`).
    expires: String,
}

/// `POST …/tokens` `{"name", "roles", "expires"}`: a personal access token
/// for the caller, shown once in the answer (`token`). Only an identity
/// token may make one: a personal access token cannot mint another, so a
/// leaked one cannot be extended past its own expiry.
async fn tokens_create(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let c = client(c);
    if c.as_ref().is_some_and(|c| c.role_cap.is_some()) {
        return error(
            StatusCode::FORBIDDEN,
            "a personal access token cannot create tokens; sign in with your identity provider's token",
        );
    }
    as_caller(s, c, move |ws| {
        let req: TokenBody = body(b)?;
        let roles = req
            .roles
            .iter()
            .map(|r| RoleName::new(r))
            .collect::<Result<Vec<_>, _>>()?;
        let expires = warden::parse_expiry(&req.expires, &warden_core::Timestamp::now())?;
        let made = ws.token_create(&req.name, &roles, expires)?;
        Ok((
            StatusCode::CREATED,
            warden::api::TokenIssued {
                token: made.token.as_str().to_string(),
                record: made.record,
                note: "the token is shown once; keep it secret".to_string(),
            },
        ))
    })
    .await
}

async fn tokens_list(State(s): State<Arc<Shared>>, c: Option<axum::Extension<Client>>) -> Response {
    as_caller(s, client(c), |ws| Ok((StatusCode::OK, ws.token_list()?))).await
}

async fn tokens_revoke(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    UrlPath(name): UrlPath<String>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        Ok((StatusCode::OK, ws.token_revoke(&name)?))
    })
    .await
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    principal: String,
    role: String,
}

/// `POST …/roles/grant` `{"principal", "role"}`: a principal is a person
/// (`corp.alice@example.com`) or a group (`group.ci-main`).
async fn roles_grant(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: GrantBody = body(b)?;
        let who = ActorName::new(&req.principal)?;
        let role = RoleName::new(&req.role)?;
        Ok((StatusCode::OK, ws.roles_grant(&who, &role)?))
    })
    .await
}

async fn roles_revoke(
    State(s): State<Arc<Shared>>,
    c: Option<axum::Extension<Client>>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    as_caller(s, client(c), move |ws| {
        let req: GrantBody = body(b)?;
        let who = ActorName::new(&req.principal)?;
        let role = RoleName::new(&req.role)?;
        ws.roles_revoke(&who, &role)?;
        Ok((
            StatusCode::OK,
            warden::api::RoleRevoked {
                principal: who.to_string(),
                role: role.to_string(),
                revoked: true,
            },
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

/// `GET /log/consistency?old=M&new=N`: a consistency proof between two
/// tree sizes, with both signed checkpoints. Any authenticated caller may
/// ask, whatever their roles: it holds hashes, never an event, and every
/// client needs it to check the log (the guard still rate-limits it).
async fn log_consistency(
    State(s): State<Arc<Shared>>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error(
            StatusCode::BAD_REQUEST,
            "query: old and new (tree sizes) are required",
        );
    };
    let (old, new) = (q.old.min(i64::MAX as u64), q.new.min(i64::MAX as u64));
    let done = tokio::task::spawn_blocking(move || {
        s.pool.with(&s.root, &s.open_options, hub_actor()?, |ws| {
            ws.log_consistency(old, new)
        })
    })
    .await;
    match done {
        Ok(Ok(p)) => (
            StatusCode::OK,
            axum::Json(warden::ProofFile::Consistency(p)),
        )
            .into_response(),
        Ok(Err(e @ warden::Error::Usage(_))) => error(StatusCode::BAD_REQUEST, e.to_string()),
        _ => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the proof could not be made",
        ),
    }
}

// ---------------------------------------------------------------------------
// The API's description

/// A request's or a response's schema, every subschema inlined: a `$ref`
/// into the schema's own `$defs` would resolve against the OpenAPI
/// document's root.
fn schema_of<T: schemars::JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let mut v = serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
    }
    tuples_as_arrays(&mut v);
    v
}

/// A tuple's schema as every OpenAPI 3.1 reader takes it: an array whose
/// items are any of the tuple's types, of the tuple's length. (The
/// positional forms, `items` as a list or `prefixItems`, are refused by
/// some validators, Schemathesis among them.)
fn tuples_as_arrays(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for key in ["items", "prefixItems"] {
                if let Some(Value::Array(list)) = o.get(key).cloned() {
                    o.remove("prefixItems");
                    let n = list.len();
                    o.insert("items".into(), json!({"anyOf": list}));
                    o.insert("minItems".into(), json!(n));
                    o.insert("maxItems".into(), json!(n));
                }
            }
            o.values_mut().for_each(tuples_as_arrays);
        }
        Value::Array(a) => a.iter_mut().for_each(tuples_as_arrays),
        _ => {}
    }
}

/// `GET /openapi.json`: the hub's API as OpenAPI 3.1. Request bodies are
/// the handlers' own types (`schemars`), so the document cannot drift from
/// what the hub parses; responses are JSON objects or arrays, and errors
/// `{"error": "..."}`.
/// `GET /login/issuers`: how a terminal logs in (RFC 8628 device flow),
/// per issuer that offers it. Public: it holds no secret.
async fn login_issuers(State(s): State<Arc<Shared>>) -> Response {
    let list: Vec<Value> = s
        .cfg
        .hub
        .iter()
        .flat_map(|h| h.issuers.iter())
        .filter_map(|i| {
            i.login.as_ref().map(|l| {
                json!({"name": i.name, "issuer": i.jwt.issuer, "client_id": l.client_id,
                       "device_authorization_endpoint": l.device_authorization_endpoint,
                       "token_endpoint": l.token_endpoint, "scope": l.scope, "token": l.token})
            })
        })
        .collect();
    (StatusCode::OK, axum::Json(list)).into_response()
}

async fn openapi() -> Response {
    (StatusCode::OK, axum::Json(openapi_document())).into_response()
}

/// The document itself.
pub fn openapi_document() -> Value {
    let error = json!({"$ref": "#/components/schemas/Error"});
    let err = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
    let typed = |code: &str, schema: Value, what: &str| {
        let mut r = serde_json::Map::new();
        r.insert(
            code.into(),
            json!({"description": what, "content": {"application/json": {"schema": schema}}}),
        );
        for (c, w) in [
            ("400", "The request is malformed or names something invalid"),
            ("401", "No identity token, or one that does not verify"),
            ("403", "The caller's roles may not do this"),
            ("404", "No such model, version, key, token or team"),
            (
                "409",
                "It conflicts with the registry's state (or a gate denied it)",
            ),
            ("413", "The body is larger than the limit"),
            ("422", "A signature or package does not verify"),
            (
                "429",
                "The caller's rate limit is exhausted (see Retry-After)",
            ),
            ("500", "The operation failed; the hub's log says why"),
            ("503", "At the concurrency limit or timed out"),
        ] {
            r.insert(c.into(), err(w));
        }
        Value::Object(r)
    };
    let body = |schema: Value| json!({"required": true, "content": {"application/json": {"schema": schema}}});
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let version = json!({"name": "version", "in": "path", "required": true,
                         "schema": {"type": "string", "pattern": "^[0-9]+$"}});
    let int = |n: &str, required: bool| {
        json!({"name": n, "in": "query", "required": required,
                                               "schema": {"type": "integer", "minimum": 0}})
    };
    let text = |n: &str| json!({"name": n, "in": "query", "required": false, "schema": {"type": "string"}});
    let bearer = json!([{"bearer": []}]);
    let op = |summary: &str, params: Vec<Value>, request: Option<Value>, responses: Value| {
        let mut o = json!({"summary": summary, "parameters": params, "responses": responses,
                           "security": bearer});
        if let Some(b) = request {
            o["requestBody"] = b;
        }
        o
    };
    let t = format!("/api/v1/teams/{DEFAULT_TEAM}");
    let mut paths = serde_json::Map::new();
    let mut put = |path: String, method: &str, o: Value| {
        let entry = paths.entry(path).or_insert_with(|| json!({}));
        entry[method] = o;
    };
    put(
        "/checkpoint".into(),
        "get",
        json!({
            "summary": "The audit log's newest signed checkpoint (C2SP tlog-checkpoint); open to everyone",
            "security": [],
            "responses": {
                "200": {"description": "The signed note", "content": {"text/plain": {"schema": {"type": "string"}}},
                        "headers": {"x-warden-log-vkey": {"schema": {"type": "string"}, "description": "The log's verifier key"}}},
                "404": err("The log is empty"),
                "500": err("The checkpoint could not be read"),
            }
        }),
    );
    put(
        "/login/issuers".into(),
        "get",
        json!({
            "summary": "How a terminal logs in: each issuer's device-flow client (RFC 8628); open to everyone",
            "security": [],
            "responses": {
                "200": {"description": "The issuers that offer it", "content": {"application/json": {"schema": {"type": "array"}}}},
                "429": err("Too many requests"),
                "503": err("At the concurrency limit or timed out"),
            }
        }),
    );
    put(
        "/log/consistency".into(),
        "get",
        op(
            "A consistency proof between two tree sizes (any verified caller)",
            vec![int("old", true), int("new", true)],
            None,
            typed("200", schema_of::<warden::ProofFile>(), "The proof"),
        ),
    );
    put(
        "/api/v1/whoami".into(),
        "get",
        op(
            "The caller's principal, groups and roles",
            vec![],
            None,
            typed("200", schema_of::<warden::api::Whoami>(), "Who"),
        ),
    );
    let binary = json!({"type": "string", "format": "binary"});
    let upload = |request: Value, files: &[&str], last: &str| {
        let mut props = serde_json::Map::new();
        props.insert("request".into(), request);
        for f in files.iter().chain([&last]) {
            props.insert((*f).into(), binary.clone());
        }
        json!({"required": true, "content": {"multipart/form-data": {
            "schema": {"type": "object", "required": ["request", last], "properties": props},
            "encoding": {"request": {"contentType": "application/json"}}}}})
    };
    put(
        format!("{t}/datasets/{{name}}/versions"),
        "post",
        op(
            "Upload a CSV as the next version of a dataset, ingested as it arrives (parts in order: request, schema and pii_policy when the request names their digests, data); nothing is recorded unless every part hashes to the digest the request names",
            vec![name.clone()],
            Some(upload(
                schema_of::<warden::api::DatasetUpload>(),
                &["schema", "pii_policy"],
                "data",
            )),
            typed(
                "201",
                json!({
                    "type": "object",
                    "required": ["dataset", "report", "warnings"],
                    "properties": {
                        "dataset": schema_of::<warden::DatasetInfo>(),
                        "report": {"type": "object",
                                   "description": "The ingest report, as `warden data ingest --json` prints it"},
                        "warnings": {"type": "array", "items": {"type": "string"}},
                    },
                }),
                "Ingested: the version, its report and warnings",
            ),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions"),
        "post",
        op(
            "Upload an ONNX, XGBoost or LightGBM model as the next version of a model, imported with its schema and optional check batch (parts in order: request, schema, check when the request names its digest, model)",
            vec![name.clone()],
            Some(upload(
                schema_of::<warden::api::ModelUpload>(),
                &["schema", "check"],
                "model",
            )),
            typed(
                "201",
                json!({
                    "type": "object",
                    "required": ["model", "engine", "source_digest"],
                    "properties": {
                        "model": schema_of::<warden::ModelInfo>(),
                        "engine": {"type": "string", "enum": ["tract", "tract-batched", "compiled-trees", "boosted-trees"]},
                        "onnx": {"type": ["object", "null"],
                                 "description": "What the ONNX file declares (ONNX imports)"},
                        "source_digest": {"type": "string"},
                        "check": {"anyOf": [schema_of::<warden::ImportCheck>(), {"type": "null"}]},
                    },
                }),
                "Imported: the version, its engine and check",
            ),
        ),
    );
    put(
        format!("{t}/models"),
        "get",
        op(
            "Every model version",
            vec![],
            None,
            typed("200", schema_of::<Vec<warden::ModelInfo>>(), "Versions"),
        ),
    );
    put(
        format!("{t}/models/{{name}}"),
        "get",
        op(
            "A model's versions and stage pointers",
            vec![name.clone()],
            None,
            typed(
                "200",
                schema_of::<warden::api::ModelOverview>(),
                "The model",
            ),
        ),
    );
    put(
        format!("{t}/models/{{name}}/rollback"),
        "post",
        op(
            "Move an environment back to its last good version",
            vec![name.clone()],
            Some(body(schema_of::<control::EnvBody>())),
            typed("200", schema_of::<warden::RolledBack>(), "Rolled back"),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}"),
        "get",
        op(
            "One model version",
            vec![name.clone(), version.clone()],
            None,
            typed("200", schema_of::<warden::ModelInfo>(), "The version"),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/promote"),
        "post",
        op(
            "Promote a version to an environment if its gate allows (409 with the reasons if not)",
            vec![name.clone(), version.clone()],
            Some(body(schema_of::<control::EnvBody>())),
            typed("200", schema_of::<warden::PromoteOutcome>(), "Promoted"),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/quarantine"),
        "post",
        op(
            "Quarantine a version",
            vec![name.clone(), version.clone()],
            Some(body(schema_of::<control::ReasonBody>())),
            typed(
                "200",
                schema_of::<warden::api::Quarantined>(),
                "Quarantined",
            ),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/approvals"),
        "post",
        op(
            "Record an approval the caller signed on their own machine",
            vec![name.clone(), version.clone()],
            Some(body(schema_of::<ApproveBody>())),
            typed("201", schema_of::<warden::Approved>(), "Recorded"),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/evidence"),
        "post",
        op(
            "Bind another tool's report (SARIF 2.1.0, pip-audit JSON) to a version; the gate reads its findings",
            vec![name.clone(), version.clone()],
            Some(body(schema_of::<EvidenceBody>())),
            typed("201", schema_of::<warden::EvidenceInfo>(), "Recorded"),
        ),
    );
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/evidence"),
        "get",
        op(
            "Evidence recorded for a version",
            vec![name.clone(), version.clone()],
            None,
            typed("200", schema_of::<Vec<warden::EvidenceInfo>>(), "Evidence"),
        ),
    );
    put(
        format!("{t}/pipelines"),
        "get",
        op(
            "Recorded pipeline runs",
            vec![],
            None,
            typed(
                "200",
                schema_of::<Vec<warden::pipeline::RunReport>>(),
                "Runs",
            ),
        ),
    );
    put(
        format!("{t}/pipelines/{{id}}"),
        "get",
        op(
            "One pipeline run",
            vec![json!({"name": "id", "in": "path", "required": true,
                        "schema": {"type": "string", "pattern": "^[0-9]+$"}})],
            None,
            typed("200", schema_of::<warden::pipeline::RunReport>(), "The run"),
        ),
    );
    let env_param =
        json!({"name": "env", "in": "path", "required": true, "schema": {"type": "string"}});
    put(
        format!("{t}/models/{{name}}/versions/{{version}}/package"),
        "get",
        op(
            "A version's package: its files' digests and the signature bundle (for serving replicas)",
            vec![name.clone(), version.clone()],
            None,
            typed("200", schema_of::<warden::PackageListing>(), "The listing"),
        ),
    );
    {
        let mut r = match typed("200", json!({}), "") {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        r.insert(
            "200".into(),
            json!({"description": "The file's bytes, as signed",
                   "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
        );
        put(
            format!("{t}/models/{{name}}/versions/{{version}}/package/{{file}}"),
            "get",
            op(
                "One file of a version's package",
                vec![
                    name.clone(),
                    version.clone(),
                    json!({"name": "file", "in": "path", "required": true, "schema": {"type": "string"}}),
                ],
                None,
                Value::Object(r),
            ),
        );
    }
    put(
        format!("{t}/environments/{{env}}/serving"),
        "get",
        op(
            "What a serving replica of the environment needs: targets, signers, API keys (without hashes), allowed roles",
            vec![env_param.clone()],
            None,
            typed("200", schema_of::<warden::ServingState>(), "The state"),
        ),
    );
    put(
        format!("{t}/environments/{{env}}/apikeys/check"),
        "post",
        op(
            "Whether an API key presented to a replica is valid now",
            vec![env_param.clone()],
            Some(body(schema_of::<KeyCheckBody>())),
            typed("200", schema_of::<warden::KeyCheck>(), "The verdict"),
        ),
    );
    put(
        format!("{t}/environments/{{env}}/serving/events"),
        "post",
        op(
            "Record a replica's load or skip of a version",
            vec![env_param],
            Some(body(schema_of::<ServingEventBody>())),
            typed(
                "201",
                schema_of::<warden::api::ServingRecorded>(),
                "Recorded",
            ),
        ),
    );
    put(
        format!("{t}/apikeys"),
        "get",
        op(
            "The inference API keys (never a key or its hash)",
            vec![],
            None,
            typed("200", schema_of::<Vec<warden::ApiKeyRecord>>(), "Keys"),
        ),
    );
    put(
        format!("{t}/apikeys"),
        "post",
        op(
            "Create an inference API key (shown once) for every replica",
            vec![],
            Some(body(schema_of::<ApiKeyBody>())),
            typed("201", schema_of::<warden::api::ApiKeyIssued>(), "Created"),
        ),
    );
    put(
        format!("{t}/apikeys/{{name}}/revoke"),
        "post",
        op(
            "Revoke an inference API key",
            vec![name.clone()],
            None,
            typed("200", schema_of::<warden::ApiKeyRecord>(), "Revoked"),
        ),
    );
    put(
        format!("{t}/keys"),
        "get",
        op(
            "The trust store's keys",
            vec![],
            None,
            typed("200", schema_of::<Vec<warden::KeySummary>>(), "Keys"),
        ),
    );
    put(
        format!("{t}/keys"),
        "post",
        op(
            "Enrol the public half of the caller's approval key",
            vec![],
            Some(body(schema_of::<EnrolBody>())),
            typed("201", schema_of::<warden::KeyInfo>(), "Enrolled"),
        ),
    );
    put(
        format!("{t}/keys/{{name}}/acknowledge"),
        "post",
        op(
            "Acknowledge another principal's approval key (admins)",
            vec![name.clone()],
            None,
            typed("200", schema_of::<warden::KeySummary>(), "Acknowledged"),
        ),
    );
    put(
        format!("{t}/roles"),
        "get",
        op(
            "Role grants",
            vec![],
            None,
            typed("200", schema_of::<warden::RolesReport>(), "Grants"),
        ),
    );
    put(
        format!("{t}/roles/grant"),
        "post",
        op(
            "Grant a role to a principal or group",
            vec![],
            Some(body(schema_of::<GrantBody>())),
            typed("200", schema_of::<warden::RoleGrant>(), "Granted"),
        ),
    );
    put(
        format!("{t}/roles/revoke"),
        "post",
        op(
            "Revoke a role",
            vec![],
            Some(body(schema_of::<GrantBody>())),
            typed("200", schema_of::<warden::api::RoleRevoked>(), "Revoked"),
        ),
    );
    put(
        format!("{t}/tokens"),
        "get",
        op(
            "The caller's access tokens",
            vec![],
            None,
            typed(
                "200",
                schema_of::<Vec<warden::AccessTokenRecord>>(),
                "Tokens",
            ),
        ),
    );
    put(
        format!("{t}/tokens"),
        "post",
        op(
            "Create a personal access token (shown once; identity tokens only)",
            vec![],
            Some(body(schema_of::<TokenBody>())),
            typed("201", schema_of::<warden::api::TokenIssued>(), "Created"),
        ),
    );
    put(
        format!("{t}/tokens/{{name}}/revoke"),
        "post",
        op(
            "Revoke one of the caller's tokens",
            vec![name.clone()],
            None,
            typed("200", schema_of::<warden::AccessTokenRecord>(), "Revoked"),
        ),
    );
    put(
        format!("{t}/audit"),
        "get",
        op(
            "Audit events",
            vec![
                int("since", false),
                text("actor"),
                text("action"),
                int("limit", false),
            ],
            None,
            typed("200", schema_of::<Vec<warden::EventOut>>(), "Events"),
        ),
    );
    put(
        format!("{t}/audit/proof/{{index}}"),
        "get",
        op(
            "An inclusion proof of one event",
            vec![
                json!({"name": "index", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[0-9]+$"}}),
            ],
            None,
            typed("200", schema_of::<warden::ProofFile>(), "The proof"),
        ),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Warden Hub", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                "description": "An OIDC ID token from an issuer of hub.toml, or a personal access token (wdp_...)"}},
            "schemas": {"Error": {"type": "object", "required": ["error"],
                                  "properties": {"error": {"type": "string"}}}},
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Response schemas are OpenAPI 3.1 schema objects: every subschema
    /// inline (no `$ref` into a missing `$defs`) and no positional tuple
    /// forms, so a validator can read them.
    #[test]
    fn response_schemas_are_self_contained_2020_12() {
        fn walk(v: &Value, path: &str, bad: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if o.get("items").is_some_and(Value::is_array) || o.contains_key("prefixItems")
                    {
                        bad.push(format!("{path}: a positional tuple"));
                    }
                    if let Some(Value::String(r)) = o.get("$ref")
                        && !r.starts_with("#/components/")
                    {
                        bad.push(format!("{path}: $ref {r}"));
                    }
                    for (k, x) in o {
                        walk(x, &format!("{path}/{k}"), bad);
                    }
                }
                Value::Array(a) => {
                    for (i, x) in a.iter().enumerate() {
                        walk(x, &format!("{path}/{i}"), bad);
                    }
                }
                _ => {}
            }
        }
        let doc = openapi_document();
        let mut bad = Vec::new();
        walk(&doc["paths"], "", &mut bad);
        assert!(bad.is_empty(), "{bad:#?}");
        let versions = &doc["paths"]["/api/v1/teams/default/models"]["get"]["responses"]["200"];
        let schema = &versions["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "array", "{schema}");
        assert!(
            schema["items"]["properties"]["manifest"].is_object(),
            "{schema}"
        );
    }
    use proptest::prelude::*;

    fn issuer(rules: Vec<GroupRule>, groups_claim: Option<&str>) -> IssuerSettings {
        IssuerSettings {
            name: "github".into(),
            jwt: JwtSettings {
                jwks: JwksSource::File("x".into()),
                jwks_refresh_seconds: 300,
                issuer: "https://token.actions.githubusercontent.com".into(),
                audience: vec!["warden".into()],
                algorithms: vec!["RS256".into()],
                roles_claim: String::new(),
                leeway_seconds: 30,
            },
            principal_claim: "sub".into(),
            groups_claim: groups_claim.map(str::to_string),
            rules,
            login: None,
            browser: None,
        }
    }

    #[test]
    fn a_ci_token_maps_to_its_principal_and_rule_groups() {
        let rules = vec![GroupRule {
            group: "ci-main".into(),
            claims: [
                ("repository".to_string(), "org/app".to_string()),
                ("ref".to_string(), "refs/heads/main".to_string()),
                ("ref_protected".to_string(), "true".to_string()),
            ]
            .into(),
        }];
        let i = issuer(rules, None);
        let main = json!({"sub": "repo:org/app:ref:refs/heads/main", "repository": "org/app",
                          "ref": "refs/heads/main", "ref_protected": true});
        let id = i.identity(&main).unwrap();
        assert_eq!(
            id.principal.as_str(),
            "github.repo+3aorg+2fapp+3aref+3arefs+2fheads+2fmain"
        );
        assert_eq!(id.groups, vec![ActorName::new("group.ci-main").unwrap()]);
        // A branch that is not protected, or another repository, is not in the group.
        let mut other = main.clone();
        other["ref_protected"] = json!(false);
        assert!(i.identity(&other).unwrap().groups.is_empty());
        other = main.clone();
        other["repository"] = json!("org/app-fork");
        assert!(i.identity(&other).unwrap().groups.is_empty());
        // No principal claim, no identity.
        assert!(i.identity(&json!({"repository": "org/app"})).is_err());
        assert!(i.identity(&json!({"sub": ""})).is_err());
        assert!(i.identity(&json!({"sub": "x".repeat(200)})).is_err());
    }

    #[test]
    fn idp_groups_are_namespaced_by_issuer() {
        let i = issuer(Vec::new(), Some("groups"));
        let id = i
            .identity(&json!({"sub": "alice", "groups": ["ml team", "admins"]}))
            .unwrap();
        let g: Vec<&str> = id.groups.iter().map(ActorName::as_str).collect();
        assert_eq!(g, vec!["group.github.admins", "group.github.ml+20team"]);
    }

    proptest! {
        /// Different claim values never give the same principal, and every
        /// escaped value is made of actor-name characters.
        #[test]
        fn escaping_is_injective(a in ".{0,40}", b in ".{0,40}") {
            let (ea, eb) = (escape_claim(&a), escape_claim(&b));
            prop_assert_eq!(a == b, ea == eb);
            prop_assert!(ea.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-@+".contains(&c)));
        }
    }

    #[test]
    fn the_config_refuses_what_it_cannot_honour() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("hub.toml");
        let jwks = dir.path().join("jwks.json");
        std::fs::write(
            &jwks,
            r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRjmIh9O-XB1kgPuv2gBdhmIqSD3hHAxQZjNqMs"}]}"#,
        )
        .unwrap();
        let issuer = "[[issuer]]\nname = \"corp\"\nissuer = \"https://idp.test/\"\naudience = \"hub\"\njwks_file = \"jwks.json\"\nalgorithms = [\"ES256\"]\n";
        let cfg = config_from_toml(issuer, &src).unwrap();
        let hub = cfg.hub.unwrap();
        assert_eq!(hub.issuers[0].name, "corp");
        assert_eq!(hub.issuers[0].login, None);
        let login = format!(
            "{issuer}[issuer.login]\nclient_id = \"warden-cli\"\ndevice_authorization_endpoint = \"https://idp.test/device\"\ntoken_endpoint = \"https://idp.test/token\"\n"
        );
        let l = config_from_toml(&login, &src).unwrap().hub.unwrap().issuers[0]
            .login
            .clone()
            .unwrap();
        assert_eq!(
            (l.scope.as_str(), l.token.as_str()),
            ("openid email", "id_token")
        );
        assert_eq!(cfg.env, "");
        assert!(!cfg.monitor.enabled);
        assert_eq!(hub.max_upload_bytes, DEFAULT_MAX_UPLOAD_BYTES);
        assert_eq!(hub.upload_timeout, DEFAULT_UPLOAD_TIMEOUT);
        assert_eq!(cfg.idle_timeout, std::time::Duration::from_secs(300));
        let up = config_from_toml(
            &format!(
                "max_upload_bytes = 5000\nupload_timeout_seconds = 60.5\nmax_concurrent_uploads = 2\n{issuer}"
            ),
            &src,
        )
        .unwrap()
        .hub
        .unwrap();
        assert_eq!(up.max_upload_bytes, 5000);
        assert_eq!(up.upload_timeout, std::time::Duration::from_secs_f64(60.5));
        assert_eq!(up.max_concurrent_uploads, 2);
        assert_eq!(hub.max_concurrent_uploads, DEFAULT_MAX_CONCURRENT_UPLOADS);
        for (text, says) in [
            ("addr = \"127.0.0.1:1\"\n", "at least one [[issuer]]"),
            (
                &format!("max_upload_bytes = -1\n{issuer}"),
                "max_upload_bytes",
            ),
            (
                &format!("max_upload_bytes = \"1GB\"\n{issuer}"),
                "max_upload_bytes",
            ),
            (
                &format!("upload_timeout_seconds = 0\n{issuer}"),
                "upload_timeout_seconds",
            ),
            (
                &format!("upload_timeout_seconds = nan\n{issuer}"),
                "upload_timeout_seconds",
            ),
            (
                &format!("max_concurrent_uploads = 0\n{issuer}"),
                "max_concurrent_uploads",
            ),
            (
                &format!("env = \"production\"\n{issuer}"),
                "hub serves no models",
            ),
            (
                &format!("[jwt]\nissuer = \"x\"\n{issuer}"),
                "hub serves no models",
            ),
            (&issuer.replace("\"corp\"", "\"group\""), "not \"group\""),
            (&issuer.replace("\"corp\"", "\"mtls\""), "\"mtls\""),
            (
                &format!(
                    "{issuer}[[service_account]]\nname = \"trainer\"\ncertificate_sha256 = \"{}\"\n",
                    "ab".repeat(32)
                ),
                "set [tls] cert, key and client_ca",
            ),
            (
                &format!("{issuer}{}", issuer.replace("corp", "corp2")),
                "configured twice",
            ),
            (&issuer.replace("ES256", "HS256"), "symmetric"),
            (
                &format!("{issuer}[[issuer.group]]\nname = \"all\"\nclaims = {{}}\n"),
                "every token would match",
            ),
            (
                &format!(
                    "{issuer}[issuer.login]\nclient_id = \"c\"\ndevice_authorization_endpoint = \"http://idp.test/device\"\ntoken_endpoint = \"https://idp.test/token\"\n"
                ),
                "login.device_authorization_endpoint",
            ),
            (
                &format!(
                    "{issuer}[issuer.login]\nclient_id = \"c\"\ndevice_authorization_endpoint = \"https://idp.test/device\"\ntoken_endpoint = \"https://idp.test/token\"\ntoken = \"refresh_token\"\n"
                ),
                "id_token or access_token",
            ),
            (
                &format!("{issuer}[issuer.login]\nclient_id = \"c\"\nclient_secret = \"s\"\n"),
                "unknown field `client_secret`",
            ),
        ] {
            let e = config_from_toml(text, &src).unwrap_err().to_string();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
