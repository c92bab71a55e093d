//! Declared expectations (a TOML schema file) and their evaluation.
//!
//! ```toml
//! [dataset]
//! target = "approved"          # optional: the same as --target
//! min_rows = 100
//! max_rows = 10000000
//! max_duplicate_fraction = 0.01
//!
//! [columns.age]
//! type = "integer"              # integer, float, boolean, categorical, text, date
//! required = true               # the column must exist (default true)
//! max_null_fraction = 0.0       # 0 = not null
//! min = 18
//! max = 120
//!
//! [columns.sex]
//! type = "categorical"
//! allowed = ["F", "M"]
//!
//! [columns.customer_id]
//! unique = true
//! pattern = "^C[0-9]{6}$"
//! ```

use std::collections::{BTreeMap, HashSet};

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::DataError;
use crate::table::{ColumnData, ColumnType, Table};

/// How many offending rows an expectation result lists.
pub const FIRST_ROWS: usize = 10;

/// A schema file: the `[dataset]` section and a `[columns.NAME]` section
/// per column; unknown keys are refused.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Roles and dataset-level expectations.
    #[serde(default)]
    pub dataset: DatasetExpectations,
    /// Expectations per column, by name.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnExpectations>,
}

/// The `[dataset]` section: column roles (a command-line flag wins over
/// each) and expectations on the whole table. An absent key checks nothing.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetExpectations {
    /// The label column, as `--target`.
    pub target: Option<String>,
    /// The row id column, as `--id`.
    pub id: Option<String>,
    /// The feature columns; empty leaves them undeclared, so every column
    /// that is not the target, id, a sensitive attribute or PII is one.
    #[serde(default)]
    pub features: Vec<String>,
    /// The sensitive attributes.
    #[serde(default)]
    pub sensitive: Vec<String>,
    /// Fewest data rows accepted.
    pub min_rows: Option<u64>,
    /// Most data rows accepted.
    pub max_rows: Option<u64>,
    /// Largest fraction of rows, in [0, 1], that may repeat an earlier row.
    pub max_duplicate_fraction: Option<f64>,
}

/// A `[columns.NAME]` section: what one column must satisfy. An absent key
/// checks nothing, except `required`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnExpectations {
    /// The type every value must convert to (serialised as `type`); `None`
    /// infers it.
    #[serde(rename = "type")]
    pub column_type: Option<ColumnType>,
    /// Whether the column must exist; `None` means `true`.
    pub required: Option<bool>,
    /// Largest fraction of missing values, in [0, 1]; 0 means not null.
    pub max_null_fraction: Option<f64>,
    /// Smallest value allowed, inclusive; the column must be numeric.
    pub min: Option<f64>,
    /// Largest value allowed, inclusive; the column must be numeric.
    pub max: Option<f64>,
    /// The only values allowed, compared as text; missing values pass.
    pub allowed: Option<Vec<String>>,
    /// A regular expression every non-missing value must match in full.
    pub pattern: Option<String>,
    /// With `true`, no non-missing value may repeat.
    pub unique: Option<bool>,
}

impl Schema {
    /// Parses a schema file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DataError> {
        let s: Schema =
            toml::from_str(text).map_err(|e| DataError::Schema(format!("{origin}: {e}")))?;
        for (name, c) in &s.columns {
            if let Some(p) = &c.pattern {
                Regex::new(p).map_err(|e| {
                    DataError::Schema(format!("{origin}: column {name}: pattern {p:?}: {e}"))
                })?;
            }
            for f in [c.max_null_fraction, s.dataset.max_duplicate_fraction]
                .into_iter()
                .flatten()
            {
                if !(0.0..=1.0).contains(&f) {
                    return Err(DataError::Schema(format!(
                        "{origin}: fractions must be between 0 and 1, got {f}"
                    )));
                }
            }
        }
        Ok(s)
    }

    /// Writes the schema as TOML.
    pub fn to_toml(&self) -> Result<String, DataError> {
        toml::to_string_pretty(self).map_err(|e| DataError::Internal(e.to_string()))
    }
}

/// One expectation, what was observed, and where it failed.
#[derive(Clone, Debug, Serialize)]
pub struct ExpectationResult {
    /// The column, or `*` for dataset-level expectations.
    pub column: String,
    /// The expectation in words (`values in [0, 120]`).
    pub expectation: String,
    /// What the data showed, in words (`3 nulls (0.0300)`).
    pub observed: String,
    /// Whether the expectation held (no failing rows).
    pub passed: bool,
    /// The first offending data rows (1-based, as in the file after its header).
    pub first_rows: Vec<usize>,
    /// How many rows break the expectation, or 1 for a failed dataset-level,
    /// presence or non-numeric range check; 0 when it passed.
    pub failing_rows: usize,
}

