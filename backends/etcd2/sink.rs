//! `Etcd2Sink`: routes as Vulcand's v2 engine reads them (`/<etcd prefix>/…`)
//! and this node's bookkeeping (`/<state prefix>/…`, `crate::backends::bookkeeping`),
//! over [`KeysApi`].
//!
//! Vulcand's keys: `/vulcand/backends/<rid>/backend`, `…/servers/<sid>` (with
//! the TTL), `/vulcand/frontends/<rid>/frontend`, `…/middlewares/<havok id>`.
//! This node's records live in a directory with a longer TTL
//! (`super::liveness`); route markers never expire.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde_json::Value;

use super::keys::{KeysApi, Read};
use super::wire::Node;
use crate::backends::apply;
use crate::backends::bookkeeping::{RouteMarker, ServerRecord, StateLayout};
use crate::backends::observe::{add_route, count_read, own_servers, routes_to_read};
use crate::backends::{http, EtcdSettings, SinkTiming};
use crate::config::ConfigError;
use crate::ids::{RouteKey, ServerId};
use crate::sink::{Observed, Op, RoutePut, RouteSink, RouteState, ServerState, SinkError};
use crate::vulcand::{is_havok_middleware, server_url, stored_json, Layout};

/// How many routes' puts `apply` runs at once. Each write is a raft
/// proposal and a watch event: more at once overflows etcd's v2 watchers
/// (a streaming watch drops at 100 events behind; Vulcand's long poll
/// loses its place 1000 behind), and 64 was no faster: a start-up with 200
/// new hosts took 290 ms in its first pass against 226 ms with 16 (one run
/// each); reads 64 at a time were no faster either.
pub(super) const PARALLEL_PUTS: usize = 16;

/// Writes routes to etcd v2 for one node.
pub struct Etcd2Sink {
    pub(super) api: KeysApi,
    /// `/vulcand`: Vulcand's v2 engine joins `-etcdKey` with `/` and the v2
    /// keys API roots every key at `/` (`etcd.go` `path()`, `kapi.Get(n.etcdKey)`).
    pub(super) layout: Layout,
    /// `/havok/…`: this node's records and the route markers.
    pub(super) state: StateLayout,
    pub(super) node: String,
    pub(super) ttl: u64,
    /// The server keys this node holds, refreshed by `keepalive`: filled
    /// by `observe` and by writes, emptied by deletes.
    /// Behind a lock because the puts of several routes run at once; never
    /// held across an await (see [`Etcd2Sink::held_keys`]).
    held_keys: Mutex<BTreeSet<String>>,
    /// Whether the records directory exists (with its TTL): set by
    /// `observe` and the first put, cleared when a refresh finds it gone.
    pub(super) records_ready: AtomicBool,
    /// Keep-alives so far, and the one at which the records directory is
    /// refreshed next (`super::liveness`).
    pub(super) ticks: u32,
    pub(super) records_due: u32,
    /// Whether this node holds the cluster's orphan collector key.
    pub(super) collecting: bool,
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
            state: StateLayout::new(&settings.state_prefix, node),
            node: node.to_string(),
            ttl: timing.ttl.as_secs().max(1),
            held_keys: Mutex::new(BTreeSet::new()),
            records_ready: AtomicBool::new(false),
            ticks: 0,
            records_due: 0,
            collecting: false,
        })
    }

    /// The held keys. Use the guard within one statement: holding it across
    /// an await would make the future `!Send` and block the other puts.
    pub(super) fn held_keys(&self) -> MutexGuard<'_, BTreeSet<String>> {
        // A panic while the lock was held leaves a set that is still a set.
        self.held_keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn store(&self) -> String {
        format!("etcd v2 at {}", self.api.machines().join(","))
    }

    /// Reads a tree, counting what it cost.
    async fn read(&self, key: &str, observed: &mut Observed) -> Result<Option<Node>, SinkError> {
        Ok(self.api.get(key, true).await?.map(|Read { node, bytes }| {
            count_read(observed, node.keys(), bytes as usize);
            node
        }))
    }
}

