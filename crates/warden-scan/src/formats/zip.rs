//! Zip containers (PyTorch archives, `.npz`, Keras v3, joblib-in-zip) read
//! the way a suspicious reader would: the central directory, every local
//! header, every member's bytes and checksum.
//!
//! Written by hand rather than with a zip crate because the anomalies are
//! the point: readers that disagree (Python's `zipfile` uses the central
//! directory, torch's miniz tolerates a bad CRC, other tools read local
//! headers) are how payloads slip past scanners, and a conforming reader
//! either hides those differences or refuses the file. Members are
//! streamed (deflate through `flate2`), never held whole, and expansion
//! is bounded.
//!
//! The layout read is that of PKWARE's APPNOTE.TXT (§4.3: local file
//! headers, central directory, end of central directory record, and the
//! zip64 end record and locator).

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

use super::dispatch::{self, Ctx};
use crate::Severity;
use crate::input::StreamSrc;
use crate::path_escape;

const EOCD: &[u8; 4] = b"PK\x05\x06";
const CDH: u32 = 0x0201_4b50;
const LFH: u32 = 0x0403_4b50;
/// Central directories larger than this are refused (entries × 46+ bytes).
const MAX_CD: u64 = 256 * 1024 * 1024;
/// A member whose declared expansion ratio exceeds this is a bomb candidate.
const BOMB_RATIO: u64 = 200;
/// Bytes decompressed per suspicious member before the scan gives up on it.
const BOMB_CAP: u64 = 2 * 1024 * 1024 * 1024;
/// Members read whole (Keras config, nested archives) up to this size.
const WHOLE_MAX: u64 = 256 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct ZipFacts {
    pub kind: &'static str,
    pub members: usize,
    /// The model configuration (`config.json`) of a Keras v3 archive, for
    /// the Keras scanner.
    pub keras_config: Option<Vec<u8>>,
}

struct Entry {
    name: String,
    raw_name: Vec<u8>,
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
}

fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn le64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

fn bad<T>(m: impl Into<String>) -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::InvalidData, m.into()))
}

/// Finds the end-of-central-directory record in the last 64 KiB.
pub(crate) fn find_eocd<R: Read + Seek>(r: &mut R, len: u64) -> io::Result<Option<u64>> {
    if len < 22 {
        return Ok(None);
    }
    let tail_len = len.min(22 + 65535);
    let start = len - tail_len;
    r.seek(SeekFrom::Start(start))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let mut i = tail.len() - 22;
    loop {
        if &tail[i..i + 4] == EOCD {
            let comment = le16(&tail, i + 20) as usize;
            if i + 22 + comment <= tail.len() {
                return Ok(Some(start + i as u64));
            }
        }
        if i == 0 {
            return Ok(None);
        }
        i -= 1;
    }
}

