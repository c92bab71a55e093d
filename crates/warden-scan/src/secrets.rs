//! Leaked secrets in text: provider tokens (cloud, GitHub, GitLab, Slack,
//! Stripe, OpenAI-style, Anthropic, Hugging Face, Google), private-key
//! blocks, JWTs, database URLs with passwords, and generic assignments of
//! high-entropy strings to names like `password` or `api_key`.
//!
//! Rules favour precision: each provider rule matches the provider's own
//! token shape; the generic rule needs a telling name, a quoted value and
//! enough entropy, and ignores placeholders. Values are never reported in
//! full: findings carry a masked value and a fingerprint (a hash of rule and
//! value) that an allow-list can name.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use regex::Regex;
use sha2::Digest as _;

use crate::{Allowlist, FileReport, Finding, Severity, Status};

struct Rule {
    id: &'static str,
    what: &'static str,
    re: Regex,
    /// Capture group holding the secret value.
    group: usize,
    severity: Severity,
    check: fn(&str) -> bool,
}

fn always(_: &str) -> bool {
    true
}

fn not_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    const P: &[&str] = &[
        "example",
        "xxxx",
        "****",
        "changeme",
        "change_me",
        "your",
        "placeholder",
        "dummy",
        "redacted",
        "<",
        ">",
        "${",
        "{{",
        "%(",
        "$(",
        "password",
        "secret",
        "token",
        "replace",
        "insert",
        "fake",
        "sample",
        "todo",
        "none",
        "null",
    ];
    !P.iter().any(|p| l.contains(p))
}

fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

fn generic_value(v: &str) -> bool {
    not_placeholder(v)
        && entropy(v) >= 3.5
        && v.chars().any(|c| c.is_ascii_digit())
        && v.chars().any(|c| c.is_ascii_alphabetic())
        && !v.contains(' ')
        // Paths, URLs without credentials, dotted identifiers and format strings are not secrets.
        && !v.starts_with('/')
        && !v.contains("://")
        && !v.chars().all(|c| c.is_ascii_alphanumeric() && !c.is_ascii_uppercase() || c == '_' || c == '.' || c == '-')
}

fn db_password(v: &str) -> bool {
    not_placeholder(v)
        && !v.starts_with('$')
        && !v.starts_with('%')
        && !v.starts_with('{')
        && v.len() >= 3
}

/// The rules. Word boundaries are ASCII (`(?-u:\b)`): tokens are ASCII,
/// and a Unicode boundary makes the regex engine fall back from its DFA
/// to a much slower NFA on any text with non-ASCII characters.
fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let r = |id, what, re: &str, group, severity, check: fn(&str) -> bool| Rule {
            id,
            what,
            re: Regex::new(re).unwrap_or_else(|e| panic!("secret rule {id} does not compile: {e}")),
            group,
            severity,
            check,
        };
        vec![
            r("secret.aws-access-key-id", "AWS access key id", r"(?-u:\b)((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?-u:\b)", 1, Severity::High, not_placeholder),
            r(
                "secret.aws-secret-access-key",
                "AWS secret access key",
                r#"(?i)aws_?(?:secret)?_?(?:access)?_?key["']?\s*[:=]\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
                1,
                Severity::Critical,
                not_placeholder,
            ),
            r("secret.github-token", "GitHub token", r"(?-u:\b)((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36})(?-u:\b)", 1, Severity::High, always),
            r("secret.github-token", "GitHub fine-grained token", r"(?-u:\b)(github_pat_[A-Za-z0-9_]{82})(?-u:\b)", 1, Severity::High, always),
            r("secret.gitlab-token", "GitLab token", r"(?-u:\b)(gl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_\-]{20,})(?-u:\b)", 1, Severity::High, always),
            r("secret.slack-token", "Slack token", r"(?-u:\b)(xox[baprse]-[0-9]{6,}-[A-Za-z0-9-]{6,})(?-u:\b)", 1, Severity::High, always),
            r(
                "secret.slack-webhook",
                "Slack webhook",
                r"(https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,})",
                1,
                Severity::High,
                always,
            ),
            r("secret.stripe-key", "Stripe live key", r"(?-u:\b)((?:sk|rk)_live_[A-Za-z0-9]{20,})(?-u:\b)", 1, Severity::Critical, always),
            r("secret.stripe-key", "Stripe test key", r"(?-u:\b)((?:sk|rk)_test_[A-Za-z0-9]{20,})(?-u:\b)", 1, Severity::Low, always),
            r(
                "secret.openai-key",
                "OpenAI API key",
                r"(?-u:\b)(sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}T3BlbkFJ[A-Za-z0-9_\-]{16,})",
                1,
                Severity::High,
                always,
            ),
            r("secret.openai-key", "OpenAI API key (legacy)", r"(?-u:\b)(sk-[A-Za-z0-9]{48})(?-u:\b)", 1, Severity::High, always),
            r("secret.anthropic-key", "Anthropic API key", r"(?-u:\b)(sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,})", 1, Severity::High, always),
            r("secret.huggingface-token", "Hugging Face token", r"(?-u:\b)((?:hf|api_org)_[A-Za-z]{34})(?-u:\b)", 1, Severity::High, not_placeholder),
            r("secret.google-api-key", "Google API key", r"(?-u:\b)(AIza[0-9A-Za-z_\-]{35})(?:[^0-9A-Za-z_\-]|$)", 1, Severity::High, always),
            r(
                "secret.private-key",
                "private key",
                r"(-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----)(?:\\r|\\n|\r|\n)+(?:[A-Za-z-]+: [^\r\n\\]*(?:\\r|\\n|\r|\n)+)*\s*[A-Za-z0-9+/=]{40,}",
                1,
                Severity::Critical,
                always,
            ),
            r("secret.jwt", "JSON Web Token", r"(?-u:\b)(eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{16,})", 1, Severity::Medium, always),
            r(
                "secret.database-url",
                "database URL with a password",
                r#"(?-u:\b)(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle)(?:\+[a-z0-9]+)?://[^\s:/@'"]+:([^\s@/'"]+)@[^\s'"/]+"#,
                1,
                Severity::High,
                db_password,
            ),
            r(
                "secret.generic",
                "high-entropy value assigned to a secret-like name",
                r#"(?i)(?-u:\b)[a-z0-9_.\-]*(?:secret|token|passwd|password|pwd|api_?key|apikey|access_?key|private_?key|client_?secret|auth_?key)[a-z0-9_.\-]*["']?\s*(?::|=|:=|=>)\s*["']([^"'\s]{16,200})["']"#,
                1,
                Severity::Medium,
                generic_value,
            ),
        ]
    })
}

