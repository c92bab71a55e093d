//! Watching live traffic: per-model windows of validated requests tested
//! for drift against the package's reference profile, a per-request
//! out-of-distribution score, and per-key abuse signals.
//!
//! Nothing here runs on a request's path: the server hands observations
//! to a monitor thread, which feeds these structures.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value};
use statrs::distribution::{ChiSquared, ContinuousCDF};
use warden_ml::profile::{FeatureProfile, ReferenceProfile};

use crate::drift::{self, CurColumn, DriftReport, Pair, RefColumn, Thresholds};

/// Squared Mahalanobis distance of standardised numeric features from the
/// training mean, under the training covariance.
#[derive(Clone, Debug)]
pub struct Mahalanobis {
    /// Per feature: name, training mean and standard deviation.
    features: Vec<(String, f64, f64)>,
    mean: Vec<f64>,
    /// Lower-triangular Cholesky factor of the covariance (plus a small
    /// ridge), row-major.
    chol: Vec<f64>,
    /// Squared distance above which a request is out of distribution.
    pub threshold: f64,
}

impl Mahalanobis {
    /// From a profile; `None` without numeric features or with a
    /// covariance that is not positive definite even after the ridge.
    /// The threshold is the chi-square quantile at `level` (e.g. 0.999).
    pub fn from_profile(p: &ReferenceProfile, level: f64) -> Option<Self> {
        let cov = &p.covariance;
        let d = cov.features.len();
        if d == 0 || cov.mean.len() != d || cov.matrix.len() != d {
            return None;
        }
        let mut features = Vec::with_capacity(d);
        for name in &cov.features {
            let (mean, std) = p.features.iter().find_map(|f| match f {
                FeatureProfile::Numeric {
                    name: n, mean, std, ..
                } if n == name => Some((*mean, *std)),
                _ => None,
            })?;
            features.push((name.clone(), mean, std));
        }
        // Cholesky of Σ + ridge·I; hand-written because the matrix is small
        // (one row per numeric feature) and a linear-algebra crate would
        // cost more to build than these lines.
        let ridge = 1e-6;
        let mut l = vec![0.0; d * d];
        for i in 0..d {
            if cov.matrix[i].len() != d {
                return None;
            }
            for j in 0..=i {
                let mut sum = cov.matrix[i][j] + if i == j { ridge } else { 0.0 };
                for k in 0..j {
                    sum -= l[i * d + k] * l[j * d + k];
                }
                if i == j {
                    if sum.is_nan() || sum <= 0.0 || !sum.is_finite() {
                        return None;
                    }
                    l[i * d + i] = sum.sqrt();
                } else {
                    l[i * d + j] = sum / l[j * d + j];
                }
            }
        }
        let threshold = ChiSquared::new(d as f64).ok()?.inverse_cdf(level);
        Some(Mahalanobis {
            features,
            mean: cov.mean.clone(),
            chol: l,
            threshold,
        })
    }

    /// Squared distance of one record (missing numeric features count as
    /// the training mean, as the model's imputation does).
    pub fn score(&self, record: &Map<String, Value>) -> f64 {
        let d = self.features.len();
        // Solve L y = (x - μ) by forward substitution; d² = |y|².
        let mut y = vec![0.0; d];
        let mut total = 0.0;
        for i in 0..d {
            let (name, mean, std) = &self.features[i];
            let raw = record.get(name).and_then(Value::as_f64);
            let z = match raw {
                Some(v) if v.is_finite() && *std > 0.0 => (v - mean) / std,
                _ => 0.0,
            };
            let mut s = z - self.mean[i];
            for (k, yk) in y.iter().enumerate().take(i) {
                s -= self.chol[i * d + k] * yk;
            }
            y[i] = s / self.chol[i * d + i];
            total += y[i] * y[i];
        }
        total
    }
}

/// Window settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowConfig {
    /// A window closes at this many rows…
    pub max_rows: usize,
    /// …or after this many seconds, if it holds at least `min_rows`.
    pub max_seconds: f64,
    /// Fewest rows a window must hold to close on `max_seconds`.
    pub min_rows: usize,
}

impl Default for WindowConfig {
    fn default() -> Self {
        WindowConfig {
            max_rows: 500,
            max_seconds: 60.0,
            min_rows: 50,
        }
    }
}

