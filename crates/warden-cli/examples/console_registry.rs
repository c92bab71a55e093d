//! Grows a demo workspace into a large registry for the console benchmark
//! (bench/console.sh): MODELS models of VERSIONS versions each, trained
//! through the engine (every version a real, signed package with its
//! `model.train` event), then filler events appended to the audit log in
//! batches until it holds EVENTS, and one engine command that signs a
//! checkpoint over everything.
//!
//! Usage: console_registry WORKSPACE MODELS VERSIONS EVENTS
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, ObjectName, RoleName, VersionRef};
use warden_store::{MetadataStore, SqliteStore};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, models, versions, events] = args.as_slice() else {
        eprintln!("usage: console_registry WORKSPACE MODELS VERSIONS EVENTS");
        std::process::exit(2);
    };
    let root = std::path::Path::new(root);
    let (models, versions, events): (usize, u64, u64) = (
        models.parse().expect("MODELS"),
        versions.parse().expect("VERSIONS"),
        events.parse().expect("EVENTS"),
    );
    let opts = OpenOptions::default();
    let actor = |n: &str| ActorName::new(n).expect("actor");

    // A small dataset keeps each training run short.
    let dana = Workspace::open(root, actor("dana"), &opts).expect("open as dana");
    let mut csv = Vec::new();
    warden::table::generate_credit(
        &warden::table::CreditOptions {
            rows: 400,
            seed: 11,
            ..Default::default()
        },
        &mut csv,
    )
    .expect("generate");
    let ingested = dana
        .data_ingest(warden::IngestRequest {
            target: Some("approved".into()),
            id: Some("customer_id".into()),
            ..warden::IngestRequest::new(
                ObjectName::new("bench-small").expect("name"),
                &mut csv.as_slice(),
                "bench-small.csv".into(),
            )
        })
        .expect("ingest");
    let dataset: VersionRef = format!("bench-small@{}", ingested.dataset.record.version)
        .parse()
        .expect("ref");
    drop(dana);

    let sam = Workspace::open(root, actor("sam"), &opts).expect("open as sam");
    let t = Instant::now();
    let total = models as u64 * versions;
    let mut done = 0u64;
    for v in 0..versions {
        for m in 0..models {
            let req = warden::TrainRequest {
                dataset: dataset.clone(),
                target: None,
                features: None,
                name: ObjectName::new(&format!("m{m:04}")).expect("name"),
                config: warden::train::TrainConfig {
                    seed: v,
                    ..warden::train::TrainConfig::defaults(warden::train::ModelKind::Logreg, None)
                },
                threads: 1,
            };
            sam.train(&req, &mut |_, _| {}).expect("train");
            done += 1;
            if done.is_multiple_of(500) {
                eprintln!(
                    "trained {done}/{total} versions ({:.1} per second)",
                    done as f64 / t.elapsed().as_secs_f64()
                );
            }
        }
    }
    eprintln!(
        "trained {total} versions in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(sam);

    // Filler events, batched, through the store's own append.
    let store = SqliteStore::open(&root.join(".warden/warden.db")).expect("store");
    let mut read = store.read().expect("read");
    let have = read
        .events(&warden_store::EventFilter::default())
        .expect("events")
        .len() as u64;
    drop(read);
    let ana = actor("ana");
    let payload = serde_json::json!({"note": "benchmark filler event"});
    let mut left = events.saturating_sub(have + 1);
    let t = Instant::now();
    while left > 0 {
        let n = left.min(10_000);
        let mut tx = store.write().expect("tx");
        for _ in 0..n {
            tx.append_event(&ana, "bench.append", "actor:lee", &payload)
                .expect("append");
        }
        tx.commit().expect("commit");
        left -= n;
    }
    eprintln!(
        "appended filler events in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    drop(store);
    // One engine command: a checkpoint signed over the whole log.
    let ws = Workspace::open(root, ana, &opts).expect("open as ana");
    ws.roles_grant(
        &actor("corp.bench@example.com"),
        &RoleName::new("auditor").expect("role"),
    )
    .expect("grant");
}
