//! `warden pipeline` and `warden evidence` end to end: the real binary, a
//! real bubblewrap sandbox, and training commands that try to escape it.
//!
//! The sandbox tests need bubblewrap (`scripts/ensure-bubblewrap.sh`, which
//! `scripts/test.sh` runs first); without it they fail saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{run, warden};
use serde_json::Value;

const SCHEMA: &str = "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\ntarget = \"species\"\n\
[[features]]\nname = \"bill_length_mm\"\n[[features]]\nname = \"bill_depth_mm\"\n\
[[features]]\nname = \"flipper_length_mm\"\n[[features]]\nname = \"body_mass_g\"\n";

fn need_bubblewrap() {
    let ok = std::process::Command::new("bwrap")
        .args(["--ro-bind", "/", "/", "--unshare-all", "--", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "these tests need bubblewrap able to make a sandbox here: run scripts/ensure-bubblewrap.sh"
    );
}

/// A penguin-shaped table: three species, four measurements, sex.
fn penguins_csv(rows: usize) -> String {
    let mut s =
        String::from("species,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\n");
    let means = [
        ("Adelie", 38.8, 18.3, 190.0, 3700.0),
        ("Chinstrap", 48.8, 18.4, 196.0, 3733.0),
        ("Gentoo", 47.5, 15.0, 217.0, 5076.0),
    ];
    for i in 0..rows {
        let (sp, a, b, c, d) = means[i % 3];
        let w = ((i * 37) % 11) as f64 / 10.0 - 0.5;
        let sex = if i % 2 == 0 { "MALE" } else { "FEMALE" };
        s.push_str(&format!(
            "{sp},{:.1},{:.1},{:.0},{:.0},{sex}\n",
            a + 2.0 * w,
            b + w,
            c + 5.0 * w,
            d + 200.0 * w
        ));
    }
    s
}

struct Project {
    _tmp: tempfile::TempDir,
    ws: PathBuf,
    proj: PathBuf,
}

/// A workspace with a pipeline key, and a project directory holding the
/// data, a pre-built ONNX model and its schema.
fn project() -> Project {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    let proj = tmp.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let (code, _, err) = run(warden(tmp.path()).args(["init", "ws"]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(warden(&ws).args(["keys", "generate", "pipeline"]));
    assert_eq!(code, 0, "{err}");
    std::fs::write(proj.join("penguins.csv"), penguins_csv(150)).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../warden-ml/tests/data/onnx/forest.onnx"),
        proj.join("model.onnx"),
    )
    .unwrap();
    std::fs::write(proj.join("schema.toml"), SCHEMA).unwrap();
    Project {
        _tmp: tmp,
        ws,
        proj,
    }
}

/// A pipeline whose training stage runs `script` (sh) in the sandbox.
fn pipeline(p: &Project, script: &str, sandbox: &str, extra: &str) -> PathBuf {
    std::fs::write(p.proj.join("train.sh"), script).unwrap();
    let text = format!(
        "name = \"penguins\"\n[sandbox]\n{sandbox}\n\
         [[stage]]\nname = \"data\"\n\
         ingest = {{ file = \"penguins.csv\", dataset = \"penguins\", target = \"species\", sensitive = [\"sex\"] }}\n\
         [[stage]]\nname = \"train\"\n\
         train = {{ dataset = \"data\", model = \"penguins-rf\", command = [\"sh\", \"train.sh\"], lockfile = \"schema.toml\" }}\n\
         {extra}"
    );
    let f = p.proj.join("pipeline.toml");
    std::fs::write(&f, text).unwrap();
    f
}

const GOOD_TRAINER: &str = "set -e\ntest -r \"$WARDEN_DATASET\"\nhead -1 \"$WARDEN_DATASET\" >&2\n\
cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n";

fn run_json(ws: &Path, args: &[&str]) -> (i32, Value, String) {
    let mut c = warden(ws);
    c.arg("--json").args(args);
    let (code, out, err) = run(&mut c);
    let v = serde_json::from_str(&out).unwrap_or(Value::Null);
    (code, v, err)
}

fn models(ws: &Path) -> usize {
    let (_, v, _) = run_json(ws, &["model", "list"]);
    v.as_array().map_or(0, |a| a.len())
}

fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()
}

#[test]
fn a_pipeline_trains_in_the_sandbox_records_provenance_and_reuses_unchanged_stages() {
    need_bubblewrap();
    let p = project();
    let f = pipeline(
        &p,
        GOOD_TRAINER,
        "timeout_seconds = 60",
        "[[stage]]\nname = \"scan\"\nscan = { model = \"train\" }\n\
         [[stage]]\nname = \"eval\"\nevaluate = { model = \"train\", dataset = \"data\" }\n\
         [[stage]]\nname = \"gate\"\ngate = { model = \"train\", env = \"dev\" }\n",
    );
    let file = f.to_str().unwrap();
    // The code is a git work tree: the provenance names its commit and tree.
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&p.proj)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "trainer"]);
    let commit = git(&["rev-parse", "HEAD"]);
    let tree = git(&["rev-parse", "HEAD^{tree}"]);
    let (code, first, err) = run_json(&p.ws, &["pipeline", "run", file]);
    assert_eq!(code, 0, "{first}\n{err}");
    assert_eq!(stage(&first, "train")["result"]["dirty"], false);
    assert_eq!(first["status"], "succeeded");
    let train = stage(&first, "train");
    assert_eq!(train["status"], "ok");
    assert_eq!(train["result"]["model"], "penguins-rf@1");
    assert!(
        train["result"]["sandbox"]
            .as_str()
            .unwrap()
            .starts_with("bubblewrap")
    );
    assert_eq!(stage(&first, "gate")["status"], "ok");

    // The package carries SLSA provenance signed with the pipeline key.
    let out = p.ws.join("exported");
    let (code, _, err) =
        run(warden(&p.ws).args(["model", "export", "penguins-rf@1", "--out", "exported"]));
    assert_eq!(code, 0, "{err}");
    let (code, v, err) = run_json(&p.ws, &["verify", "exported", "--provenance"]);
    assert_eq!(code, 0, "{err}");
    let st = &v["provenance"];
    assert_eq!(st["predicateType"], "https://slsa.dev/provenance/v1");
    let def = &st["predicate"]["buildDefinition"];
    assert_eq!(
        def["externalParameters"]["command"],
        serde_json::json!(["sh", "train.sh"])
    );
    assert_eq!(def["internalParameters"]["networkIsolated"], true);
    let deps: Vec<&str> = def["resolvedDependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(deps, ["code", "lockfile:schema.toml", "dataset:penguins@1"]);
    let code_dep = &def["resolvedDependencies"][0];
    assert_eq!(code_dep["digest"]["gitCommit"], commit.as_str());
    assert_eq!(code_dep["digest"]["gitTree"], tree.as_str());
    assert_eq!(code_dep["annotations"]["dirty"], false);
    // A changed statement no longer verifies (exit 5).
    let env_path = out.join("provenance.dsse.json");
    let mut env: Value = serde_json::from_slice(&std::fs::read(&env_path).unwrap()).unwrap();
    env["signatures"][0]["sig"] = Value::String("AAAA".into());
    std::fs::write(&env_path, serde_json::to_vec(&env).unwrap()).unwrap();
    let (code, _, _) = run(warden(&p.ws).args(["verify", "exported", "--provenance"]));
    assert_eq!(code, 5);

    // The gate sees the verified provenance.
    let (_, g, _) = run_json(&p.ws, &["gate", "penguins-rf@1", "--env", "dev"]);
    assert_eq!(g["input"]["provenance"]["verified"], true);
    assert_eq!(g["input"]["provenance"]["network_isolated"], true);

    // Unchanged: every stage but the gate is reused; nothing new registered.
    let (code, second, err) = run_json(&p.ws, &["pipeline", "run", file]);
    assert_eq!(code, 0, "{err}");
    for s in ["data", "train", "scan", "eval"] {
        assert_eq!(stage(&second, s)["status"], "reused", "{s}: {second}");
    }
    assert_eq!(stage(&second, "gate")["status"], "ok");
    assert_eq!(models(&p.ws), 1);
    // Changed code: training runs again.
    std::fs::write(
        p.proj.join("train.sh"),
        format!("{GOOD_TRAINER}# changed\n"),
    )
    .unwrap();
    let (code, third, _) = run_json(&p.ws, &["pipeline", "run", file]);
    assert_eq!(code, 0);
    assert_eq!(stage(&third, "data")["status"], "reused");
    assert_eq!(stage(&third, "train")["status"], "ok");
    assert_eq!(stage(&third, "train")["result"]["model"], "penguins-rf@2");
    assert_eq!(stage(&third, "train")["result"]["dirty"], true);
    // --force runs everything.
    let (_, forced, _) = run_json(&p.ws, &["pipeline", "run", file, "--force"]);
    assert_eq!(stage(&forced, "data")["status"], "ok");

    // Runs are listed and shown; each is an audit event.
    let (_, list, _) = run_json(&p.ws, &["pipeline", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    let (code, shown, _) = run_json(&p.ws, &["pipeline", "show", "2"]);
    assert_eq!(code, 0);
    assert_eq!(shown["id"], 2);
    let (_, log, _) = run_json(&p.ws, &["audit", "log", "--action", "pipeline.run"]);
    assert_eq!(log.as_array().map(|a| a.len()), Some(4), "{log}");
    let (code, _, _) = run(warden(&p.ws).args(["pipeline", "show", "99"]));
    assert_ne!(code, 0);
    // The newest run as Markdown, for a CI job's summary.
    let (code, md, err) = run(warden(&p.ws).args(["pipeline", "show", "last", "--markdown"]));
    assert_eq!(code, 0, "{err}");
    assert!(
        md.starts_with("### Warden pipeline `penguins`: run 4 passed"),
        "{md}"
    );
    assert!(md.contains("| train | train | ok |"), "{md}");
    let (code, _, err) = run(warden(&p.ws).args(["pipeline", "show", "first"]));
    assert_eq!(code, 2, "{err}");
}

/// Runs the pipeline with `script` as the trainer and expects the train
/// stage to fail with `want` in its error, no model registered, and the
/// failed run recorded.
fn trainer_refused(script: &str, sandbox: &str, want: &str) -> Project {
    let p = project();
    let f = pipeline(&p, script, sandbox, "");
    let (code, v, err) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{v}\n{err}");
    assert_eq!(v["status"], "failed");
    let t = stage(&v, "train");
    assert_eq!(t["status"], "failed");
    let msg = t["error"].as_str().unwrap_or_default();
    assert!(msg.contains(want), "want {want:?} in {msg:?}");
    assert_eq!(models(&p.ws), 0, "nothing may be registered");
    let (_, list, _) = run_json(&p.ws, &["pipeline", "list"]);
    assert_eq!(list[0]["status"], "failed");
    p
}

#[test]
fn a_trainer_cannot_write_outside_its_output_directory() {
    need_bubblewrap();
    // Writes to /tmp land in the sandbox's own empty /tmp; the host's home
    // is not there; the code directory is read-only. None reaches the host.
    let tmp_target = std::env::temp_dir().join(format!("warden-escape-{}", std::process::id()));
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let p = project();
    let script = format!(
        "cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n\
         echo pwned > {} || true\necho pwned > {home}/warden-escape || true\n\
         echo pwned > ./escape.txt || true\necho pwned > \"$WARDEN_DATASET\" || true\n",
        tmp_target.display()
    );
    let f = pipeline(&p, &script, "timeout_seconds = 60", "");
    let (code, v, err) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert!(!tmp_target.exists());
    assert!(!Path::new(&home).join("warden-escape").exists());
    assert!(!p.proj.join("escape.txt").exists());
    // A trainer that insists on writing into its code fails, and nothing is registered.
    let p = trainer_refused(
        "set -e\ncp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\necho pwned > ./escape.txt\n",
        "timeout_seconds = 60",
        "exited with status",
    );
    assert!(!p.proj.join("escape.txt").exists());
}

#[test]
fn a_trainer_cannot_read_the_workspace_keys() {
    need_bubblewrap();
    // The file makes the whole directory holding the workspace readable;
    // the workspace's .warden (keys, database) still shows empty.
    let p = project();
    assert!(p.ws.join(".warden/keys").is_dir());
    let f = pipeline(
        &p,
        "set -e\ntest -r ../ws/warden.toml\ntest -z \"$(ls -A ../ws/.warden)\"\n\
         cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n",
        "timeout_seconds = 60\nread_only = [\"..\"]",
        "",
    );
    let (code, v, err) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}\n{err}");
}

#[test]
fn a_trainer_cannot_read_the_callers_credentials() {
    need_bubblewrap();
    // A pipeline file (say, from a pull request) names the caller's home
    // as read-only: the credentials other tools keep there stay hidden.
    let p = project();
    let home = p.proj.parent().unwrap().join("home");
    std::fs::create_dir_all(home.join(".aws")).unwrap();
    std::fs::write(
        home.join(".aws/credentials"),
        "aws_secret_access_key = hunter2\n",
    )
    .unwrap();
    std::fs::write(
        home.join(".netrc"),
        "machine example.com password hunter2\n",
    )
    .unwrap();
    std::fs::write(home.join("notes.txt"), "not a secret\n").unwrap();
    let h = home.display();
    let f = pipeline(
        &p,
        &format!(
            "set -e\ntest -r {h}/notes.txt\nif grep -rq hunter2 {h}; then exit 9; fi\n\
             cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n"
        ),
        &format!("timeout_seconds = 60\nread_only = [\"{h}\"]"),
        "",
    );
    let mut c = warden(&p.ws);
    c.env("HOME", &home)
        .args(["--json", "pipeline", "run", f.to_str().unwrap()]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn without_a_sandbox_a_run_refuses_unless_allowed_and_says_so() {
    // A PATH with the tools the trainer uses but no bwrap.
    let p = project();
    let bin = p.proj.parent().unwrap().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for tool in ["sh", "cp", "prlimit", "test", "head"] {
        for dir in ["/usr/bin", "/bin"] {
            let src = Path::new(dir).join(tool);
            if src.exists() && !bin.join(tool).exists() {
                std::os::unix::fs::symlink(&src, bin.join(tool)).unwrap();
            }
        }
    }
    let f = pipeline(&p, GOOD_TRAINER, "timeout_seconds = 60", "");
    let file = f.to_str().unwrap();
    let mut c = warden(&p.ws);
    c.env("PATH", &bin)
        .args(["--json", "pipeline", "run", file]);
    let (code, out, _) = run(&mut c);
    assert_eq!(code, 1, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        stage(&v, "train")["error"]
            .as_str()
            .unwrap()
            .contains("no sandbox is available"),
        "{v}"
    );
    assert_eq!(models(&p.ws), 0);
    let mut c = warden(&p.ws);
    c.env("PATH", &bin)
        .args(["--json", "pipeline", "run", file, "--allow-unsandboxed"]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stage(&v, "train")["result"]["sandbox"], "none");
    // The gate sees an unsandboxed build for what it is.
    let (_, g, _) = run_json(&p.ws, &["gate", "penguins-rf@1", "--env", "dev"]);
    assert_eq!(g["input"]["provenance"]["sandbox"], "none");
    assert_eq!(g["input"]["provenance"]["network_isolated"], false);
    // The threat model counts it: hostile training code is an open risk here.
    let (_, risks, _) = run_json(&p.ws, &["threat-model", "--format", "json"]);
    let l3 = risks
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "L3")
        .unwrap()
        .clone();
    assert_eq!(l3["status"], "open", "{l3}");
    assert_eq!(l3["evidence"], "0 of 1 training commands sandboxed");
    let t5 = risks
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "T5")
        .unwrap()
        .clone();
    assert_eq!(
        t5["evidence"],
        "0 of 1 imported models carry verified provenance of a sandboxed build"
    );
}

#[test]
fn a_pipeline_file_cannot_reach_past_its_sandbox() {
    need_bubblewrap();
    // Credentials are never passed through, whatever the file asks.
    let p = project();
    for name in [
        "WARDEN_KEY_PASSPHRASE",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITHUB_TOKEN",
        "AWS_SECRET_ACCESS_KEY",
        "API_KEY",
    ] {
        let f = pipeline(&p, GOOD_TRAINER, &format!("env = [\"{name}\"]"), "");
        let (code, _, err) = run(warden(&p.ws).args(["pipeline", "plan", f.to_str().unwrap()]));
        assert_eq!(code, 1, "{name}: {err}");
        assert!(err.contains("never passed to a command"), "{name}: {err}");
    }
    // A read-only path that would bring the host's /tmp, /proc or /run back.
    for path in ["/", "/run", "/proc/self"] {
        let f = pipeline(&p, GOOD_TRAINER, &format!("read_only = [\"{path}\"]"), "");
        let (code, v, _) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
        assert_eq!(code, 1, "{path}: {v}");
        let e = stage(&v, "train")["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(e.contains("which the sandbox keeps its own"), "{path}: {e}");
    }
    // A symbolic link in the checkout does not make Warden read a file
    // outside it (here the caller's password file).
    let datasets = |ws: &Path| {
        run_json(ws, &["data", "list"])
            .1
            .as_array()
            .map_or(0, |a| a.len())
    };
    let before = (datasets(&p.ws), models(&p.ws));
    std::fs::remove_file(p.proj.join("penguins.csv")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.proj.join("penguins.csv")).unwrap();
    let f = pipeline(&p, GOOD_TRAINER, "", "");
    let (code, v, _) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 1, "{v}");
    assert!(
        stage(&v, "data")["error"]
            .as_str()
            .unwrap()
            .contains("outside the directory"),
        "{v}"
    );
    assert_eq!((datasets(&p.ws), models(&p.ws)), before);
}

#[test]
fn a_pipe_in_the_outputs_is_refused_before_anything_opens_it() {
    need_bubblewrap();
    trainer_refused(
        "set -e\ncp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\nmkfifo \"$WARDEN_OUTPUT/w.data\"\n",
        "timeout_seconds = 60",
        "not a regular file",
    );
}

#[test]
fn a_code_directory_cannot_make_the_hosts_git_run_a_program() {
    need_bubblewrap();
    // The checkout is laid out as a bare repository whose config names an
    // fsmonitor command and a work tree: plain `git status` on it runs the
    // command on the host. Warden asks git about the code with implicit
    // bare repositories refused, fsmonitor and hooks off.
    let p = project();
    let marker = p.proj.parent().unwrap().join("PWNED");
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .args(args)
            .current_dir(&p.proj)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    git(&["init", "-q", "--bare", "."]);
    let cfg = p.proj.join("config");
    let cfg = cfg.to_str().unwrap();
    git(&["config", "-f", cfg, "core.bare", "false"]);
    git(&[
        "config",
        "-f",
        cfg,
        "core.worktree",
        p.proj.to_str().unwrap(),
    ]);
    git(&[
        "config",
        "-f",
        cfg,
        "core.fsmonitor",
        &format!("touch {}; false", marker.display()),
    ]);
    let f = pipeline(&p, GOOD_TRAINER, "timeout_seconds = 60", "");
    let (code, v, err) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 0, "{v}\n{err}");
    assert!(
        !marker.exists(),
        "git ran the checkout's fsmonitor command on the host"
    );
    // Not a repository Warden will read: no git facts in the record.
    assert_eq!(stage(&v, "train")["result"]["dirty"], Value::Null);
}

