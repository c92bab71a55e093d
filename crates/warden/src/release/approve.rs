//! `approve`, `quarantine`, `release`, `rollback`.
//!
//! An approval is a DSSE envelope over an in-toto statement whose subject is
//! the model version's digest and whose predicate names the environment,
//! the approver and the comment, signed with one of the workspace's own keys.
//! The gate re-verifies every approval against the trust store each time.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_artifact::keys::{PublicKey, SigningKey};
use warden_core::{
    Action, ActorName, KeyName, ObjectName, Timestamp, VersionRef, actions, canonical_json,
};
use warden_store::{ApprovalRecord, KeyRecord, ModelRecord, QuarantineRecord, StagePointer};

use crate::events;
use crate::trust::dsse::Envelope;
use crate::{Error, Workspace};

/// The DSSE payload type of an approval envelope (an in-toto statement).
pub const APPROVAL_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type of an approval statement.
pub const APPROVAL_PREDICATE: &str = "https://warden.local/approval/v1";

/// The result of `approve`.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Approved {
    /// The approval as recorded.
    pub approval: ApprovalRecord,
    /// The id of the key that signed it: the `sha256:` digest of its DER
    /// public key.
    pub key_id: String,
    /// The signed DSSE envelope, as stored.
    pub envelope: Envelope,
}

/// The result of `rollback`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RolledBack {
    /// The model's name.
    pub model: String,
    /// The environment moved.
    pub env: String,
    /// The version it held before (`None`: none).
    pub from: Option<u64>,
    /// The version it holds now.
    pub to: u64,
}

/// The in-toto statement type.
const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// The in-toto statement an approval signs (in-toto Statement v1,
/// <https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md>).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStatement {
    /// `https://in-toto.io/Statement/v1`.
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The model version approved: one subject.
    pub subject: Vec<ApprovalSubject>,
    /// [`APPROVAL_PREDICATE`].
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    /// What is approved, by whom, when.
    pub predicate: ApprovalPredicate,
}

/// The subject of an approval: `NAME@V` and its package digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSubject {
    /// `NAME@V`.
    pub name: String,
    /// Algorithm to hex digest (`sha256`).
    pub digest: BTreeMap<String, String>,
}

/// The predicate of an approval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPredicate {
    /// The environment approved for.
    pub environment: String,
    /// The approver (the principal who signs).
    pub approver: String,
    /// The approver's comment (`None`: none).
    pub comment: Option<String>,
    /// When it was signed (RFC 3339).
    pub time: String,
}

/// The in-toto statement an approval signs: the model version's digest as
/// subject, and the environment, approver, comment and time as predicate.
pub fn approval_statement(
    model: &str,
    version: u64,
    digest: &str,
    env: &str,
    approver: &ActorName,
    comment: Option<&str>,
    time: &Timestamp,
) -> ApprovalStatement {
    ApprovalStatement {
        statement_type: STATEMENT_TYPE.to_string(),
        subject: vec![ApprovalSubject {
            name: format!("{model}@{version}"),
            digest: BTreeMap::from([(
                "sha256".to_string(),
                digest.trim_start_matches("sha256:").to_string(),
            )]),
        }],
        predicate_type: APPROVAL_PREDICATE.to_string(),
        predicate: ApprovalPredicate {
            environment: env.to_string(),
            approver: approver.to_string(),
            comment: comment.map(str::to_string),
            time: time.to_string(),
        },
    }
}

/// Signs `statement` as a DSSE envelope with `key` (whose key id is
/// `key_id`). The approver's machine does this; the registry only verifies.
pub fn sign_approval(
    key: &SigningKey,
    key_id: &str,
    statement: &ApprovalStatement,
) -> Result<Envelope, Error> {
    let payload = canonical_json(statement)?;
    Ok(Envelope::sign(APPROVAL_PAYLOAD_TYPE, &payload, key, key_id))
}

/// What a verified approval envelope says.
struct SignedApproval<'k> {
    key: &'k KeyRecord,
    comment: Option<String>,
}

