//! The metadata store on PostgreSQL, for several control-plane replicas
//! sharing one registry and one audit log.
//!
//! The schema and the queries are SQLite's ([`crate::MIGRATIONS`],
//! [`crate::queries`]); this module connects, migrates and runs statements.
//!
//! **One log across replicas.** Every write transaction first takes one
//! transaction-level advisory lock (`pg_advisory_xact_lock`), so writers
//! from every replica are serialised exactly as SQLite serialises writers
//! of one file: the next event number, the log frontier and the next row
//! ids are read and written under the lock, and the state change commits
//! with its audit event or not at all. Writes run at READ COMMITTED, so
//! each statement after the lock sees every commit before it. Reads are
//! REPEATABLE READ, READ ONLY: one consistent snapshot, no lock.
//!
//! **TLS.** Only an explicit `sslmode=disable` connects in the clear. Any
//! other mode, the default `prefer` included, requires TLS: libpq's
//! `prefer` falls back to plain text when the server (or someone on the
//! path) answers that it has no TLS, which would let a network attacker
//! strip it. The server's certificate is always verified: against the PEM
//! bundle named by `sslrootcert` in the connection string or by
//! `PGSSLROOTCERT` (a private CA, as managed databases use), else against
//! the Mozilla roots compiled in.
//!
//! **Connections.** A store keeps up to [`POOL_SIZE`] idle connections and
//! their prepared statements; a connection that broke is dropped, and the
//! next transaction connects again.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, Config, NoTls, Statement};

use crate::queries::SqlTx;
use crate::sql::{Arg, Cell, Row, Session};
use crate::{MIGRATIONS, MetadataStore, ReadTx, SCHEMA_VERSION, StoreError, WriteTx};

/// The advisory lock every writer takes: "WRDN".
const WRITE_LOCK: i64 = 0x5752_444E;

/// Idle connections a store keeps.
pub const POOL_SIZE: usize = 8;

/// Where a PostgreSQL metadata store is: a parsed connection string
/// (`postgres://user@host:port/db?sslmode=require`, or libpq's
/// `key=value` form). Its display never shows the password.
#[derive(Clone)]
pub struct PgLocation {
    config: Config,
    shown: String,
    /// libpq's `sslrootcert`: a PEM bundle of the CAs to trust.
    root_cert: Option<std::path::PathBuf>,
}

/// Takes libpq's `sslrootcert` out of a connection string (the client
/// library does not know it): from a URL's query, or a `key=value` word.
fn take_root_cert(url: &str) -> (String, Option<std::path::PathBuf>) {
    const KEY: &str = "sslrootcert=";
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_string(), None);
        };
        let mut root = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| match p.strip_prefix(KEY) {
                Some(v) => {
                    root = Some(std::path::PathBuf::from(percent_decode(v)));
                    false
                }
                None => true,
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        (rest, root)
    } else {
        let mut root = None;
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|w| match w.strip_prefix(KEY) {
                Some(v) => {
                    root = Some(std::path::PathBuf::from(v));
                    false
                }
                None => true,
            })
            .collect();
        (kept.join(" "), root)
    }
}

