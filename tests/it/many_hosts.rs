//! Many havok nodes, one store: node loss, restart without churn, garbage
//! collection, read cost, exact state under seeded churn and targeted races,
//! and etcd cluster faults. One Docker daemon is split between nodes by
//! `-names` (`^<scope>-a-`, `^<scope>-b-`, …), each node with its own `--node-id`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::scenarios::{Backend, Fixture, TTL};
use crate::support::*;

/// The TTL of the fixtures, as a duration.
fn ttl() -> Duration {
    humantime::parse_duration(TTL).unwrap()
}

/// A node of the fixture that routes only `<scope>-<node>-*` containers.
fn node(f: &Fixture, node: &str, extra: &[&str]) -> Havok {
    f.havok_with_names(
        &format!("{}-{node}", f.scope),
        &format!("^{}-{node}-", f.scope),
        extra,
    )
}

/// Nodes `a` and `b` of `f`, then a web container of each: `a-1` as
/// `host_a` and `b-1` as `host_b`.
fn two_nodes_with_a_web_each(
    f: &Fixture,
    host_a: &str,
    host_b: &str,
) -> (Havok, Havok, TestContainer, TestContainer) {
    let a = node(f, "a", &[]);
    let b = node(f, "b", &[]);
    (a, b, f.web("a-1", host_a), f.web("b-1", host_b))
}

