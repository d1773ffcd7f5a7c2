//! What the store counts: requests and writes from etcd's `/metrics`, and
//! the changes Vulcand would see under its prefix since a mark (an etcd v3
//! watch from a revision, or the etcd v2 event history from an index;
//! `refresh=true` writes are not events, as Vulcand does not see them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use havok::testkit::etcd::{metric_sum, write_counters};
use havok::testkit::Backend;
use serde_json::Value;

/// How long a watch may stay silent before the history is taken as read.
const QUIET: Duration = Duration::from_secs(2);

/// Requests the members served: gRPC messages received (v3: unary calls
/// and stream messages such as lease keep-alives), summed over members.
pub async fn grpc_messages(members: &[String]) -> f64 {
    let mut sum = 0.0;
    for m in members {
        sum += metric_sum(m, &["grpc_server_msg_received_total"]).await;
    }
    sum
}

/// Writes the cluster applied (every member applies each; read from one).
pub async fn writes(backend: Backend, members: &[String]) -> f64 {
    metric_sum(&members[0], write_counters(backend == Backend::Etcd2)).await
}

/// Where the changes are counted from: an etcd v3 revision or v2 index.
pub async fn mark(backend: Backend, member: &str) -> i64 {
    match backend {
        #[cfg(feature = "etcd3")]
        Backend::Etcd3 => {
            let mut client = etcd_client::Client::connect([member], None)
                .await
                .expect("etcd v3");
            let resp = client.get("vulcand/", None).await.expect("etcd v3 get");
            resp.header().map_or(0, |h| h.revision())
        }
        _ => {
            let resp = reqwest::get(format!("{member}/v2/keys/"))
                .await
                .expect("etcd v2 get");
            resp.headers()
                .get("x-etcd-index")
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .expect("an X-Etcd-Index header")
        }
    }
}

/// The changes under Vulcand's prefix after `since`, each as `action key`,
/// until `done` is set and the watch has been quiet for a while; `Err` when
/// etcd no longer keeps that history. Run it alongside what it watches: etcd
/// v2 keeps only its last 1000 events, refreshes included.
pub async fn changes_since(
    backend: Backend,
    member: String,
    since: i64,
    done: Arc<AtomicBool>,
) -> Result<Vec<String>, String> {
    match backend {
        #[cfg(feature = "etcd3")]
        Backend::Etcd3 => {
            use etcd_client::{Client, WatchOptions};
            let mut client = Client::connect([member], None)
                .await
                .map_err(|e| e.to_string())?;
            let options = WatchOptions::new()
                .with_prefix()
                .with_start_revision(since + 1);
            let mut stream = client
                .watch("vulcand/", Some(options))
                .await
                .map_err(|e| e.to_string())?;
            let mut seen = Vec::new();
            loop {
                let resp = match tokio::time::timeout(QUIET, stream.message()).await {
                    Ok(Ok(Some(resp))) => resp,
                    Err(_quiet) if !done.load(Ordering::Relaxed) => continue,
                    _ => break,
                };
                if resp.compact_revision() > 0 {
                    return Err(format!("compacted at {}", resp.compact_revision()));
                }
                for e in resp.events() {
                    let key = e
                        .kv()
                        .map(|kv| String::from_utf8_lossy(kv.key()).into_owned());
                    seen.push(format!("{:?} {}", e.event_type(), key.unwrap_or_default()));
                }
            }
            Ok(seen)
        }
        _ => {
            let http = reqwest::Client::new();
            let mut next = since + 1;
            let mut seen = Vec::new();
            loop {
                let url =
                    format!("{member}/v2/keys/vulcand?wait=true&recursive=true&waitIndex={next}");
                // etcd sends a watch's headers at once and its body when an
                // event comes. The request stays in flight while the watch is
                // quiet: asking again with the same index after a pause could
                // find it behind the 1000 events etcd v2 keeps (refreshes
                // elsewhere count too).
                let mut get =
                    Box::pin(async { http.get(&url).send().await?.json::<Value>().await });
                let event = loop {
                    tokio::select! {
                        answer = &mut get => break answer.map_err(|e| e.to_string())?,
                        _ = tokio::time::sleep(QUIET) => {
                            if done.load(Ordering::Relaxed) {
                                return Ok(seen);
                            }
                        }
                    }
                };
                if event["errorCode"].as_u64() == Some(401) {
                    return Err(format!("the v2 history from {next} is cleared"));
                }
                let Some(modified) = event["node"]["modifiedIndex"].as_i64() else {
                    return Err(format!("not an event: {event}"));
                };
                seen.push(format!("{} {}", event["action"], event["node"]["key"]));
                next = modified + 1;
            }
        }
    }
}