/// Masks a secret for display: a few characters at each end.
pub fn mask(v: &str) -> String {
    let chars: Vec<char> = v.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len().min(8));
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

fn fingerprint(rule: &str, value: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(b"secret\0");
    h.update(rule.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..12])
}

/// Scans text; lines are 1-based from `first_line` (default 1).
pub(crate) fn scan_text_at(
    text: &str,
    member: Option<String>,
    first_line: u64,
    findings: &mut Vec<Finding>,
) {
    let mut line_starts: Option<Vec<usize>> = None;
    let mut seen: Vec<(usize, &str)> = Vec::new();
    for rule in rules() {
        for c in rule.re.captures_iter(text) {
            let Some(m) = c.get(rule.group) else { continue };
            let value = m.as_str();
            if value.contains("EXAMPLE") || !(rule.check)(value) {
                continue;
            }
            // One finding per place: a provider rule wins over the generic one.
            if seen.iter().any(|(s, _)| *s == m.start()) {
                continue;
            }
            seen.push((m.start(), rule.id));
            let starts = line_starts.get_or_insert_with(|| {
                std::iter::once(0)
                    .chain(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1))
                    .collect()
            });
            let line = match starts.binary_search(&m.start()) {
                Ok(i) => i,
                Err(i) => i - 1,
            } as u64
                + first_line;
            findings.push(Finding {
                rule: rule.id.into(),
                severity: rule.severity,
                message: format!("{}: {}", rule.what, mask(value)),
                member: member.clone(),
                offset: None,
                line: Some(line),
                fingerprint: Some(fingerprint(rule.id, value)),
            });
        }
    }
}

/// Scans a text file's content.
pub fn scan_text(text: &str, member: Option<String>, findings: &mut Vec<Finding>) {
    scan_text_at(text, member, 1, findings);
}

/// Scans a Jupyter notebook: every cell's source and every output's text.
pub(crate) fn scan_notebook(v: &serde_json::Value, findings: &mut Vec<Finding>) {
    fn text_of(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .concat(),
            other => other.to_string(),
        }
    }
    let Some(cells) = v.get("cells").and_then(|c| c.as_array()) else {
        return;
    };
    for (i, cell) in cells.iter().enumerate() {
        if let Some(src) = cell.get("source") {
            scan_text(&text_of(src), Some(format!("cell {}", i + 1)), findings);
        }
        for (j, out) in cell
            .get("outputs")
            .and_then(|o| o.as_array())
            .into_iter()
            .flatten()
            .enumerate()
        {
            let place = format!("cell {} output {}", i + 1, j + 1);
            if let Some(t) = out.get("text") {
                scan_text(&text_of(t), Some(place.clone()), findings);
            }
            if let Some(data) = out.get("data").and_then(|d| d.as_object()) {
                for (mime, d) in data {
                    if mime.starts_with("text/") || mime.ends_with("json") {
                        scan_text(&text_of(d), Some(format!("{place} ({mime})")), findings);
                    }
                }
            }
            if let Some(tb) = out.get("traceback") {
                scan_text(&text_of(tb), Some(format!("{place} (traceback)")), findings);
            }
        }
    }
}

