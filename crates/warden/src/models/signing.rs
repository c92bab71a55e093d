//! `sign` and `verify`: OpenSSF model-signing signatures over a directory.

use std::path::{Path, PathBuf};

use serde::Serialize;
use warden_artifact::keys::SigningKey;
use warden_artifact::model_signing::{self, ModelKey, ModelSigningError, Progress};
use warden_core::{Action, KeyName, Timestamp};

use crate::events;
use crate::{Error, Workspace};

/// The outcome of signing or of a signature check.
#[derive(Debug, Serialize)]
pub struct Verified {
    /// The model directory or file checked.
    pub path: String,
    /// The signature bundle's path.
    pub signature: String,
    /// The signed subject's root digest (hex SHA-256 over every file's or
    /// shard's digest).
    pub root_digest: String,
    /// How many files (or shards, when signed by shards) the signature
    /// covers.
    pub files: usize,
    /// The workspace key that verified it, or the key file given.
    pub key: String,
}

impl From<ModelSigningError> for Error {
    fn from(e: ModelSigningError) -> Self {
        match e {
            ModelSigningError::Io { path, source } => Error::Io { path, source },
            ModelSigningError::UnsupportedKey(m) => Error::Invalid(m),
            other => Error::Verification(other.to_string()),
        }
    }
}

/// `PATH.sig` beside the model directory (outside it, so it is not signed itself).
pub fn default_signature_path(model: &Path) -> PathBuf {
    let mut s = model.as_os_str().to_owned();
    s.push(".sig");
    PathBuf::from(s)
}

fn read_bundle(path: &Path) -> Result<Vec<u8>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > model_signing::MAX_BUNDLE_BYTES as u64 {
        return Err(Error::Verification(format!(
            "{}: too large for a signature",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Verifies with an explicit public key file (no workspace needed).
pub fn verify_with_key_file(
    model: &Path,
    signature: &Path,
    key_file: &Path,
    progress: Option<Progress<'_>>,
) -> Result<Verified, Error> {
    let pem = std::fs::read_to_string(key_file).map_err(|e| Error::io(key_file, e))?;
    let key = ModelKey::from_pem(&pem)?;
    let v = model_signing::verify_progress(
        model,
        &read_bundle(signature)?,
        &key,
        Some(signature),
        progress,
    )?;
    Ok(Verified {
        path: model.display().to_string(),
        signature: signature.display().to_string(),
        root_digest: v.root_digest,
        files: v.files.len(),
        key: key_file.display().to_string(),
    })
}

impl Workspace {
    /// Signs `model` with the workspace key `name` (ECDSA P-256 or P-384),
    /// by files or, with `shard_size`, by shards of that many bytes.
    pub fn sign_model(
        &self,
        model: &Path,
        name: &KeyName,
        signature: &Path,
        shard_size: Option<u64>,
        progress: Option<Progress<'_>>,
    ) -> Result<Verified, Error> {
        self.authorize(Action::ModelSign, &format!("path:{}", model.display()))?;
        let record = self
            .store()
            .read()?
            .key(name)?
            .filter(|k| k.origin == "own")
            .ok_or_else(|| Error::NotFound(format!("signing key {name} in this workspace")))?;
        if record.revoked_at.is_some() {
            return Err(Error::Invalid(format!("key {name} is revoked")));
        }
        let key = SigningKey::read_file(&self.private_key_path(name), self.passphrase_bytes())?;
        if matches!(key, SigningKey::Ed25519(_)) {
            return Err(Error::Invalid(format!(
                "key {name} is Ed25519; the OpenSSF model-signing format needs ECDSA P-256 or P-384"
            )));
        }
        let (bundle, v) =
            model_signing::sign_progress(model, &key, Some(signature), shard_size, progress)?;
        crate::workspace::write_atomic(signature, &bundle)?;
        let mut tx = self.store().write()?;
        events::append(
            &mut *tx,
            self.actor(),
            warden_core::actions::MODEL_SIGN,
            &format!("path:{}", model.display()),
            &events::DirectorySigned {
                path: model.display().to_string(),
                signature: signature.display().to_string(),
                key: name.to_string(),
                key_id: record.key_id.clone(),
                root_digest: v.root_digest.clone(),
                files: v.files.len() as u64,
                time: Timestamp::now().to_string(),
            },
        )?;
        self.commit(tx)?;
        Ok(Verified {
            path: model.display().to_string(),
            signature: signature.display().to_string(),
            root_digest: v.root_digest,
            files: v.files.len(),
            key: name.to_string(),
        })
    }

    /// Verifies `model` against the workspace trust store: the signature
    /// must verify under a trusted (or own), unrevoked ECDSA key.
    pub fn verify_model(
        &self,
        model: &Path,
        signature: &Path,
        progress: Option<Progress<'_>>,
    ) -> Result<Verified, Error> {
        self.authorize(Action::ModelRead, &format!("path:{}", model.display()))?;
        let bundle = read_bundle(signature)?;
        let keys = self.store().read()?.keys()?;
        // Find the key whose signature it is first (cheap), then hash the
        // model once.
        for k in keys
            .iter()
            .filter(|k| k.revoked_at.is_none() && k.algorithm.starts_with("ecdsa"))
        {
            let Ok(key) = ModelKey::from_pem(&k.public_pem) else {
                continue;
            };
            match model_signing::verify_bundle(&bundle, &key) {
                Ok(v) => {
                    let actual = model_signing::hash_dir_progress(
                        model,
                        Some(signature),
                        v.shard_size,
                        progress,
                    )?;
                    model_signing::check_files(&v, &actual)?;
                    return Ok(Verified {
                        path: model.display().to_string(),
                        signature: signature.display().to_string(),
                        root_digest: v.root_digest,
                        files: v.files.len(),
                        key: k.name.to_string(),
                    });
                }
                // "Not this key": try the next one. Anything else is about
                // the bundle itself, and is the verdict.
                Err(ModelSigningError::KeyMismatch { .. } | ModelSigningError::BadSignature) => {
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Verification(format!(
            "{}: not signed by any trusted, unrevoked key of this workspace",
            signature.display()
        )))
    }
}
