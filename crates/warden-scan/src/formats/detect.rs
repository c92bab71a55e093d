//! Naming the format of content from its first bytes, never from a file
//! name: magic numbers (NumPy, GGUF, HDF5, zip, xz, lz4, 7z, zstd), the
//! header checks of zlib (RFC 1950 §2.2: CMF/FLG with `FCHECK`), gzip
//! (RFC 1952), bzip2 and LZMA "alone" streams, the opening fields of ONNX
//! and SavedModel protobufs, pickle openings, and the safetensors header.

use std::io::Read;

use super::safetensors;
use super::text::is_text;
use crate::pickle::{looks_binary_pickle, may_start_pickle};

/// What content is, as far as its first bytes tell.
#[derive(Debug, PartialEq)]
pub(super) enum Kind {
    Empty,
    Pickle,
    Zip,
    Npy,
    Safetensors,
    Gguf,
    Hdf5,
    Onnx,
    SavedModel,
    Zlib,
    Gzip,
    Bzip2,
    Xz,
    /// LZMA "alone" (.lzma): joblib's `compress='lzma'`.
    Lzma,
    OtherCompressed(&'static str),
    MaybePickle,
    Text,
    Unknown,
}

/// The kind of content that starts with `head` and is `len` bytes long.
pub(super) fn detect_head(head: &[u8], len: u64) -> Kind {
    if head.is_empty() {
        return Kind::Empty;
    }
    if head.starts_with(b"\x93NUMPY") {
        return Kind::Npy;
    }
    if head.starts_with(b"GGUF") {
        return Kind::Gguf;
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return Kind::Hdf5;
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        return Kind::Zip;
    }
    if looks_binary_pickle(head) {
        return Kind::Pickle;
    }
    if safetensors::prefix(head, len) {
        return Kind::Safetensors;
    }
    // Binary with a JSON object where the header goes: a safetensors file
    // whose header is broken (reported as such). Text never is.
    if head.len() >= 10 && head[8] == b'{' && head[9] == b'"' && !is_text(head) {
        return Kind::Safetensors;
    }
    if head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b {
        return Kind::Gzip;
    }
    if head.len() >= 2
        && head[0] & 0x0f == 8
        && head[0] >> 4 <= 7
        && (u16::from(head[0]) * 256 + u16::from(head[1])) % 31 == 0
        && inflates(head)
    {
        return Kind::Zlib;
    }
    if head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && (head[4..10] == *b"1AY&SY" || head[4..10] == [0x17, 0x72, 0x45, 0x38, 0x50, 0x90])
    {
        return Kind::Bzip2;
    }
    if head.starts_with(b"\xfd7zXZ\x00") {
        return Kind::Xz;
    }
    if looks_lzma_alone(head) {
        return Kind::Lzma;
    }
    if head.starts_with(b"\x04\x22\x4d\x18") {
        return Kind::OtherCompressed("lz4");
    }
    if head.starts_with(b"7z\xbc\xaf\x27\x1c") {
        return Kind::OtherCompressed("7z");
    }
    if head.starts_with(b"\x28\xb5\x2f\xfd") {
        return Kind::OtherCompressed("zstd");
    }
    if let Some(k) = detect_protobuf(head) {
        return k;
    }
    if may_start_pickle(head) {
        return Kind::MaybePickle;
    }
    let _ = len;
    if is_text(head) {
        Kind::Text
    } else {
        Kind::Unknown
    }
}

/// The 13-byte header of an LZMA "alone" stream: a properties byte
/// (lc, lp, pb), a dictionary size of 2^n or 2^n + 2^(n-1), and an
/// uncompressed size that is unknown (all ones) or below 2^48; then the
/// first byte of the range coder, which is always 0.
fn looks_lzma_alone(h: &[u8]) -> bool {
    if h.len() < 14 || h[0] > 224 || h[13] != 0 {
        return false;
    }
    let dict = u32::from_le_bytes([h[1], h[2], h[3], h[4]]);
    let size = u64::from_le_bytes([h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12]]);
    let dict_ok = dict >= 4096
        && (dict.is_power_of_two() || (dict.is_multiple_of(3) && (dict / 3).is_power_of_two()));
    dict_ok && (size == u64::MAX || size < 1 << 48)
}

/// Whether the bytes start a zlib stream that really inflates (a zlib
/// header is only 16 bits: text such as `(S'` passes the header check).
fn inflates(head: &[u8]) -> bool {
    let mut out = [0u8; 16];
    matches!(flate2::read::ZlibDecoder::new(head).read(&mut out), Ok(n) if n > 0)
}

/// ONNX ModelProto and SavedModel both start with field 1 (a version);
/// field 2 is the producer name (text) in ONNX and a MetaGraphDef in a
/// SavedModel.
fn detect_protobuf(head: &[u8]) -> Option<Kind> {
    if head.first() != Some(&0x08) {
        return None;
    }
    let mut i = 1;
    let (_, n) = varint(&head[i..])?;
    i += n;
    let (tag, n) = varint(head.get(i..)?)?;
    i += n;
    let field = tag >> 3;
    let wire = tag & 7;
    match (field, wire) {
        (2, 2) => {
            let (l, n) = varint(head.get(i..)?)?;
            let body = head.get(
                i + n
                    ..(i + n)
                        .saturating_add(usize::try_from(l).unwrap_or(usize::MAX))
                        .min(head.len()),
            )?;
            if !body.is_empty() && body.iter().all(|&b| (0x20..0x7f).contains(&b)) {
                Some(Kind::Onnx)
            } else if body.first().is_some_and(|&b| b == 0x0a || b == 0x12) {
                Some(Kind::SavedModel)
            } else {
                None
            }
        }
        (3..=8, 2) | (8, 0) | (14, 2) | (20, 2) | (25, 2) => Some(Kind::Onnx),
        _ => None,
    }
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &x) in b.iter().enumerate().take(10) {
        v |= u64::from(x & 0x7f) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_detection() {
        // ONNX: ir_version then producer_name "pytorch".
        assert_eq!(
            detect_protobuf(b"\x08\x07\x12\x07pytorch"),
            Some(Kind::Onnx)
        );
        // SavedModel: schema version then a MetaGraphDef starting with meta_info_def.
        assert_eq!(
            detect_protobuf(b"\x08\x01\x12\x05\x0a\x03\x0a\x01x"),
            Some(Kind::SavedModel)
        );
    }
}