/// Scans every line any commit of the repository at `repo` added.
pub(crate) fn scan_git_history(repo: &Path, allow: &Allowlist) -> FileReport {
    let mut rep = FileReport {
        path: format!("{} (git history)", repo.display()),
        format: "git-history".into(),
        status: Status::Scanned,
        size: 0,
        sha256: None,
        error: None,
        imports: Vec::new(),
        findings: Vec::new(),
        suppressed: 0,
    };
    let child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "log",
            "--all",
            "-p",
            "-U0",
            "--no-color",
            "--no-ext-diff",
            "--no-renames",
            "--format=@@@commit %H",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            rep.status = Status::Error;
            rep.error = Some(format!("cannot run git: {e}"));
            return rep;
        }
    };
    let Some(out) = child.stdout.take() else {
        rep.status = Status::Error;
        rep.error = Some("cannot read git's output".into());
        return rep;
    };
    let mut commit = String::new();
    let mut path = String::new();
    let mut chunk = String::new();
    let mut chunk_line = 0u64;
    let mut next_line = 0u64;
    let flush =
        |chunk: &mut String, commit: &str, path: &str, line: u64, findings: &mut Vec<Finding>| {
            if !chunk.is_empty() && !allow.path_allowed(path) {
                scan_text_at(
                    chunk,
                    Some(format!(
                        "commit {} {}",
                        &commit[..commit.len().min(12)],
                        path
                    )),
                    line,
                    findings,
                );
            }
            chunk.clear();
        };
    for l in BufReader::new(out).split(b'\n') {
        let Ok(l) = l else { break };
        let l = String::from_utf8_lossy(&l);
        rep.size += l.len() as u64 + 1;
        if let Some(c) = l.strip_prefix("@@@commit ") {
            flush(&mut chunk, &commit, &path, chunk_line, &mut rep.findings);
            commit = c.to_string();
        } else if let Some(p) = l.strip_prefix("+++ ") {
            flush(&mut chunk, &commit, &path, chunk_line, &mut rep.findings);
            path = p.strip_prefix("b/").unwrap_or(p).to_string();
        } else if l.starts_with("@@ ") {
            flush(&mut chunk, &commit, &path, chunk_line, &mut rep.findings);
            let plus = l.split(' ').find(|t| t.starts_with('+')).unwrap_or("+1");
            next_line = plus[1..]
                .split(',')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            chunk_line = next_line;
        } else if let Some(added) = l.strip_prefix('+') {
            if chunk.is_empty() {
                chunk_line = next_line;
            }
            chunk.push_str(added);
            chunk.push('\n');
            next_line += 1;
        }
    }
    flush(&mut chunk, &commit, &path, chunk_line, &mut rep.findings);
    match child.wait() {
        Ok(s) if s.success() => {}
        Ok(s) => {
            rep.status = Status::Error;
            rep.error = Some(format!("git log failed ({s}): is this a git repository?"));
        }
        Err(e) => {
            rep.status = Status::Error;
            rep.error = Some(format!("git log failed: {e}"));
        }
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(t: &str) -> Vec<Finding> {
        let mut f = Vec::new();
        scan_text(t, None, &mut f);
        f
    }

    #[test]
    fn providers_are_found_with_lines_and_masks() {
        let gh = format!("ghp_{}", "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
        let t = format!("x = 1\ntoken = \"{gh}\"\nAWS_KEY=AKIAZ7QWERTY12345678\n");
        let f = find(&t);
        let g = f
            .iter()
            .find(|x| x.rule == "secret.github-token")
            .expect("github token");
        assert_eq!(g.line, Some(2));
        assert!(!g.message.contains(&gh), "the value is masked");
        assert!(
            f.iter()
                .any(|x| x.rule == "secret.aws-access-key-id" && x.line == Some(3))
        );
        assert_eq!(
            f.iter().filter(|x| x.line == Some(2)).count(),
            1,
            "no duplicate generic finding: {f:?}"
        );
    }

    #[test]
    fn private_key_block_needs_a_body() {
        let f = find("if line == '-----BEGIN RSA PRIVATE KEY-----':\n    pass\n");
        assert!(f.is_empty(), "{f:?}");
        let f = find(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Critical);
    }

    #[test]
    fn database_urls_and_placeholders() {
        assert_eq!(
            find("DB=postgresql://app:s3cr3tPa55@db.internal:5432/prod").len(),
            1
        );
        assert!(find("DB=postgresql://app:${DB_PASSWORD}@db/prod").is_empty());
        assert!(find("url = 'postgres://user:password@localhost/db'").is_empty());
    }

    #[test]
    fn generic_assignments_need_entropy() {
        assert_eq!(find("api_key = \"Zx8kQ2mP9vL4tR7wY1nB6cJ3\"").len(), 1);
        assert!(find("api_key = \"your-api-key-goes-here\"").is_empty());
        assert!(find("password_field = \"password_confirmation\"").is_empty());
        assert!(find("token_type = \"bearer_token_type_name\"").is_empty());
    }

    #[test]
    fn notebook_outputs_are_scanned() {
        let nb = serde_json::json!({"cells": [
            {"cell_type": "code", "source": ["import os\n"], "outputs": [{"output_type": "stream", "text": ["hf_abcdefghijklmnopqrstuvwxyzABCDEFGH\n"]}]}
        ], "nbformat": 4});
        let mut f = Vec::new();
        scan_notebook(&nb, &mut f);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].member.as_deref(), Some("cell 1 output 1"));
    }
}
