//! `train` and `model list | show | export | predict`.

use std::process::ExitCode;

use warden::TrainRequest;
use warden::train::{DpConfig, DpTarget, ModelKind, TrainConfig};
use warden_core::ObjectName;

use super::data::{csv_options, open_input, version_ref};
use super::{parse, workspace};
use crate::cli::{Global, ModelCmd, ModelKindArg, TrainArgs};
use crate::exit;
use crate::output::{self, Failure};

fn usage(m: impl Into<String>) -> Failure {
    Failure::new(exit::USAGE, m)
}

fn config(a: &TrainArgs) -> Result<TrainConfig, Failure> {
    let model = match a.model {
        ModelKindArg::Logreg => ModelKind::Logreg,
        ModelKindArg::Mlp => ModelKind::Mlp,
    };
    let dp = match (a.dp_epsilon, a.dp_noise) {
        (Some(e), None) => Some(DpTarget::Epsilon(e)),
        (None, Some(s)) => Some(DpTarget::NoiseMultiplier(s)),
        (None, None) => {
            if a.dp_delta.is_some() {
                return Err(usage("--dp-delta needs --dp-epsilon or --dp-noise"));
            }
            None
        }
        (Some(_), Some(_)) => return Err(usage("give --dp-epsilon or --dp-noise, not both")),
    }
    .map(|target| DpConfig {
        target,
        delta: a.dp_delta.unwrap_or(1e-5),
        max_grad_norm: a.max_grad_norm,
    });
    let mut c = TrainConfig::defaults(model, dp);
    c.seed = a.seed;
    c.holdout = a.holdout;
    c.l2 = a.l2;
    c.max_iter = a.max_iter;
    if let Some(h) = &a.hidden {
        if model != ModelKind::Mlp {
            return Err(usage("--hidden is for --model mlp"));
        }
        c.hidden = h.clone();
    }
    if let Some(e) = a.epochs {
        c.epochs = e;
    }
    if let Some(b) = a.batch_size {
        c.batch_size = b;
    }
    if let Some(lr) = a.learning_rate {
        c.learning_rate = lr;
    }
    Ok(c)
}

fn threads(a: Option<usize>) -> Result<usize, Failure> {
    Ok(warden::threads(a)?)
}

fn fmt_metric(m: &Option<warden::train::Metrics>) -> String {
    m.as_ref()
        .map(|m| {
            format!(
                "accuracy {:.4}, log loss {:.4} ({} rows)",
                m.accuracy, m.log_loss, m.rows
            )
        })
        .unwrap_or_else(|| "none (--holdout 0)".into())
}

pub fn train(g: &Global, a: TrainArgs) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    let cfg = config(&a)?;
    let req = TrainRequest {
        dataset: version_ref(&a.dataset)?,
        target: a.target.clone(),
        features: a.features.clone(),
        name: parse(&a.name, ObjectName::new)?,
        threads: threads(a.threads)?,
        config: cfg,
    };
    let iterative = req.config.model == ModelKind::Mlp || req.config.dp.is_some();
    let bar = if g.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
        {
            b.set_style(style.progress_chars("=> "));
        }
        b.set_message(if iterative {
            "training: epoch"
        } else {
            "training: L-BFGS iteration"
        });
        b
    };
    let out = ws.train(&req, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let out = out?;
    if g.json {
        output::json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "Trained {} ({}) on {} → target {} with classes {}",
        out.model.reference(),
        out.model.record.kind,
        out.dataset,
        out.target,
        out.classes.join(", ")
    );
    println!("  digest     {}", out.model.record.digest);
    println!(
        "  signed by  {} (OpenSSF model signing)",
        out.model.record.signed_by
    );
    println!("  features   {}", out.features.join(", "));
    for (f, why) in &out.skipped_features {
        println!("  skipped    {f} ({why})");
    }
    let o = &out.optimiser;
    println!(
        "  optimiser  {} — {} {}{}",
        o.algorithm,
        o.iterations,
        if o.algorithm == "lbfgs" {
            "iterations"
        } else {
            "steps"
        },
        match o.converged {
            Some(true) => ", converged",
            Some(false) => ", NOT converged (raise --max-iter)",
            None => "",
        }
    );
    println!("  train      {}", fmt_metric(&Some(out.train.clone())));
    println!("  holdout    {}", fmt_metric(&out.holdout));
    if let Some(dp) = &out.dp {
        println!(
            "  privacy    (ε = {:.4}, δ = {:e}) — noise multiplier {:.4}, clip {}, sample rate {:.6}, {} steps",
            dp.epsilon, dp.delta, dp.noise_multiplier, dp.max_grad_norm, dp.sample_rate, dp.steps
        );
        println!("             {}", dp.accountant);
    }
    println!("  config     {}", out.config_digest);
    Ok(ExitCode::SUCCESS)
}

