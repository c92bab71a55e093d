//! DSSE envelopes (Dead Simple Signing Envelope, protocol v1,
//! <https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>):
//! the container of approvals and of build provenance. The signature is
//! over the pre-authentication encoding of the payload type and the
//! payload bytes, never over JSON re-serialised by the verifier.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use warden_artifact::keys::{PublicKey, SigningKey};
use warden_artifact::model_signing::pae;

/// A signed envelope as it travels and is stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// What the payload is (for Warden: `application/vnd.in-toto+json`).
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// The payload, standard base64.
    pub payload: String,
    /// The signatures over the payload's pre-authentication encoding.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// The signing key's id (Warden writes the `sha256:` digest of its DER
    /// public key); optional in the protocol, never trusted on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyid: Option<String>,
    /// The signature, standard base64.
    pub sig: String,
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`, naming it `key_id`.
    pub fn sign(payload_type: &str, payload: &[u8], key: &SigningKey, key_id: &str) -> Self {
        let sig = key.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: B64.encode(payload),
            signatures: vec![Signature {
                keyid: Some(key_id.to_string()),
                sig: B64.encode(&sig),
            }],
        }
    }

    /// The payload's bytes. The error is a reason to show.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, String> {
        B64.decode(&self.payload)
            .map_err(|_| "the payload is not base64".to_string())
    }

    /// The key id the first signature names, if any.
    pub fn first_keyid(&self) -> Option<&str> {
        self.signatures.first().and_then(|s| s.keyid.as_deref())
    }

    /// Whether `sig` verifies over this envelope's payload with `key`.
    pub fn verifies(&self, sig: &Signature, payload: &[u8], key: &PublicKey) -> bool {
        B64.decode(&sig.sig)
            .is_ok_and(|raw| key.verify(&pae(&self.payload_type, payload), &raw).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_artifact::keys::Algorithm;

    #[test]
    fn a_signed_envelope_verifies_and_a_changed_one_does_not() {
        let key = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let e = Envelope::sign("t", b"{\"a\":1}", &key, "k");
        let payload = e.payload_bytes().unwrap();
        assert_eq!(payload, b"{\"a\":1}");
        assert!(e.verifies(&e.signatures[0], &payload, &key.public_key()));
        assert!(!e.verifies(&e.signatures[0], b"{\"a\":2}", &key.public_key()));
        let mut other_type = e.clone();
        other_type.payload_type = "u".into();
        assert!(!other_type.verifies(&e.signatures[0], &payload, &key.public_key()));
        let other = SigningKey::generate(Algorithm::Ed25519).unwrap();
        assert!(!e.verifies(&e.signatures[0], &payload, &other.public_key()));
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"payloadType\":\"t\""));
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), e);
        assert!(
            serde_json::from_str::<Envelope>(
                r#"{"payloadType":"t","payload":"","signatures":[],"x":1}"#
            )
            .is_err()
        );
    }
}
