//! The CSV reader and the canonical writer on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_data::read::{CsvOptions, read_csv};

fuzz_target!(|data: &[u8]| {
    let opts = CsvOptions { max_field_bytes: 256, ..Default::default() };
    if let Ok((table, _)) = read_csv(&mut &data[..], &opts) {
        // Whatever parses must write canonically and read back to the same canonical bytes.
        let mut out = Vec::new();
        warden_data::write::write_canonical(&table, &mut out).expect("write to memory");
        let canon = CsvOptions { missing: vec![String::new()], max_field_bytes: 1 << 20, ..Default::default() };
        if let Ok((back, _)) = read_csv(&mut out.as_slice(), &canon) {
            let mut again = Vec::new();
            warden_data::write::write_canonical(&back, &mut again).expect("write to memory");
            assert_eq!(out, again);
        }
        let _ = warden_data::profile::profile(&table);
    }
});
