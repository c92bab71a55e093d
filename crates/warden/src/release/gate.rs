//! `gate` and `promote`: the policy input document built from the store
//! (the contract in `docs/policy-input.md`), evaluated by the Rego gate of
//! an environment; a promotion moves the stage pointer only when the gate
//! allows, and records the decision either way.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use warden_core::{Action, Digest, Timestamp, VersionRef, actions, canonical_json};
use warden_policy::Gate;
use warden_store::{GateDecisionRecord, ModelRecord, StagePointer};

use crate::events;
use crate::policy_input::{
    BaselineFacts, CardFacts, DatasetFacts, EvaluationFacts, FairnessFacts, LogFacts, MetricFacts,
    ModelFacts, PolicyInput, PrivacyFacts, SignatureFact, TrainingFacts,
};
use crate::{Error, Workspace};
use warden_ml::metrics::Figure;

/// The version of the policy input document.
pub const POLICY_INPUT_VERSION: u64 = 1;

/// A gate's verdict on one model version for one environment.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct GateOutcome {
    /// `NAME@V`.
    pub model: String,
    /// The environment whose gate decided.
    pub env: String,
    /// Whether the gate allows it (no reasons to deny).
    pub allowed: bool,
    /// Why the gate denies it (empty when allowed).
    pub reasons: Vec<String>,
    /// Where the gate policy came from: file paths, or `bundled:…`.
    pub policy: String,
    /// `sha256:` digest of the gate policy bundle (its Rego and data).
    pub policy_digest: String,
    /// `sha256:` digest of the canonical JSON of `input`.
    pub input_digest: String,
    /// The policy input document the gate read (`docs/policy-input.md`).
    pub input: PolicyInput,
}

/// The result of `promote`.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PromoteOutcome {
    /// The gate's verdict (flattened into the JSON).
    #[serde(flatten)]
    pub gate: GateOutcome,
    /// The recorded decision's id.
    pub decision: u64,
    /// The version that held the environment before.
    pub previous: Option<u64>,
}

/// The worse of the two membership-inference attacks' AUCs (the report
/// marks the same figure): a defined AUC over an undefined one.
pub(crate) fn worst_membership_auc(pr: &crate::evaluation::evaluate::PrivacyRisk) -> Figure {
    let (loss, confidence) = (&pr.loss_threshold.auc, &pr.confidence.auc);
    match (loss.value(), confidence.value()) {
        (Some(a), Some(b)) => Figure::Defined(a.max(b)),
        (None, Some(_)) => confidence.clone(),
        _ => loss.clone(),
    }
}

/// Evaluation facts for the gate, from a stored report: the figures the
/// policy reads, in the shape `docs/policy-input.md` gives.
fn evaluation_facts(report: &crate::EvalReport, id: u64) -> EvaluationFacts {
    let fairness = report
        .fairness
        .iter()
        .map(|f| {
            (
                f.attribute.clone(),
                FairnessFacts {
                    demographic_parity_difference: f.demographic_parity_difference.clone(),
                    demographic_parity_ratio: f.demographic_parity_ratio.clone(),
                    equalized_odds_difference: f.equalized_odds_difference.clone(),
                    equalized_odds_ratio: f.equalized_odds_ratio.clone(),
                    equal_opportunity_difference: f.equal_opportunity_difference.clone(),
                    disparate_impact: f.disparate_impact.clone(),
                },
            )
        })
        .collect();
    let p = &report.performance;
    EvaluationFacts {
        id,
        dataset: report.dataset.as_ref().map(|d| d.reference.clone()),
        metrics: MetricFacts {
            accuracy: p.accuracy,
            balanced_accuracy: p.balanced_accuracy.clone(),
            macro_f1: p.macro_f1.clone(),
            roc_auc: p.roc_auc.clone(),
            pr_auc: p.pr_auc.clone(),
            log_loss: p.log_loss.clone(),
            brier: p.brier.clone(),
            ece: p.ece.clone(),
        },
        fairness,
        robustness: report
            .robustness
            .as_ref()
            .map(|r| r.attacks.clone())
            .unwrap_or_default(),
        privacy: PrivacyFacts {
            membership_inference_auc: report.privacy.as_ref().map(worst_membership_auc),
        },
    }
}

