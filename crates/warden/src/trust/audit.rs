//! `audit log | verify | proof | check-proof`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde::{Deserialize, Serialize};
use warden_artifact::note::{Checkpoint, NoteVerifier};
use warden_core::{Action, Digest};
use warden_store::merkle::{self, Frontier, Hash};
use warden_store::{EventFilter, StoredEvent};

use crate::{Error, Workspace};

/// At most this many problems are listed; the count says how many more.
const MAX_PROBLEMS: usize = 50;

/// An audit event as shown by `audit log`.
#[derive(Debug, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct EventOut {
    /// The event's index in the log, from 0 (its Merkle leaf index).
    pub seq: i64,
    /// When it was recorded (RFC 3339).
    pub time: String,
    /// The actor who acted.
    pub actor: String,
    /// The action (`model.promote`, `authz.denied`, …).
    pub action: String,
    /// What it acted on (`model:NAME@V`, `dataset:NAME@V`, `policy:SCOPE`, …).
    pub subject: String,
    /// The action's details (see [`crate::events`]); a payload that is not JSON
    /// is shown as a string.
    pub payload: serde_json::Value,
}

/// One thing `audit verify` found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyProblem {
    /// The event index concerned, when there is one.
    pub index: Option<u64>,
    /// What is wrong, in words.
    pub message: String,
}

/// The result of `audit verify`.
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// Whether the log verified with no problem at all.
    pub ok: bool,
    /// Events read.
    pub events: u64,
    /// Root hash recomputed from the events (hex).
    pub root_hash: String,
    /// Signed checkpoints whose signature and root were checked.
    pub checkpoints_checked: u64,
    /// The first event index found bad, if any.
    pub first_bad_index: Option<u64>,
    /// The problems found, at most 50 (`more_problems` counts the rest).
    pub problems: Vec<VerifyProblem>,
    /// Problems beyond those listed.
    pub more_problems: u64,
    /// The verifier key the checkpoints were checked against.
    pub log_vkey: String,
    /// Events past the newest signed checkpoint (none in a sound log:
    /// every change is committed with its checkpoint).
    pub unsigned_events: u64,
    /// The checkpoint remembered outside the workspace that the log was
    /// checked against (its file), if there was one.
    pub remembered: Option<String>,
    /// Registry rows that disagree with the log's events.
    pub state_disagreements: u64,
}

/// How `audit verify` runs.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Verifier key to check checkpoints against instead of the workspace's.
    pub vkey: Option<String>,
    /// Checkpoints held elsewhere (label, signed note): the log must be
    /// consistent with each.
    pub pins: Vec<(String, String)>,
    /// Do not read or update the checkpoint remembered in the user's
    /// directory.
    pub no_remember: bool,
    /// Witness verifier keys (cosignature/v1): each must have cosigned a
    /// checkpoint the log is consistent with.
    pub witnesses: Vec<String>,
    /// Verify what a decision relies on, in one narrow pass: the newest
    /// signed checkpoints' signatures (stored, published, remembered,
    /// pinned), the stored leaf hashes folded up to the newest of them
    /// (which must give its signed root), every event after it re-read
    /// whole, older stored checkpoints' roots compared with the log's, and
    /// the state-changing events replayed (each row checked against its own
    /// leaf hash). The registry rows a decision reads are compared with the
    /// log where it reads them, not here. A workspace that decided before
    /// folds only the log after its last sound decision's newest signed
    /// size, and replays only newer state events. What it leaves to a full
    /// `audit verify`: a damaged signature on an older checkpoint whose
    /// root is right; a row of an event that changes no state (a denial, a
    /// read), under a signed checkpoint, whose text or columns no longer
    /// match its leaf hash; registry rows no decision reads; and, in a
    /// long-lived workspace, a rewrite of rows it already read.
    pub for_decision: bool,
}

/// A proof of inclusion of one event in a signed checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    /// The log's origin line, as its checkpoints name it.
    pub log_origin: String,
    /// The event's index, from 0.
    pub leaf_index: u64,
    /// The size of the log the proof is against (the checkpoint's).
    pub tree_size: u64,
    /// The event's canonical JSON (the leaf data).
    pub event: String,
    /// The RFC 6962 leaf hash of `event` (hex).
    pub leaf_hash: String,
    /// The root hash of the log at `tree_size` (hex).
    pub root_hash: String,
    /// The audit path from the leaf to the root (hex hashes).
    pub proof: Vec<String>,
    /// The signed checkpoint note at `tree_size`.
    pub checkpoint: String,
}

/// A proof that the log at `old_size` is a prefix of the log at `new_size`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// The log's origin line, as its checkpoints name it.
    pub log_origin: String,
    /// The size of the earlier log.
    pub old_size: u64,
    /// The size of the later log.
    pub new_size: u64,
    /// The root hash at `old_size` (hex).
    pub old_root: String,
    /// The root hash at `new_size` (hex).
    pub new_root: String,
    /// The RFC 6962 consistency proof (hex hashes).
    pub proof: Vec<String>,
    /// The signed checkpoint at `old_size`, if one was made at that size.
    pub old_checkpoint: Option<String>,
    /// The signed checkpoint at `new_size`, if one was made at that size.
    pub new_checkpoint: Option<String>,
}

/// A proof as written by `audit proof --json` and read by `check-proof`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ProofFile {
    /// `"type": "inclusion"`: one event is in the log.
    Inclusion(InclusionProof),
    /// `"type": "consistency"`: one log size extends another.
    Consistency(ConsistencyProof),
}

/// The outcome of checking a proof file.
#[derive(Debug, Serialize)]
pub struct ProofCheck {
    /// Always `true`: a proof that does not verify is an error instead.
    pub ok: bool,
    /// `inclusion` or `consistency`.
    pub kind: &'static str,
    /// What was proved, in words.
    pub summary: String,
    /// Roots that are covered by a valid checkpoint signature.
    pub signed_roots: Vec<u64>,
    /// Roots that the proof asserts without a signature.
    pub unsigned_roots: Vec<u64>,
}

