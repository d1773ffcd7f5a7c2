//! The per-section builders `Config::from_raw` runs: each validates one part
//! of a `RawConfig` (Docker, routing rules and limits, probe, timing, listen
//! and logging, node id) into what `Config` holds, or fails with one line
//! naming the bad value.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use regex::Regex;

use super::raw::RawConfig;
use super::{invalid, BackendKind, ConfigError};
use crate::model::{ConnLimit, Limits, RateLimit, Rules};
use crate::readiness::ProbeRules;

/// The shortest `--ttl`: server keys are refreshed every third of it (etcd
/// v2: two thirds), so shorter would mean more than one write a second per server.
const MIN_TTL: Duration = Duration::from_secs(3);

/// A node id goes into keys and server ids; longer ids make unwieldy keys.
const MAX_NODE_ID: usize = 128;

/// `--backend`; `None`: not named, the default applies.
pub(super) fn backend(raw: &RawConfig) -> Result<Option<BackendKind>, ConfigError> {
    non_empty(&raw.backend).map(|b| b.parse()).transpose()
}

/// `--docker`: a URL bollard can dial.
pub(super) fn docker(raw: &RawConfig) -> Result<String, ConfigError> {
    let ok = ["unix://", "tcp://", "http://", "https://"]
        .iter()
        .any(|scheme| raw.docker.starts_with(scheme));
    if !ok {
        return Err(invalid(format!(
            "--docker {:?}: expected unix:///path/to/docker.sock or tcp://host:port",
            raw.docker
        )));
    }
    Ok(raw.docker.trim().to_string())
}

/// Which containers are routed and how: `--names`, `--host-ip`,
/// `--root-domain`, `--label-filter`, `--network`, the exposure switches and
/// the limits.
pub(super) fn rules(raw: &RawConfig) -> Result<Rules, ConfigError> {
    let mut rules = Rules::new(names(raw)?, &root_domain(raw)?, host_ip(raw)?);
    rules.label_filters = label_filters(raw)?;
    rules.route_defaults = route_defaults(raw)?;
    rules.exposed_by_default = raw.exposed_by_default;
    rules.allow_any_host = raw.allow_any_host;
    rules.network = non_empty(&raw.network);
    rules.limits = limits(raw);
    Ok(rules)
}

fn names(raw: &RawConfig) -> Result<Regex, ConfigError> {
    Regex::new(&raw.names).map_err(|e| {
        // regex's message spans lines; its last line says what is wrong.
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
    })
}

fn host_ip(raw: &RawConfig) -> Result<IpAddr, ConfigError> {
    raw.host_ip.trim().parse().map_err(|_| {
        invalid(format!(
            "--host-ip {:?} is not an IP address (expected e.g. 10.0.0.5)",
            raw.host_ip
        ))
    })
}

fn root_domain(raw: &RawConfig) -> Result<String, ConfigError> {
    crate::model::normalize_host(raw.root_domain.trim()).map_err(|_| {
        invalid(format!(
            "--root-domain {:?} is not a valid DNS name (expected e.g. example.com)",
            raw.root_domain
        ))
    })
}

fn label_filters(raw: &RawConfig) -> Result<Vec<(String, String)>, ConfigError> {
    raw.label_filter
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            _ => Err(invalid(format!(
                "--label-filter {pair:?}: expected KEY=VALUE"
            ))),
        })
        .collect()
}

/// `--route-default KEY=VALUE`: a setting key and a value it takes.
fn route_defaults(raw: &RawConfig) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut defaults = BTreeMap::new();
    for pair in &raw.route_default {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(invalid(format!(
                "--route-default {pair:?}: expected KEY=VALUE, KEY a setting such as timeout.read"
            )));
        };
        let key = key.trim();
        if !crate::model::is_setting(key) {
            return Err(invalid(format!(
                "--route-default {pair:?}: {key:?} is not a route setting (expected one of {})",
                crate::model::SETTINGS.map(|s| s.key).join(", ")
            )));
        }
        defaults.insert(key.to_string(), value.to_string());
    }
    crate::model::check_route_defaults(&defaults).map_err(|refusal| match refusal {
        crate::model::Refusal::BadSetting {
            label,
            value,
            why,
            expected,
        } => invalid(format!("{label}={value:?}: {why}; expected {expected}")),
        other => invalid(format!("--route-default: {other}")),
    })?;
    Ok(defaults)
}

