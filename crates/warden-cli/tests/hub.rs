//! End-to-end: `warden hub serve` on 127.0.0.1 with two test OIDC issuers
//! (a company identity provider and a CI provider, keys generated here),
//! over a workspace made by `warden demo --keep`, driven over real HTTP.
//! The attackers played: an outsider with forged, expired, replayed or
//! misdirected tokens; an insider approving their own model or signing
//! with someone else's key; a pipeline outside its protected branch.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{Value, json};

mod pki;

const CORP: &str = "https://idp.test/";
const CI: &str = "https://ci.test/";
const AUDIENCE: &str = "warden-hub";

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("warden")
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The demo's workspace, made once per test process and copied per test.
fn template() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let o = Command::new(bin())
            .args(["demo", "--keep"])
            .arg(d.path().join("ws"))
            .env_remove("WARDEN_WORKSPACE")
            .env_remove("WARDEN_KEY_PASSPHRASE")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "demo failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        d
    })
    .path()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

fn workspace() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&template().join("ws"), d.path());
    d
}

/// `warden` run locally on the hub's machine as `actor`: exit code, stdout.
fn run(ws: &Path, actor: &str, args: &[&str]) -> (i32, String) {
    let o = Command::new(bin())
        .args(args)
        .current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", ws.join(".user"))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// As [`run`], expecting success.
fn ok(ws: &Path, actor: &str, args: &[&str]) -> String {
    let o = Command::new(bin())
        .args(args)
        .current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", ws.join(".user"))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "warden {args:?}\n{out}\n{err}");
    out
}

/// Grants `role` to `who` as the admin (the demo's hub step may have).
fn grant(ws: &Path, who: &str, role: &str) {
    let o = Command::new(bin())
        .args(["roles", "grant", who, role])
        .current_dir(ws)
        .env("WARDEN_ACTOR", "ana")
        .env("WARDEN_CONFIG_DIR", ws.join(".user"))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() || err.contains("already holds"), "{err}");
}

/// A test identity provider: one P-256 key, tokens minted on demand.
struct Issuer {
    iss: &'static str,
    key: SigningKey,
    kid: &'static str,
}

impl Issuer {
    fn new(iss: &'static str, seed: u8, kid: &'static str) -> Self {
        Issuer {
            iss,
            key: SigningKey::from_slice(&[seed; 32]).unwrap(),
            kid,
        }
    }

    fn jwks(&self) -> Value {
        let point = self.key.verifying_key().to_sec1_point(false);
        let b = point.as_bytes();
        json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256", "use": "sig",
                         "x": b64(&b[1..33]), "y": b64(&b[33..65])}]})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    /// A valid token for `claims` (iss, aud, exp, iat added).
    fn token(&self, claims: Value) -> String {
        let mut c = json!({"iss": self.iss, "aud": AUDIENCE, "exp": now() + 600, "iat": now()});
        for (k, v) in claims.as_object().unwrap() {
            c[k] = v.clone();
        }
        self.sign(&json!({"alg": "ES256", "typ": "JWT", "kid": self.kid}), &c)
    }
}

/// Waits (up to 10 s) until `done` holds, failing with `what` if it never does.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

struct Hub {
    child: Child,
    base: String,
}

impl Hub {
    fn start(ws: &Path, corp: &Issuer, ci: &Issuer) -> Hub {
        Hub::start_with(ws, corp, ci, "")
    }

    /// As [`Hub::start`], with more TOML for the corp issuer's table.
    fn start_with(ws: &Path, corp: &Issuer, ci: &Issuer, corp_extra: &str) -> Hub {
        Hub::start_env(ws, corp, ci, corp_extra, &[])
    }

    /// As [`Hub::start_with`], with more environment for the process.
    fn start_env(
        ws: &Path,
        corp: &Issuer,
        ci: &Issuer,
        corp_extra: &str,
        envs: &[(&str, &str)],
    ) -> Hub {
        Hub::start_at(ws, corp, ci, corp_extra, envs, "127.0.0.1:0", "")
    }

    /// As [`Hub::start`], with more top-level settings in `hub.toml`.
    fn start_top(ws: &Path, corp: &Issuer, ci: &Issuer, top: &str) -> Hub {
        Hub::start_at(ws, corp, ci, "", &[], "127.0.0.1:0", top)
    }

