# Warden's bundled authorisation policy.
#
# Every command and API call asks `data.warden.authz.allow` with
#   input.actor   the actor's name
#   input.roles   the roles granted to the actor in this workspace
#   input.action  the action, e.g. "roles.grant" (see `warden --help` per command)
# and, to explain a denial, evaluates `allow` once per role listed in
# `data.warden.authz.roles`.
#
# To change who may do what, copy this file, edit it, and set
#   [policy]
#   authz = "path/to/authz.rego"
# in warden.toml. A replacement must keep the package name and define both
# `allow` and `roles`.
package warden.authz

# The roles this policy knows. `warden roles grant` accepts only these.
roles := {"admin", "data-engineer", "ml-engineer", "approver", "operator", "auditor", "predictor", "monitor"}

# Actions every role may perform: reading the registry, keys and the log.
read_actions := {
	"roles.list",
	"keys.list",
	"keys.export",
	"audit.read",
	"audit.verify",
	"audit.proof",
	"data.read",
	"model.read",
}

# What each role may do beyond reading. "x.*" matches every action under x.
role_actions := {
	"admin": {"*"},
	"data-engineer": {"data.*"},
	"ml-engineer": {"model.train", "model.import", "model.sign", "model.evaluate", "model.promote", "model.card", "scan.*"},
	"approver": {"model.approve", "keys.enrol"},
	"operator": {"model.promote", "model.rollback", "model.quarantine", "serve.*", "monitor.*", "apikey.*", "incident.open", "incident.close", "scan.*"},
	"auditor": {"audit.*"},
	"predictor": {"serve.predict"},
	# The server's monitor (actor warden-monitor): records windows and
	# carries out what the monitoring policy decides.
	"monitor": {"monitor.record", "model.rollback", "model.quarantine", "apikey.hold"},
}

default allow := false

allow if {
	some role in input.roles
	roles[role]
	read_actions[input.action]
}

allow if {
	some role in input.roles
	some pattern in role_actions[role]
	action_matches(pattern, input.action)
}

action_matches("*", _) := true

action_matches(pattern, action) if pattern == action

action_matches(pattern, action) if {
	endswith(pattern, ".*")
	startswith(action, trim_suffix(pattern, "*"))
}
