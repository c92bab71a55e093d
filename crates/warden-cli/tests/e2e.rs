//! End-to-end: the built `warden` binary on a real workspace.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;

fn warden(ws: &Path, actor: &str) -> Command {
    let mut c = Command::cargo_bin("warden").unwrap();
    c.current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", user_dir(actor))
        .env_remove("WARDEN_WORKSPACE")
        .env_remove("WARDEN_KEY_PASSPHRASE");
    c
}

/// Each actor's own directory (personal keys, remembered checkpoints), as
/// if each person used their own account; one per test process.
fn user_dir(actor: &str) -> std::path::PathBuf {
    static BASE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    BASE.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join(actor)
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

fn db(ws: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap()
}

fn init(dir: &Path) {
    ok(warden(dir, "ana").args(["init", "."]));
}

#[test]
fn lifecycle_denial_and_tamper_detection() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["roles", "grant", "lee", "approver"]));
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["keys", "generate", "lee-approvals", "--type", "ed25519"]));

    // Trust a public key exported from another workspace.
    let other = tempfile::tempdir().unwrap();
    init(other.path());
    ok(warden(other.path(), "ana").args(["keys", "generate", "release"]));
    let pem = ok(warden(other.path(), "ana").args(["keys", "export-public", "release"]));
    std::fs::write(ws.join("release.pub.pem"), pem).unwrap();
    ok(warden(ws, "ana").args(["keys", "trust", "release.pub.pem", "--name", "partner"]));
    let keys: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "lee").args(["keys", "list", "--json"]))).unwrap();
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["lee-approvals", "log", "partner", "pipeline"]);

    // A denied action: exit 3, naming the action and the roles that allow it.
    let (code, _, stderr) = out(warden(ws, "sam").args(["keys", "generate", "mine"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("keys.generate") && stderr.contains("admin"),
        "{stderr}"
    );
    // An actor with no role at all cannot even read the log.
    let (code, _, _) = out(warden(ws, "eve").args(["audit", "log"]));
    assert_eq!(code, 3);

    // The denials are themselves audited.
    let log: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "lee").args(["audit", "log", "--action", "authz", "--json"])
    ))
    .unwrap();
    assert_eq!(log.as_array().unwrap().len(), 2);

    let verify = ok(warden(ws, "lee").args(["audit", "verify"]));
    assert!(verify.contains("Audit log OK"), "{verify}");

    // Inclusion and consistency proofs, checked inside and outside the workspace.
    let proof = ok(warden(ws, "lee").args(["audit", "proof", "--index", "3", "--json"]));
    std::fs::write(ws.join("proof.json"), &proof).unwrap();
    ok(warden(ws, "lee").args(["audit", "check-proof", "proof.json"]));
    let vkey = std::fs::read_to_string(ws.join(".warden/log/vkey")).unwrap();
    ok(warden(other.path(), "ana")
        .args(["audit", "check-proof"])
        .arg(ws.join("proof.json"))
        .args(["--vkey", vkey.trim()]));
    let cons = ok(warden(ws, "lee").args(["audit", "proof", "--consistency", "2", "7", "--json"]));
    std::fs::write(ws.join("cons.json"), &cons).unwrap();
    ok(warden(ws, "lee").args(["audit", "check-proof", "cons.json"]));
    // A proof with its event altered fails with exit 5.
    let mut p: serde_json::Value = serde_json::from_str(&proof).unwrap();
    p["event"] = serde_json::Value::String(p["event"].as_str().unwrap().replace("ana", "eve"));
    std::fs::write(ws.join("bad-proof.json"), p.to_string()).unwrap();
    let (code, _, _) = out(warden(ws, "lee").args(["audit", "check-proof", "bad-proof.json"]));
    assert_eq!(code, 5);
    // The other workspace's log key does not vouch for this log.
    let (code, _, _) = out(warden(other.path(), "ana")
        .args(["audit", "check-proof"])
        .arg(ws.join("proof.json")));
    assert_eq!(code, 5);

    // Edit one event row with SQL: verify exits 5 naming that index.
    db(ws)
        .execute(
            "UPDATE audit_events SET actor = 'mallory' WHERE seq = 4",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "lee").args(["audit", "verify"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("first bad index: 4"), "{stderr}");
    let (code, stdout, _) = out(warden(ws, "lee").args(["audit", "verify", "--json"]));
    assert_eq!(code, 5);
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["first_bad_index"], 4);
    assert_eq!(report["ok"], false);
}

#[test]
fn every_kind_of_row_tampering_is_located() {
    type Tamper = fn(&rusqlite::Connection);
    let cases: &[(&str, Tamper, u64)] = &[
        (
            "edited event text and leaf",
            |c| {
                let (ev,): (String,) = c
                    .query_row("SELECT event FROM audit_events WHERE seq = 2", [], |r| {
                        Ok((r.get(0)?,))
                    })
                    .unwrap();
                let ev = ev.replace("\"ana\"", "\"eve\"");
                let leaf = {
                    use sha2::Digest as _;
                    let mut h = sha2::Sha256::new();
                    h.update([0u8]);
                    h.update(ev.as_bytes());
                    hex::encode(h.finalize())
                };
                c.execute("UPDATE audit_events SET event = ?1, actor = 'eve', leaf_hash = ?2 WHERE seq = 2", rusqlite::params![ev, leaf]).unwrap();
            },
            2,
        ),
        (
            "edited payload",
            |c| {
                c.execute(
                    "UPDATE audit_events SET payload = '{\"role\":\"admin\"}' WHERE seq = 3",
                    [],
                )
                .unwrap();
            },
            3,
        ),
        (
            "deleted row",
            |c| {
                c.execute("DELETE FROM audit_events WHERE seq = 1", [])
                    .unwrap();
            },
            1,
        ),
        (
            "reordered rows",
            |c| {
                c.execute_batch("UPDATE audit_events SET seq = -1 WHERE seq = 2; UPDATE audit_events SET seq = 2 WHERE seq = 3; UPDATE audit_events SET seq = 3 WHERE seq = -1;").unwrap();
            },
            2,
        ),
        (
            "inserted row",
            |c| {
                c.execute_batch(
                    "UPDATE audit_events SET seq = seq + 1 WHERE seq >= 3 AND seq < 1000000; ",
                )
                .ok();
                c.execute("INSERT INTO audit_events SELECT 3, time, actor, action, subject, payload, event, leaf_hash FROM audit_events WHERE seq = 2", []).ok();
            },
            3,
        ),
        (
            "truncated log",
            |c| {
                let n: i64 = c
                    .query_row("SELECT MAX(seq) FROM audit_events", [], |r| r.get(0))
                    .unwrap();
                c.execute("DELETE FROM audit_events WHERE seq = ?1", [n])
                    .unwrap();
                c.execute("DELETE FROM audit_checkpoints WHERE size > ?1", [n])
                    .unwrap();
            },
            0,
        ),
    ];
    for (what, tamper, want_index) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let ws = tmp.path();
        init(ws);
        for who in ["a1", "a2", "a3", "a4"] {
            ok(warden(ws, "ana").args(["roles", "grant", who, "auditor"]));
        }
        ok(warden(ws, "ana").args(["audit", "verify"]));
        // Reordering with a primary key needs the updates to go through one
        // at a time; an insert shifts later rows up.
        if *what == "inserted row" {
            let c = db(ws);
            let n: i64 = c
                .query_row("SELECT MAX(seq) FROM audit_events", [], |r| r.get(0))
                .unwrap();
            for s in (3..=n).rev() {
                c.execute("UPDATE audit_events SET seq = seq + 1 WHERE seq = ?1", [s])
                    .unwrap();
            }
            c.execute("INSERT INTO audit_events SELECT 3, time, actor, action, subject, payload, event, leaf_hash FROM audit_events WHERE seq = 2", []).unwrap();
        } else {
            tamper(&db(ws));
        }
        let (code, stdout, stderr) = out(warden(ws, "ana").args(["audit", "verify", "--json"]));
        assert_eq!(code, 5, "{what}: {stdout}{stderr}");
        let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        if *what == "truncated log" {
            // Only the published checkpoint file still remembers the lost event.
            assert!(
                report["problems"]
                    .to_string()
                    .contains("events were deleted"),
                "{what}: {report}"
            );
        } else {
            assert_eq!(report["first_bad_index"], *want_index, "{what}: {report}");
        }
    }
}

#[test]
fn bad_input_gives_clear_errors_and_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);

    // init never overwrites.
    let (code, _, stderr) = out(warden(ws, "ana").args(["init", "."]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("already holds a Warden workspace"),
        "{stderr}"
    );

    // Invalid names are usage errors.
    let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "grant", "lee lee", "approver"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("invalid actor name"), "{stderr}");
    let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "grant", "lee", "wizard"]));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("unknown role") && stderr.contains("approver"),
        "{stderr}"
    );
    let (code, _, stderr) = out(warden(ws, "bad actor").args(["roles", "list"]));
    assert_eq!(code, 2, "{stderr}");
    let (code, _, _) = out(warden(ws, "ana").args(["keys", "generate", "../escape"]));
    assert_eq!(code, 2);
    let (code, _, stderr) = out(warden(ws, "ana").args(["keys", "generate", "k", "--type", "rsa"]));
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown key type"), "{stderr}");
    let (code, _, _) = out(warden(ws, "ana").args(["roles", "frobnicate"]));
    assert_eq!(code, 2);

    // The last admin cannot be revoked.
    let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "revoke", "ana", "admin"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("last admin"), "{stderr}");

    // A private key given to `keys trust`, and a file that is not a key.
    ok(warden(ws, "ana").args(["keys", "generate", "k1"]));
    let (code, _, stderr) =
        out(warden(ws, "ana").args(["keys", "trust", ".warden/keys/k1.pem", "--name", "x"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("private key"), "{stderr}");
    std::fs::write(ws.join("junk.pem"), "not a key").unwrap();
    let (code, _, stderr) =
        out(warden(ws, "ana").args(["keys", "trust", "junk.pem", "--name", "x"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("junk.pem"), "{stderr}");

    // A log key readable by others is refused, naming the file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["log.pem", "pseudonym.key"] {
            let mode = std::fs::metadata(ws.join(".warden/keys").join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
        let key = ws.join(".warden/keys/log.pem");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "grant", "lee", "approver"]));
        assert_eq!(code, 1);
        assert!(
            stderr.contains("log.pem") && stderr.contains("chmod 600"),
            "{stderr}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // Outside any workspace.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, stderr) = out(warden(empty.path(), "ana").args(["audit", "log"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("no Warden workspace") && stderr.contains("warden init"),
        "{stderr}"
    );

    // A workspace of a newer schema version.
    db(ws).pragma_update(None, "user_version", 99).unwrap();
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "log"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("schema version 99") && stderr.contains("upgrade warden"),
        "{stderr}"
    );

    // A corrupted database file, and another program's database.
    std::fs::write(ws.join(".warden/warden.db"), vec![0x5au8; 4096]).unwrap();
    let _ = std::fs::remove_file(ws.join(".warden/warden.db-wal"));
    let _ = std::fs::remove_file(ws.join(".warden/warden.db-shm"));
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "log"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("warden.db") && stderr.contains("corrupted"),
        "{stderr}"
    );
    std::fs::remove_file(ws.join(".warden/warden.db")).unwrap();
    rusqlite::Connection::open(ws.join(".warden/warden.db"))
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "log"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("not created by Warden"), "{stderr}");

    // A typo in warden.toml.
    let t2 = tempfile::tempdir().unwrap();
    init(t2.path());
    std::fs::write(
        t2.path().join("warden.toml"),
        "[policy]\nauthz_file = \"x.rego\"\n",
    )
    .unwrap();
    let (code, _, stderr) = out(warden(t2.path(), "ana").args(["audit", "log"]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("warden.toml") && stderr.contains("authz_file"),
        "{stderr}"
    );
}

