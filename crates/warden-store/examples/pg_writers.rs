//! Audited writes per second on PostgreSQL from several writers at once,
//! with the writers' advisory lock (what the store does) and with
//! SERIALIZABLE transactions retried on a serialization failure (the
//! alternative). Each write is what an audited operation is at its
//! smallest: a row with the next id, its audit event (the frontier read
//! and updated), commit.
//!
//! `cargo run --release -p warden-store --example pg_writers -- [SECONDS] [THREADS...]`
//! (default 5 s, threads 1 2 4 8), on a throwaway server from
//! `scripts/postgres-temp.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use warden_core::{ActorName, Timestamp};
use warden_store::testing::TestPostgres;
use warden_store::{MetadataStore, PgLocation, PgStore, PipelineRunRecord, StoreError, WriteTx};

#[derive(Clone, Copy)]
enum Mode {
    AdvisoryLock,
    Serializable,
}

fn one_write(tx: &mut dyn WriteTx, t: usize, i: u64) -> Result<(), StoreError> {
    let actor = ActorName::new("bench").unwrap();
    let id = tx.insert_pipeline_run(&PipelineRunRecord {
        id: 0,
        pipeline: format!("p{t}"),
        status: "succeeded".into(),
        document: "{}".into(),
        digest: format!("d{t}-{i}"),
        started_at: Timestamp::now(),
        finished_at: Timestamp::now(),
        created_by: actor.clone(),
    })?;
    tx.append_event(
        &actor,
        "pipeline.run",
        &format!("run {id}"),
        &json!({"t": t, "i": i}),
    )?;
    Ok(())
}

fn retryable(e: &StoreError) -> bool {
    let s = e.to_string();
    s.contains("could not serialize")
        || s.contains("deadlock detected")
        || s.contains("rolled it back")
}

fn run(pg: &TestPostgres, db: &str, mode: Mode, threads: usize, secs: u64) -> (f64, u64, u64) {
    let loc = PgLocation::parse(&pg.database(db).unwrap()).unwrap();
    let store = Arc::new(PgStore::create(&loc).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let (commits, retries) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (store, stop, commits, retries) = (
                store.clone(),
                stop.clone(),
                commits.clone(),
                retries.clone(),
            );
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    loop {
                        let r = (|| {
                            let mut tx = match mode {
                                Mode::AdvisoryLock => store.write()?,
                                Mode::Serializable => store.write_serializable()?,
                            };
                            one_write(tx.as_mut(), t, i)?;
                            tx.commit()
                        })();
                        match r {
                            Ok(()) => break,
                            Err(e) if retryable(&e) => {
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    commits.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = commits.load(Ordering::Relaxed);
    // The log is one gap-free sequence either way.
    let mut r = store.read().unwrap();
    assert_eq!(r.log_frontier().unwrap().size(), n);
    (n as f64 / elapsed, n, retries.load(Ordering::Relaxed))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5);
    let threads: Vec<usize> = if args.len() > 1 {
        args[1..].iter().map(|s| s.parse().unwrap()).collect()
    } else {
        vec![1, 2, 4, 8]
    };
    let pg = TestPostgres::start().expect("a PostgreSQL test server");
    println!("writers  advisory lock (writes/s)  serializable + retry (writes/s, retries)");
    for (k, &t) in threads.iter().enumerate() {
        let (a, _, _) = run(&pg, &format!("lock{k}"), Mode::AdvisoryLock, t, secs);
        let (b, _, retries) = run(&pg, &format!("ser{k}"), Mode::Serializable, t, secs);
        println!("{t:>7}  {a:>24.0}  {b:>20.0} ({retries} retries)");
    }
}
