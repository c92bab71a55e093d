//! The embedded metadata store: one SQLite file in WAL mode.
//!
//! The SQL here sticks to what PostgreSQL also accepts (TEXT and BIGINT
//! columns, hashes as lowercase hex, `ON CONFLICT DO NOTHING`), so a
//! PostgreSQL backend can share the schema.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use warden_core::{
    ActorName, AuditEvent, Digest, KeyName, ObjectName, RoleName, Timestamp, canonical_json,
};

use crate::merkle::{self, Frontier, Hash};
use crate::{
    AccessTokenRecord, ApiKeyRecord, ApprovalRecord, DatasetRecord, EvaluationRecord, EventFilter,
    EvidenceRecord, GateDecisionRecord, IncidentRecord, KeyHoldRecord, KeyRecord, MetadataStore,
    ModelRecord, MonitorPauseRecord, MonitorWindowRecord, PipelineRunRecord, QuarantineRecord,
    ReadTx, RoleGrant, ScanRecord, StagePointer, StoreError, StoredCheckpoint, StoredEvent,
    WriteTx,
};

/// `PRAGMA application_id` of every Warden database: "WRDN".
const APPLICATION_ID: i64 = 0x5752_444E;

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 14;

/// Migrations, applied in order; migration `i` brings the schema to version `i + 1`.
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
];

/// The SQLite metadata store.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStore {
    /// Creates a new database at `path`; an existing file is an error.
    ///
    /// The file is created first, readable and writable by its owner only
    /// (0600 on Unix), and SQLite then opens it: SQLite would create it 0644,
    /// and it gives the `-wal` and `-shm` files it adds later the database
    /// file's mode, so they are 0600 too.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        create_private_file(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        configure(&conn, path)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        store.migrate(0)?;
        Ok(store)
    }

    /// Opens an existing Warden database, migrating an older schema.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| corrupt(path, e))?;
        configure(&conn, path)?;
        let app_id: i64 = conn
            .pragma_query_value(None, "application_id", |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if app_id != APPLICATION_ID {
            return Err(StoreError::Foreign {
                path: path.to_path_buf(),
            });
        }
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(|e| corrupt(path, e))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        let store = SqliteStore {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        store.migrate(version)?;
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A poisoned lock only means another thread panicked mid-call; the
        // SQLite transaction it held was rolled back by `SqliteTx::drop`.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self, from: i64) -> Result<(), StoreError> {
        let mut conn = self.lock();
        let start = usize::try_from(from).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                params![(i + 1).to_string()],
            )?;
            tx.commit()?;
        }
        Ok(())
    }

    fn begin(&self, sql: &str) -> Result<SqliteTx<'_>, StoreError> {
        let conn = self.lock();
        conn.execute_batch(sql)
            .map_err(|e| corrupt_or_sql(&self.path, e))?;
        Ok(SqliteTx {
            conn,
            done: false,
            path: &self.path,
        })
    }
}

/// Creates an empty file that must not exist yet, 0600 on Unix (an empty
/// file is an empty SQLite database).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::Exists {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(StoreError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // `journal_mode` is the first statement that reads the file header, so
    // a file that is not a database fails here with SQLITE_NOTADB.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
        .map_err(|e| corrupt(path, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

fn corrupt(path: &Path, e: rusqlite::Error) -> StoreError {
    StoreError::Corrupt {
        path: path.to_path_buf(),
        detail: e.to_string(),
    }
}

fn corrupt_or_sql(path: &Path, e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) | Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            corrupt(path, e)
        }
        _ => StoreError::Sql(e),
    }
}

impl MetadataStore for SqliteStore {
    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(self.begin("BEGIN IMMEDIATE")?))
    }
    /// A deferred transaction: it takes no database lock until its first
    /// query, whose WAL snapshot it then keeps. Handed out as a [`ReadTx`]
    /// only, so it cannot write or commit; dropping it rolls it back, which
    /// for a transaction without writes only ends it.
    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        // No `PRAGMA query_only` around it: switching the shared connection
        // on and off again more than doubled the cost of a short read (about
        // 4 µs on 2.5 µs), a reset that failed would leave the connection
        // unable to write, and `ReadTx` has no method that writes.
        Ok(Box::new(self.begin("BEGIN DEFERRED")?))
    }
}

/// One transaction on the store's connection, which it holds locked until
/// it ends. `read` hands it out as a [`ReadTx`], `write` as a [`WriteTx`].
struct SqliteTx<'a> {
    conn: MutexGuard<'a, Connection>,
    done: bool,
    path: &'a Path,
}

impl Drop for SqliteTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: if ROLLBACK itself fails the connection closes
            // with the transaction open, which SQLite also rolls back.
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

fn parse_name<T>(
    value: String,
    parse: fn(&str) -> Result<T, warden_core::NameError>,
) -> rusqlite::Result<T> {
    parse(&value).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn parse_time(value: String) -> rusqlite::Result<Timestamp> {
    Timestamp::parse(&value).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("invalid timestamp {value:?}").into(),
        )
    })
}

fn decode_hash(hex_str: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(hex_str, &mut h).ok()?;
    Some(h)
}

fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    Ok(KeyRecord {
        name: parse_name(r.get(0)?, KeyName::new)?,
        origin: r.get(1)?,
        algorithm: r.get(2)?,
        key_id: r.get(3)?,
        public_pem: r.get(4)?,
        added_by: parse_name(r.get(5)?, ActorName::new)?,
        added_at: parse_time(r.get(6)?)?,
        revoked_at: r.get::<_, Option<String>>(7)?.map(parse_time).transpose()?,
        revoked_by: r
            .get::<_, Option<String>>(8)?
            .map(|s| parse_name(s, ActorName::new))
            .transpose()?,
        owner: r
            .get::<_, Option<String>>(9)?
            .map(|s| parse_name(s, ActorName::new))
            .transpose()?,
        purpose: r.get(10)?,
        acknowledged_by: r
            .get::<_, Option<String>>(11)?
            .map(|s| parse_name(s, ActorName::new))
            .transpose()?,
        acknowledged_at: r
            .get::<_, Option<String>>(12)?
            .map(parse_time)
            .transpose()?,
    })
}

