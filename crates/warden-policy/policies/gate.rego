# Warden's bundled promotion gates.
#
# `warden gate` and `warden promote` evaluate `data.warden.gate.deny` (a set
# of messages; empty = allowed) over the policy input document described in
# docs/policy-input.md (example: docs/policy-input.example.json). Thresholds
# live in the data document `data.warden.gate_config` (gate-data.json), not
# here and not in Rust. Environments are ordered by level: what dev asks,
# staging asks too, and so on.
#
# To change a gate, copy this file and/or gate-data.json, edit them, and name
# them in warden.toml:
#   [gates]
#   policy = "policies/gate.rego"
#   data = "policies/gate-data.json"
package warden.gate

cfg := data.warden.gate_config

level := cfg.levels[input.env]

# An environment the configuration gives no level is refused outright.
deny contains msg if {
	not cfg.levels[input.env]
	msg := sprintf("environment %v has no gate level in the gate configuration", [input.env])
}

# ---- dev ----------------------------------------------------------------

valid_signature if {
	some s in input.signatures
	s.valid
	s.trusted
}

deny contains "no valid signature by a trusted, unrevoked key: sign the package (warden train signs it with the pipeline key) and trust the signer's key" if {
	level >= 1
	not valid_signature
}

deny contains "the model is quarantined: it cannot be promoted until an admin releases it (warden release)" if {
	input.quarantined
}

scan_blocking contains f if {
	input.scan.scanned
	some f in input.scan.findings
	f.severity in cfg.scan_blocking_severities
}

deny contains msg if {
	level >= 1
	count(scan_blocking) > 0
	some f in scan_blocking
	msg := sprintf("the model files carry a %v scan finding (%v in %v: %v): rebuild the package from trusted code, or quarantine it", [f.severity, f.rule, f.file, f.message])
}

deny contains msg if {
	level >= 1
	input.scan.scanned
	input.scan.max_severity in cfg.scan_blocking_severities
	count(scan_blocking) == 0
	msg := sprintf("the latest scan found findings of severity %v (see its report %v)", [input.scan.max_severity, input.scan.report])
}

deny contains msg if {
	level >= 1
	input.scan.scanned
	input.scan.incomplete > 0
	msg := sprintf("%v file(s) of the package could not be scanned: an incomplete scan is not a clean one", [input.scan.incomplete])
}

deny contains "no scan of this model version is recorded: run warden scan MODEL@N --record" if {
	level >= cfg.scan_required_level
	not input.scan.scanned
}

# ---- evidence from other tools ------------------------------------------
# Reports of SAST, dependency (SCA), Dockerfile and container scanners bound
# to the version with `warden evidence add` (or a pipeline's evidence
# stage); input.evidence holds the latest report of each tool, its findings
# scored on the CVSS scale (see docs/policy-input.md). Thresholds default
# here so that an older gate-data file keeps working.

evidence_level := object.get(cfg, "evidence_level", 2)

evidence_max_score := object.get(cfg, "evidence_max_score", 7)

evidence_max_age_days := object.get(cfg, "evidence_max_age_days", 30)

evidence_required_kinds := object.get(cfg, "evidence_required_kinds", [])

evidence_required_level := object.get(cfg, "evidence_required_level", 3)

evidence_kinds contains e.kind if {
	some e in object.get(input, "evidence", [])
}

at_location(f) := sprintf(" at %v", [f.location]) if is_string(f.location)

at_location(f) := "" if not is_string(f.location)

deny contains msg if {
	level >= evidence_level
	some e in object.get(input, "evidence", [])
	some f in e.top
	f.score >= evidence_max_score
	msg := sprintf("%v (%v evidence %v) reports a %v finding, %v (score %v)%v: %v", [e.tool, e.kind, e.id, f.severity, f.rule, num(f.score), at_location(f), f.message])
}

deny contains msg if {
	level >= evidence_level
	some e in object.get(input, "evidence", [])
	e.age_seconds > evidence_max_age_days * 86400
	msg := sprintf("the %v evidence (%v) is %v days old (maximum %v): run %v again and record it with warden evidence add", [e.tool, e.kind, floor(e.age_seconds / 86400), evidence_max_age_days, e.tool])
}

deny contains msg if {
	level >= evidence_required_level
	some kind in evidence_required_kinds
	not evidence_kinds[kind]
	msg := sprintf("no %v evidence is recorded for this version: record a report with warden evidence add MODEL@N --kind %v --tool NAME --report FILE", [kind, kind])
}

# A model imported from elsewhere carries no record of how it was made
# unless a pipeline built it: with require_provenance, it must carry SLSA
# provenance that verifies with the key that signed the package.
deny contains "no verified SLSA provenance: build the model with warden pipeline run (a train stage with a command), or drop require_provenance" if {
	level >= 2
	object.get(cfg, "require_provenance", false)
	input.model.imported
	not input.provenance.verified
}

deny contains "the SLSA provenance says the model was built without a sandbox or with the network (--allow-unsandboxed): rebuild it where bubblewrap works, or drop require_provenance" if {
	level >= 2
	object.get(cfg, "require_provenance", false)
	input.provenance.verified
	not input.provenance.network_isolated
}

