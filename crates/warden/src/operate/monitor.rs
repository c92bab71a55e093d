//! Drift of a current table against a reference: a registered model's
//! reference profile (`MODEL@N`), a registered dataset (`NAME@V`) or a
//! CSV file. The statistics are `warden_monitor`'s; this module resolves
//! the reference, lines the columns up and, for a model, predicts on the
//! current rows to test the class mix too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use warden_core::{Action, VersionRef};
use warden_data::read::{CsvOptions, read_csv_table};
use warden_data::{ColumnData, Table};
use warden_ml::profile::ReferenceProfile;
use warden_monitor::drift::{
    self, CurColumn, DriftReport, NumericRef, Pair, RefColumn, Thresholds,
};
use warden_monitor::evidently;

use crate::error::Error;
use crate::workspace::Workspace;

/// What current data is compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum DriftReference {
    /// A registered model's reference profile (`model:NAME@N`).
    Model(VersionRef),
    /// A registered dataset version (`dataset:NAME@V`).
    Dataset(VersionRef),
    /// A CSV file.
    File(PathBuf),
    /// `NAME@V` naming a model or a dataset, resolved in the workspace.
    Registered(VersionRef),
}

impl DriftReference {
    /// `model:NAME@N`, `dataset:NAME@V`, `NAME@V`, or a path (anything
    /// that exists on disk, contains a path separator, or ends in `.csv`).
    pub fn parse(s: &str) -> Result<Self, Error> {
        let version = |r: &str| -> Result<VersionRef, Error> { Ok(r.parse()?) };
        if let Some(r) = s.strip_prefix("model:") {
            return Ok(DriftReference::Model(version(r)?));
        }
        if let Some(r) = s.strip_prefix("dataset:") {
            return Ok(DriftReference::Dataset(version(r)?));
        }
        let p = Path::new(s);
        if p.exists() || s.contains('/') || s.to_ascii_lowercase().ends_with(".csv") {
            return Ok(DriftReference::File(p.to_path_buf()));
        }
        Ok(DriftReference::Registered(version(s)?))
    }

    /// Whether resolving it needs a workspace.
    pub fn needs_workspace(&self) -> bool {
        !matches!(self, DriftReference::File(_))
    }
}

/// How to compare.
#[derive(Clone, Debug)]
pub struct DriftRequest<'a> {
    /// What to compare with (see [`DriftReference::parse`]).
    pub reference: DriftReference,
    /// The current data: a CSV file, or `-` for standard input.
    pub current: &'a Path,
    /// Use the tests and verdicts of Evidently's DataDriftPreset
    /// (`--compat evidently`) instead of Warden's; needs reference rows, so
    /// not with a model's profile.
    pub evidently: bool,
    /// Effect sizes, significance level and multiple-testing correction
    /// that decide drift.
    pub thresholds: Thresholds,
    /// How to read the CSV files (the current one, and a file reference).
    pub csv: CsvOptions,
    /// Compute the distributions a report draws (for drifted and watched
    /// features); off, [`DriftOutcome::histograms`] is empty.
    pub charts: bool,
}

/// A column left out of the comparison, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    /// The column's name.
    pub column: String,
    /// Why it was left out (free text, missing on one side, …).
    pub reason: String,
}

/// The result of `monitor drift`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DriftOutcome {
    /// What was compared with: `model NAME@V`, `dataset NAME@V`, or the
    /// file's path.
    pub reference: String,
    /// The current file's path, as given.
    pub current: String,
    /// Rows on the reference side (for a model: the rows its profile was
    /// measured on).
    pub reference_rows: u64,
    /// Rows in the current file.
    pub current_rows: u64,
    /// Per-feature tests and verdicts and the overall dataset verdict
    /// (flattened into the JSON).
    #[serde(flatten)]
    pub report: DriftReport,
    /// Columns left out of the comparison.
    pub skipped: Vec<Skipped>,
    /// Per drifted or watched feature, both sides' shares for the report
    /// (empty unless [`DriftRequest::charts`]).
    #[serde(skip)]
    pub histograms: BTreeMap<String, Histogram>,
}

