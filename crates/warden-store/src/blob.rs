//! Content-addressed blob storage.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use warden_core::{Digest, Hasher};

use crate::StoreError;

/// Bytes addressed by their SHA-256 digest. Writes are atomic; reads are
/// re-checked against the digest, so a corrupted blob is an error, never
/// silently returned.
pub trait BlobStore: Send + Sync {
    /// Streams `reader` into the store and returns its digest and length.
    fn put(&self, reader: &mut dyn Read) -> Result<(Digest, u64), StoreError> {
        self.put_with(&mut |w| std::io::copy(reader, w).map(|_| ()))
    }
    /// Stores whatever `write` writes, without holding it in memory.
    fn put_with(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(Digest, u64), StoreError>;
    /// Whether a blob with this digest is present (its bytes are not checked).
    fn contains(&self, digest: &Digest) -> Result<bool, StoreError>;
    /// Reads a whole blob and checks its digest.
    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError>;
    /// Copies a blob to `out` while hashing it. On [`StoreError::BlobCorrupt`]
    /// the bytes already written must be discarded by the caller.
    fn copy_to(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64, StoreError>;
}

/// Blobs as files under `ROOT/sha256/ab/cd/<64 hex>`.
///
/// A put writes to `ROOT/tmp/`, fsyncs, renames into place and fsyncs the
/// directory, so a crash leaves either the whole blob or nothing (and, at
/// worst, a temp file that a later [`FsBlobStore::open`] sweeps). The
/// directories it creates are its owner's only (0700 on Unix), and so are
/// the files (0600, as temp files are created).
pub struct FsBlobStore {
    root: PathBuf,
}

/// How old (since its last write) a temp file in `ROOT/tmp/` must be before
/// [`FsBlobStore::open`] removes it as left by a writer that died.
pub const STALE_TMP_AGE: Duration = Duration::from_secs(60 * 60);

impl FsBlobStore {
    /// Opens (creating the directories if needed) a blob store at `root`,
    /// and sweeps temp files that dead writers left behind
    /// ([`FsBlobStore::sweep_tmp`] with `STALE_TMP_AGE`, one hour).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in [root.join("sha256"), root.join("tmp")] {
            create_private_dirs(&dir)?;
        }
        let store = FsBlobStore { root };
        // Best effort: a file that cannot be swept now is swept by a later
        // open, and a sweep that fails must not keep the store from opening.
        let _ = store.sweep_tmp(STALE_TMP_AGE);
        Ok(store)
    }

    /// Removes the temp files a writer left in `ROOT/tmp/` when it died
    /// mid-put (`kill -9`, a crash, a power cut): regular files last written
    /// more than `older_than` ago that no writer holds locked. Returns how
    /// many were removed.
    ///
    /// Another process may be writing a blob right now, and its temp file
    /// must survive. Two guards keep it: a writer holds an exclusive `flock`
    /// on its temp file for the whole put (the kernel drops it when the
    /// writer exits, however it exits), and a file written to within
    /// `older_than` is never touched, which covers the moment between a
    /// writer creating its file and locking it, and filesystems where
    /// locking does not work. Neither guard alone is enough: age alone
    /// would remove the file of a writer stalled for longer than the bound
    /// (a slow upload), and the lock alone races with a writer that has not
    /// locked yet. Should a live writer's file be removed all the same, its
    /// put fails (the rename finds no file); no blob is ever wrong.
    pub fn sweep_tmp(&self, older_than: Duration) -> Result<usize, StoreError> {
        let tmp_dir = self.root.join("tmp");
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(&tmp_dir).map_err(|e| StoreError::io(&tmp_dir, e))? {
            let Ok(entry) = entry else { continue };
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok());
            if !meta.is_file() || age.is_none_or(|a| a < older_than) {
                continue;
            }
            let Ok(file) = File::open(&path) else {
                continue;
            };
            match file.try_lock() {
                Ok(()) => {}
                // A writer holds it: alive, however slow.
                Err(fs::TryLockError::WouldBlock) => continue,
                // No locking here: the age alone decides.
                Err(fs::TryLockError::Error(_)) => {}
            }
            if fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Every stored blob's digest, sorted (files under `sha256/` whose
    /// names are not a digest in the right place are skipped: a store
    /// holds only what it wrote there).
    pub fn digests(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        let base = self.root.join("sha256");
        for a in read_dir_names(&base)? {
            for b in read_dir_names(&base.join(&a))? {
                for name in read_dir_names(&base.join(&a).join(&b))? {
                    if let Ok(d) = Digest::from_hex(&name)
                        && name.get(..2) == Some(a.as_str())
                        && name.get(2..4) == Some(b.as_str())
                    {
                        out.push(d);
                    }
                }
            }
        }
        out.sort_by_key(|d| d.hex());
        Ok(out)
    }

    /// Where the blob with this digest lives.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.root
            .join("sha256")
            .join(&hex[0..2])
            .join(&hex[2..4])
            .join(hex)
    }

