//! What the integration tests and the latency benchmark share to run havok
//! for real: the Docker CLI and unique names, the test images, etcd in a
//! container, the Vulcand API stand-in, the havok binary as a child process
//! and views of the store. Behind the `testkit` Cargo feature: a normal build
//! never compiles it.
//!
//! # Layout
//! - `backend`: which store a test or the benchmark runs havok against.
//! - `docker`: the `docker` CLI, unique `havok-test-` names, container and network guards.
//! - `images`: the test images (busybox httpd, etcd), built once per input hash.
//! - `etcd`: one etcd server or a cluster in containers, on fixed published ports.
//! - `child`: the havok binary as a child process with its log in a file.
//! - `http`: a tiny HTTP/1.0 client that needs no backend feature.
//! - `wait`: `eventually`, the only way tests wait.
//! - `store`: `Snapshot` and `StoreView`, with the etcd v3 and v2 views.
//! - `vulcand_contract`: a stand-in for Vulcand's HTTP API, written from its source, and its `StoreView`.
//! - `vulcand`: the real Vulcand as a child process (etcd v3, v2 or memng), its proxy and its log.
//! - `tcp_proxy`: a TCP proxy that can freeze its open connections, slow
//!   every byte, and count the bytes and HTTP/1.1 requests through it.
//!
//! Isolation: every test shares the Docker daemon with other tests (and other
//! runs), so a test gives havok `--names ^<scope>-` with `scope = unique_name("…")`
//! and names its containers `<scope>-web1`: havok then sees only that test's containers.

pub mod backend;
pub mod child;
pub mod docker;
pub mod etcd;
pub mod http;
pub mod images;
pub mod store;
pub mod tcp_proxy;
pub mod vulcand;
pub mod vulcand_contract;
pub mod wait;

pub use backend::Backend;
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
