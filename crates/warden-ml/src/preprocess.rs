//! Preprocessing fitted on the training split and shipped in the package:
//! numeric features are imputed with their training mean and standardised;
//! categorical features are imputed with their most frequent training level
//! and one-hot encoded, with one extra "unknown" column for levels never
//! seen in training (always 0 while training, so it carries no weight).
//!
//! The definitions follow scikit-learn's `SimpleImputer(strategy="mean")` +
//! `StandardScaler` (population standard deviation of the imputed column,
//! a zero deviation becomes 1) and `SimpleImputer(strategy="most_frequent")`
//! (ties go to the smallest level) + `OneHotEncoder`, so a model trained on
//! either side sees the same design matrix.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::MlError;
use crate::frame::{FeatureColumn, Frame, MISSING, Matrix, par_blocks};

/// How one input feature becomes model columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// `(x - mean) / scale`, a missing value taking `impute`.
    Standardise {
        /// The value a missing input takes: the training mean.
        impute: f64,
        /// The training mean of the non-missing values.
        mean: f64,
        /// The population standard deviation of the imputed training
        /// column, or 1 where that is zero or not finite.
        scale: f64,
    },
    /// One column per level plus a last column for unseen levels; a
    /// missing value takes `impute`.
    OneHot {
        /// The levels seen in training, sorted; one column each.
        levels: Vec<String>,
        /// The level a missing input takes: the most frequent in training,
        /// the smallest on a tie.
        impute: String,
    },
}

impl Transform {
    /// The number of model columns the feature becomes: 1, or the number of
    /// levels plus 1 for one-hot.
    pub fn width(&self) -> usize {
        match self {
            Transform::Standardise { .. } => 1,
            Transform::OneHot { levels, .. } => levels.len() + 1,
        }
    }
}

/// One input feature and its transform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "PreprocessedFeature")]
pub struct FeatureSpec {
    /// The input feature's name (the frame column or record field).
    pub name: String,
    /// How its values become model columns.
    pub transform: Transform,
}

/// The fitted preprocessing of every input feature, in model-column order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preprocessor {
    /// Every input feature, in the order its model columns appear.
    pub features: Vec<FeatureSpec>,
}

/// One input value of a record.
#[derive(Clone, Debug, PartialEq)]
pub enum Value1<'a> {
    /// A number (must be finite).
    Number(f64),
    /// A category name.
    Text(&'a str),
    /// No value (JSON `null`); replaced by the feature's imputed value.
    Missing,
}

impl Preprocessor {
    /// Fits on `rows` of `frame` (the training split).
    pub fn fit(frame: &Frame, rows: &[usize]) -> Result<Self, MlError> {
        if rows.is_empty() {
            return Err(MlError::Input("no training rows".into()));
        }
        let mut features = Vec::with_capacity(frame.names.len());
        for (name, col) in frame.names.iter().zip(&frame.columns) {
            let transform = match col {
                FeatureColumn::Numeric(v) => {
                    let (mut sum, mut n) = (0.0, 0usize);
                    for &r in rows {
                        let x = v[r];
                        if x.is_infinite() {
                            return Err(MlError::Input(format!(
                                "feature {name}: infinite value in row {}",
                                r + 1
                            )));
                        }
                        if !x.is_nan() {
                            sum += x;
                            n += 1;
                        }
                    }
                    if n == 0 {
                        return Err(MlError::Input(format!(
                            "feature {name}: every training value is missing"
                        )));
                    }
                    let mean = sum / n as f64;
                    let ss: f64 = rows
                        .iter()
                        .map(|&r| v[r])
                        .filter(|x| !x.is_nan())
                        .map(|x| (x - mean) * (x - mean))
                        .sum();
                    let sd = (ss / rows.len() as f64).sqrt();
                    Transform::Standardise {
                        impute: mean,
                        mean,
                        scale: if sd > 0.0 && sd.is_finite() { sd } else { 1.0 },
                    }
                }
                FeatureColumn::Categorical { codes, levels } => {
                    let mut counts = vec![0usize; levels.len()];
                    let mut missing = 0usize;
                    for &r in rows {
                        match codes[r] {
                            MISSING => missing += 1,
                            c => {
                                let c = c as usize;
                                if c >= levels.len() {
                                    return Err(MlError::Input(format!(
                                        "feature {name}: code {c} out of range in row {}",
                                        r + 1
                                    )));
                                }
                                counts[c] += 1;
                            }
                        }
                    }
                    let mut seen: Vec<(&str, usize)> = levels
                        .iter()
                        .zip(&counts)
                        .filter(|(_, c)| **c > 0)
                        .map(|(l, c)| (l.as_str(), *c))
                        .collect();
                    if seen.is_empty() {
                        return Err(MlError::Input(format!(
                            "feature {name}: every training value is missing"
                        )));
                    }
                    seen.sort_by(|a, b| a.0.cmp(b.0));
                    // Most frequent; on a tie the smallest level (sorted first).
                    let impute = seen
                        .iter()
                        .fold(
                            ("", 0usize),
                            |best, &(l, c)| if c > best.1 { (l, c) } else { best },
                        )
                        .0
                        .to_string();
                    let _ = missing;
                    Transform::OneHot {
                        levels: seen.iter().map(|(l, _)| l.to_string()).collect(),
                        impute,
                    }
                }
            };
            features.push(FeatureSpec {
                name: name.clone(),
                transform,
            });
        }
        Ok(Preprocessor { features })
    }

