//! The latency and cost benchmark (issue 8): how quickly a new container
//! takes traffic, how quickly a dead one stops, and what havok costs on a
//! host, measured against the real Docker daemon and a real store for each
//! compiled-in backend, printed as a table and one `BENCH_JSON` line each.
//!
//! ```text
//! cargo bench --bench latency -- [--quick] [--backend etcd3|etcd2|vulcand-api] [--n 50 --m 100 --k 200]
//! ```
//!
//! `docs/performance.md` explains every figure and holds one run's tables.
//!
//! # Layout
//! - `store`: the store (etcd 3.4 in a container, or the Vulcand contract
//!   server), a record of every change with its arrival time, the bare-write floor.
//! - `fleet`: the benchmark's containers and Docker's own event timestamps.
//! - `process`: havok's full passes from its log, its cost from `/proc`.
//! - `report`: percentiles, the table, the targets, the JSON line.
//! - `support`: the integration harness (`tests/it/support`), reused for etcd,
//!   the test image, unique names and the havok child process (`CARGO_BIN_EXE_havok`,
//!   which `cargo bench` builds with the release profile).
//!
//! Clocks: Docker stamps events with its wall clock (`time_nano`) and the
//! store record stamps arrivals with `SystemTime::now()` on the same host,
//! so "event → visible in the store" is one subtraction of the two.

#[path = "../../tests/it/support/mod.rs"]
mod support;

mod fleet;
mod process;
mod report;
mod store;

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use havok::docker::Watcher;
use havok::ids::{RouteId, RouteKey, ServerId};
use regex::Regex;
use serde_json::json;

use fleet::{DockerEvents, Fleet};
use process::{passes, sample};
use report::{ms_between, Report};
use store::{Backend, Store};
use support::{unique_name, Havok};

const USAGE: &str = "\
usage: cargo bench --bench latency -- [--quick] [--backend etcd3|etcd2|vulcand-api]... [--n N] [--m M] [--k K]
  --quick      N=5 M=10 K=10, for CI (sizes given after it still apply)
  --backend B  only this backend (repeatable; default: every compiled-in one)
  --n N        sequential starts and stops, one at a time (default 50)
  --m M        containers started at once in the burst (default 100)
  --k K        containers running when havok starts (default 200)";

/// The node id of the havok measured in the latency and burst phases.
const NODE: &str = "bench";
/// The node id of the havok of the probe phase (`--probe http`).
const PROBE_NODE: &str = "bench-probe";
/// The node id of the havok started with K containers (new servers: all written).
const BOOT_NODE: &str = "bench-k";
/// `docker stop -t` for the removal phase: `kill` (SIGTERM) and `die` this many seconds apart.
const STOP_GRACE: u32 = 2;
/// Start requests in flight during the burst: more only queue inside Docker.
const BURST_PARALLEL: usize = 32;
/// How long one container may take to be routed or removed before the run fails.
const ONE: Duration = Duration::from_secs(30);
/// How long a bulk phase (burst, startup) may take.
const BULK: Duration = Duration::from_secs(180);

struct Sizes {
    n: usize,
    m: usize,
    k: usize,
    quick: bool,
}

impl Sizes {
    /// Pause for havok to go quiet before a memory reading.
    fn settle(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 3 })
    }

    /// The window idle CPU is measured over (ticks are 10 ms: longer is finer).
    fn idle_window(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 10 })
    }
}

