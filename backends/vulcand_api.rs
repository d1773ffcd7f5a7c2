//! The `vulcand-api` backend: havok's routes written through Vulcand's own
//! HTTP API (vulcand/vulcand `api/api.go`), for a Vulcand on `-engine=memng`
//! or one whose etcd havok cannot reach.
//!
//! The API is not a key-value store, which shapes this file:
//! - no transactions: the last-server removal lists, then deletes; a server
//!   another node adds in between loses its frontend until that node's next
//!   resync writes it again (the Caveat in `crate::sink`);
//! - every write makes Vulcand reload the object (memng emits a change per
//!   upsert, `engine/memng/mem.go`), so the backend, frontend and middlewares
//!   are written only when missing or when a resync found them different;
//! - memng keeps nothing across a Vulcand restart, so `observe` reads
//!   Vulcand's live objects, never a record of its own, and a restarted
//!   Vulcand shows up as missing objects the reconciler writes again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::{http, SinkTiming, TlsFiles, VulcandApiSettings};
use crate::config::ConfigError;
use crate::model::{RouteKey, RouteSpec, ServerSpec};
use crate::sink::{Observed, Op, RouteSink, RouteState, SinkError};
use crate::vulcand::{self, parse_route_expression, RouteId, RouteObjects, ServerId};

/// The middleware ids havok writes; any other middleware is an operator's.
const HAVOK_MIDDLEWARES: [&str; 2] = [vulcand::RATELIMIT_ID, vulcand::CONNLIMIT_ID];

/// Writes routes through Vulcand's HTTP API.
pub struct VulcandApiSink {
    /// The API's base URL without a trailing slash (`http://127.0.0.1:8182`).
    api: String,
    /// `Vulcand API <url without credentials>`: the store named in every error.
    store: String,
    client: reqwest::Client,
    node: String,
    /// The TTL sent with each server upsert.
    ttl: Duration,
    /// Routes whose backend and frontend Vulcand is known to hold (filled by
    /// `observe` and by successful writes, cleared by removal), so a Put that
    /// only adds a server does not make Vulcand reload the frontend.
    present: BTreeSet<RouteKey>,
    /// This node's servers Vulcand holds, for `keepalive`: the API has no
    /// lease to refresh, each server's TTL is renewed by upserting it again.
    written: BTreeMap<RouteKey, BTreeMap<ServerId, String>>,
}

impl VulcandApiSink {
    /// A sink for `node` on the API `settings` name.
    pub fn new(
        settings: VulcandApiSettings,
        timing: SinkTiming,
        node: &str,
    ) -> Result<VulcandApiSink, ConfigError> {
        let tls = TlsFiles {
            ca: settings.ca,
            identity: None,
        };
        Ok(VulcandApiSink {
            store: format!("Vulcand API {}", without_credentials(settings.url)),
            api: settings.api,
            client: http::client(Some(&tls), timing.timeout)?,
            node: node.to_string(),
            ttl: timing.ttl,
            present: BTreeSet::new(),
            written: BTreeMap::new(),
        })
    }

    // ---- the route operations -------------------------------------------

    /// Vulcand's order: backend, servers, frontend, middlewares
    /// (`engine/memng/mem.go` UpsertFrontend refuses a frontend whose backend is missing).
    async fn put(
        &mut self,
        spec: &RouteSpec,
        servers: &[ServerSpec],
        rewrite_route: bool,
    ) -> Result<(), SinkError> {
        let objects = RouteObjects::of(spec);
        let id = &objects.id;
        let write_route = rewrite_route || !self.present.contains(&spec.key);
        if write_route {
            // api.go upsertBackend: `{"Backend":{"Id","Type"}}`.
            let body = json!({"Backend": with_id(&objects.backend, id.as_str())});
            self.post("/v2/backends".into(), &body, || format!("backend {id}"))
                .await?;
        }
        for server in servers {
            self.upsert_server(id, &server.id, &server.url).await?;
            self.written
                .entry(spec.key.clone())
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
            // A limit the route no longer has; and memng keeps a deleted
            // frontend's middlewares (mem.go DeleteFrontend leaves them), which
            // would come back with the frontend. Deleting a missing one is a
            // 404 that changes nothing and reloads nothing.
            for mid in HAVOK_MIDDLEWARES {
                if !objects.middlewares.iter().any(|(m, _)| *m == mid) {
                    self.delete_middleware(id, mid).await?;
                }
            }
            self.present.insert(spec.key.clone());
        }
        Ok(())
    }