/// Shares of both sides over common bins (numeric) or levels (categorical).
#[derive(Clone, Debug, PartialEq)]
pub enum Histogram {
    /// A numeric feature's shares per bin.
    Numeric {
        /// Bin edges, one more than the bins.
        edges: Vec<f64>,
        /// The reference's share in each bin.
        reference: Vec<f64>,
        /// The current data's share in each bin.
        current: Vec<f64>,
    },
    /// A categorical feature's shares per level.
    Levels {
        /// The most frequent levels over both sides (at most 20), then
        /// `(other)` when there are more.
        levels: Vec<String>,
        /// The reference's share of each level.
        reference: Vec<f64>,
        /// The current data's share of each level.
        current: Vec<f64>,
    },
}

/// A comparison: the report, the columns left out, and the histograms.
pub type Compared = (DriftReport, Vec<Skipped>, BTreeMap<String, Histogram>);

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn read_table(path: &Path, opts: &CsvOptions) -> Result<Table, Error> {
    let mut r = crate::data::open_csv(path)?;
    read_csv_table(&mut r, opts).map_err(|e| Error::Data(format!("{}: {e}", path.display())))
}

/// A column's values as the drift tests take them.
enum Values<'a> {
    Numeric(std::borrow::Cow<'a, [f64]>),
    Categorical(Vec<Option<String>>),
    Skip(&'static str),
}

fn values(data: &ColumnData) -> Values<'_> {
    match data {
        ColumnData::Integer(v) => {
            Values::Numeric(v.iter().map(|x| x.map_or(f64::NAN, |i| i as f64)).collect())
        }
        ColumnData::Float(v) => Values::Numeric(std::borrow::Cow::Borrowed(v)),
        ColumnData::Date(v) => {
            Values::Numeric(v.iter().map(|x| x.map_or(f64::NAN, f64::from)).collect())
        }
        ColumnData::Boolean(v) => Values::Categorical(
            v.iter()
                .map(|x| x.map(|b| if b { "true" } else { "false" }.to_string()))
                .collect(),
        ),
        ColumnData::Categorical { .. } => {
            Values::Categorical((0..data.len()).map(|r| data.text(r)).collect())
        }
        ColumnData::Text(_) => {
            Values::Skip("free text (too many distinct values to compare as levels)")
        }
    }
}

fn cur_column(v: &Values) -> Option<CurColumn> {
    match v {
        Values::Numeric(x) => Some(CurColumn::numeric(x)),
        Values::Categorical(x) => Some(CurColumn::categorical(x.iter().map(|s| s.as_deref()))),
        Values::Skip(_) => None,
    }
}

fn ref_column(v: &Values) -> Option<RefColumn> {
    match v {
        Values::Numeric(x) => Some(RefColumn::Numeric(NumericRef::from_values(x))),
        Values::Categorical(x) => {
            let mut counts = BTreeMap::new();
            let mut missing = 0;
            for s in x {
                match s {
                    Some(s) => *counts.entry(s.clone()).or_insert(0u64) += 1,
                    None => missing += 1,
                }
            }
            Some(RefColumn::Categorical { counts, missing })
        }
        Values::Skip(_) => None,
    }
}

fn compat_values(v: &Values) -> Option<(evidently::Values, u64)> {
    match v {
        Values::Numeric(x) => {
            let kept: Vec<f64> = x.iter().copied().filter(|f| f.is_finite()).collect();
            let missing = (x.len() - kept.len()) as u64;
            Some((evidently::Values::Numeric(kept), missing))
        }
        Values::Categorical(x) => {
            let kept: Vec<String> = x.iter().flatten().cloned().collect();
            let missing = (x.len() - kept.len()) as u64;
            Some((evidently::Values::Categorical(kept), missing))
        }
        Values::Skip(_) => None,
    }
}

