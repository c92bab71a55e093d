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

/// What one column holds.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnProfile {
    /// The column's name.
    pub name: String,
    /// The inferred type, serialised as `type`.
    #[serde(rename = "type")]
    pub column_type: ColumnType,
    /// Fraction of rows whose value is missing, in [0, 1] (0 for a table
    /// without rows).
    pub null_fraction: f64,
    /// Number of distinct non-missing values.
    pub distinct: usize,
    /// The smallest value, exact for integer columns; `None` for a
    /// non-numeric column or one with no values.
    pub min: Option<Extreme>,
    /// The largest value, exact for integer columns; `None` for a non-numeric column or one with no
    /// values.
    pub max: Option<Extreme>,
    /// The mean of the non-missing values; `None` for a non-numeric column
    /// or one with no values.
    pub mean: Option<f64>,
    /// Most frequent values with their counts (categorical and boolean columns).
    pub top: Vec<(String, usize)>,
    /// The entity the whole column holds; `None` when it holds none.
    pub pii: Option<Entity>,
    /// Entities found embedded in the column's free text.
    pub pii_embedded: Vec<Entity>,
}

/// A column's smallest or largest value: an integer column's extremes are
/// kept as integers, so a 19-digit identifier is reported digit for digit
/// rather than rounded through `f64`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Extreme {
    /// The extreme of an integer column, exact.
    Integer(i64),
    /// The extreme of a float column.
    Float(f64),
}

impl std::fmt::Display for Extreme {
    /// Integers in full; floats with at most four decimals, trailing
    /// zeros dropped.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Extreme::Integer(i) => write!(f, "{i}"),
            Extreme::Float(x) => {
                let s = format!("{x:.4}");
                let s = if s.contains('.') {
                    s.trim_end_matches('0').trim_end_matches('.')
                } else {
                    &s
                };
                f.write_str(s)
            }
        }
    }
}

/// What a table holds, column by column.
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    /// Number of data rows.
    pub rows: usize,
    /// One profile per column, in column order.
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
    // Column by column on every core, the largest first: the full scan of
    // a long text column for embedded PII is most of the work.
    let findings: Vec<PiiFinding> = crate::pool::try_map_heaviest_first(
        raw.columns.iter().collect(),
        crate::pool::workers(),
        |c| c.plain_bytes() + c.len(),
        |c| Ok::<_, DataError>(detect_raw_full(c, infer(c))),
    )?;
    let table = Table {
        columns: type_columns(&raw)?,
        rows: raw.rows,
    };
    let p = profile_with(&table, Some(&findings));
    Ok((p, table, raw.source_digest()?))
}

/// Profiles a typed table, judging PII on the text of its values (numbers
/// included). For a file, [`profile_csv`] judges the raw text instead.
pub fn profile(table: &Table) -> Profile {
    profile_with(table, None)
}

fn profile_with(table: &Table, findings: Option<&[PiiFinding]>) -> Profile {
    let n = table.rows;
    let profile_one = |(i, c): (usize, &crate::table::Column)| -> ColumnProfile {
        let d = &c.data;
        let nulls = d.null_count();
        let (distinct, top) = distinct_and_top(d);
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
            distinct,
            min: extreme(d, &nums, std::cmp::Ordering::Less),
            max: extreme(d, &nums, std::cmp::Ordering::Greater),
            mean: numeric.then(|| nums.iter().sum::<f64>() / nums.len() as f64),
            top,
            pii: f.entity,
            pii_embedded: f.embedded.keys().copied().collect(),
        }
    };
    // Column by column on every core; the result is in column order.
    let columns = match crate::pool::try_map(
        table.columns.iter().enumerate().collect(),
        crate::pool::workers(),
        |ic| Ok::<_, crate::pool::WorkerPanicked>(profile_one(ic)),
    ) {
        Ok(columns) => columns,
        // A worker panicked and left no result: profile on this thread,
        // where the panic, if it recurs, surfaces as itself.
        Err(_) => table.columns.iter().enumerate().map(profile_one).collect(),
    };
    Profile { rows: n, columns }
}

/// How many distinct values (by their text) a column holds, and for
/// categorical and boolean columns its five most frequent values (most
/// first, ties by text). Values are compared as what they are stored as,
/// which distinguishes exactly what their texts do, so no text is made
/// per row.
fn distinct_and_top(d: &ColumnData) -> (usize, Vec<(String, usize)>) {
    let top = |counts: Vec<(String, usize)>| {
        let mut top: Vec<(String, usize)> = counts.into_iter().filter(|(_, n)| *n > 0).collect();
        top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        top.truncate(5);
        top
    };
    match d {
        ColumnData::Integer(v) => {
            let mut x: Vec<i64> = v.iter().flatten().copied().collect();
            x.sort_unstable();
            x.dedup();
            (x.len(), Vec::new())
        }
        ColumnData::Float(v) => {
            // Missing values are NaN; distinct floats have distinct texts
            // (the shortest that reads back), -0.0 and 0.0 included.
            let mut x: Vec<u64> = v
                .iter()
                .filter(|x| !x.is_nan())
                .map(|x| x.to_bits())
                .collect();
            x.sort_unstable();
            x.dedup();
            (x.len(), Vec::new())
        }
        ColumnData::Boolean(v) => {
            let (t, f) = v
                .iter()
                .flatten()
                .fold((0, 0), |(t, f), b| if *b { (t + 1, f) } else { (t, f + 1) });
            let distinct = usize::from(t > 0) + usize::from(f > 0);
            (distinct, top(vec![("true".into(), t), ("false".into(), f)]))
        }
        ColumnData::Categorical { codes, levels } => {
            let mut counts = vec![0usize; levels.len()];
            for &c in codes {
                if let Some(n) = counts.get_mut(c as usize) {
                    *n += 1;
                }
            }
            let distinct = counts.iter().filter(|&&n| n > 0).count();
            (distinct, top(levels.iter().cloned().zip(counts).collect()))
        }
        ColumnData::Text(v) => {
            let mut seen: rustc_hash::FxHashSet<&str> = rustc_hash::FxHashSet::default();
            seen.extend((0..v.len()).filter_map(|r| v.get(r)));
            (seen.len(), Vec::new())
        }
        other => {
            let mut seen: rustc_hash::FxHashSet<String> = rustc_hash::FxHashSet::default();
            let mut scratch = String::new();
            for r in 0..other.len() {
                other.with_text(r, &mut scratch, |v| {
                    if !seen.contains(v) {
                        seen.insert(v.to_string());
                    }
                });
            }
            (seen.len(), Vec::new())
        }
    }
}

