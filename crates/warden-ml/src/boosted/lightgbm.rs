//! LightGBM models saved as text (`booster.save_model("model.txt")`).
//!
//! The file is a header of `key=value` lines after a first line `tree`,
//! then one block per tree (`Tree=N` and its `key=value` lines), then
//! `end of trees`; what follows (feature importances, parameters) is not
//! read. Unknown header and tree keys are skipped; keys that change what a
//! prediction means are refused (`average_output`, categorical splits,
//! linear trees).

use super::{
    BoostedFormat, BoostedKind, BoostedModel, Builder, Child, FormatError, Link, MAX_BOOSTED_BYTES,
    MAX_CLASSES, MAX_FEATURES, MAX_NODES, Missing, ModelParts, RawSplit,
};
use crate::MlError;

/// Most `key=value` lines in the header or one tree (LightGBM writes about 20).
const MAX_KEYS: usize = 256;

const FORMAT: BoostedFormat = BoostedFormat::LightgbmText;

fn bad(tree: Option<usize>, field: &str, message: impl Into<String>) -> MlError {
    FormatError::ml(FORMAT, tree, field, message)
}

/// The `key=value` lines of one section, in file order; a key may appear once.
struct Section<'a> {
    tree: Option<usize>,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Section<'a> {
    fn insert(&mut self, line: &'a str) -> Result<(), MlError> {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| bad(self.tree, line, "expected a key=value line"))?;
        if self.pairs.len() >= MAX_KEYS {
            return Err(bad(
                self.tree,
                k,
                format!("more than {MAX_KEYS} keys in one section"),
            ));
        }
        if self.pairs.iter().any(|(key, _)| *key == k) {
            return Err(bad(self.tree, k, "given twice"));
        }
        self.pairs.push((k, v));
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn required(&self, key: &str) -> Result<&'a str, MlError> {
        self.get(key).ok_or_else(|| bad(self.tree, key, "missing"))
    }

    fn number<T: std::str::FromStr>(&self, key: &str) -> Result<T, MlError> {
        let v = self.required(key)?;
        v.trim()
            .parse()
            .map_err(|_| bad(self.tree, key, format!("{v:?} is not a number")))
    }

    /// A space-separated list of exactly `n` values (an absent key is an
    /// empty list).
    fn list<T: std::str::FromStr>(&self, key: &str, n: usize) -> Result<Vec<T>, MlError> {
        let v = self.get(key).unwrap_or("");
        let mut out = Vec::with_capacity(n.min(v.len() / 2 + 1));
        for (i, s) in v.split(' ').filter(|s| !s.is_empty()).enumerate() {
            if i >= n {
                return Err(bad(self.tree, key, format!("more than {n} values")));
            }
            out.push(
                s.parse().map_err(|_| {
                    bad(self.tree, key, format!("value {i}: {s:?} is not a number"))
                })?,
            );
        }
        if out.len() != n {
            return Err(bad(
                self.tree,
                key,
                format!("{} values, expected {n}", out.len()),
            ));
        }
        Ok(out)
    }
}

