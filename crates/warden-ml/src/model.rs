//! The native models, as one flat parameter vector each: logistic
//! regression (binary with one output as scikit-learn stores it, or
//! multinomial softmax) and a small multilayer perceptron (ReLU hidden
//! layers, softmax output). Both expose per-example gradients, which
//! DP-SGD clips one by one.

use serde::{Deserialize, Serialize};

use crate::MlError;

/// A model's shape. Stored in the package manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Architecture {
    /// Logistic regression: one output with a sigmoid for two classes
    /// (as scikit-learn stores it), else one output per class with softmax.
    Logreg {
        /// Input columns (the preprocessor's output width).
        inputs: usize,
        /// Number of classes, at least 2.
        classes: usize,
    },
    /// A multilayer perceptron: ReLU hidden layers and a softmax output of
    /// one unit per class.
    Mlp {
        /// Input columns (the preprocessor's output width).
        inputs: usize,
        /// Units of each hidden layer, one or two layers.
        hidden: Vec<usize>,
        /// Number of classes (output units), at least 2.
        classes: usize,
    },
}

/// Largest parameter count a package may declare (guards allocation).
pub const MAX_PARAMS: usize = 1 << 26;

impl Architecture {
    /// The number of classes.
    pub fn classes(&self) -> usize {
        match self {
            Architecture::Logreg { classes, .. } | Architecture::Mlp { classes, .. } => *classes,
        }
    }

    /// The number of input columns.
    pub fn inputs(&self) -> usize {
        match self {
            Architecture::Logreg { inputs, .. } | Architecture::Mlp { inputs, .. } => *inputs,
        }
    }

    /// Layer sizes from input to output.
    fn sizes(&self) -> Vec<usize> {
        match self {
            Architecture::Logreg { inputs, classes } => {
                vec![*inputs, if *classes == 2 { 1 } else { *classes }]
            }
            Architecture::Mlp {
                inputs,
                hidden,
                classes,
            } => {
                let mut s = vec![*inputs];
                s.extend(hidden);
                s.push(*classes);
                s
            }
        }
    }

    /// Named tensors (name, shape), in parameter order: each layer's weight
    /// (`[out, in]`) then bias (`[out]`).
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let sizes = self.sizes();
        let mut out = Vec::new();
        for l in 0..sizes.len() - 1 {
            let (w, b) = match self {
                Architecture::Logreg { .. } => ("coef".to_string(), "intercept".to_string()),
                Architecture::Mlp { .. } => {
                    (format!("layers.{l}.weight"), format!("layers.{l}.bias"))
                }
            };
            out.push((w, vec![sizes[l + 1], sizes[l]]));
            out.push((b, vec![sizes[l + 1]]));
        }
        out
    }

    /// Checks the shape: at least two classes, no empty layer, one or two
    /// hidden layers for an MLP and at most [`MAX_PARAMS`] parameters; an
    /// [`MlError::Input`] otherwise.
    pub fn validate(&self) -> Result<(), MlError> {
        let sizes = self.sizes();
        if self.classes() < 2 {
            return Err(MlError::Input(
                "a classifier needs at least two classes".into(),
            ));
        }
        if sizes.contains(&0) {
            return Err(MlError::Input(format!("a layer has no units: {sizes:?}")));
        }
        if matches!(self, Architecture::Mlp { hidden, .. } if hidden.is_empty() || hidden.len() > 2)
        {
            return Err(MlError::Input("an MLP has one or two hidden layers".into()));
        }
        let mut n: usize = 0;
        for w in sizes.windows(2) {
            n = w[0]
                .checked_add(1)
                .and_then(|x| x.checked_mul(w[1]))
                .and_then(|x| x.checked_add(n))
                .filter(|&x| x <= MAX_PARAMS)
                .ok_or_else(|| MlError::Input(format!("more than {MAX_PARAMS} parameters")))?;
        }
        Ok(())
    }
}

/// A model: its architecture and flat parameters (layer by layer, weight
/// rows then biases).
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The model's shape.
    pub arch: Architecture,
    /// Every weight and bias, laid out as [`Architecture::tensors`] lists them.
    pub params: Vec<f64>,
    sizes: Vec<usize>,
}

/// Per-call working memory, so prediction and gradients do not allocate.
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    acts: Vec<Vec<f64>>,
    deltas: Vec<Vec<f64>>,
}

