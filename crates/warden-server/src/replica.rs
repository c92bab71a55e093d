//! A serving replica that follows a hub: `warden serve --hub URL --env E`.
//!
//! The replica has no workspace. At each refresh it first checks that the
//! hub's signed checkpoint extends the newest one this machine has seen (a
//! consistency proof, as every hub client does), then reads the
//! environment's serving state from the hub: which version each model
//! holds, the trust store's unrevoked signers, the API keys' records and
//! the roles the policy allows. A version not yet served is downloaded file
//! by file and verified here, against the signers (or the keys pinned on
//! the replica with `--trust-key`), before a byte of it is parsed; a hub
//! that sends other bytes than it signed gets a skip, not a load.
//!
//! The hub keeps the secret its API keys are hashed with. A replica knows
//! each key's record (role, limit, expiry, revocation, block) from the
//! state, and asks the hub once whether a presented key's secret is right;
//! the answer is kept (as the key's SHA-256, in memory) while the key's
//! record stays, so a revocation takes effect at the next refresh.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use warden::{
    ApiKeyRecord, KeyCheck, KeyRejection, PackageListing, ServedModel, ServingState, ServingTarget,
    Signer, hubclient,
};
use warden_core::{Action, Timestamp};

use crate::config::ServeConfig;
use crate::state::{ACTIONS, Keys, Read, Source};

/// Every registry path on the hub is under its one team.
const TEAM: &str = "/api/v1/teams/default";
/// The largest serving state or listing a replica reads (JSON).
const MAX_JSON_BYTES: u64 = 64 << 20;
/// The largest package file a replica downloads.
const MAX_FILE_BYTES: u64 = 8 << 30;
/// Presented keys the hub is asked about, per second, at most: beyond it
/// a key not seen before is refused until the budget refills, so a flood
/// of made-up secrets cannot turn a replica against its hub.
const KEY_CHECKS_PER_SECOND: u32 = 20;
/// How long a request waits for the hub to check a key it presented.
const KEY_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Verdicts kept before the cache is emptied (each is 32 bytes and an id).
const MAX_CACHED_VERDICTS: usize = 100_000;

/// How a replica reaches its hub.
pub struct HubSettings {
    /// The hub's base URL (`https://hub.example.com`).
    pub url: String,
    /// The credential the replica acts with (a personal access token or
    /// an identity token) whose roles allow `serve.run` on the environment.
    pub token: String,
    /// The log verifier key the hub's checkpoints must be signed by (the
    /// one `warden login` pinned).
    pub vkey: String,
    /// Where this machine remembers the newest checkpoint it has seen.
    pub user_dir: PathBuf,
    /// The environment followed.
    pub env: String,
    /// Keys pinned on the replica: when set, a package must be signed by
    /// one of them, whatever the hub lists.
    pub trust: Option<Vec<Signer>>,
}

/// The connection to the hub, shared with the key checker.
struct Conn {
    base: String,
    token: String,
    env: String,
    agent: ureq::Agent,
}

fn failure(url: &str, message: impl Into<String>) -> warden::Error {
    warden::Error::Io {
        path: PathBuf::from(url),
        source: std::io::Error::other(message.into()),
    }
}

impl Conn {
    /// One call with the token; the body of a 2xx answer, else an error
    /// with the hub's message.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        limit: u64,
    ) -> Result<Vec<u8>, warden::Error> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let sent = match body {
            None if method == "GET" => self.agent.get(&url).header("Authorization", &auth).call(),
            _ => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(body.map(Value::to_string).unwrap_or_else(|| "{}".into())),
        };
        let mut r = sent.map_err(|e| failure(&url, e.to_string()))?;
        let status = r.status().as_u16();
        let bytes = r
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| failure(&url, e.to_string()))?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_slice(&bytes)
                .ok()
                .and_then(warden::api::ErrorBody::message_of)
                .unwrap_or_else(|| "no message".into());
            return Err(failure(
                &url,
                format!("the hub answered {status}: {message}"),
            ));
        }
        Ok(bytes)
    }

    fn json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, warden::Error> {
        let bytes = self.call(method, path, body, MAX_JSON_BYTES)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            failure(
                &format!("{}{path}", self.base),
                format!("the answer is not what this replica reads: {e}"),
            )
        })
    }
}

/// A replica's link to its hub: the [`Source`] its refreshes read.
pub struct HubLink {
    conn: Arc<Conn>,
    vkey: String,
    user_dir: PathBuf,
    trust: Option<Vec<Signer>>,
    /// The state read by the last refresh (its digests and signers are
    /// what that refresh's loads are checked against).
    last: Mutex<Option<ServingState>>,
    checker: Arc<KeyChecker>,
}