    async fn delete_server(&mut self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError> {
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
        if let Some(servers) = self.written.get_mut(key) {
            servers.remove(server);
            if servers.is_empty() {
                self.written.remove(key);
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
    async fn collect(&mut self, key: &RouteKey) -> Result<(), SinkError> {
        let id = key.id();
        let mut cost = Observed::default();
        if !self.servers_of(&id, &mut cost).await?.is_empty() {
            return Ok(());
        }
        // api.go getFrontend: the frontend, or 404 `object not found`.
        let frontend: Option<ApiFrontend> = self
            .get(
                format!("/v2/frontends/{id}"),
                || format!("frontend {id}"),
                &mut cost,
            )
            .await?;
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
        self.present.remove(key);
        self.written.remove(key);
        Ok(())
    }

    async fn upsert_server(
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
    fn server_body(&self, sid: &ServerId, url: &str) -> Value {
        let ttl = if self.ttl.subsec_millis() == 0 {
            format!("{}s", self.ttl.as_secs())
        } else {
            format!("{}ms", self.ttl.as_millis())
        };
        let mut server = vulcand::server_value(url);
        server["Id"] = json!(sid.as_str());
        json!({"Server": server, "TTL": ttl})
    }

    async fn delete_middleware(&self, id: &RouteId, mid: &str) -> Result<(), SinkError> {
        self.delete(format!("/v2/frontends/{id}/middlewares/{mid}"), || {
            format!("middleware {mid} of frontend {id}")
        })
        .await
    }

    /// All servers of a backend, of every node (api.go getServers; memng and
    /// etcd both answer an empty list, not 404, for an unknown backend).
    async fn servers_of(
        &self,
        id: &RouteId,
        cost: &mut Observed,
    ) -> Result<Vec<ApiServer>, SinkError> {
        let list: Option<ServerList> = self
            .get(
                format!("/v2/backends/{id}/servers"),
                || format!("servers of backend {id}"),
                cost,
            )
            .await?;
        Ok(list.map(|l| l.servers).unwrap_or_default())
    }

    /// api.go getFrontends: `{"Frontends":[{"Id","Route","Type","BackendId","Settings"}…]}`.
    async fn frontends(&self, cost: &mut Observed) -> Result<Vec<ApiFrontend>, SinkError> {
        let list: Option<FrontendList> = self
            .get("/v2/frontends".into(), || "the frontend list".into(), cost)
            .await?;
        Ok(list.map(|l| l.frontends).unwrap_or_default())
    }

    // ---- HTTP ------------------------------------------------------------

    /// One API call. Always JSON: with a form content type Vulcand's
    /// handlerWithBody (api.go) has `ParseForm` consume the body and then
    /// answers `unexpected end of JSON input`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        object: impl FnOnce() -> String,
    ) -> Result<Reply, SinkError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.api))
            .header(CONTENT_TYPE, "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let unreachable = |e: reqwest::Error| SinkError::Unreachable {
            store: self.store.clone(),
            // `without_url`: the store already names the URL, without credentials.
            reason: format!("{method} {path}: {}", http::describe(&e.without_url())),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?.to_vec();
        if status.is_success() {
            return Ok(Reply::Ok(bytes));
        }
        if matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ) {
            // A proxy in front of Vulcand, not Vulcand: retry with backoff.
            return Err(SinkError::Unreachable {
                store: self.store.clone(),
                reason: format!("{method} {path}: HTTP {status}"),
            });
        }
        // api.go handlerWithBody answers every error as `{"message": err.Error()}`:
        // 404 for engine.NotFoundError, 500 for nearly everything else.
        let message = vulcand_message(&bytes).unwrap_or_else(|| format!("HTTP {status}"));
        if status == StatusCode::NOT_FOUND {
            return Ok(Reply::Missing(message));
        }
        Err(self.refused(object(), message))
    }

    /// An upsert: a 404 (missing parent) is a refusal like any other error.
    async fn post(
        &self,
        path: String,
        body: &Value,
        object: impl FnOnce() -> String + Clone,
    ) -> Result<(), SinkError> {
        match self
            .call(Method::POST, &path, Some(body), object.clone())
            .await?
        {
            Reply::Ok(_) => Ok(()),
            Reply::Missing(message) => Err(self.refused(object(), message)),
        }
    }

    /// A delete: 404 means already gone, which is what was asked. api.go
    /// deleteServer/deleteFrontend/deleteBackend/deleteMiddleware answer
    /// `{"message":"<Kind> deleted"}`; memng's NotFoundError is the 404.
    async fn delete(&self, path: String, object: impl FnOnce() -> String) -> Result<(), SinkError> {
        self.call(Method::DELETE, &path, None, object)
            .await
            .map(|_| ())
    }

    /// A read, counted in `cost`; `None` when Vulcand answers 404.
    async fn get<T: DeserializeOwned + Counted>(
        &self,
        path: String,
        object: impl FnOnce() -> String + Clone,
        cost: &mut Observed,
    ) -> Result<Option<T>, SinkError> {
        match self.call(Method::GET, &path, None, object.clone()).await? {
            Reply::Missing(_) => Ok(None),
            Reply::Ok(bytes) => {
                let value: T = serde_json::from_slice(&bytes).map_err(|e| {
                    self.refused(object(), format!("unexpected answer to GET {path}: {e}"))
                })?;
                cost.bytes_read += bytes.len() as u64;
                cost.keys_read += value.count();
                Ok(Some(value))
            }
        }
    }

    fn refused(&self, object: String, reason: String) -> SinkError {
        SinkError::Refused {
            store: self.store.clone(),
            object,
            reason,
        }
    }
}

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
        let frontends = self.frontends(&mut seen).await?;
        // api.go getBackends: `{"Backends":[{"Id","Type","Settings"}…]}`.
        let backends: BTreeMap<String, ApiBackend> = self
            .get::<BackendList>(
                "/v2/backends".into(),
                || "the backend list".into(),
                &mut seen,
            )
            .await?
            .map(|l| l.backends)
            .unwrap_or_default()
            .into_iter()
            .map(|b| (b.id.clone(), b))
            .collect();
        let frontends: BTreeMap<String, ApiFrontend> =
            frontends.into_iter().map(|f| (f.id.clone(), f)).collect();
        let havok: BTreeSet<RouteKey> = frontends.values().filter_map(havok_route).collect();

