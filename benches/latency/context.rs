//! What every phase of one backend's run shares: the store and its record,
//! Docker's events, the benchmark's containers, the sizes, and the ways to
//! start havok, name containers, find their keys and wait for them.

use std::time::{Duration, Instant, SystemTime};

use bollard::Docker;
use havok::docker::Watcher;
use havok::ids::{RouteId, RouteKey, ServerId};
use havok::testkit::{unique_name, Backend, Havok};
use havok::vulcand::Layout;
use regex::Regex;
use serde_json::json;

use crate::args::Sizes;
use crate::fleet::{DockerEvents, Fleet};
use crate::process::{sample, Sample};
use crate::report::Report;
use crate::store::{Store, VULCAND_PREFIX};

/// The node id of the havok measured in the latency and burst phases.
pub const NODE: &str = "bench";
/// How long one container may take to be routed or removed before the run fails.
pub const ONE: Duration = Duration::from_secs(30);
/// How long a bulk phase (burst, startup) may take.
pub const BULK: Duration = Duration::from_secs(180);

/// One backend's run. Fields drop in order: the containers go before the
/// event subscription, the store (and its etcd container) last.
pub struct Context<'a> {
    pub fleet: Fleet,
    pub events: DockerEvents,
    pub docker: Docker,
    /// havok's own listing code, for the "Docker's own listing" figure.
    pub watcher: Watcher,
    pub store: Store,
    pub backend: Backend,
    pub sizes: &'a Sizes,
    /// `havok-test-bench-<random>`: every container is `<scope>-<suffix>`.
    pub scope: String,
    layout: Layout,
    began: Instant,
    load_before: String,
}

impl Context<'_> {
    /// Starts the store, connects to Docker and subscribes to its events.
    pub async fn start(backend: Backend, sizes: &Sizes) -> Context<'_> {
        let began = Instant::now();
        let load_before = load_average();
        let scope = unique_name("bench");
        let store = Store::start(backend).await;
        let docker_url =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let watcher = Watcher::new(
            &docker_url,
            Regex::new(&format!("^{scope}-")).expect("a valid regex"),
            Vec::new(),
            Duration::from_secs(60),
            Duration::from_secs(1),
        );
        let docker = watcher.connect().await.unwrap_or_else(|e| panic!("{e}"));
        let events = DockerEvents::subscribe(&docker, &scope);
        let fleet = Fleet::new(docker.clone(), &scope);
        Context {
            fleet,
            events,
            docker,
            watcher,
            store,
            backend,
            sizes,
            scope,
            layout: Layout::new(VULCAND_PREFIX),
            began,
            load_before,
        }
    }

    /// The empty report of this run, titled with its backend and sizes.
    pub fn report(&self) -> Report {
        let (flag, sizes) = (self.backend.flag(), self.sizes);
        Report::new(
            format!(
                "havok latency bench: {flag} (N={} M={} K={}{})",
                sizes.n,
                sizes.m,
                sizes.k,
                if sizes.quick { ", --quick" } else { "" }
            ),
            json!({"backend": flag, "n": sizes.n, "m": sizes.m, "k": sizes.k, "quick": sizes.quick}),
        )
    }

    /// One progress line on stderr.
    pub fn say(&self, what: &str) {
        eprintln!("[{}] {what}", self.backend.flag());
    }

    /// The note on how busy the shared host was and how long this run took.
    pub fn load_note(&self) -> String {
        format!(
            "load average {} at the start, {} at the end; {:.0} s for this backend",
            self.load_before,
            load_average(),
            self.began.elapsed().as_secs_f64()
        )
    }

    /// `<scope>-<kind>000`, `<scope>-<kind>001`, …
    pub fn names(&self, kind: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{}-{kind}{i:03}", self.scope))
            .collect()
    }

    /// `<scope>x-<kind>000`, …: the benchmark's own containers that havok's
    /// `--names ^<scope>-` leaves alone.
    pub fn unrouted_names(&self, kind: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{}x-{kind}{i:03}", self.scope))
            .collect()
    }

    /// The key of the server `node` writes for fleet container `name`.
    pub fn server_key(&self, node: &str, name: &str) -> String {
        self.layout
            .server_key(&route_id(name), &ServerId::new(node, name))
    }

    /// The key of the frontend fleet container `name` is routed by.
    pub fn frontend_key(&self, name: &str) -> String {
        self.layout.frontend_key(&route_id(name))
    }

    /// Starts havok on the fixture's containers only, logging as operators run it
    /// (info) plus the reconciler's debug line "full pass done" with its reads
    /// and the watcher's "inspected after event" (the stages of a route).
    pub fn spawn_havok(&self, node: &str, resync: &str) -> Havok {
        self.spawn_probing(node, resync, "none")
    }

    /// [`spawn_havok`](Self::spawn_havok) with `--probe probe`.
    pub fn spawn_probing(&self, node: &str, resync: &str, probe: &str) -> Havok {
        let mut args: Vec<String> = [
            "--backend",
            self.backend.flag(),
            "--names",
            &format!("^{}-", self.scope),
            "--node-id",
            node,
            "--resync-interval",
            resync,
            "--log-format",
            "json",
            "--log-level",
            "info,havok::reconcile=debug,havok::docker=debug",
            // Route latency is measured without the readiness probe, which
            // waits for the app and would mix its start-up time into the rows;
            // the probe phase measures it on its own.
            "--probe",
            probe,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(self.store.havok_args());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Havok::spawn(&refs)
    }

    /// Starts fleet container `name` alone and waits until `node`'s server
    /// for it is in the store and Docker's start event has arrived.
    pub async fn start_routed(&self, node: &str, name: &str) -> Routed {
        let sid = sid(node, name);
        let mark = self.store.mark();
        self.fleet.start(&[name.to_string()], 1).await;
        let put = until(&format!("{name} to be routed"), ONE, || {
            self.store.first(mark, &sid, true)
        })
        .await;
        let started = until(&format!("Docker's start event of {name}"), ONE, || {
            self.events.first(name, "start", None)
        })
        .await;
        Routed { mark, put, started }
    }

    /// Waits until every server of `sids` was put (or deleted) at or after `mark`.
    pub async fn all_seen(
        &self,
        mark: usize,
        sids: &[String],
        put: bool,
        what: &str,
    ) -> Vec<SystemTime> {
        until(what, BULK, || {
            let firsts = self.store.firsts(mark, put);
            sids.iter().map(|s| firsts.get(s).copied()).collect()
        })
        .await
    }

    /// Waits for Docker's `action` event of every one of `names`.
    pub async fn all_events(&self, names: &[String], action: &str) -> Vec<SystemTime> {
        until(&format!("Docker's {action} events"), BULK, || {
            names
                .iter()
                .map(|n| self.events.first(n, action, None))
                .collect()
        })
        .await
    }
}

