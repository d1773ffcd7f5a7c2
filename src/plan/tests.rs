//! Table-driven tests of the plan and of recording its ops.

use super::*;
use crate::ids::ServerId;
use crate::model::{Limits, RateLimit, RouteSpec};

fn spec(host: &str) -> RouteSpec {
    RouteSpec::plain(RouteKey::host(host))
}

fn server(node: &str, name: &str, port: u16) -> ServerSpec {
    ServerSpec {
        id: ServerId::new(node, name),
        url: format!("http://127.0.0.1:{port}"),
        container: name.into(),
    }
}

/// The routes `foo.local` and `bar.local`, and the servers `web-1` and
/// `web-2` of node `a`.
fn two_routes_two_servers() -> (RouteSpec, RouteSpec, ServerSpec, ServerSpec) {
    (
        spec("foo.local"),
        spec("bar.local"),
        server("a", "web-1", 1001),
        server("a", "web-2", 1002),
    )
}

/// The route of `host` with a rate limit: one havok middleware.
fn rate_limited(host: &str) -> RouteSpec {
    RouteSpec {
        limits: Limits {
            rate: Some(RateLimit {
                requests: 5,
                burst: 1,
                variable: "client.ip".into(),
            }),
            conn: None,
        },
        ..spec(host)
    }
}

fn table(items: &[(RouteSpec, ServerSpec)]) -> RouteTable {
    RouteTable::build(items)
}

/// What the store holds when this node wrote `items` and `others` servers
/// of other nodes are on each of their routes.
fn observed(items: &[(RouteSpec, ServerSpec)], others: usize) -> Observed {
    let mut o = Observed::default();
    for (spec, s) in items {
        o.servers
            .entry(spec.key.clone())
            .or_default()
            .insert(s.id.clone(), ServerState::Live(s.url.clone()));
    }
    for (spec, _) in items {
        let n = o.servers[&spec.key].len() + others;
        o.routes
            .insert(spec.key.clone(), route_state(&RouteObjects::of(spec), n));
    }
    o
}

/// A put as the plan makes it: a rewrite deletes only the middlewares the
/// store was seen to hold ([`rewrite_deleting`]); these rows have none.
fn put(spec: &RouteSpec, servers: Vec<ServerSpec>, rewrite_route: bool) -> Op {
    Op::Put(RoutePut::new(spec, servers, rewrite_route).deleting(vec![]))
}

/// A rewrite of the route that deletes `stale` of havok's middlewares.
fn rewrite_deleting(spec: &RouteSpec, stale: &[&'static str]) -> Op {
    Op::Put(RoutePut::new(spec, vec![], true).deleting(stale.to_vec()))
}

/// A put of servers only: the store holds the route exactly.
fn put_servers(spec: &RouteSpec, servers: Vec<ServerSpec>) -> Op {
    let mut put = RoutePut::new(spec, servers, false);
    put.route_in_place = true;
    Op::Put(put)
}

fn delete(spec: &RouteSpec, s: &ServerSpec) -> Op {
    Op::DeleteServer {
        key: spec.key.clone(),
        server: s.id.clone(),
    }
}

fn remove_if_empty(spec: &RouteSpec) -> Op {
    Op::RemoveRouteIfEmpty {
        key: spec.key.clone(),
    }
}

/// Each row: desired, observed, and the ops the plan must make.
#[test]
fn plans() {
    let (foo, bar, a1, a2) = two_routes_two_servers();
    let moved = ServerSpec {
        url: "http://127.0.0.1:2001".into(),
        ..a1.clone()
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
            "second server on a known route: the server alone",
            table(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())]),
            observed(&[(foo.clone(), a1.clone())], 0),
            vec![put_servers(&foo, vec![a2.clone()])],
        ),
        (
            "server moved to another port",
            table(&[(foo.clone(), moved.clone())]),
            observed(&[(foo.clone(), a1.clone())], 0),
            vec![put_servers(&foo, vec![moved.clone()])],
        ),
        (
            "one of two servers gone: the route stays",
            table(&[(foo.clone(), a1.clone())]),
            observed(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())], 0),
            vec![delete(&foo, &a2)],
        ),
        (
            "last server gone: remove the route if empty",
            table(&[]),
            observed(&[(foo.clone(), a1.clone())], 3),
            vec![delete(&foo, &a1), remove_if_empty(&foo)],
        ),
        (
            "two stale servers: the removal after both",
            table(&[(bar.clone(), a1.clone())]),
            observed(&[(foo.clone(), a1.clone()), (foo.clone(), a2.clone())], 0),
            vec![
                put(&bar, vec![a1.clone()], false),
                delete(&foo, &a1),
                delete(&foo, &a2),
                remove_if_empty(&foo),
            ],
        ),
    ];
    for (what, desired, observed, want) in cases {
        assert_eq!(plan(&desired, &observed).ops, want, "{what}");
        assert_within_is_plan_of_those_routes(what, &desired, &observed);
    }
}