/// Compares two tables column by column (both samples).
pub fn drift_tables(
    reference: &Table,
    current: &Table,
    evidently_mode: bool,
    th: &Thresholds,
    charts: bool,
) -> Result<Compared, Error> {
    th.check().map_err(Error::Usage)?;
    let mut skipped = Vec::new();
    let mut pairs: Vec<(String, Values, Values)> = Vec::new();
    for c in &reference.columns {
        let Some(cur) = current.column(&c.name) else {
            skipped.push(Skipped {
                column: c.name.clone(),
                reason: "not in the current data".into(),
            });
            continue;
        };
        let (rv, cv) = (values(&c.data), values(&cur.data));
        if let Values::Skip(why) = rv {
            skipped.push(Skipped {
                column: c.name.clone(),
                reason: why.into(),
            });
            continue;
        }
        pairs.push((c.name.clone(), rv, cv));
    }
    for c in &current.columns {
        if reference.column(&c.name).is_none() {
            skipped.push(Skipped {
                column: c.name.clone(),
                reason: "not in the reference".into(),
            });
        }
    }
    if pairs.is_empty() {
        return Err(Error::Invalid(
            "the reference and the current data have no column in common to compare".into(),
        ));
    }
    // Columns are prepared (filtered, sorted) on every core.
    let report = if evidently_mode {
        let prepared = drift::par_map(&pairs, threads(), |(_, rv, cv)| {
            (compat_values(rv), compat_values(cv))
        });
        let mut cols = Vec::new();
        for ((name, _, _), prepared) in pairs.iter().zip(prepared) {
            let (Some((r, _)), Some((c, missing))) = prepared else {
                skipped.push(Skipped {
                    column: name.clone(),
                    reason: "free text in the current data".into(),
                });
                continue;
            };
            cols.push(evidently::Column {
                name: name.clone(),
                reference: r,
                current: c,
                reference_rows: reference.rows,
                current_missing: missing,
            });
        }
        evidently::compare(&cols, threads())
    } else {
        let prepared = drift::par_map(&pairs, threads(), |(_, rv, cv)| {
            (ref_column(rv), cur_column(cv))
        });
        let mut built = Vec::new();
        for ((name, _, _), prepared) in pairs.iter().zip(prepared) {
            match prepared {
                (Some(r), Some(c)) => built.push((name.as_str(), r, c)),
                _ => skipped.push(Skipped {
                    column: name.clone(),
                    reason: "free text in the current data".into(),
                }),
            }
        }
        let p: Vec<Pair<'_>> = built
            .iter()
            .map(|(n, r, c)| Pair {
                name: n,
                reference: r,
                current: c,
            })
            .collect();
        drift::native(&p, None, th, threads())
    };
    // Charts are drawn for the features that drifted or are watched.
    let shown: Vec<&str> = report
        .features
        .iter()
        .filter(|f| charts && f.verdict != drift::Verdict::Stable)
        .map(|f| f.feature.as_str())
        .collect();
    let mut hist = BTreeMap::new();
    for (name, rv, cv) in &pairs {
        if shown.contains(&name.as_str())
            && let Some(h) = histogram_of(rv, cv)
        {
            hist.insert(name.clone(), h);
        }
    }
    Ok((report, skipped, hist))
}

