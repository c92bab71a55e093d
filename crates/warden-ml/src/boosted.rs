//! Gradient-boosted tree ensembles brought from XGBoost and LightGBM, read
//! from their own safe formats (no pickle) and evaluated here.
//!
//! Two readers, one evaluator:
//!
//! * [`parse_xgboost_json`]: an XGBoost model saved as JSON
//!   (`booster.save_model("model.json")`, format versions 1 to 3), objective
//!   `binary:logistic`, `multi:softprob` or `multi:softmax`, booster `gbtree`;
//!   [`parse_xgboost_ubjson`] reads the same model saved as UBJSON.
//! * [`parse_lightgbm_text`]: a LightGBM model saved as text
//!   (`booster.save_model("model.txt")`, format v3 or v4), objective
//!   `binary` or `multiclass`.
//!
//! Both become a [`BoostedModel`]: split nodes and leaf values in flat
//! arrays, each tree's class, the base margins and the link (sigmoid or
//! softmax). Evaluation reproduces the frameworks' arithmetic, so margins and
//! probabilities are the ones the framework itself gives:
//!
//! * XGBoost compares in `f32`: the input is cast to `f32` and sent left when
//!   `x < threshold`; NaN goes the node's default direction. Margins start at
//!   the base margin (`logit(base_score)` for `binary:logistic`, computed in
//!   `f32`) and add each tree's leaf value in `f32`, in tree order. The
//!   sigmoid and softmax are XGBoost's own `f32` formulas.
//! * LightGBM compares in `f64`: left when `x <= threshold`, with the node's
//!   missing-value rule (None: NaN counts as 0.0; Zero: NaN and values within
//!   ±1e-35 go the default direction; NaN: NaN goes the default direction).
//!   Inputs within ±1e-35 become 0.0 first, as LightGBM's dense-row reader
//!   drops them. Margins sum leaf values in `f64`; the sigmoid takes the
//!   objective's `sigmoid:` scale.
//! * Infinite inputs are compared like any other value (XGBoost itself may
//!   refuse them in its data loader; the trees give them a direction).
//!
//! Why a reader of our own: the formats are small and documented, the
//! semantics (comparison precision, missing-value rules, accumulation order)
//! must match the frameworks bit for bit, and a parser of files that come
//! from outside must be bounded in every dimension. Every tree is checked to
//! be a tree (children in range, every node reached exactly once from the
//! root), so the walk always ends; feature indices are below the feature
//! count, thresholds and leaf values are finite (an infinite threshold is
//! refused although XGBoost could compare with one: no trained model has
//! one), and sizes are capped ([`MAX_BOOSTED_BYTES`], [`MAX_TREES`],
//! [`MAX_NODES`], [`MAX_FEATURES`], [`MAX_CLASSES`]). Anything that changes
//! what a prediction means is refused, not ignored: categorical splits,
//! linear trees, DART and linear boosters, multi-target trees, regression
//! and ranking objectives, LightGBM's averaged (random forest) output.
//!
//! Feature names: both formats usually carry them ([`BoostedModel::feature_names`]);
//! an XGBoost model trained on a bare array has none, and then the schema
//! given to [`BoostedPredictor::new`] names the columns, in model order.

mod lightgbm;
mod ubjson;
mod xgboost;

use serde_json::{Map, Value};

pub use lightgbm::parse_lightgbm_text;
pub use xgboost::{parse_xgboost_json, parse_xgboost_ubjson};

use crate::MlError;
use crate::frame::{FeatureColumn, Frame, Matrix, par_blocks};
use crate::predictor::{InputKind, Prediction, Predictor};

/// Largest model file accepted.
pub const MAX_BOOSTED_BYTES: usize = 1 << 30;
/// Most trees in one model.
pub const MAX_TREES: usize = 100_000;
/// Most nodes (splits and leaves) over all trees of one model.
pub const MAX_NODES: usize = 1 << 24;
/// Most input features.
pub const MAX_FEATURES: usize = 1 << 20;
/// Most classes.
pub const MAX_CLASSES: usize = 10_000;

/// LightGBM's `kZeroThreshold`: a `float` constant (1e-35f) widened to double.
const ZERO_THRESHOLD: f64 = 1e-35_f32 as f64;

/// Marks a child reference as a leaf index (otherwise a split index).
const LEAF: u32 = 1 << 31;

/// The file format a model was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoostedFormat {
    /// XGBoost's JSON model (`save_model("model.json")`).
    XgboostJson,
    /// XGBoost's UBJSON model (`save_model("model.ubj")`).
    XgboostUbjson,
    /// LightGBM's text model (`save_model("model.txt")`).
    LightgbmText,
}

