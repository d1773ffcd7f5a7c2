//! Sink-level tests of `Etcd2Sink` against a real etcd 3.4 with its v2 API on:
//! write order and values, the guarded route removal, the repair after a
//! race, TTL refresh without watch events, escaping, member failover.
#![cfg(feature = "etcd2")]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use havok::backends::etcd2::Etcd2Sink;
use havok::backends::{EtcdSettings, SinkTiming};
use havok::config::{Config, RawConfig};
use havok::ids::{RouteKey, ServerId};
use havok::model::{Limits, RateLimit, RouteSpec, ServerSpec};
use havok::sink::{Op, RouteSink, SinkError};
use havok::vulcand::{Layout, RouteObjects, RATELIMIT_ID};
use serde_json::{json, Value};

use crate::support::ops::{delete, put, put_servers, remove_if_empty, server, set};
use crate::support::{eventually, EtcdServer, TcpProxy};

/// A route is written in Vulcand's layout, read back by `observe`, and its server deleted.
#[tokio::test(flavor = "multi_thread")]
async fn put_observe_delete() {
    let (etcd, raw, mut sink) = etcd_with_sink("node-a", "30s").await;
    let spec = RouteSpec {
        key: RouteKey::host("foo.local"),
        limits: Limits {
            rate: Some(RateLimit {
                requests: 5,
                burst: 2,
                variable: "client.ip".into(),
            }),
            conn: None,
        },
        settings: Default::default(),
    };
    let web = server("node-a", "web-1", 32768);
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();

    let id = spec.key.id();
    let v2 = Layout::new("/vulcand");
    let objects = RouteObjects::of(&spec);
    let server_node = raw.get(&v2.server_key(&id, &web.id)).await.unwrap();
    assert_eq!(
        server_node["value"],
        json!({"URL": "http://127.0.0.1:32768"}).to_string()
    );
    assert!(server_node["ttl"].as_u64().unwrap() > 25, "{server_node}");
    let record = raw
        .get(&format!("/havok/nodes/node-a/servers/{id}/{}", web.id))
        .await
        .unwrap();
    // Records carry no TTL of their own: their directory does, five TTLs
    // (refreshed every fourth), so they cost no write per keep-alive.
    assert!(record.get("ttl").is_none(), "{record}");
    let records = raw.get("/havok/nodes/node-a/servers").await.unwrap();
    assert!(records["ttl"].as_u64().unwrap() > 4 * 30, "{records}");
    let marker = raw.get(&format!("/havok/routes/{id}")).await.unwrap();
    assert_eq!(marker["value"], r#"{"host":"foo.local"}"#);
    assert!(marker.get("ttl").is_none(), "{marker}");

    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert_eq!(
        observed.servers[&spec.key][&web.id].url(),
        Some(web.url.as_str())
    );
    let state = &observed.routes[&spec.key];
    assert_eq!(state.backend.as_ref(), Some(&objects.backend));
    assert_eq!(state.frontend.as_ref(), Some(&objects.frontend));
    assert_eq!(state.middlewares[RATELIMIT_ID], objects.middlewares[0].1);
    assert_eq!(state.server_count, 1);
    assert!(
        observed.keys_read >= 5 && observed.bytes_read > 0,
        "{observed:?}"
    );

    // With no route asked about, bookkeeping still leads observe to this node's servers.
    let observed = sink.observe(&BTreeSet::new()).await.unwrap();
    assert!(observed.servers[&spec.key].contains_key(&web.id));

    // Another node's server is counted but not reported as this node's.
    let mut other = start_sink(&etcd.url(), "node-b", "30s").await;
    let theirs = server("node-b", "web-1", 40000);
    other.apply(&[put(&spec, &[&theirs], false)]).await.unwrap();
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert_eq!(observed.routes[&spec.key].server_count, 2);
    assert_eq!(observed.servers[&spec.key].len(), 1);

    sink.apply(&[delete(&spec.key, &web)]).await.unwrap();
    assert!(raw.get(&v2.server_key(&id, &web.id)).await.is_none());
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert!(!observed.servers.contains_key(&spec.key), "{observed:?}");
    assert_eq!(observed.routes[&spec.key].server_count, 1);
    // Deleting again is fine (404 is success).
    sink.apply(&[delete(&spec.key, &web)]).await.unwrap();
}

/// Deleting the last server removes middlewares, frontend, backend and the marker.
#[tokio::test(flavor = "multi_thread")]
async fn last_server_delete_removes_the_route() {
    let (_etcd, raw, mut sink, spec, web) = etcd_with_one_server("node-a", 32768).await;

    sink.apply(&[delete(&spec.key, &web), remove_if_empty(&spec.key)])
        .await
        .unwrap();
    let id = spec.key.id();
    for key in [
        format!("/vulcand/backends/{id}"),
        format!("/vulcand/frontends/{id}"),
        format!("/havok/routes/{id}"),
        format!("/havok/nodes/node-a/servers/{id}/{}", web.id),
    ] {
        assert!(raw.get(&key).await.is_none(), "{key} is still there");
    }
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert_eq!(observed.routes[&spec.key], Default::default());
    assert!(sink.orphans().await.unwrap().is_empty());
    // Collecting a route that is already gone is fine.
    sink.apply(&[remove_if_empty(&spec.key)]).await.unwrap();
}

/// While another node has a server, removing this node's last one keeps the route.
#[tokio::test(flavor = "multi_thread")]
async fn dir_not_empty_guard_keeps_a_shared_route() {
    let (etcd, raw, mut a) = etcd_with_sink("node-a", "30s").await;
    let mut b = start_sink(&etcd.url(), "node-b", "30s").await;
    let spec = limited("foo.local");
    let wa = server("node-a", "web-1", 1000);
    let wb = server("node-b", "web-1", 2000);
    a.apply(&[put(&spec, &[&wa], false)]).await.unwrap();
    b.apply(&[put(&spec, &[&wb], false)]).await.unwrap();

    a.apply(&[delete(&spec.key, &wa), remove_if_empty(&spec.key)])
        .await
        .unwrap();
    let id = spec.key.id();
    let v2 = Layout::new("/vulcand");
    for key in [
        v2.backend_key(&id),
        v2.server_key(&id, &wb.id),
        v2.frontend_key(&id),
        v2.middleware_key(&id, RATELIMIT_ID),
        format!("/havok/routes/{id}"),
    ] {
        assert!(raw.get(&key).await.is_some(), "{key} was removed");
    }
    assert!(raw.get(&v2.server_key(&id, &wa.id)).await.is_none());
    assert!(a.orphans().await.unwrap().is_empty());

    // The last node's delete then removes it.
    b.apply(&[delete(&spec.key, &wb), remove_if_empty(&spec.key)])
        .await
        .unwrap();
    assert!(raw.get(&format!("/vulcand/backends/{id}")).await.is_none());
    assert!(raw.get(&format!("/vulcand/frontends/{id}")).await.is_none());
}

/// A frontend lost to a removal race is reported missing by `observe` and restored by a rewrite.
#[tokio::test(flavor = "multi_thread")]
async fn resync_repairs_a_frontend_lost_to_a_race() {
    let (_etcd, raw, mut b, spec, wb) = etcd_with_one_server("node-b", 2000).await;
    // What node A's removal does when B's server arrives after A's servers-dir
    // delete: the frontend and its middlewares go while B's server exists.
    let id = spec.key.id();
    raw.delete_tree(&format!("/vulcand/frontends/{id}")).await;

    let observed = b.observe(&set(&[&spec.key])).await.unwrap();
    let state = &observed.routes[&spec.key];
    assert_eq!(state.frontend, None);
    assert!(state.middlewares.is_empty());
    assert_eq!(state.server_count, 1);
    assert!(state.backend.is_some());

    // A create-if-missing put would also restore it; the reconciler rewrites.
    b.apply(&[put(&spec, &[], true)]).await.unwrap();
    let observed = b.observe(&set(&[&spec.key])).await.unwrap();
    let objects = RouteObjects::of(&spec);
    let state = &observed.routes[&spec.key];
    assert_eq!(state.frontend.as_ref(), Some(&objects.frontend));
    assert_eq!(state.middlewares[RATELIMIT_ID], objects.middlewares[0].1);
    assert_eq!(
        observed.servers[&spec.key][&wb.id].url(),
        Some(wb.url.as_str())
    );
}

/// `keepalive` keeps keys past their TTL without a watch event; once they expire it reports `LeaseLost`.
#[tokio::test(flavor = "multi_thread")]
async fn keepalive_refreshes_without_watch_events() {
    let (_etcd, raw, mut sink) = etcd_with_sink("node-a", "3s").await;
    let spec = RouteSpec::plain(RouteKey::host("foo.local"));
    let web = server("node-a", "web-1", 32768);
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
    // The first keep-alive claims the orphan collector's key (a create);
    // every later one only refreshes.
    sink.keepalive().await.unwrap();
    let index = raw.index().await;

    // Five seconds of one-second heartbeats on a three-second TTL.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        sink.keepalive().await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let key = Layout::new("/vulcand").server_key(&spec.key.id(), &web.id);
    assert!(raw.get(&key).await.is_some(), "{key} expired");
    let record = format!("/havok/nodes/node-a/servers/{}/{}", spec.key.id(), web.id);
    assert!(raw.get(&record).await.is_some(), "{record} expired");
    // Nothing under / changed since the put as far as a watcher can tell
    // (one more heartbeat first, so nothing expires while the watcher waits).
    sink.keepalive().await.unwrap();
    if let Some(event) = raw.event_after(index, Duration::from_secs(1)).await {
        panic!("a watcher saw {event}");
    }
    // The same watcher does see a plain set (the server written again).
    let index = raw.index().await;
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
    let event = raw.event_after(index, Duration::from_secs(1)).await;
    assert_eq!(event.unwrap()["action"], "set");

    // Without heartbeats the keys expire, and the next keepalive says so.
    eventually("the server key to expire", Duration::from_secs(15), || {
        let raw = &raw;
        let key = &key;
        async move { raw.get(key).await.is_none() }
    })
    .await;
    match sink.keepalive().await {
        Err(SinkError::LeaseLost { .. }) => {}
        other => panic!("expected LeaseLost, got {other:?}"),
    }
    // Forgotten once lost: the next keepalive has nothing to refresh.
    sink.keepalive().await.unwrap();
}

/// One key whose refresh fails does not stop the refreshes of the others:
/// they all outlive their first TTL, and the failure is still reported.
#[tokio::test(flavor = "multi_thread")]
async fn keepalive_refreshes_the_rest_when_one_key_fails() {
    let (_etcd, raw, mut sink) = etcd_with_sink("node-a", "3s").await;
    let web = server("node-a", "web-1", 32768);
    let (a, b) = (limited("a.local"), limited("b.local"));
    sink.apply(&[put(&a, &[&web], false), put(&b, &[&web], false)])
        .await
        .unwrap();
    let v2 = Layout::new("/vulcand");
    let servers = |spec: &RouteSpec| v2.servers_dir(&spec.key.id());
    // The refresh of the first server key held (in key order) fails: its
    // directory is now a plain key (etcd: errorCode 104, "Not a directory").
    let (broken, kept) = if servers(&a) < servers(&b) {
        (&a, &b)
    } else {
        (&b, &a)
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    raw.delete_tree(&servers(broken)).await;
    raw.set(&servers(broken), "not a directory").await;

    match sink.keepalive().await {
        Err(SinkError::Refused { object, .. }) => assert!(object.starts_with(&servers(broken))),
        other => panic!("expected Refused, got {other:?}"),
    }
    // Past the first TTL (3 s after the put): the other server key, the
    // records and the collector key were refreshed all the same.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for key in [
        v2.server_key(&kept.key.id(), &web.id),
        format!("/havok/nodes/node-a/servers/{}/{}", kept.key.id(), web.id),
        "/havok/collector".to_string(),
    ] {
        assert!(raw.get(&key).await.is_some(), "{key} was not refreshed");
    }
}

/// Refreshes of different keys run together: over a slow link, a keep-alive
/// of eight keys takes about one round trip, not eight.
#[tokio::test(flavor = "multi_thread")]
async fn keepalive_refreshes_keys_concurrently() {
    let etcd = EtcdServer::start().await;
    let latency = Duration::from_millis(200);
    let target = format!("127.0.0.1:{}", etcd.port()).parse().unwrap();
    let proxy = TcpProxy::with_latency(target, latency).await;
    let mut sink = start_sink(&proxy.url(), "node-a", "30s").await;
    let web = server("node-a", "web-1", 32768);
    let specs: Vec<RouteSpec> = (0..4).map(|i| limited(&format!("r{i}.local"))).collect();
    let puts: Vec<Op> = specs.iter().map(|s| put(s, &[&web], false)).collect();
    sink.apply(&puts).await.unwrap();

    // Four server keys, the records directory and the collector key (a
    // read and a create: the only two in a row), each a round trip of two
    // delayed chunks. One after another that is at least 2.4 s.
    let started = Instant::now();
    sink.keepalive().await.unwrap();
    let took = started.elapsed();
    assert!(took < 6 * latency, "six refreshes took {took:?}");
}

/// A route's writes take the fewest round trips Vulcand's order allows,
/// over a slow link where each request is a visible round trip: a new host
/// in two (its backend with its servers and their records, as Vulcand's
/// watch takes a server before its backend; then its frontend with havok's
/// marker), plus one for its middlewares, which Vulcand loads only after
/// their frontend; a new server of a host already in place in one (its key
/// and record together). The node's first put creates the records
/// directory in the first round and its records go in the second.
#[tokio::test(flavor = "multi_thread")]
async fn puts_take_the_fewest_round_trips() {
    let etcd = EtcdServer::start().await;
    let latency = Duration::from_millis(100);
    let target = format!("127.0.0.1:{}", etcd.port()).parse().unwrap();
    let proxy = TcpProxy::with_latency(target, latency).await;
    let mut sink = start_sink(&proxy.url(), "node-a", "30s").await;
    // A request is two delayed chunks, one each way.
    let round_trip = 2 * latency;
    let plain = RouteSpec::plain(RouteKey::host("p.local"));
    let spec = limited("a.local");
    let (w1, w2) = (
        server("node-a", "web-1", 32768),
        server("node-a", "web-2", 32769),
    );

    let timed = |took: Duration| (took.as_secs_f64() / round_trip.as_secs_f64()).floor();
    let started = Instant::now();
    sink.apply(&[put(&plain, &[&w1], false)]).await.unwrap();
    let first_host = timed(started.elapsed());
    let started = Instant::now();
    sink.apply(&[put(&spec, &[&w1], false)]).await.unwrap();
    let limited_host = timed(started.elapsed());
    let started = Instant::now();
    sink.apply(&[put_servers(&spec, &[&w2])]).await.unwrap();
    let new_server = timed(started.elapsed());
    let rounds = [first_host, limited_host, new_server];
    eprintln!("round trips: first host (no middleware), host with a middleware, new server of a known host: {rounds:?}");
    assert_eq!(
        rounds,
        [2.0, 3.0, 1.0],
        "round trips of {round_trip:?} each"
    );

    for key in [&plain.key, &spec.key] {
        let observed = sink.observe(&set(&[key])).await.unwrap();
        let state = &observed.routes[key];
        assert!(
            state.backend.is_some() && state.frontend.is_some(),
            "{observed:?}"
        );
        assert!(
            observed.servers[key].values().all(|s| s.url().is_some()),
            "{observed:?}"
        );
    }
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert_eq!(observed.servers[&spec.key].len(), 2, "{observed:?}");
    let objects = RouteObjects::of(&spec);
    assert_eq!(
        observed.routes[&spec.key].middlewares[RATELIMIT_ID],
        objects.middlewares[0].1
    );
}

/// A host's first write at start-up (the full pass read the store and found
/// nothing) costs etcd one proposal per key it writes: the backend, the
/// server and its record, the frontend, havok's marker and, once per node,
/// the records directory. No delete of a middleware that is not there:
/// each would be one more fsynced proposal, and a start-up writes hundreds.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_write_sends_no_deletes() {
    let (etcd, raw, mut sink) = etcd_with_sink("node-a", "30s").await;
    let spec = RouteSpec::plain(RouteKey::host("first.local"));
    let web = server("node-a", "web-1", 32768);
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    let desired = havok::model::RouteTable::build(&[(spec.clone(), web.clone())]);
    let ops = havok::plan::plan(&desired, &observed).ops;
    let before = proposals(&etcd.url()).await;
    sink.apply(&ops).await.unwrap();
    let spent = proposals(&etcd.url()).await - before;
    // The leader also proposes a SYNC of v2 TTLs every 500 ms: one may fall in.
    assert!(
        (6.0..=7.0).contains(&spent),
        "{spent} proposals for one new host: {ops:?}"
    );
    let id = spec.key.id();
    assert!(raw
        .get(&format!("/vulcand/frontends/{id}/frontend"))
        .await
        .is_some());
}

