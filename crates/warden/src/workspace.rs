//! Creating, finding and opening a workspace, and the operation spine
//! (authorise, record, checkpoint) that every operation shares.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use warden_artifact::keys::{Algorithm, SigningKey};
use warden_artifact::note::{Checkpoint, NoteSigner, NoteVerifier};
use warden_core::{Action, ActorName, KeyName, RoleName, Timestamp, actions};
use warden_policy::Authorizer;
use warden_store::{
    BlobStore, ChangeListener, FsBlobStore, KeyRecord, MetadataStore, PgLocation, PgStore, ReadTx,
    RoleGrant, S3BlobStore, SqliteStore, StoredCheckpoint, WriteTx,
};
use zeroize::Zeroizing;

use crate::Error;
use crate::config::{Config, DEFAULT_CONFIG};
use crate::events;
use crate::keys::KeyPurpose;
use crate::ledger::{self, LogState};

/// The directory holding a workspace's state, beside `warden.toml`.
pub const WORKSPACE_DIR: &str = ".warden";
/// The workspace configuration file.
pub const CONFIG_FILE: &str = "warden.toml";
/// The key that signs audit log checkpoints.
pub(crate) const LOG_KEY: &str = "log";
/// The secret that keys PII pseudonyms, in `.warden/keys/`.
pub(crate) const PSEUDONYM_SECRET: &str = "pseudonym.key";
pub(crate) const DB_FILE: &str = "warden.db";
/// What `init` writes to a new `.gitignore`.
const GITIGNORE: &str = "\
# Warden workspace state that must not be committed: private keys, the
# metadata database and the blob store. warden.toml, .warden/log/vkey and
# .warden/log/checkpoint are meant to be shared.
.warden/keys/
.warden/warden.db
.warden/warden.db-*
.warden/blobs/
";

/// Options for opening or creating a workspace.
#[derive(Default, Clone)]
pub struct OpenOptions {
    /// Passphrase for encrypted private keys (`WARDEN_KEY_PASSPHRASE`).
    pub passphrase: Option<Zeroizing<String>>,
    /// The user's own directory (personal approval keys, remembered
    /// checkpoints); default [`crate::user_dir`].
    pub user_dir: Option<PathBuf>,
    /// At `init`: keep the metadata in this PostgreSQL database (a
    /// connection string without a password, which `warden.toml` records)
    /// instead of `.warden/warden.db`.
    pub store_url: Option<String>,
    /// At `init`: keep the blobs in this S3-compatible bucket (`[blobs]`
    /// `url`, `endpoint`, `region`, which `warden.toml` records) instead of
    /// `.warden/blobs/`.
    pub blobs: Option<crate::config::BlobsConfig>,
}

/// `WARDEN_STORE_URL`: a PostgreSQL connection string (password allowed)
/// that replaces `[store] url`, for deployments that keep it in a secret.
pub const STORE_URL_ENV: &str = "WARDEN_STORE_URL";

/// Where a workspace's metadata is: `WARDEN_STORE_URL` (when `use_env`),
/// else `[store] url`, with the password from `PGPASSWORD` if the URL has
/// none; `None` for the workspace's own SQLite file.
pub(crate) fn store_location(
    configured: Option<&str>,
    use_env: bool,
) -> Result<Option<PgLocation>, Error> {
    let from_env = std::env::var(STORE_URL_ENV)
        .ok()
        .filter(|u| use_env && !u.is_empty());
    let Some(url) = from_env.as_deref().or(configured) else {
        return Ok(None);
    };
    let mut loc = PgLocation::parse(url)?;
    if !loc.has_password()
        && let Ok(pw) = std::env::var("PGPASSWORD")
    {
        loc.set_password(&pw);
    }
    Ok(Some(loc))
}

/// Where the metadata is kept.
enum Store {
    /// `.warden/warden.db`.
    Sqlite(SqliteStore),
    /// `[store] url` or `WARDEN_STORE_URL`.
    Postgres(Box<PgStore>),
}

/// Where the blobs are kept.
enum Blobs {
    /// `.warden/blobs/`.
    Fs(FsBlobStore),
    /// `[blobs] url`.
    S3(Box<S3BlobStore>),
}

/// Opens the blob store `config` names (the workspace's own directory by
/// default); S3 writes stream through `.warden/tmp/`.
fn open_blobs(config: &Config, state: &Path) -> Result<Blobs, Error> {
    match config.blobs.s3()? {
        Some(loc) => Ok(Blobs::S3(Box::new(S3BlobStore::open(
            &loc,
            state.join("tmp"),
        )?))),
        None => Ok(Blobs::Fs(FsBlobStore::open(state.join("blobs"))?)),
    }
}

