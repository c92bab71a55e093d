//! End-to-end: the workspace's own users as attackers. Each test plays an
//! insider against the built `warden` binary: an operator minting a key or
//! granting a role stronger than its own.

mod common;

use std::path::Path;

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