/// The stored event row viewed as the canonical JSON it must contain.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventView<'a> {
    seq: u64,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(borrow)]
    actor: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(borrow)]
    payload_digest: Cow<'a, str>,
}

fn parse_hash(s: &str, what: &str) -> Result<Hash, Error> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h)
        .map_err(|_| Error::Invalid(format!("{what} is not 64 hex characters: {s:?}")))?;
    Ok(h)
}

fn parse_hashes(v: &[String]) -> Result<Vec<Hash>, Error> {
    v.iter().map(|s| parse_hash(s, "proof hash")).collect()
}

struct Problems {
    list: Vec<VerifyProblem>,
    more: u64,
    first_bad: Option<u64>,
}

impl Problems {
    fn add(&mut self, index: Option<u64>, message: String) {
        if let Some(i) = index {
            self.first_bad = Some(self.first_bad.map_or(i, |f| f.min(i)));
        }
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(VerifyProblem { index, message });
        } else {
            self.more += 1;
        }
    }
}

/// Checks one stored row against the canonical event it holds; returns the
/// recomputed leaf hash (what the row's event text really hashes to).
fn check_row(row: &StoredEvent, index: u64, problems: &mut Problems) -> Hash {
    let leaf = merkle::leaf_hash(row.event.as_bytes());
    let at = Some(index);
    match serde_json::from_str::<EventView>(&row.event) {
        Err(e) => problems.add(
            at,
            format!("event {index}: stored event is not a valid event: {e}"),
        ),
        Ok(v) => {
            let mut mismatched = Vec::new();
            if v.seq != index {
                mismatched.push("seq");
            }
            if v.time != row.time {
                mismatched.push("time");
            }
            if v.actor != row.actor {
                mismatched.push("actor");
            }
            if v.action != row.action {
                mismatched.push("action");
            }
            if v.subject != row.subject {
                mismatched.push("subject");
            }
            if !mismatched.is_empty() {
                problems.add(
                    at,
                    format!(
                        "event {index}: column(s) {} differ from the signed event",
                        mismatched.join(", ")
                    ),
                );
            }
            if Digest::of(row.payload.as_bytes()).to_string() != v.payload_digest {
                problems.add(
                    at,
                    format!("event {index}: payload does not match its digest"),
                );
            }
        }
    }
    if hex::encode(leaf) != row.leaf_hash {
        problems.add(
            at,
            format!("event {index}: leaf hash does not match the event"),
        );
    }
    leaf
}

/// The tree grown leaf by leaf, with the checkpointed roots it must
/// reach, smallest size first.
struct Fold {
    frontier: Frontier,
    targets: std::iter::Peekable<std::vec::IntoIter<(u64, Hash, String)>>,
}

impl Fold {
    fn push(&mut self, leaf: Hash, problems: &mut Problems) {
        self.frontier.push(leaf);
        self.reach(problems);
    }

    /// Compares the root with every checkpoint of the current size.
    fn reach(&mut self, problems: &mut Problems) {
        let size = self.frontier.size();
        while let Some((_, root, label)) = self.targets.next_if(|t| t.0 == size) {
            if root != self.frontier.root() {
                let message = if size == 0 {
                    format!("{label}: root of the empty log is wrong")
                } else {
                    format!(
                        "{label}: the log's root at size {size} differs from the signed root (an event before index {size} was changed)"
                    )
                };
                problems.add((size > 0).then(|| size - 1), message);
            }
        }
    }
}

impl Workspace {
    /// Events matching `filter`.
    pub fn audit_log(&self, filter: &EventFilter) -> Result<Vec<EventOut>, Error> {
        self.authorize(Action::AuditRead, "audit")?;
        let rows = self.store().read()?.events(filter)?;
        Ok(rows
            .into_iter()
            .map(|r| EventOut {
                payload: serde_json::from_str(&r.payload)
                    .unwrap_or(serde_json::Value::String(r.payload)),
                seq: r.seq,
                time: r.time,
                actor: r.actor,
                action: r.action,
                subject: r.subject,
            })
            .collect())
    }

    /// Recomputes every leaf and the tree, checks every stored checkpoint's
    /// signature and that its root is the root of the log's prefix of that
    /// size (which is what consistency with the current tree means for a
    /// log recomputed from its leaves), and the published checkpoint file.
    /// `pinned_vkey` overrides the workspace's recorded verifier key.
    pub fn audit_verify(&self, pinned_vkey: Option<&str>) -> Result<VerifyReport, Error> {
        self.audit_verify_with(&VerifyOptions {
            vkey: pinned_vkey.map(str::to_string),
            ..Default::default()
        })
    }

