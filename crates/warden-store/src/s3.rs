//! Blobs in S3-compatible object storage, for replicas that share one
//! artifact store.
//!
//! Keys mirror the file store's layout under a prefix:
//! `PREFIX/sha256/ab/cd/<64 hex>`. The client is `object_store`'s, driven
//! by a small runtime of this store's own, so the [`BlobStore`] contract
//! stays synchronous like the rest of the engine.
//!
//! - **Writes** stream to a local temporary file while hashing (the digest
//!   is the key, and it is known only at the end), then upload it: one PUT
//!   up to [`MULTIPART_THRESHOLD`], a multipart upload beyond it. A single
//!   PUT is conditional (`If-None-Match: *`): two replicas writing the same
//!   digest at once cannot replace each other's object; the loser sees the
//!   object exists, which for content-addressed bytes means it is done. An
//!   object already present is not uploaded again. The client sends a
//!   SHA-256 checksum with each upload, so the server refuses bytes changed
//!   in flight.
//! - **Reads** are hashed as they stream and checked against the digest; a
//!   mismatch is [`StoreError::BlobCorrupt`], never returned bytes.
//! - **Credentials** come from where the AWS tools find them, never from
//!   `warden.toml`: the environment (`AWS_ACCESS_KEY_ID`/
//!   `AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`), else the shared
//!   credentials file (`AWS_SHARED_CREDENTIALS_FILE`, default
//!   `~/.aws/credentials`, profile `AWS_PROFILE` or `default`), else web
//!   identity tokens and the instance or container role.

use std::io::{self, Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::StreamExt;
use object_store::aws::{AmazonS3Builder, Checksum, S3ConditionalPut};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, ObjectStore, PutMode, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};
use warden_core::{Digest, Hasher};

use crate::blob::HashingWriter;
use crate::{BlobStore, StoreError};

/// An S3 access key.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
    /// The session token of temporary credentials.
    pub token: Option<String>,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .field("secret", &"<secret>")
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// The access key of the shared credentials file the AWS tools use, when
/// the environment names none (`AWS_ACCESS_KEY_ID` unset or empty): the
/// file `AWS_SHARED_CREDENTIALS_FILE`, else `$HOME/.aws/credentials`; the
/// profile `AWS_PROFILE`, else `default`. `None` when there is no such
/// file, or no `default` profile in it. A profile named by `AWS_PROFILE`
/// that the file lacks, or one without both keys, is an error naming the
/// file and the profile.
pub fn shared_credentials() -> Result<Option<AccessKey>, StoreError> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if env("AWS_ACCESS_KEY_ID").is_some() {
        return Ok(None);
    }
    let path = match env("AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => PathBuf::from(p),
        None => match env("HOME") {
            Some(h) => PathBuf::from(h).join(".aws").join("credentials"),
            None => return Ok(None),
        },
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(&path, e)),
    };
    let named = env("AWS_PROFILE");
    let profile = named.as_deref().unwrap_or("default");
    let bad = |detail: String| StoreError::S3Config {
        detail: format!("{}: {detail}", path.display()),
    };
    match parse_credentials(&text, profile).map_err(&bad)? {
        Some(k) => Ok(Some(k)),
        None if named.is_some() => Err(bad(format!("no profile [{profile}]"))),
        None => Ok(None),
    }
}

/// The access key of `profile` in the text of a shared credentials file:
/// `[profile]` headers, `key = value` lines, `#` and `;` comment lines.
/// Hand-written because `object_store` does not read this file and the
/// format needs no more than these lines; values are taken as written
/// (trimmed), a later line overriding an earlier one, as the AWS tools do.
pub fn parse_credentials(text: &str, profile: &str) -> Result<Option<AccessKey>, String> {
    let mut section: Option<&str> = None;
    let mut found = false;
    let (mut id, mut secret, mut token) = (None, None, None);
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| format!("line {}: a section header ends with ]", n + 1))?
                .trim();
            section = Some(name);
            found |= name == profile;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected key = value", n + 1));
        };
        if section != Some(profile) {
            continue;
        }
        let value = value.trim().to_string();
        match key.trim() {
            "aws_access_key_id" => id = Some(value),
            "aws_secret_access_key" => secret = Some(value),
            "aws_session_token" => token = Some(value),
            _ => {}
        }
    }
    if !found {
        return Ok(None);
    }
    match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Ok(Some(AccessKey {
            id,
            secret,
            token: token.filter(|t| !t.is_empty()),
        })),
        _ => Err(format!(
            "profile [{profile}] needs aws_access_key_id and aws_secret_access_key"
        )),
    }
}

/// Blobs up to this size go up in one conditional PUT; larger ones in
/// parts of this size.
pub const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

/// Where an S3 blob store is: `s3://BUCKET[/PREFIX]`, with the endpoint
/// of an S3-compatible server (default: AWS for the region).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Location {
    /// The bucket.
    pub bucket: String,
    /// The key prefix (no leading or trailing slash; may be empty).
    pub prefix: String,
    /// `https://…` of an S3-compatible server; `http://` only for a server
    /// on the loopback interface.
    pub endpoint: Option<String>,
    /// The region (default `us-east-1`, or `AWS_REGION`).
    pub region: Option<String>,
}

