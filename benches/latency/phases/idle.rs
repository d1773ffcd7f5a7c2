//! What havok costs with nothing running: its memory once settled, and its
//! CPU time over a quiet window.

use crate::context::Context;
use crate::process::{sample, Sample};

/// havok's reading at the end of the window, and its CPU over the window.
pub struct Idle {
    pub sample: Sample,
    pub cpu_ms_per_s: f64,
}

pub async fn run(ctx: &Context<'_>, pid: u32) -> Idle {
    ctx.say("idle");
    tokio::time::sleep(ctx.sizes.settle()).await;
    let start = sample(pid);
    tokio::time::sleep(ctx.sizes.idle_window()).await;
    let end = sample(pid);
    Idle {
        sample: end,
        cpu_ms_per_s: (end.cpu_s - start.cpu_s) * 1e3 / ctx.sizes.idle_window().as_secs_f64(),
    }
}
