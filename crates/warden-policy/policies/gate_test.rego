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
}

test_a_complete_model_passes_production if {
	count(data.warden.gate.deny) == 0 with input as good
}

test_an_unsigned_model_fails_dev if {
	count(data.warden.gate.deny) == 1 with input as object.union(good, {"env": "dev", "signatures": []})
}

test_unmasked_pii_fails_staging if {
	bad := object.union(good, {"env": "staging", "datasets": [{"name": "d", "version": 1, "pii": {"unmasked": ["email"]}, "screened": true, "suspect_fraction": 0}]})
	count(data.warden.gate.deny) == 1 with input as bad
}

test_one_approval_fails_production if {
	bad := object.union(good, {"approvals": [{"approver": "a", "valid": true, "distinct_from_author": true}]})
	count(data.warden.gate.deny) == 1 with input as bad
}
