//! The record's Vulcand API side: the contract server's state polled as
//! the keys etcd would hold, and the floor's bare server upsert.

use std::collections::BTreeMap;

use futures_util::FutureExt;
use havok::ids::{RouteId, ServerId};
use havok::vulcand::Layout;
use serde_json::json;

use super::*;
use havok::testkit::vulcand_contract::ContractServer;
use havok::testkit::StoreView;

/// The backend the floor's servers go to (created on first use).
const FLOOR_BACKEND: &str = "havok-bench-floor";

/// Every 0.5 ms: when the server recorded a write since the last look,
/// diff its state as `vulcand/…` keys. The contract server applies a
/// write and records it under one lock, so a changed count means the
/// change is visible; arrivals are late by at most one poll.
pub fn poll(contract: ContractServer, seen: Record, stop: CancellationToken) {
    let mut writes = usize::MAX;
    let mut before: BTreeMap<String, String> = BTreeMap::new();
    while !stop.is_cancelled() {
        let now = contract.write_count();
        if now != writes {
            writes = now;
            let snapshot = contract
                .snapshot()
                .now_or_never()
                .expect("the contract server's snapshot does not wait");
            let at = SystemTime::now();
            let after = flatten(&snapshot);
            for (key, value) in &after {
                if before.get(key) != Some(value) {
                    push(&seen, at, true, key);
                }
            }
            for key in before.keys().filter(|k| !after.contains_key(*k)) {
                push(&seen, at, false, key);
            }
            before = after;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// The snapshot as the keys etcd would hold, so one analysis fits all.
fn flatten(s: &havok::testkit::Snapshot) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let layout = Layout::new(VULCAND_PREFIX);
    for (bid, b) in &s.backends {
        let bid = route_id(bid);
        if let Some(v) = &b.backend {
            out.insert(layout.backend_key(&bid), v.to_string());
        }
        for (sid, url) in &b.servers {
            out.insert(
                layout.server_key(&bid, &ServerId::from_raw(sid)),
                url.clone(),
            );
        }
    }
    for (fid, f) in &s.frontends {
        let fid = route_id(fid);
        if let Some(v) = &f.frontend {
            out.insert(layout.frontend_key(&fid), v.to_string());
        }
        for (mid, m) in &f.middlewares {
            out.insert(layout.middleware_key(&fid, mid), m.to_string());
        }
    }
    out
}

/// A bare `POST /v2/backends/<floor>/servers` with a server id made
/// from `key`; returns the key the poller records for it.
pub async fn upsert_server(backend: &tokio::sync::OnceCell<()>, url: &str, key: &str) -> String {
    backend
        .get_or_init(|| async {
            post(
                &format!("{url}/v2/backends"),
                json!({"Backend": {"Id": FLOOR_BACKEND, "Type": "http"}}),
            )
            .await
        })
        .await;
    let id = key.replace('/', "-");
    post(
        &format!("{url}/v2/backends/{FLOOR_BACKEND}/servers"),
        json!({"Server": {"Id": id, "URL": "http://127.0.0.1:32768"}}),
    )
    .await;
    Layout::new(VULCAND_PREFIX).server_key(&route_id(FLOOR_BACKEND), &ServerId::from_raw(&id))
}

/// A backend or frontend id the API listed, read back as havok reads ids
/// from a store (the API names any id, not only the ones havok makes).
fn route_id(raw: &str) -> RouteId {
    serde_json::from_value(json!(raw)).expect("an id is a JSON string")
}

async fn post(url: &str, body: serde_json::Value) {
    let answer = http()
        .post(url)
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    assert!(answer.status().is_success(), "POST {url}: {answer:?}");
}
