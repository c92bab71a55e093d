//! Training through the engine: reproducibility, registration, signing,
//! verified loading, authorisation and refused inputs.
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use warden::{Error, IngestRequest, OpenOptions, TrainRequest, Workspace};
use warden_core::{ActorName, KeyName, ObjectName, RoleName, VersionRef};
use warden_data::example::{CreditOptions, generate_credit};
use warden_ml::{DpConfig, DpTarget, ModelKind, TrainConfig};

fn workspace(dir: &Path) -> Workspace {
    let ws = Workspace::init(dir, ActorName::new("ana").unwrap(), &OpenOptions::default()).unwrap();
    ws.keys_generate(
        &KeyName::new("pipeline").unwrap(),
        warden::Algorithm::EcdsaP256,
    )
    .unwrap();
    ws
}

fn ingest(ws: &Workspace, name: &str, csv: &[u8], target: Option<&str>) {
    let mut input = csv;
    ws.data_ingest(IngestRequest {
        target: target.map(str::to_string),
        sensitive: if name == "flat" {
            vec![]
        } else {
            vec!["sex".into(), "age_band".into()]
        },
        screen: false,
        ..IngestRequest::new(
            ObjectName::new(name).unwrap(),
            &mut input,
            format!("{name}.csv"),
        )
    })
    .unwrap();
}

fn credit(rows: usize) -> Vec<u8> {
    let mut out = Vec::new();
    generate_credit(
        &CreditOptions {
            rows,
            seed: 5,
            poison: 0.0,
            shift: false,
            bias: 0.2,
        },
        &mut out,
    )
    .unwrap();
    out
}

fn request(name: &str, config: TrainConfig, threads: usize) -> TrainRequest {
    TrainRequest {
        dataset: "credit@1".parse().unwrap(),
        target: None,
        features: None,
        name: ObjectName::new(name).unwrap(),
        config,
        threads,
    }
}

fn dp_config(model: ModelKind) -> TrainConfig {
    let mut c = TrainConfig::defaults(
        model,
        Some(DpConfig {
            target: DpTarget::Epsilon(2.0),
            delta: 1e-5,
            max_grad_norm: 1.0,
        }),
    );
    c.epochs = 3;
    c
}

#[test]
fn the_same_inputs_give_a_byte_identical_package_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    ingest(&ws, "credit", &credit(3000), Some("approved"));
    let mut mlp = TrainConfig::defaults(ModelKind::Mlp, None);
    mlp.epochs = 3;
    mlp.hidden = vec![8, 4];
    for (name, cfg) in [
        ("lr", TrainConfig::defaults(ModelKind::Logreg, None)),
        ("mlp", mlp),
        ("dp", dp_config(ModelKind::Logreg)),
        ("dpmlp", dp_config(ModelKind::Mlp)),
    ] {
        let a = ws
            .train(&request(name, cfg.clone(), 1), &mut |_, _| {})
            .unwrap();
        let b = ws
            .train(&request(name, cfg.clone(), 3), &mut |_, _| {})
            .unwrap();
        assert_eq!(a.model.record.version + 1, b.model.record.version);
        assert_eq!(a.model.record.digest, b.model.record.digest, "{name}");
        assert_eq!(a.model.files, b.model.files, "{name}");
        let mut other = cfg.clone();
        other.seed = 99;
        let c = ws.train(&request(name, other, 2), &mut |_, _| {}).unwrap();
        assert_ne!(
            a.model.files["weights.safetensors"], c.model.files["weights.safetensors"],
            "{name}: the seed must matter"
        );
    }
}

