//! CI templates (`warden ci init github|gitlab`): a workflow that installs
//! bubblewrap and Warden, scans the repository, runs the pipeline file in a
//! fresh workspace, and proves the job's identity to a hub by the CI's OIDC
//! token. The templates are files of this crate, filled in here.

use std::path::Path;

use crate::Error;

/// Which CI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CiKind {
    /// GitHub Actions: `.github/workflows/warden.yml`.
    Github,
    /// GitLab CI: `.gitlab-ci.yml`.
    Gitlab,
}

impl std::str::FromStr for CiKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "github" => Ok(CiKind::Github),
            "gitlab" => Ok(CiKind::Gitlab),
            _ => Err(Error::Usage(format!("unknown CI {s:?}: github or gitlab"))),
        }
    }
}

/// A filled-in template and where it goes in the repository.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CiTemplate {
    /// Where the file goes, relative to the repository root.
    pub path: &'static str,
    /// The file's contents (YAML).
    pub text: String,
}

/// The workflow for `kind`, running the pipeline file `pipeline` (relative
/// to the repository root), installing Warden with `install` (one shell
/// command line).
pub fn ci_template(kind: CiKind, pipeline: &str, install: &str) -> Result<CiTemplate, Error> {
    crate::pipeline::spec::relative_inside(pipeline)
        .map_err(|e| Error::Usage(format!("--pipeline: {e}")))?;
    let safe = |s: &str| {
        !s.is_empty()
            && !s.chars().any(|c| c.is_control())
            && !s.contains("{{")
            && !s.contains("}}")
    };
    if !safe(pipeline) || pipeline.contains(['"', '$', '`', '\\', ' ']) {
        return Err(Error::Usage(format!(
            "--pipeline {pipeline:?}: a relative path of letters, digits, '/', '.', '_' or '-'"
        )));
    }
    if !safe(install) {
        return Err(Error::Usage(
            "--install: one line of shell that installs the warden binary on the runner".into(),
        ));
    }
    let dir = match Path::new(pipeline).parent() {
        Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
        _ => ".".to_string(),
    };
    let (path, raw) = match kind {
        CiKind::Github => (
            ".github/workflows/warden.yml",
            include_str!("templates/github.yml"),
        ),
        CiKind::Gitlab => (".gitlab-ci.yml", include_str!("templates/gitlab.yml")),
    };
    let text = raw
        .replace("{{INSTALL}}", install)
        .replace("{{PIPELINE}}", pipeline)
        .replace("{{DIR}}", &dir);
    Ok(CiTemplate { path, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_in_completely() {
        for kind in [CiKind::Github, CiKind::Gitlab] {
            let t = ci_template(
                kind,
                "examples/titanic/pipeline.toml",
                "cargo install --locked warden-cli",
            )
            .unwrap();
            for placeholder in ["{{INSTALL}}", "{{PIPELINE}}", "{{DIR}}"] {
                assert!(!t.text.contains(placeholder), "{kind:?}: {placeholder}");
            }
            assert!(t.text.contains("warden pipeline run"));
            assert!(t.text.contains(
                "examples/titanic/.venv/bin/pip install -r examples/titanic/requirements.txt"
            ));
            assert!(t.text.contains("cargo install --locked warden-cli"));
            assert!(t.text.contains("bubblewrap"));
            assert!(t.text.contains("warden login"));
            // Tabs are not YAML indentation.
            assert!(!t.text.contains('\t'));
        }
        let g = ci_template(CiKind::Github, "pipeline.toml", "x").unwrap();
        assert!(g.text.contains("id-token: write"));
        assert!(g.text.contains("upload-sarif"));
        assert!(g.text.contains("-r ./requirements.txt"));
    }

    #[test]
    fn unsafe_values_are_refused() {
        for p in [
            "../p.toml",
            "/abs/p.toml",
            "a b.toml",
            "p$(x).toml",
            "p\n.toml",
            "",
        ] {
            assert!(ci_template(CiKind::Github, p, "x").is_err(), "{p:?}");
        }
        assert!(ci_template(CiKind::Github, "p.toml", "a\nb").is_err());
        assert!(ci_template(CiKind::Github, "p.toml", "").is_err());
        assert!("jenkins".parse::<CiKind>().is_err());
    }
}
