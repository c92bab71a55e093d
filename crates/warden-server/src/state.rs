//! What the server serves right now, and how it changes.
//!
//! A [`Snapshot`] is immutable: the models loaded, the stage targets that
//! could not be, the API keys, and the policy's answers for each role.
//! The refresh thread builds a new snapshot every few seconds from the
//! store and swaps it in whole; a request holds the snapshot it started
//! with, so a swap never shows it a half-loaded model.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use warden::{ApiKeyRecord, ApiKeyVerifier, KeyRejection, ServedModel, ServingTarget, Workspace};
use warden_core::Action;
use warden_core::Timestamp;

use crate::config::ServeConfig;
use crate::guard::{KeyCaller, Limiters};
use crate::metrics::{Metrics, ModelLabels, PredictionLabels};

/// The actions the server asks the policy about.
pub const ACTIONS: [Action; 2] = [Action::ServePredict, Action::ServeMetrics];

/// A served model and what is computed once per load.
pub struct Loaded {
    /// The verified model: name, version, package digest, input schema,
    /// predictor and (if packaged) the training data's profile.
    pub model: ServedModel,
    /// Class labels as responses show them (PII redacted).
    pub shown_classes: Vec<String>,
    /// `warden_predictions_total` for each class, in the order of
    /// `shown_classes`, resolved once so a prediction only increments.
    pub class_counters: Vec<prometheus_client::metrics::counter::Counter>,
    /// `warden_abstentions_total` for this model version, resolved once
    /// likewise.
    pub abstention_counter: prometheus_client::metrics::counter::Counter,
}

/// Everything a request needs, fixed for its lifetime.
pub struct Snapshot {
    /// The models served, by name (one version each: the one the
    /// environment's stage pointer names).
    pub models: BTreeMap<String, Arc<Loaded>>,
    /// Models the environment points at that are not served, by name:
    /// `NAME@VERSION: reason`.
    pub missing: BTreeMap<String, String>,
    /// The API keys read at this refresh, with what they are checked
    /// against (the workspace's secret, or the hub a replica follows); it
    /// tells a revoked, expired or blocked key from an unknown one.
    pub keys: Keys,
    /// Each API key's caller, limit and bucket, by key id.
    pub callers: HashMap<String, KeyCaller>,
    /// The roles the authorisation policy allows each action.
    pub allowed: HashMap<Action, HashSet<String>>,
    /// On the hub: the personal access tokens. `None` for `warden serve`,
    /// which does not accept them.
    pub tokens: Option<warden::TokenVerifier>,
}

impl Snapshot {
    /// Whether the policy lets `role` perform `action`.
    pub fn allows(&self, role: &str, action: Action) -> bool {
        self.allowed.get(&action).is_some_and(|r| r.contains(role))
    }
}

/// The current snapshot; swapped whole. Readers take it without a lock
/// or a shared reference count (`arc-swap`), so the two cores serving
/// requests do not contend on it.
pub struct Current(arc_swap::ArcSwap<Snapshot>);

impl Current {
    /// Starts with `s` as the current snapshot.
    pub fn new(s: Snapshot) -> Self {
        Current(arc_swap::ArcSwap::from_pointee(s))
    }

    /// The snapshot, for the length of one request step.
    pub fn get(&self) -> arc_swap::Guard<Arc<Snapshot>> {
        self.0.load()
    }

    /// The snapshot, to keep.
    pub fn get_full(&self) -> Arc<Snapshot> {
        self.0.load_full()
    }

    /// Makes `s` the current snapshot. Requests already holding the
    /// previous one finish with it.
    pub fn set(&self, s: Snapshot) {
        self.0.store(Arc::new(s));
    }
}

/// What one refresh reads before it loads anything.
pub struct Read {
    /// Every model the environment points at.
    pub targets: Vec<ServingTarget>,
    /// The API keys and what checks them.
    pub keys: Keys,
    /// The roles the authorisation policy allows each action.
    pub allowed: HashMap<Action, HashSet<String>>,
    /// On the hub: the personal access tokens.
    pub tokens: Option<warden::TokenVerifier>,
}

