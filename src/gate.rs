//! The readiness gate of the reconciler: which routed servers may be
//! written (their upstream answered, or needs no probe) and the probes in
//! flight for the others. A server that is not ready is left out of the
//! desired table, so it is neither written nor, once written, kept.
//!
//! It also remembers the containers told to stop (`kill`, `stop`): Docker
//! lists a container as running while it drains after SIGTERM, and a resync
//! in that window must not route it again. A new run of the container (a
//! new `StartedAt`) is routed as usual.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::model::{endpoint_of, route_views, Container, Refusal, RouteSpec, Rules, ServerSpec};
use crate::probe::{self, Answered};
use crate::readiness::{readiness_of, ProbeRules, Readiness};
use crate::sink::{Observed, ServerState};

/// A server waiting for its upstream, as `/routes` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Waiting {
    pub container: String,
    pub url: String,
    /// `GET http://…/` or `tcp 172.17.0.2:80`.
    pub probe: String,
    #[serde(skip)]
    pub since: Instant,
    #[serde(skip)]
    pub timeout: Duration,
}

/// A probe in flight; aborted when dropped (its container went away).
struct InFlight {
    handle: AbortHandle,
    waiting: Waiting,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

pub struct Gate {
    rules: ProbeRules,
    /// Built at the first probe: with `--probe none`, or before any
    /// container is probed, havok pays nothing for an HTTP client.
    http: Option<reqwest::Client>,
    answered: mpsc::Sender<Answered>,
    /// Ready server URLs by container id.
    ready: HashMap<String, BTreeSet<String>>,
    /// Probes in flight by (container id, server URL).
    probing: BTreeMap<(String, String), InFlight>,
    /// `StartedAt` of each container last admitted, by id.
    started: HashMap<String, String>,
    /// Containers told to stop, by id: the `StartedAt` of the run that was.
    stopping: HashMap<String, String>,
}

impl Gate {
    /// Probe results arrive on the receiver that goes with `answered`.
    pub fn new(rules: ProbeRules, answered: mpsc::Sender<Answered>) -> Gate {
        Gate {
            rules,
            http: None,
            answered,
            ready: HashMap::new(),
            probing: BTreeMap::new(),
            started: HashMap::new(),
            stopping: HashMap::new(),
        }
    }

    /// Whether `c` is a run that was told to stop (and drains): not routed.
    pub fn is_stopping(&mut self, c: &Container) -> bool {
        match self.stopping.get(&c.id) {
            Some(run) if *run == c.started_at => true,
            Some(_) => {
                self.stopping.remove(&c.id);
                false
            }
            None => false,
        }
    }

    /// A container went away (`reason` is Docker's event action): forgets
    /// it, and after `kill`, `stop` or `die` remembers that this run ended.
    pub fn gone(&mut self, id: &str, reason: &str) {
        self.forget(id);
        match (self.started.remove(id), reason) {
            (Some(run), "kill" | "stop" | "die") => {
                self.stopping.insert(id.to_string(), run);
            }
            _ => {
                self.stopping.remove(id);
            }
        }
    }

