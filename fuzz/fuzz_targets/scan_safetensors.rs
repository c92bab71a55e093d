//! The safetensors header check: a correct length prefix over fuzzed JSON
//! and data.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_scan::{Profile, scan_bytes};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let split = (data[0] as usize).min(data.len() - 1);
    let (header, rest) = data[1..].split_at(split.min(data.len() - 1));
    let mut bytes = ((header.len() + 1) as u64).to_le_bytes().to_vec();
    bytes.push(b'{');
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(rest);
    let _ = scan_bytes(&bytes, Profile::Auto);
});
