//! What `warden serve` asks of the engine: which model version each
//! environment serves, loading that version verified and unquarantined, and
//! the input rules every request is checked against before prediction.
//!
//! The HTTP layer lives in `warden-server`; nothing here knows about HTTP.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use warden_artifact::package;
use warden_core::{Action, ObjectName, VersionRef};
use warden_ml::predictor::{InputKind, Predictor};
use warden_ml::profile::{FeatureProfile, ReferenceProfile};
use warden_store::ApiKeyRecord;

use crate::error::Error;
use crate::events;
use crate::model::{Signer, predictor_from_package};
use crate::workspace::Workspace;

/// Which version of a model an environment holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServingTarget {
    /// The model's name.
    pub model: String,
    /// The version the environment's stage pointer holds.
    pub version: u64,
    /// The reason, if that version is quarantined now.
    pub quarantine: Option<String>,
}

/// A verified model ready to predict, with the rules its inputs must meet.
pub struct ServedModel {
    /// The model's name.
    pub name: String,
    /// The version loaded.
    pub version: u64,
    /// The package digest (`sha256:…`).
    pub digest: String,
    /// The trusted key whose signature verified the package.
    pub verified_by: String,
    /// `onnx` for an ONNX package, else `native` (Warden's own models and
    /// tree ensembles).
    pub platform: &'static str,
    /// The model, ready to predict.
    pub predictor: Box<dyn Predictor>,
    /// The rules every request's records are checked against.
    pub schema: InputSchema,
    /// The training data's profile (what the monitor compares traffic with).
    pub profile: Option<ReferenceProfile>,
}

impl ServedModel {
    /// Parses a package whose files were verified
    /// ([`crate::verify_package`], by the caller) into a model ready to
    /// serve: its predictor, its training profile and the rules its inputs
    /// must meet. `key` is the name of the key that verified it.
    pub fn from_verified(
        name: &str,
        version: u64,
        digest: &str,
        files: &BTreeMap<String, Vec<u8>>,
        key: String,
    ) -> Result<ServedModel, Error> {
        let pkg = package::parse(files)?;
        let predictor = predictor_from_package(&pkg)?;
        let profile: Option<ReferenceProfile> = match &pkg.profile {
            Some(v) => Some(
                serde_json::from_value(v.clone())
                    .map_err(|e| Error::Verification(format!("{}: {e}", package::PROFILE_FILE)))?,
            ),
            None => None,
        };
        // Ranges declared at import (finite, in order) stand in where the
        // package has no training profile for a feature. They are read from
        // the signed package's manifest, not the registry row's copy.
        let manifest: crate::documents::ModelManifest =
            serde_json::from_value(pkg.manifest.clone())
                .map_err(|e| Error::Verification(format!("{name}@{version}: manifest: {e}")))?;
        // The signature binds the bytes; the manifest inside binds them to a
        // model, so a package of another model cannot stand in for this one.
        if manifest.name != name {
            return Err(Error::Verification(format!(
                "{name}@{version}: the signed package is of model {:?}",
                manifest.name
            )));
        }
        let declared: BTreeMap<String, (f64, f64)> = manifest
            .input
            .features
            .iter()
            .filter_map(|f| match (f.min, f.max) {
                (Some(lo), Some(hi)) if lo.is_finite() && hi.is_finite() && lo <= hi => {
                    Some((f.name.clone(), (lo, hi)))
                }
                _ => None,
            })
            .collect();
        let schema = InputSchema::new(predictor.as_ref(), profile.as_ref(), &declared);
        Ok(ServedModel {
            name: name.to_string(),
            version,
            digest: digest.to_string(),
            verified_by: key,
            platform: if pkg.onnx.is_some() { "onnx" } else { "native" },
            predictor,
            schema,
            profile,
        })
    }
}

impl Workspace {
    /// Checks the actor may run a server for `env` (`serve.run`).
    pub fn authorize_serving(&self, env: &str) -> Result<(), Error> {
        self.authorize(Action::ServeRun, &format!("env:{env}"))
    }

