//! The state monitoring changes: closed windows of served traffic, the
//! operator's pause switch, and blocks and throttles on API keys. Each
//! change is written with its audit event in one transaction; the server's
//! monitor calls these as the actor [`MONITOR_ACTOR`], people call them
//! through the CLI and every one of its actions can be undone by a person
//! (`monitor resume`, `apikey unblock`, `promote`, `release`).

use serde::Serialize;
use serde_json::Value;
use warden_core::{Action, ObjectName, Timestamp};
use warden_store::{KeyHoldRecord, MonitorPauseRecord, MonitorWindowRecord};

use crate::error::Error;
use crate::events;
use crate::workspace::Workspace;

/// The actor the server's monitor acts as.
pub const MONITOR_ACTOR: &str = "warden-monitor";
/// The role it acts with.
pub const MONITOR_ROLE: &str = "monitor";

/// A closed window, as the server hands it over.
#[derive(Clone, Debug)]
pub struct WindowInput {
    /// The served model's name.
    pub model: String,
    /// The served version.
    pub version: u64,
    /// The environment it was served in.
    pub env: String,
    /// Rows (predicted records) seen in the window.
    pub rows: u64,
    /// Whether enough input features drifted for the window as a whole to
    /// count as drifted.
    pub dataset_drift: bool,
    /// Whether the predicted class mix drifted.
    pub prediction_drift: bool,
    /// How many input features drifted.
    pub drifted_features: u64,
    /// The window's full result (per-feature tests and verdicts).
    pub report: Value,
    /// When the window opened.
    pub opened_at: Timestamp,
    /// When it closed.
    pub closed_at: Timestamp,
}

/// A key's hold, with the key's name.
#[derive(Clone, Debug, Serialize)]
pub struct KeyHold {
    /// The key's name.
    pub name: String,
    /// The hold (flattened into the JSON).
    #[serde(flatten)]
    pub hold: KeyHoldRecord,
}

/// What `monitor status` shows for a model.
#[derive(Clone, Debug, Serialize)]
pub struct MonitorStatus {
    /// The model's name.
    pub model: String,
    /// The pause on its automated responses (`None`: not paused).
    pub paused: Option<MonitorPauseRecord>,
    /// Its latest windows, newest first.
    pub windows: Vec<WindowOut>,
}

/// A stored window with its report parsed.
#[derive(Clone, Debug, Serialize)]
pub struct WindowOut {
    /// The window's id, from 1.
    pub id: u64,
    /// The served model's name.
    pub model: String,
    /// The served version.
    pub version: u64,
    /// The environment it was served in.
    pub env: String,
    /// Rows (predicted records) seen in the window.
    pub rows: u64,
    /// Whether enough input features drifted for the window as a whole to
    /// count as drifted.
    pub dataset_drift: bool,
    /// Whether the predicted class mix drifted.
    pub prediction_drift: bool,
    /// How many input features drifted.
    pub drifted_features: u64,
    /// When the window opened (RFC 3339).
    pub opened_at: String,
    /// When it closed (RFC 3339).
    pub closed_at: String,
    /// The window's full result, parsed from the row.
    pub report: Value,
}

impl WindowOut {
    fn from_record(w: MonitorWindowRecord) -> Result<Self, Error> {
        let report = crate::stored::window_report(&w)?;
        Ok(WindowOut {
            id: w.id,
            model: w.model.to_string(),
            version: w.version,
            env: w.env,
            rows: w.rows,
            dataset_drift: w.dataset_drift,
            prediction_drift: w.prediction_drift,
            drifted_features: w.drifted_features,
            opened_at: w.opened_at.as_str().to_string(),
            closed_at: w.closed_at.as_str().to_string(),
            report,
        })
    }
}

impl Workspace {
    /// Records a closed monitoring window (`monitor.window`).
    pub fn monitor_record_window(&self, w: &WindowInput) -> Result<u64, Error> {
        let model = ObjectName::new(&w.model)?;
        let subject = format!("model:{}@{}", w.model, w.version);
        self.authorize(Action::MonitorRecord, &subject)?;
        let report = serde_json::to_string(&w.report)
            .map_err(|e| Error::Invalid(format!("window report: {e}")))?;
        let mut tx = self.store().write()?;
        let id = tx.insert_monitor_window(&MonitorWindowRecord {
            id: 0,
            model,
            version: w.version,
            env: w.env.clone(),
            rows: w.rows,
            dataset_drift: w.dataset_drift,
            prediction_drift: w.prediction_drift,
            drifted_features: w.drifted_features,
            report,
            opened_at: w.opened_at.clone(),
            closed_at: w.closed_at.clone(),
        })?;
        events::append(
            &mut *tx,
            self.actor(),
            "monitor.window",
            &subject,
            &events::WindowClosed {
                window: id,
                env: w.env.clone(),
                rows: w.rows,
                dataset_drift: w.dataset_drift,
                prediction_drift: w.prediction_drift,
                drifted_features: w.drifted_features,
            },
        )?;
        self.commit(tx)?;
        Ok(id)
    }

    /// Records an abuse signal past its threshold (`monitor.signal`; an
    /// event only, nothing else changes).
    pub fn monitor_record_signal(
        &self,
        model: &str,
        env: &str,
        signal: &Value,
    ) -> Result<(), Error> {
        let subject = format!("model:{model}");
        self.authorize(Action::MonitorRecord, &subject)?;
        let mut tx = self.store().write()?;
        events::append(
            &mut *tx,
            self.actor(),
            "monitor.signal",
            &subject,
            &events::SignalRaised {
                env: env.to_string(),
                signal: signal.clone(),
            },
        )?;
        self.commit(tx)?;
        Ok(())
    }