#[test]
fn custom_policy_and_encrypted_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    let run = |actor: &str| {
        let mut c = warden(ws, actor);
        c.env("WARDEN_KEY_PASSPHRASE", "s3cret passphrase");
        c
    };
    ok(run("ana").args(["init", "."]));
    let pem = std::fs::read_to_string(ws.join(".warden/keys/log.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    ok(run("ana").args(["roles", "grant", "lee", "auditor"]));
    // Without the passphrase the log key cannot sign the next checkpoint.
    let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "grant", "kim", "auditor"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("WARDEN_KEY_PASSPHRASE"), "{stderr}");

    // A user policy: auditors may also generate keys.
    std::fs::write(
        ws.join("authz.rego"),
        "package warden.authz\n\nroles := {\"admin\", \"auditor\"}\n\ndefault allow := false\n\nallow if \"admin\" in input.roles\n\nallow if {\n\t\"auditor\" in input.roles\n\tinput.action in {\"keys.generate\", \"audit.verify\", \"audit.read\"}\n}\n",
    )
    .unwrap();
    std::fs::write(ws.join("warden.toml"), "[policy]\nauthz = \"authz.rego\"\n").unwrap();
    // Not registered yet: it decides nothing (exit 5, both digests named).
    let (code, _, stderr) = out(run("lee").args(["keys", "generate", "lee-key"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("not the registered one"), "{stderr}");
    ok(run("ana").args(["policy", "register", "authz"]));
    ok(run("lee").args(["keys", "generate", "lee-key"]));
    let (code, _, _) = out(run("lee").args(["roles", "list"]));
    assert_eq!(code, 3);
    // A policy with a syntax error names the file and line.
    std::fs::write(
        ws.join("authz.rego"),
        "package warden.authz\n\nallow if {\n",
    )
    .unwrap();
    let (code, _, stderr) = out(run("lee").args(["audit", "verify"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("authz.rego:"), "{stderr}");
}

#[test]
fn demo_runs_and_keeps_a_verifiable_workspace() {
    let tmp = tempfile::tempdir().unwrap();
    let kept = tmp.path().join("demo");
    let stdout = ok(warden(tmp.path(), "ana")
        .args(["demo", "--keep"])
        .arg(&kept));
    assert!(
        stdout.contains("denied") && stdout.contains("verified"),
        "{stdout}"
    );
    ok(warden(&kept, "aud").args(["audit", "verify"]));
    ok(warden(&kept, "aud").args(["audit", "check-proof", "audit-proof-0.json"]));
    // Every event the demo recorded is its action's typed payload (what
    // docs/schemas/audit-event-payloads.schema.json describes).
    let log: serde_json::Value =
        serde_json::from_str(&ok(warden(&kept, "aud").args(["audit", "log", "--json"]))).unwrap();
    let mut typed = std::collections::BTreeSet::new();
    for e in log.as_array().unwrap() {
        let action = e["action"].as_str().unwrap();
        let doc = serde_json::json!({"action": action, "payload": e["payload"]});
        serde_json::from_value::<warden::events::Payload>(doc)
            .unwrap_or_else(|err| panic!("event {} ({action}): {err}", e["seq"]));
        typed.insert(action.to_string());
    }
    assert!(typed.len() >= 20, "{typed:?}");
    assert!(
        typed.contains("model.train") && typed.contains("model.import"),
        "{typed:?}"
    );
    run_printed_commands(&stdout);
    // The demo's models are registered and its exported package verifies;
    // its tampered copy does not.
    let models: serde_json::Value =
        serde_json::from_str(&ok(warden(&kept, "aud").args(["model", "list", "--json"]))).unwrap();
    // Six from the stages before the hub, the one the hub step's author
    // trains, and the pipeline step's (trained once, reused the second time).
    assert_eq!(models.as_array().unwrap().len(), 8);
    // The pipeline step: the SAST finding reaches the staging gate; the
    // second run reuses what did not change.
    for seen in [
        "bandit (sast evidence 1) reports a high finding, B602 (score 7.5) at train.py:12",
        "again: reused train, scan, sast (nothing retrained)",
    ] {
        assert!(stdout.contains(seen), "{seen}: {stdout}");
    }
    let runs: serde_json::Value = serde_json::from_str(&ok(
        warden(&kept, "aud").args(["pipeline", "list", "--json"])
    ))
    .unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    // The hub step: a forged token, a fork's pipeline and a self-approval refused.
    for seen in [
        "signed by another key: token signature invalid (401)",
        "a fork's pipeline holds no role",
        "which she trained: corp.mia@example.com is the author",
        "signed on lee's machine",
    ] {
        assert!(stdout.contains(seen), "{seen}: {stdout}");
    }
    // The monitoring step: shifted traffic, drift, an automated rollback.
    assert!(
        stdout.contains("rollback (dataset and prediction drift for 3 windows in a row): done: dev credit@3 -> credit@1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("rolled back dev from credit@3 to credit@1"),
        "{stdout}"
    );
    let status: serde_json::Value = serde_json::from_str(&ok(
        warden(&kept, "aud").args(["monitor", "status", "credit", "--json"])
    ))
    .unwrap();
    assert!(
        status["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["dataset_drift"] == true)
    );
    assert!(
        stdout.contains("credit@1 → production: allowed"),
        "{stdout}"
    );
    assert!(stdout.contains("credit@2 → staging: DENIED"), "{stdout}");
    // The demo recorded a scan of credit@1 (production's gate read it) and
    // the pipeline step one of credit-weekly@1 (reused on the second run).
    assert_eq!(count_events(&kept, "scan.record"), 2);
    let gate: serde_json::Value = serde_json::from_str(&ok(warden(&kept, "aud").args([
        "gate",
        "credit@1",
        "--env",
        "production",
        "--json",
    ])))
    .unwrap();
    assert_eq!(gate["input"]["scan"]["scanned"], true, "{gate}");
    assert_eq!(gate["input"]["scan"]["max_severity"], "none", "{gate}");
    assert_eq!(gate["input"]["scan"]["files"], 3, "{gate}");
    ok(warden(&kept, "aud").args(["verify", "credit-1"]));
    let (code, _, stderr) = out(warden(&kept, "aud").args([
        "verify",
        "credit-1-tampered",
        "--signature",
        "credit-1.sig",
    ]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("weights.safetensors"), "{stderr}");
    let (code, _, _) = out(warden(tmp.path(), "ana")
        .args(["demo", "--keep"])
        .arg(&kept));
    assert_eq!(code, 1);
}

#[test]
fn help_has_examples_and_exit_codes() {
    let top = ok(Command::cargo_bin("warden").unwrap().arg("--help"));
    assert!(top.contains("Exit codes") && top.contains("verification failed"));
    for cmd in [
        vec!["init"],
        vec!["demo"],
        vec!["roles", "grant"],
        vec!["roles", "revoke"],
        vec!["roles", "list"],
        vec!["keys", "generate"],
        vec!["keys", "list"],
        vec!["keys", "export-public"],
        vec!["keys", "trust"],
        vec!["keys", "revoke"],
        vec!["audit", "log"],
        vec!["audit", "verify"],
        vec!["audit", "proof"],
        vec!["audit", "check-proof"],
        vec!["data", "ingest"],
        vec!["data", "profile"],
        vec!["data", "list"],
        vec!["data", "show"],
        vec!["data", "lineage"],
        vec!["example", "credit"],
        vec!["privacy", "epsilon"],
        vec!["privacy", "noise"],
        vec!["sign"],
        vec!["verify"],
        vec!["train"],
        vec!["model", "list"],
        vec!["model", "show"],
        vec!["model", "export"],
        vec!["model", "predict"],
        vec!["model", "import"],
        vec!["eval"],
        vec!["gate"],
        vec!["promote"],
        vec!["policy", "test"],
        vec!["approve"],
        vec!["quarantine"],
        vec!["release"],
        vec!["rollback"],
        vec!["model", "card"],
        vec!["lineage"],
        vec!["incident", "open"],
        vec!["incident", "list"],
        vec!["incident", "show"],
        vec!["incident", "close"],
        vec!["model", "passport"],
        vec!["model", "bom"],
        vec!["threat-model"],
        vec!["scan"],
        vec!["apikey", "create"],
        vec!["apikey", "list"],
        vec!["apikey", "revoke"],
    ] {
        let help = ok(Command::cargo_bin("warden")
            .unwrap()
            .args(&cmd)
            .arg("--help"));
        assert!(help.contains("Example"), "{cmd:?} --help has no example");
    }
}

#[test]
fn actor_can_be_given_before_or_after_the_subcommand() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["roles", "grant", "lee", "auditor"]));
    // WARDEN_ACTOR=nobody has no role; an explicit --actor wins.
    let (code, _, _) = out(warden(ws, "nobody").args(["roles", "list"]));
    assert_eq!(code, 3);
    ok(warden(ws, "nobody").args(["roles", "list", "--actor", "lee"]));
    ok(warden(ws, "nobody").args(["--actor", "lee", "roles", "list"]));
    // In `audit log`, --actor after the subcommand filters events.
    let log =
        ok(warden(ws, "nobody")
            .args(["--actor", "lee", "audit", "log", "--actor", "ana", "--json"]));
    let events: serde_json::Value = serde_json::from_str(&log).unwrap();
    let events = events.as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["actor"] == "ana"));
    let log =
        ok(warden(ws, "lee").args(["audit", "log", "--since", "3", "--limit", "1", "--json"]));
    let events: serde_json::Value = serde_json::from_str(&log).unwrap();
    assert_eq!(events.as_array().unwrap().len(), 1);
    assert_eq!(events[0]["seq"], 3);
}

fn count_events(ws: &Path, action: &str) -> usize {
    let log = ok(warden(ws, "ana").args(["audit", "log", "--action", action, "--json"]));
    serde_json::from_str::<serde_json::Value>(&log)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

fn datasets(ws: &Path) -> usize {
    let list = ok(warden(ws, "ana").args(["data", "list", "--json"]));
    serde_json::from_str::<serde_json::Value>(&list)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

#[test]
fn data_ingest_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "3000",
        "--seed",
        "5",
        "--out",
        "credit.csv",
        "--poison",
        "0.03",
    ]));
    let side: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("credit.csv.poison.json")).unwrap())
            .unwrap();
    assert_eq!(side["flipped_rows"].as_array().unwrap().len(), 90);
    let args = [
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
        "--sensitive",
        "age_band",
    ];

    // Only data engineers and admins ingest.
    let (code, _, stderr) = out(warden(ws, "sam").args(args));
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("data.ingest") && stderr.contains("data-engineer"),
        "{stderr}"
    );

    let res: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "dana").args(args).arg("--json"))).unwrap();
    assert_eq!(res["dataset"]["version"], 1);
    let dropped: Vec<&str> = res["report"]["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["column"].as_str().unwrap())
        .collect();
    for c in [
        "full_name",
        "email",
        "phone",
        "ssn",
        "card_number",
        "street_address",
        "date_of_birth",
    ] {
        assert!(dropped.contains(&c), "{c} not dropped: {dropped:?}");
    }
    assert!(
        res["report"]["screen"]["suspect_fraction"]
            .as_f64()
            .unwrap()
            > 0.01
    );
    // The stored table holds no raw PII.
    let show: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["data", "show", "credit@1", "--json"])
    ))
    .unwrap();
    assert_eq!(
        show["dataset"]["manifest"]["checks"]["pii"]["unmasked"],
        serde_json::json!([])
    );
    let md = ok(warden(ws, "sam").args(["data", "show", "credit", "--markdown"]));
    assert!(
        md.contains("# Data report: credit@1") && md.contains("Personal data"),
        "{md}"
    );
    let blob_dir = ws.join(".warden/blobs/sha256");
    let out_digest = show["dataset"]["output_digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let stored = std::fs::read_to_string(
        blob_dir
            .join(&out_digest[..2])
            .join(&out_digest[2..4])
            .join(&out_digest),
    )
    .unwrap();
    assert!(
        !stored.contains("@example.com") && !stored.contains("555-"),
        "raw PII in the stored table"
    );
    assert!(
        stored.starts_with("customer_id,age,age_band,sex,"),
        "{}",
        &stored[..80]
    );

    // A second version from stdin; lineage names the first.
    let bytes = std::fs::read(ws.join("credit.csv")).unwrap();
    let mut c = warden(ws, "dana");
    c.args([
        "data",
        "ingest",
        "-",
        "--name",
        "credit",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--no-screen",
    ])
    .write_stdin(bytes);
    ok(&mut c);
    let lineage = ok(warden(ws, "sam").args(["data", "lineage", "credit@2"]));
    assert!(
        lineage.contains("previous version credit@1") && lineage.contains("source"),
        "{lineage}"
    );
    assert_eq!(count_events(ws, "data.ingest"), 2);
    ok(warden(ws, "ana").args(["audit", "verify"]));

    // Failures record nothing: a wrong pin (exit 5), a failed expectation,
    // bad files, a schema naming a missing column, a bad PII policy.
    let before = (datasets(ws), count_events(ws, "data.ingest"));
    let (code, _, stderr) = out(warden(ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--sha256",
        &"ab".repeat(32),
    ]));
    assert_eq!(code, 5, "{stderr}");
    std::fs::write(
        ws.join("s.toml"),
        "[columns.age]\nmin = 30\n[columns.income]\nmax_null_fraction = 0.0\n",
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--schema",
        "s.toml",
    ]));
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Validation failed")
            && stderr.contains("values in [30, inf]")
            && stderr.contains("age"),
        "{stderr}"
    );
    let cases: &[(&str, &[u8], &str)] = &[
        ("ragged.csv", b"a,b\n1,2\n3\n", "row 2 (line 3)"),
        ("utf8.csv", b"a,b\n1,\xff\n", "invalid UTF-8"),
        ("empty.csv", b"", "empty"),
        ("header.csv", b"a,b\n", "no data rows"),
        ("dups.csv", b"a,a\n1,2\n", "duplicate column name"),
    ];
    for (file, bytes, want) in cases {
        std::fs::write(ws.join(file), bytes).unwrap();
        let (code, _, stderr) =
            out(warden(ws, "dana").args(["data", "ingest", file, "--name", "bad"]));
        assert_eq!(code, 1, "{file}: {stderr}");
        assert!(stderr.contains(want), "{file}: {stderr}");
    }
    std::fs::write(
        ws.join("s2.toml"),
        "[dataset]\ntarget = \"no_such_column\"\n",
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--schema",
        "s2.toml",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no_such_column"), "{stderr}");
    std::fs::write(ws.join("p.toml"), "[entities]\nemail = \"shred\"\n").unwrap();
    let (code, _, stderr) = out(warden(ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--pii-policy",
        "p.toml",
    ]));
    assert_eq!(code, 1);
    assert!(stderr.contains("unknown action \"shred\""), "{stderr}");
    assert_eq!((datasets(ws), count_events(ws, "data.ingest")), before);

    // Profile needs no workspace and writes a schema that ingest accepts.
    let empty = tempfile::tempdir().unwrap();
    let prof = ok(warden(empty.path(), "x")
        .args(["data", "profile"])
        .arg(ws.join("credit.csv"))
        .args(["--emit-schema", "credit.schema.toml"]));
    assert!(
        prof.contains("credit_score") && prof.contains("card"),
        "{prof}"
    );
    std::fs::copy(
        empty.path().join("credit.schema.toml"),
        ws.join("credit.schema.toml"),
    )
    .unwrap();
    ok(warden(ws, "dana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--schema",
        "credit.schema.toml",
        "--no-screen",
    ]));
}