impl BoostedFormat {
    /// The model kind a package records for this format
    /// (`warden_artifact::package::TREE_KINDS`).
    pub fn kind(self) -> &'static str {
        match self {
            BoostedFormat::XgboostJson => "xgboost-json",
            BoostedFormat::XgboostUbjson => "xgboost-ubjson",
            BoostedFormat::LightgbmText => "lightgbm-text",
        }
    }

    /// The format of a recorded model kind ([`Self::kind`]).
    pub fn from_kind(kind: &str) -> Option<BoostedFormat> {
        [
            BoostedFormat::XgboostJson,
            BoostedFormat::XgboostUbjson,
            BoostedFormat::LightgbmText,
        ]
        .into_iter()
        .find(|f| f.kind() == kind)
    }

    /// The format's name for messages: `XGBoost JSON`, `XGBoost UBJSON` or
    /// `LightGBM text`.
    pub fn as_str(self) -> &'static str {
        match self {
            BoostedFormat::XgboostJson => "XGBoost JSON",
            BoostedFormat::XgboostUbjson => "XGBoost UBJSON",
            BoostedFormat::LightgbmText => "LightGBM text",
        }
    }

    /// Guesses the format from the first bytes: a LightGBM text model starts
    /// with the line `tree`, JSON with `{` and then a quote or `}`, UBJSON
    /// with `{` and a type marker.
    pub fn sniff(bytes: &[u8]) -> Option<BoostedFormat> {
        if bytes.starts_with(b"tree\n") || bytes.starts_with(b"tree\r\n") {
            return Some(BoostedFormat::LightgbmText);
        }
        let rest = bytes.strip_prefix(b"{")?;
        match rest.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'"') | Some(b'}') => Some(BoostedFormat::XgboostJson),
            Some(b'i' | b'U' | b'I' | b'l' | b'L' | b'$' | b'#') => {
                Some(BoostedFormat::XgboostUbjson)
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for BoostedFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Reads a model in the given format.
pub fn parse_boosted(bytes: &[u8], format: BoostedFormat) -> Result<BoostedModel, MlError> {
    match format {
        BoostedFormat::XgboostJson => parse_xgboost_json(bytes),
        BoostedFormat::XgboostUbjson => parse_xgboost_ubjson(bytes),
        BoostedFormat::LightgbmText => parse_lightgbm_text(bytes),
    }
}

/// What is wrong with a model file: the format, the tree (if the problem is
/// in one) and the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{format}{}: {field}: {message}", tree.map(|t| format!(", tree {t}")).unwrap_or_default())]
pub struct FormatError {
    /// The format the file was read as.
    pub format: BoostedFormat,
    /// The tree's index in the file; `None` when the problem is outside
    /// the trees.
    pub tree: Option<usize>,
    /// The field (key or line) at fault.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FormatError {
    pub(crate) fn ml(
        format: BoostedFormat,
        tree: Option<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> MlError {
        MlError::Format(FormatError {
            format,
            tree,
            field: field.into(),
            message: message.into(),
        })
    }
}

/// Which framework's semantics a model follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoostedKind {
    /// XGBoost: `f32` comparisons and margins.
    Xgboost,
    /// LightGBM: `f64` comparisons and margins.
    Lightgbm,
}

impl BoostedKind {
    /// `xgboost` or `lightgbm`.
    pub fn as_str(self) -> &'static str {
        match self {
            BoostedKind::Xgboost => "xgboost",
            BoostedKind::Lightgbm => "lightgbm",
        }
    }
}

/// How margins become probabilities.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Link {
    /// Binary: p1 = sigmoid(scale × margin), p0 = 1 − p1.
    Sigmoid {
        /// The margin's multiplier: LightGBM's `sigmoid:` parameter, 1 for
        /// XGBoost.
        scale: f64,
    },
    /// One margin per class, softmax over them.
    Softmax,
}

/// Where a split sends a missing value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// NaN goes the default direction (XGBoost; LightGBM missing type NaN).
    NanDefault,
    /// NaN is compared as 0.0 (LightGBM missing type None).
    NanAsZero,
    /// NaN and (near) zero go the default direction (LightGBM missing type Zero).
    ZeroDefault,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    threshold: f64,
    feature: u32,
    /// Child references: a split index, or a leaf index with [`LEAF`] set.
    left: u32,
    right: u32,
    default_left: bool,
    missing: Missing,
}

/// One tree of the ensemble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tree {
    class: u32,
    root: u32,
    splits: u32,
    leaves: u32,
}

impl Tree {
    /// The margin (class) this tree adds to.
    pub fn class(&self) -> usize {
        self.class as usize
    }
    /// The tree's split (internal) nodes.
    pub fn splits(&self) -> usize {
        self.splits as usize
    }
    /// The tree's leaves (one more than its splits).
    pub fn leaves(&self) -> usize {
        self.leaves as usize
    }
}

