//! A stand-in for Vulcand's HTTP API (Vulcand is not installable here): the
//! request shapes, answers, status codes and `{"message": …}` errors of the
//! calls havok makes, written from vulcand/vulcand `api/api.go`,
//! `engine/json.go`, `engine/model.go`, `engine/memng/mem.go` and the
//! ratelimit/connlimit plugins, and checked against `docs/vulcand.md`.
//!
//! State lives in memory like memng, so [`ContractServer::restart`] loses it
//! all, as a memng Vulcand restart does. Every write request is recorded, so
//! a test can count how often havok makes Vulcand reload.
//!
//! Deviations, each on a path havok never takes: endpoints havok does not
//! call (hosts, listeners, top, log severity) answer 404 `Object not found`;
//! only the `ratelimit` and `connlimit` middleware types exist; a `null`
//! object inside a pack (which panics Vulcand) is a missing parameter. A
//! server on an unknown backend is taken, as a real memng Vulcand takes it
//! (the etcd engines refuse it 404 `Key not found`). Where the real Vulcand
//! can answer, the scenario tests run against it instead.

mod go;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use super::store::{BackendView, FrontendView, Snapshot, StoreView};

/// A running contract server. Clones share one server, which stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct ContractServer {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    shared: Arc<Mutex<Shared>>,
    stop: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl ContractServer {
    /// Binds 127.0.0.1:0 and serves on a tokio task of its own thread and
    /// runtime, so it keeps answering while a test's runtime is busy or
    /// blocked (on a havok child process, say).
    pub async fn start() -> ContractServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("vulcand-contract".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a tokio runtime for the contract server");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    // Returning drops the runtime, which ends every connection.
                    tokio::select! {
                        served = axum::serve(listener, app).into_future() => {
                            served.expect("contract server");
                        }
                        () = stopped.cancelled() => {}
                    }
                });
            })
            .expect("spawn the contract server thread");
        ContractServer {
            inner: Arc::new(Inner {
                url,
                shared,
                stop,
                thread: Some(thread),
            }),
        }
    }

    /// `http://127.0.0.1:<port>`, what `--vulcand-api` takes.
    pub fn url(&self) -> String {
        self.inner.url.clone()
    }

    /// Loses every backend, server, frontend and middleware, as restarting a
    /// memng Vulcand does. The write log is the test's, and stays.
    pub fn restart(&self) {
        self.lock().mem = Mem::default();
    }

    /// How many write requests (anything but GET) were made, answered or not.
    pub fn write_count(&self) -> usize {
        self.lock().writes.len()
    }

    /// The write requests so far, as `"POST /v2/frontends"`.
    pub fn writes(&self) -> Vec<String> {
        self.lock().writes.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.inner.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The store as Vulcand would read it, in the shape the etcd views give:
/// values as havok writes them to etcd (`Settings` and ids dropped).
#[async_trait]
impl StoreView for ContractServer {
    async fn snapshot(&self) -> Snapshot {
        let shared = self.lock();
        let mem = &shared.mem;
        let mut snapshot = Snapshot::default();
        for (id, backend) in &mem.backends {
            snapshot.backends.entry(id.clone()).or_default().backend =
                Some(json!({"Type": backend.kind}));
        }
        // memng keeps a backend's server list after the backend is gone; an
        // emptied list is no server.
        for (id, servers) in mem.servers.iter().filter(|(_, s)| !s.is_empty()) {
            let view: &mut BackendView = snapshot.backends.entry(id.clone()).or_default();
            view.servers = servers
                .iter()
                .map(|s| (s.id.clone(), s.url.clone()))
                .collect();
        }
        for (id, frontend) in &mem.frontends {
            snapshot.frontends.entry(id.clone()).or_default().frontend = Some(
                json!({"Type": frontend.kind, "BackendId": frontend.backend_id, "Route": frontend.route}),
            );
        }
        for (id, middlewares) in mem.middlewares.iter().filter(|(_, m)| !m.is_empty()) {
            let view: &mut FrontendView = snapshot.frontends.entry(id.clone()).or_default();
            view.middlewares = middlewares
                .iter()
                .map(|m| {
                    let value =
                        json!({"Type": m.kind, "Priority": m.priority, "Middleware": m.middleware});
                    (m.id.clone(), value)
                })
                .collect();
        }
        snapshot
    }
}

#[derive(Default)]
struct Shared {
    mem: Mem,
    writes: Vec<String>,
}

/// engine/memng/mem.go `Mem`; BTreeMaps where Go has maps, so lists come
/// out sorted (Go's map order is random: no client may rely on it).
#[derive(Default)]
struct Mem {
    backends: BTreeMap<String, Backend>,
    servers: BTreeMap<String, Vec<Server>>,
    frontends: BTreeMap<String, Frontend>,
    middlewares: BTreeMap<String, Vec<Middleware>>,
}

// ---- engine/model.go objects, fields in Go's order as json.Marshal writes them ----

#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Backend {
    id: String,
    #[serde(rename = "Type")]
    kind: String,
    settings: BackendSettings,
}

