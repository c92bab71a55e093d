//! Evaluation as recorded evidence: performance, fairness, robustness and privacy figures, and
//! their Markdown and HTML reports.

pub(crate) mod evaluate;
pub(crate) mod report_html;