/// Scans a zip archive held in `r` (a file or bytes) of length `len`.
pub(crate) fn scan<R: Read + Seek>(r: &mut R, len: u64, ctx: &mut Ctx) -> io::Result<ZipFacts> {
    let Some(eocd_at) = find_eocd(r, len)? else {
        ctx.push("zip.malformed", Severity::High, "zip local headers without an end-of-central-directory record: readers disagree on what it holds; not scanned".into(), None);
        return Ok(ZipFacts {
            kind: "zip",
            ..ZipFacts::default()
        });
    };
    r.seek(SeekFrom::Start(eocd_at))?;
    let mut e = [0u8; 22];
    r.read_exact(&mut e)?;
    let mut entries_total = le16(&e, 10) as u64;
    let mut cd_size = le32(&e, 12) as u64;
    let mut cd_offset = le32(&e, 16) as u64;
    let mut cd_end = eocd_at;
    if entries_total == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        // Zip64: locator just before the EOCD, record just before that.
        if eocd_at < 20 + 56 {
            return bad("zip64 markers without a zip64 record");
        }
        r.seek(SeekFrom::Start(eocd_at - 20))?;
        let mut loc = [0u8; 20];
        r.read_exact(&mut loc)?;
        if le32(&loc, 0) != 0x0706_4b50 {
            return bad("zip64 markers without a zip64 locator");
        }
        let rec_at = eocd_at - 20 - 56;
        r.seek(SeekFrom::Start(rec_at))?;
        let mut rec = [0u8; 56];
        r.read_exact(&mut rec)?;
        if le32(&rec, 0) != 0x0606_4b50 {
            return bad("zip64 locator does not point at a zip64 record");
        }
        entries_total = le64(&rec, 32);
        cd_size = le64(&rec, 40);
        cd_offset = le64(&rec, 48);
        cd_end = rec_at;
    }
    if cd_size > MAX_CD || cd_size > cd_end {
        return bad(format!(
            "central directory of {cd_size} bytes does not fit the file"
        ));
    }
    let cd_at = cd_end - cd_size;
    let Some(delta) = cd_at.checked_sub(cd_offset) else {
        return bad("central directory offset points past its real position");
    };
    let mut facts = ZipFacts::default();
    if delta > 0 {
        ctx.push(
            "zip.leading-data",
            Severity::Medium,
            format!(
                "{delta} bytes precede the archive (a polyglot: other readers see a different file)"
            ),
            Some(0),
        );
        // The leading bytes are a file of their own: scan them.
        if delta <= WHOLE_MAX {
            r.seek(SeekFrom::Start(0))?;
            let mut head = vec![0u8; delta as usize];
            r.read_exact(&mut head)?;
            let mut sub = ctx.sub("leading data before the archive".into());
            dispatch::scan_nested_into(&head, &mut sub, true);
        }
    }
    r.seek(SeekFrom::Start(cd_at))?;
    let mut cd = vec![0u8; cd_size as usize];
    r.read_exact(&mut cd)?;
    let entries = parse_cd(&cd, ctx)?;
    if entries.len() as u64 != entries_total {
        ctx.push(
            "zip.header-mismatch",
            Severity::High,
            format!(
                "the end record counts {entries_total} entries, the central directory holds {}",
                entries.len()
            ),
            None,
        );
    }
    facts.members = entries.len();
    facts.kind = classify(&entries);

    let mut seen = HashSet::new();
    let mut spans: Vec<(u64, u64, usize)> = Vec::new();
    for (i, en) in entries.iter().enumerate() {
        if !seen.insert(en.raw_name.clone()) {
            ctx.push_member(
                &en.name,
                "zip.duplicate-entry",
                Severity::High,
                format!(
                    "duplicate entry name {:?}: readers pick different copies",
                    en.name
                ),
                None,
            );
        }
        if let Err(why) = path_escape::check(&en.name) {
            ctx.push_member(
                &en.name,
                "zip.path-escape",
                Severity::High,
                format!(
                    "entry name {:?} {}",
                    en.name,
                    why.reason("the extraction directory")
                ),
                None,
            );
        }
        if en.flags & 1 != 0 {
            ctx.push_member(
                &en.name,
                "zip.encrypted",
                Severity::Medium,
                "encrypted entry: its content cannot be scanned".into(),
                None,
            );
            continue;
        }
        let Some(local_at) = en.offset.checked_add(delta).filter(|&a| a < len) else {
            ctx.push_member(
                &en.name,
                "zip.malformed",
                Severity::High,
                format!(
                    "entry header offset {} lies past the end of the file; not scanned",
                    en.offset
                ),
                None,
            );
            continue;
        };
        let data_at = match check_local(r, en, local_at, len, ctx)? {
            Some(d) => d,
            None => continue,
        };
        spans.push((local_at, data_at.saturating_add(en.csize), i));
        if data_at.saturating_add(en.csize) > len {
            ctx.push_member(
                &en.name,
                "zip.malformed",
                Severity::High,
                "entry data runs past the end of the file; not scanned".into(),
                None,
            );
            continue;
        }
        if en.name.ends_with('/') && en.usize == 0 {
            continue;
        }
        let ratio =
            en.usize
                .checked_div(en.csize)
                .unwrap_or(if en.usize > 0 { u64::MAX } else { 0 });
        let bomb = ratio > BOMB_RATIO && en.usize > 64 * 1024 * 1024;
        if bomb {
            ctx.push_member(
                &en.name,
                "zip.bomb",
                Severity::High,
                format!(
                    "expands {} bytes into {} (ratio {}): a decompression bomb",
                    en.csize, en.usize, ratio
                ),
                None,
            );
        }
        match en.method {
            0 | 8 => {}
            m => {
                ctx.push_member(&en.name, "zip.unsupported-compression", Severity::Medium, format!("compression method {m} is not supported by the scanner: content not scanned"), None);
                continue;
            }
        }
        r.seek(SeekFrom::Start(data_at))?;
        scan_member(r, en, bomb, ctx)?;
    }
    spans.sort();
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            let name = &entries[w[1].2].name;
            ctx.push_member(
                name,
                "zip.bomb",
                Severity::High,
                format!(
                    "entry overlaps {:?}: overlapping entries multiply the expanded size",
                    entries[w[0].2].name
                ),
                None,
            );
        }
    }
    if facts.kind == "keras"
        && let Some(en) = entries
            .iter()
            .find(|e| e.name == "config.json" && e.flags & 1 == 0)
        && let Some(bytes) = read_whole(r, en, delta)?
    {
        facts.keras_config = Some(bytes);
    }
    Ok(facts)
}