#[test]
fn a_trainer_cannot_reach_the_network() {
    need_bubblewrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // bash's /dev/tcp opens a TCP connection, or fails.
    let script = format!(
        "set -e\ncp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n\
         if command -v bash >/dev/null; then bash -c 'echo hi > /dev/tcp/127.0.0.1/{port}'; else exit 3; fi\n"
    );
    trainer_refused(&script, "timeout_seconds = 60", "exited with status");
    let mut buf = [0u8; 8];
    match listener.accept() {
        Ok((mut s, _)) => {
            let n = s.read(&mut buf).unwrap_or(0);
            panic!("the sandboxed command connected to the host ({n} bytes)");
        }
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock),
    }
}

#[test]
fn a_trainer_is_killed_at_its_limits() {
    need_bubblewrap();
    let t0 = std::time::Instant::now();
    trainer_refused(
        "cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\nsleep 30\n",
        "timeout_seconds = 1",
        "wall-clock limit of 1 s",
    );
    assert!(t0.elapsed() < Duration::from_secs(25));
    // Memory: 64 MiB of address space cannot hold a 200 MB shell variable.
    trainer_refused(
        "set -e\ncp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\nx=$(head -c 200000000 /dev/zero | tr '\\0' a)\necho ${#x}\n",
        "timeout_seconds = 30\nmemory_mb = 64",
        "",
    );
}

