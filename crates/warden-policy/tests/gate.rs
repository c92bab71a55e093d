//! Every rule of the bundled gates, both ways: a document that passes
//! production, and for each rule a change that makes it deny (and only it).
// A test panics on a broken expectation; that is its way of failing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use warden_policy::Gate;

fn passing(env: &str) -> Value {
    json!({
        "version": 1,
        "env": env,
        "model": {"name": "credit", "version": 3, "digest": "sha256:00", "author": "sam", "kind": "logreg"},
        "quarantined": false,
        "signatures": [{"key": "pipeline", "key_id": "sha256:aa", "valid": true, "trusted": true}],
        "scan": {"scanned": true, "max_severity": "low", "findings": [{"file": "credit@3/model.json", "rule": "file.unrecognised", "severity": "low", "message": "x"}], "incomplete": 0, "report": "sha256:11"},
        "datasets": [{"name": "credit", "version": 1, "pinned": false, "schema_valid": true,
                      "pii": {"detected": ["email"], "unmasked": []}, "screened": true, "suspect_fraction": 0.01, "label_noise": {"estimate": 0.01, "interval": [0.005, 0.02], "out_of_fold_auc": 0.97, "limit": null}}],
        "training": {"seed": 7, "dp": null},
        "evaluation": {
            "metrics": {"accuracy": 0.86, "roc_auc": 0.91},
            "fairness": {"sex": {"demographic_parity_ratio": 0.9, "equalized_odds_difference": 0.05},
                         "sex&age_band": {"demographic_parity_ratio": 0.5}},
            "robustness": {"pgd_linf": [{"eps": 0.05, "robust_accuracy": 0.8}, {"eps": 0.1, "robust_accuracy": 0.71}]},
            "privacy": {"membership_inference_auc": 0.52}
        },
        "baseline": {"version": 2, "evaluation": {"metrics": {"accuracy": 0.865}}},
        "approvals": [
            {"approver": "lee", "valid": true, "distinct_from_author": true},
            {"approver": "kim", "valid": true, "distinct_from_author": true}
        ],
        "model_card": {"missing": []}
    })
}

fn deny(input: &Value) -> Vec<String> {
    Gate::bundled().unwrap().deny(input).unwrap()
}

fn with(env: &str, path: &[&str], v: Value) -> Value {
    let mut doc = passing(env);
    let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
    *doc.pointer_mut(&pointer)
        .unwrap_or_else(|| panic!("no {pointer}")) = v;
    doc
}

#[test]
fn a_complete_document_passes_every_environment() {
    for env in ["dev", "staging", "production"] {
        assert_eq!(deny(&passing(env)), Vec::<String>::new(), "{env}");
    }
    // The intersection's low ratio is not a sensitive attribute of its own.
}