#[test]
fn privacy_budget_planning() {
    let tmp = tempfile::tempdir().unwrap();
    let text = ok(warden(tmp.path(), "x").args([
        "privacy",
        "epsilon",
        "--sample-rate",
        "0.01",
        "--noise-multiplier",
        "1.1",
        "--steps",
        "1000",
        "--delta",
        "1e-5",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Opacus 1.5.2 gives 1.7117700912203435 at order 9.6 (see warden-ml's
    // reference test); dp_accounting's PLD accountant 1.515362.
    assert!(
        (v["rdp"]["epsilon"].as_f64().unwrap() - 1.7117700912203435).abs() < 1e-9,
        "{v}"
    );
    assert_eq!(v["rdp"]["optimal_order"], 9.6);
    assert_eq!(v["accountant"], "pld");
    assert!(
        v["accountant_description"]
            .as_str()
            .unwrap()
            .contains("PLD")
    );
    let pld = v["pld"]["epsilon"].as_f64().unwrap();
    assert!((1.515362..=1.515362 * 1.001).contains(&pld), "{v}");
    assert_eq!(v["epsilon"], v["pld"]["epsilon"]);
    // Both are shown in text, with the one used marked.
    let text = ok(warden(tmp.path(), "x").args([
        "privacy",
        "epsilon",
        "--sample-rate",
        "0.01",
        "--noise-multiplier",
        "1.1",
        "--steps",
        "1000",
    ]));
    assert!(
        text.contains("(PLD, used)") && text.contains("by RDP (for comparison)"),
        "{text}"
    );
    // RDP as the accountant used, on request.
    let text = ok(warden(tmp.path(), "x").args([
        "privacy",
        "epsilon",
        "--sample-rate",
        "0.01",
        "--noise-multiplier",
        "1.1",
        "--steps",
        "1000",
        "--accountant",
        "rdp",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["accountant"], "rdp");
    assert!((v["epsilon"].as_f64().unwrap() - 1.7117700912203435).abs() < 1e-9);
    // Calibrating with RDP to RDP's own ε gives back σ = 1.1.
    let text = ok(warden(tmp.path(), "x").args([
        "privacy",
        "noise",
        "--target-epsilon",
        "1.7117700912203435",
        "--sample-rate",
        "0.01",
        "--steps",
        "1000",
        "--accountant",
        "rdp",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        (v["noise_multiplier"].as_f64().unwrap() - 1.1).abs() < 1e-5,
        "{v}"
    );
    // The default (PLD) needs less noise for the same target.
    let text = ok(warden(tmp.path(), "x").args([
        "privacy",
        "noise",
        "--target-epsilon",
        "1.7117700912203435",
        "--sample-rate",
        "0.01",
        "--steps",
        "1000",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["accountant"], "pld");
    let sigma = v["noise_multiplier"].as_f64().unwrap();
    assert!(
        sigma < 1.1 && v["epsilon"].as_f64().unwrap() <= 1.7117700912203435,
        "{v}"
    );
    assert!(
        v["rdp"]["epsilon"].as_f64().unwrap() > 1.7117700912203435,
        "{v}"
    );
    // Below RDP's floor: RDP fails at once with the reason, PLD still plans.
    let (code, _, stderr) = out(warden(tmp.path(), "x").args([
        "privacy",
        "noise",
        "--target-epsilon",
        "0.05",
        "--sample-rate",
        "0.01",
        "--steps",
        "1000",
        "--accountant",
        "rdp",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("never falls below"), "{stderr}");
    for bad in [["--sample-rate", "0"], ["--sample-rate", "1.5"]] {
        let (code, _, stderr) = out(warden(tmp.path(), "x")
            .args([
                "privacy",
                "epsilon",
                "--noise-multiplier",
                "1",
                "--steps",
                "10",
            ])
            .args(bad));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("sample rate"), "{stderr}");
    }
}

#[test]
fn sign_and_verify_model_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    init(&ws);
    ok(warden(&ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(&ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(&ws, "ana").args(["keys", "generate", "edkey", "--type", "ed25519"]));
    let model = tmp.path().join("model");
    std::fs::create_dir_all(model.join("sub")).unwrap();
    std::fs::write(model.join("weights.bin"), vec![7u8; 5000]).unwrap();
    std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
    let signed = ok(warden(&ws, "sam")
        .args(["sign"])
        .arg(&model)
        .args(["--key", "pipeline", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&signed).unwrap();
    assert_eq!(v["files"], 2);
    assert!(tmp.path().join("model.sig").is_file());
    assert_eq!(count_events(&ws, "model.sign"), 1);
    ok(warden(&ws, "sam").args(["verify"]).arg(&model));
    // Outside the workspace, with the exported public key.
    let pem = ok(warden(&ws, "ana").args(["keys", "export-public", "pipeline"]));
    std::fs::write(tmp.path().join("p.pem"), pem).unwrap();
    ok(warden(tmp.path(), "x").args(["verify", "model", "--key", "p.pem"]));
    // A changed, an added and a removed file are each named; exit 5.
    std::fs::write(model.join("weights.bin"), vec![8u8; 5000]).unwrap();
    let (code, _, stderr) =
        out(warden(tmp.path(), "x").args(["verify", "model", "--key", "p.pem"]));
    assert_eq!(code, 5);
    assert!(stderr.contains("weights.bin"), "{stderr}");
    std::fs::write(model.join("weights.bin"), vec![7u8; 5000]).unwrap();
    std::fs::write(model.join("extra.txt"), b"x").unwrap();
    let (code, _, stderr) =
        out(warden(tmp.path(), "x").args(["verify", "model", "--key", "p.pem"]));
    assert_eq!(code, 5);
    assert!(
        stderr.contains("extra.txt") && stderr.contains("not covered"),
        "{stderr}"
    );
    std::fs::remove_file(model.join("extra.txt")).unwrap();
    std::fs::remove_file(model.join("sub/config.json")).unwrap();
    let (code, _, stderr) =
        out(warden(tmp.path(), "x").args(["verify", "model", "--key", "p.pem"]));
    assert_eq!(code, 5);
    assert!(
        stderr.contains("sub/config.json") && stderr.contains("missing"),
        "{stderr}"
    );
    std::fs::write(model.join("sub/config.json"), b"{}").unwrap();
    // A revoked key no longer vouches; an Ed25519 key cannot sign this format.
    ok(warden(&ws, "ana").args(["keys", "revoke", "pipeline"]));
    let (code, _, _) = out(warden(&ws, "sam").args(["verify"]).arg(&model));
    assert_eq!(code, 5);
    let (code, _, stderr) = out(warden(&ws, "ana")
        .args(["sign"])
        .arg(&model)
        .args(["--key", "edkey"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("P-256"), "{stderr}");
    // Only roles with model.sign may sign.
    ok(warden(&ws, "ana").args(["roles", "grant", "lee", "approver"]));
    let (code, _, _) = out(warden(&ws, "lee")
        .args(["sign"])
        .arg(&model)
        .args(["--key", "pipeline"]));
    assert_eq!(code, 3);
}

#[test]
fn train_register_export_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "3000",
        "--seed",
        "3",
        "--out",
        "credit.csv",
        "--bias",
        "0.3",
    ]));
    ok(warden(ws, "dana").args([
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
        "--sensitive",
        "age_band",
        "--no-screen",
    ]));

    // No pipeline key yet: a clear error with the command that fixes it.
    let (code, _, stderr) =
        out(warden(ws, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("warden keys generate pipeline"), "{stderr}");
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));

    // A data engineer may not train; the refusal is audited.
    let (code, _, stderr) =
        out(warden(ws, "dana").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("ml-engineer"), "{stderr}");

    let plain: serde_json::Value = serde_json::from_str(&ok(warden(ws, "sam").args([
        "train",
        "--dataset",
        "credit@1",
        "--name",
        "credit",
        "--seed",
        "4",
        "--json",
    ])))
    .unwrap();
    assert_eq!(plain["model"]["version"], 1);
    assert_eq!(plain["optimiser"]["algorithm"], "lbfgs");
    assert!(
        plain["holdout"]["accuracy"].as_f64().unwrap() > 0.85,
        "{plain}"
    );
    // Same flags, other thread count: the same package.
    let again: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "sam").env("WARDEN_THREADS", "1").args([
            "train",
            "--dataset",
            "credit@1",
            "--name",
            "credit",
            "--seed",
            "4",
            "--json",
        ])))
        .unwrap();
    assert_eq!(again["model"]["version"], 2);
    assert_eq!(again["model"]["digest"], plain["model"]["digest"]);

    let dp: serde_json::Value = serde_json::from_str(&ok(warden(ws, "sam").args([
        "train",
        "--dataset",
        "credit@1",
        "--name",
        "credit-dp",
        "--model",
        "mlp",
        "--hidden",
        "16",
        "--dp-epsilon",
        "2",
        "--dp-delta",
        "1e-5",
        "--max-grad-norm",
        "1.0",
        "--epochs",
        "2",
        "--json",
    ])))
    .unwrap();
    let eps = dp["dp"]["epsilon"].as_f64().unwrap();
    assert!(eps <= 2.0 && eps > 1.99, "{dp}");
    assert!(
        dp["dp"]["accountant"]
            .as_str()
            .unwrap()
            .contains("PLD accountant"),
        "{dp}"
    );
    let text = ok(warden(ws, "sam").args([
        "train",
        "--dataset",
        "credit",
        "--name",
        "credit-noise",
        "--dp-noise",
        "1.0",
    ]));
    assert!(
        text.contains("PLD accountant") && text.contains("ε ="),
        "{text}"
    );

    let list = ok(warden(ws, "sam").args(["model", "list"]));
    assert!(
        list.contains("credit@2") && list.contains("credit-dp@1"),
        "{list}"
    );
    let show: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["model", "show", "credit@1", "--json"])
    ))
    .unwrap();
    assert_eq!(show["manifest"]["format"], "warden.model/v1");
    assert_eq!(
        show["manifest"]["provenance"]["datasets"][0]["ref"],
        "credit@1"
    );
    assert_eq!(show["manifest"]["labels"]["target"], "approved");
    ok(warden(ws, "sam").args(["model", "show", "credit-dp"]));

    // Export → verify with the trust store and with the exported public key.
    ok(warden(ws, "sam").args(["model", "export", "credit@1", "--out", "pkg"]));
    ok(warden(ws, "sam").args(["verify", "pkg"]));
    let pem = ok(warden(ws, "sam").args(["keys", "export-public", "pipeline"]));
    std::fs::write(ws.join("pipeline.pub.pem"), pem).unwrap();
    ok(warden(ws, "sam").args(["verify", "pkg", "--key", "pipeline.pub.pem"]));
    let (code, _, _) = out(warden(ws, "sam").args(["model", "export", "credit@1", "--out", "pkg"]));
    assert_eq!(code, 2, "export never overwrites");

    // Predict: the stored model on the raw file, accuracy against the target.
    let (code, stdout, stderr) =
        out(warden(ws, "sam").args(["model", "predict", "credit@1", "credit.csv"]));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 3001);
    assert!(stdout.starts_with("row,label,p_0,p_1\n"), "{stdout}");
    assert!(
        stderr.contains("verified with key pipeline") && stderr.contains("accuracy"),
        "{stderr}"
    );
    std::fs::write(ws.join("few.csv"), "age,income\n41,50000\n").unwrap();
    let (code, _, stderr) =
        out(warden(ws, "sam").args(["model", "predict", "credit@1", "few.csv"]));
    assert_eq!(code, 1);
    assert!(stderr.contains("no column \"loan_amount\""), "{stderr}");

    // Tampered exports are refused, naming the file: changed, added, removed.
    let copy = |name: &str| {
        let d = ws.join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in [
            "manifest.json",
            "reference-profile.json",
            "weights.safetensors",
        ] {
            std::fs::copy(ws.join("pkg").join(f), d.join(f)).unwrap();
        }
        d
    };
    let changed = copy("changed");
    let mut m = std::fs::read(changed.join("manifest.json")).unwrap();
    m[10] ^= 1;
    std::fs::write(changed.join("manifest.json"), m).unwrap();
    let added = copy("added");
    std::fs::write(added.join("model.pkl"), b"\x80\x04").unwrap();
    let removed = copy("removed");
    std::fs::remove_file(removed.join("reference-profile.json")).unwrap();
    for (dir, file) in [
        ("changed", "manifest.json"),
        ("added", "model.pkl"),
        ("removed", "reference-profile.json"),
    ] {
        let (code, _, stderr) =
            out(warden(ws, "sam").args(["verify", dir, "--signature", "pkg.sig"]));
        assert_eq!(code, 5, "{dir}: {stderr}");
        assert!(stderr.contains(file), "{dir}: {stderr}");
    }

    // Bad training input: nothing registered, nothing logged but refusals.
    let before = ok(warden(ws, "sam").args(["model", "list", "--json"]));
    for (args, code, want) in [
        (
            vec!["--dataset", "credit@1", "--name", "x", "--target", "nope"],
            1,
            "no target column",
        ),
        (vec!["--dataset", "credit@7", "--name", "x"], 1, "not found"),
        (
            vec!["--dataset", "credit@1", "--name", "x", "--holdout", "2"],
            2,
            "holdout",
        ),
        (
            vec!["--dataset", "credit@1", "--name", "x", "--dp-delta", "1e-5"],
            2,
            "--dp-delta needs",
        ),
        (
            vec!["--dataset", "credit@1", "--name", "x", "--hidden", "4"],
            2,
            "--hidden is for",
        ),
        (
            vec![
                "--dataset",
                "credit@1",
                "--name",
                "x",
                "--features",
                "notes,approved",
            ],
            2,
            "is the target",
        ),
        (
            vec!["--dataset", "credit@1", "--name", "x", "--dp-noise", "0"],
            2,
            "noise multiplier",
        ),
        (
            vec!["--dataset", "credit@1", "--name", "bad name!"],
            2,
            "name",
        ),
    ] {
        let (c, _, stderr) = out(warden(ws, "sam").arg("train").args(&args));
        assert_eq!(c, code, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert_eq!(
        ok(warden(ws, "sam").args(["model", "list", "--json"])),
        before
    );
    assert_eq!(count_events(ws, "model.train"), 4);
    ok(warden(ws, "ana").args(["audit", "verify"]));
}

#[test]
fn import_onnx_models_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline", "--type", "ecdsa-p384"]));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx");
    let features = "[[features]]\nname = \"bill_length_mm\"\nmin = 32.1\nmax = 59.6\n[[features]]\nname = \"bill_depth_mm\"\n[[features]]\nname = \"flipper_length_mm\"\n[[features]]\nname = \"body_mass_g\"\n";
    std::fs::write(
        ws.join("penguins.toml"),
        format!(
            "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\ntarget = \"species\"\n{features}"
        ),
    )
    .unwrap();
    for (file, name) in [
        ("linear.onnx", "penguins-lr"),
        ("forest.onnx", "penguins-rf"),
    ] {
        let imported: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
            .args(["model", "import"])
            .arg(fixtures.join(file))
            .args(["--name", name, "--schema", "penguins.toml", "--json"])))
        .unwrap();
        assert_eq!(imported["model"]["kind"], "onnx");
        assert_eq!(imported["model"]["version"], 1);
    }
    // External weights inside the model's directory are inlined into the package.
    let ext: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("external-ok.onnx"))
        .args([
            "--name",
            "penguins-ext",
            "--schema",
            "penguins.toml",
            "--json",
        ])))
    .unwrap();
    assert_eq!(ext["onnx"]["inlined_external"], 2);
    // One end of a range alone would be ignored: refused without --dataset.
    std::fs::write(
        ws.join("half.toml"),
        format!(
            "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\ntarget = \"species\"\n{}",
            features.replace("max = 59.6\n", "")
        ),
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("linear.onnx"))
        .args(["--name", "penguins-half", "--schema", "half.toml"]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("feature bill_length_mm: give both min and max"),
        "{stderr}"
    );

    std::fs::write(
        ws.join("birds.csv"),
        "species,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g\nAdelie,39.1,18.7,181,3750\nGentoo,46.1,13.2,211,4500\nChinstrap,46.5,17.9,192,3500\n",
    )
    .unwrap();
    for name in ["penguins-lr", "penguins-rf", "penguins-ext"] {
        let p: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
            "model",
            "predict",
            name,
            "birds.csv",
            "--json",
        ])))
        .unwrap();
        let labels: Vec<&str> = p["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["label"].as_str().unwrap())
            .collect();
        assert_eq!(labels, ["Adelie", "Gentoo", "Chinstrap"], "{name}: {p}");
        assert_eq!(p["accuracy"], 1.0);
    }
    ok(warden(ws, "ana").args(["model", "export", "penguins-rf@1", "--out", "rf"]));
    ok(warden(ws, "ana").args(["verify", "rf"]));
    assert!(ws.join("rf/model.onnx").exists() && !ws.join("rf/weights.safetensors").exists());

    // Refused, each with its reason, and nothing registered.
    std::fs::write(
        ws.join("wrong-classes.toml"),
        format!("classes = [\"Gentoo\", \"Adelie\", \"Chinstrap\"]\n{features}"),
    )
    .unwrap();
    // binary.onnx labels its outputs 0, 1 (integers): the classes must be
    // those integers in that order, or names for them.
    for (schema, classes) in [
        ("binary-flipped.toml", "\"1\", \"0\""),
        ("binary-ok.toml", "\"0\", \"1\""),
    ] {
        std::fs::write(
            ws.join(schema),
            format!("classes = [{classes}]\n{features}"),
        )
        .unwrap();
    }
    ok(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("binary.onnx"))
        .args(["--name", "binary", "--schema", "binary-ok.toml"]));
    std::fs::write(ws.join("three.toml"), "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\n[[features]]\nname = \"a\"\n[[features]]\nname = \"b\"\n[[features]]\nname = \"c\"\n").unwrap();
    std::fs::write(
        ws.join("typo.toml"),
        format!("clases = [\"Adelie\"]\n{features}"),
    )
    .unwrap();
    for (file, schema, want) in [
        ("not-onnx.onnx", "penguins.toml", "not an ONNX model"),
        (
            "external.onnx",
            "penguins.toml",
            "escapes the model directory",
        ),
        ("linear.onnx", "wrong-classes.toml", "labels them"),
        (
            "binary.onnx",
            "binary-flipped.toml",
            "labels its outputs [\"0\", \"1\"] in this order",
        ),
        ("forest.onnx", "three.toml", "schema declares 3 features"),
        ("linear.onnx", "typo.toml", "clases"),
        ("missing.onnx", "penguins.toml", "missing.onnx"),
    ] {
        let (code, _, stderr) = out(warden(ws, "ana")
            .args(["model", "import"])
            .arg(fixtures.join(file))
            .args(["--name", "bad", "--schema", schema]));
        assert_ne!(code, 0, "{file} {schema}");
        assert!(stderr.contains(want), "{file} {schema}: {stderr}");
    }
    let list: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "ana").args(["model", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert_eq!(count_events(ws, "model.import"), 4);
}

/// A scikit-learn `ColumnTransformer` pipeline exported with one input per
/// column imports with the features matched to its inputs by name
/// (`bill-length` feeds `bill_length`, as skl2onnx names it), predicts a CSV
/// with text columns, and every schema that does not fit it is refused by
/// name with nothing registered.
#[test]
fn column_pipelines_import_with_their_inputs_matched_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline", "--type", "ecdsa-p384"]));
    let fixtures =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx-columns");
    let classes = "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\ntarget = \"species\"\n";
    let features = |names: &[&str]| -> String {
        names
            .iter()
            .map(|n| format!("[[features]]\nname = \"{n}\"\n"))
            .collect()
    };
    // The dataset's names, one with a dash where the input has `_`, listed
    // out of the model's order; and an explicit `input =`.
    std::fs::write(
        ws.join("named.toml"),
        format!(
            "{classes}{}[[features]]\nname = \"sex\"\ninput = \"sex\"\ncategories = [\"MALE\", \"FEMALE\"]\n",
            features(&[
                "island",
                "bill-length_mm",
                "bill_depth_mm",
                "flipper_length_mm",
                "body_mass_g"
            ])
        ),
    )
    .unwrap();
    let imported: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("lr.onnx"))
        .args(["--name", "birds", "--schema", "named.toml", "--json"])))
    .unwrap();
    assert_eq!(imported["engine"], "tract-batched", "{imported}");
    let inputs = &imported["model"]["manifest"]["input"]["features"];
    assert_eq!(inputs[0]["name"], "bill-length_mm", "{inputs}");
    assert_eq!(inputs[4]["name"], "island");
    assert_eq!(inputs[4]["type"], "categorical");
    assert_eq!(
        inputs[4]["categories"],
        serde_json::json!(["Biscoe", "Dream", "Torgersen"])
    );
    std::fs::write(
        ws.join("birds.csv"),
        "species,island,bill-length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\nAdelie,Torgersen,39.1,18.7,181,3750,MALE\nGentoo,Biscoe,46.1,13.2,211,4500,FEMALE\nChinstrap,Dream,46.5,17.9,192,3500,FEMALE\n",
    )
    .unwrap();
    let p: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "model",
        "predict",
        "birds",
        "birds.csv",
        "--json",
    ])))
    .unwrap();
    let labels: Vec<&str> = p["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["Adelie", "Gentoo", "Chinstrap"], "{p}");

    let all = [
        "bill_length_mm",
        "bill_depth_mm",
        "flipper_length_mm",
        "body_mass_g",
        "island",
        "sex",
    ];
    for (name, schema, want) in [
        (
            "stray",
            format!("{classes}{}", features(&[&all[..], &["wingspan"]].concat())),
            "feature wingspan feeds none of the model's inputs",
        ),
        (
            "short",
            format!("{classes}{}", features(&all[..5])),
            "no feature feeds the model's input \"sex\"",
        ),
        (
            "twice",
            format!(
                "{classes}{}[[features]]\nname = \"gender\"\ninput = \"sex\"\n",
                features(&all)
            ),
            "both feed input \"sex\"",
        ),
        (
            "nowhere",
            format!(
                "{classes}{}[[features]]\nname = \"x\"\ninput = \"wings\"\n",
                features(&all[..5])
            ),
            "has no input \"wings\"",
        ),
        (
            "order",
            format!(
                "classes = [\"Gentoo\", \"Adelie\", \"Chinstrap\"]\n{}",
                features(&all)
            ),
            "labels them",
        ),
        (
            "categories",
            format!(
                "{classes}{}[[features]]\nname = \"island\"\ncategories = [\"Biscoe\", \"Dream\", \"Atlantis\"]\n",
                features(&[&all[..4], &all[5..]].concat())
            ),
            "the encoder also knows [\"Torgersen\"]; the schema also lists [\"Atlantis\"]",
        ),
        (
            "numeric-categories",
            format!(
                "{classes}{}[[features]]\nname = \"body_mass_g\"\ncategories = [\"heavy\"]\n",
                features(&[&all[..3], &all[4..]].concat())
            ),
            "categories declared, but the model's input \"body_mass_g\" takes numbers",
        ),
    ] {
        std::fs::write(ws.join(format!("{name}.toml")), schema).unwrap();
        let (code, _, stderr) = out(warden(ws, "ana")
            .args(["model", "import"])
            .arg(fixtures.join("lr.onnx"))
            .args(["--name", "bad", "--schema", &format!("{name}.toml")]));
        assert_ne!(code, 0, "{name}");
        assert!(stderr.contains(want), "{name}: {stderr}");
    }
    // A model taking one matrix of numbers has no categories to declare.
    std::fs::write(
        ws.join("matrix.toml"),
        format!(
            "{classes}[[features]]\nname = \"bill_length_mm\"\ncategories = [\"long\"]\n{}",
            features(&all[1..4])
        ),
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("../onnx/linear.onnx"))
        .args(["--name", "bad", "--schema", "matrix.toml"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("takes only numbers"), "{stderr}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "ana").args(["model", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(count_events(ws, "model.import"), 1);
}

/// `model import --check` compares the import with the framework's own
/// probabilities (scikit-learn's, from the reference fixtures) and refuses
/// a batch the model does not reproduce, naming the row and class, with
/// nothing registered.
#[test]
fn an_import_check_batch_must_be_reproduced() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("reference.json")).unwrap())
            .unwrap();
    let features: Vec<&str> = reference["feature_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    let mut schema = String::from("classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\n");
    for f in &features {
        schema += &format!("[[features]]\nname = \"{f}\"\n");
    }
    std::fs::write(ws.join("penguins.toml"), schema).unwrap();
    // The framework's own probabilities: scikit-learn's predict_proba.
    let write_check = |path: &str, nudge: f64| {
        let rows = &reference["models"]["forest"]["rows_spread"];
        let mut csv = features.join(",");
        for c in ["Adelie", "Chinstrap", "Gentoo"] {
            csv += &format!(",probability:{c}");
        }
        csv.push('\n');
        let inputs = rows["inputs"].as_array().unwrap();
        let probs = rows["sklearn_probabilities"].as_array().unwrap();
        for (i, (x, p)) in inputs.iter().zip(probs).enumerate() {
            let mut line: Vec<String> = x
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect();
            for (k, v) in p.as_array().unwrap().iter().enumerate() {
                let v = v.as_f64().unwrap() + if i == 7 && k == 1 { nudge } else { 0.0 };
                line.push(format!("{v:?}"));
            }
            csv += &line.join(",");
            csv.push('\n');
        }
        std::fs::write(ws.join(path), csv).unwrap();
    };
    write_check("good.csv", 0.0);
    write_check("bad.csv", 0.01);
    let imported: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("forest.onnx"))
        .args([
            "--name",
            "rf",
            "--schema",
            "penguins.toml",
            "--check",
            "good.csv",
            "--json",
        ])))
    .unwrap();
    assert_eq!(imported["check"]["rows"], 20, "{imported}");
    assert!(imported["check"]["max_abs_diff"].as_f64().unwrap() < 1e-5);
    assert_eq!(
        imported["model"]["manifest"]["provenance"]["import_check"]["rows"], 20,
        "{}",
        imported["model"]["manifest"]["provenance"]
    );
    let (code, _, stderr) = out(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("forest.onnx"))
        .args([
            "--name",
            "rf2",
            "--schema",
            "penguins.toml",
            "--check",
            "bad.csv",
        ]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("bad.csv: row 8")
            && stderr.contains("\"Chinstrap\"")
            && stderr.contains("nothing was registered"),
        "{stderr}"
    );
    // A batch without a class's column is refused the same way.
    let text = std::fs::read_to_string(ws.join("good.csv")).unwrap();
    std::fs::write(
        ws.join("short.csv"),
        text.replace("probability:Gentoo", "p_gentoo"),
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("forest.onnx"))
        .args([
            "--name",
            "rf3",
            "--schema",
            "penguins.toml",
            "--check",
            "short.csv",
        ]));
    assert_ne!(code, 0);
    assert!(
        stderr.contains("no column \"probability:Gentoo\""),
        "{stderr}"
    );
    assert_eq!(count_events(ws, "model.import"), 1);

    // With the training data named, the import is profiled on it: drift
    // monitoring has a reference, undeclared features get their training
    // ranges, and the lineage links the model to the dataset.
    let mut csv = format!("species,{}\n", features.join(","));
    for part in ["rows", "rows_spread"] {
        let rows = &reference["models"]["forest"][part];
        for (x, y) in rows["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(rows["true_species"].as_array().unwrap())
        {
            let vals: Vec<String> = x
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.to_string())
                .collect();
            csv += &format!("{},{}\n", y.as_str().unwrap(), vals.join(","));
        }
    }
    std::fs::write(ws.join("penguins.csv"), &csv).unwrap();
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "penguins.csv",
        "--name",
        "penguins",
        "--target",
        "species",
    ]));
    let (code, _, stderr) = out(warden(ws, "ana").args([
        "monitor",
        "drift",
        "--reference",
        "model:rf@1",
        "--current",
        "penguins.csv",
    ]));
    assert_ne!(code, 0, "rf@1 has no profile");
    assert!(stderr.contains("no reference profile"), "{stderr}");
    let profiled: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
        .args(["model", "import"])
        .arg(fixtures.join("forest.onnx"))
        .args([
            "--name",
            "rf",
            "--schema",
            "penguins.toml",
            "--dataset",
            "penguins@1",
            "--json",
        ])))
    .unwrap();
    let m = &profiled["model"]["manifest"];
    assert_eq!(m["provenance"]["datasets"][0]["ref"], "penguins@1", "{m}");
    let bill = &m["input"]["features"][0];
    assert_eq!(bill["name"], "bill_length_mm");
    assert!(
        bill["min"].as_f64().unwrap() < bill["max"].as_f64().unwrap(),
        "{bill}"
    );
    let drift: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "monitor",
        "drift",
        "--reference",
        "model:rf@2",
        "--current",
        "penguins.csv",
        "--json",
    ])))
    .unwrap();
    assert_eq!(drift["drifted_features"], 0, "{drift}");
    assert_eq!(drift["prediction"]["verdict"], "stable", "{drift}");
    assert_eq!(drift["reference_rows"], 40, "{drift}");

    // The production gate asks an imported model for the evidence it can
    // give: the decision-based attack (no gradients), and membership
    // inference against a held-out version.
    ok(warden(ws, "ana").args(["eval", "rf@2", "--dataset", "penguins@1"]));
    let (code, stdout, _) = out(warden(ws, "ana").args(["gate", "rf@2", "--env", "production"]));
    assert_eq!(code, 4, "{stdout}");
    assert!(!stdout.contains("pgd"), "{stdout}");
    assert!(
        stdout.contains("evaluate it on a held-out version"),
        "{stdout}"
    );
}

