//! The Vulcand API sink's writes: a route's objects in Vulcand's order, one
//! server's removal, the removal of a route left without servers, and the
//! reads those need.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::reads::Read;
use super::wire::{havok_route, with_id, ApiFrontend, ApiServer};
use super::VulcandApiSink;
use crate::backends::apply::Writes;
use crate::ids::{RouteId, RouteKey, ServerId};
use crate::sink::{Observed, RoutePut, SinkError};
use crate::vulcand::{server_value, HAVOK_MIDDLEWARES};

impl VulcandApiSink {
    /// Vulcand's order: backend, servers, frontend, middlewares
    /// (`engine/memng/mem.go` UpsertFrontend refuses a frontend whose backend is missing).
    pub(super) async fn put(&mut self, put: &RoutePut) -> Result<(), SinkError> {
        let objects = &put.objects;
        let id = &objects.id;
        let write_route = put.rewrite_route || !self.held_routes.contains(&put.key);
        if write_route {
            // api.go upsertBackend: `{"Backend":{"Id","Type"}}`.
            let body = json!({"Backend": with_id(&objects.backend, id.as_str())});
            self.post("/v2/backends".into(), &body, || format!("backend {id}"))
                .await?;
        }
        for server in &put.servers {
            self.upsert_server(id, &server.id, &server.url).await?;
            self.held_servers
                .entry(put.key.clone())
                .or_default()
                .insert(server.id.clone(), server.url.clone());
        }
        if write_route {
            // api.go upsertFrontend: `{"Frontend":{…},"TTL":""}`; an empty TTL means none.
            let body = json!({"Frontend": with_id(&objects.frontend, id.as_str()), "TTL": ""});
            self.post("/v2/frontends".into(), &body, || format!("frontend {id}"))
                .await?;
            for (mid, value) in &objects.middlewares {
                // api.go upsertMiddleware: `{"Middleware":{"Id","Priority","Type","Middleware"}}`.
                let body = json!({"Middleware": with_id(value, mid)});
                self.post(format!("/v2/frontends/{id}/middlewares"), &body, || {
                    format!("middleware {mid} of frontend {id}")
                })
                .await?;
            }
            // A limit the route no longer has, where Vulcand holds it; memng
            // also keeps a deleted frontend's middlewares (mem.go
            // DeleteFrontend leaves them), which `observe` reads too.
            for mid in &put.stale_middlewares {
                self.delete_middleware(id, mid).await?;
            }
            self.held_routes.insert(put.key.clone());
        }
        Ok(())
    }

    pub(super) async fn remove_server(
        &mut self,
        key: &RouteKey,
        server: &ServerId,
    ) -> Result<(), SinkError> {
        if !server.owned_by(&self.node) {
            // The reconciler only asks for this node's servers; never delete another's.
            tracing::warn!(%key, %server, "not deleting a server this node did not write");
            return Ok(());
        }
        let id = key.id();
        self.delete(format!("/v2/backends/{id}/servers/{server}"), || {
            format!("server {server} of backend {id}")
        })
        .await?;
        if let Some(servers) = self.held_servers.get_mut(key) {
            servers.remove(server);
            if servers.is_empty() {
                self.held_servers.remove(key);
            }
        }
        Ok(())
    }

    /// Removes a havok route with no server of any node left: middlewares,
    /// frontend, then backend (mem.go DeleteBackend refuses a backend in use).
    ///
    /// Not atomic: the API has no transactions, so a server another node adds
    /// between the listing and the deletes loses its frontend (and, on
    /// memng, its backend) until that node's next resync finds them missing
    /// and writes them again.
    pub(super) async fn remove_route(&mut self, key: &RouteKey) -> Result<(), SinkError> {
        let id = key.id();
        let mut cost = Observed::default();
        let servers: Vec<ApiServer> = self.list(Read::Servers(&id), &mut cost).await?;
        if !servers.is_empty() {
            return Ok(());
        }
        let frontend: Option<ApiFrontend> = self.read(Read::Frontend(&id), &mut cost).await?;
        if let Some(frontend) = &frontend {
            if havok_route(frontend).as_ref() != Some(key) {
                // Havok's id, but not the frontend havok writes for this route:
                // someone changed it by hand; leave it and its backend alone.
                tracing::warn!(%key, frontend = %id, route = %frontend.route,
                    "not removing a frontend whose route is not havok's");
                return Ok(());
            }
        }
        for mid in HAVOK_MIDDLEWARES {
            self.delete_middleware(&id, mid).await?;
        }
        if frontend.is_some() {
            self.delete(format!("/v2/frontends/{id}"), || format!("frontend {id}"))
                .await?;
        }
        self.delete(format!("/v2/backends/{id}"), || format!("backend {id}"))
            .await?;
        self.held_routes.remove(key);
        self.held_servers.remove(key);
        Ok(())
    }

    pub(super) async fn upsert_server(
        &self,
        id: &RouteId,
        sid: &ServerId,
        url: &str,
    ) -> Result<(), SinkError> {
        self.post(
            format!("/v2/backends/{id}/servers"),
            &self.server_body(sid, url),
            || format!("server {sid} of backend {id}"),
        )
        .await
    }

    /// api.go upsertServer: `{"Server":{"Id","URL"},"TTL":"30s"}`, the TTL
    /// parsed by Go's `time.ParseDuration`. An etcd-backed Vulcand puts the
    /// server with that TTL (a lease on v3); memng ignores it (mem.go
    /// UpsertServer never reads its duration), so there servers live until deleted.
    pub(super) fn server_body(&self, sid: &ServerId, url: &str) -> Value {
        let ttl = if self.ttl.subsec_millis() == 0 {
            format!("{}s", self.ttl.as_secs())
        } else {
            format!("{}ms", self.ttl.as_millis())
        };
        let mut server = server_value(url);
        server["Id"] = json!(sid.as_str());
        json!({"Server": server, "TTL": ttl})
    }

    pub(super) async fn delete_middleware(&self, id: &RouteId, mid: &str) -> Result<(), SinkError> {
        self.delete(format!("/v2/frontends/{id}/middlewares/{mid}"), || {
            format!("middleware {mid} of frontend {id}")
        })
        .await
    }
}

#[async_trait]
impl Writes for VulcandApiSink {
    async fn put_routes(&mut self, puts: &[&RoutePut]) -> Result<(), SinkError> {
        for put in puts {
            self.put(put).await?;
        }
        Ok(())
    }

    async fn delete_server(&mut self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError> {
        self.remove_server(key, server).await
    }

    async fn remove_route_if_empty(&mut self, key: &RouteKey) -> Result<(), SinkError> {
        self.remove_route(key).await
    }
}
