//! One validated `Config` from four layers merged by figment: built-in
//! defaults < `--config FILE` (TOML) < `HAVOK_*` environment < flags.
//!
//! Every error is one line naming the bad value and what is expected; main
//! exits with status 2 on it.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize};

use crate::cli::Cli;
use crate::model::{ConnLimit, Limits, RateLimit, Rules};
use crate::readiness::ProbeRules;

/// A configuration error: one line, exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

fn invalid(msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(msg.into())
}

/// The backends `--backend` can name; whether each is compiled in is `crate::backends`' business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BackendKind {
    Etcd3,
    Etcd2,
    VulcandApi,
}

impl BackendKind {
    pub const ALL: [BackendKind; 3] = [
        BackendKind::Etcd3,
        BackendKind::Etcd2,
        BackendKind::VulcandApi,
    ];

    /// The `--backend` word, which is also the Cargo feature.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Etcd3 => "etcd3",
            BackendKind::Etcd2 => "etcd2",
            BackendKind::VulcandApi => "vulcand-api",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackendKind {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        BackendKind::ALL
            .into_iter()
            .find(|b| b.as_str() == s)
            .ok_or_else(|| {
                invalid(format!(
                    "unknown backend {s:?}: expected etcd3, etcd2 or vulcand-api"
                ))
            })
    }
}

/// A password or other secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

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

/// Accepts a list, or one comma-separated string (`HAVOK_LABEL_FILTER=a=b,c=d`).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

/// TLS material for a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM of the CA that signs the servers, read at start.
    pub ca: Option<Vec<u8>>,
    /// PEM client certificate and key, read at start.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// The validated configuration havok runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: BackendKind,
    pub docker: String,
    pub etcd_machines: Vec<String>,
    pub etcd_prefix: String,
    pub state_prefix: String,
    pub vulcand_api: String,
    /// Empty: ask Docker.
    pub node_id: Option<String>,
    pub rules: Rules,
    /// `--probe`, `--probe-path`, `--probe-timeout`: when a routed container is ready.
    pub probe: ProbeRules,
    /// `--etcd-max-txn-ops`: the most operations in one etcd v3 transaction.
    pub etcd_max_txn_ops: usize,
    pub ttl: Duration,
    pub resync_interval: Duration,
    pub timeout: Duration,
    pub max_backoff: Duration,
    pub dry_run: bool,
    pub deregister_on_exit: bool,
    pub listen: Option<SocketAddr>,
    pub log_json: bool,
    pub log_level: String,
    pub etcd_tls: Option<TlsFiles>,
    pub etcd_auth: Option<(String, Secret)>,
    pub vulcand_ca: Option<Vec<u8>>,
}

impl Config {
    /// Merges the layers for `cli` (environment from the process) and validates.
    pub fn load(cli: &Cli) -> Result<Config, ConfigError> {
        let raw = Config::figment(cli)?.extract().map_err(|e| {
            // A TOML syntax error carries no source: it can only be the file's.
            let from_file = e
                .metadata
                .is_none()
                .then_some(cli.config.as_deref())
                .flatten();
            match (one_line(e), from_file) {
                (ConfigError::Invalid(msg), Some(path)) => {
                    invalid(format!("{msg} in {}", path.display()))
                }
                (other, _) => other,
            }
        })?;
        Config::from_raw(raw)
    }