/// A child reference inside one tree while it is being read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Child {
    Split(usize),
    Leaf(usize),
}

/// One split while a tree is being read; indices are local to the tree.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawSplit {
    pub feature: u64,
    pub threshold: f64,
    pub left: Child,
    pub right: Child,
    pub default_left: bool,
    pub missing: Missing,
}

/// A model being assembled by a reader; [`Builder::push_tree`] checks each tree.
pub(crate) struct Builder {
    pub format: BoostedFormat,
    pub num_features: usize,
    pub margins: usize,
    nodes: Vec<Node>,
    leaves: Vec<f64>,
    trees: Vec<Tree>,
}

impl Builder {
    pub fn new(format: BoostedFormat, num_features: usize, margins: usize) -> Self {
        Builder {
            format,
            num_features,
            margins,
            nodes: Vec::new(),
            leaves: Vec::new(),
            trees: Vec::new(),
        }
    }

    fn err(&self, tree: usize, field: &str, message: String) -> MlError {
        FormatError::ml(self.format, Some(tree), field, message)
    }

    /// Adds tree number `t` (splits, leaves, root) after checking it: every
    /// reference in range, every split and leaf reached exactly once from
    /// the root, features in range, thresholds and leaves finite.
    pub fn push_tree(
        &mut self,
        t: usize,
        class: usize,
        splits: &[RawSplit],
        leaves: &[f64],
        root: Child,
    ) -> Result<(), MlError> {
        if self.trees.len() >= MAX_TREES {
            return Err(self.err(t, "trees", format!("more than {MAX_TREES} trees")));
        }
        if class >= self.margins {
            return Err(self.err(
                t,
                "class",
                format!(
                    "the tree adds to margin {class}; the model has {}",
                    self.margins
                ),
            ));
        }
        let total = self.nodes.len() + self.leaves.len() + splits.len() + leaves.len();
        if total > MAX_NODES {
            return Err(self.err(
                t,
                "nodes",
                format!("more than {MAX_NODES} nodes in the model"),
            ));
        }
        if leaves.len() != splits.len() + 1 {
            return Err(self.err(
                t,
                "leaves",
                format!(
                    "{} splits and {} leaves (a binary tree has one leaf more than splits)",
                    splits.len(),
                    leaves.len()
                ),
            ));
        }
        for (i, v) in leaves.iter().enumerate() {
            if !v.is_finite() {
                return Err(self.err(t, "leaf value", format!("leaf {i} is {v}")));
            }
        }
        for (i, s) in splits.iter().enumerate() {
            if s.feature >= self.num_features as u64 {
                return Err(self.err(
                    t,
                    "split feature",
                    format!(
                        "split {i} uses feature {}; the model has {} features",
                        s.feature, self.num_features
                    ),
                ));
            }
            if !s.threshold.is_finite() {
                return Err(self.err(
                    t,
                    "threshold",
                    format!("split {i} has threshold {}", s.threshold),
                ));
            }
        }
        // Walk from the root: each split and leaf must be reached exactly once.
        let mut seen_split = vec![false; splits.len()];
        let mut seen_leaf = vec![false; leaves.len()];
        let mut stack = vec![root];
        while let Some(c) = stack.pop() {
            match c {
                Child::Split(i) => {
                    let s = splits.get(i).ok_or_else(|| {
                        self.err(
                            t,
                            "children",
                            format!("split {i} is out of range ({} splits)", splits.len()),
                        )
                    })?;
                    if std::mem::replace(&mut seen_split[i], true) {
                        return Err(self.err(
                            t,
                            "children",
                            format!("split {i} is reached twice: the nodes do not form a tree"),
                        ));
                    }
                    stack.push(s.right);
                    stack.push(s.left);
                }
                Child::Leaf(i) => {
                    let Some(seen) = seen_leaf.get_mut(i) else {
                        return Err(self.err(
                            t,
                            "children",
                            format!("leaf {i} is out of range ({} leaves)", leaves.len()),
                        ));
                    };
                    if std::mem::replace(seen, true) {
                        return Err(self.err(
                            t,
                            "children",
                            format!("leaf {i} is reached twice: the nodes do not form a tree"),
                        ));
                    }
                }
            }
        }
        if let Some(i) = seen_split.iter().position(|s| !s) {
            return Err(self.err(
                t,
                "children",
                format!("split {i} is not reached from the root"),
            ));
        }
        if let Some(i) = seen_leaf.iter().position(|s| !s) {
            return Err(self.err(
                t,
                "children",
                format!("leaf {i} is not reached from the root"),
            ));
        }
        // Within MAX_NODES < 2^31, so every global index fits below LEAF.
        let split0 = self.nodes.len() as u32;
        let leaf0 = self.leaves.len() as u32;
        let global = |c: Child| match c {
            Child::Split(i) => split0 + i as u32,
            Child::Leaf(i) => LEAF | (leaf0 + i as u32),
        };
        for s in splits {
            self.nodes.push(Node {
                threshold: s.threshold,
                feature: s.feature as u32,
                left: global(s.left),
                right: global(s.right),
                default_left: s.default_left,
                missing: s.missing,
            });
        }
        self.leaves.extend_from_slice(leaves);
        self.trees.push(Tree {
            class: class as u32,
            root: global(root),
            splits: splits.len() as u32,
            leaves: leaves.len() as u32,
        });
        Ok(())
    }

