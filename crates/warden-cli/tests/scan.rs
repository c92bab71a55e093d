//! End-to-end: `warden scan` on real files: exit codes, formats, the
//! allow-list, SARIF, and recording into a workspace.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

mod common;
use common::{run, warden};

fn json(c: &mut Command, want: i32) -> Value {
    let (code, out, err) = run(c);
    assert_eq!(code, want, "stdout:\n{out}\nstderr:\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A protocol-0 pickle that runs a command when loaded (never loaded here).
const EVIL: &[u8] = b"cos\nsystem\n(S'echo owned'\ntR.";
/// collections.OrderedDict({'a': 1}) at protocol 2.
const BENIGN: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aK\x01s.";

fn fixture(dir: &Path) {
    std::fs::write(dir.join("evil.pkl"), EVIL).unwrap();
    // The same payload under a name that promises something else.
    std::fs::write(dir.join("weights.safetensors"), EVIL).unwrap();
    std::fs::write(dir.join("ok.pkl"), BENIGN).unwrap();
    std::fs::write(
        dir.join("model.bin"),
        [0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5],
    )
    .unwrap();
    std::fs::write(
        dir.join("settings.py"),
        "DEBUG = False\nGITHUB = 'ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8'\n",
    )
    .unwrap();
}

fn file<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {r}"))
}

#[test]
fn exit_codes_formats_and_content_detection() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);

    let r = json(warden(d).args(["scan", "ok.pkl", "--format", "json"]), 0);
    assert_eq!(r["max_severity"], "none");
    assert_eq!(file(&r, "ok.pkl")["format"], "pickle");
    assert_eq!(file(&r, "ok.pkl")["status"], "scanned");

    let r = json(warden(d).args(["scan", "evil.pkl", "--json"]), 6);
    let f = &file(&r, "evil.pkl")["findings"][0];
    assert_eq!(f["severity"], "critical");
    assert_eq!(f["rule"], "pickle.code-execution");
    assert!(f["message"].as_str().unwrap().contains("echo owned"), "{f}");

    // By content, not by name: the "safetensors" file is a pickle.
    let r = json(warden(d).args(["scan", "weights.safetensors", "--json"]), 6);
    assert_eq!(file(&r, "weights.safetensors")["format"], "pickle");

    // An unknown binary named like a model is unscanned, never clean.
    let r = json(warden(d).args(["scan", "model.bin", "--json"]), 6);
    assert_eq!(file(&r, "model.bin")["status"], "unscanned");
    assert_eq!(
        file(&r, "model.bin")["findings"][0]["rule"],
        "file.unrecognised"
    );
    let r = json(
        warden(d).args(["scan", "model.bin", "--json", "--fail-on", "high"]),
        0,
    );
    assert_eq!(r["summary"]["unscanned"], 1);

    // A missing file is an error (exit 1), not a clean result.
    let r = json(warden(d).args(["scan", "missing.pt", "--json"]), 1);
    assert_eq!(file(&r, "missing.pt")["status"], "error");

    // --fail-on sets the threshold.
    let (code, _, _) = run(warden(d).args(["scan", "settings.py", "--fail-on", "critical"]));
    assert_eq!(code, 0);
    let (code, out, _) = run(warden(d).args(["scan", "settings.py"]));
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("settings.py:2"), "{out}");
    assert!(
        !out.contains("ghp_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"),
        "secrets are masked: {out}"
    );

    // --secrets alone skips model files; --models alone skips text.
    let r = json(warden(d).args(["scan", ".", "--secrets", "--json"]), 6);
    assert_eq!(file(&r, "ok.pkl")["status"], "skipped");
    // (a protocol-0 pickle is also text: read for secrets, not run as a pickle)
    assert_eq!(
        file(&r, "evil.pkl")["findings"].as_array().unwrap().len(),
        0
    );
    let r = json(warden(d).args(["scan", ".", "--models", "--json"]), 6);
    assert_eq!(file(&r, "settings.py")["status"], "skipped");
    assert_eq!(r["summary"]["critical"], 2, "{r}");

    // Bad arguments are usage errors.
    let (code, _, _) = run(warden(d).args(["scan", ".", "--profile", "everything"]));
    assert_eq!(code, 2);
    let (code, _, _) = run(warden(d).args(["scan"]));
    assert_eq!(code, 2);
}

