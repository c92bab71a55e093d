//! ONNX models brought from elsewhere, run by the pure-Rust `tract` engine,
//! or, for tree ensembles, by Warden's own compiled evaluator ([`crate::trees`]).
//!
//! Import ([`prepare`]) reads the protobuf, inlines external tensor data
//! that lies inside the model's own directory (refusing any location that
//! escapes it), and gives back one self-contained `model.onnx`; then
//! [`OnnxPredictor::new`] builds tract's optimised plan for one row of the
//! declared features and runs it once, so an operator tract cannot run is
//! an import-time error, not a serving-time surprise.
//!
//! An ONNX model takes one float tensor `[1, features]` and must have an
//! output of class probabilities `[1, classes]` (scikit-learn models
//! exported by skl2onnx with `zipmap=False`).
//!
//! When that output comes straight from a `TreeEnsembleClassifier` reading
//! the graph input (possibly through a `Cast` to float), the ensemble is
//! compiled ([`TreeEnsemble`]) and predictions go through it, in batches and
//! on several threads: tract walks tree ensembles one row at a time, some
//! hundred times slower than scikit-learn, and refuses some valid ones. Both
//! are built when tract can load the model, and they must agree on probe
//! rows (zeros, and rows at and beside the split thresholds) before the
//! model is accepted, so a semantic slip in either cannot pass silently.

use std::path::{Component, Path};
use std::sync::Arc;

use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::MlError;
use crate::frame::{FeatureColumn, Frame, Matrix};
use crate::predictor::{InputKind, Prediction, Predictor};
use crate::trees::TreeEnsemble;

mod rewrite;
pub use rewrite::REWRITTEN;

/// Largest ONNX model (or external data file) accepted.
pub const MAX_ONNX_BYTES: u64 = 2 << 30;

/// How Warden calls an ONNX model; recorded in the package manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnnxSpec {
    /// The graph input fed with the features (empty when each feature has
    /// its own input: see `columns`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub input: String,
    /// The graph output holding class probabilities.
    pub probabilities: String,
    /// Feature names, in the input tensor's column order.
    pub features: Vec<String>,
    /// Class labels, in the probability output's order.
    pub classes: Vec<String>,
    /// One graph input per feature, in `features` order, for a model that
    /// takes its features that way (then `input` is unused). Empty for a
    /// model taking one float matrix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<OnnxColumn>,
}

/// What an ONNX file declares.
#[derive(Clone, Debug, Serialize)]
pub struct OnnxInfo {
    /// The ONNX IR version the file declares.
    pub ir_version: i64,
    /// The imported operator sets: (domain, version); the domain is empty
    /// for the default `ai.onnx`.
    pub opsets: Vec<(String, i64)>,
    /// The producer's name and version (for example `skl2onnx 1.17.0`);
    /// empty if the file names none.
    pub producer: String,
    /// The graph's input names, in declaration order.
    pub inputs: Vec<String>,
    /// The graph's output names, in declaration order.
    pub outputs: Vec<String>,
    /// Distinct operator types, sorted.
    pub operators: Vec<String>,
    /// Tensors whose external data was inlined.
    pub inlined_external: usize,
    /// The class labels a classifier operator carries, if any.
    pub model_classes: Option<Vec<String>>,
    /// Whether those labels are names (strings), not integers.
    pub model_class_names: bool,
    /// The class labels a `ZipMap` names, if the graph has one (it is
    /// rewritten away: Warden reads the probabilities as a tensor).
    pub zipmap_labels: Option<Vec<String>>,
    /// The graph outputs a `ZipMap` made: now the probability tensors.
    pub zipmap_outputs: Vec<String>,
    /// The graph's inputs (initializers excluded), with their types.
    pub input_types: Vec<OnnxInput>,
    /// ONNX-ML nodes rewritten as standard operators, by operator
    /// ([`rewrite`]).
    pub rewritten: std::collections::BTreeMap<String, usize>,
}

/// The element type of an ONNX input fed one feature per input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Element {
    /// 32-bit floats (`tensor(float)`).
    Float,
    /// 64-bit floats (`tensor(double)`).
    Double,
    /// 64-bit integers (`tensor(int64)`).
    Int64,
    /// UTF-8 strings (`tensor(string)`).
    String,
}

impl Element {
    fn of(elem_type: i32) -> Option<Self> {
        use pb::tensor_proto::DataType;
        match DataType::try_from(elem_type).ok()? {
            DataType::Float => Some(Element::Float),
            DataType::Double => Some(Element::Double),
            DataType::Int64 => Some(Element::Int64),
            DataType::String => Some(Element::String),
            _ => None,
        }
    }
}

/// One graph input as the model declares it.
#[derive(Clone, Debug, Serialize)]
pub struct OnnxInput {
    /// The input's name.
    pub name: String,
    /// Its element type; `None` for a type Warden does not feed.
    pub element: Option<Element>,
    /// The ONNX element type number (`TensorProto.DataType`).
    pub elem_type: i32,
    /// Its dimensions; `None` for a symbolic or unknown one. Empty when
    /// the model declares no shape.
    pub dims: Vec<Option<i64>>,
    /// The categories a `OneHotEncoder` reading this input knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Whether values outside those categories are refused (`zeros = 0`).
    pub strict: bool,
}

impl OnnxInput {
    fn of(i: &pb::ValueInfoProto, rewritten: &rewrite::Rewritten) -> Self {
        let (elem_type, dims) = match i.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => (
                t.elem_type,
                t.shape
                    .as_ref()
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => {
                                    Some(v)
                                }
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            _ => (0, Vec::new()),
        };
        OnnxInput {
            name: i.name.clone(),
            element: Element::of(elem_type),
            elem_type,
            dims,
            categories: rewritten.categories.get(&i.name).cloned(),
            strict: rewritten.strict_categories.contains_key(&i.name),
        }
    }

    /// Whether the input holds one feature per row: shape `[N]` or `[N, 1]`.
    pub fn is_column(&self) -> bool {
        matches!(self.dims.as_slice(), [_] | [_, Some(1)])
    }
}

impl OnnxColumn {
    /// How Warden feeds `input` one feature per row: an error naming the
    /// input if its element type is not one Warden feeds or it is not a
    /// column (`[N]` or `[N, 1]`).
    pub fn for_input(input: &OnnxInput) -> Result<Self, MlError> {
        let Some(element) = input.element else {
            return Err(bad(format!(
                "input {:?} holds ONNX element type {}; Warden feeds float, double, int64 and string inputs",
                input.name, input.elem_type
            )));
        };
        if !input.is_column() {
            return Err(bad(format!(
                "input {:?} has shape {:?}; a model with several inputs takes one column per input ([N, 1] or [N])",
                input.name, input.dims
            )));
        }
        Ok(OnnxColumn {
            input: input.name.clone(),
            element,
            flat: input.dims.len() == 1,
            categories: input.categories.clone(),
            strict: input.strict,
        })
    }
}

/// One feature fed through its own graph input (a model exported with one
/// input per column, as skl2onnx does for a `ColumnTransformer`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnnxColumn {
    /// The graph input.
    pub input: String,
    /// Its element type.
    pub element: Element,
    /// Whether the input is `[N]` (true) rather than `[N, 1]`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flat: bool,
    /// The categories the model's encoder knows for a string input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Whether the encoder refuses any other value (onnxruntime fails on
    /// one); Warden then refuses it before running the model.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