/// engine.HTTPBackendSettings (TLS omitted: `omitempty`, never set here).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct BackendSettings {
    timeouts: Timeouts,
    keep_alive: KeepAlive,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Timeouts {
    read: String,
    dial: String,
    #[serde(rename = "TLSHandshake")]
    tls_handshake: String,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct KeepAlive {
    period: String,
    max_idle_conns_per_host: i64,
}

#[derive(Clone, Serialize)]
struct Server {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "URL")]
    url: String,
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Frontend {
    id: String,
    route: String,
    #[serde(rename = "Type")]
    kind: String,
    backend_id: String,
    settings: FrontendSettings,
}

/// engine.HTTPFrontendSettings.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct FrontendSettings {
    limits: Limits,
    failover_predicate: String,
    hostname: String,
    trust_forward_header: bool,
    pass_host_header: bool,
    stream: bool,
    stream_flush_interval_nano_secs: i64,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct Limits {
    max_mem_body_bytes: i64,
    max_body_bytes: i64,
}

impl Frontend {
    /// Go's `%v` of an engine.Frontend value (memng DeleteBackend's message):
    /// its `String()` has a pointer receiver, so fmt prints the fields.
    fn go_value(&self) -> String {
        let s = &self.settings;
        format!(
            "{{{} {} {} {} <nil> {{{{{} {}}} {} {} {} {} {} {}}}}}",
            self.id,
            self.route,
            self.kind,
            self.backend_id,
            s.limits.max_mem_body_bytes,
            s.limits.max_body_bytes,
            s.failover_predicate,
            s.hostname,
            s.trust_forward_header,
            s.pass_host_header,
            s.stream,
            s.stream_flush_interval_nano_secs
        )
    }
}

#[derive(Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
struct Middleware {
    id: String,
    priority: i64,
    #[serde(rename = "Type")]
    kind: String,
    /// The plugin's struct as json.Marshal writes it.
    middleware: Value,
}

// ---- api.go: routing and handlerWithBody ----

/// An error as handlerWithBody answers it: `{"message": err.Error()}`.
enum ApiError {
    /// engine.NotFoundError: 404.
    NotFound(String),
    /// Everything else havok can meet: 500 (api.go maps only
    /// InvalidFormatError, AlreadyExistsError and a value errMissingField to
    /// other codes, and memng raises none of them; parse*Pack returns a
    /// *pointer* errMissingField, which falls through to 500 too).
    Internal(String),
}

type Answer = Result<Value, ApiError>;

fn not_found() -> ApiError {
    // engine.NotFoundError with no message.
    ApiError::NotFound("object not found".into())
}

