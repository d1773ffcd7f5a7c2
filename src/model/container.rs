//! Docker's facts about a container, reduced to what routing needs: [`Container`], [`Health`], [`Port`].

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;

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

/// Docker names a container started without `-h` after the first 12 hex
/// characters of its id (the short id `docker ps` shows).
pub const DEFAULT_HOSTNAME_LEN: usize = 12;

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
