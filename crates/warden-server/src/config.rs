//! The server's settings: defaults a demanding deployment can live with,
//! overridable from a TOML file (`warden serve --config FILE`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use warden::ValidationLimits;

use crate::ServerError;
use crate::jwt::{JwksSource, JwtFile, JwtSettings};
use crate::tls::TlsSettings;

/// A rate limit: sustained requests per second and the burst allowed.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second the bucket refills at; positive and finite.
    pub per_second: f64,
    /// Requests a full bucket allows at once, at least 1.
    pub burst: u32,
}

/// Everything `warden serve` can be told.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeConfig {
    /// The address and port to listen on (`HOST:PORT` in the file;
    /// `127.0.0.1:8080` by default).
    pub addr: SocketAddr,
    /// The environment whose stage pointers say what is served.
    pub env: String,
    /// How often stage pointers, quarantines and API keys are re-read.
    pub reload_interval: Duration,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// Requests in flight at once; beyond, 503 with `Retry-After`.
    pub max_concurrency: usize,
    /// A request taking longer is answered 503.
    pub request_timeout: Duration,
    /// Connections open at once, at most; the server also keeps this below
    /// its open-file limit (see [`crate::conn::connection_cap`]).
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv4 address,
    /// or an IPv6 /64), at most.
    pub max_connections_per_address: usize,
    /// How long a connection waiting for a request (just opened, or between
    /// keep-alive requests) has to send the whole request line and headers.
    pub header_read_timeout: Duration,
    /// A connection on which no byte is read or written for this long is
    /// closed, whatever it is doing (never less than `request_timeout`).
    pub idle_timeout: Duration,
    /// A TLS handshake taking longer is dropped.
    pub tls_handshake_timeout: Duration,
    /// How requests are checked against a model's schema: the most
    /// instances one request may carry (`max_instances`) and how far
    /// outside the training range a number may lie (`range_tolerance`).
    pub validation: ValidationLimits,
    /// Below this top-class probability the answer is an abstention.
    pub min_confidence: Option<f64>,
    /// Limits by role; a key's own limit overrides its role's.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// The limit for a role not listed in `rate_limits`.
    pub default_rate_limit: RateLimit,
    /// Whether `/metrics` is open without a key (for a scraper on a
    /// private network); otherwise it needs the `serve.metrics` action.
    pub public_metrics: bool,
    /// Whether requests are checked against the model's input schema.
    /// Always on in `warden serve` (the file cannot turn it off); only the
    /// guardrail-cost benchmark clears it.
    pub validate_inputs: bool,
    /// TLS (and optionally client certificates); plain HTTP without it.
    pub tls: Option<TlsSettings>,
    /// Bearer JWTs accepted besides API keys.
    pub jwt: Option<JwtSettings>,
    /// Set when this is the hub (`warden hub serve`): no models are
    /// served, callers are principals proven by these issuers' tokens.
    pub hub: Option<crate::hub::HubSettings>,
    /// Drift, OOD and abuse monitoring of served traffic.
    pub monitor: MonitorSettings,
}

