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
//! - [`ingest()`]: the whole pipeline; [`write`](mod@write): the canonical stored form.
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
#![deny(missing_docs)]

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
    /// Reading the input failed; the message carries the I/O error.
    #[error("{0}")]
    Io(String),
    /// A record could not be parsed: invalid UTF-8 or a NUL byte, a field or
    /// record over its size limit, too many fields, a ragged row, or a column
    /// past 2 GiB of text.
    #[error("row {row} (line {line}){}: {message}", if .column.is_empty() { String::new() } else { format!(", column {}", .column) })]
    Parse {
        /// The data row, counted from 1; 0 is the header record.
        row: usize,
        /// The line of the input, counted from 1, on which the record starts.
        line: u64,
        /// The column's name, or `#n` (counted from 1) for a field with no
        /// name; empty when the error is not in one field.
        column: String,
        /// What is wrong.
        message: String,
    },
    /// The header is unusable: the file is empty or has no data rows, or a
    /// column name is empty or duplicated.
    #[error("{0}")]
    Header(String),
    /// The schema TOML does not parse or declares something invalid.
    #[error("schema: {0}")]
    Schema(String),
    /// The PII policy TOML does not parse or declares something invalid.
    #[error("PII policy: {0}")]
    Policy(String),
    /// The columns asked for do not fit the table: a declared column or
    /// target is missing, the target is also a feature, or dropping the
    /// suspect rows is impossible or would leave none.
    #[error("{0}")]
    Columns(String),
    /// The input's SHA-256 is not the pinned one.
    #[error("the input's SHA-256 is {actual}, not the pinned {expected}")]
    Integrity {
        /// The pinned digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// At least one expectation failed; holds every expectation's result,
    /// passed ones included.
    #[error("{} expectation(s) failed", .0.iter().filter(|e| !e.passed).count())]
    Validation(Vec<schema::ExpectationResult>),
    /// A bug or a failed worker thread, not a problem with the data.
    #[error("internal error: {0}")]
    Internal(String),
}
