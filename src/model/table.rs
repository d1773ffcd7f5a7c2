//! The desired state of one node: [`RouteTable`], every route its containers
//! ask for with their servers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Limits, RouteSpec, ServerSpec, Settings};
use crate::ids::{RouteKey, ServerId};

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
    /// Containers of this node that asked for other limits or settings
    /// than `spec` (the first container by name wins); the reconciler warns once.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<(String, Wanted)>,
}

/// What a container asked of a route besides its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Wanted {
    pub limits: Limits,
    pub settings: Settings,
}

impl Wanted {
    pub fn of(spec: &RouteSpec) -> Wanted {
        Wanted {
            limits: spec.limits.clone(),
            settings: spec.settings.clone(),
        }
    }
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
            if entry.spec.limits != spec.limits || entry.spec.settings != spec.settings {
                entry
                    .conflicts
                    .push((server.container.clone(), Wanted::of(spec)));
            }
            entry.servers.insert(server.id.clone(), server.clone());
        }
        table
    }

    pub fn server_count(&self) -> usize {
        self.routes.values().map(|r| r.servers.len()).sum()
    }
}
