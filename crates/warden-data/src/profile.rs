//! `warden data profile`: what a file holds, column by column.

use serde::Serialize;

use crate::detect::detect_column;
use crate::pii::Entity;
use crate::table::{ColumnData, ColumnType, Table};

#[derive(Clone, Debug, Serialize)]
pub struct ColumnProfile {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    pub null_fraction: f64,
    pub distinct: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
    /// Most frequent values with their counts (categorical and boolean columns).
    pub top: Vec<(String, usize)>,
    pub pii: Option<Entity>,
    pub pii_embedded: Vec<Entity>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
}

pub fn profile(table: &Table) -> Profile {
    let n = table.rows;
    let columns = table
        .columns
        .iter()
        .map(|c| {
            let d = &c.data;
            let nulls = d.null_count();
            let mut distinct: Vec<String> = (0..n).filter_map(|r| d.text(r)).collect();
            let mut top = Vec::new();
            if matches!(d, ColumnData::Categorical { .. } | ColumnData::Boolean(_)) {
                let mut counts = std::collections::BTreeMap::<String, usize>::new();
                for v in &distinct {
                    *counts.entry(v.clone()).or_default() += 1;
                }
                top = counts.into_iter().collect();
                top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                top.truncate(5);
            }
            distinct.sort();
            distinct.dedup();
            let nums: Vec<f64> = (0..n).filter_map(|r| d.number(r)).collect();
            let numeric = d.column_type().is_numeric() && !nums.is_empty();
            let f = detect_column(c);
            ColumnProfile {
                name: c.name.clone(),
                column_type: d.column_type(),
                null_fraction: nulls as f64 / n.max(1) as f64,
                distinct: distinct.len(),
                min: numeric.then(|| nums.iter().copied().fold(f64::INFINITY, f64::min)),
                max: numeric.then(|| nums.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                mean: numeric.then(|| nums.iter().sum::<f64>() / nums.len() as f64),
                top,
                pii: f.entity,
                pii_embedded: f.embedded.keys().copied().collect(),
            }
        })
        .collect();
    Profile { rows: n, columns }
}
