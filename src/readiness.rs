//! Readiness, pure: whether a routed container's server may be written at
//! once, or only after a probe of its upstream answers. No I/O (`probe` runs
//! the probes).
//!
//! Docker starts a container before the process inside listens, and its
//! userland proxy accepts TCP connections on the published port even then,
//! so a route written at `start` makes Vulcand answer 502 for a while. The
//! default probe is therefore an HTTP request to the very URL Vulcand will
//! use: any HTTP response, whatever its status, means the upstream is there.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::model::{endpoint_of, labels, Container, Health, Refusal, Rules};

/// How the upstream's readiness is told (`--probe`, label `havok.probe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// An HTTP request to the server URL (plus `--probe-path`): any response counts.
    #[default]
    Http,
    /// A TCP connect to the container's own address and port on its network
    /// (not the published port, which Docker's proxy accepts at once).
    Tcp,
    /// No probe: routed at `start`, as before readiness existed.
    None,
}

impl FromStr for ProbeKind {
    type Err = ();
    fn from_str(s: &str) -> Result<ProbeKind, ()> {
        match s.trim() {
            "http" => Ok(ProbeKind::Http),
            "tcp" => Ok(ProbeKind::Tcp),
            "none" => Ok(ProbeKind::None),
            _ => Err(()),
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::None => "none",
        })
    }
}

/// The fleet-wide probe settings (flags); labels override them per container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRules {
    pub kind: ProbeKind,
    /// `/healthz`: the path of the HTTP probe.
    pub path: String,
    /// How long an upstream may take to answer before havok warns and
    /// `/routes` shows it as overdue. Probing goes on after it.
    pub timeout: Duration,
}

/// The default `--probe-timeout`.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ProbeRules {
    fn default() -> ProbeRules {
        ProbeRules {
            kind: ProbeKind::Http,
            path: "/".into(),
            timeout: DEFAULT_PROBE_TIMEOUT,
        }
    }
}

/// What one probe attempt contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `GET` this URL (the server URL and the probe path).
    Http(String),
    /// Connect to this address.
    Tcp(SocketAddr),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(url) => write!(f, "GET {url}"),
            Target::Tcp(addr) => write!(f, "tcp {addr}"),
        }
    }
}

/// A probe to run until the upstream answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub target: Target,
    /// After this long without an answer: one warning, and `/routes` says so.
    pub timeout: Duration,
}

/// Whether a routed container's server may be written now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Write it now: Docker's HEALTHCHECK already decided (the model routes
    /// only healthy containers), or probing is off.
    Ready(&'static str),
    /// Write it once this probe answers.
    Probe(Probe),
}

