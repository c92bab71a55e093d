//! The evaluation report as one self-contained HTML page: tables of the
//! figures and SVG charts drawn with the `plotters` crate (ROC curve,
//! calibration curve, per-group rates, robustness curve). Text is escaped;
//! nothing is loaded from elsewhere.

use plotters::prelude::*;
use plotters::style::text_anchor;

use crate::evaluate::EvalReport;
use crate::{Error, Workspace};
use warden_ml::metrics::Figure;

const W: u32 = 520;
const H: u32 = 360;
const PALETTE: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
];

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn fig(f: &Figure) -> String {
    match f {
        Figure::Defined(v) => format!("{v:.4}"),
        Figure::Undefined { undefined } => format!("undefined ({})", esc(undefined)),
    }
}

/// A chart's key, as HTML under the chart rather than drawn inside it, so
/// it never covers bars or lines and wraps on narrow screens.
pub(crate) fn legend(items: &[(&str, RGBColor)]) -> String {
    let mut h = String::from("<div class=\"legend\">");
    for (label, RGBColor(r, g, b)) in items {
        h += &format!(
            "<span class=\"key\"><i style=\"background:rgb({r},{g},{b})\"></i>{}</span>",
            esc(label)
        );
    }
    h + "</div>"
}

/// One chart with its key, kept together when charts wrap.
pub(crate) fn figure(svg: String, key: &[(&str, RGBColor)]) -> String {
    if svg.is_empty() {
        return svg;
    }
    format!("<figure class=\"chart\">{svg}{}</figure>", legend(key))
}

/// Style shared by the report pages: readable on a phone (the viewport
/// follows the device, wide tables scroll inside themselves, charts
/// shrink to the screen) and chart keys.
pub(crate) const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 12px;color:#222}\
table{border-collapse:collapse;margin:1em 0;display:block;overflow-x:auto;max-width:100%}\
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}td:not(:first-child){white-space:nowrap}th{background:#f4f4f4}\
.charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666}\
figure.chart{margin:0;max-width:100%}svg{max-width:100%;height:auto}\
.legend{font-size:13px;margin:2px 0 8px 48px}.key{margin-right:14px;white-space:nowrap}\
.key i{display:inline-block;width:12px;height:12px;margin-right:5px;vertical-align:-1px}";

/// A line chart over [0, x_max] × [0, 1]; `series` are (label, points).
fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    x_max: f64,
    series: &[(String, Vec<(f64, f64)>)],
    diagonal: bool,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(36)
                .y_label_area_size(48)
                .build_cartesian_2d(0f64..x_max, 0f64..1f64)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .draw()?;
            if diagonal {
                chart.draw_series(LineSeries::new(
                    vec![(0.0, 0.0), (x_max, 1.0)],
                    BLACK.mix(0.3),
                ))?;
            }
            for (i, (label, pts)) in series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let _ = label;
                chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?;
                chart.draw_series(
                    pts.iter()
                        .map(|&(x, y)| Circle::new((x, y), 2, color.filled())),
                )?;
            }
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return String::new();
        }
    }
    let key: Vec<(&str, RGBColor)> = series
        .iter()
        .enumerate()
        .map(|(i, (label, _))| (label.as_str(), PALETTE[i % PALETTE.len()]))
        .collect();
    figure(svg, &key)
}

/// Grouped bars: for each group, one bar per rate (selection, TPR, FPR).
fn group_bars(title: &str, groups: &[(String, [Option<f64>; 3])]) -> String {
    // Each group gets room for its name (about 7 px a character at 12 px),
    // so long names (intersections) do not run into each other.
    let longest = groups
        .iter()
        .map(|(g, _)| g.chars().count())
        .max()
        .unwrap_or(0) as u32;
    let slot = 80u32.max(7 * longest.min(40) + 16);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W.max(slot * groups.len() as u32 + 72), H))
            .into_drawing_area();
        let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
            root.fill(&WHITE)?;
            let n = groups.len().max(1);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(48)
                .build_cartesian_2d(0f64..n as f64, -0.08f64..1f64)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_label_formatter(&|_| String::new())
                .y_desc("rate")
                .draw()?;
            // Group names under their bars (a float axis would label round numbers).
            let centred = ("sans-serif", 12)
                .into_text_style(&root)
                .pos(text_anchor::Pos::new(
                    text_anchor::HPos::Center,
                    text_anchor::VPos::Center,
                ));
            chart.draw_series(groups.iter().enumerate().map(|(i, (name, _))| {
                Text::new(name.clone(), (i as f64 + 0.5, -0.045), centred.clone())
            }))?;
            for k in 0..RATES.len() {
                let color = PALETTE[k];
                chart.draw_series(groups.iter().enumerate().filter_map(|(i, (_, r))| {
                    r[k].map(|v| {
                        let x0 = i as f64 + 0.15 + 0.23 * k as f64;
                        Rectangle::new([(x0, 0.0), (x0 + 0.2, v)], color.filled())
                    })
                }))?;
            }
            root.present()?;
            Ok(())
        };
        if draw().is_err() {
            return String::new();
        }
    }
    let key: Vec<(&str, RGBColor)> = RATES
        .iter()
        .enumerate()
        .map(|(k, label)| (*label, PALETTE[k]))
        .collect();
    figure(svg, &key)
}

