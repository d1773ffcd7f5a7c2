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
//! - `settings`: Vulcand's settings of a route ([`Settings`], [`SETTINGS`]),
//!   checked with `predicate` (Vulcand's predicate grammars) and `re2` (Go's regexp syntax).
//! - `route`: a routed container's [`RouteSpec`]s and [`ServerSpec`]: hosts, path.
//! - `endpoint`: where a container is reached ([`Endpoint`]).
//! - `table`: every route of this node ([`RouteTable`]).
//! - `views`: a container's default route or its named routes ([`RouteView`]).
//! - here: [`route_container`], the [`Verdict`] and the [`Refusal`]s.
//!
//! Route keys and ids are in [`crate::ids`].

mod container;
mod endpoint;
mod predicate;
mod re2;
mod route;
mod rules;
mod settings;
mod table;
mod views;

pub use container::{Container, Health, Port};
pub use endpoint::{endpoint_of, Endpoint};
pub use route::{normalize_host, RouteSpec, ServerSpec};
pub use rules::{labels, ConnLimit, Limits, RateLimit, Rules};
pub use settings::{
    check_route_defaults, is_setting, keys, BackendSettings, CircuitBreaker, FrontendSettings,
    Rewrite, Setting, Settings, Trace, SETTINGS,
};
pub use table::{RouteEntry, RouteTable, Wanted};
pub use views::{route_views, RouteView};

use route::routes_of;

use std::collections::BTreeMap;

use crate::ids::{RouteKey, DNS_LABEL_MAX, DNS_NAME_MAX};

/// What the model makes of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Routed: one server on each of these routes.
    Routed(Vec<(RouteSpec, ServerSpec)>),
    /// Routed, with one warning per container: some named routes refused (a
    /// bad value takes down only its route), or labels ignored.
    RoutedWithWarning(Vec<(RouteSpec, ServerSpec)>, Refusal),
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
        label: String,
        value: String,
        expected: &'static str,
    },
    #[error("label {label}={value:?}: {why}; expected {expected}")]
    BadSetting {
        label: String,
        value: String,
        why: String,
        expected: &'static str,
    },
    #[error("label {label} is not one havok knows (a typo?): ignored")]
    UnknownLabel { label: String },
    #[error(
        "label {label} has no effect with stream=true (Vulcand does not buffer a streamed route)"
    )]
    StreamIgnores { label: String },
    #[error("labels {unnamed} and {named} mix an un-named route with named ones: use havok.routes.<name>.<key> for every route")]
    MixedRoutes { unnamed: String, named: String },
    #[error("routes {first:?} and {second:?} both ask for {route}: a route may be served once per container")]
    SameRoute {
        first: String,
        second: String,
        route: String,
    },
    #[error("route {name:?}: {refusal}")]
    InRoute { name: String, refusal: Box<Refusal> },
    /// Some routes of a container are written, these are not: one warning.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Several(Vec<Refusal>),
}

impl Refusal {
    /// This refusal as it applies to the named route `name`: a label it
    /// names is that route's (`havok.port` → `havok.routes.<name>.port`).
    pub fn in_route(self, name: &str) -> Refusal {
        let rename = |label: String| match label.strip_prefix(labels::PREFIX) {
            Some(key) => format!("{}{name}.{key}", labels::ROUTES_PREFIX),
            None => label,
        };
        let refusal = match self {
            Refusal::BadLabel {
                label,
                value,
                expected,
            } => Refusal::BadLabel {
                label: rename(label),
                value,
                expected,
            },
            Refusal::BadSetting {
                label,
                value,
                why,
                expected,
            } => Refusal::BadSetting {
                label: rename(label),
                value,
                why,
                expected,
            },
            Refusal::UnknownLabel { label } => Refusal::UnknownLabel {
                label: rename(label),
            },
            Refusal::StreamIgnores { label } => Refusal::StreamIgnores {
                label: rename(label),
            },
            other => other,
        };
        Refusal::InRoute {
            name: name.to_string(),
            refusal: Box::new(refusal),
        }
    }
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
    let views = match route_views(container) {
        Ok(views) => views,
        Err(refusal) => return Verdict::Refused(refusal),
    };
    let mut routed: Vec<(RouteSpec, ServerSpec)> = Vec::new();
    // Which route (by name) asked for each route key first.
    let mut owners: BTreeMap<RouteKey, String> = BTreeMap::new();
    let mut refused = Vec::new();
    for view in &views {
        let routes = match routes_of(&view.container, rules, node) {
            Ok((routes, warnings)) => {
                refused.extend(warnings.into_iter().map(|w| view.refusal(w)));
                routes
            }
            Err(refusal) => {
                refused.push(view.refusal(refusal));
                continue;
            }
        };
        let name = view.name.clone().unwrap_or_default();
        if let Some((spec, _)) = routes.iter().find(|(s, _)| owners.contains_key(&s.key)) {
            refused.push(Refusal::SameRoute {
                first: owners[&spec.key].clone(),
                second: name,
                route: spec.key.to_string(),
            });
            continue;
        }
        for (spec, _) in &routes {
            owners.insert(spec.key.clone(), name.clone());
        }
        routed.extend(routes);
    }
    match (routed.is_empty(), refused.len()) {
        (false, 0) => Verdict::Routed(routed),
        (true, 1) => Verdict::Refused(refused.remove(0)),
        (true, _) => Verdict::Refused(Refusal::Several(refused)),
        (false, 1) => Verdict::RoutedWithWarning(routed, refused.remove(0)),
        (false, _) => Verdict::RoutedWithWarning(routed, Refusal::Several(refused)),
    }
}

fn refuse_label(label: &'static str, value: &str, expected: &'static str) -> Verdict {
    Verdict::Refused(Refusal::BadLabel {
        label: label.into(),
        value: value.to_string(),
        expected,
    })
}

#[cfg(test)]
mod tests;