/// `plan_within` for any set of routes makes exactly the ops `plan` makes
/// for those routes, in the same order, and none for the others.
fn assert_within_is_plan_of_those_routes(what: &str, desired: &RouteTable, observed: &Observed) {
    let full = plan(desired, observed);
    let every: Vec<RouteKey> = ["foo.local", "bar.local", "baz.local"]
        .into_iter()
        .map(RouteKey::host)
        .collect();
    for mask in 0..(1 << every.len()) {
        let keys: BTreeSet<RouteKey> = every
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, k)| k.clone())
            .collect();
        let part = RouteTable {
            routes: desired
                .routes
                .iter()
                .filter(|(k, _)| keys.contains(*k))
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
        };
        let want: Vec<&Op> = full
            .ops
            .iter()
            .filter(|op| keys.contains(op.key()))
            .collect();
        let got = plan_within(&part, observed, &keys);
        assert_eq!(
            got.ops.iter().collect::<Vec<_>>(),
            want,
            "{what}, within {keys:?}"
        );
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
    assert_eq!(plan(&desired, &o).ops, vec![put(&foo, vec![], true)]);
    let mut o = observed(&[(foo.clone(), a1.clone())], 0);
    o.servers
        .get_mut(&foo.key)
        .unwrap()
        .insert(a1.id.clone(), ServerState::RecordOnly);
    assert_eq!(
        plan(&desired, &o).ops,
        vec![put_servers(&foo, vec![a1.clone()])]
    );
}

/// Middlewares are rewritten when this node alone serves the route, and left (as a conflict) when others do.
#[test]
fn middleware_conflicts_do_not_flap() {
    let limited = rate_limited("foo.local");
    let plain = spec("foo.local");
    let a1 = server("a", "web-1", 1001);
    let desired = table(&[(limited.clone(), a1.clone())]);
    // The store has the plain frontend; this node is the only one: rewrite.
    let o = observed(&[(plain.clone(), a1.clone())], 0);
    let p = plan(&desired, &o);
    assert_eq!(p.ops, vec![put(&limited, vec![], true)]);
    assert!(p.conflicts.is_empty());
    // Another node has a server too: leave it, report the conflict.
    let o = observed(&[(plain.clone(), a1.clone())], 1);
    let p = plan(&desired, &o);
    assert!(p.ops.is_empty(), "{:?}", p.ops);
    assert_eq!(p.conflicts.len(), 1);
}

