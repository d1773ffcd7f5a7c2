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

mod client;
mod sink;
mod txns;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use etcd_client::{
    Certificate, Client, ConnectOptions, Identity, LeaseKeepAliveStream, LeaseKeeper, TlsOptions,
};

use crate::backends::bookkeeping::StateLayout;
use crate::config::{Config, ConfigError};
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
}

impl Etcd3Sink {
    pub fn new(config: &Config, node: &str) -> Result<Etcd3Sink, ConfigError> {
        let mut options = ConnectOptions::new()
            .with_connect_timeout(config.timeout)
            .with_timeout(config.timeout)
            .with_keep_alive(Duration::from_secs(10), config.timeout);
        if let Some(tls) = &config.etcd_tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = &tls.ca {
                t = t.ca_certificate(Certificate::from_pem(ca));
            }
            if let Some((cert, key)) = &tls.identity {
                t = t.identity(Identity::from_pem(cert, key));
            }
            options = options.with_tls(t);
        }
        if let Some((user, password)) = &config.etcd_auth {
            options = options.with_user(user.clone(), password.expose().to_string());
        }
        let layout = Layout::new(&config.etcd_prefix);
        let state = StateLayout::new(&config.state_prefix, node);
        check_prefixes(layout.prefix(), state.prefix())?;
        Ok(Etcd3Sink {
            endpoints: config.etcd_machines.clone(),
            options,
            layout,
            state,
            node: node.to_string(),
            ttl: config.ttl,
            timeout: config.timeout,
            client: None,
            lease: None,
            keeper: None,
            unhealthy: AtomicBool::new(false),
            max_ops: config.etcd_max_txn_ops,
        })
    }

    fn store(&self) -> String {
        format!("etcd v3 at {}", self.endpoints.join(","))
    }
}

/// Refuses a bookkeeping prefix that overlaps Vulcand's. Vulcand's v3 engine
/// reads and watches `-etcdKey` as a plain string prefix (`WithPrefix`), so
/// with `vulcand` it also sees `vulcand2/…`: either prefix being a string
/// prefix of the other puts havok's records in Vulcand's view, or Vulcand's
/// keys under havok's.
fn check_prefixes(vulcand: &str, state: &str) -> Result<(), ConfigError> {
    if !(vulcand.starts_with(state) || state.starts_with(vulcand)) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "--state-prefix {state:?} overlaps --etcd-prefix {vulcand:?}: Vulcand's etcd v3 engine reads \
         every key that starts with {vulcand:?}, so neither may start with the other \
         (expected a prefix of its own, e.g. havok)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: `--etcd-prefix`, `--state-prefix`, and whether they may be used together.
    #[test]
    fn overlapping_prefixes_are_refused() {
        for (vulcand, state, ok) in [
            ("vulcand", "havok", true),
            ("vulcand", "havok/vulcand", true),
            ("/vulcand", "/havok", true),
            ("vulcand", "vulcand/havok", false),
            ("vulcand", "vulcand2", false),
            ("vulcand", "vul", false),
            ("a/b", "a", false),
            ("vulcand", "vulcand", false),
        ] {
            let got = check_prefixes(vulcand, state);
            assert_eq!(got.is_ok(), ok, "{vulcand:?} {state:?}: {got:?}");
        }
    }
}
