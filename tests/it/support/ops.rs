//! Builders for the `Op`s and servers the sink-level tests feed a `RouteSink`.

use std::collections::BTreeSet;

use havok::ids::{RouteKey, ServerId};
use havok::model::{RouteSpec, ServerSpec};
use havok::sink::Op;

/// Node `node`'s server for `container`, at 127.0.0.1:`port`.
pub fn server(node: &str, container: &str, port: u16) -> ServerSpec {
    ServerSpec {
        id: ServerId::new(node, container),
        url: format!("http://127.0.0.1:{port}"),
        container: container.into(),
    }
}

pub fn put(spec: &RouteSpec, servers: &[&ServerSpec], rewrite_route: bool) -> Op {
    Op::Put {
        spec: spec.clone(),
        servers: servers.iter().map(|s| (*s).clone()).collect(),
        rewrite_route,
    }
}

pub fn delete(key: &RouteKey, server: &ServerSpec, collect: bool) -> Op {
    Op::Delete {
        key: key.clone(),
        server: server.id.clone(),
        collect,
    }
}

pub fn set(keys: &[&RouteKey]) -> BTreeSet<RouteKey> {
    keys.iter().map(|k| (*k).clone()).collect()
}