/// Verifies an approval envelope of `m` for `env` by `approver` against
/// the trust store `keys`: one signature by a known, unrevoked approval key
/// that `approver` owns and an admin acknowledged, over a statement naming
/// these very bytes, this environment and this approver. The error is a
/// reason to show.
fn verify_approval<'k>(
    envelope: &Envelope,
    keys: &'k [KeyRecord],
    m: &ModelRecord,
    env: &str,
    approver: &str,
) -> Result<SignedApproval<'k>, String> {
    if envelope.payload_type != APPROVAL_PAYLOAD_TYPE {
        return Err("unexpected payload type".into());
    }
    let payload = envelope.payload_bytes()?;
    let [sig] = envelope.signatures.as_slice() else {
        return Err(format!(
            "an approval carries exactly one signature, not {}",
            envelope.signatures.len()
        ));
    };
    let key = keys
        .iter()
        .find(|k| Some(k.key_id.as_str()) == sig.keyid.as_deref())
        .ok_or("signed by a key not in the trust store")?;
    if key.revoked_at.is_some() {
        return Err(format!("signed by the revoked key {}", key.name));
    }
    if let Some(why) = approval_key_problem(key, approver) {
        return Err(format!("signed with key {}: {why}", key.name));
    }
    let public =
        PublicKey::from_pem(&key.public_pem, key.name.as_str()).map_err(|e| e.to_string())?;
    if !envelope.verifies(sig, &payload, &public) {
        return Err("the signature does not verify".into());
    }
    let st: ApprovalStatement = serde_json::from_slice(&payload)
        .map_err(|e| format!("the payload is not a Warden approval statement: {e}"))?;
    if st.statement_type != STATEMENT_TYPE || st.predicate_type != APPROVAL_PREDICATE {
        return Err("the payload is not a Warden approval statement".into());
    }
    let [subject] = st.subject.as_slice() else {
        return Err("the approval is for other bytes than this model version".into());
    };
    if subject.digest.get("sha256").map(String::as_str)
        != Some(m.digest.trim_start_matches("sha256:"))
        || subject.name != format!("{}@{}", m.name, m.version)
    {
        return Err("the approval is for other bytes than this model version".into());
    }
    if st.predicate.environment != env || st.predicate.approver != approver {
        return Err("the signed environment or approver differs from the record".into());
    }
    Ok(SignedApproval {
        key,
        comment: st.predicate.comment,
    })
}

impl Workspace {
    /// What every approval must satisfy before any signature is looked at:
    /// the actor may approve, the environment exists, the actor is not the
    /// author and has not approved already, and the package still verifies.
    fn approval_target(&self, r: &VersionRef, env: &str) -> Result<ModelRecord, Error> {
        self.authorize(Action::ModelApprove, &format!("model:{r}"))?;
        if !self.config().gates.environments.iter().any(|e| e == env) {
            return Err(Error::Usage(format!(
                "unknown environment {env:?}; this workspace's environments are {}",
                self.config().gates.environments.join(", ")
            )));
        }
        let m = self.find_model(r)?;
        // The author read here must be the one the log recorded.
        {
            let mut tx = self.store().read()?;
            let events = tx.events_about(
                &format!("model:{}@{}", m.name, m.version),
                &[actions::MODEL_TRAIN, actions::MODEL_IMPORT],
            )?;
            if let Some(d) = crate::ledger::model_disagreement(&events, &m)? {
                drop(tx);
                return Err(self.refuse_disagreement_on(d, Some((&m.name, m.version))));
            }
        }
        if m.created_by == *self.actor() {
            return Err(Error::Invalid(format!(
                "{} is the author of {}@{}: an approval must come from someone else",
                self.actor(),
                m.name,
                m.version
            )));
        }
        if self
            .store()
            .read()?
            .approvals(&m.name, m.version)?
            .iter()
            .any(|a| a.env == env && a.approver == *self.actor())
        {
            return Err(Error::Conflict(format!(
                "{} has already approved {}@{} for {env}",
                self.actor(),
                m.name,
                m.version
            )));
        }
        // Approving a package that no longer verifies would vouch for bytes
        // nobody checked.
        self.verified_files(&m)?;
        Ok(m)
    }

