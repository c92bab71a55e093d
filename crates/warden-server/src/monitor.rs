//! The monitor thread: validated requests are handed here without waiting
//! (a bounded queue; when it is full the observation is dropped and
//! counted), sampled into per-model windows, tested against the package's
//! reference profile when a window closes, scored for out-of-distribution
//! inputs and per-key abuse; every result goes to metrics, the store and
//! the `data.warden.monitor` policy, whose decisions are carried out as
//! the actor `warden-monitor` unless an operator paused the model.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use warden::drift::{AbuseWatch, ModelWatch, Signal, WindowResult};
use warden::{OutcomeKind, Responder, Response, Workspace};
use warden_core::{ActorName, Timestamp};

use crate::config::MonitorSettings;
use crate::metrics::{ActionLabels, FeatureLabels, Metrics, NameLabels, SignalLabels};
use crate::state::{EventSink, Loaded, emit};

/// One validated request, as the route hands it over.
pub struct Observation {
    /// The model that answered, as the request's snapshot held it.
    pub model: Arc<Loaded>,
    /// The caller (API key name or `jwt:` subject).
    pub client: Arc<str>,
    /// The request's records, normalised and checked against the model's
    /// schema: one map of feature name to value per instance.
    pub records: Vec<Map<String, Value>>,
    /// Per record: the predicted class (None: abstained) and the top probability.
    pub predicted: Vec<(Option<usize>, f64)>,
}

/// The request side: never blocks.
#[derive(Clone)]
pub struct MonitorHandle {
    tx: SyncSender<Observation>,
    /// Requests the monitor still takes in this tenth of a second; the
    /// monitor thread refills it ten times a second.
    tokens: Arc<AtomicI64>,
}

impl MonitorHandle {
    /// Whether this request is to be observed (within the rate budget).
    /// Once the budget of the current tenth of a second is spent this is a
    /// plain load, so the serving cores do not contend on the counter.
    pub fn admit(&self) -> bool {
        self.tokens.load(Ordering::Relaxed) > 0 && self.tokens.fetch_sub(1, Ordering::Relaxed) > 0
    }

    /// Hands an observation over, or drops it when the queue is full.
    pub fn offer(&self, obs: Observation, metrics: &Metrics) {
        match self.tx.try_send(obs) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                metrics.monitor_dropped.inc();
            }
        }
    }
}

/// Everything the monitor thread owns.
struct Monitor {
    tokens: Arc<AtomicI64>,
    per_tick: i64,
    refilled: Instant,
    ws: Workspace,
    env: String,
    cfg: MonitorSettings,
    responder: Responder,
    shared: Arc<crate::Shared>,
    log: EventSink,
    webhook: Option<SyncSender<Value>>,
    models: HashMap<String, Watched>,
}

struct Watched {
    version: u64,
    features: Vec<String>,
    watch: Option<ModelWatch>,
    abuse: AbuseWatch,
    opened: Instant,
    opened_at: Timestamp,
    abuse_opened: Instant,
    consecutive_dataset: u32,
    consecutive_both: u32,
}

