//! The pure route model: what one Docker container means for Vulcand. No I/O.
//!
//! A [`Container`] (Docker's inspect, reduced to what matters) and the
//! [`Rules`] (flags) give a [`Verdict`]: the container is ignored, refused with
//! a warning, or routed as one server on one or more routes. The routes of
//! every container of this node make the [`RouteTable`], the desired state the
//! reconciler writes.
//!
//! - `container`: Docker's facts ([`Container`], [`Health`], [`Port`]).
//! - `rules`: the operator's flags and labels ([`Rules`], [`labels`], [`Limits`]).
//! - `route`: a routed container's [`RouteSpec`]s and [`ServerSpec`]: hosts, path.
//! - `endpoint`: where a container is reached ([`Endpoint`]).
//! - `table`: every route of this node ([`RouteTable`]).
//! - here: [`route_container`], the [`Verdict`] and the [`Refusal`]s.
//!
//! Route keys and ids are in [`crate::ids`].

mod container;
mod endpoint;
mod route;
mod rules;
mod table;

pub use container::{Container, Health, Port};
pub use endpoint::{endpoint_of, Endpoint};
pub use route::{normalize_host, RouteSpec, ServerSpec};
pub use rules::{labels, ConnLimit, Limits, RateLimit, Rules};
pub use table::{RouteEntry, RouteTable};

use route::routes_of;

use crate::ids::{DNS_LABEL_MAX, DNS_NAME_MAX};

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
    #[error("host name {0:?} is not a valid DNS name (RFC 1123 letters, digits and hyphens, labels of at most {DNS_LABEL_MAX} and at most {DNS_NAME_MAX} in all)")]
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

#[cfg(test)]
mod tests;
