//! The writes of `Etcd2Sink`: a route's objects in Vulcand's order, one
//! server's removal, and the guarded removal of a route.

use serde_json::Value;

use super::keys::{Delete, Deleted};
use super::sink::{Etcd2Sink, Marker, HAVOK_MIDDLEWARES};
use crate::model::{RouteKey, RouteSpec, ServerSpec};
use crate::sink::SinkError;
use crate::vulcand::{server_value, RouteObjects, ServerId, ServerRecord};

impl Etcd2Sink {
    /// Backend, this node's servers (with bookkeeping), frontend, middlewares:
    /// Vulcand's order, since it checks that the backend exists when a server
    /// or frontend arrives. `apply` may run the puts of different routes at
    /// once (they share no key), but one route's writes stay in this order.
    pub(super) async fn put(
        &self,
        spec: &RouteSpec,
        servers: &[ServerSpec],
        rewrite: bool,
    ) -> Result<(), SinkError> {
        let objects = RouteObjects::of(spec);
        let id = &objects.id;
        // The marker first: once any key of the route exists, `orphans` can find it.
        let marker = serde_json::json!(Marker {
            host: spec.key.host.clone(),
            path: spec.key.path.clone(),
        });
        let marker_key = self.marker_key(id);
        self.api
            .create(&marker_key, &marker.to_string(), None)
            .await?;
        let backend_key = self.layout.backend_key(id);
        self.write(&backend_key, &objects.backend, rewrite).await?;
        for server in servers {
            let record = serde_json::json!(ServerRecord {
                host: spec.key.host.clone(),
                path: spec.key.path.clone(),
                url: server.url.clone(),
                container: server.container.clone(),
            });
            // Bookkeeping before the server key: if havok dies in between, a
            // record without a key is reported as `None` and cleaned up, while
            // a key without a record on a route nobody asks about would be lost track of.
            let record_key = self.record_key(id, &server.id);
            self.api
                .set(&record_key, &record.to_string(), Some(self.ttl))
                .await?;
            self.held().insert(record_key);
            let server_key = self.layout.server_key(id, &server.id);
            let value = server_value(&server.url).to_string();
            self.api.set(&server_key, &value, Some(self.ttl)).await?;
            self.held().insert(server_key);
        }
        let frontend_key = self.layout.frontend_key(id);
        self.write(&frontend_key, &objects.frontend, rewrite)
            .await?;
        if rewrite {
            // A rewrite makes the middlewares exactly the spec's: drop havok's others.
            for mid in HAVOK_MIDDLEWARES {
                if !objects.middlewares.iter().any(|(m, _)| *m == mid) {
                    let key = self.layout.middleware_key(id, mid);
                    self.api.delete(&key, Delete::Key).await?;
                }
            }
        }
        for (mid, value) in &objects.middlewares {
            let key = self.layout.middleware_key(id, mid);
            self.write(&key, value, rewrite).await?;
        }
        Ok(())
    }

    /// A plain set when rewriting; otherwise create-if-missing, so a key that
    /// is already there fires no watch event and Vulcand does not reload it.
    pub(super) async fn write(
        &self,
        key: &str,
        value: &Value,
        rewrite: bool,
    ) -> Result<(), SinkError> {
        if rewrite {
            self.api.set(key, &value.to_string(), None).await?;
        } else {
            self.api.create(key, &value.to_string(), None).await?;
        }
        Ok(())
    }

    /// Deletes one of this node's servers: Vulcand's key, then the record, so
    /// a crash in between leaves a record that `observe` reports as `None`.
    pub(super) async fn delete_server(
        &self,
        key: &RouteKey,
        server: &ServerId,
    ) -> Result<(), SinkError> {
        let id = key.id();
        let server_key = self.layout.server_key(&id, server);
        self.api.delete(&server_key, Delete::Key).await?;
        self.held().remove(&server_key);
        let record_key = self.record_key(&id, server);
        self.api.delete(&record_key, Delete::Key).await?;
        self.held().remove(&record_key);
        Ok(())
    }

    /// Removes a route once no node has a server on it.
    ///
    /// etcd v2 has no multi-key transaction; the guard is etcd refusing to
    /// delete a non-empty directory without `recursive` (errorCode 108),
    /// which it decides atomically against concurrent writes:
    /// 1. delete `backends/<rid>/servers` as an empty dir: if any node has a
    ///    server, etcd refuses and the route stays. Success means no server
    ///    existed at that instant.
    /// 2. delete the frontend by compare-and-delete at the index read, so a
    ///    frontend rewritten meanwhile stays (with its middlewares) and stops
    ///    the removal; then the frontend's directory with havok's middlewares
    ///    in it. Recursively, as Vulcand's own `DeleteFrontend` does: a
    ///    frontend directory without its `frontend` key makes Vulcand's
    ///    `parseFrontends` fail the whole snapshot ("Frontend <id> parameters
    ///    missing"), and a middleware without its frontend means nothing.
    /// 3. delete the `backend` key, then `backends/<rid>` as an empty dir.
    ///    If another node wrote a server meanwhile, its key recreated the
    ///    servers dir and etcd refuses: the dir and the server stay.
    /// 4. delete the marker, only when the whole route is gone.
    ///
    /// No server key is ever deleted here: every delete that could reach one
    /// is non-recursive, so a live server cannot be lost. What a race can
    /// lose is a frontend or backend key: another node adds a server after
    /// step 1, finds the frontend and backend still there (its creates answer
    /// "Key already exists"), and steps 2-3 then remove them. Its server then
    /// has no frontend (no traffic) or no backend key until that node's next
    /// resync, whose `observe` reports `frontend: None` / `backend: None` and
    /// whose `Put` with `rewrite_route` writes them again.
    pub(super) async fn collect(&self, key: &RouteKey) -> Result<(), SinkError> {
        let id = key.id();
        let servers_dir = self.layout.servers_dir(&id);
        if self.api.delete(&servers_dir, Delete::EmptyDir).await? == Deleted::NotEmpty {
            tracing::debug!(route = %key, "etcd v2: route still has servers; keeping it");
            return Ok(());
        }
        let frontend_key = self.layout.frontend_key(&id);
        if let Some(read) = self.api.get(&frontend_key, false).await? {
            let at = Delete::KeyAt(read.node.modified_index);
            if self.api.delete(&frontend_key, at).await? == Deleted::Changed {
                tracing::debug!(route = %key, "etcd v2: frontend rewritten meanwhile; keeping the route");
                return Ok(());
            }
        }
        let frontend_dir = self.layout.frontend_dir(&id);
        self.api.delete(&frontend_dir, Delete::Tree).await?;
        let backend_key = self.layout.backend_key(&id);
        self.api.delete(&backend_key, Delete::Key).await?;
        let backend_dir = self.layout.backend_dir(&id);
        if self.api.delete(&backend_dir, Delete::EmptyDir).await? == Deleted::NotEmpty {
            tracing::warn!(
                route = %key,
                "etcd v2: another node added a server while the route was removed; \
                 its next resync writes the frontend and backend again"
            );
            return Ok(());
        }
        let marker_key = self.marker_key(&id);
        self.api.delete(&marker_key, Delete::Key).await?;
        Ok(())
    }
}
