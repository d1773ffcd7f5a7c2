//! `RawConfig`: the settings as the layers spell them, before validation,
//! with the built-in defaults and the serde helpers that let the environment
//! spell lists and numbers as strings.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

/// etcd's default `--max-txn-ops`.
pub const ETCD_MAX_TXN_OPS: usize = 128;

/// `--docker` when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_DOCKER: &str = "unix:///var/run/docker.sock";

/// The settings as the layers spell them (TOML keys, `HAVOK_*` names, flags).
/// Field docs are the reference; README's flag table mirrors them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `etcd3`, `etcd2` or `vulcand-api`; empty: the first compiled in.
    #[serde(deserialize_with = "lenient_string")]
    pub backend: String,
    /// `unix:///var/run/docker.sock` or `tcp://10.0.0.5:2376`.
    #[serde(deserialize_with = "lenient_string")]
    pub docker: String,
    /// `http://10.0.0.1:2379,http://10.0.0.2:2379`
    #[serde(deserialize_with = "lenient_string")]
    pub etcd_machines: String,
    /// Vulcand's `-etcdKey`: `vulcand`.
    #[serde(deserialize_with = "lenient_string")]
    pub etcd_prefix: String,
    /// Havok's bookkeeping prefix: `havok`.
    #[serde(deserialize_with = "lenient_string")]
    pub state_prefix: String,
    /// `http://127.0.0.1:8182`
    #[serde(deserialize_with = "lenient_string")]
    pub vulcand_api: String,
    /// `10.0.0.5`
    #[serde(deserialize_with = "lenient_string")]
    pub host_ip: String,
    /// `example.com`
    #[serde(deserialize_with = "lenient_string")]
    pub root_domain: String,
    /// `^web-`
    #[serde(deserialize_with = "lenient_string")]
    pub names: String,
    /// `docker-host-7`; empty: Docker's own name for its host.
    #[serde(deserialize_with = "lenient_string")]
    pub node_id: String,
    /// `["team=web"]` (or `"team=web,tier=front"` from the environment).
    #[serde(deserialize_with = "string_list")]
    pub label_filter: Vec<String>,
    /// `["timeout.read=30s"]` (or one `KEY=VALUE` per line from the
    /// environment: a value may hold commas).
    #[serde(deserialize_with = "line_list")]
    pub route_default: Vec<String>,
    pub exposed_by_default: bool,
    pub allow_any_host: bool,
    /// `frontend-net`; empty: route to published ports.
    #[serde(deserialize_with = "lenient_string")]
    pub network: String,
    /// `128`, etcd's default `--max-txn-ops`.
    pub etcd_max_txn_ops: usize,
    /// `http`, `tcp` or `none`.
    #[serde(deserialize_with = "lenient_string")]
    pub probe: String,
    /// `/healthz`
    #[serde(deserialize_with = "lenient_string")]
    pub probe_path: String,
    /// `30s`
    #[serde(deserialize_with = "lenient_string")]
    pub probe_timeout: String,
    /// Requests per second; 0: no ratelimit middleware.
    pub rate_limit: u32,
    pub rate_limit_burst: u32,
    #[serde(deserialize_with = "lenient_string")]
    pub rate_limit_var: String,
    /// Connections; 0: no connlimit middleware.
    pub conn_limit: u32,
    #[serde(deserialize_with = "lenient_string")]
    pub conn_limit_var: String,
    /// `30s`
    #[serde(deserialize_with = "lenient_string")]
    pub ttl: String,
    /// `60s`
    #[serde(deserialize_with = "lenient_string")]
    pub resync_interval: String,
    /// `5s`
    #[serde(deserialize_with = "lenient_string")]
    pub timeout: String,
    /// `10s`
    #[serde(deserialize_with = "lenient_string")]
    pub max_backoff: String,
    pub dry_run: bool,
    pub deregister_on_exit: bool,
    /// `127.0.0.1:9180`; empty: off.
    #[serde(deserialize_with = "lenient_string")]
    pub listen: String,
    /// `text` or `json`.
    #[serde(deserialize_with = "lenient_string")]
    pub log_format: String,
    /// `info`, `debug`, `havok=debug,warn`.
    #[serde(deserialize_with = "lenient_string")]
    pub log_level: String,
    pub etcd_ca: Option<PathBuf>,
    pub etcd_cert: Option<PathBuf>,
    pub etcd_key: Option<PathBuf>,
    #[serde(deserialize_with = "lenient_string")]
    pub etcd_username: String,
    /// Prefer `etcd_password_file`; from `HAVOK_ETCD_PASSWORD` otherwise.
    #[serde(deserialize_with = "lenient_string", skip_serializing)]
    pub etcd_password: String,
    pub etcd_password_file: Option<PathBuf>,
    pub vulcand_ca: Option<PathBuf>,
}

impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            backend: String::new(),
            docker: std::env::var("DOCKER_HOST")
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_DOCKER.into()),
            etcd_machines: "http://127.0.0.1:2379".into(),
            etcd_prefix: "vulcand".into(),
            state_prefix: "havok".into(),
            vulcand_api: "http://127.0.0.1:8182".into(),
            host_ip: "127.0.0.1".into(),
            root_domain: "local".into(),
            names: ".*".into(),
            node_id: String::new(),
            label_filter: Vec::new(),
            route_default: Vec::new(),
            exposed_by_default: true,
            allow_any_host: false,
            network: String::new(),
            etcd_max_txn_ops: ETCD_MAX_TXN_OPS,
            probe: "http".into(),
            probe_path: "/".into(),
            probe_timeout: "30s".into(),
            rate_limit: 0,
            rate_limit_burst: 1,
            rate_limit_var: "client.ip".into(),
            conn_limit: 0,
            conn_limit_var: "client.ip".into(),
            ttl: "30s".into(),
            resync_interval: "60s".into(),
            timeout: "5s".into(),
            max_backoff: "10s".into(),
            dry_run: false,
            deregister_on_exit: false,
            listen: String::new(),
            log_format: "text".into(),
            log_level: "info".into(),
            etcd_ca: None,
            etcd_cert: None,
            etcd_key: None,
            etcd_username: String::new(),
            etcd_password: String::new(),
            etcd_password_file: None,
            vulcand_ca: None,
        }
    }
}

/// Accepts a string, or a number or boolean the environment parsed (`HAVOK_NODE_ID=7`).
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lenient {
        S(String),
        U(u64),
        I(i64),
        F(f64),
        B(bool),
    }
    Ok(match Lenient::deserialize(d)? {
        Lenient::S(s) => s,
        Lenient::U(n) => n.to_string(),
        Lenient::I(n) => n.to_string(),
        Lenient::F(n) => n.to_string(),
        Lenient::B(b) => b.to_string(),
    })
}

/// A list, or one string of lines (`HAVOK_ROUTE_DEFAULT`: a value may hold commas).
fn line_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list_or_split(d, '\n')
}

/// Accepts a list, or one comma-separated string (`HAVOK_LABEL_FILTER=a=b,c=d`).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list_or_split(d, ',')
}

/// A list as it is, or one string split at `separator`, items trimmed, empty ones dropped.
fn list_or_split<'de, D: Deserializer<'de>>(
    d: D,
    separator: char,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(separator)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}
