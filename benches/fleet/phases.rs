//! The fleet's phases, in the order [`run`] takes them: start the nodes,
//! route their containers, idle, one resync's reads, RSS, a restart of every
//! node in turn, and the loss of half the nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use havok::testkit::Backend;

use crate::costs;
use crate::process::{mb, passes, sample};
use crate::report::Report;
use crate::world::{doomed, host_of, World, RESYNC, TTL};
use crate::Sizes;

/// How long a bulk phase may take before the run fails.
const BULK: Duration = Duration::from_secs(600);

pub async fn run(w: &mut World, sizes: &Sizes, r: &mut Report) {
    let n = sizes.nodes;
    r.note(format!(
        "--ttl {}s, --resync-interval {}s; {n} havoks, {n} containers, Docker, 3 etcd members and Vulcand share this host's {} cores, so the time rows partly measure that load",
        TTL.as_secs(),
        RESYNC.as_secs(),
        std::thread::available_parallelism().map_or(0, |p| p.get())
    ));
    start_nodes(w, r).await;
    route(w, r).await;
    let settled: Vec<usize> = w.live().map(|(_, h)| passes(h).len()).collect();
    wait_until("every node's next full pass", || {
        w.live().all(|(i, h)| passes(h).len() > settled[i])
    })
    .await;
    idle(w, sizes, r).await;
    resync_reads(w, r);
    rss(w, r);
    if w.on_etcd() {
        restart_all(w, r).await;
        node_loss(w, r).await;
    } else {
        r.note(
            "vulcand-api: no restart and node-loss rows. memng keeps a dead node's servers until Vulcand restarts (README), and it cannot be watched for changes".into(),
        );
    }
}

/// Polls `done` every 100 ms until it holds; panics after [`BULK`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + BULK;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_nodes(w: &mut World, r: &mut Report) {
    let t = Instant::now();
    for i in 0..w.nodes.len() {
        w.spawn(i);
    }
    wait_until("every node's first full pass", || {
        w.live().all(|(_, h)| !passes(h).is_empty())
    })
    .await;
    let took = t.elapsed().as_secs_f64();
    eprintln!(
        "[{}] {} nodes ready in {took:.1} s",
        w.backend.flag(),
        w.nodes.len()
    );
    r.value(
        "nodes_ready_s",
        "every node started and through its first pass",
        "s",
        took,
    );
}