/// A model version's live window.
pub struct ModelWatch {
    features: Vec<(String, RefColumn)>,
    predictions: BTreeMap<String, f64>,
    profile_rows: u64,
    /// The out-of-distribution scorer; `None` when the profile gives none (see
    /// [`Mahalanobis::from_profile`]), and then no record counts as out of
    /// distribution.
    pub ood: Option<Mahalanobis>,
    numeric: Vec<Vec<f64>>,
    categorical: Vec<BTreeMap<String, u64>>,
    cat_missing: Vec<u64>,
    predicted: BTreeMap<String, u64>,
    rows: usize,
    ood_hits: usize,
}

/// A closed window's result.
#[derive(Clone, Debug, Serialize)]
pub struct WindowResult {
    /// Records the window held when it closed.
    pub rows: usize,
    /// Share of those records scored out of distribution (0 for an empty
    /// window).
    pub ood_share: f64,
    /// The window's native drift report against the profile, with the
    /// predicted class mix when any record in it had a predicted class.
    pub drift: DriftReport,
}

impl ModelWatch {
    /// An empty window over a package's reference profile; `ood_level` is the
    /// chi-square quantile level of the out-of-distribution threshold (e.g.
    /// 0.999).
    pub fn new(profile: &ReferenceProfile, ood_level: f64) -> Self {
        let features: Vec<(String, RefColumn)> = profile
            .features
            .iter()
            .map(RefColumn::from_profile)
            .collect();
        let n = features.len();
        ModelWatch {
            predictions: profile.predictions.clone(),
            profile_rows: profile.rows,
            ood: Mahalanobis::from_profile(profile, ood_level),
            numeric: vec![Vec::new(); n],
            categorical: vec![BTreeMap::new(); n],
            cat_missing: vec![0; n],
            features,
            predicted: BTreeMap::new(),
            rows: 0,
            ood_hits: 0,
        }
    }

    /// Records observed since the window opened.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Adds one validated record and its predicted class (`None` when the
    /// server abstained); returns whether it was out of distribution.
    pub fn observe(&mut self, record: &Map<String, Value>, predicted: Option<&str>) -> bool {
        for (i, (name, r)) in self.features.iter().enumerate() {
            let v = record.get(name);
            match r {
                RefColumn::Numeric(_) => {
                    self.numeric[i].push(v.and_then(Value::as_f64).unwrap_or(f64::NAN));
                }
                RefColumn::Categorical { .. } => match v {
                    Some(Value::String(s)) => match self.categorical[i].get_mut(s) {
                        Some(n) => *n += 1,
                        None => {
                            self.categorical[i].insert(s.clone(), 1);
                        }
                    },
                    Some(Value::Null) | None => self.cat_missing[i] += 1,
                    Some(other) => *self.categorical[i].entry(other.to_string()).or_insert(0) += 1,
                },
            }
        }
        if let Some(c) = predicted {
            *self.predicted.entry(c.to_string()).or_insert(0) += 1;
        }
        self.rows += 1;
        let out = self
            .ood
            .as_ref()
            .is_some_and(|m| m.score(record) > m.threshold);
        if out {
            self.ood_hits += 1;
        }
        out
    }

    /// Tests the window against the profile and starts a new one.
    pub fn close(&mut self, th: &Thresholds) -> WindowResult {
        let currents: Vec<CurColumn> = self
            .features
            .iter()
            .enumerate()
            .map(|(i, (_, r))| match r {
                RefColumn::Numeric(_) => CurColumn::numeric(&self.numeric[i]),
                RefColumn::Categorical { .. } => CurColumn::Categorical {
                    counts: std::mem::take(&mut self.categorical[i]),
                    missing: self.cat_missing[i],
                },
            })
            .collect();
        let pairs: Vec<Pair<'_>> = self
            .features
            .iter()
            .zip(&currents)
            .map(|((n, r), c)| Pair {
                name: n,
                reference: r,
                current: c,
            })
            .collect();
        let predicted = std::mem::take(&mut self.predicted);
        let drift = drift::native(
            &pairs,
            (!predicted.is_empty()).then_some((&self.predictions, self.profile_rows, &predicted)),
            th,
            1,
        );
        let result = WindowResult {
            rows: self.rows,
            ood_share: if self.rows == 0 {
                0.0
            } else {
                self.ood_hits as f64 / self.rows as f64
            },
            drift,
        };
        for v in &mut self.numeric {
            v.clear();
        }
        for m in &mut self.cat_missing {
            *m = 0;
        }
        self.rows = 0;
        self.ood_hits = 0;
        result
    }
}