    /// Whether the actor may run the hub over this workspace (the same
    /// `serve.run` action as serving, on the subject `hub`).
    pub fn authorize_hub(&self) -> Result<(), Error> {
        self.authorize(Action::ServeRun, "hub")
    }

    /// Checks the actor may ingest a version of dataset `name`
    /// (`data.ingest`), as the ingest itself will: the hub asks before it
    /// reads an upload's body.
    pub fn authorize_data_ingest(&self, name: &ObjectName) -> Result<(), Error> {
        self.authorize(Action::DataIngest, &format!("dataset:{name}"))
    }

    /// Checks the actor may import a version of model `name`
    /// (`model.import`), as the import itself will: the hub asks before it
    /// stages an upload.
    pub fn authorize_model_import(&self, name: &ObjectName) -> Result<(), Error> {
        self.authorize(Action::ModelImport, &format!("model:{name}"))
    }

    /// Every model whose stage pointer for `env` is set, by name.
    pub fn serving_targets(&self, env: &str) -> Result<Vec<ServingTarget>, Error> {
        self.authorize(Action::ModelRead, &format!("env:{env}"))?;
        let mut tx = self.store().read()?;
        // What is served must be what the log put in this environment: a
        // pointer or a quarantine changed by SQL stops the refresh (the
        // server keeps what it verified before, or does not start).
        let st = self.log_state(tx.as_mut())?;
        let names: BTreeSet<ObjectName> = tx.models()?.into_iter().map(|m| m.name).collect();
        let mut out = Vec::new();
        let mut found = None;
        for ((m, e), _) in st.pointers.iter().filter(|((_, e), _)| e == env) {
            if !names.iter().any(|n| n.as_str() == m) {
                found = crate::ledger::pointer_disagreement(&st, m, e, None);
            }
        }
        for name in names {
            let p = tx.stages(&name)?.into_iter().find(|p| p.env == env);
            if found.is_none() {
                found = crate::ledger::pointer_disagreement(
                    &st,
                    name.as_str(),
                    env,
                    p.as_ref().map(|p| p.version),
                );
            }
            if let Some(p) = p {
                let quarantine = tx
                    .quarantine(&name, p.version)?
                    .filter(|q| q.released_at.is_none())
                    .map(|q| q.reason);
                if found.is_none() {
                    found = crate::ledger::quarantine_disagreement(
                        &st,
                        name.as_str(),
                        p.version,
                        quarantine.is_some(),
                    );
                }
                out.push(ServingTarget {
                    model: name.to_string(),
                    version: p.version,
                    quarantine,
                });
            }
        }
        drop(tx);
        if let Some(d) = found {
            // Not recorded as an event here: a server refreshes every few
            // seconds and would repeat it; the server logs the refusal.
            return Err(d.into());
        }
        Ok(out)
    }

    /// Loads `MODEL@N` for serving: refused if quarantined, verified
    /// (blob digests, signature against the trust store, signed file list)
    /// before a byte of it is parsed.
    pub fn load_for_serving(&self, model: &str, version: u64) -> Result<ServedModel, Error> {
        let r = VersionRef {
            name: ObjectName::new(model)?,
            version: Some(version),
        };
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(&r)?;
        if let Some(q) = self.store().read()?.quarantine(&m.name, m.version)?
            && q.released_at.is_none()
        {
            return Err(Error::Conflict(format!(
                "model {r} is quarantined ({}); it is not served",
                q.reason
            )));
        }
        let (files, _, key) = self.verified_files(&m)?;
        ServedModel::from_verified(m.name.as_str(), m.version, &m.digest, &files, key)
    }

