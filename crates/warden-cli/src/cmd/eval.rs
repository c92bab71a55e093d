//! `eval`.

use std::process::ExitCode;

use warden::figures::Figure;
use warden::{AttackPlan, EvalReport, EvalRequest, PredictionsRequest};

use super::data::{csv_options, open_input, version_ref};
use super::workspace;
use crate::cli::{EvalArgs, Global};
use crate::exit;
use crate::output::{self, Failure};

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, m)
}

fn fig(f: &Figure) -> String {
    match f {
        Figure::Defined(v) => format!("{v:.4}"),
        Figure::Undefined { undefined } => format!("undefined: {undefined}"),
    }
}

fn print_report(r: &EvalReport) {
    let p = &r.performance;
    let ci = |k: &str| {
        p.ci95
            .get(k)
            .map(|i| format!("  [{:.4}, {:.4}]", i.low, i.high))
            .unwrap_or_default()
    };
    println!("  rows              {}", r.rows);
    println!("  accuracy          {:.4}{}", p.accuracy, ci("accuracy"));
    println!(
        "  balanced accuracy {}{}",
        fig(&p.balanced_accuracy),
        ci("balanced_accuracy")
    );
    println!("  macro F1          {}{}", fig(&p.macro_f1), ci("macro_f1"));
    println!("  ROC AUC           {}{}", fig(&p.roc_auc), ci("roc_auc"));
    println!("  PR AUC            {}", fig(&p.pr_auc));
    println!("  log loss          {}", fig(&p.log_loss));
    println!("  Brier score       {}", fig(&p.brier));
    println!("  calibration (ECE) {}", fig(&p.ece));
    if !r.fairness.is_empty() {
        let mut t = output::table(&[
            "attribute",
            "groups",
            "DP diff",
            "DP ratio",
            "EO diff",
            "EO ratio",
            "EOpp diff",
        ]);
        for f in &r.fairness {
            t.add_row(vec![
                f.attribute.clone(),
                f.groups.len().to_string(),
                fig(&f.demographic_parity_difference),
                fig(&f.demographic_parity_ratio),
                fig(&f.equalized_odds_difference),
                fig(&f.equalized_odds_ratio),
                fig(&f.equal_opportunity_difference),
            ]);
        }
        println!(
            "Fairness (favourable class {}):",
            r.positive_class.as_deref().unwrap_or("?")
        );
        println!("{t}");
        for f in &r.fairness {
            if let Some(pv) = &f.privileged {
                println!(
                    "  {} vs privileged {}: disparate impact {}, statistical parity difference {}, average odds difference {}, average absolute odds difference {}",
                    f.attribute,
                    pv.privileged,
                    fig(&pv.disparate_impact),
                    fig(&pv.statistical_parity_difference),
                    fig(&pv.average_odds_difference),
                    fig(&pv.average_abs_odds_difference)
                );
            }
            for n in &f.notes {
                println!("  note ({}): {n}", f.attribute);
            }
        }
    }
    if let Some(pr) = &r.privacy {
        println!("Membership inference ({}):", pr.split);
        for a in [&pr.loss_threshold, &pr.confidence] {
            println!(
                "  {:<15} AUC {}, advantage {}, TPR at 1% FPR {}",
                a.attack,
                fig(&a.auc),
                fig(&a.advantage),
                fig(&a.tpr_at_1pct_fpr)
            );
        }
    }
    if let Some(rb) = &r.robustness {
        println!(
            "Adversarial robustness (robust accuracy by eps; in {}):",
            rb.space
        );
        for (a, results) in &rb.attacks {
            let cells: Vec<String> = results
                .iter()
                .map(|x| format!("eps {}: {:.4}", x.eps, x.robust_accuracy))
                .collect();
            println!("  {a:<11} {}", cells.join(", "));
        }
        println!(
            "  median minimal L∞ perturbation {} ({})",
            fig(&rb.median_min_linf),
            rb.median_min_linf_method
        );
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
}

fn write_report(
    dir: &std::path::Path,
    report: &EvalReport,
    markdown: &str,
    title: &str,
    limits: Option<&warden::GateLimits>,
) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(exit::ERROR, format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let json =
        serde_json::to_vec_pretty(report).map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    std::fs::write(dir.join("report.json"), json).map_err(io)?;
    std::fs::write(dir.join("report.md"), markdown).map_err(io)?;
    std::fs::write(
        dir.join("report.html"),
        warden::report_html(report, title, limits),
    )
    .map_err(io)?;
    Ok(())
}

pub fn run(g: &Global, a: EvalArgs) -> Result<ExitCode, Failure> {
    let privileged = warden::parse_privileged(&a.privileged)?;
    let plan = AttackPlan::parse(&a.attack)?;
    warden::check_attack_settings(&a.eps, a.steps)?;
    if let Some(file) = &a.predictions {
        let mut input = open_input(file)?;
        let (table, _) = warden::table::read_csv(&mut input, &csv_options(&a.csv)?)
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
        let report = warden::evaluate_predictions(&PredictionsRequest {
            table: &table,
            label: a.label.clone().unwrap_or_default(),
            prediction: a.prediction.clone().unwrap_or_default(),
            score: a.score.clone(),
            sensitive: a.sensitive.clone(),
            privileged,
            bootstrap: a.bootstrap,
            seed: a.seed,
        })
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
        let markdown = warden::report_markdown(&report, &file.display().to_string());
        if let Some(dir) = &a.report {
            write_report(dir, &report, &markdown, &file.display().to_string(), None)?;
        }
        if g.json {
            output::json(&report)?;
        } else {
            println!(
                "Evaluation of the predictions in {} (not recorded: no model)",
                file.display()
            );
            print_report(&report);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(model), Some(dataset)) = (&a.model, &a.dataset) else {
        return Err(usage(
            "give MODEL@N and --dataset NAME@V, or --predictions FILE",
        ));
    };
    let ws = workspace(g)?;
    let progress = (output::Progress::of(g.progress) != output::Progress::None).then(|| {
        warden::StageProgress(std::sync::Arc::new(|stage: &str, secs: f64| {
            eprintln!("eval: {stage} done in {secs:.1} s");
        }))
    });
    let out = ws.evaluate(&EvalRequest {
        progress,
        model: version_ref(model)?,
        dataset: version_ref(dataset)?,
        sensitive: (!a.sensitive.is_empty()).then(|| a.sensitive.clone()),
        privileged,
        bootstrap: a.bootstrap,
        seed: a.seed,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        attacks: plan.gradient,
        decision_attack: plan.decision,
        auto_attacks: plan.auto,
        eps: a.eps.clone(),
        steps: a.steps,
        immutable: a.immutable.clone(),
    })?;
    if let Some(dir) = &a.report {
        let title = format!(
            "{} on {}@{}",
            out.report
                .model
                .as_ref()
                .map(|m| m.reference.as_str())
                .unwrap_or(""),
            out.evaluation.dataset,
            out.evaluation.dataset_version
        );
        write_report(
            dir,
            &out.report,
            &out.markdown,
            &title,
            Some(&ws.gate_limits()?),
        )?;
    }
    if g.json {
        output::json(&out)?;
    } else {
        println!(
            "Evaluation {} of {} on {}@{} (recorded; report {})",
            out.evaluation.id,
            out.report
                .model
                .as_ref()
                .map(|m| m.reference.as_str())
                .unwrap_or(""),
            out.evaluation.dataset,
            out.evaluation.dataset_version,
            out.evaluation.digest
        );
        print_report(&out.report);
        if let Some(dir) = &a.report {
            println!(
                "Report: {} ({} and {} beside it)",
                dir.join("report.html").display(),
                dir.join("report.md").display(),
                dir.join("report.json").display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