/// XGBoost (JSON, UBJSON) and LightGBM (text) models import with no pickle
/// and no conversion, reproduce the frameworks' own probabilities on their
/// reference rows (missing values and split thresholds included), are
/// signed, exported and served from the package; bad files and schemas
/// are refused with nothing registered.
#[test]
fn xgboost_and_lightgbm_models_import_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/trees");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let models = reference["models"].as_object().unwrap();
    for (name, m) in models {
        let rows_of = m["rows_from"].as_str().unwrap_or(name);
        let r = &models[rows_of];
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_string())
                .collect()
        };
        let (features, classes) = (strings(&r["feature_names"]), strings(&r["classes"]));
        let mut schema = format!(
            "classes = [{}]\n",
            classes
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for f in &features {
            schema += &format!("[[features]]\nname = {f:?}\n");
        }
        std::fs::write(ws.join(format!("{name}.toml")), schema).unwrap();
        let mut check = features.join(",");
        for c in &classes {
            check += &format!(",probability:{c}");
        }
        check.push('\n');
        for row in r["rows"].as_array().unwrap() {
            let mut cells: Vec<String> = row["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().map(|x| format!("{x:?}")).unwrap_or_default())
                .collect();
            cells.extend(
                row["predict_proba"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| format!("{:?}", p.as_f64().unwrap())),
            );
            check += &cells.join(",");
            check.push('\n');
        }
        std::fs::write(ws.join(format!("{name}.check.csv")), check).unwrap();
        let imported: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
            .args(["model", "import"])
            .arg(dir.join(m["file"].as_str().unwrap()))
            .args(["--name", name, "--schema", &format!("{name}.toml")])
            .args([
                "--check",
                &format!("{name}.check.csv"),
                "--check-tolerance",
                "1e-6",
                "--json",
            ])))
        .unwrap();
        assert_eq!(imported["engine"], "boosted-trees", "{name}");
        assert_eq!(
            imported["check"]["rows"],
            r["rows"].as_array().unwrap().len(),
            "{name}"
        );
        assert!(
            imported["check"]["max_abs_diff"].as_f64().unwrap() <= 1e-6,
            "{name}: {imported}"
        );
        let kind = imported["model"]["manifest"]["model"]["kind"]
            .as_str()
            .unwrap();
        assert!(
            kind.starts_with(if name.starts_with("xgb") {
                "xgboost"
            } else {
                "lightgbm"
            }),
            "{kind}"
        );
    }
    // Exported packages verify and hold the model file itself.
    ok(warden(ws, "ana").args(["model", "export", "lgbm-binary@1", "--out", "lg"]));
    ok(warden(ws, "ana").args(["verify", "lg"]));
    assert!(ws.join("lg/model.trees").exists());
    // Predictions from the stored package: a missing value is allowed.
    std::fs::write(
        ws.join("people.csv"),
        "age,fnlwgt,education-num,capital-gain,capital-loss,hours-per-week\n39,77516,13,2174,0,40\n,160187,5,0,0,\n",
    )
    .unwrap();
    let p: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "model",
        "predict",
        "xgb-binary",
        "people.csv",
        "--json",
    ])))
    .unwrap();
    assert_eq!(p["predictions"].as_array().unwrap().len(), 2, "{p}");

    // Refused, with nothing registered: a truncated tree array, classes
    // the model does not have, an integer class order that is not the
    // model's, and a check batch the model does not reproduce.
    let text = std::fs::read_to_string(dir.join("lgbm-binary.txt")).unwrap();
    let cut = text.find("end of trees").unwrap();
    std::fs::write(ws.join("cut.txt"), &text[..cut]).unwrap();
    std::fs::write(
        ws.join("three.toml"),
        std::fs::read_to_string(ws.join("lgbm-binary.toml"))
            .unwrap()
            .replacen("classes = [", "classes = [\"extra\", ", 1),
    )
    .unwrap();
    let binary_features = std::fs::read_to_string(ws.join("lgbm-binary.toml")).unwrap();
    let flipped = format!(
        "classes = [\"1\", \"0\"]\n{}",
        binary_features.split_once('\n').unwrap().1
    );
    std::fs::write(ws.join("flipped.toml"), flipped).unwrap();
    let bad_check = std::fs::read_to_string(ws.join("xgb-multi.check.csv")).unwrap();
    let mut lines: Vec<String> = bad_check.lines().map(str::to_string).collect();
    let mut cells: Vec<String> = lines[3].split(',').map(str::to_string).collect();
    let last = cells.len() - 1;
    cells[last] = format!("{:?}", cells[last].parse::<f64>().unwrap() + 0.001);
    lines[3] = cells.join(",");
    std::fs::write(ws.join("bad.check.csv"), lines.join("\n") + "\n").unwrap();
    for (file, schema, extra, want) in [
        ("lgbm-binary.txt", "cut.toml", None, "end of trees"),
        (
            "lgbm-binary.txt",
            "three.toml",
            None,
            "the schema declares 3 classes, the model has 2",
        ),
        ("lgbm-binary.txt", "flipped.toml", None, "class indices"),
        (
            "xgb-multi.json",
            "xgb-multi.toml",
            Some("bad.check.csv"),
            "row 3",
        ),
    ] {
        let source = if schema == "cut.toml" {
            ws.join("cut.txt")
        } else {
            dir.join(file)
        };
        let schema = if schema == "cut.toml" {
            "lgbm-binary.toml"
        } else {
            schema
        };
        let mut cmd = warden(ws, "ana");
        cmd.args(["model", "import"])
            .arg(source)
            .args(["--name", "bad", "--schema", schema]);
        if let Some(c) = extra {
            cmd.args(["--check", c]);
        }
        let (code, _, stderr) = out(&mut cmd);
        assert_ne!(code, 0, "{file} {schema}");
        assert!(stderr.contains(want), "{file} {schema}: {stderr}");
    }
    assert_eq!(count_events(ws, "model.import"), models.len());
}