    /// The four layers, lowest first.
    pub fn figment(cli: &Cli) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(path) = &cli.config {
            // Read once here so a missing or unreadable file is an error, not an empty layer.
            std::fs::read(path).map_err(|e| ConfigError::File {
                what: "config file",
                path: path.clone(),
                reason: e.to_string(),
            })?;
            figment = figment.merge(Toml::file_exact(path));
        }
        Ok(figment
            .merge(
                Env::prefixed("HAVOK_")
                    .filter(|key| known_keys().iter().any(|k| key == k.as_str())),
            )
            .merge(Serialized::defaults(cli)))
    }

    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let backend = if raw.backend.trim().is_empty() {
            crate::backends::default_backend()
        } else {
            raw.backend.trim().parse()?
        };
        crate::backends::ensure_compiled(backend)?;

        let names = Regex::new(&raw.names).map_err(|e| {
            invalid(format!(
                "--names {:?} is not a valid regular expression: {}",
                raw.names,
                e.to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .trim_start_matches("error: ")
            ))
        })?;
        let host_ip: IpAddr = raw.host_ip.trim().parse().map_err(|_| {
            invalid(format!(
                "--host-ip {:?} is not an IP address (expected e.g. 10.0.0.5)",
                raw.host_ip
            ))
        })?;
        let root_domain = crate::model::normalize_host(raw.root_domain.trim()).map_err(|_| {
            invalid(format!(
                "--root-domain {:?} is not a valid DNS name (expected e.g. example.com)",
                raw.root_domain
            ))
        })?;
        let mut rules = Rules::new(names, &root_domain, host_ip);
        for pair in &raw.label_filter {
            match pair.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => rules
                    .label_filters
                    .push((k.trim().to_string(), v.trim().to_string())),
                _ => {
                    return Err(invalid(format!(
                        "--label-filter {pair:?}: expected KEY=VALUE"
                    )))
                }
            }
        }
        rules.exposed_by_default = raw.exposed_by_default;
        rules.allow_any_host = raw.allow_any_host;
        rules.network = non_empty(&raw.network);
        rules.limits = Limits {
            rate: (raw.rate_limit > 0).then(|| RateLimit {
                requests: raw.rate_limit,
                burst: raw.rate_limit_burst.max(1),
                variable: raw.rate_limit_var.clone(),
            }),
            conn: (raw.conn_limit > 0).then(|| ConnLimit {
                connections: raw.conn_limit,
                variable: raw.conn_limit_var.clone(),
            }),
        };

        let etcd_machines: Vec<String> = raw
            .etcd_machines
            .split(',')
            .map(|m| m.trim().trim_end_matches('/').to_string())
            .filter(|m| !m.is_empty())
            .collect();
        if etcd_machines.is_empty() {
            return Err(invalid(
                "--etcd-machines is empty: expected URLs such as http://127.0.0.1:2379",
            ));
        }
        for m in &etcd_machines {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(invalid(format!(
                    "--etcd-machines entry {m:?}: expected an http:// or https:// URL"
                )));
            }
        }
        if !(raw.docker.starts_with("unix://")
            || raw.docker.starts_with("tcp://")
            || raw.docker.starts_with("http://")
            || raw.docker.starts_with("https://"))
        {
            return Err(invalid(format!(
                "--docker {:?}: expected unix:///path/to/docker.sock or tcp://host:port",
                raw.docker
            )));
        }
        if !(raw.vulcand_api.starts_with("http://") || raw.vulcand_api.starts_with("https://")) {
            return Err(invalid(format!(
                "--vulcand-api {:?}: expected an http:// or https:// URL",
                raw.vulcand_api
            )));
        }
        let etcd_prefix = raw.etcd_prefix.trim().to_string();
        if etcd_prefix.is_empty() || etcd_prefix.trim_matches('/').is_empty() {
            return Err(invalid(
                "--etcd-prefix is empty: expected Vulcand's -etcdKey, e.g. vulcand",
            ));
        }
        let state_prefix = raw.state_prefix.trim().trim_end_matches('/').to_string();
        if state_prefix.is_empty()
            || state_prefix.trim_start_matches('/') == etcd_prefix.trim_matches('/')
        {
            return Err(invalid(format!(
                "--state-prefix {:?}: expected a prefix of its own, outside --etcd-prefix",
                raw.state_prefix
            )));
        }

        let ttl = duration("--ttl", &raw.ttl)?;
        if ttl < Duration::from_secs(3) {
            return Err(invalid(format!(
                "--ttl {:?} is too short: expected at least 3s",
                raw.ttl
            )));
        }
        let resync_interval = duration("--resync-interval", &raw.resync_interval)?;
        let timeout = duration("--timeout", &raw.timeout)?;
        let max_backoff = duration("--max-backoff", &raw.max_backoff)?;
        for (flag, value, d) in [
            ("--resync-interval", &raw.resync_interval, resync_interval),
            ("--timeout", &raw.timeout, timeout),
            ("--max-backoff", &raw.max_backoff, max_backoff),
        ] {
            if d.is_zero() {
                return Err(invalid(format!(
                    "{flag} {value:?}: expected a duration above zero"
                )));
            }
        }

        let listen = match non_empty(&raw.listen) {
            None => None,
            Some(addr) => Some(addr.parse().map_err(|_| {
                invalid(format!(
                    "--listen {addr:?}: expected ADDRESS:PORT such as 127.0.0.1:9180"
                ))
            })?),
        };
        let log_json = match raw.log_format.trim() {
            "text" | "" => false,
            "json" => true,
            other => {
                return Err(invalid(format!(
                    "--log-format {other:?}: expected text or json"
                )))
            }
        };
        tracing_subscriber::EnvFilter::try_new(&raw.log_level).map_err(|e| {
            invalid(format!(
                "--log-level {:?}: expected a level such as info or debug ({e})",
                raw.log_level
            ))
        })?;

        let etcd_tls = match (&raw.etcd_ca, &raw.etcd_cert, &raw.etcd_key) {
            (None, None, None) => None,
            (ca, cert, key) => {
                let identity = match (cert, key) {
                    (Some(c), Some(k)) => {
                        Some((read_pem("--etcd-cert", c)?, read_pem("--etcd-key", k)?))
                    }
                    (None, None) => None,
                    _ => {
                        return Err(invalid(
                            "--etcd-cert and --etcd-key go together: expected both or neither",
                        ))
                    }
                };
                let ca = ca.as_ref().map(|p| read_pem("--etcd-ca", p)).transpose()?;
                Some(TlsFiles { ca, identity })
            }
        };
        let password = match &raw.etcd_password_file {
            Some(path) => Some(
                String::from_utf8_lossy(&read_file("--etcd-password-file", path)?)
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            None => non_empty(&raw.etcd_password),
        };
        let etcd_auth = match (non_empty(&raw.etcd_username), password) {
            (Some(user), Some(pw)) => Some((user, Secret(pw))),
            (Some(user), None) => {
                return Err(invalid(format!(
                    "--etcd-username {user:?} has no password: expected HAVOK_ETCD_PASSWORD or --etcd-password-file"
                )))
            }
            (None, Some(_)) => return Err(invalid("an etcd password is set without --etcd-username")),
            (None, None) => None,
        };
        let vulcand_ca = raw
            .vulcand_ca
            .as_ref()
            .map(|p| read_pem("--vulcand-ca", p))
            .transpose()?;

        let probe = probe_rules(&raw)?;
        if raw.etcd_max_txn_ops < MIN_TXN_OPS {
            return Err(invalid(format!(
                "--etcd-max-txn-ops {}: expected at least {MIN_TXN_OPS} (one route's backend, frontend, middlewares and a server)",
                raw.etcd_max_txn_ops
            )));
        }
        Ok(Config {
            backend,
            docker: raw.docker.trim().to_string(),
            etcd_machines,
            etcd_prefix,
            state_prefix,
            vulcand_api: raw.vulcand_api.trim().trim_end_matches('/').to_string(),
            node_id: non_empty(&raw.node_id)
                .map(|n| validate_node_id(&n))
                .transpose()?,
            rules,
            probe,
            etcd_max_txn_ops: raw.etcd_max_txn_ops,
            ttl,
            resync_interval,
            timeout,
            max_backoff,
            dry_run: raw.dry_run,
            deregister_on_exit: raw.deregister_on_exit,
            listen,
            log_json,
            log_level: raw.log_level,
            etcd_tls,
            etcd_auth,
            vulcand_ca,
        })
    }
}