/// Abuse-signal settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AbuseConfig {
    /// Fewest requests in a window for the share signals to count.
    pub min_requests: usize,
    /// A window's request count this many times the key's norm is a spike.
    pub rate_factor: f64,
    /// Share of requests that nearly repeat an earlier one.
    pub near_duplicate_share: f64,
    /// Features that may differ for a request to nearly repeat another.
    pub near_duplicate_features: usize,
    /// Share of predictions whose top probability is below `boundary_confidence`.
    pub boundary_share: f64,
    /// Top probability below which a prediction counts as near the decision
    /// boundary.
    pub boundary_confidence: f64,
    /// Share of one-feature changes that change the same feature.
    pub sweep_share: f64,
    /// Earlier requests each new one is compared with.
    pub memory: usize,
}

impl Default for AbuseConfig {
    fn default() -> Self {
        AbuseConfig {
            min_requests: 30,
            rate_factor: 5.0,
            near_duplicate_share: 0.5,
            near_duplicate_features: 2,
            boundary_share: 0.5,
            boundary_confidence: 0.6,
            sweep_share: 0.8,
            memory: 64,
        }
    }
}

/// A signal that crossed its threshold in a window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Signal {
    /// The caller's key, as given to [`AbuseWatch::observe`].
    pub key: String,
    /// `rate`, `near_duplicates`, `boundary`, `sweep`, `extraction`.
    pub name: &'static str,
    /// The signal's value in the window: for `rate` the request ratio to the
    /// key's norm, for `extraction` the share of the three share signals
    /// (`near_duplicates`, `boundary`, `sweep`) that fired, otherwise a share.
    pub value: f64,
    /// The threshold the value reached (the [`AbuseConfig`] setting; 2/3 for
    /// `extraction`).
    pub threshold: f64,
    /// Windows in a row this signal has fired for this key.
    pub consecutive: u32,
}

/// One key's values in a closed window, fired or not (for metrics).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KeyValues {
    /// The caller's key, as given to [`AbuseWatch::observe`].
    pub key: String,
    /// Records the key sent in the window (each record of a batch counts).
    pub requests: usize,
    /// `requests` over the key's norm (its requests per window, smoothed
    /// exponentially over earlier windows in which `rate` did not fire); 0 in
    /// the key's first window or while its norm is 0.
    pub rate_ratio: f64,
    /// Share of the records that nearly repeat one of the key's `memory` latest
    /// earlier records: 1 to `near_duplicate_features` features differ and at
    /// least two are equal.
    pub near_duplicates: f64,
    /// Share of the records whose prediction's top probability is below
    /// `boundary_confidence`.
    pub boundary: f64,
    /// Of the records that differ from an earlier one in exactly one feature,
    /// the share whose changed feature is the most common one; 0 without such
    /// records.
    pub sweep: f64,
}

/// A value as a 64-bit key, so earlier requests are kept and compared as
/// a few integers rather than JSON values (numbers by their bits, text by
/// an FxHash; a collision can only make two requests look nearer).
fn value_key(v: Option<&Value>) -> u64 {
    use std::hash::{Hash, Hasher};
    match v {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_f64().map_or(1, |f| f.to_bits() | 1 << 63),
        Some(Value::Bool(b)) => 2 + *b as u64,
        Some(Value::String(s)) => {
            let mut h = rustc_hash::FxHasher::default();
            s.hash(&mut h);
            h.finish() & !(1 << 63)
        }
        Some(other) => {
            let mut h = rustc_hash::FxHasher::default();
            other.to_string().hash(&mut h);
            h.finish() & !(1 << 63)
        }
    }
}

#[derive(Default)]
struct KeyWatch {
    recent: VecDeque<Vec<u64>>,
    requests: usize,
    near: usize,
    boundary: usize,
    /// One-feature changes by feature index.
    single: HashMap<usize, usize>,
    /// Requests per window, smoothed over earlier windows.
    norm: Option<f64>,
    windows: u32,
    consecutive: HashMap<&'static str, u32>,
}

/// Per-key abuse signals of one model (the server keeps one per model).
pub struct AbuseWatch {
    cfg: AbuseConfig,
    keys: HashMap<String, KeyWatch>,
    /// Most keys tracked at once; new keys beyond it are not tracked.
    pub max_keys: usize,
}

impl AbuseWatch {
    /// Watches no keys yet, with the given settings and `max_keys` at 10 000.
    pub fn new(cfg: AbuseConfig) -> Self {
        AbuseWatch {
            cfg,
            keys: HashMap::new(),
            max_keys: 10_000,
        }
    }