/// A private scratch directory for one upload to the workspace at `root`
/// (the hub stages an uploaded model's files here before importing them):
/// under `.warden/tmp/`, on the same file system as the store, readable by
/// the workspace's owner only, and removed with everything in it when the
/// returned handle is dropped.
pub fn upload_scratch(root: &Path) -> Result<tempfile::TempDir, Error> {
    let tmp = root.join(WORKSPACE_DIR).join("tmp");
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    tempfile::Builder::new()
        .prefix("upload-")
        .tempdir_in(&tmp)
        .map_err(|e| Error::io(&tmp, e))
}

/// An opened workspace, acting as one actor.
pub struct Workspace {
    root: PathBuf,
    config: Config,
    store: Store,
    blobs: Blobs,
    authz: Mutex<Authorizer>,
    actor: ActorName,
    /// Roles asserted by a credential (API key, token) instead of the
    /// actor's grants in the store.
    roles_override: Option<Vec<warden_core::RoleName>>,
    /// Groups an authenticated principal belongs to (hub identities): the
    /// roles granted to each group count as the principal's own.
    groups: Vec<ActorName>,
    /// The most a credential lets the principal use (a personal access
    /// token's scope): its roles are intersected with this.
    role_cap: Option<Vec<warden_core::RoleName>>,
    /// The role grants the log's events imply, as of the event seq beside
    /// them: each decision replays only the grant events after it, so a
    /// long-lived workspace (a server's) decides in time independent of
    /// the log's length. Every event applied was checked when it was read.
    grants: Mutex<Option<(i64, LogState)>>,
    /// The whole registry state the log's state-changing events imply, kept
    /// the same way for decisions (gates, promotions, serving refreshes):
    /// each brings it up to date with the events after its seq. Rows read
    /// once are not read again: a later rewrite of one does not change what
    /// this workspace decides on, and is caught by a full `audit verify` and
    /// by any process that reads the log afresh (its fold of the leaf
    /// hashes no longer gives the signed roots).
    state: Mutex<Option<(i64, std::sync::Arc<LogState>)>>,
    /// The log's tree folded, by a decision whose check of the log passed,
    /// up to the newest signed checkpoint it saw: the next decision folds
    /// only the leaf hashes and compares only the checkpoint roots after
    /// it. Like `state`, what was read once is not read again; a full
    /// `audit verify` reads everything.
    pub(crate) fold: Mutex<Option<warden_store::merkle::Frontier>>,
    /// The gate last compiled, reused while its files hold the same text.
    gate: Mutex<Option<warden_policy::Gate>>,
    passphrase: Option<Zeroizing<String>>,
    user_dir: Option<PathBuf>,
}