fn classify(entries: &[Entry]) -> &'static str {
    let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    if names
        .iter()
        .any(|n| n.to_ascii_lowercase().ends_with("data.pkl"))
    {
        "torch"
    } else if names.contains(&"config.json")
        && (names.contains(&"metadata.json") || names.iter().any(|n| n.ends_with(".weights.h5")))
    {
        "keras"
    } else if !names.is_empty() && names.iter().all(|n| n.ends_with(".npy")) {
        "npz"
    } else {
        "zip"
    }
}

fn parse_cd(cd: &[u8], ctx: &mut Ctx) -> io::Result<Vec<Entry>> {
    let mut out = Vec::new();
    let mut i = 0usize;
    while i + 46 <= cd.len() {
        if le32(cd, i) != CDH {
            ctx.push(
                "zip.malformed",
                Severity::High,
                format!("central directory damaged at byte {i}: entries after it were not scanned"),
                None,
            );
            break;
        }
        let flags = le16(cd, i + 8);
        let method = le16(cd, i + 10);
        let crc = le32(cd, i + 16);
        let mut csize = le32(cd, i + 20) as u64;
        let mut usize = le32(cd, i + 24) as u64;
        let nlen = le16(cd, i + 28) as usize;
        let xlen = le16(cd, i + 30) as usize;
        let clen = le16(cd, i + 32) as usize;
        let mut offset = le32(cd, i + 42) as u64;
        let end = i + 46 + nlen + xlen + clen;
        if end > cd.len() {
            return bad("central directory entry runs past its end");
        }
        let raw_name = cd[i + 46..i + 46 + nlen].to_vec();
        let extra = &cd[i + 46 + nlen..i + 46 + nlen + xlen];
        zip64_extra(extra, &mut usize, &mut csize, &mut offset);
        out.push(Entry {
            name: String::from_utf8_lossy(&raw_name).into_owned(),
            raw_name,
            flags,
            method,
            crc,
            csize,
            usize,
            offset,
        });
        i = end;
    }
    Ok(out)
}

