use std::path::PathBuf;

/// Everything that can go wrong in a store, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite could not open or read the file as a database: it is not one,
    /// or it is corrupted.
    #[error("{path}: not a SQLite database, or the file is corrupted ({detail})")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// SQLite's message.
        detail: String,
    },
    /// A SQLite database whose `application_id` is not Warden's.
    #[error("{path}: this SQLite database was not created by Warden")]
    Foreign {
        /// The database file.
        path: PathBuf,
    },
    /// The database has a newer schema than this build understands.
    #[error(
        "{path}: the workspace has schema version {found}, newer than this warden understands ({supported}); upgrade warden"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The schema version recorded in the file (`PRAGMA user_version`).
        found: i64,
        /// The newest version this build understands, [`SCHEMA_VERSION`](crate::SCHEMA_VERSION).
        supported: i64,
    },
    /// Opening a database that is not there (no such file).
    #[error("{path}: no metadata database here")]
    Missing {
        /// The path that was opened.
        path: PathBuf,
    },
    /// Creating a database where a file already exists.
    #[error("{path}: a metadata database already exists")]
    Exists {
        /// The existing file.
        path: PathBuf,
    },
    /// Any other SQLite error, a failed constraint (such as a duplicate key) included.
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A PostgreSQL error: the server refused a statement, or the
    /// connection failed or was lost.
    #[error("metadata database (PostgreSQL at {location}): {detail}")]
    Postgres {
        /// Where the database is, without credentials.
        location: String,
        /// The client's error with its causes (a TLS handshake failure
        /// names the certificate problem).
        detail: String,
    },
    /// A PostgreSQL database that holds tables but not Warden's schema, or
    /// a newer schema than this build understands.
    #[error("metadata database (PostgreSQL at {location}): {detail}")]
    PostgresSchema {
        /// Where the database is, without credentials.
        location: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The S3 blob store answered with an error, or could not be reached.
    #[error("blob store ({location}): {detail}")]
    S3 {
        /// The bucket, prefix and endpoint.
        location: String,
        /// What failed, with the client's message.
        detail: String,
    },
    /// An S3 blob store that cannot be set up as configured.
    #[error("blob store: {detail}")]
    S3Config {
        /// What is wrong.
        detail: String,
    },
    /// A stored row whose values do not decode (a wrong type, an invalid
    /// name or timestamp): the database was changed outside Warden.
    #[error("metadata database: a stored row does not decode: {0}")]
    Row(String),
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory concerned (`<output>` when writing a blob
        /// out failed).
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// No blob with this digest is stored.
    #[error("blob {digest} not found in the blob store")]
    BlobMissing {
        /// The digest asked for.
        digest: warden_core::Digest,
    },
    /// A stored blob's bytes no longer hash to its digest.
    #[error("blob {digest} at {path} is corrupted: its bytes hash to {actual}")]
    BlobCorrupt {
        /// The digest the blob is stored under.
        digest: warden_core::Digest,
        /// The digest of the bytes actually read.
        actual: warden_core::Digest,
        /// The blob's file.
        path: PathBuf,
    },
    /// The stored log state is inconsistent: a malformed or ill-fitting
    /// frontier, a missing event or a malformed leaf hash.
    #[error("the stored audit log state is damaged: {0}; run `warden audit verify`")]
    LogState(String),
    /// A payload or event could not be encoded as canonical JSON.
    #[error(transparent)]
    Canonical(#[from] warden_core::CanonicalError),
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}
