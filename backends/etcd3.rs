//! The etcd v3 `RouteSink` (etcd-client, gRPC): Vulcand's `-etcdApiVer=3` layout,
//! one lease per node for liveness, and transactions for every route change.
//!
//! Keys (Vulcand's v3 engine uses `-etcdKey` literally: `vulcand/…`, no leading slash):
//! - `<prefix>/backends|frontends/…` — Vulcand's objects (`crate::vulcand`).
//! - `<state>/nodes/<node>/lease` — this node's lease id, on the lease itself,
//!   so a restarted havok finds and reuses a live lease instead of rewriting.
//! - `<state>/nodes/<node>/servers/<route id>/<server id>` — which servers this
//!   node wrote (a `ServerRecord`), on the lease, so a resync reads only this
//!   node's keys and the routes it serves, never the whole prefix.
//! - `<state>/routes/<route id>` — marks a route havok created (no lease).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Identity,
    LeaseKeepAliveStream, LeaseKeeper, PutOptions, TlsOptions, Txn, TxnOp, TxnOpResponse,
};
use serde_json::{json, Value};

use super::{EtcdSettings, SinkTiming};
use crate::model::{RouteKey, RouteSpec, ServerSpec};
use crate::sink::{Observed, Op, RouteSink, RouteState, SinkError};
use crate::vulcand::{
    Layout, RouteId, RouteObjects, ServerId, ServerRecord, CONNLIMIT_ID, RATELIMIT_ID,
};

/// The ops of one route's put besides its servers' (two each): backend,
/// frontend, two middlewares (put or delete), marker.
const ROUTE_OPS: usize = 5;

/// Writes routes to etcd v3.
pub struct Etcd3Sink {
    endpoints: Vec<String>,
    options: ConnectOptions,
    layout: Layout,
    state_prefix: String,
    node: String,
    ttl: Duration,
    timeout: Duration,
    client: Option<Client>,
    lease: Option<i64>,
    keeper: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    /// Set when a call found the store unreachable; the next `connect` reconnects.
    unhealthy: AtomicBool,
    /// `--etcd-max-txn-ops`: no transaction (nor any level of a nested one) has more ops.
    max_ops: usize,
}

