//! Prometheus metrics: requests, latency, rejections by reason, rate-limit
//! hits per key, predictions per model and class, loaded models,
//! connections, and what the monitor sees and does. Every metric is
//! exported with the `warden_` prefix, and counters with the `_total`
//! suffix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

/// The labels of `warden_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route's name from [`crate::guard::classify`] (a bounded set:
    /// `infer`, `predict`, `metrics`, `other`, …).
    pub route: &'static str,
    /// The response's HTTP status code.
    pub status: u16,
}

/// The label of `warden_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route's name from [`crate::guard::classify`].
    pub route: &'static str,
}

/// The label of `warden_rejections_total` and
/// `warden_connections_refused_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// Why: for a request `unauthenticated`, `blocked`, `forbidden`,
    /// `rate_limited`, `too_large`, `busy`, `timeout`, `invalid` or
    /// `not_found`; for a connection the cap it was over, `total` or
    /// `address`.
    pub reason: &'static str,
}

/// The label of `warden_connections_timed_out_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    /// The bound that closed the connection: `tls_handshake`,
    /// `header_read` or `idle`.
    pub phase: &'static str,
}

/// The label of `warden_rate_limited_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    /// The caller's name: an API key's name, `jwt:SUBJECT`, or a hub
    /// principal.
    pub key: String,
}

/// The labels of `warden_predictions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PredictionLabels {
    /// The model's name.
    pub model: String,
    /// The model's version, in decimal.
    pub version: String,
    /// The predicted class as responses show it (PII redacted).
    pub class: String,
}

/// The labels of `warden_feature_drift`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FeatureLabels {
    /// The model's name.
    pub model: String,
    /// The input feature, or `prediction` for the predicted class mix.
    pub feature: String,
    /// The statistic: `wasserstein_norm`, `jensen_shannon`, `psi`, `ks` or
    /// `chi_square`.
    pub test: String,
}

/// The labels of `warden_abuse_signal` and `warden_abuse_events_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignalLabels {
    /// The caller's name (an API key's name, or `jwt:SUBJECT`).
    pub key: String,
    /// `rate`, `near_duplicates`, `boundary` or `sweep`; an event may also
    /// be `extraction` (near-duplicates together with boundary-seeking or
    /// a sweep).
    pub signal: String,
}

/// The labels of `warden_monitor_actions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action the monitor policy named (`alert`, `throttle`, `block`,
    /// `rollback`, `quarantine`), as written even if unknown.
    pub action: String,
    /// How carrying it out ended: `done`, `skipped` or `failed`.
    pub outcome: String,
}

/// The label of the per-model monitoring metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NameLabels {
    /// The model's name.
    pub model: String,
}

/// The labels of `warden_model_loaded` and `warden_abstentions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// The model's name.
    pub model: String,
    /// The model's version, in decimal.
    pub version: String,
}

/// Shards of a per-request metric. Each thread that serves requests writes
/// its own shard (chosen once per thread), so the two cores counting
/// requests never write the same cache line — with one shared atomic each
/// increment would pull the line from the other core. Reading a metric
/// (a scrape) sums the shards.
const SHARDS: usize = 8;

/// This thread's shard.
fn shard() -> usize {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! {
        static MINE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    MINE.with(|m| *m)
}

/// One atomic on a cache line (and its neighbour, which some CPUs fetch
/// in pairs) of its own.
#[repr(align(128))]
#[derive(Debug, Default)]
struct Padded(AtomicU64);

/// A counter written per shard; a Prometheus counter when read.
#[derive(Clone, Debug)]
pub struct ShardedCounter(Arc<[Padded; SHARDS]>);

impl Default for ShardedCounter {
    fn default() -> Self {
        ShardedCounter(Arc::new(std::array::from_fn(|_| Padded::default())))
    }
}

impl ShardedCounter {
    /// Adds one, on this thread's shard.
    pub fn inc(&self) {
        self.0[shard()].0.fetch_add(1, Ordering::Relaxed);
    }

    /// The count: the sum of every shard.
    pub fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for ShardedCounter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for ShardedCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// Latency buckets: 100 µs doubling to ~6.5 s, then +Inf.
const LATENCY_BOUNDS: usize = 17;

/// A classic histogram, sharded like [`ShardedCounter`]: an observation is
/// three atomic additions on the thread's own shard. (prometheus-client's
/// `Histogram` takes a mutex per observation, which the serving cores would
/// contend on for every request.)
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Arc<LatencyInner>);

#[derive(Debug)]
struct LatencyInner {
    bounds: [f64; LATENCY_BOUNDS],
    shards: [LatencyShard; SHARDS],
}

#[repr(align(128))]
#[derive(Debug)]
struct LatencyShard {
    /// Non-cumulative counts per bucket, the last for +Inf.
    counts: [AtomicU64; LATENCY_BOUNDS + 1],
    /// The sum's f64 bits.
    sum: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        let mut bounds = [0.0; LATENCY_BOUNDS];
        for (b, v) in
            bounds
                .iter_mut()
                .zip(prometheus_client::metrics::histogram::exponential_buckets(
                    0.0001, 2.0, 17,
                ))
        {
            *b = v;
        }
        LatencyHistogram(Arc::new(LatencyInner {
            bounds,
            shards: std::array::from_fn(|_| LatencyShard {
                counts: std::array::from_fn(|_| AtomicU64::new(0)),
                sum: AtomicU64::new(0f64.to_bits()),
            }),
        }))
    }
}

