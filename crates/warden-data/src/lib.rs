//! Tabular data, from a file someone hands you to a table a model may be
//! trained on.
//!
//! - [`read`]: RFC 4180 CSV into a typed columnar [`Table`] in bounded
//!   memory (field and record size limits, UTF-8 checked, ragged rows,
//!   empty and header-only files and duplicate column names refused with
//!   the row, line and column).
//! - [`schema`]: Great Expectations-style expectations declared in TOML.
//! - [`pii`] and [`detect`]: personal-data detectors (email, phone, SSN,
//!   payment card, IBAN, IP, date of birth, names, addresses, postcodes) by
//!   column name and by value, and in free text.
//! - [`policy`]: PII actions (drop, mask, redact, pseudonymise, generalise).
//! - [`screen`]: the poisoning and integrity screen.
//! - [`ingest()`]: the whole pipeline; [`write`]: the canonical stored form.
//! - [`example`]: the synthetic credit dataset used by the demo and tests.
//!
//! ```
//! use warden_data::read::{read_csv, CsvOptions};
//! let (t, digest) = read_csv(&mut &b"age,email\n41,ana@example.com\n"[..], &CsvOptions::default()).unwrap();
//! assert_eq!(t.rows, 1);
//! let f = warden_data::detect::detect_column(&t.columns[1]);
//! assert_eq!(f.entity, Some(warden_data::pii::Entity::Email));
//! ```
#![forbid(unsafe_code)]

pub mod detect;
pub mod example;
mod ingest;
pub mod pii;
pub mod policy;
mod pool;
pub mod profile;
pub mod read;
mod records;
pub mod report;
pub mod schema;
pub mod screen;
pub mod table;
pub mod write;

pub use ingest::{
    ActionTaken, DataReport, DroppedColumn, IngestSpec, Ingested, PiiReport, PseudonymKey,
    duplicate_rows, ingest,
};
pub use table::{Column, ColumnData, ColumnType, Table, TextColumn};
pub(crate) use warden_core::Hasher;

use warden_core::Digest;

/// Everything that can be wrong with data, with where.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{0}")]
    Io(String),
    #[error("row {row} (line {line}){}: {message}", if .column.is_empty() { String::new() } else { format!(", column {}", .column) })]
    Parse {
        row: usize,
        line: u64,
        column: String,
        message: String,
    },
    #[error("{0}")]
    Header(String),
    #[error("schema: {0}")]
    Schema(String),
    #[error("PII policy: {0}")]
    Policy(String),
    #[error("{0}")]
    Columns(String),
    #[error("the input's SHA-256 is {actual}, not the pinned {expected}")]
    Integrity { expected: Digest, actual: Digest },
    #[error("{} expectation(s) failed", .0.iter().filter(|e| !e.passed).count())]
    Validation(Vec<schema::ExpectationResult>),
    #[error("internal error: {0}")]
    Internal(String),
}