impl Etcd2Sink {
    /// Seconds of TTL below which a key found by `observe`, not yet held
    /// by this process, is refreshed at once: it might expire before the
    /// first keep-alive, a whole period away.
    fn adopt_within(&self) -> u64 {
        (self.ttl * 2).div_ceil(3) + 1
    }

    /// Refreshes `keys` at once (`refresh=true`: no watch event); the ones
    /// found gone.
    async fn refresh_now(&self, keys: &[String]) -> Result<BTreeSet<String>, SinkError> {
        let (ttl, api) = (self.ttl, &self.api);
        let refreshed: Vec<(usize, bool)> = stream::iter(0..keys.len())
            .map(|i| async move { Ok::<_, SinkError>((i, api.refresh(&keys[i], ttl).await?)) })
            .buffer_unordered(PARALLEL_PUTS)
            .try_collect()
            .await?;
        Ok(refreshed
            .into_iter()
            .filter(|(_, alive)| !alive)
            .map(|(i, _)| keys[i].clone())
            .collect())
    }

    /// Puts routes that are all different, up to [`PARALLEL_PUTS`] at once;
    /// the first error ends the call (puts still in flight are dropped, as if
    /// havok had stopped there, which each route's write order allows for).
    pub(super) async fn put_all(&self, puts: &[&RoutePut]) -> Result<(), SinkError> {
        // By index: a closure taking the borrowed puts trips the compiler's
        // `Send` check of `apply`'s boxed future ("FnOnce is not general enough").
        stream::iter(0..puts.len())
            .map(|i| self.put(puts[i]))
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
            self.state.prefix()
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
        let records_dir = self.state.records_dir();
        let tree = self.read(&records_dir, &mut observed).await?;
        self.records_ready
            .store(tree.is_some(), std::sync::atomic::Ordering::Relaxed);
        if let Some(tree) = tree {
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
        // This node's keys that expire before the next keep-alive could
        // refresh them (those of an earlier run, found by a restart).
        let mut soon = Vec::new();
        let keys = routes_to_read(routes, records.keys());
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
                count_read(&mut observed, node.keys(), bytes as usize);
                node
            })
        });
        let mut read_back = Vec::with_capacity(keys.len());
        for key in keys {
            let id = key.id();
            let mut state = RouteState::default();
            let mut live = Vec::new();
            if let Some(tree) = trees.next().flatten() {
                state.backend = tree.child("backend").and_then(json_of);
                for server in tree.child("servers").iter().flat_map(|s| &s.nodes) {
                    if server.dir {
                        continue;
                    }
                    state.server_count += 1;
                    let sid = ServerId::from_raw(server.name());
                    if !sid.owned_by(&self.node) {
                        state.others.push(sid.clone());
                    }
                    if sid.owned_by(&self.node) {
                        let key = self.layout.server_key(&id, &sid);
                        if server.ttl.is_some_and(|left| left <= self.adopt_within()) {
                            soon.push(key.clone());
                        }
                        held.insert(key);
                        let url = server_url(server.value.as_deref().unwrap_or_default());
                        live.push((sid, ServerState::Live(url)));
                    }
                }
            }
            let recorded = records.get(&key);
            // A live server whose record is gone (the records directory
            // expired while the node could not refresh it) is written again,
            // record first: a server this node lost track of would never leave.
            for (sid, state) in &mut live {
                if !recorded.is_some_and(|r| r.contains_key(sid)) {
                    *state = ServerState::RecordOnly;
                }
            }
            if let Some(tree) = trees.next().flatten() {
                state.frontend = tree.child("frontend").and_then(json_of);
                for mw in tree.child("middlewares").iter().flat_map(|m| &m.nodes) {
                    if is_havok_middleware(mw.name()) {
                        if let Some(value) = json_of(mw) {
                            state.middlewares.insert(mw.name().to_string(), value);
                        }
                    }
                }
            }
            let own = own_servers(live, recorded.into_iter().flat_map(|r| r.keys()));
            read_back.push((key, state, own));
        }
        drop(trees);
        let was_held = std::mem::take(&mut *self.held_keys());
        soon.retain(|k| !was_held.contains(k));
        let lost = self.refresh_now(&soon).await?;
        for (key, state, mut own) in read_back {
            let id = key.id();
            for (sid, state) in own.iter_mut() {
                if lost.contains(&self.layout.server_key(&id, sid)) {
                    *state = ServerState::RecordOnly;
                }
            }
            add_route(&mut observed, key, state, own);
        }
        held.retain(|k| !lost.contains(k));
        *self.held_keys() = held;
        Ok(observed)
    }

    /// In the order of `crate::backends::apply`: each run of puts of distinct
    /// routes concurrently (up to [`PARALLEL_PUTS`] at once), removals alone.
    ///
    /// Puts of different routes may run concurrently: no key is shared
    /// between routes (each route's Vulcand keys, records and marker are
    /// under its own route id), each route's own writes keep their order
    /// within its `put` (marker, backend, servers with records, frontend,
    /// middlewares), and the guarded removal never runs alongside a put of
    /// this node.
    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        apply::apply(self, ops).await
    }

    /// Refreshing is a write on every etcd member, so it runs every 2/3 of
    /// the TTL (1.5 writes per server per TTL), not every third: a dead
    /// node's servers still leave within `--ttl` of its last refresh.
    fn keepalive_period(&self, ttl: Duration) -> Duration {
        ttl * 2 / 3
    }

    /// Only the collector looks (`orphans`), so at every pass.
    fn gc_every(&self) -> u32 {
        1
    }

    /// Server keys, the records directory and the collector key
    /// (`super::liveness`).
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        self.keep_alive().await
    }

    /// Routes marked in `/havok/routes` whose backend has no server left;
    /// none unless this node is the cluster's orphan collector.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        // The keep-alive checks the role held; a node without it looks
        // whether it is free.
        if !self.collecting && !self.collector().await? {
            return Ok(Vec::new());
        }
        let routes_dir = self.state.routes_dir();
        let Some(read) = self.api.get(&routes_dir, false).await? else {
            return Ok(Vec::new());
        };
        let mut marked = Vec::new();
        for marker in read.node.nodes.iter().filter(|n| !n.dir) {
            let value = marker.value.as_deref().unwrap_or_default().as_bytes();
            match RouteMarker::parse(value, marker.name()) {
                Some(key) => marked.push(key),
                None => {
                    tracing::warn!(key = %marker.key, "etcd v2: ignoring an unreadable route marker")
                }
            }
        }
        // Each route's servers directory, up to PARALLEL_PUTS at once.
        let dirs: Vec<String> = marked
            .iter()
            .map(|k| self.layout.servers_dir(&k.id()))
            .collect();
        let dirs = &dirs;
        let servers: Vec<Option<Read>> = stream::iter(0..dirs.len())
            .map(|i| self.api.get(&dirs[i], false))
            .buffered(PARALLEL_PUTS)
            .try_collect()
            .await?;
        let orphans: Vec<RouteKey> = marked
            .into_iter()
            .zip(servers)
            .filter(|(_, s)| {
                !s.as_ref()
                    .is_some_and(|r| r.node.nodes.iter().any(|n| !n.dir))
            })
            .map(|(k, _)| k)
            .collect();
        tracing::debug!(
            markers = dirs.len(),
            orphans = orphans.len(),
            "etcd v2: looked for orphaned routes (this node is the collector)"
        );
        Ok(orphans)
    }
}

/// A key's JSON value (`crate::vulcand::stored_json`).
fn json_of(node: &Node) -> Option<Value> {
    node.value.as_deref().map(stored_json)
}