impl LatencyHistogram {
    /// Records one latency of `v` seconds, on this thread's shard.
    pub fn observe(&self, v: f64) {
        let i = &self.0;
        let bucket = i
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(LATENCY_BOUNDS);
        let shard = &i.shards[shard()];
        shard.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = shard
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + v).to_bits())
            });
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let i = &self.0;
        let buckets: Vec<(f64, u64)> = i
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .enumerate()
            .map(|(k, bound)| {
                let n = i
                    .shards
                    .iter()
                    .map(|s| s.counts[k].load(Ordering::Relaxed))
                    .sum();
                (bound, n)
            })
            .collect();
        let count = buckets.iter().map(|(_, c)| c).sum();
        let sum = i
            .shards
            .iter()
            .map(|s| f64::from_bits(s.sum.load(Ordering::Relaxed)))
            .sum();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Every metric the server exports.
pub struct Metrics {
    /// Tells this instance's entries apart in the per-thread cache.
    id: u64,
    registry: Registry,
    /// `warden_http_requests_total`: requests answered, by route and
    /// status.
    pub requests: Family<RequestLabels, ShardedCounter>,
    /// `warden_http_request_duration_seconds`: the time from the guard's
    /// first look at a request to its response, by route, in seconds.
    pub latency: Family<RouteLabels, LatencyHistogram>,
    /// `warden_rejections_total`: requests refused, by reason: by the guard,
    /// or by a handler whose status says so (400 and 422 count as
    /// `invalid`, 404 as `not_found`, 413 as `too_large`).
    pub rejections: Family<ReasonLabels, Counter>,
    /// `warden_rate_limited_total`: requests refused by the caller's rate
    /// limit, by caller.
    pub rate_limited: Family<KeyLabels, Counter>,
    /// `warden_predictions_total`: predictions served, by model, version
    /// and predicted class (abstentions are not counted here).
    pub predictions: Family<PredictionLabels, Counter>,
    /// `warden_abstentions_total`: predictions withheld, because the top
    /// probability was below `min_confidence` or none was finite, by model
    /// and version.
    pub abstentions: Family<ModelLabels, Counter>,
    /// `warden_model_loaded`: 1 for each model version being served; the
    /// series is removed when the version stops being served.
    pub loaded: Family<ModelLabels, Gauge>,
    /// `warden_reload_failures_total`: registry refreshes that failed (the
    /// previous snapshot was kept).
    pub reload_failures: Counter,
    /// `warden_connections_open`: client connections open now.
    pub connections_open: Gauge,
    /// `warden_connection_limit`: the total connection cap in force (see
    /// [`crate::conn::connection_cap`]).
    pub connection_limit: Gauge,
    /// `warden_connections_refused_total`: connections closed as soon as
    /// accepted, by the cap they were over.
    pub connections_refused: Family<ReasonLabels, Counter>,
    /// `warden_connections_timed_out_total`: connections closed for taking
    /// too long, by phase.
    pub connections_timed_out: Family<PhaseLabels, Counter>,
    /// `warden_monitor_windows_total`: drift windows closed, by model.
    pub monitor_windows: Family<NameLabels, Counter>,
    /// `warden_drift_share`: the share of features that drifted in the
    /// model's latest window (0 to 1).
    pub drift_share: Family<NameLabels, Gauge<f64, AtomicU64>>,
    /// `warden_dataset_drift`: 1 if the model's latest window drifted as a
    /// whole, else 0.
    pub dataset_drift: Family<NameLabels, Gauge>,
    /// `warden_prediction_drift`: 1 if the predicted class mix of the
    /// model's latest window drifted, else 0.
    pub prediction_drift: Family<NameLabels, Gauge>,
    /// `warden_feature_drift`: the latest window's value of each test, by
    /// model, feature and test.
    pub feature_drift: Family<FeatureLabels, Gauge<f64, AtomicU64>>,
    /// `warden_ood_share`: the share of the model's latest window's records
    /// scored out of distribution (0 to 1).
    pub ood_share: Family<NameLabels, Gauge<f64, AtomicU64>>,
    /// `warden_ood_requests_total`: records scored out of distribution (a
    /// Mahalanobis distance past the `ood_level` threshold), by model.
    pub ood_requests: Family<NameLabels, Counter>,
    /// `warden_abuse_signal`: each key's value of each signal in the latest
    /// abuse window: for `rate` the ratio of its requests to its norm,
    /// otherwise a share (0 to 1).
    pub abuse: Family<SignalLabels, Gauge<f64, AtomicU64>>,
    /// `warden_abuse_events_total`: abuse signals that reached their
    /// threshold, by key and signal.
    pub abuse_events: Family<SignalLabels, Counter>,
    /// `warden_monitor_actions_total`: the monitor policy's decisions, by
    /// action and outcome.
    pub monitor_actions: Family<ActionLabels, Counter>,
    /// `warden_monitor_dropped_total`: observations dropped because the
    /// monitor's queue was full, or the monitor had stopped (requests
    /// never wait for it).
    pub monitor_dropped: Counter,
    /// `warden_monitor_observed_total`: observations the monitor thread
    /// has taken in (against `warden_http_requests_total`, the sampled
    /// share).
    pub monitor_observed: Counter,
    /// `warden_webhook_failures_total`: alerts not delivered: refused or
    /// unreachable after every attempt, or dropped because the webhook's
    /// queue was full.
    pub webhook_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero, registered for export under the `warden_`
    /// prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<RequestLabels, ShardedCounter>::default();
        let latency = Family::<RouteLabels, LatencyHistogram>::default();
        let rejections = Family::<ReasonLabels, Counter>::default();
        let rate_limited = Family::<KeyLabels, Counter>::default();
        let predictions = Family::<PredictionLabels, Counter>::default();
        let abstentions = Family::<ModelLabels, Counter>::default();
        let loaded = Family::<ModelLabels, Gauge>::default();
        let reload_failures = Counter::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        registry.register(
            "rejections",
            "Requests refused by a guardrail, by reason",
            rejections.clone(),
        );
        registry.register(
            "rate_limited",
            "Requests refused by a key's rate limit, by key name",
            rate_limited.clone(),
        );
        registry.register(
            "predictions",
            "Predictions served, by model, version and predicted class",
            predictions.clone(),
        );
        registry.register(
            "abstentions",
            "Predictions withheld for low confidence",
            abstentions.clone(),
        );
        registry.register(
            "model_loaded",
            "1 for each model version being served",
            loaded.clone(),
        );
        registry.register(
            "reload_failures",
            "Registry refreshes that failed (the previous state was kept)",
            reload_failures.clone(),
        );
        let connections_open = Gauge::default();
        let connection_limit = Gauge::default();
        let connections_refused = Family::<ReasonLabels, Counter>::default();
        let connections_timed_out = Family::<PhaseLabels, Counter>::default();
        registry.register(
            "connections_open",
            "Client connections open now",
            connections_open.clone(),
        );
        registry.register(
            "connection_limit",
            "Client connections allowed at once (the configured cap or the open-file limit's share, whichever is lower)",
            connection_limit.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed as soon as accepted, by the cap they were over (total, address)",
            connections_refused.clone(),
        );
        registry.register(
            "connections_timed_out",
            "Connections closed for taking too long, by phase (tls_handshake, header_read, idle)",
            connections_timed_out.clone(),
        );
        let monitor_windows = Family::<NameLabels, Counter>::default();
        let drift_share = Family::<NameLabels, Gauge<f64, AtomicU64>>::default();
        let dataset_drift = Family::<NameLabels, Gauge>::default();
        let prediction_drift = Family::<NameLabels, Gauge>::default();
        let feature_drift = Family::<FeatureLabels, Gauge<f64, AtomicU64>>::default();
        let ood_share = Family::<NameLabels, Gauge<f64, AtomicU64>>::default();
        let ood_requests = Family::<NameLabels, Counter>::default();
        let abuse = Family::<SignalLabels, Gauge<f64, AtomicU64>>::default();
        let abuse_events = Family::<SignalLabels, Counter>::default();
        let monitor_actions = Family::<ActionLabels, Counter>::default();
        let monitor_dropped = Counter::default();
        let monitor_observed = Counter::default();
        let webhook_failures = Counter::default();
        registry.register(
            "monitor_windows",
            "Monitoring windows closed, by model",
            monitor_windows.clone(),
        );
        registry.register(
            "drift_share",
            "Share of features drifted in the latest window",
            drift_share.clone(),
        );
        registry.register(
            "dataset_drift",
            "1 if the latest window drifted as a whole",
            dataset_drift.clone(),
        );
        registry.register(
            "prediction_drift",
            "1 if the latest window's class mix drifted",
            prediction_drift.clone(),
        );
        registry.register(
            "feature_drift",
            "The latest window's drift statistic per feature and test (wasserstein_norm, jensen_shannon, psi, ks, chi_square)",
            feature_drift.clone(),
        );
        registry.register(
            "ood_share",
            "Share of the latest window's requests out of distribution",
            ood_share.clone(),
        );
        registry.register(
            "ood_requests",
            "Requests scored out of distribution (Mahalanobis)",
            ood_requests.clone(),
        );
        registry.register(
            "abuse_signal",
            "Per key, the latest abuse window's value of each signal (rate ratio, near-duplicate, boundary and sweep shares)",
            abuse.clone(),
        );
        registry.register(
            "abuse_events",
            "Abuse signals past their threshold, by key and signal",
            abuse_events.clone(),
        );
        registry.register(
            "monitor_actions",
            "Automated responses, by action and outcome",
            monitor_actions.clone(),
        );
        registry.register(
            "monitor_dropped",
            "Observations dropped because the monitor's queue was full (requests never wait for it)",
            monitor_dropped.clone(),
        );
        registry.register(
            "monitor_observed",
            "Observations the monitor took in (against requests: the sampled share)",
            monitor_observed.clone(),
        );
        registry.register(
            "webhook_failures",
            "Alerts not delivered: refused or unreachable after every retry, or dropped on a full queue",
            webhook_failures.clone(),
        );
        Metrics {
            monitor_windows,
            drift_share,
            dataset_drift,
            prediction_drift,
            feature_drift,
            ood_share,
            ood_requests,
            abuse,
            abuse_events,
            monitor_actions,
            monitor_dropped,
            monitor_observed,
            webhook_failures,
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
            requests,
            latency,
            rejections,
            rate_limited,
            predictions,
            abstentions,
            loaded,
            reload_failures,
            connections_open,
            connection_limit,
            connections_refused,
            connections_timed_out,
        }
    }

    /// Counts a request and its latency. The series handles are resolved
    /// once per worker thread and kept, so the request path does not take
    /// the families' locks or hash their labels every time.
    pub fn observe_request(&self, route: &'static str, status: u16, seconds: f64) {
        type Handles = (ShardedCounter, LatencyHistogram);
        thread_local! {
            static CACHE: std::cell::RefCell<std::collections::HashMap<(u64, usize, u16), Handles>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            let (count, latency) = cache
                .entry((self.id, route.as_ptr() as usize, status))
                .or_insert_with(|| {
                    (
                        self.requests
                            .get_or_create(&RequestLabels { route, status })
                            .clone(),
                        self.latency.get_or_create(&RouteLabels { route }).clone(),
                    )
                });
            count.inc();
            latency.observe(seconds);
        });
    }

    /// The Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The latency histogram's `_sum` in an exposition.
    fn latency_sum(text: &str) -> f64 {
        text.lines()
            .find(|l| l.starts_with("warden_http_request_duration_seconds_sum"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    #[test]
    fn latency_buckets_are_cumulative_in_the_exposition() {
        let m = Metrics::new();
        for v in [0.00005, 0.0003, 10.0] {
            m.observe_request("predict", 200, v);
        }
        let text = m.encode();
        for line in [
            "warden_http_request_duration_seconds_bucket{le=\"0.0001\",route=\"predict\"} 1",
            "warden_http_request_duration_seconds_bucket{le=\"0.0004\",route=\"predict\"} 2",
            "warden_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"predict\"} 3",
            "warden_http_request_duration_seconds_count{route=\"predict\"} 3",
            "warden_http_requests_total{route=\"predict\",status=\"200\"} 3",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        let sum = latency_sum(&text);
        assert!((sum - 10.00035).abs() < 1e-9, "{sum}");
    }

    #[test]
    fn the_monitor_counters_the_docs_name_are_exported() {
        let m = Metrics::new();
        m.monitor_observed.inc();
        m.monitor_dropped.inc();
        m.webhook_failures.inc();
        let text = m.encode();
        for line in [
            "warden_monitor_observed_total 1",
            "warden_monitor_dropped_total 1",
            "warden_webhook_failures_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn shards_written_by_many_threads_add_up() {
        let m = Arc::new(Metrics::new());
        let threads: Vec<_> = (0..12)
            .map(|_| {
                let m = m.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        m.observe_request("infer", 200, 0.00025);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = m.encode();
        for line in [
            "warden_http_requests_total{route=\"infer\",status=\"200\"} 12000",
            "warden_http_request_duration_seconds_count{route=\"infer\"} 12000",
            "warden_http_request_duration_seconds_bucket{le=\"0.0002\",route=\"infer\"} 0",
            "warden_http_request_duration_seconds_bucket{le=\"0.0004\",route=\"infer\"} 12000",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
        let sum = latency_sum(&text);
        assert!((sum - 3.0).abs() < 1e-9, "{sum}");
    }
}