    /// Signs an approval of `MODEL@N` for `env` with the own key `key`.
    pub fn approve(
        &self,
        r: &VersionRef,
        env: &str,
        key: &KeyName,
        comment: Option<&str>,
    ) -> Result<Approved, Error> {
        let m = self.approval_target(r, env)?;
        let record = self
            .store()
            .read()?
            .key(key)?
            .filter(|k| k.origin == "own")
            .ok_or_else(|| Error::NotFound(format!("signing key {key} in this workspace")))?;
        if record.revoked_at.is_some() {
            return Err(Error::Invalid(format!("key {key} is revoked")));
        }
        // Only the approver's own, acknowledged approval key signs for them.
        if let Some(why) = approval_key_problem(&record, self.actor().as_str()) {
            return Err(Error::Invalid(format!(
                "key {key} cannot sign this approval: {why}"
            )));
        }
        let sk = SigningKey::read_file(&self.personal_key_path(key)?, self.passphrase_bytes())?;
        let statement = approval_statement(
            m.name.as_str(),
            m.version,
            &m.digest,
            env,
            self.actor(),
            comment,
            &Timestamp::now(),
        );
        let envelope = sign_approval(&sk, &record.key_id, &statement)?;
        self.record_approval(&m, env, &record, envelope, comment)
    }

    /// Records an approval of `MODEL@N` for `env` that the acting principal
    /// signed on their own machine (the hub's path: the private key never
    /// reaches the registry). The envelope must verify against an approval
    /// key this same principal enrolled and an admin acknowledged. The
    /// envelope is taken as the JSON the caller sent and read as a DSSE
    /// envelope only once the caller may approve, so a caller without the
    /// right learns nothing from its shape.
    pub fn approve_signed(
        &self,
        r: &VersionRef,
        env: &str,
        envelope: &serde_json::Value,
    ) -> Result<Approved, Error> {
        let m = self.approval_target(r, env)?;
        let envelope = Envelope::deserialize(envelope).map_err(|e| {
            Error::Verification(format!("approval envelope: not a DSSE envelope: {e}"))
        })?;
        let keys = self.store().read()?.keys()?;
        let signed = verify_approval(&envelope, &keys, &m, env, self.actor().as_str())
            .map_err(|why| Error::Verification(format!("approval envelope: {why}")))?;
        let comment = signed.comment.clone();
        let key = signed.key.clone();
        self.record_approval(&m, env, &key, envelope, comment.as_deref())
    }

    /// Stores a verified approval and its audit event in one transaction.
    fn record_approval(
        &self,
        m: &ModelRecord,
        env: &str,
        key: &KeyRecord,
        envelope: Envelope,
        comment: Option<&str>,
    ) -> Result<Approved, Error> {
        let mut approval = ApprovalRecord {
            id: 0,
            model: m.name.clone(),
            version: m.version,
            model_digest: m.digest.clone(),
            env: env.to_string(),
            approver: self.actor().clone(),
            key_name: key.name.to_string(),
            envelope: String::from_utf8_lossy(&canonical_json(&envelope)?).into_owned(),
            created_at: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        approval.id = tx.insert_approval(&approval)?;
        events::append(
            &mut *tx,
            self.actor(),
            "model.approve",
            &format!("model:{}@{}", m.name, m.version),
            &events::Approved {
                approval: approval.id,
                model: format!("{}@{}", m.name, m.version),
                digest: Some(m.digest.clone()),
                env: env.to_string(),
                key: key.name.to_string(),
                key_id: key.key_id.clone(),
                comment: comment.map(str::to_string),
            },
        )?;
        self.commit(tx)?;
        Ok(Approved {
            approval,
            key_id: key.key_id.clone(),
            envelope,
        })
    }

    /// The approvals of `m` for `env`, each re-verified against the trust
    /// store, as the gate sees them.
    pub(crate) fn approval_facts(
        &self,
        m: &ModelRecord,
        env: &str,
    ) -> Result<Vec<crate::policy_input::ApprovalFact>, Error> {
        let promoter = self.actor().as_str();
        let keys = self.store().read()?.keys()?;
        let mut out = Vec::new();
        for a in self
            .store()
            .read()?
            .approvals(&m.name, m.version)?
            .into_iter()
            .filter(|a| a.env == env)
        {
            let envelope: Result<Envelope, String> =
                serde_json::from_str(&a.envelope).map_err(|e| e.to_string());
            let verdict = envelope
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|e| verify_approval(e, &keys, m, env, a.approver.as_str()).map(|_| ()));
            let signing_key = envelope
                .ok()
                .and_then(|v| v.first_keyid().map(str::to_string));
            let owner = signing_key.as_ref().and_then(|id| {
                keys.iter()
                    .find(|k| &k.key_id == id)
                    .and_then(|k| k.owner.as_ref().map(|o| o.to_string()))
            });
            out.push(crate::policy_input::ApprovalFact {
                approver: a.approver.to_string(),
                key: a.key_name.to_string(),
                key_id: signing_key,
                key_owner: owner,
                valid: verdict.is_ok(),
                error: verdict.err(),
                distinct_from_author: a.approver != m.created_by,
                distinct_from_promoter: a.approver.as_str() != promoter,
                time: a.created_at.clone(),
            });
        }
        Ok(out)
    }

