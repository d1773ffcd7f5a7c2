//! What the readiness probe adds: N sequential starts routed by a havok run
//! with `--probe http`, which writes a server once its app answers.

use crate::context::{first_pass, sid, Context, ONE};
use crate::report::{ms_between, Report, Stats};

/// The node id of this phase's havok.
const PROBE_NODE: &str = "bench-probe";

/// `route` is the sequential phase's route latency, without the probe.
pub async fn run(ctx: &Context<'_>, report: &mut Report, route: Stats) {
    let (store, fleet) = (&ctx.store, &ctx.fleet);
    ctx.say(&format!(
        "{} sequential starts with --probe http",
        ctx.sizes.n
    ));
    let mut probing = ctx.spawn_probing(PROBE_NODE, "60s", "http");
    first_pass(&probing, "the probing havok's first full pass").await;
    let probed = ctx.names("p", ctx.sizes.n);
    fleet.create(&probed).await;
    let mut probed_ms = Vec::new();
    for name in &probed {
        let routed = ctx.start_routed(PROBE_NODE, name).await;
        probed_ms.push(ms_between(routed.put, routed.started));
    }
    let probed_sids: Vec<String> = probed.iter().map(|n| sid(PROBE_NODE, n)).collect();
    let mark = store.mark();
    tokio::task::block_in_place(|| fleet.remove(&probed));
    ctx.all_seen(mark, &probed_sids, false, "every probed server removed")
        .await;
    probing.sigterm();
    probing.wait_exit(ONE).await;
    let with_probe = report.dist(
        "route_probe_ms",
        "route with --probe http: start event -> server in store",
        "ms",
        &probed_ms,
    );
    report.value(
        "probe_adds_ms",
        "probe: what --probe http adds to route p50",
        "ms",
        with_probe.p50 - route.p50,
    );
}
