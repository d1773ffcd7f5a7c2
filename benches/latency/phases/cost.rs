//! What havok cost across the run, as the kernel counts it: the memory and
//! CPU readings the other phases took, as rows.

use crate::phases::burst::Bursts;
use crate::phases::idle::Idle;
use crate::phases::restart::Restart;
use crate::phases::startup::Startup;
use crate::process::{mb, Sample};
use crate::report::Report;

/// `end`: the latency and burst havok's last reading, before it was stopped.
pub fn write(
    report: &mut Report,
    idle: &Idle,
    bursts: &Bursts,
    end: &Sample,
    startup: &Startup,
    restart: &Restart,
) {
    let (before, routed, after) = (
        &bursts.first.before,
        &bursts.first.routed,
        &bursts.first.after,
    );
    let (with_k, again) = (&startup.with_k, &restart.with_k_again);
    let rows: [(&str, &str, &'static str, f64); 15] = [
        (
            "idle_rss_mb",
            "cost: idle RSS, nothing routed",
            "MB",
            mb(idle.sample.rss_kb),
        ),
        (
            "idle_rss_anon_mb",
            "cost: idle RSS, of which anonymous (heap, stacks)",
            "MB",
            mb(idle.sample.anon_kb),
        ),
        (
            "idle_cpu_ms_per_s",
            "cost: idle CPU",
            "ms/s",
            idle.cpu_ms_per_s,
        ),
        (
            "rss_before_burst_mb",
            "cost: RSS before the burst",
            "MB",
            mb(before.rss_kb),
        ),
        (
            "rss_burst_routed_mb",
            "cost: RSS with M routed",
            "MB",
            mb(routed.rss_kb),
        ),
        (
            "rss_after_burst_mb",
            "cost: RSS after the burst, settled",
            "MB",
            mb(after.rss_kb),
        ),
        (
            "rss_growth_mb",
            "cost: RSS growth across the burst",
            "MB",
            bursts.growth_kb() / 1024.0,
        ),
        (
            "rss_anon_growth_mb",
            "cost: of which anonymous (heap, stacks)",
            "MB",
            (after.anon_kb as f64 - before.anon_kb as f64) / 1024.0,
        ),
        (
            "rss_growth_second_mb",
            "cost: RSS growth across a second burst",
            "MB",
            bursts.second_growth_kb() / 1024.0,
        ),
        (
            "peak_rss_mb",
            "cost: peak RSS (VmHWM), latency+burst run",
            "MB",
            mb(end.hwm_kb),
        ),
        ("cpu_s", "cost: CPU time, latency+burst run", "s", end.cpu_s),
        (
            "k_rss_mb",
            "cost: RSS with K routed",
            "MB",
            mb(with_k.rss_kb),
        ),
        (
            "k_peak_rss_mb",
            "cost: peak RSS (VmHWM), startup with K",
            "MB",
            mb(with_k.hwm_kb),
        ),
        (
            "k_cpu_s",
            "cost: CPU time, startup with K",
            "s",
            with_k.cpu_s,
        ),
        (
            "k_restart_rss_mb",
            "cost: RSS with K routed, after the restart",
            "MB",
            mb(again.rss_kb),
        ),
    ];
    for (key, metric, unit, value) in rows {
        report.value(key, metric, unit, value);
    }
}
