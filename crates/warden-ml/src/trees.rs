//! Tree ensembles (ai.onnx.ml `TreeEnsembleClassifier`) compiled to a flat
//! layout and evaluated in batches.
//!
//! Why this is written here: no well-kept Rust crate evaluates ONNX-ML tree
//! ensembles quickly, and tract's evaluator walks one row at a time through
//! a generic node table (several hundred times slower than scikit-learn on
//! a 100-tree forest). It also refuses some valid models (a two-class
//! gradient boosting model's single `base_values`). [`TreeEnsemble`] is
//! built once from the operator's attributes, checked strictly, and then
//! walks blocks of rows tree by tree so each tree stays in cache.
//!
//! Semantics follow the ONNX-ML operator specification, and onnxruntime's
//! documented behaviour where the specification is vague:
//!
//! - The input is float32. A branch compares the f32 feature with the
//!   node's threshold (an f32 from `nodes_values`, or an f64 from
//!   `nodes_values_as_tensor`: thresholds are kept as f64, and widening an
//!   f32 is exact, so `x <= t` gives the same answer as onnxruntime's).
//! - A missing value (NaN) takes the branch `nodes_missing_value_tracks_true`
//!   names (the specification's rule; tract does the same). onnxruntime
//!   differs on one corner: for `BRANCH_NEQ` it sends NaN to the true branch
//!   whatever the flag says.
//! - Scores are accumulated in the threshold type, as onnxruntime does: f32
//!   for `class_weights`/`nodes_values`, f64 when `*_as_tensor` attributes
//!   are used. Trees are summed in the order they first appear in the node
//!   list. The post-transform is computed in f32 (onnxruntime computes
//!   `ComputeLogistic`, softmax and probit in float).
//! - Two classes: onnxruntime's output depends on which classes carry
//!   weights and on the number of base values. With one class column of
//!   weights (scikit-learn's binary gradient boosting: class 0 only, one
//!   base value, `LOGISTIC`), the score `s` becomes `[1 - s, s]` when all
//!   weights are non-negative and `[logistic(-s), logistic(s)]` (or
//!   `[-s, s]` without `LOGISTIC`) otherwise. The combinations where
//!   onnxruntime's answer is irregular (two base values with class-1
//!   weights, a one-column `PROBIT` output, an unset second column) are
//!   refused when the ensemble is built.

use std::collections::HashMap;

use tract_onnx::pb;

use crate::MlError;

/// Marks a child reference as a leaf index (not a branch index).
const LEAF: u32 = 1 << 31;

/// Rows evaluated together, tree by tree.
const BLOCK_ROWS: usize = 128;

/// Rows walking a tree side by side.
const LANES: usize = 8;

/// Below this many rows the work is not worth a thread.
const PARALLEL_ROWS: usize = 512;

/// A branch node's comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `BRANCH_LEQ`: true when x ≤ threshold.
    Leq,
    /// `BRANCH_LT`: true when x < threshold.
    Lt,
    /// `BRANCH_GTE`: true when x ≥ threshold.
    Gte,
    /// `BRANCH_GT`: true when x > threshold.
    Gt,
    /// `BRANCH_EQ`: true when x = threshold.
    Eq,
    /// `BRANCH_NEQ`: true when x ≠ threshold.
    Neq,
}

impl Mode {
    /// The comparison as one of `<=`, `<`, `==` ([`LEQ`], [`LT`], [`EQ`]),
    /// and whether the branches swap: `x >= t` is `!(x < t)` for numbers
    /// (a NaN goes by the missing-value flag, swapped with the branches).
    fn canonical(self) -> (u8, bool) {
        match self {
            Mode::Leq => (LEQ, false),
            Mode::Lt => (LT, false),
            Mode::Eq => (EQ, false),
            Mode::Gt => (LEQ, true),
            Mode::Gte => (LT, true),
            Mode::Neq => (EQ, true),
        }
    }
}

/// Canonical comparisons; [`MIXED`] marks an ensemble using several.
const LEQ: u8 = 0;
const LT: u8 = 1;
const EQ: u8 = 2;
const MIXED: u8 = 3;

/// `x <cmp> t` for a canonical comparison; false when `x` is NaN.
#[inline(always)]
fn compare(cmp: u8, x: f64, t: f64) -> bool {
    match cmp {
        LEQ => x <= t,
        LT => x < t,
        _ => x == t,
    }
}

/// What is applied to the summed scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostTransform {
    /// `NONE`: the scores as they are.
    None,
    /// `SOFTMAX`: softmax over the classes' scores.
    Softmax,
    /// `LOGISTIC`: the logistic function of each score.
    Logistic,
    /// `SOFTMAX_ZERO`: softmax in which a score within ±1e-7 of zero is
    /// not exponentiated and so stays (nearly) zero, as onnxruntime computes it.
    SoftmaxZero,
    /// `PROBIT`: the standard normal quantile of each score, by
    /// onnxruntime's approximation of the inverse error function.
    Probit,
}

/// One branch: `x[feature] <cmp> threshold` (a canonical comparison), or
/// a NaN with `missing` set, leads to `kids[1]`, else to `kids[0]`: the
/// child is picked by indexing, not by a jump. A child with the [`LEAF`]
/// bit set is a leaf index.
#[derive(Clone, Copy, Debug)]
struct Branch {
    threshold: f64,
    feature: u32,
    kids: [u32; 2],
    cmp: u8,
    missing: bool,
}

/// Two-class details that decide onnxruntime's two-column output.
#[derive(Clone, Copy, Debug)]
struct Binary {
    /// Only one class id carries weights.
    single_class: bool,
    /// No weight is negative.
    all_positive: bool,
}

/// A compiled tree ensemble classifier.
#[derive(Clone, Debug)]
pub struct TreeEnsemble {
    branches: Vec<Branch>,
    /// The comparison every branch uses, or [`MIXED`].
    uniform: u8,
    /// Each tree's root: a branch index, or a leaf index with [`LEAF`] set.
    roots: Vec<u32>,
    /// Leaf `l`'s votes are `votes[leaf_start[l]..leaf_start[l + 1]]`.
    leaf_start: Vec<u32>,
    vote_class: Vec<u32>,
    vote_weight: Vec<f64>,
    base: Vec<f64>,
    classes: usize,
    features: usize,
    post: PostTransform,
    /// Accumulate in f64 (the model gave `*_as_tensor` doubles).
    double: bool,
    binary: Option<Binary>,
    labels: Vec<String>,
}