/// Every container started at once, then polled through Vulcand until
/// every host is answered by both its containers.
async fn route(w: &mut World, r: &mut Report) {
    let n = w.nodes.len();
    let names: Vec<String> = (0..n).map(|i| w.container(i)).collect();
    w.containers.create(&names).await;
    w.containers.start(&names, 8).await;
    let started = Instant::now();
    let mut want: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        want.entry(format!("{}.local", host_of(i)))
            .or_default()
            .insert(name.clone());
    }
    let mut seen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let deadline = started + BULK;
    while !want.is_empty() {
        assert!(Instant::now() < deadline, "not routed: {want:?}");
        let hosts: Vec<String> = want.keys().cloned().collect();
        for host in hosts {
            if let Ok(name) = w.vulcand.who(&host).await {
                let seen = seen.entry(host.clone()).or_default();
                seen.insert(name);
                if seen == &want[&host] {
                    want.remove(&host);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = started.elapsed().as_secs_f64();
    eprintln!(
        "[{}] all {n} routed through Vulcand {took:.1} s after they started",
        w.backend.flag()
    );
    r.value(
        "route_all_s",
        "all containers started -> all answered through Vulcand",
        "s",
        took,
    );
    // The exact state: every host with its two servers, nothing else.
    let s = w.view.snapshot().await;
    let hosts: BTreeSet<String> = (0..n).map(host_of).collect();
    assert_eq!(
        s.frontends.len(),
        hosts.len(),
        "frontends: {:?}",
        s.frontends.keys()
    );
    for host in &hosts {
        let urls = s.urls(&format!("{host}.local"));
        assert_eq!(urls.len(), 2, "{host}: {urls:?}");
    }
}

async fn idle(w: &World, sizes: &Sizes, r: &mut Report) {
    let window = Duration::from_secs(if sizes.quick { 20 } else { 60 });
    let n = w.nodes.len() as f64;
    let per_minute = 60.0 / window.as_secs_f64();
    let (traffic0, grpc0, writes0) = (w.traffic(), grpc(w).await, writes(w).await);
    tokio::time::sleep(window).await;
    let traffic = w.traffic() - traffic0;
    let grpc = grpc(w).await - grpc0;
    let writes = writes(w).await - writes0;
    let requests = match w.backend {
        // HTTP/2: the proxy cannot tell requests apart; etcd counts them
        // (Vulcand's one watch stream is idle too).
        Backend::Etcd3 => grpc,
        _ => traffic.requests as f64,
    };
    r.value(
        "idle_requests_per_node_min",
        "idle: store requests per node per minute",
        "req",
        requests / n * per_minute,
    );
    r.value(
        "idle_bytes_per_node_min",
        "idle: store bytes (sent + received) per node per minute",
        "B",
        (traffic.up + traffic.down) as f64 / n * per_minute,
    );
    let ttls = window.as_secs_f64() / TTL.as_secs_f64();
    match w.backend {
        Backend::Etcd3 => {
            r.value("idle_writes", "idle: writes etcd applied (puts and deletes)", "count", writes);
            r.target("idle writes: 0 on etcd v3", writes == 0.0, format!("{writes} in {window:?}"));
        }
        Backend::Etcd2 => {
            let per_server = writes / n / ttls;
            r.value("idle_writes_per_server_ttl", "idle: writes per server per TTL", "count", per_server);
            r.target(
                "idle writes: at most 2 per server per TTL on etcd v2",
                per_server <= 2.0,
                format!("{per_server:.2} ({writes} writes in {window:?}, {n} servers)"),
            );
        }
        Backend::VulcandApi => r.note(
            "vulcand-api: every server is upserted again every TTL/3 (the API has no refresh); the idle rows are those upserts".into(),
        ),
    }
}

async fn grpc(w: &World) -> f64 {
    if w.backend == Backend::Etcd3 {
        costs::grpc_messages(&w.members).await
    } else {
        0.0
    }
}

async fn writes(w: &World) -> f64 {
    if w.on_etcd() {
        costs::writes(w.backend, &w.members).await
    } else {
        0.0
    }
}

/// The last full pass of every node: what one resync read.
fn resync_reads(w: &World, r: &mut Report) {
    let last: Vec<_> = w
        .live()
        .map(|(i, h)| {
            passes(h)
                .last()
                .cloned()
                .unwrap_or_else(|| panic!("node {i} logged no full pass"))
        })
        .collect();
    let keys: Vec<f64> = last.iter().map(|p| p.keys_read as f64).collect();
    let bytes: Vec<f64> = last.iter().map(|p| p.bytes_read as f64).collect();
    let keys = r.dist(
        "resync_keys",
        "one resync: keys (objects) read per node",
        "keys",
        &keys,
    );
    r.dist(
        "resync_bytes",
        "one resync: bytes read per node",
        "B",
        &bytes,
    );
    if w.on_etcd() {
        // Its record, and its route's backend, two servers and frontend.
        let own = 5.0;
        r.target(
            "resync reads per node do not depend on N",
            keys.max <= own,
            format!(
                "at most {} keys per node, its own record and route: {own}",
                keys.max
            ),
        );
    } else {
        r.note("vulcand-api: a resync lists every frontend and backend (one request each), so the objects read grow with the fleet while the requests do not; then it reads this node's routes".into());
    }
}

fn rss(w: &World, r: &mut Report) {
    let rss: Vec<f64> = w.live().map(|(_, h)| mb(sample(h.pid()).rss_kb)).collect();
    r.dist("rss_mb", "RSS per node", "MB", &rss);
}

/// Every node, one after another: SIGTERM, start again, its first full
/// pass; then the changes under Vulcand's prefix since before the first.
async fn restart_all(w: &mut World, r: &mut Report) {
    let member = w.members[0].clone();
    let mark = costs::mark(w.backend, &member).await;
    let done = Arc::new(AtomicBool::new(false));
    let watch = tokio::spawn(costs::changes_since(
        w.backend,
        member.clone(),
        mark,
        done.clone(),
    ));
    let t = Instant::now();
    for i in 0..w.nodes.len() {
        let mut old = w.nodes[i].take().expect("a live node");
        old.sigterm();
        old.wait_exit(Duration::from_secs(30)).await;
        w.spawn(i);
        let node = w.nodes[i].as_ref().unwrap();
        wait_until("a restarted node's first full pass", || {
            !passes(node).is_empty()
        })
        .await;
    }
    let took = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    match watch.await.expect("the watch task") {
        Ok(changes) => {
            eprintln!(
                "[{}] fleet restarted in {took:.0} s; Vulcand saw {} changes",
                w.backend.flag(),
                changes.len()
            );
            r.value(
                "restart_changes",
                "restart of every node in turn: changes under Vulcand's prefix",
                "count",
                changes.len() as f64,
            );
            r.target(
                "a restart of the whole fleet causes 0 changes in Vulcand",
                changes.is_empty(),
                format!(
                    "{} changes: {:?}",
                    changes.len(),
                    &changes[..changes.len().min(5)]
                ),
            );
        }
        Err(e) => r.note(format!("restart: the changes could not be counted: {e}")),
    }
    r.value(
        "restart_all_s",
        "restart of every node in turn, each to its first pass",
        "s",
        took,
    );
}

/// SIGKILL both nodes of every other host; until their servers and hosts
/// are gone from the store and Vulcand answers 404 for those hosts.
async fn node_loss(w: &mut World, r: &mut Report) {
    let n = w.nodes.len();
    let killed = Instant::now();
    for i in (0..n).filter(|&i| doomed(i)) {
        if let Some(node) = w.nodes[i].take() {
            node.sigkill();
        }
    }
    let gone: BTreeSet<String> = (0..n)
        .filter(|&i| doomed(i) && doomed(i ^ 1))
        .map(|i| format!("{}.local", host_of(i)))
        .collect();
    let kept: BTreeSet<String> = (0..n)
        .filter(|&i| !doomed(i))
        .map(|i| format!("{}.local", host_of(i)))
        .collect();
    let deadline = killed + BULK;
    loop {
        assert!(Instant::now() < deadline, "the dead half never left");
        let s = w.view.snapshot().await;
        let store_done = gone.iter().all(|h| !s.has_route(h) && s.urls(h).is_empty())
            && kept.iter().all(|h| s.urls(h).len() == 2);
        if store_done {
            let mut routed = 0;
            for h in &gone {
                if let Ok(a) = w.vulcand.request("GET", h, "/who", None).await {
                    if a.status != 404 {
                        routed += 1;
                    }
                }
            }
            if routed == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed.elapsed().as_secs_f64();
    let bound = (TTL + RESYNC).as_secs_f64();
    eprintln!(
        "[{}] half the fleet SIGKILLed: converged in {took:.1} s",
        w.backend.flag()
    );
    r.value(
        "node_loss_s",
        "SIGKILL of half -> servers and empty hosts gone through Vulcand",
        "s",
        took,
    );
    r.target(
        "node loss converges within TTL + one resync interval",
        took <= bound,
        format!(
            "{took:.1} s (TTL {}s + resync {}s = {bound} s)",
            TTL.as_secs(),
            RESYNC.as_secs()
        ),
    );
}
