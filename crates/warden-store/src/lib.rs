//! Where Warden keeps things, and the proof that nobody changed them.
//!
//! Three stores, each behind a trait so that embedded and at-scale backends
//! share one code path:
//!
//! - the **metadata store** ([`MetadataStore`], [`ReadTx`], [`WriteTx`]):
//!   roles, keys, datasets, models and everything recorded about them, and
//!   the audit log. [`SqliteStore`] is the embedded default (WAL mode,
//!   embedded migrations, a schema version); [`PgStore`] keeps the same
//!   schema in PostgreSQL for several replicas. Both answer the same
//!   queries (`queries.rs`, over the `sql.rs` session). Queries go through a
//!   [`ReadTx`]; every state change and its audit event are written through
//!   one [`WriteTx`], so they commit or roll back together.
//! - the **blob store** ([`BlobStore`]): bytes addressed by their SHA-256.
//!   [`FsBlobStore`] writes atomically (temp file, fsync, rename) and
//!   re-checks the digest on every read.
//! - the **audit log**: an append-only RFC 6962 Merkle tree ([`merkle`])
//!   whose leaves are canonical audit events, kept as rows plus an
//!   O(log n) frontier so that appends never re-read history.
//!
//! ```
//! use warden_store::merkle::{leaf_hash, root_of};
//! let leaves = [leaf_hash(b""), leaf_hash(b"\x00")];
//! assert_eq!(hex::encode(root_of(&leaves)),
//!     "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod blob;
mod copy;
mod error;
pub mod merkle;
mod postgres;
mod queries;
mod records;
mod s3;
mod sql;
mod sqlite;

pub use blob::{BlobStore, FsBlobStore};
pub use copy::{CopiedTable, CopyReport, copy_sqlite_to_postgres};
pub use error::StoreError;
pub use postgres::{PgLocation, PgStore};
pub use records::{
    AccessTokenRecord, ApiKeyRecord, ApprovalRecord, DatasetRecord, EvaluationRecord, EventFilter,
    EvidenceRecord, GateDecisionRecord, IncidentRecord, KeyHoldRecord, KeyRecord, ModelRecord,
    MonitorPauseRecord, MonitorWindowRecord, PipelineRunRecord, QuarantineRecord, RoleGrant,
    ScanRecord, StagePointer, StoredCheckpoint, StoredEvent,
};
pub use s3::{
    AccessKey, MULTIPART_THRESHOLD, S3BlobStore, S3Location, parse_credentials, shared_credentials,
};
pub use sqlite::SqliteStore;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 15;

/// Migrations, applied in order; migration `i` brings the schema to version
/// `i + 1`. The same SQL runs on SQLite and PostgreSQL.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_foundation.sql"),
    include_str!("migrations/0002_datasets.sql"),
    include_str!("migrations/0003_models.sql"),
    include_str!("migrations/0004_evaluations.sql"),
    include_str!("migrations/0005_stages.sql"),
    include_str!("migrations/0006_approvals.sql"),
    include_str!("migrations/0007_cards.sql"),
    include_str!("migrations/0008_incidents.sql"),
    include_str!("migrations/0009_scans.sql"),
    include_str!("migrations/0010_api_keys.sql"),
    include_str!("migrations/0011_monitor.sql"),
    include_str!("migrations/0012_key_owners.sql"),
    include_str!("migrations/0013_access_tokens.sql"),
    include_str!("migrations/0014_pipelines.sql"),
    include_str!("migrations/0015_events_by_subject.sql"),
];

use std::ops::ControlFlow;

use warden_core::{ActorName, AuditEvent, KeyName, ObjectName, RoleName, Timestamp};

/// A metadata store: hands out transactions.
pub trait MetadataStore: Send + Sync {
    /// A read-write transaction. Writers are serialised; the transaction
    /// rolls back unless [`WriteTx::commit`] is called.
    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError>;
    /// A read-only transaction: one consistent snapshot of committed state.
    /// It has no commit; dropping it ends it.
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError>;
    /// A listener told of every committed write, by any process, when the
    /// backend can tell (PostgreSQL: `LISTEN`); `None` when it cannot and
    /// readers must poll (SQLite).
    fn listen(&self) -> Result<Option<Box<dyn ChangeListener>>, StoreError> {
        Ok(None)
    }
}