    /// One request's records (in the model's feature order) and the top
    /// probability of each prediction.
    pub fn observe(
        &mut self,
        key: &str,
        features: &[&str],
        records: &[Map<String, Value>],
        top: &[f64],
    ) {
        if !self.keys.contains_key(key) && self.keys.len() >= self.max_keys {
            return;
        }
        let cfg = &self.cfg;
        let k = self.keys.entry(key.to_string()).or_default();
        for (i, r) in records.iter().enumerate() {
            let row: Vec<u64> = features.iter().map(|f| value_key(r.get(*f))).collect();
            let mut near = false;
            let mut single: Option<usize> = None;
            for prev in &k.recent {
                let mut changed = 0;
                let mut first = 0;
                for j in 0..row.len() {
                    if row[j] != prev[j] {
                        if changed == 0 {
                            first = j;
                        }
                        changed += 1;
                        if changed > cfg.near_duplicate_features {
                            break;
                        }
                    }
                }
                // Near: a few features changed and at least two held still
                // (with fewer features every pair would look near).
                if changed > 0 && changed <= cfg.near_duplicate_features && row.len() - changed >= 2
                {
                    near = true;
                    if changed == 1 {
                        single = Some(first);
                        break;
                    }
                }
            }
            k.requests += 1;
            if near {
                k.near += 1;
            }
            if let Some(j) = single {
                *k.single.entry(j).or_insert(0) += 1;
            }
            if top.get(i).is_some_and(|p| *p < cfg.boundary_confidence) {
                k.boundary += 1;
            }
            k.recent.push_back(row);
            if k.recent.len() > cfg.memory {
                k.recent.pop_front();
            }
        }
    }