/// Shares over 30 equal bins spanning both samples, or over levels.
fn histogram_of(r: &Values, c: &Values) -> Option<Histogram> {
    match (r, c) {
        (Values::Numeric(a), Values::Numeric(b)) => {
            let finite = |v: &[f64]| {
                v.iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .collect::<Vec<_>>()
            };
            let (a, b) = (finite(a.as_ref()), finite(b.as_ref()));
            let (lo, hi) = a
                .iter()
                .chain(&b)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &x| {
                    (l.min(x), h.max(x))
                });
            if !lo.is_finite() {
                return None;
            }
            let hi = if hi > lo { hi } else { lo + 1.0 };
            let edges: Vec<f64> = (0..=30).map(|i| lo + (hi - lo) * i as f64 / 30.0).collect();
            Some(Histogram::Numeric {
                reference: shares_in(&a, &edges),
                current: shares_in(&b, &edges),
                edges,
            })
        }
        (Values::Categorical(a), Values::Categorical(b)) => Some(levels_of(a, b)),
        _ => None,
    }
}

fn shares_in(v: &[f64], edges: &[f64]) -> Vec<f64> {
    let bins = edges.len() - 1;
    let mut c = vec![0.0; bins];
    for &x in v {
        let k = edges
            .partition_point(|e| *e <= x)
            .saturating_sub(1)
            .min(bins - 1);
        c[k] += 1.0;
    }
    let n = v.len().max(1) as f64;
    c.iter().map(|x| x / n).collect()
}

fn levels_of(a: &[Option<String>], b: &[Option<String>]) -> Histogram {
    let count = |v: &[Option<String>]| {
        let mut m: BTreeMap<String, f64> = BTreeMap::new();
        for s in v.iter().flatten() {
            *m.entry(s.clone()).or_insert(0.0) += 1.0;
        }
        m
    };
    levels_of_counts(&count(a), &count(b))
}

/// Shares per level from each side's counts: the 20 most frequent levels
/// over both sides, the rest together.
fn levels_of_counts(ca: &BTreeMap<String, f64>, cb: &BTreeMap<String, f64>) -> Histogram {
    let (na, nb) = (
        ca.values().sum::<f64>().max(1.0),
        cb.values().sum::<f64>().max(1.0),
    );
    let mut all: Vec<(String, f64)> = ca
        .keys()
        .chain(cb.keys())
        .map(|k| {
            (
                k.clone(),
                ca.get(k).copied().unwrap_or(0.0) / na + cb.get(k).copied().unwrap_or(0.0) / nb,
            )
        })
        .collect();
    all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    all.dedup_by(|x, y| x.0 == y.0);
    let shown: Vec<String> = all.iter().take(20).map(|(k, _)| k.clone()).collect();
    let mut reference: Vec<f64> = shown
        .iter()
        .map(|k| ca.get(k).copied().unwrap_or(0.0) / na)
        .collect();
    let mut current: Vec<f64> = shown
        .iter()
        .map(|k| cb.get(k).copied().unwrap_or(0.0) / nb)
        .collect();
    let mut levels = shown.clone();
    if all.len() > shown.len() {
        levels.push("(other)".into());
        reference.push(1.0 - reference.iter().sum::<f64>());
        current.push(1.0 - current.iter().sum::<f64>());
    }
    Histogram::Levels {
        levels,
        reference,
        current,
    }
}

