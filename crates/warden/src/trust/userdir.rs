//! What one user keeps outside every workspace: the last checkpoint of each
//! log they have seen.
//!
//! A workspace cannot vouch for its own history: whoever can write its
//! files can delete the newest events and put back an older signed
//! checkpoint. A checkpoint remembered in the user's own directory is out
//! of that reach, so `audit verify` checks the log against it (the log's
//! root at the remembered size must be the remembered root) and a
//! truncation or rewrite after it is reported.
//!
//! The directory is `$WARDEN_CONFIG_DIR`, else `$XDG_CONFIG_HOME/warden`,
//! else `$HOME/.config/warden`; files are written 0600 in 0700 directories.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use warden_core::Digest;

use crate::Error;

/// The user's Warden directory, when one can be named.
pub fn user_dir() -> Option<PathBuf> {
    let from = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    from("WARDEN_CONFIG_DIR")
        .or_else(|| from("XDG_CONFIG_HOME").map(|d| d.join("warden")))
        .or_else(|| from("HOME").map(|d| d.join(".config").join("warden")))
}

/// A checkpoint the user has seen, with the verifier key it was signed
/// under when first seen.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Remembered {
    /// The log's origin line.
    pub origin: String,
    /// The verifier key the checkpoint was signed under when first seen.
    pub vkey: String,
    /// The log's size (events) at the checkpoint.
    pub size: u64,
    /// The signed note.
    pub note: String,
}

fn file_for(dir: &Path, origin: &str) -> PathBuf {
    let d = Digest::of(origin.as_bytes()).to_string();
    let hexpart = d.trim_start_matches("sha256:");
    dir.join("checkpoints").join(format!("{hexpart}.json"))
}

/// The remembered checkpoint of the log `origin` in `dir`, if any. A file
/// that does not parse is an error (it was damaged or replaced), never
/// silently forgotten.
pub fn load(dir: &Path, origin: &str) -> Result<Option<(PathBuf, Remembered)>, Error> {
    let path = file_for(dir, origin);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let r: Remembered = serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.clone(),
        message: format!("not a remembered checkpoint: {e}"),
    })?;
    if r.origin != origin {
        return Err(Error::Config {
            path,
            message: format!("remembers the log {:?}, not {origin:?}", r.origin),
        });
    }
    Ok(Some((path, r)))
}

/// Remembers `r` unless a checkpoint at least as large is remembered
/// already (a checkpoint never moves back). Returns the file written.
pub fn remember(dir: &Path, r: &Remembered) -> Result<Option<PathBuf>, Error> {
    if let Some((_, old)) = load(dir, &r.origin)?
        && (old.size >= r.size || old.vkey != r.vkey)
    {
        // A different verifier key is never adopted here: the key first
        // seen stays, and `audit verify` reports the change.
        return Ok(None);
    }
    let path = file_for(dir, &r.origin);
    let parent = path
        .parent()
        .ok_or_else(|| Error::Invalid(format!("{} has no parent", path.display())))?;
    create_private_dirs(parent)?;
    let text = serde_json::to_vec_pretty(r)
        .map_err(|e| Error::Invalid(format!("remembered checkpoint: {e}")))?;
    write_private(&path, &text)?;
    Ok(Some(path))
}

fn create_private_dirs(dir: &Path) -> Result<(), Error> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| Error::io(dir, e))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    // NamedTempFile creates 0600 on unix.
    tmp.write_all(bytes).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rem(size: u64, vkey: &str) -> Remembered {
        Remembered {
            origin: "warden.local/abc".into(),
            vkey: vkey.into(),
            size,
            note: format!("note {size}"),
        }
    }

    #[test]
    fn a_checkpoint_never_moves_back() {
        let d = tempfile::tempdir().unwrap();
        assert!(remember(d.path(), &rem(5, "k")).unwrap().is_some());
        assert!(remember(d.path(), &rem(3, "k")).unwrap().is_none());
        assert_eq!(
            load(d.path(), "warden.local/abc").unwrap().unwrap().1.size,
            5
        );
        assert!(remember(d.path(), &rem(9, "k")).unwrap().is_some());
        assert_eq!(
            load(d.path(), "warden.local/abc").unwrap().unwrap().1.size,
            9
        );
        assert!(load(d.path(), "warden.local/other").unwrap().is_none());
        // Another verifier key is not adopted, whatever the size.
        assert!(remember(d.path(), &rem(20, "other")).unwrap().is_none());
        assert_eq!(
            load(d.path(), "warden.local/abc").unwrap().unwrap().1.vkey,
            "k"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = remember(d.path(), &rem(1, "k")).unwrap().unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
    }

    #[test]
    fn a_damaged_file_is_an_error_not_forgotten() {
        let d = tempfile::tempdir().unwrap();
        let p = remember(d.path(), &rem(1, "k")).unwrap().unwrap();
        fs::write(&p, b"{").unwrap();
        assert!(load(d.path(), "warden.local/abc").is_err());
    }
}