/// Starts the monitor thread (and the webhook sender, when configured).
pub fn start(
    ws_root: &std::path::Path,
    open_options: &warden::OpenOptions,
    env: &str,
    cfg: &MonitorSettings,
    shared: Arc<crate::Shared>,
    log: EventSink,
    stop: Arc<AtomicBool>,
) -> Result<(MonitorHandle, std::thread::JoinHandle<()>), crate::ServerError> {
    let actor = ActorName::new(warden::MONITOR_ACTOR)
        .map_err(|e| crate::ServerError::Config(e.to_string()))?;
    let ws = Workspace::open(ws_root, actor, open_options)?
        .with_roles(&[warden::MONITOR_ROLE.to_string()]);
    let responder = Responder::new(cfg.policy.as_deref(), cfg.throttle_rate)
        .map_err(|e| crate::ServerError::Config(format!("monitor policy: {e}")))?;
    let webhook = cfg.webhook_url.clone().map(|url| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Value>(1024);
        let attempts = cfg.webhook_attempts;
        let shared = shared.clone();
        let log = log.clone();
        let stop = stop.clone();
        let _ = std::thread::Builder::new()
            .name("warden-webhook".into())
            .spawn(move || webhook_loop(&url, attempts, rx, &shared.metrics, &log, &stop));
        tx
    });
    let (tx, rx) = std::sync::mpsc::sync_channel(cfg.queue);
    let per_tick = (cfg.max_requests_per_second / 10.0).ceil().max(1.0) as i64;
    let tokens = Arc::new(AtomicI64::new(per_tick));
    let mut m = Monitor {
        tokens: tokens.clone(),
        per_tick,
        refilled: Instant::now(),
        ws,
        env: env.to_string(),
        cfg: cfg.clone(),
        responder,
        shared,
        log,
        webhook,
        models: HashMap::new(),
    };
    let handle = std::thread::Builder::new()
        .name("warden-monitor".into())
        .spawn(move || m.run(rx, stop))?;
    Ok((MonitorHandle { tx, tokens }, handle))
}