fn result(
    column: &str,
    expectation: String,
    observed: String,
    bad: Vec<usize>,
    failing: usize,
) -> ExpectationResult {
    ExpectationResult {
        column: column.to_string(),
        expectation,
        observed,
        passed: failing == 0,
        first_rows: bad.into_iter().take(FIRST_ROWS).map(|r| r + 1).collect(),
        failing_rows: failing,
    }
}

/// Rows (0-based) where `pred` holds, the first few and the count.
fn rows_where(n: usize, mut pred: impl FnMut(usize) -> bool) -> (Vec<usize>, usize) {
    let mut first = Vec::new();
    let mut count = 0;
    for r in 0..n {
        if pred(r) {
            count += 1;
            if first.len() < FIRST_ROWS {
                first.push(r);
            }
        }
    }
    (first, count)
}

/// Evaluates every expectation of `schema` against `table`, which must hold
/// (at least) the schema's columns that exist; `present` names every
/// column of the file. Type conformance is checked while converting (see
/// `ingest`).
pub fn validate(
    table: &Table,
    present: &[&str],
    schema: &Schema,
    duplicate_rows: usize,
) -> Vec<ExpectationResult> {
    let mut out = Vec::new();
    let n = table.rows;
    let d = &schema.dataset;
    if let Some(min) = d.min_rows {
        out.push(result(
            "*",
            format!("at least {min} rows"),
            format!("{n} rows"),
            vec![],
            usize::from((n as u64) < min),
        ));
    }
    if let Some(max) = d.max_rows {
        out.push(result(
            "*",
            format!("at most {max} rows"),
            format!("{n} rows"),
            vec![],
            usize::from((n as u64) > max),
        ));
    }
    if let Some(max) = d.max_duplicate_fraction {
        let frac = duplicate_rows as f64 / n.max(1) as f64;
        out.push(result(
            "*",
            format!("duplicate rows at most {max}"),
            format!("{duplicate_rows} duplicate rows ({frac:.4})"),
            vec![],
            usize::from(frac > max),
        ));
    }
    for (name, exp) in &schema.columns {
        let Some(col) = table.column(name) else {
            if exp.required.unwrap_or(true) {
                out.push(result(
                    name,
                    "column is present".into(),
                    format!("missing; the file has: {}", present.join(", ")),
                    vec![],
                    1,
                ));
            }
            continue;
        };
        let data = &col.data;
        if let Some(max) = exp.max_null_fraction {
            let (first, count) = rows_where(n, |r| data.is_null(r));
            let frac = count as f64 / n.max(1) as f64;
            let exp_text = if max == 0.0 {
                "not null".to_string()
            } else {
                format!("null fraction at most {max}")
            };
            let fails = if frac > max { count } else { 0 };
            out.push(result(
                name,
                exp_text,
                format!("{count} nulls ({frac:.4})"),
                if fails > 0 { first } else { vec![] },
                fails,
            ));
        }
        if exp.min.is_some() || exp.max.is_some() {
            let (lo, hi) = (
                exp.min.unwrap_or(f64::NEG_INFINITY),
                exp.max.unwrap_or(f64::INFINITY),
            );
            if data.column_type().is_numeric() {
                let (first, count) =
                    rows_where(n, |r| data.number(r).is_some_and(|x| x < lo || x > hi));
                let (mut omin, mut omax) = (f64::INFINITY, f64::NEG_INFINITY);
                for r in 0..n {
                    if let Some(x) = data.number(r) {
                        omin = omin.min(x);
                        omax = omax.max(x);
                    }
                }
                out.push(result(
                    name,
                    format!("values in [{lo}, {hi}]"),
                    format!("range [{omin}, {omax}]"),
                    first,
                    count,
                ));
            } else {
                out.push(result(
                    name,
                    format!("values in [{lo}, {hi}]"),
                    format!("column is {}, not numeric", data.column_type()),
                    vec![],
                    1,
                ));
            }
        }
        if let Some(allowed) = &exp.allowed {
            let set: HashSet<&str> = allowed.iter().map(String::as_str).collect();
            let mut unexpected = Vec::new();
            let (first, count) = rows_where(n, |r| match data.text(r) {
                Some(v) if !set.contains(v.as_str()) => {
                    if unexpected.len() < 5 && !unexpected.contains(&v) {
                        unexpected.push(v);
                    }
                    true
                }
                _ => false,
            });
            out.push(result(
                name,
                format!("values in {{{}}}", allowed.join(", ")),
                if count == 0 {
                    "all allowed".into()
                } else {
                    format!("{count} values outside, e.g. {}", unexpected.join(", "))
                },
                first,
                count,
            ));
        }
        if let Some(p) = &exp.pattern
            && let Ok(re) = Regex::new(&format!("^(?:{p})$"))
        {
            let (first, count) = rows_where(n, |r| data.text(r).is_some_and(|v| !re.is_match(&v)));
            out.push(result(
                name,
                format!("values match /{p}/"),
                format!("{count} values do not"),
                first,
                count,
            ));
        }
        if exp.unique == Some(true) {
            let mut seen = HashSet::with_capacity(n);
            let (first, count) = rows_where(n, |r| data.text(r).is_some_and(|v| !seen.insert(v)));
            out.push(result(
                name,
                "values are unique".into(),
                format!("{count} repeated values"),
                first,
                count,
            ));
        }
    }
    out
}

