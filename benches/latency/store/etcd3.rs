//! The record's etcd v3 side: one watch over every key, and the floor's bare put.

use etcd_client::{Client, EventType, WatchOptions};
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

/// A bare put on a client connected once (the probe pays the connection).
pub async fn put(client: &OnceCell<Client>, url: &str, key: &str, value: &str) {
    let client = client
        .get_or_init(|| async {
            Client::connect([url], None)
                .await
                .unwrap_or_else(|e| panic!("connect to etcd at {url}: {e}"))
        })
        .await;
    let mut client = client.clone();
    if let Err(e) = client.put(key, value, None).await {
        panic!("put {key}: {e}")
    }
}