#[test]
fn pickles_and_missing_outputs_are_refused() {
    need_bubblewrap();
    // A pickle under any name (here model.onnx) is refused by content (dash's
    // printf takes octal escapes).
    trainer_refused(
        "printf '\\200\\004\\225\\005\\000\\000\\000\\000\\000\\000\\000\\214\\001a\\224.' > \"$WARDEN_OUTPUT/model.onnx\"\ncp schema.toml \"$WARDEN_OUTPUT/\"\n",
        "timeout_seconds = 60",
        "pickle",
    );
    trainer_refused(
        "cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\necho x > \"$WARDEN_OUTPUT/model.joblib\"\n",
        "timeout_seconds = 60",
        "never loads",
    );
    trainer_refused(
        "cp schema.toml \"$WARDEN_OUTPUT/\"\n",
        "timeout_seconds = 60",
        "wrote no model file out/model.onnx",
    );
    // The environment is scrubbed: a secret of the caller is not there.
    let p = project();
    let f = pipeline(
        &p,
        "test -z \"$WARDEN_TEST_SECRET\" && cp model.onnx schema.toml \"$WARDEN_OUTPUT/\"\n",
        "timeout_seconds = 60",
        "",
    );
    let mut c = warden(&p.ws);
    c.env("WARDEN_TEST_SECRET", "hunter2")
        .args(["--json", "pipeline", "run", f.to_str().unwrap()]);
    let (code, out, err) = run(&mut c);
    assert_eq!(code, 0, "{out}\n{err}");
}