    pub fn trees(&self) -> usize {
        self.trees.len()
    }

    pub fn finish(self, parts: ModelParts) -> BoostedModel {
        BoostedModel {
            kind: parts.kind,
            format: self.format,
            objective: parts.objective,
            feature_names: parts.feature_names,
            num_features: self.num_features,
            num_classes: parts.num_classes,
            link: parts.link,
            base_margin: parts.base_margin,
            iteration_ends: parts.iteration_ends,
            best_iteration: parts.best_iteration,
            trees: self.trees,
            nodes: self.nodes,
            leaves: self.leaves,
        }
    }
}

/// What a reader knows besides the trees.
pub(crate) struct ModelParts {
    pub kind: BoostedKind,
    pub objective: String,
    pub feature_names: Vec<String>,
    pub num_classes: usize,
    pub link: Link,
    /// One value per margin.
    pub base_margin: Vec<f64>,
    /// The number of trees at the end of each boosting iteration.
    pub iteration_ends: Vec<usize>,
    pub best_iteration: Option<usize>,
}

/// A checked tree ensemble, ready to evaluate.
#[derive(Clone, Debug)]
pub struct BoostedModel {
    kind: BoostedKind,
    format: BoostedFormat,
    objective: String,
    feature_names: Vec<String>,
    num_features: usize,
    num_classes: usize,
    link: Link,
    base_margin: Vec<f64>,
    iteration_ends: Vec<usize>,
    best_iteration: Option<usize>,
    trees: Vec<Tree>,
    nodes: Vec<Node>,
    leaves: Vec<f64>,
}

impl BoostedModel {
    /// Boosting iterations (rounds); each adds one tree per margin (XGBoost:
    /// times `num_parallel_tree`).
    pub fn iterations(&self) -> usize {
        self.iteration_ends.len()
    }

    /// XGBoost's `best_iteration` attribute, set by early stopping. The
    /// scikit-learn wrapper's `predict_proba` then uses only iterations
    /// `0..=best` (see [`Self::first_iterations`]); `Booster.predict` uses
    /// all of them, as [`Self::predict_proba`] does. LightGBM saves only the
    /// best iterations in the first place, so its models have none.
    pub fn best_iteration(&self) -> Option<usize> {
        self.best_iteration
    }

    /// The model as the framework's scikit-learn wrapper predicts with it:
    /// cut after its best iteration when early stopping set one.
    pub fn as_predicted(self) -> Result<BoostedModel, MlError> {
        match self.best_iteration {
            Some(best) if best + 1 < self.iterations() => self.first_iterations(best + 1),
            _ => Ok(self),
        }
    }

    /// The model made of the first `n` iterations (1 to [`Self::iterations`]).
    pub fn first_iterations(&self, n: usize) -> Result<BoostedModel, MlError> {
        let end = n
            .checked_sub(1)
            .and_then(|i| self.iteration_ends.get(i))
            .copied()
            .ok_or_else(|| {
                MlError::Input(format!(
                    "{n} iterations of a model of {} (1 to {0})",
                    self.iterations()
                ))
            })?;
        let trees: Vec<Tree> = self.trees.iter().take(end).copied().collect();
        // Trees were added in order, so theirs are the leading nodes and leaves.
        let splits = trees.iter().map(Tree::splits).sum();
        let leaves = trees.iter().map(Tree::leaves).sum();
        Ok(BoostedModel {
            iteration_ends: self.iteration_ends.iter().take(n).copied().collect(),
            best_iteration: self.best_iteration.filter(|&b| b < n),
            trees,
            nodes: self.nodes.iter().take(splits).copied().collect(),
            leaves: self.leaves.iter().take(leaves).copied().collect(),
            ..self.clone_header()
        })
    }

