//! Prometheus metrics: requests, latency, rejections by reason, rate-limit
//! hits per key, predictions per model and class, loaded models.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    pub key: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PredictionLabels {
    pub model: String,
    pub version: String,
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    pub model: String,
    pub version: String,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~6.5 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.0001, 2.0, 17,
    ))
}

static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Every metric the server exports.
pub struct Metrics {
    /// Tells this instance's entries apart in the per-thread cache.
    id: u64,
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub rejections: Family<ReasonLabels, Counter>,
    pub rate_limited: Family<KeyLabels, Counter>,
    pub predictions: Family<PredictionLabels, Counter>,
    pub abstentions: Family<ModelLabels, Counter>,
    pub loaded: Family<ModelLabels, Gauge>,
    pub reload_failures: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
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
        Metrics {
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
        }
    }

    /// Counts a request and its latency. The series handles are resolved
    /// once per worker thread and kept, so the request path does not take
    /// the families' locks or hash their labels every time.
    pub fn observe_request(&self, route: &'static str, status: u16, seconds: f64) {
        type Handles = (Counter, Histogram);
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
