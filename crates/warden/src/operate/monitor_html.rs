//! The drift report as one self-contained HTML page: the per-feature table
//! and, for every feature that drifted or is watched, the reference and
//! current distributions overlaid (SVG drawn with `plotters`). Text is
//! escaped; nothing is loaded from elsewhere.

use plotters::prelude::*;

use crate::monitor::{DriftOutcome, Histogram};
use crate::report_html::{PAGE_STYLE, esc, figure};
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

/// An axis tick: at most four significant digits, exponent form for very
/// small or large values, so labels fit their label area.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-2..1e6).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Numeric bins as densities: the share of rows in a bin over its width,
/// so bins of unequal width (frozen deciles, an open top bin stretched to
/// the largest value) are drawn as a histogram, not as walls.
fn densities(shares: &[f64], edges: &[f64]) -> Vec<f64> {
    shares
        .iter()
        .zip(edges.windows(2))
        .map(|(s, e)| {
            let w = e[1] - e[0];
            if w > 0.0 && w.is_finite() { s / w } else { 0.0 }
        })
        .collect()
}

/// Most levels drawn: the rest are summed into one `other` bar, so a
/// feature of hundreds of levels stays readable.
const MAX_LEVELS: usize = 12;

/// The [`MAX_LEVELS`] levels with the largest share in either sample, in
/// their original order, and the rest summed as `(N other levels)`.
fn top_levels(levels: &[String], r: &[f64], c: &[f64]) -> Histogram {
    if levels.len() <= MAX_LEVELS {
        return Histogram::Levels {
            levels: levels.to_vec(),
            reference: r.to_vec(),
            current: c.to_vec(),
        };
    }
    let share = |i: usize| {
        r.get(i)
            .copied()
            .unwrap_or(0.0)
            .max(c.get(i).copied().unwrap_or(0.0))
    };
    let mut order: Vec<usize> = (0..levels.len()).collect();
    order.sort_by(|&a, &b| share(b).total_cmp(&share(a)).then(a.cmp(&b)));
    let mut keep: Vec<usize> = order[..MAX_LEVELS - 1].to_vec();
    keep.sort_unstable();
    let rest = levels.len() - keep.len();
    let sum = |v: &[f64]| -> f64 {
        v.iter()
            .enumerate()
            .filter(|(i, _)| !keep.contains(i))
            .map(|(_, x)| x)
            .sum()
    };
    let pick = |v: &[f64]| -> Vec<f64> {
        keep.iter()
            .map(|&i| v.get(i).copied().unwrap_or(0.0))
            .chain(std::iter::once(sum(v)))
            .collect()
    };
    Histogram::Levels {
        levels: keep
            .iter()
            .map(|&i| levels[i].clone())
            .chain(std::iter::once(format!("({rest} other levels)")))
            .collect(),
        reference: pick(r),
        current: pick(c),
    }
}

/// Overlaid distributions: densities per bin (numeric, on the value axis)
/// or shares per level, with the key under the chart.
fn chart(title: &str, h: &Histogram) -> String {
    let reduced;
    let h = match h {
        Histogram::Levels {
            levels,
            reference,
            current,
        } if levels.len() > MAX_LEVELS => {
            reduced = top_levels(levels, reference, current);
            &reduced
        }
        other => other,
    };
    let mut svg = String::new();
    {
        let (n, width) = match h {
            Histogram::Numeric { reference, .. } => (reference.len(), W),
            Histogram::Levels { levels, .. } => {
                // Room for each level's (shortened) name under its bars.
                let longest = levels
                    .iter()
                    .map(|l| l.chars().count().min(LEVEL_CHARS))
                    .max()
                    .unwrap_or(0) as u32;
                // About 6 px a character at 11 px.
                let slot = 36u32.max(6 * longest + 14);
                (levels.len(), W.max(slot * levels.len() as u32 + 80))
            }
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
                    let (rd, cd) = (densities(r, edges), densities(c, edges));
                    let top = rd
                        .iter()
                        .chain(&cd)
                        .fold(0.0f64, |a, &b| a.max(b))
                        .max(1e-12)
                        * 1.1;
                    let mut ch = ChartBuilder::on(&root)
                        .caption(title, ("sans-serif", 16))
                        .margin(10)
                        .margin_right(28)
                        .x_label_area_size(44)
                        .y_label_area_size(64)
                        .build_cartesian_2d(lo..hi, 0f64..top)?;
                    ch.configure_mesh()
                        .x_labels(6)
                        .y_labels(6)
                        .x_label_formatter(&tick)
                        .y_label_formatter(&tick)
                        .x_desc("value")
                        .y_desc("share of rows per unit")
                        .draw()?;
                    for (vals, color) in [(&rd, REF), (&cd, CUR)] {
                        ch.draw_series(vals.iter().enumerate().map(|(i, v)| {
                            Rectangle::new(
                                [(edges[i], 0.0), (edges[i + 1], *v)],
                                color.mix(0.45).filled(),
                            )
                        }))?;
                    }
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
                        .y_label_formatter(&tick)
                        .y_desc("share of rows")
                        .draw()?;
                    let centred = ("sans-serif", 11).into_text_style(&root).pos(
                        plotters::style::text_anchor::Pos::new(
                            plotters::style::text_anchor::HPos::Center,
                            plotters::style::text_anchor::VPos::Center,
                        ),
                    );
                    ch.draw_series(levels.iter().enumerate().map(|(i, name)| {
                        let mut short: String = name.chars().take(LEVEL_CHARS).collect();
                        if name.chars().count() > LEVEL_CHARS {
                            short.push('…');
                        }
                        Text::new(short, (i as f64 + 0.5, -top * 0.045), centred.clone())
                    }))?;
                    for (k, (vals, color)) in [(r, REF), (c, CUR)].into_iter().enumerate() {
                        ch.draw_series(vals.iter().enumerate().map(|(i, v)| {
                            let x0 = i as f64 + 0.1 + 0.4 * k as f64;
                            Rectangle::new([(x0, 0.0), (x0 + 0.38, *v)], color.filled())
                        }))?;
                    }
                }
            }
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return String::new();
        }
    }
    figure(svg, &[("reference", REF), ("current", CUR)])
}

