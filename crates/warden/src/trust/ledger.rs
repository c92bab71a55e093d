//! State as a function of the log.
//!
//! The registry rows that decisions read — stage pointers, quarantines,
//! role grants, trusted keys, approvals, API keys and their holds — are a
//! cache of what the audit log says happened. This module replays the
//! state-changing events into the state they imply ([`LogState`]) and
//! compares it with the rows, so that a row written by SQL instead of by
//! Warden (a released quarantine, a moved pointer, an inserted grant) is
//! refused where it is used and reported by `warden audit verify`.
//!
//! Each replayed event row is also checked against itself (its canonical
//! event text hashes to its leaf hash, its columns and payload agree with
//! that text). Whether the event rows are the signed log is what
//! `audit verify` proves by recomputing the Merkle tree; a decision checks
//! only the agreement of rows and events, which needs no pass over the
//! whole log.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use warden_core::{Digest, ObjectName, actions};
use warden_store::{EvaluationRecord, ReadTx, StoredEvent, merkle};

use crate::{Error, events};

/// Actions whose events change a registry row that decisions read.
pub(crate) const STATE_ACTIONS: &[&str] = &[
    actions::ROLES_GRANT,
    actions::ROLES_REVOKE,
    actions::KEYS_GENERATE,
    actions::KEYS_TRUST,
    actions::KEYS_REVOKE,
    actions::KEYS_ENROL,
    actions::KEYS_ACKNOWLEDGE,
    "model.promote",
    "model.rollback",
    "model.quarantine",
    "model.release",
    "model.approve",
    "apikey.create",
    "apikey.revoke",
    "apikey.block",
    "apikey.throttle",
    "apikey.unblock",
];

/// What a trusted or own key looks like according to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoggedKey {
    pub key_id: String,
    pub owner: Option<String>,
    /// One of the known purposes (an older event's free text counts as none).
    pub purpose: Option<String>,
    pub acknowledged: bool,
    pub revoked: bool,
    pub seq: i64,
}

/// An approval according to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoggedApproval {
    pub model: String,
    pub version: u64,
    pub env: String,
    pub approver: String,
    pub key: String,
    pub key_id: String,
    pub seq: i64,
}

/// An API key according to the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoggedApiKey {
    pub name: String,
    pub role: String,
    pub expires_at: Option<String>,
    pub key_hash_digest: Option<String>,
    pub revoked: bool,
    pub seq: i64,
}

/// The registry state the log implies, with the seq of the event that last
/// set each entry (to name it in a disagreement).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogState {
    /// (model, env) → (version, seq).
    pub pointers: BTreeMap<(String, String), (u64, i64)>,
    /// (model, env) → the versions the environment went through, oldest
    /// first, with every rollback unwound: a promotion pushes its version
    /// (unless it is already on top), a rollback pops back to its target.
    /// The way back from the top is the entry below it.
    pub history: BTreeMap<(String, String), Vec<u64>>,
    /// (model, env) → every version the environment's pointer was set to,
    /// in order (promotions and rollback targets).
    pub held: BTreeMap<(String, String), Vec<u64>>,
    /// (model, version) → seq of the quarantine, for active quarantines.
    pub quarantined: BTreeMap<(String, u64), i64>,
    /// (actor, role) → seq of the grant.
    pub grants: BTreeMap<(String, String), i64>,
    pub keys: BTreeMap<String, LoggedKey>,
    pub approvals: BTreeMap<u64, LoggedApproval>,
    /// By key id.
    pub api_keys: BTreeMap<String, LoggedApiKey>,
    /// API key id → (kind, seq).
    pub holds: BTreeMap<String, (String, i64)>,
}

/// Splits `name@version` as events write model versions.
fn split_version(s: &str, seq: i64) -> Result<(String, u64), Error> {
    let bad = || Error::Verification(format!("event {seq}: {s:?} is not NAME@VERSION"));
    let (name, v) = s.rsplit_once('@').ok_or_else(bad)?;
    Ok((name.to_string(), v.parse().map_err(|_| bad())?))
}

/// Checks that an event row agrees with its own canonical text: the leaf
/// hash, the columns and the payload digest. A row edited in one place
/// but not the others is caught here without reading the rest of the log.
pub(crate) fn check_event_row(e: &StoredEvent) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct View {
        seq: i64,
        actor: String,
        action: String,
        subject: String,
        payload_digest: String,
    }
    let bad = |what: &str| {
        Error::Verification(format!(
            "audit event {} ({}): {what}; run `warden audit verify`",
            e.seq, e.action
        ))
    };
    if hex::encode(merkle::leaf_hash(e.event.as_bytes())) != e.leaf_hash {
        return Err(bad("its leaf hash does not match the event"));
    }
    let v: View =
        serde_json::from_str(&e.event).map_err(|_| bad("its stored event does not parse"))?;
    if v.seq != e.seq || v.actor != e.actor || v.action != e.action || v.subject != e.subject {
        return Err(bad("its columns differ from the signed event"));
    }
    if Digest::of(e.payload.as_bytes()).to_string() != v.payload_digest {
        return Err(bad("its payload does not match its digest"));
    }
    Ok(())
}

