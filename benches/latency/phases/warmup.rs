//! havok up and one warm-up container routed and removed, not counted: it
//! also proves the store's record and Docker's event subscription are live
//! before anything is measured.

use havok::testkit::Havok;

use crate::context::{first_pass, sid, Context, NODE};

/// Starts the havok the latency, idle and burst phases measure, and warms it up.
pub async fn run(ctx: &Context<'_>) -> Havok {
    let main = ctx.spawn_havok(NODE, "60s");
    first_pass(&main, "havok's first full pass").await;
    let warm = ctx.names("w", 1);
    let sids = [sid(NODE, &warm[0])];
    ctx.fleet.create(&warm).await;
    let mark = ctx.store.mark();
    ctx.fleet.start(&warm, 1).await;
    ctx.all_seen(mark, &sids, true, "the warm-up route").await;
    ctx.all_events(&warm, "start").await;
    let mark = ctx.store.mark();
    tokio::task::block_in_place(|| ctx.fleet.remove(&warm));
    ctx.all_seen(mark, &sids, false, "the warm-up removal")
        .await;
    main
}