    fn open_blob(&self, digest: &Digest) -> Result<(File, PathBuf), StoreError> {
        let path = self.path_of(digest);
        match File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::BlobMissing { digest: *digest })
            }
            Err(e) => Err(StoreError::io(path, e)),
        }
    }
}

/// Hashes and counts bytes on their way to a file.
pub(crate) struct HashingWriter<W: Write> {
    pub(crate) inner: W,
    pub(crate) hasher: Hasher,
    pub(crate) len: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The names in a directory (none if it does not exist).
fn read_dir_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| StoreError::io(dir, e))?;
        if let Some(n) = e.file_name().to_str() {
            out.push(n.to_string());
        }
    }
    Ok(out)
}

/// Creates `dir` and any missing parents, its owner's only (0700 on Unix).
pub(crate) fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| StoreError::io(dir, e))
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io(dir, e))
}

impl BlobStore for FsBlobStore {
    fn put_with(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(Digest, u64), StoreError> {
        let tmp_dir = self.root.join("tmp");
        let mut tmp =
            tempfile::NamedTempFile::new_in(&tmp_dir).map_err(|e| StoreError::io(&tmp_dir, e))?;
        let tmp_path = tmp.path().to_path_buf();
        // Held until the put ends, so that a sweep in another process
        // leaves this file alone however long the write takes. Where
        // locking fails, the sweep's age bound still protects it.
        let _ = tmp.as_file().try_lock();
        let (hasher, len) = {
            let mut w = HashingWriter {
                inner: io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut()),
                hasher: Hasher::new(),
                len: 0,
            };
            write(&mut w).map_err(|e| StoreError::io(&tmp_path, e))?;
            w.inner.flush().map_err(|e| StoreError::io(&tmp_path, e))?;
            (w.hasher, w.len)
        };
        let digest = hasher.finish();
        let dest = self.path_of(&digest);
        if dest.exists() {
            // Same digest, same bytes: nothing to do (the temp file is removed on drop).
            return Ok((digest, len));
        }
        tmp.as_file()
            .sync_all()
            .map_err(|e| StoreError::io(tmp.path(), e))?;
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        create_private_dirs(&parent)?;
        tmp.persist(&dest)
            .map_err(|e| StoreError::io(&dest, e.error))?;
        sync_dir(&parent)?;
        Ok((digest, len))
    }

    fn contains(&self, digest: &Digest) -> Result<bool, StoreError> {
        Ok(self.path_of(digest).is_file())
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        self.copy_to(digest, &mut out)?;
        Ok(out)
    }

