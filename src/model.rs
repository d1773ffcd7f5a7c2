//! The pure route model: what one Docker container means for Vulcand. No I/O.
//!
//! A [`Container`] (Docker's inspect, reduced to what matters) and the
//! [`Rules`] (flags) give a [`Verdict`]: the container is ignored, refused with
//! a warning, or routed as one server on one or more routes. The routes of
//! every container of this node make the [`RouteTable`], the desired state the
//! reconciler writes.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use regex::Regex;
use serde::Serialize;

use crate::vulcand::{RouteId, ServerId};

/// Labels havok reads from a container (documented in README, "Labels").
pub mod labels {
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
}

/// A container as Docker's inspect shows it, reduced to what routing needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Container {
    /// The full container id (64 hex characters).
    pub id: String,
    /// The container name without Docker's leading `/`.
    pub name: String,
    /// `Config.Hostname`: `-h`, or the first 12 characters of the id by default.
    pub hostname: String,
    /// `Config.Domainname` (`--domainname`), often empty.
    pub domainname: String,
    /// `State.Running && !State.Paused`.
    pub running: bool,
    /// Docker's `State.StartedAt`: tells one run of the container from the next.
    pub started_at: String,
    /// `State.Health.Status`, when the image or run defines a health check.
    pub health: Health,
    pub labels: BTreeMap<String, String>,
    /// Container ports (`8080/tcp`) with their published bindings, if any.
    pub ports: Vec<Port>,
    /// The container's IPv4 (else IPv6) address on each network it is attached to.
    pub networks: BTreeMap<String, IpAddr>,
}

/// Docker's health status of a container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No health check: routed as soon as it runs.
    #[default]
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    /// Parses Docker's `State.Health.Status` (and the `health_status: x` event action).
    pub fn parse(status: &str) -> Health {
        match status.trim() {
            "starting" => Health::Starting,
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            _ => Health::None,
        }
    }
}

/// One container port and where Docker published it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub port: u16,
    /// `tcp`, `udp`, `sctp`.
    pub protocol: String,
    /// `(host ip, host port)` for each binding; the host ip is `0.0.0.0`, `::`,
    /// empty, or a specific address (`-p 127.0.0.1::80`).
    pub bindings: Vec<(String, u16)>,
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
        }
    }
}

/// What Vulcand routes to one place: a host name and an optional path prefix.
/// Each route has its own frontend and backend (Vulcand keys its router by the
/// route expression, so two frontends must never share one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteKey {
    /// Lower-case, validated DNS name.
    pub host: String,
    /// `/api` for `havok.path=/api`; `None` routes every path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RouteKey {
    pub fn host(host: &str) -> RouteKey {
        RouteKey {
            host: host.to_string(),
            path: None,
        }
    }

    /// The id of this route's Vulcand backend and frontend.
    pub fn id(&self) -> RouteId {
        RouteId::of(self)
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}{}", self.host, path),
            None => f.write_str(&self.host),
        }
    }
}

/// One route and the frontend settings a container asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteSpec {
    pub key: RouteKey,
    pub limits: Limits,
}

/// One container as one Vulcand server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ServerSpec {
    pub id: ServerId,
    /// `http://10.0.0.5:32768`
    pub url: String,
    /// The container name, for logs and `/routes`.
    pub container: String,
}

/// What the model makes of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Routed: one server on each of these routes.
    Routed(Vec<(RouteSpec, ServerSpec)>),
    /// Not havok's business (not running, name or labels do not match, opted
    /// out, not healthy yet): no route, no warning.
    Ignored(&'static str),
    /// Matches but cannot be routed: no route, and one warning per container.
    Refused(Refusal),
}