impl Workspace {
    /// Creates a workspace in `dir` (created if missing). The actor becomes
    /// its first `admin`. Never overwrites an existing workspace.
    pub fn init(dir: &Path, actor: ActorName, opts: &OpenOptions) -> Result<Self, Error> {
        let config_path = dir.join(CONFIG_FILE);
        let state = dir.join(WORKSPACE_DIR);
        if config_path.exists() || state.exists() {
            return Err(Error::WorkspaceExists {
                path: dir.to_path_buf(),
            });
        }
        // The database first: a server that cannot be reached, or that
        // already holds a store, leaves no half-made workspace behind.
        let pg = match &opts.store_url {
            Some(url) => {
                if PgLocation::parse(url)?.has_password() {
                    return Err(Error::Invalid(
                        "the store URL holds a password, which warden.toml would keep; remove it and set PGPASSWORD (or WARDEN_STORE_URL) instead".into(),
                    ));
                }
                let loc = store_location(Some(url), false)?
                    .ok_or_else(|| Error::Invalid("no store URL".into()))?;
                Some(PgStore::create(&loc)?)
            }
            None => None,
        };
        // The bucket too: it must take a write (the empty blob, which any
        // store may hold) before anything is made here.
        if let Some(b) = &opts.blobs {
            let loc = b
                .s3()?
                .ok_or_else(|| Error::Invalid("--blobs needs an s3:// URL".into()))?;
            let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
            let probe = S3BlobStore::open(&loc, scratch.path().join("tmp"))?;
            probe.put(&mut &b""[..]).map_err(|e| {
                Error::Invalid(format!(
                    "{loc}: the bucket does not take a write ({e}); check the bucket, the endpoint and the credentials (the environment's AWS_* variables or ~/.aws/credentials)"
                ))
            })?;
        }
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        fs::create_dir(&state).map_err(|e| Error::io(&state, e))?;
        let keys_dir = state.join("keys");
        create_private_dir(&keys_dir)?;
        let log_dir = state.join("log");
        fs::create_dir(&log_dir).map_err(|e| Error::io(&log_dir, e))?;
        let mut config_text = DEFAULT_CONFIG.to_string();
        if let Some(url) = &opts.store_url {
            config_text =
                crate::operate::migrate::with_table_lines(&config_text, "[store]", &[("url", url)]);
        }
        if let Some(b) = &opts.blobs {
            let lines: Vec<(&str, &str)> = [
                ("url", b.url.as_deref()),
                ("endpoint", b.endpoint.as_deref()),
                ("region", b.region.as_deref()),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
            config_text =
                crate::operate::migrate::with_table_lines(&config_text, "[blobs]", &lines);
        }
        write_new(&config_path, config_text.as_bytes())?;
        // A workspace is often a git repository too: its private state
        // (keys, the database, the blobs) stays out of commits unless someone
        // decides otherwise. An existing .gitignore is left as it is.
        let gitignore = dir.join(".gitignore");
        if !gitignore.exists() {
            write_new(&gitignore, GITIGNORE.as_bytes())?;
        }

        let store = match pg {
            Some(pg) => Store::Postgres(Box::new(pg)),
            None => Store::Sqlite(SqliteStore::create(&state.join(DB_FILE))?),
        };
        let config = Config::load(&config_path)?;
        let blobs = open_blobs(&config, &state)?;
        let ws = Workspace {
            root: dir.to_path_buf(),
            config,
            store,
            blobs,
            authz: Mutex::new(Authorizer::bundled()?),
            actor,
            roles_override: None,
            groups: Vec::new(),
            role_cap: None,
            grants: Mutex::new(None),
            state: Mutex::new(None),
            fold: Mutex::new(None),
            gate: Mutex::new(None),
            passphrase: opts.passphrase.clone(),
            user_dir: opts.user_dir.clone(),
        };

        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
        let origin = format!("warden.local/{}", hex::encode(id));
        let log_key = SigningKey::generate(Algorithm::Ed25519)?;
        let log_key_path = ws.private_key_path(&KeyName::new(LOG_KEY)?);
        log_key.write_file(&log_key_path, ws.passphrase_bytes())?;
        let SigningKey::Ed25519(ed) = &log_key else {
            return Err(Error::Invalid("log key must be Ed25519".into()));
        };
        let vkey = NoteSigner::new(&origin, ed)?.verifier().vkey();
        write_new(&log_dir.join("vkey"), format!("{vkey}\n").as_bytes())?;
        let mut secret = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut())
            .map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
        write_new_secret(
            &keys_dir.join(PSEUDONYM_SECRET),
            hex::encode(secret.as_ref()).as_bytes(),
        )?;

        let now = Timestamp::now();
        let mut tx = ws.store().write()?;
        tx.set_meta("workspace_id", &hex::encode(id))?;
        tx.set_meta("log_origin", &origin)?;
        tx.set_meta("log_vkey", &vkey)?;
        tx.set_meta("created_at", now.as_str())?;
        events::append(
            &mut *tx,
            &ws.actor,
            actions::WORKSPACE_INIT,
            "workspace",
            &events::WorkspaceCreated {
                workspace_id: hex::encode(id),
                log_origin: origin.clone(),
                log_vkey: vkey.clone(),
                pseudonym_secret: format!(".warden/keys/{PSEUDONYM_SECRET}"),
            },
        )?;
        let record = KeyRecord {
            name: KeyName::new(LOG_KEY)?,
            origin: "own".into(),
            algorithm: Algorithm::Ed25519.as_str().into(),
            key_id: log_key.public_key().key_id()?,
            public_pem: log_key.public_key().to_pem()?,
            added_by: ws.actor.clone(),
            added_at: now.clone(),
            revoked_at: None,
            revoked_by: None,
            owner: Some(ws.actor.clone()),
            purpose: Some(KeyPurpose::Log.as_str().into()),
            acknowledged_by: None,
            acknowledged_at: None,
        };
        tx.insert_key(&record)?;
        events::append(
            &mut *tx,
            &ws.actor,
            actions::KEYS_GENERATE,
            &format!("key:{LOG_KEY}"),
            &events::KeyChange {
                name: LOG_KEY.into(),
                key_id: record.key_id.clone(),
                algorithm: Some(record.algorithm.clone()),
                owner: Some(ws.actor.to_string()),
                purpose: Some(KeyPurpose::Log.as_str().into()),
                encrypted: None,
                source: None,
            },
        )?;
        let grant = RoleGrant {
            actor: ws.actor.clone(),
            role: RoleName::new("admin")?,
            granted_by: ws.actor.clone(),
            time: now,
        };
        tx.grant_role(&grant)?;
        events::append(
            &mut *tx,
            &ws.actor,
            actions::ROLES_GRANT,
            &format!("actor:{}", ws.actor),
            &events::RoleChange {
                actor: ws.actor.to_string(),
                role: "admin".into(),
                reason: Some("workspace creator".into()),
            },
        )?;
        ws.commit(tx)?;
        Ok(ws)
    }