/// Reads a LightGBM text model (format v3 or v4), objective `binary` or
/// `multiclass`.
pub fn parse_lightgbm_text(bytes: &[u8]) -> Result<BoostedModel, MlError> {
    if bytes.len() > MAX_BOOSTED_BYTES {
        return Err(bad(
            None,
            "file",
            format!(
                "{} bytes; the largest model accepted is {MAX_BOOSTED_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| bad(None, "file", format!("not UTF-8 text: {e}")))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    if lines.next() != Some("tree") {
        return Err(bad(
            None,
            "file",
            "a LightGBM text model starts with the line \"tree\"",
        ));
    }
    let mut header = Section {
        tree: None,
        pairs: Vec::new(),
    };
    let mut first_tree = None;
    for line in lines.by_ref() {
        if line.starts_with("Tree=") || line == "end of trees" {
            first_tree = Some(line);
            break;
        }
        if line.is_empty() {
            continue;
        }
        if line == "average_output" {
            return Err(bad(
                None,
                "average_output",
                "averaged outputs (random forest mode) are not supported",
            ));
        }
        header.insert(line)?;
    }
    let (mut builder, parts, per_iteration) = read_header(&header)?;

    let mut next = first_tree;
    let mut ended = false;
    while let Some(line) = next.take() {
        if line == "end of trees" {
            ended = true;
            break;
        }
        let t = builder.trees();
        let n = line
            .strip_prefix("Tree=")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad(Some(t), line, "expected Tree=N"))?;
        if n != t {
            return Err(bad(
                Some(t),
                "Tree",
                format!("tree {n} where tree {t} was expected"),
            ));
        }
        let mut section = Section {
            tree: Some(t),
            pairs: Vec::new(),
        };
        for line in lines.by_ref() {
            if line.starts_with("Tree=") || line == "end of trees" {
                next = Some(line);
                break;
            }
            if !line.is_empty() {
                section.insert(line)?;
            }
        }
        read_tree(&mut builder, &section, t % per_iteration)?;
    }
    if !ended {
        return Err(bad(
            Some(builder.trees()),
            "end of trees",
            "the file ends before \"end of trees\" (truncated?)",
        ));
    }
    if builder.trees() % per_iteration != 0 {
        return Err(bad(
            None,
            "num_tree_per_iteration",
            format!(
                "{} trees are not whole iterations of {per_iteration}",
                builder.trees()
            ),
        ));
    }
    let mut parts = parts;
    parts.iteration_ends = (1..=builder.trees() / per_iteration)
        .map(|i| i * per_iteration)
        .collect();
    Ok(builder.finish(parts))
}

fn read_header(h: &Section) -> Result<(Builder, ModelParts, usize), MlError> {
    let version = h.required("version")?;
    if !matches!(version, "v3" | "v4") {
        return Err(bad(
            None,
            "version",
            format!("{version:?}: this reader knows LightGBM's text format v3 and v4"),
        ));
    }
    let num_class: usize = h.number("num_class")?;
    let per_iteration: usize = h.number("num_tree_per_iteration")?;
    let max_feature_idx: usize = h.number("max_feature_idx")?;
    if max_feature_idx >= MAX_FEATURES {
        return Err(bad(
            None,
            "max_feature_idx",
            format!("more than {MAX_FEATURES} features"),
        ));
    }
    let num_features = max_feature_idx + 1;
    let objective = h.required("objective")?;
    let mut words = objective.split(' ').filter(|w| !w.is_empty());
    let name = words.next().unwrap_or("");
    let params: Vec<(&str, &str)> = words.filter_map(|w| w.split_once(':')).collect();
    let param = |k: &str| params.iter().find(|(p, _)| *p == k).map(|(_, v)| *v);
    let (num_classes, link) = match name {
        "binary" => {
            if num_class != 1 || per_iteration != 1 {
                return Err(bad(
                    None,
                    "num_class",
                    format!(
                        "a binary model has num_class=1 and num_tree_per_iteration=1, not {num_class} and {per_iteration}"
                    ),
                ));
            }
            let scale: f64 = match param("sigmoid") {
                Some(s) => s
                    .parse()
                    .map_err(|_| bad(None, "objective", format!("sigmoid:{s} is not a number")))?,
                None => 1.0,
            };
            if !(scale.is_finite() && scale > 0.0) {
                return Err(bad(
                    None,
                    "objective",
                    format!("sigmoid:{scale} must be a positive number"),
                ));
            }
            (2, Link::Sigmoid { scale })
        }
        "multiclass" | "softmax" => {
            if !(2..=MAX_CLASSES).contains(&num_class) || per_iteration != num_class {
                return Err(bad(
                    None,
                    "num_class",
                    format!(
                        "a multiclass model has 2 to {MAX_CLASSES} classes and one tree per class per iteration, not num_class={num_class}, num_tree_per_iteration={per_iteration}"
                    ),
                ));
            }
            if let Some(k) = param("num_class")
                && k.parse::<usize>().ok() != Some(num_class)
            {
                return Err(bad(
                    None,
                    "objective",
                    format!("num_class:{k} but num_class={num_class}"),
                ));
            }
            (num_class, Link::Softmax)
        }
        other => {
            return Err(bad(
                None,
                "objective",
                format!(
                    "{other:?} is not a classifier objective Warden reads (binary, multiclass)"
                ),
            ));
        }
    };
    let feature_names: Vec<String> = match h.get("feature_names") {
        Some(v) => v
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    if !feature_names.is_empty() && feature_names.len() != num_features {
        return Err(bad(
            None,
            "feature_names",
            format!("{} names for {num_features} features", feature_names.len()),
        ));
    }
    for (i, f) in feature_names.iter().enumerate() {
        if feature_names[..i].contains(f) {
            return Err(bad(None, "feature_names", format!("{f:?} appears twice")));
        }
    }
    let margins = per_iteration;
    Ok((
        Builder::new(FORMAT, num_features, margins),
        ModelParts {
            kind: BoostedKind::Lightgbm,
            objective: name.to_string(),
            feature_names,
            num_classes,
            link,
            base_margin: vec![0.0; margins],
            iteration_ends: Vec::new(),
            best_iteration: None,
        },
        per_iteration,
    ))
}

fn read_tree(b: &mut Builder, s: &Section, class: usize) -> Result<(), MlError> {
    let t = s.tree;
    let leaves_n: usize = s.number("num_leaves")?;
    if leaves_n == 0 || leaves_n > MAX_NODES {
        return Err(bad(
            t,
            "num_leaves",
            format!("{leaves_n} leaves (1 to {MAX_NODES})"),
        ));
    }
    let num_cat: usize = s.get("num_cat").map_or(Ok(0), |_| s.number("num_cat"))?;
    if num_cat > 0 {
        return Err(bad(t, "num_cat", "categorical splits are not supported"));
    }
    if let Some(v) = s.get("is_linear")
        && v.trim() != "0"
    {
        return Err(bad(t, "is_linear", "linear trees are not supported"));
    }
    let n = leaves_n - 1;
    let leaf_value: Vec<f64> = s.list("leaf_value", leaves_n)?;
    let feature: Vec<u64> = s.list("split_feature", n)?;
    let threshold: Vec<f64> = s.list("threshold", n)?;
    let decision: Vec<u8> = s.list("decision_type", n)?;
    let left: Vec<i64> = s.list("left_child", n)?;
    let right: Vec<i64> = s.list("right_child", n)?;
    let child = |c: i64| -> Child {
        if c < 0 {
            // ~c, without overflow for any i64.
            Child::Leaf(usize::try_from(-(c + 1)).unwrap_or(usize::MAX))
        } else {
            Child::Split(usize::try_from(c).unwrap_or(usize::MAX))
        }
    };
    let mut splits = Vec::with_capacity(n);
    for (i, ((((&f, &th), &d), &l), &r)) in feature
        .iter()
        .zip(&threshold)
        .zip(&decision)
        .zip(&left)
        .zip(&right)
        .enumerate()
    {
        if d & 1 != 0 {
            return Err(bad(
                t,
                "decision_type",
                format!("split {i} is categorical; categorical splits are not supported"),
            ));
        }
        if d & !0b1110 != 0 {
            return Err(bad(
                t,
                "decision_type",
                format!("split {i}: unknown decision type {d}"),
            ));
        }
        let missing = match (d >> 2) & 3 {
            0 => Missing::NanAsZero,
            1 => Missing::ZeroDefault,
            2 => Missing::NanDefault,
            _ => {
                return Err(bad(
                    t,
                    "decision_type",
                    format!("split {i}: unknown missing type in {d}"),
                ));
            }
        };
        splits.push(RawSplit {
            feature: f,
            threshold: th,
            left: child(l),
            right: child(r),
            default_left: d & 2 != 0,
            missing,
        });
    }
    let root = if n == 0 {
        Child::Leaf(0)
    } else {
        Child::Split(0)
    };
    b.push_tree(t.unwrap_or(0), class, &splits, &leaf_value, root)
}