    fn clone_header(&self) -> BoostedModel {
        BoostedModel {
            feature_names: self.feature_names.clone(),
            objective: self.objective.clone(),
            base_margin: self.base_margin.clone(),
            iteration_ends: Vec::new(),
            trees: Vec::new(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            ..*self
        }
    }

    /// Which framework's semantics the model follows.
    pub fn kind(&self) -> BoostedKind {
        self.kind
    }
    /// The file format the model was read from.
    pub fn format(&self) -> BoostedFormat {
        self.format
    }
    /// The objective as the file names it (`binary:logistic`, `binary`, ...).
    pub fn objective(&self) -> &str {
        &self.objective
    }
    /// The file's feature names in column order; empty if it has none.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }
    /// Input features (columns) the model takes.
    pub fn num_features(&self) -> usize {
        self.num_features
    }
    /// Output classes: 2 for a binary model.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }
    /// Margins per row: 1 for a binary model, else one per class.
    pub fn num_margins(&self) -> usize {
        self.base_margin.len()
    }
    /// How margins become probabilities.
    pub fn link(&self) -> Link {
        self.link
    }
    /// The margin each class starts from before the trees are added.
    pub fn base_margin(&self) -> &[f64] {
        &self.base_margin
    }
    /// The trees, in the order their leaf values are added.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }
    /// Splits and leaves over all trees.
    pub fn num_nodes(&self) -> usize {
        self.nodes.len() + self.leaves.len()
    }

    fn check_rows(&self, rows: &[f64]) -> Result<usize, MlError> {
        let w = self.num_features.max(1);
        if self.num_features == 0 || !rows.len().is_multiple_of(w) {
            return Err(MlError::Input(format!(
                "{} values do not make rows of {} features",
                rows.len(),
                self.num_features
            )));
        }
        Ok(rows.len() / w)
    }

    /// Raw margins (rows × [`Self::num_margins`]) for row-major inputs of
    /// [`Self::num_features`] values each; NaN is a missing value. XGBoost
    /// margins are `f32` values.
    pub fn margins(&self, rows: &[f64], threads: usize) -> Result<Vec<f64>, MlError> {
        let n = self.check_rows(rows)?;
        let parts = par_blocks(n, threads, |r| {
            let mut out = Vec::with_capacity(r.len() * self.num_margins());
            let mut scratch = Scratch::default();
            for i in r {
                let x = &rows[i * self.num_features..(i + 1) * self.num_features];
                self.margin_row(x, &mut scratch);
                out.extend_from_slice(&scratch.margin);
            }
            out
        });
        Ok(parts.concat())
    }

    /// Class probabilities (rows × [`Self::num_classes`]) for row-major
    /// inputs, as the framework's `predict_proba` gives them.
    pub fn predict_proba(&self, rows: &[f64], threads: usize) -> Result<Vec<f64>, MlError> {
        let n = self.check_rows(rows)?;
        let parts = par_blocks(n, threads, |r| {
            let mut out = vec![0.0; r.len() * self.num_classes];
            let mut scratch = Scratch::default();
            for (o, i) in out.chunks_exact_mut(self.num_classes).zip(r) {
                let x = &rows[i * self.num_features..(i + 1) * self.num_features];
                self.proba_row(x, o, &mut scratch);
            }
            out
        });
        Ok(parts.concat())
    }

    /// Margins of one row into `s.margin`.
    fn margin_row(&self, x: &[f64], s: &mut Scratch) {
        s.margin.clear();
        match self.kind {
            BoostedKind::Xgboost => {
                // Inputs are f32 for XGBoost; widening back is exact, so
                // comparing the widened values with the (f32) thresholds in
                // f64 is the f32 comparison.
                s.x.clear();
                s.x.extend(x.iter().map(|&v| f64::from(v as f32)));
                s.acc32.clear();
                s.acc32.extend(self.base_margin.iter().map(|&b| b as f32));
                for t in &self.trees {
                    let leaf = self.leaf::<false>(t, &s.x) as f32;
                    if let Some(a) = s.acc32.get_mut(t.class as usize) {
                        *a += leaf;
                    }
                }
                s.margin.extend(s.acc32.iter().map(|&a| f64::from(a)));
            }
            BoostedKind::Lightgbm => {
                // LightGBM reads a dense row as sparse pairs, dropping values
                // within ±kZeroThreshold: they reach the trees as exactly 0.0.
                s.x.clear();
                s.x.extend(x.iter().map(|&v| {
                    if (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&v) {
                        0.0
                    } else {
                        v
                    }
                }));
                s.margin.extend_from_slice(&self.base_margin);
                for t in &self.trees {
                    let leaf = self.leaf::<true>(t, &s.x);
                    if let Some(a) = s.margin.get_mut(t.class as usize) {
                        *a += leaf;
                    }
                }
            }
        }
    }

    fn proba_row(&self, x: &[f64], out: &mut [f64], s: &mut Scratch) {
        self.margin_row(x, s);
        match (self.kind, self.link) {
            (BoostedKind::Xgboost, Link::Sigmoid { .. }) => {
                let m = s.margin.first().copied().unwrap_or(0.0) as f32;
                let p1 = xgb_sigmoid(m);
                if let [p0, q1] = out {
                    *p0 = f64::from(1.0f32 - p1);
                    *q1 = f64::from(p1);
                }
            }
            (BoostedKind::Xgboost, Link::Softmax) => {
                // XGBoost: exp in f32, the sum in f64, divided in f32.
                let m: Vec<f32> = s.margin.iter().map(|&v| v as f32).collect();
                let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = m.iter().map(|&v| (v - max).exp()).collect();
                let sum = e.iter().map(|&v| f64::from(v)).sum::<f64>() as f32;
                for (o, v) in out.iter_mut().zip(e) {
                    *o = f64::from(v / sum);
                }
            }
            (BoostedKind::Lightgbm, Link::Sigmoid { scale }) => {
                let m = s.margin.first().copied().unwrap_or(0.0);
                let p1 = 1.0 / (1.0 + (-scale * m).exp());
                if let [p0, q1] = out {
                    *p0 = 1.0 - p1;
                    *q1 = p1;
                }
            }
            (BoostedKind::Lightgbm, Link::Softmax) => {
                let max = s.margin.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut sum = 0.0;
                for (o, &v) in out.iter_mut().zip(&s.margin) {
                    *o = (v - max).exp();
                    sum += *o;
                }
                for o in out.iter_mut() {
                    *o /= sum;
                }
            }
        }
    }

    /// The leaf value tree `t` gives row `x`. `LE`: LightGBM's `x <= t`
    /// (else XGBoost's `x < t`). Every reference was checked when the tree
    /// was read, so the walk stays in range and ends at a leaf.
    #[inline]
    fn leaf<const LE: bool>(&self, t: &Tree, x: &[f64]) -> f64 {
        let mut r = t.root;
        while r & LEAF == 0 {
            let n = &self.nodes[r as usize];
            let v = x[n.feature as usize];
            let left = match n.missing {
                Missing::NanDefault => {
                    if v.is_nan() {
                        n.default_left
                    } else {
                        less::<LE>(v, n.threshold)
                    }
                }
                Missing::NanAsZero => {
                    let v = if v.is_nan() { 0.0 } else { v };
                    less::<LE>(v, n.threshold)
                }
                Missing::ZeroDefault => {
                    let v = if v.is_nan() { 0.0 } else { v };
                    if (-ZERO_THRESHOLD..=ZERO_THRESHOLD).contains(&v) {
                        n.default_left
                    } else {
                        less::<LE>(v, n.threshold)
                    }
                }
            };
            r = if left { n.left } else { n.right };
        }
        self.leaves[(r & !LEAF) as usize]
    }
}

#[inline]
fn less<const LE: bool>(v: f64, t: f64) -> bool {
    if LE { v <= t } else { v < t }
}

/// XGBoost's sigmoid, in f32 (`1 / (1 + exp(min(-x, 88.7)))`).
fn xgb_sigmoid(x: f32) -> f32 {
    1.0 / ((-x).min(88.7).exp() + 1.0)
}

#[derive(Default)]
struct Scratch {
    x: Vec<f64>,
    acc32: Vec<f32>,
    margin: Vec<f64>,
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b })
}

