//! One conformance suite for every metadata backend: the same scenarios run
//! unchanged against SQLite (a file) and PostgreSQL (a throwaway server
//! from `scripts/postgres-temp.sh`, one database per test).
//!
//! A backend is given as a function that opens another handle on the same
//! database, as another process or replica would.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::json;
use warden_core::{ActorName, KeyName, ObjectName, RoleName, Timestamp};
use warden_store::testing::TestPostgres;
use warden_store::*;

type Open = Arc<dyn Fn() -> Box<dyn MetadataStore> + Send + Sync>;

fn actor(s: &str) -> ActorName {
    ActorName::new(s).unwrap()
}
fn object(s: &str) -> ObjectName {
    ObjectName::new(s).unwrap()
}
fn at(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

/// Runs `scenario` on a fresh SQLite store and a fresh PostgreSQL store.
fn on_every_backend(name: &str, scenario: fn(Open)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.db");
    drop(SqliteStore::create(&path).unwrap());
    let open: Open = Arc::new(move || Box::new(SqliteStore::open(&path).unwrap()));
    scenario(open);

    let Some(pg) = TestPostgres::start_or_skip(name) else {
        return;
    };
    let url = pg.database("conformance").unwrap();
    let loc = PgLocation::parse(&url).unwrap();
    drop(PgStore::create(&loc).unwrap());
    let open: Open = Arc::new(move || Box::new(PgStore::open(&loc).unwrap()));
    scenario(open);
    drop(pg);
}

fn key(name: &str) -> KeyRecord {
    KeyRecord {
        name: KeyName::new(name).unwrap(),
        origin: "own".into(),
        algorithm: "ecdsa-p256".into(),
        key_id: format!("id-{name}"),
        public_pem: "-----BEGIN PUBLIC KEY-----\n…\n-----END PUBLIC KEY-----\n".into(),
        added_by: actor("ana"),
        added_at: at("2026-01-02T03:04:05Z"),
        revoked_at: None,
        revoked_by: None,
        owner: Some(actor("ana")),
        purpose: Some("approval".into()),
        acknowledged_by: None,
        acknowledged_at: None,
    }
}

fn every_record_round_trips(open: Open) {
    let s = open();
    let t = at("2026-01-02T03:04:05Z");
    let m = object("credit");
    let mut w = s.write().unwrap();
    w.set_meta("workspace_id", "w1").unwrap();
    w.set_meta("workspace_id", "w2").unwrap();
    let grant = RoleGrant {
        actor: actor("ana"),
        role: RoleName::new("admin").unwrap(),
        granted_by: actor("ana"),
        time: t.clone(),
    };
    assert!(w.grant_role(&grant).unwrap());
    assert!(!w.grant_role(&grant).unwrap(), "a second grant is a no-op");
    w.insert_key(&key("k1")).unwrap();
    let dataset = DatasetRecord {
        name: object("loans"),
        version: 1,
        digest: "sha256:aa".into(),
        source_digest: "sha256:bb".into(),
        output_digest: "sha256:cc".into(),
        rows: 1000,
        report_digest: "sha256:dd".into(),
        report_md_digest: "sha256:ee".into(),
        manifest: "{\"ünïcode\":\"✓\"}".into(),
        created_by: actor("ana"),
        created_at: t.clone(),
    };
    w.insert_dataset(&dataset).unwrap();
    let model = ModelRecord {
        name: m.clone(),
        version: 1,
        digest: "sha256:11".into(),
        kind: "logreg".into(),
        files: "{}".into(),
        signature_digest: "sha256:22".into(),
        signed_by: "pipeline".into(),
        manifest: "{}".into(),
        created_by: actor("ana"),
        created_at: t.clone(),
    };
    w.insert_model(&model).unwrap();
    let model2 = ModelRecord {
        version: 2,
        ..model.clone()
    };
    w.insert_model(&model2).unwrap();
    let eval = EvaluationRecord {
        id: 0,
        model: m.clone(),
        model_version: 1,
        model_digest: "sha256:11".into(),
        dataset: object("loans"),
        dataset_version: 1,
        digest: "sha256:33".into(),
        markdown_digest: "sha256:44".into(),
        report: "{}".into(),
        created_by: actor("ana"),
        created_at: t.clone(),
    };
    assert_eq!(w.insert_evaluation(&eval).unwrap(), 1);
    assert_eq!(w.insert_evaluation(&eval).unwrap(), 2);
    let scan = ScanRecord {
        id: 0,
        model: None,
        version: None,
        target: "/tmp/x".into(),
        profile: "strict".into(),
        max_severity: "high".into(),
        findings: 3,
        files: 4,
        incomplete: 0,
        report_digest: "sha256:55".into(),
        created_by: actor("ana"),
        created_at: t.clone(),
    };
    w.insert_scan(&scan).unwrap();
    let scan2 = ScanRecord {
        model: Some(m.clone()),
        version: Some(2),
        ..scan.clone()
    };
    w.insert_scan(&scan2).unwrap();
    w.set_stage(&StagePointer {
        model: m.clone(),
        env: "dev".into(),
        version: 1,
        updated_by: actor("ana"),
        updated_at: t.clone(),
    })
    .unwrap();
    w.set_stage(&StagePointer {
        model: m.clone(),
        env: "dev".into(),
        version: 2,
        updated_by: actor("bo"),
        updated_at: t.clone(),
    })
    .unwrap();
    w.insert_gate_decision(&GateDecisionRecord {
        model: m.clone(),
        version: 2,
        env: "dev".into(),
        allowed: true,
        policy_digest: "p".into(),
        input_digest: "i".into(),
        reasons: "[]".into(),
        created_by: actor("bo"),
        created_at: t.clone(),
    })
    .unwrap();
    let hold = KeyHoldRecord {
        key_id: "abc".into(),
        kind: "throttle".into(),
        rate_limit: Some(2.5),
        reason: "spike".into(),
        held_by: actor("warden-monitor"),
        held_at: t.clone(),
    };
    w.save_key_hold(&hold).unwrap();
    let api = ApiKeyRecord {
        id: "abc".into(),
        name: "frontend".into(),
        role: "predictor".into(),
        key_hash: "h".into(),
        rate_limit: None,
        created_by: actor("ana"),
        created_at: t.clone(),
        expires_at: Some(at("2027-01-01T00:00:00Z")),
        revoked_by: None,
        revoked_at: None,
    };
    w.save_api_key(&api).unwrap();
    let token = AccessTokenRecord {
        id: "t1".into(),
        name: "ci".into(),
        owner: actor("ana"),
        roles: vec![
            RoleName::new("deployer").unwrap(),
            RoleName::new("auditor").unwrap(),
        ],
        token_hash: "th".into(),
        created_at: t.clone(),
        expires_at: at("2027-01-01T00:00:00Z"),
        revoked_by: None,
        revoked_at: None,
        last_used_at: None,
    };
    w.save_access_token(&token).unwrap();
    w.touch_access_token("t1", &at("2026-02-02T00:00:00Z"))
        .unwrap();
    let window = MonitorWindowRecord {
        id: 0,
        model: m.clone(),
        version: 2,
        env: "production".into(),
        rows: 500,
        dataset_drift: true,
        prediction_drift: false,
        drifted_features: 3,
        report: "{}".into(),
        opened_at: t.clone(),
        closed_at: t.clone(),
    };
    w.insert_monitor_window(&window).unwrap();
    w.commit().unwrap();

    // Uniqueness: a failed write fails the transaction, which then cannot
    // commit anything, on every backend.
    for dup in [
        &mut |w: &mut dyn WriteTx| w.insert_key(&key("k1")),
        &mut |w: &mut dyn WriteTx| w.insert_model(&model2),
    ] as [&mut dyn FnMut(&mut dyn WriteTx) -> Result<(), StoreError>; 2]
    {
        let mut w = s.write().unwrap();
        w.set_meta("after-duplicate", "x").unwrap();
        assert!(dup(w.as_mut()).is_err(), "a duplicate is refused");
        // SQLite would carry on; the contract is to drop the transaction.
        drop(w);
    }
    assert_eq!(s.read().unwrap().meta("after-duplicate").unwrap(), None);

    let mut r = s.read().unwrap();
    assert_eq!(r.meta("workspace_id").unwrap().as_deref(), Some("w2"));
    assert_eq!(r.meta("nothing").unwrap(), None);
    assert_eq!(r.role_grants().unwrap(), vec![grant.clone()]);
    assert_eq!(r.count_role(&grant.role).unwrap(), 1);
    assert_eq!(
        r.key(&KeyName::new("k1").unwrap()).unwrap(),
        Some(key("k1"))
    );
    assert_eq!(
        r.dataset(&object("loans"), None).unwrap(),
        Some(dataset.clone())
    );
    assert_eq!(r.dataset(&object("loans"), Some(2)).unwrap(), None);
    assert_eq!(r.model(&m, None).unwrap(), Some(model2.clone()));
    assert_eq!(r.model(&m, Some(1)).unwrap(), Some(model.clone()));
    assert_eq!(r.models().unwrap(), vec![model.clone(), model2.clone()]);
    assert_eq!(
        r.model_versions(&m).unwrap(),
        vec![model.clone(), model2.clone()]
    );
    assert_eq!(r.model_versions(&object("absent")).unwrap(), vec![]);
    assert_eq!(r.model_names(0, 10).unwrap(), vec![(m.clone(), 2, 2)]);
    assert_eq!(r.model_names(1, 10).unwrap(), vec![]);
    assert_eq!(r.model_names(0, 0).unwrap(), vec![]);
    assert_eq!(r.model_count().unwrap(), 1);
    let evals = r.evaluations(&m, Some(1)).unwrap();
    assert_eq!(evals.len(), 2);
    assert_eq!(
        evals[1],
        EvaluationRecord {
            id: 2,
            ..eval.clone()
        }
    );
    assert!(r.evaluations(&m, Some(2)).unwrap().is_empty());
    assert_eq!(r.scans(None).unwrap().len(), 2);
    assert_eq!(
        r.scans(Some((&m, 2))).unwrap(),
        vec![ScanRecord {
            id: 2,
            ..scan2.clone()
        }]
    );
    let stages = r.stages(&m).unwrap();
    assert_eq!((stages.len(), stages[0].version), (1, 2));
    let decisions = r.gate_decisions(&m).unwrap();
    assert!(decisions[0].allowed);
    assert_eq!(r.key_holds().unwrap(), vec![hold]);
    assert_eq!(r.api_keys().unwrap(), vec![api]);
    let tokens = r.access_tokens().unwrap();
    assert_eq!(tokens[0].roles, token.roles);
    assert_eq!(tokens[0].last_used_at, Some(at("2026-02-02T00:00:00Z")));
    assert_eq!(
        r.monitor_windows(&m, 10).unwrap(),
        vec![MonitorWindowRecord { id: 1, ..window }]
    );
}

fn events_and_state_commit_together_or_not_at_all(open: Open) {
    let s = open();
    let ana = actor("ana");
    {
        let mut w = s.write().unwrap();
        w.set_meta("k", "lost").unwrap();
        w.append_event(&ana, "x.one", "thing", &json!({"a": 1}))
            .unwrap();
        // dropped without commit
    }
    let mut r = s.read().unwrap();
    assert_eq!(r.log_frontier().unwrap().size(), 0);
    assert_eq!(r.meta("k").unwrap(), None);
    drop(r);
    let mut w = s.write().unwrap();
    w.set_meta("k", "kept").unwrap();
    let e0 = w
        .append_event(&ana, "x.one", "thing", &json!({"a": 1}))
        .unwrap();
    let e1 = w.append_event(&ana, "x.two", "thing", &json!([])).unwrap();
    // A write transaction sees its own writes.
    assert_eq!(w.log_frontier().unwrap().size(), 2);
    w.commit().unwrap();
    assert_eq!((e0.seq, e1.seq), (0, 1));
    let mut r = s.read().unwrap();
    let f = r.log_frontier().unwrap();
    assert_eq!(f.root(), merkle::root_of(&r.leaf_hashes(2).unwrap()));
    let one = r
        .events(&EventFilter {
            action: Some("x.two".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((one.len(), one[0].payload.as_str()), (1, "[]"));
    let both = r
        .events(&EventFilter {
            action: Some("x".into()),
            limit: Some(5),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(both.len(), 2);
    assert_eq!(
        r.events_with_actions_after(&["x.one", "x.two"], 0)
            .unwrap()
            .len(),
        1
    );
    let about = r.events_about("thing", &["x.two", "x.one"]).unwrap();
    assert_eq!(
        about.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![0, 1],
        "in log order"
    );
    assert_eq!(r.events_about("thing", &["x.two"]).unwrap().len(), 1);
    assert!(r.events_about("other", &["x.one"]).unwrap().is_empty());
    assert!(r.events_about("thing", &[]).unwrap().is_empty());
    let mut seen = 0;
    r.scan_events(&mut |_| {
        seen += 1;
        ControlFlow::Break(())
    })
    .unwrap();
    assert_eq!(seen, 1);
    assert!(r.leaf_hashes(3).is_err(), "asking past the end is an error");
}

fn a_read_sees_committed_state_only(open: Open) {
    let a = open();
    let b = open();
    let mut w = a.write().unwrap();
    w.set_meta("k", "committed").unwrap();
    w.commit().unwrap();
    let mut w = a.write().unwrap();
    w.set_meta("k", "pending").unwrap();
    let mut r = b.read().unwrap();
    assert_eq!(r.meta("k").unwrap().as_deref(), Some("committed"));
    w.commit().unwrap();
    // The open read keeps its snapshot; the next one sees the commit.
    assert_eq!(r.meta("k").unwrap().as_deref(), Some("committed"));
    drop(r);
    assert_eq!(
        b.read().unwrap().meta("k").unwrap().as_deref(),
        Some("pending")
    );
}

/// Two replicas (two handles, each with its own connections) append events
/// and rows at once: one gap-free log, every id distinct, the frontier
/// agreeing with the stored leaves.
fn concurrent_writers_keep_one_log(open: Open) {
    const THREADS: usize = 4;
    const EACH: usize = 25;
    let stores: Vec<Arc<dyn MetadataStore>> = (0..2).map(|_| Arc::from(open())).collect();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let s = Arc::clone(&stores[t % 2]);
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let mut w = s.write().unwrap();
                    let id = w
                        .insert_pipeline_run(&PipelineRunRecord {
                            id: 0,
                            pipeline: format!("p{t}"),
                            status: "succeeded".into(),
                            document: "{}".into(),
                            digest: format!("d{t}-{i}"),
                            started_at: Timestamp::now(),
                            finished_at: Timestamp::now(),
                            created_by: actor("ci"),
                        })
                        .unwrap();
                    w.append_event(
                        &actor("ci"),
                        "pipeline.run",
                        &format!("run {id}"),
                        &json!({"t": t, "i": i}),
                    )
                    .unwrap();
                    w.commit().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let mut r = stores[0].read().unwrap();
    let n = (THREADS * EACH) as u64;
    let f = r.log_frontier().unwrap();
    assert_eq!(f.size(), n);
    assert_eq!(f.root(), merkle::root_of(&r.leaf_hashes(n).unwrap()));
    let runs = r.pipeline_runs(None).unwrap();
    let ids: std::collections::BTreeSet<u64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), THREADS * EACH);
    assert_eq!(ids.iter().next_back(), Some(&n));
    let events = r.events(&EventFilter::default()).unwrap();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as i64);
    }
}

/// Leaf hashes and checkpoint roots read from a point on, as a decision
/// that folded the log before reads them; an action filter that names a
/// family of actions, its `_` and `%` taken as themselves.
fn ranged_reads_and_action_filters(open: Open) {
    let s = open();
    let ana = actor("ana");
    let mut w = s.write().unwrap();
    for action in ["x.one", "x.one.deep", "xzone.deep", "x_one", "x%y.z"] {
        w.append_event(&ana, action, "thing", &json!({})).unwrap();
    }
    for size in [1u64, 3, 5] {
        w.insert_checkpoint(&StoredCheckpoint {
            size,
            root_hash: format!("{size:064x}"),
            note: "origin\n1\nroot\n\n— sig\n".into(),
            time: Timestamp::now(),
        })
        .unwrap();
    }
    w.commit().unwrap();
    let mut r = s.read().unwrap();
    let all = r.leaf_hashes(5).unwrap();
    assert_eq!(r.leaf_hashes_between(2, 5).unwrap(), all[2..].to_vec());
    assert_eq!(r.leaf_hashes_between(0, 5).unwrap(), all);
    assert!(r.leaf_hashes_between(5, 5).unwrap().is_empty());
    assert!(r.leaf_hashes_between(3, 6).is_err(), "past the end");
    let sizes = |v: Vec<(u64, String)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
    assert_eq!(sizes(r.checkpoint_roots().unwrap()), vec![1, 3, 5]);
    assert_eq!(sizes(r.checkpoint_roots_after(1).unwrap()), vec![3, 5]);
    assert_eq!(sizes(r.checkpoint_roots_after(0).unwrap()), vec![1, 3, 5]);
    assert!(r.checkpoint_roots_after(5).unwrap().is_empty());
    let mut actions = |filter: &str| {
        r.events(&EventFilter {
            action: Some(filter.into()),
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect::<Vec<_>>()
    };
    assert_eq!(actions("x.one"), vec!["x.one", "x.one.deep"]);
    assert_eq!(actions("x_one"), vec!["x_one"], "`_` is not a wildcard");
    assert_eq!(actions("x%y"), vec!["x%y.z"], "`%` is not a wildcard");
    assert!(actions("x%").is_empty());
    assert_eq!(actions("x"), vec!["x.one", "x.one.deep"]);
}

#[test]
fn ranged_reads_and_action_filters_on_every_backend() {
    on_every_backend(
        "ranged_reads_and_action_filters",
        ranged_reads_and_action_filters,
    );
}

#[test]
fn every_record_round_trips_on_every_backend() {
    on_every_backend("every_record_round_trips", every_record_round_trips);
}

#[test]
fn events_and_state_commit_together_on_every_backend() {
    on_every_backend(
        "events_and_state_commit_together",
        events_and_state_commit_together_or_not_at_all,
    );
}

#[test]
fn a_read_sees_committed_state_only_on_every_backend() {
    on_every_backend(
        "a_read_sees_committed_state_only",
        a_read_sees_committed_state_only,
    );
}

#[test]
fn concurrent_writers_keep_one_log_on_every_backend() {
    on_every_backend(
        "concurrent_writers_keep_one_log",
        concurrent_writers_keep_one_log,
    );
}

/// What only PostgreSQL has: a shared server that can hold other things,
/// be created twice, or go away.
#[test]
fn postgres_refuses_what_is_not_its_store_and_recovers_from_a_restart() {
    let Some(pg) = TestPostgres::start_or_skip("postgres_refuses") else {
        return;
    };
    // Empty: open says how to create; create works once.
    let loc = PgLocation::parse(&pg.database("fresh").unwrap()).unwrap();
    let err = PgStore::open(&loc).err().unwrap().to_string();
    assert!(err.contains("holds no Warden store"), "{err}");
    let s = PgStore::create(&loc).unwrap();
    let err = PgStore::create(&loc).err().unwrap().to_string();
    assert!(err.contains("already holds a Warden store"), "{err}");
    // Another application's tables.
    let foreign = pg.database("foreign").unwrap();
    let mut c = postgres::Client::connect(&foreign, postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE orders (id BIGINT)").unwrap();
    let loc_f = PgLocation::parse(&foreign).unwrap();
    let err = PgStore::create(&loc_f).err().unwrap().to_string();
    assert!(err.contains("not a Warden store"), "{err}");
    // A newer schema.
    let newer = pg.database("newer").unwrap();
    let loc_n = PgLocation::parse(&newer).unwrap();
    drop(PgStore::create(&loc_n).unwrap());
    let mut c = postgres::Client::connect(&newer, postgres::NoTls).unwrap();
    c.batch_execute(&format!(
        "UPDATE meta SET value = '{}' WHERE key = 'schema_version'",
        SCHEMA_VERSION + 1
    ))
    .unwrap();
    let err = PgStore::open(&loc_n).err().unwrap().to_string();
    assert!(err.contains("newer than this warden"), "{err}");
    // Wrong password: a clear error naming the server, not the password.
    let wrong = PgLocation::parse(&pg.url().replacen("warden:", "warden:x", 1)).unwrap();
    let err = PgStore::open(&wrong).err().unwrap().to_string();
    assert!(err.contains("PostgreSQL at warden@127.0.0.1"), "{err}");
    assert!(!err.contains(":x"), "{err}");

    // A transaction with a failed statement cannot commit: PostgreSQL
    // would turn that COMMIT into a silent rollback.
    let mut w = s.write().unwrap();
    w.insert_key(&key("k1")).unwrap();
    w.commit().unwrap();
    let mut w = s.write().unwrap();
    w.set_meta("lost", "x").unwrap();
    assert!(w.insert_key(&key("k1")).is_err());
    let err = w
        .commit()
        .expect_err("an aborted transaction does not commit");
    assert!(err.to_string().contains("rolled it back"), "{err}");
    assert_eq!(s.read().unwrap().meta("lost").unwrap(), None);

    // The server dies mid-transaction: the write fails, nothing is
    // half-written, and the store works again once the server is back.
    let mut w = s.write().unwrap();
    w.append_event(&actor("ana"), "x.one", "a", &json!({}))
        .unwrap();
    w.commit().unwrap();
    let mut w = s.write().unwrap();
    w.append_event(&actor("ana"), "x.two", "b", &json!({}))
        .unwrap();
    pg.kill().unwrap();
    let err = w.commit().expect_err("commit on a dead server fails");
    assert!(err.to_string().contains("PostgreSQL"), "{err}");
    assert!(s.read().is_err(), "no server, no read");
    pg.restart().unwrap();
    let mut r = s.read().unwrap();
    assert_eq!(r.log_frontier().unwrap().size(), 1);
    assert_eq!(
        r.events(&EventFilter::default()).unwrap()[0].action,
        "x.one"
    );
}

/// A workspace's SQLite file moves into PostgreSQL verbatim: every table,
/// the log with its events and checkpoints, and the ids.
#[test]
fn a_sqlite_store_copies_into_postgres_exactly() {
    let Some(pg) = TestPostgres::start_or_skip("a_sqlite_store_copies") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.db");
    drop(SqliteStore::create(&path).unwrap());
    let p = path.clone();
    let open: Open = Arc::new(move || Box::new(SqliteStore::open(&p).unwrap()));
    every_record_round_trips(Arc::clone(&open));
    events_and_state_commit_together_or_not_at_all(open);
    let src = SqliteStore::open(&path).unwrap();
    let mut w = src.write().unwrap();
    let f = w.log_frontier().unwrap();
    w.insert_checkpoint(&StoredCheckpoint {
        size: f.size(),
        root_hash: hex::encode(f.root()),
        note: "origin\n2\nroot\n\n— sig\n".into(),
        time: Timestamp::now(),
    })
    .unwrap();
    w.commit().unwrap();

    let loc = PgLocation::parse(&pg.database("moved").unwrap()).unwrap();
    let dst = PgStore::create(&loc).unwrap();
    let report = copy_sqlite_to_postgres(&src, &dst).unwrap();
    assert_eq!(report.log_size, 2);
    let rows = |t: &str| report.tables.iter().find(|x| x.table == t).unwrap().rows;
    assert_eq!(rows("audit_events"), 2);
    assert_eq!(rows("models"), 2);

    let (mut a, mut b) = (src.read().unwrap(), dst.read().unwrap());
    assert_eq!(a.models().unwrap(), b.models().unwrap());
    assert_eq!(a.keys().unwrap(), b.keys().unwrap());
    assert_eq!(a.api_keys().unwrap(), b.api_keys().unwrap());
    assert_eq!(a.key_holds().unwrap(), b.key_holds().unwrap());
    assert_eq!(a.access_tokens().unwrap(), b.access_tokens().unwrap());
    assert_eq!(a.checkpoints().unwrap(), b.checkpoints().unwrap());
    assert_eq!(
        a.events(&EventFilter::default()).unwrap(),
        b.events(&EventFilter::default()).unwrap()
    );
    assert_eq!(
        a.meta("workspace_id").unwrap(),
        b.meta("workspace_id").unwrap()
    );
    drop((a, b));
    // The copy goes on from where the source stopped: the next id and the
    // next event number follow the copied ones.
    let mut w = dst.write().unwrap();
    assert_eq!(
        w.append_event(&actor("ana"), "x.three", "t", &json!({}))
            .unwrap()
            .seq,
        2
    );
    w.commit().unwrap();
}

/// A self-signed CA and a server certificate for 127.0.0.1 it signed.
fn test_ca(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=warden test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.crt"),
        dir.join("server.key"),
    )
}

/// TLS to the database: verified against the named CA, required unless
/// `sslmode=disable` says otherwise (no silent fallback to plain text).
#[test]
fn postgres_over_tls_is_verified_and_never_downgraded() {
    if std::env::var("WARDEN_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("SKIPPED postgres_over_tls: WARDEN_SKIP_POSTGRES=1");
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (ca, crt, key) = test_ca(certs.path());
    let pg = TestPostgres::start_with_tls(&crt, &key).unwrap_or_else(|e| panic!("{e:?}"));
    let plain = pg.url().replace("sslmode=disable", "sslmode=require");
    let with_ca = format!("{plain}&sslrootcert={}", ca.display());
    // The server takes TLS only (hostssl): connecting proves TLS was used.
    let s = PgStore::create(&PgLocation::parse(&with_ca).unwrap()).unwrap();
    let mut w = s.write().unwrap();
    w.set_meta("k", "over tls").unwrap();
    w.commit().unwrap();
    // The default mode (prefer) is taken as require, with the same checks.
    let default_mode = with_ca.replace("sslmode=require&", "");
    assert!(!default_mode.contains("sslmode"), "{default_mode}");
    let s = PgStore::open(&PgLocation::parse(&default_mode).unwrap()).unwrap();
    assert_eq!(
        s.read().unwrap().meta("k").unwrap().as_deref(),
        Some("over tls")
    );
    // A certificate from a CA nobody named is refused.
    let err = PgStore::open(&PgLocation::parse(&plain).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("PostgreSQL at"), "{err}");
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // A server without TLS: the default mode refuses to talk in the clear;
    // only an explicit sslmode=disable does.
    let clear = TestPostgres::start().unwrap_or_else(|e| panic!("{e:?}"));
    let url = clear.url().replace("?sslmode=disable", "");
    let err = PgStore::create(&PgLocation::parse(&url).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("PostgreSQL at"), "{err}");
    assert!(PgStore::create(&PgLocation::parse(clear.url()).unwrap()).is_ok());
}

/// A replica hears of every write another one commits (PostgreSQL's
/// `LISTEN`), never of one rolled back or of a read; SQLite has no
/// listener (its readers poll).
#[test]
fn committed_writes_reach_listeners_and_nothing_else_does() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqliteStore::create(&dir.path().join("warden.db")).unwrap();
    assert!(sqlite.listen().unwrap().is_none());

    let Some(pg) = TestPostgres::start_or_skip("listeners") else {
        return;
    };
    let loc = PgLocation::parse(&pg.database("listen").unwrap()).unwrap();
    let writer = PgStore::create(&loc).unwrap();
    let reader = PgStore::open(&loc).unwrap();
    let mut l = reader.listen().unwrap().expect("PostgreSQL listens");
    // Waits a little for the notification to travel.
    let heard = |l: &mut Box<dyn warden_store::ChangeListener>| {
        for _ in 0..50 {
            if l.changed().unwrap() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    };
    assert!(!l.changed().unwrap(), "nothing was written yet");

    let mut w = writer.write().unwrap();
    w.set_meta("k", "rolled back").unwrap();
    drop(w);
    drop(writer.read().unwrap());
    assert!(!heard(&mut l), "a rollback or a read was heard");

    let mut w = writer.write().unwrap();
    w.set_meta("k", "one").unwrap();
    w.set_meta("k", "two").unwrap();
    w.commit().unwrap();
    assert!(heard(&mut l), "a commit went unheard");
    assert!(!l.changed().unwrap(), "one commit was heard twice");

    // The server going away is an error, not silence.
    pg.kill().unwrap();
    let mut failed = false;
    for _ in 0..50 {
        if l.changed().is_err() {
            failed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(failed, "a lost connection read as no change");
}
