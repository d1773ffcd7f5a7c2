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

mod api;
mod go;
mod handlers;
mod pack;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use async_trait::async_trait;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
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
        let app = Router::new()
            .fallback(api::handle)
            .with_state(shared.clone());
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
