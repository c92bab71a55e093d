//! What a hub client checks and keeps on its own machine: the log's
//! checkpoints it has seen (so a rewritten or forked history served by the
//! hub is caught by the next call), its approval keys (whose private half
//! never leaves the machine), and the approvals it signs with them.
//!
//! Nothing here talks to the network: the front end fetches, these
//! functions decide.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::Value;
use warden_artifact::keys::{Algorithm, PublicKey, SigningKey};
use warden_artifact::note::{Checkpoint, NoteVerifier};

use crate::audit::ConsistencyProof;
use crate::userdir;
pub use crate::userdir::Remembered;
use crate::{Error, ProofFile};

/// A checkpoint note opened under a verifier key: the log it names, its
/// size and root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedCheckpoint {
    /// The log's origin line.
    pub origin: String,
    /// The log's size (events) at the checkpoint.
    pub size: u64,
    /// The log's root hash at that size (hex).
    pub root: String,
    /// The signed note, as received.
    pub note: String,
    /// The verifier key it was opened under.
    pub vkey: String,
}

/// Opens `note` under `vkey`: the signature must verify and the body must
/// be a checkpoint.
pub fn open_checkpoint(note: &str, vkey: &str) -> Result<OpenedCheckpoint, Error> {
    let verifier = NoteVerifier::from_vkey(vkey)?;
    let body = verifier
        .open(note)
        .map_err(|e| Error::Verification(format!("the hub's checkpoint: {e}")))?;
    let cp = Checkpoint::parse(body)?;
    Ok(OpenedCheckpoint {
        origin: cp.origin.clone(),
        size: cp.size,
        root: hex::encode(cp.root),
        note: note.to_string(),
        vkey: vkey.to_string(),
    })
}

/// The checkpoint this machine remembers for the log `origin`, if any.
pub fn remembered_checkpoint(dir: &Path, origin: &str) -> Result<Option<Remembered>, Error> {
    Ok(userdir::load(dir, origin)?.map(|(_, r)| r))
}

/// Checks that `new` extends the remembered `old`: the same verifier key,
/// never a smaller tree, the same root at the same size, and at a larger
/// size a consistency proof from `old.size` to `new.size` whose signed
/// roots are exactly the two checkpoints'. Any failure means the history
/// this client saw was rewritten or forked, and is an error naming it.
pub fn check_extends(
    old: &Remembered,
    new: &OpenedCheckpoint,
    proof: Option<&ConsistencyProof>,
) -> Result<(), Error> {
    let forked = |why: String| {
        Error::Verification(format!(
            "the hub's audit log does not extend the one this machine saw (size {}): {why}; \
             the history was rewritten or forked",
            old.size
        ))
    };
    if old.vkey != new.vkey {
        return Err(forked(format!(
            "its checkpoints are signed by another key ({} instead of {})",
            new.vkey, old.vkey
        )));
    }
    let seen = open_checkpoint(&old.note, &old.vkey)?;
    if new.size < seen.size {
        return Err(forked(format!("it now has only {} events", new.size)));
    }
    if new.size == seen.size {
        if new.root != seen.root {
            return Err(forked("the same size has another root".into()));
        }
        return Ok(());
    }
    let p = proof.ok_or_else(|| forked("no consistency proof was given".into()))?;
    if p.old_size != seen.size || p.new_size != new.size {
        return Err(forked(format!(
            "the proof is for sizes {}..{}, not {}..{}",
            p.old_size, p.new_size, seen.size, new.size
        )));
    }
    if p.old_root != seen.root || p.new_root != new.root {
        return Err(forked("the proof's roots are not the checkpoints'".into()));
    }
    let verifier = NoteVerifier::from_vkey(&old.vkey)?;
    crate::audit::check_proof(&ProofFile::Consistency(p.clone()), &verifier)
        .map_err(|e| forked(e.to_string()))?;
    Ok(())
}

/// Remembers `cp` as the newest checkpoint this machine has seen.
pub fn remember_checkpoint(dir: &Path, cp: &OpenedCheckpoint) -> Result<(), Error> {
    userdir::remember(
        dir,
        &Remembered {
            origin: cp.origin.clone(),
            vkey: cp.vkey.clone(),
            size: cp.size,
            note: cp.note.clone(),
        },
    )?;
    Ok(())
}