/// Every request: gorilla mux's routes from api.go InitProxyController, and
/// its NotFoundHandler (`Object not found`) for any other path or method.
async fn handle(State(shared): State<Arc<Mutex<Shared>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!("failed to read request body"),
        );
    };
    // handlerWithBody runs r.ParseForm() first: for a form content type on
    // POST/PUT/PATCH that reads the body, leaving nothing for the JSON decoder.
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body: &[u8] = if form && [Method::POST, Method::PUT, Method::PATCH].contains(&parts.method)
    {
        b""
    } else {
        &bytes
    };
    let path: Vec<String> = parts.uri.path()[1..]
        .split('/')
        .map(percent_decode)
        .collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();

    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    if parts.method != Method::GET {
        shared
            .writes
            .push(format!("{} {}", parts.method, parts.uri.path()));
    }
    let mem = &mut shared.mem;
    let answer = match (parts.method.as_str(), path.as_slice()) {
        ("GET", ["v1" | "v2", "status"]) => Ok(json!({"Status": "ok"})),

        ("POST", ["v2", "backends"]) => mem.upsert_backend(body),
        ("GET", ["v2", "backends"]) => Ok(json!({"Backends": list(&mem.backends)})),
        ("GET", ["v2", "backends", id]) => mem.get_backend(id),
        ("DELETE", ["v2", "backends", id]) => mem.delete_backend(id),

        ("GET", ["v2", "backends", bid, "servers"]) => Ok(json!({
            "Servers": mem.servers.get(*bid).cloned().unwrap_or_default()
        })),
        ("POST", ["v2", "backends", bid, "servers"]) => mem.upsert_server(bid, body),
        ("GET", ["v2", "backends", bid, "servers", id]) => mem.get_server(bid, id),
        ("DELETE", ["v2", "backends", bid, "servers", id]) => mem.delete_server(bid, id),

        ("POST", ["v2", "frontends"]) => mem.upsert_frontend(body),
        ("GET", ["v2", "frontends"]) => Ok(json!({"Frontends": list(&mem.frontends)})),
        ("GET", ["v2", "frontends", id]) => mem.get_frontend(id),
        ("DELETE", ["v2", "frontends", id]) => mem.delete_frontend(id),

        ("POST", ["v2", "frontends", fid, "middlewares"]) => mem.upsert_middleware(fid, body),
        ("GET", ["v2", "frontends", fid, "middlewares"]) => Ok(json!({
            "Middlewares": mem.middlewares.get(*fid).cloned().unwrap_or_default()
        })),
        ("GET", ["v2", "frontends", fid, "middlewares", id]) => mem.get_middleware(fid, id),
        ("DELETE", ["v2", "frontends", fid, "middlewares", id]) => mem.delete_middleware(fid, id),

        _ => Err(ApiError::NotFound("Object not found".into())),
    };
    drop(shared);
    match answer {
        Ok(value) => respond(StatusCode::OK, value),
        Err(ApiError::NotFound(m)) => respond(StatusCode::NOT_FOUND, json!({"message": m})),
        Err(ApiError::Internal(m)) => {
            respond(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": m}))
        }
    }
}

/// api.go sendResponse: JSON as Go marshals it.
fn respond(status: StatusCode, value: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(go::marshal(&value)))
        .expect("a response")
}

fn list<T: Serialize>(objects: &BTreeMap<String, T>) -> Vec<&T> {
    objects.values().collect()
}

fn to_value(object: &impl Serialize) -> Value {
    serde_json::to_value(object).expect("serializable")
}

