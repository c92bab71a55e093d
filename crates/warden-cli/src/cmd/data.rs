use std::path::Path;
use std::process::ExitCode;

use warden::IngestRequest;
use warden::table::CsvOptions;
use warden_core::{Digest, ObjectName, VersionRef};

use super::{parse, workspace};
use crate::cli::{CsvArgs, DataCmd, ExampleCmd, Global};
use crate::exit;
use crate::output::{self, Failure};

/// `email, phone` for a list of PII entities.
pub fn entity_list<'a>(entities: impl IntoIterator<Item = &'a warden::table::Entity>) -> String {
    entities
        .into_iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn csv_options(a: &CsvArgs) -> Result<CsvOptions, Failure> {
    let delimiter = match a.delimiter.as_str() {
        "tab" | "\\t" => b'\t',
        d if d.len() == 1 && d.is_ascii() => d.as_bytes()[0],
        d => {
            return Err(Failure::new(
                exit::USAGE,
                format!("--delimiter must be one ASCII character or `tab`, not {d:?}"),
            ));
        }
    };
    let mut o = CsvOptions {
        delimiter,
        trim: a.trim,
        max_field_bytes: a.max_field_bytes,
        ..Default::default()
    };
    if !a.missing.is_empty() {
        o.missing = a.missing.clone();
    }
    Ok(o)
}

pub fn version_ref(s: &str) -> Result<VersionRef, Failure> {
    s.parse()
        .map_err(|e: warden_core::NameError| Failure::new(exit::USAGE, e.to_string()))
}

pub fn open_input(file: &Path) -> Result<Box<dyn std::io::Read + Send>, Failure> {
    Ok(warden::open_csv(file)?)
}

/// A progress bar over the bytes of `file` (hidden unless progress is a
/// bar, and for `-`, `--json` and small files).
fn progress(file: &Path, json: bool, mode: output::Progress) -> indicatif::ProgressBar {
    let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    if json || mode != output::Progress::Bar || file == Path::new("-") || len < (8 << 20) {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("reading");
    bar
}

pub fn run(g: &Global, cmd: DataCmd) -> Result<ExitCode, Failure> {
    match cmd {
        DataCmd::Profile {
            file,
            emit_schema,
            csv,
        } => {
            let mut input = open_input(&file)?;
            let (profile, table, digest) =
                warden::table::profile_csv(&mut input, &csv_options(&csv)?)
                    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", file.display())))?;
            if let Some(out) = &emit_schema {
                let text = warden::table::schema_of(&table)
                    .to_toml()
                    .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
                std::fs::write(out, format!("# Schema of {} ({digest}), written by `warden data profile`.\n# Tighten the expectations before using it with `warden data ingest --schema`.\n\n{text}", file.display()))
                    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", out.display())))?;
            }
            if g.json {
                output::json(
                    &serde_json::json!({"file": file.display().to_string(), "sha256": digest, "profile": profile}),
                )?;
            } else {
                println!(
                    "{}: {} rows, {} columns, {digest}",
                    file.display(),
                    profile.rows,
                    profile.columns.len()
                );
                let mut t = output::table(&[
                    "column", "type", "nulls", "distinct", "min", "max", "mean", "top", "pii",
                ]);
                let num = |x: Option<f64>| {
                    x.map(|v| {
                        format!("{v:.4}")
                            .trim_end_matches('0')
                            .trim_end_matches('.')
                            .to_string()
                    })
                    .unwrap_or_default()
                };
                for c in &profile.columns {
                    let pii = match (c.pii, c.pii_embedded.is_empty()) {
                        (Some(e), _) => e.as_str().to_string(),
                        (None, false) => format!("in text: {}", entity_list(&c.pii_embedded)),
                        _ => String::new(),
                    };
                    t.add_row(vec![
                        c.name.clone(),
                        c.column_type.to_string(),
                        format!("{:.1}%", c.null_fraction * 100.0),
                        c.distinct.to_string(),
                        c.min.map(|x| x.to_string()).unwrap_or_default(),
                        c.max.map(|x| x.to_string()).unwrap_or_default(),
                        num(c.mean),
                        c.top
                            .iter()
                            .take(3)
                            .map(|(v, n)| format!("{v} ({n})"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        pii,
                    ]);
                }
                println!("{t}");
                if let Some(out) = &emit_schema {
                    println!("Schema written to {}", out.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCmd::Ingest {
            file,
            name,
            sha256,
            schema,
            target,
            features,
            sensitive,
            id,
            pii_policy,
            no_screen,
            max_label_noise,
            drop_suspects,
            csv,
            ..
        } => {
            let name = parse(&name, ObjectName::new)?;
            let expected = sha256
                .map(|h| {
                    Digest::from_hex(h.trim_start_matches("sha256:")).map_err(|_| {
                        Failure::new(
                            exit::USAGE,
                            format!("--sha256: {h:?} is not 64 hex characters"),
                        )
                    })
                })
                .transpose()?;
            let ws = workspace(g)?;
            let mode = output::Progress::of(g.progress);
            let bar = progress(&file, g.json, mode);
            let total = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            let reader = bar.wrap_read(open_input(&file)?);
            let mut input: Box<dyn std::io::Read + Send> = if mode == output::Progress::Plain {
                Box::new(output::PlainProgress::new(
                    reader,
                    format!("ingest {}", file.display()),
                    total,
                ))
            } else {
                Box::new(reader)
            };
            let result = ws.data_ingest(IngestRequest {
                name,
                input: &mut input,
                source: file.display().to_string(),
                expected_sha256: expected,
                source_check: None,
                schema_file: schema,
                pii_policy_file: pii_policy,
                target,
                features,
                sensitive,
                id,
                csv: csv_options(&csv)?,
                screen: !no_screen,
                max_label_noise,
                drop_suspects,
            });
            bar.finish_and_clear();
            let out = match result {
                Ok(o) => o,
                Err(warden::Error::Validation(results)) => {
                    if g.json {
                        output::json(&serde_json::json!({"ok": false, "expectations": results}))?;
                    } else {
                        eprintln!("Validation failed; nothing was recorded.");
                        let mut t =
                            output::table(&["column", "expectation", "observed", "first rows"]);
                        for e in results.iter().filter(|e| !e.passed) {
                            t.add_row(vec![
                                e.column.clone(),
                                e.expectation.clone(),
                                e.observed.clone(),
                                e.first_rows
                                    .iter()
                                    .map(ToString::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", "),
                            ]);
                        }
                        eprintln!("{t}");
                    }
                    return Ok(ExitCode::from(exit::ERROR));
                }
                Err(e) => return Err(e.into()),
            };
            for w in &out.warnings {
                eprintln!("warning: {w}");
            }
            if g.json {
                output::json(&out)?;
            } else {
                let d = &out.dataset.record;
                let r = &out.report;
                println!(
                    "Recorded {}@{} ({} rows, {} columns)",
                    d.name,
                    d.version,
                    d.rows,
                    r.output_columns.len()
                );
                println!("  source   {} ({} bytes)", r.source_digest, r.source_bytes);
                println!("  output   {}", d.output_digest);
                println!("  dataset  {}", d.digest);
                if !r.pii.findings.is_empty() {
                    println!("PII found:");
                    for f in &r.pii.findings {
                        let what = match f.entity {
                            Some(e) => {
                                format!("{} ({:.0}% of values)", e.as_str(), f.hit_ratio * 100.0)
                            }
                            None => format!("in text: {}", entity_list(f.embedded.keys())),
                        };
                        println!("  {:<16} {what}", f.column);
                    }
                }
                for a in &r.pii.actions {
                    println!(
                        "  action   {:<16} {} ({})",
                        a.column,
                        a.action.as_str(),
                        a.by
                    );
                }
                for dcol in &r.dropped {
                    println!("  dropped  {:<16} {}", dcol.column, dcol.reason);
                }
                if !r.pii.unmasked.is_empty() {
                    println!("  UNMASKED PII kept: {}", r.pii.unmasked.join(", "));
                }
                if let Some(s) = &r.screen {
                    println!(
                        "Screen: {} suspect rows ({:.2}%)",
                        s.suspect_rows,
                        s.suspect_fraction * 100.0
                    );
                    if let Some(l) = &s.label_noise {
                        println!(
                            "  label noise: {} suspects, out-of-fold AUC {:.3}{}",
                            l.suspects.count,
                            l.out_of_fold_auc,
                            if l.low_separability {
                                " (labels look intrinsically noisy)"
                            } else {
                                ""
                            }
                        );
                    }
                    println!(
                        "  duplicates: {} exact, {} near, {} with conflicting labels; {} extreme outliers",
                        s.exact_duplicates.count,
                        s.near_duplicates.count,
                        s.conflicting_labels.count,
                        s.outliers.count
                    );
                    for f in &s.shifted_features {
                        println!(
                            "  shift since the previous version: {} {} = {:.3}",
                            f.feature, f.statistic, f.value
                        );
                    }
                    if let Some(dropped) = &r.dropped_suspects {
                        println!(
                            "  dropped {} suspect rows (--drop-suspects): {} rows stored",
                            dropped.count, r.output_rows
                        );
                    }
                }
                println!(
                    "Full report: `warden data show {}@{} --markdown`",
                    d.name, d.version
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCmd::List { .. } => {
            let ws = workspace(g)?;
            let list = ws.data_list()?;
            if g.json {
                output::json(&list)?;
            } else {
                let mut t =
                    output::table(&["dataset", "rows", "source", "created by", "created at"]);
                for d in list.iter().map(|i| &i.record) {
                    t.add_row(vec![
                        format!("{}@{}", d.name, d.version),
                        d.rows.to_string(),
                        d.source_digest.clone(),
                        d.created_by.to_string(),
                        d.created_at.to_string(),
                    ]);
                }
                println!("{t}");
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCmd::Show {
            dataset, markdown, ..
        } => {
            let ws = workspace(g)?;
            let (info, report, md) = ws.data_show(&version_ref(&dataset)?)?;
            if g.json {
                output::json(&serde_json::json!({"dataset": info, "report": report}))?;
            } else if markdown {
                print!("{md}");
            } else {
                let m = &info.manifest;
                let info = &info.record;
                println!(
                    "{}@{}: {} rows, created by {} at {}",
                    info.name, info.version, info.rows, info.created_by, info.created_at
                );
                println!("  dataset  {}", info.digest);
                println!("  source   {}", info.source_digest);
                println!("  output   {}", info.output_digest);
                println!("  target   {}", m.roles.target.as_deref().unwrap_or("none"));
                println!("  features {}", m.roles.features.join(", "));
                let list = |v: &[String]| format!("[{}]", v.join(", "));
                println!(
                    "  PII      detected {}, unmasked {}",
                    list(&m.checks.pii.detected),
                    list(&m.checks.pii.unmasked)
                );
                if let Some(f) = m.checks.suspect_fraction {
                    println!("  suspects {:.2}% of rows", f * 100.0);
                }
                println!("(use --markdown for the full report, --json for everything)");
            }
            Ok(ExitCode::SUCCESS)
        }
        DataCmd::Lineage { dataset, .. } => {
            let ws = workspace(g)?;
            let l = ws.data_lineage(&version_ref(&dataset)?)?;
            if g.json {
                output::json(&l)?;
            } else {
                println!("{}", l.dataset);
                for n in &l.nodes {
                    println!("  {:<16} {:<24} {}", n.kind, n.label, n.digest);
                }
                if let Some(p) = &l.previous_version {
                    println!("  previous version {p}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn example(g: &Global, cmd: ExampleCmd) -> Result<ExitCode, Failure> {
    let ExampleCmd::Credit {
        rows,
        seed,
        out,
        poison,
        shift,
        bias,
    } = cmd;
    if !(0.0..=1.0).contains(&poison) {
        return Err(Failure::new(
            exit::USAGE,
            "--poison must be a fraction between 0 and 1",
        ));
    }
    if !bias.is_finite() || rows == 0 {
        return Err(Failure::new(
            exit::USAGE,
            "--rows must be at least 1 and --bias a finite number",
        ));
    }
    let opts = warden::table::CreditOptions {
        rows,
        seed,
        poison,
        shift,
        bias,
    };
    let file = std::fs::File::create(&out)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", out.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let flipped = warden::table::generate_credit(&opts, &mut w)
        .and_then(|f| std::io::Write::flush(&mut w).map(|_| f))
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", out.display())))?;
    // The flipped rows are listed only when labels were asked to be flipped.
    let sidecar = if poison > 0.0 {
        let sidecar = format!("{}.poison.json", out.display());
        let side = serde_json::json!({"file": out.display().to_string(), "rows": rows, "seed": seed, "poison": poison, "flipped_rows": flipped, "row_numbering": "1-based data rows (the header is not counted)"});
        std::fs::write(
            &sidecar,
            serde_json::to_string_pretty(&side).unwrap_or_default(),
        )
        .map_err(|e| Failure::new(exit::ERROR, format!("{sidecar}: {e}")))?;
        Some(sidecar)
    } else {
        None
    };
    if g.json {
        output::json(
            &serde_json::json!({"out": out.display().to_string(), "rows": rows, "flipped": flipped.len(), "sidecar": sidecar}),
        )?;
    } else {
        match &sidecar {
            Some(s) => println!(
                "Wrote {rows} rows to {} ({} labels flipped, listed in {s})",
                out.display(),
                flipped.len()
            ),
            None => println!("Wrote {rows} rows to {}", out.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
