//! Byte sources the scanners read from: a file (skips seek) or any stream
//! (skips read and discard), both counting their position so findings can
//! name an offset.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek};

/// A buffered source that can skip a payload without keeping it.
pub(crate) trait Src: BufRead {
    /// Skips up to `n` bytes; returns how many were skipped (fewer at the end).
    fn skip(&mut self, n: u64) -> io::Result<u64>;
    /// Bytes consumed so far.
    fn pos(&self) -> u64;
}

/// A file, read through a buffer; skipping is a seek.
pub(crate) struct FileSrc {
    r: BufReader<File>,
    pos: u64,
    len: u64,
}

impl FileSrc {
    pub(crate) fn new(file: File, len: u64, start: u64) -> io::Result<Self> {
        let mut r = BufReader::with_capacity(64 * 1024, file);
        r.seek(io::SeekFrom::Start(start))?;
        Ok(FileSrc { r, pos: start, len })
    }
}

impl Read for FileSrc {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl BufRead for FileSrc {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.r.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.r.consume(amt)
    }
}

impl Src for FileSrc {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let n = n.min(self.len.saturating_sub(self.pos));
        let off = i64::try_from(n).map_err(|_| io::Error::other("skip too large"))?;
        self.r.seek_relative(off)?;
        self.pos += n;
        Ok(n)
    }
    fn pos(&self) -> u64 {
        self.pos
    }
}

/// Any reader (a decompressor, an archive member, a slice); skipping reads
/// and discards, so a checksum computed underneath still sees every byte.
pub(crate) struct StreamSrc<R: Read> {
    r: BufReader<R>,
    pos: u64,
}

impl<R: Read> StreamSrc<R> {
    pub(crate) fn new(r: R) -> Self {
        StreamSrc {
            r: BufReader::with_capacity(64 * 1024, r),
            pos: 0,
        }
    }
    pub(crate) fn into_inner(self) -> R {
        self.r.into_inner()
    }
}

impl<R: Read> Read for StreamSrc<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.r.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> BufRead for StreamSrc<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.r.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.r.consume(amt)
    }
}

impl<R: Read> Src for StreamSrc<R> {
    fn skip(&mut self, n: u64) -> io::Result<u64> {
        let k = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
        self.pos += k;
        Ok(k)
    }
    fn pos(&self) -> u64 {
        self.pos
    }
}

/// Reads exactly `n` bytes or fails with UnexpectedEof.
pub(crate) fn read_vec(src: &mut dyn Src, n: usize) -> io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(n.min(1 << 20));
    let got = (&mut *src).take(n as u64).read_to_end(&mut v)?;
    if got < n {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
    }
    Ok(v)
}

/// Peeks up to `n` bytes without consuming them (fewer if the buffer holds fewer).
pub(crate) fn peek(src: &mut dyn Src, n: usize) -> io::Result<Vec<u8>> {
    let b = src.fill_buf()?;
    Ok(b[..b.len().min(n)].to_vec())
}
