//! havok started with K containers already running: how long until all are
//! routed, against Docker's own listing of them, and its first full pass.

use std::time::{Instant, SystemTime};

use crate::context::{finish, latest, sid, until, Context, ONE};
use crate::process::{passes, Sample};
use crate::report::{ms_between, Report, Stats};

/// The node id of the havok started with K containers (new servers: all
/// written) and restarted with them in place.
pub const BOOT_NODE: &str = "bench-k";
/// Start requests in flight while the K containers come up: not measured,
/// so no more than Docker takes without queueing.
const START_PARALLEL: usize = 8;
/// Docker's listing is timed this many times; the row is the median.
const LISTINGS: usize = 3;

/// The K containers, left running for the restart, and what havok cost with them.
pub struct Startup {
    pub ks: Vec<String>,
    pub startup_ms: f64,
    pub listing_ms: f64,
    pub with_k: Sample,
}

pub async fn run(ctx: &Context<'_>, report: &mut Report) -> Startup {
    ctx.say(&format!("startup with {} running", ctx.sizes.k));
    let ks = ctx.names("k", ctx.sizes.k);
    let k_sids: Vec<String> = ks.iter().map(|n| sid(BOOT_NODE, n)).collect();
    ctx.fleet.create(&ks).await;
    ctx.fleet.start(&ks, START_PARALLEL).await;
    ctx.all_events(&ks, "start").await;
    let listing_ms = docker_listing(ctx, ks.len()).await;
    let mark = ctx.store.mark();
    let spawned = SystemTime::now();
    let mut boot = ctx.spawn_havok(BOOT_NODE, "5s");
    let puts = ctx
        .all_seen(mark, &k_sids, true, "every K container routed")
        .await;
    let startup_ms = ms_between(latest(&puts), spawned);
    let first_pass = until("the startup's full pass in havok's log", ONE, || {
        passes(&boot).into_iter().next()
    })
    .await;
    tokio::time::sleep(ctx.sizes.settle()).await;
    let with_k = finish(&mut boot).await;
    report.value(
        "startup_ms",
        "startup: havok spawned -> all K routed",
        "ms",
        startup_ms,
    );
    report.value(
        "docker_listing_ms",
        "startup: Docker list + inspect of K (median of 3)",
        "ms",
        listing_ms,
    );
    report.value(
        "startup_beyond_listing_ms",
        "startup: beyond Docker's own listing",
        "ms",
        startup_ms - listing_ms,
    );
    report.value(
        "startup_pass_ms",
        "startup: first full pass (havok's log)",
        "ms",
        first_pass.took_ms,
    );
    Startup {
        ks,
        startup_ms,
        listing_ms,
        with_k,
    }
}

/// The median time havok's own listing code takes to list and inspect the K.
async fn docker_listing(ctx: &Context<'_>, k: usize) -> f64 {
    let mut listing_ms = Vec::new();
    for _ in 0..LISTINGS {
        let started = Instant::now();
        let listed = ctx
            .watcher
            .list(&ctx.docker)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        listing_ms.push(started.elapsed().as_secs_f64() * 1e3);
        assert_eq!(listed.len(), k, "Docker lists every K container");
    }
    Stats::of(&listing_ms).p50
}