#[test]
fn evaluate_models_and_predictions() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "2000",
        "--seed",
        "9",
        "--out",
        "credit.csv",
        "--bias",
        "0.4",
    ]));
    ok(warden(ws, "ana").args([
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
        "--sensitive",
        "age_band",
        "--no-screen",
    ]));
    ok(warden(ws, "ana").args(["train", "--dataset", "credit@1", "--name", "credit"]));

    let ev: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "eval",
        "credit@1",
        "--dataset",
        "credit@1",
        "--privileged",
        "sex=M",
        "--report",
        "ev",
        "--json",
    ])))
    .unwrap();
    let r = &ev["report"];
    assert_eq!(r["rows"], 2000);
    assert!(r["performance"]["accuracy"].as_f64().unwrap() > 0.85);
    assert!(r["performance"]["roc_auc"].as_f64().unwrap() > 0.9);
    let attrs: Vec<&str> = r["fairness"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["attribute"].as_str().unwrap())
        .collect();
    assert_eq!(attrs, ["sex", "age_band", "sex&age_band"]);
    assert!(
        r["fairness"][0]["privileged"]["disparate_impact"]
            .as_f64()
            .is_some()
    );
    assert!(
        r["privacy"]["loss_threshold"]["auc"].as_f64().is_some(),
        "{}",
        r["privacy"]
    );
    assert!(ws.join("ev/report.md").exists() && ws.join("ev/report.json").exists());
    let md = std::fs::read_to_string(ws.join("ev/report.md")).unwrap();
    assert!(
        md.contains("## Fairness") && md.contains("membership"),
        "{md}"
    );
    assert_eq!(count_events(ws, "model.evaluate"), 1);
    // The event's headline membership AUC is the stronger attack's, as the
    // gate reads it.
    let logged: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "audit",
        "log",
        "--action",
        "model.evaluate",
        "--json",
    ])))
    .unwrap();
    let auc = |attack: &str| r["privacy"][attack]["auc"].as_f64().unwrap();
    assert_eq!(
        logged[0]["payload"]["membership_inference_auc"].as_f64(),
        Some(auc("loss_threshold").max(auc("confidence"))),
        "{}",
        r["privacy"]
    );

    // Bad input: named, nothing recorded.
    std::fs::write(
        ws.join("other.csv"),
        "age,income,approved\n30,1000,1\n40,2000,0\n",
    )
    .unwrap();
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "other.csv",
        "--name",
        "other",
        "--target",
        "approved",
        "--no-screen",
    ]));
    for (args, code, want) in [
        (
            vec!["eval", "credit@1", "--dataset", "other@1"],
            1,
            "missing column(s) loan_amount",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--sensitive",
                "religion",
            ],
            1,
            "\"religion\" is not a column",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--privileged",
                "region=north",
            ],
            2,
            "not one of the sensitive",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--privileged",
                "sex",
            ],
            2,
            "COL=VALUE",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--privileged",
                "sex=male",
            ],
            2,
            "values: F, M",
        ),
        (
            vec!["eval", "credit@9", "--dataset", "credit@1"],
            1,
            "not found",
        ),
        (vec!["eval", "credit@1"], 2, "--dataset"),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--attack",
                "boundary",
            ],
            2,
            "available: auto, fgsm, pgd, pgd_l2, hsj, none",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--attack",
                "auto,hsj",
            ],
            2,
            "not both",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--eps",
                "0.1,-0.2",
            ],
            2,
            "between 0 and 1000",
        ),
        (
            vec![
                "eval",
                "credit@1",
                "--dataset",
                "credit@1",
                "--immutable",
                "shoe_size",
            ],
            2,
            "not an input feature",
        ),
    ] {
        let (c, _, stderr) = out(warden(ws, "ana").args(&args));
        assert_eq!(c, code, "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    let (c, _, _) = out(warden(ws, "dana").args(["eval", "credit@1", "--dataset", "credit@1"]));
    assert_eq!(c, 3, "a data engineer may not evaluate");
    assert_eq!(count_events(ws, "model.evaluate"), 1);

    // Predictions made elsewhere: the fixed set the reference tests use.
    let preds = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../warden-ml/tests/data/fairness/predictions.csv");
    let p: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana")
        .args(["eval", "--predictions"])
        .arg(&preds)
        .args([
            "--label",
            "label",
            "--prediction",
            "prediction",
            "--score",
            "score",
            "--sensitive",
            "sex",
            "--sensitive",
            "region",
            "--json",
        ])))
    .unwrap();
    assert_eq!(p["performance"]["accuracy"], 0.8325);
    let sex = &p["fairness"][0];
    assert!((sex["demographic_parity_ratio"].as_f64().unwrap() - 0.6480254073460371).abs() < 1e-12);
    let east = p["fairness"][1]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == "east")
        .unwrap()
        .clone();
    assert!(
        east["tpr"]["undefined"]
            .as_str()
            .unwrap()
            .contains("no positive labels"),
        "{east}"
    );
    assert_eq!(
        count_events(ws, "model.evaluate"),
        1,
        "--predictions records nothing"
    );
}

#[test]
fn gates_decide_promotions_and_record_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    ok(warden(ws, "ana").args(["roles", "grant", "dana", "data-engineer"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "2000",
        "--seed",
        "4",
        "--out",
        "credit.csv",
    ]));
    ok(warden(ws, "dana").args([
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
        "--sensitive",
        "age_band",
    ]));
    ok(warden(ws, "sam").args(["train", "--dataset", "credit@1", "--name", "credit"]));

    // dev needs only the signature; staging needs an evaluation too.
    ok(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    let (code, stdout, _) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "staging"]));
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains("no evaluation of this model version"),
        "{stdout}"
    );
    ok(warden(ws, "sam").args(["eval", "credit@1", "--dataset", "credit@1"]));
    let gate: serde_json::Value = serde_json::from_str(
        &out(warden(ws, "sam").args(["gate", "credit@1", "--env", "staging", "--json"])).1,
    )
    .unwrap();
    assert_eq!(gate["input"]["version"], 1);
    assert_eq!(gate["input"]["signatures"][0]["valid"], true);
    assert_eq!(gate["input"]["datasets"][0]["screened"], true);
    assert!(gate["input"]["evaluation"]["metrics"]["accuracy"].is_number());
    if gate["allowed"] == true {
        ok(warden(ws, "sam").args(["promote", "credit@1", "--to", "staging"]));
    }
    // production asks for approvals and a model card, which this model lacks.
    let (code, stdout, _) =
        out(warden(ws, "sam").args(["promote", "credit@1", "--to", "production"]));
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains("approval") && stdout.contains("model card"),
        "{stdout}"
    );
    assert_eq!(count_events(ws, "gate.denied"), 2);
    assert!(count_events(ws, "model.promote") >= 1);
    let shown: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["model", "show", "credit@1", "--json"])
    ))
    .unwrap();
    assert!(
        shown["environments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "dev"),
        "{}",
        shown["environments"]
    );
    assert!(ok(warden(ws, "sam").args(["model", "show", "credit@1"])).contains("holds        dev"));
    let stages: Vec<(String, i64)> = {
        let c = db(ws);
        let mut st = c
            .prepare("SELECT env, version FROM stage_pointers ORDER BY env")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    assert!(
        stages.contains(&("dev".to_string(), 1)) && !stages.iter().any(|s| s.0 == "production"),
        "{stages:?}"
    );

    // The model card: generated, written by a person, attached; the gate counts what is missing.
    let card = ok(warden(ws, "sam").args(["model", "card", "credit@1"]));
    assert!(
        card.starts_with("---\nlicense: unknown\n") && card.contains("model-index:"),
        "{card}"
    );
    std::fs::write(ws.join("card.md"), &card).unwrap();
    let att: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["model", "card", "credit@1", "--attach", "card.md", "--json"])
    ))
    .unwrap();
    assert_eq!(att["missing"].as_array().unwrap().len(), 5, "{att}");
    let written = card
        .replace("license: unknown", "license: apache-2.0")
        .replace(
            "<!-- warden: write this section -->",
            "Written by a person.",
        );
    std::fs::write(ws.join("card.md"), written).unwrap();
    let att: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["model", "card", "credit@1", "--attach", "card.md", "--json"])
    ))
    .unwrap();
    assert_eq!(att["missing"], serde_json::json!([]));
    let (_, stdout, _) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "production"]));
    assert!(
        !stdout.contains("model card") && stdout.contains("approval"),
        "{stdout}"
    );
    assert_eq!(count_events(ws, "model.card"), 2);

    // Lineage: model → files, signature → dataset version → table → transform → source.
    let l: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "sam").args(["lineage", "credit@1", "--json"])
    ))
    .unwrap();
    let kinds: Vec<&str> = l["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    for k in [
        "model",
        "file",
        "signature",
        "dataset-version",
        "table",
        "transform",
        "source",
    ] {
        assert!(kinds.contains(&k), "{k}: {kinds:?}");
    }
    let source_digest = format!(
        "sha256:{}",
        hex::encode(sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(
                std::fs::read(ws.join("credit.csv")).unwrap()
            )
        ))
    );
    assert!(
        l["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["kind"] == "source" && n["digest"] == source_digest.as_str())
    );
    assert!(
        ok(warden(ws, "sam").args(["lineage", "credit@1", "--dot"]))
            .starts_with("digraph lineage {")
    );

    // The threat model: every STRIDE-LM category, scored, with controls or "open".
    let risks: serde_json::Value = serde_json::from_str(&ok(warden(ws, "sam").args([
        "threat-model",
        "--format",
        "json",
    ])))
    .unwrap();
    let cats: std::collections::BTreeSet<&str> = risks
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["category"].as_str().unwrap())
        .collect();
    assert_eq!(cats.len(), 7, "{cats:?}");
    let t2 = risks
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "T2")
        .unwrap();
    assert_eq!(
        (t2["status"].as_str(), t2["control"].as_str()),
        (Some("open"), Some("open")),
        "no source is pinned: {t2}"
    );
    assert!(risks.as_array().unwrap().iter().all(|r| r["score"].as_u64()
        == Some(r["likelihood"].as_u64().unwrap() * r["impact"].as_u64().unwrap())));
    assert!(
        ok(warden(ws, "sam").args(["threat-model", "--format", "csv"]))
            .starts_with("id,category,threat,")
    );

    // Misuse: unknown environment, a role that may not promote, a tampered package.
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "qa"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("dev, staging, production"));
    let (code, _, _) = out(warden(ws, "dana").args(["promote", "credit@1", "--to", "dev"]));
    assert_eq!(code, 3);
    let files: std::collections::BTreeMap<String, String> = {
        let c = db(ws);
        let f: String = c
            .query_row(
                "SELECT files FROM models WHERE name = 'credit' AND version = 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&f).unwrap()
    };
    let hex = files["weights.safetensors"]
        .trim_start_matches("sha256:")
        .to_string();
    let blob = ws
        .join(".warden/blobs/sha256")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let before = count_events(ws, "gate.denied") + count_events(ws, "model.promote");
    let (code, _, stderr) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(
        count_events(ws, "gate.denied") + count_events(ws, "model.promote"),
        before,
        "nothing recorded"
    );

    // A user gate: a syntax error names the file and line; a policy without deny is refused.
    std::fs::write(
        ws.join("gate.rego"),
        "package warden.gate\n\ndeny contains \"x\" if {\n  input.a ==\n}\n",
    )
    .unwrap();
    let cfg = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    std::fs::write(
        ws.join("warden.toml"),
        cfg.replace("[gates]", "[gates]\npolicy = [\"gate.rego\"]"),
    )
    .unwrap();
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("gate.rego:"), "{stderr}");
    std::fs::write(
        ws.join("gate.rego"),
        "package warden.gate\n\nallow := true\n",
    )
    .unwrap();
    // Unregistered, it decides nothing; registered, it is refused for
    // lacking `deny`.
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("dev policy on disk"), "{stderr}");
    ok(warden(ws, "ana").args(["policy", "register", "dev"]));
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("does not define"), "{stderr}");
    let (code, stdout, _) = out(warden(ws, "sam").args(["policy", "test"]));
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("0 test(s)"), "{stdout}");
}