/// A [`BoostedModel`] behind the [`Predictor`] trait: the schema's feature
/// names (in the model's column order) and class labels (in output order).
#[derive(Clone, Debug)]
pub struct BoostedPredictor {
    model: BoostedModel,
    features: Vec<String>,
    classes: Vec<String>,
}

impl BoostedPredictor {
    /// `features` must match the model's own feature names when the file
    /// has them (same names, same order); otherwise it names the model's
    /// columns and only its length is checked.
    pub fn new(
        model: BoostedModel,
        features: Vec<String>,
        classes: Vec<String>,
    ) -> Result<Self, MlError> {
        if features.len() != model.num_features() {
            return Err(MlError::Input(format!(
                "the schema declares {} features; the {} model takes {}",
                features.len(),
                model.kind().as_str(),
                model.num_features()
            )));
        }
        if !model.feature_names().is_empty()
            && let Some((i, (a, b))) = features
                .iter()
                .zip(model.feature_names())
                .enumerate()
                .find(|(_, (a, b))| a != b)
        {
            return Err(MlError::Input(format!(
                "feature {i}: the schema names it {a:?}, the model file {b:?} (the schema must list the model's features in its column order)"
            )));
        }
        for (i, f) in features.iter().enumerate() {
            if features[..i].contains(f) {
                return Err(MlError::Input(format!("feature {f:?} is declared twice")));
            }
        }
        if classes.len() != model.num_classes() {
            return Err(MlError::Input(format!(
                "the schema declares {} classes; the model gives {}",
                classes.len(),
                model.num_classes()
            )));
        }
        Ok(BoostedPredictor {
            model,
            features,
            classes,
        })
    }