impl HubLink {
    /// A link with these settings; nothing is contacted yet.
    pub fn new(s: HubSettings) -> HubLink {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .timeout_connect(Some(Duration::from_secs(10)))
            .max_redirects(0)
            .build()
            .into();
        let conn = Arc::new(Conn {
            base: s.url.trim_end_matches('/').to_string(),
            token: s.token,
            env: s.env,
            agent,
        });
        let per_second = NonZeroU32::new(KEY_CHECKS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        // A key is checked while its request waits: a hub that does not
        // answer within seconds refuses the key this time, rather than
        // holding a server thread for as long as a package download may take.
        let check = Arc::new(Conn {
            base: conn.base.clone(),
            token: conn.token.clone(),
            env: conn.env.clone(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(KEY_CHECK_TIMEOUT))
                .max_redirects(0)
                .build()
                .into(),
        });
        HubLink {
            checker: Arc::new(KeyChecker {
                conn: check,
                verdicts: Mutex::new(HashMap::new()),
                budget: DefaultDirectRateLimiter::direct(Quota::per_second(per_second)),
            }),
            conn,
            vkey: s.vkey,
            user_dir: s.user_dir,
            trust: s.trust,
            last: Mutex::new(None),
        }
    }

    /// The hub's base URL.
    pub fn url(&self) -> &str {
        &self.conn.base
    }

    /// Checks that the hub's newest checkpoint extends the newest this
    /// machine has seen (by a consistency proof when the log grew), then
    /// remembers it. A rewritten or forked history is an error, and the
    /// replica then keeps serving what it verified before.
    pub fn follow_checkpoint(&self) -> Result<(), warden::Error> {
        let url = format!("{}/checkpoint", self.conn.base);
        let mut r = self
            .conn
            .agent
            .get(&url)
            .call()
            .map_err(|e| failure(&url, e.to_string()))?;
        if r.status().as_u16() != 200 {
            return Err(failure(
                &url,
                format!("the hub answered {}", r.status().as_u16()),
            ));
        }
        let note = r
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_string()
            .map_err(|e| failure(&url, e.to_string()))?;
        let cp = hubclient::open_checkpoint(&note, &self.vkey)?;
        if let Some(old) = hubclient::remembered_checkpoint(&self.user_dir, &cp.origin)? {
            let proof = if cp.size > old.size {
                let p: warden::ProofFile = self.conn.json(
                    "GET",
                    &format!("/log/consistency?old={}&new={}", old.size, cp.size),
                    None,
                )?;
                match p {
                    warden::ProofFile::Consistency(p) => Some(p),
                    _ => {
                        return Err(warden::Error::Verification(
                            "the hub answered a consistency request with another kind of proof"
                                .into(),
                        ));
                    }
                }
            } else {
                None
            };
            hubclient::check_extends(&old, &cp, proof.as_ref())?;
        }
        hubclient::remember_checkpoint(&self.user_dir, &cp)
    }

    fn signers<'a>(&'a self, state: &'a ServingState) -> &'a [Signer] {
        self.trust.as_deref().unwrap_or(&state.signers)
    }
}

/// A path segment with everything but unreserved characters
/// percent-encoded (RFC 3986, section 2.3).
fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Source for HubLink {
    fn read(&self, cfg: &ServeConfig) -> Result<Read, warden::Error> {
        let state: ServingState = self.conn.json(
            "GET",
            &format!("{TEAM}/environments/{}/serving", segment(&cfg.env)),
            None,
        )?;
        if state.env != cfg.env {
            return Err(warden::Error::Verification(format!(
                "the hub answered for environment {:?}, not {:?}",
                state.env, cfg.env
            )));
        }
        let targets = state
            .targets
            .iter()
            .map(|t| ServingTarget {
                model: t.model.clone(),
                version: t.version,
                quarantine: t.quarantine.clone(),
            })
            .collect();
        let mut allowed: HashMap<Action, HashSet<String>> = HashMap::new();
        for action in ACTIONS {
            let roles = state
                .allowed
                .get(action.as_str())
                .cloned()
                .unwrap_or_default();
            allowed.insert(action, roles.into_iter().collect());
        }
        let keys = Keys::Hub(HubKeys {
            records: state
                .api_keys
                .iter()
                .map(|r| (r.id.clone(), r.clone()))
                .collect(),
            blocked: state.blocked.iter().cloned().collect(),
            checker: self.checker.clone(),
        });
        self.checker.keep_only(&state.api_keys);
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
        Ok(Read {
            targets,
            keys,
            allowed,
            tokens: None,
        })
    }

    fn load(&self, t: &ServingTarget) -> Result<ServedModel, warden::Error> {
        let title = format!("{}@{}", t.model, t.version);
        let state = self
            .last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| warden::Error::Verification(format!("{title}: no serving state")))?;
        let digest = state
            .targets
            .iter()
            .find(|f| f.model == t.model && f.version == t.version)
            .map(|f| f.digest.clone())
            .ok_or_else(|| warden::Error::NotFound(format!("{title} in the serving state")))?;
        let base = format!(
            "{TEAM}/models/{}/versions/{}/package",
            segment(&t.model),
            t.version
        );
        let listing: PackageListing = self.conn.json("GET", &base, None)?;
        if listing.digest != digest {
            return Err(warden::Error::Verification(format!(
                "model {title}: the hub's package is {}, its serving state says {digest}",
                listing.digest
            )));
        }
        let bundle = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            listing.signature.as_bytes(),
        )
        .map_err(|e| warden::Error::Verification(format!("model {title}: signature: {e}")))?;
        let mut files = BTreeMap::new();
        let mut hashed = BTreeMap::new();
        for (name, want) in &listing.files {
            let bytes = self.conn.call(
                "GET",
                &format!("{base}/{}", segment(name)),
                None,
                MAX_FILE_BYTES,
            )?;
            let got = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
            if &got != want {
                return Err(warden::Error::Verification(format!(
                    "model {title}: the hub sent {name} as {got}; its listing says {want}"
                )));
            }
            files.insert(name.clone(), bytes);
            hashed.insert(name.clone(), got.trim_start_matches("sha256:").to_string());
        }
        let key = warden::verify_package(&title, &digest, &bundle, &hashed, self.signers(&state))?;
        ServedModel::from_verified(&t.model, t.version, &digest, &files, key)
    }

    fn record(
        &self,
        action: &str,
        t: &ServingTarget,
        env: &str,
        details: Value,
    ) -> Result<(), warden::Error> {
        let _: Value = self.conn.json(
            "POST",
            &format!("{TEAM}/environments/{}/serving/events", segment(env)),
            Some(&json!({
                "action": action,
                "model": t.model,
                "version": t.version,
                "details": details,
            })),
        )?;
        Ok(())
    }
}

