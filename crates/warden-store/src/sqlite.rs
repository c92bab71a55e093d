//! The embedded metadata store: one SQLite file in WAL mode.
//!
//! The queries are [`crate::queries`]'s, shared with PostgreSQL; this module
//! opens the file, migrates it and runs statements on it.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, params};

use crate::queries::SqlTx;
use crate::sql::{Arg, Cell, Row, Session};
use crate::{MIGRATIONS, MetadataStore, ReadTx, SCHEMA_VERSION, StoreError, WriteTx};

/// `PRAGMA application_id` of every Warden database: "WRDN".
const APPLICATION_ID: i64 = 0x5752_444E;

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

    pub(crate) fn begin(&self, sql: &str) -> Result<SqliteTx<'_>, StoreError> {
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
        Ok(Box::new(SqlTx {
            session: self.begin("BEGIN IMMEDIATE")?,
        }))
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
        Ok(Box::new(SqlTx {
            session: self.begin("BEGIN DEFERRED")?,
        }))
    }
}

/// One transaction on the store's connection, which it holds locked until
/// it ends. `read` hands it out as a [`ReadTx`], `write` as a [`WriteTx`].
pub(crate) struct SqliteTx<'a> {
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

fn to_sqlite(arg: &Arg<'_>) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match *arg {
        Arg::Int(Some(v)) => Value::Integer(v),
        Arg::Real(Some(v)) => Value::Real(v),
        Arg::Text(Some(s)) => Value::Text(s.to_string()),
        Arg::Int(None) | Arg::Real(None) | Arg::Text(None) => Value::Null,
    }
}

fn from_sqlite(row: &rusqlite::Row<'_>, columns: usize) -> Result<Row, StoreError> {
    use rusqlite::types::ValueRef;
    let mut cells = Vec::with_capacity(columns);
    for i in 0..columns {
        cells.push(match row.get_ref(i)? {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Real(v) => Cell::Real(v),
            ValueRef::Text(t) => Cell::Text(
                std::str::from_utf8(t)
                    .map_err(|_| StoreError::Row(format!("column {i}: text is not UTF-8")))?
                    .to_string(),
            ),
            ValueRef::Blob(_) => {
                return Err(StoreError::Row(format!("column {i}: unexpected blob")));
            }
        });
    }
    Ok(Row::new(cells))
}

impl Session for SqliteTx<'_> {
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        visit: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter().map(to_sqlite)))?;
        while let Some(row) = rows.next()? {
            if visit(from_sqlite(row, columns)?)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let n = stmt.execute(rusqlite::params_from_iter(args.iter().map(to_sqlite)))?;
        Ok(n as u64)
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("COMMIT")
            .map_err(|e| corrupt_or_sql(self.path, e))?;
        self.done = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::create(&dir.path().join("warden.db")).unwrap();
        (dir, s)
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
