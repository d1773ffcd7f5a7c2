//! The reconciler with in-memory sinks: warn-once bookkeeping, when orphans
//! are looked for, and deregistering after a pass cut short.

use super::*;
use std::collections::BTreeSet;

use crate::model::{Container, RouteTable};
use crate::plan::{record, Conflict};
use crate::sink::Op;

fn settings() -> Settings {
    Settings {
        rules: Rules::new(
            regex::Regex::new("^web-").unwrap(),
            "local",
            "127.0.0.1".parse().unwrap(),
        ),
        node: "a".into(),
        ttl: Duration::from_secs(30),
        max_backoff: Duration::from_secs(1),
        deregister_on_exit: true,
        gc_every: crate::sink::GC_EVERY,
        dry_run: true,
        // The containers of these tests have no upstream to probe.
        probe: ProbeRules {
            kind: crate::readiness::ProbeKind::None,
            ..ProbeRules::default()
        },
        resync: Duration::from_secs(60),
    }
}

fn dry_run_reconciler() -> Reconciler {
    Reconciler::new(
        Box::new(crate::dry_run::DryRunSink::default()),
        settings(),
        Status::default(),
        Metrics::default(),
    )
}

/// A running container `name` that the rules of [`settings`] route.
fn container(name: &str, n: u16) -> Container {
    Container {
        id: format!("{n:064x}"),
        name: name.into(),
        hostname: name.into(),
        running: true,
        ports: vec![crate::model::Port {
            port: 80,
            protocol: "tcp".into(),
            bindings: vec![("0.0.0.0".into(), 32000 + n)],
        }],
        ..Container::default()
    }
}