impl S3Location {
    /// Parses `s3://bucket/prefix`.
    pub fn parse(
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
    ) -> Result<Self, StoreError> {
        let bad = |detail: String| StoreError::S3Config { detail };
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad(format!("{url:?} is not an s3:// URL")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty()
            || !bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        {
            return Err(bad(format!("{bucket:?} is not a bucket name")));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(bad(format!("prefix {prefix:?} holds . or ..")));
        }
        if let Some(e) = endpoint {
            let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| e.starts_with(p));
            if !(e.starts_with("https://") || loopback) {
                return Err(bad(format!(
                    "endpoint {e:?}: use https:// (plain http only to a server on 127.0.0.1)"
                )));
            }
        }
        Ok(S3Location {
            bucket: bucket.to_string(),
            prefix,
            endpoint: endpoint.map(str::to_string),
            region: region.map(str::to_string),
        })
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)?;
        if let Some(e) = &self.endpoint {
            write!(f, " at {e}")?;
        }
        Ok(())
    }
}

/// The S3 blob store.
pub struct S3BlobStore {
    location: S3Location,
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
    scratch: PathBuf,
}

impl S3BlobStore {
    /// A store over `location`; `scratch` is a local directory for the
    /// temporary file each write streams through. The access key is the
    /// environment's, else the shared credentials file's
    /// ([`shared_credentials`]), else the role the machine has.
    pub fn open(location: &S3Location, scratch: PathBuf) -> Result<Self, StoreError> {
        let key = shared_credentials()?;
        Self::open_keyed(location, scratch, key.as_ref())
    }

    /// As [`S3BlobStore::open`], with an access key (id, secret) given
    /// instead of the one the environment names.
    pub fn open_with(
        location: &S3Location,
        scratch: PathBuf,
        access_key: Option<(&str, &str)>,
    ) -> Result<Self, StoreError> {
        let key = access_key.map(|(id, secret)| AccessKey {
            id: id.to_string(),
            secret: secret.to_string(),
            token: None,
        });
        Self::open_keyed(location, scratch, key.as_ref())
    }

    fn open_keyed(
        location: &S3Location,
        scratch: PathBuf,
        access_key: Option<&AccessKey>,
    ) -> Result<Self, StoreError> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_checksum_algorithm(Checksum::SHA256);
        if let Some(e) = &location.endpoint {
            b = b
                .with_endpoint(e)
                .with_allow_http(e.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some(r) = &location.region {
            b = b.with_region(r);
        }
        if let Some(k) = access_key {
            b = b
                .with_access_key_id(&k.id)
                .with_secret_access_key(&k.secret)
                .with_token(k.token.as_deref().unwrap_or(""));
        }
        let store = b.build().map_err(|e| StoreError::S3Config {
            detail: format!("{location}: {e}"),
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::io(&scratch, e))?;
        crate::blob::create_private_dirs(&scratch)?;
        Ok(S3BlobStore {
            location: location.clone(),
            store: Arc::new(store),
            runtime,
            scratch,
        })
    }

    /// Where the store is.
    pub fn location(&self) -> &S3Location {
        &self.location
    }

    fn key(&self, digest: &Digest) -> ObjectPath {
        let hex = digest.hex();
        let tail = format!("sha256/{}/{}/{hex}", &hex[..2], &hex[2..4]);
        if self.location.prefix.is_empty() {
            ObjectPath::from(tail)
        } else {
            ObjectPath::from(format!("{}/{tail}", self.location.prefix))
        }
    }

    fn err(&self, what: &str, e: object_store::Error) -> StoreError {
        StoreError::S3 {
            location: self.location.to_string(),
            detail: format!("{what}: {e}"),
        }
    }

    /// Whether the object is there (HEAD).
    fn exists(&self, key: &ObjectPath) -> Result<bool, StoreError> {
        let opts = GetOptions {
            head: true,
            ..GetOptions::default()
        };
        match self.runtime.block_on(self.store.get_opts(key, opts)) {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.err(&format!("HEAD {key}"), e)),
        }
    }

    fn upload(
        &self,
        key: &ObjectPath,
        file: &mut std::fs::File,
        len: u64,
    ) -> Result<(), StoreError> {
        file.rewind()
            .map_err(|e| StoreError::io(&self.scratch, e))?;
        if len <= MULTIPART_THRESHOLD {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| StoreError::io(&self.scratch, e))?;
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            return match self.runtime.block_on(self.store.put_opts(
                key,
                PutPayload::from(bytes),
                opts,
            )) {
                Ok(_) => Ok(()),
                // Someone stored the same digest first: the same bytes.
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(()),
                Err(e) => Err(self.err(&format!("PUT {key}"), e)),
            };
        }
        // Multipart uploads are not conditional on S3; two writers of one
        // digest upload the same bytes, and reads check them anyway.
        // The multipart writer spawns its part uploads: it runs inside the
        // store's runtime, reading the file as it goes.
        let scratch = &self.scratch;
        let upload_err = |e| self.err(&format!("multipart upload of {key}"), e);
        self.runtime.block_on(async {
            let upload = self
                .store
                .put_multipart_opts(key, PutMultipartOptions::default())
                .await
                .map_err(upload_err)?;
            let mut writer =
                WriteMultipart::new_with_chunk_size(upload, MULTIPART_THRESHOLD as usize);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file
                    .read(&mut buf)
                    .map_err(|e| StoreError::io(scratch, e))?;
                if n == 0 {
                    break;
                }
                // At most a few parts in flight.
                writer.wait_for_capacity(4).await.map_err(upload_err)?;
                writer.write(&buf[..n]);
            }
            writer.finish().await.map_err(upload_err)?;
            Ok(())
        })
    }
}

