//! havok's `--listen` endpoints from a test: havok is started with
//! `--listen 127.0.0.1:0` (no port race) and the address it bound is read
//! from its start-up log line.

use std::time::Duration;

use super::child::Havok;
use super::http::{http_get, HttpResponse};
use super::wait::{eventually, TIMEOUT};

/// Waits for havok's "serving /healthz" line and returns `http://<addr>`.
pub async fn listen_url(havok: &mut Havok) -> String {
    havok.wait_for_log("serving /healthz", TIMEOUT).await;
    let text = havok.log_text();
    let line = text
        .lines()
        .find(|l| l.contains("serving /healthz"))
        .expect("the line just waited for");
    // Text logs say `listen=127.0.0.1:1234`, JSON logs `"listen":"127.0.0.1:1234"`.
    let addr = line
        .split_once("listen=")
        .map(|(_, rest)| rest)
        .or_else(|| line.split_once("\"listen\":\"").map(|(_, rest)| rest))
        .and_then(|rest| rest.split(['"', ' ', ',']).next())
        .unwrap_or_else(|| panic!("no listen address in {line:?}"));
    format!("http://{addr}")
}

/// `GET <base><path>`, panicking on a connection error (havok must answer).
pub async fn get(base: &str, path: &str) -> HttpResponse {
    http_get(&format!("{base}{path}"))
        .await
        .unwrap_or_else(|e| panic!("GET {base}{path}: {e}"))
}

/// Waits until `GET <base>/healthz` answers `status`; returns the answer.
pub async fn wait_health(base: &str, status: u16, timeout: Duration) -> HttpResponse {
    let url = format!("{base}/healthz");
    eventually(&format!("{url} to answer {status}"), timeout, || async {
        match http_get(&url).await {
            Ok(r) if r.status == status => Ok(r),
            Ok(r) => Err(format!("{} {}", r.status, r.body.trim())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}
