//! N sequential starts, each stopped with SIGTERM once routed: how long a new
//! container waits for its route and a stopping one keeps it, against the
//! floors of the store (one bare write) and of Docker (event delivery, inspect),
//! sampled on a quiet host and right after a start of a container havok ignores.

use std::time::{Instant, SystemTime};

use havok::testkit::Havok;

use crate::context::{sid, until, Context, Routed, NODE, ONE};
use crate::phases::after_start::{self, FloorWrite};
use crate::process::handled;
use crate::report::{ms_between, Report, Stats};

/// `docker stop -t` here: `kill` (SIGTERM) and `die` this many seconds apart.
const STOP_GRACE: u32 = 2;

/// What the targets judge.
pub struct Sequential {
    pub route: Stats,
    /// The sum of the floors' p50s: Docker's event delivery, one inspect,
    /// one bare store write, each sampled on a quiet host.
    pub floors_p50: f64,
    /// The same chain right after a start, as any bridge meets it: the p50
    /// of event delivery + inspect + bare write for a container havok
    /// ignores. What havok cannot go below.
    pub after_start: Stats,
    /// etcd v3: the same with a bare transaction of a new host's shape
    /// instead of the bare write: what havok's one write of a new host costs.
    pub txn_after_start: Option<Stats>,
    /// Servers removed before their container's `die` event, of `n`.
    pub before_die: usize,
    pub n: usize,
}

pub async fn run(ctx: &Context<'_>, report: &mut Report, havok: &Havok) -> Sequential {
    let (store, events, fleet) = (&ctx.store, &ctx.events, &ctx.fleet);
    ctx.say(&format!("{} sequential starts and stops", ctx.sizes.n));
    let like = ctx.server_key(NODE, &format!("{}-s000", ctx.scope));
    let seq = ctx.names("s", ctx.sizes.n);
    fleet.create(&seq).await;
    let shadows = ctx.unrouted_names("f", ctx.sizes.n);
    fleet.create(&shadows).await;
    // etcd v3: as many more, for the floor with a new host's transaction.
    let txn_shadows = if ctx.store.has_txn_floor() {
        ctx.unrouted_names("t", ctx.sizes.n)
    } else {
        Vec::new()
    };
    fleet.create(&txn_shadows).await;
    let mut after_start_ms = Vec::new();
    let mut after_start_parts: [Vec<f64>; 3] = Default::default();
    let mut txn_after_start_ms = Vec::new();
    let mut txn_write_ms = Vec::new();
    let mut route_ms = Vec::new();
    let mut complete_ms = Vec::new();
    let mut floor = Vec::new();
    let mut delivery_ms = Vec::new();
    let mut inspect_ms = Vec::new();
    let mut gone_at = Vec::new();
    let mut stopping = Vec::new();
    // Per start: Docker's event stamp and when the server was seen in the store.
    let mut routed = Vec::new();
    for (i, name) in seq.iter().enumerate() {
        let sid = sid(NODE, name);
        // The floor is sampled between the starts, so both see the same load.
        floor.push(store.floor(i, &like).await);
        let Routed { mark, put, started } = ctx.start_routed(NODE, name).await;
        route_ms.push(ms_between(put, started));
        routed.push((name.clone(), started, put));
        // Vulcand routes a new host once its frontend exists too; etcd v3
        // writes both in one transaction, the other stores one after the other.
        let frontend = ctx.frontend_key(name);
        let fronted = until(&format!("{name}'s frontend"), ONE, || {
            store.first_put(mark, &frontend)
        })
        .await;
        complete_ms.push(ms_between(put.max(fronted), started));
        // What havok cannot beat on Docker's side: delivering the event, and
        // the one inspect havok makes per start (timed here, after the route).
        if let Some(arrived) = events.arrival(name, "start") {
            delivery_ms.push(ms_between(arrived, started));
        }
        let inspecting = Instant::now();
        if let Err(e) = ctx.docker.inspect_container(name, None).await {
            panic!("inspect {name}: {e}");
        }
        inspect_ms.push(inspecting.elapsed().as_secs_f64() * 1e3);
        // Not waited for: the next start overlaps the previous one's 2 s grace,
        // as on a busy host; the server must be gone long before `die`.
        let mark = store.mark();
        stopping.push(fleet.stop_detached(name, STOP_GRACE));
        gone_at.push(
            until(&format!("{name}'s server to be removed"), ONE, || {
                store.first(mark, &sid, false)
            })
            .await,
        );
        let parts = after_start::sample(ctx, &shadows[i], i, &like, FloorWrite::Bare).await;
        after_start_ms.push(parts.iter().sum());
        for (row, part) in after_start_parts.iter_mut().zip(parts) {
            row.push(part);
        }
        if let Some(shadow) = txn_shadows.get(i) {
            let parts = after_start::sample(ctx, shadow, i, &like, FloorWrite::NewHostTxn).await;
            txn_after_start_ms.push(parts.iter().sum());
            txn_write_ms.push(parts[2]);
        }
    }
    tokio::task::block_in_place(|| fleet.remove(&shadows));
    tokio::task::block_in_place(|| fleet.remove(&txn_shadows));
    tokio::task::block_in_place(|| {
        for mut child in stopping {
            let _ = child.wait();
        }
    });
    let (from_kill, from_die, before_die) = removals(ctx, &seq, &gone_at).await;
    stages(report, havok, &routed);
    tokio::task::block_in_place(|| fleet.remove(&seq));
    let route = report.dist(
        "route_ms",
        "route: Docker start event -> server in store",
        "ms",
        &route_ms,
    );
    report.dist(
        "route_complete_ms",
        "route: start event -> server and frontend in store",
        "ms",
        &complete_ms,
    );
    let store_floor = report.dist(
        "floor_ms",
        "store floor: one bare write -> seen",
        "ms",
        &floor,
    );
    let event_floor = report.dist(
        "docker_event_ms",
        "Docker floor: start event -> a subscriber",
        "ms",
        &delivery_ms,
    );
    let inspect_floor = report.dist(
        "docker_inspect_ms",
        "Docker floor: one container inspect",
        "ms",
        &inspect_ms,
    );
    report.dist(
        "removal_kill_ms",
        "removal: kill (SIGTERM) event -> server gone",
        "ms",
        &from_kill,
    );
    report.dist(
        "removal_die_ms",
        "removal: die event -> server gone (<0: before)",
        "ms",
        &from_die,
    );
    report.count(
        "removed_before_die",
        "removal: server gone before die",
        before_die,
        seq.len(),
    );
    let after_start = report.dist(
        "floor_after_start_ms",
        "floor right after a start: event + inspect + bare write",
        "ms",
        &after_start_ms,
    );
    let part_names = [
        (
            "floor_after_start_event_ms",
            "  of which: start event -> a subscriber",
        ),
        ("floor_after_start_inspect_ms", "  of which: one inspect"),
        (
            "floor_after_start_write_ms",
            "  of which: one bare write -> seen",
        ),
    ];
    for ((key, metric), values) in part_names.into_iter().zip(after_start_parts) {
        report.dist(key, metric, "ms", &values);
    }
    // What the one transaction a new host needs costs beyond a bare write.
    let txn_after_start = (!txn_after_start_ms.is_empty()).then(|| {
        let floor = report.dist(
            "floor_after_start_txn_ms",
            "floor right after a start, with a new host's txn instead",
            "ms",
            &txn_after_start_ms,
        );
        report.dist(
            "floor_after_start_txn_write_ms",
            "  of which: one bare new-host txn (5 keys) -> seen",
            "ms",
            &txn_write_ms,
        );
        report.value(
            "route_over_txn_floor_ms",
            "route: p50 - that floor's p50 (havok's own time)",
            "ms",
            route.p50 - floor.p50,
        );
        floor
    });
    let floors_p50 = store_floor.p50 + event_floor.p50 + inspect_floor.p50;
    report.value(
        "floors_p50_ms",
        "route floor: event + inspect + store write (p50s)",
        "ms",
        floors_p50,
    );
    report.value(
        "havok_own_ms",
        "route: havok's own time (route p50 - floors)",
        "ms",
        route.p50 - floors_p50,
    );
    Sequential {
        route,
        floors_p50,
        after_start,
        txn_after_start,
        before_die,
        n: seq.len(),
    }
}

