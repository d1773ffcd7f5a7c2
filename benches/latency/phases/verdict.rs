//! The targets havok is held to, met or missed, and the notes that qualify
//! this run's figures.

use crate::context::Context;
use crate::phases::burst::Bursts;
use crate::phases::idle::Idle;
use crate::phases::restart::Restart;
use crate::phases::sequential::Sequential;
use crate::phases::startup::Startup;
use crate::process::mb;
use crate::report::Report;
use havok::testkit::Backend;

/// Route p50 at most the floors plus this many ms (etcd v3).
const ROUTE_OVER_FLOORS_MS: f64 = 0.3;
/// Route p99 under this many ms.
const ROUTE_P99_MS: f64 = 10.0;
/// Startup may take this many ms beyond Docker's own listing of the K.
const STARTUP_BEYOND_LISTING_MS: f64 = 300.0;
/// Idle RSS at most this many MB.
const IDLE_RSS_MB: f64 = 8.0;

pub fn write(
    ctx: &Context<'_>,
    report: &mut Report,
    sequential: &Sequential,
    idle: &Idle,
    bursts: &Bursts,
    startup: &Startup,
    restart: &Restart,
) {
    let route = sequential.route;
    if ctx.backend == Backend::Etcd3 {
        // Judged against the floors as a bridge meets them: sampled right
        // after a start, when Docker and the store are as busy as for a
        // route. The quiet floors are printed beside them.
        let floors = sequential.after_start.p50;
        let over = route.p50 - floors;
        report.target(
            "etcd3 route p50 at most the floors + 0.3 ms",
            over <= ROUTE_OVER_FLOORS_MS,
            format!(
                "{:.3} ms = floors right after a start {floors:.3} ms {over:+.3} ms (quiet floors {:.2} ms)",
                route.p50, sequential.floors_p50
            ),
        );
    }
    if let Some(txn) = sequential.txn_after_start {
        report.note(format!(
            "etcd3 route p50 {:.3} ms = floors right after a start with a new host's transaction instead of a bare write {:.3} ms {:+.3} ms",
            route.p50,
            txn.p50,
            route.p50 - txn.p50
        ));
    }
    report.target(
        "route p99 < 10 ms",
        route.p99 < ROUTE_P99_MS,
        format!("{:.2} ms", route.p99),
    );
    report.target(
        "removal before die",
        sequential.before_die == sequential.n,
        format!("{}/{}", sequential.before_die, sequential.n),
    );
    let beyond = startup.startup_ms - startup.listing_ms;
    report.target(
        "startup under 0.3 s beyond Docker's listing",
        beyond < STARTUP_BEYOND_LISTING_MS,
        format!("{:.0} ms with K={}", beyond, ctx.sizes.k),
    );
    let idle_mb = mb(idle.sample.rss_kb);
    report.target(
        "idle RSS at most 8 MB",
        idle_mb <= IDLE_RSS_MB,
        format!("{idle_mb:.2} MB"),
    );
    // Growth is judged over a soak (`--soak`), not across one burst: the
    // first burst raises the allocator's high-water mark once.
    let (growth, second_growth) = (bursts.growth_kb(), bursts.second_growth_kb());
    report.note(format!(
        "RSS across the burst: {growth:+.0} KB, across a second identical one: {second_growth:+.0} KB (no-growth is judged by --soak)"
    ));
    report.target(
        "restart writes nothing under Vulcand's prefix",
        restart.vulcand_writes == 0,
        format!("{}", restart.vulcand_writes),
    );
    report.note(ctx.load_note());
    if restart.resync.servers as usize != ctx.sizes.k {
        report.note(format!(
            "the resync measured wanted {} servers, not K={}",
            restart.resync.servers, ctx.sizes.k
        ));
    }
    if ctx.store.resumed() > 0 {
        report.note(format!(
            "the etcd v2 watch replayed {} events from etcd's history (its stream was dropped): they arrive late",
            ctx.store.resumed()
        ));
    }
    if ctx.backend == Backend::VulcandApi {
        report.note("the API is polled every 0.5 ms: its figures are late by up to that".into());
    }
}