fn bad(m: impl Into<String>) -> MlError {
    MlError::Input(format!("TreeEnsembleClassifier: {}", m.into()))
}

/// Reads a node's attributes by name.
struct Attrs<'a>(&'a pb::NodeProto);

impl Attrs<'_> {
    fn get(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.0.attribute.iter().find(|a| a.name == name)
    }

    fn ints(&self, name: &str) -> &[i64] {
        self.get(name).map_or(&[], |a| a.ints.as_slice())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.get(name).map_or_else(Vec::new, |a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    /// `name` (floats) or `name_as_tensor` (a double or float tensor), never
    /// both; the flag says whether the values are doubles.
    fn reals(&self, name: &str) -> Result<(Vec<f64>, bool), MlError> {
        let floats: Vec<f64> = self.get(name).map_or_else(Vec::new, |a| {
            a.floats.iter().map(|&f| f64::from(f)).collect()
        });
        let tensor_name = format!("{name}_as_tensor");
        let Some(t) = self.get(&tensor_name).and_then(|a| a.t.as_ref()) else {
            return Ok((floats, false));
        };
        let values = tensor_reals(t).map_err(|e| bad(format!("{tensor_name}: {e}")))?;
        if values.is_empty() {
            return Ok((floats, false));
        }
        if !floats.is_empty() {
            return Err(bad(format!("both {name} and {tensor_name} are set")));
        }
        Ok((values, true))
    }
}

fn tensor_reals(t: &pb::TensorProto) -> Result<Vec<f64>, String> {
    use pb::tensor_proto::DataType;
    if t.data_type == DataType::Double as i32 {
        if !t.double_data.is_empty() {
            return Ok(t.double_data.clone());
        }
        if !t.raw_data.len().is_multiple_of(8) {
            return Err("raw data is not a whole number of doubles".into());
        }
        Ok(t.raw_data
            .chunks_exact(8)
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                f64::from_le_bytes(b)
            })
            .collect())
    } else if t.data_type == DataType::Float as i32 {
        if !t.float_data.is_empty() {
            return Ok(t.float_data.iter().map(|&f| f64::from(f)).collect());
        }
        if !t.raw_data.len().is_multiple_of(4) {
            return Err("raw data is not a whole number of floats".into());
        }
        Ok(t.raw_data
            .chunks_exact(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b.copy_from_slice(c);
                f64::from(f32::from_le_bytes(b))
            })
            .collect())
    } else {
        Err(format!(
            "element type {} is not double or float",
            t.data_type
        ))
    }
}

fn parse_mode(s: &str) -> Option<Option<Mode>> {
    Some(Some(match s {
        "BRANCH_LEQ" => Mode::Leq,
        "BRANCH_LT" => Mode::Lt,
        "BRANCH_GTE" => Mode::Gte,
        "BRANCH_GT" => Mode::Gt,
        "BRANCH_EQ" => Mode::Eq,
        "BRANCH_NEQ" => Mode::Neq,
        "LEAF" => return Some(None),
        _ => return None,
    }))
}

fn parse_post(s: &str) -> Option<PostTransform> {
    Some(match s {
        "NONE" => PostTransform::None,
        "SOFTMAX" => PostTransform::Softmax,
        "LOGISTIC" => PostTransform::Logistic,
        "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
        "PROBIT" => PostTransform::Probit,
        _ => return None,
    })
}

/// An accumulator type: f32 or f64, as onnxruntime's threshold type.
trait Acc: Copy + Default + std::ops::AddAssign + std::ops::Add<Output = Self> {
    fn of(w: f64) -> Self;
    fn f32(self) -> f32;
}

impl Acc for f32 {
    #[inline(always)]
    fn of(w: f64) -> Self {
        w as f32
    }
    fn f32(self) -> f32 {
        self
    }
}

impl Acc for f64 {
    #[inline(always)]
    fn of(w: f64) -> Self {
        w
    }
    fn f32(self) -> f32 {
        self as f32
    }
}

fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 { 1.0 - v } else { v }
}

/// The inverse error function, by Winitzki's approximation (a = 0.147), as
/// onnxruntime computes `PROBIT`.
fn erf_inv(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let l = ((1.0 - x) * (1.0 + x)).ln();
    let a = 0.147f32;
    let v = 2.0 / (std::f32::consts::PI * a) + 0.5 * l;
    sign * ((v * v - l / a).sqrt() - v).sqrt()
}

fn probit(x: f32) -> f32 {
    std::f32::consts::SQRT_2 * erf_inv(2.0 * x - 1.0)
}

fn transform(post: PostTransform, s: &mut [f32]) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => s.iter_mut().for_each(|v| *v = logistic(*v)),
        PostTransform::Probit => s.iter_mut().for_each(|v| *v = probit(*v)),
        PostTransform::Softmax => {
            let max = s.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
            let mut sum = 0f32;
            for v in s.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
        PostTransform::SoftmaxZero => {
            // Zero scores stay zero (a class no tree voted for).
            let max = s.iter().fold(-f32::MAX, |m, &v| if v > m { v } else { m });
            let scale = (-max).exp();
            let mut sum = 0f32;
            for v in s.iter_mut() {
                if *v > 1e-7 || *v < -1e-7 {
                    *v = (*v - max).exp();
                    sum += *v;
                } else {
                    *v *= scale;
                }
            }
            s.iter_mut().for_each(|v| *v /= sum);
        }
    }
}