/// etcd's count of committed raft proposals (each v2 write request is one,
/// also one that fails, such as a delete of a missing key).
async fn proposals(url: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .expect("GET etcd /metrics")
        .text()
        .await
        .expect("read etcd /metrics");
    text.lines()
        .find_map(|l| l.strip_prefix("etcd_server_proposals_committed_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no etcd_server_proposals_committed_total in /metrics"))
}

/// A route whose servers all expired is an orphan, and `Collect` removes it.
#[tokio::test(flavor = "multi_thread")]
async fn expired_routes_are_orphans_and_collected() {
    let (_etcd, raw, mut sink) = etcd_with_sink("node-a", "3s").await;
    let (gone, kept) = (limited("gone.local"), limited("kept.local"));
    let web = server("node-a", "web-1", 1000);
    sink.apply(&[put(&gone, &[&web], false), put(&kept, &[&web], false)])
        .await
        .unwrap();
    assert!(sink.orphans().await.unwrap().is_empty());
    sink.apply(&[delete(&gone.key, &web)]).await.unwrap();
    assert_eq!(sink.orphans().await.unwrap(), vec![gone.key.clone()]);

    sink.apply(&[remove_if_empty(&gone.key)]).await.unwrap();
    assert!(sink.orphans().await.unwrap().is_empty());
    let id = gone.key.id();
    assert!(raw.get(&format!("/vulcand/frontends/{id}")).await.is_none());
    assert!(raw.get(&format!("/havok/routes/{id}")).await.is_none());
    assert!(raw
        .get(&format!("/havok/routes/{}", kept.key.id()))
        .await
        .is_some());
}