    /// A model's latest windows, newest first.
    pub fn monitor_windows(&self, model: &str, limit: u64) -> Result<Vec<WindowOut>, Error> {
        let name = ObjectName::new(model)?;
        self.authorize(Action::ModelRead, &format!("model:{model}"))?;
        self.store()
            .read()?
            .monitor_windows(&name, limit)?
            .into_iter()
            .map(WindowOut::from_record)
            .collect()
    }

    /// The pause on a model's automated responses, if any.
    pub fn monitor_paused(&self, model: &str) -> Result<Option<MonitorPauseRecord>, Error> {
        let name = ObjectName::new(model)?;
        Ok(self.store().read()?.monitor_pause(&name)?)
    }

    /// `monitor status`: the pause and the latest windows.
    pub fn monitor_status(&self, model: &str, limit: u64) -> Result<MonitorStatus, Error> {
        let windows = self.monitor_windows(model, limit)?;
        Ok(MonitorStatus {
            model: model.to_string(),
            paused: self.monitor_paused(model)?,
            windows,
        })
    }

    /// Pauses a model's automated responses (alerts still go out).
    pub fn monitor_pause(&self, model: &str, reason: &str) -> Result<MonitorPauseRecord, Error> {
        let name = ObjectName::new(model)?;
        self.authorize(Action::MonitorPause, &format!("model:{model}"))?;
        if reason.trim().is_empty() {
            return Err(Error::Usage("--reason must say why".into()));
        }
        let rec = MonitorPauseRecord {
            model: name,
            reason: reason.to_string(),
            paused_by: self.actor().clone(),
            paused_at: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        tx.save_monitor_pause(&rec)?;
        events::append(
            &mut *tx,
            self.actor(),
            "monitor.pause",
            &format!("model:{model}"),
            &events::MonitorPaused {
                reason: reason.to_string(),
            },
        )?;
        self.commit(tx)?;
        Ok(rec)
    }

    /// Lets the monitor act on a model again.
    pub fn monitor_resume(&self, model: &str) -> Result<(), Error> {
        let name = ObjectName::new(model)?;
        self.authorize(Action::MonitorResume, &format!("model:{model}"))?;
        let mut tx = self.store().write()?;
        if !tx.delete_monitor_pause(&name)? {
            return Err(Error::Usage(format!(
                "automated responses for {model} are not paused"
            )));
        }
        events::append(
            &mut *tx,
            self.actor(),
            "monitor.resume",
            &format!("model:{model}"),
            &events::MonitorResumed {},
        )?;
        self.commit(tx)?;
        Ok(())
    }

    /// Blocks an API key (`kind` `block`) or throttles it to `rate`
    /// requests per second (`throttle`), by name.
    pub fn apikey_hold(
        &self,
        name: &str,
        kind: &str,
        rate: Option<f64>,
        reason: &str,
    ) -> Result<KeyHold, Error> {
        self.authorize(Action::ApikeyHold, &format!("apikey:{name}"))?;
        match (kind, rate) {
            ("block", None) => {}
            ("throttle", Some(r)) if r.is_finite() && r > 0.0 => {}
            ("throttle", _) => {
                return Err(Error::Usage(
                    "a throttle needs a positive rate (requests per second)".into(),
                ));
            }
            _ => return Err(Error::Usage(format!("unknown hold {kind:?}"))),
        }
        if reason.trim().is_empty() {
            return Err(Error::Usage("--reason must say why".into()));
        }
        let key = self.api_key_named(name)?;
        let hold = KeyHoldRecord {
            key_id: key.id.clone(),
            kind: kind.to_string(),
            rate_limit: rate,
            reason: reason.to_string(),
            held_by: self.actor().clone(),
            held_at: Timestamp::now(),
        };
        let mut tx = self.store().write()?;
        tx.save_key_hold(&hold)?;
        events::append(
            &mut *tx,
            self.actor(),
            &format!("apikey.{kind}"),
            &format!("apikey:{name}"),
            &events::ApiKeyHeld {
                id: key.id.clone(),
                rate_limit: rate,
                reason: Some(reason.to_string()),
            },
        )?;
        self.commit(tx)?;
        Ok(KeyHold {
            name: name.to_string(),
            hold,
        })
    }

    /// Lifts a block or throttle.
    pub fn apikey_unblock(&self, name: &str) -> Result<(), Error> {
        self.authorize(Action::ApikeyUnblock, &format!("apikey:{name}"))?;
        let key = self.api_key_named(name)?;
        let mut tx = self.store().write()?;
        if !tx.delete_key_hold(&key.id)? {
            return Err(Error::Usage(format!(
                "API key {name} is neither blocked nor throttled"
            )));
        }
        events::append(
            &mut *tx,
            self.actor(),
            "apikey.unblock",
            &format!("apikey:{name}"),
            &events::ApiKeyNamed {
                id: key.id.clone(),
                name: None,
            },
        )?;
        self.commit(tx)?;
        Ok(())
    }

    /// Every hold, with its key's name.
    pub fn apikey_holds(&self) -> Result<Vec<KeyHold>, Error> {
        self.authorize(Action::ApikeyList, "apikey:*")?;
        let mut read = self.store().read()?;
        let keys = read.api_keys()?;
        Ok(read
            .key_holds()?
            .into_iter()
            .map(|h| KeyHold {
                name: keys
                    .iter()
                    .find(|k| k.id == h.key_id)
                    .map_or_else(|| h.key_id.clone(), |k| k.name.clone()),
                hold: h,
            })
            .collect())
    }
}
