//! havok restarted with its K servers in place: what it writes (nothing under
//! Vulcand's prefix, so Vulcand does not reload), and what its first periodic
//! resync reads.

use std::time::Duration;

use crate::context::{until, Context, ONE};
use crate::phases::startup::{Startup, BOOT_NODE};
use crate::process::{passes, sample, Pass, Sample};
use crate::report::Report;

/// After the second full pass: time for a late write to reach the store's record.
const QUIET: Duration = Duration::from_millis(500);

/// What the targets and the cost rows need.
pub struct Restart {
    /// Write requests to the Vulcand API, or changes under `vulcand/` in etcd.
    pub vulcand_writes: usize,
    /// The first periodic resync's full pass.
    pub resync: Pass,
    pub with_k_again: Sample,
}

/// Restarts the startup phase's havok, then removes the K containers.
pub async fn run(ctx: &Context<'_>, report: &mut Report, startup: &Startup) -> Restart {
    let store = &ctx.store;
    ctx.say("restart with everything in place");
    let mark = store.mark();
    let api_writes = store.api_writes();
    let again = ctx.spawn_havok(BOOT_NODE, "5s");
    // Its start-up pass and its first periodic resync (5 s later).
    let restart_passes = until("two full passes after the restart", ONE, || {
        let p = passes(&again);
        (p.len() >= 2).then_some(p)
    })
    .await;
    tokio::time::sleep(QUIET).await;
    let changes = store.since(mark);
    let vulcand_changes = changes.iter().filter(|c| c.in_vulcand()).count();
    let other_changes = changes.len() - vulcand_changes;
    let api_writes = store
        .api_writes()
        .zip(api_writes)
        .map(|(now, then)| now - then);
    let with_k_again = sample(again.pid());
    again.sigterm();
    drop(again);
    tokio::task::block_in_place(|| ctx.fleet.remove(&startup.ks));
    let resync = restart_passes[1].clone();
    match api_writes {
        Some(writes) => report.value(
            "restart_vulcand_writes",
            "restart: write requests to Vulcand's API",
            "count",
            writes as f64,
        ),
        None => report.value(
            "restart_vulcand_writes",
            "restart: watch events under vulcand/",
            "count",
            vulcand_changes as f64,
        ),
    }
    report.value(
        "restart_state_writes",
        "restart: changes under havok's state prefix",
        "count",
        other_changes as f64,
    );
    report.value(
        "resync_keys_read",
        "resync with K routed: keys read",
        "keys",
        resync.keys_read as f64,
    );
    report.value(
        "resync_bytes_read",
        "resync with K routed: bytes read",
        "bytes",
        resync.bytes_read as f64,
    );
    report.value(
        "resync_ms",
        "resync with K routed: took (havok's log)",
        "ms",
        resync.took_ms,
    );
    Restart {
        vulcand_writes: api_writes.unwrap_or(vulcand_changes),
        resync,
        with_k_again,
    }
}