const KEY_COLUMNS: &str = "name, origin, algorithm, key_id, public_pem, added_by, added_at, revoked_at, revoked_by, \
     owner, purpose, acknowledged_by, acknowledged_at";
const EVENT_COLUMNS: &str = "seq, time, actor, action, subject, payload, event, leaf_hash";

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: r.get(0)?,
        time: r.get(1)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        subject: r.get(4)?,
        payload: r.get(5)?,
        event: r.get(6)?,
        leaf_hash: r.get(7)?,
    })
}

const DATASET_COLUMNS: &str = "name, version, digest, source_digest, output_digest, rows, report_digest, report_md_digest, manifest, created_by, created_at";

fn dataset_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DatasetRecord> {
    Ok(DatasetRecord {
        name: parse_name(r.get(0)?, ObjectName::new)?,
        version: r.get::<_, i64>(1)?.max(0) as u64,
        digest: r.get(2)?,
        source_digest: r.get(3)?,
        output_digest: r.get(4)?,
        rows: r.get::<_, i64>(5)?.max(0) as u64,
        report_digest: r.get(6)?,
        report_md_digest: r.get(7)?,
        manifest: r.get(8)?,
        created_by: parse_name(r.get(9)?, ActorName::new)?,
        created_at: parse_time(r.get(10)?)?,
    })
}

const MODEL_COLUMNS: &str = "name, version, digest, kind, files, signature_digest, signed_by, manifest, created_by, created_at";

fn model_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        name: parse_name(r.get(0)?, ObjectName::new)?,
        version: r.get::<_, i64>(1)?.max(0) as u64,
        digest: r.get(2)?,
        kind: r.get(3)?,
        files: r.get(4)?,
        signature_digest: r.get(5)?,
        signed_by: r.get(6)?,
        manifest: r.get(7)?,
        created_by: parse_name(r.get(8)?, ActorName::new)?,
        created_at: parse_time(r.get(9)?)?,
    })
}

const EVALUATION_COLUMNS: &str = "id, model, model_version, model_digest, dataset, dataset_version, digest, markdown_digest, report, created_by, created_at";

fn evaluation_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EvaluationRecord> {
    Ok(EvaluationRecord {
        id: r.get::<_, i64>(0)?.max(0) as u64,
        model: parse_name(r.get(1)?, ObjectName::new)?,
        model_version: r.get::<_, i64>(2)?.max(0) as u64,
        model_digest: r.get(3)?,
        dataset: parse_name(r.get(4)?, ObjectName::new)?,
        dataset_version: r.get::<_, i64>(5)?.max(0) as u64,
        digest: r.get(6)?,
        markdown_digest: r.get(7)?,
        report: r.get(8)?,
        created_by: parse_name(r.get(9)?, ActorName::new)?,
        created_at: parse_time(r.get(10)?)?,
    })
}

fn checkpoint_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCheckpoint> {
    Ok(StoredCheckpoint {
        size: r.get::<_, i64>(0)?.max(0) as u64,
        root_hash: r.get(1)?,
        note: r.get(2)?,
        time: parse_time(r.get(3)?)?,
    })
}

