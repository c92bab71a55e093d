//! End-to-end: `warden serve` on 127.0.0.1 against a workspace made by
//! `warden demo --keep`, driven over real HTTP.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod pki;

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("warden")
}

/// The demo's workspace, made once per test process and copied per test.
fn template() -> &'static Path {
    demo().0.path()
}

/// The kept demo workspace and what `warden demo --keep` printed.
fn demo() -> &'static (tempfile::TempDir, String) {
    static DIR: OnceLock<(tempfile::TempDir, String)> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        let kept = d.path().join("ws");
        let o = Command::new(bin())
            .args(["demo", "--keep"])
            .arg(&kept)
            .env_remove("WARDEN_WORKSPACE")
            .env_remove("WARDEN_KEY_PASSPHRASE")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "demo failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        (d, String::from_utf8_lossy(&o.stdout).into_owned())
    })
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

fn warden(ws: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin())
        .args(args)
        .current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        // Each test's copy of the template is a fork of one log: each gets
        // its own user directory, so no copy's remembered checkpoint is
        // checked against another copy.
        .env("WARDEN_CONFIG_DIR", ws.join(".user"))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(ws: &Path, actor: &str, args: &[&str]) -> String {
    let (code, out, err) = warden(ws, actor, args);
    assert_eq!(code, 0, "warden {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// A key issued by the operator `omar`, or by the admin `ana` for a role
/// beyond the operator's own (no one issues a key stronger than their roles).
fn apikey(ws: &Path, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec!["apikey", "create", name, "--role", role];
    args.extend_from_slice(extra);
    let issuer = if role == "auditor" { "ana" } else { "omar" };
    ok(ws, issuer, &args).trim().to_string()
}

struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(ws: &Path, env: &str, extra_config: &str) -> Server {
        Server::launch(ws, env, extra_config, None)
    }

    /// As `start`, with the server's open-file limit (soft and hard) set
    /// to `nofile`.
    fn start_limited(ws: &Path, env: &str, extra_config: &str, nofile: u32) -> Server {
        Server::launch(ws, env, extra_config, Some(nofile))
    }

    fn launch(ws: &Path, env: &str, extra_config: &str, nofile: Option<u32>) -> Server {
        let cfg = ws.join("serve.toml");
        std::fs::write(
            &cfg,
            format!("addr = \"127.0.0.1:0\"\nreload_interval_seconds = 0.2\n{extra_config}"),
        )
        .unwrap();
        let mut command = match nofile {
            None => Command::new(bin()),
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin());
                c
            }
        };
        let mut child = command
            .args(["serve", "--env", env, "--config"])
            .arg(&cfg)
            .current_dir(ws)
            .env("WARDEN_ACTOR", "omar")
            .env("WARDEN_CONFIG_DIR", ws.join(".user"))
            .env_remove("WARDEN_WORKSPACE")
            .env_remove("WARDEN_KEY_PASSPHRASE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(l);
                }
            });
        }
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
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) => {
                    if let Some(rest) = l.split("listening on ").nth(1) {
                        let base = rest.split_whitespace().next().unwrap().to_string();
                        return Server { child, base, log };
                    }
                    seen.push(l);
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("server did not start: {seen:?}");
                }
            }
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The log so far, once it contains `needle` (lines are written in
    /// batches a few milliseconds apart).
    fn wait_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let log = self.log.lock().unwrap().join("\n");
            if log.contains(needle) {
                return log;
            }
            assert!(Instant::now() < deadline, "{needle} never logged:\n{log}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Sends raw bytes on a fresh connection and returns what comes back
    /// before the server closes it or 5 s pass.
    fn raw(&self, request: &str) -> String {
        use std::io::{Read, Write};
        let addr = self.base.trim_start_matches("http://");
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
            if out.windows(4).any(|w| w == b"\r\n\r\n") && out.ends_with(b"}") {
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// SIGTERM, then the exit code (within `limit`).
    fn stop(mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.unwrap();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    Reply {
        status: r.status().as_u16(),
        headers,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(a: &ureq::Agent, url: &str, key: Option<&str>) -> Reply {
    let mut req = a.get(url);
    if let Some(k) = key {
        req = req.header("Authorization", &format!("Bearer {k}"));
    }
    reply(req.call())
}

fn post(a: &ureq::Agent, url: &str, key: Option<&str>, body: &str) -> Reply {
    let mut req = a.post(url).header("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.header("X-API-Key", k);
    }
    reply(req.send(body))
}

/// A first-row applicant from the demo's data, in range for every feature.
fn record() -> Value {
    json!({
        "age": 28, "income": 36345.41, "loan_amount": 32400, "credit_score": 821,
        "employment": "employed", "housing": "rent", "num_accounts": 2,
        "debt_ratio": 0.1876, "notes": "first application"
    })
}

fn predict_body(n: usize) -> String {
    json!({"instances": vec![record(); n]}).to_string()
}

#[test]
fn every_guardrail_refuses_and_admits() {
    let tmp = workspace();
    let ws = tmp.path();
    let web = apikey(ws, "web", "predictor", &[]);
    let slow = apikey(ws, "slow", "predictor", &["--rate-limit", "1"]);
    let aud = apikey(ws, "aud", "auditor", &[]);
    let ops = apikey(ws, "ops", "operator", &[]);
    let srv = Server::start(
        ws,
        "production",
        "max_body_bytes = 8192\nmax_instances = 20\n",
    );
    let a = agent();

    // Health probes need no key; readiness names the model.
    let r = get(&a, &srv.url("/v2/health/live"), None);
    assert_eq!(r.status, 200);
    let r = get(&a, &srv.url("/v2/health/ready"), None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.json()["models"][0],
        json!({"name": "credit", "version": "1"})
    );
    for (k, v) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("cache-control", "no-store"),
    ] {
        assert_eq!(r.header(k), Some(v), "{k}");
    }

    let predict = srv.url("/v1/models/credit:predict");
    // Authentication: none, garbage, a lookalike.
    let r = post(&a, &predict, None, &predict_body(1));
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert!(r.json()["error"].as_str().unwrap().contains("API key"));
    let r = post(&a, &predict, Some("not-a-key"), &predict_body(1));
    assert_eq!(r.status, 401);
    let forged = format!("{}x", &web[..web.len() - 1]);
    let r = post(&a, &predict, Some(&forged), &predict_body(1));
    assert_eq!(r.status, 401);
    // Authorisation: an auditor key may not predict; an operator's may.
    let r = post(&a, &predict, Some(&aud), &predict_body(1));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(&a, &predict, Some(&ops), &predict_body(1));
    assert_eq!(r.status, 200, "{}", r.body);

    // The request `warden demo --keep` prints is accepted.
    let printed = &demo().1;
    assert!(
        printed.contains("WARDEN_ACTOR=omar warden serve --env production"),
        "{printed}"
    );
    let demo_request = printed
        .split("-d '")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .unwrap();
    let r = post(&a, &predict, Some(&web), demo_request);
    assert_eq!(r.status, 200, "{}", r.body);

    // A good request.
    let r = post(&a, &predict, Some(&web), &predict_body(3));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["model"], "credit");
    assert_eq!(v["version"], 1);
    let preds = v["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 3);
    for p in preds {
        let label = p["label"].as_str().unwrap();
        assert!(label == "0" || label == "1");
        let probs = p["probabilities"].as_object().unwrap();
        let sum: f64 = probs.values().map(|x| x.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(probs[label].as_f64().unwrap() >= 0.5);
    }

    // Text is normalised first: full-width and zero-width spellings meet
    // the training levels; over-long text is refused.
    let mut odd = record();
    odd["housing"] = json!("ｒｅｎｔ");
    odd["notes"] = json!("first\u{200B} application\u{202E}");
    let r = post(
        &a,
        &predict,
        Some(&web),
        &json!({"instances": [odd]}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let mut long = record();
    long["notes"] = json!("x".repeat(5000));
    let r = post(
        &a,
        &predict,
        Some(&web),
        &json!({"instances": [long]}).to_string(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("longer than 1024"), "{}", r.body);

    // Validation: every error listed, with instance and field.
    let mut bad = record();
    bad["age"] = json!("forty");
    bad["income"] = json!(1e12);
    bad["housing"] = json!("castle");
    bad["colour"] = json!("red");
    bad.as_object_mut().unwrap().remove("notes");
    let body = json!({"instances": [record(), bad]}).to_string();
    let r = post(&a, &predict, Some(&web), &body);
    assert_eq!(r.status, 422, "{}", r.body);
    let details = r.json()["details"].as_array().unwrap().clone();
    let fields: Vec<&str> = details
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["colour", "age", "income", "housing", "notes"]);
    assert!(details.iter().all(|d| d["instance"] == 1));
    // Non-finite numbers cannot get through: JSON has no NaN, and an
    // overflowing literal is refused.
    for body in [
        predict_body(1).replace("\"age\":28", "\"age\":NaN"),
        predict_body(1).replace("\"age\":28", "\"age\":1e999"),
        "{\"instances\": 5}".to_string(),
        "not json".to_string(),
    ] {
        let r = post(&a, &predict, Some(&web), &body);
        assert_eq!(r.status, 422, "{body}: {}", r.body);
    }
    let r = post(&a, &predict, Some(&web), &predict_body(21));
    assert_eq!(r.status, 422);
    assert!(r.body.contains("at most 20"), "{}", r.body);
    // Size: refused on the declared length, before any of the body is
    // read (the client has sent none of it).
    let head = srv.raw(&format!(
        "POST /v1/models/credit:predict HTTP/1.1\r\nHost: x\r\nX-API-Key: {web}\r\nContent-Type: application/json\r\nContent-Length: 50000000\r\n\r\n"
    ));
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.contains("exceeds the limit of 8192 bytes"), "{head}");
    // Unknown model.
    let r = post(
        &a,
        &srv.url("/v1/models/nope:predict"),
        Some(&web),
        &predict_body(1),
    );
    assert_eq!(r.status, 404);
    let r = get(&a, &srv.url("/v2/models/nope"), Some(&web));
    assert_eq!(r.status, 404);

    // Open Inference Protocol v2: metadata, one tensor per feature, errors.
    let r = get(&a, &srv.url("/v2/models/credit"), Some(&web));
    assert_eq!(r.status, 200);
    let meta = r.json();
    assert_eq!(meta["versions"], json!(["1"]));
    let inputs = meta["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 9);
    let rec = record();
    let tensors: Vec<Value> = inputs
        .iter()
        .map(|i| {
            let name = i["name"].as_str().unwrap();
            json!({"name": name, "datatype": i["datatype"], "shape": [2], "data": [rec[name], rec[name]]})
        })
        .collect();
    let infer = srv.url("/v2/models/credit/infer");
    let r = post(
        &a,
        &infer,
        Some(&web),
        &json!({"id": "r-1", "inputs": tensors}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], "r-1");
    assert_eq!(v["model_version"], "1");
    assert_eq!(v["outputs"][0]["name"], "label");
    assert_eq!(v["outputs"][0]["shape"], json!([2]));
    assert_eq!(v["outputs"][1]["shape"], json!([2, 2]));
    let mut wrong = tensors.clone();
    wrong[0]["shape"] = json!([3]);
    let r = post(
        &a,
        &infer,
        Some(&web),
        &json!({"inputs": wrong}).to_string(),
    );
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]
            .as_str()
            .unwrap()
            .contains("holds 3 elements")
    );
    let mut wrong = tensors.clone();
    wrong[0]["data"] = json!(["a", "b"]);
    let r = post(
        &a,
        &infer,
        Some(&web),
        &json!({"inputs": wrong}).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &a,
        &srv.url("/v2/models/credit/versions/7/infer"),
        Some(&web),
        &json!({"inputs": tensors}).to_string(),
    );
    assert_eq!(r.status, 404);

    // Rate limit: one request per second, burst one.
    let first = post(&a, &predict, Some(&slow), &predict_body(1));
    assert_eq!(first.status, 200);
    let r = post(&a, &predict, Some(&slow), &predict_body(1));
    assert_eq!(r.status, 429, "{}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    // Other keys are not affected.
    assert_eq!(post(&a, &predict, Some(&web), &predict_body(1)).status, 200);

    // Metrics: an operator may read them, a predictor may not.
    assert_eq!(get(&a, &srv.url("/metrics"), Some(&web)).status, 403);
    let m = get(&a, &srv.url("/metrics"), Some(&ops));
    assert_eq!(m.status, 200);
    for needle in [
        "warden_rejections_total{reason=\"rate_limited\"} 1",
        "warden_rejections_total{reason=\"unauthenticated\"}",
        "warden_rejections_total{reason=\"forbidden\"}",
        "warden_rejections_total{reason=\"too_large\"} 1",
        "warden_rate_limited_total{key=\"slow\"} 1",
        "warden_model_loaded{model=\"credit\",version=\"1\"} 1",
        "warden_predictions_total{model=\"credit\",version=\"1\",class=",
        "warden_http_request_duration_seconds_bucket{",
    ] {
        assert!(m.body.contains(needle), "{needle} not in\n{}", m.body);
    }

    // Revocation takes effect at the next refresh.
    ok(ws, "omar", &["apikey", "revoke", "web"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = post(&a, &predict, Some(&web), &predict_body(1));
        if r.status == 401 {
            assert!(r.body.contains("revoked"), "{}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "revocation not picked up");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The access log: a line per request, no keys, no payloads.
    let log = srv.wait_log("\"rejected\":\"rate_limited\"");
    for secret in [&web, &slow, &aud, &ops] {
        assert!(!log.contains(secret.as_str()));
    }
    assert!(!log.contains("36345.41") && !log.contains("castle"));
    assert!(log.contains("\"event\":\"access\""));

    // SIGTERM stops it cleanly.
    assert_eq!(srv.stop(Duration::from_secs(10)), Some(0));
}

#[test]
fn errors_name_no_internal_paths() {
    let tmp = workspace();
    let ws = tmp.path();
    let web = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(ws, "production", "");
    let a = agent();
    let dir = ws.display().to_string();
    for (method, path, body) in [
        ("POST", "/v1/models/credit:predict", "{\"instances\": [{}]}"),
        ("POST", "/v1/models/credit:explode", "{}"),
        (
            "POST",
            "/v2/models/credit/infer",
            "{\"inputs\": [{\"name\": 1}]}",
        ),
        ("GET", "/v2/models/../../etc/passwd", ""),
        ("GET", "/nowhere", ""),
    ] {
        let r = if method == "GET" {
            get(&a, &srv.url(path), Some(&web))
        } else {
            post(&a, &srv.url(path), Some(&web), body)
        };
        assert!(r.status >= 400 && r.status < 500, "{path}: {}", r.status);
        assert!(
            !r.body.contains(&dir) && !r.body.contains(".warden") && !r.body.contains(".rs:"),
            "{path}: {}",
            r.body
        );
        assert!(r.json()["error"].is_string(), "{path}: {}", r.body);
    }
}

#[test]
fn a_tampered_package_is_never_served() {
    let tmp = workspace();
    let ws = tmp.path();
    let web = apikey(ws, "web", "predictor", &[]);
    // Flip a byte of credit@1's weights in the blob store.
    let conn = rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap();
    let files: String = conn
        .query_row(
            "SELECT files FROM models WHERE name = 'credit' AND version = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let files: Value = serde_json::from_str(&files).unwrap();
    let digest = files["weights.safetensors"].as_str().unwrap();
    let hex = digest.trim_start_matches("sha256:");
    let blob = ws
        .join(".warden/blobs/sha256")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&blob, bytes).unwrap();

    let srv = Server::start(ws, "production", "");
    let a = agent();
    let r = get(&a, &srv.url("/v2/health/ready"), None);
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["ready"], false);
    let missing = r.json()["missing"]["credit"].as_str().unwrap().to_string();
    assert!(missing.contains("credit@1"), "{missing}");
    let r = post(
        &a,
        &srv.url("/v1/models/credit:predict"),
        Some(&web),
        &predict_body(1),
    );
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(r.body.contains("not being served"), "{}", r.body);
    let r = get(&a, &srv.url("/v2/models/credit/ready"), Some(&web));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["ready"], false);
    drop(srv);
    // The refusal is in the audit log, once.
    let log = ok(
        ws,
        "omar",
        &["audit", "log", "--action", "serve.skip", "--json"],
    );
    let events: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1, "{log}");
    ok(ws, "omar", &["audit", "verify"]);
}

#[test]
fn models_swap_under_load_without_a_failed_request() {
    let tmp = workspace();
    let ws = tmp.path();
    // dev holds credit@1; credit@2 (released from quarantine) will replace it.
    ok(ws, "ana", &["release", "credit@2", "--reason", "swap test"]);
    ok(ws, "sam", &["promote", "credit@1", "--to", "dev"]);
    let key = apikey(ws, "load", "predictor", &["--rate-limit", "100000"]);
    // The same record over and over is drift the monitor would answer with
    // a rollback of its own; this test moves the pointers itself.
    let srv = Server::start(ws, "dev", "[monitor]\nenabled = false\n");
    let url = srv.url("/v1/models/credit:predict");
    let stop = Arc::new(AtomicBool::new(false));
    let seen: Arc<Mutex<Vec<(u16, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (url, key, stop, seen) = (url.clone(), key.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let a = agent();
                while !stop.load(Ordering::SeqCst) {
                    let r = post(&a, &url, Some(&key), &predict_body(2));
                    let v = if r.status == 200 {
                        r.json()["version"].as_i64().unwrap_or(-1)
                    } else {
                        -1
                    };
                    seen.lock().unwrap().push((r.status, v));
                }
            })
        })
        .collect();
    let wait_for = |version: i64| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let n = seen.lock().unwrap().len();
            std::thread::sleep(Duration::from_millis(200));
            let s = seen.lock().unwrap();
            if s[n..].iter().any(|&(_, v)| v == version) {
                return;
            }
            assert!(Instant::now() < deadline, "version {version} never served");
        }
    };
    wait_for(1);
    ok(ws, "sam", &["promote", "credit@2", "--to", "dev"]);
    wait_for(2);
    ok(ws, "omar", &["rollback", "credit", "--env", "dev"]);
    wait_for(1);
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    let s = seen.lock().unwrap();
    let failed: Vec<_> = s.iter().filter(|(st, _)| *st != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        s.len(),
        &failed[..failed.len().min(5)]
    );
    assert!(s.len() > 50, "only {} requests", s.len());
    assert!(s.iter().any(|&(_, v)| v == 2));
    drop(s);
    // The log is written in batches: give the last lines a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = srv.log.lock().unwrap().join("\n");
        let loads = log.matches("\"event\":\"model.loaded\"").count();
        if loads == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{loads} loads logged:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// curl's exit code and the HTTP status it printed.
fn curl(args: &[&str]) -> (i32, String) {
    let o = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn tls_with_and_without_client_certificates() {
    let tmp = workspace();
    let ws = tmp.path();
    let key = apikey(ws, "web", "predictor", &[]);
    let pki = tempfile::tempdir().unwrap();
    pki::make_pki(pki.path(), &["client"]);
    let p = |f: &str| pki.path().join(f).display().to_string();

    let srv = Server::start(
        ws,
        "production",
        &format!(
            "tls_handshake_timeout_seconds = 1\n[tls]\ncert = {:?}\nkey = {:?}\n",
            p("server.pem"),
            p("server.key")
        ),
    );
    assert!(srv.base.starts_with("https://127.0.0.1:"), "{}", srv.base);
    let live = format!("{}/v2/health/live", srv.base);
    assert_eq!(curl(&["--cacert", &p("ca.pem"), &live]), (0, "200".into()));
    let predict = format!("{}/v1/models/credit:predict", srv.base);
    let auth = format!("Authorization: Bearer {key}");
    let body = predict_body(1);
    assert_eq!(
        curl(&["--cacert", &p("ca.pem"), "-H", &auth, "-d", &body, &predict]),
        (0, "200".into())
    );
    // Plain HTTP to the TLS port gets no HTTP answer; an untrusting client refuses the cert.
    let plain = live.replace("https://", "http://");
    assert_ne!(curl(&[&plain]).1, "200");
    assert_ne!(curl(&[&live]).0, 0);
    // A client that starts a handshake and stalls is dropped at the
    // handshake timeout.
    let mut c = std::net::TcpStream::connect(srv.base.trim_start_matches("https://")).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let since = Instant::now();
    std::io::Write::write_all(&mut c, &[0x16, 0x03, 0x01]).unwrap();
    let closed = std::io::Read::read(&mut c, &mut [0u8; 64]);
    let waited = since.elapsed();
    assert!(
        matches!(closed, Ok(0))
            || matches!(&closed, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{closed:?} after {waited:?}"
    );
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
    drop(srv);

    let srv = Server::start(
        ws,
        "production",
        &format!(
            "[tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n",
            p("server.pem"),
            p("server.key"),
            p("ca.pem")
        ),
    );
    let live = format!("{}/v2/health/live", srv.base);
    // Without a client certificate the handshake fails.
    let (code, status) = curl(&["--cacert", &p("ca.pem"), &live]);
    assert!(code != 0 && status != "200", "{code} {status}");
    let (code, status) = curl(&[
        "--cacert",
        &p("ca.pem"),
        "--cert",
        &p("client.pem"),
        "--key",
        &p("client.key"),
        &live,
    ]);
    assert_eq!((code, status.as_str()), (0, "200"));
    // A server certificate is not a client certificate here (wrong key usage).
    let (code, _) = curl(&[
        "--cacert",
        &p("ca.pem"),
        "--cert",
        &p("server.pem"),
        "--key",
        &p("server.key"),
        &live,
    ]);
    assert_ne!(code, 0);
}

mod jwt {
    use base64::Engine as _;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::{Signature, SigningKey};
    use serde_json::{Value, json};

    fn b64(b: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    pub fn jwk(k: &SigningKey, kid: &str) -> Value {
        let point = k.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": b64(&bytes[1..33]), "y": b64(&bytes[33..65]),
        })
    }

    pub fn token(k: &SigningKey, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: Signature = k.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }

    pub fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }
}

#[test]
fn oidc_bearer_tokens_are_checked() {
    let tmp = workspace();
    let ws = tmp.path();
    let api_key = apikey(ws, "web", "predictor", &[]);
    let idp = jwt::key(7);
    let jwks = json!({"keys": [jwt::jwk(&idp, "k1")]});
    std::fs::write(ws.join("jwks.json"), jwks.to_string()).unwrap();
    let srv = Server::start(
        ws,
        "production",
        "[jwt]\njwks_file = \"jwks.json\"\nissuer = \"https://idp.test/\"\naudience = \"warden\"\nalgorithms = [\"ES256\"]\nroles_claim = \"realm_access.roles\"\nleeway_seconds = 5\n",
    );
    let a = agent();
    let url = srv.url("/v1/models/credit:predict");
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": "k1"});
    let claims = |exp: u64, aud: &str, roles: Value| {
        json!({"iss": "https://idp.test/", "aud": aud, "sub": "alice", "exp": exp,
               "iat": jwt::now(), "realm_access": {"roles": roles}})
    };
    let call = |token: &str| {
        reply(
            a.post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .send(predict_body(1)),
        )
    };
    let later = jwt::now() + 300;
    let good = jwt::token(
        &idp,
        header.clone(),
        claims(later, "warden", json!(["predictor"])),
    );
    let r = call(&good);
    assert_eq!(r.status, 200, "{}", r.body);
    // API keys keep working beside tokens.
    assert_eq!(post(&a, &url, Some(&api_key), &predict_body(1)).status, 200);
    for (token, why) in [
        (
            jwt::token(
                &idp,
                header.clone(),
                claims(jwt::now() - 3600, "warden", json!(["predictor"])),
            ),
            "expired",
        ),
        (
            jwt::token(
                &jwt::key(9),
                header.clone(),
                claims(later, "warden", json!(["predictor"])),
            ),
            "signature",
        ),
        (
            jwt::token(
                &idp,
                header.clone(),
                claims(later, "someone-else", json!(["predictor"])),
            ),
            "audience",
        ),
        (
            jwt::token(
                &idp,
                json!({"alg": "ES256", "kid": "k2"}),
                claims(later, "warden", json!(["predictor"])),
            ),
            "unknown key",
        ),
        (
            format!(
                "{}.{}.",
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    br#"{"alg":"none"}"#
                ),
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    claims(later, "warden", json!(["predictor"])).to_string()
                )
            ),
            "token",
        ),
        ("garbage.token.here".to_string(), "token"),
    ] {
        let r = call(&token);
        assert_eq!(r.status, 401, "{why}: {}", r.body);
        assert!(r.body.contains(why), "{why}: {}", r.body);
    }
    // A valid token whose roles do not allow prediction.
    let auditor = jwt::token(
        &idp,
        header.clone(),
        claims(later, "warden", json!(["auditor"])),
    );
    let r = call(&auditor);
    assert_eq!(r.status, 403, "{}", r.body);
    let none = jwt::token(&idp, header, claims(later, "warden", json!([])));
    assert_eq!(call(&none).status, 403);
    let log = srv.wait_log("\"client\":\"jwt:alice\"");
    assert!(!log.contains(&good));
}

#[test]
fn the_control_api_acts_as_the_caller_through_the_engine() {
    let tmp = workspace();
    let ws = tmp.path();
    ok(
        ws,
        "ana",
        &["release", "credit@2", "--reason", "control test"],
    );
    let ops = apikey(ws, "ops", "operator", &[]);
    let web = apikey(ws, "web", "predictor", &[]);
    let aud = apikey(ws, "aud", "auditor", &[]);
    let srv = Server::start(ws, "dev", "");
    let a = agent();

    // Reading the registry: the roles of people may; a predictor key and
    // no credential may not.
    assert_eq!(get(&a, &srv.url("/api/v1/models"), None).status, 401);
    let r = get(&a, &srv.url("/api/v1/models"), Some(&web));
    assert_eq!(r.status, 403, "{}", r.body);
    let r = get(&a, &srv.url("/api/v1/models"), Some(&aud));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json().as_array().unwrap().len() >= 5);
    let r = get(&a, &srv.url("/api/v1/models/credit"), Some(&ops));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    // credit@1-3 from the stages before the hub, credit@4 from its step.
    assert_eq!(v["versions"].as_array().unwrap().len(), 4);
    assert!(
        v["stages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["env"] == "production")
    );
    assert_eq!(
        get(&a, &srv.url("/api/v1/models/nope"), Some(&ops)).status,
        404
    );
    assert_eq!(
        get(&a, &srv.url("/api/v1/models/credit/versions/1"), Some(&ops)).status,
        200
    );
    assert_eq!(
        get(&a, &srv.url("/api/v1/models/credit/versions/x"), Some(&ops)).status,
        400
    );

    // Promotion: the policy refuses a predictor (audited under its name),
    // allows an operator; the server then serves the new pointer.
    let promote = srv.url("/api/v1/models/credit/versions/1/promote");
    let r = post(&a, &promote, Some(&web), r#"{"env": "dev"}"#);
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(&a, &promote, Some(&ops), r#"{"env": "nowhere"}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(&a, &promote, Some(&ops), r#"{"environment": "dev"}"#);
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(&a, &promote, Some(&ops), r#"{"env": "dev"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["allowed"], true);
    let predict = srv.url("/v1/models/credit:predict");
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(&a, &predict, Some(&web), &predict_body(1)).status != 200 {
        assert!(Instant::now() < deadline, "promoted model never served");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Quarantine through the API takes it out of service.
    let r = post(
        &a,
        &srv.url("/api/v1/models/credit/versions/1/quarantine"),
        Some(&ops),
        r#"{"reason": "suspected drift"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.json()["removed_from"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "dev")
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while post(&a, &predict, Some(&web), &predict_body(1)).status == 200 {
        assert!(Instant::now() < deadline, "quarantined model still served");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Rollback needs a version that passed dev's gate and is not quarantined.
    let r = post(
        &a,
        &srv.url("/api/v1/models/credit/rollback"),
        Some(&ops),
        r#"{"env": "dev"}"#,
    );
    assert!(
        r.status == 200 || r.status == 409 || r.status == 404,
        "{}",
        r.body
    );

    // The audit log: who did what, as the CLI records it.
    let r = get(
        &a,
        &srv.url("/api/v1/audit?action=model.promote&limit=100"),
        Some(&aud),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.json();
    let last = events.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "apikey.ops");
    let r = get(
        &a,
        &srv.url("/api/v1/audit?action=authz.denied"),
        Some(&aud),
    );
    assert!(r.body.contains("apikey.web"), "{}", r.body);
    let seq = last["seq"].as_u64().unwrap();
    let r = get(
        &a,
        &srv.url(&format!("/api/v1/audit/proof/{seq}")),
        Some(&aud),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    std::fs::write(ws.join("proof.json"), &r.body).unwrap();
    ok(ws, "ana", &["audit", "check-proof", "proof.json"]);
    assert_eq!(
        get(&a, &srv.url("/api/v1/audit?limit=lots"), Some(&aud)).status,
        400
    );
    drop(srv);
    ok(ws, "ana", &["audit", "verify"]);
}

#[test]
fn a_predictor_key_reaches_its_models_inference_and_nothing_else() {
    let tmp = workspace();
    let ws = tmp.path();
    let web = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(ws, "production", "");
    let a = agent();

    // Inference: yes.
    let r = post(
        &a,
        &srv.url("/v1/models/credit:predict"),
        Some(&web),
        &predict_body(1),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(&a, &srv.url("/v2/models/credit"), Some(&web));
    assert_eq!(r.status, 200, "{}", r.body);

    // The attacker holds a leaked or client-side predictor key and reads
    // the registry, the audit log (every actor's name and action) and the
    // monitor's windows, or acts on the control API: each is refused.
    let reads = [
        "/api/v1/models",
        "/api/v1/models/credit",
        "/api/v1/models/credit/versions/1",
        "/api/v1/models/credit/drift",
        "/api/v1/audit",
        "/api/v1/audit?action=apikey.create",
        "/api/v1/audit/proof/0",
        "/metrics",
    ];
    for path in reads {
        let r = get(&a, &srv.url(path), Some(&web));
        assert_eq!(r.status, 403, "GET {path}: {}", r.body);
        assert!(!r.body.contains("\"seq\""), "GET {path} leaked events");
    }
    for (path, body) in [
        (
            "/api/v1/models/credit/versions/1/promote",
            r#"{"env": "dev"}"#,
        ),
        ("/api/v1/models/credit/rollback", r#"{"env": "production"}"#),
        (
            "/api/v1/models/credit/versions/1/quarantine",
            r#"{"reason": "x"}"#,
        ),
    ] {
        let r = post(&a, &srv.url(path), Some(&web), body);
        assert_eq!(r.status, 403, "POST {path}: {}", r.body);
    }
    // Still serving, to the same key.
    let r = post(
        &a,
        &srv.url("/v1/models/credit:predict"),
        Some(&web),
        &predict_body(1),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    drop(srv);
    // The refusals are on the record under the key's name.
    let denied = ok(
        ws,
        "ana",
        &["audit", "log", "--action", "authz.denied", "--json"],
    );
    let denied: Value = serde_json::from_str(&denied).unwrap();
    let by_key = denied
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "apikey.web")
        .count();
    assert!(by_key >= 7, "{denied}");
    ok(ws, "ana", &["audit", "verify"]);
}

/// Serves `body` at any path over plain HTTP on 127.0.0.1 (an IdP's JWKS
/// endpoint), until the test process ends.
fn jwks_endpoint(body: Arc<Mutex<String>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let text = body.lock().unwrap().clone();
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    format!("http://{addr}/jwks")
}

#[test]
fn a_jwks_url_is_fetched_and_refreshed_for_key_rotation() {
    let tmp = workspace();
    let ws = tmp.path();
    let (old, new) = (jwt::key(11), jwt::key(12));
    let body = Arc::new(Mutex::new(
        json!({"keys": [jwt::jwk(&old, "old")]}).to_string(),
    ));
    let url = jwks_endpoint(body.clone());
    let srv = Server::start(
        ws,
        "production",
        &format!(
            "[jwt]\njwks_url = {url:?}\njwks_refresh_seconds = 1\nissuer = \"https://idp.test/\"\naudience = \"warden\"\nalgorithms = [\"ES256\"]\n"
        ),
    );
    let a = agent();
    let predict = srv.url("/v1/models/credit:predict");
    let token = |k: &p256::ecdsa::SigningKey, kid: &str| {
        jwt::token(
            k,
            json!({"alg": "ES256", "kid": kid}),
            json!({"iss": "https://idp.test/", "aud": "warden", "sub": "bob",
                   "exp": jwt::now() + 300, "roles": ["predictor"]}),
        )
    };
    let call = |t: &str| {
        reply(
            a.post(&predict)
                .header("Authorization", &format!("Bearer {t}"))
                .send(predict_body(1)),
        )
        .status
    };
    assert_eq!(call(&token(&old, "old")), 200);
    assert_eq!(call(&token(&new, "new")), 401);
    // The IdP rotates its key; the server follows within the refresh interval.
    *body.lock().unwrap() = json!({"keys": [jwt::jwk(&new, "new")]}).to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&token(&new, "new")) != 200 {
        assert!(
            Instant::now() < deadline,
            "the rotated key was never fetched"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(call(&token(&old, "old")), 401);
    // An unreachable or broken JWKS keeps the keys the server has.
    *body.lock().unwrap() = "not json".to_string();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(call(&token(&new, "new")), 200);
    srv.wait_log("jwks.refresh_failed");
}

#[test]
fn oip_binary_tensor_data_is_accepted() {
    let tmp = workspace();
    let ws = tmp.path();
    let key = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(ws, "production", "");
    let a = agent();
    let meta = get(&a, &srv.url("/v2/models/credit"), Some(&key)).json();
    let rec = record();
    // Every input as binary data after the JSON header, as Triton's and
    // KServe's clients send by default.
    let mut inputs = Vec::new();
    let mut raw = Vec::new();
    for i in meta["inputs"].as_array().unwrap() {
        let name = i["name"].as_str().unwrap();
        let start = raw.len();
        if i["datatype"] == "BYTES" {
            for _ in 0..2 {
                let s = rec[name].as_str().unwrap();
                raw.extend_from_slice(&(s.len() as u32).to_le_bytes());
                raw.extend_from_slice(s.as_bytes());
            }
        } else {
            for _ in 0..2 {
                raw.extend_from_slice(&(rec[name].as_f64().unwrap() as f32).to_le_bytes());
            }
        }
        let datatype = if i["datatype"] == "BYTES" {
            "BYTES"
        } else {
            "FP32"
        };
        inputs.push(json!({"name": name, "shape": [2], "datatype": datatype,
            "parameters": {"binary_data_size": raw.len() - start}}));
    }
    let head = json!({"id": "bin-1", "inputs": inputs}).to_string();
    let mut body = head.clone().into_bytes();
    body.extend_from_slice(&raw);
    let send = |body: &[u8], header_len: usize| {
        reply(
            a.post(&srv.url("/v2/models/credit/infer"))
                .header("X-API-Key", &key)
                .header("Content-Type", "application/octet-stream")
                .header("Inference-Header-Content-Length", &header_len.to_string())
                .send(body),
        )
    };
    let r = send(&body, head.len());
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], "bin-1");
    assert_eq!(v["outputs"][0]["shape"], json!([2]));
    // Truncated data, a wrong header length, and a NaN are refused with 400.
    let r = send(&body[..body.len() - 3], head.len());
    assert_eq!(r.status, 400, "{}", r.body);
    let r = send(&body, head.len() + 5);
    assert_eq!(r.status, 400, "{}", r.body);
    let mut nan = body.clone();
    let first_fp = inputs.iter().position(|i| i["datatype"] == "FP32").unwrap();
    let offset: u64 = inputs[..first_fp]
        .iter()
        .map(|i| i["parameters"]["binary_data_size"].as_u64().unwrap())
        .sum();
    let at = head.len() + offset as usize;
    nan[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let r = send(&nan, head.len());
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not a finite number"), "{}", r.body);
}

/// A connection that has sent a predict request's headers and the first
/// half of `body`, and waits.
fn half_sent(srv: &Server, key: &str, body: &str) -> std::net::TcpStream {
    use std::io::Write;
    let addr = srv.base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        c,
        "POST /v1/models/credit:predict HTTP/1.1\r\nHost: x\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    c.write_all(&body.as_bytes()[..body.len() / 2]).unwrap();
    c.flush().unwrap();
    c
}

#[test]
fn sigterm_lets_a_request_in_flight_finish() {
    use std::io::{Read, Write};
    let tmp = workspace();
    let ws = tmp.path();
    let key = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(ws, "production", "");
    let body = predict_body(1);
    let addr = srv.base.trim_start_matches("http://").to_string();
    // Headers and half the body, then the signal, then the rest.
    let mut c = half_sent(&srv, &key, &body);
    let rest = &body.as_bytes()[body.len() / 2..];
    std::thread::sleep(Duration::from_millis(300));
    let pid = srv.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(300));
    c.write_all(rest).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"predictions\""), "{answer}");
    // New connections are refused once it has stopped, and it exits 0.
    assert_eq!(srv.stop(Duration::from_secs(10)), Some(0));
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn a_request_past_the_timeout_gets_503_and_others_are_unaffected() {
    use std::io::Read;
    let tmp = workspace();
    let ws = tmp.path();
    let key = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(ws, "production", "request_timeout_seconds = 1\n");
    let body = predict_body(1);
    // Headers and half the body, then nothing: the handler waits on the
    // rest until the deadline.
    let mut c = half_sent(&srv, &key, &body);
    let started = Instant::now();
    // Meanwhile an ordinary request is answered at once.
    let a = agent();
    let r = post(&a, &srv.url("/v1/models/credit:predict"), Some(&key), &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("timed out"), "{answer}");
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    srv.wait_log("\"rejected\":\"timeout\"");
}

#[test]
fn past_the_concurrency_limit_a_request_gets_503_and_the_place_comes_back() {
    use std::io::Read;
    let tmp = workspace();
    let ws = tmp.path();
    let key = apikey(ws, "web", "predictor", &[]);
    let srv = Server::start(
        ws,
        "production",
        "max_concurrency = 1\nrequest_timeout_seconds = 15\n",
    );
    let body = predict_body(1);
    let url = srv.url("/v1/models/credit:predict");
    // One request holds the only place, waiting on the rest of its body.
    let mut c = half_sent(&srv, &key, &body);
    let a = agent();
    // The stalled request reaches the guard after its headers; until then
    // a second request may still get the place, so ask until it is taken
    // (well within the stalled request's 15 s timeout, on a loaded machine
    // too: under heavy load the headers alone have taken seconds). If one
    // of these requests held the place when the stalled one reached the
    // guard, the stalled one was turned away: send it again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let busy = loop {
        let r = post(&a, &url, Some(&key), &body);
        if r.status == 503 || Instant::now() > deadline {
            break r;
        }
        c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
        if matches!(c.peek(&mut [0u8; 1]), Ok(n) if n > 0) {
            let mut turned_away = String::new();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = c.read_to_string(&mut turned_away);
            assert!(turned_away.contains("concurrency limit"), "{turned_away}");
            c = half_sent(&srv, &key, &body);
        }
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    };
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert!(busy.body.contains("concurrency limit"), "{}", busy.body);
    srv.wait_log("\"rejected\":\"busy\"");
    // The stalled request times out and gives its place back.
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let r = post(&a, &url, Some(&key), &body);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// Applicants unlike the training data: richer, riskier (income ×1.9,
/// credit score −170, debt ratio +0.35), jittered so no two are alike.
fn shifted_body(n: usize, seed: &mut u64) -> String {
    let mut next = || {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as f64 / (1u64 << 31) as f64
    };
    let rows: Vec<Value> = (0..n)
        .map(|_| {
            json!({
                "age": 25 + (next() * 30.0) as i64,
                "income": 60000.0 + next() * 40000.0,
                "loan_amount": 20000 + (next() * 20000.0) as i64,
                "credit_score": 420 + (next() * 60.0) as i64,
                "employment": "employed", "housing": "rent",
                "num_accounts": 1 + (next() * 4.0) as i64,
                "debt_ratio": 0.55 + next() * 0.3,
                "notes": "first application"
            })
        })
        .collect();
    json!({"instances": rows}).to_string()
}

/// A local webhook receiver: answers 500 to the first `fail` requests,
/// then 204; keeps every body.
fn webhook(fail: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", l.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for (n, s) in l.incoming().enumerate() {
            let Ok(mut s) = s else { continue };
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(k) = s.read(&mut chunk) {
                if k == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..k]);
                let text = String::from_utf8_lossy(&buf);
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|h| {
                            let (k, v) = h.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        seen.lock().unwrap().push(text[i + 4..].to_string());
                        break;
                    }
                }
            }
            let status = if n < fail {
                "500 Internal Server Error"
            } else {
                "204 No Content"
            };
            let _ = s.write_all(
                format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .as_bytes(),
            );
        }
    });
    (url, bodies)
}

/// dev holds credit@2 with credit@1 before it, so a rollback has a target.
fn two_versions_in_dev(ws: &Path) {
    ok(
        ws,
        "ana",
        &["release", "credit@2", "--reason", "monitor test"],
    );
    ok(ws, "sam", &["promote", "credit@1", "--to", "dev"]);
    ok(ws, "sam", &["promote", "credit@2", "--to", "dev"]);
}

const SMALL_WINDOWS: &str = "range_tolerance = 2.0\n[monitor]\nwindow_rows = 100\nmin_window_rows = 20\nwindow_seconds = 1\nabuse_window_seconds = 1\n";

fn served_version(srv: &Server, key: &str) -> i64 {
    let a = agent();
    post(
        &a,
        &srv.url("/v1/models/credit:predict"),
        Some(key),
        &predict_body(1),
    )
    .json()["version"]
        .as_i64()
        .unwrap_or(-1)
}

#[test]
fn persistent_drift_rolls_back_and_alerts_through_a_retried_webhook() {
    let tmp = workspace();
    let ws = tmp.path();
    two_versions_in_dev(ws);
    let key = apikey(ws, "web", "predictor", &["--rate-limit", "1000"]);
    let (hook, bodies) = webhook(1);
    let srv = Server::start(
        ws,
        "dev",
        &format!("{SMALL_WINDOWS}webhook_url = \"{hook}\"\n"),
    );
    assert_eq!(served_version(&srv, &key), 2);
    let a = agent();
    let mut seed = 7u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    // Shifted traffic until the monitor rolls dev back to credit@1.
    loop {
        let r = post(
            &a,
            &srv.url("/v1/models/credit:predict"),
            Some(&key),
            &shifted_body(50, &mut seed),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        if r.json()["version"] == 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never rolled back:\n{}",
            srv.log.lock().unwrap().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = srv.wait_log("\"action\":\"rollback\"");
    assert!(log.contains("\"event\":\"monitor.window\""), "{log}");
    // The rollback is audited with the monitor as the actor.
    let events = ok(ws, "omar", &["audit", "log", "--json"]);
    let rollback = events
        .lines()
        .chain(std::iter::once(events.as_str()))
        .find(|l| l.contains("model.rollback") && l.contains("warden-monitor"));
    assert!(
        rollback.is_some(),
        "no model.rollback by warden-monitor in the audit log"
    );
    assert!(events.contains("monitor.window"));
    // The drift endpoint lists the windows.
    let op = apikey(ws, "ops", "operator", &[]);
    std::thread::sleep(Duration::from_millis(500));
    let d = get(
        &a,
        &srv.url("/api/v1/models/credit/drift?limit=5"),
        Some(&op),
    );
    assert_eq!(d.status, 200, "{}", d.body);
    let windows = d.json()["windows"].as_array().unwrap().clone();
    assert!(!windows.is_empty());
    assert!(windows.iter().any(|w| w["dataset_drift"] == true));
    // The webhook got the alert after one refused delivery.
    let deadline = Instant::now() + Duration::from_secs(10);
    while bodies.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "webhook not retried");
        std::thread::sleep(Duration::from_millis(100));
    }
    let first: Value = serde_json::from_str(&bodies.lock().unwrap()[0]).unwrap();
    let second: Value = serde_json::from_str(&bodies.lock().unwrap()[1]).unwrap();
    assert_eq!(first, second, "the retry resends the same alert");
    assert_eq!(first["action"], "alert");
    assert_eq!(first["model"], "credit");
    srv.wait_log("webhook.delivered");
    // Metrics carry the drift figures.
    let m = get(&a, &srv.url("/metrics"), Some(&op));
    assert!(m.body.contains("warden_dataset_drift"), "{}", m.body);
    assert!(m.body.contains("warden_feature_drift"));
}

#[test]
fn paused_monitor_alerts_but_does_not_roll_back() {
    let tmp = workspace();
    let ws = tmp.path();
    two_versions_in_dev(ws);
    ok(
        ws,
        "omar",
        &["monitor", "pause", "credit", "--reason", "campaign week"],
    );
    let key = apikey(ws, "web", "predictor", &["--rate-limit", "1000"]);
    let srv = Server::start(ws, "dev", SMALL_WINDOWS);
    let a = agent();
    let mut seed = 11u64;
    for _ in 0..12 {
        let r = post(
            &a,
            &srv.url("/v1/models/credit:predict"),
            Some(&key),
            &shifted_body(50, &mut seed),
        );
        assert_eq!(r.json()["version"], 2, "rolled back while paused");
    }
    let log = srv.wait_log("automated responses are paused");
    assert!(log.contains("\"action\":\"alert\""), "{log}");
    assert_eq!(served_version(&srv, &key), 2);
    let status = ok(ws, "omar", &["monitor", "status", "credit", "--json"]);
    let st: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(st["paused"]["reason"], "campaign week");
    // Resuming lets the next persistent drift act.
    ok(ws, "omar", &["monitor", "resume", "credit"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_version(&srv, &key) != 1 {
        post(
            &a,
            &srv.url("/v1/models/credit:predict"),
            Some(&key),
            &shifted_body(50, &mut seed),
        );
        assert!(Instant::now() < deadline, "no rollback after resume");
    }
}

#[test]
fn an_extraction_probe_is_blocked_and_an_ordinary_client_is_not() {
    let tmp = workspace();
    let ws = tmp.path();
    let probe = apikey(ws, "scraper", "predictor", &["--rate-limit", "1000"]);
    let web = apikey(ws, "web", "predictor", &["--rate-limit", "1000"]);
    let srv = Server::start(ws, "production", SMALL_WINDOWS);
    let a = agent();
    let url = srv.url("/v1/models/credit:predict");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut i = 0u64;
    let mut seed = 3u64;
    loop {
        i += 1;
        // One feature swept in small steps, every other feature fixed.
        let mut r = record();
        r["income"] = json!(30000.0 + i as f64 * 7.0);
        let p = post(
            &a,
            &url,
            Some(&probe),
            &json!({"instances": [r]}).to_string(),
        );
        // Ordinary traffic: applicants that differ in many features.
        let w = post(
            &a,
            &url,
            Some(&web),
            &shifted_body(1, &mut seed).replace("0.55", "0.15"),
        );
        assert_eq!(w.status, 200, "the ordinary client was refused: {}", w.body);
        if p.status == 403 {
            assert!(p.body.contains("blocked"), "{}", p.body);
            break;
        }
        assert_eq!(p.status, 200, "{}", p.body);
        assert!(
            Instant::now() < deadline,
            "probe never blocked:\n{}",
            srv.log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| !l.contains("\"access\""))
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = srv.wait_log("\"action\":\"block\"");
    assert!(log.contains("\"name\":\"extraction\""), "{log}");
    assert!(
        !log.contains("\"key\":\"web\",\"name\":\"extraction\""),
        "{log}"
    );
    // The block is on record, by the monitor, and listed with the key.
    let listed: Value =
        serde_json::from_str(&ok(ws, "omar", &["apikey", "list", "--json"])).unwrap();
    let scraper = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "scraper")
        .unwrap();
    assert_eq!(scraper["hold"]["kind"], "block", "{scraper}");
    assert_eq!(scraper["hold"]["held_by"], "warden-monitor", "{scraper}");
    assert!(ok(ws, "omar", &["apikey", "list"]).contains("blocked by warden-monitor"));
    // A person can undo it.
    ok(ws, "omar", &["apikey", "unblock", "scraper"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = post(&a, &url, Some(&probe), &predict_body(1));
        if p.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "unblock never took effect");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request on a connection of its own (`Connection: close`) from
/// 127.0.0.1: the status and body, or why there was none within `wait`.
fn request_once(
    addr: SocketAddr,
    head: &str,
    body: &str,
    wait: Duration,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect_timeout(&addr, wait).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(wait)).map_err(|e| e.to_string())?;
    write!(
        c,
        "{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    c.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// A counter's value in a Prometheus exposition (0 if absent).
fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// A connection from `src` (any address of 127.0.0.0/8) to `dst`, made
/// within a quarter of a second, non-blocking.
fn connect_from(
    rt: &tokio::runtime::Runtime,
    src: Ipv4Addr,
    dst: SocketAddr,
) -> std::io::Result<std::net::TcpStream> {
    rt.block_on(async {
        let s = tokio::net::TcpSocket::new_v4()?;
        s.bind(SocketAddr::from((src, 0)))?;
        let c = tokio::time::timeout(Duration::from_millis(250), s.connect(dst))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        c.into_std()
    })
}

/// What a slow-client load saw. A connection's life is known between the
/// last time it was seen open and the time it was seen closed.
#[derive(Debug, Default)]
struct SlowStats {
    connects: usize,
    connect_failures: usize,
    /// Seen closed within half a second of connecting: refused at accept.
    refused: usize,
    /// Seen open past half a second, then closed by the server.
    cut: usize,
    /// The lives of the cut connections whose close was seen within
    /// 150 ms of their last sighting open (the rest are known less
    /// precisely, when a round of the loop ran late).
    cut_after: Vec<Duration>,
    /// The longest any connection was seen open.
    longest_open: Duration,
    /// The longest a loop took to go round its connections.
    slowest_round: Duration,
}

impl SlowStats {
    fn add(&mut self, s: SlowStats) {
        self.connects += s.connects;
        self.connect_failures += s.connect_failures;
        self.refused += s.refused;
        self.cut += s.cut;
        self.cut_after.extend(s.cut_after);
        self.longest_open = self.longest_open.max(s.longest_open);
        self.slowest_round = self.slowest_round.max(s.slowest_round);
    }

    fn cut_range(&self) -> (Duration, Duration) {
        (
            self.cut_after.iter().min().copied().unwrap_or_default(),
            self.cut_after.iter().max().copied().unwrap_or_default(),
        )
    }
}

/// `per_source` connections from each source address (a thread each),
/// each sending the start of a request's headers and then one more byte
/// every half second, never finishing them. A connection the server
/// closes is opened again (a tenth of a second after it was cut, a second
/// after it was refused), until `stop`.
struct SlowLoad {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<SlowStats>>,
}

impl SlowLoad {
    fn start(dst: SocketAddr, sources: &[Ipv4Addr], per_source: usize) -> SlowLoad {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = sources
            .iter()
            .map(|&src| {
                let stop = stop.clone();
                std::thread::spawn(move || slow_clients(dst, src, per_source, &stop))
            })
            .collect();
        SlowLoad { stop, threads }
    }

    /// Stops the load, closes its connections and says what it saw.
    fn stop(self) -> SlowStats {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = SlowStats::default();
        for t in self.threads {
            all.add(t.join().unwrap());
        }
        all
    }
}

/// One source address's share of a [`SlowLoad`].
fn slow_clients(dst: SocketAddr, src: Ipv4Addr, n: usize, stop: &AtomicBool) -> SlowStats {
    use std::io::{Read, Write};
    struct Open {
        stream: std::net::TcpStream,
        since: Instant,
        seen_open: Instant,
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    let refused_within = Duration::from_millis(500);
    let mut slots: Vec<(Option<Open>, Instant)> = (0..n).map(|_| (None, Instant::now())).collect();
    let mut st = SlowStats::default();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::SeqCst) {
        let round = Instant::now();
        for (conn, next) in &mut slots {
            let now = Instant::now();
            let Some(c) = conn else {
                if now >= *next {
                    st.connects += 1;
                    match connect_from(&rt, src, dst) {
                        Ok(mut stream) => {
                            let _ = stream.write_all(head);
                            let now = Instant::now();
                            *conn = Some(Open {
                                stream,
                                since: now,
                                seen_open: now,
                            });
                            *next = now + Duration::from_millis(500);
                        }
                        Err(_) => {
                            st.connect_failures += 1;
                            *next = now + Duration::from_secs(1);
                        }
                    }
                }
                continue;
            };
            let closed = match c.stream.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            };
            if !closed {
                c.seen_open = now;
                st.longest_open = st.longest_open.max(now - c.since);
                if now >= *next {
                    // A failed write shows as a close at the next read.
                    let _ = c.stream.write_all(b"a");
                    *next = now + Duration::from_millis(500);
                }
                continue;
            }
            let (at_least, at_most) = (c.seen_open - c.since, now - c.since);
            if at_most < refused_within {
                st.refused += 1;
                *next = now + Duration::from_secs(1);
            } else {
                if at_least >= refused_within {
                    st.cut += 1;
                    if at_most - at_least <= Duration::from_millis(150) {
                        st.cut_after.push(at_most);
                    }
                }
                *next = now + Duration::from_millis(100);
            }
            *conn = None;
        }
        st.slowest_round = st.slowest_round.max(round.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    st
}

/// The report's starvation, scaled down: a server with 512 descriptors
/// under 600 and then 480 slow connections (more than it can hold) from
/// other loopback addresses. Without connection caps and a header-read
/// timeout the descriptors run out: health checks hang and the refresh
/// thread cannot open the API-key secret, so a revocation never takes
/// effect.
#[test]
fn slow_clients_cannot_starve_the_server_of_connections_or_its_refresh() {
    let tmp = workspace();
    let ws = tmp.path();
    let web = apikey(ws, "web", "predictor", &[]);
    let app = apikey(ws, "app", "predictor", &[]);
    let ops = apikey(ws, "ops", "operator", &[]);
    let header_timeout = Duration::from_secs(2);
    let srv = Server::start_limited(
        ws,
        "production",
        "max_connections_per_address = 32\nheader_read_timeout_seconds = 2\n",
        512,
    );
    let addr: SocketAddr = srv.base.trim_start_matches("http://").parse().unwrap();
    // The cap in force is the open-file limit less its reserve (a quarter).
    let log = srv.wait_log("\"event\":\"server.started\"");
    assert!(log.contains("\"max_connections\":384"), "{log}");
    let predict = |key: &str| {
        request_once(
            addr,
            &format!(
                "POST /v1/models/credit:predict HTTP/1.1\r\nX-API-Key: {key}\r\nContent-Type: application/json"
            ),
            &predict_body(1),
            Duration::from_secs(5),
        )
    };
    let health = || {
        request_once(
            addr,
            "GET /v2/health/live HTTP/1.1",
            "",
            Duration::from_secs(3),
        )
    };
    assert_eq!(predict(&web).unwrap().0, 200);

    // Eight addresses, 75 connections each: each address is held to 32,
    // so a client at another address (this one, 127.0.0.1) still gets in.
    let sources: Vec<Ipv4Addr> = (2..=9).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let load = SlowLoad::start(addr, &sources, 75);
    let began = Instant::now();
    let (mut probes, mut worst) = (0, Duration::ZERO);
    let mut revoked: Option<Instant> = None;
    let mut refused_after: Option<Duration> = None;
    while began.elapsed() < Duration::from_secs(7) {
        let t = Instant::now();
        let r = health();
        let took = t.elapsed();
        assert!(
            matches!(&r, Ok((200, _))),
            "health {:?} into the load: {r:?}",
            began.elapsed()
        );
        probes += 1;
        worst = worst.max(took);
        if revoked.is_none() && began.elapsed() > Duration::from_secs(1) {
            ok(ws, "omar", &["apikey", "revoke", "web"]);
            revoked = Some(Instant::now());
        }
        if let Some(at) = revoked
            && refused_after.is_none()
        {
            let (status, body) = predict(&web).unwrap();
            if status == 401 {
                assert!(body.contains("revoked"), "{body}");
                refused_after = Some(at.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let a = load.stop();
    let (first, last) = a.cut_range();
    eprintln!(
        "per-address load: {probes} health probes, slowest {worst:?}; revocation refused after {refused_after:?}; \
         {} connects ({} failed), {} refused, {} cut ({} timed within 150 ms: {first:?} to {last:?}); \
         longest seen open {:?}; slowest round {:?}",
        a.connects,
        a.connect_failures,
        a.refused,
        a.cut,
        a.cut_after.len(),
        a.longest_open,
        a.slowest_round
    );
    assert!(
        worst < Duration::from_secs(2),
        "slowest health probe {worst:?}"
    );
    let refused_after = refused_after.expect("the revoked key was still accepted");
    assert!(refused_after < Duration::from_secs(3), "{refused_after:?}");
    // The per-address cap refused connections at once; every admitted
    // slow connection was cut at the header-read timeout, not before it
    // and not much after it, however it trickled; none outlived it.
    assert!(a.refused > 100, "{a:?}");
    assert!(a.cut > 100 && a.cut_after.len() > 20, "{a:?}");
    assert!(
        first >= header_timeout - Duration::from_millis(100),
        "{a:?}"
    );
    assert!(last <= header_timeout + Duration::from_secs(1), "{a:?}");
    assert!(
        a.longest_open <= header_timeout + Duration::from_secs(1),
        "{a:?}"
    );

    // Twenty addresses, 24 connections each: under the per-address cap,
    // over the total one (384). While every place is taken, the refresh
    // thread must still open what it needs: a key revoked now is refused
    // as soon as a connection gets in again.
    let sources: Vec<Ipv4Addr> = (10..=29).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect();
    let load = SlowLoad::start(addr, &sources, 24);
    std::thread::sleep(Duration::from_secs(1));
    ok(ws, "omar", &["apikey", "revoke", "app"]);
    std::thread::sleep(Duration::from_secs(3));
    let b = load.stop();
    eprintln!(
        "total-cap load: {} connects ({} failed), {} refused, {} cut; longest seen open {:?}; slowest round {:?}",
        b.connects, b.connect_failures, b.refused, b.cut, b.longest_open, b.slowest_round
    );
    assert!(b.refused > 0 && b.cut > 0, "{b:?}");
    assert!(
        b.longest_open <= header_timeout + Duration::from_secs(1),
        "{b:?}"
    );
    let back = Instant::now();
    let (status, body) = loop {
        match predict(&app) {
            Ok(r) => break r,
            Err(e) => assert!(back.elapsed() < Duration::from_secs(2), "{e}"),
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("revoked"), "{body}");
    let t = Instant::now();
    assert!(matches!(health(), Ok((200, _))));
    eprintln!("health after the load: {:?}", t.elapsed());

    let (status, m) = request_once(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nAuthorization: Bearer {ops}"),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, 200, "{m}");
    let series = [
        "warden_connections_refused_total{reason=\"address\"}",
        "warden_connections_refused_total{reason=\"total\"}",
        "warden_connections_timed_out_total{phase=\"header_read\"}",
    ];
    for s in series {
        assert!(counter(&m, s) > 0.0, "{s} not counted in\n{m}");
    }
    eprintln!(
        "server counted: refused {} (address) and {} (total), {} header-read timeouts",
        counter(&m, series[0]),
        counter(&m, series[1]),
        counter(&m, series[2])
    );
    assert!(m.contains("warden_connection_limit 384"), "{m}");
    assert_eq!(counter(&m, "warden_reload_failures_total"), 0.0, "{m}");
    let log = srv.wait_log("\"event\":\"access\"");
    assert!(!log.contains("refresh.failed"), "{log}");
    assert_eq!(srv.stop(Duration::from_secs(10)), Some(0));
}

/// A connection on which nothing moves is closed at the idle timeout
/// (here shorter than the header-read timeout); one that keeps sending is
/// not (the header-read timeout is what bounds it).
#[test]
fn a_silent_connection_is_closed_at_the_idle_timeout() {
    use std::io::{Read, Write};
    let tmp = workspace();
    let ws = tmp.path();
    let ops = apikey(ws, "ops", "operator", &[]);
    let srv = Server::start(
        ws,
        "production",
        "request_timeout_seconds = 1\nidle_timeout_seconds = 1.5\nheader_read_timeout_seconds = 30\n",
    );
    let addr: SocketAddr = srv.base.trim_start_matches("http://").parse().unwrap();
    let mut silent = std::net::TcpStream::connect(addr).unwrap();
    let mut talking = std::net::TcpStream::connect(addr).unwrap();
    let since = Instant::now();
    talking
        .write_all(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    silent.set_nonblocking(true).unwrap();
    talking.set_nonblocking(true).unwrap();
    // Is the connection still open?
    let open = |c: &mut std::net::TcpStream| match c.read(&mut [0u8; 64]) {
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        Ok(n) => n > 0,
    };
    let mut silent_closed = None;
    // For three seconds (twice the idle timeout) the talking connection
    // sends a byte every 300 ms and stays open.
    while since.elapsed() < Duration::from_secs(3) {
        talking.write_all(b"a").unwrap();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(100));
            if silent_closed.is_none() && !open(&mut silent) {
                silent_closed = Some(since.elapsed());
            }
            assert!(open(&mut talking), "closed after {:?}", since.elapsed());
        }
    }
    let waited = silent_closed.expect("the silent connection is still open");
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_millis(2500),
        "{waited:?}"
    );
    let (status, m) = request_once(
        addr,
        &format!("GET /metrics HTTP/1.1\r\nAuthorization: Bearer {ops}"),
        "",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(status, 200, "{m}");
    assert_eq!(
        counter(&m, "warden_connections_timed_out_total{phase=\"idle\"}"),
        1.0,
        "{m}"
    );
}

/// A scikit-learn pipeline exported with one input per column (numbers and
/// text, a `ZipMap` at the end) is imported, promoted and served: records
/// carry the text values as strings, a missing number is imputed by the
/// model's own imputer, and a wrong type is refused naming the field.
#[test]
fn a_column_pipeline_with_text_inputs_is_served() {
    let tmp = workspace();
    let ws = tmp.path();
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx-columns");
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("reference.json")).unwrap())
            .unwrap();
    // Every column named, body mass with the range the species span: with
    // no training profile, serving holds requests to the declared range.
    let mut schema = String::from(
        "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\nprobabilities = \"output_probability\"\n",
    );
    for f in [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "island",
        "sex",
    ] {
        schema += &format!("[[features]]\nname = \"{f}\"\n");
    }
    schema += "[[features]]\nname = \"body_mass_g\"\nmin = 2700\nmax = 6300\n";
    std::fs::write(ws.join("birds.toml"), schema).unwrap();
    let model = fixtures.join("forest.onnx");
    ok(
        ws,
        "ana",
        &[
            "model",
            "import",
            model.to_str().unwrap(),
            "--name",
            "birds",
            "--schema",
            "birds.toml",
        ],
    );
    ok(ws, "sam", &["promote", "birds@1", "--to", "dev"]);
    let key = apikey(ws, "birds", "predictor", &[]);
    let srv = Server::start(ws, "dev", "[monitor]\nenabled = false\n");
    let a = agent();
    let url = srv.url("/v1/models/birds:predict");
    let records = reference["forest"]["records"].as_array().unwrap();
    let expected = reference["forest"]["onnxruntime"].as_array().unwrap();
    // Records 30 to 32 miss a number: with no training profile the
    // guardrail does not know the model takes missing values, and refuses
    // them; the last holds an island the model's encoder never saw, which
    // the guardrail refuses as it does for a native model. The rest are
    // served with onnxruntime's answers.
    let complete: Vec<usize> = (0..records.len() - 1)
        .filter(|i| !(30..33).contains(i))
        .collect();
    let sent: Vec<&Value> = complete.iter().map(|&i| &records[i]).collect();
    let r = post(
        &a,
        &url,
        Some(&key),
        &json!({"instances": sent}).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let got = r.json();
    let predictions = got["predictions"].as_array().unwrap();
    assert_eq!(predictions.len(), complete.len());
    for (&i, p) in complete.iter().zip(predictions) {
        let want = &expected[i];
        let probs = p["probabilities"].as_object().unwrap();
        let classes = ["Adelie", "Chinstrap", "Gentoo"];
        for (c, w) in want.as_array().unwrap().iter().enumerate() {
            let (g, w) = (probs[classes[c]].as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() <= 1e-5, "record {i} class {c}: {g} vs {w}");
        }
    }
    let r = post(
        &a,
        &url,
        Some(&key),
        &json!({"instances": [records[30]]}).to_string(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("bill_length_mm"), "{}", r.body);
    let r = post(
        &a,
        &url,
        Some(&key),
        &json!({"instances": [records[records.len() - 1]]}).to_string(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("Atlantis") && r.body.contains("Biscoe"),
        "{}",
        r.body
    );
    // Outside the declared range (beyond its 10% tolerance): refused,
    // saying where the range came from.
    let mut heavy = records[0].as_object().unwrap().clone();
    heavy.insert("body_mass_g".into(), json!(20000.0));
    let r = post(
        &a,
        &url,
        Some(&key),
        &json!({"instances": [heavy]}).to_string(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(
        r.body.contains("body_mass_g") && r.body.contains("declared at import [2700, 6300]"),
        "{}",
        r.body
    );
    // A category the model does not know, a wrong type, text where the
    // model takes a number: refused, naming the field.
    for (field, value) in [
        ("island", json!(3)),
        ("island", json!([1])),
        ("body_mass_g", json!("heavy")),
    ] {
        let mut bad = records[0].as_object().unwrap().clone();
        bad.insert(field.into(), value.clone());
        let r = post(
            &a,
            &url,
            Some(&key),
            &json!({"instances": [bad]}).to_string(),
        );
        assert_eq!(r.status, 422, "{field} = {value}: {}", r.body);
        assert!(r.body.contains(field), "{}", r.body);
    }
}