    /// [`Workspace::audit_verify`] with pinned checkpoints and control over
    /// the checkpoint remembered in the user's directory. Besides the
    /// tree and every signed checkpoint, it checks the log against the
    /// remembered checkpoint and each pin (so deleting the newest events
    /// and putting back an older signed note is caught), reports events no
    /// signed checkpoint covers, and compares every registry row the log
    /// governs with the state its events imply. A sound log's newest
    /// checkpoint is then remembered.
    pub fn audit_verify_with(&self, opts: &VerifyOptions) -> Result<VerifyReport, Error> {
        let pinned_vkey = opts.vkey.as_deref();
        self.authorize(Action::AuditVerify, "audit")?;
        let mut problems = Problems {
            list: Vec::new(),
            more: 0,
            first_bad: None,
        };
        let mut tx = self.store().read()?;
        let origin = tx.meta("log_origin")?.unwrap_or_default();
        let recorded = tx.meta("log_vkey")?;
        let published = self.published_vkey().ok();
        if recorded.is_some() && published.is_some() && recorded != published {
            problems.add(
                None,
                "the log verifier key in the database differs from .warden/log/vkey".into(),
            );
        }
        let vkey = match (pinned_vkey, &published, &recorded) {
            (Some(p), _, _) => p.to_string(),
            (None, Some(p), _) => p.clone(),
            (None, None, Some(r)) => r.clone(),
            (None, None, None) => {
                return Err(Error::Verification(
                    "the workspace has no log verifier key".into(),
                ));
            }
        };
        let verifier = NoteVerifier::from_vkey(&vkey)?;

        // Expected roots by tree size, from every signed checkpoint.
        let mut expected: BTreeMap<u64, (Hash, String)> = BTreeMap::new();
        let mut checkpoints_checked = 0u64;
        let mut check_note =
            |note: &str, label: String, problems: &mut Problems| -> Option<Checkpoint> {
                let cp = match verifier
                    .open(note)
                    .map_err(Error::from)
                    .and_then(|t| Ok(Checkpoint::parse(t)?))
                {
                    Ok(cp) => cp,
                    Err(e) => {
                        problems.add(None, format!("{label}: {e}"));
                        return None;
                    }
                };
                if cp.origin != origin {
                    problems.add(
                        None,
                        format!("{label}: origin {:?} is not this log's", cp.origin),
                    );
                    return None;
                }
                checkpoints_checked += 1;
                Some(cp)
            };
        // For a decision, only the newest stored checkpoint's signature is
        // checked: its root commits to every prefix of the log, so an older
        // checkpoint whose root is its prefix's root adds nothing, and one
        // whose root is not is reported all the same (by its stored root,
        // read without its note).
        let mut unsigned_roots: Vec<(u64, Hash, String)> = Vec::new();
        // A decision in a workspace whose earlier decision checked the log
        // starts from the tree it folded then, up to that newest signed size.
        let cached_fold = if opts.for_decision {
            self.fold.lock().unwrap_or_else(|p| p.into_inner()).clone()
        } else {
            None
        };
        let folded_before = cached_fold.as_ref().map_or(0, Frontier::size);
        let stored_checkpoints = if opts.for_decision {
            let newest = tx.latest_checkpoint()?;
            for (size, root) in tx.checkpoint_roots_after(folded_before)? {
                if newest.as_ref().is_some_and(|c| c.size == size) {
                    continue;
                }
                let label = format!("checkpoint at size {size}");
                match parse_hash(&root, "its stored root") {
                    Ok(root) => unsigned_roots.push((size, root, label)),
                    Err(e) => problems.add(None, format!("{label}: {e}")),
                }
            }
            newest.into_iter().collect()
        } else {
            tx.checkpoints()?
        };
        for stored in stored_checkpoints {
            let label = format!("checkpoint at size {}", stored.size);
            if let Some(cp) = check_note(&stored.note, label.clone(), &mut problems) {
                if cp.size != stored.size || hex::encode(cp.root) != stored.root_hash {
                    problems.add(
                        None,
                        format!("{label}: stored size or root differs from the signed note"),
                    );
                }
                expected.insert(cp.size, (cp.root, label));
            }
        }
        let user_dir = if opts.no_remember {
            None
        } else {
            self.user_dir()
        };
        let mut remembered_file = None;
        if let Some(dir) = &user_dir {
            match crate::userdir::load(dir, &origin) {
                Ok(Some((path, r))) => {
                    let label = format!("checkpoint remembered in {}", path.display());
                    remembered_file = Some(path.display().to_string());
                    if r.vkey != vkey {
                        problems.add(
                            None,
                            format!(
                                "{label}: it was signed by the log key {:?}, but the log is now checked against {:?} (the log key was replaced)",
                                r.vkey, vkey
                            ),
                        );
                    }
                    match NoteVerifier::from_vkey(&r.vkey)
                        .map_err(Error::from)
                        .and_then(|v| Ok(v.open(&r.note)?.to_string()))
                        .and_then(|t| Ok(Checkpoint::parse(&t)?))
                    {
                        Ok(cp) if cp.origin == origin => {
                            if expected
                                .get(&cp.size)
                                .is_some_and(|(root, _)| *root != cp.root)
                            {
                                problems.add(
                                    None,
                                    format!("{label}: its root at size {} differs from the log's signed checkpoint of that size (history was rewritten)", cp.size),
                                );
                            }
                            expected.entry(cp.size).or_insert((cp.root, label));
                        }
                        Ok(_) => problems.add(None, format!("{label}: it is for another log")),
                        Err(e) => problems.add(None, format!("{label}: {e}")),
                    }
                }
                Ok(None) => {}
                Err(e) => problems.add(None, e.to_string()),
            }
        }
        for (label, note) in &opts.pins {
            if let Some(cp) = check_note(note, label.clone(), &mut problems) {
                if expected
                    .get(&cp.size)
                    .is_some_and(|(root, _)| *root != cp.root)
                {
                    problems.add(
                        None,
                        format!("{label}: its root at size {} differs from the log's signed checkpoint of that size (history was rewritten)", cp.size),
                    );
                }
                expected.entry(cp.size).or_insert((cp.root, label.clone()));
            }
        }
        for wkey in &opts.witnesses {
            let v = match warden_artifact::note::CosignatureVerifier::from_vkey(wkey) {
                Ok(v) => v,
                Err(e) => {
                    problems.add(None, format!("witness key {wkey:?}: {e}"));
                    continue;
                }
            };
            let cosigned = self.cosigned_by(&v, &verifier)?;
            if cosigned.is_empty() {
                problems.add(
                    None,
                    format!(
                        "no checkpoint cosigned by the witness {} is published in .warden/log/cosignatures",
                        v.name()
                    ),
                );
            }
            for (_, cp, _) in cosigned {
                let label = format!("checkpoint cosigned by {}", v.name());
                if cp.origin != origin {
                    problems.add(None, format!("{label}: it is for another log"));
                    continue;
                }
                if expected
                    .get(&cp.size)
                    .is_some_and(|(root, _)| *root != cp.root)
                {
                    problems.add(
                        None,
                        format!("{label}: its root at size {} differs from the log's signed checkpoint of that size (history was rewritten)", cp.size),
                    );
                }
                expected.entry(cp.size).or_insert((cp.root, label));
            }
        }
        let published_path = self.latest_checkpoint_path();
        match std::fs::read_to_string(&published_path) {
            Ok(note) => {
                let label = format!("published checkpoint {}", published_path.display());
                if let Some(cp) = check_note(&note, label.clone(), &mut problems) {
                    if expected
                        .get(&cp.size)
                        .is_some_and(|(root, _)| *root != cp.root)
                    {
                        problems.add(
                            None,
                            format!(
                                "{label}: root differs from the stored checkpoint of the same size"
                            ),
                        );
                    }
                    expected.entry(cp.size).or_insert((cp.root, label));
                }
            }
            Err(e) => problems.add(None, format!("{}: {e}", published_path.display())),
        }

        // One pass over the log: recompute leaves, grow the tree, and
        // compare its root at every checkpointed size. For a decision, the
        // stored leaf hashes up to the newest signed checkpoint are taken as
        // they are (their fold must give that signed root, so none can have
        // been changed) and only the events after it are re-read whole.
        let mut targets: Vec<(u64, Hash, String)> = expected
            .iter()
            .map(|(size, (root, label))| (*size, *root, label.clone()))
            .chain(unsigned_roots)
            .collect();
        targets.sort_by_key(|t| t.0);
        let fold_to = if opts.for_decision {
            expected.keys().next_back().copied().unwrap_or(0)
        } else {
            0
        };
        // The cached tree is used only if the log's newest signed size has
        // not gone below it; the checkpoints at or below it were compared
        // when it was folded.
        let start = match cached_fold {
            Some(f) if f.size() <= fold_to => {
                targets.retain(|t| t.0 > f.size());
                f
            }
            _ => Frontier::new(),
        };
        let mut fold = Fold {
            frontier: start,
            targets: targets.into_iter().peekable(),
        };
        fold.reach(&mut problems);
        let mut broken = false;
        if fold_to > 0 {
            match tx.leaf_hashes_between(fold.frontier.size(), fold_to) {
                Ok(leaves) => {
                    for leaf in leaves {
                        fold.push(leaf, &mut problems);
                    }
                }
                Err(warden_store::StoreError::LogState(m)) => {
                    problems.add(Some(fold.frontier.size()), m);
                    broken = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let folded_whole = !broken;
        let folded_signed =
            (opts.for_decision && folded_whole && fold_to > 0).then(|| fold.frontier.clone());
        let mut step = |row: StoredEvent| {
            let index = fold.frontier.size();
            if row.seq != index as i64 {
                let msg = if row.seq > index as i64 {
                    format!(
                        "event {index} is missing (next stored event is {})",
                        row.seq
                    )
                } else {
                    format!("event {index}: stored out of order (seq {})", row.seq)
                };
                problems.add(Some(index), msg);
                broken = true;
                return ControlFlow::Break(());
            }
            let leaf = check_row(&row, index, &mut problems);
            fold.push(leaf, &mut problems);
            ControlFlow::Continue(())
        };
        if fold_to == 0 {
            tx.scan_events(&mut step)?;
        } else if folded_whole {
            let tail = tx.events(&EventFilter {
                since: Some(fold_to),
                ..Default::default()
            })?;
            for row in tail {
                if step(row).is_break() {
                    break;
                }
            }
        }
        let Fold {
            frontier,
            targets: pending,
        } = fold;
        let scanned = frontier.size();
        if !broken {
            for (size, _, label) in pending {
                problems.add(
                    Some(scanned),
                    format!("{label}: signed at size {size}, but the log holds only {scanned} events (events were deleted)"),
                );
            }
            let state = tx.log_frontier()?;
            if state.size() != scanned {
                problems.add(
                    Some(scanned.min(state.size())),
                    format!(
                        "the log state records {} events but {scanned} are stored",
                        state.size()
                    ),
                );
            } else if state.root() != frontier.root() {
                problems.add(
                    None,
                    "the stored log frontier does not match the events".into(),
                );
            }
        }
        // Every event must be under a signed checkpoint.
        let signed_size = expected.keys().next_back().copied().unwrap_or(0);
        let unsigned_events = scanned.saturating_sub(signed_size);
        if unsigned_events > 0 && !broken {
            problems.add(
                Some(signed_size),
                format!(
                    "events {signed_size} to {} are not covered by any signed checkpoint",
                    scanned - 1
                ),
            );
        }
        // Registry rows against the state the events imply.
        let mut state_disagreements = 0u64;
        // A decision's workspace keeps the state it replayed and applies
        // only the newer events; the full audit replays every one.
        let replayed = if opts.for_decision {
            self.log_state(tx.as_mut())
        } else {
            crate::ledger::LogState::replay(tx.as_mut()).map(std::sync::Arc::new)
        };
        match replayed {
            // A decision compares the rows it reads where it reads them (the
            // pointer, the version's quarantine, model row, approvals,
            // evaluations, scans and evidence, the keys, the actor's
            // grants), so its cost does not grow with the registry; the
            // full audit compares every row.
            Ok(_) if opts.for_decision => {}
            Ok(st) => {
                for d in crate::ledger::disagreements(tx.as_mut(), &st)? {
                    state_disagreements += 1;
                    problems.add(
                        None,
                        format!("{} disagrees with the audit log: {}", d.row, d.detail),
                    );
                }
            }
            Err(e) => problems.add(None, format!("replaying the log's state: {e}")),
        }
        drop(tx);
        let ok = problems.list.is_empty();
        // A sound log's tree, up to its newest signed size, is where the
        // next decision of this workspace starts.
        if ok && let Some(f) = folded_signed {
            *self.fold.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
        }
        if ok
            && let Some(dir) = &user_dir
            && let Some((size, (_, _))) = expected.iter().next_back()
        {
            // Remember the newest checkpoint this sound log holds.
            let note = self.store().read()?.latest_checkpoint()?;
            if let Some(c) = note.filter(|c| c.size == *size) {
                let _ = crate::userdir::remember(
                    dir,
                    &crate::userdir::Remembered {
                        origin: origin.clone(),
                        vkey: vkey.clone(),
                        size: c.size,
                        note: c.note,
                    },
                );
            }
        }
        Ok(VerifyReport {
            unsigned_events,
            remembered: remembered_file,
            state_disagreements,
            ok,
            events: scanned,
            root_hash: hex::encode(frontier.root()),
            checkpoints_checked,
            first_bad_index: problems.first_bad,
            problems: problems.list,
            more_problems: problems.more,
            log_vkey: vkey,
        })
    }

    /// An inclusion proof of event `index` against the latest checkpoint.
    pub fn audit_inclusion_proof(&self, index: u64) -> Result<InclusionProof, Error> {
        self.authorize(Action::AuditProof, "audit")?;
        let mut tx = self.store().read()?;
        let cp = tx
            .latest_checkpoint()?
            .ok_or_else(|| Error::NotFound("a signed checkpoint".into()))?;
        if index >= cp.size {
            return Err(Error::Usage(format!(
                "event {index} is not covered by the latest checkpoint (size {}); indexes run from 0 to {}",
                cp.size,
                cp.size.saturating_sub(1)
            )));
        }
        let leaves = tx.leaf_hashes(cp.size)?;
        let proof = merkle::inclusion_proof(index, &leaves)
            .ok_or_else(|| Error::Invalid(format!("event {index} is out of range")))?;
        let event = tx
            .events(&EventFilter {
                since: Some(index),
                limit: Some(1),
                ..Default::default()
            })?
            .into_iter()
            .next()
            .filter(|e| e.seq == index as i64)
            .ok_or_else(|| Error::NotFound(format!("event {index}")))?;
        Ok(InclusionProof {
            log_origin: tx.meta("log_origin")?.unwrap_or_default(),
            leaf_index: index,
            tree_size: cp.size,
            event: event.event,
            leaf_hash: hex::encode(leaves[index as usize]),
            root_hash: cp.root_hash,
            proof: proof.iter().map(hex::encode).collect(),
            checkpoint: cp.note,
        })
    }

    /// The newest signed checkpoint of the log (a C2SP tlog-checkpoint
    /// note) and the verifier key that checks it. Public by design: a
    /// checkpoint commits to the log without revealing an event, and every
    /// client compares the ones it sees to catch a rewritten history.
    pub fn audit_checkpoint(&self) -> Result<(String, String), Error> {
        let mut tx = self.store().read()?;
        let note = tx
            .latest_checkpoint()?
            .map(|c| c.note)
            .ok_or_else(|| Error::NotFound("a signed checkpoint (the log is empty)".into()))?;
        let vkey = tx
            .meta("log_vkey")?
            .ok_or_else(|| Error::Verification("the workspace has no log verifier key".into()))?;
        Ok((note, vkey))
    }

    /// A consistency proof between tree sizes `old` and `new`.
    pub fn audit_consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, Error> {
        self.authorize(Action::AuditProof, "audit")?;
        self.log_consistency(old, new)
    }

    /// A consistency proof between tree sizes `old` and `new`, for anyone:
    /// like a checkpoint it holds only hashes and signed roots, never an
    /// event, and every client of a hub needs it to check that the history
    /// it saw was extended rather than rewritten.
    pub fn log_consistency(&self, old: u64, new: u64) -> Result<ConsistencyProof, Error> {
        let mut tx = self.store().read()?;
        let size = tx.log_frontier()?.size();
        if old == 0 || old > new || new > size {
            return Err(Error::Usage(format!(
                "need 0 < OLD <= NEW <= {size} (the log's size); got OLD={old} NEW={new}"
            )));
        }
        let leaves = tx.leaf_hashes(new)?;
        let proof = merkle::consistency_proof(old, &leaves)
            .ok_or_else(|| Error::Invalid("sizes out of range".into()))?;
        let checkpoints = tx.checkpoints()?;
        let note_at = |s: u64| {
            checkpoints
                .iter()
                .find(|c| c.size == s)
                .map(|c| c.note.clone())
        };
        Ok(ConsistencyProof {
            log_origin: tx.meta("log_origin")?.unwrap_or_default(),
            old_size: old,
            new_size: new,
            old_root: hex::encode(merkle::root_of(&leaves[..old as usize])),
            new_root: hex::encode(merkle::root_of(&leaves)),
            proof: proof.iter().map(hex::encode).collect(),
            old_checkpoint: note_at(old),
            new_checkpoint: note_at(new),
        })
    }

    /// Checks a proof file against this workspace's log key.
    pub fn audit_check_proof(&self, proof: &ProofFile) -> Result<ProofCheck, Error> {
        self.authorize(Action::AuditProof, "audit")?;
        check_proof(proof, &self.log_verifier()?)
    }
}

/// Opens a checkpoint note and checks it commits to `size` and `root`.
fn check_signed_root(
    verifier: &NoteVerifier,
    note: &str,
    origin: &str,
    size: u64,
    root: &Hash,
) -> Result<(), Error> {
    let cp = Checkpoint::parse(verifier.open(note)?)?;
    if cp.origin != origin {
        return Err(Error::Verification(format!(
            "checkpoint origin {:?} differs from the proof's log {origin:?}",
            cp.origin
        )));
    }
    if cp.size != size || &cp.root != root {
        return Err(Error::Verification(format!(
            "the checkpoint signs size {} root {}, not size {size} root {}",
            cp.size,
            hex::encode(cp.root),
            hex::encode(root)
        )));
    }
    Ok(())
}

/// Checks a proof file against a log verifier key. Any failure is an
/// [`Error::Verification`] (or a note error of that kind).
pub fn check_proof(proof: &ProofFile, verifier: &NoteVerifier) -> Result<ProofCheck, Error> {
    let fail = |e: merkle::ProofError| Error::Verification(format!("proof does not verify: {e}"));
    match proof {
        ProofFile::Inclusion(p) => {
            let root = parse_hash(&p.root_hash, "root_hash")?;
            let leaf = merkle::leaf_hash(p.event.as_bytes());
            if hex::encode(leaf) != p.leaf_hash {
                return Err(Error::Verification(
                    "the event does not hash to the proof's leaf hash".into(),
                ));
            }
            check_signed_root(verifier, &p.checkpoint, &p.log_origin, p.tree_size, &root)?;
            merkle::verify_inclusion(
                p.leaf_index,
                p.tree_size,
                &leaf,
                &parse_hashes(&p.proof)?,
                &root,
            )
            .map_err(fail)?;
            Ok(ProofCheck {
                ok: true,
                kind: "inclusion",
                summary: format!(
                    "event {} is included in the signed log of size {}",
                    p.leaf_index, p.tree_size
                ),
                signed_roots: vec![p.tree_size],
                unsigned_roots: vec![],
            })
        }
        ProofFile::Consistency(p) => {
            let old_root = parse_hash(&p.old_root, "old_root")?;
            let new_root = parse_hash(&p.new_root, "new_root")?;
            let (mut signed, mut unsigned) = (vec![], vec![]);
            for (note, size, root) in [
                (&p.old_checkpoint, p.old_size, &old_root),
                (&p.new_checkpoint, p.new_size, &new_root),
            ] {
                match note {
                    Some(n) => {
                        check_signed_root(verifier, n, &p.log_origin, size, root)?;
                        signed.push(size);
                    }
                    None => unsigned.push(size),
                }
            }
            merkle::verify_consistency(
                p.old_size,
                p.new_size,
                &old_root,
                &new_root,
                &parse_hashes(&p.proof)?,
            )
            .map_err(fail)?;
            Ok(ProofCheck {
                ok: true,
                kind: "consistency",
                summary: format!(
                    "the log of size {} is a prefix of the log of size {}",
                    p.old_size, p.new_size
                ),
                signed_roots: signed,
                unsigned_roots: unsigned,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use warden_core::ActorName;

    use crate::{OpenOptions, Workspace};

    /// A workspace whose log holds `batches` of appended events, with a
    /// signed checkpoint after each batch.
    fn workspace_with(batches: &[u8]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::init(
            dir.path(),
            ActorName::new("ana").unwrap(),
            &OpenOptions::default(),
        )
        .unwrap();
        for (b, n) in batches.iter().enumerate() {
            let mut tx = ws.store().write().unwrap();
            for i in 0..*n {
                tx.append_event(
                    ws.actor(),
                    "test.append",
                    &format!("batch:{b}"),
                    &serde_json::json!({"i": i, "text": "caf\u{e9} \"quoted\""}),
                )
                .unwrap();
            }
            ws.commit(tx).unwrap();
        }
        (dir, ws)
    }

    fn sql(ws: &Workspace) -> rusqlite::Connection {
        rusqlite::Connection::open(ws.root().join(".warden/warden.db")).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

        #[test]
        fn random_append_sequences_verify(batches in prop::collection::vec(1u8..12, 1..6)) {
            let (_d, ws) = workspace_with(&batches);
            let r = ws.audit_verify(None).unwrap();
            prop_assert!(r.ok, "{:?}", r.problems);
            let total: u64 = 3 + batches.iter().map(|&b| b as u64).sum::<u64>();
            prop_assert_eq!(r.events, total);
            prop_assert_eq!(r.checkpoints_checked as usize, batches.len() + 2);
            // Every event has a proof that checks.
            for i in [0, total / 2, total - 1] {
                let p = ws.audit_inclusion_proof(i).unwrap();
                prop_assert!(ws.audit_check_proof(&super::ProofFile::Inclusion(p)).is_ok());
            }
            let c = ws.audit_consistency_proof(1, total).unwrap();
            prop_assert!(ws.audit_check_proof(&super::ProofFile::Consistency(c)).is_ok());
        }

        #[test]
        fn any_single_mutation_is_detected(
            batches in prop::collection::vec(1u8..8, 1..4),
            target in 0u8..8,
            pick in any::<prop::sample::Index>(),
            pos in any::<prop::sample::Index>(),
        ) {
            let (_d, ws) = workspace_with(&batches);
            let c = sql(&ws);
            let n: i64 = c.query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0)).unwrap();
            let seq = pick.index(n as usize) as i64;
            let flip_hex = |h: String| -> String {
                let i = pos.index(h.len());
                let ch = if &h[i..=i] == "0" { "1" } else { "0" };
                format!("{}{}{}", &h[..i], ch, &h[i + 1..])
            };
            let get = |col: &str| -> String {
                c.query_row(&format!("SELECT {col} FROM audit_events WHERE seq = ?1"), [seq], |r| r.get(0)).unwrap()
            };
            let set = |col: &str, v: &str| {
                c.execute(&format!("UPDATE audit_events SET {col} = ?1 WHERE seq = ?2"), rusqlite::params![v, seq]).unwrap();
            };
            let expect_index = match target {
                0 => { set("leaf_hash", &flip_hex(get("leaf_hash"))); Some(seq as u64) }
                1 => { let e = get("event"); let i = pos.index(e.len() - 2) + 1; let b = e.as_bytes()[i];
                       let r = if b == b'x' { "y" } else { "x" };
                       // Keep UTF-8 valid: replace a whole char boundary region.
                       if e.is_char_boundary(i) && e.is_char_boundary(i + 1) {
                           set("event", &format!("{}{}{}", &e[..i], r, &e[i + 1..]));
                       } else { set("event", &format!("{e} ")); }
                       Some(seq as u64) }
                2 => { set("actor", "mallory"); Some(seq as u64) }
                3 => { set("payload", "{}"); Some(seq as u64) }
                4 => { set("time", "2000-01-01T00:00:00.000000Z"); Some(seq as u64) }
                5 => {
                    let note: String = c.query_row("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1", [], |r| r.get(0)).unwrap();
                    let mut b = note.into_bytes(); let i = pos.index(b.len()); b[i] ^= 0x01;
                    let note = String::from_utf8_lossy(&b).into_owned();
                    c.execute("UPDATE audit_checkpoints SET note = ?1 WHERE size = (SELECT MAX(size) FROM audit_checkpoints)", [note]).unwrap();
                    None
                }
                6 => {
                    let root: String = c.query_row("SELECT root_hash FROM audit_checkpoints ORDER BY size LIMIT 1", [], |r| r.get(0)).unwrap();
                    c.execute("UPDATE audit_checkpoints SET root_hash = ?1 WHERE size = (SELECT MIN(size) FROM audit_checkpoints)", [flip_hex(root)]).unwrap();
                    None
                }
                _ => {
                    let p = ws.root().join(".warden/log/checkpoint");
                    let mut b = std::fs::read(&p).unwrap(); let i = pos.index(b.len()); b[i] ^= 0x01;
                    std::fs::write(&p, b).unwrap();
                    None
                }
            };
            let r = ws.audit_verify(None).unwrap();
            prop_assert!(!r.ok, "mutation {} not detected", target);
            if let Some(i) = expect_index {
                prop_assert_eq!(r.first_bad_index, Some(i), "{:?}", r.problems);
            }
        }

        /// A decision's narrow check against the full audit, on the same
        /// damage: it must catch everything the full audit catches except
        /// the two classes it documents (a row of an event that changes no
        /// state whose text or columns were edited with its leaf hash left
        /// right, and a damaged signature on an older checkpoint whose root
        /// is right).
        #[test]
        fn a_decision_catches_what_the_audit_catches_but_the_documented_classes(
            batches in prop::collection::vec(1u8..8, 2..5),
            target in 0u8..9,
            pick in any::<prop::sample::Index>(),
            pos in any::<prop::sample::Index>(),
        ) {
            let (_d, ws) = workspace_with(&batches);
            let c = sql(&ws);
            let n: i64 = c.query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0)).unwrap();
            // Rows of appended test events (no state), past the init's grants.
            let first_test: i64 = c.query_row("SELECT MIN(seq) FROM audit_events WHERE action = 'test.append'", [], |r| r.get(0)).unwrap();
            let seq = first_test + pick.index((n - first_test) as usize) as i64;
            let get = |col: &str, seq: i64| -> String {
                c.query_row(&format!("SELECT {col} FROM audit_events WHERE seq = ?1"), [seq], |r| r.get(0)).unwrap()
            };
            let set = |col: &str, v: &str, seq: i64| {
                c.execute(&format!("UPDATE audit_events SET {col} = ?1 WHERE seq = ?2"), rusqlite::params![v, seq]).unwrap();
            };
            let leaf_of = |text: &str| hex::encode(warden_store::merkle::leaf_hash(text.as_bytes()));
            let tolerated = match target {
                // The insider's rewrite: new text, its true leaf hash.
                0 => { let e = get("event", seq).replace("test.append", "test.rewrit"); set("leaf_hash", &leaf_of(&e), seq); set("event", &e, seq); false }
                // A leaf hash changed alone.
                1 => { let h = get("leaf_hash", seq); set("leaf_hash", &leaf_of(&h), seq); false }
                // A row deleted.
                2 => { c.execute("DELETE FROM audit_events WHERE seq = ?1", [seq]).unwrap(); false }
                // A state-changing row (the init's first grant) edited, even
                // with its leaf hash left right.
                3 => {
                    let g: i64 = c.query_row("SELECT MIN(seq) FROM audit_events WHERE action = 'roles.grant'", [], |r| r.get(0)).unwrap();
                    set("actor", "mallory", g); false
                }
                // An older stored checkpoint's root.
                4 => {
                    c.execute("UPDATE audit_checkpoints SET root_hash = ?1 WHERE size = (SELECT MIN(size) FROM audit_checkpoints)", [hex::encode([7u8; 32])]).unwrap();
                    false
                }
                // The newest stored checkpoint's signed note.
                5 => {
                    let note: String = c.query_row("SELECT note FROM audit_checkpoints ORDER BY size DESC LIMIT 1", [], |r| r.get(0)).unwrap();
                    let note = note.replacen('\u{2014}', "-", 1);
                    c.execute("UPDATE audit_checkpoints SET note = ?1 WHERE size = (SELECT MAX(size) FROM audit_checkpoints)", [note]).unwrap();
                    false
                }
                // Tolerated: a no-state row's columns or payload, its leaf
                // hash left right.
                6 => { set("actor", "mallory", seq); true }
                7 => { set("payload", "{}", seq); true }
                // Tolerated: an older checkpoint's signature damaged, its
                // root right.
                _ => {
                    let note: String = c.query_row("SELECT note FROM audit_checkpoints ORDER BY size LIMIT 1", [], |r| r.get(0)).unwrap();
                    let mut b = note.into_bytes();
                    let i = b.len() - 2 - pos.index(8);
                    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
                    let note = String::from_utf8(b).unwrap();
                    c.execute("UPDATE audit_checkpoints SET note = ?1 WHERE size = (SELECT MIN(size) FROM audit_checkpoints)", [note]).unwrap();
                    true
                }
            };
            let full = ws.audit_verify(None).unwrap();
            prop_assert!(!full.ok, "mutation {} not detected by the audit", target);
            let decision = ws.audit_verify_with(&super::VerifyOptions { for_decision: true, ..Default::default() }).unwrap();
            if tolerated {
                prop_assert!(decision.ok, "mutation {}: {:?}", target, decision.problems);
            } else {
                prop_assert!(!decision.ok, "mutation {} not detected by a decision", target);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

        /// A workspace that decided once folds, at its next decision, only
        /// the log after what it folded then, and still catches damage
        /// there: a rewritten event, a changed leaf hash, a deleted row, a
        /// newer checkpoint's stored root. Damage below what it folded does
        /// not change what it decides on; the full audit and a workspace
        /// opened afresh catch it.
        #[test]
        fn a_decision_folds_only_what_it_has_not_and_catches_damage_there(
            before in prop::collection::vec(1u8..6, 1..3),
            after in prop::collection::vec(1u8..6, 1..3),
            target in 0u8..5,
            pick in any::<prop::sample::Index>(),
        ) {
            let (_d, ws) = workspace_with(&before);
            let decide = super::VerifyOptions { for_decision: true, ..Default::default() };
            prop_assert!(ws.audit_verify_with(&decide).unwrap().ok);
            let folded = ws.fold.lock().unwrap().as_ref().map(|f| f.size()).unwrap();
            for (b, n) in after.iter().enumerate() {
                let mut tx = ws.store().write().unwrap();
                for i in 0..*n {
                    tx.append_event(ws.actor(), "test.append", &format!("after:{b}"), &serde_json::json!({"i": i})).unwrap();
                }
                ws.commit(tx).unwrap();
            }
            let c = sql(&ws);
            let n: i64 = c.query_row("SELECT COUNT(*) FROM audit_events", [], |r| r.get(0)).unwrap();
            let folded = folded as i64;
            let leaf_of = |text: &str| hex::encode(warden_store::merkle::leaf_hash(text.as_bytes()));
            let set = |col: &str, v: &str, seq: i64| {
                c.execute(&format!("UPDATE audit_events SET {col} = ?1 WHERE seq = ?2"), rusqlite::params![v, seq]).unwrap();
            };
            let get = |col: &str, seq: i64| -> String {
                c.query_row(&format!("SELECT {col} FROM audit_events WHERE seq = ?1"), [seq], |r| r.get(0)).unwrap()
            };
            if target == 4 {
                // Below what was folded: a rewrite with its true leaf hash.
                let first_test: i64 = c.query_row("SELECT MIN(seq) FROM audit_events WHERE action = 'test.append'", [], |r| r.get(0)).unwrap();
                let seq = first_test + pick.index((folded - first_test) as usize) as i64;
                let e = get("event", seq).replace("test.append", "test.rewrit");
                set("leaf_hash", &leaf_of(&e), seq);
                set("event", &e, seq);
                prop_assert!(ws.audit_verify_with(&decide).unwrap().ok, "the cached fold read below itself");
                prop_assert!(!ws.audit_verify(None).unwrap().ok);
                let fresh = Workspace::open(ws.root(), ActorName::new("ana").unwrap(), &OpenOptions::default()).unwrap();
                prop_assert!(!fresh.audit_verify_with(&decide).unwrap().ok, "a fresh decision missed a rewrite");
            } else {
                let seq = folded + pick.index((n - folded) as usize) as i64;
                match target {
                    0 => { let e = get("event", seq).replace("test.append", "test.rewrit"); set("leaf_hash", &leaf_of(&e), seq); set("event", &e, seq); }
                    1 => { let h = get("leaf_hash", seq); set("leaf_hash", &leaf_of(&h), seq); }
                    2 => { c.execute("DELETE FROM audit_events WHERE seq = ?1", [seq]).unwrap(); }
                    _ => {
                        c.execute("UPDATE audit_checkpoints SET root_hash = ?1 WHERE size = (SELECT MIN(size) FROM audit_checkpoints WHERE size > ?2)", rusqlite::params![hex::encode([7u8; 32]), folded]).unwrap();
                    }
                }
                let r = ws.audit_verify_with(&decide).unwrap();
                prop_assert!(!r.ok, "damage {} after the cached fold (at {}) not caught", target, folded);
            }
        }
    }

    #[test]
    fn a_sound_log_passes_a_decision_with_its_unsigned_tail_read_whole() {
        let (_d, ws) = workspace_with(&[3, 4]);
        let opts = super::VerifyOptions {
            for_decision: true,
            ..Default::default()
        };
        let r = ws.audit_verify_with(&opts).unwrap();
        assert!(r.ok, "{:?}", r.problems);
        assert_eq!(r.events, 10);
        assert_eq!(r.root_hash, ws.audit_verify(None).unwrap().root_hash);
        // Events past the newest checkpoint, unsigned: read whole, and
        // reported as not covered.
        let mut tx = ws.store().write().unwrap();
        tx.append_event(ws.actor(), "test.append", "tail", &serde_json::json!({}))
            .unwrap();
        tx.commit().unwrap();
        let r = ws.audit_verify_with(&opts).unwrap();
        assert!(!r.ok);
        assert_eq!(r.events, 11);
        assert!(
            r.problems[0]
                .message
                .contains("not covered by any signed checkpoint"),
            "{:?}",
            r.problems
        );
    }
}
