//! The floor of a route right after a start, as any bridge meets it: a
//! container havok ignores is started and, the moment its `start` event
//! arrives, inspected and followed by one bare write, or (etcd v3) one bare
//! transaction shaped like havok's write of a new host.

use std::time::Instant;

use crate::context::{Context, ONE};
use crate::report::ms_between;

/// What the floor writes after the inspect.
#[derive(Clone, Copy)]
pub enum FloorWrite {
    /// One key of a server key's size.
    Bare,
    /// Five keys under a compare, as havok writes a new host on etcd v3.
    NewHostTxn,
}

/// Starts `shadow` and times Docker's delivery of its `start` event, one
/// inspect, and the write until the watch saw it, in ms; `i` numbers the
/// write's keys. [`FloorWrite::NewHostTxn`] only where the store
/// [has it](crate::store::Store::has_txn_floor).
pub async fn sample(
    ctx: &Context<'_>,
    shadow: &str,
    i: usize,
    like: &str,
    write: FloorWrite,
) -> [f64; 3] {
    let react = async {
        let event = tokio::time::timeout(ONE, ctx.events.wait(shadow, "start"))
            .await
            .unwrap_or_else(|_| panic!("no start event of {shadow} within {ONE:?}"));
        let inspecting = Instant::now();
        if let Err(e) = ctx.docker.inspect_container(shadow, None).await {
            panic!("inspect {shadow}: {e}");
        }
        let inspect = inspecting.elapsed().as_secs_f64() * 1e3;
        // Numbers after the quiet floor's, so every key is new.
        let written = match write {
            FloorWrite::Bare => ctx.store.floor(ctx.sizes.n + i, like).await,
            FloorWrite::NewHostTxn => ctx.store.txn_floor(i).await,
        };
        [ms_between(event.arrived, event.at), inspect, written]
    };
    let names = [shadow.to_string()];
    let ((), floor) = tokio::join!(ctx.fleet.start(&names, 1), react);
    floor
}