deny contains msg if {
	level >= 1
	input.provenance.present
	not input.provenance.verified
	msg := sprintf("the package's SLSA provenance does not verify: %v", [input.provenance.error])
}

# ---- staging ------------------------------------------------------------

deny contains msg if {
	level >= 2
	some d in input.datasets
	count(d.pii.unmasked) > 0
	msg := sprintf("dataset %v@%v leaves PII unmasked (%v): mask, pseudonymise or drop those columns at ingest (--pii-policy)", [d.name, d.version, concat(", ", d.pii.unmasked)])
}

deny contains msg if {
	level >= 2
	some d in input.datasets
	not d.screened
	msg := sprintf("dataset %v@%v was ingested without the poisoning screen: re-ingest it without --no-screen", [d.name, d.version])
}

deny contains msg if {
	level >= 2
	some d in input.datasets
	d.suspect_fraction > cfg.max_suspect_fraction
	msg := sprintf("dataset %v@%v has %v of its rows flagged as poisoning suspects (limit %v): review the suspects in its report and re-ingest clean data, or re-ingest with --drop-suspects to leave them out", [d.name, d.version, num(d.suspect_fraction), cfg.max_suspect_fraction])
}

# The screen's estimate of wrong labels (natural noise and poisoning
# together) must be within the dataset's own limit, set by its owner at
# ingest, or the gate's default. Heavy label flipping makes the labels hard
# to separate, so the screen lists no suspects; this estimate still sees it.
# The owner is the person who ingests, so their limit counts only up to the
# ceiling the gate's admins registered: alone, they cannot accept heavy noise.
label_noise_ceiling := cfg.max_label_noise_ceiling if is_number(cfg.max_label_noise_ceiling)

label_noise_ceiling := 1 if not is_number(cfg.max_label_noise_ceiling)

label_noise_limit(d) := min([d.label_noise.limit, label_noise_ceiling]) if is_number(d.label_noise.limit)

label_noise_limit(d) := cfg.max_label_noise if not is_number(d.label_noise.limit)

label_noise_capped(d) := sprintf(" (the owner's limit %v%% is above the ceiling %v%% registered in the gate data)", [pct(d.label_noise.limit), pct(label_noise_ceiling)]) if {
	is_number(d.label_noise.limit)
	d.label_noise.limit > label_noise_ceiling
}

label_noise_capped(d) := "" if {
	not is_number(d.label_noise.limit)
}

label_noise_capped(d) := "" if {
	is_number(d.label_noise.limit)
	d.label_noise.limit <= label_noise_ceiling
}

deny contains msg if {
	level >= 2
	some d in input.datasets
	is_object(d.label_noise)
	limit := label_noise_limit(d)
	d.label_noise.estimate > limit
	msg := sprintf("dataset %v@%v: the screen estimates %v%% of its labels are wrong (95%% interval %v–%v%%), above the limit %v%%%v; if the labels are noisy by nature its owner re-ingests it with --max-label-noise SHARE (up to the registered ceiling), otherwise look for flipped labels (the report lists the estimate per class)", [d.name, d.version, pct(d.label_noise.estimate), pct(d.label_noise.interval[0]), pct(d.label_noise.interval[1]), pct(limit), label_noise_capped(d)])
}

pct(x) := round(x * 1000) / 10

# A figure as a person reads it: four decimals, not 0.09410000000000007.
num(x) := round(x * 10000) / 10000

has_evaluation if is_object(input.evaluation)

deny contains "no evaluation of this model version is recorded: run warden eval MODEL@N --dataset NAME@V" if {
	level >= 2
	not has_evaluation
}

deny contains msg if {
	level >= 2
	drop := input.baseline.evaluation.metrics.accuracy - input.evaluation.metrics.accuracy
	drop > cfg.max_accuracy_drop
	msg := sprintf("accuracy %v is %v below the current %v model (version %v, %v); at most %v is allowed", [num(input.evaluation.metrics.accuracy), num(drop), input.env, input.baseline.version, num(input.baseline.evaluation.metrics.accuracy), cfg.max_accuracy_drop])
}

deny contains msg if {
	level >= 2
	some attr, f in input.evaluation.fairness
	not contains(attr, "&")
	is_number(f.demographic_parity_ratio)
	f.demographic_parity_ratio < cfg.min_demographic_parity_ratio
	msg := sprintf("demographic parity ratio on %v is %v (minimum %v): the selection rates of its groups differ too much", [attr, num(f.demographic_parity_ratio), cfg.min_demographic_parity_ratio])
}

deny contains msg if {
	level >= 2
	some attr, f in input.evaluation.fairness
	not contains(attr, "&")
	not is_number(f.demographic_parity_ratio)
	msg := sprintf("demographic parity ratio on %v is undefined (%v): the gate cannot check it", [attr, object.get(f.demographic_parity_ratio, "undefined", "no value")])
}