/// Each row: a setting of the route. Settings that differ from the store's
/// are rewritten by a sole owner and left (as a conflict naming the part
/// that differs) while another node has a server; a hand-edited route
/// expression is drift, repaired either way.
#[test]
fn settings_conflicts_do_not_flap() {
    use crate::model::{BackendSettings, CircuitBreaker, FrontendSettings, Settings};
    let with = |settings: Settings| RouteSpec {
        settings,
        ..spec("foo.local")
    };
    let cases = [
        (
            "frontend",
            with(Settings {
                frontend: FrontendSettings {
                    max_body_bytes: 10,
                    ..Default::default()
                },
                ..Default::default()
            }),
        ),
        (
            "backend",
            with(Settings {
                backend: BackendSettings {
                    timeout_read: "1s".into(),
                    ..Default::default()
                },
                ..Default::default()
            }),
        ),
        (
            "middlewares",
            with(Settings {
                cbreaker: Some(CircuitBreaker {
                    condition: "NetworkErrorRatio() > 0.5".into(),
                    fallback_status: 503,
                    fallback_body: String::new(),
                    fallback_duration_ns: 1,
                    recovery_duration_ns: 1,
                    check_period_ns: 1,
                }),
                ..Default::default()
            }),
        ),
    ];
    let plain = spec("foo.local");
    let a1 = server("a", "web-1", 1001);
    for (part, wanted) in cases {
        let desired = table(&[(wanted.clone(), a1.clone())]);
        let p = plan(&desired, &observed(&[(plain.clone(), a1.clone())], 0));
        assert_eq!(p.ops, vec![put(&wanted, vec![], true)], "{part}");
        let p = plan(&desired, &observed(&[(plain.clone(), a1.clone())], 1));
        assert!(p.ops.is_empty(), "{part}: {:?}", p.ops);
        assert_eq!(p.conflicts.len(), 1, "{part}");
        let ours = p.conflicts[0].ours.as_object().unwrap();
        assert_eq!(ours.keys().collect::<Vec<_>>(), [part], "{part}");
        // Drift besides the settings is repaired even with other nodes on it.
        let mut o = observed(&[(plain.clone(), a1.clone())], 1);
        o.routes.get_mut(&plain.key).unwrap().frontend =
            Some(serde_json::json!({"Type": "http", "Route": "Host(`x`)"}));
        let p = plan(&desired, &o);
        assert_eq!(p.ops, vec![put(&wanted, vec![], true)], "{part}");
    }
}

/// After recording the ops of a plan, planning again finds nothing to do.
#[test]
fn record_then_plan_is_idempotent() {
    let (foo, bar, a1, a2) = two_routes_two_servers();
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

/// Each row: what the store holds of a route this node alone serves, and
/// the rewrite the plan makes. A rewrite deletes havok's middlewares the
/// store holds and the route does not have, and no other: a route written
/// for the first time sends no delete of a key that is not there.
#[test]
fn a_rewrite_deletes_only_the_stale_middlewares_it_saw() {
    use crate::vulcand::{RATELIMIT_ID, TRACE_ID};
    let plain = spec("foo.local");
    let limited = rate_limited("foo.local");
    let a1 = server("a", "web-1", 1001);
    let found = |spec: &RouteSpec, change: &dyn Fn(&mut RouteState)| {
        let mut o = observed(&[(spec.clone(), a1.clone())], 0);
        change(o.routes.get_mut(&spec.key).unwrap());
        o
    };
    let trace = serde_json::json!({"Type": "trace"});
    let cases: Vec<(&str, &RouteSpec, Observed, Vec<Op>)> = vec![
        (
            "route read and found missing (a first start): nothing to delete",
            &plain,
            found(&plain, &|r| *r = RouteState::default()),
            vec![rewrite_deleting(&plain, &[])],
        ),
        (
            "limit taken off: its middleware",
            &plain,
            observed(&[(limited.clone(), a1.clone())], 0),
            vec![rewrite_deleting(&plain, &[RATELIMIT_ID])],
        ),
        (
            "frontend gone, its middleware left behind: that middleware",
            &plain,
            found(&limited, &|r| r.frontend = None),
            vec![rewrite_deleting(&plain, &[RATELIMIT_ID])],
        ),
        (
            "frontend gone, the route's own middleware left: nothing",
            &limited,
            found(&limited, &|r| r.frontend = None),
            vec![rewrite_deleting(&limited, &[])],
        ),
        (
            "two stale, one wanted: the two",
            &limited,
            found(&limited, &|r| {
                r.middlewares.insert(TRACE_ID.into(), trace.clone());
            }),
            vec![rewrite_deleting(&limited, &[TRACE_ID])],
        ),
    ];
    for (what, wanted, o, ops) in cases {
        let desired = table(&[(wanted.clone(), a1.clone())]);
        assert_eq!(plan(&desired, &o).ops, ops, "{what}");
    }
}
