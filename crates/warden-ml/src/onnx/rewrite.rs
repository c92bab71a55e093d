//! ONNX-ML preprocessing operators rewritten as standard ONNX operators.
//!
//! scikit-learn pipelines exported by skl2onnx (and onnxmltools) carry their
//! preprocessing as `ai.onnx.ml` operators that tract does not run:
//! `Scaler`, `Imputer`, `OneHotEncoder`, `LabelEncoder`, `Binarizer`,
//! `ArrayFeatureExtractor` and `ZipMap`. Each is replaced here, at import,
//! by standard operators computing the same values, following the
//! operator definitions of the ONNX-ML specification
//! (<https://onnx.ai/onnx/operators/index_ml.html>):
//!
//! | operator | rewritten as |
//! |---|---|
//! | `Scaler` | `Sub(X, offset)`, `Mul(·, scale)` |
//! | `Imputer` | `Where(IsNaN(X)` or `Equal(X, replaced), imputed, X)` |
//! | `OneHotEncoder` | strings: `CategoryMapper` to the category's index (−1 if unknown); numbers: `Cast` to int64; then `Unsqueeze(−1)`, `Equal` with the indices or categories, `Cast` to float |
//! | `LabelEncoder` (string keys) | `CategoryMapper` to the value (int64), or to the key's index then `Gather` from the values (float, string) |
//! | `Binarizer` | `Where(Greater(X, threshold), 1, 0)` |
//! | `ArrayFeatureExtractor` | `Gather(X, indices, axis = −1)` |
//! | `ZipMap` | `Identity`: Warden reads the probabilities as a tensor |
//!
//! A rewrite is a pure graph-to-graph function; what Warden must enforce
//! outside the graph (the categories a `OneHotEncoder` with `zeros = 0`
//! refuses to ignore) and what it must check (the labels a `ZipMap` names)
//! are returned in [`Rewritten`]. Hand-written because no crate converts
//! ONNX-ML operators; the arithmetic is the specification's, in the same
//! element types, so the rewritten graph computes the same numbers.

use std::collections::BTreeMap;

use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use super::bad;
use crate::MlError;

/// What the rewrites found that Warden must enforce or check.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// Nodes rewritten, by operator.
    pub count: BTreeMap<String, usize>,
    /// Graph inputs read by a `OneHotEncoder` that refuses unknown
    /// categories (`zeros = 0`): the categories it knows. onnxruntime fails
    /// on any other value; Warden refuses it before running the model.
    pub strict_categories: BTreeMap<String, Vec<String>>,
    /// The categories of every string graph input read directly by a
    /// `OneHotEncoder` (what the model has seen in training).
    pub categories: BTreeMap<String, Vec<String>>,
    /// The class labels a `ZipMap` names, if the graph has one.
    pub zipmap_labels: Option<Vec<String>>,
    /// Graph outputs whose `ZipMap` was replaced: now float tensors.
    pub zipmap_outputs: Vec<String>,
}

const ML: &str = "ai.onnx.ml";

/// Standard operators whose output holds values of their first input and
/// no others. (A model input is one column, so every selection from it
/// holds all of its values.)
const VALUE_PRESERVING: [&str; 6] = [
    "Identity",
    "Gather",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
];

/// The operators [`rewrite`] replaces.
pub const REWRITTEN: [&str; 7] = [
    "Scaler",
    "Imputer",
    "OneHotEncoder",
    "LabelEncoder",
    "Binarizer",
    "ArrayFeatureExtractor",
    "ZipMap",
];

