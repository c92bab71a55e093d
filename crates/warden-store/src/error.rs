use std::path::PathBuf;

/// Everything that can go wrong in a store, with the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a SQLite database, or the file is corrupted ({detail})")]
    Corrupt { path: PathBuf, detail: String },
    #[error("{path}: this SQLite database was not created by Warden")]
    Foreign { path: PathBuf },
    #[error(
        "{path}: the workspace has schema version {found}, newer than this warden understands ({supported}); upgrade warden"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path}: no metadata database here")]
    Missing { path: PathBuf },
    #[error("{path}: a metadata database already exists")]
    Exists { path: PathBuf },
    #[error("metadata database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {digest} not found in the blob store")]
    BlobMissing { digest: warden_core::Digest },
    #[error("blob {digest} at {path} is corrupted: its bytes hash to {actual}")]
    BlobCorrupt {
        digest: warden_core::Digest,
        actual: warden_core::Digest,
        path: PathBuf,
    },
    #[error("the stored audit log state is damaged: {0}; run `warden audit verify`")]
    LogState(String),
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
