//! The `RouteSink` trait: the one interface between the reconciler and a store
//! Vulcand reads (etcd v3, etcd v2, Vulcand's HTTP API, or the dry-run log).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde_json::Value;

use crate::ids::{RouteKey, ServerId};
use crate::model::{RouteSpec, ServerSpec};

/// One change to the store, computed by the reconciler from a difference
/// between the desired table and what the store holds. Every op is idempotent.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Put this node's `servers` on the route. The route's backend, frontend
    /// and middlewares are written first when they are missing, or always
    /// when `rewrite_route` is set (a resync found them different).
    Put {
        spec: RouteSpec,
        servers: Vec<ServerSpec>,
        rewrite_route: bool,
    },
    /// Delete one of this node's servers. With `collect`, then remove the
    /// route's frontend, middlewares and backend, but only if no server of any
    /// node remains, atomically where the store allows it.
    Delete {
        key: RouteKey,
        server: ServerId,
        collect: bool,
    },
    /// Remove a havok-created route that has no server left (its nodes died),
    /// with the same guard as the last-server removal.
    Collect { key: RouteKey },
}

impl Op {
    pub fn key(&self) -> &RouteKey {
        match self {
            Op::Put { spec, .. } => &spec.key,
            Op::Delete { key, .. } | Op::Collect { key } => key,
        }
    }
}

/// What the store holds for this node, as read back by [`RouteSink::observe`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// This node's servers by route: the URL in Vulcand's keys, or `None` for
    /// a server only havok's bookkeeping still knows of (its key was deleted).
    pub servers: BTreeMap<RouteKey, BTreeMap<ServerId, Option<String>>>,
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
    /// Servers of every node on the route.
    pub servers: usize,
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

    /// Keeps this node's servers alive; called every `--ttl / 3`.
    async fn keepalive(&mut self) -> Result<(), SinkError>;

    /// Havok-created routes with no server of any node left, for garbage collection.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError>;
}
