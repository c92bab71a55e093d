//! Audit log throughput and verification time.
//!
//! Appends go through the same store transaction the engine uses for every
//! state change (`WriteTx::append_event`: canonical JSON, leaf hash, row insert,
//! frontier update), on the SQLite store in WAL mode with
//! `synchronous=NORMAL`. Verification is the full `warden audit verify`
//! path: every row re-hashed, every column checked against its event, the
//! tree recomputed, every checkpoint signature checked; and the narrower
//! check a gate decision makes (`VerifyOptions::for_decision`).
//!
//! Run with `cargo bench -p warden --bench audit` (or `bench/audit.sh`).
//! `WARDEN_BENCH_EVENTS` sets the log size to verify (default 1,000,000).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, RoleName};
use warden_store::{MetadataStore, SqliteStore};

fn main() {
    let target: u64 = std::env::var("WARDEN_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let unbatched: u64 = 20_000.min(target);
    let batch: u64 = 10_000;

    let dir = tempfile::tempdir().expect("temporary directory");
    let ana = ActorName::new("ana").expect("valid name");
    let ws = Workspace::init(dir.path(), ana.clone(), &OpenOptions::default()).expect("init");
    let store = SqliteStore::open(&dir.path().join(".warden/warden.db")).expect("open store");
    let payload =
        serde_json::json!({"actor": "lee", "role": "approver", "note": "benchmark event"});

    // One transaction per event.
    let t = Instant::now();
    for _ in 0..unbatched {
        let mut tx = store.write().expect("tx");
        tx.append_event(&ana, "bench.append", "actor:lee", &payload)
            .expect("append");
        tx.commit().expect("commit");
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "append, one transaction per event: {unbatched} events in {secs:.3} s = {:.0} events/s",
        unbatched as f64 / secs
    );

    // Batched: fill up to the target size.
    let remaining = target.saturating_sub(unbatched);
    let t = Instant::now();
    let mut done = 0;
    while done < remaining {
        let n = batch.min(remaining - done);
        let mut tx = store.write().expect("tx");
        for _ in 0..n {
            tx.append_event(&ana, "bench.append", "actor:lee", &payload)
                .expect("append");
        }
        tx.commit().expect("commit");
        done += n;
    }
    let secs = t.elapsed().as_secs_f64();
    if remaining > 0 {
        println!(
            "append, {batch} events per transaction: {remaining} events in {secs:.3} s = {:.0} events/s",
            remaining as f64 / secs
        );
    }
    drop(store);

    // One more command through the engine, which signs a checkpoint over everything.
    ws.roles_grant(
        &ActorName::new("lee").expect("name"),
        &RoleName::new("auditor").expect("role"),
    )
    .expect("grant");

    let db = dir.path().join(".warden/warden.db");
    let size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    let mut times = Vec::new();
    let mut events = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let report = ws.audit_verify(None).expect("verify");
        times.push(t.elapsed().as_secs_f64());
        assert!(
            report.ok,
            "benchmark log must verify: {:?}",
            report.problems
        );
        events = report.events;
    }
    times.sort_by(f64::total_cmp);
    println!(
        "audit verify (tree, checkpoints and registry rows against the log): {events} events ({:.0} MB database): best {:.3} s, median {:.3} s over 3 runs",
        size as f64 / 1e6,
        times[0],
        times[1]
    );

    // What a gate decision pays for its `log.verified` fact: the stored
    // leaf hashes folded to the signed root, the registry rows against the
    // replayed state events.
    let mut times = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = ws
            .audit_verify_with(&warden::VerifyOptions {
                for_decision: true,
                ..Default::default()
            })
            .expect("verify for a decision");
        times.push(t.elapsed().as_secs_f64());
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(report.events, events);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "a gate decision's log check (leaf hashes folded to the signed root): {events} events: best {:.3} s, median {:.3} s over 3 runs",
        times[0], times[1]
    );

    // What a decision pays to check its rows against the log: a serving
    // refresh reads the environment's pointers and quarantines after
    // authorising (which replays the role events) and replaying the state
    // events through the action index.
    let runs = 200;
    let t = Instant::now();
    for _ in 0..runs {
        ws.serving_targets("production").expect("targets");
    }
    println!(
        "serving refresh's state read with the log agreement check, {events}-event log: {:.1} µs per refresh (mean of {runs})",
        t.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
}
