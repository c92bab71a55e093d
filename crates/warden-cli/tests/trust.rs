//! End-to-end: the workspace's own users as attackers (SECURITY.md, "an
//! insider with write access"). Each test plays one attack with the real
//! `warden` binary and direct edits of the workspace's files and database,
//! and checks that it fails to succeed.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// Every person has their own account: their own directory for personal
/// keys and remembered checkpoints (one base per test process).
fn user_dir(actor: &str) -> PathBuf {
    static BASE: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    BASE.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join(actor)
}

fn warden(ws: &Path, actor: &str) -> Command {
    warden_as(ws, actor, actor)
}

/// `warden` run by the account `account`, claiming to be `actor`.
fn warden_as(ws: &Path, account: &str, actor: &str) -> Command {
    let mut c = Command::cargo_bin("warden").unwrap();
    c.current_dir(ws)
        .env("WARDEN_ACTOR", actor)
        .env("WARDEN_CONFIG_DIR", user_dir(account))
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

fn db(ws: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(ws.join(".warden/warden.db")).unwrap()
}

fn count_events(ws: &Path) -> i64 {
    db(ws)
        .query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0))
        .unwrap()
}

/// A workspace with a trained, signed model `credit@1` by the ml-engineer
/// sam, two approvers (lee, kim) with their own acknowledged keys, an
/// operator omar, and `credit@1` promoted to dev.
fn team() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(warden(ws, "ana").args(["init", "."]));
    ok(warden(ws, "ana").args(["keys", "generate", "pipeline"]));
    for (who, role) in [
        ("sam", "ml-engineer"),
        ("lee", "approver"),
        ("kim", "approver"),
        ("omar", "operator"),
        ("dana", "data-engineer"),
    ] {
        ok(warden(ws, "ana").args(["roles", "grant", who, role]));
    }
    ok(warden(ws, "ana").args([
        "example",
        "credit",
        "--rows",
        "800",
        "--seed",
        "3",
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
    ok(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    tmp
}

fn approvals_counted(ws: &Path, actor: &str) -> Vec<serde_json::Value> {
    let (_, stdout, stderr) =
        out(warden(ws, actor).args(["gate", "credit@1", "--env", "production", "--json"]));
    let gate: serde_json::Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}{stderr}"));
    gate["input"]["approvals"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn an_author_cannot_approve_with_keys_that_are_not_the_approvers_own() {
    let tmp = team();
    let ws = tmp.path();
    // The author (account sam) claims to be lee and kim and signs with the
    // pipeline key, which sam uses to train, and with the log key.
    for (actor, key) in [("lee", "pipeline"), ("kim", "pipeline"), ("lee", "log")] {
        let (code, _, stderr) = out(warden_as(ws, "sam", actor).args([
            "approve",
            "credit@1",
            "--env",
            "production",
            "--key",
            key,
        ]));
        assert_ne!(code, 0, "approval as {actor} with {key} was accepted");
        assert!(stderr.contains("not an approval key"), "{stderr}");
    }
    // lee's own key, enrolled by lee, lives in lee's directory: sam, acting
    // as lee from sam's own account, cannot use it.
    ok(warden(ws, "lee").args(["keys", "enrol", "lee-approvals"]));
    ok(warden(ws, "ana").args(["keys", "acknowledge", "lee-approvals"]));
    let (code, _, stderr) = out(warden_as(ws, "sam", "lee").args([
        "approve",
        "credit@1",
        "--env",
        "production",
        "--key",
        "lee-approvals",
    ]));
    assert_ne!(code, 0, "{stderr}");
    // Nothing was recorded, and the production gate still denies.
    let n: i64 = db(ws)
        .query_row("SELECT COUNT(*) FROM approvals", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let (code, _, _) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "production"]));
    assert_eq!(code, 4, "the production gate must deny");
}

#[test]
fn two_approvals_need_two_owners_and_two_keys() {
    let tmp = team();
    let ws = tmp.path();
    ok(warden(ws, "lee").args(["keys", "enrol", "lee-approvals"]));
    // Not yet acknowledged: refused.
    let (code, _, stderr) = out(warden(ws, "lee").args([
        "approve",
        "credit@1",
        "--env",
        "production",
        "--key",
        "lee-approvals",
    ]));
    assert_ne!(code, 0);
    assert!(stderr.contains("acknowledge"), "{stderr}");
    // The owner cannot acknowledge their own key.
    let (code, _, _) = out(warden(ws, "lee").args(["keys", "acknowledge", "lee-approvals"]));
    assert_ne!(code, 0);
    ok(warden(ws, "ana").args(["keys", "acknowledge", "lee-approvals"]));
    ok(warden(ws, "lee").args([
        "approve",
        "credit@1",
        "--env",
        "production",
        "--key",
        "lee-approvals",
    ]));
    // kim gets hold of lee's key file (a copy into kim's own directory) and
    // signs with it: the key belongs to lee, so the approval is refused.
    let src = user_dir("lee").join("keys");
    let dst = user_dir("kim").join("keys");
    copy_dir(&src, &dst);
    let (code, _, stderr) = out(warden(ws, "kim").args([
        "approve",
        "credit@1",
        "--env",
        "production",
        "--key",
        "lee-approvals",
    ]));
    assert_ne!(code, 0);
    assert!(stderr.contains("belongs to lee"), "{stderr}");
    // The same approval row copied by SQL under kim's name is refused too:
    // no event made it.
    let c = db(ws);
    c.execute(
        "INSERT INTO approvals (id, model, version, model_digest, env, approver, key_name, envelope, created_at) \
         SELECT id + 100, model, version, model_digest, env, 'kim', key_name, envelope, created_at FROM approvals",
        [],
    )
    .unwrap();
    drop(c);
    let (code, _, stderr) =
        out(warden(ws, "sam").args(["gate", "credit@1", "--env", "production"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("approval") && stderr.contains("audit log"),
        "{stderr}"
    );
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

#[test]
fn two_honest_approvers_pass_and_the_promoter_is_not_one_of_them() {
    let tmp = team();
    let ws = tmp.path();
    for who in ["lee", "kim"] {
        let key = format!("{who}-approvals");
        ok(warden(ws, who).args(["keys", "enrol", &key]));
        ok(warden(ws, "ana").args(["keys", "acknowledge", &key]));
        ok(warden(ws, who).args(["approve", "credit@1", "--env", "production", "--key", &key]));
    }
    let approvals = approvals_counted(ws, "sam");
    assert_eq!(approvals.len(), 2);
    assert!(
        approvals.iter().all(|a| a["valid"] == true),
        "{approvals:?}"
    );
    // Seen by lee (an approver asking the gate), lee's own approval is not
    // distinct from the one who would promote.
    let as_lee = approvals_counted(ws, "lee");
    assert!(
        as_lee
            .iter()
            .any(|a| a["approver"] == "lee" && a["distinct_from_promoter"] == false),
        "{as_lee:?}"
    );
    let keys: std::collections::BTreeSet<String> = approvals
        .iter()
        .map(|a| a["key_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys.len(), 2);
    // The private keys are in the approvers' own directories, not in the
    // shared workspace.
    assert!(!ws.join(".warden/keys/lee-approvals.pem").exists());
    assert!(std::fs::read_dir(user_dir("lee").join("keys")).is_ok());
}

/// The insider's truncation: deletes the events from `size` on (the
/// quarantine of credit@1 among them) with their checkpoints, and puts the
/// rows back as they were before it, so rows and remaining events agree.
fn truncate_after_quarantine(c: &rusqlite::Connection, size: i64) {
    c.execute("DELETE FROM audit_events WHERE seq >= ?1", [size])
        .unwrap();
    c.execute("DELETE FROM audit_checkpoints WHERE size > ?1", [size])
        .unwrap();
    c.execute(
        "UPDATE quarantines SET released_at = created_at, released_by = 'ana', release_reason = 'x'",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO stage_pointers (model, env, version, updated_by, updated_at) \
         VALUES ('credit', 'dev', 1, 'sam', '2026-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
}

/// Recomputes `audit_log_state` from the stored leaf hashes, as an attacker
/// who deleted events would.
fn recompute_log_state(c: &rusqlite::Connection) {
    let mut stmt = c
        .prepare("SELECT leaf_hash FROM audit_events ORDER BY seq")
        .unwrap();
    let mut f = warden_store::merkle::Frontier::new();
    let rows = stmt.query_map([], |r| r.get::<_, String>(0)).unwrap();
    for h in rows {
        let mut leaf = [0u8; 32];
        hex::decode_to_slice(h.unwrap(), &mut leaf).unwrap();
        f.push(leaf);
    }
    let peaks: Vec<String> = f.peaks().iter().map(hex::encode).collect();
    c.execute(
        "UPDATE audit_log_state SET size = ?1, frontier = ?2 WHERE id = 1",
        rusqlite::params![f.size() as i64, peaks.join(",")],
    )
    .unwrap();
}

#[test]
fn truncation_with_a_reused_signed_checkpoint_is_caught_by_a_remembered_one() {
    let tmp = team();
    let ws = tmp.path();
    // An auditor verifies (and so remembers the newest checkpoint).
    ok(warden(ws, "ana").args(["roles", "grant", "aud", "auditor"]));
    let size = count_events(ws);
    let old_note = std::fs::read_to_string(ws.join(".warden/log/checkpoint")).unwrap();
    ok(warden(ws, "omar").args(["quarantine", "credit@1", "--reason", "test"]));
    ok(warden(ws, "aud").args(["audit", "verify"]));
    // The attacker removes the newest events and their checkpoints,
    // recomputes the log state and restores the older signed note.
    let c = db(ws);
    truncate_after_quarantine(&c, size);
    recompute_log_state(&c);
    drop(c);
    std::fs::write(ws.join(".warden/log/checkpoint"), &old_note).unwrap();
    // Someone who never verified before sees a consistent log...
    let (code, stdout, _) = out(warden(ws, "ana").args(["audit", "verify", "--no-remember"]));
    assert_eq!(code, 0, "{stdout}");
    // ...but the auditor's remembered checkpoint catches the truncation.
    let (code, _, stderr) = out(warden(ws, "aud").args(["audit", "verify"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("remembered") && stderr.contains("deleted"),
        "{stderr}"
    );
    // So does a checkpoint pinned from elsewhere.
    let pinned = user_dir("aud").join("pinned-checkpoint");
    let remembered = std::fs::read_dir(user_dir("aud").join("checkpoints"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(remembered).unwrap()).unwrap();
    std::fs::write(&pinned, r["note"].as_str().unwrap()).unwrap();
    let (code, _, stderr) = out(warden(ws, "ana")
        .args(["audit", "verify", "--no-remember", "--pin"])
        .arg(&pinned));
    assert_eq!(code, 5, "{stderr}");
}

#[test]
fn registry_rows_changed_by_sql_are_refused_where_they_are_used() {
    let tmp = team();
    let ws = tmp.path();
    ok(warden(ws, "omar").args(["quarantine", "credit@1", "--reason", "poisoned"]));

    // Release the quarantine by SQL: the gate refuses with exit 5.
    db(ws)
        .execute(
            "UPDATE quarantines SET released_at = created_at, released_by = 'ana', release_reason = 'x'",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("quarantine of credit@1"), "{stderr}");
    assert!(stderr.contains("event"), "{stderr}");
    // The refusal is itself on record.
    let log = ok(warden(ws, "ana").args(["audit", "log", "--action", "integrity", "--json"]));
    assert!(log.contains("quarantine of credit@1"), "{log}");
    // An integrity incident is open on the version concerned: promotion is
    // frozen until a person closes it.
    let incidents = ok(warden(ws, "ana").args(["incident", "list", "--json"]));
    let incidents: serde_json::Value = serde_json::from_str(&incidents).unwrap();
    let open: Vec<&serde_json::Value> = incidents
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "integrity")
        .collect();
    assert_eq!(open.len(), 1, "{incidents}");
    let id = open[0]["id"].as_u64().unwrap().to_string();
    let (code, _, stderr) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "dev"]));
    assert_ne!(code, 0);
    assert!(stderr.contains("frozen by incident"), "{stderr}");
    ok(warden(ws, "omar").args(["incident", "close", &id, "--resolution", "row restored"]));
    // audit verify lists the disagreement.
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "verify"]));
    assert_eq!(code, 5);
    assert!(stderr.contains("quarantine of credit@1"), "{stderr}");
    // Undo, then point production at the quarantined version by SQL.
    db(ws)
        .execute(
            "UPDATE quarantines SET released_at = NULL, released_by = NULL, release_reason = NULL",
            [],
        )
        .unwrap();
    db(ws)
        .execute(
            "INSERT INTO stage_pointers (model, env, version, updated_by, updated_at) \
             VALUES ('credit', 'production', 1, 'ana', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    let (code, _, stderr) =
        out(warden(ws, "omar").args(["rollback", "credit", "--env", "production"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("stage pointer credit/production"),
        "{stderr}"
    );
    // The server does not start on it (bounded: it would otherwise serve).
    let (code, _, stderr) = out(warden(ws, "omar")
        .args(["serve", "--env", "production", "--addr", "127.0.0.1:0"])
        .timeout(std::time::Duration::from_secs(30)));
    assert_ne!(code, 0, "{stderr}");
    assert!(
        stderr.contains("stage pointer credit/production"),
        "{stderr}"
    );
    db(ws)
        .execute("DELETE FROM stage_pointers WHERE env = 'production'", [])
        .unwrap();

    // A role granted by SQL: every command of that actor is refused.
    db(ws)
        .execute(
            "INSERT INTO role_grants (actor, role, granted_by, time) VALUES ('sam', 'admin', 'ana', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "sam").args(["model", "list"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("role grants of sam"), "{stderr}");
    db(ws)
        .execute(
            "DELETE FROM role_grants WHERE actor = 'sam' AND role = 'admin'",
            [],
        )
        .unwrap();
    ok(warden(ws, "sam").args(["model", "list"]));

    // A key turned into lee's approval key by SQL.
    db(ws)
        .execute(
            "UPDATE keys SET purpose = 'approval', owner = 'lee', acknowledged_by = 'ana', acknowledged_at = added_at WHERE name = 'pipeline'",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("key pipeline"), "{stderr}");
    db(ws)
        .execute(
            "UPDATE keys SET purpose = 'pipeline', owner = 'ana', acknowledged_by = NULL, acknowledged_at = NULL WHERE name = 'pipeline'",
            [],
        )
        .unwrap();
    // A trusted key inserted by SQL.
    db(ws)
        .execute(
            "INSERT INTO keys (name, origin, algorithm, key_id, public_pem, added_by, added_at) \
             SELECT 'evil', 'trusted', algorithm, 'ff' || key_id, public_pem, 'ana', added_at FROM keys WHERE name = 'pipeline'",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "dev"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("key evil"), "{stderr}");
    db(ws)
        .execute("DELETE FROM keys WHERE name = 'evil'", [])
        .unwrap();

    // An API key inserted by SQL, and a revocation undone by SQL: audit
    // verify names both.
    ok(warden(ws, "omar").args(["apikey", "create", "web", "--role", "predictor"]));
    ok(warden(ws, "omar").args(["apikey", "revoke", "web"]));
    db(ws)
        .execute(
            "UPDATE api_keys SET revoked_at = NULL, revoked_by = NULL",
            [],
        )
        .unwrap();
    db(ws)
        .execute(
            "INSERT INTO api_keys (id, name, role, key_hash, created_by, created_at) \
             VALUES ('0123456789ab', 'sneaky', 'operator', '00', 'ana', '2026-01-01T00:00:00Z')",
            [],
        )
        .unwrap();
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "verify"]));
    assert_eq!(code, 5);
    assert!(stderr.contains("API key web"), "{stderr}");
    assert!(stderr.contains("API key sneaky"), "{stderr}");
}

#[test]
fn a_change_whose_checkpoint_cannot_be_signed_is_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    ok(warden(ws, "ana")
        .env("WARDEN_KEY_PASSPHRASE", "correct horse")
        .args(["init", "."]));
    let before = count_events(ws);
    let (code, _, stderr) = out(warden(ws, "ana").args(["roles", "grant", "lee", "approver"]));
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("nothing was changed"), "{stderr}");
    assert!(stderr.contains("WARDEN_KEY_PASSPHRASE"), "{stderr}");
    assert_eq!(count_events(ws), before);
    let grants: i64 = db(ws)
        .query_row(
            "SELECT COUNT(*) FROM role_grants WHERE actor = 'lee'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(grants, 0);
    // With the passphrase it goes through, and the log is sound.
    ok(warden(ws, "ana")
        .env("WARDEN_KEY_PASSPHRASE", "correct horse")
        .args(["roles", "grant", "lee", "approver"]));
    ok(warden(ws, "ana").args(["audit", "verify"]));
}

#[test]
fn edited_gate_data_decides_nothing_until_two_admins_register_it() {
    let tmp = team();
    let ws = tmp.path();
    ok(warden(ws, "ana").args(["roles", "grant", "bob", "admin"]));
    // The insider copies the thresholds with no approvals and no scan, and
    // points warden.toml at them.
    let data = include_str!("../../warden-policy/policies/gate-data.json")
        .replace("\"min_approvals\": 2", "\"min_approvals\": 0")
        .replace("\"scan_required_level\": 3", "\"scan_required_level\": 9");
    std::fs::write(ws.join("weak.json"), data).unwrap();
    let toml = std::fs::read_to_string(ws.join("warden.toml")).unwrap();
    std::fs::write(
        ws.join("warden.toml"),
        toml.replace(
            "# data = \"policies/gate-data.json\"",
            "data = \"weak.json\"",
        ),
    )
    .unwrap();
    let (code, _, stderr) =
        out(warden(ws, "sam").args(["promote", "credit@1", "--to", "production"]));
    assert_eq!(code, 5, "{stderr}");
    assert!(
        stderr.contains("production policy on disk") && stderr.contains("bundled policy"),
        "{stderr}"
    );
    let (code, stdout, _) = out(warden(ws, "sam").args(["policy", "status"]));
    assert_eq!(code, 5, "{stdout}");
    assert!(stdout.contains("NOT REGISTERED"), "{stdout}");
    // One admin alone only proposes it for production.
    let r = ok(warden(ws, "ana").args(["policy", "register", "production"]));
    assert!(r.contains("Proposed"), "{r}");
    let (code, _, _) = out(warden(ws, "ana").args(["policy", "register", "production"]));
    assert_ne!(code, 0, "the proposer cannot confirm their own proposal");
    let (code, _, _) = out(warden(ws, "sam").args(["promote", "credit@1", "--to", "production"]));
    assert_eq!(code, 5);
    // A second admin registers it: now the edited thresholds are in force,
    // and the change is on record with both names.
    let r = ok(warden(ws, "bob").args(["policy", "register", "production"]));
    assert!(
        r.contains("Registered") && r.contains("proposed by ana"),
        "{r}"
    );
    let (code, _, stderr) =
        out(warden(ws, "sam").args(["gate", "credit@1", "--env", "production"]));
    assert_ne!(code, 5, "{stderr}");
    let log = ok(warden(ws, "ana").args(["audit", "log", "--action", "policy", "--json"]));
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let actors: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap())
        .collect();
    assert_eq!(actors, ["ana", "bob"]);
    // Staging and dev still run the bundled gate only if nothing else is on
    // disk: the same edited data is refused there until registered.
    let (code, _, _) = out(warden(ws, "sam").args(["gate", "credit@1", "--env", "staging"]));
    assert_eq!(code, 5);
}

#[test]
fn a_witness_cosigns_only_a_sound_log_and_its_cosignature_catches_truncation() {
    let tmp = team();
    let ws = tmp.path();
    ok(warden(ws, "ana").args(["roles", "grant", "wit", "auditor"]));
    let key = user_dir("wit").join("w1.pem");
    std::fs::create_dir_all(user_dir("wit")).unwrap();
    let out_text = ok(warden(ws, "wit")
        .args([
            "audit",
            "witness-key",
            "--name",
            "witness.test/w1",
            "--json",
            "--out",
        ])
        .arg(&key));
    let vkey = serde_json::from_str::<serde_json::Value>(&out_text).unwrap()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let size = count_events(ws);
    ok(warden(ws, "wit")
        .args(["audit", "witness", "--name", "witness.test/w1", "--key"])
        .arg(&key));
    let note =
        std::fs::read_to_string(ws.join(".warden/log/cosignatures/witness.test_w1.note")).unwrap();
    assert!(note.contains("\u{2014} witness.test/w1 "), "{note}");
    ok(warden(ws, "ana").args(["audit", "verify", "--witness", &vkey]));
    // The gate sees the cosignature (consistent, fresh) when the pinned
    // gate data names the witness; without it, none is counted.
    let gate: serde_json::Value = serde_json::from_str(
        &out(warden(ws, "sam").args(["gate", "credit@1", "--env", "production", "--json"])).1,
    )
    .unwrap();
    assert_eq!(gate["input"]["log"]["cosignatures"], serde_json::json!([]));
    // An unknown witness key: verify names the missing cosignature.
    let other = user_dir("wit").join("w2.pem");
    let o = ok(warden(ws, "wit")
        .args([
            "audit",
            "witness-key",
            "--name",
            "witness.test/w2",
            "--json",
            "--out",
        ])
        .arg(&other));
    let vkey2 = serde_json::from_str::<serde_json::Value>(&o).unwrap()["vkey"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _, stderr) = out(warden(ws, "ana").args(["audit", "verify", "--witness", &vkey2]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("witness.test/w2"), "{stderr}");

    // Truncation after the witness cosigned: caught through the witness's
    // cosignature by anyone, remembered checkpoint or not.
    ok(warden(ws, "omar").args(["quarantine", "credit@1", "--reason", "test"]));
    ok(warden(ws, "wit")
        .args(["audit", "witness", "--name", "witness.test/w1", "--key"])
        .arg(&key));
    let c = db(ws);
    truncate_after_quarantine(&c, size);
    c.execute("DELETE FROM role_grants WHERE actor = 'wit'", [])
        .unwrap();
    recompute_log_state(&c);
    drop(c);
    let old = ok(warden(ws, "ana").args(["audit", "proof", "--index", "0", "--json"]));
    let old: serde_json::Value = serde_json::from_str(&old).unwrap();
    std::fs::write(
        ws.join(".warden/log/checkpoint"),
        old["checkpoint"].as_str().unwrap(),
    )
    .unwrap();
    let (code, _, stderr) =
        out(warden(ws, "ana").args(["audit", "verify", "--no-remember", "--witness", &vkey]));
    assert_eq!(code, 5, "{stderr}");
    assert!(stderr.contains("cosigned by witness.test/w1"), "{stderr}");
}

#[test]
fn a_rewritten_event_row_blocks_production_at_the_decision() {
    let tmp = team();
    let ws = tmp.path();
    // The insider rewrites the promote event's payload (and everything that
    // hashes it: digest, event text, leaf hash, the stored frontier), so
    // the row and event agree; only the signed tree tells.
    let c = db(ws);
    let (seq, payload, event): (i64, String, String) = c
        .query_row(
            "SELECT seq, payload, event FROM audit_events WHERE action = 'model.promote' ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    let forged = payload.replace("\"env\":\"dev\"", "\"env\":\"production\"");
    assert_ne!(forged, payload);
    use sha2::Digest as _;
    let old_digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(payload.as_bytes()))
    );
    let new_digest = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(forged.as_bytes()))
    );
    let forged_event = event.replace(&old_digest, &new_digest);
    let mut leaf = sha2::Sha256::new();
    leaf.update([0u8]);
    leaf.update(forged_event.as_bytes());
    c.execute(
        "UPDATE audit_events SET payload = ?1, event = ?2, leaf_hash = ?3 WHERE seq = ?4",
        rusqlite::params![forged, forged_event, hex::encode(leaf.finalize()), seq],
    )
    .unwrap();
    c.execute(
        "INSERT INTO stage_pointers (model, env, version, updated_by, updated_at) \
         VALUES ('credit', 'production', 1, 'sam', '2026-01-01T00:00:00Z')",
        [],
    )
    .unwrap();
    recompute_log_state(&c);
    drop(c);
    let (code, stdout, stderr) =
        out(warden(ws, "sam").args(["gate", "credit@1", "--env", "production", "--json"]));
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("the audit log does not verify"), "{stdout}");
}
