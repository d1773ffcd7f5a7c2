//! The real Vulcand (v0.9.2, a static binary) as a child process: on etcd v3,
//! on etcd v2, or in memory (`-engine=memng`, configured through its API).
//! Tests ask what a client of the proxy receives, and read Vulcand's own log
//! at WARN, where it names every change it could not apply.
//!
//! Found at `$HAVOK_VULCAND`, else `<repo>/../shared/vulcand/vulcand`. When
//! it is missing the proxy tier prints one line and is skipped, except under
//! `CI=true`, where a missing Vulcand fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use tempfile::TempDir;

use super::child::die_with_parent;
use super::etcd::free_port;
use super::http::{http, http_get, HttpResponse};
use super::store::{BackendView, FrontendView, Snapshot, StoreView};
use super::wait::eventually;

/// Which engine Vulcand runs, and where its store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// `-etcdApiVer=3` against this etcd URL (keys under `vulcand/`).
    EtcdV3(String),
    /// `-etcdApiVer=2` against this etcd URL (keys under `/vulcand`).
    EtcdV2(String),
    /// `-engine=memng`: in memory, configured only through the API.
    Memng,
}

/// The Vulcand binary, or `None` (with one printed line) when the tier is skipped.
///
/// # Panics
/// Under `CI=true` when the binary is missing: CI must run the tier.
pub fn binary(skipping: &str) -> Option<PathBuf> {
    let path = match std::env::var_os("HAVOK_VULCAND") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vulcand/vulcand"),
    };
    if path.is_file() {
        return Some(path);
    }
    let why = format!(
        "no Vulcand at {} (set HAVOK_VULCAND to its path)",
        path.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}: under CI=true the proxy tier must run");
    }
    eprintln!("SKIPPED through the real Vulcand: {skipping}: {why}");
    None
}

/// A running Vulcand; killed on drop, with its log's tail printed when the test failed.
pub struct Vulcand {
    engine: Engine,
    binary: PathBuf,
    port: u16,
    api_port: u16,
    child: Mutex<Option<Child>>,
    dir: Mutex<Option<TempDir>>,
    log: PathBuf,
    /// Log text of earlier runs (a restart starts a new log file).
    earlier: Mutex<String>,
}

impl Vulcand {
    /// Starts Vulcand at WARN on free ports; returns once its API answers.
    pub async fn start(binary: PathBuf, engine: Engine) -> Vulcand {
        let dir = tempfile::Builder::new()
            .prefix("havok-test-vulcand-")
            .tempdir()
            .expect("create a directory for Vulcand's log");
        let log = dir.path().join("vulcand.log");
        let vulcand = Vulcand {
            engine,
            binary,
            port: free_port(),
            api_port: free_port(),
            child: Mutex::new(None),
            dir: Mutex::new(Some(dir)),
            log,
            earlier: Mutex::new(String::new()),
        };
        vulcand.spawn();
        vulcand.wait_ready().await;
        vulcand
    }

    /// Starts Vulcand expecting it to refuse: returns its log once it
    /// exited; panics if its API answers instead, or after 20 s.
    pub async fn refused_start(binary: PathBuf, engine: Engine) -> String {
        let dir = tempfile::Builder::new()
            .prefix("havok-test-vulcand-")
            .tempdir()
            .expect("create a directory for Vulcand's log");
        let vulcand = Vulcand {
            engine,
            binary,
            port: free_port(),
            api_port: free_port(),
            child: Mutex::new(None),
            log: dir.path().join("vulcand.log"),
            dir: Mutex::new(Some(dir)),
            earlier: Mutex::new(String::new()),
        };
        vulcand.spawn();
        let status = format!("{}/v2/status", vulcand.api_url());
        eventually("Vulcand to exit at start", Duration::from_secs(20), || {
            let exited = vulcand
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let status = status.clone();
            async move {
                if exited.is_some() {
                    return Ok(());
                }
                if http_get(&status).await.is_ok_and(|r| r.status == 200) {
                    panic!("Vulcand started, though it was expected to refuse");
                }
                Err("still running".to_string())
            }
        })
        .await;
        vulcand.log_text()
    }

