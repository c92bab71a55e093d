//! A test-only OIDC issuer for benchmarks and local trials of the hub:
//! a P-256 key made from random bytes at start, its JWKS, and ES256 ID
//! tokens for the subjects given. Never use it to vouch for anyone.
//!
//! Usage: test_issuer DIR ISSUER AUDIENCE EMAIL...
//! Writes DIR/jwks.json and DIR/EMAIL.token (valid for 24 hours).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::json;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, iss, aud, emails @ ..] = args.as_slice() else {
        eprintln!("usage: test_issuer DIR ISSUER AUDIENCE EMAIL...");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    std::fs::create_dir_all(dir).expect("output directory");
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).expect("randomness");
    let key = SigningKey::from_slice(&seed).expect("a P-256 scalar");
    let point = key.verifying_key().to_sec1_point(false);
    let b = point.as_bytes();
    let jwks = json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "test-1", "alg": "ES256",
                                "use": "sig", "x": b64(&b[1..33]), "y": b64(&b[33..65])}]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).expect("jwks.json");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    for email in emails {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": "test-1"});
        let claims = json!({"iss": iss, "aud": aud, "sub": email, "email": email,
                            "iat": now, "exp": now + 86_400});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig: Signature = key.sign(input.as_bytes());
        std::fs::write(
            dir.join(format!("{email}.token")),
            format!("{input}.{}", b64(&sig.to_bytes())),
        )
        .expect("token file");
    }
}
