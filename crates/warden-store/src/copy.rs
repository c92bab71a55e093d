//! Moving a workspace's metadata from its SQLite file into PostgreSQL,
//! verbatim, and proving nothing changed on the way.
//!
//! Every table is copied row by row with its values as stored (events,
//! ids and timestamps included: the audit log is not replayed, it is
//! moved), in one PostgreSQL transaction that holds the writers' lock.
//! Afterwards each table is read back from both databases and compared as
//! a multiset of rows (count and an order-independent digest: the two
//! databases order text differently), and the log's size and root must be
//! equal.

use std::ops::ControlFlow;

use sha2::{Digest as _, Sha256};

use crate::sql::{Arg, Cell, Row, Session, all};
use crate::{MetadataStore, PgStore, SqliteStore, StoreError};

/// One copied table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    /// The table's name.
    pub table: String,
    /// Rows copied (and found again in the target).
    pub rows: u64,
}

/// What [`copy_sqlite_to_postgres`] moved and checked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CopyReport {
    /// Every table, by name.
    pub tables: Vec<CopiedTable>,
    /// The audit log's size in both stores.
    pub log_size: u64,
    /// The log's root (hex) in both stores.
    pub log_root: String,
}

/// A PostgreSQL column's type, as the copy binds it.
#[derive(Clone, Copy, Debug)]
enum ColumnType {
    Int,
    Real,
    Text,
}

/// Copies every table of `src` into `dst`, which must be a store just
/// created (holding only what its migrations wrote), then checks the two
/// agree. On any error nothing is committed to `dst`.
pub fn copy_sqlite_to_postgres(src: &SqliteStore, dst: &PgStore) -> Result<CopyReport, StoreError> {
    let mismatch = |detail: String| StoreError::PostgresSchema {
        location: dst.location().to_string(),
        detail,
    };
    {
        let mut from = src.begin("BEGIN DEFERRED")?;
        let mut to = dst.begin_write()?;
        let tables = sqlite_tables(&mut from)?;
        for table in &tables {
            let columns = pg_columns(&mut to, table)?;
            if columns.is_empty() {
                return Err(mismatch(format!("has no table {table}")));
            }
            let source_columns = sqlite_columns(&mut from, table)?;
            let mut want: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            let mut have: Vec<&str> = source_columns.iter().map(String::as_str).collect();
            want.sort_unstable();
            have.sort_unstable();
            if want != have {
                return Err(mismatch(format!(
                    "table {table} has columns {want:?}, the source {have:?}"
                )));
            }
            to.execute(&format!("DELETE FROM {table}"), &[])?;
            let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
            let select = format!("SELECT {} FROM {table}", names.join(", "));
            let insert = format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                crate::sql::placeholders(1, names.len())
            );
            from.each(&select, &[], &mut |row: Row| {
                let cells = row.into_cells();
                let args = typed_args(&cells, &columns, table)?;
                to.execute(&insert, &args)?;
                Ok(ControlFlow::Continue(()))
            })?;
        }
        to.commit()?;
    }
    verify(src, dst)
}

/// Reads both stores back and compares them table by table.
fn verify(src: &SqliteStore, dst: &PgStore) -> Result<CopyReport, StoreError> {
    let mut from = src.begin("BEGIN DEFERRED")?;
    let mut to = dst.begin_read()?;
    let mut report = Vec::new();
    for table in sqlite_tables(&mut from)? {
        let columns = sqlite_columns(&mut from, &table)?;
        let select = format!("SELECT {} FROM {table}", columns.join(", "));
        let (n_from, d_from) = multiset_digest(&mut from, &select)?;
        let (n_to, d_to) = multiset_digest(&mut to, &select)?;
        if (n_from, d_from) != (n_to, d_to) {
            return Err(StoreError::PostgresSchema {
                location: dst.location().to_string(),
                detail: format!(
                    "after the copy, table {table} differs: {n_from} rows in the source, {n_to} in PostgreSQL"
                ),
            });
        }
        report.push(CopiedTable {
            table,
            rows: n_from,
        });
    }
    drop(from);
    drop(to);
    let f_from = src.read()?.log_frontier()?;
    let f_to = dst.read()?.log_frontier()?;
    if f_from.size() != f_to.size() || f_from.root() != f_to.root() {
        return Err(StoreError::PostgresSchema {
            location: dst.location().to_string(),
            detail: "after the copy, the audit log's root differs".into(),
        });
    }
    Ok(CopyReport {
        tables: report,
        log_size: f_from.size(),
        log_root: hex::encode(f_from.root()),
    })
}