impl LogState {
    /// Replays the state-changing events of the store.
    pub(crate) fn replay(tx: &mut (dyn ReadTx + '_)) -> Result<Self, Error> {
        Self::replay_only(tx, STATE_ACTIONS)
    }

    /// Replays only the events of `actions` (a decision that reads role
    /// grants needs only the grant events).
    pub(crate) fn replay_only(tx: &mut (dyn ReadTx + '_), actions: &[&str]) -> Result<Self, Error> {
        let events = tx.events_with_actions(actions)?;
        let mut st = LogState::default();
        for e in &events {
            check_event_row(e)?;
            st.apply(e)?;
        }
        Ok(st)
    }

    /// [`LogState::replay_more`] from the first event: the state, and the
    /// seq of the last event applied (-1 when there is none).
    pub(crate) fn replay_more_from_start(
        mut self,
        tx: &mut (dyn ReadTx + '_),
        actions: &[&str],
    ) -> Result<(i64, Self), Error> {
        let last = self.replay_more(tx, actions, -1)?;
        Ok((last, self))
    }

    /// Applies the events of `actions` after `after` (each row checked as
    /// in [`LogState::replay_only`]) to a state replayed up to `after`;
    /// returns the seq of the last event now applied.
    pub(crate) fn replay_more(
        &mut self,
        tx: &mut (dyn ReadTx + '_),
        actions: &[&str],
        after: i64,
    ) -> Result<i64, Error> {
        let mut last = after;
        for e in tx.events_with_actions_after(actions, after)? {
            self.apply_checked(&e)?;
            last = e.seq;
        }
        Ok(last)
    }

    /// Applies one event read from the store, after checking its row
    /// against its leaf hash, columns and payload digest.
    pub(crate) fn apply_checked(&mut self, e: &StoredEvent) -> Result<(), Error> {
        check_event_row(e)?;
        self.apply(e)
    }

    fn apply(&mut self, e: &StoredEvent) -> Result<(), Error> {
        let seq = e.seq;
        match e.action.as_str() {
            actions::ROLES_GRANT => {
                let p: events::RoleChange = events::read(e)?;
                self.grants.insert((p.actor, p.role), seq);
            }
            actions::ROLES_REVOKE => {
                let p: events::RoleChange = events::read(e)?;
                self.grants.remove(&(p.actor, p.role));
            }
            actions::KEYS_GENERATE | actions::KEYS_TRUST | actions::KEYS_ENROL => {
                let p: events::KeyChange = events::read(e)?;
                let purpose = p
                    .purpose
                    .filter(|x| crate::keys::KeyPurpose::parse(x).is_ok());
                self.keys.insert(
                    p.name,
                    LoggedKey {
                        key_id: p.key_id,
                        owner: p.owner,
                        purpose,
                        acknowledged: false,
                        revoked: false,
                        seq,
                    },
                );
            }
            actions::KEYS_ACKNOWLEDGE => {
                let p: events::KeyChange = events::read(e)?;
                if let Some(k) = self.keys.get_mut(&p.name) {
                    k.acknowledged = true;
                    k.seq = seq;
                }
            }
            actions::KEYS_REVOKE => {
                let p: events::KeyChange = events::read(e)?;
                if let Some(k) = self.keys.get_mut(&p.name) {
                    k.revoked = true;
                    k.seq = seq;
                }
            }
            "model.promote" => {
                let p: events::GateDecided = events::read(e)?;
                let (name, v) = split_version(&p.model, seq)?;
                let stack = self
                    .history
                    .entry((name.clone(), p.env.clone()))
                    .or_default();
                if stack.last() != Some(&v) {
                    stack.push(v);
                }
                self.held
                    .entry((name.clone(), p.env.clone()))
                    .or_default()
                    .push(v);
                self.pointers.insert((name, p.env), (v, seq));
            }
            "model.rollback" => {
                let p: events::RolledBack = events::read(e)?;
                let stack = self
                    .history
                    .entry((p.model.clone(), p.env.clone()))
                    .or_default();
                if p.from.is_some() && stack.last().copied() == p.from {
                    stack.pop();
                }
                match stack.iter().rposition(|&v| v == p.to) {
                    Some(i) => stack.truncate(i + 1),
                    // Logs written before rollbacks went back only: the
                    // target may not be below.
                    None => stack.push(p.to),
                }
                self.held
                    .entry((p.model.clone(), p.env.clone()))
                    .or_default()
                    .push(p.to);
                self.pointers.insert((p.model, p.env), (p.to, seq));
            }
            "model.quarantine" => {
                let p: events::Quarantined = events::read(e)?;
                let (name, v) = split_version(&p.model, seq)?;
                for env in p.removed_from {
                    self.pointers.remove(&(name.clone(), env));
                }
                self.quarantined.insert((name, v), seq);
            }
            "model.release" => {
                let p: events::Released = events::read(e)?;
                let (name, v) = split_version(&p.model, seq)?;
                self.quarantined.remove(&(name, v));
            }
            "model.approve" => {
                let p: events::Approved = events::read(e)?;
                let (model, version) = split_version(&p.model, seq)?;
                self.approvals.insert(
                    p.approval,
                    LoggedApproval {
                        model,
                        version,
                        env: p.env,
                        approver: e.actor.clone(),
                        key: p.key,
                        key_id: p.key_id,
                        seq,
                    },
                );
            }
            "apikey.create" => {
                let p: events::ApiKeyCreated = events::read(e)?;
                self.api_keys.insert(
                    p.id,
                    LoggedApiKey {
                        name: p.name,
                        role: p.role,
                        expires_at: p.expires_at,
                        key_hash_digest: p.key_hash_digest,
                        revoked: false,
                        seq,
                    },
                );
            }
            "apikey.revoke" => {
                let p: events::ApiKeyNamed = events::read(e)?;
                if let Some(k) = self.api_keys.get_mut(&p.id) {
                    k.revoked = true;
                    k.seq = seq;
                }
            }
            "apikey.block" | "apikey.throttle" => {
                let p: events::ApiKeyHeld = events::read(e)?;
                let kind = e.action.trim_start_matches("apikey.").to_string();
                self.holds.insert(p.id, (kind, seq));
            }
            "apikey.unblock" => {
                let p: events::ApiKeyNamed = events::read(e)?;
                self.holds.remove(&p.id);
            }
            _ => {}
        }
        Ok(())
    }
}

/// One disagreement between a row and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Disagreement {
    /// The row, as a person would name it (`stage pointer credit/production`).
    pub row: String,
    /// What the log says instead, naming the event.
    pub detail: String,
}

impl From<Disagreement> for Error {
    fn from(d: Disagreement) -> Self {
        Error::StateDisagrees {
            row: d.row,
            detail: d.detail,
        }
    }
}

fn event_ref(seq: Option<i64>) -> String {
    match seq {
        Some(s) => format!("event {s}"),
        None => "no event".to_string(),
    }
}

/// Compares every row the log governs with the state the log implies;
/// returns every disagreement found.
pub(crate) fn disagreements(
    tx: &mut (dyn ReadTx + '_),
    st: &LogState,
) -> Result<Vec<Disagreement>, Error> {
    let mut out = Vec::new();
    // Stage pointers, model by model.
    let mut seen_pointers = BTreeSet::new();
    let mut models: BTreeSet<String> = st.pointers.keys().map(|(m, _)| m.clone()).collect();
    for m in tx.models()? {
        models.insert(m.name.to_string());
    }
    for name in &models {
        let Ok(obj) = warden_core::ObjectName::new(name) else {
            continue;
        };
        for p in tx.stages(&obj)? {
            seen_pointers.insert((name.clone(), p.env.clone()));
            out.extend(pointer_disagreement(st, name, &p.env, Some(p.version)));
        }
    }
    for ((m, env), (v, seq)) in &st.pointers {
        if !seen_pointers.contains(&(m.clone(), env.clone())) {
            out.push(Disagreement {
                row: format!("stage pointer {m}/{env}"),
                detail: format!("the row is missing; event {seq} set it to version {v}"),
            });
        }
    }
    // Quarantines.
    let mut active_rows = BTreeSet::new();
    for m in tx.models()? {
        if let Some(q) = tx.quarantine(&m.name, m.version)?
            && q.released_at.is_none()
        {
            active_rows.insert((m.name.to_string(), m.version));
        }
    }
    for (key, seq) in &st.quarantined {
        if !active_rows.contains(key) {
            out.push(Disagreement {
                row: format!("quarantine of {}@{}", key.0, key.1),
                detail: format!("released or removed without an event; event {seq} quarantined it"),
            });
        }
    }
    for key in &active_rows {
        if !st.quarantined.contains_key(key) {
            out.push(Disagreement {
                row: format!("quarantine of {}@{}", key.0, key.1),
                detail: "no event leaves this version quarantined".into(),
            });
        }
    }
    // Role grants.
    let rows: BTreeSet<(String, String)> = tx
        .role_grants()?
        .into_iter()
        .map(|g| (g.actor.to_string(), g.role.to_string()))
        .collect();
    for g in &rows {
        if !st.grants.contains_key(g) {
            out.push(Disagreement {
                row: format!("role grant {} {}", g.0, g.1),
                detail: "no roles.grant event made it".into(),
            });
        }
    }
    for (g, seq) in &st.grants {
        if !rows.contains(g) {
            out.push(Disagreement {
                row: format!("role grant {} {}", g.0, g.1),
                detail: format!("the row is missing; event {seq} granted it"),
            });
        }
    }
    // Keys.
    let key_rows = tx.keys()?;
    for k in &key_rows {
        out.extend(key_disagreement(st, k));
    }
    for (name, k) in &st.keys {
        if !key_rows.iter().any(|r| r.name.as_str() == name) {
            out.push(Disagreement {
                row: format!("key {name}"),
                detail: format!("the row is missing; {} recorded it", event_ref(Some(k.seq))),
            });
        }
    }
    // Approvals.
    let mut approval_rows = BTreeSet::new();
    for m in tx.models()? {
        for a in tx.approvals(&m.name, m.version)? {
            approval_rows.insert(a.id);
            out.extend(approval_disagreement(st, &a));
        }
    }
    for (id, a) in &st.approvals {
        if !approval_rows.contains(id) {
            out.push(Disagreement {
                row: format!("approval {id} of {}@{}", a.model, a.version),
                detail: format!("the row is missing; event {} recorded it", a.seq),
            });
        }
    }
    // API keys and their holds.
    let api_rows = tx.api_keys()?;
    for k in &api_rows {
        out.extend(api_key_disagreement(st, k));
    }
    for (id, k) in &st.api_keys {
        if !api_rows.iter().any(|r| &r.id == id) {
            out.push(Disagreement {
                row: format!("API key {}", k.name),
                detail: format!("the row is missing; event {} created it", k.seq),
            });
        }
    }
    let hold_rows = tx.key_holds()?;
    for h in &hold_rows {
        match st.holds.get(&h.key_id) {
            Some((kind, _)) if *kind == h.kind => {}
            Some((kind, seq)) => out.push(Disagreement {
                row: format!("hold on API key {}", h.key_id),
                detail: format!("the row says {}; event {seq} placed a {kind}", h.kind),
            }),
            None => out.push(Disagreement {
                row: format!("hold on API key {}", h.key_id),
                detail: "no event placed it".into(),
            }),
        }
    }
    for (id, (kind, seq)) in &st.holds {
        if !hold_rows.iter().any(|h| &h.key_id == id) {
            out.push(Disagreement {
                row: format!("hold on API key {id}"),
                detail: format!("the row is missing; event {seq} placed a {kind}"),
            });
        }
    }
    out.extend(recorded_row_disagreements(tx)?);
    Ok(out)
}

/// Whether a pointer row (`None`: no row) agrees with the log.
pub(crate) fn pointer_disagreement(
    st: &LogState,
    model: &str,
    env: &str,
    row: Option<u64>,
) -> Option<Disagreement> {
    let logged = st.pointers.get(&(model.to_string(), env.to_string()));
    match (row, logged) {
        (Some(v), Some((lv, _))) if v == *lv => None,
        (None, None) => None,
        (Some(v), Some((lv, seq))) => Some(Disagreement {
            row: format!("stage pointer {model}/{env}"),
            detail: format!("the row names version {v}; event {seq} set version {lv}"),
        }),
        (Some(v), None) => Some(Disagreement {
            row: format!("stage pointer {model}/{env}"),
            detail: format!("the row names version {v}; no event put any version there"),
        }),
        (None, Some((lv, seq))) => Some(Disagreement {
            row: format!("stage pointer {model}/{env}"),
            detail: format!("the row is missing; event {seq} set version {lv}"),
        }),
    }
}

/// Whether a model version's quarantine row (`true`: active) agrees.
pub(crate) fn quarantine_disagreement(
    st: &LogState,
    model: &str,
    version: u64,
    active: bool,
) -> Option<Disagreement> {
    let logged = st.quarantined.get(&(model.to_string(), version));
    match (active, logged) {
        (true, Some(_)) | (false, None) => None,
        (false, Some(seq)) => Some(Disagreement {
            row: format!("quarantine of {model}@{version}"),
            detail: format!("released or removed without an event; event {seq} quarantined it"),
        }),
        (true, None) => Some(Disagreement {
            row: format!("quarantine of {model}@{version}"),
            detail: "no event leaves this version quarantined".into(),
        }),
    }
}

/// Whether an actor's granted roles (rows) agree with the log.
pub(crate) fn grants_disagreement(
    st: &LogState,
    actor: &str,
    rows: &[String],
) -> Option<Disagreement> {
    let logged: BTreeSet<&str> = st
        .grants
        .keys()
        .filter(|(a, _)| a == actor)
        .map(|(_, r)| r.as_str())
        .collect();
    let held: BTreeSet<&str> = rows.iter().map(String::as_str).collect();
    if logged == held {
        return None;
    }
    let extra: Vec<&str> = held.difference(&logged).copied().collect();
    let missing: Vec<&str> = logged.difference(&held).copied().collect();
    let mut detail = Vec::new();
    if !extra.is_empty() {
        detail.push(format!("no event granted {}", extra.join(", ")));
    }
    if !missing.is_empty() {
        detail.push(format!(
            "events granted {} but the rows lack it",
            missing.join(", ")
        ));
    }
    Some(Disagreement {
        row: format!("role grants of {actor}"),
        detail: detail.join("; "),
    })
}

/// Whether a key row agrees with the log: its key id, owner, purpose,
/// acknowledgement and revocation.
pub(crate) fn key_disagreement(
    st: &LogState,
    row: &warden_store::KeyRecord,
) -> Option<Disagreement> {
    let name = row.name.as_str();
    let key_id = row.key_id.as_str();
    let revoked = row.revoked_at.is_some();
    if let Some(k) = st.keys.get(name) {
        let mut differs = Vec::new();
        if k.owner.as_deref() != row.owner.as_ref().map(|o| o.as_str()) {
            differs.push("owner");
        }
        if k.purpose != row.purpose {
            differs.push("purpose");
        }
        if k.acknowledged != row.acknowledged_at.is_some() {
            differs.push("acknowledgement");
        }
        if !differs.is_empty() {
            return Some(Disagreement {
                row: format!("key {name}"),
                detail: format!("its {} differ from event {}", differs.join(", "), k.seq),
            });
        }
    }
    match st.keys.get(name) {
        None => Some(Disagreement {
            row: format!("key {name}"),
            detail: "no keys.generate or keys.trust event recorded it".into(),
        }),
        Some(k) if k.key_id != key_id => Some(Disagreement {
            row: format!("key {name}"),
            detail: format!(
                "the row holds key id {key_id}; event {} recorded {}",
                k.seq, k.key_id
            ),
        }),
        Some(k) if k.revoked != revoked => Some(Disagreement {
            row: format!("key {name}"),
            detail: if k.revoked {
                format!("the row is not revoked; event {} revoked it", k.seq)
            } else {
                "the row is revoked but no event revoked it".into()
            },
        }),
        Some(_) => None,
    }
}

/// Whether an approval row agrees with its `model.approve` event.
pub(crate) fn approval_disagreement(
    st: &LogState,
    a: &warden_store::ApprovalRecord,
) -> Option<Disagreement> {
    let row = format!("approval {} of {}@{}", a.id, a.model, a.version);
    let Some(l) = st.approvals.get(&a.id) else {
        return Some(Disagreement {
            row,
            detail: "no model.approve event recorded it".into(),
        });
    };
    let envelope_key = serde_json::from_str::<crate::trust::dsse::Envelope>(&a.envelope)
        .ok()
        .and_then(|v| v.first_keyid().map(str::to_string));
    let mut differs = Vec::new();
    if l.model != a.model.as_str() || l.version != a.version {
        differs.push("model");
    }
    if l.env != a.env {
        differs.push("environment");
    }
    if l.approver != a.approver.as_str() {
        differs.push("approver");
    }
    if l.key != a.key_name || envelope_key.as_deref() != Some(l.key_id.as_str()) {
        differs.push("key");
    }
    if differs.is_empty() {
        None
    } else {
        Some(Disagreement {
            row,
            detail: format!("its {} differ from event {}", differs.join(", "), l.seq),
        })
    }
}

/// Whether an API key row agrees with the log.
pub(crate) fn api_key_disagreement(
    st: &LogState,
    k: &warden_store::ApiKeyRecord,
) -> Option<Disagreement> {
    let row = format!("API key {}", k.name);
    let Some(l) = st.api_keys.get(&k.id) else {
        return Some(Disagreement {
            row,
            detail: "no apikey.create event created it".into(),
        });
    };
    let mut differs = Vec::new();
    if l.name != k.name {
        differs.push("name");
    }
    if l.role != k.role {
        differs.push("role");
    }
    if l.expires_at.as_deref() != k.expires_at.as_ref().map(|t| t.as_str()) {
        differs.push("expiry");
    }
    if l.revoked != k.revoked_at.is_some() {
        differs.push("revocation");
    }
    if let Some(d) = &l.key_hash_digest
        && *d != key_hash_digest(&k.key_hash)
    {
        differs.push("secret hash");
    }
    if differs.is_empty() {
        None
    } else {
        Some(Disagreement {
            row,
            detail: format!("its {} differ from event {}", differs.join(", "), l.seq),
        })
    }
}

/// What `apikey.create` records of a key's keyed hash: a digest of it, so
/// the log binds the row's secret hash without publishing it.
pub(crate) fn key_hash_digest(key_hash: &str) -> String {
    Digest::of(key_hash.as_bytes()).to_string()
}

impl crate::Workspace {
    /// Checks the rows a gate or a promotion of `name` (version `version`,
    /// when one is concerned) in `env` reads against the log: the pointer,
    /// the version's quarantine and approvals, and every key a signature
    /// or approval may be checked with. The first disagreement is recorded
    /// and returned as [`Error::StateDisagrees`].
    pub(crate) fn check_decision_rows(
        &self,
        name: &warden_core::ObjectName,
        version: Option<u64>,
        env: &str,
    ) -> Result<std::sync::Arc<LogState>, Error> {
        let mut tx = self.store().read()?;
        let st = self.log_state(tx.as_mut())?;
        let pointer = tx
            .stages(name)?
            .into_iter()
            .find(|p| p.env == env)
            .map(|p| p.version);
        let mut found = pointer_disagreement(&st, name.as_str(), env, pointer);
        if found.is_none()
            && let Some(v) = version
        {
            let active = tx
                .quarantine(name, v)?
                .is_some_and(|q| q.released_at.is_none());
            found = quarantine_disagreement(&st, name.as_str(), v, active);
            if found.is_none()
                && let Some(m) = tx.model(name, Some(v))?
            {
                // The version's own registration events, by subject (indexed),
                // not every registration of the registry.
                let events = tx.events_about(
                    &format!("model:{}@{}", m.name, m.version),
                    &[actions::MODEL_TRAIN, actions::MODEL_IMPORT],
                )?;
                found = model_disagreement(&events, &m)?;
            }
            if found.is_none() {
                found = tx
                    .approvals(name, v)?
                    .iter()
                    .find_map(|a| approval_disagreement(&st, a));
            }
        }
        if found.is_none() {
            found = tx.keys()?.iter().find_map(|k| key_disagreement(&st, k));
        }
        drop(tx);
        match found {
            Some(d) => {
                let concerned = version.or(pointer).map(|v| (name, v));
                Err(self.refuse_disagreement_on(d, concerned))
            }
            None => Ok(st),
        }
    }
}

/// Matches rows to the events that recorded them, by id: the first row
/// with no event, the first row that differs from its event (as `differs`
/// names it), or else the first event whose row is gone.
fn rows_against_events<P, R>(
    mut logged: BTreeMap<u64, (P, &StoredEvent)>,
    rows: &[R],
    action: &str,
    id: impl Fn(&R) -> u64,
    row_name: impl Fn(&R) -> String,
    logged_name: impl Fn(&P) -> String,
    differs: impl Fn(&P, &StoredEvent, &R) -> Vec<&'static str>,
) -> Option<Disagreement> {
    for r in rows {
        let row = row_name(r);
        let Some((p, e)) = logged.remove(&id(r)) else {
            return Some(Disagreement {
                row,
                detail: format!("no {action} event recorded it"),
            });
        };
        let d = differs(&p, e, r);
        if !d.is_empty() {
            return Some(Disagreement {
                row,
                detail: format!("its {} differ from event {}", d.join(", "), e.seq),
            });
        }
    }
    logged.into_values().next().map(|(p, e)| Disagreement {
        row: logged_name(&p),
        detail: format!("event {} recorded it but the row is gone", e.seq),
    })
}

/// Whether the evidence rows of one model version (`NAME@V`) agree with
/// the `evidence.add` events (each row checked against its own leaf hash):
/// every row was recorded by an event with its tool, kind, report, summary
/// and recorder, and every event for the version still has its row, so a
/// deleted or edited row (a finding taken out) is caught.
pub(crate) fn evidence_disagreement(
    events: &[StoredEvent],
    version: &str,
    rows: &[warden_store::EvidenceRecord],
) -> Result<Option<Disagreement>, Error> {
    let subject = format!("model:{version}");
    let mut logged = BTreeMap::new();
    for e in events.iter().filter(|e| e.subject == subject) {
        check_event_row(e)?;
        let p: events::EvidenceAdded = events::read(e)?;
        logged.insert(p.evidence, (p, e));
    }
    Ok(rows_against_events(
        logged,
        rows,
        actions::EVIDENCE_ADD,
        |r| r.id,
        |r| format!("evidence {} ({}) of {version}", r.id, r.tool),
        |p: &events::EvidenceAdded| format!("evidence {} ({}) of {version}", p.evidence, p.tool),
        |p, e, r| {
            let mut d = Vec::new();
            if p.tool != r.tool || p.kind != r.kind {
                d.push("tool or kind");
            }
            if p.report != r.report_digest {
                d.push("report");
            }
            if p.summary_digest != Digest::of(r.summary.as_bytes()).to_string() {
                d.push("findings");
            }
            if e.actor != r.created_by.as_str() {
                d.push("recorder");
            }
            d
        },
    ))
}

/// Whether the scan rows of one model version (`NAME@V`) agree with the
/// `scan.record` events, as [`evidence_disagreement`] checks evidence. An
/// event belongs to the version when it names it (its payload's `model`,
/// or its subject) or when it recorded one of the version's rows.
pub(crate) fn scan_disagreement(
    events: &[StoredEvent],
    version: &str,
    rows: &[warden_store::ScanRecord],
) -> Result<Option<Disagreement>, Error> {
    let subject = format!("model:{version}");
    let ids: BTreeSet<u64> = rows.iter().map(|r| r.id).collect();
    let mut logged = BTreeMap::new();
    for e in events {
        let p: events::ScanRecorded = events::read(e)?;
        if p.model.as_deref() == Some(version) || e.subject == subject || ids.contains(&p.scan) {
            check_event_row(e)?;
            logged.insert(p.scan, (p, e));
        }
    }
    Ok(rows_against_events(
        logged,
        rows,
        "scan.record",
        |r| r.id,
        |r| format!("scan {} of {version}", r.id),
        |p: &events::ScanRecorded| format!("scan {} of {version}", p.scan),
        |p, e, r| {
            let mut d = Vec::new();
            if p.report != r.report_digest {
                d.push("report");
            }
            if p.max_severity != r.max_severity
                || p.findings != r.findings
                || p.files != r.files
                || p.incomplete != r.incomplete
                || p.profile != r.profile
            {
                d.push("findings");
            }
            if e.actor != r.created_by.as_str() {
                d.push("recorder");
            }
            d
        },
    ))
}

/// Whether a model version's row agrees with the `model.train` or
/// `model.import` event that registered it: the digest, and the author
/// (`created_by`, the event's actor), which an approval must differ from.
/// A row whose author was rewritten to let its author approve it is
/// caught here.
pub(crate) fn model_disagreement(
    events: &[StoredEvent],
    m: &warden_store::ModelRecord,
) -> Result<Option<Disagreement>, Error> {
    let version = format!("{}@{}", m.name, m.version);
    let subject = format!("model:{version}");
    let row = format!("model {version}");
    let mut found = None;
    for e in events.iter().filter(|e| e.subject == subject) {
        check_event_row(e)?;
        let p: events::ModelRegistered = events::read(e)?;
        if p.model == version {
            if let Some((_, first)) = &found {
                let first: &&StoredEvent = first;
                return Ok(Some(Disagreement {
                    row,
                    detail: format!(
                        "events {} and {} both registered it (a deleted row's number taken again)",
                        first.seq, e.seq
                    ),
                }));
            }
            found = Some((p, e));
        }
    }
    let Some((p, e)) = found else {
        return Ok(Some(Disagreement {
            row,
            detail: "no model.train or model.import event registered it".into(),
        }));
    };
    let mut d = Vec::new();
    if p.digest != m.digest {
        d.push("digest");
    }
    if e.actor != m.created_by.as_str() {
        d.push("author");
    }
    Ok((!d.is_empty()).then(|| Disagreement {
        row,
        detail: format!("its {} differ from event {}", d.join(", "), e.seq),
    }))
}

/// Whether the evaluation rows of one model version (`NAME@V`) agree with
/// the `model.evaluate` events, as [`evidence_disagreement`] checks
/// evidence: every row was recorded by an event with its report digest,
/// model digest, dataset and recorder, and every event for the version
/// still has its row. The gate reads robustness and fairness from these
/// rows, so a report swapped in the database (with its digest column
/// rewritten to match) is refused here.
pub(crate) fn evaluation_disagreement(
    events: &[StoredEvent],
    version: &str,
    rows: &[warden_store::EvaluationRecord],
) -> Result<Option<Disagreement>, Error> {
    let subject = format!("model:{version}");
    let mut logged = BTreeMap::new();
    for e in events.iter().filter(|e| e.subject == subject) {
        check_event_row(e)?;
        let p: events::Evaluated = events::read(e)?;
        logged.insert(p.evaluation, (p, e));
    }
    Ok(rows_against_events(
        logged,
        rows,
        actions::MODEL_EVALUATE,
        |r| r.id,
        |r| format!("evaluation {} of {version}", r.id),
        |p: &events::Evaluated| format!("evaluation {} of {version}", p.evaluation),
        |p, e, r| {
            let mut d = Vec::new();
            if p.report_digest != r.digest {
                d.push("report");
            }
            if p.model_digest != r.model_digest {
                d.push("model digest");
            }
            if p.dataset != format!("{}@{}", r.dataset, r.dataset_version) {
                d.push("dataset");
            }
            if e.actor != r.created_by.as_str() {
                d.push("recorder");
            }
            d
        },
    ))
}

/// Every disagreement of the evidence, scan and evaluation rows with their
/// events, for every model version that has any.
pub(crate) fn recorded_row_disagreements(
    tx: &mut (dyn ReadTx + '_),
) -> Result<Vec<Disagreement>, Error> {
    // Events are grouped by the version they concern first, so that each
    // version is compared with its own events only (not every event of the
    // log once per version).
    let mut out = Vec::new();
    let mut evidence: BTreeMap<String, (Vec<StoredEvent>, Vec<warden_store::EvidenceRecord>)> =
        BTreeMap::new();
    for e in tx.events_with_actions(&[actions::EVIDENCE_ADD])? {
        if let Some(v) = e.subject.strip_prefix("model:")
            && split_version(v, e.seq).is_ok()
        {
            evidence.entry(v.to_string()).or_default().0.push(e);
        }
    }
    for r in tx.evidence(None)? {
        let v = format!("{}@{}", r.model, r.version);
        evidence.entry(v).or_default().1.push(r);
    }
    for (version, (events, rows)) in &evidence {
        out.extend(evidence_disagreement(events, version, rows)?);
    }
    let mut scans: BTreeMap<String, (Vec<StoredEvent>, Vec<warden_store::ScanRecord>)> =
        BTreeMap::new();
    let mut version_of_row = BTreeMap::new();
    for r in tx.scans(None)? {
        if let (Some(m), Some(v)) = (&r.model, r.version) {
            let v = format!("{m}@{v}");
            version_of_row.insert(r.id, v.clone());
            scans.entry(v).or_default().1.push(r);
        }
    }
    for e in tx.events_with_actions(&["scan.record"])? {
        let p: events::ScanRecorded = events::read(&e)?;
        // Named by the event, else by its subject, else by the row it recorded.
        let named = p
            .model
            .or_else(|| e.subject.strip_prefix("model:").map(str::to_string))
            .filter(|v| split_version(v, e.seq).is_ok())
            .or_else(|| version_of_row.get(&p.scan).cloned());
        if let Some(v) = named {
            scans.entry(v).or_default().0.push(e);
        }
    }
    for (version, (events, rows)) in &scans {
        out.extend(scan_disagreement(events, version, rows)?);
    }
    let mut evaluations: BTreeMap<String, (Vec<StoredEvent>, Vec<EvaluationRecord>)> =
        BTreeMap::new();
    for e in tx.events_with_actions(&[actions::MODEL_EVALUATE])? {
        if let Some(v) = e.subject.strip_prefix("model:")
            && split_version(v, e.seq).is_ok()
        {
            evaluations.entry(v.to_string()).or_default().0.push(e);
        }
    }
    let models = tx.models()?;
    // Grouped by subject, so each version reads its own events only.
    let mut registered: BTreeMap<String, Vec<StoredEvent>> = BTreeMap::new();
    for e in tx.events_with_actions(&[actions::MODEL_TRAIN, actions::MODEL_IMPORT])? {
        registered.entry(e.subject.clone()).or_default().push(e);
    }
    for m in &models {
        let subject = format!("model:{}@{}", m.name, m.version);
        let events = registered.remove(&subject).unwrap_or_default();
        out.extend(model_disagreement(&events, m)?);
    }
    // Versions the log registered whose row is gone.
    for (subject, events) in &registered {
        if let Some(e) = events.first() {
            out.push(Disagreement {
                row: format!("model {}", subject.trim_start_matches("model:")),
                detail: format!("event {} registered it but the row is gone", e.seq),
            });
        }
    }
    let names: BTreeSet<ObjectName> = models.into_iter().map(|m| m.name).collect();
    for name in &names {
        for r in tx.evaluations(name, None)? {
            let v = format!("{}@{}", r.model, r.model_version);
            evaluations.entry(v).or_default().1.push(r);
        }
    }
    for (version, (events, rows)) in &evaluations {
        out.extend(evaluation_disagreement(events, version, rows)?);
    }
    Ok(out)
}
