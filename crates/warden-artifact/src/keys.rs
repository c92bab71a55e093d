//! Signing keys and public keys.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// What can go wrong with a key, naming the file where there is one.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key type name that parsing an [`Algorithm`] does not recognise;
    /// holds the name as given.
    #[error("unknown key type {0:?}; use ecdsa-p256, ecdsa-p384 or ed25519")]
    UnknownAlgorithm(String),
    /// The operating system's random number generator failed while a key
    /// was being generated; holds its error message.
    #[error("no randomness available from the operating system: {0}")]
    Random(String),
    /// Reading, creating or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// (Unix only) A private key file grants group or other users some
    /// access (a bit of `0o077` is set), so [`SigningKey::read_file`]
    /// refuses it.
    #[error(
        "{path}: private key file is accessible to other users (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions {
        /// The private key file.
        path: PathBuf,
        /// Its permission bits (`mode & 0o777`), shown in octal.
        mode: u32,
    },
    /// The private key is an encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`)
    /// and no passphrase was given.
    #[error("{path}: the private key is encrypted; set WARDEN_KEY_PASSPHRASE to its passphrase")]
    NeedsPassphrase {
        /// The key file (the source the caller named).
        path: PathBuf,
    },
    /// An encrypted PKCS#8 private key did not decrypt, with the passphrase
    /// given, to an ECDSA P-256, ECDSA P-384 or Ed25519 key: the passphrase
    /// is wrong or the file is damaged.
    #[error(
        "{path}: cannot decrypt the private key: wrong WARDEN_KEY_PASSPHRASE, or the file is damaged"
    )]
    Decrypt {
        /// The key file (the source the caller named).
        path: PathBuf,
    },
    /// The text is not an unencrypted PKCS#8 PEM private key of a supported
    /// algorithm, or the key file is larger than 64 KiB.
    #[error("{what}: not a PKCS#8 ECDSA P-256, ECDSA P-384 or Ed25519 private key in PEM form")]
    BadPrivateKey {
        /// The source named in the message (a file path).
        what: String,
    },
    /// The text is not an SPKI PEM public key of type ECDSA P-256,
    /// ECDSA P-384 or Ed25519.
    #[error(
        "{what}: not a PEM public key (SubjectPublicKeyInfo) of type ECDSA P-256, ECDSA P-384 or Ed25519"
    )]
    BadPublicKey {
        /// The source named in the message, as passed to
        /// [`PublicKey::from_pem`].
        what: String,
    },
    /// A key could not be encoded as PKCS#8 or SubjectPublicKeyInfo
    /// (DER or PEM); holds the encoder's message.
    #[error("cannot encode the key: {0}")]
    Encode(String),
    /// A signature is malformed for the key's algorithm or does not verify
    /// over the message with the public key.
    #[error("signature does not verify")]
    BadSignature,
}

/// A signature algorithm Warden can generate keys for or verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA on NIST P-256 with SHA-256, named `ecdsa-p256`.
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// ECDSA on NIST P-384 with SHA-384, named `ecdsa-p384`.
    #[serde(rename = "ecdsa-p384")]
    EcdsaP384,
    /// Ed25519 (RFC 8032), named `ed25519`.
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl Algorithm {
    /// The algorithm's name (`ecdsa-p256`, `ecdsa-p384` or `ed25519`), as
    /// serde and [`fmt::Display`] write it; parsing also accepts `p256`,
    /// `ecdsa` and `p384`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::EcdsaP256 => "ecdsa-p256",
            Algorithm::EcdsaP384 => "ecdsa-p384",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "ecdsa-p256" | "p256" | "ecdsa" => Ok(Algorithm::EcdsaP256),
            "ecdsa-p384" | "p384" => Ok(Algorithm::EcdsaP384),
            "ed25519" => Ok(Algorithm::Ed25519),
            other => Err(KeyError::UnknownAlgorithm(other.to_string())),
        }
    }
}

/// A private signing key. Key material is zeroised when dropped (both
/// underlying key types zeroise themselves).
pub enum SigningKey {
    /// An ECDSA P-256 key, which signs over SHA-256.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// An ECDSA P-384 key, which signs over SHA-384.
    EcdsaP384(p384::ecdsa::SigningKey),
    /// An Ed25519 key.
    Ed25519(ed25519_dalek::SigningKey),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <secret>)", self.algorithm())
    }
}

fn random_32() -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(bytes)
}

