//! The S3 blob store against a real S3-protocol server (moto's standalone
//! server, a separate process on 127.0.0.1, from `scripts/s3-temp.sh`).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use warden_core::Digest;
use warden_store::testing::TestS3;
use warden_store::*;

fn store(s3: &TestS3, prefix: &str) -> (tempfile::TempDir, S3BlobStore) {
    let scratch = tempfile::tempdir().unwrap();
    let loc = S3Location::parse(
        &format!("s3://{}/{prefix}", s3.bucket()),
        Some(s3.endpoint()),
        Some("us-east-1"),
    )
    .unwrap();
    let [(_, id), (_, secret), _] = TestS3::credentials();
    let s = S3BlobStore::open_with(&loc, scratch.path().join("tmp"), Some((id, secret))).unwrap();
    (scratch, s)
}

#[test]
fn blobs_round_trip_and_a_changed_object_is_caught() {
    let Some(s3) = TestS3::start_or_skip("blobs_round_trip", "blobs") else {
        return;
    };
    let (_d, s) = store(&s3, "ws1");
    let (digest, len) = s.put(&mut &b"hello, blobs"[..]).unwrap();
    assert_eq!(digest, Digest::of(b"hello, blobs"));
    assert_eq!(len, 12);
    assert!(s.contains(&digest).unwrap());
    assert_eq!(s.get(&digest).unwrap(), b"hello, blobs");
    // Again: the same digest, nothing uploaded twice, no error.
    assert_eq!(s.put(&mut &b"hello, blobs"[..]).unwrap().0, digest);
    let missing = Digest::of(b"never stored");
    assert!(!s.contains(&missing).unwrap());
    assert!(matches!(
        s.get(&missing),
        Err(StoreError::BlobMissing { .. })
    ));

    // Someone with write access to the bucket swaps the object's bytes
    // for another blob's: the read refuses them.
    let (evil, _) = s.put(&mut &b"other bytes"[..]).unwrap();
    let key_of = |d: &Digest| format!("sha256/{}/{}/{}", &d.hex()[..2], &d.hex()[2..4], d.hex());
    let raw = RawBucket::new(&s3);
    raw.put(
        &format!("ws1/{}", key_of(&digest)),
        &raw.get(&format!("ws1/{}", key_of(&evil))),
    );
    match s.get(&digest) {
        Err(StoreError::BlobCorrupt { actual, .. }) => assert_eq!(actual, evil),
        other => panic!("a swapped object was returned: {other:?}"),
    }
    let mut out = Vec::new();
    assert!(matches!(
        s.copy_to(&digest, &mut out),
        Err(StoreError::BlobCorrupt { .. })
    ));
}

#[test]
fn large_blobs_go_up_in_parts_and_concurrent_writers_agree() {
    let Some(s3) = TestS3::start_or_skip("large_blobs", "blobs") else {
        return;
    };
    let (_d, s) = store(&s3, "big");
    let s = Arc::new(s);
    // Over the multipart threshold, with a pattern that is not periodic
    // in the part size.
    let n = MULTIPART_THRESHOLD as usize * 2 + 12_345;
    let data: Arc<Vec<u8>> = Arc::new((0..n).map(|i| (i * 7 + i / 4093) as u8).collect());
    let want = Digest::of(&data);
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let s = Arc::clone(&s);
            let data = Arc::clone(&data);
            std::thread::spawn(move || s.put(&mut data.as_slice()).unwrap())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), (want, n as u64));
    }
    assert_eq!(&s.get(&want).unwrap(), data.as_ref());
    // Small blobs written at once by several writers: conditional PUTs.
    let small: Vec<_> = (0..4)
        .map(|_| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || s.put(&mut &b"same small bytes"[..]).unwrap().0)
        })
        .collect();
    for h in small {
        assert_eq!(h.join().unwrap(), Digest::of(b"same small bytes"));
    }
}

#[test]
fn a_server_that_is_gone_is_a_clear_error() {
    let Some(s3) = TestS3::start_or_skip("a_server_that_is_gone", "blobs") else {
        return;
    };
    let (_d, s) = store(&s3, "gone");
    s3.kill();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let err = s.put(&mut &b"x"[..]).unwrap_err().to_string();
    assert!(
        err.contains("blob store (s3://blobs/gone at http://127.0.0.1"),
        "{err}"
    );
}

/// Plain object access to the test bucket, outside the blob store (as
/// someone holding the bucket's credentials has).
struct RawBucket {
    store: object_store::aws::AmazonS3,
    runtime: tokio::runtime::Runtime,
}

impl RawBucket {
    fn new(s3: &TestS3) -> Self {
        let [(_, id), (_, secret), _] = TestS3::credentials();
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(s3.bucket())
            .with_endpoint(s3.endpoint())
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_access_key_id(id)
            .with_secret_access_key(secret)
            .build()
            .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        RawBucket { store, runtime }
    }
    fn get(&self, key: &str) -> Vec<u8> {
        use object_store::ObjectStore;
        let key = object_store::path::Path::from(key);
        self.runtime.block_on(async {
            let r = self
                .store
                .get_opts(&key, object_store::GetOptions::default())
                .await
                .unwrap();
            r.bytes().await.unwrap().to_vec()
        })
    }
    fn put(&self, key: &str, bytes: &[u8]) {
        use object_store::ObjectStore;
        let key = object_store::path::Path::from(key);
        self.runtime
            .block_on(self.store.put_opts(
                &key,
                object_store::PutPayload::from(bytes.to_vec()),
                object_store::PutOptions::default(),
            ))
            .unwrap();
    }
}
