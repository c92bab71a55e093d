//! `monitor`: offline drift against a reference.

use std::process::ExitCode;

use warden::drift::Correction;
use warden::drift::Thresholds;
use warden::{DriftOutcome, DriftReference, DriftRequest};

use super::data::csv_options;
use super::workspace;
use crate::cli::{Global, MonitorCmd};
use crate::exit;
use crate::output::{self, Failure};

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, m)
}

pub fn run(g: &Global, c: MonitorCmd) -> Result<ExitCode, Failure> {
    match c {
        MonitorCmd::Drift {
            reference,
            current,
            compat,
            report,
            threshold,
            prediction_threshold,
            alpha,
            correction,
            psi_watch,
            psi_act,
            drift_share,
            fail_on_drift,
            csv,
            acting: _,
        } => {
            let evidently = match compat.as_deref() {
                None => false,
                Some("evidently") => true,
                Some(other) => {
                    return Err(usage(format!(
                        "--compat {other}: the only compatibility mode is `evidently`"
                    )));
                }
            };
            let correction = Correction::parse(&correction).ok_or_else(|| {
                usage(format!(
                    "--correction {correction}: expected bh, bonferroni or none"
                ))
            })?;
            let thresholds = Thresholds {
                effect: threshold,
                prediction_effect: prediction_threshold,
                psi_watch,
                psi_act,
                alpha,
                correction,
                drift_share,
            };
            thresholds.check().map_err(usage)?;
            if evidently && custom_thresholds(&thresholds) {
                return Err(usage(
                    "--compat evidently uses Evidently's own thresholds; drop --threshold, --alpha, --correction, --psi-* and --drift-share",
                ));
            }
            let reference = DriftReference::parse(&reference)?;
            let req = DriftRequest {
                reference,
                current: &current,
                evidently,
                thresholds,
                csv: csv_options(&csv)?,
                charts: report.is_some(),
            };
            let out = if req.reference.needs_workspace() {
                workspace(g)?.monitor_drift(&req)?
            } else {
                warden::drift_with(None, &req)?
            };
            if let Some(dir) = &report {
                write_report(dir, &out)?;
            }
            if g.json {
                output::json(&out)?;
            } else {
                print(&out);
                if let Some(dir) = &report {
                    println!("Report: {}", dir.join("report.html").display());
                }
            }
            let drifted = out.report.dataset_drift || out.report.prediction_drift;
            Ok(ExitCode::from(if fail_on_drift && drifted {
                exit::DRIFT
            } else {
                exit::OK
            }))
        }
        MonitorCmd::Pause { model, reason, .. } => {
            let p = workspace(g)?.monitor_pause(&model, &reason)?;
            if g.json {
                output::json(&p)?;
            } else {
                println!(
                    "paused automated responses for {model} (alerts still go out); `warden monitor resume {model}` undoes it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        MonitorCmd::Resume { model, .. } => {
            workspace(g)?.monitor_resume(&model)?;
            if g.json {
                output::json(&serde_json::json!({"resumed": model}))?;
            } else {
                println!("the monitor may act on {model} again");
            }
            Ok(ExitCode::SUCCESS)
        }
        MonitorCmd::Status { model, limit, .. } => {
            let st = workspace(g)?.monitor_status(&model, limit)?;
            if g.json {
                output::json(&st)?;
                return Ok(ExitCode::SUCCESS);
            }
            match &st.paused {
                Some(p) => println!(
                    "{model}: automated responses PAUSED by {} at {} ({})",
                    p.paused_by, p.paused_at, p.reason
                ),
                None => println!("{model}: automated responses active"),
            }
            let mut t = output::table(&[
                "window",
                "version",
                "env",
                "closed",
                "rows",
                "drifted",
                "dataset",
                "predictions",
            ]);
            for w in &st.windows {
                t.add_row(vec![
                    w.id.to_string(),
                    w.version.to_string(),
                    w.env.clone(),
                    w.closed_at.clone(),
                    w.rows.to_string(),
                    w.drifted_features.to_string(),
                    if w.dataset_drift { "DRIFT" } else { "ok" }.into(),
                    if w.prediction_drift { "DRIFT" } else { "ok" }.into(),
                ]);
            }
            println!("{t}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn custom_thresholds(t: &Thresholds) -> bool {
    *t != Thresholds::default()
}

fn print(o: &DriftOutcome) {
    let r = &o.report;
    println!(
        "Reference {} ({} rows), current {} ({} rows), mode {:?}",
        o.reference, o.reference_rows, o.current, o.current_rows, r.mode
    );
    let mut t = output::table(&["feature", "kind", "rows", "missing", "tests", "verdict"]);
    for f in r.features.iter().chain(r.prediction.iter()) {
        t.add_row(vec![
            f.feature.clone(),
            format!("{:?}", f.kind).to_lowercase(),
            f.current_rows.to_string(),
            f.current_missing.to_string(),
            warden::drift_tests_text(f),
            f.verdict.as_str().to_string(),
        ]);
    }
    println!("{t}");
    for s in &o.skipped {
        println!("  not compared: {} ({})", s.column, s.reason);
    }
    println!(
        "{}: {} of {} features drifted (share {:.2}, threshold {:.2}){}",
        if r.dataset_drift {
            "DATASET DRIFT"
        } else {
            "No dataset drift"
        },
        r.drifted_features,
        r.features.len(),
        r.share,
        r.thresholds.drift_share,
        match &r.prediction {
            Some(p) => format!("; predictions {}", p.verdict.as_str()),
            None => String::new(),
        }
    );
}

fn write_report(dir: &std::path::Path, o: &DriftOutcome) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(exit::ERROR, format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let json =
        serde_json::to_vec_pretty(o).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    std::fs::write(dir.join("report.json"), json).map_err(io)?;
    std::fs::write(dir.join("report.md"), warden::drift_markdown(o)).map_err(io)?;
    std::fs::write(dir.join("report.html"), warden::drift_html(o)).map_err(io)?;
    Ok(())
}