/// Where this machine keeps its approval key `name` for the hub at `dir`.
/// Whether tokens and codes may be sent to `url`: https, or plain http to
/// the loopback address only (`127.0.0.1`, `localhost`, `[::1]`, with an
/// optional port; `http://127.0.0.1.example.com` is not the loopback).
pub fn endpoint_ok(url: &str) -> bool {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://") {
        return !rest.is_empty();
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.strip_prefix("[::1]") {
        Some(port) => return port.is_empty() || is_port(port),
        None => authority,
    };
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    matches!(name, "127.0.0.1" | "localhost") && (port.is_empty() || is_port(&format!(":{port}")))
}

/// `:N` with N a port number.
fn is_port(s: &str) -> bool {
    s.strip_prefix(':')
        .is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Where the private half of the approval key `name` is kept:
/// `DIR/hub-keys/NAME.pem`, `dir` being the user's Warden directory
/// ([`crate::user_dir`]).
pub fn approval_key_path(dir: &Path, name: &warden_core::KeyName) -> PathBuf {
    dir.join("hub-keys").join(format!("{name}.pem"))
}

/// Makes an approval key pair: the private half is written to `path`
/// (0600, encrypted under `passphrase` when given), never sent anywhere;
/// returns the public half (PEM) and its key id, to enrol on the hub.
pub fn new_approval_key(
    path: &Path,
    algorithm: Algorithm,
    passphrase: Option<&[u8]>,
) -> Result<(String, String), Error> {
    if path.exists() {
        return Err(Error::Conflict(format!(
            "{} already exists; remove it or choose another name",
            path.display()
        )));
    }
    if let Some(parent) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(parent).map_err(|e| Error::io(parent, e))?;
    }
    let key = SigningKey::generate(algorithm)?;
    key.write_file(path, passphrase)?;
    let public = key.public_key();
    Ok((public.to_pem()?, public.key_id()?))
}

/// Signs an approval statement with the private key at `path`; returns
/// the DSSE envelope and the key id it names.
pub fn sign_approval_with(
    path: &Path,
    passphrase: Option<&[u8]>,
    statement: &crate::approve::ApprovalStatement,
) -> Result<(crate::trust::dsse::Envelope, String), Error> {
    let key = SigningKey::read_file(path, passphrase)?;
    let key_id = key.public_key().key_id()?;
    let envelope = crate::approve::sign_approval(&key, &key_id, statement)?;
    Ok((envelope, key_id))
}

/// The key id of a PEM public key, as the hub records it.
pub fn public_key_id(pem: &str) -> Result<String, Error> {
    Ok(PublicKey::from_pem(pem, "public key")?.key_id()?)
}

/// A TEST-ONLY OpenID Connect issuer, for `warden demo` and trials of the
/// hub on one machine: a P-256 key made from fresh random bytes when it is
/// created (never stored), its JWKS, and ES256 ID tokens for whatever
/// claims it is asked. It vouches for nobody; a real hub trusts a real
/// identity provider's issuer.
pub struct TestIssuer {
    issuer: String,
    key: p256::ecdsa::SigningKey,
}

impl TestIssuer {
    /// A new issuer named by the URL `issuer`, with a fresh key.
    pub fn new(issuer: &str) -> Result<Self, Error> {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        loop {
            getrandom::fill(seed.as_mut())
                .map_err(|e| Error::Invalid(format!("no randomness: {e}")))?;
            // A scalar out of range is vanishingly rare; draw again.
            if let Ok(key) = p256::ecdsa::SigningKey::from_slice(seed.as_ref()) {
                return Ok(TestIssuer {
                    issuer: issuer.to_string(),
                    key,
                });
            }
        }
    }