    /// Whether a model version is under quarantine now.
    pub(crate) fn is_quarantined(&self, name: &ObjectName, version: u64) -> Result<bool, Error> {
        Ok(self
            .store()
            .read()?
            .quarantine(name, version)?
            .is_some_and(|q| q.released_at.is_none()))
    }

    /// Takes `MODEL@N` out of every environment and blocks its promotion.
    pub fn quarantine(
        &self,
        r: &VersionRef,
        reason: &str,
    ) -> Result<(QuarantineRecord, Vec<String>), Error> {
        self.authorize(Action::ModelQuarantine, &format!("model:{r}"))?;
        if reason.trim().is_empty() {
            return Err(Error::Usage("--reason must say why".into()));
        }
        let m = self.find_model(r)?;
        if self.is_quarantined(&m.name, m.version)? {
            return Err(Error::Conflict(format!(
                "{}@{} is already quarantined",
                m.name, m.version
            )));
        }
        let q = QuarantineRecord {
            model: m.name.clone(),
            version: m.version,
            reason: reason.to_string(),
            created_by: self.actor().clone(),
            created_at: Timestamp::now(),
            released_by: None,
            released_at: None,
            release_reason: None,
        };
        let mut tx = self.store().write()?;
        let removed: Vec<String> = tx
            .stages(&m.name)?
            .into_iter()
            .filter(|p| p.version == m.version)
            .map(|p| p.env)
            .collect();
        for env in &removed {
            tx.remove_stage(&m.name, env)?;
        }
        tx.set_quarantine(&q)?;
        events::append(
            &mut *tx,
            self.actor(),
            "model.quarantine",
            &format!("model:{}@{}", m.name, m.version),
            &events::Quarantined {
                model: format!("{}@{}", m.name, m.version),
                digest: Some(m.digest.clone()),
                reason: Some(reason.to_string()),
                removed_from: removed.clone(),
            },
        )?;
        self.commit(tx)?;
        Ok((q, removed))
    }

    /// Lifts a quarantine (admin only under the bundled policy).
    pub fn release(&self, r: &VersionRef, reason: &str) -> Result<QuarantineRecord, Error> {
        self.authorize(Action::ModelRelease, &format!("model:{r}"))?;
        if reason.trim().is_empty() {
            return Err(Error::Usage("--reason must say why".into()));
        }
        let m = self.find_model(r)?;
        let mut q = self
            .store()
            .read()?
            .quarantine(&m.name, m.version)?
            .filter(|q| q.released_at.is_none())
            .ok_or_else(|| {
                Error::Invalid(format!("{}@{} is not quarantined", m.name, m.version))
            })?;
        q.released_by = Some(self.actor().clone());
        q.released_at = Some(Timestamp::now());
        q.release_reason = Some(reason.to_string());
        let mut tx = self.store().write()?;
        tx.set_quarantine(&q)?;
        events::append(
            &mut *tx,
            self.actor(),
            "model.release",
            &format!("model:{}@{}", m.name, m.version),
            &events::Released {
                model: format!("{}@{}", m.name, m.version),
                reason: Some(reason.to_string()),
            },
        )?;
        self.commit(tx)?;
        Ok(q)
    }

