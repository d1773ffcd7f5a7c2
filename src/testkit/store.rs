//! What Vulcand would read, normalized: a `Snapshot` of backends, servers,
//! frontends and middlewares, so one list of scenarios can check every store.
//! The etcd v3 and v2 views read the keys of `havok::vulcand::Layout`; the
//! Vulcand API view lives in `vulcand_contract`.

use std::collections::BTreeMap;

use crate::ids::RouteKey;
use async_trait::async_trait;
use serde_json::Value;

/// A route's backend as stored: its value, if present, and its servers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BackendView {
    pub backend: Option<Value>,
    /// server id -> URL (the raw text when the value is not `{"URL": …}`).
    pub servers: BTreeMap<String, String>,
}

/// A route's frontend as stored: its value, if present, and its middlewares.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrontendView {
    pub frontend: Option<Value>,
    /// middleware id -> value.
    pub middlewares: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// backend id -> (backend JSON value if present, servers: server id -> URL)
    pub backends: BTreeMap<String, BackendView>,
    /// frontend id -> frontend JSON value + middlewares (id -> JSON)
    pub frontends: BTreeMap<String, FrontendView>,
    /// Keys under the prefix that are not of Vulcand's layout (relative key ->
    /// value): kept, so that "nothing left" also means nothing stray.
    pub unknown: BTreeMap<String, String>,
}

impl Snapshot {
    /// The servers' URLs of the route for `host`, sorted; empty if none.
    pub fn urls(&self, host: &str) -> Vec<String> {
        let id = RouteKey::host(host).id();
        let mut urls: Vec<String> = self
            .backends
            .get(id.as_str())
            .map(|b| b.servers.values().cloned().collect())
            .unwrap_or_default();
        urls.sort();
        urls
    }

    /// Whether the host's backend and frontend both exist.
    pub fn has_route(&self, host: &str) -> bool {
        let id = RouteKey::host(host).id();
        let backend = self.backends.get(id.as_str());
        let frontend = self.frontends.get(id.as_str());
        backend.is_some_and(|b| b.backend.is_some())
            && frontend.is_some_and(|f| f.frontend.is_some())
    }

    /// The host's backend, servers, frontend and middlewares, if any of them exists.
    pub fn route(&self, host: &str) -> (Option<&BackendView>, Option<&FrontendView>) {
        let id = RouteKey::host(host).id();
        (
            self.backends.get(id.as_str()),
            self.frontends.get(id.as_str()),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.backends.is_empty() && self.frontends.is_empty() && self.unknown.is_empty()
    }

    /// Files every key of an etcd v2 tree (a `GET …?recursive=true` node)
    /// under `prefix` (`/vulcand`).
    pub fn add_v2_tree(&mut self, node: &Value, prefix: &str) {
        let dir = format!("{}/", prefix.trim_end_matches('/'));
        for (key, value) in v2_leaves(node) {
            if let Some(relative) = key.strip_prefix(&dir) {
                self.insert(relative, value);
            }
        }
    }

    /// Files one stored key (relative to the prefix, e.g.
    /// `backends/<bid>/servers/<sid>`) and its value; other keys go to `unknown`.
    pub fn insert(&mut self, relative_key: &str, value: &str) {
        let json = || serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()));
        let parts: Vec<&str> = relative_key.split('/').collect();
        match parts.as_slice() {
            ["backends", bid, "backend"] => {
                self.backends.entry(bid.to_string()).or_default().backend = Some(json());
            }
            ["backends", bid, "servers", sid] => {
                let url = match json() {
                    Value::Object(o) => match o.get("URL") {
                        Some(Value::String(url)) => url.clone(),
                        _ => value.to_string(),
                    },
                    _ => value.to_string(),
                };
                let backend = self.backends.entry(bid.to_string()).or_default();
                backend.servers.insert(sid.to_string(), url);
            }
            ["frontends", fid, "frontend"] => {
                self.frontends.entry(fid.to_string()).or_default().frontend = Some(json());
            }
            ["frontends", fid, "middlewares", mid] => {
                let frontend = self.frontends.entry(fid.to_string()).or_default();
                frontend.middlewares.insert(mid.to_string(), json());
            }
            _ => {
                self.unknown
                    .insert(relative_key.to_string(), value.to_string());
            }
        }
    }
}

/// A store Vulcand reads, as a [`Snapshot`]. Panics when the store cannot be
/// read (the views' `try_snapshot` returns the error instead).
#[async_trait]
pub trait StoreView: Send + Sync {
    async fn snapshot(&self) -> Snapshot;
}

/// A view shared with the task that also drives it (a fixture's Vulcand).
#[async_trait]
impl<T: StoreView + ?Sized> StoreView for std::sync::Arc<T> {
    async fn snapshot(&self) -> Snapshot {
        self.as_ref().snapshot().await
    }
}

/// Everything under `<prefix>/` in etcd v3 (Vulcand `-etcdApiVer=3`; default prefix `vulcand`, no leading slash).
#[cfg(feature = "etcd3")]
pub struct Etcd3View {
    endpoints: Vec<String>,
    prefix: String,
}

#[cfg(feature = "etcd3")]
impl Etcd3View {
    pub fn new(endpoints: &[String]) -> Etcd3View {
        Etcd3View {
            endpoints: endpoints.to_vec(),
            prefix: "vulcand".to_string(),
        }
    }

