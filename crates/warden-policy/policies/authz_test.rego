package warden.authz_test

import data.warden.authz

req(roles, action) := {"actor": "t", "roles": roles, "action": action}

hand_out(roles, action, role) := {"actor": "t", "roles": roles, "action": action, "requested_role": role}

test_admin_may_do_anything if {
	authz.allow with input as req(["admin"], "anything.at.all")
}

test_no_role_may_do_nothing if {
	not authz.allow with input as req([], "audit.read")
}

test_people_read if {
	every role in authz.readers {
		authz.allow with input as req([role], "model.read")
	}
	authz.allow with input as req(["auditor"], "audit.read")
	authz.allow with input as req(["operator"], "audit.read")
}

test_predictor_only_predicts if {
	authz.allow with input as req(["predictor"], "serve.predict")
	every action in authz.read_actions {
		not authz.allow with input as req(["predictor"], action)
	}
	not authz.allow with input as req(["predictor"], "serve.metrics")
	not authz.allow with input as req(["predictor"], "model.promote")
	not authz.allow with input as hand_out(["predictor"], "apikey.create", "predictor")
}

test_monitor_acts_without_reading if {
	authz.allow with input as req(["monitor"], "monitor.record")
	authz.allow with input as req(["monitor"], "model.rollback")
	authz.allow with input as req(["monitor"], "model.quarantine")
	authz.allow with input as req(["monitor"], "apikey.hold")
	every action in authz.read_actions {
		not authz.allow with input as req(["monitor"], action)
	}
	not authz.allow with input as req(["monitor"], "model.promote")
	not authz.allow with input as hand_out(["monitor"], "apikey.create", "monitor")
}

test_admin_hands_out_every_role if {
	every role in authz.roles {
		authz.allow with input as hand_out(["admin"], "apikey.create", role)
		authz.allow with input as hand_out(["admin"], "roles.grant", role)
	}
}

test_operator_cannot_mint_a_stronger_key if {
	not authz.allow with input as hand_out(["operator"], "apikey.create", "admin")
	not authz.allow with input as hand_out(["operator"], "apikey.create", "auditor")
	not authz.allow with input as hand_out(["operator"], "apikey.create", "ml-engineer")
	not authz.allow with input as hand_out(["operator"], "apikey.create", "approver")
	not authz.allow with input as hand_out(["operator"], "apikey.create", "data-engineer")
}

test_operator_issues_keys_within_its_own_role if {
	authz.allow with input as hand_out(["operator"], "apikey.create", "operator")
	authz.allow with input as hand_out(["operator"], "apikey.create", "predictor")
	authz.allow with input as hand_out(["operator"], "apikey.create", "monitor")
}

test_delegation_needs_a_requested_role if {
	not authz.allow with input as req(["operator"], "apikey.create")
	not authz.allow with input as req(["admin"], "roles.grant")
	not authz.allow with input as hand_out(["admin"], "roles.grant", "superuser")
}

test_grant_needs_the_grant_permission_too if {
	# Holding a role is not permission to grant it.
	not authz.allow with input as hand_out(["auditor"], "roles.grant", "auditor")
	not authz.allow with input as hand_out(["ml-engineer"], "roles.grant", "predictor")
}

test_reads_are_handed_out_only_by_readers if {
	# A reader role gives reads: only an actor who reads may hand it out.
	not authz.reads_within_held("auditor") with input as {"roles": ["predictor", "monitor"]}
	authz.reads_within_held("auditor") with input as {"roles": ["operator"]}
	authz.reads_within_held("predictor") with input as {"roles": []}
}

test_wildcards_do_not_overreach if {
	not authz.allow with input as req(["data-engineer"], "database.drop")
	authz.pattern_covers("model.*", "model.train")
	authz.pattern_covers("*", "serve.*")
	not authz.pattern_covers("serve.predict", "serve.*")
	not authz.pattern_covers("serve.*", "*")
	not authz.pattern_covers("data.*", "database.drop")
}
