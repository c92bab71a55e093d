//! The web console (`/console/` on the hub): the registry, evidence,
//! approvals, drift and the audit log for the people who do not live in a
//! terminal, with the same authorisation as the API.
//!
//! - **Sign-in.** The OAuth 2.0 authorization code grant with PKCE (RFC
//!   7636, `S256`) against an issuer the hub trusts (`[issuer.browser]`
//!   in `hub.toml`). The transaction (issuer, `state`, `nonce`, code
//!   verifier) rides in a short-lived `HttpOnly` cookie scoped to this
//!   browser; the hub exchanges the code itself and verifies the ID token
//!   exactly as it verifies a bearer token (signature, issuer, audience,
//!   expiry), plus its `nonce`.
//! - **Session.** The verified ID token is the session: it is kept in a
//!   `__Host-` cookie (`Secure`, `HttpOnly`, `SameSite=Strict`, `Path=/`)
//!   that lives until the token expires, and every page verifies it again
//!   (cached by hash, as bearer tokens are). Nothing is stored on the hub,
//!   so any replica serves any page. The cookie opens console pages only;
//!   the API never reads it.
//! - **Forms.** Every state-changing form carries a CSRF token derived
//!   from the session (`SHA-256` of a label and the token, which a
//!   cross-site page cannot read), and a POST whose `Sec-Fetch-Site` or
//!   `Origin` names another site is refused before the token is compared.
//! - **Pages.** Server-rendered HTML from compiled templates (askama,
//!   escaped by default); every read works without JavaScript. The one
//!   script, `console.js`, verifies audit inclusion proofs and checkpoint
//!   signatures in the browser (WebCrypto Ed25519, RFC 9162 Merkle
//!   hashing), so an auditor need not take the hub's word. Assets are
//!   embedded in the binary and served under their content hash; the
//!   Content-Security-Policy allows no inline script and nothing from
//!   another origin.
//!
//! Every page calls the engine as the signed-in principal: the Rego
//! authorisation policy decides what each person may see and do, denials
//! are audited, and a page a role may not open is answered 403.

mod assets;
mod pages;
mod svg;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use serde::Deserialize;
use sha2::Digest as _;

use crate::Shared;

pub use assets::asset_path;

/// The session cookie: the verified ID token.
pub const SESSION_COOKIE: &str = "__Host-warden-session";
/// The sign-in transaction cookie, alive for [`LOGIN_SECONDS`].
pub const LOGIN_COOKIE: &str = "__Host-warden-login";
/// How long a person has to finish signing in at the identity provider.
const LOGIN_SECONDS: u64 = 600;
/// Browsers keep cookies of at most 4,096 bytes (name, value and
/// attributes); a longer ID token cannot be a session.
const MAX_SESSION_TOKEN: usize = 3800;

/// Code exchanges the hub makes at most, over all browsers.
const CALLBACK_LIMIT: crate::RateLimit = crate::RateLimit {
    per_second: 20.0,
    burst: 100,
};

/// The policy for pages: scripts and styles from this origin only, no
/// inline script, forms post here only, no framing.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
frame-ancestors 'none'";

/// The web client a browser signs in with (the OAuth 2.0 authorization
/// code grant with PKCE).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrowserLogin {
    /// The client id registered at the identity provider.
    pub client_id: String,
    /// Where the browser is sent to sign in (`https://`, or `http://` to
    /// the loopback address).
    pub authorization_endpoint: String,
    /// Where the hub exchanges the code (`https://`, or `http://` to the
    /// loopback address).
    pub token_endpoint: String,
    /// This hub's `/console/callback` as registered at the identity
    /// provider.
    pub redirect_uri: String,
    /// The space-separated scopes requested (`openid email` unless
    /// configured; `openid` is always requested).
    pub scope: String,
    /// The client secret, read from the environment variable the config
    /// names (a confidential client); `None` for a public client, which
    /// PKCE alone protects.
    pub client_secret: Option<String>,
}

/// `[issuer.browser]` as written in `hub.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrowserFile {
    client_id: String,
    authorization_endpoint: String,
    token_endpoint: String,
    redirect_uri: String,
    #[serde(default = "default_scope")]
    scope: String,
    client_secret_env: Option<String>,
}

fn default_scope() -> String {
    "openid email".into()
}

