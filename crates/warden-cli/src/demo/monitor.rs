//! The demo's monitoring step: a model served on 127.0.0.1 receives
//! ordinary applicants, then shifted ones (`warden example credit
//! --shift`); the server's monitor detects the drift and rolls the
//! environment back by policy. Returns the timeline it observed.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use warden::table::{CsvOptions, read_csv};
use warden::{OpenOptions, Workspace};
use warden_core::{ActorName, VersionRef};
use warden_server::config::{MonitorSettings, ServeConfig};

use crate::exit;
use crate::output::Failure;

/// One line of the timeline: seconds since the server started, and what happened.
pub struct Moment {
    pub at: f64,
    pub what: String,
}

/// What the step saw.
pub struct Outcome {
    pub timeline: Vec<Moment>,
    pub windows: usize,
    pub rolled_back_to: Option<u64>,
    /// Applicants refused by input validation (unknown note text, values
    /// beyond the training range).
    pub refused: usize,
}

fn fail(m: impl std::fmt::Display) -> Failure {
    Failure::new(exit::ERROR, format!("monitoring demo: {m}"))
}

/// Applicants as records holding exactly the model's inputs.
fn applicants(
    seed: u64,
    rows: usize,
    shift: bool,
    inputs: &[String],
) -> Result<Vec<Map<String, Value>>, Failure> {
    let opts = warden::table::CreditOptions {
        rows,
        seed,
        shift,
        ..Default::default()
    };
    let mut bytes = Vec::new();
    warden::table::generate_credit(&opts, &mut bytes).map_err(fail)?;
    let (t, _) = read_csv(&mut bytes.as_slice(), &CsvOptions::default()).map_err(fail)?;
    let mut out = Vec::with_capacity(t.rows);
    for r in 0..t.rows {
        let mut m = Map::new();
        for name in inputs {
            let col = t
                .column(name)
                .ok_or_else(|| fail(format!("no column {name}")))?;
            let v = if col.data.column_type().is_numeric() {
                col.data.number(r).map_or(Value::Null, |x| json!(x))
            } else {
                col.data.text(r).map_or(Value::Null, Value::String)
            };
            m.insert(name.clone(), v);
        }
        out.push(m);
    }
    Ok(out)
}

