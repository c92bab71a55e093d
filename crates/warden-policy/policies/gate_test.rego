# Tests of the bundled gates (`warden policy test` runs every test_ rule).
package warden.gate_test

good := {
	"env": "production",
	"quarantined": false,
	"signatures": [{"valid": true, "trusted": true}],
	"datasets": [{"name": "d", "version": 1, "pii": {"unmasked": []}, "screened": true, "suspect_fraction": 0}],
	"evaluation": {
		"metrics": {"accuracy": 0.9},
		"fairness": {"sex": {"demographic_parity_ratio": 0.95}},
		"robustness": {"pgd_linf": [{"eps": 0.1, "robust_accuracy": 0.8}]},
		"privacy": {"membership_inference_auc": 0.5},
	},
	"baseline": null,
	"approvals": [
		{"approver": "a", "valid": true, "distinct_from_author": true},
		{"approver": "b", "valid": true, "distinct_from_author": true},
	],
	"model_card": {"missing": []},
	"scan": {"scanned": true, "max_severity": "none", "findings": [], "incomplete": 0, "report": "sha256:00"},
}

test_a_complete_model_passes_production if {
	count(data.warden.gate.deny) == 0 with input as good
}

test_an_imported_model_passes_production_on_the_black_box_attack if {
	imported := object.union(object.remove(good, ["evaluation"]), {
		"model": {"kind": "onnx", "imported": true},
		"evaluation": object.union(object.remove(good.evaluation, ["robustness"]), {"robustness": {"hsj": [{"eps": 0.1, "robust_accuracy": 0.7}]}}),
	})
	count(data.warden.gate.deny) == 0 with input as imported
}

test_an_imported_model_evaded_by_the_cube_attack_fails_production if {
	imported := object.union(object.remove(good, ["evaluation"]), {
		"model": {"kind": "onnx", "imported": true},
		"evaluation": object.union(object.remove(good.evaluation, ["robustness"]), {"robustness": {
			"hsj": [{"eps": 0.1, "robust_accuracy": 0.7}],
			"cube": [{"eps": 0.1, "robust_accuracy": 0.2}],
		}}),
	})
	msgs := data.warden.gate.deny with input as imported
	count(msgs) == 1
	some m in msgs
	contains(m, "cube robust accuracy at eps 0.1 is 0.2")
}

test_the_cube_attack_holding_passes_production if {
	imported := object.union(object.remove(good, ["evaluation"]), {
		"model": {"kind": "onnx", "imported": true},
		"evaluation": object.union(object.remove(good.evaluation, ["robustness"]), {"robustness": {
			"hsj": [{"eps": 0.1, "robust_accuracy": 0.7}],
			"cube": [{"eps": 0.1, "robust_accuracy": 0.65}],
		}}),
	})
	count(data.warden.gate.deny) == 0 with input as imported
}

test_an_imported_model_is_told_which_evidence_it_lacks if {
	imported := object.union(object.remove(good, ["evaluation"]), {
		"model": {"kind": "onnx", "imported": true},
		"evaluation": {"metrics": {"accuracy": 0.9}, "fairness": {"sex": {"demographic_parity_ratio": 0.95}}, "robustness": {}, "privacy": {}},
	})
	msgs := data.warden.gate.deny with input as imported
	count(msgs) == 2
	some r in msgs
	contains(r, "--attack hsj --eps 0.1")
	some p in msgs
	contains(p, "import the model with --dataset NAME@V")
}

test_an_unsigned_model_fails_dev if {
	count(data.warden.gate.deny) == 1 with input as object.union(good, {"env": "dev", "signatures": []})
}

test_unmasked_pii_fails_staging if {
	bad := object.union(good, {"env": "staging", "datasets": [{"name": "d", "version": 1, "pii": {"unmasked": ["email"]}, "screened": true, "suspect_fraction": 0}]})
	count(data.warden.gate.deny) == 1 with input as bad
}

noisy(estimate, limit) := [{
	"name": "d", "version": 1, "pii": {"unmasked": []}, "screened": true, "suspect_fraction": 0,
	"label_noise": {"estimate": estimate, "interval": [estimate - 0.01, estimate + 0.01], "out_of_fold_auc": 0.8, "limit": limit},
}]