impl Workspace {
    pub(crate) fn check_env(&self, env: &str) -> Result<(), Error> {
        if self.config().gates.environments.iter().any(|e| e == env) {
            Ok(())
        } else {
            Err(Error::Usage(format!(
                "unknown environment {env:?}; this workspace's environments are {}",
                self.config().gates.environments.join(", ")
            )))
        }
    }

    pub(crate) fn gate_policy(&self) -> Result<Gate, Error> {
        let g = &self.config().gates;
        self.gate_cached(&g.policy, g.data.as_deref())
    }

    fn latest_evaluation(&self, m: &ModelRecord) -> Result<Option<EvaluationFacts>, Error> {
        Ok(self
            .checked_latest_evaluation(m)?
            .map(|(id, report)| evaluation_facts(&report, id)))
    }

    /// The version's latest evaluation (its id and report), checked against
    /// the log and against the version's digest, as the gate and the model
    /// card read it.
    pub(crate) fn checked_latest_evaluation(
        &self,
        m: &ModelRecord,
    ) -> Result<Option<(u64, crate::EvalReport)>, Error> {
        // The rows the gate reads must be the ones the log recorded: a
        // report swapped in the database, even with its digest column
        // rewritten to match, is refused, not gated on.
        let evals = {
            let mut tx = self.store().read()?;
            let evals = tx.evaluations(&m.name, Some(m.version))?;
            let version = format!("{}@{}", m.name, m.version);
            // The version's own events, by subject (indexed).
            let events =
                tx.events_about(&format!("model:{version}"), &[actions::MODEL_EVALUATE])?;
            if let Some(d) = crate::ledger::evaluation_disagreement(&events, &version, &evals)? {
                drop(tx);
                return Err(self.refuse_disagreement_on(d, Some((&m.name, m.version))));
            }
            evals
        };
        Ok(match evals.last() {
            Some(e) => {
                // A document that does not parse is corrupt, whatever its
                // digest says; one that parses must be the one recorded.
                let report = crate::stored::evaluation_report(e)?;
                if Digest::of(e.report.as_bytes()).to_string() != e.digest {
                    return Err(Error::Verification(format!(
                        "evaluation {}: the report does not match its digest",
                        e.id
                    )));
                }
                // An evaluation of other bytes under this version number
                // (a version whose row was deleted and whose number was
                // taken again) is not this version's evaluation.
                if e.model_digest != m.digest {
                    return Err(Error::Verification(format!(
                        "evaluation {} was of {}, not of {}@{} ({}); run `warden audit verify`",
                        e.id, e.model_digest, m.name, m.version, m.digest
                    )));
                }
                Some((e.id, report))
            }
            None => None,
        })
    }

