//! `warden evidence add` input: arbitrary bytes as a SARIF 2.1.0 or
//! pip-audit report. A summary that comes back is consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = warden::summarise_report(data) else { return };
    assert_eq!(s.counts.values().sum::<u64>(), s.findings);
    assert!(s.top.len() as u64 <= s.findings);
    assert!(s.top.iter().all(|f| (0.0..=10.0).contains(&f.score)));
});
