//! A routed container's routes and server: [`RouteSpec`], [`ServerSpec`], and
//! the host names, path prefix and URL they are made of.

use serde::Serialize;

use super::container::DEFAULT_HOSTNAME_LEN;
use super::rules::limits_of;
use super::settings::settings_of;
use super::{endpoint_of, is_setting, labels, Container, Limits, Refusal, Rules, Settings};
use crate::ids::{dns_safe, RouteKey, ServerId, DNS_LABEL_MAX, DNS_NAME_MAX};

/// The longest `havok.path` accepted: a bound, so that one label cannot make
/// keys and route expressions of any length; far above any real path prefix.
const PATH_MAX: usize = 1024;

/// One route and the Vulcand settings a container asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RouteSpec {
    pub key: RouteKey,
    pub limits: Limits,
    pub settings: Settings,
}

impl RouteSpec {
    /// A route with no limits and no settings.
    pub fn plain(key: RouteKey) -> RouteSpec {
        RouteSpec {
            key,
            limits: Limits::default(),
            settings: Settings::default(),
        }
    }
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

/// A container's routes with the warnings that did not stop them.
pub(super) type Routed = (Vec<(RouteSpec, ServerSpec)>, Vec<Refusal>);

/// A routed container's routes: one per host name, each with the same
/// path, limits, settings and server; and warnings that do not stop them.
pub(super) fn routes_of(
    container: &Container,
    rules: &Rules,
    node: &str,
) -> Result<Routed, Refusal> {
    let hosts = hosts_of(container, rules)?;
    let path = path_of(container)?;
    let limits = limits_of(container, rules)?;
    let (settings, mut warnings) = settings_of(container, &rules.route_defaults)?;
    warnings.extend(unknown_labels(container));
    let url = endpoint_of(container, rules)?.url;
    let server = ServerSpec {
        id: ServerId::new(node, &container.name),
        url,
        container: container.name.clone(),
    };
    let routes = hosts
        .into_iter()
        .map(|host| {
            let spec = RouteSpec {
                key: RouteKey {
                    host,
                    path: path.clone(),
                },
                limits: limits.clone(),
                settings: settings.clone(),
            };
            (spec, server.clone())
        })
        .collect();
    Ok((routes, warnings))
}

/// A `havok.` label that is neither a label of [`labels::ALL`] nor a
/// setting key: a typo, warned about and ignored.
fn unknown_labels(container: &Container) -> Vec<Refusal> {
    container
        .labels
        .keys()
        .filter_map(|label| Some((label, label.strip_prefix(labels::PREFIX)?)))
        .filter(|(label, key)| !labels::ALL.contains(&label.as_str()) && !is_setting(key))
        .map(|(label, _)| Refusal::UnknownLabel {
            label: label.clone(),
        })
        .collect()
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
                label: labels::HOST.into(),
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
                label: labels::HOST.into(),
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
    container.hostname.len() == DEFAULT_HOSTNAME_LEN
        && container.id.starts_with(&container.hostname)
}

/// Lower-cases and validates a host name (RFC 1123): labels of letters,
/// digits and inner hyphens, 1–63 each, 253 in all. This also keeps out
/// everything that could escape a key prefix or Vulcand's route expression
/// (backquotes, quotes, `/`, spaces, control characters).
pub fn normalize_host(raw: &str) -> Result<String, Refusal> {
    let host = raw.trim_end_matches('.').to_ascii_lowercase();
    let valid = !host.is_empty()
        && host.len() <= DNS_NAME_MAX
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= DNS_LABEL_MAX
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
        && path.len() <= PATH_MAX
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
    if raw.trim() == "/" {
        return Ok(None);
    }
    if !valid || path.contains("//") {
        return Err(Refusal::BadLabel {
            label: labels::PATH.into(),
            value: raw.clone(),
            expected: "a path prefix such as /api (letters, digits, / - . _ ~ %)",
        });
    }
    Ok(Some(path.to_string()))
}
