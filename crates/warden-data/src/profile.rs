//! `warden data profile`: what a file holds, column by column.
//!
//! [`profile_csv`] judges PII on the raw text of each column with the same
//! detection as `ingest` (a sample to classify, every value of a text
//! column for embedded PII), so the two agree on every file.

use std::io::Read;

use serde::Serialize;
use warden_core::Digest;

use crate::DataError;
use crate::detect::{PiiFinding, detect_column, detect_raw_full};
use crate::pii::Entity;
use crate::read::{CsvOptions, infer, read_raw, type_columns};
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

/// Reads a CSV, types it by inference and profiles it, judging PII on the
/// raw text as `ingest` does. Returns the profile, the typed table and the
/// digest of the bytes read.
pub fn profile_csv(
    input: &mut (dyn Read + Send),
    opts: &CsvOptions,
) -> Result<(Profile, Table, Digest), DataError> {
    let raw = read_raw(input, opts)?;
    let findings: Vec<PiiFinding> = raw
        .columns
        .iter()
        .map(|c| detect_raw_full(c, infer(c)))
        .collect();
    let table = Table {
        columns: type_columns(&raw)?,
        rows: raw.rows,
    };
    let p = profile_with(&table, Some(&findings));
    Ok((p, table, raw.source_digest))
}

/// Profiles a typed table, judging PII on the text of its values (numbers
/// included). For a file, [`profile_csv`] judges the raw text instead.
pub fn profile(table: &Table) -> Profile {
    profile_with(table, None)
}

fn profile_with(table: &Table, findings: Option<&[PiiFinding]>) -> Profile {
    let n = table.rows;
    let columns = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
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
            let f = match findings.and_then(|f| f.get(i)) {
                Some(f) => f.clone(),
                None => detect_column(c),
            };
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