    /// As [`Hub::start_env`], listening on `addr`, with `top` among the
    /// top-level settings of `hub.toml`.
    fn start_at(
        ws: &Path,
        corp: &Issuer,
        ci: &Issuer,
        corp_extra: &str,
        envs: &[(&str, &str)],
        addr: &str,
        top: &str,
    ) -> Hub {
        std::fs::write(ws.join("corp-jwks.json"), corp.jwks().to_string()).unwrap();
        std::fs::write(ws.join("ci-jwks.json"), ci.jwks().to_string()).unwrap();
        let cfg = ws.join("hub.toml");
        std::fs::write(
            &cfg,
            format!(
                "addr = \"{addr}\"\n\
                 reload_interval_seconds = 0.3\n\
                 default_rate_limit = {{ per_second = 5000.0, burst = 5000 }}\n\
                 max_concurrency = 512\n{top}\
                 [[issuer]]\nname = \"corp\"\nissuer = \"{CORP}\"\naudience = \"{AUDIENCE}\"\n\
                 jwks_file = \"corp-jwks.json\"\nalgorithms = [\"ES256\"]\nprincipal_claim = \"email\"\n\
                 groups_claim = \"groups\"\nleeway_seconds = 5\n{corp_extra}\
                 [[issuer]]\nname = \"ci\"\nissuer = \"{CI}\"\naudience = \"{AUDIENCE}\"\n\
                 jwks_file = \"ci-jwks.json\"\nalgorithms = [\"ES256\"]\nleeway_seconds = 5\n\
                 [[issuer.group]]\nname = \"ci-main\"\n\
                 claims = {{ repository = \"org/app\", ref = \"refs/heads/main\", ref_protected = \"true\" }}\n"
            ),
        )
        .unwrap();
        let mut child = Command::new(bin())
            .args(["hub", "serve", "--config"])
            .arg(&cfg)
            .current_dir(ws)
            .env("WARDEN_ACTOR", "omar")
            .env("WARDEN_CONFIG_DIR", ws.join(".user"))
            .env_remove("WARDEN_WORKSPACE")
            .env_remove("WARDEN_KEY_PASSPHRASE")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    if let Some(rest) = l.split("listening on ").nth(1) {
                        let base = rest.split_whitespace().next().unwrap().to_string();
                        return Hub { child, base };
                    }
                    seen.push(l);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("hub did not start: {seen:?}");
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        if ["/api/v1/whoami", "/checkpoint", "/log/", "/login/"]
            .iter()
            .any(|p| path.starts_with(p))
        {
            format!("{}{path}", self.base)
        } else {
            format!("{}/api/v1/teams/default{path}", self.base)
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.unwrap();
    Reply {
        status: r.status().as_u16(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(a: &ureq::Agent, url: &str, token: Option<&str>) -> Reply {
    let mut req = a.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    reply(req.call())
}

fn post(a: &ureq::Agent, url: &str, token: &str, body: &Value) -> Reply {
    reply(
        a.post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string()),
    )
}

/// The demo's production model and its digest, as the hub reports it.
fn newest_credit(a: &ureq::Agent, hub: &Hub, token: &str) -> (u64, String, String) {
    let r = get(a, &hub.url("/models/credit"), Some(token));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let newest = v["versions"]
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|m| m["version"].as_u64())
        .unwrap()
        .clone();
    (
        newest["version"].as_u64().unwrap(),
        newest["digest"].as_str().unwrap().to_string(),
        newest["created_by"].as_str().unwrap().to_string(),
    )
}

/// An approver's own key and the DSSE approval it signs, built here as
/// the approver's machine would (the hub never sees the private key).
struct ApprovalKey {
    key: SigningKey,
}

impl ApprovalKey {
    fn public_pem(&self) -> String {
        use p256::pkcs8::EncodePublicKey;
        self.key
            .verifying_key()
            .to_public_key_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
    }

    fn envelope(&self, key_id: &str, model: &str, v: u64, digest: &str, approver: &str) -> Value {
        let statement = json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": format!("{model}@{v}"), "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
            "predicateType": "https://warden.local/approval/v1",
            "predicate": {"environment": "production", "approver": approver, "comment": "reviewed", "time": "2026-12-06T00:00:00.000000Z"},
        });
        let payload = statement.to_string();
        let ty = "application/vnd.in-toto+json";
        // DSSE's pre-authentication encoding.
        let pae = format!("DSSEv1 {} {ty} {} {payload}", ty.len(), payload.len());
        let sig: Signature = self.key.sign(pae.as_bytes());
        let std = base64::engine::general_purpose::STANDARD;
        json!({"payloadType": ty, "payload": std.encode(payload.as_bytes()),
               "signatures": [{"keyid": key_id, "sig": std.encode(sig.to_der().as_bytes())}]})
    }
}

#[test]
fn identity_is_proven_and_roles_are_the_workspaces_grants() {
    let tmp = workspace();
    let ws = tmp.path();
    for (who, role) in [
        ("corp.alice@example.com", "approver"),
        ("corp.carol@example.com", "approver"),
        ("corp.bob@example.com", "admin"),
        ("corp.audrey@example.com", "auditor"),
        ("group.ci-main", "operator"),
    ] {
        grant(ws, who, role);
    }
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let alice = corp.token(json!({"sub": "u-1", "email": "alice@example.com"}));
    let whoami = hub.url("/api/v1/whoami");

    let r = get(&a, &whoami, Some(&alice));
    assert_eq!(r.status, 200, "{}", r.body);
    let me = r.json();
    assert_eq!(me["principal"], "corp.alice@example.com");
    assert_eq!(me["roles"], json!(["approver"]));
    assert_eq!(me["team"], "default");

    // Tokens that prove nothing.
    let claims = json!({"iss": CORP, "aud": AUDIENCE, "sub": "u-1", "email": "alice@example.com",
                        "exp": now() + 600});
    let with = |k: &str, v: Value| {
        let mut c = claims.clone();
        c[k] = v;
        c
    };
    let header = json!({"alg": "ES256", "kid": "corp-1"});
    let public_jwk = corp.jwks()["keys"][0].to_string();
    let hs256_with_public_key = {
        use hmac::{KeyInit, Mac};
        let h = b64(json!({"alg": "HS256", "kid": "corp-1"})
            .to_string()
            .as_bytes());
        let c = b64(claims.to_string().as_bytes());
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(public_jwk.as_bytes()).unwrap();
        mac.update(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", b64(&mac.finalize().into_bytes()))
    };
    for (token, why) in [
        (
            corp.sign(&header, &with("exp", json!(now() - 3600))),
            "expired",
        ),
        (
            corp.sign(&header, &with("nbf", json!(now() + 3600))),
            "not valid yet",
        ),
        (
            corp.sign(&header, &with("aud", json!("another-service"))),
            "audience",
        ),
        // Signed by the CI provider's key but claiming the company issuer.
        (
            ci.sign(&json!({"alg": "ES256", "kid": "corp-1"}), &claims),
            "signature",
        ),
        // A well-formed token from an issuer the hub does not trust.
        (
            Issuer::new("https://evil.test/", 3, "corp-1")
                .token(json!({"email": "alice@example.com", "sub": "x"})),
            "issuer not accepted",
        ),
        (
            corp.sign(&json!({"alg": "ES256", "kid": "rotated-away"}), &claims),
            "unknown key",
        ),
        (
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none"}"#),
                b64(claims.to_string().as_bytes())
            ),
            "token",
        ),
        (hs256_with_public_key, "algorithm not accepted"),
        (
            corp.sign(
                &header,
                &json!({"iss": CORP, "aud": AUDIENCE, "exp": now() + 600, "sub": "u-1"}),
            ),
            "principal claim",
        ),
        ("not-a-token".to_string(), "token"),
    ] {
        let r = get(&a, &whoami, Some(&token));
        assert_eq!(r.status, 401, "{why}: {}", r.body);
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
    assert_eq!(get(&a, &whoami, None).status, 401);
    // Alice's token is verified and remembered now; one character changed
    // in its signature is a new token, checked in full and refused.
    let mut forged: Vec<char> = alice.chars().collect();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == 'A' { 'B' } else { 'A' };
    let forged: String = forged.into_iter().collect();
    let r = get(&a, &whoami, Some(&forged));
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(get(&a, &whoami, Some(&alice)).status, 200);
    // An inference API key does not open the hub.
    let key = ok(
        ws,
        "omar",
        &["apikey", "create", "web", "--role", "predictor"],
    );
    let r = get(&a, &whoami, Some(key.trim()));
    assert_eq!(r.status, 401, "{}", r.body);

    // Reads and writes by role, both ways.
    let audrey = corp.token(json!({"sub": "u-4", "email": "audrey@example.com"}));
    let bob = corp.token(json!({"sub": "u-3", "email": "bob@example.com"}));
    let stranger = corp.token(json!({"sub": "u-9", "email": "eve@example.com"}));
    assert_eq!(
        get(&a, &hub.url("/audit?limit=5"), Some(&audrey)).status,
        200
    );
    assert_eq!(get(&a, &hub.url("/models"), Some(&stranger)).status, 403);
    let (v, _, _) = newest_credit(&a, &hub, &bob);
    let r = post(
        &a,
        &hub.url(&format!("/models/credit/versions/{v}/quarantine")),
        &audrey,
        &json!({"reason": "x"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &a,
        &hub.url("/roles/grant"),
        &alice,
        &json!({"principal": "corp.alice@example.com", "role": "admin"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // CI: the group comes from the claims of a protected main branch only.
    let ci_claims = |r#ref: &str, protected: bool| {
        json!({"sub": format!("repo:org/app:ref:{ref}"), "repository": "org/app", "ref": r#ref,
               "ref_protected": protected})
    };
    let main = ci.token(ci_claims("refs/heads/main", true));
    let r = get(&a, &whoami, Some(&main));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["groups"], json!(["group.ci-main"]));
    assert_eq!(r.json()["roles"], json!(["operator"]));
    assert_eq!(get(&a, &hub.url("/models"), Some(&main)).status, 200);
    let feature = ci.token(ci_claims("refs/heads/feature", false));
    assert_eq!(get(&a, &whoami, Some(&feature)).json()["roles"], json!([]));
    assert_eq!(get(&a, &hub.url("/models"), Some(&feature)).status, 403);
    // A claim spelled to look like another principal is escaped, not trusted.
    let spoof = ci.token(json!({"sub": "x", "email": "alice@example.com"}));
    assert_eq!(get(&a, &whoami, Some(&spoof)).json()["principal"], "ci.x");

    // Role changes are audited calls, under the caller's proven name.
    let r = post(
        &a,
        &hub.url("/roles/grant"),
        &bob,
        &json!({"principal": "corp.dan@example.com", "role": "auditor"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let log = get(
        &a,
        &hub.url("/audit?action=roles.grant&limit=1000"),
        Some(&audrey),
    )
    .json();
    let grant = log
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["subject"]
                .as_str()
                .is_some_and(|s| s.contains("corp.dan@example.com"))
        })
        .unwrap_or_else(|| panic!("no grant event: {log}"));
    assert_eq!(grant["actor"], "corp.bob@example.com");
    // The refused attempts are in the log too, under the proven names.
    let denied = get(
        &a,
        &hub.url("/audit?action=authz.denied&limit=1000"),
        Some(&audrey),
    )
    .body;
    assert!(denied.contains("corp.eve@example.com"), "{denied}");
    assert!(denied.contains("corp.alice@example.com"), "{denied}");
    // Unknown teams are not found, not silently the default.
    let r = get(
        &a,
        &format!("{}/api/v1/teams/other/models", hub.base),
        Some(&bob),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("one team, default"), "{}", r.body);
}

#[test]
fn approvals_are_signed_on_the_approvers_machine_and_never_by_the_author() {
    let tmp = workspace();
    let ws = tmp.path();
    for (who, role) in [
        ("corp.alice@example.com", "approver"),
        ("corp.carol@example.com", "approver"),
        ("corp.mia@example.com", "ml-engineer"),
        ("corp.mia@example.com", "approver"),
        ("corp.bob@example.com", "admin"),
    ] {
        grant(ws, who, role);
    }
    // Mia trains a model on the hub's machine: she is its author.
    ok(
        ws,
        "corp.mia@example.com",
        &["train", "--dataset", "credit", "--name", "credit"],
    );
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let tok = |who: &str| corp.token(json!({"sub": who, "email": format!("{who}@example.com")}));
    let (alice, carol, mia, bob) = (tok("alice"), tok("carol"), tok("mia"), tok("bob"));
    let (v, digest, author) = newest_credit(&a, &hub, &bob);
    assert_eq!(author, "corp.mia@example.com");

    // Each approver enrols a public key; an admin acknowledges it.
    let mut ids = std::collections::HashMap::new();
    for (name, token, seed) in [
        ("alice", &alice, 21u8),
        ("mia", &mia, 22),
        ("carol", &carol, 23),
    ] {
        let k = ApprovalKey {
            key: SigningKey::from_slice(&[seed; 32]).unwrap(),
        };
        let r = post(
            &a,
            &hub.url("/keys"),
            token,
            &json!({"name": format!("{name}-key"), "public_pem": k.public_pem()}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let info = r.json();
        assert_eq!(info["owner"], format!("corp.{name}@example.com"));
        // Its owner cannot acknowledge it.
        let own = post(
            &a,
            &hub.url(&format!("/keys/{name}-key/acknowledge")),
            token,
            &json!({}),
        );
        assert_ne!(own.status, 200, "{}", own.body);
        let r = post(
            &a,
            &hub.url(&format!("/keys/{name}-key/acknowledge")),
            &bob,
            &json!({}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        ids.insert(name, (k, info["key_id"].as_str().unwrap().to_string()));
    }
    let url = hub.url(&format!("/models/credit/versions/{v}/approvals"));
    let sign = |name: &str, approver: &str| {
        let (k, id) = &ids[name];
        k.envelope(id, "credit", v, &digest, approver)
    };

    // The author cannot approve her own model, whatever she signs.
    let r = post(
        &a,
        &url,
        &mia,
        &json!({"env": "production", "envelope": sign("mia", "corp.mia@example.com")}),
    );
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("author"), "{}", r.body);
    // Carol cannot pass off Alice's signature as hers, nor replay Alice's approval.
    let r = post(
        &a,
        &url,
        &carol,
        &json!({"env": "production", "envelope": sign("alice", "corp.carol@example.com")}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("belongs to corp.alice@example.com"),
        "{}",
        r.body
    );
    let r = post(
        &a,
        &url,
        &carol,
        &json!({"env": "production", "envelope": sign("alice", "corp.alice@example.com")}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // Bytes that are not this version's.
    let (k, id) = &ids["alice"];
    let other = k.envelope(id, "credit", v, "sha256:00", "corp.alice@example.com");
    let r = post(
        &a,
        &url,
        &alice,
        &json!({"env": "production", "envelope": other}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // A tampered payload.
    let mut tampered = sign("alice", "corp.alice@example.com");
    let std = base64::engine::general_purpose::STANDARD;
    let payload =
        String::from_utf8(std.decode(tampered["payload"].as_str().unwrap()).unwrap()).unwrap();
    tampered["payload"] = json!(std.encode(payload.replace("reviewed", "rubber-stamped")));
    let r = post(
        &a,
        &url,
        &alice,
        &json!({"env": "production", "envelope": tampered}),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("does not verify"), "{}", r.body);

    // Alice's own approval counts, and the gate sees it as valid.
    let r = post(
        &a,
        &url,
        &alice,
        &json!({"env": "production", "envelope": sign("alice", "corp.alice@example.com")}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["approval"]["approver"], "corp.alice@example.com");
    // (The gate may still deny for other reasons: this version has no
    // evaluation yet. The approval is what is checked.)
    let (code, gate) = run(
        ws,
        "ana",
        &[
            "gate",
            &format!("credit@{v}"),
            "--env",
            "production",
            "--json",
        ],
    );
    assert!(code == 0 || code == 4, "{gate}");
    let gate: Value = serde_json::from_str(&gate).unwrap_or_else(|e| panic!("{e}: {gate}"));
    let approvals = gate["input"]["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 1, "{gate}");
    assert_eq!(approvals[0]["approver"], "corp.alice@example.com");
    assert_eq!(approvals[0]["key_owner"], "corp.alice@example.com");
    assert_eq!(approvals[0]["valid"], true, "{gate}");
    // Production wants two: the gate counts this one.
    assert!(gate.to_string().contains("1 valid approval(s)"), "{gate}");
}

#[test]
fn concurrent_clients_lose_no_event_and_the_log_verifies() {
    let tmp = workspace();
    let ws = tmp.path();
    ok(
        ws,
        "ana",
        &["roles", "grant", "corp.bob@example.com", "admin"],
    );
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let bob = corp.token(json!({"sub": "bob", "email": "bob@example.com"}));
    let before = reply(agent().get(&hub.url("/checkpoint")).call());
    assert_eq!(before.status, 200);
    let old_size: u64 = before.body.lines().nth(1).unwrap().parse().unwrap();
    const CLIENTS: usize = 20;
    const OPS: usize = 30;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (bob, grant, read) = (bob.clone(), hub.url("/roles/grant"), hub.url("/models"));
            std::thread::spawn(move || {
                let a = agent();
                for i in 0..OPS {
                    if i % 3 == 2 {
                        assert_eq!(get(&a, &read, Some(&bob)).status, 200);
                        continue;
                    }
                    let who = format!("corp.user-{c}-{i}@example.com");
                    let r = post(
                        &a,
                        &grant,
                        &bob,
                        &json!({"principal": who, "role": "auditor"}),
                    );
                    assert_eq!(r.status, 200, "{}", r.body);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let writes = CLIENTS * (0..OPS).filter(|i| i % 3 != 2).count();
    let a = agent();
    let log = get(
        &a,
        &hub.url("/audit?action=roles.grant&limit=1000"),
        Some(&bob),
    )
    .json();
    let granted = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["subject"]
                .as_str()
                .is_some_and(|s| s.contains("corp.user-"))
        })
        .count();
    assert_eq!(granted, writes);
    // The checkpoint grew by exactly those events, and the new tree
    // extends the old one (a consistency proof the client checks locally).
    let after = reply(a.get(&hub.url("/checkpoint")).call());
    let new_size: u64 = after.body.lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(new_size, old_size + writes as u64);
    // Any verified caller may ask for a proof (no role needed); nobody
    // unauthenticated.
    let url = hub.url(&format!("/log/consistency?old={old_size}&new={new_size}"));
    assert_eq!(get(&a, &url, None).status, 401);
    let nobody = corp.token(json!({"sub": "n", "email": "nobody@example.com"}));
    let proof = get(&a, &url, Some(&nobody));
    assert_eq!(proof.status, 200, "{}", proof.body);
    let file = ws.join("consistency.json");
    std::fs::write(&file, &proof.body).unwrap();
    ok(ws, "ana", &["audit", "check-proof", file.to_str().unwrap()]);
    ok(ws, "ana", &["audit", "verify"]);
}

/// `warden` as a hub client whose user directory is `home` (no actor).
fn client(home: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin())
        .args(args)
        .current_dir(home)
        .env("WARDEN_CONFIG_DIR", home)
        .env_remove("WARDEN_ACTOR")
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_HUB_TOKEN")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn client_ok(home: &Path, args: &[&str]) -> String {
    let (code, out, err) = client(home, args);
    assert_eq!(code, 0, "warden {args:?}\n{out}\n{err}");
    out
}

/// A person's machine: a user directory holding their token.
fn person(root: &Path, corp: &Issuer, who: &str) -> PathBuf {
    let home = root.join(who);
    std::fs::create_dir_all(&home).unwrap();
    let t = corp.token(json!({"sub": who, "email": format!("{who}@example.com")}));
    std::fs::write(home.join("token"), t).unwrap();
    home
}

#[test]
fn the_cli_is_a_hub_client_that_signs_locally_and_catches_a_forked_history() {
    let tmp = workspace();
    let ws = tmp.path();
    for (who, role) in [
        ("corp.alice@example.com", "approver"),
        ("corp.mia@example.com", "ml-engineer"),
        ("corp.mia@example.com", "approver"),
        ("corp.bob@example.com", "admin"),
    ] {
        grant(ws, who, role);
    }
    ok(
        ws,
        "corp.mia@example.com",
        &["train", "--dataset", "credit", "--name", "credit"],
    );
    // Another copy of the same log that went its own way: the fork.
    let forked = workspace();
    for i in 0..80 {
        ok(
            forked.path(),
            "ana",
            &["roles", "grant", &format!("fork-{i}"), "auditor"],
        );
    }
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let other = Hub::start(forked.path(), &corp, &ci);
    let homes = tempfile::tempdir().unwrap();
    let (alice, bob, mia) = (
        person(homes.path(), &corp, "alice"),
        person(homes.path(), &corp, "bob"),
        person(homes.path(), &corp, "mia"),
    );
    for home in [&alice, &bob, &mia] {
        client_ok(home, &["login", &hub.base, "--token-file", "token"]);
    }
    // A declared actor is refused: the hub acts as the proven principal.
    let o = Command::new(bin())
        .args(["hub", "whoami"])
        .env("WARDEN_CONFIG_DIR", &alice)
        .env("WARDEN_ACTOR", "corp.bob@example.com")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // A token the hub does not accept is not kept.
    std::fs::write(homes.path().join("bad"), "not-a-token").unwrap();
    let (code, _, err) = client(homes.path(), &["login", &hub.base, "--token-file", "bad"]);
    assert_eq!(code, 3, "{err}");
    let me: Value = serde_json::from_str(&client_ok(&alice, &["hub", "whoami", "--json"])).unwrap();
    assert_eq!(me["principal"], "corp.alice@example.com");

    // Keys made here; only the public half reaches the hub.
    client_ok(
        &alice,
        &["hub", "keys-enrol", "alice-key", "--type", "ecdsa-p256"],
    );
    assert!(alice.join("hub-keys/alice-key.pem").is_file());
    // Key names are the hub's: a clash enrols nothing and leaves no key behind.
    let (code, _, err) = client(&mia, &["hub", "keys-enrol", "alice-key"]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"), "{err}");
    assert!(!mia.join("hub-keys/alice-key.pem").exists());
    let (v, _, _) = newest_credit(
        &agent(),
        &hub,
        &corp.token(json!({"sub": "b", "email": "bob@example.com"})),
    );
    let model = format!("credit@{v}");
    client_ok(&bob, &["hub", "keys-acknowledge", "alice-key"]);
    let (code, _, err) = client(&alice, &["hub", "keys-acknowledge", "alice-key"]);
    assert_eq!(code, 3, "an owner acknowledged their own key: {err}");
    let out = client_ok(
        &alice,
        &[
            "hub",
            "approve",
            &model,
            "--env",
            "production",
            "--key",
            "alice-key",
        ],
    );
    assert!(out.contains("as corp.alice@example.com"), "{out}");
    // The author cannot approve her own model.
    client_ok(&mia, &["hub", "keys-enrol", "mia-key"]);
    client_ok(&bob, &["hub", "keys-acknowledge", "mia-key"]);
    let (code, _, err) = client(
        &mia,
        &[
            "hub",
            "approve",
            &model,
            "--env",
            "production",
            "--key",
            "mia-key",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("author"), "{err}");
    // Roles and the audit log from the client, as the proven principal.
    let out = client_ok(
        &bob,
        &[
            "hub",
            "roles",
            "--grant",
            "group.reviewers",
            "--role",
            "approver",
        ],
    );
    assert!(out.contains("Granted approver to group.reviewers"), "{out}");
    let (code, _, err) = client(
        &alice,
        &[
            "hub",
            "roles",
            "--grant",
            "corp.alice@example.com",
            "--role",
            "admin",
        ],
    );
    assert_eq!(code, 3, "{err}");
    let roles = client_ok(&bob, &["hub", "roles"]);
    assert!(roles.contains("group.reviewers  approver"), "{roles}");
    let events: Value = serde_json::from_str(&client_ok(
        &bob,
        &[
            "hub",
            "audit",
            "--action",
            "roles.grant",
            "--by",
            "corp.bob@example.com",
            "--json",
        ],
    ))
    .unwrap();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"].as_str() == Some("actor:group.reviewers")),
        "{events}"
    );
    let (code, _, _) = client(&bob, &["hub", "audit", "--action", "x&limit=1"]);
    assert_eq!(code, 2);
    let listed: Value =
        serde_json::from_str(&client_ok(&bob, &["hub", "models", "credit", "--json"])).unwrap();
    assert!(
        listed["versions"].as_array().unwrap().len() >= 2,
        "{listed}"
    );
    // The trust store, a version's evidence, a quarantine and a rollback,
    // each from a person's machine, each as the proven principal.
    let keys: Value = serde_json::from_str(&client_ok(&alice, &["hub", "keys", "--json"])).unwrap();
    let alice_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "alice-key")
        .unwrap_or_else(|| panic!("{keys}"));
    assert_eq!(
        alice_key["acknowledged_by"], "corp.bob@example.com",
        "{alice_key}"
    );
    assert!(alice_key.get("private_key_path").is_none(), "{alice_key}");
    let evidence: Value =
        serde_json::from_str(&client_ok(&alice, &["hub", "evidence", &model, "--json"])).unwrap();
    assert!(evidence.is_array(), "{evidence}");
    let (code, _, err) = client(&alice, &["hub", "quarantine", &model, "--reason", "review"]);
    assert_eq!(code, 3, "an approver quarantined: {err}");
    let q: Value = serde_json::from_str(&client_ok(
        &bob,
        &[
            "hub",
            "quarantine",
            &model,
            "--reason",
            "review found a leak",
            "--json",
        ],
    ))
    .unwrap();
    assert_eq!(q["quarantine"]["reason"], "review found a leak", "{q}");
    assert_eq!(q["quarantine"]["created_by"], "corp.bob@example.com", "{q}");
    let (code, _, err) = client(&alice, &["hub", "rollback", "credit", "--env", "staging"]);
    assert_eq!(code, 3, "an approver rolled back: {err}");
    // Whatever staging holds, the answer is the hub's, with its exit code.
    let (code, out, err) = client(&bob, &["hub", "rollback", "credit", "--env", "staging"]);
    assert!(
        code == 0 && out.contains("Rolled staging back") || code != 0 && err.contains("hub: "),
        "{code} {out} {err}"
    );

    // The same log origin, served by a hub whose history forked: Alice's
    // machine remembers a checkpoint the fork does not extend.
    let (code, _, err) = client(&alice, &["login", &other.base, "--token-file", "token"]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("rewritten or forked"), "{err}");
    // Someone who never saw the original accepts the fork's first checkpoint
    // (trust on first use), which is why the first login may pin --vkey.
    let fresh = person(homes.path(), &corp, "fresh");
    client_ok(&fresh, &["login", &other.base, "--token-file", "token"]);
}

#[test]
fn personal_access_tokens_act_within_their_scope_and_die_when_revoked() {
    let tmp = workspace();
    let ws = tmp.path();
    for (who, role) in [
        ("corp.alice@example.com", "approver"),
        ("corp.alice@example.com", "auditor"),
        ("corp.bob@example.com", "admin"),
    ] {
        grant(ws, who, role);
    }
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let alice = corp.token(json!({"sub": "alice", "email": "alice@example.com"}));
    let make = |name: &str, roles: Value| {
        post(
            &a,
            &hub.url("/tokens"),
            &alice,
            &json!({"name": name, "roles": roles, "expires": "1d"}),
        )
    };
    let r = make("laptop", json!(["auditor"]));
    assert_eq!(r.status, 201, "{}", r.body);
    let pat = r.json()["token"].as_str().unwrap().to_string();
    assert!(pat.starts_with("wdp_"), "{pat}");
    // The token is never stored or listed.
    let listed = get(&a, &hub.url("/tokens"), Some(&alice)).body;
    assert!(
        !listed.contains(&pat) && listed.contains("laptop"),
        "{listed}"
    );
    // Roles it was not scoped to, or its owner does not hold, are refused.
    assert_eq!(make("wide", json!(["admin"])).status, 400);
    assert_eq!(make("laptop", json!(["auditor"])).status, 409);

    // The token acts as alice within its scope, from the hub's next
    // refresh of its tokens on.
    let whoami = hub.url("/api/v1/whoami");
    eventually("the new token never worked", || {
        get(&a, &whoami, Some(&pat)).status == 200
    });
    let me = get(&a, &whoami, Some(&pat)).json();
    assert_eq!(me["principal"], "corp.alice@example.com");
    assert_eq!(me["roles"], json!(["auditor"]));
    assert_eq!(get(&a, &hub.url("/audit?limit=1"), Some(&pat)).status, 200);
    let r = post(
        &a,
        &hub.url("/keys"),
        &pat,
        &json!({"name": "k", "public_pem": "x"}),
    );
    assert_eq!(
        r.status, 403,
        "keys.enrol is approver's, outside the scope: {}",
        r.body
    );
    // A token cannot mint tokens.
    let r = post(
        &a,
        &hub.url("/tokens"),
        &pat,
        &json!({"name": "more", "roles": ["auditor"], "expires": "300d"}),
    );
    assert_eq!(r.status, 403, "{}", r.body);

    // Its use is recorded (coarsely, by the refresh thread).
    eventually("last use never recorded", || {
        !get(&a, &hub.url("/tokens"), Some(&alice)).json()[0]["last_used_at"].is_null()
    });

    // A grant revoked from the owner is gone from every token at once.
    ok(
        ws,
        "ana",
        &["roles", "revoke", "corp.alice@example.com", "auditor"],
    );
    assert_eq!(get(&a, &hub.url("/audit?limit=1"), Some(&pat)).status, 403);
    ok(
        ws,
        "ana",
        &["roles", "grant", "corp.alice@example.com", "auditor"],
    );

    // An insider widening a token's row by SQL makes it match nothing.
    let r = make("desk", json!(["auditor"]));
    let desk = r.json()["token"].as_str().unwrap().to_string();
    eventually("the new token never worked", || {
        get(&a, &whoami, Some(&desk)).status == 200
    });
    let db = rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap();
    db.execute(
        "UPDATE access_tokens SET roles = 'admin auditor' WHERE name = 'desk'",
        [],
    )
    .unwrap();
    drop(db);
    eventually("a widened token still works", || {
        get(&a, &whoami, Some(&desk)).status == 401
    });

    // Revoked: refused within the refresh interval.
    let r = post(&a, &hub.url("/tokens/laptop/revoke"), &alice, &json!({}));
    assert_eq!(r.status, 200, "{}", r.body);
    eventually("a revoked token still works", || {
        get(&a, &whoami, Some(&pat)).status == 401
    });
    let r = get(&a, &whoami, Some(&pat));
    assert!(r.body.contains("revoked"), "{}", r.body);
    // A made-up token of the right shape is nothing.
    let fake = format!("wdp_0123456789ab_{}", "A".repeat(43));
    assert_eq!(get(&a, &whoami, Some(&fake)).status, 401);
}

/// Every role of the bundled policy against every hub endpoint, both ways:
/// a role the policy allows the endpoint's action is never answered 403,
/// and every other role always is. Writes aim at things that do not exist
/// (version 999, key `nokey`), so an allowed call fails after the decision
/// (404, 400, 409) and changes nothing; a denied one is 403.
#[test]
fn authorisation_matrix_every_role_by_every_endpoint() {
    let tmp = workspace();
    let ws = tmp.path();
    const ROLES: [&str; 8] = [
        "admin",
        "data-engineer",
        "ml-engineer",
        "approver",
        "operator",
        "auditor",
        "predictor",
        "monitor",
    ];
    for r in ROLES {
        grant(ws, &format!("corp.{r}@example.com"), r);
    }
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let people = [
        "admin",
        "data-engineer",
        "ml-engineer",
        "approver",
        "operator",
        "auditor",
    ];
    // (method, path, body, roles the bundled policy allows)
    let matrix: Vec<(&str, &str, Value, Vec<&str>)> = vec![
        ("GET", "/models", json!(null), people.to_vec()),
        ("GET", "/models/credit", json!(null), people.to_vec()),
        (
            "GET",
            "/models/credit/versions/1",
            json!(null),
            people.to_vec(),
        ),
        ("GET", "/audit?limit=1", json!(null), people.to_vec()),
        ("GET", "/audit/proof/0", json!(null), people.to_vec()),
        ("GET", "/keys", json!(null), people.to_vec()),
        ("GET", "/roles", json!(null), people.to_vec()),
        ("GET", "/tokens", json!(null), people.to_vec()),
        (
            "POST",
            "/tokens",
            json!({"name": "m", "roles": ["nobody-holds-this"], "expires": "1d"}),
            people.to_vec(),
        ),
        (
            "POST",
            "/models/credit/versions/999/promote",
            json!({"env": "dev"}),
            vec!["admin", "ml-engineer", "operator"],
        ),
        (
            "POST",
            "/models/credit/versions/999/quarantine",
            json!({"reason": "matrix"}),
            vec!["admin", "operator", "monitor"],
        ),
        (
            "POST",
            "/models/credit/rollback",
            json!({"env": "no-such-env"}),
            vec!["admin", "operator", "monitor"],
        ),
        (
            "POST",
            "/models/credit/versions/999/approvals",
            json!({"env": "production", "envelope": {}}),
            vec!["admin", "approver"],
        ),
        (
            "POST",
            "/keys",
            json!({"name": "matrix", "public_pem": "not a key"}),
            vec!["admin", "approver"],
        ),
        ("POST", "/keys/nokey/acknowledge", json!({}), vec!["admin"]),
        // Uploads: asked before the body (here not multipart) is read.
        (
            "POST",
            "/datasets/matrix/versions",
            json!({}),
            vec!["admin", "data-engineer"],
        ),
        (
            "POST",
            "/models/matrix/versions",
            json!({}),
            vec!["admin", "ml-engineer"],
        ),
        (
            "GET",
            "/models/credit/versions/1/evidence",
            json!(null),
            people.to_vec(),
        ),
        (
            "POST",
            "/models/credit/versions/1/evidence",
            json!({"tool": "bandit", "report": {}}),
            vec!["admin", "ml-engineer", "operator"],
        ),
        ("GET", "/pipelines", json!(null), people.to_vec()),
        ("GET", "/pipelines/1", json!(null), people.to_vec()),
        // What serving replicas call: serve.run on the environment, or a
        // reader's model.read for packages.
        (
            "GET",
            "/environments/production/serving",
            json!(null),
            vec!["admin", "operator"],
        ),
        (
            "POST",
            "/environments/production/apikeys/check",
            json!({"key": "wdn_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}),
            vec!["admin", "operator"],
        ),
        (
            "POST",
            "/environments/production/serving/events",
            json!({"action": "serve.skip", "model": "credit", "version": 1,
                   "details": {"reason": "matrix"}}),
            vec!["admin", "operator"],
        ),
        (
            "GET",
            "/models/credit/versions/1/package",
            json!(null),
            people.to_vec(),
        ),
        (
            "GET",
            "/models/credit/versions/1/package/no-such-file",
            json!(null),
            people.to_vec(),
        ),
        ("GET", "/apikeys", json!(null), vec!["admin", "operator"]),
        (
            "POST",
            "/apikeys",
            json!({"name": "matrix-key", "role": "predictor"}),
            vec!["admin", "operator"],
        ),
        (
            "POST",
            "/apikeys/nokey/revoke",
            json!({}),
            vec!["admin", "operator"],
        ),
        (
            "POST",
            "/roles/revoke",
            json!({"principal": "corp.nobody@example.com", "role": "auditor"}),
            vec!["admin"],
        ),
    ];
    let mut wrong = Vec::new();
    for role in ROLES {
        let token = corp.token(json!({"sub": role, "email": format!("{role}@example.com")}));
        // Whoever is proven may ask who they are.
        let me = get(&a, &hub.url("/api/v1/whoami"), Some(&token));
        assert_eq!(me.status, 200, "{role}: {}", me.body);
        assert_eq!(me.json()["roles"], json!([role]));
        for (method, path, body, allowed) in &matrix {
            let url = hub.url(path);
            let r = if *method == "GET" {
                get(&a, &url, Some(&token))
            } else {
                post(&a, &url, &token, body)
            };
            let should = allowed.contains(&role);
            if should == (r.status == 403) {
                wrong.push(format!("{role} {method} {path}: {} {}", r.status, r.body));
            }
            assert_ne!(r.status, 401, "{role} {method} {path}: {}", r.body);
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    // Granting hands out only what the policy lets: admin alone here.
    for role in ROLES {
        let token = corp.token(json!({"sub": role, "email": format!("{role}@example.com")}));
        let r = post(
            &a,
            &hub.url("/roles/grant"),
            &token,
            &json!({"principal": format!("corp.new-{role}@example.com"), "role": "auditor"}),
        );
        assert_eq!(
            r.status == 200,
            role == "admin",
            "{role}: {} {}",
            r.status,
            r.body
        );
    }
}

/// A CI job on the protected main branch, proven by its OIDC token, records
/// its SAST report on the hub; the gate reads it. A feature branch cannot,
/// and a malformed report records nothing.
#[test]
fn ci_records_evidence_the_gate_reads() {
    let tmp = workspace();
    let ws = tmp.path();
    grant(ws, "group.ci-main", "operator");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let claims = |r#ref: &str, protected: bool| {
        json!({"sub": format!("repo:org/app:ref:{ref}"), "repository": "org/app", "ref": r#ref,
               "ref_protected": protected})
    };
    let main = ci.token(claims("refs/heads/main", true));
    let (v, _, _) = newest_credit(&a, &hub, &main);
    let sarif = json!({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "Bandit",
        "rules": [{"id": "B602", "properties": {"security-severity": "8.8"}}]}},
        "results": [{"ruleId": "B602", "level": "error", "message": {"text": "shell=True"},
                     "locations": [{"physicalLocation": {"artifactLocation": {"uri": "train.py"}, "region": {"startLine": 3}}}]}]}]});
    let url = hub.url(&format!("/models/credit/versions/{v}/evidence"));
    let feature = ci.token(claims("refs/heads/feature", false));
    assert_eq!(
        post(
            &a,
            &url,
            &feature,
            &json!({"tool": "bandit", "report": sarif})
        )
        .status,
        403
    );
    let bad = post(
        &a,
        &url,
        &main,
        &json!({"tool": "bandit", "report": {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                 "results": [{"level": "fatal", "message": {"text": ""}}]}]}}),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("runs[0].results[0]"), "{}", bad.body);
    let r = post(&a, &url, &main, &json!({"tool": "bandit", "report": sarif}));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["kind"], "sast");
    assert!(
        r.json()["created_by"]
            .as_str()
            .unwrap()
            .starts_with("ci.repo"),
        "{}",
        r.body
    );
    let list = get(&a, &url, Some(&main));
    assert_eq!(
        list.json().as_array().map(|l| l.len()),
        Some(1),
        "{}",
        list.body
    );
    // The gate on the hub's machine sees the CI's finding.
    let out = run(
        ws,
        "omar",
        &["--json", "gate", &format!("credit@{v}"), "--env", "staging"],
    )
    .1;
    assert!(out.contains("B602") && out.contains("train.py:3"), "{out}");
    // Recorded under the CI's proven name (the workspace's demo recorded
    // its own evidence before).
    let events = get(&a, &hub.url("/audit?action=evidence.add"), Some(&main));
    let by_ci = events
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["actor"]
                .as_str()
                .is_some_and(|x| x.starts_with("ci.repo"))
        })
        .count();
    assert_eq!(by_ci, 1, "{}", events.body);
    assert_eq!(get(&a, &hub.url("/pipelines"), Some(&main)).status, 200);

    // The same through the CLI on the CI runner: log in with the OIDC
    // token, record a pip-audit report (its kind inferred), list runs.
    let runner = tempfile::tempdir().unwrap();
    let home = runner.path();
    std::fs::write(home.join("token"), &main).unwrap();
    client_ok(home, &["login", &hub.base, "--token-file", "token"]);
    std::fs::write(
        home.join("audit.json"),
        r#"{"dependencies": [{"name": "requests", "version": "2.19.0", "vulns": [{"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"]}]}]}"#,
    )
    .unwrap();
    let out = client_ok(
        home,
        &[
            "--json",
            "hub",
            "evidence-add",
            &format!("credit@{v}"),
            "--tool",
            "pip-audit",
            "--report",
            "audit.json",
        ],
    );
    let rec: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rec["kind"], "sca");
    assert_eq!(rec["summary"]["findings"], 1);
    std::fs::write(home.join("bad.json"), "not json").unwrap();
    let (code, _, err) = client(
        home,
        &[
            "hub",
            "evidence-add",
            &format!("credit@{v}"),
            "--tool",
            "x",
            "--report",
            "bad.json",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not JSON"), "{err}");
    client_ok(home, &["hub", "pipelines"]);
}

/// An insider with write access to the database grants a principal and a
/// group admin by SQL, while the hub runs and keeps replayed grants between
/// requests: no event made those rows, so the hub refuses to decide on them.
#[test]
fn grants_written_by_sql_are_refused_by_a_running_hub() {
    let tmp = workspace();
    let ws = tmp.path();
    grant(ws, "corp.bob@example.com", "admin");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let eve = corp.token(json!({"sub": "eve", "email": "eve@example.com"}));
    let bob = corp.token(json!({"sub": "bob", "email": "bob@example.com"}));
    // The hub has decided (and replayed the grants) before the edit.
    assert_eq!(get(&a, &hub.url("/models"), Some(&eve)).status, 403);
    assert_eq!(get(&a, &hub.url("/models"), Some(&bob)).status, 200);
    let db = rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap();
    db.execute(
        "INSERT INTO role_grants (actor, role, granted_by, time) VALUES ('corp.eve@example.com', 'admin', 'ana', '2026-01-01T00:00:00.000000Z')",
        [],
    )
    .unwrap();
    drop(db);
    let r = get(&a, &hub.url("/models"), Some(&eve));
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("disagrees with the audit log"),
        "{}",
        r.body
    );
    let r = post(
        &a,
        &hub.url("/roles/grant"),
        &eve,
        &json!({"principal": "corp.eve@example.com", "role": "auditor"}),
    );
    assert_ne!(r.status, 200, "{}", r.body);
}

/// A running hub keeps the registry state it replayed between decisions
/// and applies only newer events: a quarantine recorded by another process
/// after its first promotion still blocks the next one, and a quarantine
/// row then deleted by SQL is refused as a disagreement with the log.
#[test]
fn a_running_hub_decides_on_events_recorded_elsewhere_and_refuses_rows_deleted_by_sql() {
    let tmp = workspace();
    let ws = tmp.path();
    grant(ws, "corp.bob@example.com", "admin");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let a = agent();
    let bob = corp.token(json!({"sub": "bob", "email": "bob@example.com"}));
    let promote = |v: u64| {
        post(
            &a,
            &hub.url(&format!("/models/credit/versions/{v}/promote")),
            &bob,
            &json!({"env": "dev"}),
        )
    };
    // Decided once: the hub has replayed the state.
    let r = promote(3);
    assert_eq!(r.status, 200, "{}", r.body);
    // Another process records a quarantine of version 1.
    ok(
        ws,
        "omar",
        &["quarantine", "credit@1", "--reason", "poisoned source"],
    );
    let r = promote(1);
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("quarantined"), "{}", r.body);
    // The row goes, the event stays: the hub's state still holds it.
    let db = rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap();
    let n = db
        .execute(
            "DELETE FROM quarantines WHERE model = 'credit' AND version = 1",
            [],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let r = promote(1);
    assert_ne!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("disagrees with the audit log"),
        "{}",
        r.body
    );
}

/// One HTTP/1.1 request from a stand-in server's connection: its head,
/// then `Content-Length` bytes of body (empty strings if the peer hangs up).
fn read_request(stream: &mut std::net::TcpStream) -> (String, String) {
    use std::io::Read;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let got = stream.read(&mut chunk).unwrap_or(0);
        if got == 0 {
            return (String::new(), String::new());
        }
        buf.extend_from_slice(&chunk[..got]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((h, b)) = text.split_once("\r\n\r\n") {
            let len: usize = h
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if b.len() >= len {
                return (h.to_string(), b.to_string());
            }
        }
    }
}

/// A stand-in identity provider's device flow (RFC 8628) on 127.0.0.1:
/// `/device` hands out a code, `/token` answers `authorization_pending`
/// once, then the token for device code `approve`, `access_denied` for
/// `deny` and `expired_token` for `late`.
struct DeviceIdp {
    base: String,
}

impl DeviceIdp {
    fn start(token: String, device_code: &'static str) -> DeviceIdp {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let verify = format!("{base}/activate");
        std::thread::spawn(move || {
            let mut polls = 0;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (head, body) = read_request(&mut stream);
                let (status, answer) = if head.starts_with("POST /device") {
                    assert!(body.contains("client_id=warden-cli"), "{body}");
                    (
                        200,
                        json!({"device_code": device_code, "user_code": "WDRN-7Q4K",
                                 "verification_uri": verify, "expires_in": 30, "interval": 1}),
                    )
                } else if head.starts_with("POST /token") {
                    assert!(
                        body.contains(
                            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"
                        ),
                        "{body}"
                    );
                    polls += 1;
                    if polls == 1 {
                        (400, json!({"error": "authorization_pending"}))
                    } else if body.contains("device_code=approve") {
                        (
                            200,
                            json!({"id_token": token, "access_token": "opaque", "token_type": "Bearer"}),
                        )
                    } else if body.contains("device_code=deny") {
                        (400, json!({"error": "access_denied"}))
                    } else {
                        (400, json!({"error": "expired_token"}))
                    }
                } else {
                    (404, json!({"error": "not_found"}))
                };
                let text = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        DeviceIdp { base }
    }
}

/// `warden login --device`: the hub publishes its issuer's device-flow
/// client; the CLI shows a code, polls the identity provider until the
/// person approves, and the token it gets proves them to the hub. A denied
/// or expired code logs no one in.
#[test]
fn device_login_gets_a_token_from_the_identity_provider() {
    let tmp = workspace();
    let ws = tmp.path();
    grant(ws, "corp.lee@example.com", "approver");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let token = corp.token(json!({"sub": "lee", "email": "lee@example.com"}));
    for (code, want) in [("approve", 0), ("deny", 3), ("late", 3)] {
        let idp = DeviceIdp::start(token.clone(), code);
        let login = format!(
            "[issuer.login]\nclient_id = \"warden-cli\"\n\
             device_authorization_endpoint = \"{0}/device\"\ntoken_endpoint = \"{0}/token\"\n",
            idp.base
        );
        let hub = Hub::start_with(ws, &corp, &ci, &login);
        let published = get(&agent(), &hub.url("/login/issuers"), None);
        assert_eq!(published.status, 200, "{}", published.body);
        assert_eq!(published.json()[0]["name"], "corp");
        assert_eq!(published.json()[0]["token"], "id_token");
        let home = tempfile::tempdir().unwrap();
        let (status, out, err) = client(home.path(), &["login", &hub.base, "--device"]);
        assert_eq!(status, want, "{code}: {out}\n{err}");
        assert!(err.contains("enter the code WDRN-7Q4K"), "{err}");
        if want == 0 {
            assert!(
                out.contains("Logged in to") && out.contains("corp.lee@example.com"),
                "{out}"
            );
            let me = client_ok(home.path(), &["--json", "hub", "whoami"]);
            assert!(me.contains("approver"), "{me}");
        } else {
            assert!(
                err.contains(if code == "deny" {
                    "refused at the identity provider"
                } else {
                    "expired"
                }),
                "{err}"
            );
            assert!(!home.path().join("hub.json").exists());
        }
    }
    // A hub whose issuers offer no device flow says so.
    let hub = Hub::start(ws, &corp, &ci);
    let home = tempfile::tempdir().unwrap();
    let (status, _, err) = client(home.path(), &["login", &hub.base, "--device"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("offers no device login"), "{err}");
}

/// `warden` run locally as `actor` with more environment, expecting success.
fn ok_env(ws: &Path, actor: &str, args: &[&str], envs: &[(&str, &str)]) -> String {
    let o = Command::new(bin())
        .args(args)
        .current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", ws.join(".user"))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .envs(envs.iter().copied())
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "warden {args:?}\n{out}\n{err}");
    out
}

/// Two hub replicas on one PostgreSQL database (the demo's workspace
/// migrated there): one is killed with SIGKILL while it promotes in a
/// loop; the other keeps serving, nothing is half-written, and the log
/// verifies with every pointer agreeing with its events.
/// The demo's workspace (bob an admin) migrated into a fresh PostgreSQL
/// database, and a second replica beside it: the same settings and keys,
/// the blobs shared. `None` when PostgreSQL is skipped.
struct PgReplicas {
    _pg: warden_store::testing::TestPostgres,
    /// The database's URL, with its password.
    url: String,
    password: String,
    a: tempfile::TempDir,
    b: tempfile::TempDir,
}

fn pg_replicas(name: &str) -> Option<PgReplicas> {
    let pg = warden_store::testing::TestPostgres::start_or_skip(name)?;
    let url = pg.database("hub").unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    let store = format!("{scheme}://{user}@{host}");
    let env = [("PGPASSWORD", password)];
    let a_dir = workspace();
    let a = a_dir.path();
    grant(a, "corp.bob@example.com", "admin");
    let target = a.join("scale.toml");
    std::fs::write(&target, format!("[store]\nurl = \"{store}\"\n")).unwrap();
    ok_env(
        a,
        "ana",
        &["migrate", "--to", target.to_str().unwrap()],
        &env,
    );
    let b_dir = tempfile::tempdir().unwrap();
    let b = b_dir.path();
    std::fs::create_dir_all(b.join(".warden/log")).unwrap();
    std::fs::copy(a.join("warden.toml"), b.join("warden.toml")).unwrap();
    copy_dir(&a.join(".warden/keys"), &b.join(".warden/keys"));
    std::fs::copy(a.join(".warden/log/vkey"), b.join(".warden/log/vkey")).unwrap();
    std::os::unix::fs::symlink(a.join(".warden/blobs"), b.join(".warden/blobs")).unwrap();
    Some(PgReplicas {
        password: password.to_string(),
        url: url.clone(),
        _pg: pg,
        a: a_dir,
        b: b_dir,
    })
}

#[test]
fn a_hub_replica_killed_mid_promotion_leaves_the_other_serving_and_the_log_whole() {
    let Some(r) = pg_replicas("a_hub_replica_killed") else {
        return;
    };
    let (url, a, b) = (&r.url, r.a.path(), r.b.path());
    let env = [("PGPASSWORD", r.password.as_str())];

    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let mut hub_a = Hub::start_env(a, &corp, &ci, "", &env);
    let hub_b = Hub::start_env(b, &corp, &ci, "", &env);
    let bob = corp.token(json!({"sub": "bob", "email": "bob@example.com"}));

    // Replica a promotes credit@1 and credit@3 to dev back and forth.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let promoter = {
        let (bob, stop) = (bob.clone(), std::sync::Arc::clone(&stop));
        let urls = [
            hub_a.url("/models/credit/versions/1/promote"),
            hub_a.url("/models/credit/versions/3/promote"),
        ];
        std::thread::spawn(move || {
            let agent = agent();
            let (mut ok, mut i) = (0u64, 0usize);
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let r = agent
                    .post(&urls[i % 2])
                    .header("Authorization", &format!("Bearer {bob}"))
                    .header("Content-Type", "application/json")
                    .send(json!({"env": "dev"}).to_string());
                match r {
                    Ok(resp) if resp.status().as_u16() == 200 => ok += 1,
                    Ok(resp) => panic!("promotion refused: {}", resp.status()),
                    Err(_) => break, // the replica is gone
                }
                i += 1;
            }
            ok
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let _ = hub_a.child.kill(); // SIGKILL
    let _ = hub_a.child.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let answered = promoter.join().unwrap();
    assert!(
        answered >= 1,
        "replica a promoted nothing before it was killed"
    );

    // Replica b serves on, reads and writes.
    let ag = agent();
    assert_eq!(get(&ag, &hub_b.url("/models"), Some(&bob)).status, 200);
    let r = post(
        &ag,
        &hub_b.url("/models/credit/versions/1/promote"),
        &bob,
        &json!({"env": "dev"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // The log is whole: every pointer agrees with its events, and only a
    // promotion in flight at the kill may have committed unanswered.
    let v: Value =
        serde_json::from_str(&ok_env(b, "ana", &["audit", "verify", "--json"], &env)).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["state_disagreements"], 0, "{v}");
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let promotions: i64 = c
        .query_one(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'model.promote' AND actor = 'corp.bob@example.com'",
            &[],
        )
        .unwrap()
        .get(0);
    let promotions = promotions as u64;
    assert!(
        promotions == answered + 1 || promotions == answered + 2,
        "{promotions} promotions logged, {answered} answered by a, 1 by b"
    );
}

/// Two hub replicas on one PostgreSQL database take 1,000 writes at once:
/// each replica's client alternates a gated promotion and a dataset
/// upload (ingested on the hub), 250 rounds each. Every call is answered
/// with success, every version number is taken once, and the one log
/// holds every event, verifies, and agrees with every registry row.
#[test]
fn two_hub_replicas_take_a_thousand_interleaved_promotions_and_ingests_into_one_log() {
    let Some(r) = pg_replicas("a_thousand_interleaved") else {
        return;
    };
    let (url, a, b) = (&r.url, r.a.path(), r.b.path());
    let env = [("PGPASSWORD", r.password.as_str())];
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub_a = Hub::start_env(a, &corp, &ci, "", &env);
    let hub_b = Hub::start_env(b, &corp, &ci, "", &env);
    let bob = corp.token(json!({"sub": "bob", "email": "bob@example.com"}));
    ok_env(
        a,
        "ana",
        &[
            "example",
            "credit",
            "--rows",
            "40",
            "--seed",
            "8",
            "--out",
            "small.csv",
        ],
        &env,
    );
    let csv = std::fs::read(a.join("small.csv")).unwrap();
    let request = json!({
        "sha256": sha256_hex(&csv),
        "target": "approved",
        "id": "customer_id",
        "sensitive": ["sex"],
        "no_screen": true,
    })
    .to_string();
    let body = multipart(
        "XyZ",
        &[
            ("request", None, request.as_bytes()),
            ("data", Some("small.csv"), &csv),
        ],
    );
    const ROUNDS: usize = 250;
    let client = |hub: &Hub, first: usize| {
        let promote = [
            hub.url("/models/credit/versions/1/promote"),
            hub.url("/models/credit/versions/3/promote"),
        ];
        let upload = hub.url("/datasets/shared/versions");
        let (bob, body) = (bob.clone(), body.clone());
        move || {
            let agent = agent();
            for i in 0..ROUNDS {
                let r = post(
                    &agent,
                    &promote[(first + i) % 2],
                    &bob,
                    &json!({"env": "dev"}),
                );
                assert_eq!(r.status, 200, "promotion {i}: {}", r.body);
                let r = reply(
                    agent
                        .post(&upload)
                        .header("Authorization", &format!("Bearer {bob}"))
                        .header("Content-Type", "multipart/form-data; boundary=XyZ")
                        .send(&body[..]),
                );
                assert_eq!(r.status, 201, "upload {i}: {}", r.body);
            }
        }
    };
    let started = Instant::now();
    std::thread::scope(|s| {
        let x = s.spawn(client(&hub_a, 0));
        let y = s.spawn(client(&hub_b, 1));
        x.join().unwrap();
        y.join().unwrap();
    });
    eprintln!(
        "1,000 writes through two replicas in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    let mut count = |action: &str| -> i64 {
        c.query_one(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1 AND actor = 'corp.bob@example.com'",
            &[&action],
        )
        .unwrap()
        .get(0)
    };
    assert_eq!(count("model.promote"), 2 * ROUNDS as i64);
    assert_eq!(count("data.ingest"), 2 * ROUNDS as i64);
    let versions: Vec<i64> = c
        .query(
            "SELECT version FROM datasets WHERE name = 'shared' ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions, (1..=2 * ROUNDS as i64).collect::<Vec<_>>());
    for ws in [a, b] {
        let v: Value =
            serde_json::from_str(&ok_env(ws, "ana", &["audit", "verify", "--json"], &env)).unwrap();
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["state_disagreements"], 0, "{v}");
    }
}

// ---------------------------------------------------------------------------
// The web console

/// What the stand-in identity provider remembers of a sign-in it approved.
struct Grant {
    challenge: String,
    nonce: String,
    email: String,
    redirect_uri: String,
}

#[derive(Default)]
struct CodeIdpState {
    /// The person the next sign-in is for.
    who: String,
    codes: std::collections::HashMap<String, Grant>,
    /// Mints the ID token with another nonce (a token replayed from
    /// another sign-in).
    wrong_nonce: bool,
}

/// A stand-in identity provider's authorization code flow with PKCE on
/// 127.0.0.1: `/authorize` approves at once for the person set in `who`
/// and redirects back with a code; `/token` hands out the ID token only
/// for the code with the verifier whose S256 challenge was sent.
struct CodeIdp {
    base: String,
    state: std::sync::Arc<std::sync::Mutex<CodeIdpState>>,
}

impl CodeIdp {
    fn start(seed: u8, kid: &'static str) -> CodeIdp {
        use sha2::Digest as _;
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(std::sync::Mutex::new(CodeIdpState::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            let issuer = Issuer::new(CORP, seed, kid);
            let mut n = 0u64;
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (head, body) = read_request(&mut stream);
                let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut st = shared.lock().unwrap();
                let answer = if let Some(q) = target.strip_prefix("/authorize?") {
                    let p: std::collections::HashMap<String, String> =
                        form_urlencoded::parse(q.as_bytes()).into_owned().collect();
                    assert_eq!(p["response_type"], "code");
                    assert_eq!(p["code_challenge_method"], "S256");
                    assert!(p["scope"].split(' ').any(|s| s == "openid"));
                    n += 1;
                    let code = format!("code-{n}");
                    let email = st.who.clone();
                    st.codes.insert(
                        code.clone(),
                        Grant {
                            challenge: p["code_challenge"].clone(),
                            nonce: p["nonce"].clone(),
                            email,
                            redirect_uri: p["redirect_uri"].clone(),
                        },
                    );
                    let to = format!(
                        "{}?code={code}&state={}",
                        p["redirect_uri"],
                        form_urlencoded::byte_serialize(p["state"].as_bytes()).collect::<String>()
                    );
                    format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                } else if target == "/token" {
                    let p: std::collections::HashMap<String, String> =
                        form_urlencoded::parse(body.as_bytes())
                            .into_owned()
                            .collect();
                    let grant = p.get("code").and_then(|c| st.codes.remove(c));
                    let (status, json) = match grant {
                        Some(g)
                            if p.get("code_verifier").is_some_and(|v| {
                                b64(&sha2::Sha256::digest(v.as_bytes())) == g.challenge
                            }) && p.get("redirect_uri") == Some(&g.redirect_uri)
                                && p.get("grant_type").map(String::as_str)
                                    == Some("authorization_code") =>
                        {
                            let nonce = if st.wrong_nonce {
                                "another-sign-in".to_string()
                            } else {
                                g.nonce
                            };
                            let t = issuer.token(json!({"sub": g.email, "email": g.email,
                                                        "nonce": nonce, "groups": ["staff"]}));
                            (
                                200,
                                json!({"id_token": t, "access_token": "opaque", "token_type": "Bearer"}),
                            )
                        }
                        _ => (400, json!({"error": "invalid_grant"})),
                    };
                    let text = json.to_string();
                    format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .into()
                };
                drop(st);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        CodeIdp { base, state }
    }

    fn next(&self, email: &str) {
        self.state.lock().unwrap().who = email.to_string();
    }
}

/// A free port on 127.0.0.1 (bound and let go; the hub takes it next).
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// An agent that shows redirects instead of following them.
fn raw_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Page {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    /// The `Set-Cookie` line for `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }
}

fn page(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Page {
    let mut r = r.unwrap();
    Page {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn browse(a: &ureq::Agent, url: &str, cookie: Option<&str>) -> Page {
    let mut req = a.get(url);
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    page(req.call())
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Signs `email` in through the identity provider; the session cookie
/// (`name=value`).
fn console_login(
    a: &ureq::Agent,
    hub: &Hub,
    idp: &CodeIdp,
    email: &str,
) -> Result<String, Box<Page>> {
    idp.next(email);
    let start = browse(a, &format!("{}/console/login/corp", hub.base), None);
    assert_eq!(start.status, 303, "{}", start.body);
    let tx = start.set_cookie("__Host-warden-login").unwrap();
    assert!(
        tx.contains("HttpOnly") && tx.contains("Secure") && tx.contains("SameSite=Lax"),
        "{tx}"
    );
    let to_idp = start.header("location");
    assert!(
        to_idp.starts_with(&format!("{}/authorize?", idp.base)),
        "{to_idp}"
    );
    let back = browse(a, &to_idp, None);
    assert_eq!(back.status, 302);
    let callback = back.header("location");
    let done = browse(a, &callback, Some(&cookie_value(&tx)));
    if done.status != 200 {
        return Err(Box::new(done));
    }
    let session = done.set_cookie("__Host-warden-session").unwrap();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(attr), "{session}");
    }
    assert!(
        done.body.contains("http-equiv=\"refresh\""),
        "{}",
        done.body
    );
    Ok(cookie_value(&session))
}

fn form_post(
    a: &ureq::Agent,
    url: &str,
    cookie: &str,
    origin: Option<&str>,
    form: &[(&str, &str)],
) -> Page {
    let mut req = a.post(url).header("Cookie", cookie);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    page(req.send_form(form.iter().copied()))
}

/// The hidden CSRF field of a console page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
}

/// The console end to end over HTTP: sign-in with the authorization code
/// flow and PKCE, the session cookie's attributes, the pages a role reads
/// and the ones it may not, forms refused without the session's CSRF token
/// or from another origin, a promotion from the console recorded under the
/// signed-in principal, and the outsider's forgeries: a sign-in this
/// browser did not start, a replayed ID token with another nonce, a
/// tampered or expired session cookie, an API token on a page, the cookie
/// on the API.
#[test]
fn the_console_signs_people_in_and_shows_only_what_their_roles_allow() {
    let ws = workspace();
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let idp = CodeIdp::start(7, "corp-1");
    let addr = free_addr();
    let base = format!("http://{addr}");
    let browser = format!(
        "[issuer.browser]\nclient_id = \"warden-console\"\n\
         authorization_endpoint = \"{0}/authorize\"\ntoken_endpoint = \"{0}/token\"\n\
         redirect_uri = \"{base}/console/callback\"\n",
        idp.base
    );
    grant(ws.path(), "corp.aud@example.com", "auditor");
    grant(ws.path(), "corp.ops@example.com", "operator");
    let hub = Hub::start_at(ws.path(), &corp, &ci, &browser, &[], &addr, "");
    let a = raw_agent();

    // No session: the sign-in page, which lists the issuer and allows no
    // inline script.
    let anon = browse(&a, &format!("{base}/console/"), None);
    assert_eq!(anon.status, 303);
    assert_eq!(anon.header("location"), "/console/login");
    let login = browse(&a, &format!("{base}/console/login"), None);
    assert_eq!(login.status, 200);
    assert!(login.body.contains("/console/login/corp"), "{}", login.body);
    let csp = login.header("content-security-policy");
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");

    // An auditor signs in and reads.
    let aud =
        console_login(&a, &hub, &idp, "aud@example.com").unwrap_or_else(|p| panic!("{}", p.body));
    let models = browse(&a, &format!("{base}/console/"), Some(&aud));
    assert_eq!(models.status, 200, "{}", models.body);
    assert!(
        models.body.contains("corp.aud@example.com"),
        "{}",
        models.body
    );
    assert!(
        models.body.contains("/console/models/credit"),
        "{}",
        models.body
    );
    assert!(!models.body.contains("<script"), "reads need no script");
    let v1 = browse(
        &a,
        &format!("{base}/console/models/credit/versions/1"),
        Some(&aud),
    );
    assert_eq!(v1.status, 200, "{}", v1.body);
    for part in [
        "id=\"gates\"",
        "id=\"metrics\"",
        "95% bootstrap",
        "Fairness per group",
        "warden hub approve credit@1",
        "<svg",
    ] {
        assert!(
            v1.body.contains(part),
            "{part} missing from the version page"
        );
    }
    let eval_link = v1
        .body
        .split("href=\"/console/models/credit/versions/1/evaluations/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let report = browse(
        &a,
        &format!("{base}/console/models/credit/versions/1/evaluations/{eval_link}"),
        Some(&aud),
    );
    assert_eq!(report.status, 200);
    assert!(
        report.body.contains("<svg"),
        "the full report has its charts"
    );
    assert!(!report.header("content-security-policy").contains("script"));
    let bom = browse(
        &a,
        &format!("{base}/console/models/credit/versions/1/bom.json"),
        Some(&aud),
    );
    assert_eq!(bom.status, 200);
    let bom: Value = serde_json::from_str(&bom.body).unwrap();
    assert_eq!(bom["bomFormat"], "CycloneDX");
    let audit = browse(&a, &format!("{base}/console/audit"), Some(&aud));
    assert_eq!(audit.status, 200);
    assert!(
        audit.body.contains("data-index=")
            && audit
                .body
                .contains("<script src=\"/console/assets/console.")
    );
    let filtered = browse(
        &a,
        &format!("{base}/console/audit?action=model.promote"),
        Some(&aud),
    );
    assert!(filtered.body.contains("model.promote") && !filtered.body.contains(">data.ingest<"));
    let proof = browse(&a, &format!("{base}/console/audit/proof/0"), Some(&aud));
    assert_eq!(proof.status, 200);
    let proof_file = ws.path().join("proof.json");
    std::fs::write(&proof_file, &proof.body).unwrap();
    ok(
        ws.path(),
        "ana",
        &["audit", "check-proof", proof_file.to_str().unwrap()],
    );
    for p in [
        "environments",
        "approvals",
        "incidents",
        "keys",
        "models/credit",
        "models/credit/drift",
        "models/credit/versions/1/card",
    ] {
        let r = browse(&a, &format!("{base}/console/{p}"), Some(&aud));
        assert_eq!(r.status, 200, "{p}: {}", r.body);
    }
    // The passport (checked now) and a gate run now, on demand.
    let passport = browse(
        &a,
        &format!("{base}/console/models/credit/versions/1/passport"),
        Some(&aud),
    );
    assert_eq!(passport.status, 200, "{}", passport.body);
    assert!(
        passport.body.contains("id=\"controls\"") && passport.body.contains("signature verifies")
    );
    let gate = browse(
        &a,
        &format!("{base}/console/models/credit/versions/3/gate/production"),
        Some(&aud),
    );
    assert_eq!(gate.status, 200, "{}", gate.body);
    assert!(gate.body.contains("id=\"verdict\""));
    let unknown = browse(
        &a,
        &format!("{base}/console/models/credit/versions/3/gate/moon"),
        Some(&aud),
    );
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    let missing = browse(
        &a,
        &format!("{base}/console/models/credit/versions/99"),
        Some(&aud),
    );
    assert_eq!(missing.status, 404, "{}", missing.body);
    assert!(
        missing.body.contains("<h1>"),
        "an error is a page, not JSON"
    );
    let nowhere = browse(&a, &format!("{base}/console/no/such/page"), Some(&aud));
    assert_eq!(nowhere.status, 404);
    assert!(nowhere.body.contains("<h1>"), "{}", nowhere.body);
    // The embedded stylesheet, by its content-hashed name.
    let css = models
        .body
        .split("href=\"/console/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let sheet = browse(&a, &format!("{base}/console/assets/{css}"), None);
    assert_eq!(sheet.status, 200);
    assert!(sheet.header("cache-control").contains("immutable"));

    // The auditor may not promote: the engine refuses, as on the API.
    let csrf = csrf_of(&v1.body);
    let refused = form_post(
        &a,
        &format!("{base}/console/models/credit/versions/1/promote"),
        &aud,
        Some(&base),
        &[("env", "dev"), ("csrf", &csrf)],
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("your roles do not allow"));

    // An operator promotes from the console: the gate decides, the
    // decision is recorded under the operator's principal.
    let ops =
        console_login(&a, &hub, &idp, "ops@example.com").unwrap_or_else(|p| panic!("{}", p.body));
    let v = browse(
        &a,
        &format!("{base}/console/models/credit/versions/1"),
        Some(&ops),
    );
    let csrf = csrf_of(&v.body);
    let url = format!("{base}/console/models/credit/versions/1/promote");
    // Without the token, with another session's token, from another origin.
    for (origin, token) in [
        (Some(base.as_str()), ""),
        (Some(base.as_str()), csrf_of(&v1.body).as_str()),
        (Some("https://evil.example"), csrf.as_str()),
    ] {
        let r = form_post(&a, &url, &ops, origin, &[("env", "dev"), ("csrf", token)]);
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let before = ok(ws.path(), "ana", &["audit", "log", "--json"]);
    let done = form_post(
        &a,
        &url,
        &ops,
        Some(&base),
        &[("env", "dev"), ("csrf", &csrf)],
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("id=\"outcome\""));
    let after = ok(ws.path(), "ana", &["audit", "log", "--json"]);
    let events: Value = serde_json::from_str(&after).unwrap();
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!(last["actor"], "corp.ops@example.com", "{last}");
    assert!(
        last["action"].as_str().unwrap().starts_with("model."),
        "{last}"
    );
    assert!(after.len() > before.len());

    // Sign-out needs the token too.
    let out = form_post(
        &a,
        &format!("{base}/console/logout"),
        &ops,
        Some(&base),
        &[],
    );
    assert_eq!(out.status, 403);
    let out = form_post(
        &a,
        &format!("{base}/console/logout"),
        &ops,
        Some(&base),
        &[("csrf", &csrf)],
    );
    assert_eq!(out.status, 303);
    assert!(
        out.set_cookie("__Host-warden-session")
            .unwrap()
            .contains("Max-Age=0")
    );

    // A person without a role signs in and is refused every page.
    let nobody =
        console_login(&a, &hub, &idp, "new@example.com").unwrap_or_else(|p| panic!("{}", p.body));
    let r = browse(&a, &format!("{base}/console/"), Some(&nobody));
    assert_eq!(r.status, 403, "{}", r.body);

    // The outsider. A callback this browser did not start, or with
    // another state:
    idp.next("aud@example.com");
    let start = browse(&a, &format!("{base}/console/login/corp"), None);
    let tx = cookie_value(&start.set_cookie("__Host-warden-login").unwrap());
    let back = browse(&a, &start.header("location"), None).header("location");
    assert_eq!(browse(&a, &back, None).status, 400);
    let forged = back.replace("state=", "state=x");
    assert_eq!(browse(&a, &forged, Some(&tx)).status, 400);
    // An ID token minted for another sign-in (another nonce):
    idp.state.lock().unwrap().wrong_nonce = true;
    let replayed = console_login(&a, &hub, &idp, "aud@example.com").unwrap_err();
    assert_eq!(replayed.status, 401);
    assert!(replayed.body.contains("nonce"), "{}", replayed.body);
    assert!(replayed.set_cookie("__Host-warden-session").is_none());
    idp.state.lock().unwrap().wrong_nonce = false;
    // A tampered, an expired and a foreign-issuer session cookie:
    let token = aud.split_once('=').unwrap().1;
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = format!(
        "__Host-warden-session={}",
        String::from_utf8(bytes).unwrap()
    );
    let expired = format!(
        "__Host-warden-session={}",
        corp.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": "corp-1"}),
            &json!({"iss": CORP, "aud": AUDIENCE, "exp": now() - 120, "email": "aud@example.com", "sub": "aud"}),
        )
    );
    let foreign = format!(
        "__Host-warden-session={}",
        Issuer::new(CORP, 42, "corp-1").token(json!({"sub": "aud", "email": "aud@example.com"}))
    );
    for c in [&tampered, &expired, &foreign] {
        let r = browse(&a, &format!("{base}/console/audit"), Some(c));
        assert_eq!(r.status, 303, "{c}");
    }
    // An API bearer token does not open a page; the cookie does not open
    // the API.
    let bearer = corp.token(json!({"sub": "aud", "email": "aud@example.com"}));
    let r = page(
        a.get(&format!("{base}/console/audit"))
            .header("Authorization", &format!("Bearer {bearer}"))
            .call(),
    );
    assert_eq!(r.status, 303);
    let r = browse(&a, &format!("{base}/api/v1/whoami"), Some(&aud));
    assert_eq!(r.status, 401);

    // An insider writes markup where the console shows text (an incident's
    // summary): it is shown as text, never run.
    ok(
        ws.path(),
        "omar",
        &[
            "incident",
            "open",
            "--model",
            "credit@2",
            "--kind",
            "other",
            "--summary",
            "<script>alert(1)</script><img src=x onerror=alert(2)>",
        ],
    );
    let r = browse(&a, &format!("{base}/console/incidents"), Some(&aud));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || r.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        r.body
    );
    assert!(!r.body.contains("<script>alert") && !r.body.contains("<img src=x"));
}

/// A `multipart/form-data` body of `(name, file name, bytes)` parts.
fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, bytes) in parts {
        b.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = file {
            b.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        b.extend_from_slice(b"\r\n\r\n");
        b.extend_from_slice(bytes);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(b))
}

/// The versions of dataset `name` the workspace holds.
fn dataset_versions(ws: &Path, name: &str) -> Vec<u64> {
    let list: Value = serde_json::from_str(&ok(ws, "ana", &["data", "list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == name)
        .map(|d| d["version"].as_u64().unwrap())
        .collect()
}

/// Sends `head` and `body` on a fresh connection, closes the sending side
/// and returns the status line (empty if the hub answered nothing).
fn raw_exchange(base: &str, head: &str, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn uploads_are_ingested_and_imported_as_the_caller_and_a_bad_one_records_nothing() {
    let tmp = workspace();
    let ws = tmp.path();
    for (who, role) in [
        ("corp.dana@example.com", "data-engineer"),
        ("corp.mia@example.com", "ml-engineer"),
        ("corp.aud@example.com", "auditor"),
    ] {
        grant(ws, who, role);
    }
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start_top(
        ws,
        &corp,
        &ci,
        "max_upload_bytes = 400000\nmax_concurrent_uploads = 1\n",
    );
    let homes = tempfile::tempdir().unwrap();
    let (dana, mia, aud) = (
        person(homes.path(), &corp, "dana"),
        person(homes.path(), &corp, "mia"),
        person(homes.path(), &corp, "aud"),
    );
    for home in [&dana, &mia, &aud] {
        client_ok(home, &["login", &hub.base, "--token-file", "token"]);
    }
    ok(
        &dana,
        "dana",
        &[
            "example", "credit", "--rows", "1500", "--seed", "5", "--out", "up.csv",
        ],
    );
    let csv = std::fs::read(dana.join("up.csv")).unwrap();
    assert!(csv.len() < 400_000, "{}", csv.len());
    let args = [
        "hub",
        "ingest",
        "up.csv",
        "--name",
        "uploaded",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--sensitive",
        "sex",
        "--json",
    ];

    // An auditor may not ingest: refused before the body is read.
    std::fs::copy(dana.join("up.csv"), aud.join("up.csv")).unwrap();
    let (code, _, err) = client(&aud, &args);
    assert_eq!(code, 3, "{err}");
    assert!(dataset_versions(ws, "uploaded").is_empty());

    // A data engineer's upload is ingested as her, from the bytes sent.
    let out: Value = serde_json::from_str(&client_ok(&dana, &args)).unwrap();
    assert_eq!(out["dataset"]["version"], 1, "{out}");
    assert_eq!(
        out["report"]["source_digest"],
        format!("sha256:{}", sha256_hex(&csv))
    );
    assert_eq!(dataset_versions(ws, "uploaded"), vec![1]);
    let events: Value = serde_json::from_str(&ok(
        ws,
        "ana",
        &["audit", "log", "--action", "data.ingest", "--json"],
    ))
    .unwrap();
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "corp.dana@example.com", "{last}");

    // Bytes that do not hash to the digest the request names, a body cut
    // short, a part after the CSV, a body over the hub's limit: refused,
    // and nothing is recorded.
    let token = corp.token(json!({"sub": "dana", "email": "dana@example.com"}));
    let url = hub.url("/datasets/uploaded/versions");
    let request = |sha: &str| json!({"sha256": sha, "target": "approved"}).to_string();
    let send = |body: Vec<u8>| {
        let r = agent()
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "multipart/form-data; boundary=XyZ")
            .send(&body[..]);
        reply(r)
    };
    let mut changed = csv.clone();
    let at = changed.len() / 2;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    let r = send(multipart(
        "XyZ",
        &[
            ("request", None, request(&sha256_hex(&csv)).as_bytes()),
            ("data", Some("up.csv"), &changed),
        ],
    ));
    assert_eq!(r.status, 422, "{:?}", r.body);
    let r = send(multipart(
        "XyZ",
        &[
            ("request", None, request(&sha256_hex(&csv)).as_bytes()),
            ("data", Some("up.csv"), &csv),
            ("extra", None, b"x"),
        ],
    ));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(r.body.to_string().contains("comes last"), "{:?}", r.body);
    let r = send(multipart("XyZ", &[("data", Some("up.csv"), &csv)]));
    assert_eq!(r.status, 400, "{:?}", r.body);
    // A CSV that does not parse: 400 with the reader's words; one that
    // fails the uploaded schema's expectations: 422 listing them.
    let ragged = b"approved,x\n1,2\n3,4,5\n";
    let r = send(multipart(
        "XyZ",
        &[
            ("request", None, request(&sha256_hex(ragged)).as_bytes()),
            ("data", Some("ragged.csv"), ragged),
        ],
    ));
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.body.contains("has 3 fields but the header has 2"),
        "{}",
        r.body
    );
    let over = b"approved,x\n1,2\n0,300\n";
    let schema = b"[columns.x]\ntype = \"integer\"\nmax = 100\n";
    let req = json!({"sha256": sha256_hex(over), "schema_sha256": sha256_hex(schema),
                     "target": "approved", "no_screen": true})
    .to_string();
    let r = send(multipart(
        "XyZ",
        &[
            ("request", None, req.as_bytes()),
            ("schema", Some("x.schema.toml"), schema),
            ("data", Some("over.csv"), over),
        ],
    ));
    assert_eq!(r.status, 422, "{:?}", r.body);
    let v: Value = serde_json::from_str(&r.body).unwrap();
    assert!(
        v["expectations"]
            .as_array()
            .is_some_and(|l| l.iter().any(|e| e["column"] == "x" && e["passed"] == false)),
        "{v}"
    );
    let whole = multipart(
        "XyZ",
        &[
            ("request", None, request(&sha256_hex(&csv)).as_bytes()),
            ("data", Some("up.csv"), &csv),
        ],
    );
    let path = url.trim_start_matches(&hub.base);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: hub\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        whole.len()
    );
    // Two thirds of the body, then the client hangs up.
    let status = raw_exchange(&hub.base, &head, &whole[..whole.len() * 2 / 3]);
    assert!(!status.contains(" 201 "), "{status}");
    let mut big = csv.clone();
    while big.len() < 450_000 {
        let rows = csv.split(|b| *b == b'\n').skip(1).take(200);
        for row in rows.filter(|r| !r.is_empty()) {
            big.extend_from_slice(row);
            big.push(b'\n');
        }
    }
    std::fs::write(dana.join("big.csv"), &big).unwrap();
    let (code, _, err) = client(
        &dana,
        &[
            "hub", "ingest", "big.csv", "--name", "uploaded", "--target", "approved",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("400000"), "{err}");
    assert_eq!(dataset_versions(ws, "uploaded"), vec![1]);

    // A model file with its schema: imported as the ML engineer, signed
    // with the hub's pipeline key; a check batch it does not reproduce is
    // refused by name, without the hub's paths.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx");
    std::fs::copy(fixtures.join("linear.onnx"), mia.join("linear.onnx")).unwrap();
    std::fs::write(
        mia.join("penguins.toml"),
        "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\n\
         [[features]]\nname = \"bill_length_mm\"\nmin = 32.1\nmax = 59.6\n\
         [[features]]\nname = \"bill_depth_mm\"\nmin = 13.1\nmax = 21.5\n\
         [[features]]\nname = \"flipper_length_mm\"\nmin = 172\nmax = 231\n\
         [[features]]\nname = \"body_mass_g\"\nmin = 2700\nmax = 6300\n",
    )
    .unwrap();
    std::fs::write(
        mia.join("wrong.check.csv"),
        "bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,probability:Adelie,probability:Chinstrap,probability:Gentoo\n\
         39.1,18.7,181,3750,0.0,0.0,1.0\n",
    )
    .unwrap();
    let import = [
        "hub",
        "import",
        "linear.onnx",
        "--name",
        "penguins-up",
        "--schema",
        "penguins.toml",
    ];
    std::fs::copy(mia.join("linear.onnx"), aud.join("linear.onnx")).unwrap();
    std::fs::copy(mia.join("penguins.toml"), aud.join("penguins.toml")).unwrap();
    let (code, _, err) = client(&aud, &import);
    assert_eq!(code, 3, "{err}");
    let mut with_check = import.to_vec();
    with_check.extend(["--check", "wrong.check.csv"]);
    let (code, _, err) = client(&mia, &with_check);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("wrong.check.csv"), "{err}");
    assert!(!err.contains(".warden"), "the hub's path leaked: {err}");
    let mut json_args = import.to_vec();
    json_args.push("--json");
    let out: Value = serde_json::from_str(&client_ok(&mia, &json_args)).unwrap();
    assert_eq!(out["model"]["version"], 1, "{out}");
    assert_eq!(
        out["source_digest"],
        format!(
            "sha256:{}",
            sha256_hex(&std::fs::read(mia.join("linear.onnx")).unwrap())
        )
    );
    let shown: Value = serde_json::from_str(&ok(
        ws,
        "ana",
        &["model", "show", "penguins-up@1", "--json"],
    ))
    .unwrap();
    assert_eq!(shown["created_by"], "corp.mia@example.com", "{shown}");
    assert!(
        shown["signed_by"].as_str().is_some_and(|k| !k.is_empty()),
        "{shown}"
    );

    // One upload at a time here: while a client holds one open, the next
    // is turned away with 503 and Retry-After, and gets in once it ends.
    let held = {
        use std::io::Write;
        let addr = hub.base.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(head.as_bytes()).unwrap();
        c.write_all(&whole[..whole.len() / 2]).unwrap();
        c
    };
    // Its roles are checked and its place taken within milliseconds.
    std::thread::sleep(Duration::from_millis(500));
    eventually("the held upload to take the hub's one place", || {
        let (code, _, err) = client(&dana, &args);
        code == 1 && err.contains("as many uploads as it accepts")
    });
    drop(held);
    eventually("the next upload once the held one is gone", || {
        client(&dana, &args).0 == 0
    });
    assert_eq!(dataset_versions(ws, "uploaded"), vec![1, 2]);

    // Every upload's staging directory is gone.
    let left: Vec<_> = std::fs::read_dir(ws.join(".warden/tmp"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// curl with the hub's CA and `args`: exit code, HTTP status, body.
fn curl_hub(ca: &str, args: &[&str]) -> (i32, u16, String) {
    let o = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "--cacert",
            ca,
            "-w",
            "\n%{http_code}",
        ])
        .args(args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, status) = out.rsplit_once('\n').unwrap_or(("", &out));
    (
        o.status.code().unwrap_or(-1),
        status.trim().parse().unwrap_or(0),
        body.to_string(),
    )
}

#[test]
fn service_accounts_prove_themselves_with_client_certificates() {
    let tmp = workspace();
    let ws = tmp.path();
    let dir = tempfile::tempdir().unwrap();
    pki::make_pki(dir.path(), &["trainer", "stranger"]);
    let p = |f: &str| dir.path().join(f).display().to_string();
    let o = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-fingerprint",
            "-sha256",
            "-in",
            &p("trainer.pem"),
        ])
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    let fingerprint = printed.trim().rsplit('=').next().unwrap().to_string();
    assert_eq!(fingerprint.len(), 95, "{printed}");
    grant(ws, "mtls.trainer", "operator");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start_top(
        ws,
        &corp,
        &ci,
        &format!(
            "[[service_account]]\nname = \"trainer\"\ncertificate_sha256 = \"{fingerprint}\"\n\
             [tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
            p("server.pem"),
            p("server.key"),
            p("ca.pem")
        ),
    );
    assert!(hub.base.starts_with("https://"), "{}", hub.base);
    let ca = p("ca.pem");
    let whoami = format!("{}/api/v1/whoami", hub.base);
    let (trainer_cert, trainer_key) = (p("trainer.pem"), p("trainer.key"));
    let as_trainer = ["--cert", &trainer_cert, "--key", &trainer_key];

    // The enrolled certificate is the service account, with its grants.
    let mut args = as_trainer.to_vec();
    args.push(&whoami);
    let (code, status, body) = curl_hub(&ca, &args);
    assert_eq!((code, status), (0, 200), "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(me["principal"], "mtls.trainer");
    assert_eq!(me["roles"], json!(["operator"]));
    // It acts, and the log names it.
    let quarantine = hub.url("/models/credit/versions/1/quarantine");
    let mut args = as_trainer.to_vec();
    args.extend([
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"reason": "a service account's check"}"#,
        &quarantine,
    ]);
    let (_, status, body) = curl_hub(&ca, &args);
    assert_eq!(status, 200, "{body}");
    let events: Value = serde_json::from_str(&ok(
        ws,
        "ana",
        &["audit", "log", "--action", "model.quarantine", "--json"],
    ))
    .unwrap();
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "mtls.trainer", "{last}");

    // A certificate from the same CA that no service account names, and
    // no certificate at all, prove no one.
    let (stranger_cert, stranger_key) = (p("stranger.pem"), p("stranger.key"));
    let (code, status, body) = curl_hub(
        &ca,
        &["--cert", &stranger_cert, "--key", &stranger_key, &whoami],
    );
    assert_eq!((code, status), (0, 401), "{body}");
    let (code, status, body) = curl_hub(&ca, &[&whoami]);
    assert_eq!((code, status), (0, 401), "{body}");
    // A person still connects without a certificate, by token; and a token
    // decides who calls even over the service account's connection.
    let token = corp.token(json!({"sub": "lee", "email": "lee@example.com"}));
    let auth = format!("Authorization: Bearer {token}");
    let (_, status, body) = curl_hub(&ca, &["-H", &auth, &whoami]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["principal"],
        "corp.lee@example.com"
    );
    let mut args = as_trainer.to_vec();
    args.extend(["-H", &auth, &whoami]);
    let (_, status, body) = curl_hub(&ca, &args);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["principal"],
        "corp.lee@example.com"
    );
    // A certificate from another CA does not get through the handshake.
    let other = tempfile::tempdir().unwrap();
    pki::make_pki(other.path(), &["trainer"]);
    let q = |f: &str| other.path().join(f).display().to_string();
    let (code, _, _) = curl_hub(
        &ca,
        &[
            "--cert",
            &q("trainer.pem"),
            "--key",
            &q("trainer.key"),
            &whoami,
        ],
    );
    assert_ne!(code, 0);
}

/// A `warden serve --hub` replica: the process and the address it serves.
struct Replica {
    child: Child,
    base: String,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Replica {
    /// Starts a replica of `env` acting with `home`'s login, and waits for
    /// it to listen; `extra` are more flags.
    fn start(home: &Path, hub: &Hub, env: &str, extra: &[&str]) -> Result<Replica, Vec<String>> {
        std::fs::write(
            home.join("replica.toml"),
            "reload_interval_seconds = 0.3\n[rate_limits.predictor]\nper_second = 1000.0\nburst = 1000\n",
        )
        .unwrap();
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--hub",
                &hub.base,
                "--env",
                env,
                "--addr",
                "127.0.0.1:0",
            ])
            .args(["--config", "replica.toml"])
            .args(extra)
            .current_dir(home)
            .env("WARDEN_CONFIG_DIR", home)
            .env_remove("WARDEN_ACTOR")
            .env_remove("WARDEN_WORKSPACE")
            .env_remove("WARDEN_HUB_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for out in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(l);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) => {
                    if let Some(rest) = l.split("listening on ").nth(1) {
                        let base = rest.split_whitespace().next().unwrap().to_string();
                        seen.push(l);
                        return Ok(Replica {
                            child,
                            base,
                            lines: rx,
                        });
                    }
                    seen.push(l);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(seen);
                }
            }
        }
    }

    /// Every line the replica has printed since the last call.
    fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_serving_replica_follows_the_hub_verifies_what_it_downloads_and_asks_the_hub_about_keys() {
    let tmp = workspace();
    let ws = tmp.path();
    grant(ws, "corp.bob@example.com", "admin");
    grant(ws, "corp.olga@example.com", "operator");
    grant(ws, "corp.aud@example.com", "auditor");
    let corp = Issuer::new(CORP, 7, "corp-1");
    let ci = Issuer::new(CI, 9, "ci-1");
    let hub = Hub::start(ws, &corp, &ci);
    let homes = tempfile::tempdir().unwrap();
    let (bob, olga, aud) = (
        person(homes.path(), &corp, "bob"),
        person(homes.path(), &corp, "olga"),
        person(homes.path(), &corp, "aud"),
    );
    for home in [&bob, &olga, &aud] {
        client_ok(home, &["login", &hub.base, "--token-file", "token"]);
    }
    let a = agent();
    let bob_token = std::fs::read_to_string(bob.join("token")).unwrap();
    let served = |name: &str| -> u64 {
        let m = get(&a, &hub.url(&format!("/models/{name}")), Some(&bob_token)).json();
        m["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["env"] == "production")
            .and_then(|p| p["version"].as_u64())
            .expect("the demo promotes credit to production")
    };
    let v = served("credit");

    // A principal whose roles do not allow serving cannot run a replica.
    let denied = Replica::start(&aud, &hub, "production", &[]);
    let seen = denied.err().expect("an auditor's replica started");
    assert!(seen.iter().any(|l| l.contains("403")), "{seen:?}");
    // A replica logged in to another hub is told so.
    let (code, _, err) = client(
        &olga,
        &[
            "serve",
            "--hub",
            "http://127.0.0.1:9",
            "--env",
            "production",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("logged in to"), "{err}");

    let replica = Replica::start(&olga, &hub, "production", &[]).unwrap_or_else(|seen| {
        panic!("replica did not start: {seen:?}");
    });
    let key = client_ok(
        &bob,
        &["hub", "apikey-create", "web", "--role", "predictor"],
    );
    let key = key.trim().to_string();
    assert!(key.starts_with("wdn_"), "{key}");
    let meta = |key: &str| get(&a, &format!("{}/v2/models/credit", replica.base), Some(key));
    // The key reaches the replica at its next reload.
    eventually("the hub's new API key works on the replica", || {
        meta(&key).status == 200
    });
    let m = meta(&key).json();
    assert_eq!(m["versions"], json!([v.to_string()]), "{m}");
    // The id of a real key with another secret, and a key the hub never made.
    let (id_part, secret) = key.rsplit_once('_').unwrap();
    let mut wrong = secret.to_string();
    wrong.replace_range(0..1, if secret.starts_with('A') { "B" } else { "A" });
    let forged = format!("{id_part}_{wrong}");
    let r = meta(&forged);
    assert_eq!(r.status, 401, "{}", r.body);
    let r = meta("wdn_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_eq!(r.status, 401, "{}", r.body);
    // The control API is the hub's, not the replica's.
    let r = get(&a, &format!("{}/api/v1/models", replica.base), Some(&key));
    assert_eq!(r.status, 404, "{}", r.body);

    // The load is in the hub's log under the replica's proven principal.
    let log = get(&a, &hub.url("/audit?limit=200"), Some(&bob_token)).json();
    let loads: Vec<&Value> = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "serve.load")
        .collect();
    assert!(
        loads.iter().any(|e| e["actor"] == "corp.olga@example.com"
            && e["subject"] == format!("model:credit@{v}")),
        "{log}"
    );

    // Revoked on the hub: refused by the replica within a reload.
    client_ok(&bob, &["hub", "apikey-revoke", "web"]);
    eventually("the revoked key is refused by the replica", || {
        let r = meta(&key);
        r.status == 401 && r.body.contains("revoked")
    });

    // Pinned to a key that signed nothing: the replica serves nothing it
    // cannot verify itself, whatever the hub's trust store says.
    let other = ApprovalKey {
        key: SigningKey::from_slice(&[42u8; 32]).unwrap(),
    };
    std::fs::write(olga.join("other.pem"), other.public_pem()).unwrap();
    let pinned = Replica::start(&olga, &hub, "production", &["--trust-key", "other.pem"])
        .unwrap_or_else(|seen| panic!("pinned replica did not start: {seen:?}"));
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lines.iter().any(|l: &String| {
        l.contains("not serving credit") && l.contains("not signed by any trusted")
    }) && Instant::now() < deadline
    {
        if let Ok(l) = pinned.lines.recv_timeout(Duration::from_millis(200)) {
            lines.push(l);
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("not serving credit") && l.contains("not signed by any trusted")),
        "credit@{v} was served under a key that did not sign it: {lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("serving credit@")),
        "{lines:?}"
    );
    let (code, _, err) = client(
        &olga,
        &[
            "serve",
            "--hub",
            &hub.base,
            "--env",
            "production",
            "--trust-key",
            "token",
        ],
    );
    assert_eq!(code, 2, "a token file taken for a key: {err}");
    drop(pinned);
    // Quarantined on the hub: unloaded by the replica.
    let key2 = client_ok(
        &bob,
        &["hub", "apikey-create", "web2", "--role", "predictor"],
    );
    let key2 = key2.trim().to_string();
    eventually("the second key works", || meta(&key2).status == 200);
    client_ok(
        &bob,
        &[
            "hub",
            "quarantine",
            &format!("credit@{v}"),
            "--reason",
            "replica test",
        ],
    );
    eventually("the quarantined version leaves the replica", || {
        meta(&key2).status == 404
    });
    assert!(
        replica.drain().iter().any(|l| l.contains("model.unloaded")),
        "the replica logged no unload"
    );
    drop(replica);

    ok(ws, "ana", &["audit", "verify"]);
}