    /// The model behind the predictor.
    pub fn model(&self) -> &BoostedModel {
        &self.model
    }

    fn predictions(&self, probs: Vec<f64>) -> Vec<Prediction> {
        probs
            .chunks_exact(self.classes.len())
            .map(|p| Prediction {
                label: self.classes[argmax(p)].clone(),
                probabilities: p.to_vec(),
            })
            .collect()
    }
}

impl Predictor for BoostedPredictor {
    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn inputs(&self) -> Vec<(&str, InputKind)> {
        self.features
            .iter()
            .map(|f| (f.as_str(), InputKind::Numeric))
            .collect()
    }

    fn predict_numeric(&self, row: &[f64]) -> Result<Vec<f64>, MlError> {
        if row.len() != self.features.len() {
            return Err(MlError::Input(format!(
                "{} values for {} features",
                row.len(),
                self.features.len()
            )));
        }
        self.model.predict_proba(row, 1)
    }

    fn predict_frame(&self, frame: &Frame, threads: usize) -> Result<Matrix, MlError> {
        let cols: Vec<&Vec<f64>> = self
            .features
            .iter()
            .map(|f| match frame.column(f) {
                Some(FeatureColumn::Numeric(v)) => Ok(v),
                Some(_) => Err(MlError::Input(format!(
                    "feature {f}: the tree model takes numbers"
                ))),
                None => Err(MlError::Input(format!("feature {f} is missing"))),
            })
            .collect::<Result<_, _>>()?;
        let w = cols.len();
        let mut x = vec![0.0; frame.rows * w];
        for (j, c) in cols.iter().enumerate() {
            if c.len() != frame.rows {
                return Err(MlError::Input(format!(
                    "feature {}: {} values for {} rows",
                    self.features[j],
                    c.len(),
                    frame.rows
                )));
            }
            for (r, v) in c.iter().enumerate() {
                x[r * w + j] = *v;
            }
        }
        let k = self.classes.len();
        Ok(Matrix {
            rows: frame.rows,
            cols: k,
            data: self.model.predict_proba(&x, threads)?,
        })
    }