    /// Records what the server did with a model version (`serve.load` or
    /// `serve.skip`), with the serving process's actor.
    pub fn record_serving(
        &self,
        action: &str,
        target: &ServingTarget,
        env: &str,
        details: Value,
    ) -> Result<(), Error> {
        let subject = format!("model:{}@{}", target.model, target.version);
        let mut tx = self.store().write()?;
        events::append(
            &mut *tx,
            self.actor(),
            action,
            &subject,
            &events::Served {
                env: env.to_string(),
                details,
            },
        )?;
        self.commit(tx)?;
        Ok(())
    }
}

/// One environment's target as a serving replica follows it: the version,
/// the package digest the registry records for it, and its quarantine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FollowedTarget {
    /// The model's name.
    pub model: String,
    /// The version the environment's stage pointer holds.
    pub version: u64,
    /// The package digest (`sha256:…`) registered for that version.
    pub digest: String,
    /// The reason, if that version is quarantined now.
    pub quarantine: Option<String>,
}

/// `GET …/environments/{env}/serving`: what a serving replica following a
/// hub needs at each refresh. Never the API keys' hashes or the secret
/// they are keyed with: a replica asks the hub to check a key it has not
/// seen ([`Workspace::apikey_check`]).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct ServingState {
    /// The environment.
    pub env: String,
    /// Every model the environment points at.
    pub targets: Vec<FollowedTarget>,
    /// The trust store's unrevoked keys, which packages may be signed by.
    pub signers: Vec<Signer>,
    /// Every API key whose row agrees with the log (revoked ones too, so a
    /// replica tells a revoked key from an unknown one), with a throttle
    /// folded into its rate limit.
    pub api_keys: Vec<ApiKeyRecord>,
    /// Ids of blocked API keys.
    pub blocked: Vec<String>,
    /// For `serve.predict` and `serve.metrics`: the roles the
    /// authorisation policy allows.
    pub allowed: BTreeMap<String, Vec<String>>,
}

/// `GET …/models/{name}/versions/{version}/package`: what a package is
/// made of, for a replica to download and verify.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
pub struct PackageListing {
    /// `MODEL@N`.
    pub model: String,
    /// The version.
    pub version: u64,
    /// The package digest (`sha256:…`) the registry records.
    pub digest: String,
    /// The signature bundle (sigstore bundle JSON), base64.
    pub signature: String,
    /// Each file's name and `sha256:` digest; each is fetched from
    /// `…/package/{file}`.
    pub files: BTreeMap<String, String>,
}

/// `POST …/environments/{env}/apikeys/check`: the verdict on one presented
/// API key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyCheck {
    /// The key's id when it is valid now.
    pub id: Option<String>,
    /// Otherwise why not: `malformed`, `unknown`, `revoked`, `expired` or
    /// `blocked`.
    pub rejection: Option<String>,
}

/// The two actions a serving replica records.
pub const SERVING_ACTIONS: [&str; 2] = ["serve.load", "serve.skip"];

impl Workspace {
    /// What a replica serving `env` needs (`serve.run` on `env:ENV`).
    pub fn serving_state(&self, env: &str) -> Result<ServingState, Error> {
        self.authorize_serving(env)?;
        let mut targets = Vec::new();
        for t in self.serving_targets(env)? {
            let m = self.find_model(&VersionRef {
                name: ObjectName::new(&t.model)?,
                version: Some(t.version),
            })?;
            targets.push(FollowedTarget {
                model: t.model,
                version: t.version,
                digest: m.digest,
                quarantine: t.quarantine,
            });
        }
        let signers = self
            .store()
            .read()?
            .keys()?
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .map(|k| Signer {
                name: k.name.to_string(),
                algorithm: k.algorithm,
                public_pem: k.public_pem,
            })
            .collect();
        let keys = self.apikey_verifier()?;
        let mut allowed: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for action in [Action::ServePredict, Action::ServeMetrics] {
            let roles = allowed.entry(action.to_string()).or_default();
            for role in self.known_roles()? {
                if self.policy_allows("warden-server", std::slice::from_ref(&role), action)? {
                    roles.push(role);
                }
            }
        }
        Ok(ServingState {
            env: env.to_string(),
            targets,
            signers,
            api_keys: keys.records().cloned().collect(),
            blocked: keys.blocked_ids().map(str::to_string).collect(),
            allowed,
        })
    }