/// Hears of writes committed to a store by any process.
pub trait ChangeListener: Send {
    /// Whether a write was committed since the last call (never blocks).
    /// An error means the listener's connection is gone: open another.
    fn changed(&mut self) -> Result<bool, StoreError>;
}

/// The queries of a transaction over the metadata store. Nothing here
/// changes state.
///
/// Every method takes `&mut self` so that a backend whose client needs
/// exclusive access to run a query can implement it. A [`WriteTx`] is a
/// `ReadTx` too: `&mut dyn WriteTx` coerces to `&mut dyn ReadTx`, and its
/// queries see its own uncommitted writes.
pub trait ReadTx {
    // Workspace settings.

    /// A workspace-level setting recorded at init (workspace id, log origin).
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError>;

    // Roles.

    /// The roles `actor` holds, by name.
    fn roles_of(&mut self, actor: &ActorName) -> Result<Vec<RoleName>, StoreError>;
    /// Every role grant, by actor, then role.
    fn role_grants(&mut self) -> Result<Vec<RoleGrant>, StoreError>;
    /// How many actors hold `role`.
    fn count_role(&mut self, role: &RoleName) -> Result<u64, StoreError>;

    // Keys.

    /// A key by name (revoked or not).
    fn key(&mut self, name: &KeyName) -> Result<Option<KeyRecord>, StoreError>;
    /// Every key (revoked ones too), by name.
    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError>;

    // Datasets.