/// The rates [`group_bars`] draws per group, in order.
const RATES: [&str; 3] = ["selection rate", "TPR", "FPR"];

/// The gate's limits an evaluation report marks figures against: the
/// bundled or configured `gate_config` (`warden.toml` `[gates] data`).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct GateLimits {
    /// Which environment's gate these are: the last of `[gates]
    /// environments`, taken as the strictest.
    pub env: String,
    /// Smallest demographic-parity ratio allowed (`None`: not gated).
    pub min_demographic_parity_ratio: Option<f64>,
    /// The attack whose robust accuracy is gated on for native models
    /// (`None`: robustness not gated).
    pub robust_attack: Option<String>,
    /// The attack that stands in for `robust_attack` on imported models
    /// (no gradients): decision-based.
    pub robust_attack_black_box: Option<String>,
    /// The radius that robust accuracy is read at.
    pub robust_eps: Option<f64>,
    /// Smallest accuracy allowed under that attack at that radius.
    pub min_robust_accuracy: Option<f64>,
    /// Largest membership-inference AUC allowed (the gate and the report
    /// read the worse of the loss-threshold and confidence attacks).
    pub max_membership_inference_auc: Option<f64>,
}

impl GateLimits {
    /// The limits of a typed gate configuration.
    pub fn from_gate_config(env: &str, cfg: &crate::GateConfig) -> Self {
        GateLimits {
            env: env.to_string(),
            min_demographic_parity_ratio: cfg.min_demographic_parity_ratio,
            robust_attack: cfg.robust_attack.clone(),
            robust_attack_black_box: Some(
                cfg.robust_attack_black_box
                    .clone()
                    .unwrap_or_else(|| "hsj".to_string()),
            ),
            robust_eps: cfg.robust_eps,
            min_robust_accuracy: cfg.min_robust_accuracy,
            max_membership_inference_auc: cfg.max_membership_inference_auc,
        }
    }
}

impl Workspace {
    /// The limits of the workspace's gate for its strictest environment,
    /// for marking evaluation reports.
    pub fn gate_limits(&self) -> Result<GateLimits, Error> {
        let env = self
            .config()
            .gates
            .environments
            .last()
            .cloned()
            .unwrap_or_else(|| "production".into());
        Ok(GateLimits::from_gate_config(
            &env,
            &crate::gate_config(self)?,
        ))
    }
}

impl Workspace {
    /// A recorded evaluation of `model` (which must name its version) as
    /// its HTML report, marked against the strictest environment's gate
    /// limits: the page `warden eval --report` writes, for the console.
    pub fn evaluation_html(
        &self,
        model: &warden_core::VersionRef,
        id: u64,
    ) -> Result<String, Error> {
        let (rec, report) = self.evaluation_report(model, id)?;
        let limits = self.gate_limits()?;
        let title = format!(
            "{}@{} on {}@{}",
            rec.model, rec.model_version, rec.dataset, rec.dataset_version
        );
        Ok(report_html(&report, &title, Some(&limits)))
    }

    /// A recorded evaluation of `model` and its typed report.
    pub fn evaluation_report(
        &self,
        model: &warden_core::VersionRef,
        id: u64,
    ) -> Result<(warden_store::EvaluationRecord, EvalReport), Error> {
        let rec = self
            .evaluations(model)?
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| Error::NotFound(format!("evaluation {id} of model {model}")))?;
        let report: EvalReport = serde_json::from_str(&rec.report).map_err(|e| {
            Error::Invalid(format!(
                "the stored report of evaluation {id} does not parse: {e}"
            ))
        })?;
        Ok((rec, report))
    }
}

