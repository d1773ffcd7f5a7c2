//! Prometheus metrics (prometheus-client): events, writes and failures by
//! backend, routes and servers held, resyncs and their duration.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
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
            resync_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            keys_read: Counter::default(),
            seconds_since_sync: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `havok_` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("havok");
        r.register(
            "docker_events",
            "Docker container events handled, by action",
            self.docker_events.clone(),
        );
        r.register(
            "store_writes",
            "Ops written to the store, by backend and op",
            self.writes.clone(),
        );
        r.register(
            "store_failures",
            "Failed store calls, by backend",
            self.failures.clone(),
        );
        r.register("routes", "Routes this node wants", self.routes.clone());
        r.register("servers", "Servers this node wants", self.servers.clone());
        r.register(
            "resyncs",
            "Full passes (observe, diff, apply)",
            self.resyncs.clone(),
        );
        r.register(
            "resync_duration_seconds",
            "Duration of full passes",
            self.resync_seconds.clone(),
        );
        r.register(
            "seconds_since_last_sync",
            "Seconds since the store last accepted a write pass",
            self.seconds_since_sync.clone(),
        );
        r.register(
            "store_keys_read",
            "Keys or objects read from the store by full passes",
            self.keys_read.clone(),
        );
    }
}