/// Dot product with four accumulators (a fixed order, so results do not
/// vary between runs, and the loop vectorises).
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for i in 0..chunks {
        for l in 0..4 {
            acc[l] += a[4 * i + l] * b[4 * i + l];
        }
    }
    let mut tail = 0.0;
    for i in 4 * chunks..n {
        tail += a[i] * b[i];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Softmax in place; returns log-sum-exp.
fn softmax(z: &mut [f64]) -> f64 {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for v in z.iter_mut() {
        *v = (*v - m).exp();
        s += *v;
    }
    for v in z.iter_mut() {
        *v /= s;
    }
    m + s.ln()
}

impl Model {
    /// All-zero parameters (logistic regression starts there).
    pub fn zeros(arch: Architecture) -> Result<Self, MlError> {
        arch.validate()?;
        let sizes = arch.sizes();
        let n = sizes.windows(2).map(|w| (w[0] + 1) * w[1]).sum();
        Ok(Model {
            arch,
            params: vec![0.0; n],
            sizes,
        })
    }

    /// Glorot-uniform weights and zero biases, from `rng`.
    pub fn init(arch: Architecture, rng: &mut impl rand::Rng) -> Result<Self, MlError> {
        use rand::RngExt;
        let mut m = Model::zeros(arch)?;
        let mut at = 0;
        for w in m.sizes.clone().windows(2) {
            let bound = (6.0 / (w[0] + w[1]) as f64).sqrt();
            for p in &mut m.params[at..at + w[0] * w[1]] {
                *p = rng.random_range(-bound..bound);
            }
            at += (w[0] + 1) * w[1];
        }
        Ok(m)
    }

    /// From named tensors; each must have exactly its declared shape.
    pub fn from_tensors(
        arch: Architecture,
        mut get: impl FnMut(&str) -> Option<(Vec<usize>, Vec<f64>)>,
    ) -> Result<Self, MlError> {
        let mut m = Model::zeros(arch)?;
        let mut at = 0;
        for (name, shape) in m.arch.tensors() {
            let (s, v) =
                get(&name).ok_or_else(|| MlError::Input(format!("tensor {name} is missing")))?;
            if s != shape || v.len() != shape.iter().product::<usize>() {
                return Err(MlError::Input(format!(
                    "tensor {name}: shape {s:?}, the architecture needs {shape:?}"
                )));
            }
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(MlError::Input(format!(
                    "tensor {name}: element {i} is not finite"
                )));
            }
            m.params[at..at + v.len()].copy_from_slice(&v);
            at += v.len();
        }
        Ok(m)
    }

    /// Named tensors with their values, in parameter order.
    pub fn to_tensors(&self) -> Vec<(String, Vec<usize>, Vec<f64>)> {
        let mut at = 0;
        self.arch
            .tensors()
            .into_iter()
            .map(|(name, shape)| {
                let n: usize = shape.iter().product();
                let v = self.params[at..at + n].to_vec();
                at += n;
                (name, shape, v)
            })
            .collect()
    }

    /// The same architecture with other parameters.
    pub fn with_params(&self, params: &[f64]) -> Model {
        Model {
            arch: self.arch.clone(),
            params: params.to_vec(),
            sizes: self.sizes.clone(),
        }
    }

    /// Whether parameter `i` is a weight (penalised), not a bias.
    pub fn penalty_mask(&self) -> Vec<bool> {
        let mut mask = Vec::with_capacity(self.params.len());
        for w in self.sizes.windows(2) {
            mask.extend(std::iter::repeat_n(true, w[0] * w[1]));
            mask.extend(std::iter::repeat_n(false, w[1]));
        }
        mask
    }

    /// The number of classes (probabilities per prediction).
    pub fn classes(&self) -> usize {
        self.arch.classes()
    }

    /// The logit of a binary logistic regression (`None` for other models).
    fn binary_logit(&self, x: &[f64]) -> Option<f64> {
        if self.sizes.len() != 2 || self.sizes[1] != 1 {
            return None;
        }
        let d = self.sizes[0];
        Some(self.params[d] + dot(&self.params[..d], x))
    }

    fn forward(&self, x: &[f64], s: &mut Scratch) {
        let layers = self.sizes.len() - 1;
        s.acts.resize(layers, Vec::new());
        let mut at = 0;
        for l in 0..layers {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let w = &self.params[at..at + n_in * n_out];
            let b = &self.params[at + n_in * n_out..at + (n_in + 1) * n_out];
            at += (n_in + 1) * n_out;
            let (before, rest) = s.acts.split_at_mut(l);
            let input: &[f64] = if l == 0 { x } else { &before[l - 1] };
            let out = &mut rest[0];
            out.clear();
            for o in 0..n_out {
                let row = &w[o * n_in..(o + 1) * n_in];
                let z = b[o] + dot(row, input);
                out.push(if l + 1 < layers { z.max(0.0) } else { z });
            }
        }
    }

    /// Class probabilities of one encoded row into `probs` (length = classes).
    pub fn predict_row(&self, x: &[f64], probs: &mut [f64], s: &mut Scratch) {
        if let Some(z) = self.binary_logit(x) {
            let p = sigmoid(z);
            probs[0] = 1.0 - p;
            probs[1] = p;
            return;
        }
        self.forward(x, s);
        let z = &s.acts[s.acts.len() - 1];
        if z.len() == 1 {
            let p = sigmoid(z[0]);
            probs[0] = 1.0 - p;
            probs[1] = p;
        } else {
            probs.copy_from_slice(z);
            softmax(probs);
        }
    }

    /// The class the last forward pass (of [`Model::input_grad`]) predicts.
    pub fn predicted(&self, s: &Scratch) -> usize {
        let Some(z) = s.acts.last() else { return 0 };
        if z.len() == 1 {
            usize::from(z[0] > 0.0)
        } else {
            (0..z.len()).fold(0, |b, c| if z[c] > z[b] { c } else { b })
        }
    }

    /// The gradient of one example's log loss with respect to its input
    /// (written to `out`), and the loss: what gradient attacks follow.
    pub fn input_grad(&self, x: &[f64], y: usize, out: &mut [f64], s: &mut Scratch) -> f64 {
        self.forward(x, s);
        let layers = self.sizes.len() - 1;
        let z = &s.acts[layers - 1];
        let (loss, mut delta) = if z.len() == 1 {
            let yb = if y == 1 { 1.0 } else { 0.0 };
            (softplus(z[0]) - yb * z[0], vec![sigmoid(z[0]) - yb])
        } else {
            let mut d = z.clone();
            let lse = softmax(&mut d);
            let loss = lse - z[y];
            d[y] -= 1.0;
            (loss, d)
        };
        let mut offs = Vec::with_capacity(layers);
        let mut at = 0;
        for l in 0..layers {
            offs.push(at);
            at += (self.sizes[l] + 1) * self.sizes[l + 1];
        }
        for l in (0..layers).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let w = &self.params[offs[l]..offs[l] + n_in * n_out];
            let mut prev = vec![0.0; n_in];
            for (o, dv) in delta.iter().enumerate().take(n_out) {
                if *dv != 0.0 {
                    for (p, wi) in prev.iter_mut().zip(&w[o * n_in..(o + 1) * n_in]) {
                        *p += dv * wi;
                    }
                }
            }
            if l > 0 {
                for (p, a) in prev.iter_mut().zip(&s.acts[l - 1]) {
                    if *a <= 0.0 {
                        *p = 0.0;
                    }
                }
            }
            delta = prev;
        }
        out.copy_from_slice(&delta[..out.len()]);
        loss
    }

    /// Adds the gradient of one example's log loss to `grad` and returns the
    /// loss.
    pub fn example_grad(&self, x: &[f64], y: usize, grad: &mut [f64], s: &mut Scratch) -> f64 {
        if let Some(z) = self.binary_logit(x) {
            // Binary logistic regression, the hot path of L-BFGS: no layers.
            let d = self.sizes[0];
            let yb = if y == 1 { 1.0 } else { 0.0 };
            let g = sigmoid(z) - yb;
            for (gi, xi) in grad[..d].iter_mut().zip(x) {
                *gi += g * xi;
            }
            grad[d] += g;
            return softplus(z) - yb * z;
        }
        self.forward(x, s);
        let layers = self.sizes.len() - 1;
        s.deltas.resize(layers, Vec::new());
        // Output delta: p - onehot(y).
        let z = &s.acts[layers - 1];
        let loss;
        {
            let d = &mut s.deltas[layers - 1];
            d.clear();
            if z.len() == 1 {
                let yb = if y == 1 { 1.0 } else { 0.0 };
                loss = softplus(z[0]) - yb * z[0];
                d.push(sigmoid(z[0]) - yb);
            } else {
                d.extend_from_slice(z);
                let lse = softmax(d);
                loss = lse - z[y];
                d[y] -= 1.0;
            }
        }
        // Parameter offsets per layer.
        let mut offs = Vec::with_capacity(layers);
        let mut at = 0;
        for l in 0..layers {
            offs.push(at);
            at += (self.sizes[l] + 1) * self.sizes[l + 1];
        }
        for l in (0..layers).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let off = offs[l];
            let input: &[f64] = if l == 0 { x } else { &s.acts[l - 1] };
            let d = &s.deltas[l];
            for o in 0..n_out {
                let g = &mut grad[off + o * n_in..off + (o + 1) * n_in];
                let dv = d[o];
                if dv != 0.0 {
                    for (gi, xi) in g.iter_mut().zip(input) {
                        *gi += dv * xi;
                    }
                }
                grad[off + n_in * n_out + o] += dv;
            }
            if l > 0 {
                let w = &self.params[off..off + n_in * n_out];
                let mut prev = std::mem::take(&mut s.deltas[l - 1]);
                prev.clear();
                prev.resize(n_in, 0.0);
                for o in 0..n_out {
                    let dv = s.deltas[l][o];
                    if dv != 0.0 {
                        for (p, wi) in prev.iter_mut().zip(&w[o * n_in..(o + 1) * n_in]) {
                            *p += dv * wi;
                        }
                    }
                }
                for (p, a) in prev.iter_mut().zip(&s.acts[l - 1]) {
                    if *a <= 0.0 {
                        *p = 0.0;
                    }
                }
                s.deltas[l - 1] = prev;
            }
        }
        loss
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn numeric_grad(m: &Model, x: &[f64], y: usize) -> Vec<f64> {
        let mut s = Scratch::default();
        let mut out = vec![0.0; m.params.len()];
        for (i, o) in out.iter_mut().enumerate() {
            let h = 1e-6;
            let mut a = m.clone();
            a.params[i] += h;
            let mut b = m.clone();
            b.params[i] -= h;
            let mut g = vec![0.0; m.params.len()];
            let fa = a.example_grad(x, y, &mut g, &mut s);
            let fb = b.example_grad(x, y, &mut g, &mut s);
            *o = (fa - fb) / (2.0 * h);
        }
        out
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let x = [0.3, -1.2, 0.7];
        for arch in [
            Architecture::Logreg {
                inputs: 3,
                classes: 2,
            },
            Architecture::Logreg {
                inputs: 3,
                classes: 4,
            },
            Architecture::Mlp {
                inputs: 3,
                hidden: vec![5],
                classes: 2,
            },
            Architecture::Mlp {
                inputs: 3,
                hidden: vec![4, 3],
                classes: 3,
            },
        ] {
            let mut m = Model::init(arch.clone(), &mut rng).unwrap();
            for (i, p) in m.params.iter_mut().enumerate() {
                *p += 0.01 * i as f64; // non-zero biases too
            }
            for y in 0..arch.classes() {
                let mut g = vec![0.0; m.params.len()];
                m.example_grad(&x, y, &mut g, &mut Scratch::default());
                let n = numeric_grad(&m, &x, y);
                for (a, b) in g.iter().zip(&n) {
                    assert!((a - b).abs() < 1e-6, "{arch:?} y={y}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn input_gradients_match_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x = [0.3, -1.2, 0.7];
        for arch in [
            Architecture::Logreg {
                inputs: 3,
                classes: 2,
            },
            Architecture::Logreg {
                inputs: 3,
                classes: 3,
            },
            Architecture::Mlp {
                inputs: 3,
                hidden: vec![4, 3],
                classes: 2,
            },
        ] {
            let m = Model::init(arch.clone(), &mut rng).unwrap();
            let mut s = Scratch::default();
            for y in 0..arch.classes() {
                let mut g = [0.0; 3];
                m.input_grad(&x, y, &mut g, &mut s);
                for i in 0..3 {
                    let (mut a, mut b) = (x, x);
                    a[i] += 1e-6;
                    b[i] -= 1e-6;
                    let mut sink = vec![0.0; m.params.len()];
                    let fa = m.example_grad(&a, y, &mut sink, &mut s);
                    let fb = m.example_grad(&b, y, &mut sink, &mut s);
                    let num = (fa - fb) / 2e-6;
                    assert!(
                        (g[i] - num).abs() < 1e-6,
                        "{arch:?} y={y} x{i}: {} vs {num}",
                        g[i]
                    );
                }
            }
        }
    }

    #[test]
    fn tensors_round_trip_and_shapes_are_checked() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let arch = Architecture::Mlp {
            inputs: 3,
            hidden: vec![4],
            classes: 2,
        };
        let m = Model::init(arch.clone(), &mut rng).unwrap();
        let t = m.to_tensors();
        let back = Model::from_tensors(arch.clone(), |n| {
            t.iter()
                .find(|x| x.0 == n)
                .map(|x| (x.1.clone(), x.2.clone()))
        })
        .unwrap();
        assert_eq!(back, m);
        let err = Model::from_tensors(arch, |n| {
            t.iter()
                .find(|x| x.0 == n)
                .map(|x| (vec![x.2.len()], x.2.clone()))
        });
        assert!(err.is_err());
        assert!(
            Architecture::Mlp {
                inputs: 3,
                hidden: vec![],
                classes: 2
            }
            .validate()
            .is_err()
        );
        assert!(
            Architecture::Logreg {
                inputs: usize::MAX,
                classes: 2
            }
            .validate()
            .is_err()
        );
    }
}
