//! The GGUF header check: counts and lengths must be bounded by the file
//! before anything is allocated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_scan::{Profile, scan_bytes};

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"GGUF\x03\x00\x00\x00".to_vec();
    bytes.extend_from_slice(data);
    let _ = scan_bytes(&bytes, Profile::Auto);
});