/// The value that is `towards` every other one: integers compared as
/// integers, everything else as floats. `None` for non-numeric columns.
fn extreme(d: &ColumnData, nums: &[f64], towards: std::cmp::Ordering) -> Option<Extreme> {
    if !d.column_type().is_numeric() || nums.is_empty() {
        return None;
    }
    if let ColumnData::Integer(v) = d {
        let it = v.iter().flatten().copied();
        let pick = if towards == std::cmp::Ordering::Less {
            it.min()
        } else {
            it.max()
        };
        return pick.map(Extreme::Integer);
    }
    let pick = nums
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .reduce(|a, b| if b.total_cmp(&a) == towards { b } else { a });
    pick.map(Extreme::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiled(csv: &str) -> Profile {
        profile_csv(&mut csv.as_bytes(), &CsvOptions::default())
            .map(|(p, _, _)| p)
            .unwrap()
    }

    /// Integer extremes are exact at every magnitude `i64` holds; the
    /// generated values differ only in digits an `f64` cannot carry.
    #[test]
    fn integer_extremes_keep_every_digit() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let base = (state >> 1) as i64 - (1 << 62);
            let vals = [base, base.saturating_add(1), base.saturating_add(3)];
            let csv = format!("x\n{}\n{}\n{}\n", vals[0], vals[2], vals[1]);
            let p = profiled(&csv);
            let c = &p.columns[0];
            assert_eq!(c.column_type, ColumnType::Integer, "{csv}");
            assert_eq!(c.min, Some(Extreme::Integer(vals[0])), "{csv}");
            assert_eq!(c.max, Some(Extreme::Integer(vals[2])), "{csv}");
        }
        let p = profiled("x\n4088002734199108369\n4088002734199108371\n");
        let json = serde_json::to_string(&p.columns[0]).unwrap();
        assert!(json.contains("\"min\":4088002734199108369"), "{json}");
        assert!(json.contains("\"max\":4088002734199108371"), "{json}");
        assert_eq!(p.columns[0].max.unwrap().to_string(), "4088002734199108371");
    }

    /// The reference: every value's text, sorted and deduplicated; counts
    /// of the texts for categorical and boolean columns.
    fn by_text(d: &ColumnData) -> (usize, Vec<(String, usize)>) {
        let texts: Vec<String> = (0..d.len()).filter_map(|r| d.text(r)).collect();
        let mut top = Vec::new();
        if matches!(d, ColumnData::Categorical { .. } | ColumnData::Boolean(_)) {
            let mut counts = std::collections::BTreeMap::<String, usize>::new();
            for v in &texts {
                *counts.entry(v.clone()).or_default() += 1;
            }
            top = counts.into_iter().collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            top.truncate(5);
        }
        let mut distinct = texts;
        distinct.sort();
        distinct.dedup();
        (distinct.len(), top)
    }

    proptest::proptest! {
        #[test]
        fn distinct_counts_and_top_values_are_those_of_the_texts(
            ints in proptest::collection::vec(proptest::option::of(-5i64..5), 0..60),
            floats in proptest::collection::vec(proptest::sample::select(
                vec![0.0, -0.0, 1.5, f64::NAN, 1e300, 0.1 + 0.2, 0.3, -7.25]), 0..60),
            bools in proptest::collection::vec(proptest::option::of(proptest::bool::ANY), 0..60),
            codes in proptest::collection::vec(0u32..9, 0..60),
            texts in proptest::collection::vec(proptest::option::of("[ab]{0,2}"), 0..60),
        ) {
            let levels: Vec<String> = ["a", "b", "c", "d", "e", "f", "g"].iter().map(|s| s.to_string()).collect();
            // Codes past the levels (8) and the missing code stand for no value.
            let codes = codes.into_iter().map(|c| if c == 8 { crate::table::MISSING_CODE } else { c }).collect();
            for d in [
                ColumnData::Integer(ints),
                ColumnData::Float(floats),
                ColumnData::Boolean(bools),
                ColumnData::Categorical { codes, levels },
                ColumnData::Text(crate::table::TextColumn::from_options(texts.iter().map(|t| t.as_deref()))),
            ] {
                proptest::prop_assert_eq!(distinct_and_top(&d), by_text(&d), "{:?}", d.column_type());
            }
        }
    }

    #[test]
    fn float_extremes_and_their_display() {
        let p = profiled("x,s\n1.5,a\n-2.25,b\n,c\n");
        assert_eq!(p.columns[0].min, Some(Extreme::Float(-2.25)));
        assert_eq!(p.columns[0].max, Some(Extreme::Float(1.5)));
        assert_eq!(Extreme::Float(1.5).to_string(), "1.5");
        assert_eq!(Extreme::Float(1e20).to_string(), "100000000000000000000");
        assert_eq!(Extreme::Float(0.000_01).to_string(), "0");
        assert_eq!(p.columns[1].min, None);
    }
}
