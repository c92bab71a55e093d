//! `train`, `model list | show | export`, and loading a verified model.
//!
//! A trained model becomes a package (see `warden_artifact::package`) whose
//! files are blobs, signed with the workspace's pipeline key in the OpenSSF
//! model-signing format, and recorded as `NAME@V` with a `model.train`
//! event in one transaction. Loading goes the other way and trusts nothing:
//! blobs are digest-checked, the signature is verified against the trust
//! store and must cover exactly those files, and only then is any byte of
//! the package parsed, by the strict loader.

use crate::documents::{
    DatasetUse, FeatureSpec, ModelInput, ModelLabels, ModelManifest, ModelProvenance, ModelSection,
    SCHEMA_VERSION, SourceFile, Training,
};
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::Digest as _;
use warden_artifact::keys::SigningKey;
use warden_artifact::model_signing::{self, ModelKey, ModelSigningError};
use warden_artifact::package::{
    self, MANIFEST_FILE, PACKAGE_FORMAT, PROFILE_FILE, TensorSpec, WEIGHTS_FILE,
};
use warden_core::{Action, Digest, ObjectName, Timestamp, VersionRef, actions, canonical_json};
use warden_data::table::{ColumnData, MISSING_CODE, Table};
use warden_ml::model::Model;
use warden_ml::onnx::{OnnxPredictor, OnnxSpec};
use warden_ml::train::{DpReport, Metrics, OptimiserReport};
use warden_ml::{
    FeatureColumn, Frame, InputKind, Labels, MlError, NativePredictor, Predictor, TrainConfig,
};
use warden_store::ModelRecord;

use crate::{Error, Workspace};

impl From<MlError> for Error {
    fn from(e: MlError) -> Self {
        match e {
            MlError::Config(m) => Error::Usage(m),
            other => Error::Invalid(other.to_string()),
        }
    }
}

impl From<package::PackageError> for Error {
    fn from(e: package::PackageError) -> Self {
        match e {
            package::PackageError::Io { path, source } => Error::Io { path, source },
            other => Error::Verification(other.to_string()),
        }
    }
}

/// What to train.
#[derive(Clone, Debug)]
pub struct TrainRequest {
    /// The dataset version to train on (`NAME@V`, or `NAME` for the latest).
    pub dataset: VersionRef,
    /// The target column; the dataset's declared target if `None`.
    pub target: Option<String>,
    /// Feature columns; the dataset's declared features (free text left
    /// out) if `None`.
    pub features: Option<Vec<String>>,
    /// The model's name; the new version is `NAME@V`, one after the latest.
    pub name: ObjectName,
    /// Model kind, optimiser, seed, holdout share and DP-SGD settings.
    pub config: TrainConfig,
    /// Worker threads; the result does not depend on it.
    pub threads: usize,
}

/// A model in the registry's index: see [`Workspace::model_index`].
#[derive(Debug, Serialize)]
pub struct ModelSummary {
    /// The model's name.
    pub name: warden_core::ObjectName,
    /// How many versions it has.
    pub versions: u64,
    /// Its newest version's row (the manifest unparsed).
    pub newest: ModelRecord,
    /// Its stage pointers.
    pub stages: Vec<warden_store::StagePointer>,
}

/// A recorded model version with its manifest parsed.
#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ModelInfo {
    /// The registry row (flattened into the JSON).
    #[serde(flatten)]
    pub record: ModelRecord,
    /// The package's files: file name to the `sha256:` digest of its blob.
    pub files: BTreeMap<String, String>,
    /// The package's manifest, parsed from the row.
    pub manifest: ModelManifest,
}

impl ModelInfo {
    pub(crate) fn from_record(r: &ModelRecord) -> Result<Self, Error> {
        Ok(ModelInfo {
            record: r.clone(),
            files: crate::stored::model_files(r)?,
            manifest: crate::stored::model_manifest(r)?,
        })
    }

    /// `NAME@V`.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.record.name, self.record.version)
    }

    /// The label column the model was trained or imported to predict.
    pub fn target(&self) -> Option<&str> {
        self.manifest.labels.target.as_deref()
    }
}

/// The result of `train`.
#[derive(Debug, Serialize)]
pub struct TrainOutcome {
    /// The version recorded.
    pub model: ModelInfo,
    /// `NAME@V` of the dataset version trained on.
    pub dataset: String,
    /// The label column.
    pub target: String,
    /// The classes, in the order of the model's outputs.
    pub classes: Vec<String>,
    /// The feature columns used, in order.
    pub features: Vec<String>,
    /// Declared features left out, with the reason.
    pub skipped_features: Vec<(String, String)>,
    /// Metrics on the training split.
    pub train: Metrics,
    /// Metrics on the holdout split (`None`: the holdout was empty).
    pub holdout: Option<Metrics>,
    /// The optimiser used, its iterations or steps, and whether it converged.
    pub optimiser: OptimiserReport,
    /// The privacy guarantee (`None`: trained without DP-SGD).
    pub dp: Option<DpReport>,
    /// `sha256:` digest of the training settings with the dataset's manifest
    /// digest, target and features (as in the manifest).
    pub config_digest: String,
    /// Wall-clock seconds: reading the dataset, fitting (preprocessing,
    /// optimisation, holdout metrics, profile), packaging and recording.
    pub seconds: Timings,
}

/// Where the time of a training run went.
#[derive(Debug, Serialize)]
pub struct Timings {
    /// Reading and checking the dataset, building the frame.
    pub load: f64,
    /// Training, from preprocessing to the reference profile.
    pub fit: f64,
    /// Packaging, signing, storing and recording.
    pub record: f64,
    /// The fit's phases.
    pub phases: warden_ml::train::PhaseSeconds,
}

/// What to import.
#[derive(Clone, Debug)]
pub struct ImportRequest {
    /// The model file: ONNX, XGBoost (JSON or UBJSON) or LightGBM (text),
    /// told apart by its content.
    pub file: std::path::PathBuf,
    /// The model's name; the new version is `NAME@V`, one after the latest.
    pub name: ObjectName,
    /// The TOML input schema (see [`ImportSchema`]).
    pub schema: std::path::PathBuf,
    /// A reference batch (see [`ImportCheck`]): the framework's own
    /// probabilities for some rows, which the imported model must
    /// reproduce within `check_tolerance` or nothing is registered.
    pub check: Option<std::path::PathBuf>,
    /// Largest absolute difference accepted per probability (default
    /// [`DEFAULT_CHECK_TOLERANCE`]).
    pub check_tolerance: Option<f64>,
    /// The dataset version the model was trained on (or a held-out one):
    /// its reference profile (what `monitor drift --reference model:…`
    /// compares with) and the training ranges of undeclared features are
    /// measured on it, and it is recorded in the model's lineage.
    pub dataset: Option<VersionRef>,
    /// How the file was built (a pipeline's training stage): an in-toto
    /// statement without subject, whose predicate is SLSA provenance v1.
    /// The import names the model file as its subject, signs it with the
    /// pipeline key as a DSSE envelope and packages it.
    pub provenance: Option<crate::pipeline::BuildStatement>,
}

/// The default largest difference between a check batch's probabilities
/// and the imported model's: ONNX runtimes compute in float32, whose
/// rounding over a few hundred trees or a softmax stays well below this.
pub const DEFAULT_CHECK_TOLERANCE: f64 = 1e-5;

/// How an import's reference batch compared (recorded in the manifest and
/// the `model.import` event).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ImportCheck {
    /// The check file's name, without its directory.
    pub file: String,
    /// `sha256:` digest of the check file.
    pub digest: String,
    /// Rows in the batch, every one compared.
    pub rows: u64,
    /// The largest absolute difference seen between a probability and the
    /// framework's.
    pub max_abs_diff: f64,
    /// The largest difference accepted (`--check-tolerance`).
    pub tolerance: f64,
}

/// Largest check batch read (`--check`).
pub const MAX_CHECK_BYTES: u64 = 256 << 20;

/// Column holding the framework's probability of `class` in a check batch.
pub fn check_column(class: &str) -> String {
    format!("probability:{class}")
}

