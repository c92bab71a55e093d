//! The drift report as one self-contained HTML page: the per-feature table
//! and, for every feature that drifted or is watched, the reference and
//! current distributions overlaid (SVG drawn with `plotters`). Text is
//! escaped; nothing is loaded from elsewhere.

use plotters::prelude::*;

use crate::monitor::{DriftOutcome, Histogram};
use crate::report_html::esc;
use warden_monitor::drift::{FeatureDrift, Verdict};

const W: u32 = 560;
const H: u32 = 320;
const REF: RGBColor = RGBColor(31, 119, 180);
const CUR: RGBColor = RGBColor(255, 127, 14);

fn num(v: f64) -> String {
    if v.is_nan() {
        "—".into()
    } else if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// Overlaid shares: bars per bin (numeric, on the value axis) or per level.
fn chart(title: &str, h: &Histogram) -> String {
    let mut svg = String::new();
    {
        let (n, width) = match h {
            Histogram::Numeric { reference, .. } => (reference.len(), W),
            Histogram::Levels { levels, .. } => (levels.len(), W.max(36 * levels.len() as u32)),
        };
        let root = SVGBackend::with_string(&mut svg, (width, H)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let (r, c) = match h {
                Histogram::Numeric {
                    reference, current, ..
                }
                | Histogram::Levels {
                    reference, current, ..
                } => (reference, current),
            };
            let top = r.iter().chain(c).fold(0.0f64, |a, &b| a.max(b)).max(1e-9) * 1.1;
            match h {
                Histogram::Numeric { edges, .. } => {
                    let (lo, hi) = (edges[0], edges[edges.len() - 1]);
                    let hi = if hi > lo { hi } else { lo + 1.0 };
                    let mut ch = ChartBuilder::on(&root)
                        .caption(title, ("sans-serif", 16))
                        .margin(10)
                        .x_label_area_size(32)
                        .y_label_area_size(52)
                        .build_cartesian_2d(lo..hi, 0f64..top)?;
                    ch.configure_mesh().y_desc("share of rows").draw()?;
                    for (k, (vals, color, label)) in [(r, REF, "reference"), (c, CUR, "current")]
                        .into_iter()
                        .enumerate()
                    {
                        let _ = k;
                        ch.draw_series(vals.iter().enumerate().map(|(i, v)| {
                            Rectangle::new(
                                [(edges[i], 0.0), (edges[i + 1], *v)],
                                color.mix(0.45).filled(),
                            )
                        }))?
                        .label(label)
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.mix(0.6).filled())
                        });
                    }
                    ch.configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK.mix(0.3))
                        .draw()?;
                }
                Histogram::Levels { levels, .. } => {
                    let mut ch = ChartBuilder::on(&root)
                        .caption(title, ("sans-serif", 16))
                        .margin(10)
                        .x_label_area_size(40)
                        .y_label_area_size(52)
                        .build_cartesian_2d(0f64..n.max(1) as f64, -top * 0.08..top)?;
                    ch.configure_mesh()
                        .disable_x_mesh()
                        .x_label_formatter(&|_| String::new())
                        .y_desc("share of rows")
                        .draw()?;
                    ch.draw_series(levels.iter().enumerate().map(|(i, name)| {
                        let short: String = name.chars().take(10).collect();
                        Text::new(short, (i as f64 + 0.1, -top * 0.05), ("sans-serif", 11))
                    }))?;
                    for (k, (vals, color, label)) in [(r, REF, "reference"), (c, CUR, "current")]
                        .into_iter()
                        .enumerate()
                    {
                        ch.draw_series(vals.iter().enumerate().map(|(i, v)| {
                            let x0 = i as f64 + 0.1 + 0.4 * k as f64;
                            Rectangle::new([(x0, 0.0), (x0 + 0.38, *v)], color.filled())
                        }))?
                        .label(label)
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                        });
                    }
                    ch.configure_series_labels()
                        .background_style(WHITE.mix(0.8))
                        .border_style(BLACK.mix(0.3))
                        .draw()?;
                }
            }
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return String::new();
        }
    }
    svg
}

