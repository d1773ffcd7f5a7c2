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
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::keys::{KeysApi, KeysError, Read};
use super::wire::Node;
use crate::backends::{http, EtcdSettings, SinkTiming};
use crate::config::ConfigError;
use crate::model::{RouteKey, RouteSpec, ServerSpec};
use crate::sink::{Observed, Op, RouteSink, RouteState, SinkError};
use crate::vulcand::{Layout, RouteId, ServerId, ServerRecord, CONNLIMIT_ID, RATELIMIT_ID};

/// The middleware ids havok writes; others under a frontend are not havok's.
pub(super) const HAVOK_MIDDLEWARES: [&str; 2] = [RATELIMIT_ID, CONNLIMIT_ID];

/// How many routes' puts `apply` runs at once.
const PARALLEL_PUTS: usize = 16;

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
    /// Behind a lock because the puts of several routes run at once; never
    /// held across an await (see [`Etcd2Sink::held`]).
    held: Mutex<BTreeSet<String>>,
}

impl Etcd2Sink {
    /// A sink for `node` on the etcd v2 members `settings` name.
    pub fn new(
        settings: EtcdSettings,
        timing: SinkTiming,
        node: &str,
    ) -> Result<Etcd2Sink, ConfigError> {
        let client = http::client(settings.tls.as_ref(), timing.timeout)?;
        Ok(Etcd2Sink {
            api: KeysApi::new(client, settings.machines, settings.auth),
            layout: Layout::new(&settings.prefix),
            state: settings.state_prefix,
            node: node.to_string(),
            ttl: timing.ttl.as_secs().max(1),
            held: Mutex::new(BTreeSet::new()),
        })
    }

    /// The held keys. Use the guard within one statement: holding it across
    /// an await would make the future `!Send` and block the other puts.
    pub(super) fn held(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // A panic while the lock was held leaves a set that is still a set.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
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
    async fn read(&self, key: &str, observed: &mut Observed) -> Result<Option<Node>, SinkError> {
        Ok(self.api.get(key, true).await?.map(|Read { node, bytes }| {
            observed.keys_read += node.keys();
            observed.bytes_read += bytes;
            node
        }))
    }
}

impl Etcd2Sink {
    /// Puts routes that are all different, up to [`PARALLEL_PUTS`] at once;
    /// the first error ends the call (puts still in flight are dropped, as if
    /// havok had stopped there, which each route's write order allows for).
    async fn put_all(&self, run: Vec<(&RouteSpec, &[ServerSpec], bool)>) -> Result<(), SinkError> {
        // By index: a closure taking the borrowed tuples trips the compiler's
        // `Send` check of `apply`'s boxed future ("FnOnce is not general enough").
        let run = &run;
        stream::iter(0..run.len())
            .map(|i| self.put(run[i].0, run[i].1, run[i].2))
            .buffer_unordered(PARALLEL_PUTS)
            .try_collect()
            .await
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
        let keys: Vec<RouteKey> = routes
            .iter()
            .chain(records.keys())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Each route's backend and frontend directories, read up to
        // PARALLEL_PUTS at a time (a start-up with hundreds of routes would
        // otherwise wait on one round trip after another), in order.
        let dirs: Vec<String> = keys
            .iter()
            .flat_map(|k| {
                let id = k.id();
                [self.layout.backend_dir(&id), self.layout.frontend_dir(&id)]
            })
            .collect();
        let dirs = &dirs;
        let trees: Vec<Option<Read>> = stream::iter(0..dirs.len())
            .map(|i| self.api.get(&dirs[i], true))
            .buffered(PARALLEL_PUTS)
            .try_collect()
            .await?;
        let mut trees = trees.into_iter().map(|read| {
            read.map(|Read { node, bytes }| {
                observed.keys_read += node.keys();
                observed.bytes_read += bytes;
                node
            })
        });
        let mut next_tree = move || trees.next().flatten();
        for key in keys {
            let id = key.id();
            let mut state = RouteState::default();
            let mut mine = BTreeMap::new();
            if let Some(tree) = next_tree() {
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
            if let Some(tree) = next_tree() {
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
        *self.held() = held;
        Ok(observed)
    }

    /// Runs each run of consecutive `Put`s concurrently (up to
    /// [`PARALLEL_PUTS`] routes at once), and `Delete`s and `Collect`s one at
    /// a time in their place: a run ends before any `Delete` or `Collect`,
    /// which thus sees every put before it done and none after it started.
    ///
    /// Puts of different routes may run concurrently: no key is shared
    /// between routes (each route's Vulcand keys, records and marker are
    /// under its own route id), each route's own writes keep their order
    /// within its `put` (marker, backend, servers with records, frontend,
    /// middlewares), and the guarded removal in `collect` is unaffected, as
    /// it never runs alongside a put of this node. A route that appears twice
    /// starts a new run, so one route's puts never overlap.
    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        let mut rest = ops;
        while let Some(op) = rest.first() {
            match op {
                Op::Put { .. } => {
                    let mut routes = BTreeSet::new();
                    let mut run = Vec::new();
                    while let Some(Op::Put {
                        spec,
                        servers,
                        rewrite_route,
                    }) = rest.first()
                    {
                        if !routes.insert(&spec.key) {
                            break;
                        }
                        run.push((spec, servers.as_slice(), *rewrite_route));
                        rest = &rest[1..];
                    }
                    self.put_all(run).await?;
                    continue;
                }
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
            rest = &rest[1..];
        }
        Ok(())
    }

    /// Refreshes every held key with `refresh=true`, which fires no watch
    /// event in etcd v2, so Vulcand does not reload on every heartbeat.
    ///
    /// Different keys are refreshed concurrently (up to [`PARALLEL_PUTS`] at
    /// once), and every key is tried even when one fails: a key whose
    /// refresh was skipped would expire, and with it a live server. The first
    /// failure is returned after all were tried; keys found expired are
    /// forgotten and reported as a lost lease, so the next pass writes them.
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        // A copy: the lock must not be held across the refreshes.
        let held: Vec<String> = self.held().iter().cloned().collect();
        let (held, ttl, api) = (&held, self.ttl, &self.api);
        let results: Vec<(usize, Result<bool, KeysError>)> = stream::iter(0..held.len())
            .map(|i| async move { (i, api.refresh(&held[i], ttl).await) })
            .buffer_unordered(PARALLEL_PUTS)
            .collect()
            .await;
        let mut expired = Vec::new();
        let mut failed = None;
        for (i, result) in results {
            match result {
                Ok(true) => {}
                Ok(false) => expired.push(held[i].clone()),
                // The first in key order, whichever answered first.
                Err(e) if failed.as_ref().is_none_or(|(j, _)| i < *j) => failed = Some((i, e)),
                Err(_) => {}
            }
        }
        expired.sort();
        let mut still_held = self.held();
        for key in &expired {
            still_held.remove(key);
        }
        drop(still_held);
        if let Some((_, e)) = failed {
            return Err(e.into());
        }
        let Some(first) = expired.first() else {
            return Ok(());
        };
        let reason = format!(
            "{} of its keys expired before they were refreshed, {first} among them",
            expired.len()
        );
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