impl BlobStore for S3BlobStore {
    fn put_with(
        &self,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(Digest, u64), StoreError> {
        let mut file =
            tempfile::tempfile_in(&self.scratch).map_err(|e| StoreError::io(&self.scratch, e))?;
        let (digest, len) = {
            let mut hashing = HashingWriter {
                inner: io::BufWriter::with_capacity(1 << 20, &mut file),
                hasher: Hasher::new(),
                len: 0,
            };
            write(&mut hashing).map_err(|e| StoreError::io("<blob>", e))?;
            hashing
                .inner
                .flush()
                .map_err(|e| StoreError::io(&self.scratch, e))?;
            (hashing.hasher.finish(), hashing.len)
        };
        let key = self.key(&digest);
        if !self.exists(&key)? {
            self.upload(&key, &mut file, len)?;
        }
        Ok((digest, len))
    }

    fn contains(&self, digest: &Digest) -> Result<bool, StoreError> {
        self.exists(&self.key(digest))
    }

    fn get(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::new();
        self.copy_to(digest, &mut out)?;
        Ok(out)
    }

    fn copy_to(&self, digest: &Digest, out: &mut dyn Write) -> Result<u64, StoreError> {
        let key = self.key(digest);
        let result = match self
            .runtime
            .block_on(self.store.get_opts(&key, GetOptions::default()))
        {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(StoreError::BlobMissing { digest: *digest });
            }
            Err(e) => return Err(self.err(&format!("GET {key}"), e)),
        };
        let mut stream = result.into_stream();
        let mut hasher = Hasher::new();
        let mut len = 0u64;
        while let Some(chunk) = self.runtime.block_on(stream.next()) {
            let chunk = chunk.map_err(|e| self.err(&format!("GET {key}"), e))?;
            hasher.update(&chunk);
            len += chunk.len() as u64;
            out.write_all(&chunk)
                .map_err(|e| StoreError::io("<output>", e))?;
        }
        let actual = hasher.finish();
        if &actual != digest {
            return Err(StoreError::BlobCorrupt {
                digest: *digest,
                actual,
                path: PathBuf::from(key.to_string()),
            });
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_are_read_as_the_aws_tools_read_them() {
        let text = "# comment\n[default]\naws_access_key_id = AKIA1\naws_secret_access_key=s1\n\n; other\n[ci]\n aws_access_key_id = AKIA2 \naws_secret_access_key = s2\naws_session_token = t2\nregion = eu-west-1\n[default]\naws_secret_access_key = s1b\n";
        let d = parse_credentials(text, "default").unwrap().unwrap();
        assert_eq!(
            (d.id.as_str(), d.secret.as_str(), d.token.as_deref()),
            ("AKIA1", "s1b", None)
        );
        let ci = parse_credentials(text, "ci").unwrap().unwrap();
        assert_eq!(
            (ci.id.as_str(), ci.secret.as_str(), ci.token.as_deref()),
            ("AKIA2", "s2", Some("t2"))
        );
        assert_eq!(parse_credentials(text, "absent").unwrap(), None);
        let half = parse_credentials("[p]\naws_access_key_id = x\n", "p").unwrap_err();
        assert!(half.contains("[p]"), "{half}");
        assert!(
            parse_credentials("[p\n", "p")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            parse_credentials("[p]\njunk\n", "p")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(!format!("{d:?}").contains("s1b"));
    }

    #[test]
    fn locations_parse_and_refuse_what_is_unsafe() {
        let l = S3Location::parse(
            "s3://models/warden/prod/",
            Some("https://s3.internal"),
            None,
        )
        .unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("models", "warden/prod")
        );
        assert!(
            S3Location::parse("s3://models", None, None)
                .unwrap()
                .prefix
                .is_empty()
        );
        for bad in ["models/x", "s3://", "s3://Bad_Bucket/x", "s3://b/../x"] {
            assert!(S3Location::parse(bad, None, None).is_err(), "{bad}");
        }
        assert!(S3Location::parse("s3://b", Some("http://s3.example.com"), None).is_err());
        assert!(S3Location::parse("s3://b", Some("http://127.0.0.1:9000"), None).is_ok());
    }
}