/// `[monitor]`: how served traffic is watched and answered.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSettings {
    /// Whether validated requests are handed to the monitor at all.
    pub enabled: bool,
    /// When a model's drift window closes: at `max_rows` rows, or after
    /// `max_seconds` seconds if it holds at least `min_rows`
    /// (`window_rows`, `window_seconds` and `min_window_rows` in the file).
    pub window: warden::drift::WindowConfig,
    /// The drift tests' decision thresholds (effect sizes, PSI, `alpha`
    /// and its multiple-testing correction, the drifted-feature share).
    pub thresholds: warden::drift::Thresholds,
    /// When a key's traffic counts as abuse: request-rate spikes and the
    /// near-duplicate, decision-boundary and feature-sweep shares.
    pub abuse: warden::drift::AbuseConfig,
    /// How often per-key abuse windows close.
    pub abuse_window: Duration,
    /// Chi-square level of the out-of-distribution threshold.
    pub ood_level: f64,
    /// Requests per second handed to the monitor at most; beyond, requests
    /// are sampled out (those observed are counted in [`monitor_observed`],
    /// which `/metrics` does not export), so the monitor's share of the
    /// machine stays bounded at any load.
    ///
    /// [`monitor_observed`]: crate::metrics::Metrics::monitor_observed
    pub max_requests_per_second: f64,
    /// Observations waiting for the monitor; beyond, new ones are dropped
    /// (counted in `warden_monitor_dropped_total`) rather than slowing requests.
    pub queue: usize,
    /// A Rego file replacing the bundled `data.warden.monitor` policy.
    pub policy: Option<std::path::PathBuf>,
    /// Alerts are POSTed here as JSON.
    pub webhook_url: Option<String>,
    /// Delivery attempts per alert (with exponential backoff from 0.5 s).
    pub webhook_attempts: u32,
    /// Requests per second a throttled key is held to.
    pub throttle_rate: f64,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            enabled: true,
            window: Default::default(),
            thresholds: Default::default(),
            abuse: Default::default(),
            abuse_window: Duration::from_secs(30),
            ood_level: 0.999,
            max_requests_per_second: 1000.0,
            queue: 8192,
            policy: None,
            webhook_url: None,
            webhook_attempts: 5,
            throttle_rate: 1.0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorFile {
    enabled: Option<bool>,
    window_rows: Option<usize>,
    window_seconds: Option<f64>,
    min_window_rows: Option<usize>,
    abuse_window_seconds: Option<f64>,
    effect_threshold: Option<f64>,
    prediction_effect_threshold: Option<f64>,
    psi_watch: Option<f64>,
    psi_act: Option<f64>,
    alpha: Option<f64>,
    correction: Option<String>,
    drift_share: Option<f64>,
    ood_level: Option<f64>,
    max_requests_per_second: Option<f64>,
    queue: Option<usize>,
    policy: Option<std::path::PathBuf>,
    webhook_url: Option<String>,
    webhook_attempts: Option<u32>,
    throttle_rate: Option<f64>,
    min_requests: Option<usize>,
    rate_factor: Option<f64>,
    near_duplicate_share: Option<f64>,
    boundary_share: Option<f64>,
    boundary_confidence: Option<f64>,
    sweep_share: Option<f64>,
}

fn monitor_settings(f: MonitorFile, base: &Path) -> Result<MonitorSettings, ServerError> {
    let mut m = MonitorSettings::default();
    let share = |what: &str, v: f64| -> Result<f64, ServerError> {
        if v.is_finite() && v > 0.0 && v <= 1.0 {
            Ok(v)
        } else {
            Err(bad(what, format!("{v} is not in (0, 1]")))
        }
    };
    if let Some(e) = f.enabled {
        m.enabled = e;
    }
    if let Some(n) = f.window_rows {
        if n < 10 {
            return Err(bad("monitor.window_rows", format!("{n} is below 10")));
        }
        m.window.max_rows = n;
    }
    if let Some(s) = f.window_seconds {
        m.window.max_seconds = seconds("monitor.window_seconds", s)?.as_secs_f64();
    }
    if let Some(n) = f.min_window_rows {
        if n == 0 {
            return Err(bad("monitor.min_window_rows", "must be at least 1".into()));
        }
        m.window.min_rows = n;
    }
    if let Some(s) = f.abuse_window_seconds {
        m.abuse_window = seconds("monitor.abuse_window_seconds", s)?;
    }
    if let Some(v) = f.effect_threshold {
        m.thresholds.effect = v;
    }
    if let Some(v) = f.prediction_effect_threshold {
        m.thresholds.prediction_effect = v;
    }
    if let Some(v) = f.psi_watch {
        m.thresholds.psi_watch = v;
    }
    if let Some(v) = f.psi_act {
        m.thresholds.psi_act = v;
    }
    if let Some(v) = f.alpha {
        m.thresholds.alpha = v;
    }
    if let Some(v) = f.drift_share {
        m.thresholds.drift_share = v;
    }
    if let Some(c) = f.correction {
        m.thresholds.correction = warden::drift::Correction::parse(&c).ok_or_else(|| {
            bad(
                "monitor.correction",
                format!("{c:?}: expected bh, bonferroni or none"),
            )
        })?;
    }
    m.thresholds.check().map_err(|e| bad("monitor", e))?;
    if let Some(v) = f.ood_level {
        if !(v.is_finite() && v > 0.5 && v < 1.0) {
            return Err(bad("monitor.ood_level", format!("{v} is not in (0.5, 1)")));
        }
        m.ood_level = v;
    }
    if let Some(r) = f.max_requests_per_second {
        if !(r.is_finite() && r >= 10.0) {
            return Err(bad(
                "monitor.max_requests_per_second",
                format!("{r} is below 10"),
            ));
        }
        m.max_requests_per_second = r;
    }
    if let Some(n) = f.queue {
        if n == 0 {
            return Err(bad("monitor.queue", "must be at least 1".into()));
        }
        m.queue = n;
    }
    m.policy = f.policy.map(|p| base.join(p));
    if let Some(u) = f.webhook_url {
        if !(u.starts_with("http://") || u.starts_with("https://")) {
            return Err(bad(
                "monitor.webhook_url",
                format!("{u:?} is not an http(s) URL"),
            ));
        }
        m.webhook_url = Some(u);
    }
    if let Some(n) = f.webhook_attempts {
        if n == 0 || n > 20 {
            return Err(bad(
                "monitor.webhook_attempts",
                format!("{n} is not in 1..=20"),
            ));
        }
        m.webhook_attempts = n;
    }
    if let Some(r) = f.throttle_rate {
        if !(r.is_finite() && r > 0.0) {
            return Err(bad("monitor.throttle_rate", format!("{r} is not positive")));
        }
        m.throttle_rate = r;
    }
    if let Some(n) = f.min_requests {
        m.abuse.min_requests = n.max(1);
    }
    if let Some(v) = f.rate_factor {
        if !(v.is_finite() && v > 1.0) {
            return Err(bad("monitor.rate_factor", format!("{v} is not above 1")));
        }
        m.abuse.rate_factor = v;
    }
    if let Some(v) = f.near_duplicate_share {
        m.abuse.near_duplicate_share = share("monitor.near_duplicate_share", v)?;
    }
    if let Some(v) = f.boundary_share {
        m.abuse.boundary_share = share("monitor.boundary_share", v)?;
    }
    if let Some(v) = f.boundary_confidence {
        m.abuse.boundary_confidence = share("monitor.boundary_confidence", v)?;
    }
    if let Some(v) = f.sweep_share {
        m.abuse.sweep_share = share("monitor.sweep_share", v)?;
    }
    Ok(m)
}