/// gorilla mux matches the decoded path (`r.URL.Path`).
fn percent_decode(segment: &str) -> String {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- the handlers: api.go parse*Pack + engine/json.go *FromJSON + memng ----

impl Mem {
    /// api.go upsertBackend → parseBackendPack → engine.BackendFromJSON → memng UpsertBackend.
    fn upsert_backend(&mut self, body: &[u8]) -> Answer {
        let (raw, _) = read_pack(body, "backendReadPack", "Backend", false)?;
        let raw = object(&raw, "engine.rawBackend")?;
        let id = string_field(&raw, "rawBackend", "Id")?;
        let kind = string_field(&raw, "rawBackend", "Type")?;
        if kind != "http" {
            return Err(ApiError::Internal(format!(
                "Unsupported backend type {kind}"
            )));
        }
        let settings: BackendSettings = settings(&raw)?;
        // engine.NewHTTPBackend → transportSettings parses each duration.
        for (what, value) in [
            ("read timeout", &settings.timeouts.read),
            ("dial timeout", &settings.timeouts.dial),
            ("tls handshake timeout", &settings.timeouts.tls_handshake),
            ("keepalive period", &settings.keep_alive.period),
        ] {
            if !value.is_empty() {
                go::parse_duration(value)
                    .map_err(|e| ApiError::Internal(format!("invalid {what}: {e}")))?;
            }
        }
        let backend = Backend { id, kind, settings };
        // memng accepts an empty id (the etcd engines refuse it).
        self.backends.insert(backend.id.clone(), backend.clone());
        Ok(to_value(&backend))
    }

    fn get_backend(&self, id: &str) -> Answer {
        self.backends.get(id).map(to_value).ok_or_else(not_found)
    }

    /// memng DeleteBackend: refused while a frontend uses it; its servers stay.
    fn delete_backend(&mut self, id: &str) -> Answer {
        if let Some(user) = self.frontends.values().find(|f| f.backend_id == id) {
            return Err(ApiError::Internal(format!(
                "Backend is in use by {}",
                user.go_value()
            )));
        }
        self.backends.remove(id).ok_or_else(not_found)?;
        Ok(json!({"message": "Backend deleted"}))
    }

    /// api.go upsertServer → parseServerPack → engine.ServerFromJSON/NewServer.
    fn upsert_server(&mut self, bid: &str, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "serverReadPack", "Server", true)?;
        let raw = object(&raw, "engine.Server")?;
        let id = string_field(&raw, "Server", "Id")?;
        let url = string_field(&raw, "Server", "URL")?;
        if !go::parse_request_uri(&url) {
            return Err(ApiError::Internal(format!(
                "endpoint url '{url}' is not valid"
            )));
        }
        check_ttl(&ttl)?;
        // memng takes a server for a backend it does not know (checked
        // against the real Vulcand v0.9.2); only the etcd engines refuse it.
        let server = Server { id, url };
        // memng UpsertServer: replace by id, else append; the TTL is ignored.
        let servers = self.servers.entry(bid.to_string()).or_default();
        match servers.iter_mut().find(|s| s.id == server.id) {
            Some(existing) => *existing = server.clone(),
            None => servers.push(server.clone()),
        }
        Ok(to_value(&server))
    }

    fn get_server(&self, bid: &str, id: &str) -> Answer {
        let servers = self.servers.get(bid).ok_or_else(not_found)?;
        servers
            .iter()
            .find(|s| s.id == id)
            .map(to_value)
            .ok_or_else(not_found)
    }

    fn delete_server(&mut self, bid: &str, id: &str) -> Answer {
        let servers = self.servers.get_mut(bid).ok_or_else(not_found)?;
        let at = servers
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(not_found)?;
        servers.remove(at);
        Ok(json!({"message": "Server deleted"}))
    }

    /// api.go upsertFrontend → parseFrontendPack → engine.FrontendFromJSON /
    /// NewHTTPFrontend → memng UpsertFrontend (backend must exist).
    fn upsert_frontend(&mut self, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "frontendReadPack", "Frontend", true)?;
        let raw = object(&raw, "engine.rawFrontend")?;
        let id = string_field(&raw, "rawFrontend", "Id")?;
        let route = string_field(&raw, "rawFrontend", "Route")?;
        let kind = string_field(&raw, "rawFrontend", "Type")?;
        let backend_id = string_field(&raw, "rawFrontend", "BackendId")?;
        if kind != "http" {
            return Err(ApiError::Internal(format!(
                "Unsupported frontend type: {kind}"
            )));
        }
        let settings: FrontendSettings = settings(&raw)?;
        let frontend = Frontend {
            id,
            route,
            kind,
            backend_id,
            settings,
        };
        if frontend.id.is_empty() || frontend.backend_id.is_empty() {
            return Err(ApiError::Internal(
                "supply valid  route, id, and backendId".into(),
            ));
        }
        if !go::valid_route(&frontend.route) {
            return Err(ApiError::Internal(format!(
                "route should be a valid route expression: {}",
                frontend.route
            )));
        }
        check_ttl(&ttl)?;
        if !self.backends.contains_key(&frontend.backend_id) {
            return Err(ApiError::NotFound(format!(
                "backend: {} not found",
                frontend.backend_id
            )));
        }
        self.frontends.insert(frontend.id.clone(), frontend.clone());
        Ok(to_value(&frontend))
    }

    fn get_frontend(&self, id: &str) -> Answer {
        self.frontends.get(id).map(to_value).ok_or_else(not_found)
    }

    /// memng DeleteFrontend: the frontend only; its middlewares stay behind.
    fn delete_frontend(&mut self, id: &str) -> Answer {
        self.frontends.remove(id).ok_or_else(not_found)?;
        Ok(json!({"message": "Frontend deleted"}))
    }

    /// api.go upsertMiddleware → parseMiddlewarePack → engine.MiddlewareFromJSON
    /// (the plugin's FromOther validates) → memng UpsertMiddleware.
    fn upsert_middleware(&mut self, fid: &str, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "middlewareReadPack", "Middleware", true)?;
        let raw = object(&raw, "engine.RawMiddleware")?;
        let id = string_field(&raw, "RawMiddleware", "Id")?;
        let kind = string_field(&raw, "RawMiddleware", "Type")?;
        let priority = int_field(&raw, "RawMiddleware", "Priority", "int")?;
        let plugin = field(&raw, "Middleware").cloned();
        let middleware = match kind.as_str() {
            "ratelimit" => ratelimit(plugin)?,
            "connlimit" => connlimit(plugin)?,
            _ => {
                return Err(ApiError::Internal(format!(
                    "middleware of type {kind} is not supported"
                )))
            }
        };
        check_ttl(&ttl)?;
        let middleware = Middleware {
            id,
            priority,
            kind,
            middleware,
        };
        if !self.frontends.contains_key(fid) {
            return Err(ApiError::NotFound(format!("'{fid}' not found")));
        }
        let list = self.middlewares.entry(fid.to_string()).or_default();
        match list.iter_mut().find(|m| m.id == middleware.id) {
            Some(existing) => *existing = middleware.clone(),
            None => list.push(middleware.clone()),
        }
        Ok(to_value(&middleware))
    }

    fn get_middleware(&self, fid: &str, id: &str) -> Answer {
        let list = self
            .middlewares
            .get(fid)
            .ok_or_else(|| ApiError::NotFound(format!("'{fid}' not found")))?;
        list.iter()
            .find(|m| m.id == id)
            .map(to_value)
            .ok_or_else(|| ApiError::NotFound(format!("'{fid}.{id}' not found")))
    }

    fn delete_middleware(&mut self, fid: &str, id: &str) -> Answer {
        let list = self.middlewares.get_mut(fid).ok_or_else(not_found)?;
        let at = list.iter().position(|m| m.id == id).ok_or_else(not_found)?;
        list.remove(at);
        Ok(json!({"message": "Middleware deleted"}))
    }
}

