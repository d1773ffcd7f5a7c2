//! Desired state (Docker) against observed state (the store): diff, apply,
//! resync, keepalive and shutdown. The diff (`plan`, `record`) is pure.
//!
//! One task owns the sink and the desired state. An event changes the
//! desired state of one container and writes only the difference against
//! what this node last wrote (the cache); a listing (start, resync,
//! reconnect) re-reads the store and repairs any drift. Any failure drops
//! the cache, and a full pass is retried with backoff.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::docker::DockerUpdate;
use crate::gate::Gate;
use crate::ids::RouteKey;
use crate::metrics::{ActionLabel, BackendLabel, Metrics, WriteLabels};
use crate::model::{route_container, Container, RouteSpec, RouteTable, Rules, ServerSpec, Verdict};
use crate::probe::Answered;
use crate::readiness::ProbeRules;
use crate::sink::{Observed, Op, RouteSink, RouteState, SinkError};
use crate::status::Status;
use crate::vulcand::RouteObjects;

/// A route whose middlewares in the store differ from this node's, while
/// other nodes have servers on it: left alone and warned about once.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub key: RouteKey,
    pub ours: Vec<(&'static str, Value)>,
    pub theirs: BTreeMap<String, Value>,
}

/// The ops that turn `observed` into `desired`, and the conflicts left alone.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub conflicts: Vec<Conflict>,
}

/// Diffs this node's desired routes against what the store holds for it.
///
/// A route the store was not read for (no `RouteState`) gets its objects
/// created only if missing; a route read and found different is rewritten.
/// Middlewares that differ are rewritten only while this node holds every
/// server of the route: otherwise another node disagrees, and rewriting
/// would flap between the two.
pub fn plan(desired: &RouteTable, observed: &Observed) -> Plan {
    let mut out = Plan::default();
    let empty = BTreeMap::new();
    for (key, entry) in &desired.routes {
        let own = observed.servers.get(key).unwrap_or(&empty);
        let objects = RouteObjects::of(&entry.spec);
        let rewrite_route = match observed.routes.get(key) {
            None => false,
            Some(state) => {
                let objects_ok = state.backend.as_ref() == Some(&objects.backend)
                    && state.frontend.as_ref() == Some(&objects.frontend);
                let ours: BTreeMap<String, Value> = objects
                    .middlewares
                    .iter()
                    .map(|(id, v)| (id.to_string(), v.clone()))
                    .collect();
                let middlewares_ok = state.middlewares == ours;
                let sole_owner = state.servers <= own.values().filter(|u| u.is_some()).count();
                if objects_ok && !middlewares_ok && !sole_owner {
                    out.conflicts.push(Conflict {
                        key: key.clone(),
                        ours: objects.middlewares.clone(),
                        theirs: state.middlewares.clone(),
                    });
                }
                !objects_ok || (!middlewares_ok && sole_owner)
            }
        };
        let servers: Vec<ServerSpec> = entry
            .servers
            .values()
            .filter(|s| own.get(&s.id) != Some(&Some(s.url.clone())))
            .cloned()
            .collect();
        if rewrite_route || !servers.is_empty() {
            out.ops.push(Op::Put {
                spec: entry.spec.clone(),
                servers,
                rewrite_route,
            });
        }
    }
    for (key, own) in &observed.servers {
        let wanted = desired.routes.get(key);
        let stale: Vec<_> = own
            .keys()
            .filter(|id| wanted.is_none_or(|e| !e.servers.contains_key(*id)))
            .collect();
        for (i, id) in stale.iter().enumerate() {
            out.ops.push(Op::Delete {
                key: key.clone(),
                server: (*id).clone(),
                // Try to remove the route once this node's last server on it is gone.
                collect: wanted.is_none() && i + 1 == stale.len(),
            });
        }
    }
    out
}