impl Default for ServeConfig {
    fn default() -> Self {
        let mut rate_limits = BTreeMap::new();
        rate_limits.insert(
            "predictor".to_string(),
            RateLimit {
                per_second: 100.0,
                burst: 200,
            },
        );
        rate_limits.insert(
            "operator".to_string(),
            RateLimit {
                per_second: 20.0,
                burst: 40,
            },
        );
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            env: "production".into(),
            reload_interval: Duration::from_secs(2),
            max_body_bytes: 1 << 20,
            max_concurrency: 256,
            request_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_connections_per_address: 256,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            validation: ValidationLimits::default(),
            min_confidence: None,
            rate_limits,
            default_rate_limit: RateLimit {
                per_second: 10.0,
                burst: 20,
            },
            public_metrics: false,
            validate_inputs: true,
            tls: None,
            jwt: None,
            hub: None,
            monitor: MonitorSettings::default(),
        }
    }
}

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    addr: Option<String>,
    env: Option<String>,
    reload_interval_seconds: Option<f64>,
    max_body_bytes: Option<usize>,
    max_concurrency: Option<usize>,
    request_timeout_seconds: Option<f64>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    header_read_timeout_seconds: Option<f64>,
    idle_timeout_seconds: Option<f64>,
    tls_handshake_timeout_seconds: Option<f64>,
    max_instances: Option<usize>,
    range_tolerance: Option<f64>,
    min_confidence: Option<f64>,
    public_metrics: Option<bool>,
    #[serde(default)]
    rate_limits: BTreeMap<String, RateLimit>,
    default_rate_limit: Option<RateLimit>,
    tls: Option<TlsFile>,
    jwt: Option<JwtFile>,
    monitor: Option<MonitorFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    client_ca: Option<std::path::PathBuf>,
}

fn bad(what: &str, why: String) -> ServerError {
    ServerError::Config(format!("{what}: {why}"))
}

fn seconds(what: &str, s: f64) -> Result<Duration, ServerError> {
    if s.is_finite() && s > 0.0 && s <= 86_400.0 {
        Ok(Duration::from_secs_f64(s))
    } else {
        Err(bad(what, format!("{s} is not between 0 and 86400 seconds")))
    }
}

