//! Upload and download MB/s of one large blob through the S3 blob store
//! (streamed through a temp file, hashed, multipart beyond 16 MiB; the
//! download hashed and checked), against an S3-protocol server.
//!
//! `cargo run --release -p warden-store --example s3_transfer -- ENDPOINT BUCKET MB`
//! with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY set (`bench/scale.sh`
//! runs it against moto's server, beside boto3 on the same file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::time::Instant;

use warden_store::{BlobStore, S3BlobStore, S3Location};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (endpoint, bucket) = (&args[0], &args[1]);
    let mb: usize = args[2].parse().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    // Not compressible, not periodic in the part size.
    let path = scratch.path().join("blob");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..mb {
            for chunk in buf.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
            }
            f.write_all(&buf).unwrap();
        }
    }
    let loc = S3Location::parse(
        &format!("s3://{bucket}/bench"),
        Some(endpoint),
        Some("us-east-1"),
    )
    .unwrap();
    let store = S3BlobStore::open(&loc, scratch.path().join("tmp")).unwrap();
    let t = Instant::now();
    let (digest, len) = store.put(&mut std::fs::File::open(&path).unwrap()).unwrap();
    let up = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let got = store.copy_to(&digest, &mut std::io::sink()).unwrap();
    let down = t.elapsed().as_secs_f64();
    assert_eq!(got, len);
    let m = len as f64 / 1e6;
    println!("{:.1} {:.1}", m / up, m / down);
}