/// The declared interface of an imported model (`--schema FILE`):
///
/// ```toml
/// classes = ["Adelie", "Chinstrap", "Gentoo"]  # the probability output's order
/// target = "species"                            # optional: the label's name
/// input = "input"                               # optional when the model has one input
/// probabilities = "probabilities"               # optional when an output has that name
///
/// [[features]]                                  # in the input tensor's column order
/// name = "bill_length_mm"
/// min = 32.1                                    # optional, recorded in the manifest
/// max = 59.6
/// ```
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportSchema {
    /// The class labels, in the order of the model's probability output.
    pub classes: Vec<String>,
    /// The label's name (`None`: the `--dataset` version's target, if any).
    #[serde(default)]
    pub target: Option<String>,
    /// The model input that takes the feature matrix; optional when the
    /// model has one input.
    #[serde(default)]
    pub input: Option<String>,
    /// The output holding the class probabilities; optional when an output
    /// is named `probabilities` or exactly one is a ZipMap.
    #[serde(default)]
    pub probabilities: Option<String>,
    /// The features, in the input's column order; required for a model taking
    /// one matrix and for tree ensembles.
    #[serde(default)]
    pub features: Vec<ImportFeature>,
}

/// One `[[features]]` entry of an [`ImportSchema`].
#[derive(Clone, Debug, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFeature {
    /// The feature's name: the dataset column it is read from.
    pub name: String,
    /// The model input this feature feeds, for a model with one input per
    /// feature (default: the input of the same name, or skl2onnx's name
    /// for it).
    #[serde(default)]
    pub input: Option<String>,
    /// The categories of a text input (checked against the model's
    /// encoder when it has one; else what the model is served with).
    #[serde(default)]
    pub categories: Option<Vec<String>>,
    /// Lower end of the feature's valid range, recorded in the manifest
    /// (default: the lowest value in `--dataset`, if given); robustness
    /// evaluation keeps perturbed values within it, and serving refuses
    /// values outside it (widened by the range tolerance) when the package
    /// has no training profile for the feature.
    #[serde(default)]
    pub min: Option<f64>,
    /// Upper end of the feature's valid range (default: the highest value
    /// in `--dataset`, if given); see `min`. Without `--dataset`, `min` and
    /// `max` are given together or not at all.
    #[serde(default)]
    pub max: Option<f64>,
}

/// The result of `model import`.
#[derive(Debug, Serialize)]
pub struct ImportOutcome {
    /// The version recorded.
    pub model: ModelInfo,
    /// What runs the model: `tract` (one row a run), `tract-batched`
    /// (256 rows a run), `compiled-trees` (an ONNX tree ensemble) or
    /// `boosted-trees` (XGBoost, LightGBM).
    pub engine: &'static str,
    /// What the ONNX file declares (ONNX imports).
    pub onnx: Option<warden_ml::onnx::OnnxInfo>,
    /// `sha256:` digest of the imported file.
    pub source_digest: String,
    /// The reference batch reproduced, when one was given.
    pub check: Option<ImportCheck>,
}

/// A model loaded from the store after verification.
pub struct LoadedModel {
    /// The version's record and manifest.
    pub info: ModelInfo,
    /// The model, ready to predict.
    pub predictor: Box<dyn Predictor>,
    /// The trusted key whose signature verified.
    pub verified_by: String,
}

/// A package's files, its signature bundle, and the key that verified it.
pub(crate) type VerifiedFiles = (BTreeMap<String, Vec<u8>>, Vec<u8>, String);

/// The result of `model export`.
#[derive(Debug, Serialize)]
pub struct Exported {
    /// `NAME@V`.
    pub model: String,
    /// The directory the package files were written to.
    pub path: String,
    /// The signature bundle's path (`DIR.sig`).
    pub signature: String,
    /// How many package files were written.
    pub files: usize,
}

/// The frame a model expects (see [`Predictor::inputs`]), from any table
/// holding its input features: numeric inputs from numeric columns,
/// categorical inputs from each value's text.
pub fn frame_for_model(model: &dyn Predictor, table: &Table) -> Result<Frame, Error> {
    let mut frame = Frame::default();
    for (name, kind) in model.inputs() {
        let col = table.column(name).ok_or_else(|| {
            Error::Invalid(format!(
                "the input has no column {name:?}, a feature of the model"
            ))
        })?;
        let fc = match kind {
            InputKind::Numeric => {
                if !matches!(col.data.column_type(), t if t.is_numeric() || t == warden_data::ColumnType::Boolean || t == warden_data::ColumnType::Date)
                {
                    let bad = (0..table.rows)
                        .find(|&r| !col.data.is_null(r))
                        .map(|r| (r, col.data.text(r).unwrap_or_default()));
                    return Err(Error::Invalid(match bad {
                        Some((r, v)) => format!(
                            "column {}: expected numbers, data row {} holds {v:?}",
                            name,
                            r + 1
                        ),
                        None => format!("column {}: expected numbers", name),
                    }));
                }
                FeatureColumn::Numeric(
                    (0..table.rows)
                        .map(|r| col.data.number(r).unwrap_or(f64::NAN))
                        .collect(),
                )
            }
            InputKind::Categorical => {
                let mut levels: Vec<String> = Vec::new();
                let mut index: BTreeMap<String, u32> = BTreeMap::new();
                let mut codes = Vec::with_capacity(table.rows);
                for r in 0..table.rows {
                    match col.data.text(r) {
                        None => codes.push(warden_ml::frame::MISSING),
                        Some(t) => {
                            let next = index.len() as u32;
                            let c = *index.entry(t.clone()).or_insert_with(|| {
                                levels.push(t);
                                next
                            });
                            codes.push(c);
                        }
                    }
                }
                FeatureColumn::Categorical { codes, levels }
            }
        };
        frame.push(name, fc)?;
    }
    Ok(frame)
}

/// Builds the training frame and labels from a stored table.
pub fn frame_from_table(
    table: &Table,
    features: &[String],
    target: &str,
) -> Result<(Frame, Labels), Error> {
    let mut frame = Frame::default();
    for name in features {
        if name == target {
            return Err(Error::Usage(format!(
                "{name} is the target; it cannot also be a feature"
            )));
        }
        let col = table
            .column(name)
            .ok_or_else(|| Error::Invalid(format!("the dataset has no column {name:?}")))?;
        let fc = match &col.data {
            ColumnData::Integer(v) => {
                FeatureColumn::Numeric(v.iter().map(|x| x.map_or(f64::NAN, |x| x as f64)).collect())
            }
            ColumnData::Float(v) => FeatureColumn::Numeric(v.clone()),
            ColumnData::Boolean(v) => FeatureColumn::Numeric(
                v.iter()
                    .map(|x| x.map_or(f64::NAN, |b| if b { 1.0 } else { 0.0 }))
                    .collect(),
            ),
            ColumnData::Date(v) => {
                FeatureColumn::Numeric(v.iter().map(|x| x.map_or(f64::NAN, f64::from)).collect())
            }
            ColumnData::Categorical { codes, levels } => FeatureColumn::Categorical {
                codes: codes
                    .iter()
                    .map(|&c| {
                        if c == MISSING_CODE {
                            warden_ml::frame::MISSING
                        } else {
                            c
                        }
                    })
                    .collect(),
                levels: levels.clone(),
            },
            ColumnData::Text(_) => {
                return Err(Error::Invalid(format!(
                    "feature {name} is free text, which the models cannot use; leave it out of --features"
                )));
            }
        };
        frame.push(name.clone(), fc)?;
    }
    let col = table
        .column(target)
        .ok_or_else(|| Error::Invalid(format!("the dataset has no target column {target:?}")))?;
    let mut texts = Vec::with_capacity(table.rows);
    let mut missing = Vec::new();
    for r in 0..table.rows {
        match col.data.text(r) {
            Some(t) => texts.push(t),
            None => {
                missing.push(r + 1);
                texts.push(String::new());
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::Invalid(format!(
            "target {target}: {} row(s) have no value (first: data row {}); a label is needed for every row",
            missing.len(),
            missing[0]
        )));
    }
    let mut classes: Vec<String> = texts
        .iter()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if col.data.column_type().is_numeric() {
        classes.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(f64::NAN),
                b.parse::<f64>().unwrap_or(f64::NAN),
            );
            x.total_cmp(&y)
        });
    }
    if classes.len() < 2 {
        return Err(Error::Invalid(format!(
            "target {target} is constant ({}): there is nothing to learn",
            classes.first().map_or("no rows", |c| c.as_str())
        )));
    }
    if classes.len() > 1000 {
        return Err(Error::Invalid(format!(
            "target {target} has {} distinct values; a classifier target has at most 1000",
            classes.len()
        )));
    }
    let index: BTreeMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let y = texts.iter().map(|t| index[t.as_str()]).collect();
    Ok((frame, Labels { classes, y }))
}