#[test]
fn bad_pipeline_files_change_nothing() {
    let p = project();
    let events = |ws: &Path| {
        let (_, v, _) = run_json(ws, &["audit", "log"]);
        v.as_array().map_or(0, |a| a.len())
    };
    let before = events(&p.ws);
    let cases: [(&str, &str); 6] = [
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\ndeploy = {}\n",
            "unknown field `deploy`",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"a\"\nscan = { model = \"m@1\" }\nafter = [\"b\"]\n\
             [[stage]]\nname = \"b\"\nscan = { model = \"m@1\" }\nafter = [\"a\"]\n",
            "cycle",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"g\"\ngate = { model = \"train\", env = \"dev\" }\n",
            "no stage of this pipeline",
        ),
        (
            "name = \"x\"\n[[stage]]\nname = \"d\"\ningest = { file = \"../secret.csv\", dataset = \"d\" }\n",
            "leaves the pipeline's directory",
        ),
        ("name = \"x\"\nstages = 3\n", "unknown field `stages`"),
        ("not toml [", "p.toml"),
    ];
    for (text, want) in cases {
        let f = p.proj.join("p.toml");
        std::fs::write(&f, text).unwrap();
        for cmd in ["plan", "run"] {
            let (code, _, err) = run(warden(&p.ws).args(["pipeline", cmd, f.to_str().unwrap()]));
            assert_ne!(code, 0, "{text}");
            assert!(err.contains(want), "{cmd} {text:?}: want {want:?} in {err}");
        }
    }
    // A file whose digest is not the one the pipeline names: the run is
    // recorded as failed, and no dataset is ingested.
    let f = p.proj.join("p.toml");
    std::fs::write(
        &f,
        format!(
            "name = \"x\"\n[[stage]]\nname = \"d\"\ningest = {{ file = \"penguins.csv\", dataset = \"d\", sha256 = \"{}\" }}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let (code, v, _) = run_json(&p.ws, &["pipeline", "run", f.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        stage(&v, "d")["error"]
            .as_str()
            .unwrap()
            .contains("not the sha256:0000")
    );
    let (_, data, _) = run_json(&p.ws, &["data", "list"]);
    assert_eq!(data.as_array().map(|a| a.len()), Some(0));
    // Only that recorded run was added to the log.
    assert_eq!(events(&p.ws), before + 1);
}