    /// The issuer's key set (one ES256 key, `kid` "test-1").
    pub fn jwks(&self) -> Value {
        let point = self.key.verifying_key().to_sec1_point(false);
        let b = point.as_bytes();
        let b64 = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "test-1", "alg": "ES256",
                                     "use": "sig", "x": b64(&b[1..33]), "y": b64(&b[33..65])}]})
    }

    /// An ES256 token with `claims` plus `iss`, `aud`, `iat` and `exp`
    /// (`lifetime_seconds` from now).
    pub fn token(&self, audience: &str, claims: &Value, lifetime_seconds: u64) -> String {
        use p256::ecdsa::signature::Signer;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut c = serde_json::json!({"iss": self.issuer, "aud": audience, "iat": now,
                                       "exp": now + lifetime_seconds});
        if let (Some(all), Some(extra)) = (c.as_object_mut(), claims.as_object()) {
            for (k, v) in extra {
                all.insert(k.clone(), v.clone());
            }
        }
        let b64 = |x: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(x);
        let header = serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": "test-1"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        let sig: p256::ecdsa::Signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{OpenOptions, Workspace};
    use warden_core::{ActorName, RoleName};

    #[test]
    fn only_https_or_the_loopback_address_receives_tokens() {
        for ok in [
            "https://hub.example.com",
            "http://127.0.0.1:8080/x",
            "http://localhost",
            "http://[::1]:9/",
        ] {
            assert!(endpoint_ok(ok), "{ok}");
        }
        for bad in [
            "http://hub.example.com",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com/",
            "http://127.0.0.1:80@evil.example/",
            "http://[::1].evil/",
            "ftp://127.0.0.1",
            "https://",
            "https://hub.example.com/ x",
        ] {
            assert!(!endpoint_ok(bad), "{bad}");
        }
    }

    fn grow(ws: &Workspace, n: usize, tag: &str) -> OpenedCheckpoint {
        for i in 0..n {
            ws.roles_grant(
                &ActorName::new(&format!("{tag}-{i}")).unwrap(),
                &RoleName::new("auditor").unwrap(),
            )
            .unwrap();
        }
        let (note, vkey) = ws.audit_checkpoint().unwrap();
        open_checkpoint(&note, &vkey).unwrap()
    }

    fn remembered(cp: &OpenedCheckpoint) -> Remembered {
        Remembered {
            origin: cp.origin.clone(),
            vkey: cp.vkey.clone(),
            size: cp.size,
            note: cp.note.clone(),
        }
    }

    #[test]
    fn an_extension_passes_and_a_fork_or_rollback_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let opts = OpenOptions {
            user_dir: Some(dir.path().join("user")),
            ..Default::default()
        };
        let root = dir.path().join("ws");
        let ws = Workspace::init(&root, ActorName::new("ana").unwrap(), &opts).unwrap();
        let a = grow(&ws, 2, "a");
        let b = grow(&ws, 3, "b");
        let proof = ws.log_consistency(a.size, b.size).unwrap();
        check_extends(&remembered(&a), &b, Some(&proof)).unwrap();
        check_extends(&remembered(&b), &b, None).unwrap();
        // A smaller log than the one seen is a rollback.
        assert!(check_extends(&remembered(&b), &a, None).is_err());
        // A larger log needs a proof, and the proof's roots must be the
        // checkpoints'.
        assert!(check_extends(&remembered(&a), &b, None).is_err());
        let mut wrong = proof.clone();
        wrong.old_root = b.root.clone();
        assert!(check_extends(&remembered(&a), &b, Some(&wrong)).is_err());
        // A fork: a copy of the log taken at `b` that went its own way while
        // the original grew to `c`, the newest this client saw.
        let fork_root = dir.path().join("fork");
        std::fs::create_dir_all(&fork_root).unwrap();
        let copy = std::process::Command::new("cp")
            .args(["-a"])
            .arg(root.join("."))
            .arg(&fork_root)
            .status()
            .unwrap();
        assert!(copy.success());
        let c = grow(&ws, 1, "c");
        let fork = Workspace::open(&fork_root, ActorName::new("ana").unwrap(), &opts).unwrap();
        let theirs = grow(&fork, 4, "x");
        assert!(theirs.size > c.size);
        // The fork honestly extends `b`, which it shares...
        let p = fork.log_consistency(b.size, theirs.size).unwrap();
        check_extends(&remembered(&b), &theirs, Some(&p)).unwrap();
        // ...but not `c`: its tree at c's size has another root.
        let p = fork.log_consistency(c.size, theirs.size).unwrap();
        let e = check_extends(&remembered(&c), &theirs, Some(&p)).unwrap_err();
        assert!(e.to_string().contains("rewritten or forked"), "{e}");
        // A checkpoint under another key is refused before anything else.
        let mut other = remembered(&b);
        other.vkey = "someone+00000000+AAAA".into();
        assert!(check_extends(&other, &theirs, Some(&p)).is_err());
    }
}