    /// The files and signature of `MODEL@N`'s package (`model.read`).
    pub fn serving_package(&self, r: &VersionRef) -> Result<PackageListing, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let sig: warden_core::Digest = m
            .signature_digest
            .parse()
            .map_err(|e| Error::Verification(format!("model {r}: {e}")))?;
        let bundle = self.blobs().get(&sig)?;
        Ok(PackageListing {
            model: m.name.to_string(),
            version: m.version,
            digest: m.digest.clone(),
            signature: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bundle),
            files: crate::stored::model_files(&m)?,
        })
    }

    /// One file of `MODEL@N`'s package, as stored (`model.read`); the blob
    /// store checks its digest as it reads.
    pub fn serving_package_file(&self, r: &VersionRef, file: &str) -> Result<Vec<u8>, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        let m = self.find_model(r)?;
        let files = crate::stored::model_files(&m)?;
        let d = files
            .get(file)
            .ok_or_else(|| Error::NotFound(format!("model {r} has no package file {file:?}")))?;
        let d: warden_core::Digest = d
            .parse()
            .map_err(|e| Error::Verification(format!("model {r}: {e}")))?;
        Ok(self.blobs().get(&d)?)
    }

    /// Checks an API key presented to a replica serving `env`
    /// (`serve.run` on `env:ENV`). Nothing is recorded: a check is a read.
    pub fn apikey_check(&self, env: &str, presented: &str) -> Result<KeyCheck, Error> {
        self.authorize_serving(env)?;
        let keys = self.apikey_verifier()?;
        Ok(
            match keys.verify(presented, &warden_core::Timestamp::now()) {
                Ok(rec) => KeyCheck {
                    id: Some(rec.id.clone()),
                    rejection: None,
                },
                Err(e) => KeyCheck {
                    id: None,
                    rejection: Some(e.as_str().to_string()),
                },
            },
        )
    }

    /// Records, for a replica serving `env`, what it did with a version
    /// (`serve.load` or `serve.skip`; `serve.run` on `env:ENV`), as the
    /// replica's authenticated principal.
    pub fn record_replica_serving(
        &self,
        env: &str,
        action: &str,
        model: &str,
        version: u64,
        details: Value,
    ) -> Result<(), Error> {
        self.authorize_serving(env)?;
        if !SERVING_ACTIONS.contains(&action) {
            return Err(Error::Usage(format!(
                "action {action:?}: a replica records serve.load or serve.skip"
            )));
        }
        let name = ObjectName::new(model)?;
        self.find_model(&VersionRef {
            name: name.clone(),
            version: Some(version),
        })?;
        let target = ServingTarget {
            model: name.to_string(),
            version,
            quarantine: None,
        };
        self.record_serving(action, &target, env, details)
    }
}

/// What one input feature accepts.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum FeatureRule {
    /// A finite JSON number, within the known range widened by the
    /// tolerance: the range seen in training, else the one declared at
    /// import.
    Numeric {
        /// The lowest value seen in training, or declared (`None`: range
        /// unknown).
        min: Option<f64>,
        /// The highest value seen in training, or declared (`None`: range
        /// unknown).
        max: Option<f64>,
        /// Whether the range is the one declared in the import schema
        /// (there was no training profile for the feature).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        declared: bool,
    },
    /// A string (or a number, read as its text) among the levels seen in
    /// training, when they are known.
    Categorical {
        /// The levels accepted: those of the training profile and the
        /// model's encoder (`None`: unknown, so any text is accepted).
        levels: Option<BTreeSet<String>>,
    },
}

