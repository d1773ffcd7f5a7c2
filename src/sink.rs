//! The `RouteSink` trait: the one interface between the reconciler and a store
//! Vulcand reads (etcd v3, etcd v2, Vulcand's HTTP API, or the dry-run log).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::Value;

use crate::ids::{RouteKey, ServerId};
use crate::model::{RouteSpec, ServerSpec};
use crate::vulcand::RouteObjects;

/// Where every node looks for orphaned routes (Vulcand's API), it does so on
/// its first full pass and every this many after it: often enough that a
/// dead node's hosts leave within a few resyncs, rarely enough that the
/// look stays a small share of the store's load.
pub const GC_EVERY: u32 = 5;

/// One change to the store, computed by the plan (`crate::plan`) from a
/// difference between the desired table and what the store holds. Every op
/// is idempotent.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Put this node's servers on a route; the route's own objects go first
    /// when they are missing, or always when `rewrite_route` is set.
    Put(RoutePut),
    /// Delete one of this node's servers.
    DeleteServer { key: RouteKey, server: ServerId },
    /// Remove a route havok created (frontend, middlewares, backend) if no
    /// server of any node is left on it, atomically where the store allows:
    /// after this node's last server on it left, or when its nodes died.
    RemoveRouteIfEmpty { key: RouteKey },
}

/// What an [`Op::Put`] writes: the route's objects as Vulcand reads them,
/// computed once by the plan, and this node's servers on it.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePut {
    pub key: RouteKey,
    pub objects: RouteObjects,
    pub servers: Vec<ServerSpec>,
    /// Write backend, frontend and middlewares even where they exist (a
    /// resync found them different); otherwise only where missing.
    pub rewrite_route: bool,
    /// The store was read (or written by this node) and holds the route's
    /// backend, frontend and middlewares exactly as `objects`: only the
    /// servers are written, in one round trip where the store allows.
    pub route_in_place: bool,
    /// Havok's middlewares to delete after the frontend: ones the store
    /// holds on this route that `objects` does not have (a limit taken off).
    /// Only a rewrite deletes any; the plan names just those it saw, so a
    /// route written for the first time sends no delete of a missing key.
    pub stale_middlewares: Vec<&'static str>,
}

impl RoutePut {
    /// A put of `servers` on the route `spec` describes. Not knowing what
    /// the store holds, a rewrite deletes every havok middleware the route
    /// does not have; the plan names only those it found ([`Self::deleting`]).
    pub fn new(spec: &RouteSpec, servers: Vec<ServerSpec>, rewrite_route: bool) -> RoutePut {
        let objects = RouteObjects::of(spec);
        let stale_middlewares = if rewrite_route {
            objects.stale_middlewares().collect()
        } else {
            Vec::new()
        };
        RoutePut {
            key: spec.key.clone(),
            objects,
            servers,
            rewrite_route,
            route_in_place: false,
            stale_middlewares,
        }
    }

    /// The same put, deleting exactly `stale` of havok's middlewares.
    pub fn deleting(self, stale: Vec<&'static str>) -> RoutePut {
        RoutePut {
            stale_middlewares: stale,
            ..self
        }
    }

    /// Whether the sink writes the route's objects (where missing, or all
    /// when rewriting) besides the servers.
    pub fn writes_route(&self) -> bool {
        self.rewrite_route || !self.route_in_place
    }
}

impl Op {
    pub fn key(&self) -> &RouteKey {
        match self {
            Op::Put(put) => &put.key,
            Op::DeleteServer { key, .. } | Op::RemoveRouteIfEmpty { key } => key,
        }
    }

    /// The op's name in metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Put(_) => "put",
            Op::DeleteServer { .. } => "delete_server",
            Op::RemoveRouteIfEmpty { .. } => "remove_route_if_empty",
        }
    }
}

/// One of this node's servers as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerState {
    /// Vulcand's key holds this URL, kept alive by this node.
    Live(String),
    /// Only havok's bookkeeping knows of it: Vulcand's key was deleted, or
    /// will expire unrefreshed (etcd v3: it is on another lease). The plan
    /// writes it again if it is wanted, else deletes what is left.
    RecordOnly,
}

