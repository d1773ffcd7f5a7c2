//! The etcd v3 `RouteSink`: reads this node's records and the routes it
//! serves, writes through transactions on this node's lease, and keeps
//! that lease alive.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use etcd_client::{Client, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::Etcd3Sink;
use crate::backends::apply::{self, Writes};
use crate::backends::bookkeeping::{RouteMarker, ServerRecord};
use crate::backends::observe::{add_route, count_read, own_servers, routes_to_read};
use crate::ids::{RouteKey, ServerId};
use crate::sink::{Observed, Op, RoutePut, RouteSink, RouteState, ServerState, SinkError};
use crate::vulcand::{is_havok_middleware, server_url, stored_json};

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
            self.state.node_dir()
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
        let records_dir = self.state.records_dir();
        for (key, value, _) in self
            .get_many(std::slice::from_ref(&records_dir))
            .await?
            .concat()
        {
            count_read(&mut observed, 1, key.len() + value.len());
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
        let keys = routes_to_read(routes, records.keys());
        let mut prefixes = Vec::with_capacity(keys.len() * 2);
        for key in &keys {
            let id = key.id();
            prefixes.push(self.layout.backend_dir(&id));
            prefixes.push(self.layout.frontend_dir(&id));
        }
        let results = self.get_many(&prefixes).await?;
        for (i, key) in keys.into_iter().enumerate() {
            let id = key.id();
            let mut state = RouteState::default();
            let mut live = Vec::new();
            let servers_dir = self.layout.servers_dir(&id);
            for (k, v, kv_lease) in &results[2 * i] {
                count_read(&mut observed, 1, k.len() + v.len());
                let text = String::from_utf8_lossy(v);
                if *k == self.layout.backend_key(&id) {
                    state.backend = Some(stored_json(&text));
                } else if let Some(sid) = k.strip_prefix(&servers_dir) {
                    state.server_count += 1;
                    let sid = ServerId::from_raw(sid);
                    if !sid.owned_by(&self.node) {
                        state.others.push(sid.clone());
                    }
                    // A key on another lease (an older one of this node)
                    // would expire unrefreshed: record-only, so it is rewritten.
                    if sid.owned_by(&self.node) && *kv_lease == lease {
                        live.push((sid, ServerState::Live(server_url(&text))));
                    }
                }
            }
            for (k, v, _) in &results[2 * i + 1] {
                count_read(&mut observed, 1, k.len() + v.len());
                let text = String::from_utf8_lossy(v);
                if *k == self.layout.frontend_key(&id) {
                    state.frontend = Some(stored_json(&text));
                } else if let Some(mid) = k.strip_prefix(&self.layout.middlewares_dir(&id)) {
                    if is_havok_middleware(mid) {
                        state
                            .middlewares
                            .insert(mid.to_string(), stored_json(&text));
                    }
                }
            }
            let own = own_servers(live, records.get(&key).into_iter().flatten());
            add_route(&mut observed, key, state, own);
        }
        Ok(observed)
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        apply::apply(self, ops).await
    }

    /// Only the collector looks (`orphans`), so at every pass.
    fn gc_every(&self) -> u32 {
        1
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
            // While it holds the key, the lease keeps it; the others look
            // whether it is still there.
            Ok(Ok(Some(resp))) if resp.ttl() > 0 => {
                if self.collecting {
                    return Ok(());
                }
                return self.collector().await.map(drop);
            }
            Ok(Ok(_)) => {
                self.lease = None;
                self.collecting = false;
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

    /// Routes marked under `<state>/routes/` whose backend has no server
    /// left; none unless this node is the cluster's orphan collector.
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        // The keep-alive checks the role held; a node without it looks
        // whether it is free.
        if !self.collecting && !self.collector().await? {
            return Ok(Vec::new());
        }
        let routes_dir = self.state.routes_dir();
        let markers = self
            .get_many(std::slice::from_ref(&routes_dir))
            .await?
            .concat();
        let keys: Vec<RouteKey> = markers
            .iter()
            .filter_map(|(k, v, _)| RouteMarker::parse(v, k.strip_prefix(&routes_dir)?))
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
        tracing::debug!(
            markers = keys.len(),
            orphans = orphans.len(),
            "etcd v3: looked for orphaned routes (this node is the collector)"
        );
        Ok(orphans)
    }
}

#[async_trait]
impl Writes for Etcd3Sink {
    /// Batched into few transactions (a start-up writes hundreds), each
    /// within `--etcd-max-txn-ops`.
    async fn put_routes(&mut self, puts: &[&RoutePut]) -> Result<(), SinkError> {
        let lease = self.lease()?;
        let mut batch: Vec<Txn> = Vec::new();
        let mut batch_size = 0;
        for put in puts {
            for (txn, size) in self.put_txns(put, lease) {
                if batch_size + size > self.max_ops && !batch.is_empty() {
                    self.put_batch(std::mem::take(&mut batch)).await?;
                    batch_size = 0;
                }
                batch.push(txn);
                batch_size += size;
            }
        }
        if !batch.is_empty() {
            self.put_batch(batch).await?;
        }
        Ok(())
    }

    async fn delete_server(&mut self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError> {
        let id = key.id();
        let server_key = self.layout.server_key(&id, server);
        let txn = Txn::new().and_then([
            TxnOp::delete(server_key.as_str(), None),
            TxnOp::delete(self.state.record_key(&id, server), None),
        ]);
        self.run_txn(&server_key, txn).await?;
        Ok(())
    }

    async fn remove_route_if_empty(&mut self, key: &RouteKey) -> Result<(), SinkError> {
        if self.run_txn("route removal", self.remove_txn(key)).await? {
            tracing::info!(host = %key, "removed route: no server left");
        }
        Ok(())
    }
}
