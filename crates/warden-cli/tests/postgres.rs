//! End-to-end on PostgreSQL: the built `warden` binary with its metadata in
//! a throwaway PostgreSQL server (`scripts/postgres-temp.sh`), as replicas
//! sharing one registry and one audit log.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use warden_store::testing::TestPostgres;

/// The server's URL without its password (what `warden.toml` keeps) and
/// the password (what `PGPASSWORD` carries).
fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

struct Pg {
    server: TestPostgres,
    url: String,
    password: String,
}

fn pg(test: &str, database: &str) -> Option<Pg> {
    let server = TestPostgres::start_or_skip(test)?;
    let (url, password) = split_password(&server.database(database).unwrap());
    Some(Pg {
        server,
        url,
        password,
    })
}

fn user_dir(actor: &str) -> PathBuf {
    static BASE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    BASE.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join(actor)
}

fn warden(pg: &Pg, ws: &Path, actor: &str) -> Command {
    let mut c = Command::cargo_bin("warden").unwrap();
    c.current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", user_dir(actor))
        .env("PGPASSWORD", &pg.password)
        .env_remove("WARDEN_STORE_URL")
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE");
    c
}

fn out(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(c: &mut Command) -> String {
    let (code, stdout, stderr) = out(c);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    stdout
}

fn json(c: &mut Command) -> serde_json::Value {
    serde_json::from_str(&ok(c.arg("--json"))).unwrap()
}

fn count_events(pg: &Pg, action: &str) -> i64 {
    let url = pg.server.database("registry").unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    c.query_one(
        "SELECT COUNT(*) FROM audit_events WHERE action = $1",
        &[&action],
    )
    .unwrap()
    .get(0)
}

#[test]
fn the_demo_runs_on_postgres_and_its_log_verifies_there() {
    let Some(pg) = pg("the_demo_runs_on_postgres", "demo") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("demo");
    ok(warden(&pg, tmp.path(), "ana").args([
        "demo",
        "--keep",
        kept.to_str().unwrap(),
        "--store",
        &pg.url,
    ]));
    // Nothing of the registry is on disk: it is all in the server.
    assert!(!kept.join(".warden/warden.db").exists());
    let v = json(warden(&pg, &kept, "aud").args(["audit", "verify"]));
    assert_eq!(v["ok"], true, "{v}");
    assert!(v["events"].as_u64().unwrap() > 50, "{v}");
    // Without the password the workspace cannot be opened, and says why.
    let (code, _, stderr) = out(warden(&pg, &kept, "aud")
        .env_remove("PGPASSWORD")
        .args(["audit", "verify"]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("PostgreSQL at warden@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains(&pg.password), "{stderr}");
}

/// A second replica of a workspace: the same configuration and keys, the
/// blob store shared (as a shared volume would), the metadata in the same
/// PostgreSQL database.
fn replica(of: &Path, at: &Path) {
    std::fs::create_dir_all(at.join(".warden")).unwrap();
    std::fs::copy(of.join("warden.toml"), at.join("warden.toml")).unwrap();
    for sub in ["keys", "log"] {
        let from = of.join(".warden").join(sub);
        let to = at.join(".warden").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    std::os::unix::fs::symlink(of.join(".warden/blobs"), at.join(".warden/blobs")).unwrap();
}

#[test]
fn two_replicas_promote_and_ingest_at_once_into_one_consistent_log() {
    let Some(pg) = pg("two_replicas", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    ok(warden(&pg, tmp.path(), "ana").args(["init", "a", "--store", &pg.url]));
    ok(warden(&pg, &a, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&pg, &a, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(&pg, &a, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(&pg, &a, "ana").args([
        "example",
        "credit",
        "--rows",
        "600",
        "--seed",
        "3",
        "--out",
        "credit.csv",
    ]));
    let ingest = |ws: &Path, name: &str| {
        let mut c = warden(&pg, ws, "dana");
        c.args([
            "data",
            "ingest",
            a.join("credit.csv").to_str().unwrap(),
            "--name",
            name,
            "--target",
            "approved",
            "--id",
            "customer_id",
            "--sensitive",
            "sex",
            "--no-screen",
        ]);
        c
    };
    ok(&mut ingest(&a, "credit"));
    ok(warden(&pg, &a, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    ok(warden(&pg, &a, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    replica(&a, &b);

    // Replica a moves the dev pointer back and forth while both replicas
    // ingest new versions of one dataset: every call must succeed, and
    // every version number is taken once.
    const N: usize = 12;
    std::thread::scope(|s| {
        let promoter = s.spawn(|| {
            for i in 0..N {
                let version = format!("credit@{}", 1 + i % 2);
                ok(warden(&pg, &a, "sam").args(["promote", &version, "--to", "dev"]));
                ok(&mut ingest(&a, "shared"));
            }
        });
        let ingester = s.spawn(|| {
            for _ in 0..N {
                ok(&mut ingest(&b, "shared"));
            }
        });
        promoter.join().unwrap();
        ingester.join().unwrap();
    });

    // One log, seen the same from both replicas, with every event.
    assert_eq!(count_events(&pg, "model.promote"), N as i64);
    assert_eq!(count_events(&pg, "data.ingest"), 1 + 2 * N as i64);
    let va = json(warden(&pg, &a, "ana").args(["audit", "verify"]));
    let vb = json(warden(&pg, &b, "ana").args(["audit", "verify"]));
    assert_eq!(va["ok"], true, "{va}");
    assert!(va["root_hash"].is_string(), "{va}");
    assert_eq!(va["root_hash"], vb["root_hash"], "{va}\n{vb}");
    let versions = json(warden(&pg, &b, "dana").args(["data", "list"]));
    let shared = versions
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["name"] == "shared")
        .count();
    assert_eq!(shared, 2 * N, "{versions}");
    // The pointer agrees with the last promotion.
    let last = format!("credit@{}", 1 + (N - 1) % 2);
    let shown = ok(warden(&pg, &b, "sam").args(["model", "show", &last]));
    assert!(shown.contains("dev"), "{shown}");
}

#[test]
fn the_database_going_away_mid_run_is_a_clear_error_and_nothing_half_written() {
    let Some(pg) = pg("the_database_going_away", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    ok(warden(&pg, tmp.path(), "ana").args(["init", "ws", "--store", &pg.url]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    let before = json(warden(&pg, &ws, "ana").args(["audit", "verify"]));

    pg.server.kill().unwrap();
    let (code, stdout, stderr) =
        out(warden(&pg, &ws, "ana").args(["roles", "grant", "kim", "approver"]));
    assert_ne!(code, 0, "{stdout}");
    assert!(
        stderr.contains("PostgreSQL at warden@127.0.0.1"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    pg.server.restart().unwrap();
    let after = json(warden(&pg, &ws, "ana").args(["audit", "verify"]));
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(
        after["events"], before["events"],
        "nothing was half-written"
    );
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "kim", "approver"]));
    let roles = ok(warden(&pg, &ws, "ana").args(["roles", "list"]));
    assert!(roles.contains("kim"), "{roles}");
}

#[test]
fn init_refuses_a_password_in_the_url_and_a_database_already_in_use() {
    let Some(pg) = pg("init_refuses", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let with_password = pg
        .url
        .replacen("warden@", &format!("warden:{}@", pg.password), 1);
    let (code, _, stderr) =
        out(warden(&pg, tmp.path(), "ana").args(["init", "x", "--store", &with_password]));
    assert_ne!(code, 0);
    assert!(stderr.contains("PGPASSWORD"), "{stderr}");
    assert!(!stderr.contains(&pg.password), "{stderr}");
    assert!(!tmp.path().join("x").exists(), "nothing made");

    ok(warden(&pg, tmp.path(), "ana").args(["init", "one", "--store", &pg.url]));
    let (code, _, stderr) =
        out(warden(&pg, tmp.path(), "ana").args(["init", "two", "--store", &pg.url]));
    assert_ne!(code, 0);
    assert!(stderr.contains("already holds a Warden store"), "{stderr}");
    assert!(!tmp.path().join("two").exists(), "nothing made");
}

#[test]
fn a_local_workspace_migrates_into_postgres_with_its_log_intact() {
    let Some(pg) = pg("a_local_workspace_migrates", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    // A local workspace with some history.
    ok(warden(&pg, tmp.path(), "ana").args(["init", "ws"]));
    ok(warden(&pg, &ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(&pg, &ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "500",
        "--seed",
        "5",
        "--out",
        "credit.csv",
    ]));
    ok(warden(&pg, &ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--sensitive",
        "sex",
        "--no-screen",
    ]));
    ok(warden(&pg, &ws, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    ok(warden(&pg, &ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    let target = tmp.path().join("scale.toml");
    std::fs::write(&target, format!("[store]\nurl = \"{}\"\n", pg.url)).unwrap();
    // Only an admin moves the workspace (the refusal is logged locally).
    let (code, _, stderr) =
        out(warden(&pg, &ws, "sam").args(["migrate", "--to", target.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(stderr.contains("workspace.migrate"), "{stderr}");
    let before = json(warden(&pg, &ws, "ana").args(["audit", "verify"]));
    let db = std::fs::read(ws.join(".warden/warden.db")).unwrap();

    let m = json(warden(&pg, &ws, "ana").args(["migrate", "--to", target.to_str().unwrap()]));
    assert_eq!(m["copy"]["log_size"], before["events"], "{m}");
    assert_eq!(m["copy"]["log_root"], before["root_hash"], "{m}");
    // The SQLite file is left as it was; the workspace now reads PostgreSQL.
    assert_eq!(std::fs::read(ws.join(".warden/warden.db")).unwrap(), db);
    let toml = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    assert!(toml.contains(&format!("url = \"{}\"", pg.url)), "{toml}");
    let after = json(warden(&pg, &ws, "ana").args(["audit", "verify"]));
    assert_eq!(after["ok"], true, "{after}");
    assert_eq!(
        after["events"].as_u64().unwrap(),
        before["events"].as_u64().unwrap() + 1
    );
    assert_eq!(count_events(&pg, "workspace.migrate"), 1);
    // The registry carries on where it was.
    let shown = ok(warden(&pg, &ws, "sam").args(["model", "show", "credit@1"]));
    assert!(shown.contains("dev"), "{shown}");
    ok(warden(&pg, &ws, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    ok(warden(&pg, &ws, "sam").args(["promote", "credit@2", "--to", "dev"]));
    // Twice is refused: the workspace is already there.
    let (code, _, stderr) =
        out(warden(&pg, &ws, "ana").args(["migrate", "--to", target.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(stderr.contains("already in PostgreSQL"), "{stderr}");
}

#[test]
fn a_migration_into_a_database_in_use_changes_nothing() {
    let Some(pg) = pg("a_migration_into_a_database_in_use", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    ok(warden(&pg, tmp.path(), "ana").args(["init", "other", "--store", &pg.url]));
    ok(warden(&pg, tmp.path(), "ana").args(["init", "local"]));
    let local = tmp.path().join("local");
    let toml = std::fs::read_to_string(local.join("warden.toml")).unwrap();
    let target = tmp.path().join("scale.toml");
    std::fs::write(&target, format!("[store]\nurl = \"{}\"\n", pg.url)).unwrap();
    let (code, _, stderr) =
        out(warden(&pg, &local, "ana").args(["migrate", "--to", target.to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(stderr.contains("already holds a Warden store"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(local.join("warden.toml")).unwrap(),
        toml
    );
    let v = json(warden(&pg, &local, "ana").args(["audit", "verify"]));
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn a_row_changed_in_postgres_is_caught_by_audit_verify() {
    let Some(pg) = pg("a_row_changed_in_postgres", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    ok(warden(&pg, tmp.path(), "ana").args(["init", "ws", "--store", &pg.url]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    let url = pg.server.database("registry").unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();

    // A role granted by a row, without its event: refused and reported.
    c.batch_execute(
        "INSERT INTO role_grants (actor, role, granted_by, time) \
         VALUES ('eve', 'admin', 'ana', '2026-01-01T00:00:00.000000Z')",
    )
    .unwrap();
    let (code, stdout, _) = out(warden(&pg, &ws, "ana").args(["audit", "verify", "--json"]));
    assert_eq!(code, 5, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["state_disagreements"].as_u64().unwrap() >= 1, "{v}");
    let (code, _, stderr) = out(warden(&pg, &ws, "eve").args(["roles", "grant", "eve2", "admin"]));
    assert_ne!(code, 0, "the forged grant gives eve nothing: {stderr}");
    c.batch_execute("DELETE FROM role_grants WHERE actor = 'eve'")
        .unwrap();

    // An event rewritten in place: the tree no longer matches its checkpoints.
    c.batch_execute("UPDATE audit_events SET actor = 'eve' WHERE seq = 1")
        .unwrap();
    let (code, stdout, _) = out(warden(&pg, &ws, "ana").args(["audit", "verify", "--json"]));
    assert_eq!(code, 5, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["first_bad_index"], 1, "{v}");
}

/// The whole move to the scale-out stores: metadata into PostgreSQL and
/// blobs into an S3-protocol server (moto's, a separate process), then
/// the registry used from there; the object store going away mid-ingest
/// leaves no metadata behind.
#[test]
fn a_workspace_moves_to_postgres_and_s3_and_carries_on() {
    let Some(pg) = pg("moves_to_postgres_and_s3", "registry") else {
        return;
    };
    let Some(s3) =
        warden_store::testing::TestS3::start_or_skip("moves_to_postgres_and_s3", "models")
    else {
        return;
    };
    let with_s3 = |mut c: Command| {
        for (k, v) in warden_store::testing::TestS3::credentials() {
            c.env(k, v);
        }
        c
    };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    ok(warden(&pg, tmp.path(), "ana").args(["init", "ws"]));
    ok(warden(&pg, &ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(&pg, &ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "500",
        "--seed",
        "6",
        "--out",
        "credit.csv",
    ]));
    let ingest = |name: &str| {
        let mut c = with_s3(warden(&pg, &ws, "dana"));
        c.args([
            "data",
            "ingest",
            "credit.csv",
            "--name",
            name,
            "--target",
            "approved",
            "--id",
            "customer_id",
            "--sensitive",
            "sex",
            "--no-screen",
        ]);
        c
    };
    ok(&mut ingest("credit"));
    ok(warden(&pg, &ws, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    let local_blobs = std::fs::read_dir(ws.join(".warden/blobs/sha256"))
        .unwrap()
        .count();

    let target = tmp.path().join("scale.toml");
    std::fs::write(
        &target,
        format!(
            "[store]\nurl = \"{}\"\n[blobs]\nurl = \"s3://models/warden\"\nendpoint = \"{}\"\nregion = \"us-east-1\"\n",
            pg.url,
            s3.endpoint()
        ),
    )
    .unwrap();
    let m =
        json(with_s3(warden(&pg, &ws, "ana")).args(["migrate", "--to", target.to_str().unwrap()]));
    assert!(m["blobs"].as_u64().unwrap() >= 5, "{m}");
    assert!(
        m["to_blobs"]
            .as_str()
            .unwrap()
            .starts_with("s3://models/warden"),
        "{m}"
    );
    assert_eq!(
        std::fs::read_dir(ws.join(".warden/blobs/sha256"))
            .unwrap()
            .count(),
        local_blobs
    );

    // From here on every blob is read from and written to S3: a model is
    // verified and exported from there, and a new one trained into it.
    let v = json(with_s3(warden(&pg, &ws, "ana")).args(["audit", "verify"]));
    assert_eq!(v["ok"], true, "{v}");
    let exported = tmp.path().join("exported");
    ok(with_s3(warden(&pg, &ws, "sam")).args([
        "model",
        "export",
        "credit@1",
        "--out",
        exported.to_str().unwrap(),
    ]));
    assert!(exported.join("manifest.json").exists());
    ok(with_s3(warden(&pg, &ws, "sam")).args([
        "train",
        "--dataset",
        "credit@1",
        "--name",
        "credit",
    ]));
    // Without the object store's credentials, reads fail and say where.
    let (code, _, stderr) = out(warden(&pg, &ws, "sam").args([
        "model",
        "export",
        "credit@2",
        "--out",
        tmp.path().join("x").to_str().unwrap(),
    ]));
    assert_ne!(code, 0);
    assert!(stderr.contains("s3://models/warden"), "{stderr}");

    // The object store goes away: the ingest fails and nothing of it is
    // recorded in the registry.
    let before = json(with_s3(warden(&pg, &ws, "ana")).args(["audit", "verify"]));
    s3.kill();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (code, _, stderr) = out(&mut ingest("credit"));
    assert_ne!(code, 0);
    assert!(stderr.contains("blob store"), "{stderr}");
    assert_eq!(count_events(&pg, "data.ingest"), 1);
    let events: i64 = {
        let url = pg.server.database("registry").unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one("SELECT COUNT(*) FROM audit_events", &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(events as u64, before["events"].as_u64().unwrap());
}

/// `init --blobs` keeps the blobs in a bucket from the start, with the
/// access key from the AWS shared credentials file (no AWS_* variables);
/// a bucket that does not take a write, a profile the file lacks, or an
/// endpoint without a bucket are refused before anything is made.
#[test]
fn init_keeps_blobs_in_s3_with_keys_from_the_shared_credentials_file() {
    let Some(s3) = warden_store::testing::TestS3::start_or_skip("init_blobs_s3", "models") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let creds = tmp.path().join("credentials");
    let [(_, id), (_, secret), _] = warden_store::testing::TestS3::credentials();
    std::fs::write(
        &creds,
        format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let warden = |dir: &Path, actor: &str| {
        let mut c = Command::cargo_bin("warden").unwrap();
        c.current_dir(dir)
            .env("WARDEN_ACTOR", actor)
            .env("WARDEN_CONFIG_DIR", user_dir(actor))
            .env("AWS_SHARED_CREDENTIALS_FILE", &creds)
            .env("AWS_REGION", "us-east-1")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("WARDEN_STORE_URL")
            .env_remove("WARDEN_WORKSPACE");
        c
    };
    let endpoint = s3.endpoint().to_string();
    let init = |dir: &str, bucket: &str| {
        let mut c = warden(tmp.path(), "ana");
        c.args([
            "init",
            dir,
            "--blobs",
            &format!("s3://{bucket}/registry"),
            "--blobs-endpoint",
            &endpoint,
        ]);
        c
    };

    let said = ok(&mut init("ws", "models"));
    assert!(said.contains("blobs       s3://models/registry"), "{said}");
    let ws = tmp.path().join("ws");
    let toml = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    assert!(toml.contains("url = \"s3://models/registry\""), "{toml}");
    assert!(!toml.contains(secret), "{toml}");
    ok(warden(&ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "300",
        "--seed",
        "2",
        "--out",
        "credit.csv",
    ]));
    ok(warden(&ws, "ana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--no-screen",
    ]));
    ok(warden(&ws, "ana").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    assert!(
        !ws.join(".warden/blobs").exists(),
        "blobs were written locally"
    );
    // Every blob is read back from the bucket and checked.
    ok(warden(&ws, "ana").args(["data", "show", "credit@1"]));
    ok(warden(&ws, "ana").args(["model", "export", "credit@1", "--out", "exported"]));
    ok(warden(&ws, "ana").args(["audit", "verify"]));

    // Refusals leave no workspace behind.
    let (code, _, err) = out(&mut init("nobucket", "no-such-bucket"));
    assert_ne!(code, 0);
    assert!(err.contains("s3://no-such-bucket/registry"), "{err}");
    assert!(!tmp.path().join("nobucket").exists());
    let (code, _, err) = out(init("noprofile", "models").env("AWS_PROFILE", "absent"));
    assert_ne!(code, 0);
    assert!(
        err.contains("[absent]") && err.contains("credentials"),
        "{err}"
    );
    assert!(!tmp.path().join("noprofile").exists());
    let (code, _, err) =
        out(warden(tmp.path(), "ana").args(["init", "noblobs", "--blobs-endpoint", &endpoint]));
    assert_eq!(code, 2, "{err}");
    assert!(!tmp.path().join("noblobs").exists());
}

/// An inference replica on PostgreSQL takes up a pointer move as soon as
/// it is committed (LISTEN/NOTIFY), not at its next reload: the reload
/// interval here is a minute, and the new version must be served within
/// seconds of `warden promote`.
#[test]
fn a_pointer_move_reaches_a_serving_replica_at_once() {
    use std::io::{BufRead, BufReader};
    use std::time::{Duration, Instant};
    let Some(pg) = pg("pointer_move_reaches_replica", "registry") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    ok(warden(&pg, tmp.path(), "ana").args(["init", "ws", "--store", &pg.url]));
    ok(warden(&pg, &ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&pg, &ws, "ana").args(["roles", "grant", "omar", "operator"]));
    ok(warden(&pg, &ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "400",
        "--seed",
        "4",
        "--out",
        "credit.csv",
    ]));
    ok(warden(&pg, &ws, "ana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--sensitive",
        "sex",
        "--no-screen",
    ]));
    for seed in ["1", "2"] {
        ok(warden(&pg, &ws, "ana").args([
            "train",
            "--dataset",
            "credit@1",
            "--name",
            "credit",
            "--seed",
            seed,
        ]));
    }
    ok(warden(&pg, &ws, "ana").args(["promote", "credit@1", "--to", "dev"]));
    let key =
        ok(warden(&pg, &ws, "omar").args(["apikey", "create", "replica", "--role", "predictor"]))
            .trim()
            .to_string();

    let cfg = ws.join("serve.toml");
    std::fs::write(
        &cfg,
        "addr = \"127.0.0.1:0\"\nreload_interval_seconds = 60\n[monitor]\nenabled = false\n",
    )
    .unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("warden"))
        .args(["serve", "--env", "dev", "--config"])
        .arg(&cfg)
        .current_dir(&ws)
        .env("WARDEN_ACTOR", "omar")
        .env("WARDEN_CONFIG_DIR", user_dir("omar"))
        .env("PGPASSWORD", &pg.password)
        .env_remove("WARDEN_STORE_URL")
        .env_remove("WARDEN_WORKSPACE")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let child = Kill(child);
    // Read stderr to its end (a closed pipe would fail the server's next
    // write) and hand over the address it listens on.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on ").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let base = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server did not start");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let served = |v: u64| {
        agent
            .get(format!("{base}/v2/models/credit/versions/{v}"))
            .header("X-API-Key", &key)
            .call()
            .map(|r| r.status().as_u16() == 200)
            .unwrap_or(false)
    };
    // The first request may come before the server accepts: allow it a moment.
    let t0 = Instant::now();
    while !served(1) && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    if !served(1) {
        let r = agent
            .get(format!("{base}/v2/health/ready"))
            .call()
            .map(|mut r| r.body_mut().read_to_string().unwrap_or_default());
        panic!("credit@1 is not served: {r:?}");
    }
    assert!(!served(2));
    ok(warden(&pg, &ws, "ana").args(["promote", "credit@2", "--to", "dev"]));
    let t0 = Instant::now();
    while !served(2) {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "credit@2 was not served 10 s after the promotion (the reload interval is 60 s)"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!(
        "pointer move served by the replica after {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    drop(child);
}