/// Applies a zip64 extra field (id 1) to the fields that overflowed.
fn zip64_extra(extra: &[u8], usize: &mut u64, csize: &mut u64, offset: &mut u64) {
    let mut j = 0;
    while j + 4 <= extra.len() {
        let id = le16(extra, j);
        let n = le16(extra, j + 2) as usize;
        let body = &extra[(j + 4).min(extra.len())..(j + 4 + n).min(extra.len())];
        if id == 1 {
            let mut k = 0;
            for field in [&mut *usize, &mut *csize, &mut *offset] {
                if *field == 0xFFFF_FFFF && k + 8 <= body.len() {
                    *field = le64(body, k);
                    k += 8;
                }
            }
        }
        j += 4 + n;
    }
}

/// Checks the local header against the central entry; returns where the data starts.
fn check_local<R: Read + Seek>(
    r: &mut R,
    en: &Entry,
    at: u64,
    len: u64,
    ctx: &mut Ctx,
) -> io::Result<Option<u64>> {
    if at.saturating_add(30) > len {
        ctx.push_member(
            &en.name,
            "zip.malformed",
            Severity::High,
            "local header lies past the end of the file; not scanned".into(),
            None,
        );
        return Ok(None);
    }
    r.seek(SeekFrom::Start(at))?;
    let mut h = [0u8; 30];
    r.read_exact(&mut h)?;
    if le32(&h, 0) != LFH {
        ctx.push_member(
            &en.name,
            "zip.header-mismatch",
            Severity::High,
            "the central directory points at something that is not a local header; not scanned"
                .into(),
            None,
        );
        return Ok(None);
    }
    let nlen = le16(&h, 26) as u64;
    let xlen = le16(&h, 28) as u64;
    let mut name = vec![0u8; nlen as usize];
    r.read_exact(&mut name)?;
    let mut problems = Vec::new();
    if name != en.raw_name {
        problems.push(format!("local name {:?}", String::from_utf8_lossy(&name)));
    }
    let lflags = le16(&h, 6);
    if lflags & 1 != en.flags & 1 {
        problems.push("encryption flag".to_string());
    }
    if le16(&h, 8) != en.method {
        problems.push(format!("method {} vs {}", le16(&h, 8), en.method));
    }
    if lflags & 8 == 0 {
        let mut extra = vec![0u8; xlen as usize];
        r.read_exact(&mut extra)?;
        let (mut lu, mut lc, mut lo) = (le32(&h, 22) as u64, le32(&h, 18) as u64, 0u64);
        zip64_extra(&extra, &mut lu, &mut lc, &mut lo);
        if le32(&h, 14) != en.crc {
            problems.push("CRC".to_string());
        }
        if lc != en.csize || lu != en.usize {
            problems.push(format!("sizes {lc}/{lu} vs {}/{}", en.csize, en.usize));
        }
    }
    if !problems.is_empty() {
        ctx.push_member(
            &en.name,
            "zip.header-mismatch",
            Severity::High,
            format!("local header disagrees with the central directory ({}): readers see different files", problems.join(", ")),
            Some(at),
        );
    }
    Ok(Some(at + 30 + nlen + xlen))
}

/// Counts and checksums what passes through, and stops past a cap.
struct Meter<R> {
    inner: R,
    crc: crc32fast::Hasher,
    n: u64,
    cap: u64,
    capped: bool,
}

impl<R: Read> Read for Meter<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.n >= self.cap {
            self.capped = true;
            return Ok(0);
        }
        let room = (self.cap - self.n).min(buf.len() as u64) as usize;
        let k = self.inner.read(&mut buf[..room])?;
        self.crc.update(&buf[..k]);
        self.n += k as u64;
        Ok(k)
    }
}

