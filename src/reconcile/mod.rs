//! The reconciler: one task that owns the sink and the desired state, and
//! writes the difference between them (`crate::plan`) as Docker changes,
//! at every resync, keepalive and shutdown.
//!
//! An event changes the desired state of one container and writes only the
//! difference against what this node last wrote (the cache), for only the
//! routes that container is or was on (`touched`); a listing
//! (start, resync, reconnect) re-reads the store and repairs any drift. Any
//! failure drops the cache, and a full pass is retried with backoff.
//!
//! - `desired`: Docker's updates folded into the desired state.
//! - `passes`: full and incremental passes, writes, retries, deregistering.
//! - `report`: what operators see: the table's metrics, warn-once texts, a line per write.

mod desired;
mod passes;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::docker::DockerUpdate;
use crate::gate::Gate;
use crate::ids::RouteKey;
use crate::metrics::Metrics;
use crate::model::{RouteSpec, Rules, ServerSpec};
use crate::probe::Answered;
use crate::readiness::ProbeRules;
use crate::sink::{Observed, RouteSink, SinkError};
use crate::status::Status;

/// Docker updates taken from the channel in one batch and written together:
/// enough to fold a burst of starts into a few transactions, few enough that
/// one batch never holds up the loop for long.
const MAX_BATCH: usize = 512;

/// What the reconciler needs besides the sink.
pub struct Settings {
    pub rules: Rules,
    pub node: String,
    pub ttl: Duration,
    pub max_backoff: Duration,
    pub deregister_on_exit: bool,
    /// Look for orphaned routes every this many full passes.
    pub gc_every: u32,
    /// `--dry-run`: log lines say "would".
    pub dry_run: bool,
    /// When a routed container's server is ready to be written.
    pub probe: ProbeRules,
    /// `--resync-interval`: a request the store refused for its content is
    /// tried again only this often (backing off cannot make it pass).
    pub resync: Duration,
}

/// Room for probe answers not yet taken by the loop.
const PROBE_ANSWERS: usize = 256;

/// What the loop does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    FullPass,
    Incremental,
    Keepalive,
}

/// The one task that owns the sink and the desired state.
pub struct Reconciler {
    sink: Box<dyn RouteSink>,
    settings: Settings,
    status: Status,
    metrics: Metrics,
    /// Routed servers of each container, by container id.
    containers: BTreeMap<String, Vec<(RouteSpec, ServerSpec)>>,
    /// The warning last given for a container that cannot be routed (once per container).
    refused: HashMap<String, String>,
    /// The conflict last warned about per route (once per route and value).
    conflicts: HashMap<RouteKey, String>,
    /// The same for containers of this node that disagree about a route.
    container_conflicts: HashMap<RouteKey, String>,
    /// What this node last wrote or read; `None` forces a full pass.
    cache: Option<Observed>,
    /// Routes whose desired state may have changed since the last pass: the
    /// only ones the next incremental pass builds, plans and publishes.
    touched: BTreeSet<RouteKey>,
    have_listing: bool,
    passes: u32,
    backoff: Backoff,
    /// Which routed servers are ready to be written; probes for the others.
    gate: Gate,
    /// Where the probes report; taken by `run`.
    answers: Option<mpsc::Receiver<Answered>>,
    /// The last refusal logged, so a refusal repeated at every resync is logged once.
    refusal: Option<String>,
}

impl Reconciler {
    pub fn new(
        sink: Box<dyn RouteSink>,
        settings: Settings,
        status: Status,
        metrics: Metrics,
    ) -> Reconciler {
        let backoff = Backoff::new("store", settings.max_backoff);
        // Each probe sends one answer; a full channel only delays a probe task.
        let (answered, answers) = mpsc::channel(PROBE_ANSWERS);
        let gate = Gate::new(settings.probe.clone(), answered);
        Reconciler {
            sink,
            settings,
            status,
            metrics,
            containers: BTreeMap::new(),
            refused: HashMap::new(),
            conflicts: HashMap::new(),
            container_conflicts: HashMap::new(),
            cache: None,
            touched: BTreeSet::new(),
            have_listing: false,
            passes: 0,
            backoff,
            gate,
            answers: Some(answers),
            refusal: None,
        }
    }

    /// Runs until `shutdown`; then deregisters when asked to.
    pub async fn run(
        mut self,
        mut updates: mpsc::Receiver<DockerUpdate>,
        shutdown: CancellationToken,
    ) {
        tracing::info!(store = %self.sink.describe(), node = %self.settings.node, "writing routes");
        let period = self
            .sink
            .keepalive_period(self.settings.ttl)
            .max(Duration::from_millis(500));
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry_at: Option<Instant> = None;
        let mut answers = self.answers.take().expect("run is called once");
        loop {
            let work = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(answer) = answers.recv() => {
                    let mut wanted = self.answered(&answer);
                    while let Ok(more) = answers.try_recv() {
                        wanted |= self.answered(&more);
                    }
                    if !wanted || !self.have_listing || retry_at.is_some() {
                        continue;
                    }
                    if self.cache.is_none() { Work::FullPass } else { Work::Incremental }
                }
                update = updates.recv() => {
                    let Some(update) = update else { break };
                    let mut batch = vec![update];
                    // Events that arrived together are written together.
                    while batch.len() < MAX_BATCH {
                        match updates.try_recv() {
                            Ok(u) => batch.push(u),
                            Err(_) => break,
                        }
                    }
                    let full = self.absorb(batch);
                    if !self.have_listing || retry_at.is_some() {
                        continue; // a retry is due anyway and will cover this
                    }
                    if full || self.cache.is_none() { Work::FullPass } else { Work::Incremental }
                }
                _ = keepalive.tick() => {
                    if self.cache.is_none() {
                        continue; // the pending full pass writes under a live lease
                    }
                    Work::Keepalive
                }
                _ = sleep_until(retry_at) => Work::FullPass,
            };
            // A store that hangs must not hold up SIGTERM: the ops are
            // idempotent, so a pass cut short is simply done again next time.
            // Some of its writes may have landed without being recorded, so
            // the cache no longer holds all of this node's servers: drop it,
            // and deregistering re-reads the store.
            let result = tokio::select! {
                _ = shutdown.cancelled() => {
                    self.cache = None;
                    break;
                }
                result = self.work(work) => result,
            };
            if work != Work::Keepalive || result.is_err() {
                retry_at = self.after(result);
            }
        }
        if self.settings.deregister_on_exit {
            self.deregister().await;
        }
    }

    async fn work(&mut self, work: Work) -> Result<(), SinkError> {
        match work {
            Work::FullPass => self.full_pass().await,
            Work::Incremental => self.incremental().await,
            Work::Keepalive => self.sink.keepalive().await,
        }
    }
}

/// Whether full pass number `passes` (counted from 1) looks for orphans:
/// the first pass, then every `gc_every`-th after it; never when 0.
fn gc_due(passes: u32, gc_every: u32) -> bool {
    gc_every > 0 && passes.saturating_sub(1) % gc_every == 0
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
