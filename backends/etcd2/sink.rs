//! `Etcd2Sink`: routes as Vulcand's v2 engine reads them (`/<etcd prefix>/…`)
//! and this node's bookkeeping (`/<state prefix>/…`), over [`KeysApi`].
//!
//! Keys written:
//! - Vulcand's: `/vulcand/backends/<rid>/backend`, `…/servers/<sid>` (TTL),
//!   `/vulcand/frontends/<rid>/frontend`, `…/middlewares/<havok id>`.
//! - `/havok/nodes/<node>/servers/<rid>/<sid>` = [`ServerRecord`] (same TTL as
//!   the server key): which servers this node wrote, so `observe` reads this
//!   node's directory and the routes it names, never the whole prefix.
//! - `/havok/routes/<rid>` = `{"host":…,"path":…}` (no TTL): the routes havok
//!   created, for `orphans`.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{KeysApi, Read};
use super::wire::Node;
use crate::backends::http;
use crate::config::{Config, ConfigError};
use crate::model::RouteKey;
use crate::sink::{Observed, Op, RouteSink, RouteState, SinkError};
use crate::vulcand::{Layout, RouteId, ServerId, ServerRecord, CONNLIMIT_ID, RATELIMIT_ID};

/// The middleware ids havok writes; others under a frontend are not havok's.
pub(super) const HAVOK_MIDDLEWARES: [&str; 2] = [RATELIMIT_ID, CONNLIMIT_ID];

/// The value of `/havok/routes/<rid>`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Marker {
    pub(super) host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) path: Option<String>,
}

/// Writes routes to etcd v2 for one node.
pub struct Etcd2Sink {
    pub(super) api: KeysApi,
    /// `/vulcand`: Vulcand's v2 engine joins `-etcdKey` with `/` and the v2
    /// keys API roots every key at `/` (`etcd.go` `path()`, `kapi.Get(n.etcdKey)`).
    pub(super) layout: Layout,
    /// `/havok`.
    state: String,
    node: String,
    pub(super) ttl: u64,
    /// The server keys and bookkeeping records this node holds, refreshed by
    /// `keepalive`: filled by `observe` and by writes, emptied by deletes.
    pub(super) held: BTreeSet<String>,
}

impl Etcd2Sink {
    pub fn new(config: &Config, node: &str) -> Result<Etcd2Sink, ConfigError> {
        let client = http::client(config.etcd_tls.as_ref(), config.timeout)?;
        Ok(Etcd2Sink {
            api: KeysApi::new(
                client,
                config.etcd_machines.clone(),
                config.etcd_auth.clone(),
            ),
            layout: Layout::new(&rooted(&config.etcd_prefix)),
            state: rooted(&config.state_prefix),
            node: node.to_string(),
            ttl: config.ttl.as_secs().max(1),
            held: BTreeSet::new(),
        })
    }

    fn store(&self) -> String {
        format!("etcd v2 at {}", self.api.machines().join(","))
    }

    /// `/havok/nodes/<node>/servers`: this node's bookkeeping.
    fn records_dir(&self) -> String {
        format!("{}/nodes/{}/servers", self.state, self.node)
    }

    pub(super) fn record_key(&self, id: &RouteId, server: &ServerId) -> String {
        format!("{}/{}/{}", self.records_dir(), id, server)
    }

    fn routes_dir(&self) -> String {
        format!("{}/routes", self.state)
    }

    pub(super) fn marker_key(&self, id: &RouteId) -> String {
        format!("{}/{}", self.routes_dir(), id)
    }

    /// Reads a tree, counting what it cost.
    async fn read(
        &mut self,
        key: &str,
        observed: &mut Observed,
    ) -> Result<Option<Node>, SinkError> {
        Ok(self.api.get(key, true).await?.map(|Read { node, bytes }| {
            observed.keys_read += node.keys();
            observed.bytes_read += bytes;
            node
        }))
    }
}

