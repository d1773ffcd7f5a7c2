//! The benchmark's containers and Docker's own clock: bulk create and start
//! through bollard, stop and bulk removal through the `docker` CLI, and a
//! subscription to Docker's container events that keeps their timestamps.
//!
//! Every container is `<scope>-<suffix>` (the scope is a `havok-test-bench-…`
//! name), carries the harness's owner labels (so a later test run on this host
//! reaps it if the benchmark is killed before its guard runs) and the label
//! `havok-bench=<scope>`, which is also the events filter: nothing else on
//! the daemon is touched or observed.

use std::collections::{BTreeSet, HashMap};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptionsBuilder, EventsOptions};
use bollard::Docker;
use futures_util::{stream, StreamExt};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use havok::testkit::{images, try_docker};

/// The containers this benchmark created and has not removed; all removed on drop.
pub struct Fleet {
    docker: Docker,
    labels: HashMap<String, String>,
    live: Mutex<BTreeSet<String>>,
}

impl Fleet {
    pub fn new(docker: Docker, scope: &str) -> Fleet {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        // The harness's owner labels (havok::testkit::docker), so its reaper knows them.
        let labels = HashMap::from([
            ("havok-test".to_string(), "1".to_string()),
            ("havok-test.pid".into(), std::process::id().to_string()),
            ("havok-test.host".into(), host.trim().to_string()),
            ("havok-bench".into(), scope.to_string()),
        ]);
        Fleet {
            docker,
            labels,
            live: Mutex::new(BTreeSet::new()),
        }
    }