    /// A dataset version; `None` for the latest.
    fn dataset(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<DatasetRecord>, StoreError>;
    /// Every version of every dataset, by name, then version.
    fn datasets(&mut self) -> Result<Vec<DatasetRecord>, StoreError>;

    // Models and their cards.

    /// A model version; `None` for the latest.
    fn model(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<ModelRecord>, StoreError>;
    /// Every version of every model, by name, then version.
    fn models(&mut self) -> Result<Vec<ModelRecord>, StoreError>;
    /// Every version of one model, oldest first.
    fn model_versions(&mut self, name: &ObjectName) -> Result<Vec<ModelRecord>, StoreError>;
    /// Each model's name, number of versions and newest version, by name;
    /// `limit` names from the `offset`th.
    fn model_names(
        &mut self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<(ObjectName, u64, u64)>, StoreError>;
    /// How many models (names) the registry holds.
    fn model_count(&mut self) -> Result<u64, StoreError>;
    /// The attached model card of a version: (blob digest, missing sections JSON).
    fn model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<(String, String)>, StoreError>;

    // Evaluations.

    /// Evaluations of a model (of one version, or of all), oldest first.
    fn evaluations(
        &mut self,
        model: &ObjectName,
        version: Option<u64>,
    ) -> Result<Vec<EvaluationRecord>, StoreError>;

    // Scans.

    /// Recorded scans, oldest first; with a model, only that version's.
    fn scans(&mut self, model: Option<(&ObjectName, u64)>) -> Result<Vec<ScanRecord>, StoreError>;

    // Approvals.

    /// Approvals of one model version, oldest first.
    fn approvals(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;

    // Stage pointers and gate decisions.

    /// The stage pointers of a model, by environment.
    fn stages(&mut self, model: &ObjectName) -> Result<Vec<StagePointer>, StoreError>;
    /// Every gate decision about a model, oldest first.
    fn gate_decisions(&mut self, model: &ObjectName)
    -> Result<Vec<GateDecisionRecord>, StoreError>;

    // Quarantine.

    /// The quarantine record of a model version (released or not).
    fn quarantine(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<QuarantineRecord>, StoreError>;

    // Incidents.

    /// Every incident, oldest first.
    fn incidents(&mut self) -> Result<Vec<IncidentRecord>, StoreError>;

    // API keys and their holds.

    /// Every API key (revoked ones too), oldest first.
    fn api_keys(&mut self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Every block and throttle on API keys.
    fn key_holds(&mut self) -> Result<Vec<KeyHoldRecord>, StoreError>;

    // Personal access tokens.

    /// Every personal access token (revoked ones too), oldest first.
    fn access_tokens(&mut self) -> Result<Vec<AccessTokenRecord>, StoreError>;

    // Pipelines and evidence.

    /// Runs of the named pipeline (or of every pipeline), oldest first.
    fn pipeline_runs(
        &mut self,
        pipeline: Option<&str>,
    ) -> Result<Vec<PipelineRunRecord>, StoreError>;
    /// One pipeline run.
    fn pipeline_run(&mut self, id: u64) -> Result<Option<PipelineRunRecord>, StoreError>;
    /// Evidence bound to a model version (or all evidence), oldest first.
    fn evidence(
        &mut self,
        model: Option<(&ObjectName, u64)>,
    ) -> Result<Vec<EvidenceRecord>, StoreError>;

    // Monitor.

    /// A model's latest monitoring windows, newest first.
    fn monitor_windows(
        &mut self,
        model: &ObjectName,
        limit: u64,
    ) -> Result<Vec<MonitorWindowRecord>, StoreError>;
    /// The pause on a model's automated responses, if any.
    fn monitor_pause(
        &mut self,
        model: &ObjectName,
    ) -> Result<Option<MonitorPauseRecord>, StoreError>;

    // Policy pins have no rows of their own: registrations live only in
    // the log (`policy.propose`, `policy.register`) and are read with
    // `events_with_actions`.

    // Log: audit events and signed checkpoints.

    /// The log's current frontier (size and right-edge subtree roots).
    fn log_frontier(&mut self) -> Result<merkle::Frontier, StoreError>;
    /// Events matching `filter`, in log order.
    fn events(&mut self, filter: &EventFilter) -> Result<Vec<StoredEvent>, StoreError>;
    /// Every event whose action is one of `actions`, in log order, as
    /// stored (unchecked).
    fn events_with_actions(&mut self, actions: &[&str]) -> Result<Vec<StoredEvent>, StoreError>;
    /// Every event about `subject` whose action is one of `actions`, in
    /// log order, as stored (unchecked).
    fn events_about(
        &mut self,
        subject: &str,
        actions: &[&str],
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// As [`ReadTx::events_with_actions`], only the events after `seq`.
    fn events_with_actions_after(
        &mut self,
        actions: &[&str],
        seq: i64,
    ) -> Result<Vec<StoredEvent>, StoreError>;
    /// Visits every stored event row in `seq` order, as stored (unchecked).
    fn scan_events(
        &mut self,
        visit: &mut dyn FnMut(StoredEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;
    /// The stored leaf hashes of the first `size` events, in order.
    fn leaf_hashes(&mut self, size: u64) -> Result<Vec<merkle::Hash>, StoreError>;
    /// The stored leaf hashes of events `from..size`, in order (an error if
    /// one is missing or malformed, as for [`ReadTx::leaf_hashes`]).
    fn leaf_hashes_between(
        &mut self,
        from: u64,
        size: u64,
    ) -> Result<Vec<merkle::Hash>, StoreError> {
        let mut all = self.leaf_hashes(size)?;
        let from = usize::try_from(from).unwrap_or(usize::MAX).min(all.len());
        Ok(all.split_off(from))
    }
    /// Every stored checkpoint, smallest tree first.
    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// The size and root hash (lowercase hex) of every stored checkpoint,
    /// smallest tree first, without their notes.
    fn checkpoint_roots(&mut self) -> Result<Vec<(u64, String)>, StoreError>;
    /// As [`ReadTx::checkpoint_roots`], only those of trees larger than
    /// `size`.
    fn checkpoint_roots_after(&mut self, size: u64) -> Result<Vec<(u64, String)>, StoreError> {
        let mut all = self.checkpoint_roots()?;
        all.retain(|(s, _)| *s > size);
        Ok(all)
    }
    /// The checkpoint of the largest tree, if any.
    fn latest_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>, StoreError>;
}

/// A read-write transaction: the queries of [`ReadTx`] plus every state
/// change. Nothing is durable until [`WriteTx::commit`]; dropping the
/// transaction without it rolls every write back, audit events included.
///
/// A statement that fails may end the transaction (PostgreSQL aborts it at
/// the first error), so after an error drop the transaction; a backend
/// whose transaction was aborted refuses to commit it.
pub trait WriteTx: ReadTx {
    // Workspace settings.

    /// Sets (or replaces) a workspace-level setting.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;

    // Roles.

    /// Records a grant; `false` if the actor already held the role.
    fn grant_role(&mut self, grant: &RoleGrant) -> Result<bool, StoreError>;
    /// Removes a grant; `false` if the actor did not hold the role.
    fn revoke_role(&mut self, actor: &ActorName, role: &RoleName) -> Result<bool, StoreError>;

    // Keys.

    /// Records a new key; a name already recorded is an error.
    fn insert_key(&mut self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Records an admin's acknowledgement of an enrolled key; `false` if
    /// it was already acknowledged or is revoked.
    fn acknowledge_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError>;
    /// Marks a key revoked; `false` if it was already revoked.
    fn revoke_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError>;

    // Datasets.

    /// Records a new dataset version; a version already recorded is an error.
    fn insert_dataset(&mut self, dataset: &DatasetRecord) -> Result<(), StoreError>;

    // Models and their cards.

    /// Records a new model version; a version already recorded is an error.
    fn insert_model(&mut self, model: &ModelRecord) -> Result<(), StoreError>;
    /// Attaches (or replaces) the model card of a version.
    fn set_model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
        digest: &str,
        missing: &str,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<(), StoreError>;

    // Evaluations.

    /// Records an evaluation; returns its id (the record's `id` is ignored).
    fn insert_evaluation(&mut self, evaluation: &EvaluationRecord) -> Result<u64, StoreError>;

    // Scans.

    /// Records a scan; returns its id (the record's `id` is ignored).
    fn insert_scan(&mut self, scan: &ScanRecord) -> Result<u64, StoreError>;

    // Approvals.

    /// Records an approval; returns its id.
    fn insert_approval(&mut self, approval: &ApprovalRecord) -> Result<u64, StoreError>;

    // Stage pointers and gate decisions.

    /// Sets (or moves) a stage pointer.
    fn set_stage(&mut self, pointer: &StagePointer) -> Result<(), StoreError>;
    /// Removes a model's pointer for `env`; no error if there is none.
    fn remove_stage(&mut self, model: &ObjectName, env: &str) -> Result<(), StoreError>;
    /// Records a gate decision; returns its id.
    fn insert_gate_decision(&mut self, decision: &GateDecisionRecord) -> Result<u64, StoreError>;

    // Quarantine.

    /// Records (or replaces) the quarantine record of a model version,
    /// its release included.
    fn set_quarantine(&mut self, q: &QuarantineRecord) -> Result<(), StoreError>;

    // Incidents.

    /// Inserts an incident (`id` 0: a new one, whose id is returned) or
    /// records its closing.
    fn save_incident(&mut self, incident: &IncidentRecord) -> Result<u64, StoreError>;

    // API keys and their holds.

    /// Inserts an API key, or records its revocation.
    fn save_api_key(&mut self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    /// Places (or replaces) a hold on a key.
    fn save_key_hold(&mut self, hold: &KeyHoldRecord) -> Result<(), StoreError>;
    /// Lifts a key's hold; whether there was one.
    fn delete_key_hold(&mut self, key_id: &str) -> Result<bool, StoreError>;

    // Personal access tokens.

    /// Inserts a personal access token, or records its revocation.
    fn save_access_token(&mut self, token: &AccessTokenRecord) -> Result<(), StoreError>;
    /// Records that a token opened a call at `at` (telemetry, not audited).
    fn touch_access_token(&mut self, id: &str, at: &Timestamp) -> Result<(), StoreError>;

    // Pipelines and evidence.

    /// Records a pipeline run; returns its id (the record's is ignored).
    fn insert_pipeline_run(&mut self, run: &PipelineRunRecord) -> Result<u64, StoreError>;
    /// Records evidence; returns its id (the record's is ignored).
    fn insert_evidence(&mut self, evidence: &EvidenceRecord) -> Result<u64, StoreError>;

    // Monitor.

    /// Records a monitoring window; returns its id (the record's is ignored).
    fn insert_monitor_window(&mut self, w: &MonitorWindowRecord) -> Result<u64, StoreError>;
    /// Pauses a model's automated responses.
    fn save_monitor_pause(&mut self, pause: &MonitorPauseRecord) -> Result<(), StoreError>;
    /// Resumes them; whether they were paused.
    fn delete_monitor_pause(&mut self, model: &ObjectName) -> Result<bool, StoreError>;

    // Policy pins: nothing to write but their events (`append_event`).

    // Log: audit events and signed checkpoints.

    /// Appends one audit event in this transaction and returns it.
    fn append_event(
        &mut self,
        actor: &ActorName,
        action: &str,
        subject: &str,
        payload: &serde_json::Value,
    ) -> Result<AuditEvent, StoreError>;
    /// Stores a signed checkpoint; one for the same tree size is an error.
    fn insert_checkpoint(&mut self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;

    // The end of the transaction.

    /// Makes every write of this transaction durable, atomically.
    fn commit(self: Box<Self>) -> Result<(), StoreError>;
}

pub mod testing {
    //! A throwaway PostgreSQL server for tests (`scripts/postgres-temp.sh`):
    //! started on 127.0.0.1 on a free port, stopped and removed on drop.

    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A running test server.
    pub struct TestPostgres {
        dir: PathBuf,
        url: String,
    }

    /// Why no test server could be had.
    #[derive(Debug)]
    pub enum TestPostgresError {
        /// `WARDEN_SKIP_POSTGRES=1`: the caller asked to skip.
        Skipped,
        /// The script failed; its output.
        Failed(String),
    }

    impl TestPostgres {
        /// Starts a server, unless `WARDEN_SKIP_POSTGRES=1` asks to skip.
        pub fn start() -> Result<Self, TestPostgresError> {
            Self::start_with(None)
        }

        /// Starts a server that also speaks TLS with this certificate and
        /// key (PEM files).
        pub fn start_with_tls(
            cert: &std::path::Path,
            key: &std::path::Path,
        ) -> Result<Self, TestPostgresError> {
            Self::start_with(Some((cert, key)))
        }

        fn start_with(
            tls: Option<(&std::path::Path, &std::path::Path)>,
        ) -> Result<Self, TestPostgresError> {
            if std::env::var("WARDEN_SKIP_POSTGRES").as_deref() == Ok("1") {
                return Err(TestPostgresError::Skipped);
            }
            static N: AtomicUsize = AtomicUsize::new(0);
            // Under the system temp directory itself: the server's user
            // must be able to reach it, which a private temp dir forbids.
            let dir = std::env::temp_dir().join(format!(
                "warden-pg-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let mut cmd = Command::new(script());
            cmd.arg("start").arg(&dir);
            if let Some((cert, key)) = tls {
                cmd.env("PG_TLS_CERT", cert).env("PG_TLS_KEY", key);
            }
            let out = cmd
                .output()
                .map_err(|e| TestPostgresError::Failed(format!("{}: {e}", script().display())))?;
            if !out.status.success() {
                return Err(TestPostgresError::Failed(format!(
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Ok(TestPostgres { dir, url })
        }

        /// Starts a server or, when asked to skip, says so loudly on stderr
        /// and returns `None`; any other failure panics.
        pub fn start_or_skip(test: &str) -> Option<Self> {
            match TestPostgres::start() {
                Ok(pg) => Some(pg),
                Err(TestPostgresError::Skipped) => {
                    eprintln!("SKIPPED {test}: WARDEN_SKIP_POSTGRES=1, no PostgreSQL test server");
                    None
                }
                Err(TestPostgresError::Failed(why)) => {
                    panic!(
                        "{test}: could not start a PostgreSQL test server (set WARDEN_SKIP_POSTGRES=1 to skip): {why}"
                    )
                }
            }
        }

        /// The connection URL of the server's `postgres` database.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// The URL of database `name` on this server, created if missing.
        pub fn database(&self, name: &str) -> Result<String, String> {
            let mut client = ::postgres::Client::connect(&self.url, ::postgres::NoTls)
                .map_err(|e| e.to_string())?;
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .map_err(|e| e.to_string())?
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .map_err(|e| e.to_string())?;
            }
            Ok(self.url.replacen("/postgres?", &format!("/{name}?"), 1))
        }

        /// The server's data directory and logs.
        pub fn dir(&self) -> &std::path::Path {
            &self.dir
        }

        /// Stops the server immediately (as a crash would), keeping its
        /// data; [`TestPostgres::restart`] brings it back.
        pub fn kill(&self) -> Result<(), String> {
            self.ctl(&["-m", "immediate", "-w", "stop"])
        }

        /// Starts a stopped server again on the same port.
        pub fn restart(&self) -> Result<(), String> {
            let port = std::fs::read_to_string(self.dir.join("port")).map_err(|e| e.to_string())?;
            let tls = std::fs::read_to_string(self.dir.join("tls")).unwrap_or_default();
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=200 {}",
                port.trim(),
                self.dir.display(),
                tls.trim()
            );
            let log = self.dir.join("server.log");
            let log = log.to_string_lossy();
            self.ctl(&["-l", &log, "-w", "-t", "60", "-o", &opts, "start"])
        }

        fn ctl(&self, args: &[&str]) -> Result<(), String> {
            let bin = Command::new(script().with_file_name("ensure-postgres.sh"))
                .output()
                .map_err(|e| e.to_string())?;
            let pg_ctl = PathBuf::from(String::from_utf8_lossy(&bin.stdout).trim()).join("pg_ctl");
            let data = self.dir.join("data");
            let mut cmd = if is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
                c
            } else {
                Command::new(&pg_ctl)
            };
            let out = cmd
                .arg("-D")
                .arg(&data)
                .args(args)
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        }
    }

    /// A running S3-protocol test server (`scripts/s3-temp.sh`: moto's
    /// standalone server) with one bucket; stopped and removed on drop.
    pub struct TestS3 {
        dir: PathBuf,
        endpoint: String,
        bucket: String,
    }

    impl TestS3 {
        /// Starts a server with `bucket`, or, with `WARDEN_SKIP_S3=1`, says
        /// so loudly on stderr and returns `None`; any other failure panics.
        pub fn start_or_skip(test: &str, bucket: &str) -> Option<Self> {
            if std::env::var("WARDEN_SKIP_S3").as_deref() == Ok("1") {
                eprintln!("SKIPPED {test}: WARDEN_SKIP_S3=1, no S3 test server");
                return None;
            }
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "warden-s3-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let out = Command::new(script().with_file_name("s3-temp.sh"))
                .arg("start")
                .arg(&dir)
                .arg(bucket)
                .output();
            match out {
                Ok(o) if o.status.success() => Some(TestS3 {
                    dir,
                    endpoint: String::from_utf8_lossy(&o.stdout).trim().to_string(),
                    bucket: bucket.to_string(),
                }),
                Ok(o) => panic!(
                    "{test}: could not start an S3 test server (set WARDEN_SKIP_S3=1 to skip): {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => panic!("{test}: could not run scripts/s3-temp.sh: {e}"),
            }
        }

        /// `http://127.0.0.1:PORT`.
        pub fn endpoint(&self) -> &str {
            &self.endpoint
        }

        /// The bucket made at start.
        pub fn bucket(&self) -> &str {
            &self.bucket
        }

        /// Stops the server (as a crash would); the data is gone with it.
        pub fn kill(&self) {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join("pid")) {
                let _ = Command::new("kill").arg(pid.trim()).output();
            }
        }

        /// Test credentials in the environment variables the AWS tools
        /// read (moto accepts any), for a child process.
        pub fn credentials() -> [(&'static str, &'static str); 3] {
            [
                ("AWS_ACCESS_KEY_ID", "warden-test"),
                ("AWS_SECRET_ACCESS_KEY", "warden-test-secret"),
                ("AWS_REGION", "us-east-1"),
            ]
        }
    }

    impl Drop for TestS3 {
        fn drop(&mut self) {
            let _ = Command::new(script().with_file_name("s3-temp.sh"))
                .arg("stop")
                .arg(&self.dir)
                .output();
        }
    }

    fn is_root() -> bool {
        Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false)
    }

    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres-temp.sh")
    }

    impl Drop for TestPostgres {
        fn drop(&mut self) {
            let _ = Command::new(script()).arg("stop").arg(&self.dir).output();
        }
    }
}
