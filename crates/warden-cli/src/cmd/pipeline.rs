//! `warden pipeline` and `warden evidence`.

use std::process::ExitCode;

use warden::pipeline::{self, RunOptions, StageEvent, StageKind, StageStatus};

use super::data::version_ref;
use super::workspace;
use crate::cli::{CiCmd, EvidenceCmd, Global, PipelineCmd};
use crate::exit;
use crate::output::{self, Failure};

pub fn run(g: &Global, cmd: PipelineCmd) -> Result<ExitCode, Failure> {
    match cmd {
        PipelineCmd::Plan { file, .. } => {
            let plan = pipeline::load(&file)?;
            if g.json {
                let stages: Vec<serde_json::Value> = plan
                    .stages
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "name": s.name, "kind": s.kind.name(), "needs": s.needs,
                            "inputs": pipeline::spec::inputs_of(&s.kind).iter()
                                .map(|(f, _, v)| serde_json::json!({"field": f, "value": v}))
                                .collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                output::json(&serde_json::json!({
                    "pipeline": plan.name.as_str(), "file": plan.file, "digest": plan.digest.to_string(),
                    "sandbox": plan.sandbox, "stages": stages,
                }))?;
            } else {
                println!(
                    "Pipeline {} ({}, {}): {} stages in this order",
                    plan.name,
                    plan.file.display(),
                    plan.digest,
                    plan.stages.len()
                );
                let mut t = output::table(&["#", "stage", "kind", "inputs", "after"]);
                for (i, s) in plan.stages.iter().enumerate() {
                    let inputs: Vec<String> = pipeline::spec::inputs_of(&s.kind)
                        .iter()
                        .map(|(f, _, v)| format!("{f}={v}"))
                        .collect();
                    t.add_row(vec![
                        (i + 1).to_string(),
                        s.name.clone(),
                        describe(&s.kind),
                        inputs.join(" "),
                        s.needs.join(", "),
                    ]);
                }
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCmd::Run {
            file,
            force,
            allow_unsandboxed,
            threads,
            ..
        } => {
            let plan = pipeline::load(&file)?;
            let ws = workspace(g)?;
            let quiet = output::Progress::of(g.progress) == output::Progress::None;
            let mut progress = |e: StageEvent<'_>| {
                if quiet {
                    return;
                }
                match e {
                    StageEvent::Started {
                        index,
                        total,
                        stage,
                    } => eprintln!(
                        "[{}/{total}] {} ({}) ...",
                        index + 1,
                        stage.name,
                        describe(&stage.kind)
                    ),
                    StageEvent::Finished {
                        index,
                        total,
                        record,
                    } => eprintln!(
                        "[{}/{total}] {} {} in {:.1} s",
                        index + 1,
                        record.name,
                        status_word(record.status),
                        record.seconds
                    ),
                }
            };
            let report = ws.pipeline_run(
                &plan,
                &RunOptions {
                    force,
                    allow_unsandboxed,
                    threads: threads.unwrap_or(0),
                },
                &mut progress,
            )?;
            if g.json {
                output::json(&report)?;
            } else {
                print_run(&report);
            }
            Ok(match report.run.status.as_str() {
                "succeeded" => ExitCode::SUCCESS,
                "denied" => ExitCode::from(exit::GATE_DENIED),
                _ => ExitCode::from(exit::ERROR),
            })
        }
        PipelineCmd::List { name, .. } => {
            let ws = workspace(g)?;
            let runs = ws.pipeline_list(name.as_deref())?;
            if g.json {
                output::json(&runs)?;
            } else if runs.is_empty() {
                println!("No pipeline runs.");
            } else {
                let mut t =
                    output::table(&["run", "pipeline", "status", "started", "by", "stages"]);
                for r in &runs {
                    let ok = r
                        .run
                        .stages
                        .iter()
                        .filter(|s| matches!(s.status, StageStatus::Ok | StageStatus::Reused))
                        .count();
                    t.add_row(vec![
                        r.id.to_string(),
                        r.run.pipeline.clone(),
                        r.run.status.clone(),
                        r.run.started_at.clone(),
                        r.created_by.clone(),
                        format!("{ok}/{} passed", r.run.stages.len()),
                    ]);
                }
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        PipelineCmd::Show { id, markdown, .. } => {
            let ws = workspace(g)?;
            let r = if id == "last" {
                ws.pipeline_list(None)?
                    .pop()
                    .ok_or_else(|| Failure::new(exit::ERROR, "no pipeline run is recorded"))?
            } else {
                let n: u64 = id.parse().map_err(|_| {
                    Failure::new(exit::USAGE, format!("{id:?}: give a run number, or `last`"))
                })?;
                ws.pipeline_show(n)?
            };
            if g.json {
                output::json(&r)?;
            } else if markdown {
                print!("{}", run_markdown(&r));
            } else {
                print_run(&r);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn describe(k: &StageKind) -> String {
    match k {
        StageKind::Train(t) => match (&t.builtin, &t.command) {
            (Some(b), _) => format!("train, builtin {b}"),
            (None, Some(c)) => format!("train, command {}", c.join(" ")),
            _ => "train".into(),
        },
        StageKind::Gate(g) => format!("gate {}", g.env),
        StageKind::Promote(g) => format!("promote to {}", g.env),
        StageKind::Evidence(e) => format!(
            "evidence {} ({})",
            e.tool,
            e.kind
                .clone()
                .unwrap_or_else(|| warden::EvidenceKind::of_tool(&e.tool).as_str().to_string())
        ),
        other => other.name().to_string(),
    }
}

fn status_word(s: StageStatus) -> &'static str {
    match s {
        StageStatus::Ok => "ok",
        StageStatus::Reused => "reused",
        StageStatus::Denied => "DENIED",
        StageStatus::Failed => "FAILED",
        StageStatus::Skipped => "skipped",
    }
}

/// A stage's result as a person reads it: its error, or its fields less
/// digests, log blobs and timings.
fn result_text(s: &pipeline::StageRecord) -> String {
    let fields = serde_json::to_value(&s.result).unwrap_or_default();
    match (&s.error, fields.as_object()) {
        (Some(e), _) => e.clone(),
        (None, Some(o)) => o
            .iter()
            .filter(|(k, _)| {
                !matches!(k.as_str(), "stdout" | "stderr" | "code" | "seconds")
                    && !k.ends_with("digest")
            })
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        (None, None) => String::new(),
    }
}

fn print_run(r: &pipeline::RunReport) {
    println!(
        "Pipeline run {} of {}: {} ({} to {}, by {})",
        r.id, r.run.pipeline, r.run.status, r.run.started_at, r.run.finished_at, r.created_by
    );
    let mut t = output::table(&["stage", "kind", "status", "seconds", "result"]);
    for s in &r.run.stages {
        let result = result_text(s);
        t.add_row(vec![
            s.name.clone(),
            s.kind.clone(),
            status_word(s.status).to_string(),
            format!("{:.1}", s.seconds),
            result,
        ]);
    }
    println!("{t}");
    for s in &r.run.stages {
        if s.status == StageStatus::Denied {
            println!("Gate {} denied:", s.name);
            for reason in &s.reasons {
                println!("  - {reason}");
            }
        }
    }
}

/// A run as Markdown: a heading with the outcome, a table of stages, and a
/// denied gate's reasons (Markdown special characters in values escaped).
fn run_markdown(r: &pipeline::RunReport) -> String {
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('|', "\\|")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\n', " ")
    };
    let mark = match r.run.status.as_str() {
        "succeeded" => "passed",
        "denied" => "denied by a gate",
        _ => "failed",
    };
    let mut out = format!(
        "### Warden pipeline `{}`: run {} {mark}\n\n{} to {}, by {}; file digest `{}`\n\n",
        esc(&r.run.pipeline),
        r.id,
        r.run.started_at,
        r.run.finished_at,
        esc(&r.created_by),
        r.run.file_digest
    );
    out.push_str(
        "| stage | kind | status | seconds | result |\n| --- | --- | --- | ---: | --- |\n",
    );
    for s in &r.run.stages {
        let result = result_text(s);
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} |\n",
            esc(&s.name),
            esc(&s.kind),
            status_word(s.status),
            s.seconds,
            esc(&result)
        ));
    }
    for s in &r.run.stages {
        if s.status == StageStatus::Denied {
            out.push_str(&format!("\n**{}** denied:\n\n", esc(&s.name)));
            for reason in &s.reasons {
                out.push_str(&format!("- {}\n", esc(reason)));
            }
        }
    }
    out
}

pub fn evidence(g: &Global, cmd: EvidenceCmd) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    match cmd {
        EvidenceCmd::Add {
            model,
            tool,
            kind,
            report,
            ..
        } => {
            let kind: warden::EvidenceKind = match kind {
                Some(k) => k
                    .parse()
                    .map_err(|e: String| Failure::new(exit::USAGE, e))?,
                None => warden::EvidenceKind::of_tool(&tool),
            };
            let info = ws.evidence_add(&warden::EvidenceRequest {
                model: version_ref(&model)?,
                tool,
                kind,
                file: report,
            })?;
            if g.json {
                output::json(&info)?;
            } else {
                let s = &info.summary;
                println!(
                    "Recorded evidence {} for {}@{}: {} {} report, {} finding(s), highest score {}",
                    info.record.id,
                    info.record.model,
                    info.record.version,
                    info.record.tool,
                    s.format,
                    s.findings,
                    s.max_score
                );
                for f in s.top.iter().take(10) {
                    println!(
                        "  {:<8} {:>4.1} {} {}{}",
                        f.severity,
                        f.score,
                        f.rule,
                        f.location
                            .as_deref()
                            .map(|l| format!("{l}: "))
                            .unwrap_or_default(),
                        f.message
                    );
                }
            }
        }
        EvidenceCmd::List { model, .. } => {
            let m = match &model {
                Some(m) => Some(version_ref(m)?),
                None => None,
            };
            let list = ws.evidence_list(m.as_ref())?;
            if g.json {
                output::json(&list)?;
            } else if list.is_empty() {
                println!("No evidence recorded.");
            } else {
                let mut t = output::table(&[
                    "id",
                    "model",
                    "tool",
                    "kind",
                    "findings",
                    "max score",
                    "recorded",
                ]);
                for e in &list {
                    t.add_row(vec![
                        e.record.id.to_string(),
                        format!("{}@{}", e.record.model, e.record.version),
                        e.record.tool.clone(),
                        e.record.kind.clone(),
                        e.summary.findings.to_string(),
                        format!("{}", e.summary.max_score),
                        format!("{} by {}", e.record.created_at, e.record.created_by),
                    ]);
                }
                println!("{t}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn ci(g: &Global, cmd: CiCmd) -> Result<ExitCode, Failure> {
    let CiCmd::Init {
        ci,
        pipeline,
        install,
        dir,
        force,
    } = cmd;
    let kind: pipeline::ci::CiKind = ci.parse()?;
    let t = pipeline::ci::ci_template(kind, &pipeline, &install)?;
    let path = dir.join(t.path);
    if path.exists() && !force {
        return Err(Failure::new(
            exit::ERROR,
            format!("{} exists; kept (--force replaces it)", path.display()),
        ));
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", parent.display())))?;
    }
    std::fs::write(&path, &t.text)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", path.display())))?;
    if g.json {
        output::json(&serde_json::json!({"path": path, "ci": ci, "pipeline": pipeline}))?;
    } else {
        println!("Wrote {} (runs {pipeline} on every push)", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
