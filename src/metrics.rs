//! Prometheus metrics (prometheus-client): events, writes and failures by
//! backend, routes and servers held, resyncs and their duration.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub backend: String,
    pub op: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BackendLabel {
    pub backend: String,
}

/// `havok_resync_seconds` buckets: 1 ms doubling up to 32.768 s. Written
/// out, not `exponential_buckets`: its `powf` would call libm (the only
/// other caller, tokio's, gets `pow` from `src/main.rs`), and loading libm
/// costs 0.3 to 0.5 MB of resident memory.
const RESYNC_BUCKETS: [f64; 16] = [
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768,
];

/// Every metric havok exports; cheap to clone (the metrics are shared handles).
#[derive(Clone)]
pub struct Metrics {
    pub docker_events: Family<ActionLabel, Counter>,
    pub writes: Family<WriteLabels, Counter>,
    pub failures: Family<BackendLabel, Counter>,
    pub routes: Gauge,
    pub servers: Gauge,
    pub resyncs: Counter,
    pub resync_seconds: Histogram,
    pub keys_read: Counter,
    /// Set from `Status` when scraped.
    pub seconds_since_sync: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            docker_events: Family::default(),
            writes: Family::default(),
            failures: Family::default(),
            routes: Gauge::default(),
            servers: Gauge::default(),
            resyncs: Counter::default(),
            resync_seconds: Histogram::new(RESYNC_BUCKETS.iter().copied()),
            keys_read: Counter::default(),
            seconds_since_sync: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `havok_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("havok");
        // Each row: the metric's name, the field it reads, its help text.
        macro_rules! register {
            ($($name:literal, $field:ident, $help:literal;)*) => {
                $(r.register($name, $help, self.$field.clone());)*
            };
        }
        register! {
            "docker_events", docker_events, "Docker container events handled, by action";
            "store_writes", writes, "Ops written to the store, by backend and op";
            "store_failures", failures, "Failed store calls, by backend";
            "routes", routes, "Routes this node wants";
            "servers", servers, "Servers this node wants";
            "resyncs", resyncs, "Full passes (observe, diff, apply)";
            "resync_duration_seconds", resync_seconds, "Duration of full passes";
            "seconds_since_last_sync", seconds_since_sync,
                "Seconds since the store last accepted a write pass";
            "store_keys_read", keys_read, "Keys or objects read from the store by full passes";
        }
    }
}