impl FeatureRule {
    /// The numeric values accepted: the training range widened on each
    /// side by `tolerance` × its width (× the value's magnitude, at least
    /// 1, when every training value was the same). `None` when the range
    /// is unknown or the feature is categorical.
    pub fn accepted_range(&self, tolerance: f64) -> Option<(f64, f64)> {
        let FeatureRule::Numeric {
            min: Some(lo),
            max: Some(hi),
            ..
        } = self
        else {
            return None;
        };
        let span = hi - lo;
        let slack = if span > 0.0 {
            span * tolerance
        } else {
            lo.abs().max(1.0) * tolerance
        };
        Some((lo - slack, hi + slack))
    }
}

/// One feature's rule, and whether `null` (a missing value) is accepted:
/// only when the training data had gaps the model learnt to impute.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputRule {
    /// The feature's name: the record field that carries it.
    pub name: String,
    /// What the value must be.
    pub rule: FeatureRule,
    /// Whether `null` is accepted.
    pub nullable: bool,
}

/// The inputs a served model accepts, in the model's feature order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InputSchema {
    /// One rule per input feature, in the model's order.
    pub features: Vec<InputRule>,
}

/// How strictly requests are checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValidationLimits {
    /// How far outside the training range a numeric value may lie, as a
    /// fraction of that range (0.1 = 10 % beyond either end).
    pub range_tolerance: f64,
    /// The most instances one request may carry.
    pub max_instances: usize,
}

impl Default for ValidationLimits {
    fn default() -> Self {
        ValidationLimits {
            range_tolerance: 0.1,
            max_instances: 1000,
        }
    }
}

/// One reason a request was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The 0-based index of the instance (record or row) the error is in,
    /// if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<usize>,
    /// The field (feature or tensor) the error is in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// What is wrong, in words.
    pub error: String,
}

/// The longest text value accepted, in characters (after normalisation).
pub const MAX_TEXT_CHARS: usize = 1024;

/// Whether `c` is invisible formatting: zero-width characters, bidi
/// controls, the soft hyphen, tag characters and their kin (Unicode's
/// format category, listed here because the standard library has no
/// general-category lookup and a table crate would weigh more than this).
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF0}'..='\u{FFFB}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E0FFF}')
}

/// A text input as the model should see it: Unicode NFKC (so full-width
/// and compatibility spellings meet the levels seen in training), with
/// control and invisible characters removed (so nothing hidden rides
/// along), and surrounding whitespace trimmed.
pub fn normalize_text(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    // Hidden characters go first, so they cannot keep apart characters
    // that NFKC would compose; then once more in case NFKC made any.
    let visible = |c: &char| !c.is_control() && !is_invisible(*c);
    let kept: String = s.chars().filter(visible).nfkc().filter(visible).collect();
    kept.trim().to_string()
}

/// Validation stops listing errors after this many (a hostile request could
/// otherwise make the error body larger than the request).
pub const MAX_LISTED_ERRORS: usize = 100;

