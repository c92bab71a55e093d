# Warden's bundled monitoring response policy.
#
# The server's monitor asks `data.warden.monitor.decisions` once per closed
# window and once per abuse signal, with
#   input.kind       "window" or "signal"
#   input.model, input.version, input.env
#   input.window     (kind "window") rows, dataset_drift, prediction_drift,
#                    drifted_features, features, share, ood_share
#   input.history    consecutive_dataset_drift: closed windows in a row
#                    (this one included) with dataset drift;
#                    consecutive_both_drift: with dataset and prediction drift
#   input.signal     (kind "signal") key, name ("rate", "near_duplicates",
#                    "boundary", "sweep", "extraction"), value, threshold,
#                    consecutive: windows in a row the signal has fired
# Each decision is {"action", "reason"} plus "key" for throttle and block.
# Actions: alert, throttle, block, rollback, quarantine. The server carries
# them out as the actor warden-monitor (role monitor), except while an
# operator has paused the model (`warden monitor pause MODEL`): then only
# alerts go out.
#
# To change the responses, copy this file, edit it, and name it in the
# serve config: [monitor] policy = "path/to/monitor.rego".
package warden.monitor

# Closed windows in a row with dataset and prediction drift before rolling back.
rollback_after := 3

# Windows in a row an extraction signal must fire before its key is blocked.
block_after := 2

# Share of out-of-distribution requests in a window that raises an alert.
ood_alert_share := 0.2

decisions contains {"action": "alert", "reason": sprintf("dataset drift: %d of %d features drifted", [input.window.drifted_features, input.window.features])} if {
	input.kind == "window"
	input.window.dataset_drift
}

decisions contains {"action": "alert", "reason": "prediction drift: the class mix moved"} if {
	input.kind == "window"
	input.window.prediction_drift
}

decisions contains {"action": "alert", "reason": sprintf("%v%% of requests were out of distribution", [round(input.window.ood_share * 100)])} if {
	input.kind == "window"
	input.window.ood_share >= ood_alert_share
}

decisions contains {"action": "rollback", "reason": sprintf("dataset and prediction drift for %d windows in a row", [input.history.consecutive_both_drift])} if {
	input.kind == "window"
	input.history.consecutive_both_drift >= rollback_after
}

decisions contains {"action": "alert", "reason": sprintf("%s signal from key %s (value %v, threshold %v)", [input.signal.name, input.signal.key, round(input.signal.value * 1000) / 1000, input.signal.threshold])} if {
	input.kind == "signal"
}

decisions contains {"action": "throttle", "key": input.signal.key, "reason": sprintf("request rate %v times the key's norm", [round(input.signal.value * 10) / 10])} if {
	input.kind == "signal"
	input.signal.name == "rate"
}

decisions contains {"action": "block", "key": input.signal.key, "reason": sprintf("model-extraction probing for %d windows in a row", [input.signal.consecutive])} if {
	input.kind == "signal"
	input.signal.name == "extraction"
	input.signal.consecutive >= block_after
}
