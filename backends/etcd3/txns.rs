//! The etcd v3 sink's transactions: a route's put (its servers alone when
//! the route exists, else the whole route with them, in Vulcand's order) and
//! the guarded removal of a route no server of any node is left on.

use etcd_client::{Compare, CompareOp, DeleteOptions, PutOptions, Txn, TxnOp};

use super::Etcd3Sink;
use crate::backends::bookkeeping::{RouteMarker, ServerRecord};
use crate::backends::etcd_settings::ROUTE_OPS;
use crate::ids::RouteKey;
use crate::model::ServerSpec;
use crate::sink::{RoutePut, SinkError};
use crate::vulcand::server_value;

impl Etcd3Sink {
    /// The transactions of one put: a route with more servers than one
    /// transaction takes is written in several, each complete on its own (it
    /// puts its servers if the route exists, else the whole route with them);
    /// only the first rewrites the route. Each comes with its op count.
    pub(super) fn put_txns(&self, put: &RoutePut, lease: i64) -> Vec<(Txn, usize)> {
        let per_txn = (self.max_ops.saturating_sub(ROUTE_OPS) / 2).max(1);
        let chunks: Vec<&[ServerSpec]> = if put.servers.is_empty() {
            vec![&[]]
        } else {
            put.servers.chunks(per_txn).collect()
        };
        chunks
            .into_iter()
            .enumerate()
            .map(|(i, chunk)| self.put_txn(put, chunk, put.rewrite_route && i == 0, lease))
            .collect()
    }

    /// The txn ops that put servers of a route and their records on this node's lease.
    fn server_ops(&self, put: &RoutePut, servers: &[ServerSpec], lease: i64) -> Vec<TxnOp> {
        let id = &put.objects.id;
        let mut ops = Vec::new();
        for s in servers {
            ops.push(TxnOp::put(
                self.layout.server_key(id, &s.id),
                server_value(&s.url).to_string(),
                Some(PutOptions::new().with_lease(lease)),
            ));
            ops.push(TxnOp::put(
                self.state.record_key(id, &s.id),
                ServerRecord::of(&put.key, s).to_json(),
                Some(PutOptions::new().with_lease(lease)),
            ));
        }
        ops
    }

    /// The route's shared objects in Vulcand's order: backend (first), then
    /// (after the servers) frontend and middlewares, and havok's marker.
    fn route_ops(&self, put: &RoutePut) -> (Vec<TxnOp>, Vec<TxnOp>) {
        let objects = &put.objects;
        let id = &objects.id;
        let before = vec![TxnOp::put(
            self.layout.backend_key(id),
            objects.backend.to_string(),
            None,
        )];
        let mut after = vec![TxnOp::put(
            self.layout.frontend_key(id),
            objects.frontend.to_string(),
            None,
        )];
        for (mid, value) in &objects.middlewares {
            after.push(TxnOp::put(
                self.layout.middleware_key(id, mid),
                value.to_string(),
                None,
            ));
        }
        for mid in &put.stale_middlewares {
            after.push(TxnOp::delete(self.layout.middleware_key(id, mid), None));
        }
        after.push(TxnOp::put(
            self.state.marker_key(id),
            RouteMarker::of(&put.key).to_json(),
            None,
        ));
        (before, after)
    }

    /// One put: atomically, either the route exists and only servers are
    /// written, or backend, servers and frontend are all written together, so
    /// a concurrent last-server removal on another node can never leave a
    /// server on a route without its backend and frontend.
    fn put_txn(
        &self,
        put: &RoutePut,
        servers: &[ServerSpec],
        rewrite: bool,
        lease: i64,
    ) -> (Txn, usize) {
        let id = &put.objects.id;
        let servers_ops = self.server_ops(put, servers, lease);
        let (before, after) = self.route_ops(put);
        let mut full = before;
        full.extend(servers_ops.iter().cloned());
        full.extend(after);
        let size = full.len();
        if rewrite {
            return (Txn::new().and_then(full), size);
        }
        let txn = Txn::new()
            .when([
                Compare::version(self.layout.backend_key(id), CompareOp::Greater, 0),
                Compare::version(self.layout.frontend_key(id), CompareOp::Greater, 0),
            ])
            .and_then(servers_ops)
            .or_else(full);
        (txn, size)
    }

    /// Puts of several routes in one transaction: each route's own
    /// compare-then-else is a nested transaction (etcd ≥ 3.3).
    pub(super) async fn put_batch(&self, txns: Vec<Txn>) -> Result<(), SinkError> {
        let txn = if txns.len() == 1 {
            txns.into_iter().next().expect("one")
        } else {
            Txn::new().and_then(txns.into_iter().map(TxnOp::txn).collect::<Vec<_>>())
        };
        self.run_txn("put of servers", txn).await.map(|_| ())
    }

    /// Removes a route's frontend (with its middlewares), backend and marker,
    /// only if no server of any node is left under it and havok created it.
    /// The guard and the deletes are one transaction: a server another node
    /// puts at the same moment either lands first (the guard fails and the
    /// route stays) or after (its own transaction writes the route again).
    pub(super) fn remove_txn(&self, key: &RouteKey) -> Txn {
        let id = key.id();
        Txn::new()
            .when([
                Compare::create_revision(self.layout.servers_dir(&id), CompareOp::Equal, 0)
                    .with_prefix(),
                Compare::version(self.state.marker_key(&id), CompareOp::Greater, 0),
            ])
            .and_then([
                // Middlewares before their frontend: Vulcand applies the
                // events of one transaction in order, and a MiddlewareDeleted
                // after its FrontendDeleted fails (docs/vulcand.md).
                TxnOp::delete(
                    self.layout.middlewares_dir(&id),
                    Some(DeleteOptions::new().with_prefix()),
                ),
                TxnOp::delete(
                    self.layout.frontend_dir(&id),
                    Some(DeleteOptions::new().with_prefix()),
                ),
                TxnOp::delete(self.layout.backend_key(&id), None),
                TxnOp::delete(self.state.marker_key(&id), None),
            ])
    }
}
