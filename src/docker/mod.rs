//! The Docker side (bollard only): connect, list running containers, then
//! watch container events; re-connect with backoff and re-list after any error.
//!
//! It sends [`DockerUpdate`]s to the reconciler: a full listing at start, on
//! every `--resync-interval` and after every reconnect, and one update per
//! event that can change a route (one inspect per event, never a listing).
//! A starting container is inspected at its network `connect` (`early`), so
//! its route does not wait for the `start` event and an inspect after it.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::errors::Error as BollardError;
use bollard::models::{EventMessage, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::{Docker, API_DEFAULT_VERSION};
use futures_util::stream::FuturesUnordered;
use futures_util::{stream, StreamExt};
use regex::Regex;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::model::Container;
use crate::status::Status;

mod early;
mod inspect;
use early::{Early, OnStart};
pub use inspect::container_from_inspect;

/// What the watcher tells the reconciler.
#[derive(Debug, Clone, PartialEq)]
pub enum DockerUpdate {
    /// Every running container that may match (inspected): the complete desired input.
    Listing(Vec<Container>),
    /// One container's state after an event that can add or change its route.
    Changed(Container),
    /// A container going away (`die`, `stop`, a terminating `kill`, …): remove its servers now.
    Gone { id: String, reason: String },
}

/// A failure on the Docker side; every one is retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot connect to Docker at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("Docker at {url}: {what} failed: {reason}")]
    Request {
        url: String,
        what: &'static str,
        reason: String,
    },
    #[error("Docker at {url}: the event stream ended")]
    StreamEnded { url: String },
}

/// Signals in a `kill` event that end the container (`docker stop` sends
/// SIGTERM first, so removing on it drains traffic before the process exits).
const TERMINATING_SIGNALS: [&str; 8] = [
    "15", "9", "2", "3", "SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT",
];

/// Docker connection settings and the filters applied before any inspect.
#[derive(Debug, Clone)]
pub struct Watcher {
    url: String,
    names: Regex,
    label_filters: Vec<(String, String)>,
    resync_interval: Duration,
    max_backoff: Duration,
}

impl Watcher {
    pub fn new(
        url: &str,
        names: Regex,
        label_filters: Vec<(String, String)>,
        resync_interval: Duration,
        max_backoff: Duration,
    ) -> Watcher {
        Watcher {
            url: url.to_string(),
            names,
            label_filters,
            resync_interval,
            max_backoff,
        }
    }