/// The readiness of a container the model routes, under `rules` and its labels.
pub fn readiness_of(
    container: &Container,
    rules: &Rules,
    probe: &ProbeRules,
) -> Result<Readiness, Refusal> {
    let kind = match container.labels.get(labels::PROBE) {
        None => probe.kind,
        Some(raw) => raw.parse().map_err(|()| Refusal::BadLabel {
            label: labels::PROBE.into(),
            value: raw.clone(),
            expected: "http, tcp or none",
        })?,
    };
    let path = match container.labels.get(labels::PROBE_PATH) {
        None => probe.path.clone(),
        Some(raw) if raw.trim().starts_with('/') && !raw.trim().contains(char::is_whitespace) => {
            raw.trim().to_string()
        }
        Some(raw) => {
            return Err(Refusal::BadLabel {
                label: labels::PROBE_PATH.into(),
                value: raw.clone(),
                expected: "a URL path starting with / (such as /healthz)",
            })
        }
    };
    let timeout = match container.labels.get(labels::PROBE_TIMEOUT) {
        None => probe.timeout,
        Some(raw) => match humantime::parse_duration(raw.trim()) {
            Ok(d) if !d.is_zero() => d,
            _ => {
                return Err(Refusal::BadLabel {
                    label: labels::PROBE_TIMEOUT.into(),
                    value: raw.clone(),
                    expected: "a duration such as 30s or 2m",
                })
            }
        },
    };
    if container.health != Health::None {
        return Ok(Readiness::Ready("Docker's HEALTHCHECK decides"));
    }
    let endpoint = endpoint_of(container, rules)?;
    let target = match kind {
        ProbeKind::None => return Ok(Readiness::Ready("probing is off")),
        ProbeKind::Http => Target::Http(format!("{}{}", endpoint.url, path)),
        ProbeKind::Tcp => {
            let ip: IpAddr = endpoint.container_ip.ok_or(Refusal::NoProbeAddress)?;
            Target::Tcp(SocketAddr::new(ip, endpoint.container_port))
        }
    };
    Ok(Readiness::Probe(Probe { target, timeout }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use regex::Regex;

    use super::*;
    use crate::model::Port;

    fn container(labels: &[(&str, &str)], health: Health) -> Container {
        Container {
            id: "c1".into(),
            name: "web-1".into(),
            hostname: "web".into(),
            running: true,
            health,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ports: vec![Port {
                port: 80,
                protocol: "tcp".into(),
                bindings: vec![("0.0.0.0".into(), 32768)],
            }],
            networks: BTreeMap::from([("bridge".to_string(), "172.17.0.2".parse().unwrap())]),
            ..Container::default()
        }
    }

    fn rules() -> Rules {
        Rules::new(
            Regex::new(".*").unwrap(),
            "local",
            "10.0.0.5".parse().unwrap(),
        )
    }

    fn probe(target: Target, secs: u64) -> Result<Readiness, Refusal> {
        Ok(Readiness::Probe(Probe {
            target,
            timeout: Duration::from_secs(secs),
        }))
    }

    /// Flags, labels and Docker's health decide when and how a server is probed.
    #[test]
    fn readiness_table() {
        let http = |url: &str| Target::Http(url.to_string());
        let tcp = |a: &str| Target::Tcp(a.parse().unwrap());
        let bad = |label: &'static str, value: &str, expected: &'static str| {
            Err(Refusal::BadLabel {
                label: label.into(),
                value: value.into(),
                expected,
            })
        };
        type Case<'a> = (
            &'a str,
            Vec<(&'a str, &'a str)>,
            Health,
            Result<Readiness, Refusal>,
        );
        let cases: Vec<Case> = vec![
            (
                "default: HTTP to the server URL",
                vec![],
                Health::None,
                probe(http("http://10.0.0.5:32768/"), 30),
            ),
            (
                "path and timeout from labels",
                vec![
                    ("havok.probe-path", "/healthz"),
                    ("havok.probe-timeout", "5s"),
                ],
                Health::None,
                probe(http("http://10.0.0.5:32768/healthz"), 5),
            ),
            (
                "tcp: the container's own address and port",
                vec![("havok.probe", "tcp")],
                Health::None,
                probe(tcp("172.17.0.2:80"), 30),
            ),
            (
                "none: ready at once",
                vec![("havok.probe", "none")],
                Health::None,
                Ok(Readiness::Ready("probing is off")),
            ),
            (
                "a HEALTHCHECK decides",
                vec![],
                Health::Healthy,
                Ok(Readiness::Ready("Docker's HEALTHCHECK decides")),
            ),
            (
                "bad kind",
                vec![("havok.probe", "icmp")],
                Health::None,
                bad("havok.probe", "icmp", "http, tcp or none"),
            ),
            (
                "bad path",
                vec![("havok.probe-path", "healthz")],
                Health::None,
                bad(
                    "havok.probe-path",
                    "healthz",
                    "a URL path starting with / (such as /healthz)",
                ),
            ),
            (
                "bad timeout",
                vec![("havok.probe-timeout", "soon")],
                Health::None,
                bad(
                    "havok.probe-timeout",
                    "soon",
                    "a duration such as 30s or 2m",
                ),
            ),
            (
                "zero timeout",
                vec![("havok.probe-timeout", "0s")],
                Health::None,
                bad("havok.probe-timeout", "0s", "a duration such as 30s or 2m"),
            ),
        ];
        for (what, labels, health, want) in cases {
            let got = readiness_of(
                &container(&labels, health),
                &rules(),
                &ProbeRules::default(),
            );
            assert_eq!(got, want, "{what}");
        }
    }

    /// The flags set the fleet-wide kind.
    #[test]
    fn flags_set_the_default_kind() {
        let off = ProbeRules {
            kind: ProbeKind::None,
            ..ProbeRules::default()
        };
        let got = readiness_of(&container(&[], Health::None), &rules(), &off);
        assert_eq!(got, Ok(Readiness::Ready("probing is off")));
        let got = readiness_of(
            &container(&[("havok.probe", "http")], Health::None),
            &rules(),
            &off,
        );
        assert!(matches!(got, Ok(Readiness::Probe(_))), "{got:?}");
    }
}
