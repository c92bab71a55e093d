//! Helpers the format tests share: scanning bytes, a hostile pickle, a
//! stored zip around any bytes, and scanning bytes as a named file.

use super::dispatch::{scan_file, scan_nested_top};
use crate::{FileReport, Finding, Options, Profile};

pub(super) fn scan(bytes: &[u8]) -> (String, Vec<Finding>) {
    let mut f = Vec::new();
    let fmt = scan_nested_top(bytes, Profile::Auto, &mut f);
    (fmt, f)
}

/// `os.system("id")` as a protocol 4 pickle.
pub(super) const EVIL: &[u8] =
    b"\x80\x04\x95\x14\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";

/// A zip archive holding `data` stored (uncompressed) as `name`.
pub(super) fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
    let crc = crc32fast::hash(data);
    let n = data.len() as u32;
    let mut z = b"PK\x03\x04".to_vec();
    for v in [20u16, 0, 0, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, n, n] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    z.extend_from_slice(data);
    let cd = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    for v in [20u16, 20, 0, 0, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, n, n] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name.len() as u16, 0, 0, 0, 0] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(&0u32.to_le_bytes());
    z.extend_from_slice(name.as_bytes());
    let cd_len = z.len() as u32 - cd;
    z.extend_from_slice(b"PK\x05\x06");
    for v in [0u16, 0, 1, 1] {
        z.extend_from_slice(&v.to_le_bytes());
    }
    z.extend_from_slice(&cd_len.to_le_bytes());
    z.extend_from_slice(&cd.to_le_bytes());
    z.extend_from_slice(&0u16.to_le_bytes());
    z
}

/// Scans `bytes` written to a temporary file called `name`.
pub(super) fn scan_path(bytes: &[u8], name: &str) -> FileReport {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    scan_file(&p, name.into(), &Options::default(), false)
}
