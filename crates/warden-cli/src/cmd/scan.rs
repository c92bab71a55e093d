//! `warden scan`: model files, archives and source trees; text, JSON or SARIF.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use warden::scanner::{Allowlist, Options, Profile, Report, Severity, Status};
use warden_core::VersionRef;

use crate::cli::{Global, ScanArgs};
use crate::cmd::workspace;
use crate::exit;
use crate::output::Failure;

/// The allow-list read when `--allowlist` is not given, if it exists.
const DEFAULT_ALLOWLIST: &str = ".warden-scan.toml";

pub fn run(g: &Global, a: ScanArgs) -> Result<ExitCode, Failure> {
    let profile = Profile::parse(&a.profile).ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            format!("--profile {}: unknown profile", a.profile),
        )
    })?;
    let fail_on = Severity::parse(&a.fail_on).ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            format!("--fail-on {}: unknown severity", a.fail_on),
        )
    })?;
    let (models, secrets) = match (a.models, a.secrets) {
        (false, false) => (true, true),
        pair => pair,
    };
    let allow_path = a
        .allowlist
        .clone()
        .or_else(|| Some(PathBuf::from(DEFAULT_ALLOWLIST)).filter(|p| p.exists()));
    let allowlist = match &allow_path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Failure::new(
                    exit::USAGE,
                    format!("cannot read allow-list {}: {e}", p.display()),
                )
            })?;
            Allowlist::parse(&text)
                .map_err(|e| Failure::new(exit::USAGE, format!("{}: {e}", p.display())))?
        }
        None => Allowlist::default(),
    };
    let opts = Options {
        profile,
        models,
        secrets,
        git_history: a.git_history,
        allowlist,
        digests: a.record,
        threads: a.threads,
    };

    // Arguments that exist are paths; NAME@N that does not exist as a path is a model.
    let mut paths = Vec::new();
    let mut refs: Vec<VersionRef> = Vec::new();
    for p in &a.paths {
        if !Path::new(p).exists() && p.contains('@') {
            refs.push(crate::cmd::data::version_ref(p)?);
        } else {
            paths.push(PathBuf::from(p));
        }
    }

    let quiet = g.json
        || a.format != "text" && a.output.is_none()
        || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "scanning [{bar:30}] {pos}/{len} files ({elapsed})",
        ) {
            b.set_style(style.progress_chars("=> "));
        }
        b
    };
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };

    let ws = if refs.is_empty() && !a.record {
        None
    } else {
        Some(workspace(g)?)
    };
    let mut parts: Vec<(Option<VersionRef>, Report)> = Vec::new();
    if !paths.is_empty() {
        parts.push((None, warden::scanner::scan(&paths, &opts, &progress)));
    }
    if let Some(ws) = &ws {
        for r in &refs {
            parts.push((Some(r.clone()), ws.scan_model(r, &opts, &progress)?));
        }
    }
    bar.finish_and_clear();

    let mut recorded = Vec::new();
    if let Some(ws) = ws.as_ref().filter(|_| a.record) {
        for (r, rep) in &parts {
            let target = match r {
                Some(r) => r.to_string(),
                None => paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            recorded.push(ws.record_scan(rep, r.as_ref(), &target)?);
        }
    }

    let files = parts.into_iter().flat_map(|(_, r)| r.files).collect();
    let report = Report::new(profile, files);
    let text = if g.json || a.format == "json" {
        let mut v = serde_json::to_value(&report)
            .map_err(|e| Failure::new(exit::ERROR, format!("cannot write JSON: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("fail_on".into(), fail_on.as_str().into());
            if a.record {
                o.insert(
                    "recorded".into(),
                    serde_json::to_value(&recorded).unwrap_or_default(),
                );
            }
        }
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    } else if a.format == "sarif" {
        let root = std::env::current_dir().ok();
        serde_json::to_string_pretty(&warden::scanner::to_sarif_at(
            &report,
            env!("CARGO_PKG_VERSION"),
            root.as_deref(),
        ))
        .unwrap_or_default()
            + "\n"
    } else {
        human(&report, fail_on, &recorded)
    };
    match &a.output {
        Some(p) => std::fs::write(p, text)
            .map_err(|e| Failure::new(exit::ERROR, format!("cannot write {}: {e}", p.display())))?,
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
        }
    }
    if report.has_errors() {
        return Ok(ExitCode::from(exit::ERROR));
    }
    if report.fails(fail_on) {
        return Ok(ExitCode::from(exit::FINDINGS));
    }
    Ok(ExitCode::SUCCESS)
}

fn human(r: &Report, fail_on: Severity, recorded: &[warden::ScanRecord]) -> String {
    let mut s = String::new();
    for f in &r.files {
        for x in &f.findings {
            let mut place = f.path.clone();
            if let Some(l) = x.line {
                place = format!("{place}:{l}");
            }
            if let Some(m) = &x.member {
                place = format!("{place} [{m}]");
            }
            if let Some(o) = x.offset {
                place = format!("{place} @ byte {o}");
            }
            s += &format!(
                "{:<8}  {:<28}  {place}\n          {}\n",
                x.severity.as_str(),
                x.rule,
                x.message
            );
        }
    }
    let mut not_scanned: Vec<String> = Vec::new();
    for f in &r.files {
        match f.status {
            Status::Error => not_scanned.push(format!(
                "  error      {}: {}",
                f.path,
                f.error.clone().unwrap_or_default()
            )),
            Status::Unscanned => {
                not_scanned.push(format!("  unscanned  {} ({})", f.path, f.format))
            }
            _ => {}
        }
    }
    if !not_scanned.is_empty() {
        s += "\nNot scanned (not known to be clean):\n";
        s += &not_scanned.join("\n");
        s += "\n";
    }
    let m = &r.summary;
    s += &format!(
        "\n{} file(s): {} scanned, {} unscanned, {} skipped, {} error(s). Findings: {} critical, {} high, {} medium, {} low{}.\n",
        m.files,
        m.scanned,
        m.unscanned,
        m.skipped,
        m.errors,
        m.critical,
        m.high,
        m.medium,
        m.low,
        if m.suppressed > 0 {
            format!(" ({} suppressed by the allow-list)", m.suppressed)
        } else {
            String::new()
        }
    );
    s += &match (r.has_errors(), r.fails(fail_on)) {
        (true, _) => "Result: incomplete — some files could not be scanned (exit 1).\n".to_string(),
        (false, true) => format!(
            "Result: findings at or above {} (exit 6).\n",
            fail_on.as_str()
        ),
        (false, false) => format!("Result: nothing at or above {}.\n", fail_on.as_str()),
    };
    for rec in recorded {
        s += &format!("Recorded as scan {} ({}).\n", rec.id, rec.target);
    }
    s
}