/// A key a package may be signed by: the trust store's unrevoked keys
/// (on a replica, as the hub lists them, or as pinned on the replica).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Signer {
    /// The key's name in the trust store.
    pub name: String,
    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519` (only ECDSA keys sign
    /// packages).
    pub algorithm: String,
    /// The public key as PEM text.
    pub public_pem: String,
}

impl Signer {
    /// A key pinned from a PEM file (`warden serve --hub --trust-key`):
    /// refused unless it is an ECDSA public key, the kind packages are
    /// signed with.
    pub fn from_pem(name: &str, pem: &str) -> Result<Signer, Error> {
        ModelKey::from_pem(pem)
            .map_err(|e| Error::Usage(format!("{name}: not an ECDSA public key ({e})")))?;
        Ok(Signer {
            name: name.to_string(),
            algorithm: "ecdsa".to_string(),
            public_pem: pem.to_string(),
        })
    }
}

/// Verifies a package: the signature bundle must verify under one of
/// `signers`, cover `digest` (the registry's `sha256:…`), and list exactly
/// `files`, each file's name with the SHA-256 (hex) of the bytes the
/// caller holds (the blob store hashes what it reads; a replica hashes what
/// it downloaded). Returns the name of the key that verified it. `title`
/// (`MODEL@N`) names the package in errors.
///
/// This is what a workspace checks before loading a version from its own
/// blob store, and what a serving replica checks on what it downloaded
/// from a hub, so neither trusts the bytes' carrier.
pub fn verify_package(
    title: &str,
    digest: &str,
    bundle: &[u8],
    files: &BTreeMap<String, String>,
    signers: &[Signer],
) -> Result<String, Error> {
    let mut verified = None;
    for k in signers.iter().filter(|k| k.algorithm.starts_with("ecdsa")) {
        let Ok(key) = ModelKey::from_pem(&k.public_pem) else {
            continue;
        };
        match model_signing::verify_bundle(bundle, &key) {
            Ok(v) => {
                verified = Some((v, k.name.clone()));
                break;
            }
            Err(ModelSigningError::KeyMismatch { .. } | ModelSigningError::BadSignature) => {
                continue;
            }
            Err(e) => return Err(Error::Verification(format!("model {title}: {e}"))),
        }
    }
    let (signed, key) = verified.ok_or_else(|| {
        Error::Verification(format!(
            "model {title}: not signed by any trusted, unrevoked key"
        ))
    })?;
    if format!("sha256:{}", signed.root_digest) != digest {
        return Err(Error::Verification(format!(
            "model {title}: the signature covers sha256:{}, the registry records {digest}",
            signed.root_digest
        )));
    }
    model_signing::check_files(&signed, files)
        .map_err(|e| Error::Verification(format!("model {title}: {e}")))?;
    Ok(key)
}

impl Workspace {
    pub(crate) fn find_model(&self, r: &VersionRef) -> Result<ModelRecord, Error> {
        self.store()
            .read()?
            .model(&r.name, r.version)?
            .ok_or_else(|| Error::NotFound(format!("model {r}")))
    }

    /// The pipeline signing key (ECDSA P-256 or P-384, own, unrevoked).
    fn pipeline_key(&self) -> Result<(warden_core::KeyName, String, SigningKey), Error> {
        let name = warden_core::KeyName::new(&self.config().keys.pipeline)?;
        let hint = format!(
            "create it with `warden keys generate {name} --type ecdsa-p256`, or name another key in [keys] pipeline in warden.toml"
        );
        let record = self
            .store()
            .read()?
            .key(&name)?
            .filter(|k| k.origin == "own")
            .ok_or_else(|| Error::NotFound(format!("the pipeline signing key {name} ({hint})")))?;
        if record.revoked_at.is_some() {
            return Err(Error::Invalid(format!(
                "the pipeline key {name} is revoked; {hint}"
            )));
        }
        let key = SigningKey::read_file(&self.private_key_path(&name), self.passphrase_bytes())?;
        if matches!(key, SigningKey::Ed25519(_)) {
            return Err(Error::Invalid(format!(
                "the pipeline key {name} is Ed25519; OpenSSF model signing needs ECDSA P-256 or P-384; {hint}"
            )));
        }
        Ok((name, record.key_id, key))
    }

    /// Trains a model on a dataset version, packages and signs it, and
    /// records `NAME@V`.
    pub fn train(
        &self,
        req: &TrainRequest,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<TrainOutcome, Error> {
        self.authorize(Action::ModelTrain, &format!("model:{}", req.name))?;
        self.check_freeze("training")?;
        let t0 = std::time::Instant::now();
        let (key_name, key_id, key) = self.pipeline_key()?;
        let ds = self
            .store()
            .read()?
            .dataset(&req.dataset.name, req.dataset.version)?
            .ok_or_else(|| Error::NotFound(format!("dataset {}", req.dataset)))?;
        let ds_manifest = crate::stored::dataset_manifest(&ds)?;
        if Digest::of(ds.manifest.as_bytes()).to_string() != ds.digest {
            return Err(Error::Verification(format!(
                "dataset {}@{}: the recorded manifest does not match its digest",
                ds.name, ds.version
            )));
        }
        let table = self.dataset_table(&ds)?;
        let target = match (&req.target, ds_manifest.roles.target.as_deref()) {
            (Some(t), _) => t.clone(),
            (None, Some(t)) => t.to_string(),
            (None, None) => {
                return Err(Error::Usage(format!(
                    "dataset {}@{} declares no target; pass --target COLUMN",
                    ds.name, ds.version
                )));
            }
        };
        let mut skipped = Vec::new();
        let features: Vec<String> = match &req.features {
            Some(f) => f.clone(),
            None => {
                let declared = ds_manifest.roles.features.clone();
                let mut out = Vec::new();
                for f in declared.into_iter().filter(|f| *f != target) {
                    match table.column(&f).map(|c| c.data.column_type()) {
                        Some(warden_data::ColumnType::Text) => {
                            skipped.push((f, "free text".to_string()))
                        }
                        Some(_) => out.push(f),
                        None => skipped.push((f, "not in the stored table".to_string())),
                    }
                }
                out
            }
        };
        if features.is_empty() {
            return Err(Error::Usage(format!(
                "dataset {}@{} has no usable feature columns; pass --features C1,C2,…",
                ds.name, ds.version
            )));
        }
        let (frame, labels) = frame_from_table(&table, &features, &target)?;
        let source_types: BTreeMap<String, &'static str> = features
            .iter()
            .filter_map(|f| {
                table
                    .column(f)
                    .map(|c| (f.clone(), c.data.column_type().as_str()))
            })
            .collect();
        drop(table);
        let t1 = std::time::Instant::now();
        let trained = warden_ml::train::train(&frame, &labels, &req.config, req.threads, progress)?;
        let t2 = std::time::Instant::now();

        let dataset_ref = format!("{}@{}", ds.name, ds.version);
        let config_doc = json!({"train": req.config, "dataset": ds.digest, "target": target, "features": features});
        let config_digest = Digest::of(&canonical_json(&config_doc)?);
        let kind = match req.config.model {
            warden_ml::ModelKind::Logreg => "logreg",
            warden_ml::ModelKind::Mlp => "mlp",
        };
        let tensors = trained.model.to_tensors();
        let tensor_specs: BTreeMap<String, TensorSpec> = tensors
            .iter()
            .map(|(n, s, _)| {
                (
                    n.clone(),
                    TensorSpec {
                        dtype: "F64".into(),
                        shape: s.clone(),
                    },
                )
            })
            .collect();
        let input: Vec<FeatureSpec> = trained
            .profile
            .features
            .iter()
            .map(|p| match p {
                warden_ml::profile::FeatureProfile::Numeric {
                    name,
                    min,
                    max,
                    missing,
                    ..
                } => FeatureSpec {
                    name: name.clone(),
                    kind: "numeric".into(),
                    source_type: source_types.get(name).map(|t| t.to_string()),
                    min: Some(*min),
                    max: Some(*max),
                    categories: None,
                    nullable: *missing > 0,
                },
                warden_ml::profile::FeatureProfile::Categorical {
                    name,
                    frequencies,
                    missing,
                    ..
                } => FeatureSpec {
                    name: name.clone(),
                    kind: "categorical".into(),
                    source_type: None,
                    min: None,
                    max: None,
                    categories: Some(frequencies.keys().cloned().collect()),
                    nullable: *missing > 0,
                },
            })
            .collect();
        let manifest = ModelManifest {
            schema_version: SCHEMA_VERSION,
            format: PACKAGE_FORMAT.to_string(),
            name: req.name.to_string(),
            model: ModelSection {
                kind: kind.to_string(),
                architecture: Some(trained.model.arch.clone()),
                onnx: None,
                ir_version: None,
                opsets: None,
                producer: None,
                operators: None,
            },
            tensors: Some(tensor_specs),
            input: ModelInput { features: input },
            preprocessing: Some(trained.preprocessor.clone()),
            labels: ModelLabels {
                target: Some(target.clone()),
                classes: trained.classes.clone(),
            },
            training: Some(Training {
                config: req.config.clone(),
                config_digest: config_digest.to_string(),
                seed: req.config.seed,
                optimiser: trained.optimiser.clone(),
                dp: trained.dp.clone(),
                metrics: crate::documents::TrainingMetrics {
                    train: trained.train.clone(),
                    holdout: trained.holdout.clone(),
                },
            }),
            provenance: ModelProvenance {
                datasets: vec![DatasetUse {
                    reference: dataset_ref.clone(),
                    digest: ds.digest.clone(),
                    output_digest: Some(ds.output_digest.clone()),
                }],
                source: None,
                import_check: None,
                build: None,
                warden_version: env!("CARGO_PKG_VERSION").to_string(),
            },
        };
        let files: BTreeMap<&str, Vec<u8>> = BTreeMap::from([
            (MANIFEST_FILE, canonical_json(&manifest)?),
            (PROFILE_FILE, canonical_json(&trained.profile)?),
            (WEIGHTS_FILE, package::encode_weights(&tensors)?),
        ]);
        let record = self.register_package(
            &req.name,
            kind,
            &files,
            &(key_name, key_id, key),
            actions::MODEL_TRAIN,
            |registered| crate::events::ModelTrained {
                registered,
                kind: kind.to_string(),
                datasets: vec![crate::events::DatasetUsed {
                    reference: dataset_ref.clone(),
                    digest: ds.digest.clone(),
                }],
                config_digest: config_digest.to_string(),
                seed: req.config.seed,
                dp: trained.dp.as_ref().map(|d| crate::events::DpSpent {
                    epsilon: d.epsilon,
                    delta: d.delta,
                    accountant: d.accountant.clone(),
                }),
            },
        )?;
        Ok(TrainOutcome {
            model: ModelInfo::from_record(&record)?,
            dataset: dataset_ref,
            target,
            classes: trained.classes,
            features,
            skipped_features: skipped,
            train: trained.train,
            holdout: trained.holdout,
            optimiser: trained.optimiser,
            dp: trained.dp,
            config_digest: config_digest.to_string(),
            seconds: Timings {
                load: (t1 - t0).as_secs_f64(),
                fit: (t2 - t1).as_secs_f64(),
                record: t2.elapsed().as_secs_f64(),
                phases: trained.seconds.clone(),
            },
        })
    }

    /// Checks that `files` load back through the strict loader, signs them
    /// with the pipeline key, stores them as blobs and records `NAME@V` with
    /// its audit event (`action`, `payload` plus model, digest and signature)
    /// in one transaction.
    fn register_package<P: Serialize>(
        &self,
        name: &ObjectName,
        kind: &str,
        files: &BTreeMap<&str, Vec<u8>>,
        key: &(warden_core::KeyName, String, SigningKey),
        action: &str,
        payload: impl FnOnce(crate::events::Registered) -> P,
    ) -> Result<ModelRecord, Error> {
        let (key_name, key_id, key) = key;
        // What we wrote must load back: never register a package the strict
        // loader would refuse.
        let owned: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        predictor_from_package(&package::parse(&owned)?)?;
        let digests: BTreeMap<String, String> = files
            .iter()
            .map(|(k, v)| (k.to_string(), hex::encode(sha2::Sha256::digest(v))))
            .collect();
        let (bundle, signed) = model_signing::sign_files(digests, name.as_str(), key, None)?;
        let mut blob_map = BTreeMap::new();
        for (file, bytes) in files {
            let (d, _) = self.blobs().put(&mut bytes.as_slice())?;
            blob_map.insert(file.to_string(), d.to_string());
        }
        let (sig_digest, _) = self.blobs().put(&mut bundle.as_slice())?;
        let digest = format!("sha256:{}", signed.root_digest);
        let manifest = files
            .get(MANIFEST_FILE)
            .ok_or_else(|| Error::Invalid("a package needs a manifest".into()))?;
        let mut tx = self.store().write()?;
        let version = tx.model(name, None)?.map_or(1, |m| m.version + 1);
        // A version number is given once: if the log registered this one
        // already, its row was deleted, and taking the number again would
        // give the old version's approvals, evaluations and pointers to
        // other bytes.
        let subject = format!("model:{name}@{version}");
        if let Some(e) = tx
            .events_about(&subject, &[actions::MODEL_TRAIN, actions::MODEL_IMPORT])?
            .first()
        {
            return Err(Error::StateDisagrees {
                row: format!("model {name}@{version}"),
                detail: format!(
                    "event {} registered it but the row is gone; run `warden audit verify`",
                    e.seq
                ),
            });
        }
        let record = ModelRecord {
            name: name.clone(),
            version,
            digest: digest.clone(),
            kind: kind.into(),
            files: String::from_utf8_lossy(&canonical_json(&blob_map)?).into_owned(),
            signature_digest: sig_digest.to_string(),
            signed_by: key_name.to_string(),
            manifest: String::from_utf8_lossy(manifest).into_owned(),
            created_by: self.actor().clone(),
            created_at: Timestamp::now(),
        };
        tx.insert_model(&record)?;
        let title = format!("{name}@{version}");
        let payload = payload(crate::events::Registered {
            model: title.clone(),
            digest,
            signature: crate::events::PackageSignature {
                key: key_name.to_string(),
                key_id: key_id.clone(),
                digest: sig_digest.to_string(),
            },
        });
        crate::events::append(
            &mut *tx,
            self.actor(),
            action,
            &format!("model:{title}"),
            &payload,
        )?;
        self.commit(tx)?;
        Ok(record)
    }

    /// Imports an ONNX, XGBoost or LightGBM model with its declared schema:
    /// built (an ONNX model also run once with tract), checked against the
    /// reference batch when one is given, packaged, signed and recorded as
    /// `NAME@V`.
    pub fn model_import(&self, req: &ImportRequest) -> Result<ImportOutcome, Error> {
        self.authorize(Action::ModelImport, &format!("model:{}", req.name))?;
        let key = self.pipeline_key()?;
        let schema_text = crate::data::read_small(&req.schema)?;
        let schema: ImportSchema = toml::from_str(&schema_text).map_err(|e| {
            Error::Invalid(format!(
                "{}: {}",
                req.schema.display(),
                e.to_string().trim_end()
            ))
        })?;
        if schema.classes.len() < 2 {
            return Err(Error::Invalid(format!(
                "{}: a classifier declares at least two classes",
                req.schema.display()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &schema.features {
            if !seen.insert(f.name.as_str()) {
                return Err(Error::Invalid(format!(
                    "{}: feature {} declared twice",
                    req.schema.display(),
                    f.name
                )));
            }
            if let Some(v) = f.min.into_iter().chain(f.max).find(|v| !v.is_finite()) {
                return Err(Error::Invalid(format!(
                    "{}: feature {}: bound {v} is not a finite number",
                    req.schema.display(),
                    f.name
                )));
            }
            // A range needs both ends: robustness and serving use pairs,
            // so one end alone would be silently ignored (with --dataset the
            // other end comes from the data).
            if req.dataset.is_none() && f.min.is_some() != f.max.is_some() {
                return Err(Error::Invalid(format!(
                    "{}: feature {}: give both min and max (or --dataset, which supplies the missing end from the data)",
                    req.schema.display(),
                    f.name
                )));
            }
            if let (Some(lo), Some(hi)) = (f.min, f.max)
                && lo > hi
            {
                return Err(Error::Invalid(format!(
                    "{}: feature {}: min {lo} > max {hi}",
                    req.schema.display(),
                    f.name
                )));
            }
        }
        let meta = std::fs::metadata(&req.file).map_err(|e| Error::io(&req.file, e))?;
        if meta.len() > warden_ml::onnx::MAX_ONNX_BYTES {
            return Err(Error::Invalid(format!(
                "{}: {} bytes, more than the {} an imported model may have",
                req.file.display(),
                meta.len(),
                warden_ml::onnx::MAX_ONNX_BYTES
            )));
        }
        let source = std::fs::read(&req.file).map_err(|e| Error::io(&req.file, e))?;
        let imported = match warden_ml::boosted::BoostedFormat::sniff(&source) {
            Some(format) => import_boosted(&source, format, &schema, req)?,
            None => import_onnx(&source, &schema, req)?,
        };
        let predictor = imported.predictor.as_ref();
        let check = match &req.check {
            Some(path) => Some(check_batch(
                predictor,
                path,
                req.check_tolerance.unwrap_or(DEFAULT_CHECK_TOLERANCE),
            )?),
            None => None,
        };
        // Evidence from the training data: the reference profile and the
        // ranges of the features the schema leaves open.
        let evidence = match &req.dataset {
            Some(r) => {
                self.authorize(Action::DataRead, &format!("dataset:{r}"))?;
                let d = self.find_dataset(r)?;
                let table = self.dataset_table(&d)?;
                let frame = frame_for_model(predictor, &table).map_err(|e| {
                    Error::Invalid(format!("dataset {}@{}: {e}", d.name, d.version))
                })?;
                let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
                let probs = predictor.predict_frame(&frame, threads).map_err(|e| {
                    Error::Invalid(format!("dataset {}@{}: {e}", d.name, d.version))
                })?;
                let profile = warden_ml::profile::imported_profile(
                    &frame,
                    &probs,
                    predictor.classes(),
                    threads,
                );
                Some((d, profile))
            }
            None => None,
        };
        let range = |name: &str| -> (Option<f64>, Option<f64>) {
            let Some((_, p)) = &evidence else {
                return (None, None);
            };
            p.features
                .iter()
                .find_map(|f| match f {
                    warden_ml::profile::FeatureProfile::Numeric {
                        name: n,
                        min,
                        max,
                        count,
                        ..
                    } if n == name && *count > 0 => Some((Some(*min), Some(*max))),
                    _ => None,
                })
                .unwrap_or((None, None))
        };
        // The categories of a string input: those its encoder knows.
        let categories = |name: &str| -> Option<Vec<String>> {
            predictor.known_levels(name).map(<[String]>::to_vec)
        };
        let source_digest = Digest::of(&source);
        let file_name = req
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The build's provenance names the file the command wrote.
        let build = match &req.provenance {
            Some(b) => {
                let st = crate::pipeline::provenance::statement(b, &file_name, &source_digest);
                let (envelope, statement_digest) =
                    crate::pipeline::provenance::sign(&st, &key.2, &key.1)?;
                let params = &b.predicate.build_definition.internal_parameters;
                let dirty = b
                    .predicate
                    .build_definition
                    .resolved_dependencies
                    .iter()
                    .find(|d| d.name.as_deref() == Some("code"))
                    .and_then(|d| d.annotations.as_ref())
                    .and_then(|a| a.get("dirty"))
                    .and_then(Value::as_bool);
                Some((
                    envelope,
                    crate::documents::BuildProvenance {
                        file: package::PROVENANCE_FILE.to_string(),
                        predicate_type: crate::pipeline::provenance::SLSA_PREDICATE.to_string(),
                        statement_digest: statement_digest.to_string(),
                        sandbox: params.sandbox.clone(),
                        dirty,
                    },
                ))
            }
            None => None,
        };
        let manifest = ModelManifest {
            schema_version: SCHEMA_VERSION,
            format: PACKAGE_FORMAT.to_string(),
            name: req.name.to_string(),
            model: imported.section.clone(),
            tensors: None,
            input: ModelInput {
                features: predictor
                    .inputs()
                    .into_iter()
                    .map(|(name, kind)| {
                        let declared = schema.features.iter().find(|f| f.name == name);
                        let (lo, hi) = range(name);
                        match kind {
                            InputKind::Numeric => FeatureSpec {
                                name: name.to_string(),
                                kind: "numeric".into(),
                                source_type: None,
                                min: declared.and_then(|f| f.min).or(lo),
                                max: declared.and_then(|f| f.max).or(hi),
                                categories: None,
                                nullable: false,
                            },
                            InputKind::Categorical => FeatureSpec {
                                name: name.to_string(),
                                kind: "categorical".into(),
                                source_type: None,
                                min: None,
                                max: None,
                                categories: categories(name),
                                nullable: false,
                            },
                        }
                    })
                    .collect(),
            },
            preprocessing: None,
            labels: ModelLabels {
                // The schema's, else the training dataset's label column.
                target: match (&schema.target, &evidence) {
                    (Some(t), _) => Some(t.clone()),
                    (None, Some((d, _))) => crate::stored::dataset_manifest(d)?.roles.target,
                    (None, None) => None,
                },
                classes: schema.classes.clone(),
            },
            training: None,
            provenance: ModelProvenance {
                datasets: evidence
                    .iter()
                    .map(|(d, _)| DatasetUse {
                        reference: format!("{}@{}", d.name, d.version),
                        digest: d.digest.clone(),
                        output_digest: Some(d.output_digest.clone()),
                    })
                    .collect(),
                source: Some(SourceFile {
                    file: file_name.clone(),
                    digest: source_digest.to_string(),
                }),
                import_check: check.clone(),
                build: build.as_ref().map(|(_, b)| b.clone()),
                warden_version: env!("CARGO_PKG_VERSION").to_string(),
            },
        };
        let mut files: BTreeMap<&str, Vec<u8>> = BTreeMap::from([
            (MANIFEST_FILE, canonical_json(&manifest)?),
            (imported.file, imported.bytes),
        ]);
        if let Some((_, profile)) = &evidence {
            files.insert(package::PROFILE_FILE, canonical_json(profile)?);
        }
        if let Some((envelope, _)) = build {
            files.insert(package::PROVENANCE_FILE, envelope);
        }
        let kind = imported.section.kind.clone();
        let record = self.register_package(
            &req.name,
            &kind,
            &files,
            &key,
            actions::MODEL_IMPORT,
            |registered| crate::events::ModelImported {
                registered,
                kind: kind.clone(),
                source: crate::events::ImportedFile {
                    file: file_name.clone(),
                    digest: source_digest.to_string(),
                },
                operators: imported.section.operators.clone(),
                producer: imported.section.producer.clone(),
                check: check.clone(),
                provenance: req.provenance.is_some(),
                dataset: evidence
                    .as_ref()
                    .map(|(d, _)| format!("{}@{}", d.name, d.version)),
            },
        )?;
        Ok(ImportOutcome {
            model: ModelInfo::from_record(&record)?,
            engine: imported.engine,
            onnx: imported.onnx,
            source_digest: source_digest.to_string(),
            check,
        })
    }

    /// Every model version.
    pub fn model_list(&self) -> Result<Vec<ModelInfo>, Error> {
        self.authorize(Action::ModelRead, "models")?;
        self.store()
            .read()?
            .models()?
            .iter()
            .map(ModelInfo::from_record)
            .collect()
    }

    /// Every version of one model, oldest first; not found when it has
    /// none.
    pub fn model_versions(&self, name: &warden_core::ObjectName) -> Result<Vec<ModelInfo>, Error> {
        self.authorize(Action::ModelRead, &format!("model:{name}"))?;
        let rows = self.store().read()?.model_versions(name)?;
        if rows.is_empty() {
            return Err(Error::NotFound(format!("model {name}")));
        }
        rows.iter().map(ModelInfo::from_record).collect()
    }

    /// A page of the registry's models, by name: `limit` from the
    /// `offset`th, each with its number of versions, its newest version's
    /// row and its stage pointers; and how many models there are in all.
    /// Manifests are not parsed: a page costs the same whatever the
    /// registry's size.
    pub fn model_index(&self, offset: u64, limit: u64) -> Result<(Vec<ModelSummary>, u64), Error> {
        self.authorize(Action::ModelRead, "models")?;
        let mut read = self.store().read()?;
        let total = read.model_count()?;
        let mut out = Vec::new();
        for (name, versions, newest) in read.model_names(offset, limit)? {
            let Some(record) = read.model(&name, Some(newest))? else {
                continue;
            };
            let stages = read.stages(&name)?;
            out.push(ModelSummary {
                name,
                versions,
                newest: record,
                stages,
            });
        }
        Ok((out, total))
    }

    /// One model version.
    pub fn model_show(&self, r: &VersionRef) -> Result<ModelInfo, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        ModelInfo::from_record(&self.find_model(r)?)
    }

    /// The package files of a record, digest-checked, and its verified
    /// signature: the only way package bytes leave the store.
    pub(crate) fn verified_files(&self, m: &ModelRecord) -> Result<VerifiedFiles, Error> {
        let title = format!("{}@{}", m.name, m.version);
        let map = crate::stored::model_files(m)?;
        let parse = |s: &str| {
            s.parse::<Digest>()
                .map_err(|e| Error::Verification(format!("model {title}: {e}")))
        };
        let bundle = self.blobs().get(&parse(&m.signature_digest)?)?;
        let keys = self.store().read()?.keys()?;
        let signers: Vec<Signer> = keys
            .iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| Signer {
                name: k.name.to_string(),
                algorithm: k.algorithm.clone(),
                public_pem: k.public_pem.clone(),
            })
            .collect();
        // The blob store hashes every blob as it reads it, so the stored
        // digests are those of the bytes read.
        let mut files = BTreeMap::new();
        let mut hashed = BTreeMap::new();
        for (name, d) in &map {
            files.insert(name.clone(), self.blobs().get(&parse(d)?)?);
            hashed.insert(
                name.clone(),
                d.strip_prefix("sha256:").unwrap_or(d).to_string(),
            );
        }
        let key = verify_package(&title, &m.digest, &bundle, &hashed, &signers)?;
        Ok((files, bundle, key))
    }

    /// Loads `MODEL@N` for prediction: verified first, then parsed strictly.
    pub fn load_model(&self, r: &VersionRef) -> Result<LoadedModel, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let (files, _, key) = self.verified_files(&m)?;
        let pkg = package::parse(&files)?;
        Ok(LoadedModel {
            info: ModelInfo::from_record(&m)?,
            predictor: predictor_from_package(&pkg)?,
            verified_by: key,
        })
    }

    /// Writes `MODEL@N`'s package to `dir` (which must not exist) and its
    /// signature to `dir.sig`.
    pub fn model_export(&self, r: &VersionRef, dir: &Path) -> Result<Exported, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let (files, bundle, _) = self.verified_files(&m)?;
        let sig = crate::signing::default_signature_path(dir);
        if dir.exists() || sig.exists() {
            return Err(Error::Usage(format!(
                "{} or {} already exists; export never overwrites",
                dir.display(),
                sig.display()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        for (name, bytes) in &files {
            crate::workspace::write_new(&dir.join(name), bytes)?;
        }
        crate::workspace::write_new(&sig, &bundle)?;
        Ok(Exported {
            model: format!("{}@{}", m.name, m.version),
            path: dir.display().to_string(),
            signature: sig.display().to_string(),
            files: files.len(),
        })
    }
}

/// Builds the predictor a checked package describes.
pub fn predictor_from_package(pkg: &package::Package) -> Result<Box<dyn Predictor>, Error> {
    let bad = |m: String| Error::Verification(format!("{MANIFEST_FILE}: {m}"));
    let m: ModelManifest =
        serde_json::from_value(pkg.manifest.clone()).map_err(|e| bad(e.to_string()))?;
    if let Some(bytes) = &pkg.trees {
        let format = warden_ml::boosted::BoostedFormat::from_kind(&m.model.kind)
            .ok_or_else(|| bad(format!("model kind {:?} has no tree model", m.model.kind)))?;
        let model = warden_ml::boosted::parse_boosted(bytes, format)?.as_predicted()?;
        let features = m.input.features.iter().map(|f| f.name.clone()).collect();
        return Ok(Box::new(warden_ml::boosted::BoostedPredictor::new(
            model,
            features,
            m.labels.classes.clone(),
        )?));
    }
    if let Some(bytes) = &pkg.onnx {
        let spec = m
            .model
            .onnx
            .ok_or_else(|| bad("model.onnx is missing".into()))?;
        return Ok(Box::new(OnnxPredictor::new(bytes, spec)?));
    }
    let arch = m
        .model
        .architecture
        .ok_or_else(|| bad("model.architecture is missing".into()))?;
    let pre = m
        .preprocessing
        .ok_or_else(|| bad("preprocessing is missing".into()))?;
    let classes = m.labels.classes.clone();
    let declared: BTreeMap<String, Vec<usize>> = arch.tensors().into_iter().collect();
    if let Some(extra) = pkg.tensors.keys().find(|k| !declared.contains_key(*k)) {
        return Err(bad(format!(
            "tensor {extra} does not belong to a {:?} model",
            m.model.kind
        )));
    }
    let model = Model::from_tensors(arch, |n| pkg.tensors.get(n).cloned())
        .map_err(|e| bad(e.to_string()))?;
    Ok(Box::new(
        NativePredictor::new(pre, model, classes).map_err(|e| bad(e.to_string()))?,
    ))
}

/// A model file read and checked, ready to register.
struct Imported {
    section: ModelSection,
    predictor: Box<dyn Predictor>,
    /// The package file holding the model, and its bytes.
    file: &'static str,
    bytes: Vec<u8>,
    /// What runs it: `tract`, `compiled-trees` or `boosted-trees`.
    engine: &'static str,
    onnx: Option<warden_ml::onnx::OnnxInfo>,
}

/// An ONNX model: external data inlined, class labels checked against the
/// schema, built and run once.
fn import_onnx(
    source: &[u8],
    schema: &ImportSchema,
    req: &ImportRequest,
) -> Result<Imported, Error> {
    let at = |e: MlError| Error::Invalid(format!("{}: {e}", req.file.display()));
    let (bytes, info) = warden_ml::onnx::prepare(source, req.file.parent()).map_err(at)?;
    let per_column = match info.input_types.as_slice() {
        [only] => only.element != Some(warden_ml::onnx::Element::Float),
        _ => true,
    };
    let (input, features, columns) = if per_column {
        let (features, columns) = onnx_columns(&info, schema, req)?;
        (String::new(), features, columns)
    } else {
        let input = onnx_matrix_input(&info, schema, req)?;
        (
            input,
            schema.features.iter().map(|f| f.name.clone()).collect(),
            Vec::new(),
        )
    };
    let probabilities = match &schema.probabilities {
        Some(p) => p.clone(),
        None if info.outputs.iter().any(|o| o == "probabilities") => "probabilities".into(),
        // A classifier exported with its ZipMap: the map of probabilities.
        None if info.zipmap_outputs.len() == 1 => info.zipmap_outputs[0].clone(),
        None => {
            return Err(Error::Invalid(format!(
                "{}: outputs are {:?}; name the class-probability one with `probabilities = ...` in the schema",
                req.file.display(),
                info.outputs
            )));
        }
    };
    check_onnx_classes(&info, schema, req)?;
    let spec = OnnxSpec {
        input,
        probabilities,
        features,
        classes: schema.classes.clone(),
        columns,
    };
    // Build and run it now: an operator tract cannot run is an import error.
    let predictor = OnnxPredictor::new(&bytes, spec.clone()).map_err(at)?;
    let engine = predictor.engine();
    Ok(Imported {
        section: ModelSection {
            kind: "onnx".into(),
            architecture: None,
            onnx: Some(spec.clone()),
            ir_version: Some(info.ir_version),
            opsets: Some(info.opsets.clone()),
            producer: Some(info.producer.clone()),
            operators: Some(info.operators.clone()),
        },
        predictor: Box::new(predictor),
        file: package::ONNX_FILE,
        bytes,
        engine,
        onnx: Some(info),
    })
}

/// The input of a model taking one float matrix: the schema's `input`, or
/// the model's only one; the schema must list the features.
fn onnx_matrix_input(
    info: &warden_ml::onnx::OnnxInfo,
    schema: &ImportSchema,
    req: &ImportRequest,
) -> Result<String, Error> {
    if schema.features.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no [[features]] declared (the model takes one matrix of features: list them in its column order)",
            req.schema.display()
        )));
    }
    numbers_only(schema, req)?;
    Ok(match (&schema.input, info.inputs.as_slice()) {
        (Some(i), _) => i.clone(),
        (None, [only]) => only.clone(),
        (None, all) => {
            return Err(Error::Invalid(format!(
                "{}: the model has inputs {all:?}; name the features' one with `input = ...` in the schema",
                req.file.display()
            )));
        }
    })
}

/// A model taking numbers only has no categories to declare.
fn numbers_only(schema: &ImportSchema, req: &ImportRequest) -> Result<(), Error> {
    match schema.features.iter().find(|f| f.categories.is_some()) {
        Some(f) => Err(Error::Invalid(format!(
            "{}: feature {}: categories declared, but the model takes only numbers",
            req.schema.display(),
            f.name
        ))),
        None => Ok(()),
    }
}

/// skl2onnx's name for a column: every character other than an ASCII
/// letter, digit or `_` becomes `_` (`education-num` is fed as
/// `education_num`).
fn onnx_input_name(feature: &str) -> String {
    feature
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The features of a model taking one input per feature (a
/// `ColumnTransformer` exported by skl2onnx), in the model's input order,
/// with what each input takes. The names and types come from the model;
/// the schema may list the features (by the dataset's column names) and
/// say which input each feeds (`input = "..."`, else the input of the same
/// name, or of the name skl2onnx gives it); without `[[features]]` the
/// inputs' names are the features'.
fn onnx_columns(
    info: &warden_ml::onnx::OnnxInfo,
    schema: &ImportSchema,
    req: &ImportRequest,
) -> Result<(Vec<String>, Vec<warden_ml::onnx::OnnxColumn>), Error> {
    let file = req.file.display();
    let names: Vec<&str> = info.input_types.iter().map(|i| i.name.as_str()).collect();
    let mut fed: Vec<Option<String>> = vec![None; names.len()];
    if schema.features.is_empty() {
        fed = names.iter().map(|n| Some(n.to_string())).collect();
    }
    for f in &schema.features {
        let at = match &f.input {
            Some(i) => names.iter().position(|n| n == i).ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: feature {}: the model has no input {i:?} (its inputs: {names:?})",
                    req.schema.display(),
                    f.name
                ))
            })?,
            None => names
                .iter()
                .position(|n| *n == f.name)
                .or_else(|| names.iter().position(|n| *n == onnx_input_name(&f.name)))
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{}: feature {} feeds none of the model's inputs {names:?}; say which with `input = \"...\"`",
                        req.schema.display(),
                        f.name
                    ))
                })?,
        };
        if let Some(other) = &fed[at] {
            return Err(Error::Invalid(format!(
                "{}: features {other} and {} both feed input {:?}",
                req.schema.display(),
                f.name,
                names[at]
            )));
        }
        fed[at] = Some(f.name.clone());
    }
    let mut features = Vec::with_capacity(names.len());
    let mut columns = Vec::with_capacity(names.len());
    for (input, feature) in info.input_types.iter().zip(fed) {
        let Some(feature) = feature else {
            return Err(Error::Invalid(format!(
                "{}: no feature feeds the model's input {:?}; add [[features]] with name = \"COLUMN\" and input = {:?}",
                req.schema.display(),
                input.name,
                input.name
            )));
        };
        let mut column = warden_ml::onnx::OnnxColumn::for_input(input)
            .map_err(|e| Error::Invalid(format!("{file}: {e}")))?;
        // Categories the schema declares: the encoder's own, when it has
        // them (as a set), else the ones the model is served with.
        if let Some(declared) = schema
            .features
            .iter()
            .find(|f| f.name == feature)
            .and_then(|f| f.categories.as_ref())
        {
            if column.element != warden_ml::onnx::Element::String {
                return Err(Error::Invalid(format!(
                    "{}: feature {feature}: categories declared, but the model's input {:?} takes numbers",
                    req.schema.display(),
                    input.name
                )));
            }
            let set = |v: &[String]| v.iter().cloned().collect::<std::collections::BTreeSet<_>>();
            match &column.categories {
                Some(known) if set(known) != set(declared) => {
                    let missing: Vec<&String> =
                        known.iter().filter(|k| !declared.contains(k)).collect();
                    let extra: Vec<&String> =
                        declared.iter().filter(|d| !known.contains(d)).collect();
                    return Err(Error::Invalid(format!(
                        "{}: feature {feature}: the schema's categories disagree with the model's encoder (the encoder also knows {missing:?}; the schema also lists {extra:?})",
                        req.schema.display()
                    )));
                }
                Some(_) => {}
                None => column.categories = Some(declared.clone()),
            }
        }
        columns.push(column);
        features.push(feature);
    }
    Ok((features, columns))
}

