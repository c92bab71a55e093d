//! An inference request body as `warden serve` reads it: JSON tensors, or
//! the binary tensor extension (the first byte picks the header length).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let header = (first & 1 == 1).then(|| ((first >> 1) as usize * 4).to_string());
    let _ = warden_server::routes::parse_infer_body(header.as_deref(), body);
});
