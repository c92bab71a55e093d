//! The pickle VM's view of streams, for the differential test against
//! CPython's own unpickler (scripts/pickle-differential.py): one stream a
//! line on stdin, in hex; one JSON object a line on stdout (the imports,
//! calls, BUILDs and persistent loads in order, the value, the error).
#![forbid(unsafe_code)]

use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let v = match hex::decode(line.trim()) {
            Ok(bytes) => warden_scan::pickle::trace(&bytes),
            Err(e) => serde_json::json!({"error": format!("bad hex: {e}")}),
        };
        writeln!(out, "{v}")?;
    }
    out.flush()
}
