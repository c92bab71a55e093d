//! C2SP signed notes and tlog checkpoints.
//!
//! A signed note is UTF-8 text ending in a newline, a blank line, then one
//! or more signature lines `— <name> <base64(key id || signature)>`. With
//! Ed25519 the key id is the first 4 bytes of
//! `SHA-256(name || "\n" || 0x01 || public key)` and the signature covers the
//! text. A checkpoint is a note whose text is `origin`, tree size and base64
//! root hash, one per line, optionally followed by extension lines.
//!
//! Parsing is bounded (note size, line count, signature count) before
//! anything is allocated in proportion to the input.
//!
//! Witnesses add C2SP tlog-cosignature/v1 lines (signature type 0x04): the
//! key id is `SHA-256(name || "\n" || 0x04 || public key)[:4]`, the blob is
//! the key id, a big-endian u64 POSIX timestamp and an Ed25519 signature
//! over `cosignature/v1\ntime <t>\n` followed by the checkpoint text.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest as _, Sha256};

/// Largest note accepted, in bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// Most signature lines accepted on one note.
pub const MAX_SIGNATURES: usize = 100;
const ALG_ED25519: u8 = 0x01;

/// Why a note or checkpoint was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note, or the text to be signed, is not a well-formed signed note
    /// within [`MAX_NOTE_BYTES`] and [`MAX_SIGNATURES`] (or a cosignature
    /// timestamp is out of range); holds the reason.
    #[error("note is malformed: {0}")]
    Malformed(&'static str),
    /// No signature line carries the verifier's key name and key id.
    #[error("note has no signature by a known key")]
    UnknownKey,
    /// A signature line with the verifier's key name and key id does not
    /// verify; holds the key name.
    #[error("note signature by {0:?} does not verify")]
    BadSignature(String),
    /// The note text is not a valid checkpoint body; holds the reason.
    #[error("checkpoint is malformed: {0}")]
    Checkpoint(&'static str),
    /// A key name or verifier key string is malformed, is of the wrong
    /// signature type, or has a key id that does not match its key; holds
    /// the reason.
    #[error("verifier key is malformed: {0}")]
    VerifierKey(&'static str),
}

fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

fn key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Signs notes with an Ed25519 key under a name.
pub struct NoteSigner<'k> {
    name: String,
    key: &'k ed25519_dalek::SigningKey,
}

impl<'k> NoteSigner<'k> {
    /// A signer that signs as `name` with `key`. The name must be non-empty
    /// and hold no whitespace, control characters or `+`, else
    /// [`NoteError::VerifierKey`].
    pub fn new(name: &str, key: &'k ed25519_dalek::SigningKey) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::VerifierKey(
                "name must not be empty or contain whitespace, control characters or '+'",
            ));
        }
        Ok(NoteSigner {
            name: name.to_string(),
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier::new(&self.name, self.key.verifying_key())
    }

    /// Signs `text` (which must end in a newline) and returns the whole note.
    pub fn sign(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        use ed25519_dalek::Signer;
        let sig = self.key.sign(text.as_bytes());
        let id = key_id(&self.name, self.key.verifying_key().as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&id);
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n\u{2014} {} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// Verifies notes signed by one named Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

impl NoteVerifier {
    /// A verifier for signatures by `key` under `name`, with the key id
    /// derived from both. The name is not checked.
    pub fn new(name: &str, key: ed25519_dalek::VerifyingKey) -> Self {
        NoteVerifier {
            name: name.to_string(),
            id: key_id(name, key.as_bytes()),
            key,
        }
    }

    /// The key name this verifier expects on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key string `<name>+<key id hex>+<base64(0x01 || key)>`,
    /// as used by Go's `note` package and other C2SP tools.
    pub fn vkey(&self) -> String {
        let mut blob = vec![ALG_ED25519];
        blob.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(blob)
        )
    }

    /// Parses a verifier key string.
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, id_hex, key) = parse_vkey(vkey, ALG_ED25519, "not an Ed25519 key")?;
        let v = NoteVerifier::new(name, key);
        if hex::encode(v.id) != id_hex {
            return Err(NoteError::VerifierKey("key id does not match the key"));
        }
        Ok(v)
    }

    /// Checks `note` carries a valid signature by this key and returns its text.
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        let (text, sigs) = split_note(note)?;
        let mut seen = false;
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed(
                    "signature line does not start with an em dash",
                ));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed("signature line has no signature"));
            };
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if blob.len() < 5 {
                return Err(NoteError::Malformed("signature is too short"));
            }
            if name != self.name || blob[..4] != self.id {
                continue;
            }
            seen = true;
            let sig = ed25519_dalek::Signature::from_slice(&blob[4..])
                .map_err(|_| NoteError::BadSignature(name.to_string()))?;
            self.key
                .verify_strict(text.as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature(name.to_string()))?;
        }
        if seen {
            Ok(text)
        } else {
            Err(NoteError::UnknownKey)
        }
    }
}