/// SIGKILL one node: its servers leave within the TTL, the other node's stay, and the shared host keeps its route.
pub async fn node_loss(b: Backend) {
    let f = Fixture::start(b, "node-loss").await;
    let (a, _b, wa, wb) = two_nodes_with_a_web_each(&f, "shared", "shared");
    f.wait_urls("shared.local", &[f.url_of(&wa), f.url_of(&wb)])
        .await;
    let killed = Instant::now();
    a.sigkill();
    let keep = vec![f.url_of(&wb)];
    // Poll until a's server is gone; the route must hold at every poll.
    let deadline = killed + ttl() + Duration::from_secs(10);
    loop {
        let s = f.view.snapshot().await;
        assert!(
            s.has_route("shared.local"),
            "the shared host lost its route: {s:#?}"
        );
        if s.urls("shared.local") == keep {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a's server still there after {:?}: {s:#?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = killed.elapsed();
    assert!(
        took <= ttl() + Duration::from_secs(3),
        "gone after {took:?}, TTL {TTL}"
    );
    eprintln!("node a's server left {took:?} after SIGKILL (TTL {TTL})");
}

/// A node restarted while its servers are alive makes no change Vulcand would see.
pub async fn restart_without_churn(b: Backend) {
    let f = Fixture::start_on_contract(b, "no-churn").await;
    // A long TTL keeps the API backend's keep-alive (a server POST every
    // TTL/3) out of the windows below, so every write counts.
    let slow_keepalive: &[&str] = &["--ttl", "60s"];
    let mut a = node(&f, "a", slow_keepalive);
    let w1 = f.web("a-1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&w1)]).await;
    a.wait_for_log("full pass done", TIMEOUT).await;
    // First, the check sees a change when there is one: a new route.
    let (w2, added, seen) = changes_during(&f, async {
        let w2 = f.web("a-2", "bar");
        f.wait_urls("bar.local", &[f.url_of(&w2)]).await;
        w2
    })
    .await;
    assert!(
        added > 0,
        "no change seen while bar.local was added: {seen:?}"
    );
    // Then the restart: none.
    let (again, changes, seen) = changes_during(&f, async {
        a.sigkill();
        a.wait_exit(Duration::from_secs(3)).await;
        let mut again = node(&f, "a", slow_keepalive);
        // Its first full pass and one resync after it.
        again.wait_for_log("full pass done", TIMEOUT).await;
        again.wait_full_passes(1).await;
        again
    })
    .await;
    assert_eq!(
        changes, 0,
        "writes Vulcand would see during the restart: {seen:?}"
    );
    let ops = pass_ops(&again.log_text());
    assert!(ops.len() >= 2, "{}", again.log_tail(20));
    assert!(
        ops.iter().all(|n| *n == 0),
        "every full pass after the restart planned no write: {ops:?}\n{}",
        again.log_tail(20)
    );
    f.wait_urls("foo.local", &[f.url_of(&w1)]).await;
    f.wait_urls("bar.local", &[f.url_of(&w2)]).await;
}

/// The `ops=N` of every "full pass done" line of a havok log, in order.
fn pass_ops(log: &str) -> Vec<usize> {
    log.lines()
        .filter(|l| l.contains("full pass done"))
        .map(|l| {
            let at = l.find(" ops=").unwrap_or_else(|| panic!("no ops= in {l}")) + 5;
            let digits: String = l[at..].chars().take_while(char::is_ascii_digit).collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("ops= without a number: {l}"))
        })
        .collect()
}

/// A host whose only node died is removed by another live node's resync once its servers expire.
pub async fn orphans_are_collected(b: Backend) {
    let f = Fixture::start(b, "orphans").await;
    let (a, _b, wa, wb) = two_nodes_with_a_web_each(&f, "lonely", "other");
    f.wait_urls("lonely.local", &[f.url_of(&wa)]).await;
    f.wait_urls("other.local", &[f.url_of(&wb)]).await;
    a.sigkill();
    drop(wa);
    // TTL for the server to expire, then node b's garbage collection (every 5th resync).
    let what = "the orphaned host to be removed by node b";
    wait_for_snapshot(
        f.view.as_ref(),
        what,
        ttl() + Duration::from_secs(30),
        |s| {
            !s.has_route("lonely.local")
                && s.urls("lonely.local").is_empty()
                && s.has_route("other.local")
        },
    )
    .await;
}

/// A resync reads this node's keys and the hosts it serves, not the whole prefix: 40 other nodes' servers cost nothing.
pub async fn resync_reads_only_own_keys(b: Backend) {
    let f = Fixture::start(b, "read-cost").await;
    // Ten other nodes (real havoks with their own node ids), each with a server on four other hosts.
    let others: Vec<TestContainer> = (0..4)
        .map(|i| f.web(&format!("o-{i}"), &format!("other{i}")))
        .collect();
    let mut writers = Vec::new();
    for n in 0..10 {
        writers.push(f.havok_with_names(
            &format!("{}-writer{n}", f.scope),
            &format!("^{}-o-", f.scope),
            &[],
        ));
    }
    for (i, c) in others.iter().enumerate() {
        let host = format!("other{i}.local");
        eventually("the 10 writers' servers", TIMEOUT, || {
            let view = f.view.as_ref();
            let host = host.clone();
            async move { view.snapshot().await.urls(&host).len() == 10 }
        })
        .await;
        let _ = c;
    }
    let mut a = node(&f, "a", &[]);
    let w = f.web("a-1", "mine");
    f.wait_urls("mine.local", &[f.url_of(&w)]).await;
    a.wait_for_log("full pass done", TIMEOUT).await;
    // A resync, not the first pass (which may look further: the API backend
    // looks through every havok route once, for servers of an earlier run).
    a.wait_full_passes(1).await;
    let line = a
        .log_text()
        .lines()
        .rev()
        .find(|l| l.contains("full pass done"))
        .unwrap()
        .to_string();
    let keys_read: u64 = field(&line, "keys_read").parse().unwrap();
    // Its own lease, record, backend, server and frontend: a handful, not the
    // others' 40 servers and records (the API: the frontend and backend
    // lists, five entries each, and this node's one route).
    assert!(keys_read < 20, "a resync read {keys_read} keys: {line}");
    eprintln!(
        "one resync read {keys_read} keys with 40 servers of 10 other nodes in the store: {line}"
    );
    drop(writers);
}

/// The value of `name=` in a log line.
pub fn field<'a>(line: &'a str, name: &str) -> &'a str {
    let start = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        + name.len()
        + 1;
    line[start..].split_whitespace().next().unwrap()
}

