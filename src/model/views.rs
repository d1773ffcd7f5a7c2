//! A container's routes as label views: its one default route, or its named
//! routes (`havok.routes.<name>.<key>`), each seen as a container whose
//! labels are `havok.<key>`, so the rest of the model reads every route alike.

use std::collections::BTreeMap;

use super::{labels, Container, Refusal};

/// One route of a container: `name` is `None` for the default route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteView {
    pub name: Option<String>,
    /// The container, with this route's labels as `havok.<key>`.
    pub container: Container,
}

impl RouteView {
    /// `refusal` as the operator should read it for this route: a named
    /// route's label under its own name, and the route named.
    pub fn refusal(&self, refusal: Refusal) -> Refusal {
        match &self.name {
            None => refusal,
            Some(name) => refusal.in_route(name),
        }
    }
}

/// Whether `name` may name a route: `[a-z0-9-]+`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether a `havok.` label is about a route (not `havok.enable`, not a named route's).
fn is_route_label(label: &str) -> bool {
    label.starts_with(labels::PREFIX)
        && label != labels::ENABLE
        && !label.starts_with(labels::ROUTES_PREFIX)
}

/// The routes a container's labels ask for, in name order: the default route
/// when no label names one. Mixing both forms, or a malformed named label,
/// refuses the container.
pub fn route_views(container: &Container) -> Result<Vec<RouteView>, Refusal> {
    let mut named: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (label, value) in &container.labels {
        let Some(rest) = label.strip_prefix(labels::ROUTES_PREFIX) else {
            continue;
        };
        match rest.split_once('.') {
            Some((name, key)) if valid_name(name) && !key.is_empty() => {
                named.entry(name).or_default().push((key, value));
            }
            _ => {
                return Err(Refusal::BadLabel {
                    label: label.clone(),
                    value: value.clone(),
                    expected: "a label havok.routes.<name>.<key>, the name of a-z, 0-9 and -",
                })
            }
        }
    }
    if named.is_empty() {
        return Ok(vec![RouteView {
            name: None,
            container: container.clone(),
        }]);
    }
    if let Some(unnamed) = container.labels.keys().find(|l| is_route_label(l)) {
        let first = named.keys().next().expect("named is not empty");
        return Err(Refusal::MixedRoutes {
            unnamed: unnamed.clone(),
            named: format!("{}{first}.*", labels::ROUTES_PREFIX),
        });
    }
    let others: BTreeMap<String, String> = container
        .labels
        .iter()
        .filter(|(l, _)| !l.starts_with(labels::ROUTES_PREFIX))
        .map(|(l, v)| (l.clone(), v.clone()))
        .collect();
    Ok(named
        .into_iter()
        .map(|(name, keys)| {
            let mut own = others.clone();
            for (key, value) in keys {
                own.insert(format!("{}{key}", labels::PREFIX), value.to_string());
            }
            RouteView {
                name: Some(name.to_string()),
                container: Container {
                    labels: own,
                    ..container.clone()
                },
            }
        })
        .collect())
}