    /// The policy input document for `m` and `env`.
    pub(crate) fn policy_input(&self, m: &ModelRecord, env: &str) -> Result<PolicyInput, Error> {
        let manifest = crate::stored::model_manifest(m)?;
        let keys = self.store().read()?.keys()?;
        // Verified once: the signature and the provenance both read it.
        let verified = self.verified_files(m);
        let signatures = match &verified {
            Ok((_, _, key)) => {
                let key_id = keys
                    .iter()
                    .find(|k| k.name.as_str() == key)
                    .map(|k| k.key_id.clone());
                vec![SignatureFact {
                    key: key.to_string(),
                    key_id,
                    valid: true,
                    trusted: true,
                    error: None,
                }]
            }
            Err(e) => vec![SignatureFact {
                key: m.signed_by.clone(),
                key_id: None,
                valid: false,
                trusted: false,
                error: Some(e.to_string()),
            }],
        };
        let mut datasets = Vec::new();
        for d in manifest.dataset_refs() {
            let Some(r) = d.parse::<VersionRef>().ok() else {
                continue;
            };
            let Some(rec) = self.store().read()?.dataset(&r.name, r.version)? else {
                continue;
            };
            let dm = crate::stored::dataset_manifest(&rec)?;
            let checks = dm.checks;
            datasets.push(DatasetFacts {
                name: rec.name.to_string(),
                version: rec.version,
                digest: rec.digest.clone(),
                pinned: dm.source.pinned,
                schema_valid: checks.schema_valid,
                pii: checks.pii,
                screened: checks.suspect_fraction.is_some(),
                suspect_fraction: checks.suspect_fraction,
                label_noise: checks.label_noise,
                relabelled: checks.relabelled,
            });
        }
        let training = manifest.training.as_ref().map(|t| TrainingFacts {
            seed: t.seed,
            dp: manifest.dp_guarantee(),
        });
        let holder = self
            .store()
            .read()?
            .stages(&m.name)?
            .into_iter()
            .find(|p| p.env == env);
        let baseline = match holder {
            Some(h) if h.version != m.version => {
                let rec = self.store().read()?.model(&m.name, Some(h.version))?;
                let evaluation = match rec {
                    Some(r) => self.latest_evaluation(&r)?,
                    None => None,
                };
                Some(BaselineFacts {
                    version: h.version,
                    evaluation,
                })
            }
            _ => None,
        };
        Ok(PolicyInput {
            version: POLICY_INPUT_VERSION,
            env: env.to_string(),
            model: ModelFacts {
                name: m.name.to_string(),
                version: m.version,
                digest: m.digest.clone(),
                author: m.created_by.to_string(),
                kind: m.kind.clone(),
                // Imported: not trained here (no gradients, no known split).
                imported: manifest.training.is_none(),
            },
            quarantined: self.is_quarantined(&m.name, m.version)?,
            signatures,
            scan: self.scan_facts(m)?,
            evidence: self.evidence_facts(m)?,
            provenance: self.provenance_facts(m, verified.as_ref())?,
            datasets,
            training,
            evaluation: self.latest_evaluation(m)?,
            baseline,
            approvals: self.approval_facts(m, env)?,
            model_card: CardFacts {
                missing: self.card_missing(m)?,
            },
            log: self.log_facts()?,
        })
    }

    /// The log's size and the cosignatures by the witnesses the (pinned)
    /// gate data names.
    fn log_facts(&self) -> Result<LogFacts, Error> {
        let vkeys: Vec<String> = gate_config(self)?.witnesses.unwrap_or_default();
        // The log, re-verified for the decision: an insider who rewrote
        // event rows (and their leaf hashes) is caught here, not only by a
        // later `audit verify`. The leaf hashes under the newest signed
        // checkpoint are folded as stored (32 bytes an event) rather than
        // each event re-read and re-hashed: their fold must give the
        // signed root, so the cost is one narrow pass, not a full audit.
        let report = self.audit_verify_with(&crate::VerifyOptions {
            for_decision: true,
            ..Default::default()
        })?;
        Ok(LogFacts {
            size: report.events,
            verified: report.ok,
            problems: report
                .problems
                .iter()
                .take(3)
                .map(|p| p.message.clone())
                .collect(),
            cosignatures: self.cosignature_facts(&vkeys)?,
        })
    }

    fn evaluate_gate(&self, m: &ModelRecord, env: &str) -> Result<GateOutcome, Error> {
        // The facts below are read from registry rows; each must be what
        // the log made it.
        self.check_decision_rows(&m.name, Some(m.version), env)?;
        let mut gate = self.gate_policy()?;
        // Only the gate bundle registered for this environment decides.
        self.check_pinned(env, &gate.digest().to_string())?;
        let input = self.policy_input(m, env)?;
        let reasons = gate.deny(&serde_json::to_value(&input)?)?;
        Ok(GateOutcome {
            model: format!("{}@{}", m.name, m.version),
            env: env.to_string(),
            allowed: reasons.is_empty(),
            reasons,
            policy: gate.origin().to_string(),
            policy_digest: gate.digest().to_string(),
            input_digest: Digest::of(&canonical_json(&input)?).to_string(),
            input,
        })
    }

