//! SARIF 2.1.0 output, as code-scanning services read it: one rule per
//! technique with a severity level and a `security-severity` score, a
//! result per finding with its location, and the files that could not be
//! scanned as tool notifications (so an incomplete scan never looks clean).

use std::path::Path;

use serde_json::{Value, json};

use crate::{Report, Severity, Status};

/// What each rule detects, for the rule's description.
pub fn describe(rule: &str) -> &'static str {
    match rule {
        "pickle.code-execution" => {
            "Pickle imports a callable that runs commands or code when the file loads"
        }
        "pickle.importer" => {
            "Pickle imports an importer or resolver that can reach any module by name"
        }
        "pickle.attribute-access" => {
            "Pickle reaches attributes by name (getattr-like), which leads to any callable"
        }
        "pickle.indirect-call" => {
            "Pickle wraps another callable (partial, reduce, copyreg) to call it at load time"
        }
        "pickle.factory" => {
            "Pickle calls a factory that instantiates classes named in data (logging dictConfig)"
        }
        "pickle.nested-loader" => {
            "Pickle calls a loader that unpickles further data (a second, hidden pickle)"
        }
        "pickle.filesystem" => "Pickle imports a callable that reads, writes or deletes files",
        "pickle.network" => "Pickle imports a callable that opens network connections",
        "pickle.not-allowed" => "Pickle imports a name that is not on the profile's allow list",
        "pickle.dynamic-import" => "Pickle imports a name computed at load time",
        "pickle.dynamic-call" => "Pickle calls a value computed at load time",
        "pickle.extension-registry" => "Pickle imports through the copyreg extension registry",
        "pickle.global-mutation" => "Pickle modifies a module-level object at load time",
        "pickle.malformed" => "Pickle stops with an error after running part of its program",
        "zip.duplicate-entry" => "Archive holds two entries with the same name",
        "zip.header-mismatch" => "Archive's local and central headers disagree",
        "zip.encrypted" => "Archive entry is encrypted and cannot be scanned",
        "zip.bad-crc" => "Archive entry's checksum does not match its content",
        "zip.path-escape" => "Archive entry name escapes the extraction directory",
        "zip.bomb" => "Archive entry expands far beyond its compressed size",
        "zip.leading-data" => "Archive is preceded by other data (a polyglot file)",
        "zip.unsupported-compression" => {
            "Archive entry uses a compression the scanner does not read"
        }
        "zip.malformed" => "Archive structure is damaged",
        "npy.object-dtype" => "NumPy file holds an object array (a pickle)",
        "npy.malformed" => "NumPy file header is invalid",
        "safetensors.malformed" => "safetensors header is invalid or inconsistent with the file",
        "gguf.malformed" => "GGUF header is invalid or inconsistent with the file",
        "gguf.template-injection" => "GGUF chat template contains server-side template injection",
        "onnx.external-data-escape" => "ONNX external data path leaves the model directory",
        "onnx.external-data-missing" => "ONNX external data file is missing",
        "onnx.custom-operator" => "ONNX model needs custom operators (native code)",
        "onnx.malformed" => "ONNX protobuf is malformed",
        "keras.lambda" => "Keras model holds a Lambda layer (Python code)",
        "keras.module-reference" => "Keras config loads classes from outside Keras",
        "keras.malformed" => "Keras config is not valid JSON",
        "savedmodel.dangerous-op" => "TensorFlow graph uses ops that touch files or run Python",
        "savedmodel.malformed" => "SavedModel protobuf is malformed",
        "file.unrecognised" => "File format not recognised: not scanned",
        "file.malformed" => "File could not be parsed",
        "file.too-deep" => "Content nested deeper than the scanner follows",
        r if r.starts_with("secret.") => "Secret committed in a file",
        _ => "Warden scanner finding",
    }
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

fn score(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
    }
}

/// Where the tool's documentation is published, when the build names it
/// (`WARDEN_INFORMATION_URI` at compile time, e.g. the scanner's page on the
/// distributor's site). A build that names none writes no `informationUri`:
/// the property is optional in SARIF 2.1.0, and a made-up address would send
/// code-scanning users to a page that does not exist.
pub const INFORMATION_URI: Option<&str> = option_env!("WARDEN_INFORMATION_URI");

/// The base the artifact URIs are relative to.
pub const SRCROOT: &str = "%SRCROOT%";