    fn live(&self) -> MutexGuard<'_, BTreeSet<String>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates (does not start) the test httpd as each of `names`, 8 at a
    /// time, hostname the name's last part (`…-s007` → `s007`, routed as
    /// `s007.local`) and port 80 published. No `--init`: busybox as PID 1
    /// ignores SIGTERM, so `docker stop -t 2` keeps `kill` and `die` 2 s apart.
    pub async fn create(&self, names: &[String]) {
        let image = images::httpd().to_string();
        stream::iter(names)
            .map(|name| {
                let body = ContainerCreateBody {
                    image: Some(image.clone()),
                    // The test httpd's `/who` answers this: who served a request through Vulcand.
                    env: Some(vec![format!("WHO={name}")]),
                    hostname: name.rsplit('-').next().map(str::to_string),
                    labels: Some(self.labels.clone()),
                    host_config: Some(HostConfig {
                        publish_all_ports: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                // Before the request: a create that times out may still have happened.
                self.live().insert(name.clone());
                async move {
                    let options = CreateContainerOptionsBuilder::new().name(name).build();
                    if let Err(e) = self.docker.create_container(Some(options), body).await {
                        panic!("create container {name}: {e}");
                    }
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
    }

    /// Starts `names`, `parallel` requests in flight at a time.
    pub async fn start(&self, names: &[String], parallel: usize) {
        stream::iter(names)
            .map(|name| async move {
                if let Err(e) = self.docker.start_container(name, None).await {
                    panic!("start container {name}: {e}");
                }
            })
            .buffer_unordered(parallel)
            .collect::<Vec<()>>()
            .await;
    }

    /// `docker stop -t <grace> name`, not waited for: SIGTERM (a `kill`
    /// event) now, SIGKILL and `die` after `grace` seconds.
    pub fn stop_detached(&self, name: &str, grace: u32) -> Child {
        Command::new("docker")
            .args(["stop", "-t", &grace.to_string(), name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("run docker stop {name}: {e}"))
    }

    /// `docker rm -f -v` of many names per command (SIGKILL: `kill` and `die` together).
    pub fn remove(&self, names: &[String]) {
        for chunk in names.chunks(50) {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(chunk.iter().map(String::as_str));
            if let Err(e) = try_docker(&args) {
                if !e.contains("No such container") {
                    eprintln!("warning: {e}");
                }
            }
            let mut live = self.live();
            for name in chunk {
                live.remove(name);
            }
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let names: Vec<String> = self.live().iter().cloned().collect();
        if !names.is_empty() {
            self.remove(&names);
        }
    }
}

/// One container event, stamped by Docker.
#[derive(Debug, Clone)]
pub struct DockerEvent {
    /// Docker's `time_nano`: the daemon's wall clock when it happened.
    pub at: SystemTime,
    /// When it reached this subscriber: `arrived - at` is Docker's own delivery time.
    pub arrived: SystemTime,
    pub action: String,
    pub name: String,
    /// The `signal` attribute of a `kill` event.
    pub signal: Option<String>,
}

/// Container events of this benchmark's containers, as they arrive.
pub struct DockerEvents {
    seen: Arc<Mutex<Vec<DockerEvent>>>,
    /// Woken at every event, so a waiter reacts at once (no polling lag).
    arrived: Arc<Notify>,
    task: JoinHandle<()>,
}

impl DockerEvents {
    /// Subscribes, from one second ago so that nothing started meanwhile is missed.
    pub fn subscribe(docker: &Docker, scope: &str) -> DockerEvents {
        let seen: Arc<Mutex<Vec<DockerEvent>>> = Arc::default();
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("label".to_string(), vec![format!("havok-bench={scope}")]),
        ]);
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs().saturating_sub(1))
            .unwrap_or(0);
        let arrived: Arc<Notify> = Arc::default();
        let (docker, record, wake) = (docker.clone(), seen.clone(), arrived.clone());
        let task = tokio::spawn(async move {
            let mut events = docker.events(Some(EventsOptions {
                since: Some(since.to_string()),
                until: None,
                filters: Some(filters),
            }));
            while let Some(event) = events.next().await {
                let arrived = SystemTime::now();
                let event = match event {
                    Ok(event) => event,
                    Err(e) => panic!("Docker's event stream failed: {e}"),
                };
                let Some(nanos) = event.time_nano else {
                    continue;
                };
                let attributes = event.actor.and_then(|a| a.attributes).unwrap_or_default();
                record
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(DockerEvent {
                        at: UNIX_EPOCH + Duration::from_nanos(nanos as u64),
                        arrived,
                        action: event.action.unwrap_or_default(),
                        name: attributes.get("name").cloned().unwrap_or_default(),
                        signal: attributes.get("signal").cloned(),
                    });
                wake.notify_waiters();
            }
        });
        DockerEvents {
            seen,
            arrived,
            task,
        }
    }

    /// Waits for the first `action` event of container `name`, woken by
    /// its arrival: what a bridge reacting to it would see.
    pub async fn wait(&self, name: &str, action: &str) -> DockerEvent {
        loop {
            let next = self.arrived.notified();
            tokio::pin!(next);
            // Registered before looking, so an event in between still wakes it.
            next.as_mut().enable();
            if let Some(event) = self.find(name, action, None) {
                return event;
            }
            next.await;
        }
    }

    /// The time of the first `action` event of container `name` (of a
    /// `kill` with `signal`, when given).
    pub fn first(&self, name: &str, action: &str, signal: Option<&str>) -> Option<SystemTime> {
        self.find(name, action, signal).map(|e| e.at)
    }

    /// Like [`first`](Self::first), but when the event reached this subscriber.
    pub fn arrival(&self, name: &str, action: &str) -> Option<SystemTime> {
        self.find(name, action, None).map(|e| e.arrived)
    }

    fn find(&self, name: &str, action: &str, signal: Option<&str>) -> Option<DockerEvent> {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|e| {
                e.name == name
                    && e.action == action
                    && signal.is_none_or(|s| e.signal.as_deref() == Some(s))
            })
            .cloned()
    }
}

impl Drop for DockerEvents {
    fn drop(&mut self) {
        self.task.abort();
    }
}