/// The schema's classes against the labels the model carries (its
/// classifier's, else its `ZipMap`'s): names in the same order; integers
/// as the same integers in the same order; as many classes either way.
fn check_onnx_classes(
    info: &warden_ml::onnx::OnnxInfo,
    schema: &ImportSchema,
    req: &ImportRequest,
) -> Result<(), Error> {
    let (labels, names) = match (&info.model_classes, &info.zipmap_labels) {
        (Some(l), _) => (Some(l), info.model_class_names),
        (None, Some(z)) => (Some(z), integer_classes(z).is_none()),
        (None, None) => (None, false),
    };
    match labels {
        Some(labels) if names && *labels != schema.classes => {
            return Err(Error::Invalid(format!(
                "{}: the schema declares classes {:?}, the model labels them {labels:?} (same names, same order)",
                req.schema.display(),
                schema.classes
            )));
        }
        Some(ids) if ids.len() != schema.classes.len() => {
            return Err(Error::Invalid(format!(
                "{}: the schema declares {} classes, the model's classifier has {}",
                req.schema.display(),
                schema.classes.len(),
                ids.len()
            )));
        }
        // Integer labels: classes written as integers must be the same
        // integers in the same order, or every prediction would carry
        // another class's label. Classes written as names are names for
        // the labels, in the model's order.
        Some(ids)
            if !names
                && integer_classes(&schema.classes)
                    .is_some_and(|declared| Some(declared) != integer_classes(ids)) =>
        {
            return Err(Error::Invalid(format!(
                "{}: the schema declares classes {:?}, the model's classifier labels its outputs {ids:?} in this order; list the classes in the model's order",
                req.schema.display(),
                schema.classes
            )));
        }
        _ => {}
    }
    Ok(())
}