        // Known present from now on: havok frontends whose backend exists. A
        // restarted memng Vulcand has none, so the next Put writes them all.
        self.present = havok
            .iter()
            .filter(|k| backends.contains_key(k.id().as_str()))
            .cloned()
            .collect();

        let examine: BTreeSet<RouteKey> = routes
            .iter()
            .chain(&havok)
            .chain(self.written.keys())
            .cloned()
            .collect();
        let mut written = BTreeMap::new();
        for key in examine {
            let id = key.id();
            let backend = backends.get(id.as_str());
            let frontend = frontends.get(id.as_str());
            let servers = match backend {
                Some(_) => self.servers_of(&id, &mut seen).await?,
                None => Vec::new(),
            };
            let mut mine: BTreeMap<ServerId, Option<String>> = servers
                .iter()
                .map(|s| (ServerId::from_raw(&s.id), s))
                .filter(|(sid, _)| sid.owned_by(&self.node))
                .map(|(sid, s)| (sid, Some(s.url.clone())))
                .collect();
            let alive: BTreeMap<ServerId, String> = mine
                .iter()
                .filter_map(|(sid, url)| Some((sid.clone(), url.clone()?)))
                .collect();
            // Servers this sink wrote that Vulcand no longer holds (restart, TTL).
            for sid in self.written.get(&key).into_iter().flat_map(|m| m.keys()) {
                mine.entry(sid.clone()).or_insert(None);
            }
            if !alive.is_empty() {
                // Adopted for keepalive, also after a havok restart.
                written.insert(key.clone(), alive);
            }
            if !routes.contains(&key) && mine.is_empty() {
                continue;
            }
            let mut middlewares = BTreeMap::new();
            if frontend.is_some() {
                // api.go getMiddlewares: `{"Middlewares":[{"Id","Priority","Type","Middleware"}…]}`.
                let list: Option<MiddlewareList> = self
                    .get(
                        format!("/v2/frontends/{id}/middlewares"),
                        || format!("middlewares of frontend {id}"),
                        &mut seen,
                    )
                    .await?;
                for m in list.map(|l| l.middlewares).unwrap_or_default() {
                    if HAVOK_MIDDLEWARES.contains(&m.id.as_str()) {
                        middlewares.insert(m.id.clone(), m.normalized());
                    }
                }
            }
            let state = RouteState {
                backend: backend.map(ApiBackend::normalized),
                frontend: frontend.map(ApiFrontend::normalized),
                middlewares,
                servers: servers.len(),
            };
            if !mine.is_empty() {
                seen.servers.insert(key.clone(), mine);
            }
            seen.routes.insert(key, state);
        }
        self.written = written;
        Ok(seen)
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        // The API has no batches: one request per object, in order.
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