    fn copy_to(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64, StoreError> {
        let (mut file, path) = self.open_blob(digest)?;
        let mut hasher = Hasher::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = match file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(StoreError::io(&path, e)),
            };
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| StoreError::io("<output>", e))?;
            len += n as u64;
        }
        let actual = hasher.finish();
        if actual != *digest {
            return Err(StoreError::BlobCorrupt {
                digest: *digest,
                actual,
                path,
            });
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsBlobStore::open(dir.path().join("blobs")).unwrap();
        let (d, n) = store.put(&mut &b"hello blobs"[..]).unwrap();
        assert_eq!(n, 11);
        assert_eq!(d, Digest::of(b"hello blobs"));
        assert!(store.contains(&d).unwrap());
        assert_eq!(store.get(&d).unwrap(), b"hello blobs");
        // Idempotent.
        assert_eq!(store.put(&mut &b"hello blobs"[..]).unwrap().0, d);
        // No temp files left behind.
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/tmp")).unwrap().count(),
            0
        );

        fs::write(store.path_of(&d), b"hello blobz").unwrap();
        match store.get(&d) {
            Err(StoreError::BlobCorrupt { digest, actual, .. }) => {
                assert_eq!(digest, d);
                assert_eq!(actual, Digest::of(b"hello blobz"));
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        let missing = Digest::of(b"nope");
        assert!(matches!(
            store.get(&missing),
            Err(StoreError::BlobMissing { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn directories_and_blobs_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        let store = FsBlobStore::open(&root).unwrap();
        let (d, _) = store.put(&mut &b"private"[..]).unwrap();
        let blob = store.path_of(&d);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        for p in [
            root.clone(),
            root.join("sha256"),
            root.join("tmp"),
            blob.parent().unwrap().parent().unwrap().to_path_buf(),
            blob.parent().unwrap().to_path_buf(),
        ] {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
        assert_eq!(mode(&blob), 0o600);
    }

    /// Plants a temp file in `tmp/` last written `age` ago.
    fn plant(root: &Path, name: &str, age: Duration) -> PathBuf {
        let p = root.join("tmp").join(name);
        let mut f = File::create(&p).unwrap();
        f.write_all(b"half a blob").unwrap();
        f.set_modified(SystemTime::now() - age).unwrap();
        p
    }

    #[test]
    fn open_sweeps_stale_temp_files_but_not_a_live_writers() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blobs");
        drop(FsBlobStore::open(&root).unwrap());
        let hour = Duration::from_secs(3600);
        // Left by a writer killed two hours ago.
        let dead = plant(&root, ".tmpdead", 2 * hour);
        // Being written right now.
        let fresh = plant(&root, ".tmpfresh", Duration::ZERO);
        // Old, but a writer (another process, here another open file) holds
        // its lock: a slow write still in progress.
        let slow = plant(&root, ".tmpslow", 2 * hour);
        let held = File::open(&slow).unwrap();
        held.try_lock().unwrap();
        // Not a temp file: left alone.
        let sub = root.join("tmp").join("subdir");
        fs::create_dir(&sub).unwrap();
        File::open(&sub)
            .unwrap()
            .set_modified(SystemTime::now() - 2 * hour)
            .unwrap();

        let store = FsBlobStore::open(&root).unwrap();
        assert!(!dead.exists(), "the dead writer's file stays");
        assert!(fresh.exists(), "a fresh temp file was removed");
        assert!(slow.exists(), "a locked temp file was removed");
        assert!(sub.is_dir());

        // Once its writer is gone, the slow one goes too.
        drop(held);
        assert_eq!(store.sweep_tmp(hour).unwrap(), 1);
        assert!(!slow.exists());
        assert!(fresh.exists());
        // A put's own temp file is locked while it writes.
        let mut seen_locked = None;
        store
            .put_with(&mut |w| {
                w.write_all(b"x")?;
                let tmp = fs::read_dir(root.join("tmp"))?
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .find(|p| p != &fresh && p.is_file());
                seen_locked = tmp.map(|p| {
                    matches!(
                        File::open(p).unwrap().try_lock(),
                        Err(fs::TryLockError::WouldBlock)
                    )
                });
                Ok(())
            })
            .unwrap();
        assert_eq!(seen_locked, Some(true));
    }
}
