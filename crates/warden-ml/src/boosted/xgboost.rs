//! XGBoost models saved as JSON (or UBJSON, the same document in binary).
//!
//! The document is read twice into typed structs: first everything but the
//! trees (so a refused objective or booster is named before any tree is
//! looked at), then the trees. Fields this reader does not use are skipped,
//! so newer XGBoost versions that add fields still load; anything that
//! changes what a prediction means is refused.

use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::{
    BoostedFormat, BoostedKind, Builder, Child, FormatError, Link, MAX_BOOSTED_BYTES, MAX_CLASSES,
    MAX_FEATURES, MAX_NODES, MAX_TREES, Missing, ModelParts, RawSplit,
};
use crate::MlError;

#[derive(Deserialize)]
struct Header {
    learner: HeaderLearner,
    version: Vec<u64>,
}

#[derive(Deserialize)]
struct HeaderLearner {
    #[serde(default)]
    feature_names: Vec<String>,
    #[serde(default)]
    feature_types: Vec<String>,
    learner_model_param: LearnerModelParam,
    objective: Objective,
    gradient_booster: BoosterName,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct LearnerModelParam {
    base_score: String,
    num_class: String,
    num_feature: String,
    #[serde(default)]
    num_target: Option<String>,
}

#[derive(Deserialize)]
struct Objective {
    name: String,
}

#[derive(Deserialize)]
struct BoosterName {
    name: String,
}

#[derive(Deserialize)]
struct Body {
    learner: BodyLearner,
}

#[derive(Deserialize)]
struct BodyLearner {
    gradient_booster: BodyBooster,
}

#[derive(Deserialize)]
struct BodyBooster {
    model: GbTree,
}

#[derive(Deserialize)]
struct GbTree {
    gbtree_model_param: GbTreeParam,
    tree_info: Vec<i64>,
    #[serde(default)]
    iteration_indptr: Option<Vec<i64>>,
    trees: Vec<XgbTree>,
}

#[derive(Deserialize)]
struct GbTreeParam {
    num_trees: String,
    #[serde(default)]
    num_parallel_tree: Option<String>,
}

#[derive(Deserialize)]
struct XgbTree {
    left_children: Vec<i64>,
    right_children: Vec<i64>,
    split_indices: Vec<i64>,
    split_conditions: Vec<f32>,
    default_left: Vec<Flag>,
    #[serde(default)]
    split_type: Vec<u8>,
    #[serde(default)]
    categories: Vec<IgnoredAny>,
    #[serde(default)]
    categories_nodes: Vec<IgnoredAny>,
    #[serde(default)]
    categories_segments: Vec<IgnoredAny>,
    #[serde(default)]
    categories_sizes: Vec<IgnoredAny>,
    tree_param: TreeParam,
}

#[derive(Deserialize)]
struct TreeParam {
    num_nodes: String,
    #[serde(default)]
    size_leaf_vector: Option<String>,
}

/// `default_left`: 0/1 (XGBoost 1.6 and later) or a boolean (earlier).
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("0, 1 or a boolean")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Flag, E> {
                match v {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::custom(format!("{v} is not 0 or 1"))),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Flag, E> {
                self.visit_u64(
                    u64::try_from(v).map_err(|_| E::custom(format!("{v} is not 0 or 1")))?,
                )
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads an XGBoost model saved with `booster.save_model("model.json")`.
pub fn parse_xgboost_json(bytes: &[u8]) -> Result<super::BoostedModel, MlError> {
    let format = BoostedFormat::XgboostJson;
    check_size(format, bytes)?;
    let header: Header = from_json(format, bytes)?;
    let plan = check_header(format, &header)?;
    let body: Body = from_json(format, bytes)?;
    build(format, plan, body.learner.gradient_booster.model)
}

/// Reads an XGBoost model saved as UBJSON (`booster.save_model("model.ubj")`).
pub fn parse_xgboost_ubjson(bytes: &[u8]) -> Result<super::BoostedModel, MlError> {
    let format = BoostedFormat::XgboostUbjson;
    check_size(format, bytes)?;
    let doc =
        super::ubjson::to_value(bytes).map_err(|e| FormatError::ml(format, None, "document", e))?;
    let header: Header = from_value(format, &doc)?;
    let plan = check_header(format, &header)?;
    let body: Body = from_value(format, &doc)?;
    build(format, plan, body.learner.gradient_booster.model)
}

fn check_size(format: BoostedFormat, bytes: &[u8]) -> Result<(), MlError> {
    if bytes.len() > MAX_BOOSTED_BYTES {
        return Err(FormatError::ml(
            format,
            None,
            "file",
            format!(
                "{} bytes; the largest model accepted is {MAX_BOOSTED_BYTES} bytes",
                bytes.len()
            ),
        ));
    }
    Ok(())
}

/// A serde error at a path such as `learner.gradient_booster.model.trees[3].left_children[5]`.
fn path_error<E: std::fmt::Display>(
    format: BoostedFormat,
    e: serde_path_to_error::Error<E>,
) -> MlError {
    let path = e.path().to_string();
    let tree = path
        .split_once("trees[")
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(n, _)| n.parse().ok());
    FormatError::ml(format, tree, path, e.inner().to_string())
}

fn from_json<T: DeserializeOwned>(format: BoostedFormat, bytes: &[u8]) -> Result<T, MlError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize(&mut de).map_err(|e| path_error(format, e))?;
    de.end()
        .map_err(|e| FormatError::ml(format, None, "document", e.to_string()))?;
    Ok(v)
}

fn from_value<T: DeserializeOwned>(
    format: BoostedFormat,
    doc: &serde_json::Value,
) -> Result<T, MlError> {
    serde_path_to_error::deserialize(doc).map_err(|e| path_error(format, e))
}

/// What the header says about the model.
struct Plan {
    parts: ModelParts,
    num_features: usize,
}

fn check_header(format: BoostedFormat, h: &Header) -> Result<Plan, MlError> {
    let bad = |field: &str, m: String| FormatError::ml(format, None, field, m);
    match h.version.first() {
        Some(1..=3) => {}
        _ => {
            return Err(bad(
                "version",
                format!(
                    "{:?}: this reader knows the model format of XGBoost 1.0 to 3.x",
                    h.version
                ),
            ));
        }
    }
    let l = &h.learner;
    match l.gradient_booster.name.as_str() {
        "gbtree" => {}
        "dart" => {
            return Err(bad(
                "learner.gradient_booster.name",
                "DART boosters (dropout-weighted trees) are not supported; train with booster=\"gbtree\"".into(),
            ));
        }
        "gblinear" => {
            return Err(bad(
                "learner.gradient_booster.name",
                "gblinear is a linear model, not trees; it is not supported".into(),
            ));
        }
        other => {
            return Err(bad(
                "learner.gradient_booster.name",
                format!("unknown booster {other:?}"),
            ));
        }
    }
    let p = &l.learner_model_param;
    let count = |field: &str, s: &str, max: usize| -> Result<usize, MlError> {
        let n: usize = s
            .trim()
            .parse()
            .map_err(|_| bad(field, format!("{s:?} is not a count")))?;
        if n > max {
            return Err(bad(field, format!("{n} is more than {max}")));
        }
        Ok(n)
    };
    let num_features = count(
        "learner.learner_model_param.num_feature",
        &p.num_feature,
        MAX_FEATURES,
    )?;
    if num_features == 0 {
        return Err(bad(
            "learner.learner_model_param.num_feature",
            "the model has no features".into(),
        ));
    }
    let num_class = count(
        "learner.learner_model_param.num_class",
        &p.num_class,
        MAX_CLASSES,
    )?;
    if let Some(t) = &p.num_target
        && t.trim() != "1"
    {
        return Err(bad(
            "learner.learner_model_param.num_target",
            format!("{t:?}: multi-target models are not supported"),
        ));
    }
    let objective = l.objective.name.clone();
    let (num_classes, margins, logistic) = match objective.as_str() {
        "binary:logistic" => {
            if num_class > 1 {
                return Err(bad(
                    "learner.learner_model_param.num_class",
                    format!("{num_class} classes for a binary objective"),
                ));
            }
            (2, 1, true)
        }
        "multi:softprob" | "multi:softmax" => {
            if num_class < 2 {
                return Err(bad(
                    "learner.learner_model_param.num_class",
                    format!("{num_class} classes for a multiclass objective"),
                ));
            }
            (num_class, num_class, false)
        }
        other => {
            return Err(bad(
                "learner.objective.name",
                format!(
                    "{other:?} is not a classifier objective Warden reads (binary:logistic, multi:softprob, multi:softmax)"
                ),
            ));
        }
    };
    let base = parse_base_score(&p.base_score).ok_or_else(|| {
        bad(
            "learner.learner_model_param.base_score",
            format!("{:?} is not a number or a list of numbers", p.base_score),
        )
    })?;
    let base: Vec<f32> = match base.len() {
        1 => vec![base[0]; margins],
        n if n == margins => base,
        n => {
            return Err(bad(
                "learner.learner_model_param.base_score",
                format!("{n} values for {margins} margins"),
            ));
        }
    };
    let mut base_margin = Vec::with_capacity(margins);
    for b in base {
        let m = if logistic {
            if !(b > 0.0 && b < 1.0) {
                return Err(bad(
                    "learner.learner_model_param.base_score",
                    format!("{b} is not a probability in (0, 1)"),
                ));
            }
            // XGBoost's ProbToMargin for the logistic loss, in f32.
            -(1.0f32 / b - 1.0).ln()
        } else {
            b
        };
        if !m.is_finite() {
            return Err(bad(
                "learner.learner_model_param.base_score",
                format!("{b} gives a margin of {m}"),
            ));
        }
        base_margin.push(f64::from(m));
    }
    if !l.feature_names.is_empty() {
        if l.feature_names.len() != num_features {
            return Err(bad(
                "learner.feature_names",
                format!(
                    "{} names for {num_features} features",
                    l.feature_names.len()
                ),
            ));
        }
        for (i, f) in l.feature_names.iter().enumerate() {
            if l.feature_names[..i].contains(f) {
                return Err(bad("learner.feature_names", format!("{f:?} appears twice")));
            }
        }
    }
    if !l.feature_types.is_empty() && l.feature_types.len() != num_features {
        return Err(bad(
            "learner.feature_types",
            format!(
                "{} types for {num_features} features",
                l.feature_types.len()
            ),
        ));
    }
    for (i, t) in l.feature_types.iter().enumerate() {
        match t.as_str() {
            "float" | "int" | "q" | "i" => {}
            "c" | "categorical" => {
                return Err(bad(
                    "learner.feature_types",
                    format!("feature {i} is categorical; categorical splits are not supported"),
                ));
            }
            other => {
                return Err(bad(
                    "learner.feature_types",
                    format!("feature {i} has unknown type {other:?}"),
                ));
            }
        }
    }
    let best_iteration = match l.attributes.get("best_iteration") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .and_then(|s| s.trim().parse().ok())
                .ok_or_else(|| {
                    bad(
                        "learner.attributes.best_iteration",
                        format!("{v} is not an iteration number"),
                    )
                })?,
        ),
    };
    Ok(Plan {
        parts: ModelParts {
            kind: BoostedKind::Xgboost,
            objective,
            feature_names: l.feature_names.clone(),
            num_classes,
            link: if margins == 1 {
                Link::Sigmoid { scale: 1.0 }
            } else {
                Link::Softmax
            },
            base_margin,
            iteration_ends: Vec::new(),
            best_iteration,
        },
        num_features,
    })
}