/// ONNX-ML classifier operators that carry class labels.
const CLASSIFIERS: [&str; 3] = [
    "LinearClassifier",
    "TreeEnsembleClassifier",
    "SVMClassifier",
];

/// Rewrites string class labels of ONNX-ML classifiers as their indices
/// (0, 1, …) and the label outputs as int64: tract runs classifiers with
/// integer labels only, and Warden names classes from the declared schema
/// (checked against these labels). Returns the labels found.
fn integer_labels(graph: &mut pb::GraphProto) -> Result<(Option<Vec<String>>, bool), MlError> {
    let mut found: Option<Vec<String>> = None;
    let mut names = false;
    let mut label_outputs = Vec::new();
    for n in graph
        .node
        .iter_mut()
        .filter(|n| CLASSIFIERS.contains(&n.op_type.as_str()))
    {
        // The integer-label attribute's name differs between operators.
        let ints_name = if n.op_type == "TreeEnsembleClassifier" {
            "classlabels_int64s"
        } else {
            "classlabels_ints"
        };
        let mut labels = None;
        for a in n.attribute.iter_mut() {
            if a.name == "classlabels_strings" && !a.strings.is_empty() {
                let l: Vec<String> = a
                    .strings
                    .iter()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .collect();
                a.name = ints_name.into();
                a.ints = (0..l.len() as i64).collect();
                a.strings.clear();
                a.r#type = pb::attribute_proto::AttributeType::Ints as i32;
                labels = Some(l);
                names = true;
                if let Some(first) = n.output.first() {
                    label_outputs.push(first.clone());
                }
            } else if a.name == "classlabels_ints" || a.name == "classlabels_int64s" {
                labels = Some(a.ints.iter().map(|i| i.to_string()).collect());
            }
        }
        if let Some(l) = labels {
            if found.as_ref().is_some_and(|f| *f != l) {
                return Err(bad("the model's classifiers disagree on the class labels"));
            }
            found = Some(l);
        }
    }
    for o in graph
        .output
        .iter_mut()
        .filter(|o| label_outputs.contains(&o.name))
    {
        if let Some(pb::type_proto::Value::TensorType(t)) =
            o.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.elem_type = pb::tensor_proto::DataType::Int64 as i32;
        }
    }
    Ok((found, names))
}

fn bad(m: impl Into<String>) -> MlError {
    MlError::Input(m.into())
}

/// Checks an external-data location: relative, no `..`, resolving (through
/// any links) inside `dir`.
fn external_path(dir: &Path, location: &str) -> Result<std::path::PathBuf, MlError> {
    let p = Path::new(location);
    if location.is_empty()
        || p.components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(bad(format!(
            "external data location {location:?} escapes the model directory (it must be a relative path inside it)"
        )));
    }
    let dir = dir
        .canonicalize()
        .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
    let full = dir
        .join(p)
        .canonicalize()
        .map_err(|e| bad(format!("external data {location:?}: {e}")))?;
    if !full.starts_with(&dir) {
        return Err(bad(format!(
            "external data location {location:?} resolves outside the model directory"
        )));
    }
    Ok(full)
}

fn inline_external(t: &mut pb::TensorProto, dir: Option<&Path>) -> Result<bool, MlError> {
    if t.data_location != Some(pb::tensor_proto::DataLocation::External as i32) {
        return Ok(false);
    }
    let get = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.clone())
    };
    let location = get("location").ok_or_else(|| {
        bad(format!(
            "tensor {}: external data without a location",
            t.name
        ))
    })?;
    let Some(dir) = dir else {
        return Err(bad(format!(
            "tensor {}: external data {location:?} but no model directory",
            t.name
        )));
    };
    let path = external_path(dir, &location)?;
    let num = |k: &str| -> Result<Option<u64>, MlError> {
        get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("tensor {}: external {k} {v:?}", t.name)))
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    let size = std::fs::metadata(&path)
        .map_err(|e| bad(format!("{}: {e}", path.display())))?
        .len();
    let length = num("length")?.unwrap_or(size.saturating_sub(offset));
    if length > MAX_ONNX_BYTES || offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(bad(format!(
            "tensor {}: external data {location:?} range {offset}+{length} is outside the {size}-byte file",
            t.name
        )));
    }
    use std::io::{Read, Seek};
    let mut f = std::fs::File::open(&path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    f.seek(std::io::SeekFrom::Start(offset))
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let mut data = Vec::with_capacity(length as usize);
    f.take(length)
        .read_to_end(&mut data)
        .map_err(|e| bad(format!("{}: {e}", path.display())))?;
    t.raw_data = data;
    t.external_data.clear();
    t.data_location = Some(pb::tensor_proto::DataLocation::Default as i32);
    Ok(true)
}

/// Parses ONNX bytes, inlines external data found under `dir`, and returns
/// the self-contained model bytes with what the model declares.
pub fn prepare(bytes: &[u8], dir: Option<&Path>) -> Result<(Vec<u8>, OnnxInfo), MlError> {
    let mut proto =
        pb::ModelProto::decode(bytes).map_err(|e| bad(format!("not an ONNX model: {e}")))?;
    let Some(graph) = proto.graph.as_mut() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    if graph.node.is_empty() {
        return Err(bad("not an ONNX model: its graph has no nodes"));
    }
    let mut inlined = 0;
    for t in graph.initializer.iter_mut() {
        inlined += usize::from(inline_external(t, dir)?);
    }
    for n in graph.node.iter_mut() {
        for a in n.attribute.iter_mut() {
            if let Some(t) = a.t.as_mut() {
                inlined += usize::from(inline_external(t, dir)?);
            }
        }
    }
    let (model_classes, model_class_names) = integer_labels(graph)?;
    let mut operators: Vec<String> = graph.node.iter().map(|n| n.op_type.clone()).collect();
    operators.sort();
    operators.dedup();
    let rewritten = rewrite::rewrite(&mut proto)?;
    let Some(graph) = proto.graph.as_ref() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    // An operator neither tract nor the rewrites run, named in Warden's
    // words before tract says it its own way.
    let known = tract_onnx::onnx().op_register;
    if let Some(n) = graph
        .node
        .iter()
        .find(|n| !n.op_type.is_empty() && !known.0.contains_key(n.op_type.as_str()))
    {
        let domain = if n.domain.is_empty() {
            "ai.onnx"
        } else {
            n.domain.as_str()
        };
        return Err(bad(format!(
            "node {:?}: operator {}.{} is not supported (Warden runs the standard ONNX operators tract implements and, of ONNX-ML, LinearClassifier, LinearRegressor, TreeEnsembleClassifier, CategoryMapper and Normalizer, and rewrites {})",
            n.name,
            domain,
            n.op_type,
            REWRITTEN.join(", ")
        )));
    }
    let initialized: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let input_types = graph
        .input
        .iter()
        .filter(|i| !initialized.contains(i.name.as_str()))
        .map(|i| OnnxInput::of(i, &rewritten))
        .collect();
    let info = OnnxInfo {
        ir_version: proto.ir_version,
        opsets: proto
            .opset_import
            .iter()
            .map(|o| (o.domain.clone(), o.version))
            .collect(),
        producer: format!("{} {}", proto.producer_name, proto.producer_version)
            .trim()
            .to_string(),
        inputs: graph.input.iter().map(|i| i.name.clone()).collect(),
        outputs: graph.output.iter().map(|o| o.name.clone()).collect(),
        operators,
        inlined_external: inlined,
        model_classes,
        model_class_names,
        zipmap_labels: rewritten.zipmap_labels.clone(),
        zipmap_outputs: rewritten.zipmap_outputs.clone(),
        input_types,
        rewritten: rewritten.count,
    };
    Ok((proto.encode_to_vec(), info))
}