/// Where a server's registry comes from: its own workspace (`warden
/// serve`, the hub) or a hub it follows (`warden serve --hub`, see
/// [`crate::replica`]).
pub trait Source {
    /// The environment's targets, the API keys, the policy's answers.
    fn read(&self, cfg: &ServeConfig) -> Result<Read, warden::Error>;
    /// A target's model, verified before a byte of it is parsed.
    fn load(&self, t: &ServingTarget) -> Result<ServedModel, warden::Error>;
    /// Records a load or a skip (`serve.load`, `serve.skip`).
    fn record(
        &self,
        action: &str,
        t: &ServingTarget,
        env: &str,
        details: serde_json::Value,
    ) -> Result<(), warden::Error>;
}

impl Source for Workspace {
    fn read(&self, cfg: &ServeConfig) -> Result<Read, warden::Error> {
        // The hub serves no models.
        let targets = if cfg.hub.is_some() {
            Vec::new()
        } else {
            self.serving_targets(&cfg.env)?
        };
        let keys = Keys::Local(self.apikey_verifier()?);
        let mut allowed: HashMap<Action, HashSet<String>> = HashMap::new();
        for role in self.known_roles()? {
            for action in ACTIONS {
                if self.policy_allows("warden-server", std::slice::from_ref(&role), action)? {
                    allowed.entry(action).or_default().insert(role.clone());
                }
            }
        }
        let tokens = if cfg.hub.is_some() {
            Some(self.token_verifier()?)
        } else {
            None
        };
        Ok(Read {
            targets,
            keys,
            allowed,
            tokens,
        })
    }

    fn load(&self, t: &ServingTarget) -> Result<ServedModel, warden::Error> {
        self.load_for_serving(&t.model, t.version)
    }

    fn record(
        &self,
        action: &str,
        t: &ServingTarget,
        env: &str,
        details: serde_json::Value,
    ) -> Result<(), warden::Error> {
        self.record_serving(action, t, env, details)
    }
}

/// The API keys of a snapshot and what checks a presented one.
pub enum Keys {
    /// The workspace's own records and secret.
    Local(ApiKeyVerifier),
    /// A followed hub's records; the hub checks a key the replica has not
    /// seen (see [`crate::replica::HubKeys`]).
    Hub(crate::replica::HubKeys),
}

impl Keys {
    /// The record of a valid key.
    pub fn verify(&self, presented: &str, now: &Timestamp) -> Result<&ApiKeyRecord, KeyRejection> {
        match self {
            Keys::Local(v) => v.verify(presented, now),
            Keys::Hub(h) => h.verify(presented, now),
        }
    }

    /// Rows refused because they disagree with the log (the hub leaves
    /// them out of what it sends).
    pub fn refused(&self) -> &[String] {
        match self {
            Keys::Local(v) => v.refused(),
            Keys::Hub(_) => &[],
        }
    }

    /// Every key's record, revoked ones too.
    pub fn records(&self) -> Box<dyn Iterator<Item = &ApiKeyRecord> + '_> {
        match self {
            Keys::Local(v) => Box::new(v.records()),
            Keys::Hub(h) => Box::new(h.records()),
        }
    }
}

/// Where the server's log lines go: each call is one JSON object, without
/// the newline. Called on the request path, so it must not block.
pub type EventSink = Arc<dyn Fn(String) + Send + Sync>;

/// Logs an event.
pub fn emit(log: &EventSink, v: serde_json::Value) {
    log(v.to_string())
}

