//! The Vulcand API contract server's answers, pinned call by call, and
//! `VulcandApiSink` against it: write order and values, the guarded route
//! removal, ownership, restart recovery, write economy, errors.

use serde_json::{json, Value};

use crate::support::vulcand_contract::ContractServer;
use crate::support::{http, StoreView};

/// Each row: one request and the status and `message` Vulcand answers it
/// with; the same table runs against the contract server and, when its
/// binary is there, the real memng Vulcand.
#[tokio::test(flavor = "multi_thread")]
async fn contract_errors_match_vulcand() {
    let contract = ContractServer::start().await;
    let real = match crate::support::vulcand::binary(
        "contract_errors_match_vulcand on the real Vulcand",
    ) {
        Some(binary) => {
            Some(crate::support::Vulcand::start(binary, crate::support::Engine::Memng).await)
        }
        None => None,
    };
    let mut bases = vec![contract.url()];
    bases.extend(real.as_ref().map(|v| v.api_url()));
    let route = "Host(`foo.local`) && PathRegexp(`/.*`)";
    let frontend = |backend: &str, route: &str| {
        json!({"Frontend": {"Id": "f1", "Type": "http", "BackendId": backend, "Route": route}, "TTL": ""})
            .to_string()
    };
    let backend = json!({"Backend": {"Id": "b1", "Type": "http"}}).to_string();
    let form = "application/x-www-form-urlencoded";
    let json_type = "application/json";
    let cases: Vec<(&str, &str, &str, String, u16, &str)> = vec![
        ("POST", "/v2/backends", json_type, "{}".into(), 500, "Missing mandatory parameter: Backend"),
        ("POST", "/v2/backends", json_type, "nope".into(), 500,
            "invalid character 'o' in literal null (expecting 'u')"),
        ("POST", "/v2/backends", form, backend.clone(), 500, "unexpected end of JSON input"),
        ("POST", "/v2/backends", json_type,
            json!({"Backend": {"Id": "b1", "Type": "tcp"}}).to_string(), 500, "Unsupported backend type tcp"),
        ("POST", "/v2/frontends", json_type, frontend("nope", route), 404, "backend: nope not found"),
        // memng takes a server of a backend it does not know (the real Vulcand v0.9.2 does).
        ("POST", "/v2/backends/nope/servers", json_type,
            json!({"Server": {"Id": "s1", "URL": "http://127.0.0.1:1"}}).to_string(), 200, ""),
        ("GET", "/v2/backends/nope", "", String::new(), 404, "object not found"),
        ("GET", "/v2/frontends/nope", "", String::new(), 404, "object not found"),
        ("DELETE", "/v2/frontends/nope", "", String::new(), 404, "object not found"),
        ("GET", "/v2/nothing", "", String::new(), 404, "Object not found"),
        ("PUT", "/v2/backends", json_type, backend.clone(), 404, "Object not found"),
        // Set up b1 for the rows below.
        ("POST", "/v2/backends", json_type, backend.clone(), 200, ""),
        ("POST", "/v2/frontends", json_type, frontend("b1", "Bogus(`/`)"), 500,
            "route should be a valid route expression: Bogus(`/`)"),
        ("POST", "/v2/backends/b1/servers", json_type,
            json!({"Server": {"Id": "s1", "URL": "not a url"}}).to_string(), 500,
            "endpoint url 'not a url' is not valid"),
        ("POST", "/v2/backends/b1/servers", json_type,
            json!({"Server": {"Id": "s1", "URL": "http://127.0.0.1:1"}, "TTL": "soon"}).to_string(), 500,
            "time: invalid duration \"soon\""),
        ("POST", "/v2/backends/b1/servers", json_type, "{}".into(), 500, "Missing mandatory parameter: Server"),
        ("POST", "/v2/frontends", json_type, frontend("b1", route), 200, ""),
        ("POST", "/v2/frontends/f1/middlewares", json_type,
            json!({"Middleware": {"Id": "rl", "Priority": 1, "Type": "ratelimit",
                "Middleware": {"PeriodSeconds": 1, "Requests": 0, "Burst": 1, "Variable": "client.ip"}}})
            .to_string(), 500, "requests should be > 0, got 0"),
        ("POST", "/v2/frontends/nope/middlewares", json_type,
            json!({"Middleware": {"Id": "cl", "Priority": 2, "Type": "connlimit",
                "Middleware": {"Connections": 3, "Variable": "client.ip"}}})
            .to_string(), 404, "'nope' not found"),
        ("DELETE", "/v2/backends/b1", "", String::new(), 500,
            "Backend is in use by {f1 Host(`foo.local`) && PathRegexp(`/.*`) http b1 <nil> {{0 0}   false false false 0}}"),
        ("DELETE", "/v2/frontends/f1", "", String::new(), 200, ""),
        ("DELETE", "/v2/backends/b1", "", String::new(), 200, ""),
    ];
    for base in &bases {
        for (method, path, content_type, body, status, message) in &cases {
            let (got, answer) = call_url(base, method, path, content_type, body).await;
            assert_eq!(got, *status, "{base}: {method} {path} {body}: {answer}");
            if *status != 200 {
                assert_eq!(
                    answer,
                    json!({"message": message}),
                    "{base}: {method} {path} {body}"
                );
            }
        }
    }
}