impl SigningKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate(algorithm: Algorithm) -> Result<Self, KeyError> {
        match algorithm {
            Algorithm::Ed25519 => Ok(SigningKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
                &*random_32()?,
            ))),
            Algorithm::EcdsaP256 => loop {
                // A random 32-byte string is a valid scalar unless it is zero
                // or at least the group order (probability about 2^-32).
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(random_32()?.as_ref()) {
                    return Ok(SigningKey::EcdsaP256(k));
                }
            },
            Algorithm::EcdsaP384 => loop {
                let mut bytes = Zeroizing::new([0u8; 48]);
                getrandom::fill(bytes.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
                if let Ok(k) = p384::ecdsa::SigningKey::from_slice(bytes.as_ref()) {
                    return Ok(SigningKey::EcdsaP384(k));
                }
            },
        }
    }

    /// Which algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            SigningKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            SigningKey::EcdsaP384(_) => Algorithm::EcdsaP384,
            SigningKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match self {
            SigningKey::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            SigningKey::EcdsaP384(k) => PublicKey::EcdsaP384(*k.verifying_key()),
            SigningKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
        }
    }

    /// Signs `message`: ECDSA P-256 over SHA-256 or ECDSA P-384 over
    /// SHA-384 (DER signature, RFC 6979 nonces), or Ed25519 (64 bytes).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match self {
            SigningKey::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            SigningKey::EcdsaP384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            SigningKey::Ed25519(k) => k.sign(message).to_bytes().to_vec(),
        }
    }

    /// PKCS#8 PEM, encrypted (PBES2: scrypt + AES-256-CBC) when a passphrase is given.
    pub fn to_pkcs8_pem(&self, passphrase: Option<&[u8]>) -> Result<Zeroizing<String>, KeyError> {
        let enc = |e: pkcs8::Error| KeyError::Encode(e.to_string());
        match (self, passphrase) {
            (SigningKey::EcdsaP256(k), None) => k.to_pkcs8_pem(LineEnding::LF).map_err(enc),
            (SigningKey::EcdsaP384(k), None) => k.to_pkcs8_pem(LineEnding::LF).map_err(enc),
            (SigningKey::Ed25519(k), None) => k.to_pkcs8_pem(LineEnding::LF).map_err(enc),
            (SigningKey::EcdsaP384(k), Some(p)) => {
                k.to_pkcs8_encrypted_pem(p, LineEnding::LF).map_err(enc)
            }
            (SigningKey::EcdsaP256(k), Some(p)) => {
                k.to_pkcs8_encrypted_pem(p, LineEnding::LF).map_err(enc)
            }
            (SigningKey::Ed25519(k), Some(p)) => {
                k.to_pkcs8_encrypted_pem(p, LineEnding::LF).map_err(enc)
            }
        }
    }

    /// Parses PKCS#8 PEM (plain or encrypted). `what` names the source in errors.
    pub fn from_pkcs8_pem(
        pem: &str,
        passphrase: Option<&[u8]>,
        what: &Path,
    ) -> Result<Self, KeyError> {
        let bad = || KeyError::BadPrivateKey {
            what: what.display().to_string(),
        };
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            let Some(pass) = passphrase else {
                return Err(KeyError::NeedsPassphrase {
                    path: what.to_path_buf(),
                });
            };
            let decrypt = || KeyError::Decrypt {
                path: what.to_path_buf(),
            };
            if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_encrypted_pem(pem, pass) {
                return Ok(SigningKey::EcdsaP256(k));
            }
            if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_encrypted_pem(pem, pass) {
                return Ok(SigningKey::EcdsaP384(k));
            }
            return ed25519_dalek::SigningKey::from_pkcs8_encrypted_pem(pem, pass)
                .map(SigningKey::Ed25519)
                .map_err(|_| decrypt());
        }
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::EcdsaP256(k));
        }
        if let Ok(k) = p384::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(SigningKey::EcdsaP384(k));
        }
        ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
            .map(SigningKey::Ed25519)
            .map_err(|_| bad())
    }

    /// Writes the key to `path` as PKCS#8 PEM with mode 0600. Never
    /// overwrites: an existing file is an error.
    pub fn write_file(&self, path: &Path, passphrase: Option<&[u8]>) -> Result<(), KeyError> {
        let pem = self.to_pkcs8_pem(passphrase)?;
        let io = |e| KeyError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(io)?;
        f.write_all(pem.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }

    /// Reads a private key file, refusing one that other users can read.
    pub fn read_file(path: &Path, passphrase: Option<&[u8]>) -> Result<Self, KeyError> {
        let io = |e| KeyError::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let meta = fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        if meta.len() > 64 * 1024 {
            return Err(KeyError::BadPrivateKey {
                what: path.display().to_string(),
            });
        }
        let pem = Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        Self::from_pkcs8_pem(&pem, passphrase, path)
    }
}

