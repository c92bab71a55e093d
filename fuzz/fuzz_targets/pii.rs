//! PII detectors and redaction on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_data::pii;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = pii::value_entity(text);
    let spans = pii::find_in_text(text);
    for w in spans.windows(2) {
        assert!(w[0].end <= w[1].start);
    }
    let (redacted, n) = pii::redact_text(text);
    assert_eq!(n, spans.len());
    if n == 0 {
        assert_eq!(redacted, text);
    }
    let _ = pii::mask_keep_last4(text);
});
