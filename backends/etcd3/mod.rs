//! The etcd v3 `RouteSink` (etcd-client, gRPC): Vulcand's `-etcdApiVer=3` layout,
//! one lease per node for liveness, and transactions for every route change.
//!
//! Keys: Vulcand's objects under `<prefix>/backends|frontends/…` (its v3
//! engine uses `-etcdKey` literally: `vulcand/…`, no leading slash), and
//! havok's own under the state prefix (`crate::backends::bookkeeping`):
//! this node's lease id, its records on that lease, route markers.
//!
//! - `client`: calls under the timeout, errors, the lease, chunked reads.
//! - `txns`: the transactions of a route's put and of its guarded removal.
//! - `sink`: the `RouteSink`: observe, apply, keepalive, orphans.
//! - `collector`: which node of the cluster collects orphans.

mod client;
mod collector;
mod sink;
mod txns;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, Identity, LeaseKeepAliveStream, LeaseKeeper, TlsOptions,
};

use super::{EtcdSettings, SinkTiming};
use crate::backends::bookkeeping::StateLayout;
use crate::vulcand::Layout;

/// Writes routes to etcd v3.
pub struct Etcd3Sink {
    endpoints: Vec<String>,
    options: ConnectOptions,
    layout: Layout,
    state: StateLayout,
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
    /// Whether this node held the collector key when it last looked.
    collecting: bool,
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
            state: StateLayout::new(&settings.state_prefix, node),
            node: node.to_string(),
            ttl: timing.ttl,
            timeout: timing.timeout,
            client: None,
            lease: None,
            keeper: None,
            unhealthy: AtomicBool::new(false),
            max_ops: settings.max_txn_ops,
            collecting: false,
        }
    }

    fn store(&self) -> String {
        format!("etcd v3 at {}", self.endpoints.join(","))
    }
}
