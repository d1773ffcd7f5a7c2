//! What the reconciler tells operators: the table's metrics and status,
//! warn-once texts for routes that disagree, and one log line per write.

use std::collections::BTreeSet;

use super::Reconciler;
use crate::ids::RouteKey;
use crate::model::{RouteTable, Wanted};
use crate::plan::Conflict;
use crate::sink::Op;

impl Reconciler {
    pub(super) fn publish(&mut self, desired: &RouteTable) {
        self.metrics.routes.set(desired.routes.len() as i64);
        self.metrics.servers.set(desired.server_count() as i64);
        // Containers of this node that disagree about a route's frontend
        // settings: the first by name wins; warn once per route and text.
        self.container_conflicts.retain(|key, _| {
            desired
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
        self.status.set_table(desired.clone());
        self.status.set_waiting(self.gate.waiting());
    }

    /// Warns once per route and text. Every plan covers every desired route,
    /// so a route absent from `conflicts` has none now: forget it, or the map
    /// would grow with every route that ever had a conflict.
    pub(super) fn warn_conflicts(&mut self, conflicts: &[Conflict]) {
        let now: BTreeSet<&RouteKey> = conflicts.iter().map(|c| &c.key).collect();
        self.conflicts.retain(|key, _| now.contains(key));
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

pub(super) fn log_op(op: &Op, dry_run: bool) {
    let would = if dry_run { "would " } else { "" };
    match op {
        Op::Put(put) => {
            for s in &put.servers {
                tracing::info!(host = %put.key, server = %s.id, url = %s.url, container = %s.container, "{would}add server");
            }
            if put.rewrite_route {
                tracing::info!(host = %put.key, "{would}write frontend and backend");
            }
        }
        Op::DeleteServer { key, server } => {
            tracing::info!(host = %key, server = %server, "{would}remove server");
        }
        Op::RemoveRouteIfEmpty { key } => {
            tracing::info!(host = %key, "{would}remove route if no server remains")
        }
    }
}