/// Structural checks tract assumes: every graph output and node input is
/// produced by a graph input, an initializer or a node.
fn check_graph(proto: &pb::ModelProto) -> Result<(), MlError> {
    let Some(graph) = proto.graph.as_ref() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    // Empty names mean "absent" in ONNX: they define nothing.
    let mut defined: std::collections::HashSet<&str> = graph
        .input
        .iter()
        .map(|i| i.name.as_str())
        .chain(graph.initializer.iter().map(|t| t.name.as_str()))
        .filter(|n| !n.is_empty())
        .collect();
    for n in &graph.node {
        if n.op_type.is_empty() {
            return Err(bad(format!("node {:?} has no operator type", n.name)));
        }
        for i in &n.input {
            if !i.is_empty() && !defined.contains(i.as_str()) {
                return Err(bad(format!(
                    "node {:?} reads {i:?}, which nothing before it produces (malformed or unsorted graph)",
                    n.name
                )));
            }
        }
        defined.extend(
            n.output
                .iter()
                .map(String::as_str)
                .filter(|o| !o.is_empty()),
        );
    }
    if graph.output.is_empty() {
        return Err(bad("the graph has no outputs"));
    }
    for o in &graph.output {
        if o.name.is_empty() || !defined.contains(o.name.as_str()) {
            return Err(bad(format!(
                "graph output {:?} is produced by no node",
                o.name
            )));
        }
    }
    Ok(())
}

/// Checks the declared feature count against what the model says about its
/// input: a fixed input width, the coefficients of a linear classifier, the
/// feature indices of a tree ensemble. (tract accepts some mismatches
/// silently, which would give wrong answers.)
fn check_width(proto: &pb::ModelProto, spec: &OnnxSpec) -> Result<(), MlError> {
    let n = spec.features.len();
    let Some(graph) = proto.graph.as_ref() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    let mismatch = |what: String| {
        bad(format!(
            "{what}, but the schema declares {n} feature{}",
            if n == 1 { "" } else { "s" }
        ))
    };
    if let Some(input) = graph.input.iter().find(|i| i.name == spec.input)
        && let Some(pb::type_proto::Value::TensorType(t)) =
            input.r#type.as_ref().and_then(|t| t.value.as_ref())
        && let Some(shape) = &t.shape
    {
        let dims: Vec<Option<i64>> = shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect();
        match dims.as_slice() {
            [_, Some(w)] if *w != n as i64 => {
                return Err(mismatch(format!("input {:?} has {w} columns", spec.input)));
            }
            [_, _] => {}
            other => {
                return Err(bad(format!(
                    "input {:?} has shape {other:?}; Warden feeds a matrix [rows, features]",
                    spec.input
                )));
            }
        }
    }
    for node in &graph.node {
        let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
        match node.op_type.as_str() {
            "LinearClassifier" => {
                let coefficients = attr("coefficients").map_or(0, |a| a.floats.len());
                let intercepts = attr("intercepts").map_or(0, |a| a.floats.len()).max(1);
                if coefficients != intercepts * n {
                    return Err(mismatch(format!(
                        "LinearClassifier {:?} has {coefficients} coefficients for {intercepts} outputs",
                        node.name
                    )));
                }
            }
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" => {
                if let Some(max) = attr("nodes_featureids").and_then(|a| a.ints.iter().max())
                    && *max >= n as i64
                {
                    return Err(mismatch(format!(
                        "{} {:?} reads feature index {max}",
                        node.op_type, node.name
                    )));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Largest difference allowed between the compiled ensemble and tract on
/// the probe rows.
const PROBE_TOLERANCE: f64 = 1e-5;

/// The `TreeEnsembleClassifier` node producing `spec.probabilities`
/// (directly or through `Identity` nodes, as skl2onnx writes gradient
/// boosting) from the graph input (or from a `Cast` of it to float).
fn tree_node<'a>(graph: &'a pb::GraphProto, spec: &OnnxSpec) -> Option<&'a pb::NodeProto> {
    let (node, x) = tree_producer(graph, spec)?;
    if *x == spec.input {
        return Some(node);
    }
    let cast = graph
        .node
        .iter()
        .find(|n| n.output.iter().any(|o| o == x))?;
    let to_float = cast
        .attribute
        .iter()
        .any(|a| a.name == "to" && a.i == pb::tensor_proto::DataType::Float as i64);
    (cast.op_type == "Cast" && to_float && cast.input.first() == Some(&spec.input)).then_some(node)
}

/// The `TreeEnsembleClassifier` node producing `spec.probabilities`
/// (directly or through `Identity` nodes), and the tensor it reads.
fn tree_producer<'a>(
    graph: &'a pb::GraphProto,
    spec: &OnnxSpec,
) -> Option<(&'a pb::NodeProto, &'a String)> {
    let producer = |name: &str| {
        graph
            .node
            .iter()
            .find(|n| n.output.iter().any(|o| o == name))
    };
    let mut name = spec.probabilities.as_str();
    let mut node = producer(name)?;
    for _ in 0..graph.node.len() {
        if node.op_type != "Identity" {
            break;
        }
        name = node.input.first()?;
        node = producer(name)?;
    }
    if node.op_type != "TreeEnsembleClassifier" || node.output.get(1).is_none_or(|o| o != name) {
        return None;
    }
    Some((node, node.input.first()?))
}

/// Rows to compare the compiled ensemble with tract on: zeros, then each
/// feature at its split thresholds, one f32 step above and below them.
fn probe_rows(t: &TreeEnsemble) -> Vec<f32> {
    let thresholds = t.thresholds();
    let f = t.features();
    let mut rows = vec![0f32; f];
    for r in 0..24usize {
        for (j, th) in thresholds.iter().enumerate() {
            let x = if th.is_empty() {
                0.0
            } else {
                th[(r * 7 + j * 3) % th.len()] as f32
            };
            rows.push(match r % 3 {
                0 => x,
                1 => x.next_up(),
                _ => x.next_down(),
            });
        }
    }
    rows
}

/// An ONNX model ready to predict.
pub struct OnnxPredictor {
    /// tract's plan, when tract can load the model.
    plan: Option<Arc<TypedRunnableModel>>,
    /// The compiled tree ensemble, when the probabilities come from one.
    trees: Option<TreeEnsemble>,
    /// tract's plan for [`BATCH`] rows at once, when the graph treats rows
    /// independently (checked against the one-row plan at load).
    batch: Option<Arc<TypedRunnableModel>>,
    /// For a model with one input per column whose probabilities come from
    /// a tree ensemble: tract's plans (one row, and [`BATCH`] rows when
    /// the graph allows) from the inputs to the ensemble's input, which
    /// the compiled ensemble then reads.
    front: Option<Front>,
    spec: OnnxSpec,
}

/// The preprocessing part of a graph, up to a compiled tree ensemble.
struct Front {
    one: Arc<TypedRunnableModel>,
    batch: Option<Arc<TypedRunnableModel>>,
    /// The ensemble's input width.
    width: usize,
}

/// Rows per run of the batch plan.
const BATCH: usize = 256;

/// Probe rows on which the whole graph (in tract) and the front with the
/// compiled ensemble must agree.
const FRONT_PROBES: usize = 32;

impl std::fmt::Debug for OnnxPredictor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnnxPredictor")
            .field("spec", &self.spec)
            .finish()
    }
}

