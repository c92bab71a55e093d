//! Content-addressed blob storage.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

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
/// directory, so a crash leaves either the whole blob or nothing. The
/// directories it creates are its owner's only (0700 on Unix), and so are
/// the files (0600, as temp files are created).
pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    /// Opens (creating the directories if needed) a blob store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        for dir in [root.join("sha256"), root.join("tmp")] {
            create_private_dirs(&dir)?;
        }
        Ok(FsBlobStore { root })
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
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Hasher,
    len: u64,
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

/// Creates `dir` and any missing parents, its owner's only (0700 on Unix).
fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
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
}