#[test]
fn evidence_from_other_tools_reaches_the_gate() {
    let p = project();
    // A model to bind evidence to, trained by Warden itself.
    std::fs::write(
        p.proj.join("p.toml"),
        "name = \"native\"\n[[stage]]\nname = \"data\"\n\
         ingest = { file = \"penguins.csv\", dataset = \"penguins\", target = \"species\" }\n\
         [[stage]]\nname = \"train\"\ntrain = { dataset = \"data\", model = \"native\", builtin = \"logreg\" }\n",
    )
    .unwrap();
    let (code, _, err) = run_json(
        &p.ws,
        &["pipeline", "run", p.proj.join("p.toml").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let sarif = serde_json::json!({
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "Bandit", "rules": [
            {"id": "B602", "properties": {"security-severity": "8.1"}}]}},
          "results": [{"ruleId": "B602", "level": "error",
            "message": {"text": "subprocess call with shell=True identified"},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": "train.py"}, "region": {"startLine": 7}}}]}]}]
    });
    let report = p.proj.join("bandit.sarif");
    std::fs::write(&report, serde_json::to_vec(&sarif).unwrap()).unwrap();
    let (code, v, err) = run_json(
        &p.ws,
        &[
            "evidence",
            "add",
            "native@1",
            "--tool",
            "bandit",
            "--kind",
            "sast",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["summary"]["max_score"], 8.1);
    let (code, g, _) = run_json(&p.ws, &["gate", "native@1", "--env", "staging"]);
    assert_eq!(code, 4);
    let reasons: Vec<&str> = g["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("bandit") && r.contains("B602") && r.contains("train.py:7")),
        "{reasons:?}"
    );
    // Malformed reports are refused, naming the place, and record nothing.
    for (body, want) in [
        (
            r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"level": "fatal", "message": {"text": ""}}]}]}"#,
            "runs[0].results[0]",
        ),
        ("{}", "neither SARIF"),
        ("not json", "not JSON"),
    ] {
        std::fs::write(&report, body).unwrap();
        let (code, _, err) = run(warden(&p.ws).args([
            "evidence",
            "add",
            "native@1",
            "--tool",
            "bandit",
            "--kind",
            "sast",
            "--report",
            report.to_str().unwrap(),
        ]));
        assert_ne!(code, 0);
        assert!(err.contains(want), "{err}");
    }
    let (code, _, err) = run(warden(&p.ws).args([
        "evidence",
        "add",
        "native@1",
        "--tool",
        "bandit",
        "--kind",
        "dast",
        "--report",
        report.to_str().unwrap(),
    ]));
    assert_eq!(code, 2, "{err}");
    let (_, list, _) = run_json(&p.ws, &["evidence", "list", "native@1"]);
    assert_eq!(list.as_array().map(|a| a.len()), Some(1));

    // An insider with the database deletes the report to take its finding
    // out: the gate refuses to decide on rows the log did not record, and
    // `audit verify` names the row.
    let (code, _, err) = run(warden(&p.ws).args(["scan", "native@1", "--record"]));
    assert_eq!(code, 0, "{err}");
    let db = || rusqlite::Connection::open(p.ws.join(".warden/warden.db")).unwrap();
    db().execute_batch("CREATE TABLE saved AS SELECT * FROM evidence; DELETE FROM evidence;")
        .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("evidence 1 (bandit) of native@1 disagrees with the audit log")
            && err.contains("the row is gone"),
        "{err}"
    );
    let (code, _, err) = run(warden(&p.ws).args(["audit", "verify"]));
    assert_ne!(code, 0);
    assert!(err.contains("evidence 1 (bandit) of native@1"), "{err}");
    // Put back as it was, the gate decides again (and denies on the finding).
    db().execute_batch("INSERT INTO evidence SELECT * FROM saved; DROP TABLE saved;")
        .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 4, "{err}");
    // An edited scan row (its report swapped) is refused the same way.
    db().execute(
        "UPDATE scans SET report_digest = 'sha256:0000000000000000000000000000000000000000000000000000000000000000'",
        [],
    )
    .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("scan 1 of native@1 disagrees with the audit log")
            && err.contains("its report differ"),
        "{err}"
    );
}