/// Serves `env` (which must hold `model` with an earlier version before
/// it), sends ordinary then shifted traffic, and waits for the monitor.
pub fn run(
    dir: &Path,
    opts: &OpenOptions,
    env: &str,
    model: &VersionRef,
) -> Result<Outcome, Failure> {
    let omar = Workspace::open(dir, ActorName::new("omar").map_err(fail)?, opts)?;
    let key = omar.apikey_create("demo-traffic", "predictor", None, Some(100_000.0))?;
    let inputs: Vec<String> = omar
        .load_model(model)?
        .predictor
        .inputs()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    let ordinary = applicants(21, 600, false, &inputs)?;
    let shifted = applicants(22, 2000, true, &inputs)?;

    let mut cfg = ServeConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        env: env.to_string(),
        reload_interval: Duration::from_millis(200),
        ..ServeConfig::default()
    };
    cfg.monitor = MonitorSettings {
        abuse_window: Duration::from_secs(2),
        ..MonitorSettings::default()
    };
    // Observe every request (the default budget samples beyond 1,000/s,
    // which this loop can exceed).
    cfg.monitor.max_requests_per_second = 1e9;
    cfg.monitor.window.max_rows = 200;
    cfg.monitor.window.min_rows = 20;
    cfg.monitor.window.max_seconds = 2.0;
    // Four of the nine inputs move under this shift (income, loan amount,
    // credit score, debt ratio): the dataset counts as drifted from a
    // third of its features (Evidently's default share, 0.5, would wait
    // for a fifth).
    cfg.monitor.thresholds.drift_share = 0.3;
    // …and it lowers the approval rate by about ten points, a Jensen–Shannon
    // distance near 0.08: alert from 0.05 rather than the default 0.1.
    cfg.monitor.thresholds.prediction_effect = 0.05;
    // The shifted applicants reach beyond the training range; let them
    // through (50% of the range beyond each end instead of 10%) so the
    // monitor sees them rather than input validation refusing them.
    cfg.validation.range_tolerance = 0.5;

    let start = Instant::now();
    let events: Arc<Mutex<Vec<(f64, ServerEvent)>>> = Arc::new(Mutex::new(Vec::new()));
    let sink: warden_server::state::EventSink = {
        let events = events.clone();
        Arc::new(move |line: String| {
            if let Ok(v) = serde_json::from_str::<ServerEvent>(&line)
                && v != ServerEvent::Other
            {
                let at = start.elapsed().as_secs_f64();
                if let Ok(mut e) = events.lock() {
                    e.push((at, v));
                }
            }
        })
    };
    let server_ws = Workspace::open(dir, ActorName::new("omar").map_err(fail)?, opts)?;
    let server = super::InProcess::start(server_ws, opts, cfg, sink).map_err(fail)?;
    let addr = server.addr;
    let url = format!("http://{addr}/v1/models/{}:predict", model.name);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {}", key.key.as_str());
    let mut refused = 0;
    let mut rolled_back_to = None;
    let original = model
        .version
        .ok_or_else(|| fail("the served model needs a version"))?;
    let mut send = |batch: &[Map<String, Value>]| -> Result<Option<u64>, Failure> {
        let body = json!({"instances": batch}).to_string();
        let mut r = agent
            .post(&url)
            .header("authorization", &auth)
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .map_err(fail)?;
        let status = r.status().as_u16();
        let answer: Option<Served> = r
            .body_mut()
            .read_to_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        if status != 200 {
            refused += batch.len();
            return Ok(None);
        }
        Ok(answer.map(|a| a.version))
    };
    // One applicant per request, as a scoring client sends them.
    for batch in ordinary.chunks(1) {
        send(batch)?;
    }
    for batch in shifted.chunks(1) {
        if let Some(v) = send(batch)?
            && v != original
        {
            rolled_back_to = Some(v);
            break;
        }
    }
    // The rollback may land just after the last request: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while rolled_back_to.is_none() && Instant::now() < deadline {
        let seen = events
            .lock()
            .map(|e| {
                e.iter().any(
                    |(_, v)| matches!(v, ServerEvent::Action { action, .. } if action == "rollback"),
                )
            })
            .unwrap_or(false);
        if seen {
            std::thread::sleep(Duration::from_millis(600));
            rolled_back_to = send(&shifted[..1])?.filter(|v| *v != original);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop().map_err(fail)?;

    let events = events.lock().map(|e| e.clone()).unwrap_or_default();
    let mut timeline = Vec::new();
    let mut windows = 0;
    for (at, v) in &events {
        let what = match v {
            ServerEvent::Loaded { model, version } => format!("serving {model}@{version}"),
            ServerEvent::Window {
                rows,
                drifted_features,
                dataset_drift,
                prediction_drift,
            } => {
                windows += 1;
                format!(
                    "window {}: {} rows, {} feature(s) drifted{}{}",
                    windows,
                    rows,
                    drifted_features,
                    if *dataset_drift {
                        ", DATASET DRIFT"
                    } else {
                        ""
                    },
                    if *prediction_drift {
                        ", PREDICTION DRIFT"
                    } else {
                        ""
                    },
                )
            }
            ServerEvent::Action {
                action,
                reason,
                outcome,
            } => format!(
                "{action} ({}): {}",
                reason.as_deref().unwrap_or(""),
                outcome.as_deref().unwrap_or("")
            ),
            ServerEvent::Other => continue,
        };
        timeline.push(Moment { at: *at, what });
    }
    Ok(Outcome {
        timeline,
        windows,
        rolled_back_to,
        refused,
    })
}

/// The lines of the server's event log the demo shows (the server's
/// `event` names); every other line is `Other`.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(tag = "event")]
enum ServerEvent {
    /// A package was loaded for serving.
    #[serde(rename = "model.loaded")]
    Loaded { model: String, version: u64 },
    /// A monitoring window closed.
    #[serde(rename = "monitor.window")]
    Window {
        rows: u64,
        drifted_features: u64,
        dataset_drift: bool,
        prediction_drift: bool,
    },
    /// The monitor acted.
    #[serde(rename = "monitor.action")]
    Action {
        action: String,
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        outcome: Option<String>,
    },
    /// Any other line.
    #[serde(other)]
    Other,
}

/// The part of a prediction's answer the demo reads: which version served it.
#[derive(serde::Deserialize)]
struct Served {
    version: u64,
}