#[async_trait]
impl RouteSink for Etcd2Sink {
    fn name(&self) -> &'static str {
        "etcd2"
    }

    fn describe(&self) -> String {
        format!(
            "{}, Vulcand keys under {}/, bookkeeping under {}/",
            self.store(),
            self.layout.prefix(),
            self.state
        )
    }

    /// Reads the root directory: proves a member answers and that its v2 API
    /// is on (etcd 3.4+ without `--enable-v2` answers `404 page not found`).
    async fn connect(&mut self) -> Result<(), SinkError> {
        self.api.get("/", false).await?;
        Ok(())
    }

    async fn observe(&mut self, routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        let mut observed = Observed::default();
        // This node's records by route: server id → the record's key.
        let mut records: BTreeMap<RouteKey, BTreeMap<ServerId, String>> = BTreeMap::new();
        let records_dir = self.records_dir();
        if let Some(tree) = self.read(&records_dir, &mut observed).await? {
            for entry in tree.nodes.iter().flat_map(|route| &route.nodes) {
                let Some(value) = entry.value.as_deref() else {
                    continue;
                };
                match serde_json::from_str::<ServerRecord>(value) {
                    Ok(record) => {
                        records
                            .entry(record.key())
                            .or_default()
                            .insert(ServerId::from_raw(entry.name()), entry.key.clone());
                    }
                    Err(e) => tracing::warn!(
                        key = %entry.key,
                        "etcd v2: ignoring an unreadable bookkeeping record: {e}"
                    ),
                }
            }
        }

        let mut held = BTreeSet::new();
        let keys: BTreeSet<RouteKey> = routes.iter().chain(records.keys()).cloned().collect();
        for key in keys {
            let id = key.id();
            let mut state = RouteState::default();
            let mut mine = BTreeMap::new();
            let backend_dir = self.layout.backend_dir(&id);
            if let Some(tree) = self.read(&backend_dir, &mut observed).await? {
                state.backend = tree.child("backend").and_then(json_of);
                for server in tree.child("servers").iter().flat_map(|s| &s.nodes) {
                    if server.dir {
                        continue;
                    }
                    state.servers += 1;
                    let sid = ServerId::from_raw(server.name());
                    if sid.owned_by(&self.node) {
                        held.insert(self.layout.server_key(&id, &sid));
                        mine.insert(sid, Some(url_of(server)));
                    }
                }
            }
            for (sid, record_key) in records.get(&key).into_iter().flatten() {
                if mine.contains_key(sid) {
                    held.insert(record_key.clone());
                } else {
                    mine.insert(sid.clone(), None);
                }
            }
            let frontend_dir = self.layout.frontend_dir(&id);
            if let Some(tree) = self.read(&frontend_dir, &mut observed).await? {
                state.frontend = tree.child("frontend").and_then(json_of);
                for mw in tree.child("middlewares").iter().flat_map(|m| &m.nodes) {
                    if HAVOK_MIDDLEWARES.contains(&mw.name()) {
                        if let Some(value) = json_of(mw) {
                            state.middlewares.insert(mw.name().to_string(), value);
                        }
                    }
                }
            }
            if !mine.is_empty() {
                observed.servers.insert(key.clone(), mine);
            }
            observed.routes.insert(key, state);
        }
        self.held = held;
        Ok(observed)
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        for op in ops {
            match op {
                Op::Put {
                    spec,
                    servers,
                    rewrite_route,
                } => self.put(spec, servers, *rewrite_route).await?,
                Op::Delete {
                    key,
                    server,
                    collect,
                } => {
                    self.delete_server(key, server).await?;
                    if *collect {
                        self.collect(key).await?;
                    }
                }
                Op::Collect { key } => self.collect(key).await?,
            }
        }
        Ok(())
    }

    /// Refreshes every held key with `refresh=true`, which fires no watch
    /// event in etcd v2, so Vulcand does not reload on every heartbeat.
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        let mut expired = Vec::new();
        for key in self.held.clone() {
            if !self.api.refresh(&key, self.ttl).await? {
                expired.push(key);
            }
        }
        let Some(first) = expired.first() else {
            return Ok(());
        };
        let reason = format!(
            "{} of its keys expired before they were refreshed, {first} among them",
            expired.len()
        );
        for key in &expired {
            self.held.remove(key);
        }
        Err(SinkError::LeaseLost {
            store: self.store(),
            reason,
        })
    }

    /// Routes marked in `/havok/routes` whose backend has no server left.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        let routes_dir = self.routes_dir();
        let Some(read) = self.api.get(&routes_dir, false).await? else {
            return Ok(Vec::new());
        };
        let mut orphans = Vec::new();
        for marker in read.node.nodes.iter().filter(|n| !n.dir) {
            let parsed = marker
                .value
                .as_deref()
                .and_then(|v| serde_json::from_str::<Marker>(v).ok());
            let Some(Marker { host, path }) = parsed else {
                tracing::warn!(key = %marker.key, "etcd v2: ignoring an unreadable route marker");
                continue;
            };
            let key = RouteKey { host, path };
            let id = key.id();
            if id.as_str() != marker.name() {
                tracing::warn!(key = %marker.key, route = %key, "etcd v2: ignoring a route marker that names another route");
                continue;
            }
            let servers_dir = self.layout.servers_dir(&id);
            let servers = self.api.get(&servers_dir, false).await?;
            if !servers.is_some_and(|r| r.node.nodes.iter().any(|n| !n.dir)) {
                orphans.push(key);
            }
        }
        Ok(orphans)
    }
}