/// Why a matching container gets no route; the text is the operator's warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("host name {0:?} is not a valid DNS name (RFC 1123 letters, digits and hyphens, labels of at most 63 and at most 253 in all)")]
    BadHost(String),
    #[error("host name {host:?} from label havok.host is outside the root domain {root:?} (pass --allow-any-host to allow it)")]
    ForeignHost { host: String, root: String },
    #[error("no published TCP port (run it with -p or -P, or route by --network)")]
    NoPublishedPort,
    #[error("container port {0}/tcp named by havok.port is not published")]
    PortNotPublished(u16),
    #[error("container has no TCP port to route on network {0:?}")]
    NoContainerPort(String),
    #[error("not attached to network {0:?} (from --network or havok.network)")]
    NotOnNetwork(String),
    #[error("the tcp readiness probe needs the container's address on a network (use havok.probe=http or none)")]
    NoProbeAddress,
    #[error("label {label}={value:?}: expected {expected}")]
    BadLabel {
        label: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// Decides what one container means under `rules`, for servers owned by `node`.
pub fn route_container(container: &Container, rules: &Rules, node: &str) -> Verdict {
    if !container.running {
        return Verdict::Ignored("not running");
    }
    if !rules.names.is_match(&container.name) {
        return Verdict::Ignored("name does not match --names");
    }
    for (key, value) in &rules.label_filters {
        if container.labels.get(key) != Some(value) {
            return Verdict::Ignored("labels do not match --label-filter");
        }
    }
    let enabled = match container.labels.get(labels::ENABLE).map(|v| v.trim()) {
        None => rules.exposed_by_default,
        Some("true") => true,
        Some("false") => false,
        Some(other) => return refuse_label(labels::ENABLE, other, "true or false"),
    };
    if !enabled {
        return Verdict::Ignored("not enabled (havok.enable)");
    }
    match container.health {
        Health::None | Health::Healthy => {}
        Health::Starting => return Verdict::Ignored("health check has not passed yet"),
        Health::Unhealthy => return Verdict::Ignored("unhealthy"),
    }
    match routes_of(container, rules, node) {
        Ok(routes) => Verdict::Routed(routes),
        Err(refusal) => Verdict::Refused(refusal),
    }
}

fn refuse_label(label: &'static str, value: &str, expected: &'static str) -> Verdict {
    Verdict::Refused(Refusal::BadLabel {
        label,
        value: value.to_string(),
        expected,
    })
}

fn routes_of(
    container: &Container,
    rules: &Rules,
    node: &str,
) -> Result<Vec<(RouteSpec, ServerSpec)>, Refusal> {
    let hosts = hosts_of(container, rules)?;
    let path = path_of(container)?;
    let limits = limits_of(container, rules)?;
    let url = url_of(container, rules)?;
    let server = ServerSpec {
        id: ServerId::new(node, &container.name),
        url,
        container: container.name.clone(),
    };
    Ok(hosts
        .into_iter()
        .map(|host| {
            let spec = RouteSpec {
                key: RouteKey {
                    host,
                    path: path.clone(),
                },
                limits: limits.clone(),
            };
            (spec, server.clone())
        })
        .collect())
}

/// The container's host names: `havok.host`, else `<hostname>.<root>`; the
/// container name stands in for Docker's default hostname (the short id), so
/// that a re-created container keeps its route.
fn hosts_of(container: &Container, rules: &Rules) -> Result<Vec<String>, Refusal> {
    let root = &rules.root_domain;
    if let Some(list) = container.labels.get(labels::HOST) {
        let mut hosts = Vec::new();
        for raw in list.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            // Name the label: the operator wrote this value, not Docker.
            let host = normalize_host(raw).map_err(|_| Refusal::BadLabel {
                label: labels::HOST,
                value: raw.to_string(),
                expected: "comma-separated DNS names (RFC 1123: letters, digits and inner hyphens, labels of at most 63)",
            })?;
            let inside = host == *root || host.ends_with(&format!(".{root}"));
            if !inside && !rules.allow_any_host {
                return Err(Refusal::ForeignHost {
                    host,
                    root: root.clone(),
                });
            }
            if !hosts.contains(&host) {
                hosts.push(host);
            }
        }
        if hosts.is_empty() {
            return Err(Refusal::BadLabel {
                label: labels::HOST,
                value: list.clone(),
                expected: "one or more comma-separated DNS names",
            });
        }
        return Ok(hosts);
    }
    let hostname = if is_default_hostname(container) {
        dns_safe(&container.name)
    } else {
        container.hostname.clone()
    };
    let full = if !container.domainname.is_empty()
        && format!("{}.{}", hostname, container.domainname).eq_ignore_ascii_case(root)
    {
        root.clone()
    } else {
        format!("{hostname}.{root}")
    };
    Ok(vec![normalize_host(&full)?])
}