fn sqlite_tables(s: &mut dyn Session) -> Result<Vec<String>, StoreError> {
    all(
        s,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        &[],
        |mut r| r.text(0),
    )
}

fn sqlite_columns(s: &mut dyn Session, table: &str) -> Result<Vec<String>, StoreError> {
    all(
        s,
        "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
        &[Arg::text(table)],
        |mut r| r.text(0),
    )
}

fn pg_columns(s: &mut dyn Session, table: &str) -> Result<Vec<(String, ColumnType)>, StoreError> {
    all(
        s,
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = ?1 ORDER BY ordinal_position",
        &[Arg::text(table)],
        |mut r| {
            let name = r.text(0)?;
            let t = match r.text(1)?.as_str() {
                "bigint" | "integer" | "smallint" => ColumnType::Int,
                "double precision" | "real" => ColumnType::Real,
                "text" | "character varying" => ColumnType::Text,
                other => {
                    return Err(StoreError::Row(format!(
                        "column {table}.{name} has type {other}, which Warden's schema never uses"
                    )));
                }
            };
            Ok((name, t))
        },
    )
}

fn typed_args<'a>(
    cells: &'a [Cell],
    columns: &[(String, ColumnType)],
    table: &str,
) -> Result<Vec<Arg<'a>>, StoreError> {
    cells
        .iter()
        .zip(columns)
        .map(|(cell, (name, t))| match (cell, t) {
            (Cell::Null, ColumnType::Int) => Ok(Arg::Int(None)),
            (Cell::Null, ColumnType::Real) => Ok(Arg::Real(None)),
            (Cell::Null, ColumnType::Text) => Ok(Arg::Text(None)),
            (Cell::Int(v), ColumnType::Int) => Ok(Arg::int(*v)),
            (Cell::Int(v), ColumnType::Real) => Ok(Arg::Real(Some(*v as f64))),
            (Cell::Real(v), ColumnType::Real) => Ok(Arg::Real(Some(*v))),
            (Cell::Text(s), ColumnType::Text) => Ok(Arg::text(s)),
            (cell, t) => Err(StoreError::Row(format!(
                "{table}.{name}: a stored {cell:?} does not fit a {t:?} column"
            ))),
        })
        .collect()
}

/// How many rows a query returns, and the sum (mod 2^256) of each row's
/// SHA-256: equal for equal multisets of rows, in any order.
fn multiset_digest(s: &mut dyn Session, select: &str) -> Result<(u64, [u8; 32]), StoreError> {
    let mut n = 0u64;
    let mut sum = [0u8; 32];
    s.each(select, &[], &mut |row: Row| {
        let mut h = Sha256::new();
        for cell in row.into_cells() {
            match cell {
                Cell::Null => h.update(b"n"),
                Cell::Int(v) => {
                    h.update(b"i");
                    h.update(v.to_be_bytes());
                }
                Cell::Real(v) => {
                    h.update(b"r");
                    h.update(v.to_bits().to_be_bytes());
                }
                Cell::Text(t) => {
                    h.update(b"t");
                    h.update((t.len() as u64).to_be_bytes());
                    h.update(t.as_bytes());
                }
            }
        }
        let d = h.finalize();
        // Little-endian addition with carry.
        let mut carry = 0u16;
        for i in 0..32 {
            let v = u16::from(sum[i]) + u16::from(d[i]) + carry;
            sum[i] = (v & 0xff) as u8;
            carry = v >> 8;
        }
        n += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    Ok((n, sum))
}