impl Monitor {
    fn run(&mut self, rx: Receiver<Observation>, stop: Arc<AtomicBool>) {
        let tick = Duration::from_millis(100);
        loop {
            if self.refilled.elapsed() >= tick {
                self.tokens.store(self.per_tick, Ordering::Relaxed);
                self.refilled = Instant::now();
            }
            match rx.recv_timeout(tick) {
                Ok(obs) => self.observe(obs),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
            self.close_due();
        }
    }

    fn observe(&mut self, obs: Observation) {
        self.shared.metrics.monitor_observed.inc();
        let name = obs.model.model.name.clone();
        let version = obs.model.model.version;
        let cfg = &self.cfg;
        let w = self
            .models
            .entry(name.clone())
            .or_insert_with(|| new_watched(&obs.model, cfg));
        // A new version (promotion, rollback) starts afresh.
        if w.version != version {
            *w = new_watched(&obs.model, cfg);
        }
        let classes = obs.model.model.predictor.classes();
        let mut ood = 0u64;
        if let Some(watch) = &mut w.watch {
            for (r, (class, _)) in obs.records.iter().zip(&obs.predicted) {
                let c = class.and_then(|i| classes.get(i)).map(String::as_str);
                if watch.observe(r, c) {
                    ood += 1;
                }
            }
        }
        if ood > 0 {
            self.shared
                .metrics
                .ood_requests
                .get_or_create(&NameLabels {
                    model: name.clone(),
                })
                .inc_by(ood);
        }
        let features: Vec<&str> = w.features.iter().map(String::as_str).collect();
        let tops: Vec<f64> = obs.predicted.iter().map(|p| p.1).collect();
        w.abuse.observe(&obs.client, &features, &obs.records, &tops);
        if w.watch
            .as_ref()
            .is_some_and(|x| x.rows() >= self.cfg.window.max_rows)
        {
            self.close_window(&name);
        }
    }

    fn close_due(&mut self) {
        let names: Vec<String> = self.models.keys().cloned().collect();
        for name in names {
            let Some(w) = self.models.get(&name) else {
                continue;
            };
            let due = w.watch.as_ref().is_some_and(|x| {
                x.rows() >= self.cfg.window.min_rows
                    && w.opened.elapsed().as_secs_f64() >= self.cfg.window.max_seconds
            });
            if due {
                self.close_window(&name);
            }
            let abuse_due = self
                .models
                .get(&name)
                .is_some_and(|w| w.abuse_opened.elapsed() >= self.cfg.abuse_window);
            if abuse_due {
                self.close_abuse(&name);
            }
        }
    }

    fn close_window(&mut self, name: &str) {
        let Some(w) = self.models.get_mut(name) else {
            return;
        };
        let Some(watch) = &mut w.watch else { return };
        let result = watch.close(&self.cfg.thresholds);
        let opened_at = std::mem::replace(&mut w.opened_at, Timestamp::now());
        w.opened = Instant::now();
        let d = &result.drift;
        w.consecutive_dataset = if d.dataset_drift {
            w.consecutive_dataset + 1
        } else {
            0
        };
        w.consecutive_both = if d.dataset_drift && d.prediction_drift {
            w.consecutive_both + 1
        } else {
            0
        };
        let (version, cd, cb) = (w.version, w.consecutive_dataset, w.consecutive_both);
        self.export(name, &result);
        let report = json!({
            "rows": result.rows,
            "ood_share": result.ood_share,
            "drift": result.drift,
        });
        let id = match self.ws.monitor_record_window(&warden::WindowInput {
            model: name.to_string(),
            version,
            env: self.env.clone(),
            rows: result.rows as u64,
            dataset_drift: d.dataset_drift,
            prediction_drift: d.prediction_drift,
            drifted_features: d.drifted_features as u64,
            report,
            opened_at,
            closed_at: Timestamp::now(),
        }) {
            Ok(id) => Some(id),
            Err(e) => {
                emit(
                    &self.log,
                    json!({"event": "monitor.error", "model": name, "error": e.to_string()}),
                );
                None
            }
        };
        emit(
            &self.log,
            json!({
                "event": "monitor.window",
                "model": name,
                "version": version,
                "window": id,
                "rows": result.rows,
                "dataset_drift": d.dataset_drift,
                "prediction_drift": d.prediction_drift,
                "drifted_features": d.drifted_features,
                "share": d.share,
                "ood_share": result.ood_share,
                "consecutive_dataset_drift": cd,
                "consecutive_both_drift": cb,
            }),
        );
        let input = json!({
            "kind": "window",
            "model": name,
            "version": version,
            "env": self.env,
            "window": {
                "id": id,
                "rows": result.rows,
                "dataset_drift": d.dataset_drift,
                "prediction_drift": d.prediction_drift,
                "drifted_features": d.drifted_features,
                "features": d.features.len(),
                "share": d.share,
                "ood_share": result.ood_share,
            },
            "history": {"consecutive_dataset_drift": cd, "consecutive_both_drift": cb},
        });
        self.decide_and_act(name, version, &input);
    }

    fn export(&self, name: &str, r: &WindowResult) {
        let m = &self.shared.metrics;
        let l = NameLabels {
            model: name.to_string(),
        };
        m.monitor_windows.get_or_create(&l).inc();
        m.drift_share.get_or_create(&l).set(r.drift.share);
        m.dataset_drift
            .get_or_create(&l)
            .set(r.drift.dataset_drift as i64);
        m.prediction_drift
            .get_or_create(&l)
            .set(r.drift.prediction_drift as i64);
        m.ood_share.get_or_create(&l).set(r.ood_share);
        for f in r.drift.features.iter().chain(r.drift.prediction.iter()) {
            for t in &f.tests {
                m.feature_drift
                    .get_or_create(&FeatureLabels {
                        model: name.to_string(),
                        feature: f.feature.clone(),
                        test: t.test.clone(),
                    })
                    .set(t.value);
            }
        }
    }

    fn close_abuse(&mut self, name: &str) {
        let Some(w) = self.models.get_mut(name) else {
            return;
        };
        w.abuse_opened = Instant::now();
        let version = w.version;
        let (values, signals) = w.abuse.close();
        for v in &values {
            for (signal, value) in [
                ("rate", v.rate_ratio),
                ("near_duplicates", v.near_duplicates),
                ("boundary", v.boundary),
                ("sweep", v.sweep),
            ] {
                self.shared
                    .metrics
                    .abuse
                    .get_or_create(&SignalLabels {
                        key: v.key.clone(),
                        signal: signal.into(),
                    })
                    .set(value);
            }
        }
        for s in signals {
            self.signal(name, version, &s);
        }
    }

    fn signal(&mut self, name: &str, version: u64, s: &Signal) {
        self.shared
            .metrics
            .abuse_events
            .get_or_create(&SignalLabels {
                key: s.key.clone(),
                signal: s.name.into(),
            })
            .inc();
        let signal = json!({
            "key": s.key, "name": s.name, "value": s.value,
            "threshold": s.threshold, "consecutive": s.consecutive,
        });
        emit(
            &self.log,
            json!({"event": "monitor.signal", "model": name, "signal": signal}),
        );
        if let Err(e) = self.ws.monitor_record_signal(name, &self.env, &signal) {
            emit(
                &self.log,
                json!({"event": "monitor.error", "model": name, "error": e.to_string()}),
            );
        }
        let input = json!({
            "kind": "signal", "model": name, "version": version, "env": self.env,
            "signal": signal,
        });
        self.decide_and_act(name, version, &input);
    }

    fn decide_and_act(&mut self, name: &str, version: u64, input: &Value) {
        let responded = match self
            .responder
            .respond(&self.ws, &self.env, name, version, input)
        {
            Ok(r) => r,
            Err(e) => {
                emit(
                    &self.log,
                    json!({"event": "monitor.error", "model": name, "error": format!("monitor policy: {e}")}),
                );
                return;
            }
        };
        for d in responded {
            if d.kind == OutcomeKind::Done
                && Response::moves_named(&d.action)
                && let Some(w) = self.models.get_mut(name)
            {
                w.consecutive_both = 0;
                w.consecutive_dataset = 0;
            }
            self.shared
                .metrics
                .monitor_actions
                .get_or_create(&ActionLabels {
                    action: d.action.clone(),
                    outcome: d.kind.as_str().into(),
                })
                .inc();
            let event = json!({
                "event": "monitor.action",
                "at": Timestamp::now().as_str(),
                "model": name,
                "version": version,
                "env": self.env,
                "action": d.action,
                "key": d.key,
                "reason": d.reason,
                "outcome": d.outcome,
            });
            emit(&self.log, event.clone());
            if d.is_alert()
                && let Some(tx) = &self.webhook
                && tx.try_send(event).is_err()
            {
                self.shared.metrics.webhook_failures.inc();
            }
        }
    }
}

fn new_watched(m: &Loaded, cfg: &MonitorSettings) -> Watched {
    let features = m
        .model
        .predictor
        .inputs()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    Watched {
        version: m.model.version,
        features,
        watch: m
            .model
            .profile
            .as_ref()
            .map(|p| ModelWatch::new(p, cfg.ood_level)),
        abuse: AbuseWatch::new(cfg.abuse.clone()),
        opened: Instant::now(),
        opened_at: Timestamp::now(),
        abuse_opened: Instant::now(),
        consecutive_dataset: 0,
        consecutive_both: 0,
    }
}

/// Delivers alerts: JSON POST, retried with exponential backoff (0.5 s,
/// 1 s, 2 s, …) up to `attempts` times; never touches the request path.
fn webhook_loop(
    url: &str,
    attempts: u32,
    rx: Receiver<Value>,
    metrics: &Metrics,
    log: &EventSink,
    stop: &AtomicBool,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    while let Ok(alert) = rx.recv() {
        let body = alert.to_string();
        let mut delay = Duration::from_millis(500);
        let mut delivered = false;
        for attempt in 1..=attempts {
            let status = agent
                .post(url)
                .header("content-type", "application/json")
                .send(body.as_bytes())
                .map(|r| r.status().as_u16());
            match status {
                Ok(s) if (200..300).contains(&s) => {
                    delivered = true;
                    break;
                }
                other => {
                    let why = match other {
                        Ok(s) => format!("status {s}"),
                        Err(e) => e.to_string(),
                    };
                    emit(
                        log,
                        json!({"event": "webhook.retry", "attempt": attempt, "error": why}),
                    );
                }
            }
            if attempt < attempts && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(delay);
                delay *= 2;
            }
        }
        if delivered {
            emit(
                log,
                json!({"event": "webhook.delivered", "action": alert["action"], "model": alert["model"]}),
            );
        } else {
            metrics.webhook_failures.inc();
            emit(
                log,
                json!({"event": "webhook.failed", "action": alert["action"], "model": alert["model"]}),
            );
        }
    }
}