/// `%XX` escapes of a URL query value (anything else is kept as it is).
fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(&h), Some(&l)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex(h), hex(l))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl PgLocation {
    /// Parses a connection string (libpq's `sslrootcert` included).
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let (url, root_cert) = take_root_cert(url);
        let config = Config::from_str(&url).map_err(|e| StoreError::PostgresSchema {
            location: "(unparsed)".into(),
            detail: format!("not a PostgreSQL connection string: {e}"),
        })?;
        let host = config
            .get_hosts()
            .first()
            .map(|h| match h {
                postgres::config::Host::Tcp(h) => h.clone(),
                postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let shown = format!(
            "{}@{host}:{port}/{}",
            config.get_user().unwrap_or("?"),
            config.get_dbname().unwrap_or("?"),
        );
        Ok(PgLocation {
            config,
            shown,
            root_cert,
        })
    }

    /// Whether the connection string carries a password.
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// Sets the password (from the environment, never from a config file).
    pub fn set_password(&mut self, password: &str) {
        self.config.password(password);
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgLocation({})", self.shown)
    }
}

/// The PostgreSQL metadata store.
pub struct PgStore {
    location: PgLocation,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    idle: Mutex<Vec<PgConn>>,
}

/// A connection and the statements prepared on it.
struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgStore {
    /// Creates Warden's schema in an empty database. A database that
    /// already holds a Warden store, or other tables, is refused.
    pub fn create(location: &PgLocation) -> Result<Self, StoreError> {
        let store = PgStore::new(location)?;
        let mut conn = store.connect()?;
        store.with_migration_lock(&mut conn, |store, conn| {
            match store.schema_version(conn)? {
                None => store.migrate(conn, 0),
                Some(_) => Err(store.schema_error("already holds a Warden store")),
            }
        })?;
        store.give(conn);
        Ok(store)
    }

    /// Opens a database holding a Warden store, migrating an older schema.
    pub fn open(location: &PgLocation) -> Result<Self, StoreError> {
        let store = PgStore::new(location)?;
        let mut conn = store.connect()?;
        store.with_migration_lock(&mut conn, |store, conn| {
            match store.schema_version(conn)? {
                None => Err(store.schema_error(
                    "holds no Warden store; create one with `warden init --store URL`",
                )),
                Some(v) if v > SCHEMA_VERSION => Err(store.schema_error(&format!(
                    "has schema version {v}, newer than this warden understands ({SCHEMA_VERSION}); upgrade warden"
                ))),
                Some(v) => store.migrate(conn, v),
            }
        })?;
        store.give(conn);
        Ok(store)
    }

    /// Where the database is (no credentials).
    pub fn location(&self) -> &PgLocation {
        &self.location
    }

    fn new(location: &PgLocation) -> Result<Self, StoreError> {
        let mut location = location.clone();
        let tls = match location.config.get_ssl_mode() {
            postgres::config::SslMode::Disable => None,
            _ => {
                location.config.ssl_mode(postgres::config::SslMode::Require);
                Some(tls_connector(&location)?)
            }
        };
        Ok(PgStore {
            location,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn pg(&self, e: postgres::Error) -> StoreError {
        // The client's message alone can be as bare as "error performing
        // TLS handshake"; the causes say why.
        let mut detail = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            let text = c.to_string();
            if !detail.contains(&text) {
                detail.push_str(": ");
                detail.push_str(&text);
            }
            cause = c.source();
        }
        StoreError::Postgres {
            location: self.location.to_string(),
            detail,
        }
    }

    fn schema_error(&self, detail: &str) -> StoreError {
        StoreError::PostgresSchema {
            location: self.location.to_string(),
            detail: detail.to_string(),
        }
    }

    fn connect(&self) -> Result<PgConn, StoreError> {
        let client = match &self.tls {
            None => self.location.config.connect(NoTls),
            Some(tls) => self.location.config.connect(tls.clone()),
        }
        .map_err(|e| self.pg(e))?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn take(&self) -> Result<PgConn, StoreError> {
        loop {
            let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            match kept {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return self.connect(),
            }
        }
    }

    fn give(&self, conn: PgConn) {
        if conn.client.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < POOL_SIZE {
            idle.push(conn);
        }
    }

    /// Runs `f` holding the writers' lock at session level, so replicas
    /// starting together migrate one at a time and no write interleaves.
    fn with_migration_lock<T>(
        &self,
        conn: &mut PgConn,
        f: impl FnOnce(&Self, &mut PgConn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        conn.client
            .execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK])
            .map_err(|e| self.pg(e))?;
        let out = f(self, conn);
        let unlocked = conn
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&WRITE_LOCK]);
        let out = out?;
        unlocked.map_err(|e| self.pg(e))?;
        Ok(out)
    }

    /// The schema version recorded in `meta`; `None` for an empty database.
    fn schema_version(&self, conn: &mut PgConn) -> Result<Option<i64>, StoreError> {
        let has_meta: bool = conn
            .client
            .query_one("SELECT to_regclass('meta') IS NOT NULL", &[])
            .and_then(|r| r.try_get(0))
            .map_err(|e| self.pg(e))?;
        if !has_meta {
            let tables: i64 = conn
                .client
                .query_one(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
                    &[],
                )
                .and_then(|r| r.try_get(0))
                .map_err(|e| self.pg(e))?;
            if tables > 0 {
                return Err(self.schema_error(
                    "holds tables that are not a Warden store; give Warden a database (or schema) of its own",
                ));
            }
            return Ok(None);
        }
        let row = conn
            .client
            .query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[])
            .map_err(|e| self.pg(e))?;
        let Some(row) = row else {
            return Err(self
                .schema_error("has a `meta` table without a schema version: not a Warden store"));
        };
        let text: String = row.try_get(0).map_err(|e| self.pg(e))?;
        text.parse::<i64>()
            .map(Some)
            .map_err(|_| self.schema_error(&format!("has schema version {text:?}, not a number")))
    }

    fn migrate(&self, conn: &mut PgConn, from: i64) -> Result<(), StoreError> {
        let start = usize::try_from(from).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(start) {
            let mut tx = conn.client.transaction().map_err(|e| self.pg(e))?;
            tx.batch_execute(sql).map_err(|e| self.pg(e))?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&(i + 1).to_string()],
            )
            .map_err(|e| self.pg(e))?;
            tx.commit().map_err(|e| self.pg(e))?;
        }
        Ok(())
    }

    fn begin(&self, sql: &str) -> Result<PgTx<'_>, StoreError> {
        let mut conn = self.take()?;
        if let Err(e) = conn.client.batch_execute(sql) {
            // A connection that failed to begin may be half-broken: drop it.
            return Err(self.pg(e));
        }
        Ok(PgTx {
            store: self,
            conn: Some(conn),
            notify: false,
            done: false,
            failed: false,
        })
    }
}