impl OnnxPredictor {
    /// Builds the plan for self-contained ONNX bytes (see [`prepare`]) and
    /// runs it once on a row of zeros to check it produces probabilities
    /// for every class.
    pub fn new(bytes: &[u8], spec: OnnxSpec) -> Result<Self, MlError> {
        if spec.features.is_empty() || spec.classes.len() < 2 {
            return Err(bad(
                "an ONNX classifier needs at least one feature and two classes",
            ));
        }
        let proto =
            pb::ModelProto::decode(bytes).map_err(|e| bad(format!("not an ONNX model: {e}")))?;
        check_graph(&proto)?;
        if spec.columns.is_empty() {
            check_width(&proto, &spec)?;
        } else if spec.columns.len() != spec.features.len() {
            return Err(bad(format!(
                "{} features but {} inputs to feed them",
                spec.features.len(),
                spec.columns.len()
            )));
        }
        let graph = proto
            .graph
            .as_ref()
            .ok_or_else(|| bad("not an ONNX model: it has no graph"))?;
        if !spec.columns.is_empty()
            && let Some((node, x)) = tree_producer(graph, &spec)
        {
            return Self::with_front(&proto, node, x, spec);
        }
        let node = tree_node(graph, &spec);
        let trees = node
            .map(|n| TreeEnsemble::from_node(n, spec.features.len()))
            .transpose()?;
        // tract panics on some malformed graphs (found by fuzzing): a panic
        // while building the plan is an error about this model, not a crash.
        let tract =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Self::build(&proto, &spec)))
                .unwrap_or_else(|_| {
                    Err(bad(
                        "tract cannot load this model: it failed on the graph (malformed ONNX)",
                    ))
                });
        let Some(trees) = trees else {
            let plan = tract?;
            let batch = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                Self::batch_plan(&proto, &spec, &plan)
            }))
            .unwrap_or(None);
            return Ok(OnnxPredictor {
                plan: Some(plan),
                trees: None,
                batch,
                front: None,
                spec,
            });
        };
        let inputs: Vec<&str> = graph
            .input
            .iter()
            .map(|i| i.name.as_str())
            .filter(|n| !graph.initializer.iter().any(|t| t.name == *n))
            .collect();
        if inputs != [spec.input.as_str()] {
            return Err(bad(
                "the model must have exactly one input (a float tensor of features)",
            ));
        }
        if trees.classes() != spec.classes.len() {
            return Err(bad(format!(
                "output {:?} has {} values per row; the schema declares {} classes",
                spec.probabilities,
                trees.classes(),
                spec.classes.len()
            )));
        }
        // tract reads BRANCH_GTE nodes as leaves (its comparison table stops
        // at BRANCH_LEQ), so its answers cannot check such an ensemble.
        let tract_reads_modes = node.is_some_and(|n| {
            !n.attribute
                .iter()
                .any(|a| a.name == "nodes_modes" && a.strings.iter().any(|m| m == b"BRANCH_GTE"))
        });
        let plan = match tract {
            Ok(plan) if tract_reads_modes => {
                let probes = probe_rows(&trees);
                let ours = trees.predict(&probes, 1)?;
                let k = trees.classes();
                for (r, row) in probes.chunks_exact(spec.features.len()).enumerate() {
                    // tract failing on a probe row says nothing about the
                    // compiled ensemble: it then stands alone.
                    let Ok(theirs) =
                        run_plan(&plan, &spec, Batch::Matrix(row).tensors(&spec, 0, 1)?, 1)
                    else {
                        return Ok(OnnxPredictor {
                            plan: None,
                            trees: Some(trees),
                            batch: None,
                            front: None,
                            spec,
                        });
                    };
                    let mine = &ours[r * k..(r + 1) * k];
                    if let Some(c) = (0..k).find(|&c| {
                        let (a, b) = (mine[c], theirs[c]);
                        !((a - b).abs() <= PROBE_TOLERANCE || a == b)
                    }) {
                        return Err(bad(format!(
                            "the compiled tree ensemble and tract disagree on probe row {row:?}: class {} gets {} and {}; refusing a model whose meaning is unclear",
                            spec.classes[c], mine[c], theirs[c]
                        )));
                    }
                }
                Some(plan)
            }
            Ok(plan) => Some(plan),
            // tract cannot run every valid ensemble (a two-class model's
            // single base value, for one); the compiled one stands alone.
            Err(_) => None,
        };
        Ok(OnnxPredictor {
            plan,
            trees: Some(trees),
            batch: None,
            front: None,
            spec,
        })
    }

    /// A model with one input per column whose probabilities come from a
    /// tree ensemble reading tensor `x`: tract runs the graph up to `x`,
    /// the compiled ensemble the rest. When tract can run the whole graph
    /// too, both must agree on a varied probe batch, or the model is
    /// refused.
    fn with_front(
        proto: &pb::ModelProto,
        node: &pb::NodeProto,
        x: &str,
        spec: OnnxSpec,
    ) -> Result<Self, MlError> {
        let guarded = |f: &dyn Fn() -> Result<Arc<TypedRunnableModel>, MlError>| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
                Err(bad(
                    "tract cannot load this model: it failed on the graph (malformed ONNX)",
                ))
            })
        };
        let one = guarded(&|| Self::plan_to(proto, &spec, 1, x))?;
        let probe = probe_batch(&spec, BATCH);
        let (_, width) = run_front(&one, probe.tensors(&spec, 0, 1)?, 1)?;
        let batch = guarded(&|| Self::plan_to(proto, &spec, BATCH, x))
            .ok()
            .filter(|b| {
                let Ok((together, _)) = probe
                    .tensors(&spec, 0, BATCH)
                    .and_then(|t| run_front(b, t, BATCH))
                else {
                    return false;
                };
                (0..BATCH).all(|r| {
                    probe.tensors(&spec, r, r + 1).is_ok_and(|t| {
                        run_front(&one, t, 1)
                            .is_ok_and(|(alone, _)| alone == together[r * width..(r + 1) * width])
                    })
                })
            });
        let trees = TreeEnsemble::from_node(node, width)?;
        if trees.classes() != spec.classes.len() {
            return Err(bad(format!(
                "output {:?} has {} values per row; the schema declares {} classes",
                spec.probabilities,
                trees.classes(),
                spec.classes.len()
            )));
        }
        let front = Front { one, batch, width };
        let mut p = OnnxPredictor {
            plan: None,
            trees: Some(trees),
            batch: None,
            front: Some(front),
            spec,
        };
        // The whole graph through tract, when it can, against the front
        // and the compiled ensemble.
        let reads_modes = !node
            .attribute
            .iter()
            .any(|a| a.name == "nodes_modes" && a.strings.iter().any(|m| m == b"BRANCH_GTE"));
        if let Ok(whole) = guarded(&|| Self::build(proto, &p.spec))
            && reads_modes
        {
            // tract walks every tree of every row: a few dozen varied rows
            // check the meaning without making each load slow.
            let ours = p.run_batch(&Batch::Columns(probe.columns()), BATCH)?;
            let k = p.spec.classes.len();
            for r in 0..FRONT_PROBES {
                let theirs = run_plan(&whole, &p.spec, probe.tensors(&p.spec, r, r + 1)?, 1)?;
                let mine = &ours[r * k..(r + 1) * k];
                if let Some(c) = (0..k).find(|&c| {
                    let (a, b) = (mine[c], theirs[c]);
                    !((a - b).abs() <= PROBE_TOLERANCE || a == b)
                }) {
                    return Err(bad(format!(
                        "the compiled tree ensemble and tract disagree on probe row {}: class {} gets {} and {}; refusing a model whose meaning is unclear",
                        r + 1,
                        p.spec.classes[c],
                        mine[c],
                        theirs[c]
                    )));
                }
            }
            p.plan = Some(whole);
        }
        Ok(p)
    }

    /// Which engine predicts: `"compiled-trees"`, `"tract-batched"` (tract
    /// on `BATCH` (256) rows a run) or `"tract"` (one row a run).
    pub fn engine(&self) -> &'static str {
        if self.trees.is_some() {
            "compiled-trees"
        } else if self.batch.is_some() {
            "tract-batched"
        } else {
            "tract"
        }
    }

    fn build(proto: &pb::ModelProto, spec: &OnnxSpec) -> Result<Arc<TypedRunnableModel>, MlError> {
        let plan = Self::plan_for(proto, spec, 1)?;
        let probe = probe_batch(spec, 1);
        let probe = run_plan(&plan, spec, probe.tensors(spec, 0, 1)?, 1)?;
        if probe.len() != spec.classes.len() {
            return Err(bad(format!(
                "output {:?} has {} values per row; the schema declares {} classes",
                spec.probabilities,
                probe.len(),
                spec.classes.len()
            )));
        }
        Ok(plan)
    }

    /// A plan for [`BATCH`] rows, kept only if it gives every row of a
    /// varied probe batch what the one-row plan gives it: a graph that
    /// mixes rows, or fixes its batch size, keeps the one-row plan alone.
    fn batch_plan(
        proto: &pb::ModelProto,
        spec: &OnnxSpec,
        single: &Arc<TypedRunnableModel>,
    ) -> Option<Arc<TypedRunnableModel>> {
        let plan = Self::plan_for(proto, spec, BATCH).ok()?;
        let probe = probe_batch(spec, BATCH);
        let together = run_plan(&plan, spec, probe.tensors(spec, 0, BATCH).ok()?, BATCH).ok()?;
        let k = spec.classes.len();
        if together.len() != BATCH * k {
            return None;
        }
        for r in 0..BATCH {
            let alone = run_plan(single, spec, probe.tensors(spec, r, r + 1).ok()?, 1).ok()?;
            let same = alone
                .iter()
                .zip(&together[r * k..(r + 1) * k])
                .all(|(a, b)| (a - b).abs() <= 1e-6);
            if !same {
                return None;
            }
        }
        Some(plan)
    }

    fn plan_for(
        proto: &pb::ModelProto,
        spec: &OnnxSpec,
        rows: usize,
    ) -> Result<Arc<TypedRunnableModel>, MlError> {
        Self::plan_to(proto, spec, rows, &spec.probabilities)
    }

    /// A plan for `rows` rows computing the graph's tensor `output`.
    fn plan_to(
        proto: &pb::ModelProto,
        spec: &OnnxSpec,
        rows: usize,
        output: &str,
    ) -> Result<Arc<TypedRunnableModel>, MlError> {
        let tract = |what: &str, e: TractError| bad(format!("{what}: {e:#}"));
        let mut model = tract_onnx::onnx()
            .model_for_proto_model(proto)
            .map_err(|e| tract("tract cannot load this model", e))?;
        let names: Vec<String> = model
            .input_outlets()
            .map_err(|e| tract("inputs", e))?
            .iter()
            .map(|o| model.node(o.node).name.clone())
            .collect();
        if spec.columns.is_empty() {
            if !names.contains(&spec.input) {
                return Err(bad(format!(
                    "the model has no input named {:?}",
                    spec.input
                )));
            }
            if names.len() != 1 {
                return Err(bad(
                    "the model must have exactly one input (a float tensor of features)",
                ));
            }
            let fact = InferenceFact::dt_shape(f32::datum_type(), tvec!(rows, spec.features.len()));
            model = model
                .with_input_fact(0, fact)
                .map_err(|e| tract("inputs", e))?;
        } else {
            // tract feeds inputs in its own order; runs pass them in
            // `spec.columns` order, so that must be the model's.
            let order: Vec<&str> = spec.columns.iter().map(|c| c.input.as_str()).collect();
            if names != order {
                return Err(bad(format!(
                    "the model's inputs are {names:?}; the features must feed each of them, in that order"
                )));
            }
            for (i, c) in spec.columns.iter().enumerate() {
                let dt = match c.element {
                    Element::Float => f32::datum_type(),
                    Element::Double => f64::datum_type(),
                    Element::Int64 => i64::datum_type(),
                    Element::String => String::datum_type(),
                };
                let shape = if c.flat { tvec!(rows) } else { tvec!(rows, 1) };
                model = model
                    .with_input_fact(i, InferenceFact::dt_shape(dt, shape))
                    .map_err(|e| tract(&format!("input {:?}", c.input), e))?;
            }
        }
        model
            .select_outputs_by_name([output])
            .map_err(|e| tract(&format!("the model has no output named {output:?}"), e))?;
        model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| tract("tract cannot run this model", e))
    }

    /// How the model is called: its input, output, features and classes.
    pub fn spec(&self) -> &OnnxSpec {
        &self.spec
    }

    /// Probabilities for rows of f32 features (row-major).
    fn run_rows(&self, x: &[f32], threads: usize) -> Result<Vec<f64>, MlError> {
        if let Some(t) = &self.trees {
            return t.predict(x, threads);
        }
        let rows = x.len() / self.spec.features.len().max(1);
        self.run_batch(&Batch::Matrix(x), rows)
    }

    /// Probabilities for `rows` rows through tract: full batches through
    /// the batch plan, the rest row by row. (Through the front and the
    /// compiled ensemble when the model has them.)
    fn run_batch(&self, batch: &Batch, rows: usize) -> Result<Vec<f64>, MlError> {
        if let (Some(front), Some(trees)) = (&self.front, &self.trees) {
            let mut x = Vec::with_capacity(rows * front.width);
            let mut done = 0;
            if let Some(b) = &front.batch {
                while done + BATCH <= rows {
                    x.extend(
                        run_front(b, batch.tensors(&self.spec, done, done + BATCH)?, BATCH)?.0,
                    );
                    done += BATCH;
                }
            }
            for r in done..rows {
                x.extend(run_front(&front.one, batch.tensors(&self.spec, r, r + 1)?, 1)?.0);
            }
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            return trees.predict(&x, if rows >= 1024 { threads } else { 1 });
        }
        let Some(plan) = &self.plan else {
            return Err(bad("the ONNX model has no engine"));
        };
        let k = self.spec.classes.len();
        let mut out = Vec::with_capacity(rows * k);
        let mut done = 0;
        if let Some(b) = &self.batch {
            while done + BATCH <= rows {
                out.extend(run_plan(
                    b,
                    &self.spec,
                    batch.tensors(&self.spec, done, done + BATCH)?,
                    BATCH,
                )?);
                done += BATCH;
            }
        }
        for r in done..rows {
            out.extend(run_plan(
                plan,
                &self.spec,
                batch.tensors(&self.spec, r, r + 1)?,
                1,
            )?);
        }
        Ok(out)
    }

    /// Probabilities for a model fed one input per feature, with every
    /// value checked against what its input takes first.
    fn run_columns(&self, columns: &[ColumnValues], rows: usize) -> Result<Vec<f64>, MlError> {
        let out = self.run_batch(&Batch::Columns(columns), rows)?;
        let k = self.spec.classes.len();
        if let Some(r) = out
            .chunks_exact(k)
            .position(|p| p.iter().any(|v| !v.is_finite()))
        {
            return Err(bad(format!(
                "row {}: the model's probabilities are not numbers (a missing value the model does not impute?)",
                r + 1
            )));
        }
        Ok(out)
    }

    /// The per-column values of `rows` records or frame rows, checked.
    /// `coded(j)`, when it gives them, are feature `j`'s category codes
    /// and levels (a frame's categorical column), taken as they are.
    fn column_values<'c>(
        &self,
        rows: usize,
        row_name: fn(usize) -> String,
        value: &dyn Fn(usize, usize) -> Result<Cell, MlError>,
        coded: &dyn Fn(usize) -> Option<(&'c [u32], &'c [String])>,
    ) -> Result<Vec<ColumnValues>, MlError> {
        self.spec
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let feature = &self.spec.features[j];
                let at = |r: usize, what: String| bad(format!("{}: feature {feature}: {what}", row_name(r)));
                Ok(match c.element {
                    Element::Float | Element::Double => {
                        let mut v = Vec::with_capacity(rows);
                        for r in 0..rows {
                            v.push(match value(r, j)? {
                                Cell::Number(x) => x,
                                Cell::Missing => f64::NAN,
                                Cell::Text(t) => {
                                    return Err(at(r, format!("expected a number, got {t:?}")));
                                }
                            });
                        }
                        if c.element == Element::Float {
                            ColumnValues::Float(v.into_iter().map(|x| x as f32).collect())
                        } else {
                            ColumnValues::Double(v)
                        }
                    }
                    Element::Int64 => {
                        let mut v = Vec::with_capacity(rows);
                        for r in 0..rows {
                            v.push(match value(r, j)? {
                                Cell::Number(x) if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 => x as i64,
                                Cell::Number(x) => {
                                    return Err(at(r, format!("the model takes integers, got {x}")));
                                }
                                Cell::Missing => {
                                    return Err(at(r, "missing; the model takes an integer".into()));
                                }
                                Cell::Text(t) => {
                                    return Err(at(r, format!("expected an integer, got {t:?}")));
                                }
                            });
                        }
                        ColumnValues::Int64(v)
                    }
                    Element::String if let Some((codes, levels)) = coded(j) => {
                        // Whether each level may be sent to the model.
                        let allowed: Vec<bool> = levels
                            .iter()
                            .map(|l| !c.strict || c.categories.as_ref().is_none_or(|k| k.contains(l)))
                            .collect();
                        if codes.len() < rows {
                            return Err(bad(format!("feature {feature}: fewer values than rows")));
                        }
                        for (r, &code) in codes.iter().enumerate().take(rows) {
                            match allowed.get(code as usize) {
                                Some(true) => {}
                                Some(false) => {
                                    return Err(at(
                                        r,
                                        format!(
                                            "{:?} is not a category the model knows (it refuses unknown ones)",
                                            levels[code as usize]
                                        ),
                                    ));
                                }
                                None if code == crate::frame::MISSING => {
                                    return Err(at(r, "missing; the model takes a string".into()));
                                }
                                None => return Err(at(r, format!("code {code} has no level"))),
                            }
                        }
                        ColumnValues::Codes(codes[..rows].to_vec(), levels.to_vec())
                    }
                    Element::String => {
                        let mut v = Vec::with_capacity(rows);
                        for r in 0..rows {
                            let t = match value(r, j)? {
                                Cell::Text(t) => t,
                                Cell::Missing => {
                                    return Err(at(r, "missing; the model takes a string".into()));
                                }
                                Cell::Number(x) => {
                                    return Err(at(r, format!("expected a string, got the number {x}")));
                                }
                            };
                            if c.strict
                                && let Some(known) = &c.categories
                                && !known.contains(&t)
                            {
                                return Err(at(
                                    r,
                                    format!("{t:?} is not a category the model knows (it refuses unknown ones)"),
                                ));
                            }
                            v.push(t);
                        }
                        ColumnValues::Text(v)
                    }
                })
            })
            .collect()
    }
}