fn scan_member<R: Read + Seek>(r: &mut R, en: &Entry, bomb: bool, ctx: &mut Ctx) -> io::Result<()> {
    let raw = (&mut *r).take(en.csize);
    let cap = if bomb {
        BOMB_CAP
    } else {
        en.usize.saturating_add(1)
    };
    let reader: Box<dyn Read + '_> = if en.method == 8 {
        Box::new(flate2::read::DeflateDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let meter = Meter {
        inner: reader,
        crc: crc32fast::Hasher::new(),
        n: 0,
        cap,
        capped: false,
    };
    let mut src = StreamSrc::new(meter);
    let mut sub = ctx.sub(en.name.clone());
    let outcome = dispatch::scan_member_stream(&mut src, &en.name, &mut sub);
    // Read what the scanner did not, for the checksum.
    let drained = io::copy(&mut src, &mut io::sink());
    let meter = src.into_inner();
    if let Err(e) = outcome.and(drained.map(|_| ())) {
        ctx.push_member(
            &en.name,
            "zip.malformed",
            Severity::High,
            format!("entry cannot be decompressed ({e}); not fully scanned"),
            None,
        );
        return Ok(());
    }
    if meter.capped {
        if bomb {
            ctx.push_member(
                &en.name,
                "zip.bomb",
                Severity::High,
                format!(
                    "stopped after {} decompressed bytes; the rest was not scanned",
                    meter.n
                ),
                None,
            );
        } else {
            ctx.push_member(
                &en.name,
                "zip.header-mismatch",
                Severity::High,
                format!(
                    "expands beyond its declared size of {} bytes; the rest was not scanned",
                    en.usize
                ),
                None,
            );
        }
        return Ok(());
    }
    if meter.n != en.usize {
        ctx.push_member(
            &en.name,
            "zip.header-mismatch",
            Severity::High,
            format!("expands to {} bytes, declared {}", meter.n, en.usize),
            None,
        );
    }
    let crc = meter.crc.finalize();
    if crc != en.crc {
        ctx.push_member(
            &en.name,
            "zip.bad-crc",
            Severity::High,
            format!("CRC-32 is {crc:08x}, the archive says {:08x}: Python's zipfile refuses it, other loaders read it anyway", en.crc),
            None,
        );
    }
    Ok(())
}

fn read_whole<R: Read + Seek>(r: &mut R, en: &Entry, delta: u64) -> io::Result<Option<Vec<u8>>> {
    if en.usize > WHOLE_MAX || !(en.method == 0 || en.method == 8) {
        return Ok(None);
    }
    let Some(at) = en.offset.checked_add(delta) else {
        return Ok(None);
    };
    r.seek(SeekFrom::Start(at + 26))?;
    let mut l = [0u8; 4];
    r.read_exact(&mut l)?;
    let data_at = at + 30 + le16(&l, 0) as u64 + le16(&l, 2) as u64;
    r.seek(SeekFrom::Start(data_at))?;
    let raw = (&mut *r).take(en.csize);
    let mut out = Vec::new();
    if en.method == 8 {
        flate2::read::DeflateDecoder::new(raw)
            .take(WHOLE_MAX)
            .read_to_end(&mut out)?;
    } else {
        raw.take(WHOLE_MAX).read_to_end(&mut out)?;
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{scan, stored_zip};
    use crate::{Profile, scan_bytes};

    #[test]
    fn member_names_that_escape_are_found() {
        for (name, why) in [
            (
                "../../etc/cron.d/x",
                "climbs out of the extraction directory",
            ),
            ("/etc/passwd", "is an absolute path"),
            ("C:\\x.dll", "names a drive"),
            ("a\0b", "contains a NUL byte"),
            ("https://example.com/x", "is a URL"),
        ] {
            let (_, f) = scan(&stored_zip(name, b"x"));
            assert!(
                f.iter()
                    .any(|x| x.rule == "zip.path-escape" && x.message.ends_with(why)),
                "{name:?}: {f:?}"
            );
        }
        let (_, f) = scan(&stored_zip("weights/w.bin", b"x"));
        assert!(!f.iter().any(|x| x.rule == "zip.path-escape"), "{f:?}");
    }

    /// The `scan_zip` fuzz target's wrapping: an end record over `data`.
    fn wrap(data: &[u8]) -> Vec<u8> {
        let mut bytes = b"PK\x03\x04".to_vec();
        bytes.extend_from_slice(&data[10..]);
        bytes.extend_from_slice(b"PK\x05\x06\0\0\0\0");
        bytes.extend_from_slice(&data[0..2]);
        bytes.extend_from_slice(&data[0..2]);
        bytes.extend_from_slice(&data[2..10]);
        bytes.extend_from_slice(&[0, 0]);
        bytes
    }

    #[test]
    fn a_zip64_offset_near_u64_max_is_malformed_not_a_panic() {
        // Found by the scan_zip fuzz target: a zip64 extra field giving a
        // local-header offset that overflowed when the prefix length was added.
        let data: &[u8] = &[
            114, 1, 127, 0, 0, 0, 0, 0, 0, 0, 16, 54, 5, 8, 0, 80, 75, 1, 2, 255, 255, 0, 1, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 62, 0, 254, 118, 255, 255, 255, 255, 255, 255, 0, 32, 0, 33, 0, 0,
            0, 75, 5, 6, 0, 0, 0, 0, 0, 255, 255, 255, 255, 80, 75, 42, 0, 0, 0, 0, 0, 2, 255, 255,
            0, 1, 0, 0, 0, 0, 0, 3, 38, 0, 255, 0, 80, 48, 0, 0, 43, 0, 0, 190, 128, 0, 0, 0, 0, 1,
            0, 13, 0, 254, 255, 255, 255, 255, 255, 255, 255, 122, 0, 255, 255, 16, 250, 0, 0, 0,
            0, 0, 0, 0, 1, 0, 0, 128, 3, 38, 53, 0, 50, 0, 0, 0, 0, 0, 0, 32, 0, 0, 164, 164,
        ];
        let r = scan_bytes(&wrap(data), Profile::Auto);
        assert_eq!(r.files.len(), 1);
    }

    #[test]
    fn a_stored_member_with_a_bad_crc_and_a_duplicate_name_are_found() {
        let member = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R.";
        let mut z = Vec::new();
        let mut cd = Vec::new();
        for (i, crc) in [0xdead_beefu32, crc32fast::hash(member)]
            .into_iter()
            .enumerate()
        {
            let off = z.len() as u32;
            let name = b"archive/data.pkl";
            let mut h = vec![0x50, 0x4b, 3, 4, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(member.len() as u32).to_le_bytes());
            h.extend_from_slice(&(member.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes());
            h.extend_from_slice(name);
            z.extend_from_slice(&h);
            z.extend_from_slice(member);
            let mut c = vec![0x50, 0x4b, 1, 2, 20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            c.extend_from_slice(&crc.to_le_bytes());
            c.extend_from_slice(&(member.len() as u32).to_le_bytes());
            c.extend_from_slice(&(member.len() as u32).to_le_bytes());
            c.extend_from_slice(&(name.len() as u16).to_le_bytes());
            c.extend_from_slice(&[0; 12]);
            c.extend_from_slice(&off.to_le_bytes());
            c.extend_from_slice(name);
            cd.extend_from_slice(&c);
            let _ = i;
        }
        let cd_at = z.len() as u32;
        z.extend_from_slice(&cd);
        z.extend_from_slice(b"PK\x05\x06\0\0\0\0\x02\0\x02\0");
        z.extend_from_slice(&(cd.len() as u32).to_le_bytes());
        z.extend_from_slice(&cd_at.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        let r = scan_bytes(&z, Profile::Auto);
        let rules: Vec<&str> = r.files[0]
            .findings
            .iter()
            .map(|f| f.rule.as_str())
            .collect();
        assert!(rules.contains(&"zip.bad-crc"), "{rules:?}");
        assert!(rules.contains(&"zip.duplicate-entry"), "{rules:?}");
        assert_eq!(
            rules
                .iter()
                .filter(|r| **r == "pickle.code-execution")
                .count(),
            2,
            "both copies scanned: {rules:?}"
        );
        assert_eq!(r.files[0].format, "torch");
    }
}
