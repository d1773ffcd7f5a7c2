//! A fleet of 20 havok nodes on one etcd, through the real Vulcand: every
//! container routed, the exact final state, what the idle fleet writes
//! (from etcd's own counters), what one resync of each node reads, one
//! orphan collector for the whole cluster, and the loss of half the fleet.
//!
//! Node `i` routes `<scope>-n<i>-*`: a container on the shared host
//! `s<i % 10>` (so nodes `i` and `i + 10` share it) and one on its own host
//! `o<i>`. Nodes 0–9 are then SIGKILLed: the shared hosts keep the
//! survivors' servers and the killed nodes' own hosts are removed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::many_hosts::field;
use crate::scenarios::{Backend, Fixture, RESYNC, TTL};
use crate::support::etcd::{metric_sum, write_counters};
use crate::support::*;

const NODES: usize = 20;

fn secs(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap()
}

pub async fn fleet(b: Backend) {
    let f = Fixture::start(b, "fleet").await;
    let etcd = f.etcd.as_ref().expect("an etcd backend").url();
    // host -> the containers on it; node -> its hosts.
    let mut on_host: BTreeMap<String, Vec<(usize, TestContainer)>> = BTreeMap::new();
    let mut hosts_of: Vec<[String; 2]> = Vec::new();
    for i in 0..NODES {
        let (shared, own) = (format!("s{}", i % 10), format!("o{i}"));
        let web = f.web(&format!("n{i}-s"), &shared);
        on_host.entry(shared.clone()).or_default().push((i, web));
        let web = f.web(&format!("n{i}-o"), &own);
        on_host.entry(own.clone()).or_default().push((i, web));
        hosts_of.push([shared, own]);
    }
    let nodes: Vec<Havok> = (0..NODES)
        .map(|i| {
            f.havok_with_names(
                &format!("{}-n{i}", f.scope),
                &format!("^{}-n{i}-", f.scope),
                &[],
            )
        })
        .collect();
    let urls = |host: &str| -> Vec<String> {
        let mut urls: Vec<String> = on_host[host].iter().map(|(_, c)| f.url_of(c)).collect();
        urls.sort();
        urls
    };
    for host in on_host.keys() {
        f.wait_urls(&format!("{host}.local"), &urls(host)).await;
    }

    // The exact state: every host with exactly its servers, nothing else.
    let s = f.view.snapshot().await;
    assert_eq!(s.backends.len(), on_host.len(), "{s:#?}");
    assert_eq!(s.frontends.len(), on_host.len(), "{s:#?}");
    assert!(s.unknown.is_empty(), "stray keys: {:?}", s.unknown);
    for host in on_host.keys() {
        assert_eq!(s.urls(&format!("{host}.local")), urls(host));
    }

    // Settled: every node has made a full pass that wrote nothing.
    for n in &nodes {
        n.wait_full_passes(2).await;
    }
    // One resync of each node reads its records and its own two routes,
    // whatever the size of the fleet: a record per server, and per route
    // its backend, every server on it, and its frontend.
    for (i, n) in nodes.iter().enumerate() {
        let log = n.log_text();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("full pass done"))
            .unwrap();
        let keys_read: usize = field(line, "keys_read").parse().unwrap();
        let expected = 2 + hosts_of[i]
            .iter()
            .map(|h| 2 + on_host[h].len())
            .sum::<usize>();
        assert_eq!(
            keys_read, expected,
            "node {i}'s resync read {keys_read} keys, not its {expected}: {line}"
        );
        assert_eq!(field(line, "ops"), "0", "node {i} still writes: {line}");
    }

    // One collector for the cluster: one node claimed the role and only it
    // looked for orphans.
    let logs: Vec<String> = nodes.iter().map(Havok::log_text).collect();
    let claimed: Vec<usize> = (0..NODES)
        .filter(|&i| logs[i].contains("is the cluster's orphan collector"))
        .collect();
    let looked: Vec<usize> = (0..NODES)
        .filter(|&i| logs[i].contains("looked for orphaned routes"))
        .collect();
    assert_eq!(
        claimed.len(),
        1,
        "nodes that claimed the collector: {claimed:?}"
    );
    assert_eq!(looked, claimed, "nodes that read the route markers");
    let collector = claimed[0];

    // Idle: what the whole fleet writes in three TTLs.
    let (ttl, servers) = (secs(TTL), 2 * NODES);
    let window = ttl * 3;
    let before = metric_sum(&etcd, write_counters(b == Backend::Etcd2)).await;
    tokio::time::sleep(window).await;
    let writes = metric_sum(&etcd, write_counters(b == Backend::Etcd2)).await - before;
    let per_server_per_ttl = writes / servers as f64 / 3.0;
    eprintln!(
        "{b:?}: {NODES} idle nodes with {servers} servers wrote {writes} times in {window:?} \
         ({per_server_per_ttl:.2} per server per TTL)"
    );
    match b {
        Backend::Etcd2 => assert!(
            per_server_per_ttl <= 2.0,
            "etcd v2 keep-alive: {per_server_per_ttl:.2} writes per server per TTL (at most 2)"
        ),
        _ => assert_eq!(writes, 0.0, "etcd v3: an idle fleet writes nothing"),
    }

    // Half the fleet dies, the collector among them: the survivors' servers
    // stay, the dead nodes' servers leave within the TTL and their own hosts
    // are removed by the collector that takes over.
    let killed_at = Instant::now();
    // The collector is always one of the dead, so the takeover is shown too.
    let mut dead: Vec<usize> = (0..NODES / 2).collect();
    if !dead.contains(&collector) {
        dead.push(collector);
    }
    for &i in &dead {
        nodes[i].sigkill();
    }
    let within = ttl + secs(RESYNC) * 2 + ttl * 2 / 3 + Duration::from_secs(10);
    let survivors = |host: &str| -> Vec<String> {
        let mut urls: Vec<String> = on_host[host]
            .iter()
            .filter(|(i, _)| !dead.contains(i))
            .map(|(_, c)| f.url_of(c))
            .collect();
        urls.sort();
        urls
    };
    wait_for_snapshot(
        f.view.as_ref(),
        "the dead half's servers and hosts to leave",
        within,
        |s| {
            on_host.keys().all(|h| {
                s.urls(&format!("{h}.local")) == survivors(h)
                    && (survivors(h).is_empty() != s.has_route(&format!("{h}.local")))
            })
        },
    )
    .await;
    eprintln!(
        "{b:?}: half the fleet SIGKILLed; the store converged after {:?} (TTL {TTL}, resync {RESYNC})",
        killed_at.elapsed()
    );
    for host in on_host.keys() {
        let host_name = format!("{host}.local");
        if survivors(host).is_empty() {
            f.wait_gone(&host_name).await;
        } else {
            f.wait_urls(&host_name, &survivors(host)).await;
        }
    }
    let new_collector: Vec<usize> = (0..NODES)
        .filter(|i| !dead.contains(i))
        .filter(|&i| {
            nodes[i]
                .log_text()
                .contains("is the cluster's orphan collector")
        })
        .collect();
    assert_eq!(
        new_collector.len(),
        1,
        "survivors that took the collector over: {new_collector:?}"
    );
}

macro_rules! fleet_on {
    ($backend:ident) => {
        mod $backend {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fleet_of_20() {
                super::fleet(super::Backend::from_module(stringify!($backend))).await
            }
        }
    };
}

#[cfg(feature = "etcd3")]
fleet_on!(etcd3);
#[cfg(feature = "etcd2")]
fleet_on!(etcd2);