/// etcd's default `--max-txn-ops`.
const ETCD_MAX_TXN_OPS: usize = 128;

/// One route's put with one server: backend, server, record, frontend, two
/// middlewares, marker; and room for the guard's compares.
const MIN_TXN_OPS: usize = 8;

/// `--probe`, `--probe-path` and `--probe-timeout`, validated.
fn probe_rules(raw: &RawConfig) -> Result<ProbeRules, ConfigError> {
    let kind = raw.probe.parse().map_err(|()| {
        invalid(format!(
            "--probe {:?}: expected http, tcp or none",
            raw.probe
        ))
    })?;
    let path = raw.probe_path.trim();
    if !path.starts_with('/') || path.contains(char::is_whitespace) {
        return Err(invalid(format!(
            "--probe-path {:?}: expected a URL path starting with / (such as /healthz)",
            raw.probe_path
        )));
    }
    let timeout = duration("--probe-timeout", &raw.probe_timeout)?;
    if timeout.is_zero() {
        return Err(invalid(format!(
            "--probe-timeout {:?}: expected a duration above zero, such as 30s",
            raw.probe_timeout
        )));
    }
    Ok(ProbeRules {
        kind,
        path: path.to_string(),
        timeout,
    })
}

/// `--docker` when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_DOCKER: &str = "unix:///var/run/docker.sock";

/// The setting names `HAVOK_*` variables may set (`etcd_machines` is
/// `HAVOK_ETCD_MACHINES`); other `HAVOK_*` variables are not havok's settings.
/// `havok generate-docs` writes the packages' `/etc/default/havok` from it.
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(RawConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.push("etcd_password".into());
    keys
}