    /// Connects and agrees on an API version (Docker 20.10 speaks at most 1.41).
    pub async fn connect(&self) -> Result<Docker, DockerError> {
        let err = |e: BollardError| DockerError::Connect {
            url: self.url.clone(),
            reason: describe(&e),
        };
        // 120 s: bollard's per-request timeout for answers (not for the event stream's body).
        let docker = if let Some(path) = self.url.strip_prefix("unix://") {
            Docker::connect_with_unix(path, 120, API_DEFAULT_VERSION).map_err(err)?
        } else if tls_verify() {
            // As the docker CLI: DOCKER_TLS_VERIFY set, certificates in DOCKER_CERT_PATH (else ~/.docker).
            let dir = std::env::var_os("DOCKER_CERT_PATH")
                .map(std::path::PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".docker"))
                })
                .unwrap_or_default();
            Docker::connect_with_ssl(
                &self.url,
                &dir.join("key.pem"),
                &dir.join("cert.pem"),
                &dir.join("ca.pem"),
                120,
                API_DEFAULT_VERSION,
            )
            .map_err(err)?
        } else {
            Docker::connect_with_http(&self.url, 120, API_DEFAULT_VERSION).map_err(err)?
        };
        docker.negotiate_version().await.map_err(err)
    }

    /// The Docker daemon's name for its host (`docker info` → Name), retried until Docker answers.
    pub async fn node_name(&self, shutdown: &CancellationToken) -> Option<String> {
        let mut backoff = Backoff::new("Docker", self.max_backoff);
        loop {
            let attempt = async {
                let docker = self.connect().await?;
                let info = docker.info().await.map_err(|e| self.request("info", e))?;
                info.name
                    .filter(|n| !n.is_empty())
                    .ok_or(DockerError::Request {
                        url: self.url.clone(),
                        what: "info",
                        reason: "the daemon reported no host name (pass --node-id)".into(),
                    })
            };
            // A silent daemon must not hold up SIGTERM.
            let result = tokio::select! {
                _ = shutdown.cancelled() => return None,
                result = attempt => result,
            };
            match result {
                Ok(name) => {
                    backoff.succeeded();
                    return Some(name);
                }
                Err(e) => {
                    if !backoff.wait(&e.to_string(), shutdown).await {
                        return None;
                    }
                }
            }
        }
    }

    fn request(&self, what: &'static str, e: BollardError) -> DockerError {
        DockerError::Request {
            url: self.url.clone(),
            what,
            reason: describe(&e),
        }
    }

    /// Runs until shutdown: list, watch, and after any error back off, reconnect and list again.
    pub async fn run(
        self,
        tx: mpsc::Sender<DockerUpdate>,
        status: Status,
        shutdown: CancellationToken,
    ) {
        let mut backoff = Backoff::new("Docker", self.max_backoff);
        loop {
            let result = tokio::select! {
                _ = shutdown.cancelled() => return,
                result = self.session(&tx, &status, &mut backoff, &shutdown) => result,
            };
            status.set_docker(result.as_ref().err().map(|e| e.to_string()));
            match result {
                Ok(()) => return,
                Err(e) => {
                    if !backoff.wait(&e.to_string(), &shutdown).await {
                        return;
                    }
                }
            }
        }
    }

    /// One connection: list, then follow events until an error or shutdown.
    async fn session(
        &self,
        tx: &mpsc::Sender<DockerUpdate>,
        status: &Status,
        backoff: &mut Backoff,
        shutdown: &CancellationToken,
    ) -> Result<(), DockerError> {
        let docker = self.connect().await?;
        // Events from one second before the listing on: nothing between the
        // listing and the subscription is missed; replays are idempotent.
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(1))
            .unwrap_or(0);
        let listing = self.list(&docker).await?;
        tracing::info!(docker = %self.url, containers = listing.len(), "listed running containers");
        let mut early = Early::default();
        learn_listing(&mut early, &listing);
        if tx.send(DockerUpdate::Listing(listing)).await.is_err() {
            return Ok(());
        }
        status.set_docker(None);
        backoff.succeeded();

        // Network events too: a starting container's `connect` comes before
        // its `start`. The label filter is applied here, not by Docker: a
        // network event carries no container labels.
        let filters = HashMap::from([(
            "type".to_string(),
            vec!["container".to_string(), "network".to_string()],
        )]);
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        let mut inspecting = FuturesUnordered::new();
        let mut resync = tokio::time::interval_at(
            tokio::time::Instant::now() + self.resync_interval,
            self.resync_interval,
        );
        resync.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let reaction = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = resync.tick() => {
                    // A failing listing also means a dead event stream: reconnect.
                    let listing = self.list(&docker).await?;
                    tracing::debug!(containers = listing.len(), "resync listing");
                    learn_listing(&mut early, &listing);
                    Reaction::Update(DockerUpdate::Listing(listing), None)
                }
                Some(answer) = inspecting.next(), if !inspecting.is_empty() => {
                    let EarlyAnswer { id, ticket, name, sent, answer } = answer;
                    let container = answer?;
                    let running = container.as_ref().map(|c| c.running);
                    let hand_on = early.answered(&id, ticket, running);
                    match container.filter(|_| hand_on) {
                        Some(container) => {
                            let line = Inspected::if_debug(name, "connect".into(), sent);
                            Reaction::Update(DockerUpdate::Changed(container), line)
                        }
                        None => Reaction::Nothing,
                    }
                }
                event = events.next() => {
                    let event = match event {
                        None => return Err(DockerError::StreamEnded { url: self.url.clone() }),
                        Some(Err(e)) => return Err(self.request("event stream", e)),
                        Some(Ok(event)) => event,
                    };
                    self.handle(&docker, event, &mut early).await?
                }
            };
            match reaction {
                Reaction::Nothing => {}
                Reaction::InspectEarly { id, ticket, name } => {
                    inspecting.push(self.inspect_early(&docker, id, ticket, name));
                }
                Reaction::Update(update, inspected) => {
                    if tx.send(update).await.is_err() {
                        return Ok(());
                    }
                    if let Some(inspected) = inspected {
                        inspected.log().await;
                    }
                }
            }
        }
    }

    fn label_pairs(&self) -> Vec<String> {
        self.label_filters
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Running containers whose name matches, inspected (16 at a time).
    pub async fn list(&self, docker: &Docker) -> Result<Vec<Container>, DockerError> {
        let mut filters = HashMap::from([("status".to_string(), vec!["running".to_string()])]);
        if !self.label_filters.is_empty() {
            filters.insert("label".into(), self.label_pairs());
        }
        let summaries = docker
            .list_containers(Some(ListContainersOptions {
                all: false,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.request("list containers", e))?;
        let ids: Vec<String> = summaries
            .into_iter()
            .filter(|s| {
                s.names
                    .iter()
                    .flatten()
                    .any(|n| self.names.is_match(n.trim_start_matches('/')))
            })
            .filter_map(|s| s.id)
            .collect();
        let inspected: Vec<Result<Option<Container>, DockerError>> = stream::iter(ids)
            .map(|id| async move { self.inspect(docker, &id).await })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut out = Vec::new();
        for item in inspected {
            if let Some(c) = item? {
                out.push(c);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Inspects one container; `None` when it no longer exists.
    async fn inspect(&self, docker: &Docker, id: &str) -> Result<Option<Container>, DockerError> {
        match docker.inspect_container(id, None).await {
            Ok(response) => Ok(Some(container_from_inspect(response))),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(self.request("inspect", e)),
        }
    }

    /// An inspect sent at a network `connect`, with what its answer needs.
    async fn inspect_early(
        &self,
        docker: &Docker,
        id: String,
        ticket: u64,
        name: String,
    ) -> EarlyAnswer {
        let sent = Instant::now();
        let answer = self.inspect(docker, &id).await;
        EarlyAnswer {
            id,
            ticket,
            name,
            sent,
            answer,
        }
    }

    /// Whether a container event's attributes (which carry the container's
    /// labels) pass every `--label-filter`.
    fn labels_match(&self, attributes: &HashMap<String, String>) -> bool {
        self.label_filters
            .iter()
            .all(|(k, v)| attributes.get(k) == Some(v))
    }

    /// Turns one event into what the watcher does: inspect on events that
    /// can add a route, remove at once on events that end one, begin an
    /// early inspect at a matching container's network `connect`, ignore
    /// the rest. An inspect comes with its debug line (when debug is on), to
    /// be written once the update is on its way.
    async fn handle(
        &self,
        docker: &Docker,
        event: EventMessage,
        early: &mut Early,
    ) -> Result<Reaction, DockerError> {
        let action = event.action.unwrap_or_default();
        let actor = event.actor.unwrap_or_default();
        let attributes = actor.attributes.unwrap_or_default();
        if event.typ == Some(EventMessageTypeEnum::NETWORK) {
            let container = attributes.get("container").filter(|_| action == "connect");
            return Ok(
                match container.and_then(|id| Some((id, early.connect(id)?))) {
                    Some((id, (ticket, name))) => Reaction::InspectEarly {
                        id: id.clone(),
                        ticket,
                        name,
                    },
                    None => Reaction::Nothing,
                },
            );
        }
        let id = actor.id.unwrap_or_default();
        let name = attributes.get("name").map(String::as_str).unwrap_or("");
        if !self.labels_match(&attributes) {
            return Ok(Reaction::Nothing);
        }
        let matches = self.names.is_match(name);
        match action.as_str() {
            "create" | "rename" => early.learn(&id, name, matches),
            "destroy" => early.forget(&id),
            _ => {}
        }
        match event_kind(&action, attributes.get("signal").map(String::as_str)) {
            EventKind::Ignore => Ok(Reaction::Nothing),
            // A container that does not match was never routed (a rename to a
            // non-matching name was inspected when it happened).
            EventKind::Gone if !matches => Ok(Reaction::Nothing),
            EventKind::Gone => {
                early.gone(&id);
                tracing::debug!(container = name, action, "container going away");
                let update = DockerUpdate::Gone { id, reason: action };
                Ok(Reaction::Update(update, None))
            }
            EventKind::Inspect => {
                if !matches && action != "rename" {
                    return Ok(Reaction::Nothing);
                }
                if action == "start" {
                    let needs = early.start(&id);
                    if needs != OnStart::Inspect {
                        tracing::debug!(container = name, early = ?needs, "start event: inspected at network connect");
                        return Ok(Reaction::Nothing);
                    }
                }
                let started = Instant::now();
                let inspected = self.inspect(docker, &id).await?;
                let line = Inspected::if_debug(name.to_string(), action, started);
                let update = match inspected {
                    Some(container) => DockerUpdate::Changed(container),
                    None => DockerUpdate::Gone {
                        id,
                        reason: "destroy".into(),
                    },
                };
                Ok(Reaction::Update(update, line))
            }
        }
    }
}

/// Every listed container matches: it may be inspected early at its next start.
fn learn_listing(early: &mut Early, listing: &[Container]) {
    for c in listing {
        early.learn(&c.id, &c.name, true);
    }
}

/// What the watcher does with one event or early answer.
#[allow(
    clippy::large_enum_variant,
    reason = "one at a time, on the stack, never stored"
)]
enum Reaction {
    Nothing,
    /// Hand this on (and then write the inspect's debug line).
    Update(DockerUpdate, Option<Inspected>),
    /// Send an early inspect of this container.
    InspectEarly {
        id: String,
        ticket: u64,
        name: String,
    },
}

/// An early inspect's answer, with its container and ticket.
struct EarlyAnswer {
    id: String,
    ticket: u64,
    name: String,
    sent: Instant,
    answer: Result<Option<Container>, DockerError>,
}

/// The debug line of one inspect, written after the update it produced has
/// been handed over: no log write delays a route's write.
struct Inspected {
    container: String,
    action: String,
    /// The inspect, sent as the event arrived (or at the network
    /// `connect`), until its answer.
    took: Duration,
    answered: Instant,
}

impl Inspected {
    /// The line of an inspect of `container` sent at `sent` for the event
    /// `action`, answered now; `None` unless debug is on.
    fn if_debug(container: String, action: String, sent: Instant) -> Option<Inspected> {
        tracing::enabled!(tracing::Level::DEBUG).then(|| Inspected {
            container,
            action,
            took: sent.elapsed(),
            answered: Instant::now(),
        })
    }

    /// Lets the reconciler (woken by the update) send its write first, then
    /// logs. `took` says when the event came and `since` how long ago the
    /// inspect answered (the latency bench reads both).
    async fn log(self) {
        tokio::task::yield_now().await;
        tracing::debug!(
            container = %self.container,
            action = %self.action,
            took = ?self.took,
            since = ?self.answered.elapsed(),
            "inspected after event"
        );
    }
}

/// A bollard error with its causes. Over `tcp://` hyper says only "client
/// error (Connect)"; why (connection refused, a server certificate that does
/// not verify: `invalid peer certificate: UnknownIssuer`) is in its sources.
fn describe(e: &BollardError) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let cause = s.to_string();
        // bollard's own message already embeds its direct source's.
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = s.source();
    }
    text
}

fn tls_verify() -> bool {
    std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// What an event means for routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// The container may have become routable or changed: inspect it.
    Inspect,
    /// The container stops serving: remove its servers without an inspect.
    Gone,
    /// Cannot change a route (exec, attach, a non-fatal kill, …).
    Ignore,
}

/// Classifies a container event by its action and, for `kill`, its signal.
pub fn event_kind(action: &str, signal: Option<&str>) -> EventKind {
    match action {
        "start" | "unpause" | "rename" => EventKind::Inspect,
        a if a.starts_with("health_status") => EventKind::Inspect,
        "die" | "stop" | "pause" | "destroy" | "oom" => EventKind::Gone,
        "kill" if signal.is_some_and(|s| TERMINATING_SIGNALS.contains(&s)) => EventKind::Gone,
        _ => EventKind::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each row: an event action (and kill signal) and what havok does with it.
    #[test]
    fn events_are_classified() {
        let cases = [
            ("start", None, EventKind::Inspect),
            ("unpause", None, EventKind::Inspect),
            ("health_status: healthy", None, EventKind::Inspect),
            ("health_status: unhealthy", None, EventKind::Inspect),
            ("rename", None, EventKind::Inspect),
            ("die", None, EventKind::Gone),
            ("stop", None, EventKind::Gone),
            ("pause", None, EventKind::Gone),
            ("destroy", None, EventKind::Gone),
            ("oom", None, EventKind::Gone),
            ("kill", Some("15"), EventKind::Gone),
            ("kill", Some("9"), EventKind::Gone),
            ("kill", Some("SIGINT"), EventKind::Gone),
            ("kill", Some("3"), EventKind::Gone),
            ("kill", Some("1"), EventKind::Ignore),
            ("kill", Some("SIGHUP"), EventKind::Ignore),
            ("kill", None, EventKind::Ignore),
            ("exec_start: sh", None, EventKind::Ignore),
            ("attach", None, EventKind::Ignore),
            ("create", None, EventKind::Ignore),
        ];
        for (action, signal, want) in cases {
            assert_eq!(event_kind(action, signal), want, "{action} {signal:?}");
        }
    }
}