/// `"[2.4080956E-1]"`, `"[0.1,0.2,0.3]"` (XGBoost 3) or `"5E-1"` (earlier).
fn parse_base_score(s: &str) -> Option<Vec<f32>> {
    let s = s.trim();
    let inner = match s.strip_prefix('[') {
        Some(rest) => rest.strip_suffix(']')?,
        None => s,
    };
    let v: Vec<f32> = inner
        .split(',')
        .map(|x| x.trim().parse::<f32>().ok())
        .collect::<Option<_>>()?;
    (!v.is_empty() && v.len() <= MAX_CLASSES).then_some(v)
}

fn build(format: BoostedFormat, plan: Plan, model: GbTree) -> Result<super::BoostedModel, MlError> {
    let bad = |field: &str, m: String| FormatError::ml(format, None, field, m);
    let margins = plan.parts.base_margin.len();
    let field = "learner.gradient_booster.model.gbtree_model_param.num_trees";
    let num_trees: usize = model
        .gbtree_model_param
        .num_trees
        .trim()
        .parse()
        .map_err(|_| bad(field, "not a count".into()))?;
    if num_trees > MAX_TREES {
        return Err(bad(
            field,
            format!("{num_trees} trees; at most {MAX_TREES}"),
        ));
    }
    if num_trees != model.trees.len() || num_trees != model.tree_info.len() {
        return Err(bad(
            field,
            format!(
                "{num_trees} trees declared, {} given, {} in tree_info",
                model.trees.len(),
                model.tree_info.len()
            ),
        ));
    }
    if let Some(ptr) = &model.iteration_indptr {
        let ok = ptr.first() == Some(&0)
            && ptr.windows(2).all(|w| w[0] <= w[1])
            && ptr.last().and_then(|&l| usize::try_from(l).ok()) == Some(num_trees);
        if !ok {
            return Err(bad(
                "learner.gradient_booster.model.iteration_indptr",
                format!("does not split {num_trees} trees into iterations"),
            ));
        }
    }
    let mut b = Builder::new(format, plan.num_features, margins);
    let mut splits = Vec::new();
    let mut leaves = Vec::new();
    let mut local = Vec::new();
    for (t, (tree, &class)) in model.trees.iter().zip(&model.tree_info).enumerate() {
        let err = |field: &str, m: String| FormatError::ml(format, Some(t), field, m);
        let class = usize::try_from(class)
            .ok()
            .filter(|&c| c < margins)
            .ok_or_else(|| {
                err(
                    "tree_info",
                    format!("class {class}; the model has {margins} margins"),
                )
            })?;
        let n: usize = tree
            .tree_param
            .num_nodes
            .trim()
            .parse()
            .map_err(|_| err("tree_param.num_nodes", "not a count".into()))?;
        if n == 0 || n > MAX_NODES {
            return Err(err(
                "tree_param.num_nodes",
                format!("{n} nodes (1 to {MAX_NODES})"),
            ));
        }
        if let Some(s) = &tree.tree_param.size_leaf_vector
            && !matches!(s.trim(), "0" | "1")
        {
            return Err(err(
                "tree_param.size_leaf_vector",
                format!("{s:?}: vector leaves (multi-target trees) are not supported"),
            ));
        }
        for (name, len) in [
            ("left_children", tree.left_children.len()),
            ("right_children", tree.right_children.len()),
            ("split_indices", tree.split_indices.len()),
            ("split_conditions", tree.split_conditions.len()),
            ("default_left", tree.default_left.len()),
        ] {
            if len != n {
                return Err(err(name, format!("{len} values for {n} nodes")));
            }
        }
        if !tree.split_type.is_empty() && tree.split_type.len() != n {
            return Err(err(
                "split_type",
                format!("{} values for {n} nodes", tree.split_type.len()),
            ));
        }
        if let Some(i) = tree.split_type.iter().position(|&s| s != 0) {
            return Err(err(
                "split_type",
                format!("node {i} is a categorical split; categorical splits are not supported"),
            ));
        }
        for (name, v) in [
            ("categories", &tree.categories),
            ("categories_nodes", &tree.categories_nodes),
            ("categories_segments", &tree.categories_segments),
            ("categories_sizes", &tree.categories_sizes),
        ] {
            if !v.is_empty() {
                return Err(err(
                    name,
                    "categorical splits are not supported".to_string(),
                ));
            }
        }
        // Number splits and leaves separately, in node order.
        local.clear();
        let (mut ns, mut nl) = (0usize, 0usize);
        for (i, (&l, &r)) in tree
            .left_children
            .iter()
            .zip(&tree.right_children)
            .enumerate()
        {
            if l == -1 {
                if r != -1 {
                    return Err(err(
                        "right_children",
                        format!("node {i} has no left child but a right child {r}"),
                    ));
                }
                local.push(Child::Leaf(nl));
                nl += 1;
            } else {
                local.push(Child::Split(ns));
                ns += 1;
            }
        }
        let child = |i: usize, c: i64, side: &str| -> Result<Child, MlError> {
            usize::try_from(c)
                .ok()
                .and_then(|c| local.get(c).copied())
                .ok_or_else(|| err(side, format!("node {i} has child {c}, outside 0..{n}")))
        };
        splits.clear();
        leaves.clear();
        for i in 0..n {
            let (Some(&l), Some(&r), Some(&f), Some(&v), Some(d)) = (
                tree.left_children.get(i),
                tree.right_children.get(i),
                tree.split_indices.get(i),
                tree.split_conditions.get(i),
                tree.default_left.get(i),
            ) else {
                break; // lengths were checked above
            };
            if l == -1 {
                leaves.push(f64::from(v));
            } else {
                let feature = u64::try_from(f)
                    .map_err(|_| err("split_indices", format!("node {i} splits on feature {f}")))?;
                splits.push(RawSplit {
                    feature,
                    threshold: f64::from(v),
                    left: child(i, l, "left_children")?,
                    right: child(i, r, "right_children")?,
                    default_left: d.0,
                    missing: Missing::NanDefault,
                });
            }
        }
        let root = local
            .first()
            .copied()
            .ok_or_else(|| err("tree_param.num_nodes", "no nodes".into()))?;
        b.push_tree(t, class, &splits, &leaves, root)?;
    }
    let mut parts = plan.parts;
    parts.iteration_ends = match &model.iteration_indptr {
        Some(ptr) => ptr
            .iter()
            .skip(1)
            .filter_map(|&e| usize::try_from(e).ok())
            .collect(),
        None => {
            // Before XGBoost 2: one tree per margin and parallel tree.
            let field = "learner.gradient_booster.model.gbtree_model_param.num_parallel_tree";
            let parallel: usize = match &model.gbtree_model_param.num_parallel_tree {
                Some(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| bad(field, format!("{s:?} is not a count")))?,
                None => 1,
            };
            let per = parallel.saturating_mul(margins);
            if per == 0 || !num_trees.is_multiple_of(per) {
                return Err(bad(
                    field,
                    format!("{num_trees} trees are not whole iterations of {per}"),
                ));
            }
            (1..=num_trees / per).map(|i| i * per).collect()
        }
    };
    if let Some(best) = parts.best_iteration
        && best >= parts.iteration_ends.len()
    {
        return Err(bad(
            "learner.attributes.best_iteration",
            format!(
                "{best}, but the model has {} iterations",
                parts.iteration_ends.len()
            ),
        ));
    }
    Ok(b.finish(parts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_scores_are_read_in_both_spellings() {
        assert_eq!(parse_base_score("[2.4080956E-1]"), Some(vec![0.240_809_56]));
        assert_eq!(parse_base_score("5E-1"), Some(vec![0.5]));
        assert_eq!(
            parse_base_score("[0.1, 0.2,0.3]"),
            Some(vec![0.1, 0.2, 0.3])
        );
        assert_eq!(parse_base_score("[]"), None);
        assert_eq!(parse_base_score("[0.1"), None);
        assert_eq!(parse_base_score("x"), None);
    }
}
