//! A burst of M containers started at once, routed, then removed at once;
//! then a second one, to tell a one-time high-water mark from growth.

use std::time::SystemTime;

use crate::context::{earliest, latest, sid, Context, NODE};
use crate::process::{sample, Sample};
use crate::report::{ms_between, Report};

/// Start requests in flight during the burst: more only queue inside Docker.
const BURST_PARALLEL: usize = 32;

/// What one burst measured.
pub struct Burst {
    /// Docker's start event of each container, in `names` order.
    starts: Vec<SystemTime>,
    /// When each container's server was first seen in the store.
    puts: Vec<SystemTime>,
    /// When `docker rm -f` of all of them was sent, and each server seen gone.
    removing: SystemTime,
    gone: Vec<SystemTime>,
    /// havok before (containers created, not started), with all routed, and
    /// after the removal once settled.
    pub before: Sample,
    pub routed: Sample,
    pub after: Sample,
}

/// The two bursts, for the cost rows and the growth target.
pub struct Bursts {
    pub first: Burst,
    pub second: Burst,
}

impl Bursts {
    /// RSS growth across the first burst, in KB.
    pub fn growth_kb(&self) -> f64 {
        self.first.after.rss_kb as f64 - self.first.before.rss_kb as f64
    }

    /// RSS growth across the second, identical burst, in KB.
    pub fn second_growth_kb(&self) -> f64 {
        self.second.after.rss_kb as f64 - self.first.after.rss_kb as f64
    }
}

/// Both bursts against the havok of `pid`; writes the first one's rows.
pub async fn run(ctx: &Context<'_>, report: &mut Report, pid: u32) -> Bursts {
    ctx.say(&format!("burst of {}", ctx.sizes.m));
    let first = burst(ctx, &ctx.names("b", ctx.sizes.m), pid).await;
    ctx.say(&format!("second burst of {}", ctx.sizes.m));
    let second = burst(ctx, &ctx.names("c", ctx.sizes.m), pid).await;
    report.value(
        "burst_ms",
        "burst: first start event -> all M routed",
        "ms",
        ms_between(latest(&first.puts), earliest(&first.starts)),
    );
    report.value(
        "burst_docker_span_ms",
        "burst: Docker's own first -> last start event",
        "ms",
        ms_between(latest(&first.starts), earliest(&first.starts)),
    );
    let lag: Vec<f64> = first
        .puts
        .iter()
        .zip(&first.starts)
        .map(|(put, start)| ms_between(*put, *start))
        .collect();
    report.dist(
        "burst_lag_ms",
        "burst: lag behind each start event",
        "ms",
        &lag,
    );
    report.value(
        "burst_removal_ms",
        "burst: docker rm -f sent -> all M gone",
        "ms",
        ms_between(latest(&first.gone), first.removing),
    );
    Bursts { first, second }
}

/// Creates `names`, starts them `BURST_PARALLEL` at a time, waits until all
/// are routed, removes them with `docker rm -f` and waits until all are gone.
async fn burst(ctx: &Context<'_>, names: &[String], pid: u32) -> Burst {
    let (store, fleet, settle) = (&ctx.store, &ctx.fleet, ctx.sizes.settle());
    let sids: Vec<String> = names.iter().map(|n| sid(NODE, n)).collect();
    fleet.create(names).await;
    tokio::time::sleep(settle).await;
    let before = sample(pid);
    let mark = store.mark();
    fleet.start(names, BURST_PARALLEL).await;
    let puts = ctx
        .all_seen(mark, &sids, true, "every burst container routed")
        .await;
    let starts = ctx.all_events(names, "start").await;
    tokio::time::sleep(settle).await;
    let routed = sample(pid);
    let mark = store.mark();
    let removing = SystemTime::now();
    tokio::task::block_in_place(|| fleet.remove(names));
    let gone = ctx
        .all_seen(mark, &sids, false, "every burst server removed")
        .await;
    tokio::time::sleep(settle * 2).await;
    let after = sample(pid);
    Burst {
        starts,
        puts,
        removing,
        gone,
        before,
        routed,
        after,
    }
}
