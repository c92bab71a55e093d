//! `keys generate | list | export-public | trust | revoke`.

use std::path::Path;

use serde::Serialize;
use warden_artifact::keys::{Algorithm, PublicKey, SigningKey};
use warden_core::{Action, KeyName, Timestamp, actions};
use warden_store::KeyRecord;

use crate::events;
use crate::workspace::LOG_KEY;
use crate::{Error, Workspace};

/// Largest public key file `keys trust` reads.
const MAX_PUBLIC_KEY_BYTES: u64 = 64 * 1024;

/// A key as listed.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeySummary {
    /// The key's name in the workspace.
    pub name: String,
    /// `own` (made or enrolled here) or `trusted` (another party's public key).
    pub origin: String,
    /// `ecdsa-p256`, `ecdsa-p384` or `ed25519`.
    pub algorithm: String,
    /// The `sha256:` digest of the DER public key.
    pub key_id: String,
    /// The actor who added it.
    pub added_by: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
    /// Whether it is revoked (a revoked key verifies nothing).
    pub revoked: bool,
    /// When it was revoked (RFC 3339; `None`: not revoked).
    pub revoked_at: Option<String>,
    /// The principal whose key this is.
    pub owner: Option<String>,
    /// What the key signs (`approval`, `pipeline`, `log`, `release`).
    pub purpose: Option<String>,
    /// The admin who acknowledged an enrolled approval key.
    pub acknowledged_by: Option<String>,
}

/// What a key is for. A key signs only what its purpose says: an approval
/// counts only with an `approval` key of the approver's own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPurpose {
    /// A person's approvals of model versions; enrolled by its owner,
    /// acknowledged by an admin, kept in the owner's own directory.
    Approval,
    /// Models trained or signed by the workspace's pipeline.
    Pipeline,
    /// The audit log's checkpoints.
    Log,
    /// Releases from elsewhere (a partner's or vendor's signing key).
    Release,
}

impl KeyPurpose {
    /// Every purpose, in the order help texts list them.
    pub const ALL: [KeyPurpose; 4] = [
        KeyPurpose::Approval,
        KeyPurpose::Pipeline,
        KeyPurpose::Log,
        KeyPurpose::Release,
    ];

    /// The purpose's name: `approval`, `pipeline`, `log` or `release`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::Approval => "approval",
            KeyPurpose::Pipeline => "pipeline",
            KeyPurpose::Log => "log",
            KeyPurpose::Release => "release",
        }
    }

    /// Parses a purpose name.
    pub fn parse(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::Usage(format!(
                    "unknown key purpose {s:?}; purposes are approval, pipeline, log, release"
                ))
            })
    }
}

/// A key with its public half, as returned by generate and trust.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct KeyInfo {
    /// The key as listed (flattened into the JSON).
    #[serde(flatten)]
    pub summary: KeySummary,
    /// The public half, PEM.
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
            owner: k.owner.as_ref().map(ToString::to_string),
            purpose: k.purpose.clone(),
            acknowledged_by: k.acknowledged_by.as_ref().map(ToString::to_string),
        }
    }
}

impl Workspace {
    /// Generates a signing key. The private half is written to
    /// `.warden/keys/NAME.pem` (mode 0600, encrypted when a passphrase is
    /// set); the public half is recorded and trusted by this workspace.
    pub fn keys_generate(&self, name: &KeyName, algorithm: Algorithm) -> Result<KeyInfo, Error> {
        self.keys_generate_for(name, algorithm, KeyPurpose::Pipeline)
    }

    /// [`Workspace::keys_generate`] for a purpose other than the pipeline's
    /// (`release`). Approval keys are personal: see [`Workspace::keys_enrol`].
    pub fn keys_generate_for(
        &self,
        name: &KeyName,
        algorithm: Algorithm,
        purpose: KeyPurpose,
    ) -> Result<KeyInfo, Error> {
        match purpose {
            KeyPurpose::Approval => {
                return Err(Error::Usage(
                    "approval keys belong to their approver: the approver runs `warden keys enrol NAME` and an admin acknowledges it".into(),
                ));
            }
            KeyPurpose::Log => {
                return Err(Error::Usage(
                    "the workspace has one log key, made by `warden init`".into(),
                ));
            }
            KeyPurpose::Pipeline | KeyPurpose::Release => {}
        }
        self.authorize(Action::KeysGenerate, &format!("key:{name}"))?;
        self.create_own_key(name, algorithm, purpose, self.private_key_path(name))
    }