    /// Takes a container the model routes: its servers are ready now, or a
    /// probe starts for each that is neither ready nor probed yet. A bad
    /// probe label refuses the container.
    pub fn admit(
        &mut self,
        c: &Container,
        rules: &Rules,
        routes: &[(RouteSpec, ServerSpec)],
    ) -> Result<(), Refusal> {
        // Each route's readiness (its own probe labels), by server URL: the
        // first route to reach a URL decides how it is probed.
        let urls: BTreeSet<String> = routes.iter().map(|(_, s)| s.url.clone()).collect();
        let mut by_url: BTreeMap<String, Readiness> = BTreeMap::new();
        for view in route_views(c)? {
            let endpoint = match endpoint_of(&view.container, rules) {
                Ok(endpoint) if urls.contains(&endpoint.url) => endpoint,
                _ => continue, // a route the model refused: it has no server
            };
            let readiness =
                readiness_of(&view.container, rules, &self.rules).map_err(|r| view.refusal(r))?;
            by_url.entry(endpoint.url).or_insert(readiness);
        }
        self.started.insert(c.id.clone(), c.started_at.clone());
        // A container re-created or re-published under a new URL is probed anew.
        if let Some(ready) = self.ready.get_mut(&c.id) {
            ready.retain(|u| urls.contains(u));
        }
        self.probing
            .retain(|(id, url), _| id != &c.id || urls.contains(url));
        for url in urls {
            if self.is_ready(&c.id, &url) || self.probing.contains_key(&(c.id.clone(), url.clone()))
            {
                continue;
            }
            match by_url
                .get(&url)
                .unwrap_or(&Readiness::Ready("no route names it"))
            {
                Readiness::Ready(why) => {
                    tracing::trace!(container = %c.name, why, "ready without a probe");
                    self.ready.entry(c.id.clone()).or_default().insert(url);
                }
                Readiness::Probe(p) => {
                    tracing::debug!(container = %c.name, probe = %p.target, "waiting for the upstream to answer");
                    let http = self.http.get_or_insert_with(probe::client);
                    let handle = probe::spawn(
                        http.clone(),
                        c.id.clone(),
                        c.name.clone(),
                        url.clone(),
                        p.clone(),
                        self.answered.clone(),
                    );
                    let waiting = Waiting {
                        container: c.name.clone(),
                        url: url.clone(),
                        probe: p.target.to_string(),
                        since: Instant::now(),
                        timeout: p.timeout,
                    };
                    self.probing
                        .insert((c.id.clone(), url), InFlight { handle, waiting });
                }
            }
        }
        Ok(())
    }

    /// Forgets a container that is gone or no longer routed (stops its probes).
    pub fn forget(&mut self, id: &str) {
        self.ready.remove(id);
        self.probing.retain(|(c, _), _| c != id);
    }

    /// Keeps only the containers of a new listing.
    pub fn retain(&mut self, ids: &BTreeSet<String>) {
        self.ready.retain(|id, _| ids.contains(id));
        self.probing.retain(|(id, _), _| ids.contains(id));
        self.started.retain(|id, _| ids.contains(id));
        self.stopping.retain(|id, _| ids.contains(id));
    }

    pub fn is_ready(&self, id: &str, url: &str) -> bool {
        self.ready.get(id).is_some_and(|r| r.contains(url))
    }

    /// A probe answered: true when it is still wanted (its server is now ready).
    pub fn answered(&mut self, a: &Answered) -> bool {
        if self
            .probing
            .remove(&(a.container.clone(), a.url.clone()))
            .is_none()
        {
            return false;
        }
        self.ready
            .entry(a.container.clone())
            .or_default()
            .insert(a.url.clone());
        true
    }

    /// Servers the store already holds with their URL are ready: they were
    /// routed before a restart, and stay without a write while a probe would run.
    pub fn adopt<'a>(
        &mut self,
        containers: impl IntoIterator<Item = (&'a String, &'a Vec<(RouteSpec, ServerSpec)>)>,
        observed: &Observed,
    ) {
        for (id, routes) in containers {
            for (spec, server) in routes {
                if self.is_ready(id, &server.url) {
                    continue;
                }
                let stored = observed
                    .servers
                    .get(&spec.key)
                    .and_then(|s| s.get(&server.id))
                    .and_then(ServerState::url);
                if stored == Some(server.url.as_str()) {
                    tracing::debug!(container = %server.container, "already in the store: ready");
                    self.probing.remove(&(id.clone(), server.url.clone()));
                    self.ready
                        .entry(id.clone())
                        .or_default()
                        .insert(server.url.clone());
                }
            }
        }
    }

    /// The servers waiting for their upstream, oldest first.
    pub fn waiting(&self) -> Vec<Waiting> {
        let mut out: Vec<Waiting> = self.probing.values().map(|p| p.waiting.clone()).collect();
        out.sort_by_key(|w| w.since);
        out
    }
}
