//! What the operator asks for: the flags ([`Rules`]), the label names
//! ([`labels`]), and the middlewares ([`Limits`]) that flags and labels set.

use std::collections::BTreeMap;
use std::net::IpAddr;

use regex::Regex;
use serde::Serialize;

use super::{Container, Refusal};

/// Labels havok reads from a container (documented in README, "Labels").
pub mod labels {
    /// Every label havok reads starts with this.
    pub const PREFIX: &str = "havok.";
    /// `havok.routes.<name>.<key>`: the labels of the named route `<name>`;
    /// `<key>` is any key below without `havok.` (`port`, `host`…).
    pub const ROUTES_PREFIX: &str = "havok.routes.";
    /// `true`/`false`: opt a container in or out (see `--exposed-by-default`).
    pub const ENABLE: &str = "havok.enable";
    /// Comma-separated host names, instead of `<hostname>.<root domain>`.
    pub const HOST: &str = "havok.host";
    /// The container port to route when several are published.
    pub const PORT: &str = "havok.port";
    /// Route only this path prefix (`/api`).
    pub const PATH: &str = "havok.path";
    /// `http` (default) or `https`: the upstream scheme.
    pub const SCHEME: &str = "havok.scheme";
    /// Route to the container's address on this Docker network.
    pub const NETWORK: &str = "havok.network";
    /// Requests per second for this container's route (overrides `--rate-limit`; 0 disables).
    pub const RATE_LIMIT: &str = "havok.rate-limit";
    /// Concurrent connections for this container's route (overrides `--conn-limit`; 0 disables).
    pub const CONN_LIMIT: &str = "havok.conn-limit";
    /// `http`, `tcp` or `none`: how to tell that the upstream is ready (overrides `--probe`).
    pub const PROBE: &str = "havok.probe";
    /// The path of the HTTP readiness probe (overrides `--probe-path`).
    pub const PROBE_PATH: &str = "havok.probe-path";
    /// How long the upstream may take before havok warns (overrides `--probe-timeout`).
    pub const PROBE_TIMEOUT: &str = "havok.probe-timeout";

    /// Every label above.
    pub const ALL: [&str; 11] = [
        ENABLE,
        HOST,
        PORT,
        PATH,
        SCHEME,
        NETWORK,
        RATE_LIMIT,
        CONN_LIMIT,
        PROBE,
        PROBE_PATH,
        PROBE_TIMEOUT,
    ];
}

/// The Vulcand middlewares havok puts on a frontend (the original's `-rate-limit`, `-conn-limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Limits {
    pub rate: Option<RateLimit>,
    pub conn: Option<ConnLimit>,
}

/// Vulcand `ratelimit` middleware (plugin/ratelimit): `Requests` per `PeriodSeconds`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RateLimit {
    /// Requests per second.
    pub requests: u32,
    pub burst: u32,
    /// Vulcand's variable that groups requests (`client.ip`, `request.host`, `request.header.X`).
    pub variable: String,
}

/// Vulcand `connlimit` middleware (plugin/connlimit).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ConnLimit {
    pub connections: u32,
    pub variable: String,
}

/// The flags that decide which containers become which routes.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `--names`: matched against the container name (no leading `/`).
    pub names: Regex,
    /// `--root-domain`, lower-case, no trailing dot.
    pub root_domain: String,
    /// `--host-ip`: the address in server URLs when a port is published on all interfaces.
    pub host_ip: IpAddr,
    /// `--label-filter KEY=VALUE`: every pair must be on the container.
    pub label_filters: Vec<(String, String)>,
    /// `--exposed-by-default`: false means only `havok.enable=true` containers are routed.
    pub exposed_by_default: bool,
    /// `--allow-any-host`: `havok.host` may name hosts outside the root domain.
    pub allow_any_host: bool,
    /// `--network`: route to container addresses on this network instead of published ports.
    pub network: Option<String>,
    /// `--rate-limit*` / `--conn-limit*`: the default middlewares of every route.
    pub limits: Limits,
    /// `--route-default KEY=VALUE`: a setting of every route (`timeout.read`
    /// → `30s`) that a route's own label overrides.
    pub route_defaults: BTreeMap<String, String>,
}

impl Rules {
    /// Rules with the documented defaults (`--names .*`, `--root-domain local`, `--host-ip 127.0.0.1`).
    pub fn new(names: Regex, root_domain: &str, host_ip: IpAddr) -> Rules {
        Rules {
            names,
            root_domain: root_domain.trim_end_matches('.').to_ascii_lowercase(),
            host_ip,
            label_filters: Vec::new(),
            exposed_by_default: true,
            allow_any_host: false,
            network: None,
            limits: Limits::default(),
            route_defaults: BTreeMap::new(),
        }
    }
}

/// A `havok.rate-limit` label without `--rate-limit` gets the flags' defaults
/// (`--rate-limit-burst 1`, `--rate-limit-var client.ip`): a burst of one
/// request, counted per client address.
const LABEL_ONLY_BURST: u32 = 1;
/// The variable of a middleware set by label alone: per client address, like
/// `--rate-limit-var` and `--conn-limit-var` by default.
const LABEL_ONLY_VARIABLE: &str = "client.ip";

/// The middlewares of a container's routes: the flags', with `havok.rate-limit`
/// and `havok.conn-limit` overriding the count (0 turns one off).
pub(super) fn limits_of(container: &Container, rules: &Rules) -> Result<Limits, Refusal> {
    let mut limits = rules.limits.clone();
    if let Some(requests) = label_count(container, labels::RATE_LIMIT)? {
        let base = limits.rate.take().unwrap_or_else(|| RateLimit {
            requests,
            burst: LABEL_ONLY_BURST,
            variable: LABEL_ONLY_VARIABLE.into(),
        });
        limits.rate = (requests > 0).then_some(RateLimit { requests, ..base });
    }
    if let Some(connections) = label_count(container, labels::CONN_LIMIT)? {
        let base = limits.conn.take().unwrap_or_else(|| ConnLimit {
            connections,
            variable: LABEL_ONLY_VARIABLE.into(),
        });
        limits.conn = (connections > 0).then_some(ConnLimit {
            connections,
            ..base
        });
    }
    Ok(limits)
}

/// The count a label sets, if the container has it.
fn label_count(container: &Container, label: &'static str) -> Result<Option<u32>, Refusal> {
    let Some(raw) = container.labels.get(label) else {
        return Ok(None);
    };
    raw.trim()
        .parse::<u32>()
        .map(Some)
        .map_err(|_| Refusal::BadLabel {
            label: label.into(),
            value: raw.to_string(),
            expected: "a whole number (0 turns it off)",
        })
}