/// The channel every write transaction notifies as it commits, and
/// listeners `LISTEN` on.
pub const CHANGES_CHANNEL: &str = "warden_changes";
const NOTIFY_AND_COMMIT: &str = "NOTIFY warden_changes; COMMIT";

impl PgStore {
    /// A write transaction: READ COMMITTED, after the writers' lock.
    pub(crate) fn begin_write(&self) -> Result<PgTx<'_>, StoreError> {
        let mut tx = self.begin(&format!(
            "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ))?;
        tx.notify = true;
        Ok(tx)
    }

    /// A SERIALIZABLE write transaction without the writers' lock: the
    /// alternative the advisory lock was measured against
    /// (`examples/pg_writers.rs`). Concurrent writers then fail with
    /// SQLSTATE 40001 and must run again; the engine does not use it.
    pub fn write_serializable(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(SqlTx {
            session: self.begin("BEGIN ISOLATION LEVEL SERIALIZABLE")?,
        }))
    }

    /// A read transaction: one REPEATABLE READ snapshot.
    pub(crate) fn begin_read(&self) -> Result<PgTx<'_>, StoreError> {
        self.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }
}

impl MetadataStore for PgStore {
    fn write(&self) -> Result<Box<dyn WriteTx + '_>, StoreError> {
        Ok(Box::new(SqlTx {
            session: self.begin_write()?,
        }))
    }

    fn read(&self) -> Result<Box<dyn ReadTx + '_>, StoreError> {
        Ok(Box::new(SqlTx {
            session: self.begin_read()?,
        }))
    }

    fn listen(&self) -> Result<Option<Box<dyn crate::ChangeListener>>, StoreError> {
        let mut conn = self.connect()?;
        conn.client
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .map_err(|e| self.pg(e))?;
        Ok(Some(Box::new(PgListener {
            location: self.location.to_string(),
            client: conn.client,
        })))
    }
}

/// A connection of its own that `LISTEN`s for the writers' notification
/// (every write transaction sends one as it commits).
struct PgListener {
    location: String,
    client: postgres::Client,
}