fn parse_args() -> Result<(Sizes, Vec<Backend>), String> {
    let mut sizes = Sizes {
        n: 50,
        m: 100,
        k: 200,
        quick: false,
    };
    let mut backends = Vec::new();
    let mut args = std::env::args().skip(1);
    let number = |flag: &str, value: Option<String>| -> Result<usize, String> {
        value
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            "--quick" => {
                sizes = Sizes {
                    n: 5,
                    m: 10,
                    k: 10,
                    quick: true,
                }
            }
            "--n" => sizes.n = number("--n", args.next())?,
            "--m" => sizes.m = number("--m", args.next())?,
            "--k" => sizes.k = number("--k", args.next())?,
            "--backend" => {
                let flag = args.next().unwrap_or_default();
                let backend = Backend::parse(&flag).ok_or_else(|| {
                    let known: Vec<&str> =
                        Backend::compiled_in().iter().map(|b| b.flag()).collect();
                    format!("--backend {flag:?}: compiled in are {}", known.join(", "))
                })?;
                backends.push(backend);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if backends.is_empty() {
        backends = Backend::compiled_in();
    }
    Ok((sizes, backends))
}

fn main() -> ExitCode {
    let (sizes, backends) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    eprintln!(
        "havok latency bench: N={} M={} K={}, binary {}",
        sizes.n,
        sizes.m,
        sizes.k,
        env!("CARGO_BIN_EXE_havok")
    );
    // Two workers: the benchmark's own watches must keep up with havok, not compete with it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        for backend in backends {
            let mut report = bench(backend, &sizes).await;
            report.print();
        }
    });
    ExitCode::SUCCESS
}

