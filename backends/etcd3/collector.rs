//! The cluster's one orphan collector on etcd v3: the node whose id the
//! collector key holds, on that node's lease. The key leaves with the lease,
//! so when the collector dies another node claims it at its next keep-alive
//! after the lease expired. Holding it costs nothing (the lease is kept
//! alive anyway); looking costs other nodes one serializable read.

use etcd_client::{Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp};

use super::Etcd3Sink;
use crate::sink::SinkError;

impl Etcd3Sink {
    /// Whether this node is the orphan collector, claiming the key (only
    /// if no key exists: one node wins) when no node holds it.
    pub(super) async fn collector(&mut self) -> Result<bool, SinkError> {
        let lease = self.lease()?;
        let key = self.state.collector_key();
        let mut client = self.client()?;
        let found = self
            .call(
                &key,
                client.get(key.as_str(), Some(GetOptions::new().with_serializable())),
            )
            .await?;
        let holds = match found.kvs().first() {
            // Another node's, or this node's on an older lease (that leaves with it).
            Some(kv) => kv.value() == self.node.as_bytes() && kv.lease() == lease,
            None => {
                let claim = Txn::new()
                    .when([Compare::create_revision(key.as_str(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(
                        key.as_str(),
                        self.node.as_str(),
                        Some(PutOptions::new().with_lease(lease)),
                    )]);
                self.call(&key, client.txn(claim)).await?.succeeded()
            }
        };
        if holds != self.collecting {
            if holds {
                tracing::info!(key = %key, "etcd v3: this node is the cluster's orphan collector");
            } else {
                tracing::info!("etcd v3: no longer the cluster's orphan collector");
            }
            self.collecting = holds;
        }
        Ok(holds)
    }
}