/// A node id goes into keys and server ids: letters, digits, `.`, `_`, `-`, at most 128.
pub fn validate_node_id(node: &str) -> Result<String, ConfigError> {
    let ok = !node.is_empty()
        && node.len() <= 128
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(node.to_string())
    } else {
        Err(invalid(format!(
            "--node-id {node:?}: expected letters, digits, '.', '_' or '-' (at most 128)"
        )))
    }
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn duration(flag: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|_| {
        invalid(format!(
            "{flag} {value:?} is not a duration: expected e.g. 30s, 1m, 500ms"
        ))
    })
}

fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::File {
        what: flag,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if bytes.is_empty() {
        return Err(ConfigError::File {
            what: flag,
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok(bytes)
}

/// Reads a certificate or key file and checks that it is PEM: the TLS
/// libraries only parse it at the first connection, where a wrong file would
/// look like an unreachable store and be retried forever.
fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = read_file(flag, path)?;
    if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        return Err(ConfigError::File {
            what: flag,
            path: path.to_path_buf(),
            reason: "not a PEM file (expected a -----BEGIN ...----- block)".into(),
        });
    }
    Ok(bytes)
}

/// figment errors can span lines (one per source); keep the first, which names key and value.
fn one_line(e: figment::Error) -> ConfigError {
    let kind = e.kind.to_string();
    let mut what = kind
        .lines()
        .next()
        .unwrap_or("invalid configuration")
        .trim();
    if what.starts_with("unknown field") {
        // figment lists every known field; --help lists them readably.
        what = what.split(", expected").next().unwrap_or(what);
    }
    let path: Vec<&str> = e
        .path
        .iter()
        .map(String::as_str)
        .filter(|p| *p != "default")
        .collect();
    let key = if path.is_empty() {
        String::new()
    } else {
        format!(" for setting {:?}", path.join(".").to_ascii_lowercase())
    };
    let origin = match &e.metadata {
        Some(md) => match &md.source {
            Some(source) => format!(" in {source}"),
            None => format!(" in {}", md.name),
        },
        None => String::new(),
    };
    invalid(format!("{what}{key}{origin}"))
}

#[cfg(test)]
// figment's Jail closures return figment::Error, which clippy finds large.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn cli(args: &[&str]) -> Cli {
        let mut all = vec!["havok"];
        all.extend_from_slice(args);
        Cli::parse_args(all).unwrap()
    }

    fn raw(args: &[&str]) -> RawConfig {
        Config::figment(&cli(args)).unwrap().extract().unwrap()
    }

    /// Each layer beats the one below it; a flag the user did not type beats nothing.
    #[test]
    fn precedence() {
        Jail::expect_with(|jail| {
            jail.create_file("havok.toml", "root_domain = \"file.example\"\nnames = \"^file-\"\nhost_ip = \"10.0.0.1\"\nttl = \"20s\"")?;
            // defaults only
            assert_eq!(raw(&[]).root_domain, "local");
            assert_eq!(raw(&[]).names, ".*");
            // file beats defaults
            let r = raw(&["--config", "havok.toml"]);
            assert_eq!(
                (r.root_domain.as_str(), r.names.as_str(), r.ttl.as_str()),
                ("file.example", "^file-", "20s")
            );
            // environment beats the file
            jail.set_env("HAVOK_ROOT_DOMAIN", "env.example");
            jail.set_env("HAVOK_TTL", "40s");
            let r = raw(&["--config", "havok.toml"]);
            assert_eq!(
                (r.root_domain.as_str(), r.names.as_str(), r.ttl.as_str()),
                ("env.example", "^file-", "40s")
            );
            // flags beat the environment; untyped flags leave file and env alone
            let r = raw(&["--config", "havok.toml", "-root-domain", "flag.example"]);
            assert_eq!(r.root_domain, "flag.example");
            assert_eq!(r.names, "^file-");
            assert_eq!(r.host_ip, "10.0.0.1");
            assert_eq!(r.ttl, "40s");
            Ok(())
        });
    }

    /// Environment values that look like numbers or lists still work.
    #[test]
    fn environment_values() {
        Jail::expect_with(|jail| {
            jail.set_env("HAVOK_NODE_ID", "7");
            jail.set_env("HAVOK_LABEL_FILTER", "team=web,tier=front");
            jail.set_env("HAVOK_EXPOSED_BY_DEFAULT", "false");
            jail.set_env("HAVOK_ETCD_MACHINES", "http://a:2379,http://b:2379");
            let c = Config::load(&cli(&[])).unwrap();
            assert_eq!(c.node_id.as_deref(), Some("7"));
            assert_eq!(
                c.rules.label_filters,
                vec![
                    ("team".into(), "web".into()),
                    ("tier".into(), "front".into())
                ]
            );
            assert!(!c.rules.exposed_by_default);
            assert_eq!(c.etcd_machines, vec!["http://a:2379", "http://b:2379"]);
            Ok(())
        });
    }

    /// Documented defaults.
    #[test]
    fn defaults() {
        Jail::expect_with(|jail| {
            jail.set_env("DOCKER_HOST", "");
            let c = Config::load(&cli(&[])).unwrap();
            assert_eq!(c.docker, "unix:///var/run/docker.sock");
            assert_eq!(c.etcd_machines, vec!["http://127.0.0.1:2379"]);
            assert_eq!(c.etcd_prefix, "vulcand");
            assert_eq!(c.rules.root_domain, "local");
            assert_eq!(c.rules.host_ip.to_string(), "127.0.0.1");
            assert_eq!(c.rules.names.as_str(), ".*");
            assert_eq!(c.ttl, Duration::from_secs(30));
            assert_eq!(c.resync_interval, Duration::from_secs(60));
            assert_eq!(c.vulcand_api, "http://127.0.0.1:8182");
            assert!(!c.dry_run && !c.deregister_on_exit && c.listen.is_none());
            jail.set_env("DOCKER_HOST", "tcp://10.1.1.1:2375");
            assert_eq!(
                Config::load(&cli(&[])).unwrap().docker,
                "tcp://10.1.1.1:2375"
            );
            Ok(())
        });
    }

    /// Each row: bad input and a piece of the one-line error that must name it.
    #[test]
    fn bad_values_are_one_line_errors() {
        let cases: [(&[&str], &str); 11] = [
            (&["--node-id", "a/b"], "--node-id \"a/b\": expected letters"),
            (
                &["-names", "(["],
                "--names \"([\" is not a valid regular expression",
            ),
            (
                &["--backend", "consul"],
                "unknown backend \"consul\": expected etcd3, etcd2 or vulcand-api",
            ),
            (
                &["-host-ip", "nope"],
                "--host-ip \"nope\" is not an IP address",
            ),
            (&["-root-domain", "a b"], "--root-domain \"a b\""),
            (&["--ttl", "soon"], "--ttl \"soon\" is not a duration"),
            (&["--ttl", "1s"], "--ttl \"1s\" is too short"),
            (
                &["-etcd-machines", "127.0.0.1:2379"],
                "--etcd-machines entry \"127.0.0.1:2379\"",
            ),
            (
                &["--label-filter", "novalue"],
                "--label-filter \"novalue\": expected KEY=VALUE",
            ),
            (
                &["--etcd-ca", "/nonexistent/ca.pem"],
                "cannot read --etcd-ca /nonexistent/ca.pem",
            ),
            (&["--log-format", "xml"], "--log-format \"xml\""),
        ];
        for (args, want) in cases {
            Jail::expect_with(|_| {
                let err = Config::load(&cli(args)).unwrap_err().to_string();
                assert!(err.contains(want), "{args:?}: {err}");
                assert!(!err.contains('\n'), "{args:?}: more than one line: {err}");
                Ok(())
            });
        }
    }

    /// An unparsable config file and an unknown key are one-line errors naming them.
    #[test]
    fn bad_config_file() {
        Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "root_domain = ")?;
            let err = Config::load(&cli(&["--config", "bad.toml"]))
                .unwrap_err()
                .to_string();
            assert!(!err.contains('\n') && !err.is_empty(), "{err}");
            jail.create_file("typo.toml", "root_domian = \"x\"")?;
            let err = Config::load(&cli(&["--config", "typo.toml"]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("root_domian"), "{err}");
            let err = Config::load(&cli(&["--config", "missing.toml"]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("missing.toml"), "{err}");
            Ok(())
        });
    }

    /// The password never shows in Debug output.
    #[test]
    fn secrets_are_hidden() {
        Jail::expect_with(|jail| {
            jail.create_file("pw", "hunter2\n")?;
            let c = Config::load(&cli(&[
                "--etcd-username",
                "root",
                "--etcd-password-file",
                "pw",
            ]))
            .unwrap();
            assert_eq!(c.etcd_auth.as_ref().unwrap().1.expose(), "hunter2");
            assert!(!format!("{c:?}").contains("hunter2"));
            Ok(())
        });
    }
}