/// Polls `f` every 2 ms until it returns `Some`; panics after `timeout`.
/// Waiting only paces the benchmark: every figure comes from timestamps.
pub async fn until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f() {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `<scope>-<kind>000`, `<scope>-<kind>001`, …
fn names(scope: &str, kind: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{scope}-{kind}{i:03}"))
        .collect()
}

/// The frontend key of the host a fleet container is routed as (`…-s007` → `s007.local`).
fn frontend_key(name: &str) -> String {
    let host = format!("{}.local", name.rsplit('-').next().unwrap_or_default());
    format!("vulcand/frontends/{}/frontend", RouteKey::host(&host).id())
}

fn sid(node: &str, name: &str) -> String {
    ServerId::new(node, name).as_str().to_string()
}

/// The 1, 5 and 15 minute load averages: the host is shared, so say how busy it was.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Starts havok on the fixture's containers only, logging as operators run it
/// (info) plus the reconciler's debug line "full pass done" with its reads.
fn spawn_havok(backend: Backend, store: &Store, scope: &str, node: &str, resync: &str) -> Havok {
    spawn_probing(backend, store, scope, node, resync, "none")
}

/// [`spawn_havok`] with `--probe probe`.
fn spawn_probing(
    backend: Backend,
    store: &Store,
    scope: &str,
    node: &str,
    resync: &str,
    probe: &str,
) -> Havok {
    let mut args: Vec<String> = [
        "--backend",
        backend.flag(),
        "--names",
        &format!("^{scope}-"),
        "--node-id",
        node,
        "--resync-interval",
        resync,
        "--log-format",
        "json",
        "--log-level",
        "info,havok::reconcile=debug",
        // Route latency is measured without the readiness probe, which
        // waits for the app and would mix its start-up time into the rows;
        // the probe phase measures it on its own.
        "--probe",
        probe,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(store.havok_args());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Havok::spawn(&refs)
}

/// Waits until every server of `sids` was put (or deleted) at or after `mark`.
async fn all_seen(
    store: &Store,
    mark: usize,
    sids: &[String],
    put: bool,
    what: &str,
) -> Vec<SystemTime> {
    until(what, BULK, || {
        let firsts = store.firsts(mark, put);
        sids.iter().map(|s| firsts.get(s).copied()).collect()
    })
    .await
}

/// Waits for Docker's `action` event of every one of `names`.
async fn all_events(events: &DockerEvents, names: &[String], action: &str) -> Vec<SystemTime> {
    until(&format!("Docker's {action} events"), BULK, || {
        names
            .iter()
            .map(|n| events.first(n, action, None))
            .collect()
    })
    .await
}

fn earliest(times: &[SystemTime]) -> SystemTime {
    *times.iter().min().expect("at least one")
}

fn latest(times: &[SystemTime]) -> SystemTime {
    *times.iter().max().expect("at least one")
}

/// What one burst measured.
struct Burst {
    /// Docker's start event of each container, in `names` order.
    starts: Vec<SystemTime>,
    /// When each container's server was first seen in the store.
    puts: Vec<SystemTime>,
    /// When `docker rm -f` of all of them was sent, and each server seen gone.
    removing: SystemTime,
    gone: Vec<SystemTime>,
    /// havok before (containers created, not started), with all routed, and
    /// after the removal once settled.
    before: process::Sample,
    routed: process::Sample,
    after: process::Sample,
}

/// Creates `names`, starts them `BURST_PARALLEL` at a time, waits until all
/// are routed, removes them with `docker rm -f` and waits until all are gone.
async fn burst(
    store: &Store,
    events: &DockerEvents,
    fleet: &Fleet,
    names: &[String],
    pid: u32,
    sizes: &Sizes,
) -> Burst {
    let sids: Vec<String> = names.iter().map(|n| sid(NODE, n)).collect();
    fleet.create(names).await;
    tokio::time::sleep(sizes.settle()).await;
    let before = sample(pid);
    let mark = store.mark();
    fleet.start(names, BURST_PARALLEL).await;
    let puts = all_seen(store, mark, &sids, true, "every burst container routed").await;
    let starts = all_events(events, names, "start").await;
    tokio::time::sleep(sizes.settle()).await;
    let routed = sample(pid);
    let mark = store.mark();
    let removing = SystemTime::now();
    tokio::task::block_in_place(|| fleet.remove(names));
    let gone = all_seen(store, mark, &sids, false, "every burst server removed").await;
    tokio::time::sleep(sizes.settle() * 2).await;
    let after = sample(pid);
    Burst {
        starts,
        puts,
        removing,
        gone,
        before,
        routed,
        after,
    }
}

/// Every phase for one backend, in order, on one fresh store.
async fn bench(backend: Backend, sizes: &Sizes) -> Report {
    let flag = backend.flag();
    let say = |what: &str| eprintln!("[{flag}] {what}");
    let began = Instant::now();
    let load_before = load_average();
    let scope = unique_name("bench");
    let mut report = Report::new(
        format!(
            "havok latency bench: {flag} (N={} M={} K={}{})",
            sizes.n,
            sizes.m,
            sizes.k,
            if sizes.quick { ", --quick" } else { "" }
        ),
        json!({"backend": flag, "n": sizes.n, "m": sizes.m, "k": sizes.k, "quick": sizes.quick}),
    );
    let store = Store::start(backend).await;
    // havok's own listing code, for the "Docker's own listing" figure and a Docker client.
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

    // ---- havok up; the store's floor; one warm-up container, not counted ----
    let mut main = spawn_havok(backend, &store, &scope, NODE, "60s");
    let pid = main.pid();
    until("havok's first full pass", ONE, || {
        (!passes(&main).is_empty()).then_some(())
    })
    .await;
    let like = format!(
        "vulcand/backends/{}/servers/{}",
        RouteId::of(&RouteKey::host("s000.local")),
        sid(NODE, &format!("{scope}-s000"))
    );
    let warm = names(&scope, "w", 1);
    fleet.create(&warm).await;
    let mark = store.mark();
    fleet.start(&warm, 1).await;
    all_seen(
        &store,
        mark,
        &[sid(NODE, &warm[0])],
        true,
        "the warm-up route",
    )
    .await;
    // Also proves the event subscription is live before anything is measured.
    all_events(&events, &warm, "start").await;
    let mark = store.mark();
    tokio::task::block_in_place(|| fleet.remove(&warm));
    all_seen(
        &store,
        mark,
        &[sid(NODE, &warm[0])],
        false,
        "the warm-up removal",
    )
    .await;

    // ---- 1 and 2: N sequential starts, each stopped with SIGTERM once routed ----
    say(&format!("{} sequential starts and stops", sizes.n));
    let seq = names(&scope, "s", sizes.n);
    fleet.create(&seq).await;
    let mut route_ms = Vec::new();
    let mut complete_ms = Vec::new();
    let mut floor = Vec::new();
    let mut delivery_ms = Vec::new();
    let mut inspect_ms = Vec::new();
    let mut gone_at = Vec::new();
    let mut stopping = Vec::new();
    for (i, name) in seq.iter().enumerate() {
        let sid = sid(NODE, name);
        // The floor is sampled between the starts, so both see the same load.
        floor.push(store.floor(i, &like).await);
        let mark = store.mark();
        fleet.start(std::slice::from_ref(name), 1).await;
        let put = until(&format!("{name} to be routed"), ONE, || {
            store.first(mark, &sid, true)
        })
        .await;
        let started = until(&format!("Docker's start event of {name}"), ONE, || {
            events.first(name, "start", None)
        })
        .await;
        route_ms.push(ms_between(put, started));
        // Vulcand routes a new host once its frontend exists too; etcd v3
        // writes both in one transaction, the other stores one after the other.
        let frontend = frontend_key(name);
        let fronted = until(&format!("{name}'s frontend"), ONE, || {
            store.first_put(mark, &frontend)
        })
        .await;
        complete_ms.push(ms_between(put.max(fronted), started));
        // What havok cannot beat on Docker's side: delivering the event, and
        // the one inspect havok makes per start (timed here, after the route).
        if let Some(arrived) = events.arrival(name, "start") {
            delivery_ms.push(ms_between(arrived, started));
        }
        let inspecting = Instant::now();
        if let Err(e) = docker.inspect_container(name, None).await {
            panic!("inspect {name}: {e}");
        }
        inspect_ms.push(inspecting.elapsed().as_secs_f64() * 1e3);
        // Not waited for: the next start overlaps the previous one's 2 s grace,
        // as on a busy host; the server must be gone long before `die`.
        let mark = store.mark();
        stopping.push(fleet.stop_detached(name, STOP_GRACE));
        gone_at.push(
            until(&format!("{name}'s server to be removed"), ONE, || {
                store.first(mark, &sid, false)
            })
            .await,
        );
    }
    tokio::task::block_in_place(|| {
        for mut child in stopping {
            let _ = child.wait();
        }
    });
    let mut from_kill = Vec::new();
    let mut from_die = Vec::new();
    let mut before_die = 0;
    for (name, gone) in seq.iter().zip(&gone_at) {
        let kill = until(&format!("the SIGTERM kill event of {name}"), ONE, || {
            events.first(name, "kill", Some("15"))
        })
        .await;
        let die = until(&format!("the die event of {name}"), ONE, || {
            events.first(name, "die", None)
        })
        .await;
        from_kill.push(ms_between(*gone, kill));
        from_die.push(ms_between(*gone, die));
        before_die += usize::from(*gone < die);
    }
    tokio::task::block_in_place(|| fleet.remove(&seq));
    let route = report.dist(
        "route_ms",
        "route: Docker start event -> server in store",
        "ms",
        &route_ms,
    );
    report.dist(
        "route_complete_ms",
        "route: start event -> server and frontend in store",
        "ms",
        &complete_ms,
    );
    report.dist(
        "floor_ms",
        "store floor: one bare write -> seen",
        "ms",
        &floor,
    );
    report.dist(
        "docker_event_ms",
        "Docker floor: start event -> a subscriber",
        "ms",
        &delivery_ms,
    );
    report.dist(
        "docker_inspect_ms",
        "Docker floor: one container inspect",
        "ms",
        &inspect_ms,
    );
    report.dist(
        "removal_kill_ms",
        "removal: kill (SIGTERM) event -> server gone",
        "ms",
        &from_kill,
    );
    report.dist(
        "removal_die_ms",
        "removal: die event -> server gone (<0: before)",
        "ms",
        &from_die,
    );
    report.count(
        "removed_before_die",
        "removal: server gone before die",
        before_die,
        seq.len(),
    );

    // ---- idle cost: nothing running ----
    say("idle");
    tokio::time::sleep(sizes.settle()).await;
    let idle_start = sample(pid);
    tokio::time::sleep(sizes.idle_window()).await;
    let idle = sample(pid);
    let idle_cpu = (idle.cpu_s - idle_start.cpu_s) * 1e3 / sizes.idle_window().as_secs_f64();

    // ---- 3: a burst of M, then a second one to tell a one-time high-water mark from growth ----
    say(&format!("burst of {}", sizes.m));
    let first = burst(
        &store,
        &events,
        &fleet,
        &names(&scope, "b", sizes.m),
        pid,
        sizes,
    )
    .await;
    say(&format!("second burst of {}", sizes.m));
    let second = burst(
        &store,
        &events,
        &fleet,
        &names(&scope, "c", sizes.m),
        pid,
        sizes,
    )
    .await;
    let (before, routed, after) = (first.before, first.routed, first.after);
    report.value(
        "burst_ms",
        "burst: first start event -> all M routed",
        "ms",
        ms_between(latest(&first.puts), earliest(&first.starts)),
    );
    report.value(
        "burst_docker_span_ms",
        "burst: Docker's own first -> last start event",
        "ms",
        ms_between(latest(&first.starts), earliest(&first.starts)),
    );
    let lag: Vec<f64> = first
        .puts
        .iter()
        .zip(&first.starts)
        .map(|(put, start)| ms_between(*put, *start))
        .collect();
    report.dist(
        "burst_lag_ms",
        "burst: lag behind each start event",
        "ms",
        &lag,
    );
    report.value(
        "burst_removal_ms",
        "burst: docker rm -f sent -> all M gone",
        "ms",
        ms_between(latest(&first.gone), first.removing),
    );
    let end = sample(pid);
    main.sigterm();
    main.wait_exit(ONE).await;

    // ---- the readiness probe's cost: N sequential starts with `--probe http` ----
    say(&format!("{} sequential starts with --probe http", sizes.n));
    let mut probing = spawn_probing(backend, &store, &scope, PROBE_NODE, "60s", "http");
    until("the probing havok's first full pass", ONE, || {
        (!passes(&probing).is_empty()).then_some(())
    })
    .await;
    let probed = names(&scope, "p", sizes.n);
    fleet.create(&probed).await;
    let mut probed_ms = Vec::new();
    for name in &probed {
        let sid = sid(PROBE_NODE, name);
        let mark = store.mark();
        fleet.start(std::slice::from_ref(name), 1).await;
        let put = until(&format!("{name} to be routed after its probe"), ONE, || {
            store.first(mark, &sid, true)
        })
        .await;
        let started = until(&format!("Docker's start event of {name}"), ONE, || {
            events.first(name, "start", None)
        })
        .await;
        probed_ms.push(ms_between(put, started));
    }
    let probed_sids: Vec<String> = probed.iter().map(|n| sid(PROBE_NODE, n)).collect();
    let mark = store.mark();
    tokio::task::block_in_place(|| fleet.remove(&probed));
    all_seen(
        &store,
        mark,
        &probed_sids,
        false,
        "every probed server removed",
    )
    .await;
    probing.sigterm();
    probing.wait_exit(ONE).await;
    let with_probe = report.dist(
        "route_probe_ms",
        "route with --probe http: start event -> server in store",
        "ms",
        &probed_ms,
    );
    report.value(
        "probe_adds_ms",
        "probe: what --probe http adds to route p50",
        "ms",
        with_probe.p50 - route.p50,
    );

    // ---- 4: startup with K running, then a restart with everything in place ----
    say(&format!("startup with {} running", sizes.k));
    let ks = names(&scope, "k", sizes.k);
    let k_sids: Vec<String> = ks.iter().map(|n| sid(BOOT_NODE, n)).collect();
    fleet.create(&ks).await;
    fleet.start(&ks, 8).await;
    all_events(&events, &ks, "start").await;
    let mut listing_ms = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        let listed = watcher
            .list(&docker)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        listing_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(listed.len(), ks.len(), "Docker lists every K container");
    }
    let listing = report::Stats::of(&listing_ms).p50;
    let mark = store.mark();
    let spawned = SystemTime::now();
    let mut boot = spawn_havok(backend, &store, &scope, BOOT_NODE, "5s");
    let puts = all_seen(&store, mark, &k_sids, true, "every K container routed").await;
    let startup = ms_between(latest(&puts), spawned);
    let first_pass = until("the startup's full pass in havok's log", ONE, || {
        passes(&boot).into_iter().next()
    })
    .await;
    tokio::time::sleep(sizes.settle()).await;
    let with_k = sample(boot.pid());
    boot.sigterm();
    boot.wait_exit(ONE).await;

    say("restart with everything in place");
    let mark = store.mark();
    let api_writes = store.api_writes();
    let again = spawn_havok(backend, &store, &scope, BOOT_NODE, "5s");
    // Its start-up pass and its first periodic resync (5 s later).
    let restart_passes = until("two full passes after the restart", ONE, || {
        let p = passes(&again);
        (p.len() >= 2).then_some(p)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let changes = store.since(mark);
    let vulcand_changes = changes.iter().filter(|c| c.in_vulcand()).count();
    let other_changes = changes.len() - vulcand_changes;
    let api_writes = store
        .api_writes()
        .zip(api_writes)
        .map(|(now, then)| now - then);
    let with_k_again = sample(again.pid());
    again.sigterm();
    drop(again);
    tokio::task::block_in_place(|| fleet.remove(&ks));
    let resync = &restart_passes[1];

    report.value(
        "startup_ms",
        "startup: havok spawned -> all K routed",
        "ms",
        startup,
    );
    report.value(
        "docker_listing_ms",
        "startup: Docker list + inspect of K (median of 3)",
        "ms",
        listing,
    );
    report.value(
        "startup_beyond_listing_ms",
        "startup: beyond Docker's own listing",
        "ms",
        startup - listing,
    );
    report.value(
        "startup_pass_ms",
        "startup: first full pass (havok's log)",
        "ms",
        first_pass.took_ms,
    );
    match api_writes {
        Some(writes) => report.value(
            "restart_vulcand_writes",
            "restart: write requests to Vulcand's API",
            "count",
            writes as f64,
        ),
        None => report.value(
            "restart_vulcand_writes",
            "restart: watch events under vulcand/",
            "count",
            vulcand_changes as f64,
        ),
    }
    report.value(
        "restart_state_writes",
        "restart: changes under havok's state prefix",
        "count",
        other_changes as f64,
    );
    report.value(
        "resync_keys_read",
        "resync with K routed: keys read",
        "keys",
        resync.keys_read as f64,
    );
    report.value(
        "resync_bytes_read",
        "resync with K routed: bytes read",
        "bytes",
        resync.bytes_read as f64,
    );
    report.value(
        "resync_ms",
        "resync with K routed: took (havok's log)",
        "ms",
        resync.took_ms,
    );

    // ---- 5: cost, as the kernel counts it ----
    let growth = after.rss_kb as f64 - before.rss_kb as f64;
    let second_growth = second.after.rss_kb as f64 - after.rss_kb as f64;
    report.value(
        "idle_rss_mb",
        "cost: idle RSS, nothing routed",
        "MB",
        mb(idle.rss_kb),
    );
    report.value(
        "idle_rss_anon_mb",
        "cost: idle RSS, of which anonymous (heap, stacks)",
        "MB",
        mb(idle.anon_kb),
    );
    report.value("idle_cpu_ms_per_s", "cost: idle CPU", "ms/s", idle_cpu);
    report.value(
        "rss_before_burst_mb",
        "cost: RSS before the burst",
        "MB",
        mb(before.rss_kb),
    );
    report.value(
        "rss_burst_routed_mb",
        "cost: RSS with M routed",
        "MB",
        mb(routed.rss_kb),
    );
    report.value(
        "rss_after_burst_mb",
        "cost: RSS after the burst, settled",
        "MB",
        mb(after.rss_kb),
    );
    report.value(
        "rss_growth_mb",
        "cost: RSS growth across the burst",
        "MB",
        growth / 1024.0,
    );
    report.value(
        "rss_anon_growth_mb",
        "cost: of which anonymous (heap, stacks)",
        "MB",
        (after.anon_kb as f64 - before.anon_kb as f64) / 1024.0,
    );
    report.value(
        "rss_growth_second_mb",
        "cost: RSS growth across a second burst",
        "MB",
        second_growth / 1024.0,
    );
    report.value(
        "peak_rss_mb",
        "cost: peak RSS (VmHWM), latency+burst run",
        "MB",
        mb(end.hwm_kb),
    );
    report.value("cpu_s", "cost: CPU time, latency+burst run", "s", end.cpu_s);
    report.value(
        "k_rss_mb",
        "cost: RSS with K routed",
        "MB",
        mb(with_k.rss_kb),
    );
    report.value(
        "k_peak_rss_mb",
        "cost: peak RSS (VmHWM), startup with K",
        "MB",
        mb(with_k.hwm_kb),
    );
    report.value(
        "k_cpu_s",
        "cost: CPU time, startup with K",
        "s",
        with_k.cpu_s,
    );
    report.value(
        "k_restart_rss_mb",
        "cost: RSS with K routed, after the restart",
        "MB",
        mb(with_k_again.rss_kb),
    );

    // ---- the targets of issue 8 ----
    report.target(
        "route p50 < 2 ms",
        route.p50 < 2.0,
        format!("{:.2} ms", route.p50),
    );
    report.target(
        "route p99 < 10 ms",
        route.p99 < 10.0,
        format!("{:.2} ms", route.p99),
    );
    report.target(
        "removal before die",
        before_die == seq.len(),
        format!("{before_die}/{}", seq.len()),
    );
    report.target(
        "startup under 0.3 s beyond Docker's listing",
        startup - listing < 300.0,
        format!("{:.0} ms with K={}", startup - listing, sizes.k),
    );
    report.target(
        "idle RSS < 8 MB",
        mb(idle.rss_kb) < 8.0,
        format!("{:.1} MB", mb(idle.rss_kb)),
    );
    // 256 KB of slack: the allocator keeps a few pages, which is not growth per container.
    report.target(
        "no RSS growth across the burst (256 KB slack)",
        growth <= 256.0,
        format!("{growth:+.0} KB (a second identical burst: {second_growth:+.0} KB)"),
    );
    let restart_writes = api_writes.unwrap_or(vulcand_changes);
    report.target(
        "restart writes nothing under Vulcand's prefix",
        restart_writes == 0,
        format!("{restart_writes}"),
    );
    report.note(format!(
        "load average {load_before} at the start, {} at the end; {:.0} s for this backend",
        load_average(),
        began.elapsed().as_secs_f64()
    ));
    if resync.servers as usize != sizes.k {
        report.note(format!(
            "the resync measured wanted {} servers, not K={}",
            resync.servers, sizes.k
        ));
    }
    if store.resumed() > 0 {
        report.note(format!(
            "the etcd v2 watch stream was resumed {} times; events replayed then arrive late",
            store.resumed()
        ));
    }
    if backend == Backend::VulcandApi {
        report.note("the API is polled every 0.5 ms: its figures are late by up to that".into());
    }
    report
}