/// Compares a current table with a model's reference profile, testing the
/// predicted class mix when `predicted` class counts are given.
pub fn drift_profile(
    profile: &ReferenceProfile,
    current: &Table,
    predicted: Option<&BTreeMap<String, u64>>,
    th: &Thresholds,
    charts: bool,
) -> Result<Compared, Error> {
    th.check().map_err(Error::Usage)?;
    let mut missing = Vec::new();
    let mut built = Vec::new();
    let mut hist = BTreeMap::new();
    for fp in &profile.features {
        let (name, r) = RefColumn::from_profile(fp);
        let Some(col) = current.column(&name) else {
            missing.push(name);
            continue;
        };
        let v = values(&col.data);
        let c = match (&r, &v) {
            // A categorical feature read as numbers (levels "1", "2") is
            // compared as text.
            (RefColumn::Categorical { .. }, Values::Numeric(x)) => CurColumn::categorical(
                x.iter()
                    .map(|f| f.is_finite().then(|| warden_data::table::format_float(*f)))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(|s| s.as_deref()),
            ),
            _ => match cur_column(&v) {
                Some(c) => c,
                None => CurColumn::categorical(
                    (0..col.data.len())
                        .map(|i| col.data.text(i))
                        .collect::<Vec<_>>()
                        .iter()
                        .map(|s| s.as_deref()),
                ),
            },
        };
        if let (true, RefColumn::Numeric(nr), CurColumn::Numeric { sorted, .. }) = (charts, &r, &c)
        {
            hist.insert(name.clone(), profile_histogram(nr, sorted));
        }
        if let (
            true,
            RefColumn::Categorical { counts, .. },
            CurColumn::Categorical { counts: cc, .. },
        ) = (charts, &r, &c)
        {
            let float = |m: &BTreeMap<String, u64>| -> BTreeMap<String, f64> {
                m.iter().map(|(k, n)| (k.clone(), *n as f64)).collect()
            };
            hist.insert(name.clone(), levels_of_counts(&float(counts), &float(cc)));
        }
        built.push((name, r, c));
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(format!(
            "the current data lacks the model's input feature(s): {}",
            missing.join(", ")
        )));
    }
    let p: Vec<Pair<'_>> = built
        .iter()
        .map(|(n, r, c)| Pair {
            name: n,
            reference: r,
            current: c,
        })
        .collect();
    let report = drift::native(
        &p,
        predicted.map(|c| (&profile.predictions, profile.rows, c)),
        th,
        threads(),
    );
    Ok((report, Vec::new(), hist))
}

/// Reference shares over the frozen bins, with the current sample's.
fn profile_histogram(r: &NumericRef, cur: &[f64]) -> Histogram {
    let total = r.bin_counts.iter().sum::<f64>().max(1.0);
    let cur_counts = warden_monitor::stats::bin_counts_open(cur, &r.edges);
    let n = cur.len().max(1) as f64;
    // Widen the outer bins to hold the current values beyond the range.
    let mut edges = r.edges.clone();
    if let (Some(first), Some(&lo)) = (edges.first_mut(), cur.first()) {
        *first = first.min(lo);
    }
    if let (Some(last), Some(&hi)) = (edges.last_mut(), cur.last()) {
        *last = last.max(hi);
    }
    Histogram::Numeric {
        edges,
        reference: r.bin_counts.iter().map(|c| c / total).collect(),
        current: cur_counts.iter().map(|c| c / n).collect(),
    }
}

impl Workspace {
    /// `monitor drift`: compares the current CSV with a reference.
    pub fn monitor_drift(&self, req: &DriftRequest<'_>) -> Result<DriftOutcome, Error> {
        drift_with(Some(self), req)
    }
}