    /// What the gate of `env` says about `MODEL@N` (changes nothing).
    pub fn gate(&self, r: &VersionRef, env: &str) -> Result<GateOutcome, Error> {
        self.authorize(Action::ModelRead, &format!("model:{r}"))?;
        self.check_env(env)?;
        let m = self.find_model(r)?;
        self.evaluate_gate(&m, env)
    }

    /// Promotes `MODEL@N` to `env` if its gate allows; the decision is
    /// recorded either way (with the pointer move, in one transaction).
    pub fn promote(&self, r: &VersionRef, env: &str) -> Result<PromoteOutcome, Error> {
        self.authorize(Action::ModelPromote, &format!("model:{r}"))?;
        self.check_env(env)?;
        self.check_freeze("promotion")?;
        let m = self.find_model(r)?;
        // A package that does not verify is refused as such (exit 5), before
        // any policy is asked.
        self.verified_files(&m)?;
        let outcome = self.evaluate_gate(&m, env)?;
        let now = Timestamp::now();
        let mut tx = self.store().write()?;
        let previous = tx
            .stages(&m.name)?
            .into_iter()
            .find(|p| p.env == env)
            .map(|p| p.version);
        let decision = GateDecisionRecord {
            model: m.name.clone(),
            version: m.version,
            env: env.to_string(),
            allowed: outcome.allowed,
            policy_digest: outcome.policy_digest.clone(),
            input_digest: outcome.input_digest.clone(),
            reasons: String::from_utf8_lossy(&canonical_json(&outcome.reasons)?).into_owned(),
            created_by: self.actor().clone(),
            created_at: now.clone(),
        };
        let id = tx.insert_gate_decision(&decision)?;
        if outcome.allowed {
            tx.set_stage(&StagePointer {
                model: m.name.clone(),
                env: env.to_string(),
                version: m.version,
                updated_by: self.actor().clone(),
                updated_at: now,
            })?;
        }
        events::append(
            &mut *tx,
            self.actor(),
            if outcome.allowed {
                "model.promote"
            } else {
                "gate.denied"
            },
            &format!("model:{}@{}", m.name, m.version),
            &events::GateDecided {
                model: outcome.model.clone(),
                digest: Some(m.digest.clone()),
                env: env.to_string(),
                decision: Some(id),
                allowed: Some(outcome.allowed),
                reasons: Some(outcome.reasons.clone()),
                policy_digest: Some(outcome.policy_digest.clone()),
                input_digest: Some(outcome.input_digest.clone()),
                previous,
            },
        )?;
        self.commit(tx)?;
        Ok(PromoteOutcome {
            gate: outcome,
            decision: id,
            previous,
        })
    }

    /// The stage pointers of a model.
    pub fn stages(&self, model: &warden_core::ObjectName) -> Result<Vec<StagePointer>, Error> {
        self.authorize(Action::ModelRead, &format!("model:{model}"))?;
        Ok(self.store().read()?.stages(model)?)
    }

    /// Runs the gate policy's own Rego tests (`test_` rules).
    pub fn policy_test(&self) -> Result<(String, Vec<(String, bool)>), Error> {
        self.authorize(Action::ModelRead, "policy")?;
        let mut gate = self.gate_policy()?;
        let tests = gate.run_tests()?;
        Ok((gate.origin().to_string(), tests))
    }
}

