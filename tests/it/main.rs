//! The integration test binary: one `mod` per scenario file; `support` is the shared harness.

mod support;

mod etcd2_sink;
mod harness;
mod vulcand_api_sink;