pub fn run(g: &Global, cmd: ModelCmd) -> Result<ExitCode, Failure> {
    let ws = workspace(g)?;
    match cmd {
        ModelCmd::List { .. } => {
            let models = ws.model_list()?;
            if g.json {
                output::json(&models)?;
            } else if models.is_empty() {
                println!(
                    "No models yet. Train one with `warden train --dataset NAME@V --name MODEL`."
                );
            } else {
                let mut t = output::table(&[
                    "model",
                    "kind",
                    "dataset",
                    "holdout accuracy",
                    "dp ε",
                    "signed by",
                    "created",
                ]);
                for m in &models {
                    let man = &m.manifest;
                    t.add_row(vec![
                        m.reference(),
                        m.record.kind.clone(),
                        man.dataset_refs()
                            .first()
                            .copied()
                            .unwrap_or("")
                            .to_string(),
                        man.holdout_accuracy()
                            .map(|a| format!("{a:.4}"))
                            .unwrap_or_default(),
                        man.dp()
                            .map(|dp| dp.epsilon)
                            .map(|e| format!("{e:.3}"))
                            .unwrap_or_else(|| "—".into()),
                        m.record.signed_by.clone(),
                        m.record.created_at.to_string(),
                    ]);
                }
                println!("{t}");
            }
        }
        ModelCmd::Show { model, .. } => {
            let m = ws.model_show(&version_ref(&model)?)?;
            let held: Vec<String> = ws
                .stages(&m.record.name)?
                .into_iter()
                .filter(|p| p.version == m.record.version)
                .map(|p| p.env)
                .collect();
            if g.json {
                let mut v = serde_json::to_value(&m)
                    .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                v["environments"] = serde_json::json!(held);
                output::json(&v)?;
            } else {
                let man = &m.manifest;
                println!("{} ({})", m.reference(), m.record.kind);
                println!("  digest       {}", m.record.digest);
                println!("  signed by    {}", m.record.signed_by);
                println!(
                    "  holds        {}",
                    if held.is_empty() {
                        "no environment".to_string()
                    } else {
                        held.join(", ")
                    }
                );
                println!(
                    "  created      {} by {}",
                    m.record.created_at, m.record.created_by
                );
                for (f, d) in &m.files {
                    println!("  file         {f}  {d}");
                }
                match man.provenance.datasets.first() {
                    Some(ds) => println!("  dataset      {} ({})", ds.reference, ds.digest),
                    None => {
                        if let Some(src) = &man.provenance.source {
                            println!("  imported     {} ({})", src.file, src.digest);
                        }
                    }
                }
                println!(
                    "  target       {} ({})",
                    man.labels.target.as_deref().unwrap_or(""),
                    man.labels.classes.join(", ")
                );
                if let Some(tr) = &man.training {
                    println!("  seed         {}", tr.seed);
                    println!("  config       {}", tr.config_digest);
                }
                if let Some(a) = man.holdout_accuracy() {
                    println!("  holdout      accuracy {a:.4}");
                }
                if let Some(dp) = man.dp() {
                    println!(
                        "  privacy      ε = {:.4}, δ = {} ({})",
                        dp.epsilon,
                        serde_json::json!(dp.delta),
                        dp.accountant
                    );
                }
                let mut t = output::table(&["input", "type", "range / categories", "nullable"]);
                let num = |v: Option<f64>| v.map_or_else(|| "null".to_string(), |x| x.to_string());
                for f in &man.input.features {
                    let range = match (f.kind.as_str(), &f.categories) {
                        ("numeric", _) => format!("{} … {}", num(f.min), num(f.max)),
                        (_, Some(names)) if names.len() > 6 => {
                            format!("{} … ({} levels)", names[..6].join(", "), names.len())
                        }
                        (_, Some(names)) => names.join(", "),
                        (_, None) => String::new(),
                    };
                    t.add_row(vec![
                        f.name.clone(),
                        f.kind.clone(),
                        range,
                        f.nullable.to_string(),
                    ]);
                }
                println!("{t}");
            }
        }
        ModelCmd::Import {
            file,
            name,
            schema,
            check,
            check_tolerance,
            dataset,
            ..
        } => {
            let dataset = match dataset {
                Some(d) => Some(parse(&d, |s: &str| s.parse::<warden_core::VersionRef>())?),
                None => None,
            };
            let out = ws.model_import(&warden::ImportRequest {
                file: file.clone(),
                name: parse(&name, ObjectName::new)?,
                schema,
                check,
                check_tolerance,
                dataset,
                provenance: None,
            })?;
            if g.json {
                output::json(&out)?;
            } else {
                println!(
                    "Imported {} as {} ({}, run by {})",
                    file.display(),
                    out.model.reference(),
                    out.model.manifest.model.kind,
                    out.engine
                );
                println!("  digest     {}", out.model.record.digest);
                println!(
                    "  signed by  {} (OpenSSF model signing)",
                    out.model.record.signed_by
                );
                println!("  source     {}", out.source_digest);
                if let Some(onnx) = &out.onnx {
                    println!("  operators  {}", onnx.operators.join(", "));
                    if onnx.inlined_external > 0 {
                        println!(
                            "  inlined    {} external tensor(s) into the package",
                            onnx.inlined_external
                        );
                    }
                } else if let Some(p) = &out.model.manifest.model.producer {
                    println!("  model      {p}");
                }
                match out.model.manifest.provenance.datasets.first() {
                    Some(d) => println!(
                        "  profiled   on {} (reference profile for drift, training ranges)",
                        d.reference
                    ),
                    None => println!(
                        "  no profile no --dataset: `monitor drift --reference model:{}` has nothing to compare with",
                        out.model.reference()
                    ),
                }
                match &out.check {
                    Some(c) => println!(
                        "  checked    {} rows of {} reproduced (largest difference {:.1e}, tolerance {:.0e})",
                        c.rows, c.file, c.max_abs_diff, c.tolerance
                    ),
                    None => println!(
                        "  unchecked  no --check batch: nothing compared the import with the framework's own predictions"
                    ),
                }
            }
        }
        ModelCmd::Card { model, attach, .. } => {
            let r = version_ref(&model)?;
            match attach {
                None => {
                    let card = ws.model_card(&r)?;
                    if g.json {
                        output::json(
                            &serde_json::json!({"model": model, "card": card, "missing": warden::missing_sections(&card)}),
                        )?;
                    } else {
                        print!("{card}");
                    }
                }
                Some(file) => {
                    let a = ws.attach_card(&r, &file)?;
                    if g.json {
                        output::json(&a)?;
                    } else if a.missing.is_empty() {
                        println!("Attached a complete card to {} ({})", a.model, a.digest);
                    } else {
                        println!(
                            "Attached a card to {} ({}); still to write: {}",
                            a.model,
                            a.digest,
                            a.missing.join(", ")
                        );
                    }
                }
            }
        }
        ModelCmd::Passport { model, .. } => {
            let (json, md) = ws.passport(&version_ref(&model)?)?;
            if g.json {
                output::json(&json)?;
            } else {
                print!("{md}");
            }
        }
        ModelCmd::Bom { model, .. } => {
            output::json(&ws.model_bom(&version_ref(&model)?)?)?;
        }
        ModelCmd::Export { model, out, .. } => {
            let e = ws.model_export(&version_ref(&model)?, &out)?;
            if g.json {
                output::json(&e)?;
            } else {
                println!(
                    "Exported {} to {} ({} files, verified before writing)",
                    e.model, e.path, e.files
                );
                println!("  signature  {}", e.signature);
            }
        }
        ModelCmd::Predict {
            model, file, csv, ..
        } => {
            let mut input = open_input(&file)?;
            let out = ws.predict_csv(
                &version_ref(&model)?,
                &mut input,
                &csv_options(&csv)?,
                &file.display().to_string(),
                threads(None)?,
            )?;
            for w in &out.warnings {
                eprintln!("warning: {w}");
            }
            if g.json {
                output::json(&out)?;
            } else {
                let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                use std::io::Write;
                let head: Vec<String> = out.classes.iter().map(|c| format!("p_{c}")).collect();
                let io = |e: std::io::Error| Failure::new(exit::ERROR, format!("stdout: {e}"));
                writeln!(w, "row,label,{}", head.join(",")).map_err(io)?;
                for p in &out.predictions {
                    let ps: Vec<String> =
                        p.probabilities.iter().map(|v| format!("{v:.6}")).collect();
                    writeln!(w, "{},{},{}", p.row, p.label, ps.join(",")).map_err(io)?;
                }
                w.flush().map_err(io)?;
                eprintln!(
                    "{} rows predicted with {} ({}, verified with key {}){}",
                    out.predictions.len(),
                    out.model,
                    out.digest,
                    out.verified_by,
                    match (&out.accuracy, &out.target) {
                        (Some(a), Some(t)) => format!("; accuracy against column {t}: {a:.4}"),
                        _ => String::new(),
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