    /// Upserts each of this node's servers again, renewing its TTL on an
    /// etcd-backed Vulcand. Each upsert makes Vulcand reload that server, and
    /// havok calls this every `--ttl / 3`: keep `--ttl` at least three times
    /// the refresh period (the default, 30s, refreshes every 10s) so a single
    /// slow refresh never lets a server expire.
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        let mut lost = Vec::new();
        for (key, servers) in &self.written {
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
            self.present.remove(&key);
            self.written.remove(&key);
        }
        Err(SinkError::LeaseLost {
            store: self.store.clone(),
            reason,
        })
    }

    /// Havok frontends whose backend has no server of any node.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        let mut cost = Observed::default();
        let mut out = Vec::new();
        for frontend in self.frontends(&mut cost).await? {
            if let Some(key) = havok_route(&frontend) {
                if self.servers_of(&key.id(), &mut cost).await?.is_empty() {
                    out.push(key);
                }
            }
        }
        Ok(out)
    }
}

/// What an API call came back with, when it did not fail.
enum Reply {
    Ok(Vec<u8>),
    /// 404 and Vulcand's message: the object (or its parent) does not exist.
    Missing(String),
}

/// The route a frontend is havok's for: its Route parses as one havok writes
/// and both its id and its BackendId are that route's id. Anything else is an
/// operator's and never touched.
fn havok_route(frontend: &ApiFrontend) -> Option<RouteKey> {
    let key = parse_route_expression(&frontend.route)?;
    let id = key.id();
    (frontend.id == id.as_str() && frontend.backend_id == id.as_str()).then_some(key)
}

/// `value` (one of `crate::vulcand`'s objects) with `"Id"` added, as the API wants it.
fn with_id(value: &Value, id: &str) -> Value {
    let mut value = value.clone();
    value["Id"] = json!(id);
    value
}

/// The `message` of Vulcand's error body (api.go sendResponse).
fn vulcand_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Error {
        message: String,
    }
    serde_json::from_slice::<Error>(body)
        .ok()
        .map(|e| e.message)
}

fn without_credentials(mut url: Url) -> String {
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_string()
}

// ---- what the API answers (engine/model.go types, as api.go marshals them) ----

/// How many objects a list answer holds, for `Observed::keys_read`.
trait Counted {
    fn count(&self) -> u64 {
        1
    }
}