/// An XGBoost (JSON, UBJSON) or LightGBM (text) model, read by Warden's
/// strict parsers: its outputs are the classes in index order, so the
/// schema's classes must be as many, and integers among them must be those
/// indices; the file's feature names, when it has them, must be the
/// schema's in order. A model saved with early stopping predicts with the
/// iterations up to its best one, as the framework's `predict_proba` does.
fn import_boosted(
    source: &[u8],
    format: warden_ml::boosted::BoostedFormat,
    schema: &ImportSchema,
    req: &ImportRequest,
) -> Result<Imported, Error> {
    let at = |e: MlError| Error::Invalid(format!("{}: {e}", req.file.display()));
    if schema.features.is_empty() {
        return Err(Error::Invalid(format!(
            "{}: no [[features]] declared (list the model's features in its column order)",
            req.schema.display()
        )));
    }
    numbers_only(schema, req)?;
    let model = warden_ml::boosted::parse_boosted(source, format)
        .and_then(|m| m.as_predicted())
        .map_err(at)?;
    if model.num_classes() != schema.classes.len() {
        return Err(Error::Invalid(format!(
            "{}: the schema declares {} classes, the model has {}",
            req.schema.display(),
            schema.classes.len(),
            model.num_classes()
        )));
    }
    let indices: Vec<String> = (0..model.num_classes()).map(|i| i.to_string()).collect();
    if integer_classes(&schema.classes).is_some_and(|d| Some(d) != integer_classes(&indices)) {
        return Err(Error::Invalid(format!(
            "{}: the schema declares classes {:?}, the model's outputs are the class indices {indices:?} in this order; list the classes in that order",
            req.schema.display(),
            schema.classes
        )));
    }
    let producer = format!(
        "{} ({}, {} trees, {} iterations)",
        model.kind().as_str(),
        model.objective(),
        model.trees().len(),
        model.iterations()
    );
    let predictor = warden_ml::boosted::BoostedPredictor::new(
        model,
        schema.features.iter().map(|f| f.name.clone()).collect(),
        schema.classes.clone(),
    )
    .map_err(at)?;
    Ok(Imported {
        section: ModelSection {
            kind: format.kind().into(),
            architecture: None,
            onnx: None,
            ir_version: None,
            opsets: None,
            producer: Some(producer),
            operators: None,
        },
        predictor: Box::new(predictor),
        file: package::TREES_FILE,
        bytes: source.to_vec(),
        engine: "boosted-trees",
        onnx: None,
    })
}

