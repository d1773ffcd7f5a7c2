//! What the reconciler tells operators: the table's metrics and status,
//! warn-once texts for routes that disagree, and one log line per write.

use std::collections::BTreeSet;
use std::time::Duration;

use super::Reconciler;
use crate::ids::RouteKey;
use crate::model::{RouteTable, Wanted};
use crate::plan::Conflict;
use crate::sink::Op;

impl Reconciler {
    /// The table to the metrics and `/routes`: all of it after a full pass
    /// (`scope` `None`), else only the routes in `scope` (`desired` holds
    /// those of them this node still wants).
    pub(super) fn publish(&mut self, desired: &RouteTable, scope: Option<&BTreeSet<RouteKey>>) {
        let (routes, servers) = match scope {
            None => {
                self.status.set_table(desired.clone());
                (desired.routes.len(), desired.server_count())
            }
            Some(keys) => self.status.replace_routes(keys, desired),
        };
        self.metrics.routes.set(routes as i64);
        self.metrics.servers.set(servers as i64);
        self.warn_container_conflicts(desired, scope);
        self.status.set_waiting(self.gate.waiting());
    }

    /// Containers of this node that disagree about a route's frontend
    /// settings: the first by name wins; warn once per route and text.
    /// `desired` covers the routes in `scope` (all routes when `None`).
    fn warn_container_conflicts(
        &mut self,
        desired: &RouteTable,
        scope: Option<&BTreeSet<RouteKey>>,
    ) {
        self.container_conflicts.retain(|key, _| {
            scope.is_some_and(|keys| !keys.contains(key))
                || desired
                    .routes
                    .get(key)
                    .is_some_and(|e| !e.conflicts.is_empty())
        });
        for (key, entry) in &desired.routes {
            if entry.conflicts.is_empty() {
                continue;
            }
            let json = |w: &Wanted| serde_json::to_string(w).unwrap_or_default();
            let winner = entry.servers.values().map(|s| s.container.as_str()).min();
            let others: Vec<String> = entry
                .conflicts
                .iter()
                .map(|(container, wanted)| format!("{container} wants {}", json(wanted)))
                .collect();
            let text = format!(
                "containers ask for other route settings: {}; using {} from {} (the first by name)",
                others.join(", "),
                json(&Wanted::of(&entry.spec)),
                winner.unwrap_or("?")
            );
            if self.container_conflicts.get(key) != Some(&text) {
                tracing::warn!(route = %key, "{text}");
                self.container_conflicts.insert(key.clone(), text);
            }
        }
    }

    /// Warns once per route and text. A plan covers every desired route in
    /// `scope` (all when `None`), so a route there absent from `conflicts`
    /// has none now: forget it, or the map would grow with every route that
    /// ever had a conflict.
    pub(super) fn warn_conflicts(
        &mut self,
        conflicts: &[Conflict],
        scope: Option<&BTreeSet<RouteKey>>,
    ) {
        let now: BTreeSet<&RouteKey> = conflicts.iter().map(|c| &c.key).collect();
        self.conflicts
            .retain(|key, _| now.contains(key) || scope.is_some_and(|keys| !keys.contains(key)));
        for c in conflicts {
            let text = format!(
                "this node's {} want route settings {}, the store has {} (set by another node: its servers {}); leaving it as it is",
                c.containers.join(", "),
                c.ours,
                c.theirs,
                c.others.join(", ")
            );
            if self.conflicts.get(&c.key) != Some(&text) {
                tracing::warn!(route = %c.key, "{text}");
                self.conflicts.insert(c.key.clone(), text);
            }
        }
    }
}

pub(super) fn log_op(op: &Op, dry_run: bool, took: Duration) {
    let would = if dry_run { "would " } else { "" };
    match op {
        Op::Put(put) => {
            for s in &put.servers {
                tracing::info!(host = %put.key, server = %s.id, url = %s.url, container = %s.container, ?took, "{would}add server");
            }
            if put.rewrite_route {
                tracing::info!(host = %put.key, ?took, "{would}write frontend and backend");
            }
        }
        Op::DeleteServer { key, server } => {
            tracing::info!(host = %key, server = %server, ?took, "{would}remove server");
        }
        Op::RemoveRouteIfEmpty { key } => {
            tracing::info!(host = %key, ?took, "{would}remove route if no server remains")
        }
    }
}
