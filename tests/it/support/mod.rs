//! The integration harness: real Docker containers, real etcd, the real havok
//! binary, and store views that let one scenario run against every backend.
//!
//! # Layout
//! - `args`: the flags every test havok gets (backend, names, node, short timings).
//! - from the library's `testkit` (`havok::testkit`, the `testkit` feature),
//!   shared with the latency benchmark and re-exported here as they are:
//!   `backend`, `docker`, `images`, `etcd`, `child`, `http`, `wait`, `store`,
//!   `vulcand_contract`, `vulcand` (the real Vulcand as a child process, its
//!   proxy and its log), `tcp_proxy` (freezes, slows and counts connections).
//! - `etcd_tls`, `certs`: etcd behind TLS or a password, and the test PKI (openssl).
//! - `endpoints`: havok's `--listen` address and its `/healthz`.
//! - `oneshot`: the havok binary run to completion under a deadline.
//! - `ops`: builders of servers and ops for the sink-level tests.
//! - `tls_proxy`: socat putting TLS in front of the Docker socket or the API stand-in.
//!
//! Isolation: every test shares the Docker daemon with other tests (and other
//! runs), so a test gives havok `--names ^<scope>-` with `scope = unique_name("…")`
//! and names its containers `<scope>-web1`: havok then sees only that test's containers.

// Not every helper of the modules here is used by every test, nor with every
// backend feature; the shared part lives in the library, where it is public.
#![allow(dead_code)]

pub mod args;
pub mod certs;
pub mod endpoints;
pub mod etcd_tls;
pub mod oneshot;
pub mod ops;
pub mod tls_proxy;

pub use args::{havok_args, strs};
pub use havok::testkit::*;

/// Runs each `async fn scenario(b: Backend)` named on every compiled-in
/// backend, as `<backend>::<scenario>` tests (`Backend` must be in scope).
macro_rules! per_backend {
    ($($scenario:ident),* $(,)?) => {
        #[cfg(feature = "etcd3")]
        mod etcd3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Etcd3).await
                }
            )*
        }
        #[cfg(feature = "etcd2")]
        mod etcd2 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::Etcd2).await
                }
            )*
        }
        #[cfg(feature = "vulcand-api")]
        mod vulcand_api {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(super::Backend::VulcandApi).await
                }
            )*
        }
    };
}
