//! Sink-level tests of `Etcd3Sink` against a real etcd 3.4: what happens to
//! its gRPC channel when the lease keep-alive fails.
#![cfg(feature = "etcd3")]

use std::time::{Duration, Instant};

use havok::backends::etcd3::Etcd3Sink;
use havok::backends::{EtcdSettings, SinkTiming};
use havok::config::{Config, RawConfig};
use havok::sink::{RouteSink, SinkError};

use crate::support::{EtcdServer, TcpProxy};

/// A keep-alive that gets no answer marks the channel dead: the next
/// `connect` (the reconciler's retry) makes a new one and finds the lease,
/// instead of waiting on the dead channel again.
#[tokio::test(flavor = "multi_thread")]
async fn keepalive_timeout_reconnects() {
    let etcd = EtcdServer::start().await;
    let proxy = TcpProxy::start(format!("127.0.0.1:{}", etcd.port()).parse().unwrap()).await;
    let mut sink = new_sink(&proxy.url(), "node-a");
    sink.connect().await.unwrap();
    sink.keepalive().await.unwrap();

    // The channel's connection goes silent; new connections still pass.
    // (All within a few seconds: the channel's own HTTP/2 pings, every 10 s,
    // would find the dead connection by themselves later.)
    proxy.freeze();
    let started = Instant::now();
    match sink.keepalive().await {
        Err(SinkError::Unreachable { reason, .. }) => {
            assert!(reason.contains("lease keepalive"), "{reason}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // The retry reconnects and keeps the same lease alive.
    sink.connect()
        .await
        .expect("connect after a failed keep-alive");
    sink.keepalive()
        .await
        .expect("keep-alive on the new channel");
}

// Helpers.

fn new_sink(machines: &str, node: &str) -> Etcd3Sink {
    let config = Config::from_raw(RawConfig {
        backend: "etcd3".into(),
        etcd_machines: machines.into(),
        ttl: "30s".into(),
        timeout: "2s".into(),
        ..RawConfig::default()
    })
    .unwrap();
    let settings = EtcdSettings::v3(&config.store).unwrap();
    Etcd3Sink::new(settings, SinkTiming::of(&config), node)
}
