//! Helpers the command-line test files share.

use std::path::Path;

use assert_cmd::Command;

/// `warden` run in `dir` as actor `ana`, outside any workspace set by the
/// environment.
pub fn warden(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("warden").unwrap();
    c.current_dir(dir)
        .env("WARDEN_ACTOR", "ana")
        .env("WARDEN_CONFIG_DIR", dir.join(".warden-user"))
        .env_remove("WARDEN_WORKSPACE");
    c
}

/// Runs `c`: exit code, stdout, stderr.
pub fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}