impl Etcd3Sink {
    /// A sink for `node` on the etcd v3 members `settings` name; connects on `connect`.
    pub fn new(settings: EtcdSettings, timing: SinkTiming, node: &str) -> Etcd3Sink {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(timing.timeout)
            .with_timeout(timing.timeout)
            .with_keep_alive(Duration::from_secs(10), timing.timeout);
        if let Some(tls) = &settings.tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = &tls.ca {
                t = t.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                t = t.identity(Identity::from_pem(cert, key));
            }
            options = options.with_tls(t);
        }
        if let Some((user, password)) = &settings.auth {
            options = options.with_user(user.clone(), password.expose().to_string());
        }
        Etcd3Sink {
            endpoints: settings.machines,
            options,
            layout: Layout::new(&settings.prefix),
            state_prefix: settings.state_prefix,
            node: node.to_string(),
            ttl: timing.ttl,
            timeout: timing.timeout,
            client: None,
            lease: None,
            keeper: None,
            unhealthy: AtomicBool::new(false),
            max_ops: settings.max_txn_ops,
        }
    }

    fn store(&self) -> String {
        format!("etcd v3 at {}", self.endpoints.join(","))
    }

    fn node_dir(&self) -> String {
        format!("{}/nodes/{}/", self.state_prefix, self.node)
    }

    fn lease_key(&self) -> String {
        format!("{}lease", self.node_dir())
    }

    fn record_dir(&self) -> String {
        format!("{}servers/", self.node_dir())
    }

    fn record_key(&self, route: &RouteId, server: &ServerId) -> String {
        format!("{}{}/{}", self.record_dir(), route, server)
    }

    fn marker_key(&self, route: &RouteId) -> String {
        format!("{}/routes/{}", self.state_prefix, route)
    }

    fn routes_dir(&self) -> String {
        format!("{}/routes/", self.state_prefix)
    }

    fn client(&self) -> Result<Client, SinkError> {
        self.client.clone().ok_or_else(|| SinkError::Unreachable {
            store: self.store(),
            reason: "not connected".into(),
        })
    }

    fn lease(&self) -> Result<i64, SinkError> {
        self.lease.ok_or_else(|| SinkError::LeaseLost {
            store: self.store(),
            reason: "no lease".into(),
        })
    }

    /// Runs one etcd call under the request timeout, mapping its error.
    async fn call<T>(
        &self,
        object: &str,
        f: impl std::future::Future<Output = Result<T, etcd_client::Error>>,
    ) -> Result<T, SinkError> {
        let result = match tokio::time::timeout(self.timeout, f).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => self.error(object, e),
            Err(_) => SinkError::Unreachable {
                store: self.store(),
                reason: format!("{object}: no answer within {:?}", self.timeout),
            },
        };
        if matches!(result, SinkError::Unreachable { .. }) {
            self.unhealthy.store(true, Ordering::Relaxed);
        }
        Err(result)
    }

    fn error(&self, object: &str, e: etcd_client::Error) -> SinkError {
        use etcd_client::Error as E;
        let unreachable = match &e {
            E::TransportError(_) | E::IoError(_) | E::EndpointError(_) => true,
            E::GRpcStatus(s) => matches!(
                s.code(),
                tonic_code::Unavailable
                    | tonic_code::DeadlineExceeded
                    | tonic_code::Cancelled
                    | tonic_code::Unknown
            ),
            _ => false,
        };
        let reason = match &e {
            E::GRpcStatus(s) => format!("{}: {}", object, s.message()),
            other => format!("{object}: {other}"),
        };
        if let E::GRpcStatus(s) = &e {
            if let Some(hint) = refusal_hint(s.message(), self.max_ops) {
                return SinkError::Refused {
                    store: self.store(),
                    object: object.to_string(),
                    reason: format!("{} ({hint})", s.message()),
                };
            }
        }
        if unreachable {
            SinkError::Unreachable {
                store: self.store(),
                reason,
            }
        } else {
            SinkError::Refused {
                store: self.store(),
                object: object.to_string(),
                reason: e.to_string(),
            }
        }
    }

    /// Finds this node's live lease (a restart reuses it: no key is rewritten)
    /// or grants a new one and records it.
    async fn ensure_lease(&mut self) -> Result<(), SinkError> {
        let mut client = self.client()?;
        if let Some(id) = self.lease {
            // Once per full pass: after a long outage the lease may have expired
            // while no keepalive could tell; then grant a new one and rewrite.
            let alive = self
                .call("lease", client.lease_time_to_live(id, None))
                .await?;
            if alive.ttl() > 0 {
                return Ok(());
            }
            tracing::warn!(
                lease = format!("{id:x}"),
                "this node's lease expired; its servers will be written again"
            );
            self.lease = None;
            self.keeper = None;
        }
        let key = self.lease_key();
        let found = self.call(&key, client.get(key.as_str(), None)).await?;
        let previous = found
            .kvs()
            .first()
            .and_then(|kv| kv.value_str().ok())
            .and_then(|v| i64::from_str_radix(v.trim(), 16).ok());
        if let Some(id) = previous {
            let alive = self
                .call("lease", client.lease_time_to_live(id, None))
                .await?;
            if alive.ttl() > 0 {
                tracing::info!(
                    lease = format!("{id:x}"),
                    ttl_left = alive.ttl(),
                    "reusing this node's live lease"
                );
                self.lease = Some(id);
                return Ok(());
            }
        }
        let ttl = self.ttl.as_secs().max(1) as i64;
        let granted = self.call("lease", client.lease_grant(ttl, None)).await?;
        let id = granted.id();
        self.call(
            &key,
            client.put(
                key.as_str(),
                format!("{id:x}"),
                Some(PutOptions::new().with_lease(id)),
            ),
        )
        .await?;
        tracing::info!(
            lease = format!("{id:x}"),
            ttl,
            "granted a new lease for this node's servers"
        );
        self.lease = Some(id);
        Ok(())
    }

    /// Runs transactions of gets (chunked) and returns each get's key-values.
    async fn get_many(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<Vec<(String, Vec<u8>, i64)>>, SinkError> {
        let mut client = self.client()?;
        let mut out = Vec::with_capacity(prefixes.len());
        for chunk in prefixes.chunks(self.max_ops) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|p| TxnOp::get(p.as_str(), Some(GetOptions::new().with_prefix())))
                .collect();
            let resp = self
                .call("read of routes", client.txn(Txn::new().and_then(ops)))
                .await?;
            for r in resp.op_responses() {
                if let TxnOpResponse::Get(get) = r {
                    out.push(
                        get.kvs()
                            .iter()
                            .map(|kv| {
                                (
                                    String::from_utf8_lossy(kv.key()).into_owned(),
                                    kv.value().to_vec(),
                                    kv.lease(),
                                )
                            })
                            .collect(),
                    );
                }
            }
        }
        Ok(out)
    }

    /// The txn ops that put one route's servers and records on this node's lease.
    fn server_ops(&self, spec: &RouteSpec, servers: &[ServerSpec], lease: i64) -> Vec<TxnOp> {
        let id = spec.key.id();
        let mut ops = Vec::new();
        for s in servers {
            let record = ServerRecord {
                host: spec.key.host.clone(),
                path: spec.key.path.clone(),
                url: s.url.clone(),
                container: s.container.clone(),
            };
            ops.push(TxnOp::put(
                self.layout.server_key(&id, &s.id),
                crate::vulcand::server_value(&s.url).to_string(),
                Some(PutOptions::new().with_lease(lease)),
            ));
            ops.push(TxnOp::put(
                self.record_key(&id, &s.id),
                serde_json::to_string(&record).unwrap_or_default(),
                Some(PutOptions::new().with_lease(lease)),
            ));
        }
        ops
    }

    /// The route's shared objects in Vulcand's order: backend (first), then
    /// (after the servers) frontend and middlewares, and havok's marker.
    fn route_ops(&self, spec: &RouteSpec) -> (Vec<TxnOp>, Vec<TxnOp>) {
        let objects = RouteObjects::of(spec);
        let before = vec![TxnOp::put(
            self.layout.backend_key(&objects.id),
            objects.backend.to_string(),
            None,
        )];
        let mut after = vec![TxnOp::put(
            self.layout.frontend_key(&objects.id),
            objects.frontend.to_string(),
            None,
        )];
        for mid in [RATELIMIT_ID, CONNLIMIT_ID] {
            match objects.middlewares.iter().find(|(m, _)| *m == mid) {
                Some((_, value)) => after.push(TxnOp::put(
                    self.layout.middleware_key(&objects.id, mid),
                    value.to_string(),
                    None,
                )),
                None => after.push(TxnOp::delete(
                    self.layout.middleware_key(&objects.id, mid),
                    None,
                )),
            }
        }
        let mut marker = json!({"host": spec.key.host});
        if let Some(path) = &spec.key.path {
            marker["path"] = json!(path);
        }
        after.push(TxnOp::put(
            self.marker_key(&objects.id),
            marker.to_string(),
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
        spec: &RouteSpec,
        servers: &[ServerSpec],
        rewrite: bool,
        lease: i64,
    ) -> (Txn, usize) {
        let id = spec.key.id();
        let servers_ops = self.server_ops(spec, servers, lease);
        let (before, after) = self.route_ops(spec);
        let mut full = before;
        full.extend(servers_ops.iter().cloned());
        full.extend(after);
        let size = full.len();
        if rewrite {
            return (Txn::new().and_then(full), size);
        }
        let txn = Txn::new()
            .when([
                Compare::version(self.layout.backend_key(&id), CompareOp::Greater, 0),
                Compare::version(self.layout.frontend_key(&id), CompareOp::Greater, 0),
            ])
            .and_then(servers_ops)
            .or_else(full);
        (txn, size)
    }

    /// Removes a route's frontend (with its middlewares), backend and marker,
    /// only if no server of any node is left under it and havok created it.
    /// The guard and the deletes are one transaction: a server another node
    /// puts at the same moment either lands first (the guard fails and the
    /// route stays) or after (its own transaction writes the route again).
    fn collect_txn(&self, key: &RouteKey) -> Txn {
        let id = key.id();
        Txn::new()
            .when([
                Compare::create_revision(self.layout.servers_dir(&id), CompareOp::Equal, 0)
                    .with_prefix(),
                Compare::version(self.marker_key(&id), CompareOp::Greater, 0),
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
                TxnOp::delete(self.marker_key(&id), None),
            ])
    }

    async fn run_txn(&self, what: &str, txn: Txn) -> Result<bool, SinkError> {
        let mut client = self.client()?;
        Ok(self.call(what, client.txn(txn)).await?.succeeded())
    }
}

/// For a request etcd refuses for its content, which setting to change.
/// Retrying the same request cannot help, so it names the limit.
fn refusal_hint(message: &str, max_ops: usize) -> Option<String> {
    if message.contains("too many operations in txn request") {
        Some(format!(
            "havok sent up to {max_ops} operations: set havok's --etcd-max-txn-ops to etcd's --max-txn-ops"
        ))
    } else if message.contains("request is too large") {
        Some("raise etcd's --max-request-bytes (default 1.5 MiB)".into())
    } else if message.contains("permission denied") {
        Some("grant the etcd user read and write on the Vulcand and state prefixes".into())
    } else {
        None
    }
}

/// gRPC status codes (etcd-client re-exports tonic's `Status`, not `Code`).
use tonic::Code as tonic_code;

#[async_trait]
impl RouteSink for Etcd3Sink {
    fn name(&self) -> &'static str {
        "etcd3"
    }

    fn describe(&self) -> String {
        format!(
            "{}, Vulcand keys under {:?}, bookkeeping under {:?}",
            self.store(),
            format!("{}/", self.layout.prefix()),
            self.node_dir()
        )
    }

    async fn connect(&mut self) -> Result<(), SinkError> {
        if self.client.is_some() && self.unhealthy.swap(false, Ordering::Relaxed) {
            // A fresh channel after a failure: its endpoints are probed anew.
            self.client = None;
            self.keeper = None;
        }
        if self.client.is_none() {
            let connect = Client::connect(self.endpoints.clone(), Some(self.options.clone()));
            let client = self.call("connect", connect).await?;
            self.client = Some(client);
        }
        self.ensure_lease().await
    }

    async fn observe(&mut self, routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        let lease = self.lease()?;
        let mut observed = Observed::default();
        let mut records: BTreeMap<RouteKey, BTreeSet<ServerId>> = BTreeMap::new();
        let record_dir = self.record_dir();
        for (key, value, _) in self
            .get_many(std::slice::from_ref(&record_dir))
            .await?
            .concat()
        {
            observed.keys_read += 1;
            observed.bytes_read += (key.len() + value.len()) as u64;
            let Some(server) = key.rsplit('/').next() else {
                continue;
            };
            if let Ok(record) = serde_json::from_slice::<ServerRecord>(&value) {
                records
                    .entry(record.key())
                    .or_default()
                    .insert(ServerId::from_raw(server));
            }
        }
        let keys: Vec<RouteKey> = routes
            .iter()
            .chain(records.keys())
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut prefixes = Vec::with_capacity(keys.len() * 2);
        for key in &keys {
            let id = key.id();
            prefixes.push(self.layout.backend_dir(&id));
            prefixes.push(self.layout.frontend_dir(&id));
        }
        let results = self.get_many(&prefixes).await?;
        for (i, key) in keys.iter().enumerate() {
            let id = key.id();
            let mut state = RouteState::default();
            let own = observed.servers.entry(key.clone()).or_default();
            let servers_dir = self.layout.servers_dir(&id);
            for (k, v, kv_lease) in &results[2 * i] {
                observed.keys_read += 1;
                observed.bytes_read += (k.len() + v.len()) as u64;
                if *k == self.layout.backend_key(&id) {
                    state.backend = serde_json::from_slice(v).ok();
                } else if let Some(sid) = k.strip_prefix(&servers_dir) {
                    state.servers += 1;
                    let sid = ServerId::from_raw(sid);
                    if sid.owned_by(&self.node) {
                        // A key on another lease (an older one of this node) would
                        // expire unrefreshed: report it missing so it is rewritten.
                        let url = serde_json::from_slice::<Value>(v)
                            .ok()
                            .and_then(|j| j["URL"].as_str().map(String::from))
                            .filter(|_| *kv_lease == lease);
                        own.insert(sid, url);
                    }
                }
            }
            for (k, v, _) in &results[2 * i + 1] {
                observed.keys_read += 1;
                observed.bytes_read += (k.len() + v.len()) as u64;
                if *k == self.layout.frontend_key(&id) {
                    state.frontend = serde_json::from_slice(v).ok();
                } else if let Some(mid) = k.strip_prefix(&self.layout.middlewares_dir(&id)) {
                    if mid == RATELIMIT_ID || mid == CONNLIMIT_ID {
                        if let Ok(value) = serde_json::from_slice(v) {
                            state.middlewares.insert(mid.to_string(), value);
                        }
                    }
                }
            }
            for sid in records.get(key).into_iter().flatten() {
                own.entry(sid.clone()).or_insert(None);
            }
            if own.is_empty() {
                observed.servers.remove(key);
            }
            observed.routes.insert(key.clone(), state);
        }
        Ok(observed)
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        let lease = self.lease()?;
        // Puts of distinct routes are batched into few transactions (startup
        // writes hundreds); deletes and collects go one route at a time.
        let mut batch: Vec<Txn> = Vec::new();
        let mut batch_size = 0;
        let mut pending = Vec::new();
        for op in ops {
            match op {
                Op::Put {
                    spec,
                    servers,
                    rewrite_route,
                } => {
                    // A route with more servers than one transaction takes
                    // is written in several, each complete on its own: it
                    // puts its servers if the route exists, else the whole
                    // route with them. Only the first rewrites the route.
                    let per_txn = (self.max_ops.saturating_sub(ROUTE_OPS) / 2).max(1);
                    let chunks: Vec<&[ServerSpec]> = if servers.is_empty() {
                        vec![&[]]
                    } else {
                        servers.chunks(per_txn).collect()
                    };
                    for (i, chunk) in chunks.into_iter().enumerate() {
                        let rewrite = *rewrite_route && i == 0;
                        let (txn, size) = self.put_txn(spec, chunk, rewrite, lease);
                        if batch_size + size > self.max_ops && !batch.is_empty() {
                            pending.push(std::mem::take(&mut batch));
                            batch_size = 0;
                        }
                        batch.push(txn);
                        batch_size += size;
                    }
                }
                other => {
                    if !batch.is_empty() {
                        pending.push(std::mem::take(&mut batch));
                        batch_size = 0;
                    }
                    for txns in pending.drain(..) {
                        self.put_batch(txns).await?;
                    }
                    self.remove(other).await?;
                }
            }
        }
        if !batch.is_empty() {
            pending.push(batch);
        }
        for txns in pending {
            self.put_batch(txns).await?;
        }
        Ok(())
    }

    async fn keepalive(&mut self) -> Result<(), SinkError> {
        let lease = self.lease()?;
        if self.keeper.is_none() {
            let mut client = self.client()?;
            let pair = self
                .call("lease keepalive", client.lease_keep_alive(lease))
                .await?;
            self.keeper = Some(pair);
        }
        let timeout = self.timeout;
        let store = self.store();
        let (keeper, stream) = self.keeper.as_mut().expect("just set");
        let answer = tokio::time::timeout(timeout, async {
            keeper.keep_alive().await?;
            stream.message().await
        })
        .await;
        let error = match answer {
            Ok(Ok(Some(resp))) if resp.ttl() > 0 => return Ok(()),
            Ok(Ok(_)) => {
                self.lease = None;
                SinkError::LeaseLost {
                    store,
                    reason: format!("lease {lease:x} expired"),
                }
            }
            Ok(Err(e)) => self.error("lease keepalive", e),
            Err(_) => SinkError::Unreachable {
                store,
                reason: format!("lease keepalive: no answer within {timeout:?}"),
            },
        };
        self.keeper = None;
        // As `call` does for every other request: a keep-alive that got no
        // answer leaves the channel suspect, and the retry (the reconciler's
        // full pass, through `connect`) must not wait on it again.
        if matches!(error, SinkError::Unreachable { .. }) {
            self.unhealthy.store(true, Ordering::Relaxed);
        }
        Err(error)
    }

    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        let markers = self.get_many(&[self.routes_dir()]).await?.concat();
        let keys: Vec<RouteKey> = markers
            .iter()
            .filter_map(|(_, v, _)| {
                let j: Value = serde_json::from_slice(v).ok()?;
                Some(RouteKey {
                    host: j["host"].as_str()?.to_string(),
                    path: j["path"].as_str().map(String::from),
                })
            })
            .collect();
        let mut client = self.client()?;
        let mut orphans = Vec::new();
        for chunk in keys.chunks(self.max_ops) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|k| {
                    TxnOp::get(
                        self.layout.servers_dir(&k.id()),
                        Some(GetOptions::new().with_prefix().with_count_only()),
                    )
                })
                .collect();
            let resp = self
                .call("orphan scan", client.txn(Txn::new().and_then(ops)))
                .await?;
            for (key, r) in chunk.iter().zip(resp.op_responses()) {
                if let TxnOpResponse::Get(get) = r {
                    if get.count() == 0 {
                        orphans.push(key.clone());
                    }
                }
            }
        }
        Ok(orphans)
    }
}

