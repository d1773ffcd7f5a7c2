//! Docker's inspect answer reduced to the model's [`Container`]: name,
//! hostname, labels, health, published ports and network addresses.

use std::collections::BTreeMap;

use bollard::models::ContainerInspectResponse;

use crate::model::{Container, Health, Port};

/// Reduces Docker's inspect answer to the model's [`Container`].
pub fn container_from_inspect(r: ContainerInspectResponse) -> Container {
    let config = r.config.unwrap_or_default();
    let state = r.state.unwrap_or_default();
    let settings = r.network_settings.unwrap_or_default();
    let mut ports: Vec<Port> = settings
        .ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(key, bindings)| {
            let (port, protocol) = key.split_once('/').unwrap_or((&key, "tcp"));
            Some(Port {
                port: port.parse().ok()?,
                protocol: protocol.to_string(),
                bindings: bindings
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|b| {
                        let port = b.host_port?.parse().ok()?;
                        Some((b.host_ip.unwrap_or_default(), port))
                    })
                    .collect(),
            })
        })
        .collect();
    ports.sort_by(|a, b| (a.port, &a.protocol).cmp(&(b.port, &b.protocol)));
    let networks: BTreeMap<String, std::net::IpAddr> = settings
        .networks
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, endpoint)| {
            let ip = endpoint
                .ip_address
                .filter(|ip| !ip.is_empty())
                .or(endpoint.global_ipv6_address.filter(|ip| !ip.is_empty()))?;
            Some((name, ip.parse().ok()?))
        })
        .collect();
    let health = state
        .health
        .and_then(|h| h.status)
        .map(|s| Health::parse(s.as_ref()))
        .unwrap_or(Health::None);
    Container {
        id: r.id.unwrap_or_default(),
        name: r
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        hostname: config.hostname.unwrap_or_default(),
        domainname: config.domainname.unwrap_or_default(),
        running: state.running.unwrap_or(false) && !state.paused.unwrap_or(false),
        started_at: state.started_at.unwrap_or_default(),
        health,
        labels: config.labels.unwrap_or_default().into_iter().collect(),
        ports,
        networks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Docker's inspect JSON (API 1.41 shape) becomes the model's container.
    #[test]
    fn inspect_is_reduced() {
        let json = serde_json::json!({
            "Id": "abc123",
            "Name": "/web-1",
            "Config": {"Hostname": "foo", "Domainname": "", "Labels": {"havok.port": "80"}},
            "State": {"Running": true, "Paused": false, "Health": {"Status": "healthy"}},
            "NetworkSettings": {
                "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "32768"}, {"HostIp": "::", "HostPort": "32768"}], "53/udp": null},
                "Networks": {"bridge": {"IPAddress": "172.17.0.2"}}
            }
        });
        let c = container_from_inspect(serde_json::from_value(json).unwrap());
        assert_eq!(c.name, "web-1");
        assert_eq!(c.hostname, "foo");
        assert!(c.running);
        assert_eq!(c.health, Health::Healthy);
        assert_eq!(c.ports.len(), 2);
        let tcp = c.ports.iter().find(|p| p.protocol == "tcp").unwrap();
        assert_eq!(
            tcp.bindings,
            vec![("0.0.0.0".to_string(), 32768), ("::".to_string(), 32768)]
        );
        assert_eq!(c.networks["bridge"].to_string(), "172.17.0.2");
        assert_eq!(c.labels["havok.port"], "80");
    }
}
