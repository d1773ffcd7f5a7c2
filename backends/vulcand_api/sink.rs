//! The Vulcand API `RouteSink`: reads of Vulcand's own objects (memng keeps
//! nothing of havok's), writes in the order of `crate::backends::apply`, and
//! a keepalive that upserts this node's servers again.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use reqwest::Method;

use super::client::Reply;
use super::reads::Read;
use super::wire::{havok_route, ApiBackend, ApiFrontend, ApiMiddleware, ApiServer};
use super::{VulcandApiSink, ORPHAN_CHECKS};
use crate::backends::apply;
use crate::backends::observe::{add_route, own_servers, routes_to_read};
use crate::ids::{RouteKey, ServerId};
use crate::sink::{Observed, Op, RouteSink, RouteState, ServerState, SinkError};
use crate::vulcand::is_havok_middleware;

#[async_trait]
impl RouteSink for VulcandApiSink {
    fn name(&self) -> &'static str {
        "vulcand-api"
    }

    fn describe(&self) -> String {
        format!(
            "{}: objects under /v2 (no key prefix), servers upserted with TTL {} \
             (kept by an etcd-backed Vulcand, ignored by -engine=memng)",
            self.store,
            humantime::format_duration(self.ttl)
        )
    }

    /// `GET /v2/status` (api.go getStatus: `{"Status":"ok"}`): cheap, reloads nothing.
    async fn connect(&mut self) -> Result<(), SinkError> {
        match self
            .call(Method::GET, "/v2/status", None, || "status".into())
            .await?
        {
            Reply::Ok(_) => Ok(()),
            Reply::Missing(message) => Err(self.refused(
                "GET /v2/status (is this Vulcand's API port?)".into(),
                message,
            )),
        }
    }

    /// Reads Vulcand's own objects: the frontend and backend lists once, then
    /// the servers of every havok route (to find this node's) and the
    /// middlewares of the routes reported.
    async fn observe(&mut self, routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        let mut seen = Observed::default();
        let frontends: Vec<ApiFrontend> = self.list(Read::Frontends, &mut seen).await?;
        let backends: Vec<ApiBackend> = self.list(Read::Backends, &mut seen).await?;
        let backends: BTreeMap<String, ApiBackend> =
            backends.into_iter().map(|b| (b.id.clone(), b)).collect();
        let frontends: BTreeMap<String, ApiFrontend> =
            frontends.into_iter().map(|f| (f.id.clone(), f)).collect();
        let havok: BTreeSet<RouteKey> = frontends.values().filter_map(havok_route).collect();

        // Known present from now on: havok frontends whose backend exists. A
        // restarted memng Vulcand has none, so the next Put writes them all.
        self.held_routes = havok
            .iter()
            .filter(|k| backends.contains_key(k.id().as_str()))
            .cloned()
            .collect();

        // This node's records are the servers it holds (in memory: memng
        // keeps nothing that could hold them), so a pass reads the routes of
        // this node, not of the cluster; the first pass after start also
        // looks through every havok route for servers an earlier run left.
        let mut recorded: BTreeSet<RouteKey> = self.held_servers.keys().cloned().collect();
        if !self.adopted {
            recorded.extend(havok.iter().cloned());
        }
        let mut held_servers = BTreeMap::new();
        for key in routes_to_read(routes, &recorded) {
            let id = key.id();
            let backend = backends.get(id.as_str());
            let frontend = frontends.get(id.as_str());
            let servers = match backend {
                Some(_) => {
                    self.list::<ApiServer>(Read::Servers(&id), &mut seen)
                        .await?
                }
                None => Vec::new(),
            };
            let live: Vec<(ServerId, ServerState)> = servers
                .iter()
                .map(|s| (ServerId::from_raw(&s.id), s))
                .filter(|(sid, _)| sid.owned_by(&self.node))
                .map(|(sid, s)| (sid, ServerState::Live(s.url.clone())))
                .collect();
            let alive: BTreeMap<ServerId, String> = live
                .iter()
                .filter_map(|(sid, s)| Some((sid.clone(), s.url()?.to_string())))
                .collect();
            if !alive.is_empty() {
                // Held for keepalive, also after a havok restart.
                held_servers.insert(key.clone(), alive);
            }
            // Servers this sink wrote that Vulcand no longer holds (restart, TTL).
            let own = own_servers(
                live,
                self.held_servers
                    .get(&key)
                    .into_iter()
                    .flat_map(|m| m.keys()),
            );
            if !routes.contains(&key) && own.is_empty() {
                continue;
            }
            let mut middlewares = BTreeMap::new();
            // Also under a missing frontend whose backend is there: memng
            // keeps a deleted frontend's middlewares, and they would come
            // back with it (the plan's rewrite deletes the stale ones).
            if frontend.is_some() || backend.is_some() {
                let list: Vec<ApiMiddleware> = self.list(Read::Middlewares(&id), &mut seen).await?;
                for m in list {
                    if is_havok_middleware(&m.id) {
                        middlewares.insert(m.id.clone(), m.normalized());
                    }
                }
            }
            let state = RouteState {
                backend: backend.map(ApiBackend::normalized),
                frontend: frontend.map(ApiFrontend::normalized),
                middlewares,
                server_count: servers.len(),
                others: servers
                    .iter()
                    .map(|s| ServerId::from_raw(&s.id))
                    .filter(|sid| !sid.owned_by(&self.node))
                    .collect(),
            };
            add_route(&mut seen, key, state, own);
        }
        self.held_servers = held_servers;
        self.adopted = true;
        Ok(seen)
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        // The API has no batches: one request per object, in order.
        apply::apply(self, ops).await
    }

    /// Upserts each of this node's servers again, renewing its TTL on an
    /// etcd-backed Vulcand. Each upsert makes Vulcand reload that server, and
    /// havok calls this every `--ttl / 3`: keep `--ttl` at least three times
    /// the refresh period (the default, 30s, refreshes every 10s) so a single
    /// slow refresh never lets a server expire.
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        let mut lost = Vec::new();
        for (key, servers) in &self.held_servers {
            let id = key.id();
            // A memng Vulcand that restarted has lost the route, yet takes a
            // server for a backend it does not know (only the etcd engines
            // check): ask for the frontend, what routes the traffic.
            let frontend = format!("/v2/frontends/{id}");
            let object = || format!("frontend {id}");
            if let Reply::Missing(message) = self.call(Method::GET, &frontend, None, object).await?
            {
                lost.push((key.clone(), format!("frontend {id}: {message}")));
                continue;
            }
            for (sid, url) in servers {
                let path = format!("/v2/backends/{id}/servers");
                let body = self.server_body(sid, url);
                let object = || format!("server {sid} of backend {id}");
                if let Reply::Missing(message) =
                    self.call(Method::POST, &path, Some(&body), object).await?
                {
                    // An etcd-backed Vulcand checks the backend (etcdng/v3
                    // UpsertServer → GetBackend): the route is gone.
                    lost.push((key.clone(), format!("backend {id}: {message}")));
                }
            }
        }
        if lost.is_empty() {
            return Ok(());
        }
        let reason = lost
            .iter()
            .map(|(_, r)| r.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        for (key, _) in lost {
            self.held_routes.remove(&key);
            self.held_servers.remove(&key);
        }
        Err(SinkError::LeaseLost {
            store: self.store.clone(),
            reason,
        })
    }

    /// Havok frontends whose backend has no server of any node, among the
    /// next [`ORPHAN_CHECKS`] havok routes (the scan goes round them all).
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        let mut cost = Observed::default();
        let frontends: Vec<ApiFrontend> = self.list(Read::Frontends, &mut cost).await?;
        let havok: Vec<RouteKey> = frontends
            .iter()
            .filter_map(havok_route)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if havok.is_empty() {
            return Ok(Vec::new());
        }
        let start = self.orphan_cursor % havok.len();
        let checks = havok.len().min(ORPHAN_CHECKS);
        self.orphan_cursor = start + checks;
        let mut out = Vec::new();
        for key in havok.iter().cycle().skip(start).take(checks) {
            let servers: Vec<ApiServer> = self.list(Read::Servers(&key.id()), &mut cost).await?;
            if servers.is_empty() {
                out.push(key.clone());
            }
        }
        Ok(out)
    }
}
