//! The engine's error type. Each variant says what went wrong and where;
//! [`Error::hint`] says what to do; [`Error::kind`] tells front ends which
//! documented exit code applies.

use std::path::PathBuf;

use warden_artifact::keys::KeyError;
use warden_artifact::note::NoteError;
use warden_core::NameError;
use warden_policy::PolicyError;
use warden_store::StoreError;

/// Classes of failure with distinct exit codes (see the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Exit 1: any other error.
    General,
    /// Exit 2: the command line or its arguments are wrong.
    Usage,
    /// Exit 3: the authorisation policy refused the actor.
    NotAuthorised,
    /// Exit 4: a policy gate denied the action.
    GateDenied,
    /// Exit 5: a signature, digest or the audit log failed verification.
    Verification,
    /// Exit 6: scan findings at or above the threshold.
    Findings,
}

/// Everything an engine operation can fail with. The message (its
/// `Display`) says what went wrong and where; [`Error::kind`] maps it to an
/// exit code and [`Error::hint`] to a next step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No `warden.toml` in the start directory or any parent.
    #[error("no Warden workspace found in {start} or any parent directory")]
    NoWorkspace {
        /// The directory the search started from.
        start: PathBuf,
    },
    /// `warden init` on a directory that already holds a workspace.
    #[error("{path} already holds a Warden workspace")]
    WorkspaceExists {
        /// The directory given to `warden init`.
        path: PathBuf,
    },
    /// A settings file (`warden.toml`, a hub client's remembered
    /// checkpoint) that does not parse or holds a wrong setting.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The authorisation policy refused the actor (recorded as an
    /// `authz.denied` audit event when the log can be signed).
    #[error("{actor} may not {action}: the policy allows it for {}", roles_phrase(.allowing_roles))]
    Denied {
        /// The actor refused.
        actor: String,
        /// The action asked for (`model.promote`, `data.ingest`, …).
        action: String,
        /// The roles the policy would allow it for (empty: none).
        allowing_roles: Vec<String>,
    },
    /// A signature, digest, proof or audit log check failed, or a stored
    /// event does not parse as its action's payload.
    #[error("{0}")]
    Verification(String),
    /// The log key could not be read, so the change could not be sealed
    /// into the log and was rolled back.
    #[error("cannot sign the audit log, so nothing was changed: {0}")]
    LogKey(String),
    /// A policy whose digest is not the one registered for its scope.
    #[error(
        "the {scope} policy on disk ({on_disk}) is not the registered one ({registered}); it decides nothing"
    )]
    PolicyNotRegistered {
        /// An environment, or `authz`.
        scope: String,
        /// The `sha256:` digest in force: the registered one, or the
        /// bundled one's marked as such when nothing is registered.
        registered: String,
        /// The `sha256:` digest of the policy `warden.toml` names.
        on_disk: String,
    },
    /// A registry row used in a decision disagrees with the signed audit
    /// events that should have produced it.
    #[error("{row} disagrees with the audit log: {detail}")]
    StateDisagrees {
        /// The row, as a person would name it (`stage pointer
        /// credit/production`).
        row: String,
        /// What the log says instead, naming the event.
        detail: String,
    },
    /// A stored document (a manifest, a report, a decision's reasons) that
    /// no longer parses: the registry was damaged or edited outside Warden.
    #[error("{object} is corrupt: its stored {document} does not parse ({detail})")]
    Corrupt {
        /// The object the document belongs to (`model credit@2`).
        object: String,
        /// Which of its documents (`manifest`, `file list`, `report`, …).
        document: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// The named object (a dataset, model, key, token, …) does not exist;
    /// the message is the object's description.
    #[error("{0} not found")]
    NotFound(String),
    /// `NAME@V` where a model and a dataset both have that name and
    /// version, and either could be meant.
    #[error("{reference} names both a model and a dataset")]
    AmbiguousReference {
        /// The `NAME@V` given.
        reference: String,
    },
    /// The request clashes with the current state: the name is taken, the
    /// thing is already done (approved, revoked, closed), the model is
    /// quarantined, or a concurrent write got there first.
    #[error("{0}")]
    Conflict(String),
    /// Input content that is wrong (a file, a document).
    #[error("{0}")]
    Invalid(String),
    /// An argument that is wrong (a name, a number out of range).
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A name (actor, role, key, model, dataset, `NAME@V`) that is not valid.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The metadata or blob store failed (including a blob whose bytes no
    /// longer match its digest).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A Rego policy could not be loaded or evaluated.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A key could not be read, generated, or used to sign or verify.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A table or report could not be read or parsed.
    #[error("{0}")]
    Data(String),
    /// Expectations that failed; nothing was recorded.
    #[error("{} expectation(s) failed; nothing was recorded", .0.iter().filter(|e| !e.passed).count())]
    Validation(Vec<warden_data::schema::ExpectationResult>),
    /// An audit log checkpoint (a signed note) could not be signed, parsed or
    /// verified.
    #[error("audit log checkpoint: {0}")]
    Note(#[from] NoteError),
    /// A document could not be written as canonical JSON.
    #[error(transparent)]
    Canonical(#[from] warden_core::CanonicalError),
    /// A document could not be written or read as JSON.
    #[error("writing a document as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

fn roles_phrase(roles: &[String]) -> String {
    match roles {
        [] => "no role".to_string(),
        [one] => format!("the role {one}"),
        many => format!("the roles {}", many.join(", ")),
    }
}

/// Parses a stored document, or fails loudly naming the object it belongs
/// to: a document that does not parse is never replaced by a default.
pub(crate) fn parse_stored<T: serde::de::DeserializeOwned>(
    text: &str,
    object: impl std::fmt::Display,
    document: &'static str,
) -> Result<T, Error> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        object: object.to_string(),
        document,
        detail: e.to_string(),
    })
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Which exit code class this error belongs to.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Denied { .. } => ErrorKind::NotAuthorised,
            Error::Verification(_)
            | Error::StateDisagrees { .. }
            | Error::PolicyNotRegistered { .. }
            | Error::Corrupt { .. } => ErrorKind::Verification,
            Error::Store(StoreError::BlobCorrupt { .. }) => ErrorKind::Verification,
            Error::Key(KeyError::BadSignature) => ErrorKind::Verification,
            Error::Note(NoteError::BadSignature(_) | NoteError::UnknownKey) => {
                ErrorKind::Verification
            }
            Error::Name(_) | Error::Usage(_) | Error::AmbiguousReference { .. } => ErrorKind::Usage,
            _ => ErrorKind::General,
        }
    }

    /// A suggestion for the user, when there is an obvious next step.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::NoWorkspace { .. } => Some(
                "run `warden init` to create one, or point to one with --workspace DIR or WARDEN_WORKSPACE"
                    .into(),
            ),
            Error::WorkspaceExists { .. } => {
                Some("`warden init` never overwrites; choose another directory".into())
            }
            Error::Denied {
                actor,
                allowing_roles,
                ..
            } => allowing_roles.first().map(|r| {
                format!("an admin can run `warden roles grant {actor} {r}`")
            }),
            Error::AmbiguousReference { reference } => Some(format!(
                "write model:{reference} for the model's reference profile, or dataset:{reference} for the dataset's rows"
            )),
            Error::LogKey(_) => Some(
                "set WARDEN_KEY_PASSPHRASE to the log key's passphrase (the key is .warden/keys/log.pem)"
                    .into(),
            ),
            Error::PolicyNotRegistered { scope, .. } => Some(format!(
                "if the change is intended, an admin runs `warden policy register {scope}`{}; `warden policy status` compares every scope",
                if scope == "production" { " and a second admin confirms it the same way" } else { "" }
            )),
            Error::StateDisagrees { .. } => Some(
                "someone changed the registry outside Warden; run `warden audit verify` to list every disagreement and open an incident"
                    .into(),
            ),
            Error::Corrupt { .. } => Some(
                "run `warden audit verify` to see whether the log still holds it; restore .warden/warden.db from a backup"
                    .into(),
            ),
            Error::Store(StoreError::Corrupt { .. }) => Some(
                "restore .warden/warden.db from a backup; Warden will not write to a damaged database"
                    .into(),
            ),
            Error::Store(StoreError::Foreign { .. }) => {
                Some("the workspace's .warden/warden.db was replaced by another program's database".into())
            }
            Error::Store(StoreError::LogState(_)) => Some(
                "run `warden audit verify` to locate the damage; restore the database from a backup".into(),
            ),
            _ => None,
        }
    }
}