/// Builds the next snapshot. `failed` remembers load failures so each is
/// logged and audited once, not on every refresh. A model already in
/// `prev` at the same version is kept rather than loaded again; one that
/// cannot be loaded, or whose version is quarantined, goes to `missing`
/// rather than failing the refresh. The error is the store's: the stage
/// pointers, API keys, roles or policy could not be read.
pub fn refresh(
    src: &dyn Source,
    cfg: &ServeConfig,
    prev: Option<&Snapshot>,
    failed: &mut HashMap<(String, u64), String>,
    metrics: &Metrics,
    limiters: &Limiters,
    log: &EventSink,
) -> Result<Snapshot, warden::Error> {
    let Read {
        targets,
        keys,
        allowed,
        tokens,
    } = src.read(cfg)?;
    let mut models = BTreeMap::new();
    let mut missing = BTreeMap::new();
    for t in &targets {
        if let Some(reason) = &t.quarantine {
            let why = format!("version {} is quarantined: {reason}", t.version);
            skip(src, cfg, t, why, failed, &mut missing, log);
            continue;
        }
        if let Some(m) = prev.and_then(|p| p.models.get(&t.model))
            && m.model.version == t.version
        {
            models.insert(t.model.clone(), m.clone());
            continue;
        }
        match src.load(t) {
            Ok(model) => {
                failed.remove(&(t.model.clone(), t.version));
                let shown_classes: Vec<String> = model
                    .predictor
                    .classes()
                    .iter()
                    .map(|c| warden::table::redact_text(c).0)
                    .collect();
                emit(
                    log,
                    json!({
                        "event": "model.loaded",
                        "model": t.model,
                        "version": t.version,
                        "digest": model.digest,
                        "verified_by": model.verified_by,
                    }),
                );
                if let Err(e) = src.record(
                    "serve.load",
                    t,
                    &cfg.env,
                    json!({"digest": model.digest, "verified_by": model.verified_by}),
                ) {
                    emit(
                        log,
                        json!({"event": "audit.failed", "model": t.model, "error": e.to_string()}),
                    );
                }
                let version = t.version.to_string();
                let class_counters = shown_classes
                    .iter()
                    .map(|c: &String| {
                        metrics
                            .predictions
                            .get_or_create(&PredictionLabels {
                                model: t.model.clone(),
                                version: version.clone(),
                                class: c.clone(),
                            })
                            .clone()
                    })
                    .collect();
                let abstention_counter = metrics
                    .abstentions
                    .get_or_create(&ModelLabels {
                        model: t.model.clone(),
                        version,
                    })
                    .clone();
                models.insert(
                    t.model.clone(),
                    Arc::new(Loaded {
                        model,
                        shown_classes,
                        class_counters,
                        abstention_counter,
                    }),
                );
            }
            Err(e) => skip(src, cfg, t, e.to_string(), failed, &mut missing, log),
        }
    }
    // Gauges follow what is served.
    if let Some(p) = prev {
        for (name, m) in &p.models {
            if models
                .get(name)
                .is_none_or(|n| n.model.version != m.model.version)
            {
                metrics.loaded.remove(&ModelLabels {
                    model: name.clone(),
                    version: m.model.version.to_string(),
                });
                emit(
                    log,
                    json!({"event": "model.unloaded", "model": name, "version": m.model.version}),
                );
            }
        }
    }
    for (name, m) in &models {
        metrics
            .loaded
            .get_or_create(&ModelLabels {
                model: name.clone(),
                version: m.model.version.to_string(),
            })
            .set(1);
    }
    // Key rows that disagree with the audit log match no request; say so
    // once per refresh in which they are seen.
    for refused in keys.refused() {
        emit(
            log,
            json!({"event": "apikey.refused", "reason": "disagrees with the audit log", "detail": refused}),
        );
    }
    // A revoked key fails verification before its caller is looked up.
    let callers = keys
        .records()
        .filter(|r| r.revoked_at.is_none())
        .map(|r| (r.id.clone(), KeyCaller::new(cfg, limiters, r)))
        .collect();
    if let Some(t) = &tokens {
        for refused in t.refused() {
            emit(
                log,
                json!({"event": "token.refused", "reason": "disagrees with the audit log", "detail": refused}),
            );
        }
    }
    Ok(Snapshot {
        models,
        missing,
        keys,
        callers,
        allowed,
        tokens,
    })
}

fn skip(
    src: &dyn Source,
    cfg: &ServeConfig,
    t: &ServingTarget,
    why: String,
    failed: &mut HashMap<(String, u64), String>,
    missing: &mut BTreeMap<String, String>,
    log: &EventSink,
) {
    let key = (t.model.clone(), t.version);
    if failed.get(&key) != Some(&why) {
        emit(
            log,
            json!({
                "event": "model.skipped",
                "model": t.model,
                "version": t.version,
                "reason": why,
            }),
        );
        if let Err(e) = src.record("serve.skip", t, &cfg.env, json!({"reason": why})) {
            emit(
                log,
                json!({"event": "audit.failed", "model": t.model, "error": e.to_string()}),
            );
        }
        failed.insert(key, why.clone());
    }
    missing.insert(t.model.clone(), format!("{}@{}: {why}", t.model, t.version));
}