/// Splits a verifier key `<name>+<key id hex>+<base64(alg || key)>` of
/// signature type `alg` into its name, key id text and Ed25519 key.
fn parse_vkey<'v>(
    vkey: &'v str,
    alg: u8,
    wrong_type: &'static str,
) -> Result<(&'v str, &'v str, ed25519_dalek::VerifyingKey), NoteError> {
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::VerifierKey("expected name+keyid+key"));
    };
    if !valid_key_name(name) {
        return Err(NoteError::VerifierKey("bad name"));
    }
    let blob = B64
        .decode(b64)
        .map_err(|_| NoteError::VerifierKey("key is not base64"))?;
    let Some((&found, rest)) = blob.split_first() else {
        return Err(NoteError::VerifierKey(wrong_type));
    };
    if found != alg {
        return Err(NoteError::VerifierKey(wrong_type));
    }
    let Ok(raw) = <[u8; 32]>::try_from(rest) else {
        return Err(NoteError::VerifierKey("Ed25519 key is not 32 bytes"));
    };
    let key = ed25519_dalek::VerifyingKey::from_bytes(&raw)
        .map_err(|_| NoteError::VerifierKey("not a valid Ed25519 point"))?;
    Ok((name, id_hex, key))
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note is too large"));
    }
    if !text.ends_with('\n') {
        return Err(NoteError::Malformed("text must end with a newline"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::Malformed("text contains control characters"));
    }
    Ok(())
}

/// Splits a note into its text (with final newline) and signature block.
fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    if note.len() > MAX_NOTE_BYTES {
        return Err(NoteError::Malformed("note is too large"));
    }
    let Some(idx) = note.rfind("\n\n") else {
        return Err(NoteError::Malformed("no blank line before the signatures"));
    };
    let (text, sigs) = (&note[..=idx], &note[idx + 2..]);
    check_text(text)?;
    if sigs.is_empty() || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "signature block must end with a newline",
        ));
    }
    if sigs.lines().count() > MAX_SIGNATURES {
        return Err(NoteError::Malformed("too many signatures"));
    }
    Ok((text, sigs))
}

/// The signature type of a C2SP tlog-cosignature/v1 (Ed25519, timestamped).
const ALG_COSIGNATURE_V1: u8 = 0x04;

fn cosignature_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_COSIGNATURE_V1]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// The message a cosignature/v1 signs: a header line, a timestamp line,
/// then the whole checkpoint text (c2sp.org/tlog-cosignature, Ed25519).
fn cosigned_message(time: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {time}\n{text}")
}

/// A witness's key: adds C2SP tlog-cosignature/v1 lines to checkpoints it
/// has checked for consistency.
pub struct CosignatureSigner<'k> {
    name: String,
    key: &'k ed25519_dalek::SigningKey,
}

impl<'k> CosignatureSigner<'k> {
    /// A witness signer that cosigns as `name` with `key`. The name must be
    /// non-empty and hold no whitespace, control characters or `+`, else
    /// [`NoteError::VerifierKey`].
    pub fn new(name: &str, key: &'k ed25519_dalek::SigningKey) -> Result<Self, NoteError> {
        if !valid_key_name(name) {
            return Err(NoteError::VerifierKey(
                "name must not be empty or contain whitespace, control characters or '+'",
            ));
        }
        Ok(CosignatureSigner {
            name: name.to_string(),
            key,
        })
    }