#[test]
fn a_trained_model_is_registered_signed_audited_and_loads_verified() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    ingest(&ws, "credit", &credit(2000), Some("approved"));
    let out = ws
        .train(
            &request("credit", dp_config(ModelKind::Logreg), 2),
            &mut |_, _| {},
        )
        .unwrap();
    let dp = out.dp.as_ref().unwrap();
    assert!(dp.epsilon <= 2.0 && dp.epsilon > 1.99, "{dp:?}");
    assert!(dp.accountant.contains("PLD"));
    // The RDP figure for the same noise is recorded for comparison, and is
    // looser.
    assert!(dp.epsilon_rdp.unwrap() > dp.epsilon, "{dp:?}");
    assert_eq!(out.model.record.signed_by, "pipeline");
    assert!(
        !out.features
            .iter()
            .any(|f| f == "sex" || f == "age_band" || f == "approved")
    );
    let holdout = out.holdout.as_ref().unwrap();
    assert!(holdout.accuracy > 0.8, "{holdout:?}");

    let loaded = ws.load_model(&"credit@1".parse().unwrap()).unwrap();
    assert_eq!(loaded.verified_by, "pipeline");
    let rec: serde_json::Map<String, serde_json::Value> =
        serde_json::from_value(serde_json::json!({
            "age": 41, "income": 52000.0, "loan_amount": 12000, "credit_score": 700,
            "employment": "employed", "housing": "rent", "num_accounts": 3, "debt_ratio": 0.2,
            "notes": null,
        }))
        .unwrap();
    let rec: serde_json::Map<String, serde_json::Value> = rec
        .into_iter()
        .filter(|(k, _)| loaded.predictor.inputs().iter().any(|(n, _)| n == k))
        .collect();
    let p = loaded.predictor.predict_json(&[rec]).unwrap();
    assert!((p[0].probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);

    let events = ws
        .audit_log(&warden::EventFilter {
            action: Some("model.train".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(events.len(), 1);
    let e = &events[0].payload;
    assert_eq!(e["datasets"][0]["ref"], "credit@1");
    assert_eq!(e["seed"], 0);
    assert_eq!(e["config_digest"], out.config_digest.as_str());
    assert_eq!(e["digest"], out.model.record.digest.as_str());
    assert!(ws.audit_verify(None).unwrap().ok);

    // A revoked signing key leaves nothing to trust the package with.
    ws.keys_revoke(&KeyName::new("pipeline").unwrap()).unwrap();
    let err = ws.load_model(&"credit@1".parse().unwrap()).err().unwrap();
    assert!(matches!(err, Error::Verification(_)), "{err}");
    // ... and nothing can be trained until a pipeline key exists again.
    let err = ws
        .train(
            &request("credit", TrainConfig::defaults(ModelKind::Logreg, None), 1),
            &mut |_, _| {},
        )
        .err()
        .unwrap();
    assert!(err.to_string().contains("revoked"), "{err}");
}

#[test]
fn a_changed_weights_blob_is_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    ingest(&ws, "credit", &credit(1000), Some("approved"));
    let out = ws
        .train(
            &request("credit", TrainConfig::defaults(ModelKind::Logreg, None), 1),
            &mut |_, _| {},
        )
        .unwrap();
    let d: warden_core::Digest = out.model.files["weights.safetensors"].parse().unwrap();
    let hex = d.to_string().trim_start_matches("sha256:").to_string();
    let path = dir
        .path()
        .join(".warden/blobs/sha256")
        .join(&hex[..2])
        .join(&hex[2..4])
        .join(&hex);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let r: VersionRef = "credit@1".parse().unwrap();
    let err = ws.load_model(&r).err().unwrap();
    assert_eq!(err.kind(), warden::ErrorKind::Verification, "{err}");
    let err = ws.model_export(&r, &dir.path().join("out")).err().unwrap();
    assert_eq!(err.kind(), warden::ErrorKind::Verification, "{err}");
    assert!(!dir.path().join("out").exists());
}

#[test]
fn refused_inputs_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace(dir.path());
    ingest(&ws, "credit", &credit(500), None);
    ingest(
        &ws,
        "flat",
        b"x,colour,y\n1,red,1\n2,blue,1\n3,red,1\n4,blue,1\n",
        None,
    );
    let before = ws.audit_log(&Default::default()).unwrap().len();
    let lr = || TrainConfig::defaults(ModelKind::Logreg, None);
    let cases: Vec<(TrainRequest, &str)> = vec![
        (request("m", lr(), 1), "declares no target"),
        (
            TrainRequest {
                target: Some("nope".into()),
                ..request("m", lr(), 1)
            },
            "no target column \"nope\"",
        ),
        (
            TrainRequest {
                target: Some("approved".into()),
                features: Some(vec!["nope".into()]),
                ..request("m", lr(), 1)
            },
            "no column \"nope\"",
        ),
        (
            TrainRequest {
                target: Some("approved".into()),
                features: Some(vec!["approved".into()]),
                ..request("m", lr(), 1)
            },
            "is the target",
        ),
        (
            TrainRequest {
                dataset: "flat@1".parse().unwrap(),
                target: Some("y".into()),
                ..request("m", lr(), 1)
            },
            "constant",
        ),
        (
            TrainRequest {
                dataset: "credit@9".parse().unwrap(),
                ..request("m", lr(), 1)
            },
            "not found",
        ),
        (
            TrainRequest {
                target: Some("approved".into()),
                config: TrainConfig {
                    holdout: 1.5,
                    ..lr()
                },
                ..request("m", lr(), 1)
            },
            "holdout",
        ),
        (
            TrainRequest {
                target: Some("approved".into()),
                config: TrainConfig::defaults(
                    ModelKind::Logreg,
                    Some(DpConfig {
                        target: DpTarget::NoiseMultiplier(-1.0),
                        delta: 1e-5,
                        max_grad_norm: 1.0,
                    }),
                ),
                ..request("m", lr(), 1)
            },
            "noise multiplier",
        ),
    ];
    for (req, want) in cases {
        let err = ws.train(&req, &mut |_, _| {}).err().unwrap();
        assert!(err.to_string().contains(want), "{want}: {err}");
    }
    assert!(ws.model_list().unwrap().is_empty());
    assert_eq!(ws.audit_log(&Default::default()).unwrap().len(), before);

    // Only ml-engineer and admin may train; the denial is recorded.
    ws.roles_grant(
        &ActorName::new("dee").unwrap(),
        &RoleName::new("data-engineer").unwrap(),
    )
    .unwrap();
    let dee = Workspace::open(
        dir.path(),
        ActorName::new("dee").unwrap(),
        &OpenOptions::default(),
    )
    .unwrap();
    let err = dee
        .train(
            &TrainRequest {
                target: Some("approved".into()),
                ..request("m", lr(), 1)
            },
            &mut |_, _| {},
        )
        .err()
        .unwrap();
    assert_eq!(err.kind(), warden::ErrorKind::NotAuthorised);
    assert!(ws.model_list().unwrap().is_empty());
}
