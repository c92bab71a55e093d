//! OAuth2 / OIDC bearer tokens: JWTs checked against a JWKS (signature by
//! a key of the set, algorithm on an allow-list of asymmetric algorithms,
//! issuer, audience, expiry and not-before with a leeway), roles read from
//! a configurable claim. Signature verification is `jsonwebtoken`'s.

use std::path::{Path, PathBuf};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use crate::ServerError;

/// What the `[jwt]` table of the server config says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtSettings {
    /// Where the key set comes from.
    pub jwks: JwksSource,
    /// How often a URL's key set is fetched again (key rotation), in
    /// seconds; 300 unless configured.
    pub jwks_refresh_seconds: u64,
    /// The `iss` a token must carry, compared exactly; required.
    pub issuer: String,
    /// The accepted `aud` values: a token must name at least one of them.
    /// At least one is required.
    pub audience: Vec<String>,
    /// The JOSE names of the algorithms a token may be signed with
    /// (`RS256`, `ES256`, `EdDSA`, …); only public-key algorithms, the
    /// `HS*` family is refused. `RS256` and `ES256` unless configured.
    pub algorithms: Vec<String>,
    /// Where a token's roles are: a claim name, or a dotted path into
    /// nested claims (`realm_access.roles`). The claim is an array of
    /// strings or one space-separated string; a token without it has no
    /// roles. `roles` unless configured; unused on the hub.
    pub roles_claim: String,
    /// Clock skew allowed when checking `exp` and `nbf`, in seconds (30
    /// unless configured).
    pub leeway_seconds: u64,
}

/// A key set read from a file once, or fetched from a URL and refreshed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwksSource {
    /// A JWKS file on disk, read when the verifier is built and not again.
    File(PathBuf),
    /// A JWKS URL (HTTPS, or HTTP to the loopback address; see
    /// [`JwksSource::url`]), fetched when the verifier is built and again
    /// every `jwks_refresh_seconds`.
    Url(String),
}

impl JwksSource {
    /// Checks a URL is one the server will fetch from: HTTPS, or plain
    /// HTTP to the loopback address only.
    pub fn url(u: &str) -> Result<Self, ServerError> {
        let lower = u.to_ascii_lowercase();
        let loopback = [
            "http://127.0.0.1:",
            "http://127.0.0.1/",
            "http://localhost:",
            "http://localhost/",
            "http://[::1]:",
        ];
        if lower.starts_with("https://") || loopback.iter().any(|p| lower.starts_with(p)) {
            Ok(JwksSource::Url(u.to_string()))
        } else {
            Err(ServerError::Config(format!(
                "jwt.jwks_url {u:?}: must be https:// (plain http only to the loopback address)"
            )))
        }
    }

    /// The key set's text (bounded), and what to call it in errors.
    pub fn read(&self) -> Result<(String, String), ServerError> {
        match self {
            JwksSource::File(path) => {
                let meta = std::fs::metadata(path).map_err(|e| {
                    ServerError::Config(format!("jwt.jwks_file {}: {e}", path.display()))
                })?;
                if meta.len() > MAX_JWKS_BYTES {
                    return Err(ServerError::Config(format!(
                        "jwt.jwks_file {}: larger than {MAX_JWKS_BYTES} bytes",
                        path.display()
                    )));
                }
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ServerError::Config(format!("jwt.jwks_file {}: {e}", path.display()))
                })?;
                Ok((text, path.display().to_string()))
            }
            JwksSource::Url(url) => {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(std::time::Duration::from_secs(10)))
                    .max_redirects(0)
                    .build()
                    .into();
                let mut resp = agent
                    .get(url)
                    .header("Accept", "application/json")
                    .call()
                    .map_err(|e| ServerError::Config(format!("jwt.jwks_url {url}: {e}")))?;
                let text = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_JWKS_BYTES)
                    .read_to_string()
                    .map_err(|e| ServerError::Config(format!("jwt.jwks_url {url}: {e}")))?;
                Ok((text, url.clone()))
            }
        }
    }
}

/// A key set, read from a file or fetched from a URL, is at most this
/// large (1 MiB).
const MAX_JWKS_BYTES: u64 = 1 << 20;
/// A token is at most this long.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Who a verified token names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtIdentity {
    /// The token's `sub` claim, as it is.
    pub subject: String,
    /// The roles read from the configured roles claim; empty if the token
    /// has none.
    pub roles: Vec<String>,
}

/// Checks tokens against one key set and one set of expectations.
pub struct JwtVerifier {
    keys: Vec<(Option<String>, DecodingKey, Option<Algorithm>)>,
    algorithms: Vec<Algorithm>,
    settings: JwtSettings,
}