/// One value of a record or frame row, before it is typed for its input.
enum Cell {
    Number(f64),
    Text(String),
    Missing,
}

/// One input's values, for every row of a batch.
enum ColumnValues {
    Float(Vec<f32>),
    Double(Vec<f64>),
    Int64(Vec<i64>),
    Text(Vec<String>),
    /// Category codes into levels (every code checked to have one).
    Codes(Vec<u32>, Vec<String>),
}

/// Rows to feed the model: one float matrix (row-major), or one array per
/// input.
enum Batch<'a> {
    Matrix(&'a [f32]),
    Columns(&'a [ColumnValues]),
}

impl Batch<'_> {
    /// The tensors of rows `start..end`, one per model input.
    fn tensors(&self, spec: &OnnxSpec, start: usize, end: usize) -> Result<TVec<TValue>, MlError> {
        let n = end - start;
        match self {
            Batch::Matrix(x) => {
                let f = spec.features.len().max(1);
                let t =
                    tract_ndarray::Array2::from_shape_vec((n, f), x[start * f..end * f].to_vec())
                        .map_err(|e| bad(e.to_string()))?;
                Ok(tvec!(Tensor::from(t).into()))
            }
            Batch::Columns(cols) => cols
                .iter()
                .zip(&spec.columns)
                .map(|(v, c)| {
                    fn shaped<T: Datum>(v: Vec<T>, flat: bool) -> Result<TValue, MlError> {
                        let n = v.len();
                        let a = if flat {
                            tract_ndarray::ArrayD::from_shape_vec(vec![n], v)
                        } else {
                            tract_ndarray::ArrayD::from_shape_vec(vec![n, 1], v)
                        };
                        Ok(Tensor::from(a.map_err(|e| bad(e.to_string()))?).into())
                    }
                    match v {
                        ColumnValues::Float(v) => shaped(v[start..end].to_vec(), c.flat),
                        ColumnValues::Double(v) => shaped(v[start..end].to_vec(), c.flat),
                        ColumnValues::Int64(v) => shaped(v[start..end].to_vec(), c.flat),
                        ColumnValues::Text(v) => shaped(v[start..end].to_vec(), c.flat),
                        ColumnValues::Codes(codes, levels) => shaped(
                            codes[start..end]
                                .iter()
                                .map(|&k| levels.get(k as usize).cloned().unwrap_or_default())
                                .collect(),
                            c.flat,
                        ),
                    }
                })
                .collect(),
        }
    }
}