/// A public key of any algorithm Warden verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// An ECDSA P-256 public key, which verifies signatures over SHA-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// An ECDSA P-384 public key, which verifies signatures over SHA-384.
    EcdsaP384(p384::ecdsa::VerifyingKey),
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// Which algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::EcdsaP256(_) => Algorithm::EcdsaP256,
            PublicKey::EcdsaP384(_) => Algorithm::EcdsaP384,
            PublicKey::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Parses an SPKI PEM public key. `what` names the source in errors.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(PublicKey::EcdsaP256(k));
        }
        if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_pem(pem) {
            return Ok(PublicKey::EcdsaP384(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_pem(pem)
            .map(PublicKey::Ed25519)
            .map_err(|_| KeyError::BadPublicKey {
                what: what.to_string(),
            })
    }

    /// The DER SubjectPublicKeyInfo.
    pub fn to_der(&self) -> Result<Vec<u8>, KeyError> {
        let enc = |e: pkcs8::spki::Error| KeyError::Encode(e.to_string());
        Ok(match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_der().map_err(enc)?.into_vec(),
            PublicKey::EcdsaP384(k) => k.to_public_key_der().map_err(enc)?.into_vec(),
            PublicKey::Ed25519(k) => k.to_public_key_der().map_err(enc)?.into_vec(),
        })
    }

    /// SPKI PEM.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        let enc = |e: pkcs8::spki::Error| KeyError::Encode(e.to_string());
        match self {
            PublicKey::EcdsaP256(k) => k.to_public_key_pem(LineEnding::LF).map_err(enc),
            PublicKey::EcdsaP384(k) => k.to_public_key_pem(LineEnding::LF).map_err(enc),
            PublicKey::Ed25519(k) => k.to_public_key_pem(LineEnding::LF).map_err(enc),
        }
    }

    /// `sha256:` digest of the DER SubjectPublicKeyInfo.
    pub fn key_id(&self) -> Result<String, KeyError> {
        Ok(format!(
            "sha256:{}",
            hex::encode(Sha256::digest(self.to_der()?))
        ))
    }

    /// Verifies a signature made by [`SigningKey::sign`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), KeyError> {
        use p256::ecdsa::signature::Verifier;
        match self {
            PublicKey::EcdsaP256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                k.verify(message, &sig).map_err(|_| KeyError::BadSignature)
            }
            PublicKey::EcdsaP384(k) => {
                let sig = p384::ecdsa::Signature::from_der(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                k.verify(message, &sig).map_err(|_| KeyError::BadSignature)
            }
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(signature)
                    .map_err(|_| KeyError::BadSignature)?;
                k.verify_strict(message, &sig)
                    .map_err(|_| KeyError::BadSignature)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_plain_and_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [
            Algorithm::EcdsaP256,
            Algorithm::EcdsaP384,
            Algorithm::Ed25519,
        ] {
            let k = SigningKey::generate(alg).unwrap();
            let plain = dir.path().join(format!("{alg}.pem"));
            k.write_file(&plain, None).unwrap();
            let back = SigningKey::read_file(&plain, None).unwrap();
            assert_eq!(back.public_key(), k.public_key());
            // Never overwrites.
            assert!(k.write_file(&plain, None).is_err());

            let enc = dir.path().join(format!("{alg}.enc.pem"));
            k.write_file(&enc, Some(b"correct horse")).unwrap();
            let text = fs::read_to_string(&enc).unwrap();
            assert!(text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
            assert!(matches!(
                SigningKey::read_file(&enc, None),
                Err(KeyError::NeedsPassphrase { .. })
            ));
            assert!(matches!(
                SigningKey::read_file(&enc, Some(b"wrong")),
                Err(KeyError::Decrypt { .. })
            ));
            let back = SigningKey::read_file(&enc, Some(b"correct horse")).unwrap();
            assert_eq!(back.public_key(), k.public_key());

            let pem = k.public_key().to_pem().unwrap();
            let pk = PublicKey::from_pem(&pem, "test").unwrap();
            assert_eq!(pk, k.public_key());
            assert!(pk.key_id().unwrap().starts_with("sha256:"));
            let sig = k.sign(b"msg");
            pk.verify(b"msg", &sig).unwrap();
            assert!(pk.verify(b"msh", &sig).is_err());
            assert!(pk.verify(b"msg", &sig[1..]).is_err());
        }
    }

    #[cfg(unix)]
    #[test]
    fn refuses_group_or_world_readable_key_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        SigningKey::generate(Algorithm::EcdsaP256)
            .unwrap()
            .write_file(&path, None)
            .unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = SigningKey::read_file(&path, None).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = SigningKey::from_pkcs8_pem("hello", None, Path::new("x.pem")).unwrap_err();
        assert!(err.to_string().contains("x.pem"));
        assert!(
            PublicKey::from_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                "y.pem"
            )
            .is_err()
        );
    }
}