/// `--rate-limit*` and `--conn-limit*`; a limit of 0 means no middleware.
fn limits(raw: &RawConfig) -> Limits {
    Limits {
        rate: (raw.rate_limit > 0).then(|| RateLimit {
            requests: raw.rate_limit,
            burst: raw.rate_limit_burst.max(1),
            variable: raw.rate_limit_var.clone(),
        }),
        conn: (raw.conn_limit > 0).then(|| ConnLimit {
            connections: raw.conn_limit,
            variable: raw.conn_limit_var.clone(),
        }),
    }
}

/// `--ttl`, `--resync-interval`, `--timeout` and `--max-backoff`.
pub(super) struct Timing {
    pub ttl: Duration,
    pub resync_interval: Duration,
    pub timeout: Duration,
    pub max_backoff: Duration,
}

pub(super) fn timing(raw: &RawConfig) -> Result<Timing, ConfigError> {
    let ttl = duration("--ttl", &raw.ttl)?;
    if ttl < MIN_TTL {
        return Err(invalid(format!(
            "--ttl {:?} is too short: expected at least {}",
            raw.ttl,
            humantime::format_duration(MIN_TTL)
        )));
    }
    let positive = |flag: &str, value: &str| {
        let d = duration(flag, value)?;
        if d.is_zero() {
            return Err(invalid(format!(
                "{flag} {value:?}: expected a duration above zero"
            )));
        }
        Ok(d)
    };
    Ok(Timing {
        ttl,
        resync_interval: positive("--resync-interval", &raw.resync_interval)?,
        timeout: positive("--timeout", &raw.timeout)?,
        max_backoff: positive("--max-backoff", &raw.max_backoff)?,
    })
}

/// `--listen`; empty: no HTTP endpoint.
pub(super) fn listen(raw: &RawConfig) -> Result<Option<SocketAddr>, ConfigError> {
    non_empty(&raw.listen)
        .map(|addr| {
            addr.parse().map_err(|_| {
                invalid(format!(
                    "--listen {addr:?}: expected ADDRESS:PORT such as 127.0.0.1:9180"
                ))
            })
        })
        .transpose()
}

/// `--log-format`: whether log lines are JSON.
pub(super) fn log_json(raw: &RawConfig) -> Result<bool, ConfigError> {
    match raw.log_format.trim() {
        "text" | "" => Ok(false),
        "json" => Ok(true),
        other => Err(invalid(format!(
            "--log-format {other:?}: expected text or json"
        ))),
    }
}

/// `--log-level`, checked by the filter that will use it: a level, and
/// `target=level` pairs (tracing's `Targets` syntax).
pub(super) fn log_level(raw: &RawConfig) -> Result<String, ConfigError> {
    raw.log_level
        .parse::<tracing_subscriber::filter::Targets>()
        .map_err(|e| {
            invalid(format!(
                "--log-level {:?}: expected a level such as info or debug ({e})",
                raw.log_level
            ))
        })?;
    Ok(raw.log_level.clone())
}

/// `--probe`, `--probe-path` and `--probe-timeout`.
pub(super) fn probe(raw: &RawConfig) -> Result<ProbeRules, ConfigError> {
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

/// `--node-id`; `None`: ask Docker.
pub(super) fn node_id(raw: &RawConfig) -> Result<Option<String>, ConfigError> {
    non_empty(&raw.node_id)
        .map(|n| validate_node_id(&n))
        .transpose()
}

/// A node id goes into keys and server ids: letters, digits, `.`, `_`, `-`, at most 128.
pub fn validate_node_id(node: &str) -> Result<String, ConfigError> {
    let ok = !node.is_empty()
        && node.len() <= MAX_NODE_ID
        && node
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(node.to_string())
    } else {
        Err(invalid(format!(
            "--node-id {node:?}: expected letters, digits, '.', '_' or '-' (at most {MAX_NODE_ID})"
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