#[test]
fn each_rule_denies_with_an_actionable_message() {
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "dev",
            with("dev", &["signatures"], json!([])),
            "no valid signature",
        ),
        (
            "dev",
            with(
                "dev",
                &["signatures"],
                json!([{"key": "x", "valid": false, "trusted": true}]),
            ),
            "no valid signature",
        ),
        (
            "dev",
            with(
                "dev",
                &["signatures"],
                json!([{"key": "x", "valid": true, "trusted": false}]),
            ),
            "no valid signature",
        ),
        (
            "dev",
            with("dev", &["quarantined"], json!(true)),
            "quarantined",
        ),
        (
            "dev",
            with("dev", &["env"], json!("canary")),
            "no gate level",
        ),
        (
            "staging",
            with(
                "staging",
                &["datasets", "0", "pii", "unmasked"],
                json!(["notes:email"]),
            ),
            "PII unmasked",
        ),
        (
            "staging",
            with(
                "staging",
                &["datasets", "0", "suspect_fraction"],
                json!(0.03),
            ),
            "poisoning suspects",
        ),
        (
            "staging",
            with(
                "staging",
                &["datasets", "0", "label_noise"],
                json!({"estimate": 0.2, "interval": [0.19, 0.21], "out_of_fold_auc": 0.78, "limit": null}),
            ),
            "of its labels are wrong",
        ),
        (
            "staging",
            with("staging", &["evaluation"], Value::Null),
            "no evaluation",
        ),
        (
            "staging",
            with(
                "staging",
                &["baseline", "evaluation", "metrics", "accuracy"],
                json!(0.875),
            ),
            "below the current staging model",
        ),
        (
            "staging",
            with(
                "staging",
                &["evaluation", "fairness", "sex", "demographic_parity_ratio"],
                json!(0.79),
            ),
            "demographic parity ratio on sex is 0.79",
        ),
        (
            "staging",
            with(
                "staging",
                &["evaluation", "fairness", "sex", "demographic_parity_ratio"],
                json!({"undefined": "no group selected"}),
            ),
            "undefined",
        ),
        (
            "staging",
            with("staging", &["evaluation", "fairness"], json!({})),
            "no sensitive attribute",
        ),
        (
            "production",
            with(
                "production",
                &["evaluation", "robustness", "pgd_linf"],
                json!([{"eps": 0.1, "robust_accuracy": 0.49}]),
            ),
            "robust accuracy at eps 0.1 is 0.49",
        ),
        (
            "production",
            with("production", &["evaluation", "robustness"], json!({})),
            "no pgd_linf robust accuracy",
        ),
        (
            "production",
            with(
                "production",
                &["evaluation", "privacy", "membership_inference_auc"],
                json!(0.61),
            ),
            "membership-inference AUC is 0.61",
        ),
        (
            "production",
            with("production", &["evaluation", "privacy"], json!({})),
            "no membership-inference result",
        ),
        (
            "production",
            with(
                "production",
                &["model_card", "missing"],
                json!(["intended use"]),
            ),
            "model card is incomplete",
        ),
        (
            "production",
            with(
                "production",
                &["approvals"],
                json!([{"approver": "lee", "valid": true, "distinct_from_author": true}]),
            ),
            "1 valid approval",
        ),
        (
            "production",
            with(
                "production",
                &["approvals"],
                json!([
            {"approver": "lee", "valid": true, "distinct_from_author": true},
            {"approver": "lee", "valid": true, "distinct_from_author": true}]),
            ),
            "1 valid approval",
        ),
        (
            "production",
            with(
                "production",
                &["approvals"],
                json!([
            {"approver": "lee", "valid": true, "distinct_from_author": true},
            {"approver": "sam", "valid": true, "distinct_from_author": false}]),
            ),
            "1 valid approval",
        ),
        (
            "production",
            with(
                "production",
                &["approvals"],
                json!([
            {"approver": "lee", "valid": true, "distinct_from_author": true},
            {"approver": "kim", "valid": false, "distinct_from_author": true}]),
            ),
            "1 valid approval",
        ),
    ];
    let critical = json!({"scanned": true, "max_severity": "critical", "incomplete": 0, "report": "sha256:11",
        "findings": [{"file": "m/data.pkl", "rule": "pickle.code-execution", "severity": "critical", "message": "imports os.system"}]});
    let mut cases = cases;
    cases.push((
        "dev",
        with("dev", &["scan"], critical),
        "critical scan finding (pickle.code-execution in m/data.pkl",
    ));
    cases.push((
        "dev",
        with("dev", &["scan", "incomplete"], json!(1)),
        "1 file(s) of the package could not be scanned",
    ));
    cases.push((
        "production",
        with(
            "production",
            &["scan"],
            json!({"scanned": false, "max_severity": "none", "findings": []}),
        ),
        "no scan of this model version is recorded",
    ));
    for (env, doc, want) in cases {
        let reasons = deny(&doc);
        assert_eq!(reasons.len(), 1, "{env} {want}: {reasons:?}");
        assert!(
            reasons[0].contains(want),
            "{env}: {reasons:?} lacks {want:?}"
        );
    }
    // Lower environments do not ask what higher ones ask.
    assert!(deny(&with("dev", &["evaluation"], Value::Null)).is_empty());
    assert!(deny(&with("staging", &["approvals"], json!([]))).is_empty());
    assert!(
        deny(&with(
            "staging",
            &["scan"],
            json!({"scanned": false, "max_severity": "none", "findings": []})
        ))
        .is_empty()
    );
}

#[test]
fn an_accuracy_drop_is_shown_to_four_places() {
    // 0.875 - 0.86 is 0.015000000000000013 in binary floating point.
    let doc = with(
        "staging",
        &["baseline", "evaluation", "metrics", "accuracy"],
        json!(0.875),
    );
    assert_eq!(
        deny(&doc),
        vec![
            "accuracy 0.86 is 0.015 below the current staging model (version 2, 0.875); at most 0.01 is allowed"
                .to_string()
        ]
    );
}

#[test]
fn the_bundled_rego_tests_pass() {
    let tests = Gate::bundled().unwrap().run_tests().unwrap();
    assert_eq!(tests.len(), 28, "{tests:?}");
    assert!(tests.iter().all(|t| t.1), "{tests:?}");
}

#[test]
fn user_policies_and_data_replace_the_bundled_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    let mut cfg: Value = serde_json::from_str(warden_policy::BUNDLED_GATE_DATA).unwrap();
    cfg["warden"]["gate_config"]["min_approvals"] = json!(3);
    std::fs::write(&data, cfg.to_string()).unwrap();
    let mut g = Gate::from_files(&[], Some(&data)).unwrap();
    assert!(g.deny(&passing("production")).unwrap()[0].contains("3 needed"));
    assert_ne!(
        g.digest(),
        Gate::bundled().unwrap().digest(),
        "the thresholds are part of the bundle digest"
    );

    let policy = dir.path().join("gate.rego");
    std::fs::write(&policy, "package warden.gate\n\ndeny contains \"always\" if { true }\n\ntest_denies if { count(deny) == 1 }\ntest_wrong if { count(deny) == 2 }\n").unwrap();
    let mut g = Gate::from_files(std::slice::from_ref(&policy), None).unwrap();
    assert_eq!(g.deny(&passing("dev")).unwrap(), ["always"]);
    let tests = g.run_tests().unwrap();
    assert_eq!(
        tests,
        vec![
            ("data.warden.gate.test_denies".into(), true),
            ("data.warden.gate.test_wrong".into(), false)
        ]
    );

    std::fs::write(
        &policy,
        "package warden.gate\n\ndeny contains \"x\" if {\n  input.a ==\n}\n",
    )
    .unwrap();
    let err = Gate::from_files(std::slice::from_ref(&policy), None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("gate.rego:"), "{err}");
    std::fs::write(&policy, "package warden.gate\n\nallow := true\n").unwrap();
    let err = Gate::from_files(&[policy], None)
        .unwrap()
        .deny(&passing("dev"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not define `data.warden.gate.deny`"),
        "{err}"
    );
}
