//! What the daemon knows about itself, shared by the reconciler, the Docker
//! watcher and the `--listen` endpoints: health of each side and the route table.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::gate::Waiting;
use crate::ids::RouteKey;
use crate::model::RouteTable;

/// A cheap, cloneable handle on the daemon's state.
#[derive(Clone, Default)]
pub struct Status {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// `Some(reason)` while the Docker connection or event stream is down; starts down.
    docker_error: Option<String>,
    docker_seen: bool,
    store_error: Option<String>,
    store_seen: bool,
    last_sync: Option<Instant>,
    table: RouteTable,
    waiting: Vec<Waiting>,
}

impl Status {
    pub fn set_docker(&self, error: Option<String>) {
        let mut inner = self.inner.lock().unwrap();
        inner.docker_seen |= error.is_none();
        inner.docker_error = error;
    }

    pub fn set_store(&self, error: Option<String>) {
        let mut inner = self.inner.lock().unwrap();
        inner.store_seen |= error.is_none();
        if error.is_none() {
            inner.last_sync = Some(Instant::now());
        }
        inner.store_error = error;
    }

    pub fn set_table(&self, table: RouteTable) {
        self.inner.lock().unwrap().table = table;
    }

    /// Replaces the routes in `keys` with those of `part` (the ones of them
    /// still wanted); returns the table's routes and servers after.
    pub fn replace_routes(&self, keys: &BTreeSet<RouteKey>, part: &RouteTable) -> (usize, usize) {
        let table = &mut self.inner.lock().unwrap().table;
        for key in keys {
            table.routes.remove(key);
        }
        table
            .routes
            .extend(part.routes.iter().map(|(k, e)| (k.clone(), e.clone())));
        (table.routes.len(), table.server_count())
    }

    pub fn table(&self) -> RouteTable {
        self.inner.lock().unwrap().table.clone()
    }

    /// The servers waiting for their upstream to answer (not routed yet).
    pub fn set_waiting(&self, waiting: Vec<Waiting>) {
        self.inner.lock().unwrap().waiting = waiting;
    }

    /// `/routes`: the route table, and the servers not routed yet because
    /// their upstream has not answered (`overdue` past the probe timeout).
    pub fn routes_json(&self) -> serde_json::Value {
        let inner = self.inner.lock().unwrap();
        let mut json = serde_json::to_value(&inner.table).unwrap_or_default();
        let waiting: Vec<serde_json::Value> = inner
            .waiting
            .iter()
            .map(|w| {
                let waited = w.since.elapsed();
                serde_json::json!({
                    "container": w.container,
                    "url": w.url,
                    "probe": w.probe,
                    "waiting_seconds": waited.as_secs(),
                    "overdue": waited >= w.timeout,
                })
            })
            .collect();
        json["waiting"] = serde_json::Value::Array(waiting);
        json
    }

    /// Seconds since the store last accepted a full pass.
    pub fn seconds_since_sync(&self) -> Option<f64> {
        self.inner
            .lock()
            .unwrap()
            .last_sync
            .map(|t| t.elapsed().as_secs_f64())
    }

    /// `Ok` while both sides are healthy, else the reasons.
    pub fn health(&self) -> Result<(), String> {
        let inner = self.inner.lock().unwrap();
        let mut reasons = Vec::new();
        match (&inner.docker_error, inner.docker_seen) {
            (Some(e), _) => reasons.push(format!("docker: {e}")),
            (None, false) => reasons.push("docker: not connected yet".to_string()),
            _ => {}
        }
        match (&inner.store_error, inner.store_seen) {
            (Some(e), _) => reasons.push(format!("store: {e}")),
            (None, false) => reasons.push("store: no successful sync yet".to_string()),
            _ => {}
        }
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }
}