/// Rewrites every ONNX-ML operator of [`REWRITTEN`] in `proto`'s graph.
/// The default operator set must be 11 or newer when a rewrite needs
/// negative axes (`OneHotEncoder`, `ArrayFeatureExtractor`); one is
/// imported (13) if the model imports none.
pub fn rewrite(proto: &mut pb::ModelProto) -> Result<Rewritten, MlError> {
    let opset = match proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        Some(o) => o.version,
        None => 0,
    };
    let Some(graph) = proto.graph.as_mut() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    let needs_rewrite = graph
        .node
        .iter()
        .any(|n| n.domain == ML && REWRITTEN.contains(&n.op_type.as_str()));
    if !needs_rewrite {
        return Ok(Rewritten::default());
    }
    let opset = if opset == 0 {
        proto.opset_import.push(pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        });
        13
    } else {
        opset
    };
    let Some(graph) = proto.graph.as_mut() else {
        return Err(bad("not an ONNX model: it has no graph"));
    };
    let inputs: Vec<String> = graph.input.iter().map(|i| i.name.clone()).collect();
    // For each tensor made by an operator that only moves values (the
    // column selections and reshapes skl2onnx puts between an input and
    // its encoder), the tensor it moves them from.
    let moved_from: BTreeMap<String, String> = graph
        .node
        .iter()
        .filter(|n| n.domain.is_empty() && VALUE_PRESERVING.contains(&n.op_type.as_str()))
        .filter_map(|n| Some((n.output.first()?.clone(), n.input.first()?.clone())))
        .collect();
    // The graph input whose values a tensor holds, if it holds one's.
    let source = |name: &str| {
        let mut name = name.to_string();
        for _ in 0..=moved_from.len() {
            if inputs.contains(&name) {
                return Some(name);
            }
            name = moved_from.get(&name)?.clone();
        }
        None
    };
    let mut out = Rewritten::default();
    let mut b = Builder {
        opset,
        nodes: Vec::with_capacity(graph.node.len()),
        initializers: Vec::new(),
    };
    for (i, n) in std::mem::take(&mut graph.node).into_iter().enumerate() {
        if n.domain != ML || !REWRITTEN.contains(&n.op_type.as_str()) {
            b.nodes.push(n);
            continue;
        }
        let stem = format!("warden_{}_{i}", n.op_type.to_ascii_lowercase());
        let (Some(x), Some(y)) = (n.input.first().cloned(), n.output.first().cloned()) else {
            return Err(bad(format!(
                "{} node {:?} needs an input and an output",
                n.op_type, n.name
            )));
        };
        let node = Node { n: &n, stem, x, y };
        match n.op_type.as_str() {
            "Scaler" => b.scaler(&node)?,
            "Imputer" => b.imputer(&node)?,
            "OneHotEncoder" => {
                let cats = b.one_hot(&node)?;
                if let Some(strings) = cats.strings
                    && let Some(input) = source(&node.x)
                {
                    if cats.strict {
                        out.strict_categories.insert(input.clone(), strings.clone());
                    }
                    out.categories.insert(input, strings);
                } else if cats.strict {
                    return Err(bad(format!(
                        "OneHotEncoder node {:?} refuses unknown categories (zeros = 0) of {:?}, which is not a model input; Warden cannot enforce that (export with handle_unknown=\"ignore\")",
                        n.name, node.x
                    )));
                }
            }
            "LabelEncoder" => b.label_encoder(&node)?,
            "Binarizer" => b.binarizer(&node)?,
            "ArrayFeatureExtractor" => b.array_feature_extractor(&node)?,
            "ZipMap" => {
                let labels = zipmap_labels(&n)?;
                if out.zipmap_labels.as_ref().is_some_and(|l| *l != labels) {
                    return Err(bad("the model's ZipMap nodes disagree on the class labels"));
                }
                out.zipmap_labels = Some(labels);
                out.zipmap_outputs.push(node.y.clone());
                b.push(
                    "Identity",
                    &node.stem,
                    vec![node.x.clone()],
                    &node.y,
                    vec![],
                );
            }
            _ => unreachable!("REWRITTEN lists the operators matched above"),
        }
        *out.count.entry(n.op_type.clone()).or_default() += 1;
    }
    graph.node = b.nodes;
    graph.initializer.extend(b.initializers);
    // A ZipMap output is a sequence of maps; it is now the probability
    // tensor itself.
    for o in graph
        .output
        .iter_mut()
        .filter(|o| out.zipmap_outputs.contains(&o.name))
    {
        o.r#type = Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: None,
            })),
            ..Default::default()
        });
    }
    Ok(out)
}