impl ReadTx for SqliteTx<'_> {
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn roles_of(&mut self, actor: &ActorName) -> Result<Vec<RoleName>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT role FROM role_grants WHERE actor = ?1 ORDER BY role")?;
        let rows = stmt.query_map([actor.as_str()], |r| parse_name(r.get(0)?, RoleName::new))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn role_grants(&mut self) -> Result<Vec<RoleGrant>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT actor, role, granted_by, time FROM role_grants ORDER BY actor, role",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RoleGrant {
                actor: parse_name(r.get(0)?, ActorName::new)?,
                role: parse_name(r.get(1)?, RoleName::new)?,
                granted_by: parse_name(r.get(2)?, ActorName::new)?,
                time: parse_time(r.get(3)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn count_role(&mut self, role: &RoleName) -> Result<u64, StoreError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM role_grants WHERE role = ?1",
            [role.as_str()],
            |r| r.get(0),
        )?;
        Ok(n.max(0) as u64)
    }

    fn key(&mut self, name: &KeyName) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {KEY_COLUMNS} FROM keys WHERE name = ?1"),
                [name.as_str()],
                key_from_row,
            )
            .optional()?)
    }

    fn keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM keys ORDER BY name"))?;
        let rows = stmt.query_map([], key_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn dataset(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<DatasetRecord>, StoreError> {
        let sql = match version {
            Some(_) => {
                format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND version = ?2")
            }
            None => format!(
                "SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1 AND ?2 IS NULL ORDER BY version DESC LIMIT 1"
            ),
        };
        Ok(self
            .conn
            .query_row(
                &sql,
                params![name.as_str(), version.map(|v| v as i64)],
                dataset_from_row,
            )
            .optional()?)
    }

    fn datasets(&mut self) -> Result<Vec<DatasetRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DATASET_COLUMNS} FROM datasets ORDER BY name, version"
        ))?;
        let rows = stmt.query_map([], dataset_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn model(
        &mut self,
        name: &ObjectName,
        version: Option<u64>,
    ) -> Result<Option<ModelRecord>, StoreError> {
        let sql = match version {
            Some(_) => {
                format!("SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1 AND version = ?2")
            }
            None => format!(
                "SELECT {MODEL_COLUMNS} FROM models WHERE name = ?1 AND ?2 IS NULL ORDER BY version DESC LIMIT 1"
            ),
        };
        Ok(self
            .conn
            .query_row(
                &sql,
                params![name.as_str(), version.map(|v| v as i64)],
                model_from_row,
            )
            .optional()?)
    }

    fn models(&mut self) -> Result<Vec<ModelRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {MODEL_COLUMNS} FROM models ORDER BY name, version"
        ))?;
        let rows = stmt.query_map([], model_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT digest, missing FROM model_cards WHERE model = ?1 AND version = ?2",
                params![model.as_str(), version as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    fn evaluations(
        &mut self,
        model: &ObjectName,
        version: Option<u64>,
    ) -> Result<Vec<EvaluationRecord>, StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE model = ?1 AND (?2 IS NULL OR model_version = ?2) ORDER BY id"
        ))?;
        let rows = stmt.query_map(
            params![model.as_str(), version.map(|v| v as i64)],
            evaluation_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scans(&mut self, model: Option<(&ObjectName, u64)>) -> Result<Vec<ScanRecord>, StoreError> {
        let sql = "SELECT id, model, version, target, profile, max_severity, findings, files, incomplete, report_digest, created_by, created_at \
                   FROM scans WHERE (?1 IS NULL OR (model = ?1 AND version = ?2)) ORDER BY id";
        let mut stmt = self.conn.prepare(sql)?;
        let (m, v) = match model {
            Some((m, v)) => (Some(m.as_str().to_string()), Some(v as i64)),
            None => (None, None),
        };
        let rows = stmt.query_map(params![m, v], |r| {
            Ok(ScanRecord {
                id: r.get::<_, i64>(0)?.max(0) as u64,
                model: r
                    .get::<_, Option<String>>(1)?
                    .map(|s| parse_name(s, ObjectName::new))
                    .transpose()?,
                version: r.get::<_, Option<i64>>(2)?.map(|v| v.max(0) as u64),
                target: r.get(3)?,
                profile: r.get(4)?,
                max_severity: r.get(5)?,
                findings: r.get::<_, i64>(6)?.max(0) as u64,
                files: r.get::<_, i64>(7)?.max(0) as u64,
                incomplete: r.get::<_, i64>(8)?.max(0) as u64,
                report_digest: r.get(9)?,
                created_by: parse_name(r.get(10)?, ActorName::new)?,
                created_at: parse_time(r.get(11)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn approvals(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, model, version, model_digest, env, approver, key_name, envelope, created_at \
             FROM approvals WHERE model = ?1 AND version = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![model.as_str(), version as i64], |r| {
            Ok(ApprovalRecord {
                id: r.get::<_, i64>(0)?.max(0) as u64,
                model: parse_name(r.get(1)?, ObjectName::new)?,
                version: r.get::<_, i64>(2)?.max(0) as u64,
                model_digest: r.get(3)?,
                env: r.get(4)?,
                approver: parse_name(r.get(5)?, ActorName::new)?,
                key_name: r.get(6)?,
                envelope: r.get(7)?,
                created_at: parse_time(r.get(8)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn stages(&mut self, model: &ObjectName) -> Result<Vec<StagePointer>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT model, env, version, updated_by, updated_at FROM stage_pointers WHERE model = ?1 ORDER BY env",
        )?;
        let rows = stmt.query_map(params![model.as_str()], |r| {
            Ok(StagePointer {
                model: parse_name(r.get(0)?, ObjectName::new)?,
                env: r.get(1)?,
                version: r.get::<_, i64>(2)?.max(0) as u64,
                updated_by: parse_name(r.get(3)?, ActorName::new)?,
                updated_at: parse_time(r.get(4)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn gate_decisions(
        &mut self,
        model: &ObjectName,
    ) -> Result<Vec<GateDecisionRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT model, version, env, allowed, policy_digest, input_digest, reasons, created_by, created_at \
             FROM gate_decisions WHERE model = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![model.as_str()], |r| {
            Ok(GateDecisionRecord {
                model: parse_name(r.get(0)?, ObjectName::new)?,
                version: r.get::<_, i64>(1)?.max(0) as u64,
                env: r.get(2)?,
                allowed: r.get::<_, i64>(3)? != 0,
                policy_digest: r.get(4)?,
                input_digest: r.get(5)?,
                reasons: r.get(6)?,
                created_by: parse_name(r.get(7)?, ActorName::new)?,
                created_at: parse_time(r.get(8)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn quarantine(
        &mut self,
        model: &ObjectName,
        version: u64,
    ) -> Result<Option<QuarantineRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT model, version, reason, created_by, created_at, released_by, released_at, release_reason \
                 FROM quarantines WHERE model = ?1 AND version = ?2",
                params![model.as_str(), version as i64],
                |r| {
                    Ok(QuarantineRecord {
                        model: parse_name(r.get(0)?, ObjectName::new)?,
                        version: r.get::<_, i64>(1)?.max(0) as u64,
                        reason: r.get(2)?,
                        created_by: parse_name(r.get(3)?, ActorName::new)?,
                        created_at: parse_time(r.get(4)?)?,
                        released_by: r.get::<_, Option<String>>(5)?.map(|s| parse_name(s, ActorName::new)).transpose()?,
                        released_at: r.get::<_, Option<String>>(6)?.map(parse_time).transpose()?,
                        release_reason: r.get(7)?,
                    })
                },
            )
            .optional()?)
    }

    fn incidents(&mut self) -> Result<Vec<IncidentRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, model, version, kind, summary, report_digest, markdown_digest, opened_by, opened_at, closed_by, closed_at, resolution \
             FROM incidents ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(IncidentRecord {
                id: r.get::<_, i64>(0)?.max(0) as u64,
                model: parse_name(r.get(1)?, ObjectName::new)?,
                version: r.get::<_, i64>(2)?.max(0) as u64,
                kind: r.get(3)?,
                summary: r.get(4)?,
                report_digest: r.get(5)?,
                markdown_digest: r.get(6)?,
                opened_by: parse_name(r.get(7)?, ActorName::new)?,
                opened_at: parse_time(r.get(8)?)?,
                closed_by: r
                    .get::<_, Option<String>>(9)?
                    .map(|s| parse_name(s, ActorName::new))
                    .transpose()?,
                closed_at: r
                    .get::<_, Option<String>>(10)?
                    .map(parse_time)
                    .transpose()?,
                resolution: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn api_keys(&mut self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, role, key_hash, rate_limit, created_by, created_at, expires_at, revoked_by, revoked_at \
             FROM api_keys ORDER BY created_at, name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(ApiKeyRecord {
                id: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                key_hash: r.get(3)?,
                rate_limit: r.get(4)?,
                created_by: parse_name(r.get(5)?, ActorName::new)?,
                created_at: parse_time(r.get(6)?)?,
                expires_at: r.get::<_, Option<String>>(7)?.map(parse_time).transpose()?,
                revoked_by: r
                    .get::<_, Option<String>>(8)?
                    .map(|s| parse_name(s, ActorName::new))
                    .transpose()?,
                revoked_at: r.get::<_, Option<String>>(9)?.map(parse_time).transpose()?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn access_tokens(&mut self) -> Result<Vec<AccessTokenRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, name, owner, roles, token_hash, created_at, expires_at, revoked_by, revoked_at, last_used_at \
             FROM access_tokens ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map([], |r| {
            let roles: String = r.get(3)?;
            Ok(AccessTokenRecord {
                id: r.get(0)?,
                name: r.get(1)?,
                owner: parse_name(r.get(2)?, ActorName::new)?,
                roles: roles
                    .split_whitespace()
                    .map(|x| parse_name(x.to_string(), RoleName::new))
                    .collect::<Result<_, _>>()?,
                token_hash: r.get(4)?,
                created_at: parse_time(r.get(5)?)?,
                expires_at: parse_time(r.get(6)?)?,
                revoked_by: r
                    .get::<_, Option<String>>(7)?
                    .map(|s| parse_name(s, ActorName::new))
                    .transpose()?,
                revoked_at: r.get::<_, Option<String>>(8)?.map(parse_time).transpose()?,
                last_used_at: r.get::<_, Option<String>>(9)?.map(parse_time).transpose()?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn key_holds(&mut self) -> Result<Vec<KeyHoldRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT key_id, kind, rate_limit, reason, held_by, held_at FROM api_key_holds ORDER BY held_at, key_id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(KeyHoldRecord {
                key_id: r.get(0)?,
                kind: r.get(1)?,
                rate_limit: r.get(2)?,
                reason: r.get(3)?,
                held_by: parse_name(r.get(4)?, ActorName::new)?,
                held_at: parse_time(r.get(5)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn monitor_windows(
        &mut self,
        model: &ObjectName,
        limit: u64,
    ) -> Result<Vec<MonitorWindowRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, model, version, env, rows_seen, dataset_drift, prediction_drift, drifted_features, report, opened_at, closed_at \
             FROM monitor_windows WHERE model = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![model.as_str(), limit.min(i64::MAX as u64) as i64],
            |r| {
                Ok(MonitorWindowRecord {
                    id: r.get::<_, i64>(0)?.max(0) as u64,
                    model: parse_name(r.get(1)?, ObjectName::new)?,
                    version: r.get::<_, i64>(2)?.max(0) as u64,
                    env: r.get(3)?,
                    rows: r.get::<_, i64>(4)?.max(0) as u64,
                    dataset_drift: r.get::<_, i64>(5)? != 0,
                    prediction_drift: r.get::<_, i64>(6)? != 0,
                    drifted_features: r.get::<_, i64>(7)?.max(0) as u64,
                    report: r.get(8)?,
                    opened_at: parse_time(r.get(9)?)?,
                    closed_at: parse_time(r.get(10)?)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn monitor_pause(
        &mut self,
        model: &ObjectName,
    ) -> Result<Option<MonitorPauseRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT model, reason, paused_by, paused_at FROM monitor_pauses WHERE model = ?1",
        )?;
        let mut rows = stmt.query_map(params![model.as_str()], |r| {
            Ok(MonitorPauseRecord {
                model: parse_name(r.get(0)?, ObjectName::new)?,
                reason: r.get(1)?,
                paused_by: parse_name(r.get(2)?, ActorName::new)?,
                paused_at: parse_time(r.get(3)?)?,
            })
        })?;
        Ok(rows.next().transpose()?)
    }

    fn log_frontier(&mut self) -> Result<Frontier, StoreError> {
        let (size, peaks): (i64, String) = self.conn.query_row(
            "SELECT size, frontier FROM audit_log_state WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let size = u64::try_from(size)
            .map_err(|_| StoreError::LogState(format!("negative log size {size}")))?;
        let peaks = if peaks.is_empty() {
            Vec::new()
        } else {
            peaks
                .split(',')
                .map(|h| {
                    decode_hash(h)
                        .ok_or_else(|| StoreError::LogState(format!("bad frontier hash {h:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        Frontier::from_parts(size, peaks).ok_or_else(|| {
            StoreError::LogState(format!("frontier does not fit a tree of size {size}"))
        })
    }

    fn events(&mut self, f: &EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        let mut sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq >= ?1");
        if f.actor.is_some() {
            sql.push_str(" AND actor = ?2");
        } else {
            sql.push_str(" AND ?2 IS NULL");
        }
        if f.action.is_some() {
            sql.push_str(" AND (action = ?3 OR action LIKE ?3 || '.%')");
        } else {
            sql.push_str(" AND ?3 IS NULL");
        }
        sql.push_str(" ORDER BY seq LIMIT ?4");
        let mut stmt = self.conn.prepare(&sql)?;
        let limit = f.limit.map(|l| l.min(i64::MAX as u64) as i64).unwrap_or(-1);
        let since = f.since.unwrap_or(0).min(i64::MAX as u64) as i64;
        let rows = stmt.query_map(params![since, f.actor, f.action, limit], event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events_with_actions(&mut self, actions: &[&str]) -> Result<Vec<StoredEvent>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        // One placeholder per action: the `audit_events_action` index
        // answers each, and the rows come back merged in log order.
        let marks = vec!["?"; actions.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE action IN ({marks}) ORDER BY seq"
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(actions.iter()), event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn events_with_actions_after(
        &mut self,
        actions: &[&str],
        seq: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; actions.len()].join(", ");
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE action IN ({marks}) AND seq > ? ORDER BY seq"
        ))?;
        let mut args: Vec<rusqlite::types::Value> = actions
            .iter()
            .map(|a| rusqlite::types::Value::Text((*a).to_string()))
            .collect();
        args.push(rusqlite::types::Value::Integer(seq));
        let rows = stmt.query_map(rusqlite::params_from_iter(args), event_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn scan_events(
        &mut self,
        visit: &mut dyn FnMut(StoredEvent) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY seq"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            if visit(event_from_row(row)?).is_break() {
                break;
            }
        }
        Ok(())
    }

    fn leaf_hashes(&mut self, size: u64) -> Result<Vec<Hash>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT seq, leaf_hash FROM audit_events WHERE seq < ?1 ORDER BY seq")?;
        let mut rows = stmt.query([size.min(i64::MAX as u64) as i64])?;
        let mut out = Vec::with_capacity(size.min(1 << 24) as usize);
        while let Some(row) = rows.next()? {
            let seq: i64 = row.get(0)?;
            let text: String = row.get(1)?;
            if seq != out.len() as i64 {
                return Err(StoreError::LogState(format!(
                    "event {} is missing",
                    out.len()
                )));
            }
            out.push(decode_hash(&text).ok_or_else(|| {
                StoreError::LogState(format!("event {seq} has a malformed leaf hash"))
            })?);
        }
        if (out.len() as u64) < size {
            return Err(StoreError::LogState(format!(
                "the log has {} events, fewer than {size}",
                out.len()
            )));
        }
        Ok(out)
    }

    fn checkpoints(&mut self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT size, root_hash, note, time FROM audit_checkpoints ORDER BY size")?;
        let rows = stmt.query_map([], checkpoint_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn latest_checkpoint(&mut self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT size, root_hash, note, time FROM audit_checkpoints ORDER BY size DESC LIMIT 1",
                [],
                checkpoint_from_row,
            )
            .optional()?)
    }

    fn pipeline_runs(
        &mut self,
        pipeline: Option<&str>,
    ) -> Result<Vec<PipelineRunRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, pipeline, status, document, digest, started_at, finished_at, created_by \
             FROM pipeline_runs WHERE (?1 IS NULL OR pipeline = ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![pipeline], pipeline_run_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn pipeline_run(&mut self, id: u64) -> Result<Option<PipelineRunRecord>, StoreError> {
        let id = i64::try_from(id).unwrap_or(i64::MAX);
        Ok(self
            .conn
            .query_row(
                "SELECT id, pipeline, status, document, digest, started_at, finished_at, created_by \
                 FROM pipeline_runs WHERE id = ?1",
                params![id],
                pipeline_run_row,
            )
            .optional()?)
    }

    fn evidence(
        &mut self,
        model: Option<(&ObjectName, u64)>,
    ) -> Result<Vec<EvidenceRecord>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT id, model, version, tool, kind, report_digest, summary, created_by, created_at \
             FROM evidence WHERE (?1 IS NULL OR (model = ?1 AND version = ?2)) ORDER BY id",
        )?;
        let (m, v) = match model {
            Some((m, v)) => (Some(m.as_str().to_string()), Some(v as i64)),
            None => (None, None),
        };
        let rows = stmt.query_map(params![m, v], |r| {
            Ok(EvidenceRecord {
                id: r.get::<_, i64>(0)?.max(0) as u64,
                model: parse_name(r.get(1)?, ObjectName::new)?,
                version: r.get::<_, i64>(2)?.max(0) as u64,
                tool: r.get(3)?,
                kind: r.get(4)?,
                report_digest: r.get(5)?,
                summary: r.get(6)?,
                created_by: parse_name(r.get(7)?, ActorName::new)?,
                created_at: parse_time(r.get(8)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl WriteTx for SqliteTx<'_> {
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn grant_role(&mut self, g: &RoleGrant) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "INSERT INTO role_grants (actor, role, granted_by, time) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (actor, role) DO NOTHING",
            params![
                g.actor.as_str(),
                g.role.as_str(),
                g.granted_by.as_str(),
                g.time.as_str()
            ],
        )?;
        Ok(n == 1)
    }

    fn revoke_role(&mut self, actor: &ActorName, role: &RoleName) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM role_grants WHERE actor = ?1 AND role = ?2",
            params![actor.as_str(), role.as_str()],
        )?;
        Ok(n == 1)
    }

    fn insert_key(&mut self, k: &KeyRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!(
                "INSERT INTO keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
            ),
            params![
                k.name.as_str(),
                k.origin,
                k.algorithm,
                k.key_id,
                k.public_pem,
                k.added_by.as_str(),
                k.added_at.as_str(),
                k.revoked_at.as_ref().map(Timestamp::as_str),
                k.revoked_by.as_ref().map(ActorName::as_str),
                k.owner.as_ref().map(ActorName::as_str),
                k.purpose,
                k.acknowledged_by.as_ref().map(ActorName::as_str),
                k.acknowledged_at.as_ref().map(Timestamp::as_str),
            ],
        )?;
        Ok(())
    }

    fn acknowledge_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE keys SET acknowledged_by = ?2, acknowledged_at = ?3 \
             WHERE name = ?1 AND acknowledged_at IS NULL AND revoked_at IS NULL",
            params![name.as_str(), by.as_str(), at.as_str()],
        )?;
        Ok(n == 1)
    }

    fn revoke_key(
        &mut self,
        name: &KeyName,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "UPDATE keys SET revoked_at = ?2, revoked_by = ?3 WHERE name = ?1 AND revoked_at IS NULL",
            params![name.as_str(), at.as_str(), by.as_str()],
        )?;
        Ok(n == 1)
    }

    fn insert_dataset(&mut self, d: &DatasetRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!("INSERT INTO datasets ({DATASET_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                d.name.as_str(),
                d.version as i64,
                d.digest,
                d.source_digest,
                d.output_digest,
                d.rows as i64,
                d.report_digest,
                d.report_md_digest,
                d.manifest,
                d.created_by.as_str(),
                d.created_at.as_str()
            ],
        )?;
        Ok(())
    }

    fn insert_model(&mut self, m: &ModelRecord) -> Result<(), StoreError> {
        self.conn.execute(
            &format!("INSERT INTO models ({MODEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
            params![
                m.name.as_str(),
                m.version as i64,
                m.digest,
                m.kind,
                m.files,
                m.signature_digest,
                m.signed_by,
                m.manifest,
                m.created_by.as_str(),
                m.created_at.as_str()
            ],
        )?;
        Ok(())
    }

    fn set_model_card(
        &mut self,
        model: &ObjectName,
        version: u64,
        digest: &str,
        missing: &str,
        by: &ActorName,
        at: &Timestamp,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO model_cards (model, version, digest, missing, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (model, version) DO UPDATE SET digest = excluded.digest, missing = excluded.missing, \
             created_by = excluded.created_by, created_at = excluded.created_at",
            params![model.as_str(), version as i64, digest, missing, by.as_str(), at.as_str()],
        )?;
        Ok(())
    }

    fn insert_evaluation(&mut self, e: &EvaluationRecord) -> Result<u64, StoreError> {
        let id: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM evaluations",
            [],
            |r| r.get(0),
        )?;
        self.conn.execute(
            &format!("INSERT INTO evaluations ({EVALUATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                id,
                e.model.as_str(),
                e.model_version as i64,
                e.model_digest,
                e.dataset.as_str(),
                e.dataset_version as i64,
                e.digest,
                e.markdown_digest,
                e.report,
                e.created_by.as_str(),
                e.created_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_scan(&mut self, s: &ScanRecord) -> Result<u64, StoreError> {
        let id: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM scans", [], |r| {
                    r.get(0)
                })?;
        self.conn.execute(
            "INSERT INTO scans (id, model, version, target, profile, max_severity, findings, files, incomplete, report_digest, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                id,
                s.model.as_ref().map(|m| m.as_str().to_string()),
                s.version.map(|v| v as i64),
                s.target,
                s.profile,
                s.max_severity,
                s.findings as i64,
                s.files as i64,
                s.incomplete as i64,
                s.report_digest,
                s.created_by.as_str(),
                s.created_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_approval(&mut self, a: &ApprovalRecord) -> Result<u64, StoreError> {
        let id: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM approvals", [], |r| {
                    r.get(0)
                })?;
        self.conn.execute(
            "INSERT INTO approvals (id, model, version, model_digest, env, approver, key_name, envelope, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                a.model.as_str(),
                a.version as i64,
                a.model_digest,
                a.env,
                a.approver.as_str(),
                a.key_name,
                a.envelope,
                a.created_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn set_stage(&mut self, p: &StagePointer) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO stage_pointers (model, env, version, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (model, env) DO UPDATE SET version = excluded.version, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            params![p.model.as_str(), p.env, p.version as i64, p.updated_by.as_str(), p.updated_at.as_str()],
        )?;
        Ok(())
    }

    fn remove_stage(&mut self, model: &ObjectName, env: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "DELETE FROM stage_pointers WHERE model = ?1 AND env = ?2",
            params![model.as_str(), env],
        )?;
        Ok(())
    }

    fn insert_gate_decision(&mut self, d: &GateDecisionRecord) -> Result<u64, StoreError> {
        let id: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM gate_decisions",
            [],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO gate_decisions (id, model, version, env, allowed, policy_digest, input_digest, reasons, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                d.model.as_str(),
                d.version as i64,
                d.env,
                i64::from(d.allowed),
                d.policy_digest,
                d.input_digest,
                d.reasons,
                d.created_by.as_str(),
                d.created_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn set_quarantine(&mut self, q: &QuarantineRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO quarantines (model, version, reason, created_by, created_at, released_by, released_at, release_reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (model, version) DO UPDATE SET reason = excluded.reason, created_by = excluded.created_by, \
             created_at = excluded.created_at, released_by = excluded.released_by, released_at = excluded.released_at, \
             release_reason = excluded.release_reason",
            params![
                q.model.as_str(),
                q.version as i64,
                q.reason,
                q.created_by.as_str(),
                q.created_at.as_str(),
                q.released_by.as_ref().map(|a| a.as_str().to_string()),
                q.released_at.as_ref().map(|t| t.as_str().to_string()),
                q.release_reason
            ],
        )?;
        Ok(())
    }

    fn save_incident(&mut self, i: &IncidentRecord) -> Result<u64, StoreError> {
        let id: i64 = if i.id == 0 {
            self.conn
                .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM incidents", [], |r| {
                    r.get(0)
                })?
        } else {
            i.id as i64
        };
        self.conn.execute(
            "INSERT INTO incidents (id, model, version, kind, summary, report_digest, markdown_digest, opened_by, opened_at, closed_by, closed_at, resolution) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (id) DO UPDATE SET closed_by = excluded.closed_by, closed_at = excluded.closed_at, resolution = excluded.resolution",
            params![
                id,
                i.model.as_str(),
                i.version as i64,
                i.kind,
                i.summary,
                i.report_digest,
                i.markdown_digest,
                i.opened_by.as_str(),
                i.opened_at.as_str(),
                i.closed_by.as_ref().map(|a| a.as_str().to_string()),
                i.closed_at.as_ref().map(|t| t.as_str().to_string()),
                i.resolution
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn save_api_key(&mut self, k: &ApiKeyRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO api_keys (id, name, role, key_hash, rate_limit, created_by, created_at, expires_at, revoked_by, revoked_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET revoked_by = excluded.revoked_by, revoked_at = excluded.revoked_at",
            params![
                k.id,
                k.name,
                k.role,
                k.key_hash,
                k.rate_limit,
                k.created_by.as_str(),
                k.created_at.as_str(),
                k.expires_at.as_ref().map(|t| t.as_str().to_string()),
                k.revoked_by.as_ref().map(|a| a.as_str().to_string()),
                k.revoked_at.as_ref().map(|t| t.as_str().to_string())
            ],
        )?;
        Ok(())
    }

    fn save_access_token(&mut self, t: &AccessTokenRecord) -> Result<(), StoreError> {
        let roles: Vec<&str> = t.roles.iter().map(RoleName::as_str).collect();
        self.conn.execute(
            "INSERT INTO access_tokens (id, name, owner, roles, token_hash, created_at, expires_at, revoked_by, revoked_at, last_used_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET revoked_by = excluded.revoked_by, revoked_at = excluded.revoked_at",
            params![
                t.id,
                t.name,
                t.owner.as_str(),
                roles.join(" "),
                t.token_hash,
                t.created_at.as_str(),
                t.expires_at.as_str(),
                t.revoked_by.as_ref().map(|a| a.as_str().to_string()),
                t.revoked_at.as_ref().map(|x| x.as_str().to_string()),
                t.last_used_at.as_ref().map(|x| x.as_str().to_string())
            ],
        )?;
        Ok(())
    }

    fn touch_access_token(&mut self, id: &str, at: &Timestamp) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE access_tokens SET last_used_at = ?2 WHERE id = ?1",
            params![id, at.as_str()],
        )?;
        Ok(())
    }

    fn save_key_hold(&mut self, h: &KeyHoldRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO api_key_holds (key_id, kind, rate_limit, reason, held_by, held_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (key_id) DO UPDATE SET kind = excluded.kind, rate_limit = excluded.rate_limit, \
             reason = excluded.reason, held_by = excluded.held_by, held_at = excluded.held_at",
            params![
                h.key_id,
                h.kind,
                h.rate_limit,
                h.reason,
                h.held_by.as_str(),
                h.held_at.as_str()
            ],
        )?;
        Ok(())
    }

    fn delete_key_hold(&mut self, key_id: &str) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM api_key_holds WHERE key_id = ?1",
            params![key_id],
        )?;
        Ok(n > 0)
    }

    fn insert_monitor_window(&mut self, w: &MonitorWindowRecord) -> Result<u64, StoreError> {
        let id: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM monitor_windows",
            [],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO monitor_windows (id, model, version, env, rows_seen, dataset_drift, prediction_drift, drifted_features, report, opened_at, closed_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                id,
                w.model.as_str(),
                w.version as i64,
                w.env,
                w.rows as i64,
                w.dataset_drift as i64,
                w.prediction_drift as i64,
                w.drifted_features as i64,
                w.report,
                w.opened_at.as_str(),
                w.closed_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn save_monitor_pause(&mut self, p: &MonitorPauseRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO monitor_pauses (model, reason, paused_by, paused_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (model) DO UPDATE SET reason = excluded.reason, paused_by = excluded.paused_by, paused_at = excluded.paused_at",
            params![
                p.model.as_str(),
                p.reason,
                p.paused_by.as_str(),
                p.paused_at.as_str()
            ],
        )?;
        Ok(())
    }

    fn delete_monitor_pause(&mut self, model: &ObjectName) -> Result<bool, StoreError> {
        let n = self.conn.execute(
            "DELETE FROM monitor_pauses WHERE model = ?1",
            params![model.as_str()],
        )?;
        Ok(n > 0)
    }

    fn append_event(
        &mut self,
        actor: &ActorName,
        action: &str,
        subject: &str,
        payload: &serde_json::Value,
    ) -> Result<AuditEvent, StoreError> {
        let mut frontier = self.log_frontier()?;
        let payload_bytes = canonical_json(payload)?;
        let event = AuditEvent {
            seq: frontier.size(),
            time: Timestamp::now(),
            actor: actor.clone(),
            action: action.to_string(),
            subject: subject.to_string(),
            payload_digest: Digest::of(&payload_bytes),
        };
        let event_bytes = event.canonical_bytes()?;
        let leaf = merkle::leaf_hash(&event_bytes);
        frontier.push(leaf);
        // Canonical JSON is UTF-8 by construction.
        let payload_text = String::from_utf8_lossy(&payload_bytes);
        let event_text = String::from_utf8_lossy(&event_bytes);
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO audit_events ({EVENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
            ))?
            .execute(params![
                event.seq as i64,
                event.time.as_str(),
                actor.as_str(),
                action,
                subject,
                payload_text,
                event_text,
                hex::encode(leaf),
            ])?;
        let peaks: Vec<String> = frontier.peaks().iter().map(hex::encode).collect();
        self.conn
            .prepare_cached("UPDATE audit_log_state SET size = ?1, frontier = ?2 WHERE id = 1")?
            .execute(params![frontier.size() as i64, peaks.join(",")])?;
        Ok(event)
    }

    fn insert_checkpoint(&mut self, c: &StoredCheckpoint) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO audit_checkpoints (size, root_hash, note, time) VALUES (?1, ?2, ?3, ?4)",
            params![c.size as i64, c.root_hash, c.note, c.time.as_str()],
        )?;
        Ok(())
    }

    fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| corrupt_or_sql(self.path, e))?;
        self.done = true;
        Ok(())
    }

    fn insert_pipeline_run(&mut self, run: &PipelineRunRecord) -> Result<u64, StoreError> {
        let id: i64 = self.conn.query_row(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM pipeline_runs",
            [],
            |r| r.get(0),
        )?;
        self.conn.execute(
            "INSERT INTO pipeline_runs (id, pipeline, status, document, digest, started_at, finished_at, created_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                id,
                run.pipeline,
                run.status,
                run.document,
                run.digest,
                run.started_at.as_str(),
                run.finished_at.as_str(),
                run.created_by.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }

    fn insert_evidence(&mut self, e: &EvidenceRecord) -> Result<u64, StoreError> {
        let id: i64 =
            self.conn
                .query_row("SELECT COALESCE(MAX(id), 0) + 1 FROM evidence", [], |r| {
                    r.get(0)
                })?;
        self.conn.execute(
            "INSERT INTO evidence (id, model, version, tool, kind, report_digest, summary, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                id,
                e.model.as_str(),
                e.version as i64,
                e.tool,
                e.kind,
                e.report_digest,
                e.summary,
                e.created_by.as_str(),
                e.created_at.as_str()
            ],
        )?;
        Ok(id.max(0) as u64)
    }
}

/// A `pipeline_runs` row.
fn pipeline_run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineRunRecord> {
    Ok(PipelineRunRecord {
        id: r.get::<_, i64>(0)?.max(0) as u64,
        pipeline: r.get(1)?,
        status: r.get(2)?,
        document: r.get(3)?,
        digest: r.get(4)?,
        started_at: parse_time(r.get(5)?)?,
        finished_at: parse_time(r.get(6)?)?,
        created_by: parse_name(r.get(7)?, ActorName::new)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::create(&dir.path().join("warden.db")).unwrap();
        (dir, s)
    }

    #[test]
    fn events_and_state_commit_together_or_not_at_all() {
        let (_d, s) = store();
        let ana = ActorName::new("ana").unwrap();
        {
            let mut tx = s.write().unwrap();
            tx.append_event(&ana, "x.one", "thing", &json!({"a": 1}))
                .unwrap();
            // dropped without commit: rolled back
        }
        assert_eq!(s.read().unwrap().log_frontier().unwrap().size(), 0);
        let mut tx = s.write().unwrap();
        let e0 = tx
            .append_event(&ana, "x.one", "thing", &json!({"a": 1}))
            .unwrap();
        let e1 = tx.append_event(&ana, "x.two", "thing", &json!([])).unwrap();
        tx.commit().unwrap();
        assert_eq!((e0.seq, e1.seq), (0, 1));
        let mut r = s.read().unwrap();
        let f = r.log_frontier().unwrap();
        let leaves = r.leaf_hashes(2).unwrap();
        assert_eq!(f.root(), merkle::root_of(&leaves));
        let evs = r
            .events(&EventFilter {
                action: Some("x".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(evs.len(), 2);
        let evs = r
            .events(&EventFilter {
                action: Some("x.two".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].payload, "[]");
    }

    /// A query helper as the engine writes them: it takes any transaction.
    fn setting(tx: &mut dyn ReadTx) -> Option<String> {
        tx.meta("k").unwrap()
    }

    #[test]
    fn a_read_sees_committed_state_only() {
        let (dir, a) = store();
        // A second connection to the same file, as another process has.
        let b = SqliteStore::open(&dir.path().join("warden.db")).unwrap();
        let mut w = a.write().unwrap();
        w.set_meta("k", "committed").unwrap();
        w.commit().unwrap();

        let mut w = a.write().unwrap();
        w.set_meta("k", "pending").unwrap();
        // The writer sees its own write; a reader sees only committed state.
        assert_eq!(setting(w.as_mut()).as_deref(), Some("pending"));
        let mut r = b.read().unwrap();
        assert_eq!(setting(r.as_mut()).as_deref(), Some("committed"));
        w.commit().unwrap();
        // The open read keeps its snapshot; the next one sees the commit.
        assert_eq!(setting(r.as_mut()).as_deref(), Some("committed"));
        drop(r);
        assert_eq!(
            setting(b.read().unwrap().as_mut()).as_deref(),
            Some("pending")
        );

        // A write dropped without commit leaves nothing behind.
        {
            let mut w = a.write().unwrap();
            w.set_meta("k", "dropped").unwrap();
        }
        assert_eq!(
            setting(a.read().unwrap().as_mut()).as_deref(),
            Some("pending")
        );
        assert_eq!(
            setting(b.read().unwrap().as_mut()).as_deref(),
            Some("pending")
        );
    }

    #[test]
    fn reopen_checks_application_id_and_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("warden.db");
        drop(SqliteStore::create(&path).unwrap());
        assert!(SqliteStore::open(&path).is_ok());
        assert!(matches!(
            SqliteStore::create(&path),
            Err(StoreError::Exists { .. })
        ));

        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::NewerSchema { .. })
        ));

        let foreign = dir.path().join("foreign.db");
        let c = Connection::open(&foreign).unwrap();
        c.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&foreign),
            Err(StoreError::Foreign { .. })
        ));

        let junk = dir.path().join("junk.db");
        std::fs::write(&junk, vec![0x42u8; 8192]).unwrap();
        assert!(matches!(
            SqliteStore::open(&junk),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_database_and_its_wal_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, s) = store();
        let mut tx = s.write().unwrap();
        tx.set_meta("k", "v").unwrap();
        tx.commit().unwrap();
        // While the store is open, SQLite keeps the -wal and -shm files.
        for name in ["warden.db", "warden.db-wal", "warden.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
        }
    }
}
