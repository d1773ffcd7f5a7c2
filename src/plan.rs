//! Pure: the ops that turn what the store holds for this node into what it
//! should hold (`plan`), and what the store holds once they succeeded
//! (`record`). The reconciler and the dry-run sink both use them; no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ids::RouteKey;
use crate::model::{RouteEntry, RouteTable, ServerSpec};
use crate::sink::{Observed, Op, RoutePut, RouteState, ServerState};
use crate::vulcand::RouteObjects;

/// A route whose settings in the store (the backend's or frontend's
/// `Settings`, or the middlewares) differ from this node's, while other
/// nodes have servers on it: left alone and warned about once.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub key: RouteKey,
    /// What differs, as this node would write it: `{"backend": …,
    /// "frontend": …, "middlewares": {…}}`, only the parts that differ.
    pub ours: Value,
    /// The same parts as the store holds them.
    pub theirs: Value,
    /// This node's containers on the route.
    pub containers: Vec<String>,
    /// The other nodes' servers on it, as their ids name them (`<node>--<container>`).
    pub others: Vec<String>,
}

/// The ops that turn `observed` into `desired`, and the conflicts left alone.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub ops: Vec<Op>,
    pub conflicts: Vec<Conflict>,
}

/// Diffs this node's desired routes against what the store holds for it.
///
/// A route the store was not read for (no `RouteState`) gets its objects
/// created only if missing; a route read and found different is rewritten.
/// Settings that differ (the backend's or frontend's `Settings`, or the
/// middlewares) are rewritten only while this node holds every server of
/// the route: otherwise another node disagrees, and rewriting would flap
/// between the two. Anything else that differs (a missing or hand-edited
/// object) is repaired. A route this node no longer wants loses its
/// servers and is then removed if no other node has one on it.
pub fn plan(desired: &RouteTable, observed: &Observed) -> Plan {
    plan_routes(desired, observed, observed.servers.keys())
}

/// [`plan`] for only the routes in `keys`, the ones an event touched:
/// `desired` holds those of them this node wants, and routes outside `keys`
/// are left as they are, unread and unwritten. For those routes the ops
/// are the ones [`plan`] makes, in the same order.
pub fn plan_within(desired: &RouteTable, observed: &Observed, keys: &BTreeSet<RouteKey>) -> Plan {
    debug_assert!(desired.routes.keys().all(|key| keys.contains(key)));
    plan_routes(
        desired,
        observed,
        keys.iter()
            .filter(|key| observed.servers.contains_key(*key)),
    )
}

/// The ops of every route in `desired`, then the removals among the routes
/// `held` names (routes the store holds servers of this node on).
fn plan_routes<'a>(
    desired: &RouteTable,
    observed: &Observed,
    held: impl Iterator<Item = &'a RouteKey>,
) -> Plan {
    let mut out = Plan::default();
    let empty = BTreeMap::new();
    for (key, entry) in &desired.routes {
        let own = observed.servers.get(key).unwrap_or(&empty);
        let objects = RouteObjects::of(&entry.spec);
        let mut route_in_place = false;
        let mut stale_middlewares = Vec::new();
        let rewrite_route = match observed.routes.get(key) {
            None => false,
            Some(state) => {
                let backend_ok = state.backend.as_ref() == Some(&objects.backend);
                let frontend_ok = state.frontend.as_ref() == Some(&objects.frontend);
                let ours = middleware_map(&objects);
                let middlewares_ok = state.middlewares == ours;
                // Only the settings differ: another node's, or this node's earlier.
                let settings_differ = !(backend_ok && frontend_ok && middlewares_ok)
                    && state
                        .backend
                        .as_ref()
                        .is_some_and(|b| same_but_settings(b, &objects.backend))
                    && state
                        .frontend
                        .as_ref()
                        .is_some_and(|f| same_but_settings(f, &objects.frontend));
                let live = own.values().filter(|s| s.url().is_some()).count();
                let sole_owner = state.server_count <= live;
                if settings_differ && !sole_owner {
                    out.conflicts
                        .push(conflict(key, entry, &objects, &ours, state));
                }
                route_in_place = backend_ok && frontend_ok && middlewares_ok;
                let rewrite = !route_in_place && (sole_owner || !settings_differ);
                if rewrite {
                    stale_middlewares = objects
                        .stale_middlewares()
                        .filter(|mid| state.middlewares.contains_key(*mid))
                        .collect();
                }
                rewrite
            }
        };
        let servers: Vec<ServerSpec> = entry
            .servers
            .values()
            .filter(|s| own.get(&s.id).and_then(ServerState::url) != Some(s.url.as_str()))
            .cloned()
            .collect();
        if rewrite_route || !servers.is_empty() {
            out.ops.push(Op::Put(RoutePut {
                key: key.clone(),
                objects,
                servers,
                rewrite_route,
                route_in_place,
                stale_middlewares,
            }));
        }
    }
    for key in held {
        let own = &observed.servers[key];
        let wanted = desired.routes.get(key);
        let stale = own
            .keys()
            .filter(|id| wanted.is_none_or(|e| !e.servers.contains_key(*id)));
        for id in stale {
            out.ops.push(Op::DeleteServer {
                key: key.clone(),
                server: id.clone(),
            });
        }
        if wanted.is_none() && !own.is_empty() {
            // This node's last server on it is gone: remove it if no other node has one.
            out.ops.push(Op::RemoveRouteIfEmpty { key: key.clone() });
        }
    }
    out
}