/// Varied rows to probe a plan with: numbers around zero, and each string
/// input's categories in turn (or a few made-up strings).
fn probe_batch(spec: &OnnxSpec, rows: usize) -> OwnedBatch {
    let f = spec.features.len().max(1);
    let number = |r: usize, j: usize| ((r * 7 + j * 3) % 17) as f64 * 0.25 - 2.0;
    if spec.columns.is_empty() {
        return OwnedBatch::Matrix(
            (0..rows * f)
                .map(|i| {
                    if rows == 1 {
                        0.0
                    } else {
                        number(i / f, i % f) as f32
                    }
                })
                .collect(),
        );
    }
    OwnedBatch::Columns(
        spec.columns
            .iter()
            .enumerate()
            .map(|(j, c)| match c.element {
                Element::Float => {
                    ColumnValues::Float((0..rows).map(|r| number(r, j) as f32).collect())
                }
                Element::Double => ColumnValues::Double((0..rows).map(|r| number(r, j)).collect()),
                Element::Int64 => {
                    ColumnValues::Int64((0..rows).map(|r| ((r * 7 + j * 3) % 5) as i64).collect())
                }
                Element::String => ColumnValues::Text(
                    (0..rows)
                        .map(|r| match &c.categories {
                            Some(k) if !k.is_empty() => k[(r * 7 + j) % k.len()].clone(),
                            _ => format!("probe-{}", r % 5),
                        })
                        .collect(),
                ),
            })
            .collect(),
    )
}