    /// Model columns.
    pub fn width(&self) -> usize {
        self.features.iter().map(|f| f.transform.width()).sum()
    }

    /// Names of the model columns (`feature` or `feature=level`, and
    /// `feature=<unknown>`).
    pub fn output_names(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.width());
        for f in &self.features {
            match &f.transform {
                Transform::Standardise { .. } => out.push(f.name.clone()),
                Transform::OneHot { levels, .. } => {
                    out.extend(levels.iter().map(|l| format!("{}={l}", f.name)));
                    out.push(format!("{}=<unknown>", f.name));
                }
            }
        }
        out
    }

    /// The design matrix of `rows` of `frame` (columns matched by name).
    pub fn transform(
        &self,
        frame: &Frame,
        rows: &[usize],
        threads: usize,
    ) -> Result<Matrix, MlError> {
        // Per feature: its column and, for categoricals, frame code → level.
        let mut plan = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let col = frame
                .column(&f.name)
                .ok_or_else(|| MlError::Input(format!("feature {} is missing", f.name)))?;
            match (&f.transform, col) {
                (Transform::Standardise { .. }, FeatureColumn::Numeric(_)) => {
                    plan.push((col, Vec::new()))
                }
                (
                    Transform::OneHot { levels, impute },
                    FeatureColumn::Categorical { levels: fl, .. },
                ) => {
                    let unknown = levels.len() as u32;
                    let imputed = levels.binary_search(impute).map_or(unknown, |i| i as u32);
                    let mut map: Vec<u32> = fl
                        .iter()
                        .map(|l| levels.binary_search(l).map_or(unknown, |i| i as u32))
                        .collect();
                    map.push(imputed); // index fl.len(): a missing value
                    plan.push((col, map));
                }
                (t, _) => {
                    return Err(MlError::Input(format!(
                        "feature {}: expected a {} column",
                        f.name,
                        match t {
                            Transform::Standardise { .. } => "numeric",
                            Transform::OneHot { .. } => "categorical",
                        }
                    )));
                }
            }
        }
        let width = self.width();
        let parts = par_blocks(rows.len(), threads, |range| {
            let mut out = vec![0.0; range.len() * width];
            for (k, &r) in rows[range].iter().enumerate() {
                let row = &mut out[k * width..(k + 1) * width];
                let mut at = 0;
                for (f, (col, map)) in self.features.iter().zip(&plan) {
                    match (&f.transform, col) {
                        (
                            Transform::Standardise {
                                impute,
                                mean,
                                scale,
                            },
                            FeatureColumn::Numeric(v),
                        ) => {
                            let x = if v[r].is_nan() { *impute } else { v[r] };
                            row[at] = (x - mean) / scale;
                            at += 1;
                        }
                        (
                            Transform::OneHot { levels, .. },
                            FeatureColumn::Categorical { codes, .. },
                        ) => {
                            let c = codes[r];
                            let idx = if c == MISSING {
                                map[map.len() - 1]
                            } else {
                                map.get(c as usize).copied().unwrap_or(levels.len() as u32)
                            };
                            row[at + idx as usize] = 1.0;
                            at += levels.len() + 1;
                        }
                        _ => {}
                    }
                }
            }
            out
        });
        let mut data = Vec::with_capacity(rows.len() * width);
        for p in parts {
            data.extend_from_slice(&p);
        }
        Ok(Matrix {
            rows: rows.len(),
            cols: width,
            data,
        })
    }

    /// Encodes one record; `get(name)` gives each feature's value. A NaN or
    /// infinite number, text for a numeric feature and a number for a
    /// categorical one are errors naming the feature.
    pub fn encode<'a>(
        &self,
        get: impl Fn(&str) -> Option<Value1<'a>>,
        out: &mut Vec<f64>,
    ) -> Result<(), MlError> {
        out.clear();
        out.resize(self.width(), 0.0);
        let mut at = 0;
        for f in &self.features {
            let v = get(&f.name)
                .ok_or_else(|| MlError::Input(format!("feature {} is missing", f.name)))?;
            match &f.transform {
                Transform::Standardise {
                    impute,
                    mean,
                    scale,
                } => {
                    let x = match v {
                        Value1::Number(x) if x.is_finite() => x,
                        Value1::Number(x) => {
                            return Err(MlError::Input(format!(
                                "feature {}: {x} is not a finite number",
                                f.name
                            )));
                        }
                        Value1::Missing => *impute,
                        Value1::Text(t) => {
                            return Err(MlError::Input(format!(
                                "feature {}: expected a number, got text {t:?}",
                                f.name
                            )));
                        }
                    };
                    out[at] = (x - mean) / scale;
                    at += 1;
                }
                Transform::OneHot { levels, impute } => {
                    let level = match v {
                        Value1::Text(t) => t,
                        Value1::Missing => impute.as_str(),
                        Value1::Number(x) => {
                            return Err(MlError::Input(format!(
                                "feature {}: expected a category, got the number {x}",
                                f.name
                            )));
                        }
                    };
                    let idx = levels
                        .binary_search_by(|l| l.as_str().cmp(level))
                        .unwrap_or(levels.len());
                    out[at + idx] = 1.0;
                    at += levels.len() + 1;
                }
            }
        }
        Ok(())
    }

    /// Encodes a JSON object record (`{"age": 41, "job": "clerk"}`); `null`
    /// is a missing value; unknown fields are refused.
    pub fn encode_json(
        &self,
        record: &serde_json::Map<String, Value>,
        out: &mut Vec<f64>,
    ) -> Result<(), MlError> {
        if let Some(extra) = record
            .keys()
            .find(|k| !self.features.iter().any(|f| &f.name == *k))
        {
            return Err(MlError::Input(format!("unknown feature {extra:?}")));
        }
        self.encode(
            |name| {
                record.get(name).map(|v| match v {
                    Value::Null => Value1::Missing,
                    Value::Number(n) => Value1::Number(n.as_f64().unwrap_or(f64::NAN)),
                    Value::String(s) => Value1::Text(s.as_str()),
                    Value::Bool(b) => Value1::Text(if *b { "true" } else { "false" }),
                    _ => Value1::Text("<object>"),
                })
            },
            out,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> Frame {
        let mut f = Frame::default();
        f.push("x", FeatureColumn::Numeric(vec![1.0, f64::NAN, 3.0, 5.0]))
            .unwrap();
        f.push(
            "c",
            FeatureColumn::Categorical {
                codes: vec![0, 1, 1, MISSING],
                levels: vec!["a".into(), "b".into(), "z".into()],
            },
        )
        .unwrap();
        f
    }

    #[test]
    fn fit_matches_the_scikit_learn_definitions() {
        let p = Preprocessor::fit(&frame(), &[0, 1, 2, 3]).unwrap();
        let Transform::Standardise { mean, scale, .. } = p.features[0].transform else {
            panic!()
        };
        assert_eq!(mean, 3.0);
        // imputed column 1,3,3,5: population sd sqrt(8/4)
        assert!((scale - 2f64.sqrt()).abs() < 1e-15);
        assert_eq!(
            p.features[1].transform,
            Transform::OneHot {
                levels: vec!["a".into(), "b".into()],
                impute: "b".into()
            }
        );
        let m = p.transform(&frame(), &[0, 1, 2, 3], 2).unwrap();
        assert_eq!(m.cols, 4);
        assert_eq!(m.row(3)[1..], [0.0, 1.0, 0.0]); // missing → most frequent
        assert_eq!(m.row(1)[0], 0.0); // missing → mean
    }

    #[test]
    fn records_encode_like_the_table_and_bad_values_are_named() {
        let p = Preprocessor::fit(&frame(), &[0, 1, 2, 3]).unwrap();
        let m = p.transform(&frame(), &[0], 1).unwrap();
        let rec: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"x": 1, "c": "a"}"#).unwrap();
        let mut out = Vec::new();
        p.encode_json(&rec, &mut out).unwrap();
        assert_eq!(out, m.row(0));
        let unseen: serde_json::Map<String, Value> =
            serde_json::from_str(r#"{"x": null, "c": "q"}"#).unwrap();
        p.encode_json(&unseen, &mut out).unwrap();
        assert_eq!(out, [0.0, 0.0, 0.0, 1.0]);
        for bad in [
            r#"{"x": "1", "c": "a"}"#,
            r#"{"x": 1}"#,
            r#"{"x": 1, "c": 2}"#,
            r#"{"x": 1, "c": "a", "y": 0}"#,
        ] {
            let rec: serde_json::Map<String, Value> = serde_json::from_str(bad).unwrap();
            assert!(p.encode_json(&rec, &mut out).is_err(), "{bad}");
        }
        assert!(
            p.encode(
                |n| Some(if n == "x" {
                    Value1::Number(f64::NAN)
                } else {
                    Value1::Missing
                }),
                &mut out
            )
            .is_err()
        );
    }
}