/// Updates the cache of what this node wrote after `ops` succeeded.
pub fn record(cache: &mut Observed, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put {
                spec,
                servers,
                rewrite_route,
            } => {
                let own = cache.servers.entry(spec.key.clone()).or_default();
                let mut added = 0;
                for s in servers {
                    if own.insert(s.id.clone(), Some(s.url.clone())).is_none() {
                        added += 1;
                    }
                }
                let objects = RouteObjects::of(spec);
                let state = cache
                    .routes
                    .entry(spec.key.clone())
                    .or_insert_with(|| RouteState {
                        backend: Some(objects.backend.clone()),
                        frontend: Some(objects.frontend.clone()),
                        middlewares: objects
                            .middlewares
                            .iter()
                            .map(|(id, v)| (id.to_string(), v.clone()))
                            .collect(),
                        servers: 0,
                    });
                if *rewrite_route {
                    state.backend = Some(objects.backend);
                    state.frontend = Some(objects.frontend);
                    state.middlewares = objects
                        .middlewares
                        .iter()
                        .map(|(id, v)| (id.to_string(), v.clone()))
                        .collect();
                }
                state.servers += added;
            }
            Op::Delete {
                key,
                server,
                collect,
            } => {
                let mut removed = false;
                if let Some(own) = cache.servers.get_mut(key) {
                    removed = own.remove(server).is_some();
                    if own.is_empty() {
                        cache.servers.remove(key);
                    }
                }
                if *collect {
                    cache.routes.remove(key);
                } else if let Some(state) = cache.routes.get_mut(key) {
                    state.servers = state.servers.saturating_sub(usize::from(removed));
                }
            }
            Op::Collect { key } => {
                cache.routes.remove(key);
            }
        }
    }
}

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
        let period = (self.settings.ttl / 3).max(Duration::from_millis(500));
        let mut keepalive = tokio::time::interval_at(Instant::now() + period, period);
        keepalive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut retry_at: Option<Instant> = None;
        let mut answers = self.answers.take().expect("run is called once");
        loop {
            let work = tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(answer) = answers.recv() => {
                    let mut wanted = self.gate.answered(&answer);
                    while let Ok(more) = answers.try_recv() {
                        wanted |= self.gate.answered(&more);
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
                    while batch.len() < 512 {
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

    /// Folds Docker updates into the desired state; true when a listing came.
    fn absorb(&mut self, batch: Vec<DockerUpdate>) -> bool {
        let mut full = false;
        for update in batch {
            match update {
                DockerUpdate::Listing(containers) => {
                    full = true;
                    self.have_listing = true;
                    self.containers.clear();
                    let ids: BTreeSet<String> = containers.iter().map(|c| c.id.clone()).collect();
                    self.refused.retain(|id, _| ids.contains(id));
                    self.gate.retain(&ids);
                    for c in containers {
                        self.metrics
                            .docker_events
                            .get_or_create(&ActionLabel {
                                action: "list".into(),
                            })
                            .inc();
                        self.judge(&c);
                    }
                }
                DockerUpdate::Changed(c) => {
                    self.metrics
                        .docker_events
                        .get_or_create(&ActionLabel {
                            action: "change".into(),
                        })
                        .inc();
                    self.judge(&c);
                }
                DockerUpdate::Gone { id, reason } => {
                    self.metrics
                        .docker_events
                        .get_or_create(&ActionLabel {
                            action: reason.clone(),
                        })
                        .inc();
                    self.containers.remove(&id);
                    self.refused.remove(&id);
                    self.gate.gone(&id, &reason);
                }
            }
        }
        full
    }

    /// Runs the model on one container and keeps its servers (or warns once).
    fn judge(&mut self, c: &Container) {
        if self.gate.is_stopping(c) {
            tracing::debug!(container = %c.name, "told to stop: not routed while it drains");
            self.containers.remove(&c.id);
            return;
        }
        let verdict = match route_container(c, &self.settings.rules, &self.settings.node) {
            Verdict::Routed(routes) => match self.gate.admit(c, &self.settings.rules, &routes) {
                Ok(()) => Verdict::Routed(routes),
                Err(refusal) => Verdict::Refused(refusal),
            },
            other => other,
        };
        match verdict {
            Verdict::Routed(routes) => {
                self.refused.remove(&c.id);
                self.containers.insert(c.id.clone(), routes);
            }
            Verdict::Ignored(why) => {
                tracing::debug!(container = %c.name, why, "not routed");
                self.containers.remove(&c.id);
                self.gate.forget(&c.id);
            }
            Verdict::Refused(refusal) => {
                let text = refusal.to_string();
                if self.refused.get(&c.id) != Some(&text) {
                    tracing::warn!(container = %c.name, "not routed: {text}");
                    self.refused.insert(c.id.clone(), text);
                }
                self.containers.remove(&c.id);
                self.gate.forget(&c.id);
            }
        }
    }

    /// The routes of every routed container whose server is ready.
    fn desired(&self) -> RouteTable {
        let gate = &self.gate;
        RouteTable::build(self.containers.iter().flat_map(|(id, routes)| {
            routes
                .iter()
                .filter(move |(_, s)| gate.is_ready(id, &s.url))
        }))
    }

    /// Re-reads the store and repairs every difference; collects orphans now and then.
    async fn full_pass(&mut self) -> Result<(), SinkError> {
        let started = Instant::now();
        self.sink.connect().await?;
        // Every routed container's routes, ready or not: a server the store
        // already holds is ready without a probe.
        let keys: BTreeSet<RouteKey> = self
            .containers
            .values()
            .flatten()
            .map(|(spec, _)| spec.key.clone())
            .collect();
        let mut observed = self.sink.observe(&keys).await?;
        self.gate.adopt(&self.containers, &observed);
        let desired = self.desired();
        self.publish(&desired);
        let (keys_read, bytes_read) = (observed.keys_read, observed.bytes_read);
        self.metrics.keys_read.inc_by(keys_read);
        let plan = plan(&desired, &observed);
        self.warn_conflicts(&plan.conflicts);
        self.write(&plan.ops).await?;
        record(&mut observed, &plan.ops);
        self.passes += 1;
        if gc_due(self.passes, self.settings.gc_every) {
            let orphans: Vec<Op> = self
                .sink
                .orphans()
                .await?
                .into_iter()
                .filter(|k| !desired.routes.contains_key(k))
                .map(|key| Op::Collect { key })
                .collect();
            if !orphans.is_empty() {
                tracing::info!(
                    routes = orphans.len(),
                    "removing routes whose servers all expired"
                );
                self.write(&orphans).await?;
            }
        }
        self.cache = Some(observed);
        self.metrics.resyncs.inc();
        self.metrics
            .resync_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            ops = plan.ops.len(),
            keys_read,
            bytes_read,
            routes = desired.routes.len(),
            servers = desired.server_count(),
            took = ?started.elapsed(),
            "full pass done"
        );
        Ok(())
    }

    /// Writes the difference between the desired state and the cache.
    async fn incremental(&mut self) -> Result<(), SinkError> {
        let desired = self.desired();
        self.publish(&desired);
        let cache = self.cache.as_ref().expect("incremental needs a cache");
        let plan = plan(&desired, cache);
        self.warn_conflicts(&plan.conflicts);
        self.write(&plan.ops).await?;
        if let Some(cache) = self.cache.as_mut() {
            record(cache, &plan.ops);
        }
        Ok(())
    }

    async fn write(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        if ops.is_empty() {
            return Ok(());
        }
        for op in ops {
            log_op(op, self.settings.dry_run);
        }
        self.sink.apply(ops).await?;
        let backend = self.sink.name().to_string();
        for op in ops {
            let name = match op {
                Op::Put { .. } => "put",
                Op::Delete { .. } => "delete",
                Op::Collect { .. } => "collect",
            };
            self.metrics
                .writes
                .get_or_create(&WriteLabels {
                    backend: backend.clone(),
                    op: name.into(),
                })
                .inc();
        }
        Ok(())
    }

    /// Handles a pass's result: on failure drop the cache and schedule a retry.
    fn after(&mut self, result: Result<(), SinkError>) -> Option<Instant> {
        match result {
            Ok(()) => {
                if self.refusal.take().is_some() {
                    tracing::info!("the store takes havok's writes again");
                }
                self.backoff.succeeded();
                self.status.set_store(None);
                None
            }
            Err(e) => {
                self.metrics
                    .failures
                    .get_or_create(&BackendLabel {
                        backend: self.sink.name().into(),
                    })
                    .inc();
                self.status.set_store(Some(e.to_string()));
                self.cache = None;
                if let SinkError::Refused { .. } = e {
                    let text = e.to_string();
                    if self.refusal.as_deref() != Some(text.as_str()) {
                        tracing::error!(
                            retry_in = ?self.settings.resync,
                            "store refused a request (not a connection problem; retried at each resync): {text}"
                        );
                        self.refusal = Some(text);
                    }
                    return Some(Instant::now() + self.settings.resync);
                }
                Some(Instant::now() + self.backoff.failed(&e.to_string()))
            }
        }
    }

    fn publish(&mut self, desired: &RouteTable) {
        self.metrics.routes.set(desired.routes.len() as i64);
        self.metrics.servers.set(desired.server_count() as i64);
        // Containers of this node that disagree about a route's frontend
        // settings: the first by name wins; warn once per route and text.
        self.container_conflicts.retain(|key, _| {
            desired
                .routes
                .get(key)
                .is_some_and(|e| !e.conflicts.is_empty())
        });
        for (key, entry) in &desired.routes {
            if entry.conflicts.is_empty() {
                continue;
            }
            let json = |l| serde_json::to_string(l).unwrap_or_default();
            let winner = entry.servers.values().map(|s| s.container.as_str()).min();
            let others: Vec<String> = entry
                .conflicts
                .iter()
                .map(|(container, limits)| format!("{container} wants {}", json(limits)))
                .collect();
            let text = format!(
                "containers ask for other frontend settings: {}; using {} from {} (the first by name)",
                others.join(", "),
                json(&entry.spec.limits),
                winner.unwrap_or("?")
            );
            if self.container_conflicts.get(key) != Some(&text) {
                tracing::warn!(route = %key, "{text}");
                self.container_conflicts.insert(key.clone(), text);
            }
        }
        self.status.set_table(desired.clone());
        self.status.set_waiting(self.gate.waiting());
    }

    /// Warns once per route and text. Every plan covers every desired route,
    /// so a route absent from `conflicts` has none now: forget it, or the map
    /// would grow with every route that ever had a conflict.
    fn warn_conflicts(&mut self, conflicts: &[Conflict]) {
        let now: BTreeSet<&RouteKey> = conflicts.iter().map(|c| &c.key).collect();
        self.conflicts.retain(|key, _| now.contains(key));
        for c in conflicts {
            let text = format!(
                "this node wants middlewares {}, the store has {} (set by another node); leaving it as it is",
                serde_json::to_string(&c.ours.iter().map(|(id, v)| (id.to_string(), v.clone())).collect::<BTreeMap<_, _>>()).unwrap_or_default(),
                serde_json::to_string(&c.theirs).unwrap_or_default()
            );
            if self.conflicts.get(&c.key) != Some(&text) {
                tracing::warn!(route = %c.key, "{text}");
                self.conflicts.insert(c.key.clone(), text);
            }
        }
    }

    /// `--deregister-on-exit`: removes this node's servers (and emptied routes).
    async fn deregister(&mut self) {
        let attempt = async {
            if self.cache.is_none() {
                self.sink.connect().await?;
                self.cache = Some(self.sink.observe(&BTreeSet::new()).await?);
            }
            let ops = plan(
                &RouteTable::default(),
                self.cache.as_ref().expect("just set"),
            )
            .ops;
            let count = ops.len();
            self.write(&ops).await?;
            Ok::<usize, SinkError>(count)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(count)) => tracing::info!(servers = count, "deregistered this node's servers"),
            Ok(Err(e)) => tracing::warn!("could not deregister on exit: {e}"),
            Err(_) => tracing::warn!("could not deregister on exit: timed out after 5s"),
        }
    }
}

fn log_op(op: &Op, dry_run: bool) {
    let would = if dry_run { "would " } else { "" };
    match op {
        Op::Put {
            spec,
            servers,
            rewrite_route,
        } => {
            for s in servers {
                tracing::info!(host = %spec.key, server = %s.id, url = %s.url, container = %s.container, "{would}add server");
            }
            if *rewrite_route {
                tracing::info!(host = %spec.key, "{would}write frontend and backend");
            }
        }
        Op::Delete {
            key,
            server,
            collect,
        } => {
            tracing::info!(host = %key, server = %server, remove_route_if_empty = collect, "{would}remove server");
        }
        Op::Collect { key } => {
            tracing::info!(host = %key, "{would}remove route if no server remains")
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
mod tests {
    use super::*;
    use crate::ids::ServerId;
    use crate::model::{Limits, RateLimit};

    fn spec(host: &str) -> RouteSpec {
        RouteSpec {
            key: RouteKey::host(host),
            limits: Limits::default(),
        }
    }

    fn server(node: &str, name: &str, port: u16) -> ServerSpec {
        ServerSpec {
            id: ServerId::new(node, name),
            url: format!("http://127.0.0.1:{port}"),
            container: name.into(),
        }
    }

    fn settings() -> Settings {
        Settings {
            rules: Rules::new(
                regex::Regex::new("^web-").unwrap(),
                "local",
                "127.0.0.1".parse().unwrap(),
            ),
            node: "a".into(),
            ttl: Duration::from_secs(30),
            max_backoff: Duration::from_secs(1),
            deregister_on_exit: true,
            gc_every: 5,
            dry_run: true,
            // The containers of these tests have no upstream to probe.
            probe: ProbeRules {
                kind: crate::readiness::ProbeKind::None,
                ..ProbeRules::default()
            },
            resync: Duration::from_secs(60),
        }
    }

    fn dry_run_reconciler() -> Reconciler {
        Reconciler::new(
            Box::new(crate::dry_run::DryRunSink::default()),
            settings(),
            Status::default(),
            Metrics::default(),
        )
    }

    /// A running container `name` that the rules of [`settings`] route.
    fn container(name: &str, n: u16) -> Container {
        Container {
            id: format!("{n:064x}"),
            name: name.into(),
            hostname: name.into(),
            running: true,
            ports: vec![crate::model::Port {
                port: 80,
                protocol: "tcp".into(),
                bindings: vec![("0.0.0.0".into(), 32000 + n)],
            }],
            ..Container::default()
        }
    }

    /// An in-memory store (as `--dry-run`'s) whose `apply`, once `stall` is
    /// set, writes and then never answers, as a store that hangs mid-pass.
    #[derive(Default)]
    struct StallingSink {
        store: std::sync::Arc<std::sync::Mutex<Observed>>,
        stall: std::sync::Arc<std::sync::atomic::AtomicBool>,
        stalled: std::sync::Arc<tokio::sync::Notify>,
    }

    #[async_trait::async_trait]
    impl RouteSink for StallingSink {
        fn name(&self) -> &'static str {
            "stalling"
        }
        fn describe(&self) -> String {
            "in memory".into()
        }
        async fn connect(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        async fn observe(&mut self, _: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
            Ok(self.store.lock().unwrap().clone())
        }
        async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
            record(&mut self.store.lock().unwrap(), ops);
            if self.stall.swap(false, std::sync::atomic::Ordering::SeqCst) {
                self.stalled.notify_one();
                std::future::pending::<()>().await;
            }
            Ok(())
        }
        async fn keepalive(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
            Ok(Vec::new())
        }
    }

    /// Polls `done` every 10 ms, for at most 10 s.
    async fn wait_until(done: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn table(items: &[(RouteSpec, ServerSpec)]) -> RouteTable {
        RouteTable::build(items)
    }

    fn state_of(spec: &RouteSpec, servers: usize) -> RouteState {
        let o = RouteObjects::of(spec);
        RouteState {
            backend: Some(o.backend),
            frontend: Some(o.frontend),
            middlewares: o
                .middlewares
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            servers,
        }
    }

    fn observed(items: &[(RouteSpec, ServerSpec)], others: usize) -> Observed {
        let mut o = Observed::default();
        for (spec, s) in items {
            o.servers
                .entry(spec.key.clone())
                .or_default()
                .insert(s.id.clone(), Some(s.url.clone()));
        }
        for (spec, _) in items {
            let n = o.servers[&spec.key].len() + others;
            o.routes.insert(spec.key.clone(), state_of(spec, n));
        }
        o
    }

    /// Each row: desired, observed, and the ops the plan must make.
    #[test]
    fn plans() {
        let foo = spec("foo.local");
        let bar = spec("bar.local");
        let a1 = server("a", "web-1", 1001);
        let a2 = server("a", "web-2", 1002);
        let moved = ServerSpec {
            url: "http://127.0.0.1:2001".into(),
            ..a1.clone()
        };
        let put = |spec: &RouteSpec, servers: Vec<ServerSpec>, rewrite_route: bool| Op::Put {
            spec: spec.clone(),
            servers,
            rewrite_route,
        };
        let del = |spec: &RouteSpec, s: &ServerSpec, collect: bool| Op::Delete {
            key: spec.key.clone(),
            server: s.id.clone(),
            collect,
        };
        let cases: Vec<(&str, RouteTable, Observed, Vec<Op>)> = vec![
            (
                "nothing to do",
                table(&[(foo.clone(), a1.clone())]),
                observed(&[(foo.clone(), a1.clone())], 0),
                vec![],
            ),
            (
                "new route, store not read: create if missing",
                table(&[(foo.clone(), a1.clone())]),
                Observed::default(),
                vec![put(&foo, vec![a1.clone()], false)],
            ),
            (
                "second server on a known route",
                table(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())]),
                observed(&[(foo.clone(), a1.clone())], 0),
                vec![put(&foo, vec![a2.clone()], false)],
            ),
            (
                "server moved to another port",
                table(&[(foo.clone(), moved.clone())]),
                observed(&[(foo.clone(), a1.clone())], 0),
                vec![put(&foo, vec![moved.clone()], false)],
            ),
            (
                "one of two servers gone: no collect",
                table(&[(foo.clone(), a1.clone())]),
                observed(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())], 0),
                vec![del(&foo, &a2, false)],
            ),
            (
                "last server gone: collect",
                table(&[]),
                observed(&[(foo.clone(), a1.clone())], 3),
                vec![del(&foo, &a1, true)],
            ),
            (
                "two stale servers: collect on the last",
                table(&[(bar.clone(), a1.clone())]),
                observed(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())], 0),
                vec![
                    put(&bar, vec![a1.clone()], false),
                    del(&foo, &a1, false),
                    del(&foo, &a2, true),
                ],
            ),
        ];
        for (what, desired, observed, want) in cases {
            assert_eq!(plan(&desired, &observed).ops, want, "{what}");
        }
    }

    /// Drift found by a resync is repaired: a deleted frontend or server key is rewritten.
    #[test]
    fn drift_is_repaired() {
        let foo = spec("foo.local");
        let a1 = server("a", "web-1", 1001);
        let desired = table(&[(foo.clone(), a1.clone())]);
        let mut o = observed(&[(foo.clone(), a1.clone())], 0);
        o.routes.get_mut(&foo.key).unwrap().frontend = None;
        assert_eq!(
            plan(&desired, &o).ops,
            vec![Op::Put {
                spec: foo.clone(),
                servers: vec![],
                rewrite_route: true
            }]
        );
        let mut o = observed(&[(foo.clone(), a1.clone())], 0);
        o.servers
            .get_mut(&foo.key)
            .unwrap()
            .insert(a1.id.clone(), None); // only bookkeeping left
        assert_eq!(
            plan(&desired, &o).ops,
            vec![Op::Put {
                spec: foo.clone(),
                servers: vec![a1.clone()],
                rewrite_route: false
            }]
        );
    }

    /// Middlewares are rewritten when this node alone serves the route, and left (as a conflict) when others do.
    #[test]
    fn middleware_conflicts_do_not_flap() {
        let limited = RouteSpec {
            key: RouteKey::host("foo.local"),
            limits: Limits {
                rate: Some(RateLimit {
                    requests: 5,
                    burst: 1,
                    variable: "client.ip".into(),
                }),
                conn: None,
            },
        };
        let plain = spec("foo.local");
        let a1 = server("a", "web-1", 1001);
        let desired = table(&[(limited.clone(), a1.clone())]);
        // The store has the plain frontend; this node is the only one: rewrite.
        let o = observed(&[(plain.clone(), a1.clone())], 0);
        let p = plan(&desired, &o);
        assert_eq!(
            p.ops,
            vec![Op::Put {
                spec: limited.clone(),
                servers: vec![],
                rewrite_route: true
            }]
        );
        assert!(p.conflicts.is_empty());
        // Another node has a server too: leave it, report the conflict.
        let o = observed(&[(plain.clone(), a1.clone())], 1);
        let p = plan(&desired, &o);
        assert!(p.ops.is_empty(), "{:?}", p.ops);
        assert_eq!(p.conflicts.len(), 1);
    }

    /// Each row: `gc_every`, and the passes (1 to 12) that look for orphans.
    #[test]
    fn orphan_passes() {
        let cases: [(u32, &[u32]); 4] = [
            (0, &[]),
            (1, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            (2, &[1, 3, 5, 7, 9, 11]),
            (5, &[1, 6, 11]),
        ];
        for (gc_every, want) in cases {
            let due: Vec<u32> = (1..=12).filter(|&p| gc_due(p, gc_every)).collect();
            assert_eq!(due, want, "gc_every = {gc_every}");
        }
    }

    /// A conflict is remembered (to warn once) only while plans still report it:
    /// a route whose conflict ended, or that is no longer desired, is forgotten.
    #[test]
    fn conflicts_are_forgotten_when_they_end() {
        let mut r = dry_run_reconciler();
        let conflict = |host: &str| Conflict {
            key: RouteKey::host(host),
            ours: vec![],
            theirs: BTreeMap::from([("rl".to_string(), Value::Null)]),
        };
        r.warn_conflicts(&[conflict("a.local"), conflict("b.local")]);
        assert_eq!(r.conflicts.len(), 2);
        r.warn_conflicts(&[conflict("b.local")]);
        assert_eq!(
            r.conflicts.keys().collect::<Vec<_>>(),
            vec![&RouteKey::host("b.local")]
        );
        r.warn_conflicts(&[]);
        assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
    }

    /// A shutdown that cuts a pass short after its writes landed still
    /// deregisters them: the cache predates those writes, so the store is re-read.
    #[tokio::test]
    async fn deregister_after_a_cut_short_pass_removes_its_writes() {
        let sink = StallingSink::default();
        let store = sink.store.clone();
        let (stall, stalled) = (sink.stall.clone(), sink.stalled.clone());
        let (tx, rx) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        let reconciler = Reconciler::new(
            Box::new(sink),
            settings(),
            Status::default(),
            Metrics::default(),
        );
        let run = tokio::spawn(reconciler.run(rx, shutdown.clone()));
        let servers = |store: &std::sync::Mutex<Observed>| -> usize {
            store
                .lock()
                .unwrap()
                .servers
                .values()
                .map(|s| s.len())
                .sum()
        };

        tx.send(DockerUpdate::Listing(vec![container("web-1", 1)]))
            .await
            .unwrap();
        wait_until(|| servers(&store) == 1).await;
        // The next write lands, and then the sink does not answer.
        stall.store(true, std::sync::atomic::Ordering::SeqCst);
        tx.send(DockerUpdate::Changed(container("web-2", 2)))
            .await
            .unwrap();
        stalled.notified().await;
        assert_eq!(servers(&store), 2);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), run)
            .await
            .expect("the reconciler stops")
            .unwrap();
        assert_eq!(servers(&store), 0, "{:?}", store.lock().unwrap().servers);
    }

    /// After recording the ops of a plan, planning again finds nothing to do.
    #[test]
    fn record_then_plan_is_idempotent() {
        let foo = spec("foo.local");
        let bar = spec("bar.local");
        let a1 = server("a", "web-1", 1001);
        let a2 = server("a", "web-2", 1002);
        let mut cache = observed(&[(foo.clone(), a1.clone())], 0);
        for desired in [
            table(&[(foo.clone(), a1.clone()), (bar.clone(), a2.clone())]),
            table(&[(bar.clone(), a2.clone())]),
            table(&[]),
            table(&[(foo.clone(), a2.clone())]),
        ] {
            let p = plan(&desired, &cache);
            record(&mut cache, &p.ops);
            assert_eq!(plan(&desired, &cache).ops, vec![], "after {:?}", p.ops);
        }
    }
}