/// A [`Batch`] that owns its values.
enum OwnedBatch {
    Matrix(Vec<f32>),
    Columns(Vec<ColumnValues>),
}

impl OwnedBatch {
    fn columns(&self) -> &[ColumnValues] {
        match self {
            OwnedBatch::Columns(c) => c,
            OwnedBatch::Matrix(_) => &[],
        }
    }

    fn tensors(&self, spec: &OnnxSpec, start: usize, end: usize) -> Result<TVec<TValue>, MlError> {
        match self {
            OwnedBatch::Matrix(x) => Batch::Matrix(x).tensors(spec, start, end),
            OwnedBatch::Columns(c) => Batch::Columns(c).tensors(spec, start, end),
        }
    }
}

/// Runs a front plan on `rows` rows: the ensemble's input, row-major, and
/// its width.
fn run_front(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    rows: usize,
) -> Result<(Vec<f32>, usize), MlError> {
    let v = run_f32(plan, inputs, || "the tree ensemble's input".into())?;
    if rows == 0 || v.len() % rows != 0 || v.is_empty() {
        return Err(bad(format!(
            "the tree ensemble's input has {} values for {rows} rows",
            v.len()
        )));
    }
    let width = v.len() / rows;
    Ok((v, width))
}

/// Runs a plan (a panic in tract is an error about this input) and gives
/// its first output as float32 values; `what` names that output (built
/// only for an error: this runs once per row on the one-row plan).
fn run_f32(
    plan: &Arc<TypedRunnableModel>,
    inputs: TVec<TValue>,
    what: impl Fn() -> String,
) -> Result<Vec<f32>, MlError> {
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plan.run(inputs)))
        .map_err(|_| bad("running the ONNX model: tract failed on this input"))?
        .map_err(|e| bad(format!("running the ONNX model: {e:#}")))?;
    let t = out
        .first()
        .ok_or_else(|| bad(format!("the ONNX model returned no {}", what())))?
        .cast_to::<f32>()
        .map_err(|e| bad(format!("{}: {e:#}", what())))?;
    let v = t
        .to_plain_array_view::<f32>()
        .map_err(|e| bad(format!("{}: {e:#}", what())))?;
    Ok(v.iter().copied().collect())
}

fn run_plan(
    plan: &Arc<TypedRunnableModel>,
    spec: &OnnxSpec,
    inputs: TVec<TValue>,
    rows: usize,
) -> Result<Vec<f64>, MlError> {
    let v = run_f32(plan, inputs, || format!("output {:?}", spec.probabilities))?;
    if v.len() != rows * spec.classes.len() {
        let per_row = if v.len() % rows.max(1) == 0 {
            format!("{} values per row", v.len() / rows.max(1))
        } else {
            format!("{} values for {rows} rows", v.len())
        };
        return Err(bad(format!(
            "output {:?} has {per_row}; the schema declares {} classes",
            spec.probabilities,
            spec.classes.len()
        )));
    }
    Ok(v.iter().map(|&p| f64::from(p)).collect())
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b })
}

impl Predictor for OnnxPredictor {
    fn classes(&self) -> &[String] {
        &self.spec.classes
    }

    fn inputs(&self) -> Vec<(&str, InputKind)> {
        self.spec
            .features
            .iter()
            .enumerate()
            .map(|(j, f)| {
                let kind = match self.spec.columns.get(j) {
                    Some(c) if c.element == Element::String => InputKind::Categorical,
                    _ => InputKind::Numeric,
                };
                (f.as_str(), kind)
            })
            .collect()
    }

    fn known_levels(&self, feature: &str) -> Option<&[String]> {
        let j = self.spec.features.iter().position(|f| f == feature)?;
        self.spec.columns.get(j)?.categories.as_deref()
    }

    fn predict_numeric(&self, row: &[f64]) -> Result<Vec<f64>, MlError> {
        if row.len() != self.spec.features.len() || row.iter().any(|v| !v.is_finite()) {
            return Err(bad("a row of finite numbers, one per feature, is needed"));
        }
        if !self.spec.columns.is_empty() {
            let cols = self.column_values(
                1,
                |_| "the row".into(),
                &|_, j| Ok(Cell::Number(row[j])),
                &|_| None,
            )?;
            return self.run_columns(&cols, 1);
        }
        let r: Vec<f32> = row.iter().map(|&v| v as f32).collect();
        self.run_rows(&r, 1)
    }

    fn predict_frame(&self, frame: &Frame, threads: usize) -> Result<Matrix, MlError> {
        let cols: Vec<&FeatureColumn> = self
            .spec
            .features
            .iter()
            .map(|f| {
                frame
                    .column(f)
                    .ok_or_else(|| bad(format!("feature {f} is missing")))
            })
            .collect::<Result<_, _>>()?;
        let k = self.spec.classes.len();
        let data = if self.spec.columns.is_empty() {
            let mut x = Vec::with_capacity(frame.rows * cols.len());
            for r in 0..frame.rows {
                for (j, c) in cols.iter().enumerate() {
                    let FeatureColumn::Numeric(c) = c else {
                        return Err(bad(format!(
                            "feature {}: the ONNX model takes numbers",
                            self.spec.features[j]
                        )));
                    };
                    let v = c[r];
                    if !v.is_finite() {
                        return Err(bad(format!(
                            "data row {}: feature {} is missing or not a number; this ONNX model has no imputation",
                            r + 1,
                            self.spec.features[j]
                        )));
                    }
                    x.push(v as f32);
                }
            }
            self.run_rows(&x, threads)?
        } else {
            let values = self.column_values(
                frame.rows,
                |r| format!("data row {}", r + 1),
                &|r, j| {
                    Ok(match cols[j] {
                        FeatureColumn::Numeric(v) if v[r].is_nan() => Cell::Missing,
                        FeatureColumn::Numeric(v) => Cell::Number(v[r]),
                        FeatureColumn::Categorical { codes, levels } => match codes[r] {
                            crate::frame::MISSING => Cell::Missing,
                            c => Cell::Text(
                                levels
                                    .get(c as usize)
                                    .ok_or_else(|| {
                                        bad(format!(
                                            "feature {}: code {c} has no level",
                                            self.spec.features[j]
                                        ))
                                    })?
                                    .clone(),
                            ),
                        },
                    })
                },
                &|j| match cols[j] {
                    FeatureColumn::Categorical { codes, levels } => Some((codes, levels)),
                    FeatureColumn::Numeric(_) => None,
                },
            )?;
            self.run_columns(&values, frame.rows)?
        };
        if data.len() != frame.rows * k {
            return Err(bad(format!(
                "the ONNX model gave {} values for {} rows of {k} classes",
                data.len(),
                frame.rows
            )));
        }
        Ok(Matrix {
            rows: frame.rows,
            cols: k,
            data,
        })
    }

