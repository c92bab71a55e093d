//! Every scanner: format detection by content on arbitrary bytes, and the
//! secret rules on whatever is text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_scan::{Profile, scan_bytes, secrets};

fuzz_target!(|data: &[u8]| {
    let _ = scan_bytes(data, Profile::Auto);
    if let Ok(t) = std::str::from_utf8(data) {
        let mut f = Vec::new();
        secrets::scan_text(t, None, &mut f);
        for x in &f {
            assert!(x.line.is_some());
        }
    }
});