    /// The matching verifier.
    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier::new(&self.name, self.key.verifying_key())
    }

    /// Appends a cosignature at `time` (POSIX seconds, at most 2^63 - 1)
    /// to the signed note `note`, after any signature lines it has.
    pub fn cosign(&self, note: &str, time: u64) -> Result<String, NoteError> {
        if time > i64::MAX as u64 {
            return Err(NoteError::Malformed("timestamp out of range"));
        }
        let (text, sigs) = split_note(note)?;
        use ed25519_dalek::Signer;
        let sig = self.key.sign(cosigned_message(time, text).as_bytes());
        let id = cosignature_key_id(&self.name, self.key.verifying_key().as_bytes());
        let mut blob = Vec::with_capacity(4 + 8 + 64);
        blob.extend_from_slice(&id);
        blob.extend_from_slice(&time.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{sigs}\u{2014} {} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

/// Verifies the cosignatures of one named witness key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    id: [u8; 4],
    key: ed25519_dalek::VerifyingKey,
}

impl CosignatureVerifier {
    /// A verifier for cosignatures by `key` under `name`, with the
    /// cosignature/v1 key id derived from both. The name is not checked.
    pub fn new(name: &str, key: ed25519_dalek::VerifyingKey) -> Self {
        CosignatureVerifier {
            name: name.to_string(),
            id: cosignature_key_id(name, key.as_bytes()),
            key,
        }
    }

    /// The witness key name this verifier expects on cosignature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key `<name>+<key id hex>+<base64(0x04 || key)>`.
    pub fn vkey(&self) -> String {
        let mut blob = vec![ALG_COSIGNATURE_V1];
        blob.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(self.id),
            B64.encode(blob)
        )
    }

    /// Parses a cosigner's verifier key (signature type 0x04).
    pub fn from_vkey(vkey: &str) -> Result<Self, NoteError> {
        let (name, id_hex, key) = parse_vkey(
            vkey,
            ALG_COSIGNATURE_V1,
            "not a cosignature/v1 (type 0x04) Ed25519 key",
        )?;
        let v = CosignatureVerifier::new(name, key);
        if hex::encode(v.id) != id_hex {
            return Err(NoteError::VerifierKey("key id does not match the key"));
        }
        Ok(v)
    }

    /// The timestamp of this witness's valid cosignature on `note`, and
    /// the note's text; [`NoteError::UnknownKey`] if it has none, an error
    /// if its line does not verify.
    pub fn verify<'n>(&self, note: &'n str) -> Result<(u64, &'n str), NoteError> {
        let (text, sigs) = split_note(note)?;
        for line in sigs.lines() {
            let Some(rest) = line.strip_prefix("\u{2014} ") else {
                return Err(NoteError::Malformed(
                    "signature line does not start with an em dash",
                ));
            };
            let Some((name, b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed("signature line has no signature"));
            };
            if name != self.name {
                continue;
            }
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("signature is not base64"))?;
            if blob.len() != 4 + 8 + 64 || blob[..4] != self.id {
                continue;
            }
            let mut t = [0u8; 8];
            t.copy_from_slice(&blob[4..12]);
            let time = u64::from_be_bytes(t);
            if time > i64::MAX as u64 {
                return Err(NoteError::BadSignature(name.to_string()));
            }
            let sig = ed25519_dalek::Signature::from_slice(&blob[12..])
                .map_err(|_| NoteError::BadSignature(name.to_string()))?;
            self.key
                .verify_strict(cosigned_message(time, text).as_bytes(), &sig)
                .map_err(|_| NoteError::BadSignature(name.to_string()))?;
            return Ok((time, text));
        }
        Err(NoteError::UnknownKey)
    }
}

