//! The writes of `Etcd2Sink`: a route's objects in Vulcand's order, one
//! server's removal, and the guarded removal of a route.

use async_trait::async_trait;
use futures_util::future;
use serde_json::Value;

use super::keys::{Delete, Deleted, Read};
use super::sink::Etcd2Sink;
use crate::backends::apply::Writes;
use crate::backends::bookkeeping::{RouteMarker, ServerRecord};
use crate::ids::{RouteKey, ServerId};
use crate::model::ServerSpec;
use crate::sink::{RoutePut, SinkError};
use crate::vulcand::server_value;

#[async_trait]
impl Writes for Etcd2Sink {
    async fn put_routes(&mut self, puts: &[&RoutePut]) -> Result<(), SinkError> {
        self.put_all(puts).await
    }

    async fn delete_server(&mut self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError> {
        self.remove_server(key, server).await
    }

    async fn remove_route_if_empty(&mut self, key: &RouteKey) -> Result<(), SinkError> {
        self.remove_route(key).await
    }
}

impl Etcd2Sink {
    /// A route's writes in the fewest round trips that keep Vulcand's order
    /// (its v2 watch takes a server before its backend, creating a default
    /// backend the backend's own event then replaces; it loads a frontend
    /// only once its backend is there, and a middleware only after its
    /// frontend; docs/vulcand.md):
    /// 1. the backend, and every server with its record;
    /// 2. the frontend, havok's route marker and the deletes of stale middlewares;
    /// 3. the middlewares, if the route has any.
    ///
    /// A route already in place (`RoutePut::route_in_place`) is round 1's
    /// servers alone: a new server of a known host is one round trip.
    /// The marker comes after the servers: the orphan collector that finds
    /// it also finds this put's servers, never a route still being written
    /// (with no transactions, it would remove that route under this put).
    /// A record goes with its server key, never before it; a key whose
    /// record a crash lost expires with its TTL, as nobody refreshes it.
    /// The node's first put also creates the records directory in round 1,
    /// and its records then go in round 2 (a record written into a missing
    /// directory would create it without its TTL).
    /// `apply` may run the puts of different routes at once (they share no key).
    pub(super) async fn put(&self, put: &RoutePut) -> Result<(), SinkError> {
        let objects = &put.objects;
        let id = &objects.id;
        let rewrite = put.rewrite_route;
        let route = put.writes_route();
        let records_ready = self.records_ready();
        let backend = async {
            if route {
                let backend_key = self.layout.backend_key(id);
                self.write(&backend_key, &objects.backend, rewrite).await?;
            }
            Ok::<(), SinkError>(())
        };
        let records_dir = async {
            if !put.servers.is_empty() {
                self.ensure_records_dir().await?;
            }
            Ok(())
        };
        let servers = future::try_join_all(put.servers.iter().map(|server| async move {
            let server_key = self.layout.server_key(id, &server.id);
            let value = server_value(&server.url).to_string();
            let with_record = async {
                if records_ready {
                    self.put_record(put, server).await?;
                }
                Ok::<(), SinkError>(())
            };
            futures_util::try_join!(
                async {
                    self.api.set(&server_key, &value, Some(self.ttl)).await?;
                    Ok::<(), SinkError>(())
                },
                with_record,
            )?;
            self.held_keys().insert(server_key);
            Ok::<(), SinkError>(())
        }));
        futures_util::try_join!(backend, records_dir, servers)?;

        let mut second: Vec<future::BoxFuture<'_, Result<(), SinkError>>> = Vec::new();
        if !records_ready {
            for server in &put.servers {
                second.push(Box::pin(self.put_record(put, server)));
            }
        }
        if route {
            let frontend_key = self.layout.frontend_key(id);
            second.push(Box::pin(async move {
                self.write(&frontend_key, &objects.frontend, rewrite).await
            }));
            // A rewrite makes the middlewares exactly the route's: drop havok's
            // others that the store holds.
            for mid in &put.stale_middlewares {
                let key = self.layout.middleware_key(id, mid);
                second.push(Box::pin(async move {
                    self.api.delete(&key, Delete::Key).await?;
                    Ok(())
                }));
            }
            let marker = RouteMarker::of(&put.key).to_json();
            let marker_key = self.state.marker_key(id);
            second.push(Box::pin(async move {
                self.api.create(&marker_key, &marker, None).await?;
                Ok(())
            }));
        }
        future::try_join_all(second).await?;
        if !route {
            return Ok(());
        }

        future::try_join_all(objects.middlewares.iter().map(|(mid, value)| {
            let key = self.layout.middleware_key(id, mid);
            async move { self.write(&key, value, rewrite).await }
        }))
        .await?;
        Ok(())
    }