#[test]
fn approvals_quarantine_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    for (who, role) in [
        ("sam", "ml-engineer"),
        ("lee", "approver"),
        ("kim", "approver"),
        ("omar", "operator"),
    ] {
        ok(warden(ws, "ana").args(["roles", "grant", who, role]));
    }
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "approver"]));
    // Approval keys belong to people: each approver enrols their own and
    // an admin acknowledges it.
    for (who, key) in [("lee", "lee-key"), ("kim", "kim-key"), ("sam", "sam-key")] {
        ok(warden(ws, who).args(["keys", "enrol", key]));
        ok(warden(ws, "ana").args(["keys", "acknowledge", key]));
    }
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "1500",
        "--seed",
        "6",
        "--out",
        "credit.csv",
    ]));
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--sensitive",
        "sex",
        "--no-screen",
    ]));
    ok(warden(ws, "sam").args([
        "train",
        "--dataset",
        "credit@1",
        "--name",
        "credit",
        "--seed",
        "1",
    ]));
    ok(warden(ws, "sam").args([
        "train",
        "--dataset",
        "credit@1",
        "--name",
        "credit",
        "--seed",
        "2",
    ]));

    // Approvals: signed, counted by the gate, with separation of duties.
    let (code, _, stderr) = out(warden(ws, "sam").args([
        "approve",
        "credit@2",
        "--env",
        "production",
        "--key",
        "sam-key",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("author"), "{stderr}");
    let (code, _, _) = out(warden(ws, "omar").args([
        "approve",
        "credit@2",
        "--env",
        "production",
        "--key",
        "kim-key",
    ]));
    assert_eq!(code, 3, "an operator may not approve");
    let a: serde_json::Value = serde_json::from_str(&ok(warden(ws, "lee").args([
        "approve",
        "credit@2",
        "--env",
        "production",
        "--key",
        "lee-key",
        "--comment",
        "reviewed",
        "--json",
    ])))
    .unwrap();
    assert_eq!(a["envelope"]["payloadType"], "application/vnd.in-toto+json");
    let (code, _, stderr) = out(warden(ws, "lee").args([
        "approve",
        "credit@2",
        "--env",
        "production",
        "--key",
        "lee-key",
    ]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("already approved"), "{stderr}");
    ok(warden(ws, "kim").args([
        "approve",
        "credit@2",
        "--env",
        "production",
        "--key",
        "kim-key",
    ]));
    let gate: serde_json::Value = serde_json::from_str(
        &out(warden(ws, "sam").args(["gate", "credit@2", "--env", "production", "--json"])).1,
    )
    .unwrap();
    // The input is the typed policy input, field for field.
    let typed: warden::policy_input::PolicyInput =
        serde_json::from_value(gate["input"].clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), gate["input"]);
    assert_eq!(typed.approvals.len(), 2);
    let approvals = gate["input"]["approvals"].as_array().unwrap();
    assert_eq!(approvals.len(), 2);
    assert!(
        approvals
            .iter()
            .all(|x| x["valid"] == true && x["distinct_from_author"] == true),
        "{approvals:?}"
    );
    assert!(
        !gate["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("approval")),
        "{}",
        gate["reasons"]
    );
    // A revoked key voids its approvals.
    ok(warden(ws, "ana").args(["keys", "revoke", "kim-key"]));
    let gate: serde_json::Value = serde_json::from_str(
        &out(warden(ws, "sam").args(["gate", "credit@2", "--env", "production", "--json"])).1,
    )
    .unwrap();
    let kim = gate["input"]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["approver"] == "kim")
        .unwrap()
        .clone();
    assert_eq!(kim["valid"], false);
    assert!(kim["error"].as_str().unwrap().contains("revoked"), "{kim}");
    assert!(
        gate["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("1 valid approval"))
    );

    // Rollback: to the last version that passed and is not quarantined.
    ok(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    ok(warden(ws, "sam").args(["promote", "credit@2", "--to", "dev"]));
    let (code, _, stderr) = out(warden(ws, "sam").args(["rollback", "credit", "--env", "dev"]));
    assert_eq!(code, 3, "an ml-engineer may not roll back: {stderr}");
    let r: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "omar").args(["rollback", "credit", "--env", "dev", "--json"])
    ))
    .unwrap();
    assert_eq!((r["from"].as_u64(), r["to"].as_u64()), (Some(2), Some(1)));
    // A second rollback goes further back, not forward to the version just
    // rolled back from: here there is nothing before credit@1.
    let (code, _, stderr) = out(warden(ws, "omar").args(["rollback", "credit", "--env", "dev"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nothing to roll back to"), "{stderr}");
    let (code, _, stderr) =
        out(warden(ws, "omar").args(["rollback", "credit", "--env", "staging"]));
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(
            "nothing to roll back to: no earlier version of credit passed the staging gate"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("not found"), "{stderr}");

    // Quarantine: out of every environment, promotion blocked until an admin releases it.
    let q: serde_json::Value = serde_json::from_str(&ok(warden(ws, "omar").args([
        "quarantine",
        "credit@1",
        "--reason",
        "poisoned source",
        "--json",
    ])))
    .unwrap();
    assert_eq!(q["removed_from"], serde_json::json!(["dev"]));
    let (code, stdout, _) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    assert_eq!(code, 4);
    assert!(stdout.contains("quarantined"), "{stdout}");
    // dev is empty now; the last version that passed it and is not quarantined is credit@2.
    let r: serde_json::Value = serde_json::from_str(&ok(
        warden(ws, "omar").args(["rollback", "credit", "--env", "dev", "--json"])
    ))
    .unwrap();
    assert_eq!((r["from"].as_u64(), r["to"].as_u64()), (None, Some(2)));
    let (code, _, _) =
        out(warden(ws, "omar").args(["release", "credit@1", "--reason", "false alarm"]));
    assert_eq!(code, 3, "only an admin releases");
    ok(warden(ws, "ana").args(["release", "credit@1", "--reason", "false alarm"]));
    ok(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    for action in [
        "model.approve",
        "model.quarantine",
        "model.release",
        "model.rollback",
    ] {
        assert!(count_events(ws, action) >= 1, "{action}");
    }
    ok(warden(ws, "ana").args(["audit", "verify"]));
}

/// Rollback follows the environment's history from the log: back means
/// what the environment held before its current holder, never a version
/// it was rolled back from, however promotions and rollbacks interleave.
#[test]
fn rollback_goes_back_through_the_environments_history() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["roles", "grant", "omar", "operator"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "600",
        "--seed",
        "3",
        "--out",
        "credit.csv",
    ]));
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--sensitive",
        "sex",
        "--no-screen",
    ]));
    for seed in ["1", "2", "3"] {
        ok(warden(ws, "ana").args([
            "train",
            "--dataset",
            "credit@1",
            "--name",
            "credit",
            "--seed",
            seed,
        ]));
    }
    let rollback = || -> Result<(Option<u64>, u64), String> {
        let (code, stdout, stderr) =
            out(warden(ws, "omar").args(["rollback", "credit", "--env", "dev", "--json"]));
        if code != 0 {
            return Err(stderr);
        }
        let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        Ok((r["from"].as_u64(), r["to"].as_u64().unwrap()))
    };
    let promote = |v: &str| ok(warden(ws, "ana").args(["promote", v, "--to", "dev"]));
    promote("credit@1");
    promote("credit@2");
    assert_eq!(rollback(), Ok((Some(2), 1)));
    // Rolled back from 2, then 3 comes in: back from 3 is 1, not 2.
    promote("credit@3");
    // An insider with database access adds an allowed dev decision for
    // credit@2 after credit@3's, to steer the rollback there: the target
    // comes from the log, so the row changes nothing.
    rusqlite::Connection::open(ws.join(".warden/warden.db"))
        .unwrap()
        .execute_batch(
            "INSERT INTO gate_decisions (id, model, version, env, allowed, reasons, policy_digest, input_digest, created_by, created_at) \
             SELECT (SELECT MAX(id) + 1 FROM gate_decisions), model, 2, env, 1, reasons, policy_digest, input_digest, created_by, created_at \
             FROM gate_decisions WHERE model = 'credit' AND version = 3 AND env = 'dev'",
        )
        .unwrap();
    assert_eq!(rollback(), Ok((Some(3), 1)));
    // 1 promoted again while it holds the environment changes nothing:
    // there is still nothing before it.
    promote("credit@1");
    let e = rollback().unwrap_err();
    assert!(e.contains("nothing to roll back to"), "{e}");
    // 1, then 2, then 1 again deliberately: back from that 1 is 2, then 1.
    promote("credit@2");
    promote("credit@1");
    assert_eq!(rollback(), Ok((Some(1), 2)));
    assert_eq!(rollback(), Ok((Some(2), 1)));
    ok(warden(ws, "ana").args(["audit", "verify"]));
}

/// An incident report is the published `IncidentReport` document: its
/// lineage names the dataset and the other version trained on it.
#[test]
fn an_incident_report_is_a_typed_document() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "600",
        "--seed",
        "4",
        "--out",
        "credit.csv",
    ]));
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "credit.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--sensitive",
        "sex",
        "--no-screen",
    ]));
    for seed in ["1", "2"] {
        ok(warden(ws, "ana").args([
            "train",
            "--dataset",
            "credit@1",
            "--name",
            "credit",
            "--seed",
            seed,
        ]));
    }
    ok(warden(ws, "ana").args(["promote", "credit@1", "--to", "dev"]));
    let opened: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "incident",
        "open",
        "--model",
        "credit@1",
        "--kind",
        "poisoning",
        "--summary",
        "labels flipped upstream",
        "--json",
    ])))
    .unwrap();
    let report: warden::IncidentReport = serde_json::from_value(opened["report"].clone()).unwrap();
    assert_eq!(serde_json::to_value(&report).unwrap(), opened["report"]);
    assert_eq!(report.format, "warden.incident/v1");
    assert_eq!(report.model.reference, "credit@1");
    assert_eq!(report.lineage.datasets, ["credit@1"]);
    assert_eq!(report.lineage.sources.len(), 1);
    assert_eq!(report.models_on_the_same_datasets.len(), 1);
    assert_eq!(report.models_on_the_same_datasets[0].model, "credit@2");
    assert_eq!(report.removed_from, ["dev"]);
    assert!(!report.runbook.is_empty() && report.raised_by.is_none());
}

