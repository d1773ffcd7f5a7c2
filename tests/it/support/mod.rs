//! The integration harness: real Docker containers, real etcd, the real havok
//! binary, and store views that let one scenario run against every backend.
//!
//! # Layout
//! - `args`: the flags every test havok gets (backend, names, node, short timings).
//! - `docker`: the `docker` CLI, unique `havok-test-` names, container and network guards.
//! - `images`: the test images (busybox httpd, etcd), built once per input hash.
//! - `etcd`: one etcd server or a cluster in containers, on fixed published ports.
//! - `etcd_tls`, `certs`: etcd behind TLS or a password, and the test PKI (openssl).
//! - `tcp_proxy`: a TCP proxy that can freeze its open connections or slow every byte.
//! - `endpoints`: havok's `--listen` address and its `/healthz`.
//! - `oneshot`: the havok binary run to completion under a deadline.
//! - `ops`: builders of servers and ops for the sink-level tests.
//! - `child`: the havok binary as a child process with its log in a file.
//! - `http`: a tiny HTTP/1.0 client that needs no backend feature.
//! - `wait`: `eventually`, the only way tests wait.
//! - `store`: `Snapshot` and `StoreView`, with the etcd v3 and v2 views.
//! - `tls_proxy`: socat putting TLS in front of the Docker socket or the API stand-in.
//! - `vulcand`: the real Vulcand as a child process (etcd v3, v2 or memng), its proxy and its log.
//! - `vulcand_contract`: a stand-in for Vulcand's HTTP API, written from its source, and its `StoreView`.
//!
//! Isolation: every test shares the Docker daemon with other tests (and other
//! runs), so a test gives havok `--names ^<scope>-` with `scope = unique_name("…")`
//! and names its containers `<scope>-web1`: havok then sees only that test's containers.

// Each scenario file uses a different part of the harness, and the
// re-exports below are its one import list (`use crate::support::*`).
#![allow(dead_code, unused_imports)]

pub mod args;
pub mod certs;
pub mod child;
pub mod docker;
pub mod endpoints;
pub mod etcd;
pub mod etcd_tls;
pub mod http;
pub mod images;
pub mod oneshot;
pub mod ops;
pub mod store;
pub mod tcp_proxy;
pub mod tls_proxy;
pub mod vulcand;
pub mod vulcand_contract;
pub mod wait;

pub use args::{havok_args, strs};
pub use child::Havok;
pub use docker::{
    docker, run_httpd, start_httpd, try_docker, unique_name, TestContainer, TestNetwork,
};
pub use etcd::{EtcdCluster, EtcdServer};
pub use http::{http, http_get, HttpResponse};
pub use store::{BackendView, FrontendView, Snapshot, StoreView};
pub use tcp_proxy::TcpProxy;
pub use vulcand::{Engine, Vulcand};
pub use wait::{eventually, wait_for_snapshot, Outcome, TIMEOUT};

#[cfg(feature = "etcd2")]
pub use store::Etcd2View;
#[cfg(feature = "etcd3")]
pub use store::Etcd3View;
