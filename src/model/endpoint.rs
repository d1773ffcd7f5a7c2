//! Where a container is reached: [`Endpoint`], from its published ports or its
//! address on a Docker network.

use std::net::IpAddr;

use super::{labels, Container, Refusal, Rules};

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

/// The refusal of a label whose value is not what it should be.
fn bad_label(label: &'static str, value: &str, expected: &'static str) -> Refusal {
    Refusal::BadLabel {
        label: label.into(),
        value: value.to_string(),
        expected,
    }
}

/// The server URL: the published binding of the chosen container port, or the
/// container's own address on `--network` / `havok.network`.
pub fn endpoint_of(container: &Container, rules: &Rules) -> Result<Endpoint, Refusal> {
    let scheme = match container.labels.get(labels::SCHEME).map(|s| s.trim()) {
        None | Some("http") => "http",
        Some("https") => "https",
        Some(other) => return Err(bad_label(labels::SCHEME, other, "http or https")),
    };
    let wanted_port = match container.labels.get(labels::PORT) {
        None => None,
        Some(raw) => match raw.trim().parse::<u16>() {
            Ok(port) if port > 0 => Some(port),
            _ => {
                let expected = "a container port number (1-65535)";
                return Err(bad_label(labels::PORT, raw, expected));
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
