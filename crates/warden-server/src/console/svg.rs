//! The console's small charts as inline SVG: the robustness curve, the
//! lineage graph and the drift timeline. Drawn here, not with a plotting
//! crate: each is a handful of lines and boxes, and the server would
//! otherwise pull a drawing library in for three pictures. Every label is
//! escaped; each chart has a `<title>` and a text alternative beside it on
//! the page.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;

use serde::Deserialize;

const COLOURS: [&str; 5] = ["#1f77b4", "#d95f02", "#2c8c2c", "#c62828", "#7b52ab"];

/// Text for SVG (and HTML): the five characters that matter escaped.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The colour of the `i`th series, for the key under a chart.
pub fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Robust accuracy against attack radius, one line per attack.
pub fn curves(series: &[(String, Vec<(f64, f64)>)]) -> String {
    let points: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if points.is_empty() {
        return String::new();
    }
    let x_max = points
        .iter()
        .map(|p| p.0)
        .filter(|x| x.is_finite())
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let (w, h, l, t, b) = (480.0, 240.0, 44.0, 10.0, 34.0);
    let (pw, ph) = (w - l - 10.0, h - t - b);
    let px = |x: f64| l + (x / x_max).clamp(0.0, 1.0) * pw;
    let py = |y: f64| t + (1.0 - y.clamp(0.0, 1.0)) * ph;
    let mut s = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" \
         aria-labelledby=\"rob-t\"><title id=\"rob-t\">Robust accuracy by attack radius</title>\
         <rect x=\"{l}\" y=\"{t}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>"
    );
    for tick in [0.0, 0.5, 1.0] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{tick:.1}</text>",
            l - 4.0,
            py(tick) + 4.0
        );
    }
    for tick in [0.0, x_max / 2.0, x_max] {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            px(tick),
            h - b + 14.0,
            trim(tick)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">radius (standard deviations)</text>",
        l + pw / 2.0,
        h - 4.0
    );
    for (i, (_, pts)) in series.iter().enumerate() {
        let line: Vec<String> = pts
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            colour(i),
            line.join(" ")
        );
        // A mark at every point: a curve of one radius is a point.
        for (x, y) in pts.iter().filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{}\"/>",
                px(*x),
                py(*y),
                colour(i)
            );
        }
    }
    s + "</svg>"
}

fn trim(x: f64) -> String {
    let t = format!("{x:.3}");
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The lineage graph, left to right, from source files to the serving
/// environments in `deployed` (drawn after the model): the engine's edges
/// point from a thing to what it was made from, so they are drawn
/// reversed, as the data flowed; each node in the column of its longest
/// path from a node with no inputs, boxes labelled by kind and name, an
/// arrow per edge.
pub fn lineage(g: &warden::ModelLineage, deployed: &[String]) -> String {
    let mut g = g.clone();
    for e in &mut g.edges {
        std::mem::swap(&mut e.0, &mut e.1);
    }
    if let Some(model) = g
        .nodes
        .iter()
        .find(|n| n.kind == "model")
        .map(|n| n.id.clone())
    {
        for env in deployed {
            let id = format!("environment:{env}");
            g.nodes.push(warden::LineageGraphNode {
                id: id.clone(),
                kind: "environment".into(),
                label: env.clone(),
                digest: String::new(),
            });
            g.edges.push((model.clone(), id));
        }
    }
    let g = &g;
    let index: BTreeMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    let n = g.nodes.len();
    if n == 0 {
        return String::new();
    }
    let edges: Vec<(usize, usize)> = g
        .edges
        .iter()
        .filter_map(|(a, b)| Some((*index.get(a.as_str())?, *index.get(b.as_str())?)))
        .filter(|(a, b)| a != b)
        .collect();
    // Longest-path layering (Kahn's order); a node on a cycle, which a
    // lineage should not have, stays in column 0.
    let mut indegree = vec![0usize; n];
    for (_, b) in &edges {
        indegree[*b] += 1;
    }
    let mut column = vec![0usize; n];
    let mut queue: VecDeque<usize> = (0..n).filter(|i| indegree[*i] == 0).collect();
    while let Some(a) = queue.pop_front() {
        for (x, b) in &edges {
            if *x == a {
                column[*b] = column[*b].max(column[a] + 1);
                indegree[*b] -= 1;
                if indegree[*b] == 0 {
                    queue.push_back(*b);
                }
            }
        }
    }
    let columns = column.iter().max().map_or(1, |m| m + 1);
    let mut row_of = vec![0usize; n];
    let mut rows = vec![0usize; columns];
    for i in 0..n {
        row_of[i] = rows[column[i]];
        rows[column[i]] += 1;
    }
    let (bw, bh, gx, gy) = (190.0, 44.0, 50.0, 14.0);
    let width = columns as f64 * (bw + gx) - gx + 20.0;
    let height = rows.iter().max().copied().unwrap_or(1) as f64 * (bh + gy) - gy + 20.0;
    let at = |i: usize| {
        (
            10.0 + column[i] as f64 * (bw + gx),
            10.0 + row_of[i] as f64 * (bh + gy),
        )
    };
    let mut s = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" \
         aria-labelledby=\"lin-t\"><title id=\"lin-t\">Lineage of {}</title>\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" \
         markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#666\"/></marker></defs>",
        esc(&g.model)
    );
    for (a, b) in &edges {
        let ((ax, ay), (bx, by)) = (at(*a), at(*b));
        let _ = write!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{bx}\" y2=\"{}\" stroke=\"#666\" marker-end=\"url(#arrow)\"/>",
            ax + bw,
            ay + bh / 2.0,
            by + bh / 2.0
        );
    }
    for (i, node) in g.nodes.iter().enumerate() {
        let (x, y) = at(i);
        let label: String = node.label.chars().take(28).collect();
        let _ = write!(
            s,
            "<g><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{bw}\" height=\"{bh}\" rx=\"4\" \
             fill=\"#f4f6fa\" stroke=\"#4a5a7a\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#555\">{}</text>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text></g>",
            esc(&format!("{} {}", node.id, node.digest)),
            x + 6.0,
            y + 15.0,
            esc(&node.kind),
            x + 6.0,
            y + 33.0,
            esc(&label)
        );
    }
    s + "</svg>"
}

