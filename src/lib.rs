//! havok: watches Docker and keeps every matching container routed in Vulcand.
//!
//! # Layout
//! - `cli`: the raw flags, both spellings of the original's.
//! - `config`: figment merge of defaults < file < `HAVOK_*` < flags into one validated `Config`.
//! - `model`: pure: container → routes and servers; the route table.
//! - `readiness`: pure: whether a routed server is written now or after a probe answers.
//! - `gate`: the reconciler's readiness gate: ready servers and probes in flight.
//! - `probe`: the readiness probes (HTTP or TCP), one task per waiting server.
//! - `vulcand`: Vulcand's layout: ids, keys, JSON values.
//! - `sink`: the `RouteSink` trait every backend implements.
//! - `backends` (in `backends/`): one `RouteSink` per Cargo feature, and `build()`.
//! - `dry_run`: the sink behind `--dry-run`.
//! - `docker`: bollard: list, watch events, reconnect with backoff.
//! - `reconcile`: desired against observed: diff, apply, resync, keepalive, shutdown.
//! - `backoff`: capped exponential backoff and its logging policy.
//! - `tasks`: the watcher and reconciler tasks of `run`; either dying before shutdown is a failure.
//! - `status`, `metrics`, `serve`: health, Prometheus metrics and the `--listen` endpoints.
//! - `routes_cmd`: `havok routes`.
//! - `testkit` (feature `testkit`, never in a release build): what the integration
//!   tests and the latency benchmark share to run havok against real stores.

pub mod backoff;
pub mod cli;
pub mod config;
pub mod docker;
pub mod dry_run;
pub mod gate;
pub mod metrics;
pub mod model;
pub mod probe;
pub mod readiness;
pub mod reconcile;
pub mod routes_cmd;
pub mod serve;
pub mod sink;
pub mod status;
pub mod tasks;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod vulcand;

#[path = "../backends/mod.rs"]
pub mod backends;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError};
use crate::docker::Watcher;
use crate::metrics::Metrics;
use crate::reconcile::{Reconciler, Settings};
use crate::sink::RouteSink;
use crate::status::Status;

/// Why `run` could not start, or why it stopped before shutdown (a task
/// died); connectivity problems are retried, never returned.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error(transparent)]
    TaskDied(#[from] tasks::TaskDied),
}

/// The Docker watcher for `config`.
pub fn watcher(config: &Config) -> Watcher {
    Watcher::new(
        &config.docker,
        config.rules.names.clone(),
        config.rules.label_filters.clone(),
        config.resync_interval,
        config.max_backoff,
    )
}

/// Runs the bridge until `shutdown` is cancelled.
pub async fn run(config: Config, shutdown: CancellationToken) -> Result<(), RunError> {
    let status = Status::default();
    let metrics = Metrics::default();
    if let Some(addr) = config.listen {
        serve::start(addr, status.clone(), &metrics, shutdown.clone())
            .await
            .map_err(|e| RunError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    }
    let watcher = watcher(&config);
    let node = match &config.node_id {
        Some(node) => node.clone(),
        None => match watcher.node_name(&shutdown).await {
            Some(node) => config::validate_node_id(&node)?,
            None => return Ok(()),
        },
    };
    let sink: Box<dyn RouteSink> = if config.dry_run {
        Box::new(dry_run::DryRunSink::default())
    } else {
        backends::build(&config, &node)?
    };
    tracing::info!(
        backend = sink.name(),
        node = %node,
        docker = %config.docker,
        names = %config.rules.names,
        root_domain = %config.rules.root_domain,
        host_ip = %config.rules.host_ip,
        "havok {} starting",
        env!("CARGO_PKG_VERSION")
    );
    let settings = Settings {
        rules: config.rules.clone(),
        node,
        ttl: config.ttl,
        max_backoff: config.max_backoff,
        deregister_on_exit: config.deregister_on_exit,
        gc_every: 5,
        dry_run: config.dry_run,
        probe: config.probe.clone(),
        resync: config.resync_interval,
    };
    let (tx, rx) = mpsc::channel(4096);
    let docker = tokio::spawn(watcher.run(tx, status.clone(), shutdown.clone()));
    // Spawned too, so that its panic is seen here as the watcher's is.
    let reconciler =
        tokio::spawn(Reconciler::new(sink, settings, status, metrics).run(rx, shutdown.clone()));
    tasks::supervise(docker, reconciler, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