/// The conflict of a route whose settings differ from the store's, with
/// only the parts that differ: the backend's or frontend's `Settings`, the
/// middlewares; this node's containers and the other nodes' servers.
fn conflict(
    key: &RouteKey,
    entry: &RouteEntry,
    objects: &RouteObjects,
    ours: &BTreeMap<String, Value>,
    state: &RouteState,
) -> Conflict {
    let settings = |v: Option<&Value>| {
        v.and_then(|v| v.get("Settings"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let parts = [
        (
            "backend",
            settings(Some(&objects.backend)),
            settings(state.backend.as_ref()),
        ),
        (
            "frontend",
            settings(Some(&objects.frontend)),
            settings(state.frontend.as_ref()),
        ),
        (
            "middlewares",
            serde_json::to_value(ours).unwrap_or_default(),
            serde_json::to_value(&state.middlewares).unwrap_or_default(),
        ),
    ];
    let mut mine = serde_json::Map::new();
    let mut theirs = serde_json::Map::new();
    for (name, a, b) in parts {
        if a != b {
            mine.insert(name.into(), a);
            theirs.insert(name.into(), b);
        }
    }
    Conflict {
        key: key.clone(),
        ours: Value::Object(mine),
        theirs: Value::Object(theirs),
        containers: entry
            .servers
            .values()
            .map(|s| s.container.clone())
            .collect(),
        others: state
            .others
            .iter()
            .map(|id| id.readable().to_string())
            .collect(),
    }
}

/// Whether two stored objects are the same but for their `Settings`.
fn same_but_settings(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| match v {
        Value::Object(map) => {
            let mut map = map.clone();
            map.remove("Settings");
            Value::Object(map)
        }
        other => other.clone(),
    };
    strip(a) == strip(b)
}

/// Updates `cache`, what the store holds for this node, after `ops` succeeded.
pub fn record(cache: &mut Observed, ops: &[Op]) {
    for op in ops {
        match op {
            Op::Put(put) => {
                let own = cache.servers.entry(put.key.clone()).or_default();
                let mut added = 0;
                for s in &put.servers {
                    if own
                        .insert(s.id.clone(), ServerState::Live(s.url.clone()))
                        .is_none()
                    {
                        added += 1;
                    }
                }
                let state = cache
                    .routes
                    .entry(put.key.clone())
                    .or_insert_with(|| route_state(&put.objects, 0));
                if put.rewrite_route {
                    *state = route_state(&put.objects, state.server_count);
                }
                state.server_count += added;
            }
            Op::DeleteServer { key, server } => {
                let mut removed = false;
                if let Some(own) = cache.servers.get_mut(key) {
                    removed = own.remove(server).is_some();
                    if own.is_empty() {
                        cache.servers.remove(key);
                    }
                }
                if let Some(state) = cache.routes.get_mut(key) {
                    state.server_count = state.server_count.saturating_sub(usize::from(removed));
                }
            }
            Op::RemoveRouteIfEmpty { key } => {
                cache.routes.remove(key);
            }
        }
    }
}

/// The state of a route whose objects are exactly `objects`.
pub fn route_state(objects: &RouteObjects, server_count: usize) -> RouteState {
    RouteState {
        backend: Some(objects.backend.clone()),
        frontend: Some(objects.frontend.clone()),
        middlewares: middleware_map(objects),
        server_count,
        others: Vec::new(),
    }
}

fn middleware_map(objects: &RouteObjects) -> BTreeMap<String, Value> {
    objects
        .middlewares
        .iter()
        .map(|(id, v)| (id.to_string(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