#[test]
fn allow_list_suppresses_by_fingerprint_and_path() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    let r = json(warden(d).args(["scan", "settings.py", "--json"]), 6);
    let fp = file(&r, "settings.py")["findings"][0]["fingerprint"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::write(d.join("allow.toml"), format!("fingerprints = [\"{fp}\"]\n")).unwrap();
    let r = json(
        warden(d).args(["scan", "settings.py", "--json", "--allowlist", "allow.toml"]),
        0,
    );
    assert_eq!(r["summary"]["suppressed"], 1);
    // The default allow-list file is read when present.
    std::fs::write(d.join(".warden-scan.toml"), "paths = [\"*.pkl\"]\n").unwrap();
    let r = json(warden(d).args(["scan", "evil.pkl", "--json"]), 0);
    assert_eq!(file(&r, "evil.pkl")["status"], "skipped");
    std::fs::write(d.join("bad.toml"), "pathz = 1\n").unwrap();
    let (code, _, err) = run(warden(d).args(["scan", "evil.pkl", "--allowlist", "bad.toml"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("bad.toml"), "{err}");
}

#[test]
fn sarif_names_every_rule_and_location() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fixture(d);
    let (code, _, err) =
        run(warden(d).args(["scan", ".", "--format", "sarif", "--output", "out.sarif"]));
    assert_eq!(code, 6, "{err}");
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out.sarif")).unwrap()).unwrap();
    assert_eq!(s["version"], "2.1.0");
    let run0 = &s["runs"][0];
    let rules: Vec<&str> = run0["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "{results:?}");
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx], r["ruleId"].as_str().unwrap());
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        let loc = &r["locations"][0]["physicalLocation"]["artifactLocation"];
        let uri = loc["uri"].as_str().unwrap();
        assert!(!uri.starts_with('/') && !uri.starts_with("./"), "{uri}");
        assert_eq!(loc["uriBaseId"], "%SRCROOT%");
    }
    // %SRCROOT% is the directory the scan ran in; the driver points at its docs.
    let base = run0["originalUriBaseIds"]["%SRCROOT%"]["uri"]
        .as_str()
        .unwrap();
    assert!(
        base.starts_with("file:///") && base.ends_with('/'),
        "{base}"
    );
    // No made-up documentation address: only one the build names.
    match option_env!("WARDEN_INFORMATION_URI") {
        Some(uri) => assert_eq!(run0["tool"]["driver"]["informationUri"], uri),
        None => assert!(
            run0["tool"]["driver"].get("informationUri").is_none(),
            "{}",
            run0["tool"]["driver"]
        ),
    }
    // The unscanned file is a notification, so the log does not read as clean.
    let notes = run0["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["message"]["text"].as_str().unwrap().contains("model.bin"))
    );
}

#[test]
fn a_recorded_scan_is_stored_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let (code, _, err) = run(warden(d).args(["init", "."]));
    assert_eq!(code, 0, "{err}");
    fixture(d);
    let r = json(
        warden(d).args(["scan", "evil.pkl", "--record", "--json"]),
        6,
    );
    assert_eq!(r["recorded"][0]["max_severity"], "critical", "{r}");
    assert!(
        file(&r, "evil.pkl")["sha256"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    let (code, out, _) = run(warden(d).args(["audit", "log", "--json"]));
    assert_eq!(code, 0);
    assert!(out.contains("scan.record"), "{out}");
    // An actor without a role that may record scans is refused (exit 3).
    let (code, _, err) = run(warden(d)
        .env("WARDEN_ACTOR", "nobody")
        .args(["scan", "ok.pkl", "--record"]));
    assert_eq!(code, 3, "{err}");
    // A model reference that does not exist is an error naming it.
    let (code, _, err) = run(warden(d).args(["scan", "ghost@1"]));
    assert_ne!(code, 0);
    assert!(err.contains("ghost"), "{err}");
}

#[test]
fn git_history_finds_a_secret_removed_since() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .current_dir(d)
            .args([
                "-c",
                "user.email=ci@example.invalid",
                "-c",
                "user.name=ci",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q", "."]);
    std::fs::write(
        d.join("app.py"),
        "import os\n\nSTRIPE = 'sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEf'\n",
    )
    .unwrap();
    git(&["add", "app.py"]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(
        d.join("app.py"),
        "import os\n\nSTRIPE = os.environ['STRIPE_KEY']\n",
    )
    .unwrap();
    git(&["commit", "-q", "-am", "use the environment"]);

    // The tree is clean now...
    let r = json(warden(d).args(["scan", ".", "--secrets", "--json"]), 0);
    assert_eq!(r["summary"]["findings"], 0, "{r}");
    // ...but the history still holds the key, on line 3 of the first commit.
    let r = json(
        warden(d).args(["scan", ".", "--secrets", "--git-history", "--json"]),
        6,
    );
    let h = file(&r, "(git history)");
    let f = &h["findings"][0];
    assert_eq!(f["rule"], "secret.stripe-key", "{h}");
    assert_eq!(f["line"], 3, "{h}");
    assert!(f["member"].as_str().unwrap().contains("app.py"), "{h}");
    assert!(
        !h.to_string()
            .contains("sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEf")
    );
}