/// Docker sets the hostname to the first 12 characters of the id when no `-h` is given.
fn is_default_hostname(container: &Container) -> bool {
    container.hostname.len() == 12 && container.id.starts_with(&container.hostname)
}

/// `proj_web_1` → `proj-web-1`: a container name as one DNS label.
pub fn dns_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    trimmed
        .chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// Lower-cases and validates a host name (RFC 1123): labels of letters,
/// digits and inner hyphens, 1–63 each, 253 in all. This also keeps out
/// everything that could escape a key prefix or Vulcand's route expression
/// (backquotes, quotes, `/`, spaces, control characters).
pub fn normalize_host(raw: &str) -> Result<String, Refusal> {
    let host = raw.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(host)
    } else {
        Err(Refusal::BadHost(raw.to_string()))
    }
}

/// `havok.path`: a path prefix of plain URL characters, `/` first, no trailing `/`.
fn path_of(container: &Container) -> Result<Option<String>, Refusal> {
    let Some(raw) = container.labels.get(labels::PATH) else {
        return Ok(None);
    };
    let path = raw.trim().trim_end_matches('/');
    let valid = path.starts_with('/')
        && path.len() <= 1024
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
    if raw.trim() == "/" {
        return Ok(None);
    }
    if !valid || path.contains("//") {
        return Err(Refusal::BadLabel {
            label: labels::PATH,
            value: raw.clone(),
            expected: "a path prefix such as /api (letters, digits, / - . _ ~ %)",
        });
    }
    Ok(Some(path.to_string()))
}

fn limits_of(container: &Container, rules: &Rules) -> Result<Limits, Refusal> {
    let mut limits = rules.limits.clone();
    if let Some(raw) = container.labels.get(labels::RATE_LIMIT) {
        let requests = parse_count(labels::RATE_LIMIT, raw)?;
        limits.rate = (requests > 0).then(|| RateLimit {
            requests,
            ..limits.rate.clone().unwrap_or(RateLimit {
                requests,
                burst: 1,
                variable: "client.ip".into(),
            })
        });
    }
    if let Some(raw) = container.labels.get(labels::CONN_LIMIT) {
        let connections = parse_count(labels::CONN_LIMIT, raw)?;
        limits.conn = (connections > 0).then(|| ConnLimit {
            connections,
            ..limits.conn.clone().unwrap_or(ConnLimit {
                connections,
                variable: "client.ip".into(),
            })
        });
    }
    Ok(limits)
}

fn parse_count(label: &'static str, raw: &str) -> Result<u32, Refusal> {
    raw.trim().parse::<u32>().map_err(|_| Refusal::BadLabel {
        label,
        value: raw.to_string(),
        expected: "a whole number (0 turns it off)",
    })
}

fn url_of(container: &Container, rules: &Rules) -> Result<String, Refusal> {
    endpoint_of(container, rules).map(|e| e.url)
}

/// Where a container is reached: the server URL Vulcand uses, and the
/// container's own address and port behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `http://10.0.0.5:32768`
    pub url: String,
    /// The container port behind the URL (`80` for `-p 32768:80`).
    pub container_port: u16,
    /// The container's address on the routed network (`--network` /
    /// `havok.network`), else on the first network it is attached to.
    pub container_ip: Option<IpAddr>,
}

