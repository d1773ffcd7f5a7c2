//! The record's etcd v3 side: one watch over every key, the floor's bare
//! put, and a bare transaction of a new host's shape.

use etcd_client::{Client, Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, WatchOptions};
use tokio::sync::OnceCell;

use super::*;

/// One watch over every key, so the floor's keys, Vulcand's and havok's
/// bookkeeping all arrive through the same stream.
pub async fn watch(url: String, seen: Record, stop: CancellationToken) {
    let mut client = Client::connect([url.as_str()], None)
        .await
        .unwrap_or_else(|e| panic!("connect to etcd at {url}: {e}"));
    let mut stream = client
        .watch("", Some(WatchOptions::new().with_all_keys()))
        .await
        .unwrap_or_else(|e| panic!("watch etcd at {url}: {e}"));
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = stream.message() => message,
        };
        let at = SystemTime::now();
        match message {
            Ok(Some(response)) => {
                for event in response.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = String::from_utf8_lossy(kv.key());
                    push(&seen, at, event.event_type() == EventType::Put, &key);
                }
            }
            // The store is going away at the end of the run.
            Ok(None) | Err(_) => return,
        }
    }
}

/// The floor's client, connected once (the probe pays the connection).
async fn client(cell: &OnceCell<Client>, url: &str) -> Client {
    cell.get_or_init(|| async {
        Client::connect([url], None)
            .await
            .unwrap_or_else(|e| panic!("connect to etcd at {url}: {e}"))
    })
    .await
    .clone()
}

/// A bare put.
pub async fn put(cell: &OnceCell<Client>, url: &str, key: &str, value: &str) {
    if let Err(e) = client(cell, url).await.put(key, value, None).await {
        panic!("put {key}: {e}")
    }
}

/// One transaction shaped like havok's write of a new host: its backend and
/// frontend compared, then (they are missing) backend, server and record
/// (these two on a lease), frontend and marker put, values of the sizes
/// havok writes. `keys` are in that order; returns the server's key.
pub async fn new_host_txn(
    cell: &OnceCell<Client>,
    lease: &OnceCell<i64>,
    url: &str,
    keys: &[String; 5],
) -> String {
    const VALUES: [&str; 5] = [
        r#"{"Type":"http","Settings":{"Timeouts":{"Read":"","Dial":"","TLSHandshake":""},"KeepAlive":{"Period":"","MaxIdleConnsPerHost":0}}}"#,
        SERVER_VALUE,
        r#"{"route":"floor.bench.example.com","server":"bench--floor.0123456789abcdef","url":"http://127.0.0.1:32768"}"#,
        r#"{"Type":"http","BackendId":"floor-bench-example-com","Route":"Host(`floor.bench.example.com`)","Settings":{"PassHostHeader":true}}"#,
        r#"{"route":"floor.bench.example.com"}"#,
    ];
    let mut client = client(cell, url).await;
    let lease = *lease
        .get_or_init(|| async {
            // Ten minutes: longer than any run.
            let granted = client.lease_grant(600, None).await;
            granted
                .unwrap_or_else(|e| panic!("lease for the floor: {e}"))
                .id()
        })
        .await;
    let ops: Vec<TxnOp> = keys
        .iter()
        .zip(VALUES)
        .enumerate()
        .map(|(i, (key, value))| {
            let options = matches!(i, 1 | 2).then(|| PutOptions::new().with_lease(lease));
            TxnOp::put(key.as_str(), value, options)
        })
        .collect();
    let txn = Txn::new()
        .when([
            Compare::version(keys[0].as_str(), CompareOp::Greater, 0),
            Compare::version(keys[3].as_str(), CompareOp::Greater, 0),
        ])
        .and_then([ops[1].clone(), ops[2].clone()])
        .or_else(ops);
    if let Err(e) = client.txn(txn).await {
        panic!("txn of {}: {e}", keys[1])
    }
    keys[1].clone()
}