/// The gate thresholds (`data.warden.gate_config` of the gate data), as
/// typed values: the Rego gate decides with them, and Rust reads some to
/// mark reports and list risks. Every key is optional (a workspace's own
/// gate data may leave some out, and its policy may read keys of its own),
/// but a key that is present must have its type: a threshold written as
/// text is refused by name, not read as "no threshold".
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, Serialize)]
pub struct GateConfig {
    /// Each environment's strictness level (`dev` 1, `staging` 2,
    /// `production` 3 in the bundled data); rules apply from a level on.
    #[serde(default)]
    pub levels: BTreeMap<String, u64>,
    /// Largest share of rows the poisoning screen may suspect.
    pub max_suspect_fraction: Option<f64>,
    /// Largest estimated label-noise rate a dataset may show.
    pub max_label_noise: Option<f64>,
    /// Highest a dataset's owner may raise their own label-noise limit.
    pub max_label_noise_ceiling: Option<f64>,
    /// Largest accuracy drop allowed against the version in the environment.
    pub max_accuracy_drop: Option<f64>,
    /// Smallest demographic-parity ratio (the worst group's selection rate
    /// over the best's).
    pub min_demographic_parity_ratio: Option<f64>,
    /// The attack whose robust accuracy is gated on for native models.
    pub robust_attack: Option<String>,
    /// The decision-based attack that stands in for `robust_attack` on
    /// imported models (no gradients); `hsj` when absent.
    pub robust_attack_black_box: Option<String>,
    /// The attack radius the robust accuracy must be measured at.
    pub robust_eps: Option<f64>,
    /// Smallest accuracy under that attack.
    pub min_robust_accuracy: Option<f64>,
    /// Largest membership-inference AUC.
    pub max_membership_inference_auc: Option<f64>,
    /// Approvals, from people other than the author, needed where required.
    pub min_approvals: Option<u64>,
    /// Scan severities that block a promotion.
    pub scan_blocking_severities: Option<Vec<String>>,
    /// The level from which a recorded scan is required.
    pub scan_required_level: Option<u64>,
    /// The level from which evidence findings are gated on.
    pub evidence_level: Option<u64>,
    /// Highest finding score (CVSS-like, 0–10) evidence may report.
    pub evidence_max_score: Option<f64>,
    /// Oldest evidence accepted, in days.
    pub evidence_max_age_days: Option<f64>,
    /// Kinds of evidence (`sast`, `sca`, …) required where required.
    pub evidence_required_kinds: Option<Vec<String>>,
    /// The level from which `evidence_required_kinds` are required.
    pub evidence_required_level: Option<u64>,
    /// Whether a verified build provenance is required.
    pub require_provenance: Option<bool>,
    /// Verifier keys (C2SP note format) of the witnesses whose
    /// cosignatures count.
    pub witnesses: Option<Vec<String>>,
    /// Cosignatures by distinct witnesses required.
    pub min_witnesses: Option<u64>,
    /// Oldest cosignature accepted, in seconds.
    pub max_witness_age_seconds: Option<u64>,
}

/// The gate thresholds in force (`data.warden.gate_config`), typed; a
/// value of the wrong type is refused naming its key.
pub(crate) fn gate_config(ws: &Workspace) -> Result<GateConfig, Error> {
    let text = match &ws.config().gates.data {
        Some(p) => std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
        None => warden_policy::BUNDLED_GATE_DATA.to_string(),
    };
    parse_gate_config(&text)
}

/// The part of a gate data document (the Rego data the policy reads)
/// that Warden itself reads: `warden.gate_config`. Everything else in it
/// is the policy's own.
#[derive(serde::Deserialize)]
struct GateData {
    #[serde(default)]
    warden: Option<WardenGateData>,
}

#[derive(serde::Deserialize)]
struct WardenGateData {
    /// Kept as JSON here so that its own errors can name their path.
    #[serde(default)]
    gate_config: Option<Value>,
}