/// One figure checked against a gate limit.
struct Check {
    figure: String,
    value: Option<f64>,
    limit: String,
    pass: bool,
}

fn checks(r: &EvalReport, g: &GateLimits) -> Vec<Check> {
    let mut out = Vec::new();
    if let Some(min) = g.min_demographic_parity_ratio {
        for f in &r.fairness {
            let v = f.demographic_parity_ratio.value();
            out.push(Check {
                figure: format!("demographic parity ratio ({})", f.attribute),
                value: v,
                limit: format!("≥ {min}"),
                pass: v.is_some_and(|v| v >= min),
            });
        }
    }
    // The white-box attack when the report has it, else the black-box one
    // the gate applies to imported models.
    let attack = r.robustness.as_ref().and_then(|rb| {
        [&g.robust_attack, &g.robust_attack_black_box]
            .into_iter()
            .flatten()
            .find(|a| rb.attacks.contains_key(a.as_str()))
    });
    if let (Some(rb), Some(attack), Some(eps), Some(min)) =
        (&r.robustness, attack, g.robust_eps, g.min_robust_accuracy)
        && let Some(points) = rb.attacks.get(attack)
    {
        let v = points
            .iter()
            .find(|x| (x.eps - eps).abs() < 1e-9)
            .map(|x| x.robust_accuracy);
        out.push(Check {
            figure: format!("robust accuracy ({attack}, eps {eps})"),
            value: v,
            limit: format!("≥ {min}"),
            pass: v.is_some_and(|v| v >= min),
        });
    }
    if let (Some(pr), Some(max)) = (&r.privacy, g.max_membership_inference_auc) {
        let v = [pr.loss_threshold.auc.value(), pr.confidence.auc.value()]
            .into_iter()
            .flatten()
            .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
        out.push(Check {
            figure: "membership-inference AUC (worst attack)".into(),
            value: v,
            limit: format!("≤ {max}"),
            pass: v.is_some_and(|v| v <= max),
        });
    }
    out
}