/// Seeded churn across three nodes sharing host names, plus targeted last-leaves/first-arrives races:
/// afterwards the store holds exactly the live containers, no lost server, no orphan route.
pub async fn exact_state_under_churn(b: Backend) {
    let seed: u64 = std::env::var("HAVOK_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!("exact_state_under_churn seed={seed} (replay with HAVOK_TEST_SEED={seed})");
    let mut rng = SmallRng::seed_from_u64(seed);
    let f = Fixture::start(b, "churn").await;
    // On etcd v3 the outcome must be exact without any resync; elsewhere within one resync.
    let resync: &[&str] = if b.exact_at_once() {
        &["--resync-interval", "1h"]
    } else {
        &[]
    };
    let _nodes: Vec<Havok> = ["a", "b", "c"]
        .iter()
        .map(|n| node(&f, n, resync))
        .collect();
    let hosts = ["h1", "h2", "h3"];
    let mut slots: BTreeMap<String, (String, Option<TestContainer>)> = BTreeMap::new();
    for n in ["a", "b", "c"] {
        for i in 0..4 {
            let host = hosts[rng.random_range(0..hosts.len())].to_string();
            slots.insert(format!("{n}-{i}"), (host, None));
        }
    }
    let names: Vec<String> = slots.keys().cloned().collect();
    for step in 0..100 {
        let name = &names[rng.random_range(0..names.len())];
        let (host, container) = slots.get_mut(name).unwrap();
        match container.take() {
            None => *container = Some(f.web(name, host)),
            Some(c) => {
                if step % 3 == 0 {
                    c.kill();
                }
                drop(c); // docker rm -f
            }
        }
    }
    // etcd v3: exact from the events alone (no resync runs: --resync-interval 1h);
    // etcd v2 and the API: within one resync (RESYNC = 2s), plus slack for a loaded machine.
    let timeout = if b.exact_at_once() {
        Duration::from_secs(10)
    } else {
        humantime::parse_duration(crate::scenarios::RESYNC).unwrap() + Duration::from_secs(10)
    };
    // Targeted race: node a's last server on "race" leaves while node b's first
    // arrives, five times. Each outcome is due within `timeout` of the stop,
    // not the 30 s a repair by later resyncs could take.
    for _ in 0..5 {
        let leaving = f.web("a-race", "race");
        f.wait_urls("race.local", &[f.url_of(&leaving)]).await;
        let arriving_name = f.name("b-race");
        let (arrived, ()) = tokio::join!(
            tokio::task::spawn_blocking(move || run_httpd(&arriving_name, "race", &["-P"])),
            async {
                tokio::task::spawn_blocking(move || leaving.stop())
                    .await
                    .unwrap()
            },
        );
        let arrived = arrived.unwrap();
        f.wait_urls_within("race.local", &[f.url_of(&arrived)], timeout)
            .await;
        drop(arrived);
        f.wait_gone("race.local").await;
    }
    // Expected: exactly the live containers, by host.
    let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (host, c) in slots.values() {
        if let Some(c) = c {
            want.entry(format!("{host}.local"))
                .or_default()
                .push(f.url_of(c));
        }
    }
    let what = format!("the store to equal the live containers {want:?} (seed {seed})");
    wait_for_snapshot(f.view.as_ref(), &what, timeout, |s| {
        let hosts_ok = hosts.iter().chain(["race"].iter()).all(|h| {
            let host = format!("{h}.local");
            let mut urls = want.get(&host).cloned().unwrap_or_default();
            urls.sort();
            s.urls(&host) == urls && s.has_route(&host) != urls.is_empty()
        });
        let no_orphans = s.backends.len() == want.len() && s.frontends.len() == want.len();
        hosts_ok && no_orphans
    })
    .await;
}

/// A three-member etcd cluster: stopping the leader, then all members and starting them again, never needs a havok restart.
pub async fn etcd_cluster_faults(b: Backend) {
    let cluster = EtcdCluster::start(3).await;
    let view: Box<dyn StoreView> = match b {
        #[cfg(feature = "etcd3")]
        Backend::Etcd3 => Box::new(Etcd3View::new(&cluster.urls())),
        #[cfg(feature = "etcd2")]
        Backend::Etcd2 => Box::new(Etcd2View::new(&cluster.urls())),
        other => panic!("{other:?} has no etcd cluster"),
    };
    let scope = unique_name("cluster");
    let machines = cluster.machines();
    let args = havok_args(
        b.flag(),
        &format!("^{scope}-"),
        &scope,
        &["-etcd-machines", &machines, "--ttl", TTL],
    );
    let havok = Havok::spawn(&strs(&args));
    let url = |c: &TestContainer| format!("http://127.0.0.1:{}", c.host_port(80));
    let want = |list: &[&TestContainer]| {
        let mut v: Vec<String> = list.iter().map(|c| url(c)).collect();
        v.sort();
        v
    };
    let w1 = run_httpd(&format!("{scope}-w1"), "foo", &["-P"]);
    wait_for_snapshot(view.as_ref(), "w1 routed", TIMEOUT, |s| {
        s.urls("foo.local") == want(&[&w1])
    })
    .await;

    let leader = cluster.leader_index().await;
    cluster.stop_member(leader);
    let stopped = Instant::now();
    let w2 = run_httpd(&format!("{scope}-w2"), "foo", &["-P"]);
    wait_for_snapshot(
        view.as_ref(),
        "w2 routed with the leader down",
        TIMEOUT,
        |s| s.urls("foo.local") == want(&[&w1, &w2]),
    )
    .await;
    eprintln!("routed {:?} after stopping the leader", stopped.elapsed());
    cluster.start_member(leader).await;

    for i in 0..3 {
        cluster.stop_member(i);
    }
    let w3 = run_httpd(&format!("{scope}-w3"), "foo", &["-P"]);
    w1.stop();
    // No member is healthy alone (no quorum): start two, then the third and wait for it.
    cluster.container(0).start();
    cluster.container(1).start();
    cluster.start_member(2).await;
    wait_for_snapshot(
        view.as_ref(),
        "convergence after the whole cluster restarted",
        TIMEOUT,
        |s| s.urls("foo.local") == want(&[&w2, &w3]) && s.has_route("foo.local"),
    )
    .await;
    let mut havok = havok;
    assert!(
        havok.exited().is_none(),
        "havok must not exit:\n{}",
        havok.log_tail(30)
    );
}

/// A lost lease (revoked here, as after a partition longer than the TTL) is replaced and this node's servers rewritten.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd3_lost_lease_is_replaced() {
    let f = Fixture::start(Backend::Etcd3, "lease-lost").await;
    let mut a = node(&f, "a", &[]);
    let w = f.web("a-1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&w)]).await;
    let mut client = etcd_client::Client::connect([f.etcd.as_ref().unwrap().url()], None)
        .await
        .unwrap();
    let leases = client.leases().await.unwrap();
    assert_eq!(leases.leases().len(), 1, "one lease per node");
    client.lease_revoke(leases.leases()[0].id()).await.unwrap();
    a.wait_for_log("lease expired", TIMEOUT).await;
    f.wait_urls("foo.local", &[f.url_of(&w)]).await;
    let leases = client.leases().await.unwrap();
    assert_eq!(
        leases.leases().len(),
        1,
        "a new lease replaced the revoked one"
    );
}

/// etcd v2 refreshes every 2/3 of the TTL, so a restart that took a while
/// finds server keys of the earlier run that would expire before its first
/// keep-alive: it refreshes them at once (`refresh=true`, no event), and
/// Vulcand sees no change. Before, the key expired and was written again.
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd2_restart_after_a_pause_keeps_servers() {
    let f = Fixture::start(Backend::Etcd2, "v2-pause").await;
    let a = node(&f, "a", &[]);
    let w = f.web("a-1", "paused");
    f.wait_urls("paused.local", &[f.url_of(&w)]).await;
    let url = f.etcd.as_ref().unwrap().url();
    let key_ttl = || {
        let url = url.clone();
        async move {
            let answer: serde_json::Value =
                reqwest::get(format!("{url}/v2/keys/vulcand/backends?recursive=true"))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
            crate::support::store::v2_leaves(&answer["node"])
                .iter()
                .find(|(k, _)| k.contains("/servers/"))
                .map(|(k, _)| k.to_string())
                .and_then(|k| {
                    let node = find_node(&answer["node"], &k)?;
                    node["ttl"].as_u64()
                })
        }
    };
    let ((), changes, seen) = changes_during(&f, async {
        a.sigkill();
        // The restart comes when the key has 3 s left, less than the 4 s
        // (2/3 of the 6 s TTL) to the new process's first keep-alive.
        eventually("the server key to have 3 s left", TIMEOUT, || {
            let ttl = key_ttl();
            async move { ttl.await.is_some_and(|t| t <= 3) }
        })
        .await;
        let again = node(&f, "a", &[]);
        again.wait_full_passes(1).await;
        // Past the old key's TTL and the first keep-alive.
        tokio::time::sleep(ttl()).await;
        drop(again);
    })
    .await;
    assert_eq!(changes, 0, "Vulcand would have seen: {seen:?}");
}

/// The node of the v2 tree `root` whose key is `key`.
#[cfg(feature = "etcd2")]
fn find_node<'a>(root: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    if root["key"].as_str() == Some(key) {
        return Some(root);
    }
    root["nodes"]
        .as_array()?
        .iter()
        .find_map(|child| find_node(child, key))
}

