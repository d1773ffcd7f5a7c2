//! Builders for the `Op`s and servers the sink-level tests feed a `RouteSink`.

use std::collections::BTreeSet;

use havok::ids::{RouteKey, ServerId};
use havok::model::{RouteSpec, ServerSpec};
use havok::sink::{Op, RoutePut};

/// Node `node`'s server for `container`, at 127.0.0.1:`port`.
pub fn server(node: &str, container: &str, port: u16) -> ServerSpec {
    ServerSpec {
        id: ServerId::new(node, container),
        url: format!("http://127.0.0.1:{port}"),
        container: container.into(),
    }
}

pub fn put(spec: &RouteSpec, servers: &[&ServerSpec], rewrite_route: bool) -> Op {
    let servers = servers.iter().map(|s| (*s).clone()).collect();
    Op::Put(RoutePut::new(spec, servers, rewrite_route))
}

/// A put of servers on a route the store holds exactly (the plan's
/// `route_in_place`): only the servers are written.
pub fn put_servers(spec: &RouteSpec, servers: &[&ServerSpec]) -> Op {
    let servers = servers.iter().map(|s| (*s).clone()).collect();
    let mut put = RoutePut::new(spec, servers, false);
    put.route_in_place = true;
    Op::Put(put)
}

pub fn delete(key: &RouteKey, server: &ServerSpec) -> Op {
    Op::DeleteServer {
        key: key.clone(),
        server: server.id.clone(),
    }
}

pub fn remove_if_empty(key: &RouteKey) -> Op {
    Op::RemoveRouteIfEmpty { key: key.clone() }
}

pub fn set(keys: &[&RouteKey]) -> BTreeSet<RouteKey> {
    keys.iter().map(|k| (*k).clone()).collect()
}