/// Type expectation result for a column that failed to convert.
pub fn type_failure(
    column: &str,
    ty: ColumnType,
    first: Vec<usize>,
    count: usize,
) -> ExpectationResult {
    result(
        column,
        format!("type {ty}"),
        format!("{count} values are not {ty}"),
        first,
        count,
    )
}

/// A schema describing `table` as it is, as a starting point for users.
pub fn schema_of(table: &Table) -> Schema {
    let mut columns = BTreeMap::new();
    for c in &table.columns {
        let nulls = c.data.null_count();
        let mut e = ColumnExpectations {
            column_type: Some(c.data.column_type()),
            required: Some(true),
            max_null_fraction: Some(if nulls == 0 {
                0.0
            } else {
                ((nulls as f64 / table.rows as f64) * 1000.0).ceil() / 1000.0
            }),
            ..Default::default()
        };
        match &c.data {
            ColumnData::Categorical { levels, .. } if levels.len() <= 50 => {
                e.allowed = Some(levels.clone())
            }
            d if d.column_type().is_numeric() => {
                let xs: Vec<f64> = (0..table.rows).filter_map(|r| d.number(r)).collect();
                e.min = xs.iter().copied().reduce(f64::min);
                e.max = xs.iter().copied().reduce(f64::max);
            }
            _ => {}
        }
        columns.insert(c.name.clone(), e);
    }
    Schema {
        dataset: DatasetExpectations {
            min_rows: Some(1),
            ..Default::default()
        },
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{CsvOptions, read_csv};

    #[test]
    fn expectations_report_observed_values_and_rows() {
        let (t, _) = read_csv(
            &mut &b"id,age,sex,code\n1,30,F,A1\n2,-4,M,B2\n3,,X,zz\n3,50,F,C3\n"[..],
            &CsvOptions::default(),
        )
        .unwrap();
        let s = Schema::parse(
            r#"
[dataset]
min_rows = 5
[columns.id]
unique = true
[columns.age]
max_null_fraction = 0.0
min = 0
max = 120
[columns.sex]
allowed = ["F", "M"]
[columns.code]
pattern = "[A-Z][0-9]"
[columns.missing]
type = "integer"
"#,
            "s.toml",
        )
        .unwrap();
        let r = validate(&t, &t.names(), &s, 0);
        let failed: Vec<(&str, &str, Vec<usize>)> = r
            .iter()
            .filter(|e| !e.passed)
            .map(|e| {
                (
                    e.column.as_str(),
                    e.expectation.as_str(),
                    e.first_rows.clone(),
                )
            })
            .collect();
        assert_eq!(
            failed,
            vec![
                ("*", "at least 5 rows", vec![]),
                ("age", "not null", vec![3]),
                ("age", "values in [0, 120]", vec![2]),
                ("code", "values match /[A-Z][0-9]/", vec![3]),
                ("id", "values are unique", vec![4]),
                ("missing", "column is present", vec![]),
                ("sex", "values in {F, M}", vec![3]),
            ]
        );
        assert!(
            Schema::parse("[columns.a]\nbogus = 1\n", "s.toml")
                .unwrap_err()
                .to_string()
                .contains("bogus")
        );
        assert!(Schema::parse("[columns.a]\npattern = \"(\"\n", "s.toml").is_err());
    }

    #[test]
    fn emitted_schema_round_trips_and_passes() {
        let (t, _) = read_csv(&mut &b"a,b,c\n1,x,2.5\n2,y,\n"[..], &CsvOptions::default()).unwrap();
        let s = schema_of(&t);
        let text = s.to_toml().unwrap();
        let back = Schema::parse(&text, "emitted").unwrap();
        assert!(
            validate(&t, &t.names(), &back, 0).iter().all(|e| e.passed),
            "{text}"
        );
    }
}