/// The HTML report of an evaluation. With `limits`, a table at the top
/// marks each figure a gate checks as pass or FAIL (in words, not colour
/// alone), and failing figures are marked where they appear.
pub fn report_html(r: &EvalReport, title: &str, limits: Option<&GateLimits>) -> String {
    let p = &r.performance;
    let checked = limits.map(|g| checks(r, g)).unwrap_or_default();
    let failed = |figure: &str| checked.iter().any(|c| !c.pass && c.figure == figure);
    let mut h = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{t}</title><style>{style}\
         .fail{{background:#fde2e1;color:#8a1c13;font-weight:bold}}.pass{{background:#e3f4e1;color:#1d5c1a}}\
         </style></head><body>\
         <h1>Evaluation: {t}</h1><p>{rows} rows{pos}</p>",
        style = PAGE_STYLE,
        t = esc(title),
        rows = r.rows,
        pos = r
            .positive_class
            .as_ref()
            .map(|c| format!("; favourable class <code>{}</code>", esc(c)))
            .unwrap_or_default()
    );
    if let Some(g) = limits {
        let fails = checked.iter().filter(|c| !c.pass).count();
        h += &format!(
            "<h2>Gate checks ({env})</h2><p>{verdict}</p><table><tr><th>figure</th><th>value</th><th>limit</th><th>verdict</th></tr>",
            env = esc(&g.env),
            verdict = if checked.is_empty() {
                "No figure of this report is checked by the gate.".to_string()
            } else if fails == 0 {
                format!("All {} checked figures pass.", checked.len())
            } else {
                format!(
                    "{fails} of {} checked figures FAIL the {} gate.",
                    checked.len(),
                    esc(&g.env)
                )
            }
        );
        for c in &checked {
            let (class, word) = if c.pass {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            h += &format!(
                "<tr class=\"{class}\" data-gate=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{word}</td></tr>",
                esc(&c.figure),
                c.value
                    .map_or("undefined".to_string(), |v| format!("{v:.4}")),
                esc(&c.limit)
            );
        }
        h += "</table>";
    }
    h += "<h2>Performance</h2><table><tr><th>figure</th><th>value</th><th>95% interval</th></tr>";
    let ci = |k: &str| {
        p.ci95
            .get(k)
            .map(|i| format!("{:.4} – {:.4}", i.low, i.high))
            .unwrap_or_default()
    };
    h += &format!(
        "<tr><td>accuracy</td><td>{:.4}</td><td>{}</td></tr>",
        p.accuracy,
        ci("accuracy")
    );
    for (name, key, f) in [
        (
            "balanced accuracy",
            "balanced_accuracy",
            &p.balanced_accuracy,
        ),
        ("macro F1", "macro_f1", &p.macro_f1),
        ("ROC AUC", "roc_auc", &p.roc_auc),
        ("PR AUC", "", &p.pr_auc),
        ("log loss", "", &p.log_loss),
        ("Brier score", "", &p.brier),
        ("expected calibration error", "", &p.ece),
    ] {
        h += &format!(
            "<tr><td>{name}</td><td>{}</td><td>{}</td></tr>",
            fig(f),
            ci(key)
        );
    }
    h += "</table>";
    if !p.confusion.is_empty() && p.confusion.len() == p.classes.len() {
        h += "<h3>Confusion matrix</h3><table><tr><th>true \\ predicted</th>";
        for c in &p.classes {
            h += &format!("<th>{}</th>", esc(c));
        }
        h += "</tr>";
        for (c, row) in p.classes.iter().zip(&p.confusion) {
            h += &format!("<tr><th>{}</th>", esc(c));
            for n in row {
                h += &format!("<td>{n}</td>");
            }
            h += "</tr>";
        }
        h += "</table>";
    }
    h += "<div class=\"charts\">";
    if !p.curves.roc.is_empty() {
        h += &lines(
            "ROC curve",
            "false positive rate",
            "true positive rate",
            1.0,
            &[(
                "ROC".into(),
                p.curves.roc.iter().map(|q| (q[0], q[1])).collect(),
            )],
            true,
        );
    }
    if !p.curves.calibration.is_empty() {
        h += &lines(
            "Calibration",
            "mean predicted confidence",
            "accuracy",
            1.0,
            &[(
                "bins".into(),
                p.curves.calibration.iter().map(|q| (q[0], q[1])).collect(),
            )],
            true,
        );
    }
    h += "</div>";
    if !r.fairness.is_empty() {
        h += "<h2>Fairness</h2>";
        for f in &r.fairness {
            h += &format!(
                "<h3>{}</h3><table><tr><th>group</th><th>rows</th><th>selection rate</th><th>TPR</th><th>FPR</th><th>accuracy</th></tr>",
                esc(&f.attribute)
            );
            for g in &f.groups {
                h += &format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&g.group),
                    g.count,
                    fig(&g.selection_rate),
                    fig(&g.tpr),
                    fig(&g.fpr),
                    fig(&g.accuracy)
                );
            }
            let dp_ratio = if failed(&format!("demographic parity ratio ({})", f.attribute)) {
                format!(
                    "<strong class=\"fail\" data-gate=\"fail\">{} (FAIL: below the gate's limit)</strong>",
                    fig(&f.demographic_parity_ratio)
                )
            } else {
                fig(&f.demographic_parity_ratio)
            };
            h += &format!(
                "</table><p>demographic parity difference {}, ratio {}; equalized odds difference {}, ratio {}; equal opportunity difference {}, ratio {}; disparate impact {}; average odds difference {}</p>",
                fig(&f.demographic_parity_difference),
                dp_ratio,
                fig(&f.equalized_odds_difference),
                fig(&f.equalized_odds_ratio),
                fig(&f.equal_opportunity_difference),
                fig(&f.equal_opportunity_ratio),
                fig(&f.disparate_impact),
                fig(&f.average_odds_difference)
            );
            if let Some(pv) = &f.privileged {
                h += &format!(
                    "<p>privileged {} (AIF360): statistical parity difference {}, disparate impact {}, average odds difference {}, average absolute odds difference {}, equal opportunity difference {}, between-group Theil index {}, between-group coefficient of variation {}</p>",
                    esc(&pv.privileged),
                    fig(&pv.statistical_parity_difference),
                    fig(&pv.disparate_impact),
                    fig(&pv.average_odds_difference),
                    fig(&pv.average_abs_odds_difference),
                    fig(&pv.equal_opportunity_difference),
                    fig(&pv.between_group_theil_index),
                    fig(&pv.between_group_coefficient_of_variation)
                );
            }
            for n in &f.notes {
                h += &format!("<p class=\"note\">{}</p>", esc(n));
            }
            let bars: Vec<(String, [Option<f64>; 3])> = f
                .groups
                .iter()
                .map(|g| {
                    (
                        g.group.clone(),
                        [g.selection_rate.value(), g.tpr.value(), g.fpr.value()],
                    )
                })
                .collect();
            h += &group_bars(&format!("Rates by {}", f.attribute), &bars);
        }
        if let (Some(t), Some(ge), Some(cv)) = (
            &r.theil_index,
            &r.generalized_entropy_index,
            &r.coefficient_of_variation,
        ) {
            h += &format!(
                "<p>All rows (AIF360): Theil index {}, generalised entropy index (α = 2) {}, coefficient of variation {}</p>",
                fig(t),
                fig(ge),
                fig(cv)
            );
        }
    }
    if let Some(rb) = &r.robustness {
        h += &format!("<h2>Adversarial robustness</h2><p>{}</p>", esc(&rb.space));
        let x_max = rb
            .attacks
            .values()
            .flatten()
            .map(|x| x.eps)
            .fold(0.0, f64::max)
            .max(0.01)
            * 1.05;
        let series: Vec<(String, Vec<(f64, f64)>)> = rb
            .attacks
            .iter()
            .map(|(a, v)| {
                (
                    a.clone(),
                    v.iter().map(|x| (x.eps, x.robust_accuracy)).collect(),
                )
            })
            .collect();
        h += &lines(
            "Robust accuracy by radius",
            "eps (training standard deviations)",
            "robust accuracy",
            x_max,
            &series,
            false,
        );
        h += &format!(
            "<p>Median minimal L∞ perturbation: {} ({})</p>",
            fig(&rb.median_min_linf),
            esc(&rb.median_min_linf_method)
        );
    }
    if let Some(pr) = &r.privacy {
        h += &format!(
            "<h2>Privacy risk</h2><p>{}</p><table><tr><th>attack</th><th>AUC</th><th>advantage</th><th>TPR at 1% FPR</th><th>TPR at 0.1% FPR</th></tr>",
            esc(&pr.split)
        );
        for a in [&pr.loss_threshold, &pr.confidence] {
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.attack),
                fig(&a.auc),
                fig(&a.advantage),
                fig(&a.tpr_at_1pct_fpr),
                fig(&a.tpr_at_0_1pct_fpr)
            );
        }
        h += "</table>";
    }
    if !r.notes.is_empty() {
        h += "<h2>Notes</h2><ul>";
        for n in &r.notes {
            h += &format!("<li>{}</li>", esc(n));
        }
        h += "</ul>";
    }
    h += "</body></html>\n";
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chart's key is HTML under the chart, also for one series (an
    /// imported model's single black-box attack must still be named).
    #[test]
    fn keys_are_under_the_charts() {
        let one = lines(
            "Robust accuracy by radius",
            "eps",
            "robust accuracy",
            0.5,
            &[("boundary".into(), vec![(0.0, 0.9), (0.5, 0.4)])],
            false,
        );
        assert!(one.starts_with("<figure class=\"chart\"><svg"), "{one}");
        let key = &one[one.find("</svg>").unwrap()..];
        assert!(key.contains(">boundary</span>"), "{key}");
        let svg = &one[..one.find("</svg>").unwrap()];
        assert!(
            !svg.contains("boundary"),
            "the key is not drawn over the lines"
        );
    }

    /// Group names get room in proportion to their length, so long
    /// intersection names do not overlap.
    #[test]
    fn long_group_names_widen_the_chart() {
        let width = |html: &str| -> u32 {
            let w = html.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        let short = group_bars(
            "r",
            &[("a".into(), [Some(0.5); 3]), ("b".into(), [Some(0.4); 3])],
        );
        let groups: Vec<(String, [Option<f64>; 3])> = (0..8)
            .map(|i| (format!("45-59 & Female & group {i}"), [Some(0.3); 3]))
            .collect();
        let long = group_bars("r", &groups);
        // 8 names of 26 characters: at least 7 px a character each.
        assert!(width(&long) >= 8 * 7 * 26, "{}", width(&long));
        assert_eq!(width(&short), W);
        for label in RATES {
            assert!(long.contains(&format!(">{label}</span>")));
        }
    }

    #[test]
    fn pages_follow_the_device_width() {
        assert!(PAGE_STYLE.contains("overflow-x:auto"));
        assert!(PAGE_STYLE.contains("svg{max-width:100%"));
    }
}
