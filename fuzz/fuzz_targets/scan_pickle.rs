//! The pickle VM on arbitrary opcode streams (forced to look like a binary
//! pickle so detection sends every input to it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_scan::{Profile, scan_bytes};

fuzz_target!(|data: &[u8]| {
    let mut bytes = vec![0x80, 0x04];
    bytes.extend_from_slice(data);
    let r = scan_bytes(&bytes, Profile::Strict);
    assert_eq!(r.files.len(), 1);
});