    /// This node's record of one of its servers on the route of `put`. No
    /// TTL of its own: it lives as long as the records directory.
    async fn put_record(&self, put: &RoutePut, server: &ServerSpec) -> Result<(), SinkError> {
        let value = ServerRecord::of(&put.key, server).to_json();
        let key = self.state.record_key(&put.objects.id, &server.id);
        self.api.set(&key, &value, None).await?;
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
    /// a crash in between leaves a record that `observe` reports as record-only.
    async fn remove_server(&self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError> {
        let id = key.id();
        let server_key = self.layout.server_key(&id, server);
        self.api.delete(&server_key, Delete::Key).await?;
        self.held_keys().remove(&server_key);
        let record_key = self.state.record_key(&id, server);
        self.api.delete(&record_key, Delete::Key).await?;
        Ok(())
    }

    /// Removes a route once no node has a server on it, with only the watch
    /// actions Vulcand's v2 engine applies (`delete`): one event for the
    /// frontend and one for the backend, as Vulcand's own `DeleteFrontend`
    /// and `DeleteBackend` make (docs/vulcand.md, "What the v2 engine applies").
    ///
    /// etcd v2 has no multi-key transaction, and a conditional delete reaches
    /// Vulcand as `compareAndDelete`, which it ignores. So:
    /// 1. the guard: delete `backends/<rid>/servers` as an empty dir. If any
    ///    node has a server, etcd refuses (errorCode 108) and the route stays.
    ///    Vulcand has no object at that key and ignores the event.
    /// 2. delete `frontends/<rid>` with its middlewares (recursively).
    /// 3. delete `backends/<rid>` (recursively: it holds the `backend` key).
    /// 4. the check: etcd's event history under `backends/<rid>` between the
    ///    guard and step 3 names every server another node wrote in that
    ///    window. Each is written again with its TTL, after the backend key,
    ///    so no live server is lost; that node's next resync writes the
    ///    frontend again (its `observe` finds it missing).
    /// 5. delete the marker.
    async fn remove_route(&self, key: &RouteKey) -> Result<(), SinkError> {
        let id = key.id();
        let servers_dir = self.layout.servers_dir(&id);
        let (guard, guard_index) = self
            .api
            .delete_indexed(&servers_dir, Delete::EmptyDir)
            .await?;
        if guard == Deleted::NotEmpty {
            tracing::debug!(route = %key, "etcd v2: route still has servers; keeping it");
            return Ok(());
        }
        let backend_key = self.layout.backend_key(&id);
        let backend = self.api.get(&backend_key, false).await?;
        let frontend_dir = self.layout.frontend_dir(&id);
        self.api.delete(&frontend_dir, Delete::Tree).await?;
        let backend_dir = self.layout.backend_dir(&id);
        let (removed, removed_index) = self.api.delete_indexed(&backend_dir, Delete::Tree).await?;
        if removed == Deleted::Done {
            self.restore_raced_servers(key, backend, guard_index, removed_index)
                .await?;
        }
        self.api
            .delete(&self.state.marker_key(&id), Delete::Key)
            .await?;
        Ok(())
    }

    /// Step 4 of [`remove_route`](Self::remove_route): writes again the servers that
    /// other nodes put on the route between the guard and the backend's removal.
    async fn restore_raced_servers(
        &self,
        key: &RouteKey,
        backend: Option<Read>,
        after: u64,
        until: u64,
    ) -> Result<(), SinkError> {
        let id = key.id();
        let backend_dir = self.layout.backend_dir(&id);
        let Some(changes) = self.api.changes(&backend_dir, after, until - 1).await? else {
            tracing::warn!(
                route = %key,
                "etcd v2: cannot check for servers written while the route was removed \
                 (etcd no longer keeps that history); their nodes write them again when their keep-alive fails"
            );
            return Ok(());
        };
        let servers_dir = format!("{}/", self.layout.servers_dir(&id));
        let raced: Vec<_> = changes
            .into_iter()
            .filter(|c| c.action == "set" || c.action == "create")
            .filter(|c| c.node.key.starts_with(&servers_dir))
            .collect();
        if raced.is_empty() {
            return Ok(());
        }
        tracing::warn!(
            route = %key,
            servers = raced.len(),
            "etcd v2: another node added servers while the route was removed; writing them back"
        );
        let backend_value = backend
            .and_then(|b| b.node.value)
            .unwrap_or_else(|| crate::vulcand::backend_value(&Default::default()).to_string());
        self.api
            .set(&self.layout.backend_key(&id), &backend_value, None)
            .await?;
        for change in raced {
            let value = change.node.value.unwrap_or_default();
            self.api
                .set(&change.node.key, &value, change.node.ttl.or(Some(self.ttl)))
                .await?;
        }
        Ok(())
    }
}