    fn predict_json(&self, records: &[Map<String, Value>]) -> Result<Vec<Prediction>, MlError> {
        for (i, r) in records.iter().enumerate() {
            if let Some(extra) = r.keys().find(|k| !self.spec.features.contains(k)) {
                return Err(bad(format!("record {i}: unknown feature {extra:?}")));
            }
        }
        let probs = if self.spec.columns.is_empty() {
            let f = self.spec.features.len();
            let mut x = vec![0f32; records.len() * f];
            for (i, r) in records.iter().enumerate() {
                let row = &mut x[i * f..(i + 1) * f];
                for (j, f) in self.spec.features.iter().enumerate() {
                    row[j] = match r.get(f) {
                        Some(Value::Number(n)) => match n.as_f64() {
                            Some(x) if x.is_finite() => x as f32,
                            _ => {
                                return Err(bad(format!(
                                    "record {i}: feature {f} is not a finite number"
                                )));
                            }
                        },
                        Some(Value::Null) | None => {
                            return Err(bad(format!(
                                "record {i}: feature {f} is missing; this ONNX model has no imputation"
                            )));
                        }
                        Some(other) => {
                            return Err(bad(format!(
                                "record {i}: feature {f}: expected a number, got {other}"
                            )));
                        }
                    };
                }
            }
            self.run_rows(&x, 1)?
        } else {
            let values = self.column_values(records.len(), |i| format!("record {i}"), &|i, j| {
                let f = &self.spec.features[j];
                let text = self.spec.columns[j].element == Element::String;
                Ok(match records[i].get(f) {
                    // A number sent for a text input is its text, as the
                    // serving guardrail and a native model read it.
                    Some(Value::Number(n)) if text => Cell::Text(n.to_string()),
                    Some(Value::Number(n)) => match n.as_f64() {
                        Some(x) if x.is_finite() => Cell::Number(x),
                        _ => return Err(bad(format!("record {i}: feature {f} is not a finite number"))),
                    },
                    Some(Value::String(s)) => Cell::Text(s.clone()),
                    Some(Value::Null) | None => Cell::Missing,
                    Some(other) => {
                        return Err(bad(format!(
                            "record {i}: feature {f}: expected a number or a string, got {other}"
                        )));
                    }
                })
            }, &|_| None)?;
            self.run_columns(&values, records.len())?
        };
        let k = self.spec.classes.len();
        Ok(probs
            .chunks_exact(k)
            .map(|p| Prediction {
                label: self.spec.classes[argmax(p)].clone(),
                probabilities: p.to_vec(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vi(name: &str, dims: &[i64]) -> pb::ValueInfoProto {
        use pb::tensor_shape_proto::{Dimension, dimension::Value};
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: pb::tensor_proto::DataType::Float as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|&d| Dimension {
                                value: Some(Value::DimValue(d)),
                                ..Default::default()
                            })
                            .collect(),
                    }),
                })),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A graph whose rows depend on each other (here: each row minus the
    /// batch mean) is never run in batches: the one-row plan answers.
    #[test]
    fn graphs_that_mix_rows_are_not_batched() {
        let model = |mixing: bool| {
            let node = if mixing {
                vec![
                    pb::NodeProto {
                        name: "mean".into(),
                        op_type: "ReduceMean".into(),
                        input: vec!["input".into()],
                        output: vec!["m".into()],
                        attribute: vec![pb::AttributeProto {
                            name: "axes".into(),
                            r#type: pb::attribute_proto::AttributeType::Ints as i32,
                            ints: vec![0],
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                    pb::NodeProto {
                        name: "sub".into(),
                        op_type: "Sub".into(),
                        input: vec!["input".into(), "m".into()],
                        output: vec!["probabilities".into()],
                        ..Default::default()
                    },
                ]
            } else {
                vec![pb::NodeProto {
                    name: "id".into(),
                    op_type: "Identity".into(),
                    input: vec!["input".into()],
                    output: vec!["probabilities".into()],
                    ..Default::default()
                }]
            };
            pb::ModelProto {
                ir_version: 8,
                opset_import: vec![pb::OperatorSetIdProto {
                    domain: String::new(),
                    version: 13,
                }],
                graph: Some(pb::GraphProto {
                    name: "g".into(),
                    node,
                    input: vec![vi("input", &[1, 2])],
                    output: vec![vi("probabilities", &[1, 2])],
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let spec = OnnxSpec {
            input: "input".into(),
            probabilities: "probabilities".into(),
            features: vec!["a".into(), "b".into()],
            classes: vec!["x".into(), "y".into()],
            columns: Vec::new(),
        };
        let mixing = OnnxPredictor::new(&model(true), spec.clone()).unwrap();
        assert_eq!(mixing.engine(), "tract");
        let independent = OnnxPredictor::new(&model(false), spec).unwrap();
        assert_eq!(independent.engine(), "tract-batched");
        // Alone, a row minus its own mean is zero: batching would differ.
        let rows: Vec<f32> = (0..600).map(|i| i as f32).collect();
        let out = mixing.run_rows(&rows, 1).unwrap();
        assert!(out.iter().all(|v| *v == 0.0));
    }

    /// A `Scaler` (as skl2onnx writes StandardScaler) is run as Sub and Mul:
    /// `(x - offset) * scale`, per feature and broadcast from one value.
    #[test]
    fn scalers_run_as_sub_and_mul() {
        let floats = |name: &str, v: &[f32]| pb::AttributeProto {
            name: name.into(),
            r#type: pb::attribute_proto::AttributeType::Floats as i32,
            floats: v.to_vec(),
            ..Default::default()
        };
        let model = |offset: &[f32], scale: &[f32]| {
            pb::ModelProto {
                ir_version: 8,
                opset_import: vec![pb::OperatorSetIdProto {
                    domain: "ai.onnx.ml".into(),
                    version: 1,
                }],
                graph: Some(pb::GraphProto {
                    name: "s".into(),
                    node: vec![pb::NodeProto {
                        name: "scaler".into(),
                        op_type: "Scaler".into(),
                        domain: "ai.onnx.ml".into(),
                        input: vec!["input".into()],
                        output: vec!["probabilities".into()],
                        attribute: vec![floats("offset", offset), floats("scale", scale)],
                        ..Default::default()
                    }],
                    input: vec![vi("input", &[1, 2])],
                    output: vec![vi("probabilities", &[1, 2])],
                    ..Default::default()
                }),
                ..Default::default()
            }
            .encode_to_vec()
        };
        let spec = OnnxSpec {
            input: "input".into(),
            probabilities: "probabilities".into(),
            features: vec!["a".into(), "b".into()],
            classes: vec!["x".into(), "y".into()],
            columns: Vec::new(),
        };
        let (bytes, info) = prepare(&model(&[1.0, 2.0], &[0.5, 2.0]), None).unwrap();
        assert_eq!(info.operators, ["Scaler"]);
        let p = OnnxPredictor::new(&bytes, spec.clone()).unwrap();
        assert_eq!(p.predict_numeric(&[3.0, 4.0]).unwrap(), [1.0, 4.0]);
        let (bytes, _) = prepare(&model(&[1.0], &[3.0]), None).unwrap();
        let p = OnnxPredictor::new(&bytes, spec).unwrap();
        assert_eq!(p.predict_numeric(&[3.0, 4.0]).unwrap(), [6.0, 9.0]);
        let e = prepare(&model(&[f32::NAN], &[1.0]), None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("offset holds a value that is not a finite number"),
            "{e}"
        );
    }
}