    /// Moves `env` back to the version of `model` it held before the
    /// current holder, skipping quarantined versions (with `env` empty, the
    /// last version it held that is not quarantined). The history is the log's,
    /// with rollbacks unwound: rolling back twice goes back twice, and a
    /// version the environment was rolled back from is never a way back.
    pub fn rollback(&self, model: &ObjectName, env: &str) -> Result<RolledBack, Error> {
        self.authorize(Action::ModelRollback, &format!("model:{model}"))?;
        if !self.config().gates.environments.iter().any(|e| e == env) {
            return Err(Error::Usage(format!("unknown environment {env:?}")));
        }
        let st = self.check_decision_rows(model, None, env)?;
        let current = self
            .store()
            .read()?
            .stages(model)?
            .into_iter()
            .find(|p| p.env == env)
            .map(|p| p.version);
        // The environment's history from the log, rollbacks unwound: the
        // way back is below the current holder, never a version it was
        // rolled back from.
        // An empty environment (its holder was quarantined) takes the last
        // version it held that is not quarantined.
        let key = (model.to_string(), env.to_string());
        let history = match current {
            Some(_) => st.history.get(&key),
            None => st.held.get(&key),
        }
        .cloned()
        .unwrap_or_default();
        let below = match (current, history.last()) {
            (Some(c), Some(&top)) if top == c => &history[..history.len() - 1],
            _ => &history[..],
        };
        let mut target = None;
        for &v in below.iter().rev() {
            if Some(v) == current {
                continue;
            }
            let quarantined = self.is_quarantined(model, v)?;
            if let Some(dis) =
                crate::ledger::quarantine_disagreement(&st, model.as_str(), v, quarantined)
            {
                return Err(self.refuse_disagreement_on(dis, Some((model, v))));
            }
            if !quarantined {
                target = Some(v);
                break;
            }
        }
        let Some(to) = target else {
            return Err(Error::Conflict(format!(
                "nothing to roll back to: no earlier version of {model} passed the {env} gate and is not quarantined"
            )));
        };
        let mut tx = self.store().write()?;
        tx.set_stage(&StagePointer {
            model: model.clone(),
            env: env.to_string(),
            version: to,
            updated_by: self.actor().clone(),
            updated_at: Timestamp::now(),
        })?;
        events::append(
            &mut *tx,
            self.actor(),
            "model.rollback",
            &format!("model:{model}@{to}"),
            &events::RolledBack {
                model: model.to_string(),
                env: env.to_string(),
                from: current,
                to,
            },
        )?;
        self.commit(tx)?;
        Ok(RolledBack {
            model: model.to_string(),
            env: env.to_string(),
            from: current,
            to,
        })
    }
}

/// Why `key` cannot sign an approval by `approver`, if it cannot: it must
/// be an approval key, owned by the approver, acknowledged by an admin.
fn approval_key_problem(key: &warden_store::KeyRecord, approver: &str) -> Option<String> {
    if key.purpose.as_deref() != Some(crate::KeyPurpose::Approval.as_str()) {
        return Some(format!(
            "it is a {} key, not an approval key (an approver enrols one with `warden keys enrol NAME`)",
            key.purpose.as_deref().unwrap_or("legacy")
        ));
    }
    match &key.owner {
        Some(o) if o.as_str() == approver => {}
        Some(o) => return Some(format!("it belongs to {o}, not to {approver}")),
        None => return Some("it has no owner".into()),
    }
    if key.acknowledged_at.is_none() {
        return Some(format!(
            "no admin has acknowledged it yet (`warden keys acknowledge {}`)",
            key.name
        ));
    }
    None
}
