//! `audit witness`: independent parties cosign the log's checkpoints.
//!
//! A witness holds its own Ed25519 key, outside the workspace. Before it
//! cosigns it verifies the whole log, including consistency with the
//! newest checkpoint it saw before (remembered in the witness's own
//! directory), so it never cosigns a history that forks from one it
//! already vouched for. Its C2SP tlog-cosignature/v1 line is added to the
//! newest signed checkpoint and published to
//! `.warden/log/cosignatures/NAME.note`; nothing there is trusted, only
//! the signatures: `audit verify --witness VKEY` and the gate (with
//! `witnesses` and `min_witnesses` in its pinned data) check them.

use std::path::{Path, PathBuf};

use serde::Serialize;
use warden_artifact::keys::{Algorithm, SigningKey};
use warden_artifact::note::{Checkpoint, CosignatureSigner, CosignatureVerifier};

use crate::workspace::write_atomic;
use crate::{Error, VerifyOptions, Workspace};

/// What `audit witness` did.
#[derive(Debug, Serialize)]
pub struct Witnessed {
    /// The witness's name (a schema-less URL such as `witness.example/w1`).
    pub witness: String,
    /// The witness's verifier key (signature type 0x04), for pinning.
    pub vkey: String,
    /// The size of the checkpoint cosigned.
    pub size: u64,
    /// When it was cosigned, in Unix seconds.
    pub time: u64,
    /// Where the cosigned checkpoint was published.
    pub published: String,
    /// The checkpoint with the log's signature and the cosignature.
    pub note: String,
}

/// One cosignature as the gate sees it.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct CosignatureFact {
    /// The witness's name, from its verifier key.
    pub witness: String,
    /// The size of the checkpoint it cosigned.
    pub size: u64,
    /// Seconds since it cosigned.
    pub age_seconds: u64,
    /// The cosigned root is the log's signed root at that size.
    pub consistent: bool,
}

/// Writes a new witness key (Ed25519, PKCS#8 PEM, 0600) and returns the
/// witness's verifier key.
pub fn witness_key_generate(
    path: &Path,
    name: &str,
    passphrase: Option<&[u8]>,
) -> Result<String, Error> {
    if path.exists() {
        return Err(Error::Conflict(format!(
            "{} already exists; choose another path",
            path.display()
        )));
    }
    let key = SigningKey::generate(Algorithm::Ed25519)?;
    let SigningKey::Ed25519(ed) = &key else {
        return Err(Error::Invalid("a witness key must be Ed25519".into()));
    };
    let vkey = CosignatureSigner::new(name, ed)?.verifier().vkey();
    key.write_file(path, passphrase)?;
    Ok(vkey)
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Workspace {
    fn cosignature_dir(&self) -> PathBuf {
        self.state_dir().join("log").join("cosignatures")
    }

    /// Verifies the log and cosigns its newest checkpoint with the witness
    /// key at `key` under `name`.
    pub fn audit_witness(&self, key: &Path, name: &str) -> Result<Witnessed, Error> {
        let sk = SigningKey::read_file(key, self.passphrase_bytes())?;
        let SigningKey::Ed25519(ed) = &sk else {
            return Err(Error::Usage(format!(
                "{}: a witness key must be Ed25519 (`warden audit witness-key`)",
                key.display()
            )));
        };
        let signer = CosignatureSigner::new(name, ed)?;
        // Everything a witness vouches for: the whole log, its checkpoints
        // and the newest one this witness's account saw before.
        let report = self.audit_verify_with(&VerifyOptions::default())?;
        if !report.ok {
            let first = report
                .problems
                .first()
                .map(|p| p.message.clone())
                .unwrap_or_default();
            return Err(Error::Verification(format!(
                "the log does not verify, so it is not cosigned: {first}"
            )));
        }
        let cp = self
            .store()
            .read()?
            .latest_checkpoint()?
            .ok_or_else(|| Error::NotFound("a signed checkpoint".into()))?;
        let time = now_seconds();
        let note = signer.cosign(&cp.note, time)?;
        let dir = self.cosignature_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let file = dir.join(format!("{}.note", file_name(name)));
        write_atomic(&file, note.as_bytes())?;
        Ok(Witnessed {
            witness: name.to_string(),
            vkey: signer.verifier().vkey(),
            size: cp.size,
            time,
            published: file.display().to_string(),
            note,
        })
    }

    /// The published cosigned checkpoints that carry a valid cosignature by
    /// `verifier` and the log key: (cosignature time, checkpoint, note).
    /// `log` verifies the log's own signature (passed in: the caller may
    /// hold the store's connection).
    pub(crate) fn cosigned_by(
        &self,
        verifier: &CosignatureVerifier,
        log: &warden_artifact::note::NoteVerifier,
    ) -> Result<Vec<(u64, Checkpoint, String)>, Error> {
        let mut out = Vec::new();
        let dir = self.cosignature_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("note") {
                continue;
            }
            let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
            if meta.len() > warden_artifact::note::MAX_NOTE_BYTES as u64 {
                continue;
            }
            let note = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let Ok((time, text)) = verifier.verify(&note) else {
                continue;
            };
            // The log's own signature must be on it too.
            if log.open(&note).is_err() {
                continue;
            }
            let cp = Checkpoint::parse(text)?;
            out.push((time, cp, note.clone()));
        }
        Ok(out)
    }

    /// The gate's facts about cosignatures by the witnesses `vkeys`.
    pub(crate) fn cosignature_facts(
        &self,
        vkeys: &[String],
    ) -> Result<Vec<CosignatureFact>, Error> {
        if vkeys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.store().read()?.checkpoint_roots()?;
        let log = self.log_verifier()?;
        let now = now_seconds();
        let mut out = Vec::new();
        for vkey in vkeys {
            let v = CosignatureVerifier::from_vkey(vkey)?;
            for (time, cp, _) in self.cosigned_by(&v, &log)? {
                let consistent = stored
                    .iter()
                    .any(|(size, root)| *size == cp.size && *root == hex::encode(cp.root));
                out.push(CosignatureFact {
                    witness: v.name().to_string(),
                    size: cp.size,
                    age_seconds: now.saturating_sub(time),
                    consistent,
                });
            }
        }
        Ok(out)
    }
}

/// A witness name (a schema-less URL such as `witness.example/w1`) as a
/// file name.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