    fn spawn(&self) {
        let file = File::create(&self.log).expect("create Vulcand's log file");
        let mut command = Command::new(&self.binary);
        command.args([
            "-interface=127.0.0.1".to_string(),
            format!("-port={}", self.port),
            "-apiInterface=127.0.0.1".to_string(),
            format!("-apiPort={}", self.api_port),
            "-logSeverity=WARN".to_string(),
        ]);
        match &self.engine {
            Engine::EtcdV3(url) => command.args([format!("-etcd={url}"), "-etcdApiVer=3".into()]),
            Engine::EtcdV2(url) => command.args([format!("-etcd={url}"), "-etcdApiVer=2".into()]),
            Engine::Memng => command.arg("-engine=memng"),
        };
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file);
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.binary.display()));
        *self.child.lock().unwrap() = Some(child);
    }

    async fn wait_ready(&self) {
        let status = format!("{}/v2/status", self.api_url());
        eventually("Vulcand's API to answer", Duration::from_secs(20), || {
            let exited = self
                .child
                .lock()
                .unwrap()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let status = status.clone();
            async move {
                if let Some(exit) = exited {
                    panic!("Vulcand exited ({exit}) at start:\n{}", self.log_text());
                }
                http_get(&status).await.map(|r| r.status == 200)
            }
        })
        .await;
    }

    /// Kills Vulcand and starts it again on the same ports (memng: everything is lost).
    pub async fn restart(&self) {
        self.kill();
        self.start_again().await;
    }

    /// Starts Vulcand again after [`kill`](Self::kill), on the same ports.
    pub async fn start_again(&self) {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        self.earlier.lock().unwrap().push_str(&text);
        self.spawn();
        self.wait_ready().await;
    }

    /// Stops Vulcand for good (a test that expects it down).
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether Vulcand has exited on its own, with its exit status.
    pub fn exited(&self) -> Option<std::process::ExitStatus> {
        self.child
            .lock()
            .unwrap()
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// `http://127.0.0.1:<port>`: the proxy listener.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<api port>`: Vulcand's API, what `--vulcand-api` takes.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// One request through the proxy to `host`'s route.
    pub async fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<HttpResponse> {
        let url = format!("{}{path}", self.url());
        http(method, &url, &[("Host", host)], body).await
    }

    /// `GET /who` through the proxy: which container answered (its name).
    pub async fn who(&self, host: &str) -> Result<String, String> {
        let answer = self
            .request("GET", host, "/who", None)
            .await
            .map_err(|e| e.to_string())?;
        if answer.status == 200 {
            Ok(answer.body.trim().to_string())
        } else {
            Err(format!("{} {}", answer.status, answer.body.trim()))
        }
    }

    /// Waits until requests for `host` are answered by exactly the containers
    /// `names` (round robin: each is seen within a few requests), and only by
    /// them. Answers seen accumulate across polls (a rate limit may refuse
    /// most requests), and any other container's answer starts over.
    pub async fn wait_answered_by(&self, host: &str, names: &BTreeSet<String>) {
        let what = format!("Vulcand to answer {host} from exactly {names:?}");
        let seen = Mutex::new(BTreeSet::new());
        eventually(&what, super::wait::TIMEOUT, || async {
            let mut last = String::new();
            for _ in 0..(3 * names.len()).max(3) {
                match self.who(host).await {
                    Ok(name) if names.contains(&name) => {
                        seen.lock().unwrap().insert(name);
                    }
                    Ok(other) => {
                        seen.lock().unwrap().clear();
                        last = format!("answered by {other}");
                    }
                    Err(e) => last = e,
                }
            }
            let seen = seen.lock().unwrap().clone();
            if &seen == names {
                Ok(())
            } else {
                Err(format!("seen {seen:?}; last: {last}"))
            }
        })
        .await
    }

    /// Waits until `host` answers `404` with Vulcand's `not found`: no frontend routes it.
    pub async fn wait_not_routed(&self, host: &str) {
        let what = format!("Vulcand to have no route for {host}");
        eventually(&what, super::wait::TIMEOUT, || async {
            let answer = self
                .request("GET", host, "/who", None)
                .await
                .map_err(|e| e.to_string())?;
            if answer.status == 404 && answer.body.contains("not found") {
                Ok(())
            } else {
                Err(format!("{} {}", answer.status, answer.body.trim()))
            }
        })
        .await
    }

    /// Everything Vulcand logged, across restarts.
    pub fn log_text(&self) -> String {
        let mut text = self.earlier.lock().unwrap().clone();
        text.push_str(&fs::read_to_string(&self.log).unwrap_or_default());
        text
    }

    /// The lines at WARN or above that name a change Vulcand could not use:
    /// everything except lines about requests, about its own etcd connection
    /// (tests stop etcd, and remove it before Vulcand at the end), and
    /// `Key not found` (Vulcand re-reads
    /// a key on each watch event, and a key put and deleted within
    /// milliseconds is gone by then: a race havok cannot avoid).
    ///
    /// The same race has a second line: a server whose put was ignored that
    /// way is missing when its delete event comes (`Cannot delete missing
    /// server`). Up to one such line per ignored server put is excused.
    pub fn unusable_changes(&self) -> Vec<String> {
        let text = self.log_text();
        let warnings: Vec<&str> = text
            .lines()
            .filter(|l| {
                l.contains("level=warning")
                    || l.contains("level=error")
                    || l.contains("level=fatal")
            })
            .filter(|l| !is_request_line(l))
            .filter(|l| !is_connection_line(l))
            .collect();
        let is_key_not_found =
            |l: &&str| l.contains("Key not found") || l.contains("key not found");
        // A server's value is `{"URL":…}`: the ignored puts that were servers.
        let mut excused = warnings
            .iter()
            .filter(|l| is_key_not_found(l) && l.contains("URL"))
            .count();
        warnings
            .into_iter()
            .filter(|l| !is_key_not_found(l))
            .filter(|l| {
                if l.contains("Cannot delete missing server") && excused > 0 {
                    excused -= 1;
                    return false;
                }
                true
            })
            .map(str::to_string)
            .collect()
    }

    /// Panics with the lines when Vulcand logged a change it could not use.
    pub fn assert_applied_everything(&self) {
        let lines = self.unusable_changes();
        assert!(
            lines.is_empty(),
            "Vulcand ({:?}) could not apply {} change(s):\n{}",
            self.engine,
            lines.len(),
            lines.join("\n")
        );
    }

    /// What Vulcand holds, read through its API, in the shape the etcd views give.
    pub async fn try_snapshot(&self) -> Result<Snapshot, String> {
        let api = self.api_url();
        let get = |path: String| {
            let url = format!("{api}{path}");
            async move {
                let answer = http_get(&url).await.map_err(|e| e.to_string())?;
                if answer.status != 200 {
                    return Err(format!("GET {path}: {} {}", answer.status, answer.body));
                }
                serde_json::from_str::<Value>(&answer.body).map_err(|e| format!("GET {path}: {e}"))
            }
        };
        let mut snapshot = Snapshot::default();
        let backends = get("/v2/backends".into()).await?;
        for b in backends["Backends"].as_array().into_iter().flatten() {
            let id = b["Id"].as_str().unwrap_or_default().to_string();
            let servers = get(format!("/v2/backends/{id}/servers")).await?;
            let view = BackendView {
                backend: Some(json!({"Type": b["Type"]})),
                servers: servers["Servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        let sid = s["Id"].as_str().unwrap_or_default().to_string();
                        (sid, s["URL"].as_str().unwrap_or_default().to_string())
                    })
                    .collect(),
            };
            snapshot.backends.insert(id, view);
        }
        let frontends = get("/v2/frontends".into()).await?;
        for f in frontends["Frontends"].as_array().into_iter().flatten() {
            let id = f["Id"].as_str().unwrap_or_default().to_string();
            let middlewares = get(format!("/v2/frontends/{id}/middlewares")).await?;
            let view = FrontendView {
                frontend: Some(
                    json!({"Type": f["Type"], "BackendId": f["BackendId"], "Route": f["Route"]}),
                ),
                middlewares: middlewares["Middlewares"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|m| {
                        let mid = m["Id"].as_str().unwrap_or_default().to_string();
                        let value = json!({"Type": m["Type"], "Priority": m["Priority"], "Middleware": m["Middleware"]});
                        (mid, value)
                    })
                    .collect::<BTreeMap<_, _>>(),
            };
            snapshot.frontends.insert(id, view);
        }
        Ok(snapshot)
    }
}

