//! RFC 8785 (JSON Canonicalization Scheme) serialisation.
//!
//! Every object Warden hashes or signs is first turned into these bytes, so
//! the same value always has the same digest whichever program wrote it.

use serde::Serialize;

/// A value that cannot be written as canonical JSON (for example a
/// non-finite float, which JSON cannot represent).
#[derive(Debug, thiserror::Error)]
#[error("cannot write canonical JSON: {0}")]
pub struct CanonicalError(String);

/// Serialises `value` as RFC 8785 canonical JSON bytes.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, CanonicalError> {
    serde_json_canonicalizer::to_vec(value).map_err(|e| CanonicalError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    // The literal is RFC 8785's own example; its excess digits are the point.
    #[allow(clippy::excessive_precision)]
    fn sorts_keys_and_formats_numbers_per_rfc8785() {
        // Examples from RFC 8785 section 3.2.2 and appendix B.
        let v = json!({"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
                       "literals": [null, true, false], "\u{20ac}": "x"});
        let out = String::from_utf8(canonical_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\"\u{20ac}\":\"x\"}"
        );
    }

    #[test]
    fn non_finite_float_is_an_error() {
        assert!(canonical_json(&f64::NAN).is_err());
    }
}