#[test]
fn api_keys_are_shown_once_stored_hashed_and_revocable() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["roles", "grant", "sam", "ml-engineer"]));
    let key = ok(warden(ws, "ana").args([
        "apikey",
        "create",
        "web",
        "--role",
        "predictor",
        "--expires",
        "90d",
    ]));
    let key = key.trim();
    assert!(key.starts_with("wdn_"), "{key}");
    let created: serde_json::Value = serde_json::from_str(&ok(warden(ws, "ana").args([
        "apikey",
        "create",
        "--name",
        "ops",
        "--role",
        "operator",
        "--rate-limit",
        "5",
        "--json",
    ])))
    .unwrap();
    assert!(created["key"].as_str().unwrap().starts_with("wdn_"));
    assert_eq!(created["rate_limit"], 5.0);
    // Neither key is anywhere in the database; only keyed hashes are.
    let conn = db(ws);
    let stored: Vec<String> = conn
        .prepare("SELECT key_hash FROM api_keys")
        .unwrap()
        .query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 2);
    let raw = std::fs::read(ws.join(".warden/warden.db")).unwrap();
    // `wdn_<12 hex>_<secret>`; the secret is base64url, so it may itself
    // hold `_`: split after the id, not at the last underscore.
    let secret = key
        .strip_prefix("wdn_")
        .and_then(|rest| rest.split_once('_'))
        .map(|(_, secret)| secret)
        .unwrap();
    assert_eq!(secret.len(), 43, "{key}");
    assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    assert!(stored.iter().all(|h| !h.contains(secret)));
    // Listing never shows a key or a hash.
    let list = ok(warden(ws, "ana").args(["apikey", "list", "--json"]));
    assert!(
        !list.contains(secret) && !list.contains("key_hash"),
        "{list}"
    );
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    // Names are unique, roles must exist, expiry must be in the future; nothing is written on refusal.
    let (code, _, err) =
        out(warden(ws, "ana").args(["apikey", "create", "web", "--role", "predictor"]));
    assert_ne!(code, 0, "{err}");
    let (code, _, err) = out(warden(ws, "ana").args(["apikey", "create", "x", "--role", "wizard"]));
    assert_ne!(code, 0);
    assert!(err.contains("wizard"), "{err}");
    let (code, _, err) = out(warden(ws, "ana").args([
        "apikey",
        "create",
        "y",
        "--role",
        "predictor",
        "--expires",
        "2001-01-01T00:00:00Z",
    ]));
    assert_ne!(code, 0);
    assert!(err.contains("past"), "{err}");
    // Only those the policy allows manage keys.
    let (code, _, _) =
        out(warden(ws, "sam").args(["apikey", "create", "z", "--role", "predictor"]));
    assert_eq!(code, 3);
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM api_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    // Revocation is recorded and audited.
    ok(warden(ws, "ana").args(["apikey", "revoke", "web"]));
    let list: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "ana").args(["apikey", "list", "--json"]))).unwrap();
    let web = list
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "web")
        .unwrap();
    assert!(!web["revoked_at"].is_null(), "{web}");
    let (code, _, _) = out(warden(ws, "ana").args(["apikey", "revoke", "web"]));
    assert_ne!(code, 0);
    let log: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "ana").args(["audit", "log", "--json"]))).unwrap();
    let count = |a: &str| {
        log.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == a)
            .count()
    };
    assert_eq!(count("apikey.create"), 2, "{log}");
    assert_eq!(count("apikey.revoke"), 1, "{log}");
    ok(warden(ws, "ana").args(["audit", "verify"]));
}

#[test]
fn a_reader_that_closes_the_pipe_early_gets_a_quiet_exit() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(warden(ws, "ana").args(["init", "."]));
    for i in 0..3 {
        ok(warden(ws, "ana").args(["roles", "grant", &format!("u{i}"), "auditor"]));
    }
    for args in [
        vec!["audit", "log", "--json"],
        vec!["audit", "log"],
        vec!["roles", "list"],
        vec!["--help"],
    ] {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("warden"));
        cmd.args(&args)
            .current_dir(ws)
            .env("WARDEN_ACTOR", "ana")
            .env("WARDEN_CONFIG_DIR", user_dir("ana"))
            .env_remove("WARDEN_WORKSPACE")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        // The reader goes away before the command writes anything.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn init_keeps_private_state_out_of_git_and_leaves_an_existing_gitignore() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("fresh");
    std::fs::create_dir(&ws).unwrap();
    ok(warden(&ws, "ana").args(["init", "."]));
    let ignore = std::fs::read_to_string(ws.join(".gitignore")).unwrap();
    for line in [".warden/keys/", ".warden/warden.db", ".warden/blobs/"] {
        assert!(ignore.lines().any(|l| l == line), "{ignore}");
    }
    let other = tmp.path().join("repo");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join(".gitignore"), "target/\n").unwrap();
    ok(warden(&other, "ana").args(["init", "."]));
    assert_eq!(
        std::fs::read_to_string(other.join(".gitignore")).unwrap(),
        "target/\n"
    );
}

/// Runs the demo's "Try:" lines exactly as printed, in one shell (so `cd`
/// and `export` carry over), with `warden` on the PATH: each must exit 0,
/// or the code its `# exit N` comment announces.
fn run_printed_commands(stdout: &str) {
    let block: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.ends_with("Try:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    assert!(block.len() >= 5, "{stdout}");
    let mut script = String::from("set +e\n");
    for (i, line) in block.iter().enumerate() {
        script.push_str(&format!("{line}\necho \"@@ {i} $?\"\n"));
    }
    let bin = assert_cmd::cargo::cargo_bin("warden");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = std::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .env("PATH", path)
        .env("WARDEN_CONFIG_DIR", user_dir("newcomer"))
        .env_remove("WARDEN_ACTOR")
        .env_remove("WARDEN_WORKSPACE")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    for (i, line) in block.iter().enumerate() {
        let expected: i32 = line
            .split("# exit ")
            .nth(1)
            .and_then(|r| r.split(':').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let got: i32 = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("@@ {i} ")))
            .and_then(|c| c.trim().parse().ok())
            .unwrap_or(-1);
        assert_eq!(got, expected, "{line}\nstdout:\n{out}\nstderr:\n{err}");
    }
}

/// Every document kept as text in a registry row is parsed at the store
/// boundary: one that no longer parses (or parses to the wrong shape) is a
/// loud `Corrupt` error naming the row, exit code 5, never a silent default.
#[test]
fn stored_documents_that_do_not_parse_are_corrupt_not_defaults() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "600",
        "--seed",
        "3",
        "--out",
        "credit.csv",
    ]));
    ok(warden(ws, "ana").args([
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
        "--sensitive",
        "age_band",
        "--no-screen",
    ]));
    ok(warden(ws, "ana").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    ok(warden(ws, "ana").args([
        "eval",
        "credit@1",
        "--dataset",
        "credit@1",
        "--attack",
        "none",
    ]));
    ok(warden(ws, "ana").args(["promote", "credit@1", "--to", "dev"]));
    // A closed monitoring window, as the server's monitor records it.
    db(ws)
        .execute(
            "INSERT INTO monitor_windows VALUES (1, 'credit', 1, 'dev', 10, 0, 0, 0, '{}', \
             '2026-01-01T00:00:00.000000Z', '2026-01-01T00:01:00.000000Z')",
            [],
        )
        .unwrap();
    ok(warden(ws, "ana").args(["monitor", "status", "credit"]));

    // (table, column, row filter, the command that reads it, the object named)
    let cases: [(&str, &str, &str, &[&str], &str); 6] = [
        (
            "datasets",
            "manifest",
            "name = 'credit'",
            &["data", "list"],
            "dataset credit@1",
        ),
        (
            "models",
            "manifest",
            "name = 'credit'",
            &["model", "show", "credit@1"],
            "model credit@1",
        ),
        (
            "models",
            "files",
            "name = 'credit'",
            &["model", "list"],
            "model credit@1",
        ),
        (
            "evaluations",
            "report",
            "model = 'credit'",
            &["model", "card", "credit@1"],
            "evaluation 1 of credit@1",
        ),
        (
            "gate_decisions",
            "reasons",
            "model = 'credit'",
            &["model", "passport", "credit@1"],
            "gate decision on credit@1",
        ),
        (
            "monitor_windows",
            "report",
            "id = 1",
            &["monitor", "status", "credit"],
            "monitoring window 1 of credit",
        ),
    ];
    for (table, column, filter, cmd, object) in cases {
        let c = db(ws);
        let original: String = c
            .query_row(
                &format!("SELECT {column} FROM {table} WHERE {filter}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let wrong_shape = if column == "reasons" { "{}" } else { "null" };
        for bad in ["{\"truncated\": ", wrong_shape] {
            c.execute(
                &format!("UPDATE {table} SET {column} = ?1 WHERE {filter}"),
                [bad],
            )
            .unwrap();
            let (code, stdout, stderr) = out(warden(ws, "ana").args(cmd));
            assert_eq!(
                code, 5,
                "{table}.{column} = {bad:?}: {cmd:?}\n{stdout}\n{stderr}"
            );
            assert!(
                stderr.contains(object) && stderr.contains("is corrupt"),
                "{table}.{column} = {bad:?}: {cmd:?}\n{stderr}"
            );
        }
        c.execute(
            &format!("UPDATE {table} SET {column} = ?1 WHERE {filter}"),
            [&original],
        )
        .unwrap();
        ok(warden(ws, "ana").args(cmd));
    }

    // A document that parses as JSON but whose typed parts do not: each
    // section a lower layer owns is read whole, with the manifest.
    // (table, row filter, the path within the manifest, the command, the object named)
    type Section<'a> = (&'a str, &'a str, &'a [&'a str], &'a [&'a str], &'a str);
    let sections: [Section; 5] = [
        (
            "models",
            "name = 'credit'",
            &["training", "metrics"],
            &["model", "show", "credit@1"],
            "model credit@1",
        ),
        (
            "models",
            "name = 'credit'",
            &["training", "config"],
            &["model", "passport", "credit@1"],
            "model credit@1",
        ),
        (
            "models",
            "name = 'credit'",
            &["preprocessing"],
            &["model", "list"],
            "model credit@1",
        ),
        (
            "datasets",
            "name = 'credit'",
            &["transform", "spec", "pii_actions"],
            &["data", "list"],
            "dataset credit@1",
        ),
        (
            "datasets",
            "name = 'credit'",
            &["output", "schema"],
            &["data", "list"],
            "dataset credit@1",
        ),
    ];
    for (table, filter, path, cmd, object) in sections {
        let c = db(ws);
        let original: String = c
            .query_row(
                &format!("SELECT manifest FROM {table} WHERE {filter}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&original).unwrap();
        let mut at = &mut doc;
        for key in path {
            at = at
                .get_mut(*key)
                .unwrap_or_else(|| panic!("{path:?} in {original}"));
        }
        *at = serde_json::json!("not this");
        c.execute(
            &format!("UPDATE {table} SET manifest = ?1 WHERE {filter}"),
            [doc.to_string()],
        )
        .unwrap();
        let (code, stdout, stderr) = out(warden(ws, "ana").args(cmd));
        assert_eq!(code, 5, "{path:?}: {cmd:?}\n{stdout}\n{stderr}");
        assert!(
            stderr.contains(object) && stderr.contains("is corrupt"),
            "{path:?}: {cmd:?}\n{stderr}"
        );
        c.execute(
            &format!("UPDATE {table} SET manifest = ?1 WHERE {filter}"),
            [&original],
        )
        .unwrap();
        ok(warden(ws, "ana").args(cmd));
    }
}

/// Heavy label flipping makes the labels hard to separate, so the screen
/// lists no suspects; its estimate of wrong labels still reaches the gate,
/// which denies staging until the owner sets a limit for a naturally noisy
/// dataset. A version relabelled against the previous one is caught by id.
#[test]
fn heavy_label_poisoning_is_denied_at_staging() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    let ingest = |csv: &str, name: &str, extra: &[&str]| {
        let mut args = vec![
            "data",
            "ingest",
            csv,
            "--name",
            name,
            "--target",
            "approved",
            "--id",
            "customer_id",
            "--sensitive",
            "sex",
            "--sensitive",
            "age_band",
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str::<serde_json::Value>(&ok(warden(ws, "ana").args(&args))).unwrap()
    };
    ok(warden(ws, "ana").args([
        "example", "credit", "--rows", "3000", "--seed", "5", "--out", "p.csv", "--poison", "0.2",
    ]));
    let r = ingest("p.csv", "credit", &[]);
    let noise = &r["dataset"]["manifest"]["checks"]["label_noise"];
    let est = noise["estimate"].as_f64().unwrap();
    assert!((0.15..0.25).contains(&est), "{noise}");
    assert!(noise["interval"][0].as_f64().unwrap() < est);
    assert_eq!(
        r["report"]["screen"]["suspect_rows"], 0,
        "{}",
        r["report"]["screen"]
    );
    ok(warden(ws, "ana").args(["train", "--dataset", "credit@1", "--name", "credit"]));
    ok(warden(ws, "ana").args([
        "eval",
        "credit@1",
        "--dataset",
        "credit@1",
        "--attack",
        "none",
    ]));
    let (code, stdout, _) = out(warden(ws, "ana").args(["gate", "credit@1", "--env", "staging"]));
    assert_eq!(code, 4, "{stdout}");
    assert!(stdout.contains("of its labels are wrong"), "{stdout}");
    assert!(stdout.contains("--max-label-noise"), "{stdout}");

    // The owner of a naturally noisy dataset sets its limit; out of range is refused.
    let (code, _, stderr) = out(warden(ws, "ana").args([
        "data",
        "ingest",
        "p.csv",
        "--name",
        "credit",
        "--target",
        "approved",
        "--max-label-noise",
        "1.5",
    ]));
    assert_eq!(code, 2, "{stderr}");
    ingest("p.csv", "credit", &["--max-label-noise", "0.3"]);
    ok(warden(ws, "ana").args(["train", "--dataset", "credit@2", "--name", "credit"]));
    ok(warden(ws, "ana").args([
        "eval",
        "credit@2",
        "--dataset",
        "credit@2",
        "--attack",
        "none",
    ]));
    // The owner who ingests cannot accept heavy noise alone: their limit
    // counts only up to the ceiling the gate's admins registered (15%).
    let (code, stdout, _) = out(warden(ws, "ana").args(["gate", "credit@2", "--env", "staging"]));
    assert_eq!(code, 4, "{stdout}");
    assert!(
        stdout.contains("the owner's limit 30% is above the ceiling 15%"),
        "{stdout}"
    );

    // A clean version, then one with 3% of its labels flipped: the flips
    // are found by id against the version before.
    ok(warden(ws, "ana").args([
        "example", "credit", "--rows", "3000", "--seed", "6", "--out", "c.csv",
    ]));
    ok(warden(ws, "ana").args([
        "example", "credit", "--rows", "3000", "--seed", "6", "--out", "f.csv", "--poison", "0.03",
    ]));
    ingest("c.csv", "loans", &[]);
    let r = ingest("f.csv", "loans", &[]);
    let flipped = r["report"]["screen"]["relabelled"]["count"]
        .as_u64()
        .unwrap();
    assert_eq!(flipped, 90, "{}", r["report"]["screen"]["relabelled"]);
    assert_eq!(r["dataset"]["manifest"]["checks"]["relabelled"], 90);
}

/// `--drop-suspects` leaves the screen's suspect rows out of the stored
/// table, records how many in the manifest and the log, and the staging
/// gate's suspect check then passes; the suspects stay in the report.
#[test]
fn suspect_rows_can_be_dropped_at_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args([
        "example", "credit", "--rows", "3000", "--seed", "7", "--out", "p.csv", "--poison", "0.05",
    ]));
    let ingest = |extra: &[&str]| {
        let mut args = vec![
            "data",
            "ingest",
            "p.csv",
            "--name",
            "credit",
            "--target",
            "approved",
            "--id",
            "customer_id",
            "--sensitive",
            "sex",
            "--sensitive",
            "age_band",
            "--json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str::<serde_json::Value>(&ok(warden(ws, "ana").args(&args))).unwrap()
    };
    let kept = ingest(&[]);
    let suspects = kept["report"]["screen"]["suspect_rows"].as_u64().unwrap();
    assert!(suspects > 30, "{}", kept["report"]["screen"]);
    assert!(
        kept["dataset"]["manifest"]["checks"]["suspect_fraction"]
            .as_f64()
            .unwrap()
            > 0.02
    );
    assert!(
        kept["dataset"]["manifest"]["checks"]
            .get("dropped_suspects")
            .is_none()
    );

    let dropped = ingest(&["--drop-suspects"]);
    let m = &dropped["dataset"]["manifest"];
    assert_eq!(m["checks"]["dropped_suspects"], suspects, "{m}");
    assert_eq!(m["checks"]["suspect_fraction"], 0.0, "{m}");
    assert_eq!(dropped["report"]["dropped_suspects"]["count"], suspects);
    assert_eq!(dropped["report"]["output_rows"], 3000 - suspects);
    assert_eq!(
        dropped["dataset"]["rows"],
        3000 - suspects,
        "{}",
        dropped["dataset"]
    );
    // The suspects are still in the report, as the screen saw them.
    assert_eq!(dropped["report"]["screen"]["suspect_rows"], suspects);
    let log: serde_json::Value =
        serde_json::from_str(&ok(warden(ws, "ana").args(["audit", "log", "--json"]))).unwrap();
    let last_ingest = log
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] == "data.ingest")
        .unwrap();
    assert_eq!(
        last_ingest["payload"]["dropped_suspects"], suspects,
        "{last_ingest}"
    );

    // The dropped version trains and passes the staging gate's suspect check.
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["train", "--dataset", "credit@2", "--name", "credit"]));
    ok(warden(ws, "ana").args([
        "eval",
        "credit@1",
        "--dataset",
        "credit@2",
        "--attack",
        "none",
    ]));
    let (_, stdout, _) = out(warden(ws, "ana").args(["gate", "credit@1", "--env", "staging"]));
    assert!(!stdout.contains("poisoning suspects"), "{stdout}");

    // Without the screen there is nothing to drop.
    let (code, _, stderr) = out(warden(ws, "ana").args([
        "data",
        "ingest",
        "p.csv",
        "--name",
        "other",
        "--target",
        "approved",
        "--no-screen",
        "--drop-suspects",
    ]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--drop-suspects needs the poisoning screen"),
        "{stderr}"
    );
}

/// A directory where a CSV file is expected is named in the error, for
/// every command that reads one.
#[test]
fn a_directory_given_as_input_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    std::fs::create_dir(ws.join("dd")).unwrap();
    for args in [
        vec!["data", "ingest", "dd", "--name", "x"],
        vec!["data", "profile", "dd"],
        vec!["monitor", "drift", "--reference", "dd", "--current", "dd"],
    ] {
        let (code, _, stderr) = out(warden(ws, "ana").args(&args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("dd: is a directory"), "{args:?}: {stderr}");
        assert!(!stderr.contains("os error"), "{args:?}: {stderr}");
    }
}

/// Under `--json` an error is one JSON object on stderr, with the kind of
/// failure, the message, the hint and the exit code.
#[test]
fn errors_under_json_are_json() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    let (code, stdout, stderr) = out(warden(ws, "eve").args(["keys", "generate", "k", "--json"]));
    assert_eq!(code, 3, "{stdout}{stderr}");
    let e: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(e["error"]["kind"], "not_authorised");
    assert_eq!(e["error"]["exit_code"], 3);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("eve may not")
    );
    assert!(
        e["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("roles grant eve")
    );
    let (code, _, stderr) = out(warden(ws, "ana").args(["model", "show", "nope@1", "--json"]));
    assert_eq!(code, 1);
    let e: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(e["error"]["kind"], "error");
    assert!(e["error"]["hint"].is_null());
}