/// `monitor drift` with or without a workspace (a CSV reference needs none).
pub fn drift_with(ws: Option<&Workspace>, req: &DriftRequest<'_>) -> Result<DriftOutcome, Error> {
    let need = || {
        ws.ok_or_else(|| {
            Error::Usage(
                "a registered reference needs a workspace (run inside one, or give a CSV file)"
                    .into(),
            )
        })
    };
    enum Resolved {
        Model(VersionRef),
        Dataset(VersionRef),
        File(PathBuf),
    }
    let reference = match &req.reference {
        DriftReference::Model(r) => Resolved::Model(r.clone()),
        DriftReference::Dataset(r) => Resolved::Dataset(r.clone()),
        DriftReference::File(p) => Resolved::File(p.clone()),
        DriftReference::Registered(r) => {
            let w = need()?;
            let mut read = w.store().read()?;
            let is_model = read.model(&r.name, r.version)?.is_some();
            let is_dataset = read.dataset(&r.name, r.version)?.is_some();
            drop(read);
            match (is_model, is_dataset) {
                (true, true) => {
                    return Err(Error::AmbiguousReference {
                        reference: r.to_string(),
                    });
                }
                (true, false) => Resolved::Model(r.clone()),
                (false, true) => Resolved::Dataset(r.clone()),
                (false, false) => {
                    return Err(Error::NotFound(format!("no model or dataset {r}")));
                }
            }
        }
    };
    // The current file is read on its own thread while the reference is
    // read (or its profile loaded) on this one.
    let (current, reference_table) = std::thread::scope(|scope| {
        let cur = scope.spawn(|| read_table(req.current, &req.csv));
        let reference_table = match &reference {
            Resolved::File(p) => {
                read_table(p, &req.csv).map(|t| Some((p.display().to_string(), t)))
            }
            Resolved::Dataset(r) => need().and_then(|w| {
                w.authorize(Action::DataRead, &format!("dataset:{r}"))?;
                let d = w.find_dataset(r)?;
                Ok(Some((
                    format!("dataset {}@{}", d.name, d.version),
                    w.dataset_table(&d)?,
                )))
            }),
            Resolved::Model(_) => Ok(None),
        };
        let current = cur
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("reading the current data failed".into())));
        (current, reference_table)
    });
    let current = current?;
    let reference_table = reference_table?;
    let (label, ref_rows, (report, skipped, histograms)) = match &reference {
        Resolved::File(_) | Resolved::Dataset(_) => {
            let Some((label, t)) = reference_table else {
                return Err(Error::Invalid("the reference could not be read".into()));
            };
            let out = drift_tables(&t, &current, req.evidently, &req.thresholds, req.charts)?;
            (label, t.rows as u64, out)
        }
        Resolved::Model(r) => {
            if req.evidently {
                return Err(Error::Usage(format!(
                    "--compat evidently needs the reference data (a dataset or a CSV file); model {r} keeps only its profile (quantiles and frozen bins)"
                )));
            }
            let w = need()?;
            let (info, profile, loaded) = w.model_profile(r)?;
            let frame = crate::model::frame_for_model(loaded.as_ref(), &current)?;
            let probs = loaded.predict_frame(&frame, threads()).map_err(|e| {
                Error::Data(format!("predicting on {}: {e}", req.current.display()))
            })?;
            let classes = loaded.classes();
            let mut counts: BTreeMap<String, u64> =
                classes.iter().map(|c| (c.clone(), 0)).collect();
            for i in 0..probs.rows {
                let row = probs.row(i);
                if let Some((k, _)) = row
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.is_finite())
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    && let Some(n) = counts.get_mut(&classes[k])
                {
                    *n += 1;
                }
            }
            let out = drift_profile(
                &profile,
                &current,
                Some(&counts),
                &req.thresholds,
                req.charts,
            )?;
            (format!("model {info}"), profile.rows, out)
        }
    };
    Ok(DriftOutcome {
        reference: label,
        current: req.current.display().to_string(),
        reference_rows: ref_rows,
        current_rows: current.rows as u64,
        report,
        skipped,
        histograms,
    })
}

impl Workspace {
    /// A model's reference profile and its verified predictor.
    pub(crate) fn model_profile(
        &self,
        r: &VersionRef,
    ) -> Result<
        (
            String,
            ReferenceProfile,
            Box<dyn warden_ml::predictor::Predictor>,
        ),
        Error,
    > {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let (files, _, _) = self.verified_files(&m)?;
        let pkg = warden_artifact::package::parse(&files)?;
        let predictor = crate::model::predictor_from_package(&pkg)?;
        let profile: ReferenceProfile = match &pkg.profile {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                Error::Verification(format!("{}: {e}", warden_artifact::package::PROFILE_FILE))
            })?,
            None => {
                return Err(Error::Invalid(format!(
                    "model {}@{} has no reference profile to compare with",
                    m.name, m.version
                )));
            }
        };
        Ok((format!("{}@{}", m.name, m.version), profile, predictor))
    }
}
