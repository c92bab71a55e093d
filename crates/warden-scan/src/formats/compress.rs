//! Compressed streams: zlib (RFC 1950), gzip (RFC 1952), bzip2, xz (the
//! `.xz` file format of XZ Utils) and LZMA "alone" (`.lzma`, from the LZMA
//! SDK), as joblib writes them. A whole file is decompressed as a stream;
//! compressed bytes nested in another file are decompressed in memory up
//! to [`NESTED_MAX`] bytes.

use std::fs::File;
use std::io::{self, Read};

use super::detect::Kind;
use super::dispatch::{Ctx, NESTED_MAX};
use crate::Severity;

/// A decompressor that runs on its own thread and hands its output over
/// in chunks (lzma-rs writes into a `Write`): memory stays bounded, and
/// the thread stops when the reader is dropped.
struct Piped {
    rx: std::sync::mpsc::Receiver<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
    at: usize,
}

struct PipeWriter {
    tx: std::sync::mpsc::SyncSender<io::Result<Vec<u8>>>,
    buf: Vec<u8>,
}

impl io::Write for PipeWriter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader gone"))
    }
}

impl Read for Piped {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn lzma_reader(input: File, xz: bool) -> Piped {
    let (tx, rx) = std::sync::mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut w = PipeWriter {
            tx: tx.clone(),
            buf: Vec::new(),
        };
        let mut r = io::BufReader::new(input);
        let res = if xz {
            lzma_rs::xz_decompress(&mut r, &mut w)
        } else {
            lzma_rs::lzma_decompress(&mut r, &mut w)
        };
        let flushed = io::Write::flush(&mut w);
        if let Err(e) = res {
            let _ = tx.send(Err(io::Error::new(
                io::ErrorKind::InvalidData,
                e.to_string(),
            )));
        } else if let Err(e) = flushed {
            let _ = tx.send(Err(e));
        }
    });
    Piped {
        rx,
        buf: Vec::new(),
        at: 0,
    }
}

/// A decompressing reader over a whole file of one of the compressed kinds.
pub(super) fn stream(kind: &Kind, f: File) -> Box<dyn Read> {
    match kind {
        Kind::Zlib => Box::new(flate2::read::ZlibDecoder::new(f)),
        Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(f)),
        Kind::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(f)),
        Kind::Xz => Box::new(lzma_reader(f, true)),
        _ => Box::new(lzma_reader(f, false)),
    }
}

/// The name of a compressed kind, for formats and messages.
pub(super) fn name(k: &Kind) -> &'static str {
    match k {
        Kind::Zlib => "zlib",
        Kind::Gzip => "gzip",
        Kind::Bzip2 => "bzip2",
        Kind::Xz => "xz",
        _ => "lzma",
    }
}

/// Compressed bytes inside another file, decompressed in memory up to
/// `NESTED_MAX` (past that, a finding, and the first part is scanned).
pub(super) fn bounded(kind: &Kind, bytes: &[u8], ctx: &mut Ctx) -> io::Result<Vec<u8>> {
    struct Capped(Vec<u8>, bool);
    impl io::Write for Capped {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let room = (NESTED_MAX as usize).saturating_sub(self.0.len());
            if room < b.len() {
                self.0.extend_from_slice(&b[..room]);
                self.1 = true;
                return Err(io::Error::other("decompressed data past the cap"));
            }
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new(), false);
    let res: io::Result<()> = match kind {
        Kind::Xz => lzma_rs::xz_decompress(&mut io::BufReader::new(bytes), &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        Kind::Lzma => lzma_rs::lzma_decompress(&mut io::BufReader::new(bytes), &mut out)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        _ => {
            let mut r: Box<dyn Read> = match kind {
                Kind::Zlib => Box::new(flate2::read::ZlibDecoder::new(bytes)),
                Kind::Gzip => Box::new(flate2::read::MultiGzDecoder::new(bytes)),
                _ => Box::new(bzip2::read::MultiBzDecoder::new(bytes)),
            };
            io::copy(&mut r, &mut out).map(|_| ())
        }
    };
    if out.1 {
        ctx.push(
            "file.too-deep",
            Severity::High,
            format!(
                "{}-compressed data expands past {NESTED_MAX} bytes: only the first part was scanned",
                name(kind)
            ),
            None,
        );
    } else if let Err(e) = res {
        ctx.push(
            "file.malformed",
            Severity::Medium,
            format!("{}-compressed data cannot be decompressed: {e}", name(kind)),
            None,
        );
    }
    Ok(out.0)
}