impl InputSchema {
    /// The rules for `predictor`'s inputs: levels from the fitted one-hot
    /// encoding and the training profile, ranges and gaps from the profile;
    /// a numeric feature the profile has no range for takes its range from
    /// `declared` (the import schema's `min` and `max`), if there.
    pub fn new(
        predictor: &dyn Predictor,
        profile: Option<&ReferenceProfile>,
        declared: &BTreeMap<String, (f64, f64)>,
    ) -> Self {
        let features = predictor
            .inputs()
            .into_iter()
            .map(|(name, kind)| {
                let seen = profile.and_then(|p| {
                    p.features.iter().find(|f| match f {
                        FeatureProfile::Numeric { name: n, .. }
                        | FeatureProfile::Categorical { name: n, .. } => n == name,
                    })
                });
                let nullable = match seen {
                    Some(
                        FeatureProfile::Numeric { missing, .. }
                        | FeatureProfile::Categorical { missing, .. },
                    ) => *missing > 0,
                    None => false,
                };
                let rule = match kind {
                    InputKind::Numeric => match seen {
                        Some(FeatureProfile::Numeric { min, max, .. })
                            if min.is_finite() && max.is_finite() =>
                        {
                            FeatureRule::Numeric {
                                min: Some(*min),
                                max: Some(*max),
                                declared: false,
                            }
                        }
                        _ => match declared.get(name) {
                            Some(&(lo, hi)) => FeatureRule::Numeric {
                                min: Some(lo),
                                max: Some(hi),
                                declared: true,
                            },
                            None => FeatureRule::Numeric {
                                min: None,
                                max: None,
                                declared: false,
                            },
                        },
                    },
                    InputKind::Categorical => {
                        let mut levels = BTreeSet::new();
                        let mut known = false;
                        if let Some(FeatureProfile::Categorical { frequencies, .. }) = seen {
                            levels.extend(frequencies.keys().cloned());
                            known = true;
                        }
                        if let Some(l) = predictor.known_levels(name) {
                            levels.extend(l.iter().cloned());
                            known = true;
                        }
                        FeatureRule::Categorical {
                            levels: known.then_some(levels),
                        }
                    }
                };
                InputRule {
                    name: name.to_string(),
                    rule,
                    nullable,
                }
            })
            .collect();
        InputSchema { features }
    }

    /// Normalises every categorical (text) value of `records` in place
    /// (see [`normalize_text`]); run before [`InputSchema::validate`].
    pub fn normalize(&self, records: &mut [Map<String, Value>]) {
        for r in records.iter_mut() {
            for f in &self.features {
                if let FeatureRule::Categorical { .. } = f.rule
                    && let Some(Value::String(text)) = r.get_mut(&f.name)
                    // ASCII without controls is already in normal form.
                    && !(text.bytes().all(|b| (0x20..0x7f).contains(&b))
                        && text.trim() == text.as_str())
                {
                    *text = normalize_text(text);
                }
            }
        }
    }

    /// Checks every record, listing every error (up to
    /// [`MAX_LISTED_ERRORS`]) rather than stopping at the first.
    pub fn validate(
        &self,
        records: &[Map<String, Value>],
        limits: &ValidationLimits,
    ) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        if records.is_empty() {
            errors.push(FieldError {
                instance: None,
                field: None,
                error: "no instances: send at least one".into(),
            });
        }
        if records.len() > limits.max_instances {
            errors.push(FieldError {
                instance: None,
                field: None,
                error: format!(
                    "{} instances in one request; at most {} are accepted",
                    records.len(),
                    limits.max_instances
                ),
            });
            return Err(errors);
        }
        for (i, record) in records.iter().enumerate() {
            let first = errors.len();
            let mut present = 0;
            for f in &self.features {
                match record.get(&f.name) {
                    None => errors.push(err(i, &f.name, "missing field".into())),
                    Some(v) => {
                        present += 1;
                        if let Err(e) = f.check(v, limits) {
                            errors.push(err(i, &f.name, e));
                        }
                    }
                }
            }
            // A record's keys are distinct, so it has a key that is not a
            // feature only if it has more keys than features found; only
            // then is each key looked for. Unknown fields are listed first.
            if record.len() > present {
                let unknown: Vec<FieldError> = record
                    .keys()
                    .filter(|key| !self.features.iter().any(|f| &f.name == *key))
                    .map(|key| err(i, key, "unknown field".into()))
                    .collect();
                errors.splice(first..first, unknown);
            }
            if errors.len() > MAX_LISTED_ERRORS {
                break;
            }
        }
        if errors.is_empty() {
            return Ok(());
        }
        if errors.len() > MAX_LISTED_ERRORS {
            errors.truncate(MAX_LISTED_ERRORS);
            errors.push(FieldError {
                instance: None,
                field: None,
                error: format!("more errors not listed (the first {MAX_LISTED_ERRORS} are)"),
            });
        }
        Err(errors)
    }
}

