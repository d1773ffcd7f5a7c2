//! `--soak`: container churn for many minutes (10 by default) against one
//! havok, with its RSS sampled every 10 s and printed minute by minute: after
//! the warm-up, the last minute's RSS must stay within 0.5 MB of the first's.
//!
//! The churn starts and removes one container at a time, each waited for in
//! the store both ways, on 20 host names that keep coming and going, so every
//! route is created and removed over and over.

use std::time::{Duration, Instant};

use crate::context::{finish, sid, Context, NODE};
use crate::phases::warmup;
use crate::process::{mb, sample};
use crate::report::Report;

/// How often RSS is read.
const EVERY: Duration = Duration::from_secs(10);
/// How far the last minute may stray from the first, in MB.
const GROWTH: f64 = 0.5;

pub async fn run(ctx: &Context<'_>, report: &mut Report, minutes: u64) {
    ctx.say(&format!("soak: {minutes} minutes of container churn"));
    let mut main = warmup::run(ctx).await;
    let pid = main.pid();
    let total = Duration::from_secs(minutes * 60);
    let started = Instant::now();
    let mut next = started;
    // (minute, RSS MB, anonymous MB)
    let mut samples: Vec<(u64, f64, f64)> = Vec::new();
    let mut cycles = 0usize;
    while started.elapsed() < total {
        if Instant::now() >= next {
            let s = sample(pid);
            let minute = started.elapsed().as_secs() / 60;
            samples.push((minute, mb(s.rss_kb), mb(s.anon_kb)));
            next += EVERY;
        }
        let name = ctx.names(&format!("c{:02}x", cycles % 20), 1);
        ctx.fleet.create(&name).await;
        ctx.start_routed(NODE, &name[0]).await;
        let mark = ctx.store.mark();
        tokio::task::block_in_place(|| ctx.fleet.remove(&name));
        ctx.all_seen(
            mark,
            &[sid(NODE, &name[0])],
            false,
            "a soak container's removal",
        )
        .await;
        cycles += 1;
    }
    finish(&mut main).await;
    println!(
        "\nRSS over the soak ({} cycles of start, route, remove, unroute):",
        cycles
    );
    println!("{:>6} {:>9} {:>9}", "minute", "RSS MB", "anon MB");
    let mut per_minute = Vec::new();
    for minute in 0..minutes {
        let of: Vec<&(u64, f64, f64)> = samples.iter().filter(|s| s.0 == minute).collect();
        if of.is_empty() {
            continue;
        }
        let rss = of.iter().map(|s| s.1).sum::<f64>() / of.len() as f64;
        let anon = of.iter().map(|s| s.2).sum::<f64>() / of.len() as f64;
        println!("{minute:>6} {rss:>9.2} {anon:>9.2}");
        per_minute.push(rss);
    }
    // The first minute is the warm-up: growth is judged from the second.
    let first = per_minute
        .get(1)
        .or(per_minute.first())
        .copied()
        .unwrap_or(f64::NAN);
    let last = per_minute.last().copied().unwrap_or(f64::NAN);
    report.value("soak_cycles", "soak: churn cycles", "count", cycles as f64);
    report.value(
        "soak_first_mb",
        "soak: RSS of the first minute after warm-up",
        "MB",
        first,
    );
    report.value("soak_last_mb", "soak: RSS of the last minute", "MB", last);
    report.target(
        "no growth across the soak: last minute within 0.5 MB of the first after warm-up",
        (last - first).abs() <= GROWTH,
        format!("{first:.2} -> {last:.2} MB over {minutes} minutes"),
    );
}