/// Where each route's time went, by havok's own log: from the `start` event
/// to havok's inspect answering (an inspect sent at the network `connect`
/// answers right after the start; one sent at the `start` event adds the
/// event's delivery and the inspect, shown apart), havok's own work up to
/// the write, the store's answer, and the store's change reaching the watcher.
fn stages(report: &mut Report, havok: &Havok, routed: &[(String, SystemTime, SystemTime)]) {
    let handled = handled(havok);
    let mut rows: [Vec<f64>; 4] = Default::default();
    let (mut delivery, mut inspect) = (Vec::new(), Vec::new());
    let mut at_connect = 0;
    for (name, started, seen) in routed {
        let Some(h) = handled.get(name) else {
            panic!("havok's log has no inspect and write of {name}'s start");
        };
        let times = [*started, h.inspected, h.writing, h.written, *seen];
        for (i, pair) in times.windows(2).enumerate() {
            rows[i].push(ms_between(pair[1], pair[0]));
        }
        if h.at_connect {
            at_connect += 1;
        } else {
            delivery.push(ms_between(h.sent, *started));
            inspect.push(ms_between(h.inspected, h.sent));
        }
    }
    let names = [
        (
            "stage_answered_ms",
            "stage: start event -> havok's inspect answered",
        ),
        (
            "stage_havok_ms",
            "stage: havok's own work (inspected -> write sent)",
        ),
        (
            "stage_write_ms",
            "stage: store writes (sent -> all answered)",
        ),
        (
            "stage_watch_ms",
            "stage: store answered -> seen by a watcher",
        ),
    ];
    for ((key, metric), values) in names.into_iter().zip(rows) {
        report.dist(key, metric, "ms", &values);
    }
    report.count(
        "inspected_at_connect",
        "stage: routes inspected at the network connect",
        at_connect,
        routed.len(),
    );
    if !delivery.is_empty() {
        report.dist(
            "stage_delivery_ms",
            "  the others: start event -> havok has it",
            "ms",
            &delivery,
        );
        report.dist(
            "stage_inspect_ms",
            "  the others: havok's inspect",
            "ms",
            &inspect,
        );
    }
}

/// Each server's removal against its container's SIGTERM `kill` and its
/// `die`, in ms, and how many were gone before `die`.
async fn removals(
    ctx: &Context<'_>,
    seq: &[String],
    gone_at: &[SystemTime],
) -> (Vec<f64>, Vec<f64>, usize) {
    let mut from_kill = Vec::new();
    let mut from_die = Vec::new();
    let mut before_die = 0;
    for (name, gone) in seq.iter().zip(gone_at) {
        let kill = until(&format!("the SIGTERM kill event of {name}"), ONE, || {
            ctx.events.first(name, "kill", Some("15"))
        })
        .await;
        let die = until(&format!("the die event of {name}"), ONE, || {
            ctx.events.first(name, "die", None)
        })
        .await;
        from_kill.push(ms_between(*gone, kill));
        from_die.push(ms_between(*gone, die));
        before_die += usize::from(*gone < die);
    }
    (from_kill, from_die, before_die)
}