impl ServerState {
    /// The URL Vulcand routes to, when the server is live.
    pub fn url(&self) -> Option<&str> {
        match self {
            ServerState::Live(url) => Some(url),
            ServerState::RecordOnly => None,
        }
    }
}

/// What the store holds for this node, as read back by [`RouteSink::observe`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// This node's servers by route.
    pub servers: BTreeMap<RouteKey, BTreeMap<ServerId, ServerState>>,
    /// The shared objects of each route asked about, and of each route that
    /// holds one of this node's servers.
    pub routes: BTreeMap<RouteKey, RouteState>,
    /// What the read cost: keys (or objects) and bytes.
    pub keys_read: u64,
    pub bytes_read: u64,
}

/// A route's shared objects as found in the store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteState {
    pub backend: Option<Value>,
    pub frontend: Option<Value>,
    /// Middlewares under the frontend, by id (only those havok writes).
    pub middlewares: BTreeMap<String, Value>,
    /// How many servers of every node the route has.
    pub server_count: usize,
    /// The route's servers that other nodes wrote, to name them in a conflict.
    pub others: Vec<ServerId>,
}

/// Why a sink call failed. Every variant names the store and the object.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store did not answer (down, refused, timed out, TLS failed): retried with backoff.
    #[error("cannot reach {store}: {reason}")]
    Unreachable { store: String, reason: String },
    /// The store answered with an error for one object.
    #[error("{store} refused {object}: {reason}")]
    Refused {
        store: String,
        object: String,
        reason: String,
    },
    /// This node's lease (or TTL session) ran out: its servers are gone from
    /// the store and the next pass writes them again.
    #[error("{store}: this node's lease expired ({reason}); its servers will be written again")]
    LeaseLost { store: String, reason: String },
}

/// Where routes go.
///
/// # Guarantees (what every implementation provides)
/// - Writes Vulcand's layout exactly as Vulcand parses it (`crate::vulcand`),
///   under the configured prefix, in Vulcand's order: backend, servers,
///   frontend, middlewares; on removal frontend before backend.
/// - Only ever deletes this node's servers, and frontends/backends havok
///   created, and those only when no server of any node remains.
/// - This node's servers expire in the store unless [`keepalive`](Self::keepalive)
///   is called (where the store supports expiry; memng does not).
/// - `observe` reads what this node owns plus the routes asked about, not
///   the whole prefix, so its cost does not grow with the number of nodes.
///
/// # Assumptions
/// - One reconciler owns the sink and calls it from one task.
/// - Ops are idempotent and may be repeated after any error.
///
/// # Caveats
/// - Stores without transactions (etcd v2, Vulcand's API) can leave a route
///   without its frontend after a race; the next resync repairs it.
#[async_trait]
pub trait RouteSink: Send {
    /// The backend's name as `--backend` spells it.
    fn name(&self) -> &'static str;

    /// One line for the start-up log: store, endpoints, effective key prefix.
    fn describe(&self) -> String;

    /// Connects (idempotent) and, on stores with leases, finds or creates
    /// this node's lease.
    async fn connect(&mut self) -> Result<(), SinkError>;

    /// Reads this node's servers and the shared objects of `routes`.
    async fn observe(&mut self, routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError>;

    /// Applies ops in order (batched where the store allows).
    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError>;

    /// How often [`keepalive`](Self::keepalive) is called for a TTL of
    /// `ttl`: a third of it, unless refreshing costs writes (etcd v2).
    fn keepalive_period(&self, ttl: std::time::Duration) -> std::time::Duration {
        ttl / 3
    }

    /// Keeps this node's servers alive; called every
    /// [`keepalive_period`](Self::keepalive_period).
    async fn keepalive(&mut self) -> Result<(), SinkError>;

    /// Look for orphans on the first full pass and every this many after it.
    /// On etcd only the cluster's one collector looks, so it looks at every
    /// pass: a dead node's empty hosts leave within one resync of its servers.
    fn gc_every(&self) -> u32 {
        GC_EVERY
    }

    /// Havok-created routes with no server of any node left, for garbage
    /// collection. On etcd only the cluster's one orphan collector looks (the
    /// others answer none), so the cost does not grow with the fleet.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError>;
}
