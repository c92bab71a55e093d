//! `keys generate | list | export-public | trust | revoke`.

use std::path::Path;

use serde::Serialize;
use serde_json::json;
use warden_artifact::keys::{Algorithm, PublicKey, SigningKey};
use warden_core::{KeyName, Timestamp, actions};
use warden_store::{KeyRecord, MetadataStore};

use crate::workspace::LOG_KEY;
use crate::{Error, Workspace};

/// Largest public key file `keys trust` reads.
const MAX_PUBLIC_KEY_BYTES: u64 = 64 * 1024;

/// A key as listed.
#[derive(Debug, Serialize)]
pub struct KeySummary {
    pub name: String,
    pub origin: String,
    pub algorithm: String,
    pub key_id: String,
    pub added_by: String,
    pub added_at: String,
    pub revoked: bool,
    pub revoked_at: Option<String>,
}

/// A key with its public half, as returned by generate and trust.
#[derive(Debug, Serialize)]
pub struct KeyInfo {
    #[serde(flatten)]
    pub summary: KeySummary,
    pub public_pem: String,
    /// Where the private key lives, for keys the workspace holds.
    pub private_key_path: Option<String>,
}

impl From<&KeyRecord> for KeySummary {
    fn from(k: &KeyRecord) -> Self {
        KeySummary {
            name: k.name.to_string(),
            origin: k.origin.clone(),
            algorithm: k.algorithm.clone(),
            key_id: k.key_id.clone(),
            added_by: k.added_by.to_string(),
            added_at: k.added_at.to_string(),
            revoked: k.revoked_at.is_some(),
            revoked_at: k.revoked_at.as_ref().map(ToString::to_string),
        }
    }
}

impl Workspace {
    /// Generates a signing key. The private half is written to
    /// `.warden/keys/NAME.pem` (mode 0600, encrypted when a passphrase is
    /// set); the public half is recorded and trusted by this workspace.
    pub fn keys_generate(&self, name: &KeyName, algorithm: Algorithm) -> Result<KeyInfo, Error> {
        self.authorize("keys.generate", &format!("key:{name}"))?;
        if self.store().read()?.key(name)?.is_some() {
            return Err(Error::Conflict(format!(
                "a key named {name} already exists"
            )));
        }
        let path = self.private_key_path(name);
        if path.exists() {
            return Err(Error::Conflict(format!(
                "{} already exists; remove it or choose another name",
                path.display()
            )));
        }
        let key = SigningKey::generate(algorithm)?;
        let public = key.public_key();
        let record = KeyRecord {
            name: name.clone(),
            origin: "own".into(),
            algorithm: algorithm.as_str().into(),
            key_id: public.key_id()?,
            public_pem: public.to_pem()?,
            added_by: self.actor().clone(),
            added_at: Timestamp::now(),
            revoked_at: None,
            revoked_by: None,
        };
        key.write_file(&path, self.passphrase_bytes())?;
        let mut tx = self.store().write()?;
        tx.insert_key(&record)?;
        tx.append_event(
            self.actor(),
            actions::KEYS_GENERATE,
            &format!("key:{name}"),
            &json!({"name": name, "algorithm": record.algorithm, "key_id": record.key_id,
                    "encrypted": self.passphrase_bytes().is_some()}),
        )?;
        if let Err(e) = tx.commit() {
            // Do not leave a private key behind that no record explains.
            let _ = std::fs::remove_file(&path);
            return Err(e.into());
        }
        self.checkpoint()?;
        Ok(KeyInfo {
            summary: (&record).into(),
            public_pem: record.public_pem.clone(),
            private_key_path: Some(path.display().to_string()),
        })
    }

    /// Every key the workspace holds or trusts.
    pub fn keys_list(&self) -> Result<Vec<KeySummary>, Error> {
        self.authorize("keys.list", "keys")?;
        Ok(self
            .store()
            .read()?
            .keys()?
            .iter()
            .map(KeySummary::from)
            .collect())
    }

    /// The SPKI PEM public key of a key.
    pub fn keys_export_public(&self, name: &KeyName) -> Result<KeyInfo, Error> {
        self.authorize("keys.export", &format!("key:{name}"))?;
        let record = self
            .store()
            .read()?
            .key(name)?
            .ok_or_else(|| Error::NotFound(format!("key {name}")))?;
        Ok(KeyInfo {
            summary: (&record).into(),
            public_pem: record.public_pem.clone(),
            private_key_path: None,
        })
    }

    /// Adds a public key (SPKI PEM file) to the workspace trust store.
    pub fn keys_trust(&self, file: &Path, name: &KeyName) -> Result<KeyInfo, Error> {
        let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
        if meta.len() > MAX_PUBLIC_KEY_BYTES {
            return Err(Error::Invalid(format!(
                "{}: {} bytes is too large for a public key file",
                file.display(),
                meta.len()
            )));
        }
        let pem = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        if pem.contains("PRIVATE KEY-----") {
            return Err(Error::Invalid(format!(
                "{} holds a private key; trust the public key (`warden keys export-public`) instead",
                file.display()
            )));
        }
        let public = PublicKey::from_pem(&pem, &file.display().to_string())?;
        self.authorize("keys.trust", &format!("key:{name}"))?;
        let key_id = public.key_id()?;
        let mut tx = self.store().write()?;
        if tx.key(name)?.is_some() {
            return Err(Error::Conflict(format!(
                "a key named {name} already exists"
            )));
        }
        if let Some(other) = tx.keys()?.iter().find(|k| k.key_id == key_id) {
            return Err(Error::Conflict(format!(
                "this public key is already known as {} ({key_id})",
                other.name
            )));
        }
        let record = KeyRecord {
            name: name.clone(),
            origin: "trusted".into(),
            algorithm: public.algorithm().as_str().into(),
            key_id,
            public_pem: public.to_pem()?,
            added_by: self.actor().clone(),
            added_at: Timestamp::now(),
            revoked_at: None,
            revoked_by: None,
        };
        tx.insert_key(&record)?;
        tx.append_event(
            self.actor(),
            actions::KEYS_TRUST,
            &format!("key:{name}"),
            &json!({"name": name, "algorithm": record.algorithm, "key_id": record.key_id,
                    "source": file.display().to_string()}),
        )?;
        tx.commit()?;
        self.checkpoint()?;
        Ok(KeyInfo {
            summary: (&record).into(),
            public_pem: record.public_pem.clone(),
            private_key_path: None,
        })
    }

    /// Revokes a key: it stays on record (old signatures can be explained)
    /// but is no longer trusted or used. The log key cannot be revoked.
    pub fn keys_revoke(&self, name: &KeyName) -> Result<KeySummary, Error> {
        if name.as_str() == LOG_KEY {
            return Err(Error::Usage(
                "the log key signs the audit log's checkpoints and cannot be revoked".into(),
            ));
        }
        self.authorize("keys.revoke", &format!("key:{name}"))?;
        let now = Timestamp::now();
        let mut tx = self.store().write()?;
        let record = tx
            .key(name)?
            .ok_or_else(|| Error::NotFound(format!("key {name}")))?;
        if !tx.revoke_key(name, self.actor(), &now)? {
            return Err(Error::Conflict(format!("key {name} is already revoked")));
        }
        tx.append_event(
            self.actor(),
            actions::KEYS_REVOKE,
            &format!("key:{name}"),
            &json!({"name": name, "key_id": record.key_id}),
        )?;
        tx.commit()?;
        self.checkpoint()?;
        let mut summary = KeySummary::from(&record);
        summary.revoked = true;
        summary.revoked_at = Some(now.to_string());
        Ok(summary)
    }
}