/// The body of a C2SP tlog checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The origin line, which names the log; never empty.
    pub origin: String,
    /// The tree size: how many entries the log holds.
    pub size: u64,
    /// The tree's root hash (base64 in the text).
    pub root: [u8; 32],
    /// The extension lines after the root hash, in order and without their
    /// newlines; none may be empty.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text of this checkpoint.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Parses checkpoint text (the verified text of a note).
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        let mut lines = text.lines();
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Checkpoint("missing origin"))?;
        let size_line = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing tree size"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(NoteError::Checkpoint("tree size is not a decimal number"));
        }
        let size = size_line
            .parse::<u64>()
            .map_err(|_| NoteError::Checkpoint("tree size is out of range"))?;
        let root_b64 = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing root hash"))?;
        let root: [u8; 32] = B64
            .decode(root_b64)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or(NoteError::Checkpoint("root hash is not 32 bytes of base64"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(NoteError::Checkpoint("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_cosignature_verifies_and_binds_time_text_and_key() {
        let log = key();
        let witness = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let body = "example.com/log\n5\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let note = NoteSigner::new("example.com/log", &log)
            .unwrap()
            .sign(body)
            .unwrap();
        let w = CosignatureSigner::new("witness.example/w1", &witness).unwrap();
        let cosigned = w.cosign(&note, 1_679_315_147).unwrap();
        let v = w.verifier();
        assert_eq!(v.verify(&cosigned).unwrap(), (1_679_315_147, body));
        // The log's own signature still verifies on the cosigned note.
        let lv = NoteSigner::new("example.com/log", &log).unwrap().verifier();
        assert_eq!(lv.open(&cosigned).unwrap(), body);
        // The vkey round-trips, and is not a note (0x01) key.
        assert_eq!(CosignatureVerifier::from_vkey(&v.vkey()).unwrap(), v);
        assert!(NoteVerifier::from_vkey(&v.vkey()).is_err());
        // A plain note signature by the witness key is not a cosignature.
        assert_eq!(v.verify(&note), Err(NoteError::UnknownKey));
        // Changing the checkpoint or the time breaks it.
        let other = cosigned.replacen("\n5\n", "\n6\n", 1);
        assert!(matches!(v.verify(&other), Err(NoteError::BadSignature(_))));
        let line = cosigned.lines().last().unwrap().to_string();
        let b64 = line.rsplit(' ').next().unwrap();
        let mut blob = B64.decode(b64).unwrap();
        blob[11] ^= 1;
        let forged = cosigned.replace(b64, &B64.encode(blob));
        assert!(matches!(v.verify(&forged), Err(NoteError::BadSignature(_))));
    }

    #[test]
    fn the_cosigned_message_is_the_specified_one() {
        // c2sp.org/tlog-cosignature: header line, time line, then the
        // checkpoint text including its final newline.
        assert_eq!(
            cosigned_message(
                1679315147,
                "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
            ),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    fn key() -> ed25519_dalek::SigningKey {
        ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn sign_open_and_reject_tampering() {
        let k = key();
        let signer = NoteSigner::new("example.com/log", &k).unwrap();
        let cp = Checkpoint {
            origin: "example.com/log".into(),
            size: 3,
            root: [9u8; 32],
            extensions: vec![],
        };
        let note = signer.sign(&cp.to_text()).unwrap();
        let v = signer.verifier();
        let text = v.open(&note).unwrap();
        assert_eq!(Checkpoint::parse(text).unwrap(), cp);
        let tampered = note.replacen("\n3\n", "\n4\n", 1);
        assert!(matches!(v.open(&tampered), Err(NoteError::BadSignature(_))));
        let other = NoteVerifier::new(
            "example.com/log",
            ed25519_dalek::SigningKey::from_bytes(&[8u8; 32]).verifying_key(),
        );
        assert_eq!(other.open(&note), Err(NoteError::UnknownKey));
        assert_eq!(NoteVerifier::from_vkey(&v.vkey()).unwrap(), v);
    }

    #[test]
    fn vkey_with_empty_key_is_an_error() {
        // Found by the `note` fuzz target: an empty key blob used to panic.
        assert!(NoteVerifier::from_vkey("a+b+").is_err());
        assert!(NoteVerifier::from_vkey("a+00000000+AQ==").is_err());
    }

    #[test]
    fn checkpoint_parser_rejects_bad_bodies() {
        for bad in [
            "",
            "\n",
            "o\n",
            "o\n01\nAA==\n",
            "o\n-1\n",
            "o\n1\nAA==\n",
            "o\n1\n\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,400}") {
            let _ = Checkpoint::parse(&s);
            let _ = NoteVerifier::from_vkey(&s);
            let v = NoteVerifier::new("n", key().verifying_key());
            let _ = v.open(&s);
        }

        #[test]
        fn any_single_byte_change_to_a_note_fails(size in 0u64..1_000_000, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
            let k = key();
            let signer = NoteSigner::new("log", &k).unwrap();
            let note = signer.sign(&Checkpoint { origin: "log".into(), size, root: [1; 32], extensions: vec![] }.to_text()).unwrap();
            let mut bytes = note.clone().into_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            if let Ok(mutated) = String::from_utf8(bytes) {
                prop_assume!(mutated != note);
                let opened = signer.verifier().open(&mutated).map(|t| t.to_string());
                // Either rejected, or (when only the signature block's
                // framing changed harmlessly) the same text as signed.
                if let Ok(t) = opened {
                    prop_assert!(note.starts_with(&t));
                    prop_assert_eq!(Checkpoint::parse(&t).map(|c| c.size), Ok(size));
                }
            }
        }
    }
}