#[test]
fn a_forged_evaluation_report_is_refused_at_the_gate() {
    use sha2::Digest as _;
    let p = project();
    std::fs::write(
        p.proj.join("p.toml"),
        "name = \"native\"\n[[stage]]\nname = \"data\"\n\
         ingest = { file = \"penguins.csv\", dataset = \"penguins\", target = \"species\" }\n\
         [[stage]]\nname = \"train\"\ntrain = { dataset = \"data\", model = \"native\", builtin = \"logreg\" }\n",
    )
    .unwrap();
    let (code, _, err) = run_json(
        &p.ws,
        &["pipeline", "run", p.proj.join("p.toml").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run_json(&p.ws, &["eval", "native@1", "--dataset", "penguins@1"]);
    assert_eq!(code, 0, "{err}");
    let (honest, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert!(honest == 0 || honest == 4, "{err}");

    // The insider (database write access, attacker 2) rewrites the report
    // the gate reads, with a digest column that matches the new report, so
    // the row is consistent with itself.
    let db = || rusqlite::Connection::open(p.ws.join(".warden/warden.db")).unwrap();
    let (report, digest): (String, String) = db()
        .query_row(
            "SELECT report, digest FROM evaluations WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let mut forged: Value = serde_json::from_str(&report).unwrap();
    forged["performance"]["accuracy"] = serde_json::json!(1.0);
    let forged = serde_json::to_string(&forged).unwrap();
    let forged_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&forged)));
    db().execute(
        "UPDATE evaluations SET report = ?1, digest = ?2 WHERE id = 1",
        [&forged, &forged_digest],
    )
    .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("evaluation 1 of native@1 disagrees with the audit log")
            && err.contains("its report differ"),
        "{err}"
    );
    let (code, _, err) = run(warden(&p.ws).args(["audit", "verify"]));
    assert_ne!(code, 0);
    assert!(err.contains("evaluation 1 of native@1"), "{err}");
    // The model card, which an approver reads, refuses it the same way
    // rather than printing the forged figures.
    let (code, card, err) = run(warden(&p.ws).args(["model", "card", "native@1"]));
    assert_eq!(code, 5, "{err}");
    assert!(card.is_empty(), "{card}");

    // A deleted evaluation (to fall back to none, or to an older one) is
    // refused the same way.
    db().execute(
        "UPDATE evaluations SET report = ?1, digest = ?2 WHERE id = 1",
        [&report, &digest],
    )
    .unwrap();
    db().execute_batch("CREATE TABLE saved AS SELECT * FROM evaluations; DELETE FROM evaluations;")
        .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("the row is gone"), "{err}");
    // Put back as it was, the gate decides as before.
    db().execute_batch("INSERT INTO evaluations SELECT * FROM saved; DROP TABLE saved;")
        .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, honest, "{err}");
}

