//! Text: telling text from binary, decoding it (UTF-8, or UTF-16 after a
//! byte-order mark), and handing text files and Jupyter notebooks (nbformat
//! 4 JSON: a `cells` array) to the secret scanner.

use std::fs::File;
use std::io::{self, Read};

use super::dispatch::MODEL_EXTENSIONS;
use crate::{FileReport, Finding, Options, Severity, Status, secrets};

/// Text files larger than this are not read by the secret scanner.
pub(super) const TEXT_MAX: u64 = 64 * 1024 * 1024;

/// Text unless confidently binary: a NUL byte (outside UTF-16 with a
/// byte-order mark) or mostly control characters. Text in a legacy
/// encoding (latin-1, cp1252) is text.
pub(super) fn is_text(head: &[u8]) -> bool {
    if head.starts_with(b"\xff\xfe") || head.starts_with(b"\xfe\xff") {
        return true;
    }
    if head.contains(&0) {
        return false;
    }
    let control = head
        .iter()
        .filter(|&&c| (c < 0x20 && !matches!(c, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b)) || c == 0x7f)
        .count();
    control * 10 <= head.len()
}

/// A file's text for the secret scanner: UTF-8 (lossy), or UTF-16 after a
/// byte-order mark.
pub(super) fn decode_text(bytes: &[u8]) -> String {
    let utf16 = |be: bool| {
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if be {
                    u16::from_be_bytes([c[0], c[1]])
                } else {
                    u16::from_le_bytes([c[0], c[1]])
                }
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    if bytes.starts_with(b"\xff\xfe") {
        utf16(false)
    } else if bytes.starts_with(b"\xfe\xff") {
        utf16(true)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    }
}

/// A text file (not confidently binary): scanned for secrets, as a
/// notebook when it is one. `ext` is its extension, lower case.
pub(super) fn scan(
    file: &mut File,
    len: u64,
    ext: &str,
    opts: &Options,
    rep: &mut FileReport,
    findings: &mut Vec<Finding>,
) -> io::Result<()> {
    rep.format = "text".into();
    if !opts.secrets {
        rep.status = Status::Skipped;
        if MODEL_EXTENSIONS.contains(&ext) && opts.models {
            rep.status = Status::Unscanned;
            findings.push(Finding {
                rule: "file.unrecognised".into(),
                severity: Severity::Medium,
                message: format!(
                    "named .{ext} but holds text, not a model format the scanner knows: not scanned"
                ),
                member: None,
                offset: None,
                line: None,
                fingerprint: None,
            });
        }
        return Ok(());
    }
    if len > TEXT_MAX {
        rep.status = Status::Unscanned;
        findings.push(Finding {
            rule: "file.unrecognised".into(),
            severity: Severity::Low,
            message: format!("text file of {len} bytes is larger than the secret scanner reads ({TEXT_MAX}): not scanned"),
            member: None,
            offset: None,
            line: None,
            fingerprint: None,
        });
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.read_to_end(&mut bytes)?;
    let text = decode_text(&bytes);
    if text.trim_start().starts_with('{')
        && (ext == "ipynb" || text.contains("\"nbformat\""))
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
        && v.get("cells").is_some_and(|c| c.is_array())
    {
        rep.format = "notebook".into();
        secrets::scan_notebook(&v, findings);
        return Ok(());
    }
    secrets::scan_text(&text, None, findings);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::dispatch::scan_file;
    use super::*;

    #[test]
    fn binary_or_text() {
        assert!(is_text(b"caf\xe9 latin-1 text\n"));
        assert!(is_text(b"\xff\xfek\x00e\x00y\x00"));
        assert!(!is_text(b"\x00\x01\x02abc"));
        assert!(!is_text(&[1u8, 2, 3, 4, 5, 6, 7, 8, 9, 11]));
        assert_eq!(decode_text(b"\xff\xfek\x00e\x00y\x00"), "key");
    }

    #[test]
    fn text_that_looks_like_a_header_is_scanned_for_secrets() {
        // Bytes 8-9 are '{"'; a token further on.
        let src = b"config = {\"token\": \"ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789\"}\n";
        let opts = Options {
            models: false,
            ..Options::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("settings.py");
        std::fs::write(&p, src).unwrap();
        let r = scan_file(&p, "settings.py".into(), &opts, false);
        assert_eq!(r.format, "text");
        assert!(
            r.findings.iter().any(|x| x.rule.starts_with("secret.")),
            "{:?}",
            r.findings
        );
        let r = scan_file(&p, "settings.py".into(), &Options::default(), false);
        assert!(
            !r.findings.iter().any(|x| x.rule.starts_with("safetensors")),
            "{:?}",
            r.findings
        );
    }
}