fn err(i: usize, field: &str, error: String) -> FieldError {
    FieldError {
        instance: Some(i),
        field: Some(field.to_string()),
        error,
    }
}

/// A JSON value's type, for error messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl InputRule {
    fn check(&self, v: &Value, limits: &ValidationLimits) -> Result<(), String> {
        if v.is_null() {
            return if self.nullable {
                Ok(())
            } else {
                Err("null, and the model was not trained with missing values here".into())
            };
        }
        match &self.rule {
            FeatureRule::Numeric { min, max, declared } => {
                let Value::Number(n) = v else {
                    return Err(format!("expected a number, got {}", type_name(v)));
                };
                let x = n
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| format!("{n} is not a finite number this model can take"))?;
                if let (Some(lo), Some(hi)) = (min, max)
                    && let Some((from, to)) = self.rule.accepted_range(limits.range_tolerance)
                    && (x < from || x > to)
                {
                    let seen = if *declared {
                        "declared at import"
                    } else {
                        "seen in training"
                    };
                    return Err(format!(
                        "{x} is outside the range {seen} [{lo}, {hi}] (tolerance {}%)",
                        limits.range_tolerance * 100.0
                    ));
                }
                Ok(())
            }
            FeatureRule::Categorical { levels } => {
                let number;
                let text: &str = match v {
                    Value::String(s) => s,
                    Value::Number(n) => {
                        number = n.to_string();
                        &number
                    }
                    _ => return Err(format!("expected a string, got {}", type_name(v))),
                };
                if text.chars().count() > MAX_TEXT_CHARS {
                    return Err(format!("text longer than {MAX_TEXT_CHARS} characters"));
                }
                if let Some(levels) = levels
                    && !levels.contains(text)
                {
                    // Short level lists help the caller; long ones (free
                    // text) would disclose training data, so only the count.
                    let known = if levels.len() <= 12 {
                        let shown: Vec<&str> = levels.iter().map(String::as_str).collect();
                        format!("known: {}", shown.join(", "))
                    } else {
                        format!("{} levels known", levels.len())
                    };
                    return Err(format!(
                        "unknown category {:?} ({known})",
                        truncate(text, 64)
                    ));
                }
                Ok(())
            }
        }
    }
}

