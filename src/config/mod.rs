//! One validated `Config` from four layers merged by figment: built-in
//! defaults < `--config FILE` (TOML) < `HAVOK_*` environment < flags.
//!
//! - `raw`: [`RawConfig`], the settings as the layers spell them, and the defaults.
//! - `build`: one builder per section of the core settings.
//! - `store`: [`StoreSettings`], the store settings as given: the chosen
//!   backend validates its own (at start, before anything runs), so this
//!   module never looks at them.
//!
//! Every error is one line naming the bad value and what is expected; main
//! exits with status 2 on it.

mod build;
mod raw;
mod store;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::Serialize;

pub use build::validate_node_id;
pub use raw::{RawConfig, DEFAULT_DOCKER, ETCD_MAX_TXN_OPS};
pub use store::{Secret, StoreSettings};

use crate::cli::Cli;
use crate::model::Rules;
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

/// The names `--backend` accepts: only names here; which are compiled
/// in, and what each needs, is decided where the sinks are built.
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

/// The validated configuration havok runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `--backend`; `None`: not named, the first compiled in is used.
    pub backend: Option<BackendKind>,
    pub docker: String,
    /// Empty: ask Docker.
    pub node_id: Option<String>,
    pub rules: Rules,
    /// `--probe`, `--probe-path`, `--probe-timeout`: when a routed container is ready.
    pub probe: ProbeRules,
    pub ttl: Duration,
    pub resync_interval: Duration,
    pub timeout: Duration,
    pub max_backoff: Duration,
    pub dry_run: bool,
    pub deregister_on_exit: bool,
    pub listen: Option<SocketAddr>,
    pub log_json: bool,
    pub log_level: String,
    /// Where routes are written, unchecked: the chosen backend validates its part.
    pub store: StoreSettings,
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

    /// Validates each section of `raw` in turn; the first bad value is the error.
    pub fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let backend = build::backend(&raw)?;
        let rules = build::rules(&raw)?;
        let docker = build::docker(&raw)?;
        let timing = build::timing(&raw)?;
        let listen = build::listen(&raw)?;
        let log_json = build::log_json(&raw)?;
        let log_level = build::log_level(&raw)?;
        let probe = build::probe(&raw)?;
        let node_id = build::node_id(&raw)?;
        Ok(Config {
            backend,
            docker,
            node_id,
            rules,
            probe,
            ttl: timing.ttl,
            resync_interval: timing.resync_interval,
            timeout: timing.timeout,
            max_backoff: timing.max_backoff,
            dry_run: raw.dry_run,
            deregister_on_exit: raw.deregister_on_exit,
            listen,
            log_json,
            log_level,
            store: StoreSettings::from_raw(&raw),
        })
    }
}

/// The setting names `HAVOK_*` variables may set; other `HAVOK_*` variables are not havok's settings.
pub fn known_keys() -> Vec<String> {
    let mut keys: Vec<String> = match serde_json::to_value(RawConfig::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    keys.push("etcd_password".into());
    keys
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
mod tests;