/// A node being rewritten: its first input `x` and first output `y`, and
/// the prefix of every name the rewrite introduces.
struct Node<'a> {
    n: &'a pb::NodeProto,
    stem: String,
    x: String,
    y: String,
}

impl Node<'_> {
    fn attr(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.n.attribute.iter().find(|a| a.name == name)
    }

    fn strings(&self, name: &str) -> Result<Vec<String>, MlError> {
        self.attr(name)
            .map(|a| {
                a.strings
                    .iter()
                    .map(|s| {
                        String::from_utf8(s.clone()).map_err(|_| {
                            self.err(format!("attribute {name} holds a string that is not UTF-8"))
                        })
                    })
                    .collect()
            })
            .unwrap_or(Ok(Vec::new()))
    }

    fn ints(&self, name: &str) -> Vec<i64> {
        self.attr(name).map(|a| a.ints.clone()).unwrap_or_default()
    }

    fn floats(&self, name: &str) -> Vec<f32> {
        self.attr(name)
            .map(|a| a.floats.clone())
            .unwrap_or_default()
    }

    fn float(&self, name: &str, default: f32) -> f32 {
        self.attr(name).map_or(default, |a| a.f)
    }

    fn int(&self, name: &str, default: i64) -> i64 {
        self.attr(name).map_or(default, |a| a.i)
    }

    fn string(&self, name: &str) -> Option<String> {
        self.attr(name)
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
    }

    fn err(&self, what: impl std::fmt::Display) -> MlError {
        bad(format!("{} node {:?}: {what}", self.n.op_type, self.n.name))
    }
}

/// What a `OneHotEncoder` knows about its input.
struct OneHotCategories {
    /// Its string categories (`None` for integer categories).
    strings: Option<Vec<String>>,
    /// Whether it refuses unknown values (`zeros = 0`).
    strict: bool,
}

struct Builder {
    /// The default operator set's version.
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
}

fn attribute(name: &str, kind: pb::attribute_proto::AttributeType) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: kind as i32,
        ..Default::default()
    }
}

fn int_attr(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        i: v,
        ..attribute(name, pb::attribute_proto::AttributeType::Int)
    }
}

fn ints_attr(name: &str, v: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        ints: v,
        ..attribute(name, pb::attribute_proto::AttributeType::Ints)
    }
}

fn strings_attr(name: &str, v: &[String]) -> pb::AttributeProto {
    pb::AttributeProto {
        strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..attribute(name, pb::attribute_proto::AttributeType::Strings)
    }
}

fn zipmap_labels(n: &pb::NodeProto) -> Result<Vec<String>, MlError> {
    let node = Node {
        n,
        stem: String::new(),
        x: String::new(),
        y: String::new(),
    };
    let strings = node.strings("classlabels_strings")?;
    if !strings.is_empty() {
        return Ok(strings);
    }
    Ok(node
        .ints("classlabels_int64s")
        .iter()
        .map(i64::to_string)
        .collect())
}

/// Refuses duplicated keys: a lookup would pick one of them silently.
fn distinct<T: Ord + std::fmt::Debug>(node: &Node, what: &str, v: &[T]) -> Result<(), MlError> {
    let mut seen = std::collections::BTreeSet::new();
    match v.iter().find(|k| !seen.insert(*k)) {
        Some(dup) => Err(node.err(format!("{what} lists {dup:?} twice"))),
        None => Ok(()),
    }
}

impl Builder {
    fn push(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        output: &str,
        attrs: Vec<pb::AttributeProto>,
    ) {
        self.push_in(op, "", name, inputs, output, attrs);
    }

    fn push_in(
        &mut self,
        op: &str,
        domain: &str,
        name: &str,
        inputs: Vec<String>,
        output: &str,
        attrs: Vec<pb::AttributeProto>,
    ) {
        self.nodes.push(pb::NodeProto {
            name: name.into(),
            op_type: op.into(),
            domain: domain.into(),
            input: inputs,
            output: vec![output.into()],
            attribute: attrs,
            ..Default::default()
        });
    }

