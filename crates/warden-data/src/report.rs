//! The data report as Markdown, for people.

use std::fmt::Write;

use crate::DataReport;
use crate::screen::RowList;

fn rows(l: &RowList) -> String {
    if l.count == 0 {
        return "none".into();
    }
    let shown: Vec<String> = l.rows.iter().take(10).map(ToString::to_string).collect();
    let more = if l.count > shown.len() {
        format!(", … ({} in all)", l.count)
    } else {
        String::new()
    };
    format!("{} (rows {}{more})", l.count, shown.join(", "))
}

/// Renders the report of dataset `title` (e.g. `credit@3`).
pub fn to_markdown(r: &DataReport, title: &str) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(s, "# Data report: {title}\n");
    let _ = writeln!(s, "| | |\n| --- | --- |");
    let _ = writeln!(
        s,
        "| source | `{}` ({} bytes, {} rows, {} columns) |",
        r.source_digest,
        r.source_bytes,
        r.source_rows,
        r.source_columns.len()
    );
    let _ = writeln!(
        s,
        "| output | {} rows, {} columns |",
        r.output_rows,
        r.output_columns.len()
    );
    let _ = writeln!(s, "| target | {} |", r.target.as_deref().unwrap_or("none"));
    let _ = writeln!(s, "| id | {} |", r.id.as_deref().unwrap_or("none"));
    let _ = writeln!(
        s,
        "| sensitive | {} |",
        if r.sensitive.is_empty() {
            "none".into()
        } else {
            r.sensitive.join(", ")
        }
    );
    let _ = writeln!(s, "| features | {} |", r.features.join(", "));
    let _ = writeln!(s, "| duplicate rows | {} |\n", r.duplicate_rows);

    let _ = writeln!(s, "## Expectations\n");
    if r.expectations.is_empty() {
        let _ = writeln!(s, "No schema was given.\n");
    } else {
        let _ = writeln!(
            s,
            "| column | expectation | observed | result |\n| --- | --- | --- | --- |"
        );
        for e in &r.expectations {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                e.column,
                e.expectation,
                e.observed,
                if e.passed { "pass" } else { "FAIL" }
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Personal data\n");
    if r.pii.findings.is_empty() {
        let _ = writeln!(s, "No PII detected.\n");
    } else {
        let _ = writeln!(
            s,
            "| column | entity | hit ratio | evidence | embedded | examples (masked) |\n| --- | --- | --- | --- | --- | --- |"
        );
        for f in &r.pii.findings {
            let embedded: Vec<String> = f
                .embedded
                .iter()
                .map(|(e, r)| format!("{} {:.1}%", e.as_str(), r * 100.0))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {:.1}% | {} | {} | {} |",
                f.column,
                f.entity.map(|e| e.as_str()).unwrap_or("-"),
                f.hit_ratio * 100.0,
                if f.evidence.is_empty() {
                    "-"
                } else {
                    &f.evidence
                },
                if embedded.is_empty() {
                    "-".into()
                } else {
                    embedded.join(", ")
                },
                f.examples
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
        s.push('\n');
        let _ = writeln!(s, "Actions:\n");
        for a in &r.pii.actions {
            let _ = writeln!(s, "- `{}`: {} ({})", a.column, a.action.as_str(), a.by);
        }
        let _ = writeln!(
            s,
            "\nUnmasked PII left in the output: {}\n",
            if r.pii.unmasked.is_empty() {
                "none".into()
            } else {
                r.pii.unmasked.join(", ")
            }
        );
    }

    let _ = writeln!(s, "## Minimisation\n");
    let _ = writeln!(s, "Kept: {}\n", r.kept.join(", "));
    if !r.dropped.is_empty() {
        let _ = writeln!(s, "| dropped column | why |\n| --- | --- |");
        for d in &r.dropped {
            let _ = writeln!(s, "| {} | {} |", d.column, d.reason);
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Poisoning and integrity screen\n");
    match &r.screen {
        None => {
            let _ = writeln!(s, "Not run (it needs a target column).\n");
        }
        Some(sc) => {
            let _ = writeln!(
                s,
                "- suspect rows: {} ({:.2}% of {})",
                sc.suspect_rows,
                sc.suspect_fraction * 100.0,
                sc.rows
            );
            if let Some(d) = &r.dropped_suspects {
                let _ = writeln!(
                    s,
                    "- dropped from the stored table (--drop-suspects): {}; {} rows stored",
                    rows(d),
                    r.output_rows
                );
            }
            let _ = writeln!(s, "- exact duplicates: {}", rows(&sc.exact_duplicates));
            let _ = writeln!(s, "- near duplicates: {}", rows(&sc.near_duplicates));
            let _ = writeln!(
                s,
                "- duplicates with conflicting labels: {}",
                rows(&sc.conflicting_labels)
            );
            if let Some(l) = &sc.label_noise {
                let _ = writeln!(
                    s,
                    "- label noise ({}): out-of-fold AUC {:.3}; suspects {}",
                    l.method,
                    l.out_of_fold_auc,
                    rows(&l.suspects)
                );
                let _ = writeln!(
                    s,
                    "- estimated share of wrong labels: {:.1}% (95% interval {:.1}–{:.1}%), natural noise and any poisoning together; the staging gate compares it with the dataset's `--max-label-noise` or its `max_label_noise`",
                    l.estimated_noise_rate * 100.0,
                    l.noise_interval[0] * 100.0,
                    l.noise_interval[1] * 100.0
                );
            }
            let _ = writeln!(
                s,
                "- labels changed since the previous version (same id): {}",
                rows(&sc.relabelled)
            );
            let _ = writeln!(
                s,
                "- kNN label disagreement ({} rows checked): {}",
                sc.knn_rows_checked,
                rows(&sc.knn_disagreement)
            );
            let _ = writeln!(s, "- extreme outliers: {}", rows(&sc.outliers));
            let bal: Vec<String> = sc
                .class_balance
                .iter()
                .map(|(k, v)| format!("{k}: {:.1}%", v * 100.0))
                .collect();
            let _ = writeln!(s, "- class balance: {}", bal.join(", "));
            if let Some(p) = &sc.previous_class_balance {
                let bal: Vec<String> = p
                    .iter()
                    .map(|(k, v)| format!("{k}: {:.1}%", v * 100.0))
                    .collect();
                let _ = writeln!(s, "- previous version's class balance: {}", bal.join(", "));
            }
            for f in &sc.shifted_features {
                let _ = writeln!(
                    s,
                    "- shift in `{}` since the previous version: {} = {:.3}",
                    f.feature, f.statistic, f.value
                );
            }
            for n in &sc.notes {
                let _ = writeln!(s, "- note: {n}");
            }
            s.push('\n');
        }
    }
    s
}