deny contains "the evaluation measured no sensitive attribute: evaluate with --sensitive COL (or declare them at ingest)" if {
	level >= 2
	has_evaluation
	count([a | some a, _ in input.evaluation.fairness; not contains(a, "&")]) == 0
}

# ---- production ---------------------------------------------------------

# A model imported from elsewhere has no gradients here: its robustness is
# measured by the decision-based attack the gate data names (HopSkipJump
# by default), at the same radius and minimum.
imported if input.model.imported

robust_attack := cfg.robust_attack if not imported

robust_attack := object.get(cfg, "robust_attack_black_box", "hsj") if imported

robust_attack_flag := "pgd" if robust_attack == "pgd_linf"

robust_attack_flag := robust_attack if robust_attack != "pgd_linf"

robust_at_eps contains r.robust_accuracy if {
	some r in input.evaluation.robustness[robust_attack]
	r.eps == cfg.robust_eps
}

deny contains msg if {
	level >= 3
	count(robust_at_eps) == 0
	msg := sprintf("no %v robust accuracy at eps %v is recorded: evaluate with --attack %v --eps %v", [robust_attack, cfg.robust_eps, robust_attack_flag, cfg.robust_eps])
}

deny contains msg if {
	level >= 3
	some a in robust_at_eps
	a < cfg.min_robust_accuracy
	msg := sprintf("%v robust accuracy at eps %v is %v (minimum %v): the model is too easy to evade", [robust_attack, cfg.robust_eps, num(a), cfg.min_robust_accuracy])
}

# An imported model evaluated with the black-box attacks also faces the
# cube attack (a random search on the corners of the L-infinity box, which
# tree ensembles do not hide from): where it was run, it holds the model to
# the same minimum.
cube_at_eps contains r.robust_accuracy if {
	imported
	some r in object.get(input.evaluation.robustness, "cube", [])
	r.eps == cfg.robust_eps
}

deny contains msg if {
	level >= 3
	some a in cube_at_eps
	a < cfg.min_robust_accuracy
	msg := sprintf("cube robust accuracy at eps %v is %v (minimum %v): a random search on the corners of the eps box evades the model", [cfg.robust_eps, num(a), cfg.min_robust_accuracy])
}

deny contains "no membership-inference result is recorded: import the model with --dataset NAME@V (the version it was trained on), then evaluate it on a held-out version" if {
	level >= 3
	imported
	not is_number(input.evaluation.privacy.membership_inference_auc)
}

deny contains "no membership-inference result is recorded: evaluate on the model's own training dataset" if {
	level >= 3
	not imported
	not is_number(input.evaluation.privacy.membership_inference_auc)
}

deny contains msg if {
	level >= 3
	auc := input.evaluation.privacy.membership_inference_auc
	auc > cfg.max_membership_inference_auc
	msg := sprintf("membership-inference AUC is %v (maximum %v): the model reveals who was in its training data; train with DP-SGD or regularise", [num(auc), cfg.max_membership_inference_auc])
}

deny contains msg if {
	level >= 3
	count(input.model_card.missing) > 0
	msg := sprintf("the model card is incomplete (missing: %v): write it with warden model card", [concat(", ", input.model_card.missing)])
}

# An approval counts when its signature is valid (an acknowledged approval
# key of the approver's own), and the approver is neither the author nor the
# one promoting. Two approvals need two approvers and two keys.
counted_approvals contains a if {
	some a in input.approvals
	a.valid
	a.distinct_from_author
	object.get(a, "distinct_from_promoter", true)
}

approvers contains a.approver if {
	some a in counted_approvals
}

approval_keys contains k if {
	some a in counted_approvals
	k := object.get(a, "key_id", a.approver)
}

approval_count := min({count(approvers), count(approval_keys)})

deny contains msg if {
	level >= 3
	approval_count < cfg.min_approvals
	msg := sprintf("%v valid approval(s) from distinct approvers with distinct keys, other than the author and the promoter; %v needed: warden approve MODEL@N --env %v --key KEY", [approval_count, cfg.min_approvals, input.env])
}

# Witnesses: with min_witnesses > 0, production needs that many distinct
# witnesses (named in `witnesses`, which Rust checked each cosignature
# against) to have cosigned a checkpoint consistent with the log within
# max_witness_age_seconds.
fresh_witnesses contains c.witness if {
	some c in input.log.cosignatures
	c.consistent
	c.age_seconds <= object.get(cfg, "max_witness_age_seconds", 86400)
}

deny contains msg if {
	level >= 3
	needed := object.get(cfg, "min_witnesses", 0)
	count(fresh_witnesses) < needed
	msg := sprintf("%v witness cosignature(s) newer than %vs; %v needed: a witness runs warden audit witness --key KEY --name NAME", [count(fresh_witnesses), object.get(cfg, "max_witness_age_seconds", 86400), needed])
}

# The audit log, re-verified for this decision (tree, checkpoints, remembered
# checkpoint, registry rows against events), must be sound for production.
deny contains msg if {
	level >= 3
	input.log.verified == false
	msg := sprintf("the audit log does not verify (%v): run warden audit verify", [concat("; ", input.log.problems)])
}