    fn constant(&mut self, name: String, t: pb::TensorProto) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.clone(),
            ..t
        });
        name
    }

    fn floats(&mut self, name: String, v: Vec<f32>) -> String {
        let t = pb::TensorProto {
            dims: vec![v.len() as i64],
            data_type: DataType::Float as i32,
            float_data: v,
            ..Default::default()
        };
        self.constant(name, t)
    }

    fn int64s(&mut self, name: String, v: Vec<i64>) -> String {
        let t = pb::TensorProto {
            dims: vec![v.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: v,
            ..Default::default()
        };
        self.constant(name, t)
    }

    fn strings(&mut self, name: String, v: &[String]) -> String {
        let t = pb::TensorProto {
            dims: vec![v.len() as i64],
            data_type: DataType::String as i32,
            string_data: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        self.constant(name, t)
    }

    fn needs_opset(&self, node: &Node, min: i64) -> Result<(), MlError> {
        if self.opset < min {
            return Err(node.err(format!(
                "rewriting it needs the default operator set {min} or newer, the model imports {}; export with a newer target opset",
                self.opset
            )));
        }
        Ok(())
    }

    /// `Unsqueeze(x, axes = [-1])`, in the form the operator set takes.
    fn unsqueeze_last(&mut self, stem: &str, x: String) -> String {
        let out = format!("{stem}_unsqueezed");
        if self.opset >= 13 {
            let axes = self.int64s(format!("{stem}_axes"), vec![-1]);
            self.push("Unsqueeze", &out, vec![x, axes], &out, vec![]);
        } else {
            self.push(
                "Unsqueeze",
                &out,
                vec![x],
                &out,
                vec![ints_attr("axes", vec![-1])],
            );
        }
        out
    }

    /// `Scaler`: `Y = (X - offset) * scale`, offset and scale of length 1
    /// (broadcast) or one per column.
    fn scaler(&mut self, node: &Node) -> Result<(), MlError> {
        let get = |name: &str, default: f32| -> Result<Vec<f32>, MlError> {
            let v = node.floats(name);
            let v = if v.is_empty() { vec![default] } else { v };
            if v.iter().any(|x| !x.is_finite()) {
                return Err(node.err(format!("{name} holds a value that is not a finite number")));
            }
            Ok(v)
        };
        let (offset, scale) = (get("offset", 0.0)?, get("scale", 1.0)?);
        let stem = &node.stem;
        let offset = self.floats(format!("{stem}_offset"), offset);
        let scale = self.floats(format!("{stem}_scale"), scale);
        let centred = format!("{stem}_centred");
        self.push(
            "Sub",
            &format!("{stem}_sub"),
            vec![node.x.clone(), offset],
            &centred,
            vec![],
        );
        self.push(
            "Mul",
            &format!("{stem}_mul"),
            vec![centred, scale],
            &node.y,
            vec![],
        );
        Ok(())
    }

    /// `Imputer`: values equal to `replaced_value_*` (NaN by default for
    /// floats in what skl2onnx writes; the specification's default is 0)
    /// become `imputed_value_*` (one value, or one per column).
    fn imputer(&mut self, node: &Node) -> Result<(), MlError> {
        let stem = &node.stem;
        let floats = node.floats("imputed_value_floats");
        let ints = node.ints("imputed_value_int64s");
        let mask = format!("{stem}_mask");
        let imputed = match (floats.is_empty(), ints.is_empty()) {
            (false, true) => {
                let replaced = node.float("replaced_value_float", 0.0);
                if replaced.is_nan() {
                    self.push("IsNaN", &mask, vec![node.x.clone()], &mask, vec![]);
                } else {
                    let r = self.floats(format!("{stem}_replaced"), vec![replaced]);
                    self.push("Equal", &mask, vec![node.x.clone(), r], &mask, vec![]);
                }
                self.floats(format!("{stem}_imputed"), floats)
            }
            (true, false) => {
                let replaced = node.int("replaced_value_int64", 0);
                let r = self.int64s(format!("{stem}_replaced"), vec![replaced]);
                self.push("Equal", &mask, vec![node.x.clone(), r], &mask, vec![]);
                self.int64s(format!("{stem}_imputed"), ints)
            }
            _ => {
                return Err(node.err(
                    "exactly one of imputed_value_floats and imputed_value_int64s must be given",
                ));
            }
        };
        self.push(
            "Where",
            &format!("{stem}_where"),
            vec![mask, imputed, node.x.clone()],
            &node.y,
            vec![],
        );
        Ok(())
    }

    /// `OneHotEncoder`: output shape is the input's plus one axis of one
    /// float per category; 1.0 where the value is that category. Unknown
    /// values give zeros (`zeros = 1`, the default) or are refused by
    /// onnxruntime (`zeros = 0`; Warden enforces that on graph inputs).
    fn one_hot(&mut self, node: &Node) -> Result<OneHotCategories, MlError> {
        self.needs_opset(node, 11)?;
        let stem = &node.stem;
        let strings = node.strings("cats_strings")?;
        let ints = node.ints("cats_int64s");
        let strict = node.int("zeros", 1) == 0;
        let (index, categories, found) = match (strings.is_empty(), ints.is_empty()) {
            (false, true) => {
                distinct(node, "cats_strings", &strings)?;
                let idx = format!("{stem}_index");
                let k = strings.len() as i64;
                self.push_in(
                    "CategoryMapper",
                    ML,
                    &idx,
                    vec![node.x.clone()],
                    &idx,
                    vec![
                        strings_attr("cats_strings", &strings),
                        ints_attr("cats_int64s", (0..k).collect()),
                        int_attr("default_int64", -1),
                    ],
                );
                let cats = self.int64s(format!("{stem}_indices"), (0..k).collect());
                (idx, cats, Some(strings))
            }
            (true, false) => {
                distinct(node, "cats_int64s", &ints)?;
                let idx = format!("{stem}_int64");
                self.push(
                    "Cast",
                    &idx,
                    vec![node.x.clone()],
                    &idx,
                    vec![int_attr("to", DataType::Int64 as i64)],
                );
                let cats = self.int64s(format!("{stem}_categories"), ints);
                (idx, cats, None)
            }
            _ => {
                return Err(node.err("exactly one of cats_strings and cats_int64s must be given"));
            }
        };
        let u = self.unsqueeze_last(stem, index);
        let eq = format!("{stem}_equal");
        self.push("Equal", &eq, vec![u, categories], &eq, vec![]);
        self.push(
            "Cast",
            &format!("{stem}_cast"),
            vec![eq],
            &node.y,
            vec![int_attr("to", DataType::Float as i64)],
        );
        Ok(OneHotCategories {
            strings: found,
            strict,
        })
    }

    /// `LabelEncoder` with string keys (what skl2onnx writes for
    /// `OrdinalEncoder` and `LabelEncoder`): each key maps to its value,
    /// anything else to the default.
    fn label_encoder(&mut self, node: &Node) -> Result<(), MlError> {
        let stem = &node.stem;
        if node.attr("keys_tensor").is_some() || node.attr("values_tensor").is_some() {
            return Err(node.err(
                "keys or values given as tensors (ai.onnx.ml opset 4) are not supported; export with ai.onnx.ml opset 3 or older",
            ));
        }
        let keys = node.strings("keys_strings")?;
        if keys.is_empty() {
            return Err(node.err(
                "only string keys are supported (keys_int64s and keys_floats are not); encode the column as strings",
            ));
        }
        distinct(node, "keys_strings", &keys)?;
        let k = keys.len();
        let values_ints = node.ints("values_int64s");
        let values_floats = node.floats("values_floats");
        let values_strings = node.strings("values_strings")?;
        let given = [
            !values_ints.is_empty(),
            !values_floats.is_empty(),
            !values_strings.is_empty(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(node.err(
                "exactly one of values_int64s, values_floats and values_strings must be given",
            ));
        }
        let len = values_ints
            .len()
            .max(values_floats.len())
            .max(values_strings.len());
        if len != k {
            return Err(node.err(format!("{k} keys but {len} values")));
        }
        if !values_ints.is_empty() {
            self.push_in(
                "CategoryMapper",
                ML,
                &format!("{stem}_map"),
                vec![node.x.clone()],
                &node.y,
                vec![
                    strings_attr("cats_strings", &keys),
                    ints_attr("cats_int64s", values_ints),
                    int_attr("default_int64", node.int("default_int64", -1)),
                ],
            );
            return Ok(());
        }
        // The key's index, or k for an unknown key; then the value at that
        // index of the values followed by the default.
        let idx = format!("{stem}_index");
        self.push_in(
            "CategoryMapper",
            ML,
            &idx,
            vec![node.x.clone()],
            &idx,
            vec![
                strings_attr("cats_strings", &keys),
                ints_attr("cats_int64s", (0..k as i64).collect()),
                int_attr("default_int64", k as i64),
            ],
        );
        let table = if values_floats.is_empty() {
            let mut v = values_strings;
            v.push(
                node.string("default_string")
                    .unwrap_or_else(|| "_Unused".into()),
            );
            self.strings(format!("{stem}_values"), &v)
        } else {
            let mut v = values_floats;
            v.push(node.float("default_float", -0.0));
            self.floats(format!("{stem}_values"), v)
        };
        self.push(
            "Gather",
            &format!("{stem}_gather"),
            vec![table, idx],
            &node.y,
            vec![int_attr("axis", 0)],
        );
        Ok(())
    }

    /// `Binarizer`: 1 where the value is above the threshold, else 0.
    fn binarizer(&mut self, node: &Node) -> Result<(), MlError> {
        let stem = &node.stem;
        let threshold = node.float("threshold", 0.0);
        let t = self.floats(format!("{stem}_threshold"), vec![threshold]);
        let one = self.floats(format!("{stem}_one"), vec![1.0]);
        let zero = self.floats(format!("{stem}_zero"), vec![0.0]);
        let above = format!("{stem}_above");
        self.push("Greater", &above, vec![node.x.clone(), t], &above, vec![]);
        self.push(
            "Where",
            &format!("{stem}_where"),
            vec![above, one, zero],
            &node.y,
            vec![],
        );
        Ok(())
    }

    /// `ArrayFeatureExtractor(X, indices)`: the columns of `X` (its last
    /// axis) at `indices`.
    fn array_feature_extractor(&mut self, node: &Node) -> Result<(), MlError> {
        self.needs_opset(node, 11)?;
        let Some(indices) = node.n.input.get(1) else {
            return Err(node.err("needs two inputs (the data and the indices)"));
        };
        self.push(
            "Gather",
            &format!("{}_gather", node.stem),
            vec![node.x.clone(), indices.clone()],
            &node.y,
            vec![int_attr("axis", -1)],
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // A test panics on a broken expectation; that is its way of failing.
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use tract_onnx::prelude::*;

    fn value_info(name: &str, elem: DataType, dims: &[i64]) -> pb::ValueInfoProto {
        pb::ValueInfoProto {
            name: name.into(),
            r#type: Some(pb::TypeProto {
                value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                    elem_type: elem as i32,
                    shape: Some(pb::TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| pb::tensor_shape_proto::Dimension {
                                value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(*d)),
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

    fn ml_node(op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto {
            name: op.into(),
            op_type: op.into(),
            domain: ML.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec!["y".into()],
            attribute: attrs,
            ..Default::default()
        }
    }

    fn floats_attr(name: &str, v: Vec<f32>) -> pb::AttributeProto {
        pb::AttributeProto {
            floats: v,
            ..attribute(name, pb::attribute_proto::AttributeType::Floats)
        }
    }

    fn float_attr(name: &str, v: f32) -> pb::AttributeProto {
        pb::AttributeProto {
            f: v,
            ..attribute(name, pb::attribute_proto::AttributeType::Float)
        }
    }

    fn model(
        node: pb::NodeProto,
        x: pb::ValueInfoProto,
        y: DataType,
        initializers: Vec<pb::TensorProto>,
        opset: i64,
    ) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![
                pb::OperatorSetIdProto {
                    domain: String::new(),
                    version: opset,
                },
                pb::OperatorSetIdProto {
                    domain: ML.into(),
                    version: 3,
                },
            ],
            graph: Some(pb::GraphProto {
                name: "g".into(),
                node: vec![node],
                input: vec![x],
                output: vec![value_info("y", y, &[])],
                initializer: initializers,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Rewrites `m` and runs it with tract on `x`; no ONNX-ML operator of
    /// [`REWRITTEN`] may be left.
    fn run(mut m: pb::ModelProto, x: Tensor) -> (Tensor, Rewritten) {
        let r = rewrite(&mut m).unwrap();
        let graph = m.graph.as_ref().unwrap();
        assert!(
            !graph
                .node
                .iter()
                .any(|n| n.domain == ML && REWRITTEN.contains(&n.op_type.as_str()))
        );
        let plan = tract_onnx::onnx()
            .model_for_proto_model(&m)
            .unwrap()
            .with_input_fact(0, InferenceFact::dt_shape(x.datum_type(), x.shape()))
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let out = plan.run(tvec!(x.into())).unwrap();
        (out[0].clone().into_tensor(), r)
    }

    fn strings2(rows: &[&str]) -> Tensor {
        let v: Vec<String> = rows.iter().map(|s| s.to_string()).collect();
        Tensor::from(tract_ndarray::Array2::from_shape_vec((rows.len(), 1), v).unwrap())
    }

    #[test]
    fn label_encoder_maps_string_keys_to_floats_strings_and_ints() {
        let keys = strings_attr("keys_strings", &["a".into(), "b".into(), "c".into()]);
        let x = value_info("x", DataType::String, &[4, 1]);
        let rows = strings2(&["b", "zz", "a", "c"]);
        // Floats, with the default for the unknown key.
        let n = ml_node(
            "LabelEncoder",
            &["x"],
            vec![
                keys.clone(),
                floats_attr("values_floats", vec![0.5, 1.5, 2.5]),
                float_attr("default_float", -7.0),
            ],
        );
        let (y, _) = run(
            model(n, x.clone(), DataType::Float, vec![], 17),
            rows.clone(),
        );
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[1.5, -7.0, 0.5, 2.5]
        );
        // Integers, default -1.
        let n = ml_node(
            "LabelEncoder",
            &["x"],
            vec![keys.clone(), ints_attr("values_int64s", vec![10, 20, 30])],
        );
        let (y, _) = run(
            model(n, x.clone(), DataType::Int64, vec![], 17),
            rows.clone(),
        );
        assert_eq!(
            y.to_plain_array_view::<i64>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[20, -1, 10, 30]
        );
        // Strings, default "_Unused".
        let n = ml_node(
            "LabelEncoder",
            &["x"],
            vec![
                keys,
                strings_attr("values_strings", &["A".into(), "B".into(), "C".into()]),
            ],
        );
        let (y, _) = run(model(n, x, DataType::String, vec![], 17), rows);
        assert_eq!(
            y.to_plain_array_view::<String>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &["B", "_Unused", "A", "C"]
        );
    }

    #[test]
    fn one_hot_of_integers_and_imputation_of_integers() {
        let x = value_info("x", DataType::Int64, &[3, 1]);
        let rows = Tensor::from(tract_ndarray::arr2(&[[7i64], [3], [9]]));
        let n = ml_node(
            "OneHotEncoder",
            &["x"],
            vec![ints_attr("cats_int64s", vec![3, 7])],
        );
        let (y, r) = run(
            model(n, x.clone(), DataType::Float, vec![], 13),
            rows.clone(),
        );
        assert_eq!(y.shape(), &[3, 1, 2]);
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[0., 1., 1., 0., 0., 0.]
        );
        assert!(r.categories.is_empty());
        let n = ml_node(
            "Imputer",
            &["x"],
            vec![
                ints_attr("imputed_value_int64s", vec![5]),
                int_attr("replaced_value_int64", 9),
            ],
        );
        let (y, _) = run(model(n, x, DataType::Int64, vec![], 13), rows);
        assert_eq!(
            y.to_plain_array_view::<i64>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[7, 3, 5]
        );
    }

    #[test]
    fn one_hot_of_strings_before_opset_13_and_imputation_per_column() {
        let x = value_info("x", DataType::String, &[3, 1]);
        let n = ml_node(
            "OneHotEncoder",
            &["x"],
            vec![
                strings_attr("cats_strings", &["red".into(), "blue".into()]),
                int_attr("zeros", 0),
            ],
        );
        let (y, r) = run(
            model(n, x, DataType::Float, vec![], 11),
            strings2(&["blue", "red", "green"]),
        );
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[0., 1., 1., 0., 0., 0.]
        );
        assert_eq!(r.strict_categories["x"], ["red", "blue"]);
        let x = value_info("x", DataType::Float, &[2, 2]);
        let n = ml_node(
            "Imputer",
            &["x"],
            vec![
                floats_attr("imputed_value_floats", vec![1.0, 2.0]),
                float_attr("replaced_value_float", f32::NAN),
            ],
        );
        let rows = Tensor::from(tract_ndarray::arr2(&[[f32::NAN, 5.0], [3.0, f32::NAN]]));
        let (y, _) = run(model(n, x, DataType::Float, vec![], 13), rows);
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[1.0, 5.0, 3.0, 2.0]
        );
    }

    #[test]
    fn array_feature_extractor_and_binarizer() {
        let x = value_info("x", DataType::Float, &[2, 3]);
        let idx = pb::TensorProto {
            name: "idx".into(),
            dims: vec![2],
            data_type: DataType::Int64 as i32,
            int64_data: vec![2, 0],
            ..Default::default()
        };
        let rows = Tensor::from(tract_ndarray::arr2(&[[1f32, 2., 3.], [4., 5., 6.]]));
        let n = ml_node("ArrayFeatureExtractor", &["x", "idx"], vec![]);
        let (y, _) = run(
            model(n, x.clone(), DataType::Float, vec![idx], 13),
            rows.clone(),
        );
        assert_eq!(y.shape(), &[2, 2]);
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[3., 1., 6., 4.]
        );
        let n = ml_node("Binarizer", &["x"], vec![float_attr("threshold", 3.0)]);
        let (y, _) = run(model(n, x, DataType::Float, vec![], 13), rows);
        assert_eq!(
            y.to_plain_array_view::<f32>()
                .unwrap()
                .iter()
                .cloned()
                .collect::<Vec<_>>(),
            &[0., 0., 0., 1., 1., 1.]
        );
    }

    #[test]
    fn what_cannot_be_rewritten_exactly_is_refused_naming_the_node() {
        let x = value_info("x", DataType::String, &[3, 1]);
        let err = |n: pb::NodeProto, opset: i64| {
            let mut m = model(n, x.clone(), DataType::Float, vec![], opset);
            rewrite(&mut m).unwrap_err().to_string()
        };
        let dup = ml_node(
            "OneHotEncoder",
            &["x"],
            vec![strings_attr("cats_strings", &["a".into(), "a".into()])],
        );
        assert!(err(dup, 13).contains("\"a\" twice"));
        let old = ml_node(
            "OneHotEncoder",
            &["x"],
            vec![strings_attr("cats_strings", &["a".into()])],
        );
        assert!(err(old, 9).contains("operator set 11"));
        let numeric = ml_node(
            "LabelEncoder",
            &["x"],
            vec![
                ints_attr("keys_int64s", vec![1, 2]),
                ints_attr("values_int64s", vec![1, 2]),
            ],
        );
        assert!(err(numeric, 13).contains("only string keys"));
        let short = ml_node(
            "LabelEncoder",
            &["x"],
            vec![
                strings_attr("keys_strings", &["a".into(), "b".into()]),
                ints_attr("values_int64s", vec![1]),
            ],
        );
        assert!(err(short, 13).contains("2 keys but 1 values"));
        let both = ml_node(
            "Imputer",
            &["x"],
            vec![
                floats_attr("imputed_value_floats", vec![1.0]),
                ints_attr("imputed_value_int64s", vec![1]),
            ],
        );
        let e = err(both, 13);
        assert!(
            e.contains("Imputer node \"Imputer\"") && e.contains("exactly one"),
            "{e}"
        );
    }
}