/// plugin/ratelimit FromOther's checks, in its order.
fn ratelimit(plugin: Option<Value>) -> Result<Value, ApiError> {
    let raw = plugin_object(plugin, "ratelimit.RateLimit")?;
    let int = |name| int_field(&raw, "RateLimit", name, "int64");
    let (period, requests, burst) = (int("PeriodSeconds")?, int("Requests")?, int("Burst")?);
    let variable = string_field(&raw, "RateLimit", "Variable")?;
    let rate_var = string_field(&raw, "RateLimit", "RateVar")?;
    let fail = |m: String| Err(ApiError::Internal(m));
    if requests <= 0 {
        return fail(format!("requests should be > 0, got {requests}"));
    }
    if burst < 0 {
        return fail(format!("burst should be >= 0, got {burst}"));
    }
    if period <= 0 {
        return fail(format!("period seconds should be > 0, got {period}"));
    }
    check_variable(&variable)?;
    if !rate_var.is_empty() && !rate_var.starts_with("request.header.") {
        return fail(format!("unsupported variable format: {rate_var}"));
    }
    Ok(
        json!({"PeriodSeconds": period, "Requests": requests, "Burst": burst,
        "Variable": variable, "RateVar": rate_var}),
    )
}

/// plugin/connlimit NewConnLimit's checks, in its order.
fn connlimit(plugin: Option<Value>) -> Result<Value, ApiError> {
    let raw = plugin_object(plugin, "connlimit.ConnLimit")?;
    let connections = int_field(&raw, "ConnLimit", "Connections", "int64")?;
    let variable = string_field(&raw, "ConnLimit", "Variable")?;
    check_variable(&variable)?;
    if connections < 0 {
        return Err(ApiError::Internal(format!(
            "connections should be > 0, got {connections}"
        )));
    }
    Ok(json!({"Connections": connections, "Variable": variable}))
}