/// An etcd-backed Vulcand marshals an empty list as `null` (etcdng/v3
/// GetServers starts from a nil slice); memng as `[]`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Option::<Vec<T>>::deserialize(d).map(Option::unwrap_or_default)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FrontendList {
    #[serde(default, deserialize_with = "list")]
    frontends: Vec<ApiFrontend>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BackendList {
    #[serde(default, deserialize_with = "list")]
    backends: Vec<ApiBackend>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServerList {
    #[serde(default, deserialize_with = "list")]
    servers: Vec<ApiServer>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MiddlewareList {
    #[serde(default, deserialize_with = "list")]
    middlewares: Vec<ApiMiddleware>,
}

impl Counted for FrontendList {
    fn count(&self) -> u64 {
        self.frontends.len() as u64
    }
}
impl Counted for BackendList {
    fn count(&self) -> u64 {
        self.backends.len() as u64
    }
}
impl Counted for ServerList {
    fn count(&self) -> u64 {
        self.servers.len() as u64
    }
}
impl Counted for MiddlewareList {
    fn count(&self) -> u64 {
        self.middlewares.len() as u64
    }
}
impl Counted for ApiFrontend {}

/// engine.Frontend; the answer also carries `Settings` (and `Stats`), which havok does not write.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiFrontend {
    #[serde(default)]
    id: String,
    #[serde(default)]
    route: String,
    #[serde(default, rename = "Type")]
    kind: String,
    #[serde(default)]
    backend_id: String,
}

impl ApiFrontend {
    /// The shape `crate::vulcand::frontend_value` writes to etcd, so the
    /// reconciler compares like with like.
    fn normalized(&self) -> Value {
        json!({"Type": self.kind, "BackendId": self.backend_id, "Route": self.route})
    }
}

/// engine.Backend; `Settings` is dropped like the frontend's.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiBackend {
    #[serde(default)]
    id: String,
    #[serde(default, rename = "Type")]
    kind: String,
}

impl ApiBackend {
    /// `crate::vulcand::backend_value`'s shape.
    fn normalized(&self) -> Value {
        json!({"Type": self.kind})
    }
}

/// engine.Server.
#[derive(Debug, Deserialize)]
struct ApiServer {
    #[serde(default, rename = "Id")]
    id: String,
    #[serde(default, rename = "URL")]
    url: String,
}

/// engine.Middleware: the plugin's own struct under `Middleware` (for
/// ratelimit and connlimit, the fields havok writes).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ApiMiddleware {
    #[serde(default)]
    id: String,
    #[serde(default)]
    priority: i64,
    #[serde(default, rename = "Type")]
    kind: String,
    #[serde(default)]
    middleware: Value,
}

impl ApiMiddleware {
    /// `crate::vulcand::middleware_values`' shape: no `Id`.
    fn normalized(&self) -> Value {
        json!({"Type": self.kind, "Priority": self.priority, "Middleware": self.middleware})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frontends are havok's only when route, id and backend id all agree.
    #[test]
    fn ownership_of_frontends() {
        let key = RouteKey::host("foo.local");
        let id = key.id().to_string();
        let frontend = |id: &str, backend: &str, route: &str| ApiFrontend {
            id: id.into(),
            route: route.into(),
            kind: "http".into(),
            backend_id: backend.into(),
        };
        let route = vulcand::route_expression(&key);
        assert_eq!(havok_route(&frontend(&id, &id, &route)), Some(key));
        assert_eq!(havok_route(&frontend("f1", &id, &route)), None);
        assert_eq!(havok_route(&frontend(&id, "b1", &route)), None);
        assert_eq!(havok_route(&frontend(&id, &id, "Host(`foo.local`)")), None);
    }

    /// What the API answers normalizes to exactly what `crate::vulcand` writes to etcd.
    #[test]
    fn answers_normalize_to_etcd_values() {
        let key = RouteKey::host("foo.local");
        let id = key.id().to_string();
        let answer = json!({"Frontends": [{"Id": id, "Route": vulcand::route_expression(&key),
            "Type": "http", "BackendId": id, "Settings": {"Hostname": "", "Stream": false}}]});
        let list: FrontendList = serde_json::from_value(answer).unwrap();
        assert_eq!(
            list.frontends[0].normalized(),
            vulcand::frontend_value(&key)
        );
        let backend: BackendList = serde_json::from_value(json!({"Backends": [{"Id": id,
            "Type": "http", "Settings": {"Timeouts": {"Read": ""}}}]}))
        .unwrap();
        assert_eq!(backend.backends[0].normalized(), vulcand::backend_value());
        let none: ServerList = serde_json::from_value(json!({"Servers": null})).unwrap();
        assert!(none.servers.is_empty());
    }

    #[test]
    fn error_bodies_and_urls() {
        assert_eq!(
            vulcand_message(br#"{"message":"object not found"}"#).as_deref(),
            Some("object not found")
        );
        assert_eq!(vulcand_message(b"<html>"), None);
        let url = Url::parse("https://user:pw@vulcand:8182/").unwrap();
        assert_eq!(without_credentials(url), "https://vulcand:8182");
    }
}