impl BrowserFile {
    /// The settings, or why they cannot work.
    pub(crate) fn check(self) -> Result<BrowserLogin, String> {
        for (field, u) in [
            ("authorization_endpoint", &self.authorization_endpoint),
            ("token_endpoint", &self.token_endpoint),
            ("redirect_uri", &self.redirect_uri),
        ] {
            if !warden::hubclient::endpoint_ok(u) {
                return Err(format!(
                    "browser.{field} {u:?}: https://, or http:// on the loopback address"
                ));
            }
        }
        if !self.redirect_uri.ends_with("/console/callback") {
            return Err(format!(
                "browser.redirect_uri {:?}: must be this hub's /console/callback",
                self.redirect_uri
            ));
        }
        if self.client_id.is_empty() || self.client_id.chars().any(char::is_control) {
            return Err("browser.client_id is empty".into());
        }
        let mut scope: Vec<&str> = self.scope.split_whitespace().collect();
        if !scope.contains(&"openid") {
            scope.insert(0, "openid");
        }
        let client_secret = match self.client_secret_env {
            None => None,
            Some(var) => Some(std::env::var(&var).map_err(|_| {
                format!("browser.client_secret_env: the environment variable {var} is not set")
            })?),
        };
        Ok(BrowserLogin {
            client_id: self.client_id,
            authorization_endpoint: self.authorization_endpoint,
            token_endpoint: self.token_endpoint,
            redirect_uri: self.redirect_uri,
            scope: scope.join(" "),
            client_secret,
        })
    }
}

/// The console's routes, all under `/console`.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/console", get(|| async { see_other("/console/") }))
        .route("/console/login", get(login_page))
        .route("/console/login/{issuer}", get(login_start))
        .route("/console/callback", get(callback))
        .route("/console/logout", post(logout))
        .route("/console/assets/{file}", get(assets::serve))
        .merge(pages::routes())
}

// ---------------------------------------------------------------------------
// Cookies and CSRF

/// A cookie's value from the request's `Cookie` headers. Hand-parsed: the
/// console reads two cookies it wrote itself, whose values are base64url
/// and JWT characters; a cookie crate would add parsing of attributes
/// that requests never carry.
fn cookie<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session token a console request presents (its cookie), if any.
pub fn session_token(h: &HeaderMap) -> Option<&str> {
    cookie(h, SESSION_COOKIE)
}

/// The CSRF token of a session: `SHA-256("warden-console-csrf\0" ||
/// token)`, hex. A page from another site can neither read the session
/// cookie nor this page, so it cannot know the value.
pub fn csrf_token(session: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"warden-console-csrf\0");
    h.update(session.as_bytes());
    hex::encode(h.finalize())
}

/// Whether a state-changing request comes from a console page: the
/// browser's own fetch metadata and origin must not name another site,
/// and the form's token must be the session's.
fn same_site_form(h: &HeaderMap, presented: Option<&str>) -> bool {
    if let Some(site) = h.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && site != "same-origin"
    {
        return false;
    }
    if let (Some(origin), Some(host)) = (
        h.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        h.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        let bare = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        if bare != Some(host) {
            return false;
        }
    }
    let (Some(session), Some(presented)) = (session_token(h), presented) else {
        return false;
    };
    let want = csrf_token(session);
    // Compared in full whatever the first difference, so the time taken
    // says nothing about the token.
    want.len() == presented.len()
        && want
            .bytes()
            .zip(presented.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// `Set-Cookie` for a `__Host-` cookie.
fn set_cookie(name: &str, value: &str, max_age: u64, same_site: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age}; Path=/; Secure; HttpOnly; SameSite={same_site}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("warden-invalid=; Max-Age=0; Path=/"))
}

fn random_b64(n: usize) -> Result<String, getrandom::Error> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b)?;
    Ok(B64URL.encode(b))
}

// ---------------------------------------------------------------------------
// Responses

fn see_other(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Where a request without a valid session goes: the sign-in page.
pub fn to_login() -> Response {
    see_other("/console/login")
}

/// An HTML page with the console's security policy.
pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    r
}

/// A page that says what went wrong, in words, with the status.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let page = pages::Message {
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        message: message.to_string(),
        refresh: None,
        css: asset_path("console.css"),
    };
    html(status, pages::render(&page))
}

// ---------------------------------------------------------------------------
// Sign-in

async fn login_page(State(s): State<Arc<Shared>>) -> Response {
    let issuers: Vec<(String, String)> = s
        .cfg
        .hub
        .iter()
        .flat_map(|h| h.issuers.iter())
        .filter(|i| i.browser.is_some())
        .map(|i| (i.name.clone(), i.jwt.issuer.clone()))
        .collect();
    html(StatusCode::OK, pages::render(&pages::Login::new(issuers)))
}

