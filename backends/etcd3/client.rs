//! How the etcd v3 sink talks to etcd: every call under the request
//! timeout, its error as unreachable or refused, this node's lease, and
//! reads of many prefixes in few transactions.

use std::sync::atomic::Ordering;

use etcd_client::{Client, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
/// gRPC status codes (etcd-client re-exports tonic's `Status`, not `Code`).
use tonic::Code as tonic_code;

use super::Etcd3Sink;
use crate::sink::SinkError;

/// One key read back: its key, value and lease.
pub(super) type KeyValue = (String, Vec<u8>, i64);

impl Etcd3Sink {
    pub(super) fn client(&self) -> Result<Client, SinkError> {
        self.client.clone().ok_or_else(|| SinkError::Unreachable {
            store: self.store(),
            reason: "not connected".into(),
        })
    }

    pub(super) fn lease(&self) -> Result<i64, SinkError> {
        self.lease.ok_or_else(|| SinkError::LeaseLost {
            store: self.store(),
            reason: "no lease".into(),
        })
    }

    /// Runs one etcd call under the request timeout, mapping its error.
    pub(super) async fn call<T>(
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

    pub(super) fn error(&self, object: &str, e: etcd_client::Error) -> SinkError {
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
    pub(super) async fn ensure_lease(&mut self) -> Result<(), SinkError> {
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
            self.collecting = false;
        }
        let key = self.state.lease_key();
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
    pub(super) async fn get_many(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<Vec<KeyValue>>, SinkError> {
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

    pub(super) async fn run_txn(&self, what: &str, txn: Txn) -> Result<bool, SinkError> {
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