impl TreeEnsemble {
    /// Compiles a `TreeEnsembleClassifier` node for inputs of `features`
    /// columns, checking every attribute.
    pub fn from_node(node: &pb::NodeProto, features: usize) -> Result<Self, MlError> {
        if node.op_type != "TreeEnsembleClassifier" {
            return Err(bad(format!("node {:?} is a {}", node.name, node.op_type)));
        }
        if features == 0 {
            return Err(bad("the input has no features"));
        }
        let a = Attrs(node);

        let ints_labels = a.ints("classlabels_int64s");
        let str_labels = a.strings("classlabels_strings");
        let labels: Vec<String> = match (ints_labels.is_empty(), str_labels.is_empty()) {
            (false, true) => ints_labels.iter().map(|i| i.to_string()).collect(),
            (true, false) => str_labels,
            (false, false) => {
                return Err(bad(
                    "both classlabels_int64s and classlabels_strings are set",
                ));
            }
            (true, true) => {
                return Err(bad(
                    "no class labels (classlabels_int64s or classlabels_strings)",
                ));
            }
        };
        let classes = labels.len();
        if classes < 2 {
            return Err(bad("classlabels: a classifier needs at least two classes"));
        }

        // Nodes.
        let ids = a.ints("nodes_nodeids");
        let n = ids.len();
        if n == 0 {
            return Err(bad("nodes_nodeids is empty: the ensemble has no nodes"));
        }
        if n >= (LEAF as usize) {
            return Err(bad(format!("{n} nodes is too many")));
        }
        let tree_ids = a.ints("nodes_treeids");
        let feature_ids = a.ints("nodes_featureids");
        let true_ids = a.ints("nodes_truenodeids");
        let false_ids = a.ints("nodes_falsenodeids");
        let missing = a.ints("nodes_missing_value_tracks_true");
        let modes_s = a.strings("nodes_modes");
        let (values, values_double) = a.reals("nodes_values")?;
        let same = |name: &str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(bad(format!(
                    "{name} has {len} entries but nodes_nodeids has {n}"
                )))
            }
        };
        same("nodes_treeids", tree_ids.len())?;
        same("nodes_featureids", feature_ids.len())?;
        same("nodes_truenodeids", true_ids.len())?;
        same("nodes_falsenodeids", false_ids.len())?;
        same("nodes_modes", modes_s.len())?;
        same(
            if values_double {
                "nodes_values_as_tensor"
            } else {
                "nodes_values"
            },
            values.len(),
        )?;
        if !missing.is_empty() {
            same("nodes_missing_value_tracks_true", missing.len())?;
        }

        let mut modes = Vec::with_capacity(n);
        for (i, m) in modes_s.iter().enumerate() {
            modes.push(parse_mode(m).ok_or_else(|| {
                bad(format!(
                    "nodes_modes: unknown mode {m:?} (tree {}, node {})",
                    tree_ids[i], ids[i]
                ))
            })?);
        }

        // (tree, node) -> position; trees in order of first appearance, each
        // listed in one run.
        let mut at: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
        let mut trees: Vec<(i64, Vec<usize>)> = Vec::new();
        let mut tree_of: HashMap<i64, usize> = HashMap::new();
        for i in 0..n {
            let (t, id) = (tree_ids[i], ids[i]);
            if t < 0 || id < 0 {
                return Err(bad(format!(
                    "nodes_treeids/nodes_nodeids: negative id (tree {t}, node {id})"
                )));
            }
            if at.insert((t, id), i).is_some() {
                return Err(bad(format!(
                    "nodes_nodeids: node {id} appears twice in tree {t}"
                )));
            }
            match trees.last_mut() {
                Some((last, members)) if *last == t => members.push(i),
                _ => {
                    if tree_of.insert(t, trees.len()).is_some() {
                        return Err(bad(format!(
                            "nodes_treeids: the nodes of tree {t} are not listed together"
                        )));
                    }
                    trees.push((t, vec![i]));
                }
            }
        }

        // Children, features, thresholds.
        let mut children: Vec<Option<(usize, usize)>> = vec![None; n];
        for i in 0..n {
            if modes[i].is_none() {
                continue;
            }
            let (t, id) = (tree_ids[i], ids[i]);
            let child = |name: &str, c: i64| {
                at.get(&(t, c)).copied().ok_or_else(|| {
                    bad(format!(
                        "{name}: node {id} of tree {t} points to node {c}, which tree {t} does not have"
                    ))
                })
            };
            let yes = child("nodes_truenodeids", true_ids[i])?;
            let no = child("nodes_falsenodeids", false_ids[i])?;
            children[i] = Some((yes, no));
            let f = feature_ids[i];
            if f < 0 || f as u64 >= features as u64 {
                return Err(bad(format!(
                    "nodes_featureids: node {id} of tree {t} reads feature {f}, but the input has {features} feature{}",
                    if features == 1 { "" } else { "s" }
                )));
            }
            if values[i].is_nan() {
                return Err(bad(format!(
                    "nodes_values: node {id} of tree {t} has a NaN threshold"
                )));
            }
            if let Some(&m) = missing.get(i)
                && m != 0
                && m != 1
            {
                return Err(bad(format!(
                    "nodes_missing_value_tracks_true: node {id} of tree {t} has {m} (0 or 1 expected)"
                )));
            }
        }

        // Each tree must be a tree: one root (no parent), every node reached
        // once from it.
        let mut parents = vec![0u32; n];
        for (i, c) in children.iter().enumerate() {
            if let Some((yes, no)) = *c {
                for child in [yes, no] {
                    parents[child] += 1;
                    if child == i || parents[child] > 1 {
                        return Err(bad(format!(
                            "tree {}: node {} is reached more than once (the nodes do not form a tree)",
                            tree_ids[i], ids[child]
                        )));
                    }
                }
            }
        }

        let mut branches: Vec<Branch> = Vec::new();
        let mut leaf_node: Vec<usize> = Vec::new();
        let mut reference = vec![u32::MAX; n];
        let mut roots = Vec::with_capacity(trees.len());
        for (t, members) in &trees {
            let tops: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&i| parents[i] == 0)
                .collect();
            let [root] = tops.as_slice() else {
                return Err(bad(if tops.is_empty() {
                    format!("tree {t} has no root (its nodes form a cycle)")
                } else {
                    format!(
                        "tree {t} has {} roots (nodes {:?} have no parent); a tree has one",
                        tops.len(),
                        tops.iter().map(|&i| ids[i]).collect::<Vec<_>>()
                    )
                }));
            };
            // Depth-first, the false child right after its parent.
            let mut stack = vec![*root];
            let mut seen = 0usize;
            while let Some(i) = stack.pop() {
                seen += 1;
                if let Some((yes, no)) = children[i] {
                    reference[i] = branches.len() as u32;
                    let (cmp, swap) = modes[i].unwrap_or(Mode::Leq).canonical();
                    branches.push(Branch {
                        threshold: values[i],
                        feature: feature_ids[i] as u32,
                        kids: [0, 0],
                        cmp,
                        missing: missing.get(i).is_some_and(|&m| m == 1) != swap,
                    });
                    stack.push(yes);
                    stack.push(no);
                } else {
                    reference[i] = LEAF | leaf_node.len() as u32;
                    leaf_node.push(i);
                }
            }
            if seen != members.len() {
                return Err(bad(format!(
                    "tree {t}: {} of its {} nodes are not reached from its root (node {}); they form a cycle",
                    members.len() - seen,
                    members.len(),
                    ids[*root]
                )));
            }
            roots.push(reference[*root]);
        }
        for (i, c) in children.iter().enumerate() {
            if let Some((yes, no)) = *c {
                let swap = modes[i].unwrap_or(Mode::Leq).canonical().1;
                let b = &mut branches[(reference[i]) as usize];
                b.kids = if swap {
                    [reference[yes], reference[no]]
                } else {
                    [reference[no], reference[yes]]
                };
            }
        }
        let uniform = match branches.first() {
            Some(f) if branches.iter().all(|b| b.cmp == f.cmp) => f.cmp,
            Some(_) => MIXED,
            None => LEQ,
        };

        // Votes.
        let c_trees = a.ints("class_treeids");
        let c_nodes = a.ints("class_nodeids");
        let c_ids = a.ints("class_ids");
        let (c_weights, weights_double) = a.reals("class_weights")?;
        let v = c_ids.len();
        for (name, len) in [
            ("class_treeids", c_trees.len()),
            ("class_nodeids", c_nodes.len()),
            (
                if weights_double {
                    "class_weights_as_tensor"
                } else {
                    "class_weights"
                },
                c_weights.len(),
            ),
        ] {
            if len != v {
                return Err(bad(format!(
                    "{name} has {len} entries but class_ids has {v}"
                )));
            }
        }
        let mut per_leaf: Vec<Vec<(u32, f64)>> = vec![Vec::new(); leaf_node.len()];
        for k in 0..v {
            let (t, id, c, w) = (c_trees[k], c_nodes[k], c_ids[k], c_weights[k]);
            let Some(&i) = at.get(&(t, id)) else {
                return Err(bad(format!(
                    "class_nodeids: a weight is for node {id} of tree {t}, which does not exist"
                )));
            };
            let r = reference[i];
            if r & LEAF == 0 {
                return Err(bad(format!(
                    "class_nodeids: a weight is for node {id} of tree {t}, which is not a leaf"
                )));
            }
            if c < 0 || c as u64 >= classes as u64 {
                return Err(bad(format!(
                    "class_ids: class {c} (tree {t}, node {id}) is out of range for {classes} classes"
                )));
            }
            if w.is_nan() {
                return Err(bad(format!(
                    "class_weights: the weight of class {c} at node {id} of tree {t} is NaN"
                )));
            }
            per_leaf[(r & !LEAF) as usize].push((c as u32, w));
        }
        let mut leaf_start = Vec::with_capacity(per_leaf.len() + 1);
        let mut vote_class = Vec::with_capacity(v);
        let mut vote_weight = Vec::with_capacity(v);
        leaf_start.push(0u32);
        for votes in &per_leaf {
            for &(c, w) in votes {
                vote_class.push(c);
                vote_weight.push(w);
            }
            leaf_start.push(vote_class.len() as u32);
        }

        let (base, base_double) = a.reals("base_values")?;
        if !(base.is_empty() || base.len() == classes || (classes == 2 && base.len() == 1)) {
            return Err(bad(format!(
                "base_values has {} values for {classes} classes",
                base.len()
            )));
        }
        if let Some(i) = base.iter().position(|b| b.is_nan()) {
            return Err(bad(format!("base_values: value {i} is NaN")));
        }

        let post_s = a.string("post_transform").unwrap_or_else(|| "NONE".into());
        let post = parse_post(&post_s)
            .ok_or_else(|| bad(format!("post_transform: unknown {post_s:?}")))?;

        let binary = if classes == 2 {
            let mut used = c_ids.to_vec();
            used.sort_unstable();
            used.dedup();
            let b = Binary {
                single_class: used.len() == 1,
                all_positive: c_weights.iter().all(|&w| w >= 0.0),
            };
            let class1_votes = c_ids.contains(&1);
            if base.len() == 2 && class1_votes {
                return Err(bad(
                    "two base_values with weights for class 1: onnxruntime's output for this combination is irregular",
                ));
            }
            // One column of scores is possible when a row can reach no
            // class-1 weight.
            let class1_everywhere = per_leaf
                .iter()
                .all(|votes| votes.iter().any(|&(c, _)| c == 1));
            if base.len() != 2 && !class1_everywhere {
                if post == PostTransform::Probit {
                    return Err(bad(
                        "PROBIT on two classes with one column of weights gives one output column",
                    ));
                }
                if !b.single_class && base.len() == 1 {
                    return Err(bad(
                        "one base value with weights for both classes leaves onnxruntime's second column unset",
                    ));
                }
            }
            Some(b)
        } else {
            None
        };

        Ok(TreeEnsemble {
            branches,
            uniform,
            roots,
            leaf_start,
            vote_class,
            vote_weight,
            base,
            classes,
            features,
            post,
            double: values_double || weights_double || base_double,
            binary,
            labels,
        })
    }

    /// Number of output columns (one per class).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Number of input columns.
    pub fn features(&self) -> usize {
        self.features
    }

    /// Number of trees.
    pub fn trees(&self) -> usize {
        self.roots.len()
    }

    /// The class labels the operator declares.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The post-transform applied to the summed scores.
    pub fn post_transform(&self) -> PostTransform {
        self.post
    }

    /// Distinct thresholds per feature, sorted (to probe the ensemble at
    /// its split points).
    pub fn thresholds(&self) -> Vec<Vec<f64>> {
        let mut out = vec![Vec::new(); self.features];
        for b in &self.branches {
            out[b.feature as usize].push(b.threshold);
        }
        for v in &mut out {
            v.sort_by(f64::total_cmp);
            v.dedup();
        }
        out
    }

    /// Class probabilities (or scores) for `rows` (row-major, `features`
    /// values per row), `classes` values per row, row-major. Big batches
    /// are split across up to `threads` threads; the result does not
    /// depend on the thread count.
    pub fn predict(&self, rows: &[f32], threads: usize) -> Result<Vec<f64>, MlError> {
        if !rows.len().is_multiple_of(self.features) {
            return Err(MlError::Input(format!(
                "{} values are not rows of {} features",
                rows.len(),
                self.features
            )));
        }
        let n = rows.len() / self.features;
        let blocks: Vec<std::ops::Range<usize>> = (0..n.div_ceil(BLOCK_ROWS))
            .map(|b| b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(n))
            .collect();
        let threads = if n < PARALLEL_ROWS { 1 } else { threads };
        let parts = crate::frame::par_map(&blocks, threads, |r| {
            let x = &rows[r.start * self.features..r.end * self.features];
            match (self.double, self.uniform) {
                (false, LEQ) => self.block::<f32, LEQ>(x),
                (false, LT) => self.block::<f32, LT>(x),
                (false, EQ) => self.block::<f32, EQ>(x),
                (false, _) => self.block::<f32, MIXED>(x),
                (true, LEQ) => self.block::<f64, LEQ>(x),
                (true, _) => self.block::<f64, MIXED>(x),
            }
        });
        Ok(parts.concat())
    }

    fn block<A: Acc, const M: u8>(&self, rows: &[f32]) -> Vec<f64> {
        let k = self.classes;
        let n = rows.len() / self.features;
        let mut scores = vec![A::default(); n * k];
        let mut has = vec![false; n * k];
        let f = self.features;
        for &root in &self.roots {
            // LANES rows walk the tree together: their steps are independent,
            // so the processor overlaps their memory reads.
            let mut r0 = 0;
            while r0 < n {
                let lanes = LANES.min(n - r0);
                let mut at = [root; LANES];
                loop {
                    let mut moving = false;
                    for (l, a) in at.iter_mut().enumerate().take(lanes) {
                        if *a & LEAF == 0 {
                            let b = &self.branches[*a as usize];
                            let x = rows[(r0 + l) * f + b.feature as usize];
                            let cmp = if M == MIXED { b.cmp } else { M };
                            let go =
                                compare(cmp, f64::from(x), b.threshold) | (x.is_nan() & b.missing);
                            *a = b.kids[usize::from(go)];
                            moving = true;
                        }
                    }
                    if !moving {
                        break;
                    }
                }
                for (l, a) in at.iter().enumerate().take(lanes) {
                    let leaf = (a & !LEAF) as usize;
                    let r = r0 + l;
                    let (s, e) = (
                        self.leaf_start[leaf] as usize,
                        self.leaf_start[leaf + 1] as usize,
                    );
                    for v in s..e {
                        let c = r * k + self.vote_class[v] as usize;
                        scores[c] += A::of(self.vote_weight[v]);
                        has[c] = true;
                    }
                }
                r0 += lanes;
            }
        }
        let mut out = Vec::with_capacity(n * k);
        let mut buf = vec![0f32; k];
        for r in 0..n {
            let s = &mut scores[r * k..(r + 1) * k];
            let h = &has[r * k..(r + 1) * k];
            match self.binary {
                Some(b) => self.finish_binary(b, s, h, &mut buf),
                None => {
                    if self.base.len() == k {
                        for (v, &b) in s.iter_mut().zip(&self.base) {
                            *v += A::of(b);
                        }
                    }
                    for (o, v) in buf.iter_mut().zip(s.iter()) {
                        *o = v.f32();
                    }
                    transform(self.post, &mut buf);
                }
            }
            out.extend(buf.iter().map(|&p| f64::from(p)));
        }
        out
    }

    /// Two classes, as onnxruntime writes them (see the module notes).
    fn finish_binary<A: Acc>(&self, b: Binary, s: &mut [A], has: &[bool], out: &mut [f32]) {
        let (mut s0, mut s1) = (s[0], s[1]);
        let mut two = true;
        // How the one-column case gets its second column: 0/1 all weights
        // positive, 2/3 mixed signs (winning class positive/negative).
        let mut second = None;
        match self.base.as_slice() {
            [b0, b1] => {
                // Only reached when class 1 has no weights (see `from_node`).
                s0 += A::of(*b0);
                s1 += A::of(*b1);
            }
            [b0] => {
                s0 += A::of(*b0);
                two = has[1];
            }
            _ => {
                second = Some(3);
                two = has[1];
            }
        }
        if b.single_class {
            let pos = if two && has[1] {
                s1
            } else if has[0] {
                s0
            } else {
                A::default()
            };
            let pos = pos.f32();
            second = Some(match (b.all_positive, pos) {
                (true, p) if p > 0.5 => 0,
                (true, _) => 1,
                (false, p) if p > 0.0 => 2,
                (false, _) => 3,
            });
        }
        if two {
            out[0] = s0.f32();
            out[1] = s1.f32();
            transform(self.post, out);
            return;
        }
        let v = s0.f32();
        match second {
            Some(0 | 1) => {
                out[0] = 1.0 - v;
                out[1] = v;
            }
            _ if self.post == PostTransform::Logistic => {
                out[0] = logistic(-v);
                out[1] = logistic(v);
            }
            _ => {
                out[0] = -v;
                out[1] = v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            r#type: pb::attribute_proto::AttributeType::Ints as i32,
            ..Default::default()
        }
    }
    fn floats(name: &str, v: &[f32]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            floats: v.to_vec(),
            r#type: pb::attribute_proto::AttributeType::Floats as i32,
            ..Default::default()
        }
    }
    fn strings(name: &str, v: &[&str]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            r#type: pb::attribute_proto::AttributeType::Strings as i32,
            ..Default::default()
        }
    }
    fn string(name: &str, v: &str) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            s: v.as_bytes().to_vec(),
            r#type: pb::attribute_proto::AttributeType::String as i32,
            ..Default::default()
        }
    }

    /// One stump per mode: node 0 compares feature 0 with 1.0; node 1
    /// (true) votes class 1, node 2 (false) votes class 0.
    fn stump(mode: &str) -> pb::NodeProto {
        pb::NodeProto {
            op_type: "TreeEnsembleClassifier".into(),
            attribute: vec![
                ints("nodes_treeids", &[0, 0, 0]),
                ints("nodes_nodeids", &[0, 1, 2]),
                ints("nodes_featureids", &[0, 0, 0]),
                floats("nodes_values", &[1.0, 0.0, 0.0]),
                strings("nodes_modes", &[mode, "LEAF", "LEAF"]),
                ints("nodes_truenodeids", &[1, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 0]),
                ints("nodes_missing_value_tracks_true", &[1, 0, 0]),
                ints("class_treeids", &[0, 0, 0, 0]),
                ints("class_nodeids", &[1, 1, 2, 2]),
                ints("class_ids", &[0, 1, 0, 1]),
                floats("class_weights", &[0.25, 0.75, 0.625, 0.375]),
                ints("classlabels_int64s", &[0, 1]),
            ],
            ..Default::default()
        }
    }

    fn set(node: &mut pb::NodeProto, a: pb::AttributeProto) {
        node.attribute.retain(|x| x.name != a.name);
        node.attribute.push(a);
    }

    fn err(node: &pb::NodeProto, features: usize) -> String {
        TreeEnsemble::from_node(node, features)
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn every_mode_compares_the_f32_input_with_the_threshold() {
        let yes = [0.25, 0.75];
        let no = [0.625, 0.375];
        let below = 1.0f32 - f32::EPSILON / 2.0;
        let above = 1.0f32 + f32::EPSILON;
        for (mode, at_below, at, at_above) in [
            ("BRANCH_LEQ", yes, yes, no),
            ("BRANCH_LT", yes, no, no),
            ("BRANCH_GTE", no, yes, yes),
            ("BRANCH_GT", no, no, yes),
            ("BRANCH_EQ", no, yes, no),
            ("BRANCH_NEQ", yes, no, yes),
        ] {
            let e = TreeEnsemble::from_node(&stump(mode), 1).unwrap();
            let p = e.predict(&[below, 1.0, above], 1).unwrap();
            assert_eq!(&p[0..2], at_below, "{mode} below");
            assert_eq!(&p[2..4], at, "{mode} at");
            assert_eq!(&p[4..6], at_above, "{mode} above");
        }
    }

    #[test]
    fn missing_values_follow_the_tracks_true_flag() {
        for (mode, flag, want) in [
            ("BRANCH_LEQ", 1, [0.25, 0.75]),
            ("BRANCH_LEQ", 0, [0.625, 0.375]),
            ("BRANCH_NEQ", 0, [0.625, 0.375]),
            ("BRANCH_GT", 1, [0.25, 0.75]),
        ] {
            let mut n = stump(mode);
            set(
                &mut n,
                ints("nodes_missing_value_tracks_true", &[flag, 0, 0]),
            );
            let e = TreeEnsemble::from_node(&n, 1).unwrap();
            assert_eq!(e.predict(&[f32::NAN], 1).unwrap(), want, "{mode} {flag}");
        }
        // Without the attribute, NaN goes to the false branch.
        let mut n = stump("BRANCH_LEQ");
        n.attribute
            .retain(|a| a.name != "nodes_missing_value_tracks_true");
        let e = TreeEnsemble::from_node(&n, 1).unwrap();
        assert_eq!(e.predict(&[f32::NAN], 1).unwrap(), [0.625, 0.375]);
    }

    /// Three classes, two trees, so the post-transforms act on three sums.
    fn three() -> pb::NodeProto {
        let mut n = stump("BRANCH_LEQ");
        set(&mut n, ints("nodes_treeids", &[0, 0, 0, 1]));
        set(&mut n, ints("nodes_nodeids", &[0, 1, 2, 0]));
        set(&mut n, ints("nodes_featureids", &[0, 0, 0, 0]));
        set(&mut n, floats("nodes_values", &[1.0, 0.0, 0.0, 0.0]));
        set(
            &mut n,
            strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "LEAF", "LEAF"]),
        );
        set(&mut n, ints("nodes_truenodeids", &[1, 0, 0, 0]));
        set(&mut n, ints("nodes_falsenodeids", &[2, 0, 0, 0]));
        set(
            &mut n,
            ints("nodes_missing_value_tracks_true", &[0, 0, 0, 0]),
        );
        set(&mut n, ints("class_treeids", &[0, 0, 1]));
        set(&mut n, ints("class_nodeids", &[1, 2, 0]));
        set(&mut n, ints("class_ids", &[0, 1, 2]));
        set(&mut n, floats("class_weights", &[2.0, -1.0, 0.5]));
        set(&mut n, ints("classlabels_int64s", &[4, 5, 6]));
        n
    }

    fn close(a: &[f64], b: &[f64]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn post_transforms_act_on_the_summed_scores() {
        let sm = |v: [f64; 3]| {
            let m = v.iter().cloned().fold(f64::MIN, f64::max);
            let e: Vec<f64> = v.iter().map(|x| (x - m).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|x| x / s).collect::<Vec<_>>()
        };
        let lg = |x: f64| 1.0 / (1.0 + (-x).exp());
        let cases: [(&str, Vec<f64>); 4] = [
            ("NONE", vec![2.0, 0.0, 0.5]),
            ("SOFTMAX", sm([2.0, 0.0, 0.5])),
            ("LOGISTIC", vec![lg(2.0), lg(0.0), lg(0.5)]),
            // A zero score stays zero.
            ("SOFTMAX_ZERO", {
                let e = [(2.0f64 - 2.0).exp(), (0.5f64 - 2.0).exp()];
                let s = e[0] + e[1];
                vec![e[0] / s, 0.0, e[1] / s]
            }),
        ];
        for (post, want) in cases {
            let mut n = three();
            set(&mut n, string("post_transform", post));
            let e = TreeEnsemble::from_node(&n, 1).unwrap();
            close(&e.predict(&[0.0], 1).unwrap(), &want);
        }
        let mut n = three();
        set(&mut n, string("post_transform", "PROBIT"));
        let e = TreeEnsemble::from_node(&n, 1).unwrap();
        // probit(0.5) = 0; the approximation is good to ~1e-3.
        let mut n2 = three();
        set(&mut n2, floats("class_weights", &[0.975, 0.5, 0.5]));
        set(&mut n2, string("post_transform", "PROBIT"));
        let p = TreeEnsemble::from_node(&n2, 1)
            .unwrap()
            .predict(&[0.0], 1)
            .unwrap();
        assert!((p[0] - 1.959964).abs() < 2e-3 && p[2].abs() < 1e-6, "{p:?}");
        assert!(e.predict(&[0.0], 1).unwrap()[1].is_infinite());
        // Base values are added before the transform.
        let mut n = three();
        set(&mut n, floats("base_values", &[1.0, 2.0, 3.0]));
        let e = TreeEnsemble::from_node(&n, 1).unwrap();
        close(
            &e.predict(&[0.0, 5.0], 1).unwrap(),
            &[3.0, 2.0, 3.5, 1.0, 1.0, 3.5],
        );
    }

    /// scikit-learn's binary gradient boosting: class 0 only, one base
    /// value, LOGISTIC.
    fn boosted(weights: [f32; 2], post: &str) -> pb::NodeProto {
        let mut n = stump("BRANCH_LEQ");
        set(&mut n, ints("class_treeids", &[0, 0]));
        set(&mut n, ints("class_nodeids", &[1, 2]));
        set(&mut n, ints("class_ids", &[0, 0]));
        set(&mut n, floats("class_weights", &weights));
        set(&mut n, floats("base_values", &[-0.5]));
        set(&mut n, string("post_transform", post));
        n
    }

    #[test]
    fn two_classes_with_one_column_of_weights_as_onnxruntime_writes_them() {
        let lg = |x: f64| 1.0 / (1.0 + (-x).exp());
        // Mixed signs, LOGISTIC: [logistic(-s), logistic(s)].
        let e = TreeEnsemble::from_node(&boosted([1.5, -2.0], "LOGISTIC"), 1).unwrap();
        let p = e.predict(&[0.0, 2.0], 1).unwrap();
        close(&p, &[lg(-1.0), lg(1.0), lg(2.5), lg(-2.5)]);
        // Mixed signs, NONE: [-s, s].
        let e = TreeEnsemble::from_node(&boosted([1.5, -2.0], "NONE"), 1).unwrap();
        close(&e.predict(&[0.0, 2.0], 1).unwrap(), &[-1.0, 1.0, 2.5, -2.5]);
        // All weights non-negative: [1 - s, s], whatever the transform.
        let e = TreeEnsemble::from_node(&boosted([1.0, 0.75], "LOGISTIC"), 1).unwrap();
        close(&e.predict(&[0.0, 2.0], 1).unwrap(), &[0.5, 0.5, 0.75, 0.25]);
        // Both classes voting, no base values: an ordinary two-column sum.
        let e = TreeEnsemble::from_node(&stump("BRANCH_LEQ"), 1).unwrap();
        close(&e.predict(&[0.0], 1).unwrap(), &[0.25, 0.75]);
        // Accepts string labels.
        let mut n = boosted([1.5, -2.0], "LOGISTIC");
        n.attribute.retain(|a| a.name != "classlabels_int64s");
        n.attribute
            .push(strings("classlabels_strings", &["no", "yes"]));
        let e = TreeEnsemble::from_node(&n, 1).unwrap();
        assert_eq!(e.labels(), ["no", "yes"]);
    }

    #[test]
    fn double_attributes_are_read_and_summed_in_f64() {
        let mut n = stump("BRANCH_LEQ");
        n.attribute.retain(|a| a.name != "nodes_values");
        n.attribute.push(pb::AttributeProto {
            name: "nodes_values_as_tensor".into(),
            t: Some(pb::TensorProto {
                data_type: pb::tensor_proto::DataType::Double as i32,
                dims: vec![3],
                double_data: vec![1.0 + 1e-12, 0.0, 0.0],
                ..Default::default()
            }),
            r#type: pb::attribute_proto::AttributeType::Tensor as i32,
            ..Default::default()
        });
        let e = TreeEnsemble::from_node(&n, 1).unwrap();
        assert!(e.double);
        // 1.0 <= 1 + 1e-12 in f64 (an f32 threshold would round to 1.0 too,
        // but 1.0000001 is above it either way).
        assert_eq!(e.predict(&[1.0], 1).unwrap(), [0.25, 0.75]);
        assert_eq!(e.predict(&[1.000_000_1], 1).unwrap(), [0.625, 0.375]);
    }

    #[test]
    fn batches_split_across_threads_give_the_same_answer() {
        let e = TreeEnsemble::from_node(&three(), 1).unwrap();
        let rows: Vec<f32> = (0..5000).map(|i| (i % 7) as f32 * 0.4).collect();
        let one = e.predict(&rows, 1).unwrap();
        assert_eq!(one.len(), 5000 * 3);
        assert_eq!(e.predict(&rows, 3).unwrap(), one);
        assert_eq!(&one[0..3], &[2.0, 0.0, 0.5]);
        assert!(e.predict(&[0.0, 1.0], 1).is_ok());
        let two_features = TreeEnsemble::from_node(&three(), 2).unwrap();
        assert!(two_features.predict(&[0.0, 1.0, 2.0], 1).is_err());
    }

    #[test]
    fn malformed_ensembles_are_refused_naming_the_attribute_and_node() {
        type Patch = Box<dyn Fn(&mut pb::NodeProto)>;
        let cases: Vec<(Patch, &str)> = vec![
            (
                Box::new(|n| set(n, ints("nodes_truenodeids", &[7, 0, 0]))),
                "nodes_truenodeids: node 0 of tree 0 points to node 7",
            ),
            (
                Box::new(|n| set(n, ints("nodes_falsenodeids", &[2, 0]))),
                "nodes_falsenodeids has 2 entries but nodes_nodeids has 3",
            ),
            (
                Box::new(|n| set(n, ints("nodes_featureids", &[3, 0, 0]))),
                "node 0 of tree 0 reads feature 3, but the input has 1 feature",
            ),
            (
                Box::new(|n| set(n, floats("nodes_values", &[f32::NAN, 0.0, 0.0]))),
                "nodes_values: node 0 of tree 0 has a NaN threshold",
            ),
            (
                Box::new(|n| set(n, strings("nodes_modes", &["BRANCH_XX", "LEAF", "LEAF"]))),
                "unknown mode \"BRANCH_XX\" (tree 0, node 0)",
            ),
            (
                Box::new(|n| set(n, string("post_transform", "SQUASH"))),
                "post_transform: unknown \"SQUASH\"",
            ),
            (
                Box::new(|n| set(n, ints("class_ids", &[0, 1, 0, 2]))),
                "class_ids: class 2 (tree 0, node 2) is out of range for 2 classes",
            ),
            (
                Box::new(|n| set(n, ints("class_nodeids", &[1, 1, 2, 0]))),
                "node 0 of tree 0, which is not a leaf",
            ),
            (
                Box::new(|n| set(n, ints("class_ids", &[0, 1, 0]))),
                "class_ids has 3",
            ),
            (
                Box::new(|n| set(n, ints("nodes_nodeids", &[0, 1, 1]))),
                "node 1 appears twice in tree 0",
            ),
            (
                // Both children the same node: reached twice.
                Box::new(|n| set(n, ints("nodes_falsenodeids", &[1, 0, 0]))),
                "node 1 is reached more than once",
            ),
            (
                Box::new(|n| set(n, ints("nodes_truenodeids", &[0, 0, 0]))),
                "node 0 is reached more than once",
            ),
            (
                Box::new(|n| set(n, floats("base_values", &[1.0, 2.0, 3.0]))),
                "base_values has 3 values for 2 classes",
            ),
            (
                Box::new(|n| set(n, ints("classlabels_int64s", &[0]))),
                "at least two classes",
            ),
            (
                Box::new(|n| set(n, ints("nodes_missing_value_tracks_true", &[2, 0, 0]))),
                "has 2 (0 or 1 expected)",
            ),
            (
                Box::new(|n| {
                    n.attribute
                        .push(strings("classlabels_strings", &["a", "b"]))
                }),
                "both classlabels_int64s and classlabels_strings",
            ),
        ];
        for (patch, want) in cases {
            let mut n = stump("BRANCH_LEQ");
            patch(&mut n);
            let e = err(&n, 1);
            assert!(e.contains(want), "want {want:?}, got {e:?}");
        }
        // Trees interleaved.
        let mut n = stump("BRANCH_LEQ");
        set(&mut n, ints("nodes_treeids", &[0, 1, 0]));
        assert!(err(&n, 1).contains("not listed together"));
        // Irregular two-class combinations.
        let mut n = stump("BRANCH_LEQ");
        set(&mut n, floats("base_values", &[0.0, 0.0]));
        assert!(err(&n, 1).contains("irregular"));
        let n = boosted([1.0, -1.0], "PROBIT");
        assert!(err(&n, 1).contains("PROBIT"));
    }

    fn tree_one(modes: &[&str], yes: &[i64], no: &[i64]) -> pb::NodeProto {
        // Tree 0 is the stump; tree 1 is given.
        let k = modes.len();
        let mut n = stump("BRANCH_LEQ");
        let mut t = vec![0, 0, 0];
        t.extend(std::iter::repeat_n(1, k));
        let mut ids = vec![0, 1, 2];
        ids.extend(0..k as i64);
        let mut m = vec!["BRANCH_LEQ", "LEAF", "LEAF"];
        m.extend_from_slice(modes);
        let mut y = vec![1, 0, 0];
        y.extend_from_slice(yes);
        let mut f = vec![2, 0, 0];
        f.extend_from_slice(no);
        set(&mut n, ints("nodes_treeids", &t));
        set(&mut n, ints("nodes_nodeids", &ids));
        set(&mut n, ints("nodes_featureids", &vec![0; k + 3]));
        set(&mut n, floats("nodes_values", &vec![1.0; k + 3]));
        set(&mut n, strings("nodes_modes", &m));
        set(&mut n, ints("nodes_truenodeids", &y));
        set(&mut n, ints("nodes_falsenodeids", &f));
        set(
            &mut n,
            ints("nodes_missing_value_tracks_true", &vec![0; k + 3]),
        );
        n
    }

    #[test]
    fn trees_that_are_not_trees_are_refused() {
        let (b, l) = ("BRANCH_LEQ", "LEAF");
        // 0 -> (1, 2), 1 -> (0, 3): every node has a parent, no root.
        let e = err(&tree_one(&[b, b, l, l], &[1, 0, 0, 0], &[2, 3, 0, 0]), 1);
        assert!(e.contains("tree 1 has no root"), "{e}");
        // A cycle beside the tree: 3 -> (4, 5), 4 -> (3, 6).
        let e = err(
            &tree_one(
                &[b, l, l, b, b, l, l],
                &[1, 0, 0, 4, 3, 0, 0],
                &[2, 0, 0, 5, 6, 0, 0],
            ),
            1,
        );
        assert!(
            e.contains("tree 1: 4 of its 7 nodes are not reached"),
            "{e}"
        );
        // Two roots.
        let e = err(&tree_one(&[b, l, l, l], &[1, 0, 0, 0], &[2, 0, 0, 0]), 1);
        assert!(e.contains("tree 1 has 2 roots"), "{e}");
        // A node that points to itself.
        let e = err(&tree_one(&[b, l], &[0, 0], &[1, 0]), 1);
        assert!(e.contains("node 0 is reached more than once"), "{e}");
        // A well-formed second tree is fine, and a lone leaf is a tree.
        let ok = tree_one(&[b, l, l], &[1, 0, 0], &[2, 0, 0]);
        assert_eq!(TreeEnsemble::from_node(&ok, 1).unwrap().trees(), 2);
        let ok = tree_one(&[l], &[0], &[0]);
        assert_eq!(TreeEnsemble::from_node(&ok, 1).unwrap().trees(), 2);
    }
}
