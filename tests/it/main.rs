//! The integration test binary: one `mod` per scenario file; `support` is the shared harness.

#[macro_use]
mod support;

mod cli;
mod early_inspect;
mod etcd2_sink;
mod etcd3_sink;
#[cfg(feature = "etcd3")]
mod etcd_limits;
mod fleet;
mod harness;
#[cfg(feature = "etcd2")]
mod legacy;
mod many_hosts;
mod operators;
mod packaging;
mod routes;
mod scenarios;
mod settings;
mod tls;
mod tls_transports;
mod vulcand_api_sink;