/// Asks the hub whether a presented key's secret is right, and remembers
/// the answer.
pub struct KeyChecker {
    conn: Arc<Conn>,
    /// By the presented key's SHA-256: the key id the hub confirmed, or
    /// `None` when it said the secret is wrong.
    verdicts: Mutex<HashMap<[u8; 32], Option<String>>>,
    budget: DefaultDirectRateLimiter,
}

impl KeyChecker {
    /// Drops the verdicts of keys the hub no longer lists.
    fn keep_only(&self, records: &[ApiKeyRecord]) {
        let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let mut v = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|_, id| id.as_deref().is_none_or(|id| ids.contains(id)));
    }

    /// Whether the hub confirms `presented` is the key `id` (its secret is
    /// right; revocation, expiry and blocks are read from the records).
    fn confirms(&self, presented: &str, id: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if let Some(v) = self
            .verdicts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
        {
            return v.as_deref() == Some(id);
        }
        if self.budget.check().is_err() {
            return false;
        }
        let path = format!(
            "{TEAM}/environments/{}/apikeys/check",
            segment(&self.conn.env)
        );
        let body = json!({"key": presented});
        // The check is a blocking call; on a server thread it runs in
        // place while the runtime moves other work elsewhere.
        let ask = || self.conn.json::<KeyCheck>("POST", &path, Some(&body));
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(ask)
            }
            _ => ask(),
        };
        // A failed call is not remembered: the next request asks again.
        let Ok(answer) = answer else {
            return false;
        };
        let secret_right = answer.id.is_some()
            || matches!(
                answer
                    .rejection
                    .as_deref()
                    .and_then(KeyRejection::from_name),
                Some(KeyRejection::Revoked | KeyRejection::Expired | KeyRejection::Blocked)
            );
        let verdict = secret_right.then(|| id.to_string());
        let mut v = self.verdicts.lock().unwrap_or_else(|p| p.into_inner());
        if v.len() >= MAX_CACHED_VERDICTS {
            v.clear();
        }
        v.insert(digest, verdict.clone());
        verdict.as_deref() == Some(id)
    }
}

/// The API keys as a replica knows them: the hub's records, checked
/// against the hub (see the module's documentation).
pub struct HubKeys {
    records: HashMap<String, ApiKeyRecord>,
    blocked: HashSet<String>,
    checker: Arc<KeyChecker>,
}

impl HubKeys {
    /// The record of a valid key.
    pub fn verify(&self, presented: &str, now: &Timestamp) -> Result<&ApiKeyRecord, KeyRejection> {
        let id = warden::api_key_id(presented).ok_or(KeyRejection::Malformed)?;
        let rec = self.records.get(id).ok_or(KeyRejection::Unknown)?;
        if !self.checker.confirms(presented, id) {
            return Err(KeyRejection::Unknown);
        }
        if rec.revoked_at.is_some() {
            return Err(KeyRejection::Revoked);
        }
        if rec.expires_at.as_ref().is_some_and(|e| e <= now) {
            return Err(KeyRejection::Expired);
        }
        if self.blocked.contains(id) {
            return Err(KeyRejection::Blocked);
        }
        Ok(rec)
    }

    /// Every key's record.
    pub fn records(&self) -> impl Iterator<Item = &ApiKeyRecord> {
        self.records.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_keeps_only_unreserved_characters() {
        assert_eq!(segment("model.onnx"), "model.onnx");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
        assert_eq!(segment("../x"), "..%2Fx");
        assert_eq!(segment("é"), "%C3%A9");
    }
}