/// `vulcand` → `/vulcand`; `/havok/` → `/havok`.
fn rooted(prefix: &str) -> String {
    format!("/{}", prefix.trim_matches('/'))
}

/// A key's JSON value; a value that is not JSON is kept as a string, so it
/// differs from what havok would write and the reconciler rewrites it.
fn json_of(node: &Node) -> Option<Value> {
    let raw = node.value.as_deref()?;
    Some(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())))
}

/// The `URL` of a server value, else the raw value (which then differs from
/// the wanted URL, so the reconciler rewrites it).
fn url_of(node: &Node) -> String {
    let raw = node.value.clone().unwrap_or_default();
    match serde_json::from_str::<Value>(&raw) {
        Ok(Value::Object(map)) => match map.get("URL") {
            Some(Value::String(url)) => url.clone(),
            _ => raw,
        },
        _ => raw,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: a configured prefix and the key root used in etcd v2.
    #[test]
    fn prefixes_are_rooted() {
        for (given, want) in [
            ("vulcand", "/vulcand"),
            ("/vulcand", "/vulcand"),
            ("vulcand/", "/vulcand"),
            ("a/b", "/a/b"),
        ] {
            assert_eq!(rooted(given), want);
        }
    }

    /// Each row: a server key's value and the URL `observe` reports.
    #[test]
    fn server_urls() {
        for (value, want) in [
            (
                r#"{"URL":"http://10.0.0.5:32768"}"#,
                "http://10.0.0.5:32768",
            ),
            (r#"{"URL":5}"#, r#"{"URL":5}"#),
            ("not json", "not json"),
        ] {
            let node = Node {
                value: Some(value.into()),
                ..Node::default()
            };
            assert_eq!(url_of(&node), want);
        }
    }

    /// The marker keeps the route it names; a host-only route has no path.
    #[test]
    fn markers() {
        let m = Marker {
            host: "a-1.local".into(),
            path: None,
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"host":"a-1.local"}"#
        );
        let back: Marker = serde_json::from_str(r#"{"host":"x","path":"/api"}"#).unwrap();
        assert_eq!(back.path.as_deref(), Some("/api"));
    }
}