/// An in-memory store (as `--dry-run`'s) whose `apply`, once `stall` is
/// set, writes and then never answers, as a store that hangs mid-pass.
#[derive(Default)]
struct StallingSink {
    store: std::sync::Arc<std::sync::Mutex<Observed>>,
    stall: std::sync::Arc<std::sync::atomic::AtomicBool>,
    stalled: std::sync::Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl RouteSink for StallingSink {
    fn name(&self) -> &'static str {
        "stalling"
    }
    fn describe(&self) -> String {
        "in memory".into()
    }
    async fn connect(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    async fn observe(&mut self, _: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        Ok(self.store.lock().unwrap().clone())
    }
    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        record(&mut self.store.lock().unwrap(), ops);
        if self.stall.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn keepalive(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        Ok(Vec::new())
    }
}

/// Polls `done` every 10 ms, for at most 10 s.
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Each row: `gc_every`, and the passes (1 to 12) that look for orphans.
#[test]
fn orphan_passes() {
    let cases: [(u32, &[u32]); 4] = [
        (0, &[]),
        (1, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
        (2, &[1, 3, 5, 7, 9, 11]),
        (5, &[1, 6, 11]),
    ];
    for (gc_every, want) in cases {
        let due: Vec<u32> = (1..=12).filter(|&p| gc_due(p, gc_every)).collect();
        assert_eq!(due, want, "gc_every = {gc_every}");
    }
}

/// A conflict is remembered (to warn once) only while plans still report it:
/// a route whose conflict ended, or that is no longer desired, is forgotten.
#[test]
fn conflicts_are_forgotten_when_they_end() {
    let mut r = dry_run_reconciler();
    let conflict = |host: &str| Conflict {
        key: RouteKey::host(host),
        ours: serde_json::json!({"middlewares": {}}),
        theirs: serde_json::json!({"middlewares": {"rl": null}}),
        containers: vec!["web-1".into()],
        others: vec!["node-b--web-2".into()],
    };
    r.warn_conflicts(&[conflict("a.local"), conflict("b.local")], None);
    assert_eq!(r.conflicts.len(), 2);
    // A plan of a.local only says nothing about b.local.
    let only_a = BTreeSet::from([RouteKey::host("a.local")]);
    r.warn_conflicts(&[], Some(&only_a));
    assert_eq!(
        r.conflicts.keys().collect::<Vec<_>>(),
        vec![&RouteKey::host("b.local")]
    );
    r.warn_conflicts(&[conflict("a.local")], Some(&only_a));
    assert_eq!(r.conflicts.len(), 2);
    r.warn_conflicts(&[conflict("b.local")], None);
    assert_eq!(
        r.conflicts.keys().collect::<Vec<_>>(),
        vec![&RouteKey::host("b.local")]
    );
    r.warn_conflicts(&[], None);
    assert!(r.conflicts.is_empty(), "{:?}", r.conflicts);
}

/// A shutdown that cuts a pass short after its writes landed still
/// deregisters them: the cache predates those writes, so the store is re-read.
#[tokio::test]
async fn deregister_after_a_cut_short_pass_removes_its_writes() {
    let sink = StallingSink::default();
    let store = sink.store.clone();
    let (stall, stalled) = (sink.stall.clone(), sink.stalled.clone());
    let (tx, rx) = mpsc::channel(16);
    let shutdown = CancellationToken::new();
    let reconciler = Reconciler::new(
        Box::new(sink),
        settings(),
        Status::default(),
        Metrics::default(),
    );
    let run = tokio::spawn(reconciler.run(rx, shutdown.clone()));
    let servers = |store: &std::sync::Mutex<Observed>| -> usize {
        store
            .lock()
            .unwrap()
            .servers
            .values()
            .map(|s| s.len())
            .sum()
    };

    tx.send(DockerUpdate::Listing(vec![container("web-1", 1)]))
        .await
        .unwrap();
    wait_until(|| servers(&store) == 1).await;
    // The next write lands, and then the sink does not answer.
    stall.store(true, std::sync::atomic::Ordering::SeqCst);
    tx.send(DockerUpdate::Changed(container("web-2", 2)))
        .await
        .unwrap();
    stalled.notified().await;
    assert_eq!(servers(&store), 2);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the reconciler stops")
        .unwrap();
    assert_eq!(servers(&store), 0, "{:?}", store.lock().unwrap().servers);
}

/// A container on `host` (its own route), published on port 32000 + `n`.
fn container_on(name: &str, host: &str, n: u16) -> Container {
    Container {
        hostname: host.into(),
        ..container(name, n)
    }
}

/// The store a reconciler wrote and the `/routes` table it published after
/// a listing of `listed` and then `events`, each written by its own
/// incremental pass.
async fn after_events(listed: Vec<Container>, events: Vec<DockerUpdate>) -> (Observed, RouteTable) {
    let sink = StallingSink::default();
    let store = sink.store.clone();
    let status = Status::default();
    let mut r = Reconciler::new(
        Box::new(sink),
        settings(),
        status.clone(),
        Metrics::default(),
    );
    assert!(r.absorb(vec![DockerUpdate::Listing(listed)]));
    r.full_pass().await.unwrap();
    for event in events {
        assert!(!r.absorb(vec![event]));
        r.incremental().await.unwrap();
    }
    let written = store.lock().unwrap().clone();
    (written, status.table())
}

/// Each row: a listing, then events written one incremental pass each. The
/// store and `/routes` end as one full pass over the final containers makes
/// them, though each event's pass planned only the routes it touched.
#[tokio::test]
async fn incremental_passes_end_where_a_full_pass_does() {
    let (one, two, three) = (
        container_on("web-1", "shared", 1),
        container_on("web-2", "shared", 2),
        container_on("web-3", "alone", 3),
    );
    // web-1 itself (the same id) on another route and port.
    let moved = Container {
        id: one.id.clone(),
        ..container_on("web-1", "elsewhere", 9)
    };
    let gone = |c: &Container| DockerUpdate::Gone {
        id: c.id.clone(),
        reason: "kill".into(),
    };
    // (what, listed, events, the containers at the end)
    type Case = (
        &'static str,
        Vec<Container>,
        Vec<DockerUpdate>,
        Vec<Container>,
    );
    let cases: Vec<Case> = vec![
        (
            "a second server on a route, then a route of its own",
            vec![one.clone()],
            vec![
                DockerUpdate::Changed(two.clone()),
                DockerUpdate::Changed(three.clone()),
            ],
            vec![one.clone(), two.clone(), three.clone()],
        ),
        (
            "one of two servers goes, then a route's last",
            vec![one.clone(), two.clone(), three.clone()],
            vec![gone(&one), gone(&three)],
            vec![two.clone()],
        ),
        (
            "a container moves to another route and port",
            vec![one.clone(), three.clone()],
            vec![DockerUpdate::Changed(moved.clone())],
            vec![moved, three.clone()],
        ),
        (
            "a container renamed out of the pattern leaves its route",
            vec![one.clone(), two.clone()],
            vec![DockerUpdate::Changed(Container {
                name: "db-1".into(),
                ..one.clone()
            })],
            vec![two.clone()],
        ),
    ];
    for (what, listed, events, last) in cases {
        let incremental = after_events(listed, events).await;
        let full = after_events(last, vec![]).await;
        assert_eq!(incremental.0.servers, full.0.servers, "{what}: store");
        assert_eq!(incremental.1, full.1, "{what}: /routes");
        assert!(!full.1.routes.is_empty(), "{what}: something is routed");
    }
}