    fn predict_json(&self, records: &[Map<String, Value>]) -> Result<Vec<Prediction>, MlError> {
        let w = self.features.len();
        let mut x = vec![f64::NAN; records.len() * w];
        for (i, r) in records.iter().enumerate() {
            if let Some(extra) = r.keys().find(|k| !self.features.contains(k)) {
                return Err(MlError::Input(format!(
                    "record {i}: unknown feature {extra:?}"
                )));
            }
            for (j, f) in self.features.iter().enumerate() {
                x[i * w + j] = match r.get(f) {
                    None | Some(Value::Null) => f64::NAN,
                    Some(Value::Number(n)) => n.as_f64().ok_or_else(|| {
                        MlError::Input(format!("record {i}: feature {f}: {n} is not a number"))
                    })?,
                    Some(other) => {
                        return Err(MlError::Input(format!(
                            "record {i}: feature {f}: expected a number or null, got {other}"
                        )));
                    }
                };
            }
        }
        Ok(self.predictions(self.model.predict_proba(&x, 1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(feature: u64, threshold: f64, left: Child, right: Child) -> RawSplit {
        RawSplit {
            feature,
            threshold,
            left,
            right,
            default_left: true,
            missing: Missing::NanDefault,
        }
    }

    fn builder() -> Builder {
        Builder::new(BoostedFormat::LightgbmText, 2, 1)
    }

    fn tree_error(splits: &[RawSplit], leaves: &[f64], root: Child) -> String {
        match builder().push_tree(3, 0, splits, leaves, root) {
            Err(MlError::Format(e)) => {
                assert_eq!(e.tree, Some(3));
                e.to_string()
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn trees_that_are_not_trees_are_refused() {
        use Child::{Leaf, Split};
        let ok = [split(0, 1.0, Leaf(0), Leaf(1))];
        assert!(
            builder()
                .push_tree(0, 0, &ok, &[1.0, 2.0], Split(0))
                .is_ok()
        );
        let cycle = [
            split(0, 1.0, Split(1), Leaf(0)),
            split(1, 1.0, Split(0), Leaf(1)),
        ];
        let e = tree_error(&cycle, &[1.0, 2.0, 3.0], Split(0));
        assert!(e.contains("reached twice"), "{e}");
        let out = [split(0, 1.0, Leaf(0), Leaf(5))];
        assert!(tree_error(&out, &[1.0, 2.0], Split(0)).contains("out of range"));
        let shared = [split(0, 1.0, Leaf(0), Leaf(0))];
        assert!(tree_error(&shared, &[1.0, 2.0], Split(0)).contains("reached twice"));
        let unreached = [
            split(0, 1.0, Leaf(0), Leaf(1)),
            split(0, 1.0, Leaf(2), Leaf(1)),
        ];
        assert!(tree_error(&unreached, &[1.0, 2.0, 3.0], Split(0)).contains("reached"));
        let feature = [split(2, 1.0, Leaf(0), Leaf(1))];
        assert!(tree_error(&feature, &[1.0, 2.0], Split(0)).contains("feature 2"));
        let nan = [split(0, f64::NAN, Leaf(0), Leaf(1))];
        assert!(tree_error(&nan, &[1.0, 2.0], Split(0)).contains("threshold"));
        assert!(tree_error(&ok, &[1.0, f64::INFINITY], Split(0)).contains("leaf value"));
        assert!(tree_error(&ok, &[1.0], Split(0)).contains("leaves"));
        let e = builder().push_tree(0, 1, &ok, &[1.0, 2.0], Split(0));
        assert!(e.is_err());
    }

    #[test]
    fn missing_rules_follow_lightgbm() {
        let mut b = builder();
        let mut s = split(0, 0.5, Child::Leaf(0), Child::Leaf(1));
        for (missing, default_left) in [
            (Missing::NanAsZero, false),
            (Missing::ZeroDefault, false),
            (Missing::NanDefault, false),
        ] {
            s.missing = missing;
            s.default_left = default_left;
            b.push_tree(b.trees(), 0, &[s], &[1.0, 2.0], Child::Split(0))
                .unwrap();
        }
        let m = b.finish(ModelParts {
            kind: BoostedKind::Lightgbm,
            objective: "binary".into(),
            feature_names: vec![],
            num_classes: 2,
            link: Link::Sigmoid { scale: 1.0 },
            base_margin: vec![0.0],
            iteration_ends: vec![1],
            best_iteration: None,
        });
        let leaves = |v: f64| -> Vec<f64> {
            m.trees
                .iter()
                .map(|t| m.leaf::<true>(t, &[v, 0.0]))
                .collect()
        };
        // None: NaN is 0.0 <= 0.5 (left). Zero: NaN and 0 go right (default).
        // NaN: NaN goes right, 0.0 left.
        assert_eq!(leaves(f64::NAN), [1.0, 2.0, 2.0]);
        assert_eq!(leaves(0.0), [1.0, 2.0, 1.0]);
        assert_eq!(leaves(1e-36), [1.0, 2.0, 1.0]);
        assert_eq!(leaves(1e-30), [1.0, 1.0, 1.0]);
        assert_eq!(leaves(0.5), [1.0, 1.0, 1.0]);
        assert_eq!(leaves(0.6), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn lightgbm_inputs_near_zero_are_zero() {
        let mut b = builder();
        let mut s = split(0, -1e-36, Child::Leaf(0), Child::Leaf(1));
        s.missing = Missing::NanAsZero;
        b.push_tree(0, 0, &[s], &[1.0, 2.0], Child::Split(0))
            .unwrap();
        let m = b.finish(ModelParts {
            kind: BoostedKind::Lightgbm,
            objective: "binary".into(),
            feature_names: vec![],
            num_classes: 2,
            link: Link::Sigmoid { scale: 1.0 },
            base_margin: vec![0.0],
            iteration_ends: vec![1],
            best_iteration: None,
        });
        // -1e-36 <= -1e-36 would go left; read as 0.0 it goes right.
        assert_eq!(m.margins(&[-1e-36, 0.0], 1).unwrap(), [2.0]);
        assert_eq!(m.margins(&[-1e-34, 0.0], 1).unwrap(), [1.0]);
    }

    #[test]
    fn formats_are_sniffed() {
        assert_eq!(
            BoostedFormat::sniff(b"tree\nversion=v4\n"),
            Some(BoostedFormat::LightgbmText)
        );
        assert_eq!(
            BoostedFormat::sniff(b"{\"learner\": {}}"),
            Some(BoostedFormat::XgboostJson)
        );
        assert_eq!(
            BoostedFormat::sniff(b"{L\x00\x00\x00\x00\x00\x00\x00\x07learner"),
            Some(BoostedFormat::XgboostUbjson)
        );
        assert_eq!(BoostedFormat::sniff(b"\x80\x04pickle"), None);
    }
}