    /// Enrols a personal approval key for the acting principal: the
    /// private half is written to the principal's own directory (see
    /// [`crate::user_dir`]; mode 0600, encrypted with
    /// `WARDEN_KEY_PASSPHRASE` when set), never into the shared workspace;
    /// the public half is recorded with its owner. It signs approvals that
    /// count only after an admin other than its owner acknowledges it
    /// ([`Workspace::keys_acknowledge`]).
    pub fn keys_enrol(&self, name: &KeyName, algorithm: Algorithm) -> Result<KeyInfo, Error> {
        self.authorize(Action::KeysEnrol, &format!("key:{name}"))?;
        let path = self.personal_key_path(name)?;
        self.create_own_key(name, algorithm, KeyPurpose::Approval, path)
    }

    /// Makes a key pair owned by the acting principal: checks the name is
    /// free in the store and on disk, writes the private half to `path`
    /// (creating a personal directory 0700), and records the public half
    /// with its audit event in one transaction. The private file is removed
    /// again if the transaction fails, so no key is left that no record
    /// explains. The caller has authorised the action.
    fn create_own_key(
        &self,
        name: &KeyName,
        algorithm: Algorithm,
        purpose: KeyPurpose,
        path: std::path::PathBuf,
    ) -> Result<KeyInfo, Error> {
        if self.store().read()?.key(name)?.is_some() {
            return Err(Error::Conflict(format!(
                "a key named {name} already exists"
            )));
        }
        if path.exists() {
            return Err(Error::Conflict(format!(
                "{} already exists; remove it or choose another name",
                path.display()
            )));
        }
        if purpose == KeyPurpose::Approval
            && let Some(parent) = path.parent()
        {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt;
                b.mode(0o700);
            }
            b.create(parent).map_err(|e| Error::io(parent, e))?;
        }
        let key = SigningKey::generate(algorithm)?;
        key.write_file(&path, self.passphrase_bytes())?;
        match self.record_own_key(name, &key.public_key(), purpose, true) {
            Ok(mut info) => {
                info.private_key_path = Some(path.display().to_string());
                Ok(info)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Enrols the public half of an approval key whose private half the
    /// acting principal keeps on their own machine (the hub's path: the
    /// registry never holds it). The key is owned by the acting principal
    /// and counts once an admin other than its owner acknowledges it.
    pub fn keys_enrol_public(&self, name: &KeyName, public_pem: &str) -> Result<KeyInfo, Error> {
        self.authorize(Action::KeysEnrol, &format!("key:{name}"))?;
        if public_pem.len() > 16 * 1024 {
            return Err(Error::Usage("the public key is larger than 16 KiB".into()));
        }
        let public = PublicKey::from_pem(public_pem, name.as_str())
            .map_err(|e| Error::Usage(format!("public_pem: {e}")))?;
        if self.store().read()?.key(name)?.is_some() {
            return Err(Error::Conflict(format!(
                "a key named {name} already exists"
            )));
        }
        self.record_own_key(name, &public, KeyPurpose::Approval, false)
    }

    /// Records the public half of a key owned by the acting principal,
    /// with its audit event, in one transaction.
    fn record_own_key(
        &self,
        name: &KeyName,
        public: &PublicKey,
        purpose: KeyPurpose,
        encrypted_here: bool,
    ) -> Result<KeyInfo, Error> {
        let key_id = public.key_id()?;
        if self
            .store()
            .read()?
            .keys()?
            .iter()
            .any(|k| k.key_id == key_id)
        {
            return Err(Error::Conflict(format!(
                "this public key is already enrolled (key id {key_id})"
            )));
        }
        let record = KeyRecord {
            name: name.clone(),
            origin: "own".into(),
            algorithm: public.algorithm().as_str().into(),
            key_id,
            public_pem: public.to_pem()?,
            added_by: self.actor().clone(),
            added_at: Timestamp::now(),
            revoked_at: None,
            revoked_by: None,
            owner: Some(self.actor().clone()),
            purpose: Some(purpose.as_str().into()),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        let action = if purpose == KeyPurpose::Approval {
            actions::KEYS_ENROL
        } else {
            actions::KEYS_GENERATE
        };
        let mut tx = self.store().write()?;
        tx.insert_key(&record)?;
        events::append(
            &mut *tx,
            self.actor(),
            action,
            &format!("key:{name}"),
            &events::KeyChange {
                name: name.to_string(),
                key_id: record.key_id.clone(),
                algorithm: Some(record.algorithm.clone()),
                owner: record.owner.as_ref().map(ToString::to_string),
                purpose: record.purpose.clone(),
                encrypted: Some(encrypted_here && self.passphrase_bytes().is_some()),
                source: None,
            },
        )?;
        self.commit(tx)?;
        Ok(KeyInfo {
            summary: (&record).into(),
            public_pem: record.public_pem.clone(),
            private_key_path: None,
        })
    }

    /// An admin's acknowledgement that an enrolled approval key belongs to
    /// its owner. The owner cannot acknowledge their own key.
    pub fn keys_acknowledge(&self, name: &KeyName) -> Result<KeySummary, Error> {
        self.authorize(Action::KeysAcknowledge, &format!("key:{name}"))?;
        let now = Timestamp::now();
        let mut tx = self.store().write()?;
        let mut record = tx
            .key(name)?
            .ok_or_else(|| Error::NotFound(format!("key {name}")))?;
        if record.purpose.as_deref() != Some(KeyPurpose::Approval.as_str()) {
            return Err(Error::Usage(format!(
                "key {name} is not an enrolled approval key; only those are acknowledged"
            )));
        }
        if record.owner.as_ref() == Some(self.actor()) {
            return Err(Error::Invalid(format!(
                "{} owns key {name}: another admin must acknowledge it",
                self.actor()
            )));
        }
        if !tx.acknowledge_key(name, self.actor(), &now)? {
            return Err(Error::Conflict(format!(
                "key {name} is already acknowledged or is revoked"
            )));
        }
        events::append(
            &mut *tx,
            self.actor(),
            actions::KEYS_ACKNOWLEDGE,
            &format!("key:{name}"),
            &events::KeyChange {
                name: name.to_string(),
                key_id: record.key_id.clone(),
                algorithm: None,
                owner: record.owner.as_ref().map(ToString::to_string),
                purpose: None,
                encrypted: None,
                source: None,
            },
        )?;
        self.commit(tx)?;
        record.acknowledged_by = Some(self.actor().clone());
        record.acknowledged_at = Some(now);
        Ok((&record).into())
    }

    /// Every key the workspace holds or trusts.
    pub fn keys_list(&self) -> Result<Vec<KeySummary>, Error> {
        self.authorize(Action::KeysList, "keys")?;
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
        self.authorize(Action::KeysExport, &format!("key:{name}"))?;
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
        self.authorize(Action::KeysTrust, &format!("key:{name}"))?;
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
            owner: None,
            purpose: Some(KeyPurpose::Release.as_str().into()),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        tx.insert_key(&record)?;
        events::append(
            &mut *tx,
            self.actor(),
            actions::KEYS_TRUST,
            &format!("key:{name}"),
            &events::KeyChange {
                name: name.to_string(),
                key_id: record.key_id.clone(),
                algorithm: Some(record.algorithm.clone()),
                owner: None,
                purpose: record.purpose.clone(),
                encrypted: None,
                source: Some(file.display().to_string()),
            },
        )?;
        self.commit(tx)?;
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
        self.authorize(Action::KeysRevoke, &format!("key:{name}"))?;
        let now = Timestamp::now();
        let mut tx = self.store().write()?;
        let record = tx
            .key(name)?
            .ok_or_else(|| Error::NotFound(format!("key {name}")))?;
        if !tx.revoke_key(name, self.actor(), &now)? {
            return Err(Error::Conflict(format!("key {name} is already revoked")));
        }
        events::append(
            &mut *tx,
            self.actor(),
            actions::KEYS_REVOKE,
            &format!("key:{name}"),
            &events::KeyChange {
                name: name.to_string(),
                key_id: record.key_id.clone(),
                algorithm: None,
                owner: None,
                purpose: None,
                encrypted: None,
                source: None,
            },
        )?;
        self.commit(tx)?;
        let mut summary = KeySummary::from(&record);
        summary.revoked = true;
        summary.revoked_at = Some(now.to_string());
        Ok(summary)
    }
}
