//! havok: watches Docker and keeps every matching container routed in Vulcand.
//!
//! # Layout
//! - `cli`: the raw flags, both spellings of the original's.
//! - `config` (a folder): figment merge of defaults < file < `HAVOK_*` < flags into one
//!   validated `Config` (`raw`: the settings as spelled; `build`: one builder per section;
//!   `store`: the store settings, kept as given for the chosen backend to validate).
//! - `ids`: pure: route keys and the route and server ids (prefix-free, stable, per node).
//! - `model/`: pure: container → routes and servers; the route table. `container`
//!   (Docker's facts), `rules` (flags, labels, middlewares), `route` (hosts, path),
//!   `endpoint` (the server URL), `table`; `route_container` and its `Verdict` in `mod.rs`.
//! - `readiness`: pure: whether a routed server is written now or after a probe answers.
//! - `gate`: the reconciler's readiness gate: ready servers and probes in flight.
//! - `probe`: the readiness probes (HTTP or TCP), one task per waiting server.
//! - `vulcand`: Vulcand's layout: key paths and JSON values.
//! - `sink`: the `RouteSink` trait every backend implements.
//! - `backends` (in `backends/`): one `RouteSink` per Cargo feature (`etcd3/`, `etcd2/`,
//!   `vulcand_api/`: each only how its transport reads and writes); `Backend`, the chosen
//!   one with its own settings (`etcd_settings`, `vulcand_api_settings`), which builds the
//!   sink; and what they share: `bookkeeping` (havok's own etcd keys: records, markers),
//!   `observe` (which routes to read, keys merged with records), `apply` (the order ops
//!   are applied in).
//! - `dry_run`: the sink behind `--dry-run`.
//! - `docker/`: bollard: list, watch events, reconnect with backoff; `inspect` reduces
//!   Docker's answer to the model's container.
//! - `plan`: pure: the ops from what the store holds to what it should hold, and recording them.
//! - `reconcile/`: the task that owns the sink: `desired` (Docker's updates judged),
//!   `passes` (full and incremental passes, retries, deregistering), `report` (what
//!   operators see).
//! - `backoff`: capped exponential backoff and its logging policy.
//! - `tasks`: the watcher and reconciler tasks of `run`; either dying before shutdown is a failure.
//! - `status`, `metrics`, `serve`: health, Prometheus metrics and the `--listen` endpoints.
//! - `routes_cmd`: `havok routes`.
//! - `legacy_cmd`: `havok legacy`, the original havok's pre-0.8 keys.
//! - `docs/`: `havok generate-docs`: the man page (`man`), shell completions and
//!   `/etc/default/havok` (`default_file`), all from the clap flags.
//! - `testkit` (feature `testkit`, never in a release build): what the integration
//!   tests and the latency benchmark share to run havok against real stores.

pub mod backoff;
pub mod cli;
pub mod config;
pub mod docker;
pub mod docs;
pub mod dry_run;
pub mod gate;
pub mod ids;
pub mod legacy_cmd;
pub mod metrics;
pub mod model;
pub mod plan;
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

use crate::backends::{Backend, SinkTiming};
use crate::config::{Config, ConfigError};
use crate::docker::Watcher;
use crate::metrics::Metrics;
use crate::reconcile::{Reconciler, Settings};
use crate::sink::RouteSink;
use crate::status::Status;

/// Docker updates the watcher may queue ahead of the reconciler: a burst of
/// starts on a busy host fits, and a reconciler stuck on a dead store holds
/// the watcher back (a full channel waits) rather than growing without bound.
const DOCKER_UPDATES: usize = 4096;

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

/// Runs the bridge until `shutdown` is cancelled, writing through `backend`
/// (made from `config` by [`Backend::from_config`], so its settings were
/// refused before anything ran; unused under `--dry-run`).
pub async fn run(
    config: Config,
    backend: Backend,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
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
        backend.sink(SinkTiming::of(&config), &node)?
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
        gc_every: sink.gc_every(),
        dry_run: config.dry_run,
        probe: config.probe.clone(),
        resync: config.resync_interval,
    };
    let (tx, rx) = mpsc::channel(DOCKER_UPDATES);
    let docker = tokio::spawn(watcher.run(tx, status.clone(), shutdown.clone()));
    // Spawned too, so that its panic is seen here as the watcher's is.
    let reconciler =
        tokio::spawn(Reconciler::new(sink, settings, status, metrics).run(rx, shutdown.clone()));
    tasks::supervise(docker, reconciler, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}