/// One container started alone and routed.
pub struct Routed {
    /// The store record's position before the start.
    pub mark: usize,
    /// When its server was first seen in the store.
    pub put: SystemTime,
    /// Docker's start event.
    pub started: SystemTime,
}

/// The route of a fleet container, by its hostname (`…-s007` → `s007.local`).
fn route_id(name: &str) -> RouteId {
    let host = format!("{}.local", name.rsplit('-').next().unwrap_or_default());
    RouteId::of(&RouteKey::host(&host))
}

/// The server id `node` writes for container `name`.
pub fn sid(node: &str, name: &str) -> String {
    ServerId::new(node, name).as_str().to_string()
}

/// Polls `f` every 2 ms until it returns `Some`; panics after `timeout`.
/// Waiting only paces the benchmark: every figure comes from timestamps.
pub async fn until<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    match within(timeout, f).await {
        Some(value) => value,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// Like [`until`], but `None` after `timeout`.
pub async fn within<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Waits until havok logged its first full pass.
pub async fn first_pass(havok: &Havok, what: &str) {
    until(what, ONE, || {
        (!crate::process::passes(havok).is_empty()).then_some(())
    })
    .await;
}

/// havok's last reading, then SIGTERM and its exit.
pub async fn finish(havok: &mut Havok) -> Sample {
    let end = sample(havok.pid());
    havok.sigterm();
    havok.wait_exit(ONE).await;
    end
}

pub fn earliest(times: &[SystemTime]) -> SystemTime {
    *times.iter().min().expect("at least one")
}

pub fn latest(times: &[SystemTime]) -> SystemTime {
    *times.iter().max().expect("at least one")
}

/// The 1, 5 and 15 minute load averages: the host is shared, so say how busy it was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