/// Runs `action` and counts the changes under Vulcand's prefix a watcher
/// would have seen meanwhile, with a line for each. Any failure to watch
/// fails the test: a check that could not look must not report "none".
async fn changes_during<T>(
    f: &Fixture,
    action: impl std::future::Future<Output = T>,
) -> (T, usize, Vec<String>) {
    match f.backend {
        #[cfg(feature = "etcd3")]
        Backend::Etcd3 => {
            let url = f.etcd.as_ref().unwrap().url();
            let mut client = etcd_client::Client::connect([url], None).await.unwrap();
            // `watch` returns once etcd has created the watch.
            let mut stream = client
                .watch(
                    "vulcand/",
                    Some(etcd_client::WatchOptions::new().with_prefix()),
                )
                .await
                .unwrap();
            let out = action.await;
            let mut seen = Vec::new();
            // Events are delivered within milliseconds; 500 ms of silence ends the count.
            loop {
                match tokio::time::timeout(Duration::from_millis(500), stream.message()).await {
                    Err(_quiet) => break,
                    Ok(Ok(Some(resp))) => {
                        assert!(!resp.canceled(), "the watch was cancelled: {resp:?}");
                        for e in resp.events() {
                            seen.push(format!(
                                "{:?} {}",
                                e.event_type(),
                                e.kv()
                                    .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
                                    .unwrap_or_default()
                            ));
                        }
                    }
                    Ok(Ok(None)) => panic!("the watch stream ended"),
                    Ok(Err(e)) => panic!("the watch failed: {e}"),
                }
            }
            let n = seen.len();
            (out, n, seen)
        }
        #[cfg(feature = "etcd2")]
        Backend::Etcd2 => {
            let url = f.etcd.as_ref().unwrap().url();
            let http = reqwest::Client::new();
            let answer = http
                .get(format!("{url}/v2/keys/vulcand"))
                .send()
                .await
                .expect("read etcd's index");
            let index: u64 = answer.headers()["x-etcd-index"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            let out = action.await;
            // Every event under /vulcand after `index`, one wait each
            // (refresh=true fires none); 500 ms without one ends the count.
            let mut seen = Vec::new();
            let mut next = index + 1;
            loop {
                let wait = http
                    .get(format!(
                        "{url}/v2/keys/vulcand?wait=true&recursive=true&waitIndex={next}"
                    ))
                    .send()
                    .await
                    .expect("start an etcd v2 wait");
                // etcd sends the headers of a wait at once and the body when an event comes.
                let body = match tokio::time::timeout(Duration::from_millis(500), wait.text()).await
                {
                    Err(_quiet) => break,
                    Ok(body) => body.expect("read an etcd v2 event"),
                };
                let event: serde_json::Value = serde_json::from_str(&body)
                    .unwrap_or_else(|e| panic!("an etcd v2 event ({e}): {body}"));
                let modified = event["node"]["modifiedIndex"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("not an event (history cleared?): {body}"));
                seen.push(format!("{} {}", event["action"], event["node"]["key"]));
                next = modified + 1;
            }
            let n = seen.len();
            (out, n, seen)
        }
        #[cfg(feature = "vulcand-api")]
        Backend::VulcandApi => {
            let contract = f.contract.as_ref().unwrap();
            let before = contract.writes().len();
            let out = action.await;
            // Every write request, server upserts included.
            let writes: Vec<String> = contract.writes()[before..].to_vec();
            (out, writes.len(), writes)
        }
        #[allow(unreachable_patterns)]
        other => panic!("{other:?} is not compiled in"),
    }
}

macro_rules! for_backends {
    ($backend:ident: $($scenario:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::from_module(stringify!($backend))).await
                }
            )*
        }
    };
}

#[cfg(feature = "etcd3")]
for_backends!(etcd3: node_loss, restart_without_churn, orphans_are_collected, resync_reads_only_own_keys, exact_state_under_churn, etcd_cluster_faults);
#[cfg(feature = "etcd2")]
for_backends!(etcd2: node_loss, restart_without_churn, orphans_are_collected, resync_reads_only_own_keys, exact_state_under_churn, etcd_cluster_faults);
// memng ignores server TTLs (engine/memng/mem.go UpsertServer), so node loss and
// orphan collection cannot be shown through the API backend; see README.
#[cfg(feature = "vulcand-api")]
for_backends!(vulcand_api: restart_without_churn, resync_reads_only_own_keys, exact_state_under_churn);