/// Runs a reference batch through an imported model: a CSV with the
/// model's feature columns and one `probability:CLASS` column per class,
/// the framework's own output for those rows. Any probability further than
/// `tolerance` from the framework's refuses the import, naming the row and
/// the class; every row must be complete.
fn check_batch(
    predictor: &dyn Predictor,
    path: &std::path::Path,
    tolerance: f64,
) -> Result<ImportCheck, Error> {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(Error::Usage(format!(
            "--check-tolerance {tolerance}: a non-negative number"
        )));
    }
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > MAX_CHECK_BYTES {
        return Err(Error::Invalid(format!(
            "{}: {size} bytes, more than the {MAX_CHECK_BYTES} a check batch may have (a few thousand rows are enough)",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    // Only an empty field is missing: the batch holds the rows exactly as
    // the framework saw them ("?" or "NA" can be a category).
    let options = warden_data::read::CsvOptions {
        missing: vec![String::new()],
        ..Default::default()
    };
    let (table, _) = warden_data::read::read_csv(&mut bytes.as_slice(), &options)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let shown = path.display();
    let classes = predictor.classes().to_vec();
    let expected: Vec<&warden_data::Column> = classes
        .iter()
        .map(|c| {
            table.column(&check_column(c)).ok_or_else(|| {
                Error::Invalid(format!(
                    "{shown}: no column {:?}; a check batch has one probability column per class of the model ({})",
                    check_column(c),
                    classes.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let frame =
        frame_for_model(predictor, &table).map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let probs = predictor
        .predict_frame(
            &frame,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        )
        .map_err(|e| Error::Invalid(format!("{shown}: {e}")))?;
    let mut worst = 0.0f64;
    for r in 0..table.rows {
        for (k, col) in expected.iter().enumerate() {
            let want = col
                .data
                .number(r)
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "{shown}: row {}: {} is not a number",
                        r + 1,
                        col.name
                    ))
                })?;
            let got = probs.row(r)[k];
            let diff = (got - want).abs();
            if diff.is_nan() || diff > tolerance {
                return Err(Error::Invalid(format!(
                    "{shown}: row {}: the imported model gives {got} for class {:?}, the framework gave {want} (difference {diff:.3e}, tolerance {tolerance:e}); nothing was registered",
                    r + 1,
                    classes[k]
                )));
            }
            worst = worst.max(diff);
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ImportCheck {
        file: name,
        digest: Digest::of(&bytes).to_string(),
        rows: table.rows as u64,
        max_abs_diff: worst,
        tolerance,
    })
}

/// Class labels that are all integers, as integers (`"01"` and `"1"` are
/// the same label); `None` if any is not an integer.
fn integer_classes(labels: &[String]) -> Option<Vec<i64>> {
    labels
        .iter()
        .map(|l| l.trim().parse::<i64>().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use sha2::Digest as _;
    use warden_artifact::keys::{Algorithm, SigningKey};

    use super::{Signer, verify_package};

    fn signer(name: &str, key: &SigningKey) -> Signer {
        Signer {
            name: name.to_string(),
            algorithm: key.algorithm().as_str().to_string(),
            public_pem: key.public_key().to_pem().unwrap(),
        }
    }

    /// Each file's SHA-256, as the holder of its bytes computes it.
    fn hashed(files: &BTreeMap<String, Vec<u8>>) -> BTreeMap<String, String> {
        files
            .iter()
            .map(|(n, b)| (n.clone(), hex::encode(sha2::Sha256::digest(b))))
            .collect()
    }

    /// A package signed by `key`: its files, bundle and root digest.
    fn signed(files: &BTreeMap<String, Vec<u8>>, key: &SigningKey) -> (Vec<u8>, String) {
        let (bundle, v) =
            warden_artifact::model_signing::sign_files(hashed(files), "pkg", key, None).unwrap();
        (bundle, format!("sha256:{}", v.root_digest))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// What a replica downloads verifies only as it was signed: any
        /// byte changed, a file dropped or added, another digest, or
        /// signers that did not sign it, is refused.
        #[test]
        fn a_package_verifies_only_as_signed(
            contents in proptest::collection::btree_map("[a-z]{1,8}\\.bin", proptest::collection::vec(any::<u8>(), 1..64), 1..4),
            damage in 0usize..6,
            pick in any::<prop::sample::Index>(),
        ) {
            let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
            let other = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
            let (bundle, digest) = signed(&contents, &key);
            let both = [signer("other", &other), signer("pipeline", &key)];
            prop_assert_eq!(
                verify_package("m@1", &digest, &bundle, &hashed(&contents), &both).unwrap(),
                "pipeline"
            );
            let mut files = contents.clone();
            let mut bundle2 = bundle.clone();
            let mut digest2 = digest.clone();
            let mut signers = both.to_vec();
            let name = pick.get(&files.keys().cloned().collect::<Vec<_>>()).clone();
            match damage {
                0 => {
                    let f = files.get_mut(&name).unwrap();
                    let i = pick.index(f.len());
                    f[i] ^= 1;
                }
                1 => {
                    files.remove(&name);
                }
                2 => {
                    files.insert(format!("{name}.extra"), vec![0]);
                }
                3 => digest2 = format!("sha256:{}", "0".repeat(64)),
                4 => signers = vec![signer("other", &other)],
                _ => {
                    // A byte of the signature itself (the bundle's other
                    // fields, such as its empty transparency-log entries,
                    // are not what is verified).
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD;
                    let mut v: serde_json::Value = serde_json::from_slice(&bundle2).unwrap();
                    let sig = &mut v["dsseEnvelope"]["signatures"][0]["sig"];
                    let mut der = b64.decode(sig.as_str().unwrap()).unwrap();
                    let i = pick.index(der.len());
                    der[i] ^= 1;
                    *sig = serde_json::Value::String(b64.encode(der));
                    bundle2 = serde_json::to_vec(&v).unwrap();
                }
            }
            prop_assert!(
                verify_package("m@1", &digest2, &bundle2, &hashed(&files), &signers).is_err(),
                "damage {} passed", damage
            );
        }
    }

    /// The package format's tree-model kinds and the formats the parsers
    /// read name each other both ways.
    #[test]
    fn tree_kinds_and_formats_agree() {
        use warden_ml::boosted::BoostedFormat;
        for kind in warden_artifact::package::TREE_KINDS {
            let f = BoostedFormat::from_kind(kind);
            assert_eq!(f.map(BoostedFormat::kind), Some(kind), "{kind}");
        }
        for f in [
            BoostedFormat::XgboostJson,
            BoostedFormat::XgboostUbjson,
            BoostedFormat::LightgbmText,
        ] {
            assert!(warden_artifact::package::TREE_KINDS.contains(&f.kind()));
        }
        assert_eq!(BoostedFormat::from_kind("onnx"), None);
    }
}