/// The browser sign-in of the hub's issuer named `name`, if it offers one.
fn browser_login<'a>(s: &'a Shared, name: &str) -> Option<&'a BrowserLogin> {
    s.cfg
        .hub
        .iter()
        .flat_map(|h| h.issuers.iter())
        .find(|i| i.name == name)
        .and_then(|i| i.browser.as_ref())
}

/// `GET /console/login/{issuer}`: starts the authorization code flow.
async fn login_start(State(s): State<Arc<Shared>>, UrlPath(name): UrlPath<String>) -> Response {
    let Some(b) = browser_login(&s, &name) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "no issuer of this hub offers browser sign-in under that name",
        );
    };
    let (Ok(state), Ok(nonce), Ok(verifier)) = (random_b64(24), random_b64(24), random_b64(32))
    else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a sign-in",
        );
    };
    let challenge = B64URL.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &b.client_id)
        .append_pair("redirect_uri", &b.redirect_uri)
        .append_pair("scope", &b.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let sep = if b.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let mut r = see_other(&format!("{}{sep}{query}", b.authorization_endpoint));
    // Lax, not Strict: the identity provider's redirect back is a
    // cross-site top-level navigation, on which only Lax cookies ride.
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &format!("{name}.{state}.{nonce}.{verifier}"),
            LOGIN_SECONDS,
            "Lax",
        ),
    );
    r
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

/// `GET /console/callback`: the identity provider's redirect back.
async fn callback(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    q: Result<Query<CallbackQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = q else {
        return error_page(StatusCode::BAD_REQUEST, "the sign-in answer is malformed");
    };
    if let Some(e) = q.error {
        let why: String = q
            .error_description
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        return error_page(
            StatusCode::UNAUTHORIZED,
            &format!(
                "the identity provider refused the sign-in: {} {why}",
                e.chars().take(64).collect::<String>()
            ),
        );
    }
    // Each answer makes the hub call the identity provider: held to a
    // pace no person signing in comes near, so no one can use the hub to
    // flood the provider.
    if s.limiters
        .check("console:callback", CALLBACK_LIMIT)
        .is_err()
    {
        return error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "too many sign-ins at once; try again in a moment",
        );
    }
    let fresh = "this sign-in was not started in this browser, or took longer than ten minutes; start again";
    let Some(tx) = cookie(&headers, LOGIN_COOKIE) else {
        return error_page(StatusCode::BAD_REQUEST, fresh);
    };
    let parts: Vec<&str> = tx.split('.').collect();
    let [issuer, state, nonce, verifier] = parts[..] else {
        return error_page(StatusCode::BAD_REQUEST, fresh);
    };
    let (Some(code), Some(got_state)) = (q.code, q.state) else {
        return error_page(StatusCode::BAD_REQUEST, "the sign-in answer has no code");
    };
    if got_state != state {
        return error_page(StatusCode::BAD_REQUEST, fresh);
    }
    let Some(b) = browser_login(&s, issuer).cloned() else {
        return error_page(StatusCode::BAD_REQUEST, fresh);
    };
    let issuer = issuer.to_string();
    let verifier = verifier.to_string();
    let exchanged = tokio::task::spawn_blocking(move || exchange(&b, &code, &verifier)).await;
    let token = match exchanged {
        Ok(Ok(t)) => t,
        Ok(Err(why)) => return error_page(StatusCode::BAD_GATEWAY, &why),
        Err(_) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the sign-in could not be completed",
            );
        }
    };
    let Some(hub) = s.hub.as_ref() else {
        return error_page(StatusCode::NOT_FOUND, "this server is not a hub");
    };
    let (id, exp) = match hub.verify_login(&issuer, &token, nonce) {
        Ok(v) => v,
        Err(why) => {
            return error_page(
                StatusCode::UNAUTHORIZED,
                &format!("the identity provider's token was refused: {why}"),
            );
        }
    };
    if token.len() > MAX_SESSION_TOKEN || token.bytes().any(|c| c == b';' || c <= b' ') {
        return error_page(
            StatusCode::UNAUTHORIZED,
            "the identity provider's token is too long to keep as a browser session",
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(u64::MAX);
    // A same-site page, then a refresh: a Strict cookie set on the answer
    // to a cross-site redirect is not sent on a redirect that follows it.
    let page = pages::Message {
        title: "Signed in".into(),
        message: format!("Signed in as {}.", id.principal),
        refresh: Some("/console/".into()),
        css: asset_path("console.css"),
    };
    let mut r = html(StatusCode::OK, pages::render(&page));
    let h = r.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, &token, exp.saturating_sub(now), "Strict"),
    );
    h.append(header::SET_COOKIE, set_cookie(LOGIN_COOKIE, "", 0, "Lax"));
    r
}