/// A pipeline's ingest stage is held to the workspace's pin like a manual
/// ingest, and its dataset is `pinned` only when someone pinned it.
#[test]
fn a_pipeline_ingest_is_held_to_the_workspace_pin() {
    use sha2::Digest as _;
    let p = project();
    let file = |name: &str, sha: &str| {
        let f = p.proj.join(name);
        std::fs::write(
            &f,
            format!(
                "name = \"ingest\"\n[[stage]]\nname = \"data\"\n\
                 ingest = {{ file = \"penguins.csv\", dataset = \"penguins\", target = \"species\"{sha} }}\n"
            ),
        )
        .unwrap();
        f
    };
    let pinned = |v: &str| {
        let (code, d, err) = run_json(&p.ws, &["data", "show", v]);
        assert_eq!(code, 0, "{err}");
        d["dataset"]["manifest"]["source"]["pinned"].clone()
    };
    // Not pinned: the digest the pipeline read for reuse is no pin.
    let plain = file("plain.toml", "");
    let (code, _, err) = run_json(&p.ws, &["pipeline", "run", plain.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(pinned("penguins@1"), false);
    // Pinned by the pipeline file (a stage of its own, so not reused).
    let digest = hex::encode(sha2::Sha256::digest(
        std::fs::read(p.proj.join("penguins.csv")).unwrap(),
    ));
    let with_sha = file("pinned.toml", &format!(", sha256 = \"{digest}\""));
    let (code, _, err) = run_json(&p.ws, &["pipeline", "run", with_sha.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(pinned("penguins@2"), true);
    // The workspace pins other bytes under that name: the stage fails
    // naming the pin, whatever the pipeline file says, and a stage that
    // ran before is not reused past the pin.
    let toml = std::fs::read_to_string(p.ws.join("warden.toml")).unwrap();
    let other = "0".repeat(64);
    std::fs::write(
        p.ws.join("warden.toml"),
        toml.replacen(
            "[data.pins]\n",
            &format!("[data.pins]\npenguins = \"{other}\"\n"),
            1,
        ),
    )
    .unwrap();
    for f in [&plain, &with_sha] {
        for force in [false, true] {
            let mut args = vec!["pipeline", "run", f.to_str().unwrap()];
            if force {
                args.push("--force");
            }
            let (code, v, err) = run_json(&p.ws, &args);
            assert_ne!(code, 0, "{args:?}: {v}");
            assert!(
                format!("{v}{err}").contains("data.pins.penguins"),
                "{args:?}: {v}\n{err}"
            );
        }
    }
    let (_, list, _) = run_json(&p.ws, &["data", "list"]);
    assert_eq!(list.as_array().map(|a| a.len()), Some(2));
}

/// An insider with the database (attacker 2) rewrites a model row's author
/// so that its real author can approve it, or its digest: the gate refuses
/// to decide on a row its registering event does not vouch for.
#[test]
fn a_model_rows_author_rewritten_is_refused_at_the_gate() {
    let p = project();
    std::fs::write(
        p.proj.join("p.toml"),
        "name = \"native\"\n[[stage]]\nname = \"data\"\n\
         ingest = { file = \"penguins.csv\", dataset = \"penguins\", target = \"species\" }\n\
         [[stage]]\nname = \"train\"\ntrain = { dataset = \"data\", model = \"native\", builtin = \"logreg\" }\n",
    )
    .unwrap();
    let (code, _, err) = run_json(
        &p.ws,
        &["pipeline", "run", p.proj.join("p.toml").to_str().unwrap()],
    );
    assert_eq!(code, 0, "{err}");
    let (honest, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert!(honest == 0 || honest == 4, "{err}");
    let db = || rusqlite::Connection::open(p.ws.join(".warden/warden.db")).unwrap();
    let author: String = db()
        .query_row(
            "SELECT created_by FROM models WHERE name = 'native'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    db().execute(
        "UPDATE models SET created_by = 'someone-else' WHERE name = 'native'",
        [],
    )
    .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("model native@1 disagrees with the audit log")
            && err.contains("its author differ"),
        "{err}"
    );
    let (code, _, err) = run(warden(&p.ws).args(["audit", "verify"]));
    assert_ne!(code, 0);
    assert!(err.contains("model native@1"), "{err}");
    db().execute(
        "UPDATE models SET created_by = ?1 WHERE name = 'native'",
        [&author],
    )
    .unwrap();
    // The digest rewritten is refused the same way.
    let digest: String = db()
        .query_row("SELECT digest FROM models WHERE name = 'native'", [], |r| {
            r.get(0)
        })
        .unwrap();
    db().execute(
        &format!(
            "UPDATE models SET digest = 'sha256:{}' WHERE name = 'native'",
            "0".repeat(64)
        ),
        [],
    )
    .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("its digest differ"), "{err}");
    // Put back, the gate decides as before.
    db().execute(
        "UPDATE models SET digest = ?1 WHERE name = 'native'",
        [&digest],
    )
    .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["gate", "native@1", "--env", "staging"]));
    assert_eq!(code, honest, "{err}");
    // A deleted row's version number is not given again: the next
    // registration under the name is refused until the row is explained.
    db().execute_batch("DELETE FROM models WHERE name = 'native'")
        .unwrap();
    let (code, _, err) = run(warden(&p.ws).args(["audit", "verify"]));
    assert_ne!(code, 0);
    assert!(
        err.contains("model native@1") && err.contains("the row is gone"),
        "{err}"
    );
    // (The refusals above opened an integrity incident, which freezes
    // training until a person closes it.)
    let (code, _, err) =
        run(warden(&p.ws).args(["incident", "close", "1", "--resolution", "rows restored"]));
    assert_eq!(code, 0, "{err}");
    let (code, v, err) = run_json(
        &p.ws,
        &[
            "pipeline",
            "run",
            p.proj.join("p.toml").to_str().unwrap(),
            "--force",
        ],
    );
    assert_ne!(code, 0);
    let said = format!("{v}{err}");
    assert!(
        said.contains("model native@1") && said.contains("the row is gone"),
        "{said}"
    );
}