impl crate::ChangeListener for PgListener {
    fn changed(&mut self) -> Result<bool, StoreError> {
        let location = &self.location;
        let mut heard = false;
        {
            let mut n = self.client.notifications();
            // A short wait, not `iter`: reading the socket needs the
            // client's runtime to turn, which a call that returns at once
            // never lets it do, so `iter` alone would never see a new
            // notification.
            let mut it = n.timeout_iter(std::time::Duration::from_millis(1));
            loop {
                match it.next() {
                    Ok(Some(_)) => heard = true,
                    Ok(None) => break,
                    Err(e) => {
                        return Err(StoreError::Postgres {
                            location: location.clone(),
                            detail: e.to_string(),
                        });
                    }
                }
            }
        }
        if self.client.is_closed() {
            return Err(StoreError::Postgres {
                location: location.clone(),
                detail: "the listening connection closed".into(),
            });
        }
        Ok(heard)
    }
}

/// The TLS connector: the server's certificate verified against
/// `PGSSLROOTCERT` or the compiled-in Mozilla roots.
fn tls_connector(
    location: &PgLocation,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    let root_cert = location
        .root_cert
        .clone()
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PGSSLROOTCERT"));
    match root_cert {
        Some(path) => {
            let certs =
                CertificateDer::pem_file_iter(&path).map_err(|e| StoreError::PostgresSchema {
                    location: location.to_string(),
                    detail: format!("PGSSLROOTCERT {}: {e}", path.to_string_lossy()),
                })?;
            for cert in certs {
                let cert = cert.map_err(|e| StoreError::PostgresSchema {
                    location: location.to_string(),
                    detail: format!("PGSSLROOTCERT {}: {e}", path.to_string_lossy()),
                })?;
                roots.add(cert).map_err(|e| StoreError::PostgresSchema {
                    location: location.to_string(),
                    detail: format!("PGSSLROOTCERT {}: {e}", path.to_string_lossy()),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::PostgresSchema {
            location: location.to_string(),
            detail: format!("TLS: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// One transaction on a pooled connection; the connection goes back to
/// the pool when the transaction ends (rolled back unless committed).
pub(crate) struct PgTx<'a> {
    store: &'a PgStore,
    conn: Option<PgConn>,
    /// A write transaction: its commit notifies the listeners.
    notify: bool,
    done: bool,
    /// A statement failed: PostgreSQL has aborted the transaction, and a
    /// COMMIT would silently roll back, so [`Session::commit`] refuses.
    failed: bool,
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.done && conn.client.batch_execute("ROLLBACK").is_err() {
            // The connection is in an unknown state: close it.
            return;
        }
        self.store.give(conn);
    }
}

/// `?1`, `?2`, … as PostgreSQL's `$1`, `$2`, …. The shared SQL has no other
/// question marks (no string literal holds one).
fn dollar_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn pg_type(arg: &Arg<'_>) -> Type {
    match arg {
        Arg::Int(_) => Type::INT8,
        Arg::Real(_) => Type::FLOAT8,
        Arg::Text(_) => Type::TEXT,
    }
}

fn pg_params<'a>(args: &'a [Arg<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    args.iter()
        .map(|a| match a {
            Arg::Int(v) => v as &(dyn ToSql + Sync),
            Arg::Real(v) => v as &(dyn ToSql + Sync),
            Arg::Text(v) => v as &(dyn ToSql + Sync),
        })
        .collect()
}

fn from_pg(row: &postgres::Row) -> Result<Row, postgres::Error> {
    let mut cells = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let t = column.type_();
        let cell = if *t == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)?.map(Cell::Int)
        } else if *t == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)?
                .map(|v| Cell::Int(i64::from(v)))
        } else if *t == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)?
                .map(|v| Cell::Int(i64::from(v)))
        } else if *t == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)?
                .map(|v| Cell::Int(i64::from(v)))
        } else if *t == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)?.map(Cell::Real)
        } else if *t == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)?
                .map(|v| Cell::Real(f64::from(v)))
        } else {
            // TEXT, VARCHAR and anything else a query of ours selects;
            // another type fails here with the client's own message.
            row.try_get::<_, Option<String>>(i)?.map(Cell::Text)
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row::new(cells))
}