fn check_limit(what: &str, r: &RateLimit) -> Result<(), ServerError> {
    if !(r.per_second.is_finite() && r.per_second > 0.0) || r.burst == 0 {
        return Err(bad(
            what,
            "per_second must be a positive number and burst at least 1".into(),
        ));
    }
    Ok(())
}

impl ServeConfig {
    /// Parses a TOML config file's text over the defaults. `source` names
    /// the file in errors; relative paths in it are relative to its
    /// directory.
    pub fn from_toml(text: &str, source: &Path) -> Result<Self, ServerError> {
        let base = source.parent().unwrap_or(Path::new("."));
        let f: FileConfig = toml::from_str(text)
            .map_err(|e| ServerError::Config(format!("{}: {e}", source.display())))?;
        let mut c = ServeConfig::default();
        if let Some(a) = f.addr {
            c.addr = a
                .parse()
                .map_err(|e| bad("addr", format!("{a:?}: {e} (expected HOST:PORT)")))?;
        }
        if let Some(e) = f.env {
            c.env = e;
        }
        if let Some(s) = f.reload_interval_seconds {
            c.reload_interval = seconds("reload_interval_seconds", s)?;
        }
        if let Some(s) = f.request_timeout_seconds {
            c.request_timeout = seconds("request_timeout_seconds", s)?;
        }
        if let Some(n) = f.max_connections {
            if n == 0 {
                return Err(bad("max_connections", "must be at least 1".into()));
            }
            c.max_connections = n;
        }
        if let Some(n) = f.max_connections_per_address {
            if n == 0 {
                return Err(bad(
                    "max_connections_per_address",
                    "must be at least 1".into(),
                ));
            }
            c.max_connections_per_address = n;
        }
        if let Some(s) = f.header_read_timeout_seconds {
            c.header_read_timeout = seconds("header_read_timeout_seconds", s)?;
        }
        if let Some(s) = f.idle_timeout_seconds {
            c.idle_timeout = seconds("idle_timeout_seconds", s)?;
            if c.idle_timeout < c.request_timeout {
                return Err(bad(
                    "idle_timeout_seconds",
                    format!(
                        "{s} is below request_timeout_seconds ({}): a request still within its time would be cut off",
                        c.request_timeout.as_secs_f64()
                    ),
                ));
            }
        } else {
            c.idle_timeout = c.idle_timeout.max(c.request_timeout);
        }
        if let Some(s) = f.tls_handshake_timeout_seconds {
            c.tls_handshake_timeout = seconds("tls_handshake_timeout_seconds", s)?;
        }
        if let Some(n) = f.max_body_bytes {
            if n < 64 {
                return Err(bad("max_body_bytes", format!("{n} is too small")));
            }
            c.max_body_bytes = n;
        }
        if let Some(n) = f.max_concurrency {
            if n == 0 {
                return Err(bad("max_concurrency", "must be at least 1".into()));
            }
            c.max_concurrency = n;
        }
        if let Some(n) = f.max_instances {
            if n == 0 {
                return Err(bad("max_instances", "must be at least 1".into()));
            }
            c.validation.max_instances = n;
        }
        if let Some(t) = f.range_tolerance {
            if !(t.is_finite() && t >= 0.0) {
                return Err(bad("range_tolerance", format!("{t} is not a fraction ≥ 0")));
            }
            c.validation.range_tolerance = t;
        }
        if let Some(m) = f.min_confidence {
            if !(m.is_finite() && (0.0..=1.0).contains(&m)) {
                return Err(bad("min_confidence", format!("{m} is not in [0, 1]")));
            }
            c.min_confidence = Some(m);
        }
        if let Some(p) = f.public_metrics {
            c.public_metrics = p;
        }
        for (role, r) in f.rate_limits {
            check_limit(&format!("rate_limits.{role}"), &r)?;
            c.rate_limits.insert(role, r);
        }
        if let Some(r) = f.default_rate_limit {
            check_limit("default_rate_limit", &r)?;
            c.default_rate_limit = r;
        }
        if let Some(t) = f.tls {
            c.tls = Some(TlsSettings {
                cert: base.join(t.cert),
                key: base.join(t.key),
                client_ca: t.client_ca.map(|p| base.join(p)),
                client_cert_optional: false,
            });
        }
        if let Some(j) = f.jwt {
            let jwks = match (j.jwks_file, j.jwks_url) {
                (Some(f), None) => JwksSource::File(base.join(f)),
                (None, Some(u)) => JwksSource::url(&u)?,
                _ => {
                    return Err(bad(
                        "jwt",
                        "give exactly one of jwks_file and jwks_url".into(),
                    ));
                }
            };
            if j.jwks_refresh_seconds == 0 {
                return Err(bad("jwt.jwks_refresh_seconds", "must be at least 1".into()));
            }
            c.jwt = Some(JwtSettings {
                jwks,
                jwks_refresh_seconds: j.jwks_refresh_seconds,
                issuer: j.issuer,
                audience: j.audience.into_vec(),
                algorithms: j.algorithms,
                roles_claim: j.roles_claim,
                leeway_seconds: j.leeway_seconds,
            });
        }
        if let Some(m) = f.monitor {
            c.monitor = monitor_settings(m, base)?;
        }
        Ok(c)
    }