/// Percent-escapes a path for a URI (forward slashes; unreserved kept).
fn escape(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// An artifact location: relative to %SRCROOT% when the path is under the
/// root (or relative already), else an absolute `file://` URI.
fn artifact(path: &str, root: Option<&Path>) -> Value {
    let p = path.replace('\\', "/");
    let abs = Path::new(&p).is_absolute();
    let rel = match (abs, root) {
        (true, Some(r)) => Path::new(&p)
            .strip_prefix(r)
            .ok()
            .map(|x| x.to_string_lossy().replace('\\', "/")),
        (true, None) => None,
        (false, _) => Some(p.clone()),
    };
    match rel {
        Some(r) => {
            let mut r = r.as_str();
            while let Some(x) = r.strip_prefix("./") {
                r = x;
            }
            json!({"uri": escape(r), "uriBaseId": SRCROOT})
        }
        None => json!({"uri": format!("file://{}", escape(&p))}),
    }
}

/// The report as a SARIF 2.1.0 log, artifact URIs relative to %SRCROOT%
/// (given as `root`, the directory the scanned paths are relative to).
pub fn to_sarif_at(report: &Report, version: &str, root: Option<&Path>) -> Value {
    let mut v = to_sarif_inner(report, version, root);
    if let Some(r) = root
        && let Some(run) = v["runs"].get_mut(0)
    {
        let mut base = format!("file://{}", escape(&r.to_string_lossy().replace('\\', "/")));
        if !base.ends_with('/') {
            base.push('/');
        }
        run["originalUriBaseIds"] = json!({ SRCROOT: {"uri": base} });
    }
    v
}

/// The report as a SARIF 2.1.0 log (artifact URIs relative to %SRCROOT%,
/// left unresolved).
pub fn to_sarif(report: &Report, version: &str) -> Value {
    to_sarif_at(report, version, None)
}

fn to_sarif_inner(report: &Report, version: &str, root: Option<&Path>) -> Value {
    let mut rule_ids: Vec<(String, Severity)> = Vec::new();
    for f in &report.files {
        for x in &f.findings {
            match rule_ids.iter_mut().find(|(r, _)| *r == x.rule) {
                Some((_, s)) => *s = (*s).max(x.severity),
                None => rule_ids.push((x.rule.clone(), x.severity)),
            }
        }
    }
    rule_ids.sort();
    let rules: Vec<Value> = rule_ids
        .iter()
        .map(|(id, sev)| {
            json!({
                "id": id,
                "name": id.split(['.', '-']).map(|w| { let mut c = w.chars(); c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default() }).collect::<String>(),
                "shortDescription": {"text": describe(id)},
                "fullDescription": {"text": describe(id)},
                "defaultConfiguration": {"level": level(*sev)},
                "properties": {"security-severity": score(*sev), "tags": ["security", id.split('.').next().unwrap_or("scan")]},
            })
        })
        .collect();
    let mut results = Vec::new();
    let mut notes = Vec::new();
    for f in &report.files {
        for x in &f.findings {
            let idx = rule_ids.iter().position(|(r, _)| *r == x.rule).unwrap_or(0);
            let mut text = x.message.clone();
            if let Some(m) = &x.member {
                text = format!("{text} (in {m})");
            }
            if let Some(o) = x.offset {
                text = format!("{text} [byte {o}]");
            }
            let mut region = json!({"startLine": x.line.unwrap_or(1)});
            if x.line.is_none() {
                region = json!({"startLine": 1});
            }
            results.push(json!({
                "ruleId": x.rule,
                "ruleIndex": idx,
                "level": level(x.severity),
                "message": {"text": text},
                "locations": [{"physicalLocation": {"artifactLocation": artifact(&f.path, root), "region": region}}],
                "partialFingerprints": {"wardenFinding/v1": x.fingerprint.clone().unwrap_or_default()},
                "properties": {"severity": x.severity.as_str(), "format": f.format},
            }));
        }
        if matches!(f.status, Status::Error | Status::Unscanned) {
            notes.push(json!({
                "level": if f.status == Status::Error { "error" } else { "warning" },
                "message": {"text": format!("{}: {}", f.path, f.error.clone().unwrap_or_else(|| format!("{} format not scanned", f.format)))},
                "locations": [{"physicalLocation": {"artifactLocation": artifact(&f.path, root)}}],
            }));
        }
    }
    let mut driver = json!({
        "name": "warden-scan",
        "version": version,
        "rules": rules,
    });
    if let Some(uri) = INFORMATION_URI.filter(|u| u.starts_with("https://")) {
        driver["informationUri"] = json!(uri);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": driver},
            "invocations": [{
                "executionSuccessful": !report.has_errors(),
                "toolExecutionNotifications": notes,
            }],
            "results": results,
        }],
    })
}