impl PgTx<'_> {
    fn conn(&mut self) -> Result<&mut PgConn, StoreError> {
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Row("the transaction has ended".into()))
    }

    fn statement(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Statement, StoreError> {
        let store = self.store;
        let conn = self.conn()?;
        if let Some(s) = conn.statements.get(sql) {
            return Ok(s.clone());
        }
        let types: Vec<Type> = args.iter().map(pg_type).collect();
        let stmt = conn
            .client
            .prepare_typed(&dollar_placeholders(sql), &types)
            .map_err(|e| store.pg(e))?;
        conn.statements.insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

impl Session for PgTx<'_> {
    fn each(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        visit: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let out = self.each_inner(sql, args, visit);
        self.failed |= out.is_err();
        out
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let out = self.execute_inner(sql, args);
        self.failed |= out.is_err();
        out
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        if self.failed {
            return Err(self.store.schema_error(
                "a statement of this transaction failed, so PostgreSQL rolled it back; nothing of it was written",
            ));
        }
        let store = self.store;
        // The notification is sent when, and only if, the transaction
        // commits; PostgreSQL folds repeats within one into one.
        let sql = if self.notify {
            NOTIFY_AND_COMMIT
        } else {
            "COMMIT"
        };
        let conn = self.conn()?;
        conn.client.batch_execute(sql).map_err(|e| store.pg(e))?;
        self.done = true;
        Ok(())
    }
}

impl PgTx<'_> {
    fn each_inner(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        visit: &mut dyn FnMut(Row) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let stmt = self.statement(sql, args)?;
        let store = self.store;
        let conn = self.conn()?;
        let params = pg_params(args);
        let mut rows = conn
            .client
            .query_raw(&stmt, params)
            .map_err(|e| store.pg(e))?;
        while let Some(row) = rows.next().map_err(|e| store.pg(e))? {
            let row = from_pg(&row).map_err(|e| store.pg(e))?;
            if visit(row)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    fn execute_inner(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql, args)?;
        let store = self.store;
        let conn = self.conn()?;
        conn.client
            .execute(&stmt, &pg_params(args))
            .map_err(|e| store.pg(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_and_nothing_else_changes() {
        assert_eq!(
            dollar_placeholders(
                "SELECT a FROM t WHERE x = ?1 AND (?2 IS NULL OR y = ?2) AND z = '?'"
            ),
            "SELECT a FROM t WHERE x = $1 AND ($2 IS NULL OR y = $2) AND z = '?'"
        );
        assert_eq!(dollar_placeholders("?10, ?11"), "$10, $11");
    }

    #[test]
    fn sslrootcert_is_taken_out_of_either_form() {
        let (u, r) =
            take_root_cert("postgres://w@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca.pem&x=1");
        assert_eq!(u, "postgres://w@h/db?sslmode=require&x=1");
        assert_eq!(r.as_deref(), Some(std::path::Path::new("/etc/ca.pem")));
        let (u, r) = take_root_cert("postgres://w@h/db?sslrootcert=/ca.pem");
        assert_eq!((u.as_str(), r.is_some()), ("postgres://w@h/db", true));
        let (u, r) = take_root_cert("host=h user=w sslrootcert=/ca.pem dbname=d");
        assert_eq!(u, "host=h user=w dbname=d");
        assert_eq!(r.as_deref(), Some(std::path::Path::new("/ca.pem")));
        let (u, r) = take_root_cert("postgres://w@h/db");
        assert_eq!((u.as_str(), r), ("postgres://w@h/db", None));
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
        assert_eq!(percent_decode("é%"), "é%");
    }

    #[test]
    fn the_location_never_shows_the_password() {
        let loc = PgLocation::parse("postgres://warden:s3cret@db.example:6543/registry").unwrap();
        assert_eq!(loc.to_string(), "warden@db.example:6543/registry");
        assert!(!format!("{loc:?}").contains("s3cret"));
        assert!(loc.has_password());
        let err = PgLocation::parse("postgres://[bad").unwrap_err();
        assert!(
            err.to_string()
                .contains("not a PostgreSQL connection string"),
            "{err}"
        );
    }
}