test_heavy_label_noise_fails_staging_even_with_no_suspects if {
	bad := object.union(good, {"env": "staging", "datasets": noisy(0.2, null)})
	msgs := data.warden.gate.deny with input as bad
	count(msgs) == 1
	some m in msgs
	contains(m, "20% of its labels")
}

test_an_owner_limit_above_the_estimate_passes if {
	ok := object.union(good, {"env": "staging", "datasets": noisy(0.11, 0.15)})
	count(data.warden.gate.deny) == 0 with input as ok
}

test_an_owner_limit_below_the_estimate_fails if {
	bad := object.union(good, {"env": "staging", "datasets": noisy(0.05, 0.02)})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_an_owner_limit_above_the_ceiling_counts_only_up_to_it if {
	bad := object.union(good, {"env": "staging", "datasets": noisy(0.2, 0.3)})
	msgs := data.warden.gate.deny with input as bad
	count(msgs) == 1
	some m in msgs
	contains(m, "above the limit 15%")
	contains(m, "the owner's limit 30% is above the ceiling 15%")
}

test_label_noise_does_not_block_dev if {
	ok := object.union(good, {"env": "dev", "datasets": noisy(0.3, null)})
	count(data.warden.gate.deny) == 0 with input as ok
}

test_one_approval_fails_production if {
	bad := object.union(good, {"approvals": [{"approver": "a", "valid": true, "distinct_from_author": true}]})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_two_approvers_sharing_one_key_fail_production if {
	bad := object.union(good, {"approvals": [
		{"approver": "a", "key_id": "k1", "valid": true, "distinct_from_author": true, "distinct_from_promoter": true},
		{"approver": "b", "key_id": "k1", "valid": true, "distinct_from_author": true, "distinct_from_promoter": true},
	]})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_the_promoters_own_approval_does_not_count if {
	bad := object.union(good, {"approvals": [
		{"approver": "a", "key_id": "k1", "valid": true, "distinct_from_author": true, "distinct_from_promoter": false},
		{"approver": "b", "key_id": "k2", "valid": true, "distinct_from_author": true, "distinct_from_promoter": true},
	]})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_two_approvers_with_their_own_keys_pass if {
	ok := object.union(good, {"approvals": [
		{"approver": "a", "key_id": "k1", "valid": true, "distinct_from_author": true, "distinct_from_promoter": true},
		{"approver": "b", "key_id": "k2", "valid": true, "distinct_from_author": true, "distinct_from_promoter": true},
	]})
	count(data.warden.gate.deny) == 0 with input as ok
}

test_a_critical_scan_finding_fails_dev if {
	f := {"file": "credit@1/model.json", "rule": "pickle.code-execution", "severity": "critical", "message": "imports os.system"}
	bad := object.union(good, {"env": "dev", "scan": {"scanned": true, "max_severity": "critical", "findings": [f], "incomplete": 0, "report": "sha256:00"}})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_a_medium_scan_finding_passes if {
	f := {"file": "m/x", "rule": "npy.object-dtype", "severity": "medium", "message": "object array"}
	ok := object.union(good, {"scan": {"scanned": true, "max_severity": "medium", "findings": [f], "incomplete": 0, "report": "sha256:00"}})
	count(data.warden.gate.deny) == 0 with input as ok
}

test_an_incomplete_scan_fails if {
	bad := object.union(good, {"env": "dev", "scan": {"scanned": true, "max_severity": "none", "findings": [], "incomplete": 2, "report": "sha256:00"}})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_production_needs_a_scan if {
	bad := object.union(good, {"scan": {"scanned": false, "max_severity": "none", "findings": []}})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_dev_does_not_need_a_scan if {
	ok := object.union(good, {"env": "dev", "scan": {"scanned": false, "max_severity": "none", "findings": []}})
	count(data.warden.gate.deny) == 0 with input as ok
}

test_production_needs_fresh_consistent_witnesses_when_configured if {
	cfg := object.union(data.warden.gate_config, {"min_witnesses": 1, "max_witness_age_seconds": 60})
	fresh := object.union(good, {"log": {"size": 10, "cosignatures": [{"witness": "w1", "size": 10, "age_seconds": 5, "consistent": true}]}})
	stale := object.union(good, {"log": {"size": 10, "cosignatures": [{"witness": "w1", "size": 10, "age_seconds": 600, "consistent": true}]}})
	forked := object.union(good, {"log": {"size": 10, "cosignatures": [{"witness": "w1", "size": 10, "age_seconds": 5, "consistent": false}]}})
	count(data.warden.gate.deny) == 0 with input as fresh with data.warden.gate_config as cfg
	count(data.warden.gate.deny) == 1 with input as stale with data.warden.gate_config as cfg
	count(data.warden.gate.deny) == 1 with input as forked with data.warden.gate_config as cfg
	count(data.warden.gate.deny) == 1 with input as good with data.warden.gate_config as cfg
}

test_production_needs_a_log_that_verifies if {
	bad := object.union(good, {"log": {"size": 3, "verified": false, "problems": ["event 1: leaf hash does not match the event"], "cosignatures": []}})
	count(data.warden.gate.deny) == 1 with input as bad
	ok := object.union(good, {"log": {"size": 3, "verified": true, "problems": [], "cosignatures": []}})
	count(data.warden.gate.deny) == 0 with input as ok
}

# ---- evidence from other tools and build provenance ----------------------

sast(score, age) := [{
	"id": 1, "tool": "bandit", "kind": "sast", "age_seconds": age, "findings": 1, "max_score": score,
	"top": [{"rule": "B602", "severity": "high", "score": score, "message": "shell=True", "location": "train.py:7"}],
}]

test_a_high_scoring_finding_denies_from_staging if {
	msgs := data.warden.gate.deny with input as object.union(good, {"env": "staging", "evidence": sast(8.1, 60)})
	count(msgs) == 1
	some m in msgs
	contains(m, "bandit")
	contains(m, "B602")
	contains(m, "train.py:7")
	count(data.warden.gate.deny) == 0 with input as object.union(good, {"env": "dev", "evidence": sast(8.1, 60)})
	count(data.warden.gate.deny) == 0 with input as object.union(good, {"env": "staging", "evidence": sast(6.9, 60)})
}

test_stale_evidence_denies if {
	msgs := data.warden.gate.deny with input as object.union(good, {"env": "staging", "evidence": sast(1, 31 * 86400)})
	count(msgs) == 1
	some m in msgs
	contains(m, "31 days old")
}

test_required_evidence_kinds_are_asked_for_at_production if {
	cfg := object.union(data.warden.gate_config, {"evidence_required_kinds": ["sast", "sca"]})
	msgs := data.warden.gate.deny with input as object.union(good, {"evidence": sast(1, 60)}) with data.warden.gate_config as cfg
	count(msgs) == 1
	some m in msgs
	contains(m, "no sca evidence")
}

test_provenance_that_does_not_verify_denies_everywhere if {
	bad := object.union(good, {"env": "dev", "provenance": {"present": true, "verified": false, "error": "no signature verifies"}})
	msgs := data.warden.gate.deny with input as bad
	count(msgs) == 1
	some m in msgs
	contains(m, "no signature verifies")
}

test_required_provenance_is_asked_of_imported_models if {
	cfg := object.union(data.warden.gate_config, {"require_provenance": true})
	imported := object.union(good, {"env": "staging", "model": {"kind": "onnx", "imported": true}, "provenance": {"present": false, "verified": false}})
	msgs := data.warden.gate.deny with input as imported with data.warden.gate_config as cfg
	count(msgs) == 1
	built := object.union(imported, {"provenance": {"present": true, "verified": true, "network_isolated": true}})
	count(data.warden.gate.deny) == 0 with input as built with data.warden.gate_config as cfg
	unsandboxed := object.union(imported, {"provenance": {"present": true, "verified": true, "network_isolated": false, "sandbox": "none"}})
	count(data.warden.gate.deny) == 1 with input as unsandboxed with data.warden.gate_config as cfg
	count(data.warden.gate.deny) == 0 with input as imported
}