impl Etcd3Sink {
    /// Puts of several routes in one transaction: each route's own
    /// compare-then-else is a nested transaction (etcd ≥ 3.3).
    async fn put_batch(&mut self, txns: Vec<Txn>) -> Result<(), SinkError> {
        let txn = if txns.len() == 1 {
            txns.into_iter().next().expect("one")
        } else {
            Txn::new().and_then(txns.into_iter().map(TxnOp::txn).collect::<Vec<_>>())
        };
        self.run_txn("put of servers", txn).await.map(|_| ())
    }

    async fn remove(&mut self, op: &Op) -> Result<(), SinkError> {
        match op {
            Op::Delete {
                key,
                server,
                collect,
            } => {
                let id = key.id();
                let server_key = self.layout.server_key(&id, server);
                let txn = Txn::new().and_then([
                    TxnOp::delete(server_key.as_str(), None),
                    TxnOp::delete(self.record_key(&id, server), None),
                ]);
                self.run_txn(&server_key, txn).await?;
                if *collect {
                    let removed = self.run_txn("route removal", self.collect_txn(key)).await?;
                    if removed {
                        tracing::info!(host = %key, "removed route: no server left");
                    }
                }
                Ok(())
            }
            Op::Collect { key } => {
                if self.run_txn("route removal", self.collect_txn(key)).await? {
                    tracing::info!(host = %key, "removed route: no server left");
                }
                Ok(())
            }
            Op::Put { .. } => unreachable!("puts are batched"),
        }
    }
}