/// Longest level name drawn under its bars (longer ones end in `…`).
const LEVEL_CHARS: usize = 12;

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
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Drift report</title><style>{}\
         .drift{{background:#f8d7da;font-weight:bold}}.watch{{background:#fff3cd}}</style></head><body>\
         <h1>Drift report</h1><p>Reference: {} ({} rows). Current: {} ({} rows). Mode: {:?}.</p>\
         <p><strong>{}</strong>: {} of {} features drifted (share {:.2}, dataset drift at {:.2}).{}</p>",
        PAGE_STYLE,
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
        h += "<h2>Drifted and watched features</h2><p class=\"note\">Numeric features: the share of rows per unit of value in each bin (bins of unequal width are drawn as a histogram). Categorical features: the share of rows per level.</p><div class=\"charts\">";
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unequal_bins_are_drawn_as_densities() {
        // Deciles with a wide open top bin: same share, ten times the width.
        let d = densities(&[0.1, 0.1, 0.0], &[0.0, 1.0, 11.0, 11.0]);
        assert_eq!(d, [0.1, 0.01, 0.0]);
    }

    #[test]
    fn many_levels_are_cut_to_the_largest_and_the_rest() {
        let levels: Vec<String> = (0..100).map(|i| format!("l{i}")).collect();
        let mut r = vec![0.005; 100];
        r[50] = 0.505;
        let c = vec![0.01; 100];
        let Histogram::Levels {
            levels: l,
            reference,
            current,
        } = top_levels(&levels, &r, &c)
        else {
            panic!("levels")
        };
        assert_eq!(l.len(), MAX_LEVELS);
        assert!(l.contains(&"l50".to_string()));
        assert_eq!(l.last().unwrap(), "(89 other levels)");
        assert!((reference.iter().sum::<f64>() - r.iter().sum::<f64>()).abs() < 1e-12);
        assert!((current.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ticks_fit_their_label_area() {
        assert_eq!(tick(&0.0), "0");
        assert_eq!(tick(&0.25), "0.25");
        assert_eq!(tick(&1234.5678), "1234.568");
        assert_eq!(tick(&0.000_012_3), "1.2e-5");
        assert_eq!(tick(&2_500_000.0), "2.5e6");
        assert_eq!(tick(&150_000.0), "150000");
        assert!(
            [0.5, 12.25, 99_999.0, 3e-4, 7e9]
                .iter()
                .all(|v| tick(v).len() <= 9)
        );
    }

    #[test]
    fn level_charts_name_levels_and_keep_the_key_out_of_the_plot() {
        let h = Histogram::Levels {
            levels: vec!["a rather long level name".into(), "b".into()],
            reference: vec![0.5, 0.5],
            current: vec![0.9, 0.1],
        };
        let html = chart("x", &h);
        assert!(html.starts_with("<figure class=\"chart\"><svg"), "{html}");
        assert!(html.contains("a rather lon…"), "{html}");
        let key = &html[html.find("</svg>").unwrap()..];
        assert!(key.contains(">reference</span>") && key.contains(">current</span>"));
    }
}
