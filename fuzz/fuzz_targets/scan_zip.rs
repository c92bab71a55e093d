//! The zip reader on arbitrary archives: the input is wrapped so that it
//! ends in an end-of-central-directory record pointing into it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_scan::{Profile, scan_bytes};

fuzz_target!(|data: &[u8]| {
    // data = [entries u16][cd_size u32][cd_offset u32] + body
    if data.len() < 10 {
        return;
    }
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend_from_slice(&data[10..]);
    bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0");
    bytes.extend_from_slice(&data[0..2]);
    bytes.extend_from_slice(&data[0..2]);
    bytes.extend_from_slice(&data[2..10]);
    bytes.extend_from_slice(&[0, 0]);
    let _ = scan_bytes(&bytes, Profile::Auto);
});