fn row(f: &FeatureDrift) -> String {
    let tests = f
        .tests
        .iter()
        .map(|t| {
            let p = match (t.p_value, t.p_adjusted) {
                (Some(p), Some(a)) => format!(" (p {}, adjusted {})", num(p), num(a)),
                (Some(p), None) if p != t.value => format!(" (p {})", num(p)),
                _ => String::new(),
            };
            format!(
                "{} {}{p} vs {}",
                esc(&t.test),
                num(t.value),
                num(t.threshold)
            )
        })
        .collect::<Vec<_>>()
        .join("<br>");
    let class = match f.verdict {
        Verdict::Drift => "drift",
        Verdict::Watch => "watch",
        Verdict::Stable => "stable",
    };
    format!(
        "<tr><td>{}</td><td>{:?}</td><td>{}</td><td>{}</td><td>{tests}</td><td class=\"{class}\">{}</td></tr>",
        esc(&f.feature),
        f.kind,
        f.current_rows,
        f.current_missing,
        f.verdict.as_str()
    )
}

/// The report page.
pub fn drift_html(o: &DriftOutcome) -> String {
    let r = &o.report;
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Drift report</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}\
         th{{background:#f4f4f4}}.drift{{background:#f8d7da;font-weight:bold}}.watch{{background:#fff3cd}}\
         .charts{{display:flex;flex-wrap:wrap;gap:12px}}.note{{color:#666}}</style></head><body>\
         <h1>Drift report</h1><p>Reference: {} ({} rows). Current: {} ({} rows). Mode: {:?}.</p>\
         <p><strong>{}</strong>: {} of {} features drifted (share {:.2}, dataset drift at {:.2}).{}</p>",
        esc(&o.reference),
        o.reference_rows,
        esc(&o.current),
        o.current_rows,
        r.mode,
        if r.dataset_drift {
            "Dataset drift"
        } else {
            "No dataset drift"
        },
        r.drifted_features,
        r.features.len(),
        r.share,
        r.thresholds.drift_share,
        match &r.prediction {
            Some(p) => format!(" Prediction drift: {}.", p.verdict.as_str()),
            None => String::new(),
        }
    );
    h += "<table><tr><th>feature</th><th>kind</th><th>current rows</th><th>missing</th><th>tests (value vs threshold)</th><th>verdict</th></tr>";
    for f in r.features.iter().chain(r.prediction.iter()) {
        h += &row(f);
    }
    h += "</table>";
    if !o.skipped.is_empty() {
        h += "<h2>Not compared</h2><ul>";
        for s in &o.skipped {
            h += &format!("<li>{}: {}</li>", esc(&s.column), esc(&s.reason));
        }
        h += "</ul>";
    }
    let shown: Vec<&FeatureDrift> = r
        .features
        .iter()
        .filter(|f| f.verdict != Verdict::Stable)
        .collect();
    if !shown.is_empty() {
        h += "<h2>Drifted and watched features</h2><p class=\"note\">Shares of rows per bin (numeric) or level (categorical); reference in blue, current in orange.</p><div class=\"charts\">";
        for f in shown {
            if let Some(hist) = o.histograms.get(&f.feature) {
                h += &chart(&format!("{} ({})", f.feature, f.verdict.as_str()), hist);
            }
        }
        h += "</div>";
    }
    h += "</body></html>\n";
    h
}

/// One feature's statistics on one line (`test value (p …, adj …)`; …).
pub fn drift_tests_text(f: &FeatureDrift) -> String {
    f.tests
        .iter()
        .map(|t| match (t.p_value, t.p_adjusted) {
            (Some(p), Some(a)) => {
                format!("{} {} (p {}, adj {})", t.test, num(t.value), num(p), num(a))
            }
            _ => format!("{} {}", t.test, num(t.value)),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The drift report as Markdown: the verdict and the per-feature table.
pub fn drift_markdown(o: &DriftOutcome) -> String {
    let r = &o.report;
    let mut m = format!(
        "# Drift report\n\nReference: {} ({} rows). Current: {} ({} rows). Mode: {:?}.\n\n**{}**: {} of {} features drifted (share {:.2}, dataset drift at {:.2}).\n\n| feature | kind | rows | missing | tests | verdict |\n| --- | --- | --- | --- | --- | --- |\n",
        o.reference,
        o.reference_rows,
        o.current,
        o.current_rows,
        r.mode,
        if r.dataset_drift {
            "Dataset drift"
        } else {
            "No dataset drift"
        },
        r.drifted_features,
        r.features.len(),
        r.share,
        r.thresholds.drift_share
    );
    for f in r.features.iter().chain(r.prediction.iter()) {
        m += &format!(
            "| {} | {:?} | {} | {} | {} | {} |\n",
            f.feature.replace('|', "\\|"),
            f.kind,
            f.current_rows,
            f.current_missing,
            drift_tests_text(f),
            f.verdict.as_str()
        );
    }
    m
}
