//! The record's etcd v2 side: one streaming watch over every key, resumed by index.

use serde_json::Value;

use super::*;

/// `GET /v2/keys/?wait=true&recursive=true&stream=true`: etcd 3.4's v2
/// API keeps a streaming watch open and writes one JSON event per line,
/// so arrivals are not delayed by a long-poll round trip per event.
///
/// etcd drops a watcher whose 100-event buffer fills (a burst of writes)
/// without ending its stream, which then goes silent for good
/// (`v2store/watcher.go` notify). So a stream silent for [`SILENT`] is
/// reopened at the next index, and etcd replays what it missed from its
/// 1000-event history. A watch whose index is in that history is answered
/// with that one event and never registered (`v2store/watcher_hub.go`):
/// such a stream is reopened after its event, until the watch is live
/// again. Replayed events arrive late; the run counts them.
pub async fn watch(url: String, seen: Record, resumed: Arc<AtomicUsize>, stop: CancellationToken) {
    let client = reqwest::Client::new();
    let mut next: Option<u64> = None;
    loop {
        let mut watch_url = format!("{url}/v2/keys/?wait=true&recursive=true&stream=true");
        if let Some(index) = next {
            watch_url.push_str(&format!("&waitIndex={index}"));
        }
        let response = tokio::select! {
            _ = stop.cancelled() => return,
            response = client.get(&watch_url).send() => response,
        };
        let Ok(mut response) = response else {
            if stop.is_cancelled() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        if !response.status().is_success() {
            // 400 errorCode 401: the index left the history; go on from etcd's current one.
            let index = response
                .headers()
                .get("X-Etcd-Index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            eprintln!(
                "warning: etcd v2 watch at {watch_url}: {}; events were lost",
                response.status()
            );
            next = index.map(|i| i + 1);
            resumed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        // The store's index when the watch was made: an event at or below
        // it came from the history, the watch's one and only.
        let opened_at = response
            .headers()
            .get("X-Etcd-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut buffer = Vec::new();
        'stream: loop {
            let chunk = tokio::select! {
                _ = stop.cancelled() => return,
                chunk = tokio::time::timeout(SILENT, response.chunk()) => match chunk {
                    Ok(chunk) => chunk,
                    // Quiet, or dropped by etcd: the reopened watch tells.
                    Err(_) => break 'stream,
                },
            };
            let at = SystemTime::now();
            match chunk {
                Ok(Some(bytes)) => {
                    buffer.extend_from_slice(&bytes);
                    while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = buffer.drain(..=end).collect();
                        let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                            continue;
                        };
                        let node = &event["node"];
                        let index = node["modifiedIndex"].as_u64();
                        if let Some(index) = index {
                            next = Some(index + 1);
                        }
                        let replayed = index.zip(opened_at).is_some_and(|(i, at)| i <= at);
                        let put = !matches!(
                            event["action"].as_str(),
                            Some("delete" | "expire" | "compareAndDelete")
                        );
                        if let Some(key) = node["key"].as_str() {
                            push(&seen, at, put, key);
                        }
                        if replayed {
                            resumed.fetch_add(1, Ordering::Relaxed);
                            break 'stream;
                        }
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        if stop.is_cancelled() {
            return;
        }
    }
}

/// How long a stream may be silent before it is reopened at the next index.
const SILENT: Duration = Duration::from_secs(1);