    /// Closes every key's window: the values of each active key and the
    /// signals past their thresholds. Keys idle for the window forget
    /// their streaks.
    pub fn close(&mut self) -> (Vec<KeyValues>, Vec<Signal>) {
        let cfg = self.cfg.clone();
        let mut values = Vec::new();
        let mut signals = Vec::new();
        self.keys.retain(|_, k| k.requests > 0 || k.windows < 1000);
        for (name, k) in self.keys.iter_mut() {
            let n = k.requests;
            let share = |x: usize| if n == 0 { 0.0 } else { x as f64 / n as f64 };
            let ratio = match k.norm {
                Some(norm) if norm > 0.0 => n as f64 / norm,
                _ => 0.0,
            };
            let singles: usize = k.single.values().sum();
            let sweep = if singles == 0 {
                0.0
            } else {
                *k.single.values().max().unwrap_or(&0) as f64 / singles as f64
            };
            let v = KeyValues {
                key: name.clone(),
                requests: n,
                rate_ratio: ratio,
                near_duplicates: share(k.near),
                boundary: share(k.boundary),
                sweep,
            };
            let enough = n >= cfg.min_requests;
            let mut fired: Vec<(&'static str, f64, f64)> = Vec::new();
            if enough && k.windows >= 3 && ratio >= cfg.rate_factor {
                fired.push(("rate", ratio, cfg.rate_factor));
            }
            if enough && v.near_duplicates >= cfg.near_duplicate_share {
                fired.push((
                    "near_duplicates",
                    v.near_duplicates,
                    cfg.near_duplicate_share,
                ));
            }
            if enough && v.boundary >= cfg.boundary_share {
                fired.push(("boundary", v.boundary, cfg.boundary_share));
            }
            if enough && singles >= 10 && sweep >= cfg.sweep_share {
                fired.push(("sweep", sweep, cfg.sweep_share));
            }
            // Extraction probing: near-repeats plus boundary-seeking or a
            // one-feature sweep (MITRE ATLAS AML.T0024 / AML.T0043 patterns).
            let has = |s: &str| fired.iter().any(|f| f.0 == s);
            if has("near_duplicates") && (has("boundary") || has("sweep")) {
                let score = fired.iter().filter(|f| f.0 != "rate").count() as f64 / 3.0;
                fired.push(("extraction", score, 2.0 / 3.0));
            }
            let names: Vec<&'static str> = fired.iter().map(|f| f.0).collect();
            k.consecutive.retain(|s, _| names.contains(s));
            for (sname, value, threshold) in fired {
                let c = k.consecutive.entry(sname).or_insert(0);
                *c += 1;
                signals.push(Signal {
                    key: name.clone(),
                    name: sname,
                    value,
                    threshold,
                    consecutive: *c,
                });
            }
            if n > 0 {
                values.push(v);
            }
            // The norm learns from ordinary windows only, so a flood does
            // not become the norm.
            if !names.contains(&"rate") {
                k.norm = Some(match k.norm {
                    Some(m) => 0.8 * m + 0.2 * n as f64,
                    None => n as f64,
                });
            }
            k.windows = k.windows.saturating_add(1);
            k.requests = 0;
            k.near = 0;
            k.boundary = 0;
            k.single.clear();
        }
        signals.sort_by(|a, b| a.key.cmp(&b.key).then(a.name.cmp(b.name)));
        values.sort_by(|a, b| a.key.cmp(&b.key));
        (values, signals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use warden_ml::profile::{Covariance, Histogram};

    fn profile() -> ReferenceProfile {
        let num = |name: &str| FeatureProfile::Numeric {
            name: name.into(),
            count: 1000,
            missing: 0,
            mean: 10.0,
            std: 2.0,
            min: 0.0,
            max: 20.0,
            quantiles: vec![[0.0, 0.0], [0.5, 10.0], [1.0, 20.0]],
            histogram: Histogram {
                edges: vec![0.0, 10.0, 20.0],
                counts: vec![500, 500],
            },
        };
        ReferenceProfile {
            format: "x".into(),
            rows: 1000,
            features: vec![num("a"), num("b")],
            covariance: Covariance {
                features: vec!["a".into(), "b".into()],
                mean: vec![0.0, 0.0],
                matrix: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            },
            predictions: [("0".to_string(), 0.5), ("1".to_string(), 0.5)].into(),
        }
    }

    fn rec(a: f64, b: f64) -> Map<String, Value> {
        json!({"a": a, "b": b}).as_object().cloned().unwrap()
    }

    fn rec4(a: f64, b: f64, c: f64, d: f64) -> Map<String, Value> {
        json!({"a": a, "b": b, "c": c, "d": d})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn mahalanobis_flags_far_points_only() {
        let m = Mahalanobis::from_profile(&profile(), 0.999).unwrap();
        assert!(m.score(&rec(10.0, 10.0)) < 1e-9);
        // 3 sd on each axis: d² = 18 > chi2(2) 0.999 quantile (13.8).
        assert!(m.score(&rec(16.0, 16.0)) > m.threshold);
        assert!(m.score(&rec(12.0, 8.0)) < m.threshold);
    }

    #[test]
    fn window_of_shifted_rows_drifts() {
        let mut w = ModelWatch::new(&profile(), 0.999);
        for i in 0..400 {
            let x = 16.0 + (i % 4) as f64;
            w.observe(&rec(x, x), Some("1"));
        }
        let r = w.close(&Thresholds::default());
        assert_eq!(r.rows, 400);
        assert!(r.drift.dataset_drift);
        assert!(r.drift.prediction_drift);
        assert!(r.ood_share > 0.9);
        assert_eq!(w.rows(), 0);
    }

    #[test]
    fn probing_client_is_flagged_and_an_ordinary_one_is_not() {
        let mut a = AbuseWatch::new(AbuseConfig::default());
        let feats = ["a", "b", "c", "d"];
        for window in 0..2 {
            for i in 0..100 {
                // Sweep feature a around the boundary, the rest fixed.
                a.observe(
                    "scraper",
                    &feats,
                    &[rec4(9.0 + i as f64 * 0.01, 5.0, 1.0, 2.0)],
                    &[0.52],
                );
                // Varied, confident traffic.
                let x = (i * 100 + window * 10_000) as f64;
                a.observe(
                    "web",
                    &feats,
                    &[rec4(x, x + 0.5, x + 0.25, x + 0.75)],
                    &[0.9],
                );
            }
            let (values, signals) = a.close();
            assert_eq!(values.len(), 2);
            assert!(signals.iter().all(|s| s.key == "scraper"), "{signals:?}");
            let ex = signals.iter().find(|s| s.name == "extraction").unwrap();
            assert_eq!(ex.consecutive, window as u32 + 1);
            assert!(signals.iter().any(|s| s.name == "sweep"));
        }
    }

    #[test]
    fn rate_spike_needs_a_norm() {
        let mut a = AbuseWatch::new(AbuseConfig::default());
        let feats = ["a", "b", "c", "d"];
        let mut n = 0;
        let mut send = |a: &mut AbuseWatch, count: usize| {
            for _ in 0..count {
                n += 1;
                let x = n as f64;
                a.observe("k", &feats, &[rec4(x, -x, x * 2.0, x * 3.0)], &[0.9]);
            }
        };
        for _ in 0..4 {
            send(&mut a, 40);
            assert!(a.close().1.is_empty());
        }
        send(&mut a, 400);
        let (_, s) = a.close();
        assert!(
            s.iter().any(|s| s.name == "rate" && s.value >= 5.0),
            "{s:?}"
        );
    }
}