/// At most `n` characters of `s` (and `…` if cut), for echoing user
/// input in an error safely.
pub fn truncate(s: &str, n: usize) -> String {
    let mut out: String = s.chars().take(n).collect();
    if s.chars().count() > n {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> InputSchema {
        InputSchema {
            features: vec![
                InputRule {
                    name: "age".into(),
                    rule: FeatureRule::Numeric {
                        min: Some(18.0),
                        max: Some(68.0),
                        declared: false,
                    },
                    nullable: false,
                },
                InputRule {
                    name: "income".into(),
                    rule: FeatureRule::Numeric {
                        min: None,
                        max: None,
                        declared: false,
                    },
                    nullable: true,
                },
                InputRule {
                    name: "region".into(),
                    rule: FeatureRule::Categorical {
                        levels: Some(["north".to_string(), "south".to_string()].into()),
                    },
                    nullable: false,
                },
            ],
        }
    }

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_range_declared_at_import_holds_and_is_named_so() {
        let s = InputSchema {
            features: vec![InputRule {
                name: "x".into(),
                rule: FeatureRule::Numeric {
                    min: Some(0.0),
                    max: Some(1.0),
                    declared: true,
                },
                nullable: false,
            }],
        };
        let limits = ValidationLimits::default();
        let errs = s.validate(&[rec(json!({"x": 5.0}))], &limits).unwrap_err();
        assert!(
            errs[0]
                .error
                .contains("5 is outside the range declared at import [0, 1]"),
            "{errs:?}"
        );
        // Within the tolerance (10% of the width by default) it passes.
        assert_eq!(s.validate(&[rec(json!({"x": 1.05}))], &limits), Ok(()));
    }

    #[test]
    fn a_good_record_passes() {
        let r = rec(json!({"age": 40, "income": null, "region": "north"}));
        assert_eq!(
            schema().validate(&[r], &ValidationLimits::default()),
            Ok(())
        );
    }

    #[test]
    fn every_error_is_listed_with_instance_and_field() {
        let rs = [
            rec(json!({"age": "forty", "region": "east", "colour": 1})),
            rec(json!({"age": 200, "income": 5, "region": null})),
        ];
        let errs = schema()
            .validate(&rs, &ValidationLimits::default())
            .unwrap_err();
        let got: Vec<(Option<usize>, Option<&str>)> = errs
            .iter()
            .map(|e| (e.instance, e.field.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (Some(0), Some("colour")),
                (Some(0), Some("age")),
                (Some(0), Some("income")),
                (Some(0), Some("region")),
                (Some(1), Some("age")),
                (Some(1), Some("region")),
            ]
        );
        assert!(errs[1].error.contains("expected a number"));
        assert!(errs[2].error.contains("missing field"));
        assert!(errs[3].error.contains("unknown category \"east\""));
        assert!(errs[4].error.contains("outside the range"));
        assert!(errs[5].error.contains("null"));
    }

    #[test]
    fn range_tolerance_widens_the_training_range() {
        let s = schema();
        let lim = ValidationLimits {
            range_tolerance: 0.1,
            max_instances: 10,
        };
        // Range 50, 10 % = 5 either side: 13..=73 accepted.
        for (age, ok) in [(13.0, true), (12.9, false), (73.0, true), (73.1, false)] {
            let r = rec(json!({"age": age, "income": 1, "region": "south"}));
            assert_eq!(s.validate(&[r], &lim).is_ok(), ok, "{age}");
        }
    }

    #[test]
    fn too_many_or_no_instances_are_refused() {
        let s = schema();
        let lim = ValidationLimits {
            range_tolerance: 0.1,
            max_instances: 2,
        };
        let r = rec(json!({"age": 30, "income": 1, "region": "south"}));
        assert!(s.validate(&[r.clone(), r.clone(), r], &lim).is_err());
        assert!(s.validate(&[], &lim).is_err());
    }

    #[test]
    fn text_is_normalised_before_it_is_checked() {
        assert_eq!(normalize_text("ｎｏｒｔｈ"), "north");
        assert_eq!(normalize_text("nor\u{200B}th"), "north");
        assert_eq!(normalize_text("\u{202E}north\u{0007} "), "north");
        assert_eq!(normalize_text("ﬁle"), "file");
        let s = schema();
        let mut rs = [rec(
            json!({"age": 30, "income": 1, "region": "ｓｏｕｔｈ\u{FEFF}"}),
        )];
        s.normalize(&mut rs);
        assert_eq!(rs[0]["region"], "south");
        assert_eq!(s.validate(&rs, &ValidationLimits::default()), Ok(()));
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let rs = [rec(json!({"age": 30, "income": 1, "region": long}))];
        let errs = s.validate(&rs, &ValidationLimits::default()).unwrap_err();
        assert!(errs[0].error.contains("longer than"), "{errs:?}");
    }

    proptest::proptest! {
        #[test]
        fn normalising_text_is_idempotent(s in "\\PC{0,40}|[\u{0}-\u{3000}]{0,20}") {
            let once = normalize_text(&s);
            proptest::prop_assert_eq!(normalize_text(&once), once.clone());
            proptest::prop_assert!(!once.chars().any(|c| c.is_control() || is_invisible(c)));
        }
    }

    #[test]
    fn the_error_list_is_bounded() {
        let rs: Vec<_> = (0..500).map(|_| rec(json!({"x": 1}))).collect();
        let errs = schema()
            .validate(&rs, &ValidationLimits::default())
            .unwrap_err();
        assert_eq!(errs.len(), MAX_LISTED_ERRORS + 1);
    }
}