/// The server URL: the published binding of the chosen container port, or the
/// container's own address on `--network` / `havok.network`.
pub fn endpoint_of(container: &Container, rules: &Rules) -> Result<Endpoint, Refusal> {
    let scheme = match container.labels.get(labels::SCHEME).map(|s| s.trim()) {
        None | Some("http") => "http",
        Some("https") => "https",
        Some(other) => {
            return Err(Refusal::BadLabel {
                label: labels::SCHEME,
                value: other.to_string(),
                expected: "http or https",
            })
        }
    };
    let wanted_port = match container.labels.get(labels::PORT) {
        None => None,
        Some(raw) => match raw.trim().parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                return Err(Refusal::BadLabel {
                    label: labels::PORT,
                    value: raw.clone(),
                    expected: "a container port number (1-65535)",
                })
            }
        },
    };
    let network = container
        .labels
        .get(labels::NETWORK)
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .or_else(|| rules.network.clone());
    let tcp = container.ports.iter().filter(|p| p.protocol == "tcp");

    let (addr, port, container_port) = if let Some(network) = network {
        let ip = *container
            .networks
            .get(&network)
            .ok_or_else(|| Refusal::NotOnNetwork(network.clone()))?;
        let port = match wanted_port {
            Some(port) => port,
            None => tcp
                .map(|p| p.port)
                .min()
                .ok_or(Refusal::NoContainerPort(network))?,
        };
        (ip, port, port)
    } else {
        // The lowest-numbered published port, unless havok.port names one: deterministic.
        let port = tcp
            .filter(|p| !p.bindings.is_empty())
            .filter(|p| wanted_port.is_none_or(|w| w == p.port))
            .min_by_key(|p| p.port)
            .ok_or(match wanted_port {
                Some(w) => Refusal::PortNotPublished(w),
                None => Refusal::NoPublishedPort,
            })?;
        let (addr, host_port) = binding_address(&port.bindings, rules.host_ip);
        (addr, host_port, port.port)
    };
    let url = match addr {
        IpAddr::V4(v4) => format!("{scheme}://{v4}:{port}"),
        IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{port}"),
    };
    let container_ip = match container.labels.get(labels::NETWORK).map(|n| n.trim()) {
        Some(n) if !n.is_empty() => container.networks.get(n).copied(),
        _ => rules
            .network
            .as_ref()
            .and_then(|n| container.networks.get(n).copied())
            .or_else(|| container.networks.values().next().copied()),
    };
    Ok(Endpoint {
        url,
        container_port,
        container_ip,
    })
}

/// Picks the binding to route to: IPv4 before IPv6 (Docker publishes on both
/// `0.0.0.0` and `::`), a specific host address as it is, a wildcard as `--host-ip`.
fn binding_address(bindings: &[(String, u16)], host_ip: IpAddr) -> (IpAddr, u16) {
    let parsed = |(ip, port): &(String, u16)| (ip.parse::<IpAddr>().ok(), *port);
    let best = bindings
        .iter()
        .map(parsed)
        .min_by_key(|(ip, _)| match ip {
            Some(IpAddr::V4(_)) | None => 0,
            Some(IpAddr::V6(_)) => 1,
        })
        .expect("bindings is not empty");
    match best {
        (Some(ip), port) if !ip.is_unspecified() => (ip, port),
        (_, port) => (host_ip, port),
    }
}

/// The desired state of one node: every route its containers ask for, with
/// their servers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    /// In JSON (`/routes`, `havok routes --json`) keyed by `host` or `host/path`:
    /// JSON object keys must be strings, and a `RouteKey` is a struct.
    #[serde(serialize_with = "routes_by_name")]
    pub routes: BTreeMap<RouteKey, RouteEntry>,
}

fn routes_by_name<S: serde::Serializer>(
    routes: &BTreeMap<RouteKey, RouteEntry>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(routes.iter().map(|(key, entry)| (key.to_string(), entry)))
}

/// One route of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteEntry {
    pub spec: RouteSpec,
    pub servers: BTreeMap<ServerId, ServerSpec>,
    /// Containers of this node that asked for other frontend settings than
    /// `spec` (the first container by name wins); the reconciler warns once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<(String, Limits)>,
}