fn algorithm(name: &str) -> Result<Algorithm, ServerError> {
    let alg: Algorithm = name
        .parse()
        .map_err(|_| ServerError::Config(format!("jwt.algorithms: unknown algorithm {name:?}")))?;
    if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
        return Err(ServerError::Config(format!(
            "jwt.algorithms: {name} is symmetric; only public-key algorithms (RS*, PS*, ES256, ES384, EdDSA) are accepted"
        )));
    }
    Ok(alg)
}

impl JwtVerifier {
    /// Reads (or fetches) the key set and checks the settings.
    pub fn load(settings: JwtSettings) -> Result<Self, ServerError> {
        let (text, source) = settings.jwks.read()?;
        Self::from_jwks(&text, Path::new(&source), settings)
    }

    /// The settings this verifier was built with.
    pub fn settings(&self) -> &JwtSettings {
        &self.settings
    }

    /// Builds a verifier from JWKS text (`source` names it in errors).
    pub fn from_jwks(
        text: &str,
        source: &Path,
        settings: JwtSettings,
    ) -> Result<Self, ServerError> {
        let set: JwkSet = serde_json::from_str(text).map_err(|e| {
            ServerError::Config(format!("{}: not a JWK set: {e}", source.display()))
        })?;
        let algorithms = settings
            .algorithms
            .iter()
            .map(|a| algorithm(a))
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err(ServerError::Config("jwt.algorithms is empty".into()));
        }
        if settings.issuer.is_empty() || settings.audience.is_empty() {
            return Err(ServerError::Config(
                "jwt.issuer and jwt.audience are required".into(),
            ));
        }
        let mut keys = Vec::new();
        for (i, jwk) in set.keys.iter().enumerate() {
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| ServerError::Config(format!("{}: key {i}: {e}", source.display())))?;
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok());
            keys.push((jwk.common.key_id.clone(), key, alg));
        }
        if keys.is_empty() {
            return Err(ServerError::Config(format!(
                "{}: the key set has no keys",
                source.display()
            )));
        }
        Ok(JwtVerifier {
            keys,
            algorithms,
            settings,
        })
    }

    /// Verifies `token`; the error is a reason safe to show the caller.
    pub fn verify(&self, token: &str) -> Result<JwtIdentity, &'static str> {
        let claims = self.verify_claims(token)?;
        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or("token subject is not a string")?
            .to_string();
        let mut claim = Some(&claims);
        for part in self.settings.roles_claim.split('.') {
            claim = claim.and_then(|c| c.get(part));
        }
        let roles = match claim {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Ok(JwtIdentity { subject, roles })
    }

    /// Verifies `token` (signature by a key of the set under an allowed
    /// algorithm, issuer, audience, expiry, not-before) and returns its
    /// claims; the error is a reason safe to show the caller.
    pub fn verify_claims(&self, token: &str) -> Result<Value, &'static str> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err("token too long");
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        if !self.algorithms.contains(&header.alg) {
            return Err("token algorithm not accepted");
        }
        let candidates: Vec<&(Option<String>, DecodingKey, Option<Algorithm>)> = match &header.kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(|(k, _, _)| k.as_deref() == Some(kid.as_str()))
                .collect(),
            None if self.keys.len() == 1 => self.keys.iter().collect(),
            None => return Err("token names no key (kid) and the key set has several"),
        };
        let Some((_, key, declared)) = candidates.first() else {
            return Err("token signed by an unknown key");
        };
        if declared.is_some_and(|a| a != header.alg) {
            return Err("token algorithm does not match its key");
        }
        let mut v = Validation::new(header.alg);
        v.algorithms = vec![header.alg];
        v.leeway = self.settings.leeway_seconds;
        v.validate_nbf = true;
        v.set_issuer(&[self.settings.issuer.as_str()]);
        v.set_audience(&self.settings.audience);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<Value>(token, key, &v).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => "token expired",
                K::ImmatureSignature => "token not valid yet",
                K::InvalidSignature => "token signature invalid",
                K::InvalidIssuer => "token issuer not accepted",
                K::InvalidAudience => "token audience not accepted",
                K::MissingRequiredClaim(_) => "token lacks a required claim (exp, iss, aud, sub)",
                _ => "invalid token",
            }
        })?;
        Ok(data.claims)
    }
}

/// The `iss` claim of a token, read without verifying anything: only to
/// choose which issuer's verifier checks it (that verifier checks `iss`
/// again, under the signature).
pub fn unverified_issuer(token: &str) -> Option<String> {
    use base64::Engine as _;
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let mut parts = token.split('.');
    let (_, payload) = (parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("iss")?.as_str().map(str::to_string)
}

/// The `[jwt]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtFile {
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    #[serde(default = "default_refresh")]
    pub jwks_refresh_seconds: u64,
    pub issuer: String,
    pub audience: OneOrMany,
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn default_roles_claim() -> String {
    "roles".into()
}

fn default_leeway() -> u64 {
    30
}

fn default_refresh() -> u64 {
    300
}