    /// Vulcand's `-etcdKey` when it is not `vulcand`.
    pub fn with_prefix(mut self, prefix: &str) -> Etcd3View {
        self.prefix = prefix.trim_end_matches('/').to_string();
        self
    }

    /// Connects afresh each time, so the view outlives etcd restarts.
    pub async fn try_snapshot(&self) -> Result<Snapshot, String> {
        use std::time::Duration;

        use etcd_client::{Client, ConnectOptions, GetOptions};
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(5));
        let fail = |e: etcd_client::Error| format!("etcd v3 at {:?}: {e}", self.endpoints);
        let mut client = Client::connect(&self.endpoints, Some(options))
            .await
            .map_err(fail)?;
        let dir = format!("{}/", self.prefix);
        let response = client
            .get(dir.as_bytes(), Some(GetOptions::new().with_prefix()))
            .await
            .map_err(fail)?;
        let mut snapshot = Snapshot::default();
        for kv in response.kvs() {
            let key = String::from_utf8_lossy(kv.key());
            let value = String::from_utf8_lossy(kv.value());
            snapshot.insert(&key[dir.len()..], &value);
        }
        Ok(snapshot)
    }
}

#[cfg(feature = "etcd3")]
#[async_trait]
impl StoreView for Etcd3View {
    /// Retries for a few seconds: with one cluster member down, a fresh
    /// client's first request may still pick the dead member.
    async fn snapshot(&self) -> Snapshot {
        let mut last = String::new();
        for _ in 0..30 {
            match self.try_snapshot().await {
                Ok(snapshot) => return snapshot,
                Err(e) => last = e,
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{last}")
    }
}

/// Everything under `<prefix>/` in etcd v2 (Vulcand `-etcdApiVer=2`; default prefix `/vulcand`).
#[cfg(feature = "etcd2")]
pub struct Etcd2View {
    endpoints: Vec<String>,
    prefix: String,
    client: reqwest::Client,
}

#[cfg(feature = "etcd2")]
impl Etcd2View {
    pub fn new(endpoints: &[String]) -> Etcd2View {
        Etcd2View {
            endpoints: endpoints.to_vec(),
            prefix: "/vulcand".to_string(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .expect("build a reqwest client"),
        }
    }

    /// Vulcand's `-etcdKey` when it is not `vulcand` (a leading slash is added).
    pub fn with_prefix(mut self, prefix: &str) -> Etcd2View {
        self.prefix = format!("/{}", prefix.trim_matches('/'));
        self
    }

    /// A quorum read from the first endpoint that answers.
    pub async fn try_snapshot(&self) -> Result<Snapshot, String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!(
                "{}/v2/keys{}?recursive=true&quorum=true",
                endpoint.trim_end_matches('/'),
                self.prefix
            );
            match self.read(&url).await {
                Ok(snapshot) => return Ok(snapshot),
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        Err(format!("etcd v2: {}", errors.join("; ")))
    }

    async fn read(&self, url: &str) -> Result<Snapshot, String> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| e.to_string())?;
        let mut snapshot = Snapshot::default();
        match status.as_u16() {
            200 => snapshot.add_v2_tree(&body["node"], &self.prefix),
            // errorCode 100: the prefix does not exist yet.
            404 if body["errorCode"] == 100 => {}
            _ => return Err(format!("{status}: {body}")),
        }
        Ok(snapshot)
    }
}

#[cfg(feature = "etcd2")]
#[async_trait]
impl StoreView for Etcd2View {
    async fn snapshot(&self) -> Snapshot {
        self.try_snapshot().await.unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Every key of the whole etcd at `url`, with its value: the v3 keyspace
/// (`v3 <key>`) and the v2 one (`v2 <key>`, leaves only). For "wrote
/// nothing" checks, which must not depend on which prefix a write went to.
pub async fn etcd_keyspace(url: &str) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    #[cfg(feature = "etcd3")]
    {
        use etcd_client::{Client, GetOptions};
        let mut client = Client::connect([url], None)
            .await
            .unwrap_or_else(|e| panic!("etcd v3 at {url}: {e}"));
        let response = client
            .get(vec![0u8], Some(GetOptions::new().with_from_key()))
            .await
            .unwrap_or_else(|e| panic!("etcd v3 at {url}: {e}"));
        for kv in response.kvs() {
            all.insert(
                format!("v3 {}", String::from_utf8_lossy(kv.key())),
                String::from_utf8_lossy(kv.value()).into_owned(),
            );
        }
    }
    let root: Value = reqwest::Client::new()
        .get(format!("{url}/v2/keys/?recursive=true&quorum=true"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("etcd v2 at {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("etcd v2 at {url}: {e}"));
    for (key, value) in v2_leaves(&root["node"]) {
        all.insert(format!("v2 {key}"), value.to_string());
    }
    all
}

/// Every key with a value in an etcd v2 tree, depth first.
pub fn v2_leaves(node: &Value) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    for child in node["nodes"].as_array().into_iter().flatten() {
        out.extend(v2_leaves(child));
    }
    if let (Some(key), Some(value)) = (node["key"].as_str(), node["value"].as_str()) {
        out.push((key, value));
    }
    out
}