/// Values and keys that need escaping in a URL and a form body arrive intact.
#[tokio::test(flavor = "multi_thread")]
async fn values_and_keys_are_escaped() {
    let etcd = EtcdServer::start().await;
    let raw = Raw::new(&etcd.url());
    let node = "node 1?#&=%+/x";
    let mut sink = start_sink(&etcd.url(), node, "30s").await;
    let spec = RouteSpec {
        key: RouteKey {
            host: "web-01.a-1.local".into(),
            path: Some("/api/v1.2".into()),
        },
        limits: Limits::default(),
        settings: Default::default(),
    };
    let web = ServerSpec {
        id: ServerId::new(node, "web 1&x=y"),
        url: "http://[::1]:8080/a?b=c&d=e f".into(),
        container: "web 1&x=y".into(),
    };
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();

    let id = spec.key.id();
    let frontend = raw
        .get(&Layout::new("/vulcand").frontend_key(&id))
        .await
        .unwrap();
    let route = "Host(`web-01.a-1.local`) && PathRegexp(`^/api/v1\\.2(/.*)?$`)";
    let value: Value = serde_json::from_str(frontend["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["Route"], route);
    let record = raw
        .get(&format!("/havok/nodes/{node}/servers/{id}/{}", web.id))
        .await
        .unwrap();
    let value: Value = serde_json::from_str(record["value"].as_str().unwrap()).unwrap();
    assert_eq!(value["container"], "web 1&x=y");
    assert_eq!(value["url"], web.url);

    // Bookkeeping under the odd node name is found again, with the URL intact.
    let observed = sink.observe(&BTreeSet::new()).await.unwrap();
    assert_eq!(
        observed.servers[&spec.key][&web.id].url(),
        Some(web.url.as_str())
    );
    assert_eq!(
        observed.routes[&spec.key].frontend,
        Some(RouteObjects::of(&spec).frontend)
    );
    sink.apply(&[delete(&spec.key, &web), remove_if_empty(&spec.key)])
        .await
        .unwrap();
    assert!(raw.get(&format!("/vulcand/backends/{id}")).await.is_none());
}

/// With the first member dead, every call goes to the next one.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_member_is_skipped() {
    let etcd = EtcdServer::start().await;
    let machines = format!("http://127.0.0.1:1,{}", etcd.url());
    let mut sink = start_sink(&machines, "node-a", "30s").await;
    assert!(sink.describe().contains(&machines), "{}", sink.describe());
    let spec = limited("foo.local");
    let web = server("node-a", "web-1", 1000);
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
    let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
    assert!(observed.servers[&spec.key][&web.id].url().is_some());
    sink.keepalive().await.unwrap();
}

/// With every member dead, calls fail quickly with `Unreachable` naming the members.
#[tokio::test(flavor = "multi_thread")]
async fn all_members_dead_is_unreachable() {
    let machines = "http://127.0.0.1:1,http://127.0.0.1:2";
    let mut sink = new_sink(machines, "node-a", "30s");
    let started = Instant::now();
    let err = sink.connect().await.unwrap_err();
    match &err {
        SinkError::Unreachable { store, reason } => {
            assert!(store.contains(machines), "{store}");
            assert!(reason.contains("127.0.0.1:2"), "{reason}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    let err = sink
        .apply(&[put(&limited("foo.local"), &[], false)])
        .await
        .unwrap_err();
    assert!(matches!(err, SinkError::Unreachable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

// Helpers.

fn new_sink(machines: &str, node: &str, ttl: &str) -> Etcd2Sink {
    let config = Config::from_raw(RawConfig {
        backend: "etcd2".into(),
        etcd_machines: machines.into(),
        ttl: ttl.into(),
        timeout: "3s".into(),
        ..RawConfig::default()
    })
    .unwrap();
    let settings = EtcdSettings::v2(&config.store).unwrap();
    Etcd2Sink::new(settings, SinkTiming::of(&config), node).unwrap()
}

/// A v2 etcd, a raw client of it, and a connected sink of `node` with servers' TTL `ttl`.
async fn etcd_with_sink(node: &str, ttl: &str) -> (EtcdServer, Raw, Etcd2Sink) {
    let etcd = EtcdServer::start().await;
    let raw = Raw::new(&etcd.url());
    let sink = start_sink(&etcd.url(), node, ttl).await;
    (etcd, raw, sink)
}

/// `etcd_with_sink(node, "30s")` after the sink put `limited("foo.local")`
/// with its server `web-1` on `port`.
async fn etcd_with_one_server(
    node: &str,
    port: u16,
) -> (EtcdServer, Raw, Etcd2Sink, RouteSpec, ServerSpec) {
    let (etcd, raw, mut sink) = etcd_with_sink(node, "30s").await;
    let spec = limited("foo.local");
    let web = server(node, "web-1", port);
    sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
    (etcd, raw, sink, spec, web)
}

async fn start_sink(machines: &str, node: &str, ttl: &str) -> Etcd2Sink {
    let mut sink = new_sink(machines, node, ttl);
    sink.connect().await.unwrap();
    sink
}

fn limited(host: &str) -> RouteSpec {
    RouteSpec {
        key: RouteKey::host(host),
        limits: Limits {
            rate: Some(RateLimit {
                requests: 10,
                burst: 1,
                variable: "client.ip".into(),
            }),
            conn: None,
        },
        settings: Default::default(),
    }
}

/// Direct access to etcd's v2 keys API, independent of the sink's own encoding.
struct Raw {
    base: String,
    client: reqwest::Client,
}

impl Raw {
    fn new(base: &str) -> Raw {
        Raw {
            base: base.to_string(),
            client: reqwest::Client::new(),
        }
    }

    fn url(&self, key: &str) -> reqwest::Url {
        let mut url = reqwest::Url::parse(&self.base).unwrap();
        url.path_segments_mut()
            .unwrap()
            .clear()
            .extend(["v2", "keys"])
            .extend(key.split('/').filter(|s| !s.is_empty()));
        url
    }

    /// The node at `key`, or `None` when etcd answers 404.
    async fn get(&self, key: &str) -> Option<Value> {
        let resp = self.client.get(self.url(key)).send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        match status.as_u16() {
            200 => Some(body["node"].clone()),
            404 => None,
            _ => panic!("GET {key}: {status} {body}"),
        }
    }

    /// A plain set of `key` to `value`, without a TTL.
    async fn set(&self, key: &str, value: &str) {
        let resp = self
            .client
            .put(self.url(key))
            .form(&[("value", value)])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "PUT {key}: {resp:?}");
    }

    async fn delete_tree(&self, key: &str) {
        let resp = self
            .client
            .delete(self.url(key))
            .query(&[("recursive", "true")])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "DELETE {key}: {resp:?}");
    }

    /// etcd's current index (`X-Etcd-Index`).
    async fn index(&self) -> u64 {
        let resp = self.client.get(self.url("/")).send().await.unwrap();
        resp.headers()["x-etcd-index"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// The first event anywhere after `index` that a watcher would see
    /// (`wait=true&waitIndex=`), or `None` if none arrives within `within`.
    async fn event_after(&self, index: u64, within: Duration) -> Option<Value> {
        let wait_index = (index + 1).to_string();
        let request = self.client.get(self.url("/")).query(&[
            ("wait", "true"),
            ("recursive", "true"),
            ("waitIndex", wait_index.as_str()),
        ]);
        // etcd sends the headers at once and the body when an event happens:
        // the deadline covers both.
        let event = async { request.send().await?.json::<Value>().await };
        match tokio::time::timeout(within, event).await {
            Err(_) => None,
            Ok(event) => Some(event.unwrap()),
        }
    }
}