    /// The limit for a key of `role`, or the key's own requests per second.
    pub fn rate_limit_for(&self, role: &str, own: Option<f64>) -> RateLimit {
        let base = self
            .rate_limits
            .get(role)
            .copied()
            .unwrap_or(self.default_rate_limit);
        match own {
            Some(rps) if rps.is_finite() && rps > 0.0 => RateLimit {
                per_second: rps,
                // A key's own limit allows a burst of one second's worth.
                burst: rps.ceil().clamp(1.0, u32::MAX as f64) as u32,
            },
            _ => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_overrides_defaults() {
        let c = ServeConfig::from_toml(
            "addr = \"0.0.0.0:9000\"\nmax_body_bytes = 4096\nmin_confidence = 0.7\n[rate_limits.predictor]\nper_second = 5\nburst = 5\n",
            Path::new("serve.toml"),
        )
        .unwrap();
        assert_eq!(c.addr.port(), 9000);
        assert_eq!(c.max_body_bytes, 4096);
        assert_eq!(c.min_confidence, Some(0.7));
        assert_eq!(c.rate_limit_for("predictor", None).per_second, 5.0);
        assert_eq!(c.rate_limit_for("predictor", Some(2.0)).burst, 2);
        assert_eq!(c.rate_limit_for("auditor", None), c.default_rate_limit);
    }

    #[test]
    fn connection_bounds_are_read_and_checked() {
        let d = ServeConfig::default();
        assert_eq!(
            (d.max_connections, d.max_connections_per_address),
            (4096, 256)
        );
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(60));
        let c = ServeConfig::from_toml(
            "max_connections = 500\nmax_connections_per_address = 8\nheader_read_timeout_seconds = 2.5\nidle_timeout_seconds = 30\ntls_handshake_timeout_seconds = 3\n",
            Path::new("serve.toml"),
        )
        .unwrap();
        assert_eq!((c.max_connections, c.max_connections_per_address), (500, 8));
        assert_eq!(c.header_read_timeout, Duration::from_millis(2500));
        assert_eq!(c.idle_timeout, Duration::from_secs(30));
        assert_eq!(c.tls_handshake_timeout, Duration::from_secs(3));
        // Unset, the idle bound follows a longer request timeout.
        let c = ServeConfig::from_toml("request_timeout_seconds = 90", Path::new("serve.toml"))
            .unwrap();
        assert_eq!(c.idle_timeout, Duration::from_secs(90));
        for (text, needle) in [
            ("max_connections = 0", "max_connections"),
            (
                "max_connections_per_address = 0",
                "max_connections_per_address",
            ),
            (
                "header_read_timeout_seconds = 0",
                "header_read_timeout_seconds",
            ),
            (
                "request_timeout_seconds = 20\nidle_timeout_seconds = 5",
                "idle_timeout_seconds: 5 is below request_timeout_seconds",
            ),
        ] {
            let e = ServeConfig::from_toml(text, Path::new("serve.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn bad_files_are_refused_naming_the_key() {
        for (text, needle) in [
            ("adress = \"x\"", "unknown field"),
            ("addr = \"nowhere\"", "addr"),
            ("min_confidence = 2.0", "min_confidence"),
            ("reload_interval_seconds = -1", "reload_interval_seconds"),
            (
                "[rate_limits.predictor]\nper_second = 0\nburst = 1",
                "rate_limits.predictor",
            ),
        ] {
            let e = ServeConfig::from_toml(text, Path::new("serve.toml"))
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }
}
