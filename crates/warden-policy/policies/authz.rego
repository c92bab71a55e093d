# Warden's bundled authorisation policy.
#
# Every command and API call asks `data.warden.authz.allow` with
#   input.actor   the actor's name
#   input.roles   the roles granted to the actor in this workspace (or the
#                 roles its API key or token carries)
#   input.action  the action, e.g. "roles.grant" (see `warden --help` per command)
# and, for the actions that hand a role to someone (`roles.grant`,
# `apikey.create`),
#   input.requested_role  the role being granted or given to the key.
# To explain a denial it evaluates `allow` once per role listed in
# `data.warden.authz.roles`, with the same facts.
#
# To change who may do what, copy this file, edit it, and set
#   [policy]
#   authz = "path/to/authz.rego"
# in warden.toml. A replacement must keep the package name and define both
# `allow` and `roles`.
package warden.authz

# The roles this policy knows. `warden roles grant` accepts only these.
roles := {"admin", "data-engineer", "ml-engineer", "approver", "operator", "auditor", "predictor", "monitor"}

# Every action this policy decides: the engine's `Action` enum, name for
# name (a test in warden-policy checks both directions). A replacement
# policy need not define it.
actions := {
	"apikey.create", "apikey.hold", "apikey.list", "apikey.revoke", "apikey.unblock",
	"audit.proof", "audit.read", "audit.verify",
	"data.ingest", "data.read",
	"evidence.add",
	"incident.close", "incident.open",
	"keys.acknowledge", "keys.enrol", "keys.export", "keys.generate", "keys.list", "keys.revoke", "keys.trust",
	"model.approve", "model.card", "model.evaluate", "model.import", "model.promote", "model.quarantine",
	"model.read", "model.release", "model.rollback", "model.sign", "model.train",
	"monitor.pause", "monitor.record", "monitor.resume",
	"pipeline.run",
	"policy.register", "policy.status",
	"roles.grant", "roles.list", "roles.revoke",
	"scan.record",
	"serve.metrics", "serve.predict", "serve.run",
	"token.create", "token.list", "token.revoke",
	"workspace.migrate",
}

# The roles of people (and of keys acting for people). Each may read the
# registry, the keys and the log. The two service roles are not here: a
# `predictor` key calls its models' inference endpoints and nothing else,
# and `monitor` (the server's own monitor) records and acts without reading.
readers := roles - {"predictor", "monitor"}

# What a reader may read.
read_actions := {
	"roles.list",
	"keys.list",
	"keys.export",
	"audit.read",
	"audit.verify",
	"audit.proof",
	"data.read",
	"model.read",
	"policy.status",
	# A person's own personal access tokens (the engine lets each one act
	# only on their own, and a token never carries a role its owner lacks).
	"token.create",
	"token.list",
	"token.revoke",
}

# What each role may do beyond reading. "x.*" matches every action under x.
role_actions := {
	"admin": {"*"},
	"data-engineer": {"data.*"},
	"ml-engineer": {"model.train", "model.import", "model.sign", "model.evaluate", "model.promote", "model.card", "scan.*", "evidence.*", "pipeline.*"},
	"approver": {"model.approve", "keys.enrol"},
	"operator": {"model.promote", "model.rollback", "model.quarantine", "serve.*", "monitor.*", "apikey.*", "incident.open", "incident.close", "scan.*", "evidence.*"},
	"auditor": {"audit.*"},
	"predictor": {"serve.predict"},
	# The server's monitor (actor warden-monitor): records windows and
	# carries out what the monitoring policy decides.
	"monitor": {"monitor.record", "model.rollback", "model.quarantine", "apikey.hold"},
}

# Actions that hand `input.requested_role` to someone: a grant to an actor,
# or an API key that carries the role.
delegating_actions := {"roles.grant", "apikey.create"}

default allow := false

allow if {
	permitted
	not delegating_actions[input.action]
}

# No one hands out more than they hold: the requested role must be one of
# the actor's own, or every permission it gives must already be the
# actor's. An admin holds everything; an operator may issue `predictor`
# keys (serve.predict is within serve.*) but not `admin` or `auditor` ones.
# A delegating action without a requested role is refused.
allow if {
	permitted
	delegating_actions[input.action]
	within_held(input.requested_role)
}

# The actor's roles allow the action itself.
permitted if {
	some role in input.roles
	readers[role]
	read_actions[input.action]
}

permitted if {
	some role in input.roles
	some pattern in role_actions[role]
	action_matches(pattern, input.action)
}

within_held(requested) if {
	roles[requested]
	requested in input.roles
}

within_held(requested) if {
	roles[requested]
	patterns := role_actions[requested]
	every pattern in patterns {
		held_covers(pattern)
	}
	reads_within_held(requested)
}

# Some role the actor holds allows everything `pattern` matches.
held_covers(pattern) if {
	some role in input.roles
	roles[role]
	some own in role_actions[role]
	pattern_covers(own, pattern)
}

reads_within_held(requested) if not readers[requested]

reads_within_held(requested) if {
	readers[requested]
	some role in input.roles
	readers[role]
}

action_matches("*", _) := true

action_matches(pattern, action) if pattern == action

action_matches(pattern, action) if {
	endswith(pattern, ".*")
	startswith(action, trim_suffix(pattern, "*"))
}

# Whether pattern `own` matches every action pattern `other` matches.
pattern_covers("*", _) := true

pattern_covers(own, other) if own == other

pattern_covers(own, other) if {
	endswith(own, ".*")
	other != "*"
	startswith(other, trim_suffix(own, "*"))
}