impl RouteTable {
    /// Builds the table from each container's routed servers. Containers are
    /// taken in name order so that the frontend settings chosen are stable.
    pub fn build<'a>(routed: impl IntoIterator<Item = &'a (RouteSpec, ServerSpec)>) -> RouteTable {
        let mut items: Vec<&(RouteSpec, ServerSpec)> = routed.into_iter().collect();
        items.sort_by(|a, b| a.1.container.cmp(&b.1.container).then(a.0.cmp(&b.0)));
        let mut table = RouteTable::default();
        for (spec, server) in items {
            let entry = table
                .routes
                .entry(spec.key.clone())
                .or_insert_with(|| RouteEntry {
                    spec: spec.clone(),
                    servers: BTreeMap::new(),
                    conflicts: Vec::new(),
                });
            if entry.spec.limits != spec.limits {
                entry
                    .conflicts
                    .push((server.container.clone(), spec.limits.clone()));
            }
            entry.servers.insert(server.id.clone(), server.clone());
        }
        table
    }

    pub fn server_count(&self) -> usize {
        self.routes.values().map(|r| r.servers.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn rules() -> Rules {
        Rules::new(
            Regex::new("^web-").unwrap(),
            "local",
            "127.0.0.1".parse().unwrap(),
        )
    }

    fn web(name: &str, hostname: &str) -> Container {
        Container {
            id: ID.into(),
            name: name.into(),
            hostname: hostname.into(),
            running: true,
            ports: vec![Port {
                port: 80,
                protocol: "tcp".into(),
                bindings: vec![("0.0.0.0".into(), 32768), ("::".into(), 32768)],
            }],
            ..Container::default()
        }
    }

    fn with_label(mut c: Container, key: &str, value: &str) -> Container {
        c.labels.insert(key.into(), value.into());
        c
    }

    fn routed(v: &Verdict) -> Vec<(String, String)> {
        match v {
            Verdict::Routed(list) => list
                .iter()
                .map(|(spec, server)| (spec.key.to_string(), server.url.clone()))
                .collect(),
            other => panic!("expected a route, got {other:?}"),
        }
    }

    /// Each row: a container and the (route, url) pairs it must become.
    #[test]
    fn containers_become_routes() {
        type Row = (
            &'static str,
            Container,
            Rules,
            Vec<(&'static str, &'static str)>,
        );
        let cases: Vec<Row> = vec![
            (
                "hostname and root domain",
                web("web-1", "foo"),
                rules(),
                vec![("foo.local", "http://127.0.0.1:32768")],
            ),
            (
                "host name is lower-cased",
                web("web-1", "FoO"),
                rules(),
                vec![("foo.local", "http://127.0.0.1:32768")],
            ),
            (
                "hostname.domainname equal to the root domain is the root domain",
                Container {
                    domainname: "com".into(),
                    ..web("web-1", "example")
                },
                Rules::new(
                    Regex::new(".*").unwrap(),
                    "example.com",
                    "10.0.0.1".parse().unwrap(),
                ),
                vec![("example.com", "http://10.0.0.1:32768")],
            ),
            (
                "other domainname is ignored",
                Container {
                    domainname: "corp".into(),
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://127.0.0.1:32768")],
            ),
            (
                "default hostname uses the DNS-safe container name",
                web("web_proj_1", &ID[..12]),
                Rules {
                    names: Regex::new(".*").unwrap(),
                    ..rules()
                },
                vec![("web-proj-1.local", "http://127.0.0.1:32768")],
            ),
            (
                "specific binding address is used as it is",
                Container {
                    ports: vec![Port {
                        port: 80,
                        protocol: "tcp".into(),
                        bindings: vec![("192.168.5.5".into(), 4000)],
                    }],
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://192.168.5.5:4000")],
            ),
            (
                "IPv6-only specific binding is bracketed",
                Container {
                    ports: vec![Port {
                        port: 80,
                        protocol: "tcp".into(),
                        bindings: vec![("::1".into(), 4000)],
                    }],
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://[::1]:4000")],
            ),
            (
                "IPv4 binding wins over IPv6",
                Container {
                    ports: vec![Port {
                        port: 80,
                        protocol: "tcp".into(),
                        bindings: vec![("::1".into(), 4001), ("127.0.0.2".into(), 4000)],
                    }],
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://127.0.0.2:4000")],
            ),
            (
                "lowest container port wins",
                Container {
                    ports: vec![
                        Port {
                            port: 8080,
                            protocol: "tcp".into(),
                            bindings: vec![("0.0.0.0".into(), 5001)],
                        },
                        Port {
                            port: 443,
                            protocol: "tcp".into(),
                            bindings: vec![("0.0.0.0".into(), 5002)],
                        },
                        Port {
                            port: 53,
                            protocol: "udp".into(),
                            bindings: vec![("0.0.0.0".into(), 5003)],
                        },
                        Port {
                            port: 22,
                            protocol: "tcp".into(),
                            bindings: vec![],
                        },
                    ],
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://127.0.0.1:5002")],
            ),
            (
                "havok.port picks a port",
                with_label(
                    Container {
                        ports: vec![
                            Port {
                                port: 8080,
                                protocol: "tcp".into(),
                                bindings: vec![("0.0.0.0".into(), 5001)],
                            },
                            Port {
                                port: 443,
                                protocol: "tcp".into(),
                                bindings: vec![("0.0.0.0".into(), 5002)],
                            },
                        ],
                        ..web("web-1", "foo")
                    },
                    labels::PORT,
                    "8080",
                ),
                rules(),
                vec![("foo.local", "http://127.0.0.1:5001")],
            ),
            (
                "havok.host names several hosts",
                with_label(
                    web("web-1", "foo"),
                    labels::HOST,
                    "a.local, B.a.local,a.local",
                ),
                rules(),
                vec![
                    ("a.local", "http://127.0.0.1:32768"),
                    ("b.a.local", "http://127.0.0.1:32768"),
                ],
            ),
            (
                "havok.host may name any host with --allow-any-host",
                with_label(web("web-1", "foo"), labels::HOST, "x.example.com"),
                Rules {
                    allow_any_host: true,
                    ..rules()
                },
                vec![("x.example.com", "http://127.0.0.1:32768")],
            ),
            (
                "havok.path routes a prefix",
                with_label(web("web-1", "foo"), labels::PATH, "/api/"),
                rules(),
                vec![("foo.local/api", "http://127.0.0.1:32768")],
            ),
            (
                "havok.scheme=https",
                with_label(web("web-1", "foo"), labels::SCHEME, "https"),
                rules(),
                vec![("foo.local", "https://127.0.0.1:32768")],
            ),
            (
                "--network routes to the container address and port",
                Container {
                    networks: [("backend".to_string(), "172.20.0.5".parse().unwrap())].into(),
                    ..web("web-1", "foo")
                },
                Rules {
                    network: Some("backend".into()),
                    ..rules()
                },
                vec![("foo.local", "http://172.20.0.5:80")],
            ),
            (
                "havok.network routes an unpublished port",
                with_label(
                    Container {
                        ports: vec![Port {
                            port: 9000,
                            protocol: "tcp".into(),
                            bindings: vec![],
                        }],
                        networks: [("n1".to_string(), "fd00::5".parse().unwrap())].into(),
                        ..web("web-1", "foo")
                    },
                    labels::NETWORK,
                    "n1",
                ),
                rules(),
                vec![("foo.local", "http://[fd00::5]:9000")],
            ),
            (
                "explicit havok.enable=true",
                with_label(web("web-1", "foo"), labels::ENABLE, "true"),
                Rules {
                    exposed_by_default: false,
                    ..rules()
                },
                vec![("foo.local", "http://127.0.0.1:32768")],
            ),
            (
                "healthy container is routed",
                Container {
                    health: Health::Healthy,
                    ..web("web-1", "foo")
                },
                rules(),
                vec![("foo.local", "http://127.0.0.1:32768")],
            ),
        ];
        for (what, container, rules, want) in cases {
            let got = routed(&route_container(&container, &rules, "node-a"));
            let want: Vec<(String, String)> = want
                .into_iter()
                .map(|(a, b)| (a.into(), b.into()))
                .collect();
            assert_eq!(got, want, "{what}");
        }
    }

    /// Each row: a container the model must ignore silently.
    #[test]
    fn containers_ignored() {
        let cases: Vec<(&str, Container, Rules)> = vec![
            (
                "not running",
                Container {
                    running: false,
                    ..web("web-1", "foo")
                },
                rules(),
            ),
            ("name does not match", web("db-1", "foo"), rules()),
            (
                "label filter",
                web("web-1", "foo"),
                Rules {
                    label_filters: vec![("team".into(), "a".into())],
                    ..rules()
                },
            ),
            (
                "label filter value differs",
                with_label(web("web-1", "foo"), "team", "b"),
                Rules {
                    label_filters: vec![("team".into(), "a".into())],
                    ..rules()
                },
            ),
            (
                "opted out",
                with_label(web("web-1", "foo"), labels::ENABLE, "false"),
                rules(),
            ),
            (
                "not opted in",
                web("web-1", "foo"),
                Rules {
                    exposed_by_default: false,
                    ..rules()
                },
            ),
            (
                "health starting",
                Container {
                    health: Health::Starting,
                    ..web("web-1", "foo")
                },
                rules(),
            ),
            (
                "unhealthy",
                Container {
                    health: Health::Unhealthy,
                    ..web("web-1", "foo")
                },
                rules(),
            ),
        ];
        for (what, container, rules) in cases {
            let v = route_container(&container, &rules, "node-a");
            assert!(matches!(v, Verdict::Ignored(_)), "{what}: {v:?}");
        }
    }

    /// Each row: a container the model must refuse, and the start of the warning.
    #[test]
    fn containers_refused() {
        let long = "a".repeat(64);
        let cases: Vec<(&str, Container, Rules, &str)> = vec![
            (
                "backquote and route injection",
                web("web-1", "x`) || Host(`victim.local"),
                rules(),
                "host name",
            ),
            ("space", web("web-1", "a b"), rules(), "host name"),
            (
                "slash escapes the key prefix",
                web("web-1", "x/y"),
                rules(),
                "host name",
            ),
            ("quote", web("web-1", "a\"b"), rules(), "host name"),
            (
                "control character",
                web("web-1", "a\nb"),
                rules(),
                "host name",
            ),
            (
                "label longer than 63",
                web("web-1", &long),
                rules(),
                "host name",
            ),
            ("leading hyphen", web("web-1", "-foo"), rules(), "host name"),
            (
                "too long in all",
                with_label(
                    web("web-1", "foo"),
                    labels::HOST,
                    &format!("{}.local", ["abcdefghij"; 25].join(".")),
                ),
                rules(),
                "label havok.host=",
            ),
            (
                "foreign host",
                with_label(web("web-1", "foo"), labels::HOST, "victim.example.com"),
                rules(),
                "host name \"victim.example.com\" from label",
            ),
            (
                "bad havok.host entry",
                with_label(web("web-1", "foo"), labels::HOST, "ok.local,bad`.local"),
                rules(),
                "label havok.host=\"bad`.local\": expected",
            ),
            (
                "no published port",
                Container {
                    ports: vec![],
                    ..web("web-1", "foo")
                },
                rules(),
                "no published TCP port",
            ),
            (
                "udp only",
                Container {
                    ports: vec![Port {
                        port: 53,
                        protocol: "udp".into(),
                        bindings: vec![("0.0.0.0".into(), 53)],
                    }],
                    ..web("web-1", "foo")
                },
                rules(),
                "no published TCP port",
            ),
            (
                "havok.port not published",
                with_label(web("web-1", "foo"), labels::PORT, "81"),
                rules(),
                "container port 81/tcp",
            ),
            (
                "havok.port not a number",
                with_label(web("web-1", "foo"), labels::PORT, "http"),
                rules(),
                "label havok.port=\"http\"",
            ),
            (
                "havok.enable garbage",
                with_label(web("web-1", "foo"), labels::ENABLE, "yes"),
                rules(),
                "label havok.enable=\"yes\"",
            ),
            (
                "havok.scheme garbage",
                with_label(web("web-1", "foo"), labels::SCHEME, "ftp"),
                rules(),
                "label havok.scheme=\"ftp\"",
            ),
            (
                "havok.path with backquote",
                with_label(web("web-1", "foo"), labels::PATH, "/a`b"),
                rules(),
                "label havok.path",
            ),
            (
                "havok.path relative",
                with_label(web("web-1", "foo"), labels::PATH, "api"),
                rules(),
                "label havok.path",
            ),
            (
                "havok.rate-limit garbage",
                with_label(web("web-1", "foo"), labels::RATE_LIMIT, "-1"),
                rules(),
                "label havok.rate-limit",
            ),
            (
                "not on network",
                web("web-1", "foo"),
                Rules {
                    network: Some("nope".into()),
                    ..rules()
                },
                "not attached to network \"nope\"",
            ),
        ];
        for (what, container, rules, want) in cases {
            match route_container(&container, &rules, "node-a") {
                Verdict::Refused(r) => assert!(r.to_string().starts_with(want), "{what}: {r}"),
                other => panic!("{what}: expected a refusal, got {other:?}"),
            }
        }
    }

    /// Labels override the flags' middlewares; 0 turns one off.
    #[test]
    fn limits_from_flags_and_labels() {
        let mut r = rules();
        r.limits.rate = Some(RateLimit {
            requests: 10,
            burst: 5,
            variable: "client.ip".into(),
        });
        let spec = |c: &Container, r: &Rules| match route_container(c, r, "n") {
            Verdict::Routed(list) => list[0].0.limits.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(spec(&web("web-1", "foo"), &r).rate.unwrap().requests, 10);
        let c = with_label(web("web-1", "foo"), labels::RATE_LIMIT, "3");
        assert_eq!(
            spec(&c, &r).rate,
            Some(RateLimit {
                requests: 3,
                burst: 5,
                variable: "client.ip".into()
            })
        );
        let c = with_label(web("web-1", "foo"), labels::RATE_LIMIT, "0");
        assert_eq!(spec(&c, &r).rate, None);
        let c = with_label(web("web-1", "foo"), labels::CONN_LIMIT, "7");
        assert_eq!(
            spec(&c, &r).conn,
            Some(ConnLimit {
                connections: 7,
                variable: "client.ip".into()
            })
        );
    }

    /// Server ids differ across nodes and containers; one container on two hosts is one id.
    #[test]
    fn server_ids_are_per_node_and_container() {
        let c = with_label(web("web-1", "foo"), labels::HOST, "a.local,b.local");
        let Verdict::Routed(a) = route_container(&c, &rules(), "node-a") else {
            panic!()
        };
        let Verdict::Routed(b) = route_container(&c, &rules(), "node-b") else {
            panic!()
        };
        assert_eq!(a[0].1.id, a[1].1.id);
        assert_ne!(a[0].1.id, b[0].1.id);
        assert!(a[0].1.id.owned_by("node-a") && !a[0].1.id.owned_by("node-b"));
    }

    /// Two containers on one host make one route with two servers; settings conflicts are kept for a warning.
    #[test]
    fn table_groups_servers_by_route() {
        let r = rules();
        let mut all = Vec::new();
        for (name, rate) in [("web-2", Some("5")), ("web-1", None)] {
            let mut c = web(name, "foo");
            if let Some(rate) = rate {
                c = with_label(c, labels::RATE_LIMIT, rate);
            }
            let Verdict::Routed(list) = route_container(&c, &r, "n") else {
                panic!()
            };
            all.extend(list);
        }
        let table = RouteTable::build(&all);
        let entry = &table.routes[&RouteKey::host("foo.local")];
        assert_eq!(entry.servers.len(), 2);
        assert_eq!(
            entry.spec.limits,
            Limits::default(),
            "web-1 sorts first and wins"
        );
        assert_eq!(entry.conflicts.len(), 1);
        assert_eq!(entry.conflicts[0].0, "web-2");
        assert_eq!(table.server_count(), 2);
    }

    /// The table is JSON (`/routes`, `havok routes --json`), keyed by `host` or `host/path`.
    #[test]
    fn table_serializes_to_json() {
        let mut all = Vec::new();
        for c in [
            web("web-1", "foo"),
            with_label(web("web-2", "foo"), labels::PATH, "/api"),
        ] {
            let Verdict::Routed(list) = route_container(&c, &rules(), "n") else {
                panic!()
            };
            all.extend(list);
        }
        let json = serde_json::to_value(RouteTable::build(&all)).unwrap();
        let routes = json["routes"].as_object().unwrap();
        let keys: Vec<&str> = routes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["foo.local", "foo.local/api"]);
        assert_eq!(routes["foo.local/api"]["spec"]["key"]["path"], "/api");
    }

    #[test]
    fn dns_safe_names() {
        for (name, want) in [
            ("proj_web_1", "proj-web-1"),
            ("Web.1", "web-1"),
            ("__a__", "a"),
            ("a--b", "a-b"),
        ] {
            assert_eq!(dns_safe(name), want);
        }
    }
}
