//! The [`Predictor`] trait: what serving and evaluation call, whatever the
//! model's origin. [`NativePredictor`] is a model trained here plus the
//! preprocessing fitted with it.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::MlError;
use crate::frame::{Frame, Matrix};
use crate::model::{Model, Scratch};
use crate::preprocess::Preprocessor;

/// One prediction: the most probable class and every class's probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    /// The class with the highest probability (the first such class on a tie).
    pub label: String,
    /// One probability per class, in [`Predictor::classes`] order.
    pub probabilities: Vec<f64>,
}

/// What an input feature holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// A number: a [`FeatureColumn::Numeric`](crate::FeatureColumn::Numeric)
    /// column, or a JSON number (`null` if missing).
    Numeric,
    /// A category: a [`FeatureColumn::Categorical`](crate::FeatureColumn::Categorical)
    /// column, or a JSON string (`null` if missing).
    Categorical,
}

/// A loaded, verified model that turns records into class probabilities.
pub trait Predictor: Send + Sync {
    /// Class labels, in probability order.
    fn classes(&self) -> &[String];
    /// The input features a record must carry, and what each holds.
    fn inputs(&self) -> Vec<(&str, InputKind)>;
    /// Probabilities (rows × classes) for every row of `frame`.
    fn predict_frame(&self, frame: &Frame, threads: usize) -> Result<Matrix, MlError>;
    /// Predictions for JSON records (`null` = missing; unknown fields are errors).
    fn predict_json(&self, records: &[Map<String, Value>]) -> Result<Vec<Prediction>, MlError>;
    /// Probabilities for one row of numeric inputs, in [`Predictor::inputs`]
    /// order (what decision-based attacks query thousands of times).
    fn predict_numeric(&self, row: &[f64]) -> Result<Vec<f64>, MlError> {
        let mut f = Frame::default();
        for ((name, _), v) in self.inputs().into_iter().zip(row) {
            f.push(name, crate::frame::FeatureColumn::Numeric(vec![*v]))?;
        }
        Ok(self.predict_frame(&f, 1)?.row(0).to_vec())
    }
    /// The native model behind this predictor, for gradient-based analyses.
    fn native(&self) -> Option<&NativePredictor> {
        None
    }
    /// The categories the model knows for a categorical input (what its
    /// encoder was fitted on), if it says.
    fn known_levels(&self, _feature: &str) -> Option<&[String]> {
        None
    }
}

/// A natively trained model with its preprocessing.
#[derive(Clone, Debug)]
pub struct NativePredictor {
    /// The preprocessing fitted with the model, applied to every input.
    pub preprocessor: Preprocessor,
    /// The trained model, which takes the preprocessor's output columns.
    pub model: Model,
    /// Class labels, one per model output, in probability order.
    pub classes: Vec<String>,
}

impl NativePredictor {
    /// Joins a model with its preprocessing and labels; an [`MlError::Input`] if
    /// the preprocessor's output width is not the model's input width or the
    /// number of labels is not the model's number of classes.
    pub fn new(
        preprocessor: Preprocessor,
        model: Model,
        classes: Vec<String>,
    ) -> Result<Self, MlError> {
        if preprocessor.width() != model.arch.inputs() {
            return Err(MlError::Input(format!(
                "the preprocessing makes {} columns, the model takes {}",
                preprocessor.width(),
                model.arch.inputs()
            )));
        }
        if classes.len() != model.classes() {
            return Err(MlError::Input(format!(
                "{} class labels for a model of {} classes",
                classes.len(),
                model.classes()
            )));
        }
        Ok(NativePredictor {
            preprocessor,
            model,
            classes,
        })
    }
}

fn argmax(p: &[f64]) -> usize {
    (0..p.len()).fold(0, |b, c| if p[c] > p[b] { c } else { b })
}

impl Predictor for NativePredictor {
    fn native(&self) -> Option<&NativePredictor> {
        Some(self)
    }

    fn known_levels(&self, feature: &str) -> Option<&[String]> {
        use crate::preprocess::Transform;
        match &self
            .preprocessor
            .features
            .iter()
            .find(|f| f.name == feature)?
            .transform
        {
            Transform::OneHot { levels, .. } => Some(levels),
            Transform::Standardise { .. } => None,
        }
    }

    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn inputs(&self) -> Vec<(&str, InputKind)> {
        use crate::preprocess::Transform;
        self.preprocessor
            .features
            .iter()
            .map(|f| {
                let kind = match f.transform {
                    Transform::Standardise { .. } => InputKind::Numeric,
                    Transform::OneHot { .. } => InputKind::Categorical,
                };
                (f.name.as_str(), kind)
            })
            .collect()
    }

    fn predict_frame(&self, frame: &Frame, threads: usize) -> Result<Matrix, MlError> {
        let rows: Vec<usize> = (0..frame.rows).collect();
        let x = self.preprocessor.transform(frame, &rows, threads)?;
        Ok(crate::train::predict_proba(&self.model, &x, threads))
    }

    fn predict_json(&self, records: &[Map<String, Value>]) -> Result<Vec<Prediction>, MlError> {
        let mut enc = Vec::new();
        let mut s = Scratch::default();
        let mut out = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            self.preprocessor
                .encode_json(r, &mut enc)
                .map_err(|e| MlError::Input(format!("record {i}: {e}")))?;
            let mut p = vec![0.0; self.classes.len()];
            self.model.predict_row(&enc, &mut p, &mut s);
            out.push(Prediction {
                label: self.classes[argmax(&p)].clone(),
                probabilities: p,
            });
        }
        Ok(out)
    }
}