/// Reads Vulcand's own state through its API (the store of `--backend vulcand-api`).
#[async_trait]
impl StoreView for Vulcand {
    async fn snapshot(&self) -> Snapshot {
        self.try_snapshot()
            .await
            .unwrap_or_else(|e| panic!("read Vulcand's API: {e}"))
    }
}

/// Vulcand about a request it answered by a route's settings: a rate
/// limit, a failed upstream, a body over `MaxBodyBytes`, a tripped breaker.
fn is_request_line(line: &str) -> bool {
    [
        "limiting request",
        "request failed with",
        "request body over limit",
        "CircuitBreaker(state=",
    ]
    .iter()
    .any(|s| line.contains(s))
}

/// Vulcand about its own etcd connection: its watch failing and restarting,
/// its snapshot read failing while etcd is down.
fn is_connection_line(line: &str) -> bool {
    [
        "etcd cluster is unavailable",
        "engine watcher failed",
        "sup failed to reinit",
        "connection refused",
        "connection reset",
        "context deadline exceeded",
        "transport is closing",
        "Unavailable desc",
    ]
    .iter()
    .any(|s| line.contains(s))
}

impl Drop for Vulcand {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let dir = self.dir.lock().unwrap().take();
            super::child::print_kept_log("Vulcand", dir, "vulcand.log", &self.log_text(), 40);
        }
    }
}
