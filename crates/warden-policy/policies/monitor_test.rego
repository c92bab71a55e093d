package warden.monitor_test

import data.warden.monitor

window(ds, pd, both) := {
	"kind": "window", "model": "credit", "version": 2, "env": "production",
	"window": {"rows": 500, "dataset_drift": ds, "prediction_drift": pd, "drifted_features": 6, "features": 10, "share": 0.6, "ood_share": 0.01},
	"history": {"consecutive_dataset_drift": both, "consecutive_both_drift": both},
}

signal(name, consecutive) := {
	"kind": "signal", "model": "credit", "version": 2, "env": "production",
	"signal": {"key": "scraper", "name": name, "value": 0.9, "threshold": 0.5, "consecutive": consecutive},
}

actions(d) := {x.action | some x in d}

test_quiet_window_decides_nothing if {
	count(monitor.decisions) == 0 with input as window(false, false, 0)
}

test_drift_alerts if {
	actions(monitor.decisions) == {"alert"} with input as window(true, false, 0)
}

test_persistent_drift_rolls_back if {
	"rollback" in actions(monitor.decisions) with input as window(true, true, 3)
}

test_two_windows_do_not_roll_back if {
	not "rollback" in actions(monitor.decisions) with input as window(true, true, 2)
}

test_extraction_blocks_once_persistent if {
	d := monitor.decisions with input as signal("extraction", 2)
	some x in d
	x.action == "block"
	x.key == "scraper"
}

test_first_extraction_window_only_alerts if {
	actions(monitor.decisions) == {"alert"} with input as signal("extraction", 1)
}

test_rate_spike_throttles if {
	"throttle" in actions(monitor.decisions) with input as signal("rate", 1)
}
