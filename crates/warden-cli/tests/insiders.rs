//! End-to-end: the workspace's own users as attackers. Each test plays an
//! insider against the built `warden` binary: an operator minting a key or
//! granting a role stronger than its own, another local user reading the
//! database or the blobs, a writer killed in the middle of a blob.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{run, warden};

/// Runs `warden` as `actor` in `ws`; exit code, stdout, stderr.
fn as_actor(ws: &Path, actor: &str, args: &[&str]) -> (i32, String, String) {
    run(warden(ws).arg("--actor").arg(actor).args(args))
}

fn ok(ws: &Path, actor: &str, args: &[&str]) -> String {
    let (code, out, err) = as_actor(ws, actor, args);
    assert_eq!(code, 0, "warden {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn key_names(ws: &Path) -> Vec<String> {
    json(&ok(ws, "ana", &["apikey", "list", "--json"]))
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect()
}

fn holders_of(ws: &Path, role: &str) -> Vec<String> {
    json(&ok(ws, "ana", &["roles", "list", "--json"]))["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["role"] == role)
        .map(|g| g["actor"].as_str().unwrap().to_string())
        .collect()
}

/// The `authz.denied` events, as an auditor reads them.
fn denials(ws: &Path) -> Vec<serde_json::Value> {
    json(&ok(
        ws,
        "ana",
        &["audit", "log", "--action", "authz.denied", "--json"],
    ))
    .as_array()
    .unwrap()
    .clone()
}

#[test]
fn an_operator_cannot_mint_a_key_stronger_than_its_own_role() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(ws, "ana", &["init", "."]);
    ok(ws, "ana", &["roles", "grant", "omar", "operator"]);

    // The attack: `warden --actor omar apikey create x --role admin`.
    for role in [
        "admin",
        "auditor",
        "ml-engineer",
        "approver",
        "data-engineer",
    ] {
        let name = format!("mine-{role}");
        let (code, out, err) = as_actor(ws, "omar", &["apikey", "create", &name, "--role", role]);
        assert_eq!(
            code, 3,
            "omar minted a {role} key\nstdout:\n{out}\nstderr:\n{err}"
        );
        assert!(!out.contains("wdn_"), "a key was printed: {out}");
        assert!(
            err.contains("apikey.create") && err.contains("admin"),
            "{err}"
        );
    }
    assert!(key_names(ws).is_empty(), "{:?}", key_names(ws));
    // Each attempt is on the record, with the role asked for.
    let asked: Vec<String> = denials(ws)
        .iter()
        .filter(|e| e["actor"] == "omar" && e["payload"]["action"] == "apikey.create")
        .map(|e| {
            e["payload"]["facts"]["requested_role"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        asked,
        [
            "admin",
            "auditor",
            "ml-engineer",
            "approver",
            "data-engineer"
        ]
    );

    // Keys within the operator's own role are still its to issue.
    let web = ok(
        ws,
        "omar",
        &["apikey", "create", "web", "--role", "predictor"],
    );
    assert!(web.trim().starts_with("wdn_"), "{web}");
    ok(
        ws,
        "omar",
        &["apikey", "create", "ops", "--role", "operator"],
    );
    // The admin holds every role, and may issue any.
    ok(
        ws,
        "ana",
        &["apikey", "create", "audit-bot", "--role", "auditor"],
    );
    let mut names = key_names(ws);
    names.sort();
    assert_eq!(names, ["audit-bot", "ops", "web"]);
    ok(ws, "ana", &["audit", "verify"]);
}

#[test]
fn a_grant_never_exceeds_the_granters_roles() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(ws, "ana", &["init", "."]);
    ok(ws, "ana", &["roles", "grant", "omar", "operator"]);
    ok(ws, "ana", &["roles", "grant", "sam", "ml-engineer"]);

    // Under the bundled policy only an admin grants.
    let (code, _, err) = as_actor(ws, "sam", &["roles", "grant", "sam", "admin"]);
    assert_eq!(code, 3, "{err}");

    // A workspace whose policy lets operators grant roles (the bundled
    // policy with one more permission): they may grant what they hold, and
    // nothing more.
    let bundled = include_str!("../../warden-policy/policies/authz.rego");
    let from = "\"operator\": {\"model.promote\",";
    assert!(bundled.contains(from), "the bundled policy changed shape");
    let policy = bundled.replace(from, "\"operator\": {\"roles.grant\", \"model.promote\",");
    std::fs::write(ws.join("authz.rego"), policy).unwrap();
    let toml = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    let default = "# authz = \"policies/authz.rego\"";
    assert!(toml.contains(default), "{toml}");
    std::fs::write(
        ws.join("warden.toml"),
        toml.replace(default, "authz = \"authz.rego\""),
    )
    .unwrap();
    // The admin registers the replaced policy (until then it decides nothing).
    let (code, _, err) = as_actor(ws, "ana", &["policy", "register", "authz"]);
    assert_eq!(code, 0, "{err}");

    for (who, role) in [
        ("omar", "admin"),
        ("pat", "admin"),
        ("pat", "auditor"),
        ("pat", "approver"),
    ] {
        let (code, _, err) = as_actor(ws, "omar", &["roles", "grant", who, role]);
        assert_eq!(code, 3, "omar granted {role} to {who}: {err}");
        assert!(err.contains("roles.grant"), "{err}");
    }
    assert_eq!(holders_of(ws, "admin"), ["ana"]);
    assert!(holders_of(ws, "auditor").is_empty());
    ok(ws, "omar", &["roles", "grant", "pat", "predictor"]);
    ok(ws, "omar", &["roles", "grant", "pat", "operator"]);
    assert_eq!(holders_of(ws, "operator"), ["omar", "pat"]);
    let asked: Vec<String> = denials(ws)
        .iter()
        .filter(|e| e["actor"] == "omar")
        .map(|e| {
            e["payload"]["facts"]["requested_role"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(asked, ["admin", "admin", "auditor", "approver"]);
    ok(ws, "ana", &["audit", "verify"]);
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("warden")
}

/// `warden ARGS` as `ana` in `ws` under umask 022, the usual default, which
/// would leave new files 0644 and directories 0755 unless Warden asks for less.
fn umask_022(ws: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args(args)
        .current_dir(ws)
        .env("WARDEN_ACTOR", "ana")
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE");
    c
}

fn run_022(ws: &Path, args: &[&str]) {
    let o = umask_022(ws, args).output().unwrap();
    assert!(
        o.status.success(),
        "warden {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, out);
        }
        out.push(p);
    }
}

#[cfg(unix)]
#[test]
fn other_local_users_cannot_read_the_database_or_the_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    run_022(ws, &["init", "."]);
    let state = ws.join(".warden");
    assert_eq!(mode(&state.join("warden.db")), 0o600);
    // Blobs: a dataset ingested by the admin.
    run_022(
        ws,
        &[
            "example",
            "credit",
            "--rows",
            "400",
            "--seed",
            "3",
            "--out",
            "credit.csv",
        ],
    );
    run_022(
        ws,
        &[
            "data",
            "ingest",
            "credit.csv",
            "--name",
            "credit",
            "--target",
            "approved",
            "--id",
            "customer_id",
        ],
    );
    let blobs = state.join("blobs");
    let mut all = vec![blobs.clone()];
    walk(&blobs, &mut all);
    let files: Vec<&PathBuf> = all.iter().filter(|p| p.is_file()).collect();
    assert!(!files.is_empty(), "no blob was written");
    // blobs, sha256, tmp and the two fan-out levels.
    assert!(all.iter().filter(|p| p.is_dir()).count() >= 5, "{all:?}");
    for p in &all {
        let want = if p.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode(p), want, "{}", p.display());
    }

    // While a process has the database open, SQLite keeps a -wal and a -shm
    // file beside it: a running server shows them.
    let cfg = ws.join("serve.toml");
    std::fs::write(&cfg, "addr = \"127.0.0.1:0\"\n").unwrap();
    let mut server = umask_022(ws, &["serve", "--env", "dev", "--config", "serve.toml"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = server.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let listening = loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(l) if l.contains("listening on") => break true,
            Ok(l) => seen.push(l),
            Err(_) => break false,
        }
    };
    let modes: Vec<(String, Option<u32>)> = ["warden.db", "warden.db-wal", "warden.db-shm"]
        .iter()
        .map(|n| {
            let p = state.join(n);
            (n.to_string(), p.exists().then(|| mode(&p)))
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    assert!(listening, "the server did not start: {seen:?}");
    for (name, m) in modes {
        assert_eq!(m, Some(0o600), "{name}");
    }
}

/// Plants a file in the blob store's temp directory, last written `age` ago.
fn plant(ws: &Path, name: &str, age: Duration) -> (PathBuf, std::fs::File) {
    let p = ws.join(".warden/blobs/tmp").join(name);
    let mut f = std::fs::File::create(&p).unwrap();
    f.write_all(b"the first megabyte of a model").unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
    (p, f)
}

#[test]
fn a_killed_writers_temp_file_is_swept_but_a_live_writers_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(ws, "ana", &["init", "."]);
    let hour = Duration::from_secs(3600);
    // Left by a `warden` killed with -9 mid-put two hours ago: its lock
    // went with it.
    let (killed, f) = plant(ws, ".tmpKiLLeD", 2 * hour);
    drop(f);
    // A put in another process that started a moment ago.
    let (fresh, f) = plant(ws, ".tmpFrE5h", Duration::ZERO);
    drop(f);
    // A put in another process (this test) that has been writing for two
    // hours, slowly, and holds its lock as a writer does.
    let (slow, slow_file) = plant(ws, ".tmpS1oW", 2 * hour);
    slow_file.try_lock().unwrap();

    // Any command opens the workspace, and so the blob store.
    ok(ws, "ana", &["roles", "list"]);
    assert!(
        !killed.exists(),
        "the killed writer's temp file is still there"
    );
    assert!(fresh.exists(), "a fresh temp file was swept");
    assert!(slow.exists(), "a locked temp file was swept");

    // Once the slow writer is gone, the next open sweeps its file too.
    drop(slow_file);
    ok(ws, "ana", &["roles", "list"]);
    assert!(!slow.exists());
    assert!(fresh.exists());
}