/// Successful calls answer what Vulcand answers: echoes with Go's defaults and escaping, lists, deletions.
#[tokio::test(flavor = "multi_thread")]
async fn contract_answers_match_vulcand() {
    let vulcand = ContractServer::start().await;
    let route = "Host(`foo.local`) && PathRegexp(`/.*`)";
    let ok = |(status, answer): (u16, Value)| {
        assert_eq!(status, 200, "{answer}");
        answer
    };
    assert_eq!(
        ok(call(&vulcand, "GET", "/v2/status", "", "").await),
        json!({"Status": "ok"})
    );
    let backend = ok(post(
        &vulcand,
        "/v2/backends",
        json!({"Backend": {"Id": "b1", "Type": "http"}}),
    )
    .await);
    assert_eq!(
        backend,
        json!({"Id": "b1", "Type": "http", "Settings": {
            "Timeouts": {"Read": "", "Dial": "", "TLSHandshake": ""},
            "KeepAlive": {"Period": "", "MaxIdleConnsPerHost": 0}}})
    );
    let server = json!({"Server": {"Id": "s1", "URL": "http://127.0.0.1:18080"}, "TTL": "30s"});
    assert_eq!(
        ok(post(&vulcand, "/v2/backends/b1/servers", server).await),
        json!({"Id": "s1", "URL": "http://127.0.0.1:18080"})
    );
    // No content type at all is fine too (Go's ParseForm leaves the body alone).
    let body = json!({"Frontend": {"Id": "f1", "Type": "http", "BackendId": "b1", "Route": route}, "TTL": ""});
    let raw = http(
        "POST",
        &format!("{}/v2/frontends", vulcand.url()),
        &[],
        Some(&body.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(raw.status, 200, "{}", raw.body);
    assert!(
        raw.body.contains(r"\u0026\u0026"),
        "Go escapes & in JSON: {}",
        raw.body
    );
    let frontend: Value = serde_json::from_str(&raw.body).unwrap();
    assert_eq!(frontend["Route"], route);
    assert_eq!(frontend["Settings"]["PassHostHeader"], false);
    let listed = ok(call(&vulcand, "GET", "/v2/frontends", "", "").await);
    assert_eq!(listed["Frontends"][0]["BackendId"], "b1");
    let servers = ok(call(&vulcand, "GET", "/v2/backends/b1/servers", "", "").await);
    assert_eq!(
        servers,
        json!({"Servers": [{"Id": "s1", "URL": "http://127.0.0.1:18080"}]})
    );
    assert_eq!(
        ok(call(&vulcand, "GET", "/v2/backends/other/servers", "", "").await),
        json!({"Servers": []})
    );
    for (path, kind) in [
        ("/v2/backends/b1/servers/s1", "Server"),
        ("/v2/frontends/f1", "Frontend"),
        ("/v2/backends/b1", "Backend"),
    ] {
        let answer = ok(call(&vulcand, "DELETE", path, "", "").await);
        assert_eq!(answer, json!({"message": format!("{kind} deleted")}));
    }
    assert!(vulcand.snapshot().await.is_empty());
    assert_eq!(vulcand.write_count(), 6, "{:?}", vulcand.writes());
}

/// `restart()` loses every object, as restarting a memng Vulcand does.
#[tokio::test(flavor = "multi_thread")]
async fn contract_restart_loses_everything() {
    let vulcand = ContractServer::start().await;
    post(
        &vulcand,
        "/v2/backends",
        json!({"Backend": {"Id": "b1", "Type": "http"}}),
    )
    .await;
    assert!(!vulcand.snapshot().await.is_empty());
    vulcand.restart();
    assert!(vulcand.snapshot().await.is_empty());
    let (status, _) = call(&vulcand, "GET", "/v2/backends/b1", "", "").await;
    assert_eq!(status, 404);
}

#[cfg(feature = "vulcand-api")]
mod sink {
    //! `VulcandApiSink` through the contract server.

    use std::collections::BTreeSet;
    use std::time::{Duration, Instant};

    use havok::backends::vulcand_api::VulcandApiSink;
    use havok::backends::{SinkTiming, VulcandApiSettings};
    use havok::config::{Config, RawConfig};
    use havok::ids::{RouteKey, ServerId};
    use havok::model::{ConnLimit, Limits, RateLimit, RouteSpec, ServerSpec};
    use havok::sink::{Op, RouteSink, RouteState, ServerState, SinkError};
    use havok::vulcand::{self, CONNLIMIT_ID, RATELIMIT_ID};
    use serde_json::json;

    use super::post;
    use crate::support::ops::{delete, put, remove_if_empty, server, set};
    use crate::support::vulcand_contract::ContractServer;
    use crate::support::StoreView;

    /// Two servers on one route are both listed, under a frontend and backend with havok's route.
    #[tokio::test(flavor = "multi_thread")]
    async fn two_servers_share_one_route() {
        let spec = spec("foo.local");
        let (a, b) = two_servers();
        let (vulcand, _sink) = contract_with_route(&spec, &[&a, &b]).await;

        let snapshot = vulcand.snapshot().await;
        assert_eq!(snapshot.urls("foo.local"), [a.url.clone(), b.url.clone()]);
        let (backend, frontend) = snapshot.route("foo.local");
        assert_eq!(
            backend.unwrap().backend,
            Some(vulcand::backend_value(&Default::default()))
        );
        assert_eq!(
            frontend.unwrap().frontend,
            Some(vulcand::frontend_value(&spec.key, &Default::default()))
        );
        // Backend, two servers, frontend, and no delete of a middleware
        // that is not there (a start-up would send five per host).
        let id = spec.key.id();
        assert_eq!(
            vulcand.writes(),
            [
                "POST /v2/backends".to_string(),
                format!("POST /v2/backends/{id}/servers"),
                format!("POST /v2/backends/{id}/servers"),
                "POST /v2/frontends".to_string(),
            ]
        );
    }

    /// Deleting one server keeps the other; deleting the last with collect removes frontend and backend.
    #[tokio::test(flavor = "multi_thread")]
    async fn delete_then_collect_the_last_server() {
        let spec = limited("foo.local");
        let (a, b) = two_servers();
        let (vulcand, mut sink) = contract_with_route(&spec, &[&a, &b]).await;
        assert_eq!(
            vulcand
                .snapshot()
                .await
                .route("foo.local")
                .1
                .unwrap()
                .middlewares
                .len(),
            2
        );

        sink.apply(&[delete(&spec.key, &a), remove_if_empty(&spec.key)])
            .await
            .unwrap();
        let snapshot = vulcand.snapshot().await;
        assert_eq!(snapshot.urls("foo.local"), vec![b.url.clone()]);
        assert!(snapshot.has_route("foo.local"), "{snapshot:?}");

        sink.apply(&[delete(&spec.key, &b), remove_if_empty(&spec.key)])
            .await
            .unwrap();
        let snapshot = vulcand.snapshot().await;
        assert!(snapshot.is_empty(), "{snapshot:?}");
    }

    /// Objects an operator made by hand are never touched by delete, collect or orphans, even with havok's ids.
    #[tokio::test(flavor = "multi_thread")]
    async fn hand_made_objects_are_never_touched() {
        let vulcand = ContractServer::start().await;
        // A hand-made route for a host havok also routes, under the operator's ids.
        let route = vulcand::route_expression(&RouteKey::host("hand.local"));
        post(
            &vulcand,
            "/v2/backends",
            json!({"Backend": {"Id": "hand", "Type": "http"}}),
        )
        .await;
        post(
            &vulcand,
            "/v2/backends/hand/servers",
            json!({"Server": {"Id": "s1", "URL": "http://10.0.0.1:80"}}),
        )
        .await;
        post(
            &vulcand,
            "/v2/frontends",
            json!({"Frontend": {"Id": "hand", "Type": "http",
            "BackendId": "hand", "Route": route}}),
        )
        .await;
        // Havok's id for x.local, but a route havok never writes, and no server.
        let x = RouteKey::host("x.local");
        let xid = x.id().to_string();
        post(
            &vulcand,
            "/v2/backends",
            json!({"Backend": {"Id": xid, "Type": "http"}}),
        )
        .await;
        post(
            &vulcand,
            "/v2/frontends",
            json!({"Frontend": {"Id": xid, "Type": "http",
            "BackendId": xid, "Route": "Host(`x.local`)"}}),
        )
        .await;
        let before = vulcand.snapshot().await;

        let mut sink = start_sink(&vulcand.url(), "node-a").await;
        assert_eq!(sink.orphans().await.unwrap(), Vec::<RouteKey>::new());
        let hand = RouteKey::host("hand.local");
        sink.apply(&[
            Op::DeleteServer {
                key: hand.clone(),
                server: ServerId::from_raw("s1"),
            },
            Op::RemoveRouteIfEmpty { key: hand.clone() },
            Op::RemoveRouteIfEmpty { key: hand.clone() },
            Op::RemoveRouteIfEmpty { key: x.clone() },
        ])
        .await
        .unwrap();
        assert_eq!(vulcand.snapshot().await, before);

        // Havok's own route comes and goes without touching them.
        let web = server("node-a", "web-1", 32768);
        let foo = spec("foo.local");
        sink.apply(&[put(&foo, &[&web], false)]).await.unwrap();
        sink.apply(&[delete(&foo.key, &web), remove_if_empty(&foo.key)])
            .await
            .unwrap();
        assert_eq!(vulcand.snapshot().await, before);
    }

    /// Orphans are havok routes whose backend has no server of any node left.
    #[tokio::test(flavor = "multi_thread")]
    async fn orphans_are_havok_routes_without_servers() {
        let (vulcand, mut sink) = contract_with_sink().await;
        let (foo, bar) = (spec("foo.local"), spec("bar.local"));
        let (a, b) = two_servers();
        sink.apply(&[put(&foo, &[&a], false), put(&bar, &[&b], false)])
            .await
            .unwrap();
        sink.apply(&[delete(&foo.key, &a)]).await.unwrap();
        assert_eq!(sink.orphans().await.unwrap(), vec![foo.key.clone()]);
        sink.apply(&[remove_if_empty(&foo.key)]).await.unwrap();
        assert!(sink.orphans().await.unwrap().is_empty());
        let snapshot = vulcand.snapshot().await;
        assert!(!snapshot.has_route("foo.local") && snapshot.has_route("bar.local"));
    }

    /// observe reports this node's servers, not another node's, and the route's values as etcd holds them.
    #[tokio::test(flavor = "multi_thread")]
    async fn observe_reports_this_nodes_servers() {
        let vulcand = ContractServer::start().await;
        let mut mine = start_sink(&vulcand.url(), "node-a").await;
        let mut theirs = start_sink(&vulcand.url(), "node-b").await;
        let spec = limited("foo.local");
        let (a, b) = (
            server("node-a", "web-1", 32768),
            server("node-b", "web-1", 40000),
        );
        mine.apply(&[put(&spec, &[&a], false)]).await.unwrap();
        theirs.apply(&[put(&spec, &[&b], false)]).await.unwrap();

        // Asked about nothing: havok's frontends lead observe to this node's servers.
        let observed = mine.observe(&BTreeSet::new()).await.unwrap();
        assert_eq!(
            observed.servers[&spec.key]
                .clone()
                .into_iter()
                .collect::<Vec<_>>(),
            [(a.id.clone(), ServerState::Live(a.url.clone()))]
        );
        let objects = vulcand::RouteObjects::of(&spec);
        let state = &observed.routes[&spec.key];
        assert_eq!(state.backend.as_ref(), Some(&objects.backend));
        assert_eq!(state.frontend.as_ref(), Some(&objects.frontend));
        assert_eq!(state.middlewares[RATELIMIT_ID], objects.middlewares[0].1);
        assert_eq!(state.middlewares[CONNLIMIT_ID], objects.middlewares[1].1);
        assert_eq!(state.server_count, 2);
        assert!(
            observed.keys_read >= 5 && observed.bytes_read > 0,
            "{observed:?}"
        );

        // A route asked about that does not exist.
        let nowhere = RouteKey::host("nowhere.local");
        let observed = mine.observe(&set(&[&nowhere])).await.unwrap();
        assert_eq!(observed.routes[&nowhere], RouteState::default());
        assert!(!observed.servers.contains_key(&nowhere));
    }

    /// After Vulcand restarts, observe shows the route gone and the next Put writes all of it again.
    #[tokio::test(flavor = "multi_thread")]
    async fn restart_is_noticed_and_repaired() {
        let (spec, web) = (limited("foo.local"), server("node-a", "web-1", 32768));
        let (vulcand, mut sink) = contract_with_route(&spec, &[&web]).await;
        let before = vulcand.snapshot().await;

        vulcand.restart();
        let observed = sink.observe(&set(&[&spec.key])).await.unwrap();
        assert_eq!(
            observed.servers[&spec.key][&web.id],
            ServerState::RecordOnly
        );
        assert_eq!(observed.routes[&spec.key], RouteState::default());

        // What the reconciler does with that: put the server again.
        sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
        assert_eq!(vulcand.snapshot().await, before);
    }

    /// A Put for a route known present writes only the server: no frontend reload.
    #[tokio::test(flavor = "multi_thread")]
    async fn put_without_rewrite_writes_only_servers() {
        let vulcand = ContractServer::start().await;
        let spec = limited("foo.local");
        let mut sink = start_sink(&vulcand.url(), "node-a").await;
        sink.apply(&[put(&spec, &[&server("node-a", "web-1", 32768)], false)])
            .await
            .unwrap();

        let written = vulcand.write_count();
        let web2 = server("node-a", "web-2", 32769);
        sink.apply(&[put(&spec, &[&web2], false)]).await.unwrap();
        let id = spec.key.id();
        assert_eq!(
            vulcand.writes()[written..],
            [format!("POST /v2/backends/{id}/servers")]
        );

        // A fresh sink learns the route is present from observe.
        let mut fresh = start_sink(&vulcand.url(), "node-a").await;
        fresh.observe(&set(&[&spec.key])).await.unwrap();
        let written = vulcand.write_count();
        fresh.apply(&[put(&spec, &[&web2], false)]).await.unwrap();
        assert_eq!(vulcand.write_count(), written + 1, "{:?}", vulcand.writes());

        // rewrite_route writes backend, frontend and middlewares again, and drops a removed limit.
        let unlimited = RouteSpec {
            key: spec.key.clone(),
            limits: Limits::default(),
            settings: Default::default(),
        };
        fresh.apply(&[put(&unlimited, &[], true)]).await.unwrap();
        let writes = vulcand.writes();
        assert!(
            writes.contains(&"POST /v2/frontends".to_string()),
            "{writes:?}"
        );
        let snapshot = vulcand.snapshot().await;
        assert!(
            snapshot
                .route("foo.local")
                .1
                .unwrap()
                .middlewares
                .is_empty(),
            "{snapshot:?}"
        );
    }

    /// keepalive re-upserts this node's servers with their TTL; a vanished backend is a lost lease.
    #[tokio::test(flavor = "multi_thread")]
    async fn keepalive_refreshes_and_notices_loss() {
        let (spec, web) = (spec("foo.local"), server("node-a", "web-1", 32768));
        let (vulcand, mut sink) = contract_with_route(&spec, &[&web]).await;
        let written = vulcand.write_count();
        sink.keepalive().await.unwrap();
        assert_eq!(vulcand.write_count(), written + 1, "one server upsert");

        vulcand.restart();
        match sink.keepalive().await {
            Err(SinkError::LeaseLost { reason, .. }) => {
                assert!(reason.contains("object not found"), "{reason}")
            }
            other => panic!("expected LeaseLost, got {other:?}"),
        }
        // The route is no longer assumed present: the next Put writes all of it.
        sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
        assert!(vulcand.snapshot().await.has_route("foo.local"));
    }

    /// Against the real memng Vulcand: it takes a server for a backend it
    /// lost in a restart, so keepalive asks for the frontend, notices the
    /// loss, and the next put writes the whole route again.
    #[tokio::test(flavor = "multi_thread")]
    async fn keepalive_notices_a_real_memng_restart() {
        use crate::support::{vulcand, Engine, Vulcand};
        let Some(binary) = vulcand::binary("keepalive_notices_a_real_memng_restart") else {
            return;
        };
        let vulcand = Vulcand::start(binary, Engine::Memng).await;
        let mut sink = start_sink(&vulcand.api_url(), "node-a").await;
        let spec = spec("foo.local");
        let web = server("node-a", "web-1", 32768);
        sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
        sink.keepalive().await.unwrap();
        assert!(vulcand.snapshot().await.has_route("foo.local"));

        vulcand.restart().await;
        match sink.keepalive().await {
            Err(SinkError::LeaseLost { reason, .. }) => {
                assert!(reason.contains("not found"), "{reason}")
            }
            other => panic!("expected LeaseLost after Vulcand's restart, got {other:?}"),
        }
        sink.apply(&[put(&spec, &[&web], false)]).await.unwrap();
        let snapshot = vulcand.snapshot().await;
        assert!(snapshot.has_route("foo.local"), "{snapshot:#?}");
        assert_eq!(snapshot.urls("foo.local"), std::slice::from_ref(&web.url));
        vulcand.assert_applied_everything();
    }

    /// Vulcand's refusals become Refused naming the object and Vulcand's message.
    #[tokio::test(flavor = "multi_thread")]
    async fn refusals_name_object_and_message() {
        let (_vulcand, mut sink) = contract_with_sink().await;
        let spec = spec("foo.local");
        let id = spec.key.id();
        let mut bad = server("node-a", "web-1", 1);
        bad.url = "not a url".into();
        let (object, reason) = refused(sink.apply(&[put(&spec, &[&bad], false)]).await);
        assert_eq!(object, format!("server {} of backend {id}", bad.id));
        assert_eq!(reason, "endpoint url 'not a url' is not valid");

        let web = server("node-a", "web-1", 32768);
        // A limit Vulcand's plugin rejects.
        let mut zero = limited("zero.local");
        zero.limits.rate.as_mut().unwrap().requests = 0;
        let (object, reason) = refused(sink.apply(&[put(&zero, &[&web], false)]).await);
        assert_eq!(
            object,
            format!("middleware {RATELIMIT_ID} of frontend {}", zero.key.id())
        );
        assert_eq!(reason, "requests should be > 0, got 0");
    }

    /// Deleting what is not there succeeds: servers, routes, never-written ids.
    #[tokio::test(flavor = "multi_thread")]
    async fn deleting_missing_objects_is_ok() {
        let (vulcand, mut sink) = contract_with_sink().await;
        let key = RouteKey::host("gone.local");
        let web = server("node-a", "web-1", 32768);
        sink.apply(&[
            delete(&key, &web),
            remove_if_empty(&key),
            Op::RemoveRouteIfEmpty { key: key.clone() },
        ])
        .await
        .unwrap();
        assert!(vulcand.snapshot().await.is_empty());
    }

    /// An unreachable Vulcand is Unreachable, naming the URL, within the timeout.
    #[tokio::test(flavor = "multi_thread")]
    async fn unreachable_fails_fast() {
        // Nothing listens: refused at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let mut sink = new_sink(&url, "2s", "node-a");
        match sink.connect().await {
            Err(SinkError::Unreachable { store, .. }) => assert!(store.contains(&url), "{store}"),
            other => panic!("expected Unreachable, got {other:?}"),
        }

        // Accepts connections, never answers: cut off by the timeout.
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", silent.local_addr().unwrap());
        let mut sink = new_sink(&url, "1s", "node-a");
        let started = Instant::now();
        let result = sink.apply(&[put(&spec("foo.local"), &[], false)]).await;
        assert!(
            matches!(result, Err(SinkError::Unreachable { .. })),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        drop(silent);
    }

    // ---- helpers ----

    fn new_sink(url: &str, timeout: &str, node: &str) -> VulcandApiSink {
        let config = Config::from_raw(RawConfig {
            backend: "vulcand-api".into(),
            vulcand_api: url.into(),
            timeout: timeout.into(),
            ..Default::default()
        })
        .unwrap();
        let settings = VulcandApiSettings::new(&config.store).unwrap();
        VulcandApiSink::new(settings, SinkTiming::of(&config), node).unwrap()
    }

    async fn start_sink(url: &str, node: &str) -> VulcandApiSink {
        let mut sink = new_sink(url, "5s", node);
        sink.connect().await.unwrap();
        sink
    }

    /// A contract server and a connected sink of `node-a` on it.
    async fn contract_with_sink() -> (ContractServer, VulcandApiSink) {
        let vulcand = ContractServer::start().await;
        let sink = start_sink(&vulcand.url(), "node-a").await;
        (vulcand, sink)
    }

    /// The servers `web-1` and `web-2` of `node-a`.
    fn two_servers() -> (ServerSpec, ServerSpec) {
        (
            server("node-a", "web-1", 32768),
            server("node-a", "web-2", 32769),
        )
    }

    /// A contract server and a sink of `node-a` that put `spec` with `servers`.
    async fn contract_with_route(
        spec: &RouteSpec,
        servers: &[&ServerSpec],
    ) -> (ContractServer, VulcandApiSink) {
        let (vulcand, mut sink) = contract_with_sink().await;
        sink.apply(&[put(spec, servers, false)]).await.unwrap();
        (vulcand, sink)
    }

    fn spec(host: &str) -> RouteSpec {
        RouteSpec {
            key: RouteKey::host(host),
            limits: Limits::default(),
            settings: Default::default(),
        }
    }

    fn limited(host: &str) -> RouteSpec {
        RouteSpec {
            key: RouteKey::host(host),
            limits: Limits {
                rate: Some(RateLimit {
                    requests: 5,
                    burst: 2,
                    variable: "client.ip".into(),
                }),
                conn: Some(ConnLimit {
                    connections: 3,
                    variable: "client.ip".into(),
                }),
            },
            settings: Default::default(),
        }
    }

    fn refused(result: Result<(), SinkError>) -> (String, String) {
        match result {
            Err(SinkError::Refused { object, reason, .. }) => (object, reason),
            other => panic!("expected Refused, got {other:?}"),
        }
    }
}

// ---- helpers ----

/// One request to the contract server: status and JSON answer.
async fn call(
    vulcand: &ContractServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    call_url(&vulcand.url(), method, path, content_type, body).await
}

/// One API request to the Vulcand API at `base` (the contract server or the real one).
async fn call_url(
    base: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let headers: Vec<(&str, &str)> = match content_type {
        "" => Vec::new(),
        t => vec![("Content-Type", t)],
    };
    let body = (!body.is_empty() || method == "POST").then_some(body);
    let url = format!("{base}{path}");
    let response = http(method, &url, &headers, body).await.unwrap();
    let answer = serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {:?}", response.body));
    (response.status, answer)
}

/// A JSON POST that must succeed.
async fn post(vulcand: &ContractServer, path: &str, body: Value) -> (u16, Value) {
    let answer = call(vulcand, "POST", path, "application/json", &body.to_string()).await;
    assert_eq!(answer.0, 200, "POST {path} {body}: {}", answer.1);
    answer
}