/// Exchanges an authorization code for the ID token (RFC 6749 §4.1.3,
/// with the PKCE verifier of RFC 7636 §4.5).
fn exchange(b: &BrowserLogin, code: &str, verifier: &str) -> Result<String, String> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", b.redirect_uri.as_str()),
        ("client_id", b.client_id.as_str()),
        ("code_verifier", verifier),
    ];
    if let Some(secret) = &b.client_secret {
        form.push(("client_secret", secret.as_str()));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(std::time::Duration::from_secs(15)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut resp = agent
        .post(&b.token_endpoint)
        .send_form(form)
        .map_err(|e| format!("the identity provider could not be reached: {e}"))?;
    let status = resp.status();
    let text = resp
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|_| "the identity provider's answer is unreadable".to_string())?;
    if !status.is_success() {
        return Err(format!(
            "the identity provider refused the code ({}): {}",
            status.as_u16(),
            text.chars().take(200).collect::<String>()
        ));
    }
    let answer: TokenAnswer = serde_json::from_str(&text)
        .map_err(|_| "the identity provider's answer is not JSON".to_string())?;
    answer
        .id_token
        .ok_or_else(|| "the identity provider's answer has no id_token".to_string())
}

#[derive(Deserialize)]
struct LogoutForm {
    csrf: Option<String>,
}

/// `POST /console/logout`: forgets the session in this browser.
async fn logout(
    headers: HeaderMap,
    form: Result<axum::Form<LogoutForm>, axum::extract::rejection::FormRejection>,
) -> Response {
    let presented = form.ok().and_then(|axum::Form(f)| f.csrf);
    if !same_site_form(&headers, presented.as_deref()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "this form did not come from a console page of this session",
        );
    }
    let mut r = see_other("/console/login");
    r.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(SESSION_COOKIE, "", 0, "Strict"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let h = headers(&[("cookie", "a=1; __Host-warden-session=tok.en; b=2")]);
        assert_eq!(session_token(&h), Some("tok.en"));
        let h = headers(&[("cookie", "a=1"), ("cookie", "__Host-warden-session=x")]);
        assert_eq!(session_token(&h), Some("x"));
        // A look-alike name is not the cookie.
        let h = headers(&[(
            "cookie",
            "x__Host-warden-session=y; __Host-warden-sessionz=q",
        )]);
        assert_eq!(session_token(&h), None);
        assert_eq!(
            session_token(&headers(&[("cookie", "__Host-warden-session=")])),
            None
        );
    }

    #[test]
    fn a_form_needs_the_sessions_token_and_a_same_site_origin() {
        let csrf = csrf_token("T");
        let ok = headers(&[
            ("cookie", "__Host-warden-session=T"),
            ("host", "hub.example:8443"),
            ("origin", "https://hub.example:8443"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert!(same_site_form(&ok, Some(&csrf)));
        assert!(!same_site_form(&ok, None));
        assert!(!same_site_form(&ok, Some(&csrf_token("U"))));
        assert!(!same_site_form(&ok, Some(&csrf[..63])));
        let cross = headers(&[
            ("cookie", "__Host-warden-session=T"),
            ("host", "hub.example:8443"),
            ("origin", "https://evil.example"),
        ]);
        assert!(!same_site_form(&cross, Some(&csrf)));
        let fetched = headers(&[
            ("cookie", "__Host-warden-session=T"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(!same_site_form(&fetched, Some(&csrf)));
        let no_session = headers(&[("host", "h")]);
        assert!(!same_site_form(&no_session, Some(&csrf)));
    }

    #[test]
    fn browser_settings_are_checked() {
        let file = |redirect: &str, token: &str| BrowserFile {
            client_id: "warden".into(),
            authorization_endpoint: "https://idp.example/authorize".into(),
            token_endpoint: token.into(),
            redirect_uri: redirect.into(),
            scope: "email".into(),
            client_secret_env: None,
        };
        let b = file(
            "https://hub.example/console/callback",
            "https://idp.example/token",
        )
        .check()
        .unwrap();
        assert_eq!(b.scope, "openid email");
        assert!(
            file("https://hub.example/elsewhere", "https://idp.example/token")
                .check()
                .is_err()
        );
        assert!(
            file(
                "https://hub.example/console/callback",
                "http://idp.example/token"
            )
            .check()
            .is_err()
        );
    }
}