/// [`gate_config`] of a gate data document's text.
fn parse_gate_config(text: &str) -> Result<GateConfig, Error> {
    let data: GateData =
        serde_json::from_str(text).map_err(|e| Error::Invalid(format!("gate data: {e}")))?;
    let Some(cfg) = data
        .warden
        .and_then(|w| w.gate_config)
        .filter(|c| !c.is_null())
    else {
        return Ok(GateConfig::default());
    };
    serde_path_to_error::deserialize(cfg).map_err(|e| {
        Error::Invalid(format!(
            "gate data: warden.gate_config.{}: {}",
            e.path(),
            e.inner()
        ))
    })
}

#[cfg(test)]
mod gate_config_tests {
    use super::*;

    #[test]
    fn the_bundled_gate_data_reads_as_typed_thresholds() {
        let c = parse_gate_config(warden_policy::BUNDLED_GATE_DATA).unwrap();
        assert_eq!(c.levels.get("production"), Some(&3));
        assert_eq!(c.min_approvals, Some(2));
        assert_eq!(c.robust_attack.as_deref(), Some("pgd_linf"));
        assert_eq!(c.robust_attack_black_box.as_deref(), Some("hsj"));
        assert_eq!(c.max_membership_inference_auc, Some(0.6));
        assert_eq!(c.require_provenance, Some(false));
        assert_eq!(
            c.scan_blocking_severities,
            Some(vec!["high".to_string(), "critical".to_string()])
        );
    }

    #[test]
    fn a_threshold_of_the_wrong_type_is_refused_by_name() {
        let e = parse_gate_config(r#"{"warden": {"gate_config": {"robust_eps": "0.1"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("warden.gate_config.robust_eps") && e.contains("string"),
            "{e}"
        );
        let e = parse_gate_config(r#"{"warden": {"gate_config": {"witnesses": "key"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("warden.gate_config.witnesses"), "{e}");
        let e = parse_gate_config(r#"{"warden": {"gate_config": {"levels": {"dev": -1}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("warden.gate_config.levels.dev"), "{e}");
        assert!(parse_gate_config("not json").is_err());
    }

    #[test]
    fn absent_keys_are_none_and_keys_of_a_custom_policy_are_kept_out() {
        let c = parse_gate_config(
            r#"{"warden": {"gate_config": {"min_approvals": 1, "my_rule": [1]}}}"#,
        )
        .unwrap();
        assert_eq!(c.min_approvals, Some(1));
        assert_eq!(c.robust_eps, None);
        assert_eq!(parse_gate_config("{}").unwrap(), GateConfig::default());
    }
}

#[cfg(test)]
mod evaluation_facts_tests {
    use super::*;
    use warden_ml::metrics::{AttackFigures, Figure};

    fn facts(loss: Figure, confidence: Figure) -> Figure {
        let attack = |auc: Figure| AttackFigures {
            attack: "a".into(),
            members: 100,
            non_members: 100,
            auc,
            advantage: Figure::Defined(0.0),
            tpr_at_1pct_fpr: Figure::Defined(0.0),
            tpr_at_0_1pct_fpr: Figure::undefined("few rows"),
        };
        worst_membership_auc(&crate::evaluation::evaluate::PrivacyRisk {
            split: "training split".into(),
            loss_threshold: attack(loss),
            confidence: attack(confidence),
        })
    }

    /// The gate reads the worse attack, as the report marks it: a model
    /// that leaks to the confidence attack is not let through on the
    /// loss-threshold attack's figure.
    #[test]
    fn membership_inference_is_the_worse_attack() {
        use Figure::Defined;
        assert_eq!(facts(Defined(0.52), Defined(0.71)), Defined(0.71));
        assert_eq!(facts(Defined(0.66), Defined(0.51)), Defined(0.66));
        let undefined = || Figure::undefined("one class");
        assert_eq!(facts(undefined(), Defined(0.61)), Defined(0.61));
        assert_eq!(facts(Defined(0.58), undefined()), Defined(0.58));
        assert_eq!(facts(undefined(), undefined()), undefined());
        assert_eq!(
            serde_json::to_value(facts(undefined(), undefined())).unwrap(),
            serde_json::json!({"undefined": "one class"})
        );
    }
}