/// vulcand/oxy utils.NewExtractor.
fn check_variable(variable: &str) -> Result<(), ApiError> {
    match variable {
        "client.ip" | "request.host" => Ok(()),
        v if v.starts_with("request.header.") => match &v["request.header.".len()..] {
            "" => Err(ApiError::Internal("wrong header: ".into())),
            _ => Ok(()),
        },
        v => Err(ApiError::Internal(format!(
            "unsupported limiting variable: '{v}'"
        ))),
    }
}

/// The plugin spec's FromJSON unmarshals the raw `Middleware` into the
/// plugin's struct: nothing there is Go's `unexpected end of JSON input`,
/// `null` leaves the struct zero.
fn plugin_object(plugin: Option<Value>, go_type: &str) -> Result<Map<String, Value>, ApiError> {
    match plugin {
        None => Err(ApiError::Internal("unexpected end of JSON input".into())),
        Some(Value::Null) => Ok(Map::new()),
        Some(value) => object(&value, go_type),
    }
}

/// api.go parse*Pack: the body decoded into `{<field> json.RawMessage, TTL string}`,
/// then the missing-field check. Returns the raw object and the TTL.
fn read_pack(
    body: &[u8],
    go_type: &str,
    name: &str,
    has_ttl: bool,
) -> Result<(Value, String), ApiError> {
    if let Some(error) = go::json_syntax_error(body) {
        return Err(ApiError::Internal(error));
    }
    let value: Value = serde_json::from_slice(body).expect("checked JSON");
    let pack = match value {
        // parseBackendPack decodes into a pointer, which `null` leaves nil;
        // the others into a zero struct: both end as a missing parameter.
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::Internal(format!(
                "json: cannot unmarshal {} into Go value of type api.{go_type}",
                go::kind(&other)
            )))
        }
    };
    let ttl = if has_ttl {
        string_field(&pack, go_type, "TTL")?
    } else {
        String::new()
    };
    match field(&pack, name) {
        None | Some(Value::Null) => Err(ApiError::Internal(format!(
            "Missing mandatory parameter: {name}"
        ))),
        Some(raw) => Ok((raw.clone(), ttl)),
    }
}

/// The pack's TTL, parsed by time.ParseDuration when not empty.
fn check_ttl(ttl: &str) -> Result<(), ApiError> {
    if ttl.is_empty() {
        return Ok(());
    }
    go::parse_duration(ttl).map_err(ApiError::Internal)
}

fn object(value: &Value, go_type: &str) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        other => Err(ApiError::Internal(format!(
            "json: cannot unmarshal {} into Go value of type {go_type}",
            go::kind(other)
        ))),
    }
}

/// A struct field as encoding/json finds it: the exact key, else one that
/// matches without regard to case.
fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string_field(map: &Map<String, Value>, go_struct: &str, name: &str) -> Result<String, ApiError> {
    match field(map, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::Internal(format!(
            "json: cannot unmarshal {} into Go struct field {go_struct}.{name} of type string",
            go::kind(other)
        ))),
    }
}

fn int_field(
    map: &Map<String, Value>,
    go_struct: &str,
    name: &str,
    go_kind: &str,
) -> Result<i64, ApiError> {
    let wrong = |what: String| {
        Err(ApiError::Internal(format!(
            "json: cannot unmarshal {what} into Go struct field {go_struct}.{name} of type {go_kind}"
        )))
    };
    match field(map, name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(i),
            None => wrong(format!("number {n}")),
        },
        Some(other) => wrong(go::kind(other).to_string()),
    }
}

/// `Settings`, decoded as Go would into the settings struct (missing fields
/// zero); a type error reports serde's wording, not Go's.
fn settings<T: Default + for<'de> Deserialize<'de>>(
    raw: &Map<String, Value>,
) -> Result<T, ApiError> {
    match field(raw, "Settings") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::Internal(format!("json: {e}"))),
    }
}