/// Drifted features per monitoring window, oldest on the left; a window
/// whose data drifted as a whole is drawn dark red, others blue.
pub fn drift_timeline(windows: &[warden::WindowOut]) -> String {
    if windows.is_empty() {
        return String::new();
    }
    let mut ws: Vec<&warden::WindowOut> = windows.iter().collect();
    ws.sort_by_key(|w| w.id);
    let max = ws
        .iter()
        .map(|w| w.drifted_features)
        .max()
        .unwrap_or(0)
        .max(1);
    let (h, l, t, b) = (200.0, 34.0, 10.0, 30.0);
    let bar = (560.0 / ws.len() as f64).clamp(4.0, 40.0);
    let w = l + bar * ws.len() as f64 + 10.0;
    let ph = h - t - b;
    let mut s = format!(
        "<svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-labelledby=\"drift-t\">\
         <title id=\"drift-t\">Drifted features per monitoring window</title>\
         <line x1=\"{l}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#999\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">0</text>",
        t + ph,
        w - 10.0,
        t + ph,
        l - 4.0,
        t + 10.0,
        l - 4.0,
        t + ph
    );
    for (i, win) in ws.iter().enumerate() {
        let bh = ph * win.drifted_features as f64 / max as f64;
        let x = l + i as f64 * bar;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"{}\"><title>window {}: {} drifted features{}</title></rect>",
            x + 1.0,
            t + ph - bh,
            (bar - 2.0).max(1.0),
            if win.dataset_drift {
                "#b71c1c"
            } else {
                "#1f77b4"
            },
            win.id,
            win.drifted_features,
            if win.dataset_drift {
                ", dataset drift"
            } else {
                ""
            }
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\">window (oldest to newest)</text>",
        l + bar * ws.len() as f64 / 2.0,
        h - 8.0
    );
    s + "</svg>"
}

/// A monitoring window's report as the window recorded it: the drift
/// result of each input feature.
#[derive(Deserialize)]
struct WindowReport {
    drift: WindowDrift,
}

#[derive(Deserialize)]
struct WindowDrift {
    features: Vec<warden::drift::FeatureDrift>,
}

/// Per feature of a window's report: name, its tests in words, and
/// whether it drifted. A report that does not have the recorded shape
/// gives no rows (the window's counts are still shown).
pub fn window_features(report: &serde_json::Value) -> Vec<(String, String, bool)> {
    let Ok(r) = WindowReport::deserialize(report) else {
        return Vec::new();
    };
    r.drift
        .features
        .into_iter()
        .map(|f| {
            let tests = f
                .tests
                .iter()
                .map(|t| match t.p_value {
                    Some(p) => format!("{} {:.4} (p = {:.3e})", t.test, t.value, p),
                    None => format!("{} {:.4}", t.test, t.value),
                })
                .collect::<Vec<_>>()
                .join("; ");
            let drifted = f.verdict == warden::drift::Verdict::Drift;
            (f.feature, tests, drifted)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_edges_point_forward() {
        let node = |id: &str, label: &str| warden::LineageGraphNode {
            id: id.into(),
            kind: "source".into(),
            label: label.into(),
            digest: String::new(),
        };
        let g = warden::ModelLineage {
            model: "m<1>".into(),
            nodes: vec![node("b", "<script>x</script>"), node("a", "a&b")],
            edges: vec![("a".into(), "b".into()), ("b".into(), "missing".into())],
        };
        let svg = lineage(&g, &[]);
        assert!(!svg.contains("<script>"));
        assert!(
            svg.contains("&lt;script&gt;") && svg.contains("a&amp;b") && svg.contains("m&lt;1&gt;")
        );
        // One edge drawn (the other names no node); `b` (what `a` was made
        // from) is drawn left of `a`.
        assert_eq!(svg.matches("<line").count(), 1);
        assert!(svg.contains("<title>b </title><rect x=\"10\""), "{svg}");
        assert!(svg.contains("<title>a </title><rect x=\"250\""), "{svg}");
    }

    #[test]
    fn a_cycle_does_not_hang_the_layout() {
        let node = |id: &str| warden::LineageGraphNode {
            id: id.into(),
            kind: "k".into(),
            label: id.into(),
            digest: String::new(),
        };
        let g = warden::ModelLineage {
            model: "m".into(),
            nodes: vec![node("a"), node("b")],
            edges: vec![("a".into(), "b".into()), ("b".into(), "a".into())],
        };
        assert!(lineage(&g, &["dev".into()]).ends_with("</svg>"));
    }

    #[test]
    fn curves_skip_non_finite_points() {
        let svg = curves(&[("fgsm".into(), vec![(0.0, 0.9), (f64::NAN, 0.5), (0.5, 0.6)])]);
        assert!(!svg.contains("NaN"));
        assert!(curves(&[]).is_empty());
    }
}