/// A protected characteristic used as a feature, or redacted free text kept
/// as one, is pointed out at ingest with the flag that excludes it.
#[test]
fn ingest_warns_about_protected_and_redacted_features() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["example", "credit", "--rows", "400", "--out", "c.csv"]));
    let (code, stdout, stderr) = out(warden(ws, "ana").args([
        "data",
        "ingest",
        "c.csv",
        "--name",
        "c",
        "--target",
        "approved",
        "--no-screen",
        "--json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let w: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    assert!(
        w.iter()
            .any(|m| m.contains("\"sex\"") && m.contains("--sensitive sex")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|m| m.contains("\"notes\"") && m.contains("--features")),
        "{w:?}"
    );
    assert!(stderr.contains("warning: column \"sex\""), "{stderr}");
    // Declared sensitive, it is no longer a feature, and no warning is given for it.
    let (_, stdout, _) = out(warden(ws, "ana").args([
        "data",
        "ingest",
        "c.csv",
        "--name",
        "c",
        "--target",
        "approved",
        "--no-screen",
        "--json",
        "--sensitive",
        "sex",
    ]));
    let r: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        !r["warnings"].to_string().contains("\\\"sex\\\""),
        "{}",
        r["warnings"]
    );
}

/// The HTML evaluation report says which figures fail the gate: every
/// figure that is below (or above) the bundled limit, computed here from
/// report.json, has a FAIL row; passing figures have pass rows.
#[test]
fn evaluation_reports_mark_each_figure_that_fails_the_gate() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args([
        "example", "credit", "--rows", "2000", "--seed", "2", "--out", "c.csv", "--bias", "0.9",
    ]));
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "c.csv",
        "--name",
        "c",
        "--target",
        "approved",
        "--id",
        "customer_id",
        "--sensitive",
        "age_band",
        "--no-screen",
    ]));
    // sex is a feature of this model, and the data is biased by sex.
    ok(warden(ws, "ana").args(["train", "--dataset", "c@1", "--name", "c"]));
    ok(warden(ws, "ana").args([
        "eval",
        "c@1",
        "--dataset",
        "c@1",
        "--report",
        "ev",
        "--sensitive",
        "sex",
        "--sensitive",
        "age_band",
    ]));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.join("ev/report.json")).unwrap()).unwrap();
    let html = std::fs::read_to_string(ws.join("ev/report.html")).unwrap();
    let row = |figure: &str, verdict: &str| {
        html.split("<tr")
            .any(|r| r.contains(&format!("data-gate=\"{verdict}\"")) && r.contains(figure))
    };
    let mut fails = 0;
    for f in report["fairness"].as_array().unwrap() {
        let attr = f["attribute"].as_str().unwrap();
        let figure = format!("demographic parity ratio ({})", attr.replace('&', "&amp;"));
        match f["demographic_parity_ratio"].as_f64() {
            Some(v) if v >= 0.8 => assert!(row(&figure, "pass"), "{figure} {v}"),
            v => {
                fails += 1;
                assert!(row(&figure, "fail"), "{figure} {v:?} not marked:\n{html}");
            }
        }
    }
    let pgd = report["robustness"]["attacks"]["pgd_linf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| (x["eps"].as_f64().unwrap() - 0.1).abs() < 1e-9)
        .unwrap()["robust_accuracy"]
        .as_f64()
        .unwrap();
    let verdict = if pgd >= 0.5 { "pass" } else { "fail" };
    assert!(row("robust accuracy (pgd_linf, eps 0.1)", verdict), "{pgd}");
    assert!(
        fails >= 1,
        "the biased data should fail demographic parity: {}",
        report["fairness"]
    );
    assert!(html.contains("FAIL the production gate"), "{html}");
    assert!(html.contains("Confusion matrix"));
    // Every fairness figure of report.json is in the page: the equal
    // opportunity ratio beside its difference, and the all-rows indices.
    let eo = html
        .split("equal opportunity difference ")
        .skip(1)
        .filter(|s| s.split(';').next().unwrap_or("").contains(", ratio "))
        .count();
    assert!(eo >= report["fairness"].as_array().unwrap().len(), "{html}");
    assert_eq!(
        html.contains("Theil index"),
        !report["theil_index"].is_null(),
        "{}",
        report["theil_index"]
    );
}

#[test]
fn example_data_lists_flipped_rows_only_when_labels_are_flipped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let stdout = ok(warden(dir, "ana").args([
        "example",
        "credit",
        "--rows",
        "40",
        "--seed",
        "1",
        "--out",
        "plain.csv",
    ]));
    assert_eq!(stdout, "Wrote 40 rows to plain.csv\n");
    assert!(dir.join("plain.csv").is_file());
    assert!(!dir.join("plain.csv.poison.json").exists());
    let stdout = ok(warden(dir, "ana").args([
        "--json",
        "example",
        "credit",
        "--rows",
        "40",
        "--seed",
        "1",
        "--out",
        "plain2.csv",
    ]));
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["sidecar"], serde_json::Value::Null, "{j}");
    assert_eq!(j["flipped"], 0);

    let stdout = ok(warden(dir, "ana").args([
        "example",
        "credit",
        "--rows",
        "40",
        "--seed",
        "1",
        "--out",
        "flipped.csv",
        "--poison",
        "0.1",
    ]));
    assert_eq!(
        stdout,
        "Wrote 40 rows to flipped.csv (4 labels flipped, listed in flipped.csv.poison.json)\n"
    );
    let side: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("flipped.csv.poison.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(side["flipped_rows"].as_array().unwrap().len(), 4);
}

#[test]
fn paths_printed_from_a_discovered_workspace_have_no_dot_component() {
    // Run inside the workspace: it is found from ".", and the key's path is
    // printed from its root.
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    let stdout = ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    let want = format!(
        "private key  {}",
        ws.join(".warden/keys/pipeline.pem").display()
    );
    assert!(stdout.contains(&want), "{stdout}");
    assert!(!stdout.contains("/./"), "{stdout}");
}

#[test]
fn sign_and_verify_count_files_in_words() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    init(&ws);
    ok(warden(&ws, "ana").args(["keys", "generate", "pipeline"]));
    for (dir, files, want) in [("one", 1, "(1 file, root"), ("two", 2, "(2 files, root")] {
        let model = tmp.path().join(dir);
        std::fs::create_dir(&model).unwrap();
        for i in 0..files {
            std::fs::write(model.join(format!("w{i}.bin")), [i as u8; 16]).unwrap();
        }
        let signed = ok(warden(&ws, "ana")
            .arg("sign")
            .arg(&model)
            .args(["--key", "pipeline"]));
        assert!(signed.contains(want), "{signed}");
        let verified = ok(warden(&ws, "ana").arg("verify").arg(&model));
        assert!(verified.contains(want), "{verified}");
    }
}

/// Long work says how far it is on stderr: eval names each stage as it
/// ends (plain lines when stderr is not a terminal); `--progress none`
/// silences it; stdout stays the result.
#[test]
fn eval_reports_its_stages_unless_told_not_to() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    ok(warden(ws, "ana").args(["example", "credit", "--rows", "400", "--out", "c.csv"]));
    ok(warden(ws, "ana").args([
        "data",
        "ingest",
        "c.csv",
        "--name",
        "c",
        "--target",
        "approved",
        "--no-screen",
        "--sensitive",
        "sex",
    ]));
    ok(warden(ws, "ana").args(["train", "--dataset", "c@1", "--name", "c"]));
    let (code, stdout, stderr) = out(warden(ws, "ana").args([
        "eval",
        "c@1",
        "--dataset",
        "c@1",
        "--attack",
        "none",
        "--json",
    ]));
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<serde_json::Value>(&stdout).unwrap();
    for stage in ["load", "predict", "performance", "fairness", "record"] {
        assert!(
            stderr.contains(&format!("eval: {stage} done in")),
            "{stderr}"
        );
    }
    let (_, _, stderr) = out(warden(ws, "ana").args([
        "eval",
        "c@1",
        "--dataset",
        "c@1",
        "--attack",
        "none",
        "--progress",
        "none",
    ]));
    assert!(!stderr.contains("eval:"), "{stderr}");
}

/// A data engineer (or a compromised ingest job) swaps a dataset's source
/// for other bytes and passes the swapped file's own digest as `--sha256`:
/// the workspace's pin in `warden.toml` still holds, and nothing is
/// recorded. Only a digest someone pinned counts as `pinned`.
#[test]
fn a_workspace_pin_holds_whatever_digest_the_caller_gives() {
    use sha2::Digest as _;
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    init(ws);
    for (seed, file) in [("1", "good.csv"), ("2", "swapped.csv")] {
        ok(warden(ws, "ana").args([
            "example", "credit", "--rows", "300", "--seed", seed, "--out", file,
        ]));
    }
    let hex = |f: &str| hex::encode(sha2::Sha256::digest(std::fs::read(ws.join(f)).unwrap()));
    let (good, swapped) = (hex("good.csv"), hex("swapped.csv"));
    let ingest = |file: &str, extra: &[&str]| {
        out(warden(ws, "ana")
            .args([
                "data",
                "ingest",
                file,
                "--name",
                "credit",
                "--target",
                "approved",
                "--no-screen",
                "--json",
            ])
            .args(extra))
    };
    // Without a pin in warden.toml, a given digest is the pin.
    let (code, stdout, stderr) = ingest("good.csv", &["--sha256", &good]);
    assert_eq!(code, 0, "{stderr}");
    let res: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(res["dataset"]["manifest"]["source"]["pinned"], true);
    let (code, stdout, stderr) = ingest("good.csv", &[]);
    assert_eq!(code, 0, "{stderr}");
    let res: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(res["dataset"]["manifest"]["source"]["pinned"], false);

    let toml = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    let pinned_toml = toml.replacen(
        "[data.pins]\n",
        &format!("[data.pins]\ncredit = \"{good}\"\n"),
        1,
    );
    assert_ne!(toml, pinned_toml);
    std::fs::write(ws.join("warden.toml"), pinned_toml).unwrap();
    let before = count_events(ws, "data.ingest");
    // The attack: the swapped file, vouched for by its own digest.
    let (code, _, stderr) = ingest("swapped.csv", &["--sha256", &swapped]);
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("data.pins.credit") && stderr.contains("nothing was recorded"),
        "{stderr}"
    );
    // Without a digest, as before.
    let (code, _, stderr) = ingest("swapped.csv", &[]);
    assert_eq!(code, 5, "{stderr}");
    assert_eq!(count_events(ws, "data.ingest"), before);
    assert_eq!(datasets(ws), 2);
    // The pinned bytes are ingested and recorded as pinned.
    let (code, stdout, stderr) = ingest("good.csv", &[]);
    assert_eq!(code, 0, "{stderr}");
    let res: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(res["dataset"]["manifest"]["source"]["pinned"], true);
}