    /// Finds the workspace containing `start` (walking up, like git) and
    /// opens it as `actor`.
    pub fn discover(start: &Path, actor: ActorName, opts: &OpenOptions) -> Result<Self, Error> {
        let start = if start.is_absolute() {
            start.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io(start, e))?
                .join(start)
        };
        // Without this, discovery from "." would print every path under the
        // root as `/work/ws/./.warden/...`.
        let start: PathBuf = start.components().collect();
        let mut dir = Some(start.as_path());
        while let Some(d) = dir {
            if d.join(CONFIG_FILE).is_file() && d.join(WORKSPACE_DIR).is_dir() {
                return Self::open(d, actor, opts);
            }
            dir = d.parent();
        }
        Err(Error::NoWorkspace { start })
    }

    /// Opens the workspace rooted exactly at `root`.
    pub fn open(root: &Path, actor: ActorName, opts: &OpenOptions) -> Result<Self, Error> {
        let config_path = root.join(CONFIG_FILE);
        let state = root.join(WORKSPACE_DIR);
        if !config_path.is_file() || !state.is_dir() {
            return Err(Error::NoWorkspace {
                start: root.to_path_buf(),
            });
        }
        let config = Config::load(&config_path)?;
        // A replica assembled from its settings and keys (a pod of the
        // scale-out manifests) has no log directory yet; the signed
        // checkpoint is written there after each change.
        let log_dir = state.join("log");
        if !log_dir.is_dir() {
            fs::create_dir_all(&log_dir).map_err(|e| Error::io(&log_dir, e))?;
        }
        let authz = match &config.policy.authz {
            Some(p) => Authorizer::from_file(p)?,
            None => Authorizer::bundled()?,
        };
        let store = match store_location(config.store.url.as_deref(), true)? {
            Some(loc) => Store::Postgres(Box::new(PgStore::open(&loc)?)),
            None => Store::Sqlite(SqliteStore::open(&state.join(DB_FILE))?),
        };
        let blobs = open_blobs(&config, &state)?;
        Ok(Workspace {
            root: root.to_path_buf(),
            config,
            store,
            blobs,
            authz: Mutex::new(authz),
            actor,
            roles_override: None,
            groups: Vec::new(),
            role_cap: None,
            grants: Mutex::new(None),
            state: Mutex::new(None),
            fold: Mutex::new(None),
            gate: Mutex::new(None),
            passphrase: opts.passphrase.clone(),
            user_dir: opts.user_dir.clone(),
        })
    }

    /// The directory holding `warden.toml`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The acting actor.
    pub fn actor(&self) -> &ActorName {
        &self.actor
    }

    /// The parsed `warden.toml`, its relative paths resolved.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn store(&self) -> &dyn MetadataStore {
        match &self.store {
            Store::Sqlite(s) => s,
            Store::Postgres(s) => s.as_ref(),
        }
    }

    /// Hears of writes any process commits to this workspace's store, where
    /// the store can say (PostgreSQL: `LISTEN`); `None` where readers must
    /// poll (SQLite). The servers refresh on it instead of waiting for
    /// their next reload.
    pub fn listen_for_changes(&self) -> Result<Option<Box<dyn ChangeListener>>, Error> {
        Ok(self.store().listen()?)
    }

    /// The workspace's own SQLite store, unless its metadata is elsewhere.
    pub(crate) fn sqlite_store(&self) -> Option<&SqliteStore> {
        match &self.store {
            Store::Sqlite(s) => Some(s),
            Store::Postgres(_) => None,
        }
    }

    /// Options that open this workspace again as it is opened now.
    pub(crate) fn reopen_options(&self) -> OpenOptions {
        OpenOptions {
            passphrase: self.passphrase.clone(),
            user_dir: self.user_dir.clone(),
            store_url: None,
            blobs: None,
        }
    }

    pub(crate) fn blobs(&self) -> &dyn BlobStore {
        match &self.blobs {
            Blobs::Fs(b) => b,
            Blobs::S3(b) => b.as_ref(),
        }
    }

    /// The workspace's own blob directory, unless the blobs are elsewhere.
    pub(crate) fn fs_blobs(&self) -> Option<&FsBlobStore> {
        match &self.blobs {
            Blobs::Fs(b) => Some(b),
            Blobs::S3(_) => None,
        }
    }

    pub(crate) fn state_dir(&self) -> PathBuf {
        self.root.join(WORKSPACE_DIR)
    }

    pub(crate) fn private_key_path(&self, name: &KeyName) -> PathBuf {
        self.state_dir().join("keys").join(format!("{name}.pem"))
    }

    /// The acting user's own directory, outside the workspace.
    pub(crate) fn user_dir(&self) -> Option<PathBuf> {
        self.user_dir.clone().or_else(crate::userdir::user_dir)
    }

    /// Where the acting user keeps their private key `name` for this
    /// workspace: in their own directory, never in the shared workspace.
    pub(crate) fn personal_key_path(&self, name: &KeyName) -> Result<PathBuf, Error> {
        let dir = self.user_dir().ok_or_else(|| {
            Error::Usage(
                "no user directory for personal keys: set WARDEN_CONFIG_DIR or HOME".into(),
            )
        })?;
        let id = self
            .store()
            .read()?
            .meta("workspace_id")?
            .ok_or_else(|| Error::Verification("the workspace has no id".into()))?;
        Ok(dir.join("keys").join(id).join(format!("{name}.pem")))
    }

    pub(crate) fn passphrase_bytes(&self) -> Option<&[u8]> {
        self.passphrase.as_ref().map(|p| p.as_bytes())
    }

    /// Asks the authorisation policy whether the actor may perform `action`
    /// on `subject`. A denial is recorded in the audit log (it changes no
    /// state, but an auditor needs to see refused attempts) and returned as
    /// [`Error::Denied`].
    pub(crate) fn authorize(&self, action: Action, subject: &str) -> Result<(), Error> {
        self.authorize_with(action, subject, &serde_json::Map::new())
    }

    /// [`Workspace::authorize`] with more facts in the policy's input (e.g.
    /// `requested_role` when handing out a role); a denial records them.
    pub(crate) fn authorize_with(
        &self,
        action: Action,
        subject: &str,
        facts: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<(), Error> {
        let roles = match &self.roles_override {
            Some(r) => r.clone(),
            None => self.granted_roles(action)?,
        };
        // Only the registered authorisation policy decides; while the one
        // on disk is not registered, the bundled policy decides whether it
        // may be registered (and shown), and everything else is refused.
        let decision = if self.authz_in_force()? {
            let mut authz = self.authz.lock().unwrap_or_else(|p| p.into_inner());
            authz.decide_with(&self.actor, &roles, action, facts)?
        } else if matches!(action, Action::PolicyRegister | Action::PolicyStatus) {
            Authorizer::bundled()?.decide_with(&self.actor, &roles, action, facts)?
        } else {
            let digest = self.authz_lock().digest().to_string();
            return Err(self
                .check_pinned(crate::pinning::AUTHZ_SCOPE, &digest)
                .err()
                .unwrap_or_else(|| {
                    Error::Verification("the authorisation policy is not registered".into())
                }));
        };
        if decision.allowed {
            return Ok(());
        }
        let mut tx = self.store().write()?;
        events::append(
            &mut *tx,
            &self.actor,
            actions::AUTHZ_DENIED,
            subject,
            &events::Denied {
                action: action.as_str().to_string(),
                roles: roles.iter().map(ToString::to_string).collect(),
                allowing_roles: decision.allowing_roles.clone(),
                facts: (!facts.is_empty()).then(|| facts.clone()),
            },
        )?;
        // A refusal changes no state: when the log cannot be signed (no
        // passphrase for the log key) the refusal itself is still what the
        // caller must see, and the unsigned event is rolled back with it.
        let _ = self.commit(tx);
        Err(Error::Denied {
            actor: self.actor.to_string(),
            action: action.to_string(),
            allowing_roles: decision.allowing_roles,
        })
    }

    /// Records that a registry row used in a decision disagrees with the
    /// log (an `integrity.disagreement` event, so the refusal is seen by
    /// whoever reads the log) and returns the refusal. The event changes no
    /// registry state; if the log cannot be signed, the refusal still
    /// stands.
    pub(crate) fn refuse_disagreement(&self, d: ledger::Disagreement) -> Error {
        self.refuse_disagreement_on(d, None)
    }

    /// [`Workspace::refuse_disagreement`] for a row about the model version
    /// `model`: an `integrity` incident is opened on it in the same
    /// transaction, which freezes training and promotion until a person
    /// closes it (`warden incident close`). The version is not quarantined:
    /// the forged row, not the model, is what is known to be wrong.
    pub(crate) fn refuse_disagreement_on(
        &self,
        d: ledger::Disagreement,
        model: Option<(&warden_core::ObjectName, u64)>,
    ) -> Error {
        let recorded = (|| -> Result<(), Error> {
            let mut tx = self.store().write()?;
            events::append(
                &mut *tx,
                &self.actor,
                actions::INTEGRITY_DISAGREEMENT,
                &d.row,
                &events::Disagreed {
                    row: d.row.clone(),
                    detail: d.detail.clone(),
                },
            )?;
            if let Some((name, version)) = model
                && !tx
                    .incidents()?
                    .iter()
                    .any(|i| i.closed_at.is_none() && i.kind == "integrity")
            {
                let now = Timestamp::now();
                let summary = format!("{} disagrees with the audit log: {}", d.row, d.detail);
                let report = crate::incident::IncidentReport {
                    format: "warden.incident/v1".into(),
                    model: crate::incident::IncidentModel {
                        reference: format!("{name}@{version}"),
                        digest: None,
                    },
                    kind: "integrity".into(),
                    summary: summary.clone(),
                    opened_by: self.actor.clone(),
                    opened_at: now.clone(),
                    lineage: crate::incident::IncidentLineage::default(),
                    models_on_the_same_datasets: Vec::new(),
                    removed_from: Vec::new(),
                    runbook: crate::incident::INTEGRITY_RUNBOOK
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                    raised_by: Some("the check of registry rows against the audit log".into()),
                };
                let mut md = format!(
                    "# Incident: integrity on {name}@{version}\n\n{summary}\n\nRaised at {now} when {} ran a command that read the row. Training and promotion are frozen until the incident is closed.\n\n## Runbook\n\n",
                    self.actor
                );
                for (i, step) in crate::incident::INTEGRITY_RUNBOOK.iter().enumerate() {
                    md += &format!("{}. {step}\n", i + 1);
                }
                let report_bytes = warden_core::canonical_json(&report)?;
                let (report_digest, _) = self.blobs().put(&mut report_bytes.as_slice())?;
                let (md_digest, _) = self.blobs().put(&mut md.as_bytes())?;
                let incident = warden_store::IncidentRecord {
                    id: 0,
                    model: name.clone(),
                    version,
                    kind: "integrity".into(),
                    summary: summary.clone(),
                    report_digest: report_digest.to_string(),
                    markdown_digest: md_digest.to_string(),
                    opened_by: self.actor.clone(),
                    opened_at: now,
                    closed_by: None,
                    closed_at: None,
                    resolution: None,
                };
                let id = tx.save_incident(&incident)?;
                events::append(
                    &mut *tx,
                    &self.actor,
                    "incident.open",
                    &format!("incident:{id}"),
                    &events::IncidentOpened {
                        incident: id,
                        model: format!("{name}@{version}"),
                        kind: "integrity".into(),
                        summary: Some(summary.clone()),
                        report: Some(report_digest.to_string()),
                    },
                )?;
            }
            self.commit(tx)
        })();
        // The refusal stands whether or not it could be recorded.
        let _ = recorded;
        d.into()
    }

    /// Acts with the roles a credential carries (an API key's role, a
    /// token's roles claim) instead of the actor's role grants: for callers
    /// the server authenticated, who are not workspace actors. Every
    /// operation is still decided by the authorisation policy and audited
    /// under the actor's name.
    pub fn with_roles(mut self, roles: &[String]) -> Self {
        self.roles_override = Some(
            roles
                .iter()
                .filter_map(|r| warden_core::RoleName::new(r).ok())
                .collect(),
        );
        self
    }

    /// The same opened workspace acting as `actor`, with no credential's
    /// roles, groups or cap carried over from whoever acted before (for a
    /// server that keeps opened workspaces between requests).
    pub fn acting_as(mut self, actor: ActorName) -> Self {
        self.actor = actor;
        self.roles_override = None;
        self.groups = Vec::new();
        self.role_cap = None;
        self
    }

    /// Acts as an authenticated principal who belongs to `groups` (group
    /// principals, named `group.NAME`): the roles granted to each group in
    /// the store count as the principal's own, so who may do what is still
    /// changed only by audited grants. For the hub, whose identities come
    /// from verified tokens.
    pub fn with_groups(mut self, groups: Vec<ActorName>) -> Self {
        self.groups = groups;
        self
    }

    /// The roles the acting principal holds now: its credential's, or the
    /// grants to it and its groups.
    pub fn effective_roles(&self) -> Result<Vec<warden_core::RoleName>, Error> {
        match &self.roles_override {
            Some(r) => Ok(r.clone()),
            None => self.granted_roles(Action::RolesList),
        }
    }

    /// Caps the principal's roles at `cap` (a personal access token's
    /// scope): a role counts only if it is both granted and in the cap, so
    /// a token never outlives a revoked grant.
    pub fn with_role_cap(mut self, cap: Vec<warden_core::RoleName>) -> Self {
        self.role_cap = Some(cap);
        self
    }

    /// The groups the acting principal belongs to.
    pub fn groups(&self) -> &[ActorName] {
        &self.groups
    }

    /// The roles granted in the store to the actor and to each of its
    /// groups, each set checked against the grants the log's events made.
    pub(crate) fn granted_roles(
        &self,
        action: Action,
    ) -> Result<Vec<warden_core::RoleName>, Error> {
        let mut tx = self.store().read()?;
        let mut per_holder = Vec::with_capacity(1 + self.groups.len());
        for holder in std::iter::once(&self.actor).chain(self.groups.iter()) {
            per_holder.push((holder, tx.roles_of(holder)?));
        }
        // The grants a decision reads must be the ones the log made: the
        // state replayed so far, brought up to date with the newer events.
        let grant_actions = [actions::ROLES_GRANT, actions::ROLES_REVOKE];
        let mut cache = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        let replayed = match cache.take() {
            Some((after, mut st)) => st
                .replay_more(tx.as_mut(), &grant_actions, after)
                .map(|last| (last, st)),
            None => LogState::default().replay_more_from_start(tx.as_mut(), &grant_actions),
        };
        drop(tx);
        match replayed {
            Ok((last, st)) => {
                let mut disagreement = None;
                for (holder, roles) in &per_holder {
                    let names: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
                    if let Some(d) = ledger::grants_disagreement(&st, holder.as_str(), &names) {
                        disagreement = Some(d);
                        break;
                    }
                }
                *cache = Some((last, st));
                drop(cache);
                if let Some(d) = disagreement {
                    return Err(self.refuse_disagreement(d));
                }
            }
            // A damaged event row stops every decision, except reading and
            // verifying the log: that is how the damage is found.
            Err(e) if !action.as_str().starts_with("audit.") => return Err(e),
            Err(_) => {}
        }
        let mut roles: Vec<warden_core::RoleName> =
            per_holder.into_iter().flat_map(|(_, r)| r).collect();
        if let Some(cap) = &self.role_cap {
            roles.retain(|r| cap.contains(r));
        }
        roles.sort();
        roles.dedup();
        Ok(roles)
    }

    /// The registry state the log implies, brought up to date with the
    /// state-changing events after the last call's (each new row checked
    /// against its leaf hash, columns and payload digest as it is applied).
    /// The state is shared, not copied: a caller's handle stays as it was
    /// read while later calls move the cache on (copying only if a caller
    /// still holds the previous one).
    pub(crate) fn log_state(
        &self,
        tx: &mut (dyn ReadTx + '_),
    ) -> Result<std::sync::Arc<LogState>, Error> {
        let mut cache = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (last, st) = match cache.take() {
            Some((after, mut st)) => {
                // Copied only when there is something to apply and a caller
                // still holds the state as it was.
                let newer = tx.events_with_actions_after(ledger::STATE_ACTIONS, after)?;
                let mut last = after;
                if !newer.is_empty() {
                    let st = std::sync::Arc::make_mut(&mut st);
                    for e in &newer {
                        st.apply_checked(e)?;
                        last = e.seq;
                    }
                }
                (last, st)
            }
            None => {
                let (last, st) =
                    LogState::default().replay_more_from_start(tx, ledger::STATE_ACTIONS)?;
                (last, std::sync::Arc::new(st))
            }
        };
        let out = st.clone();
        *cache = Some((last, st));
        Ok(out)
    }

    /// The gate compiled from the configured files, reused while they hold
    /// the same text.
    pub(crate) fn gate_cached(
        &self,
        policies: &[PathBuf],
        data: Option<&Path>,
    ) -> Result<warden_policy::Gate, Error> {
        let mut cache = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        Ok(warden_policy::Gate::from_files_reusing(
            policies, data, &mut cache,
        )?)
    }

    /// Whether the loaded authorisation policy is the registered one (the
    /// bundled policy is, until another is registered).
    pub(crate) fn authz_in_force(&self) -> Result<bool, Error> {
        let custom = self.config.policy.authz.is_some();
        if !custom && !self.authz_registered_elsewhere()? {
            return Ok(true);
        }
        let digest = self.authz_lock().digest().to_string();
        Ok(self
            .check_pinned(crate::pinning::AUTHZ_SCOPE, &digest)
            .is_ok())
    }

    /// Where the loaded authorisation policy came from.
    pub(crate) fn authz_origin(&self) -> String {
        match &self.config.policy.authz {
            Some(p) => p.display().to_string(),
            None => "bundled:authz.rego".into(),
        }
    }

    pub(crate) fn authz_lock(&self) -> std::sync::MutexGuard<'_, Authorizer> {
        self.authz.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The roles the authorisation policy knows.
    pub fn known_roles(&self) -> Result<Vec<String>, Error> {
        let mut authz = self.authz.lock().unwrap_or_else(|p| p.into_inner());
        Ok(authz.roles()?)
    }

    /// The log's checkpoint signer verifier, from the workspace record.
    pub(crate) fn log_verifier(&self) -> Result<NoteVerifier, Error> {
        let vkey =
            self.store().read()?.meta("log_vkey")?.ok_or_else(|| {
                Error::Verification("the workspace has no log verifier key".into())
            })?;
        Ok(NoteVerifier::from_vkey(&vkey)?)
    }

    /// The published verifier key file `.warden/log/vkey`.
    pub(crate) fn published_vkey(&self) -> Result<String, Error> {
        let p = self.state_dir().join("log").join("vkey");
        Ok(fs::read_to_string(&p)
            .map_err(|e| Error::io(&p, e))?
            .trim()
            .to_string())
    }

    pub(crate) fn latest_checkpoint_path(&self) -> PathBuf {
        self.state_dir().join("log").join("checkpoint")
    }

    /// Commits `tx` with a signed checkpoint of the log inside it: the
    /// checkpoint covering the transaction's events is signed and stored
    /// before the commit, so a change whose checkpoint cannot be signed
    /// (a missing passphrase, a damaged log key) is rolled back whole and
    /// never sits in the log unsigned. The note is published to
    /// `.warden/log/checkpoint` after the commit, so the file never shows a
    /// tree the database does not hold.
    pub(crate) fn commit(&self, mut tx: Box<dyn WriteTx + '_>) -> Result<(), Error> {
        let signed = self.sign_checkpoint(tx.as_mut())?;
        tx.commit()?;
        if let Some(r) = signed {
            write_atomic(&self.latest_checkpoint_path(), r.note.as_bytes())?;
            // The user keeps the newest checkpoint they signed, outside the
            // workspace, so a later truncation is caught by their next
            // `audit verify`. Best effort: the change is committed and
            // published; a user directory that cannot be written only
            // weakens that later check.
            if let Some(dir) = self.user_dir() {
                let _ = crate::userdir::remember(&dir, &r);
            }
        }
        Ok(())
    }

    /// Signs and stores, in `tx`, a checkpoint of the log if it grew since
    /// the last one; returns the signed note.
    fn sign_checkpoint(
        &self,
        tx: &mut (dyn WriteTx + '_),
    ) -> Result<Option<crate::userdir::Remembered>, Error> {
        let frontier = tx.log_frontier()?;
        let latest = tx.latest_checkpoint()?;
        if latest.as_ref().is_some_and(|c| c.size >= frontier.size()) {
            return Ok(None);
        }
        let origin = tx
            .meta("log_origin")?
            .ok_or_else(|| Error::Verification("the workspace has no log origin".into()))?;
        let key = SigningKey::read_file(
            &self.private_key_path(&KeyName::new(LOG_KEY)?),
            self.passphrase_bytes(),
        )
        .map_err(|e| Error::LogKey(e.to_string()))?;
        let SigningKey::Ed25519(ed) = &key else {
            return Err(Error::Verification(
                "the log key is not an Ed25519 key".into(),
            ));
        };
        let body = Checkpoint {
            origin: origin.clone(),
            size: frontier.size(),
            root: frontier.root(),
            extensions: vec![],
        };
        let signer = NoteSigner::new(&origin, ed)?;
        let note = signer.sign(&body.to_text())?;
        tx.insert_checkpoint(&StoredCheckpoint {
            size: body.size,
            root_hash: hex::encode(body.root),
            note: note.clone(),
            time: Timestamp::now(),
        })?;
        Ok(Some(crate::userdir::Remembered {
            origin,
            vkey: signer.verifier().vkey(),
            size: body.size,
            note,
        }))
    }
}

/// Creates a directory only its owner may enter (0700).
fn create_private_dir(path: &Path) -> Result<(), Error> {
    fs::create_dir(path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(path, e))?;
    }
    Ok(())
}

/// Creates a file that must not exist yet.
pub(crate) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    create_file(path, bytes, None)
}

/// Creates a file that must not exist yet, readable by its owner only.
pub(crate) fn write_new_secret(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    create_file(path, bytes, Some(0o600))
}

fn create_file(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if let Some(m) = mode {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(m);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(|e| Error::io(path, e))?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

/// Replaces a file atomically (temp file in the same directory, fsync, rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_names_the_root_without_dot_components() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        Workspace::init(
            &root,
            ActorName::new("ana").unwrap(),
            &OpenOptions::default(),
        )
        .unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        for start in [root.join("."), root.join("sub/."), root.join("sub/./")] {
            let ws = Workspace::discover(
                &start,
                ActorName::new("ana").unwrap(),
                &OpenOptions::default(),
            )
            .unwrap();
            // Paths compare by components, which hide a `.`: compare the text.
            assert_eq!(
                ws.root().as_os_str(),
                root.as_os_str(),
                "from {}",
                start.display()
            );
        }
    }
}
