//! havok under measurement: what its log says about each full pass, and what
//! it costs as the kernel counts it (`/proc/<pid>/status` and `/proc/<pid>/stat`).

use serde_json::Value;

use havok::testkit::Havok;

/// Resident memory and CPU time of one process, as the kernel reports them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `RssAnon`: the part of `VmRSS` that is heap and stacks, not mapped files.
    pub anon_kb: u64,
    /// `VmHWM`: the most it was ever resident.
    pub hwm_kb: u64,
    /// `utime + stime`, in seconds.
    pub cpu_s: f64,
}

/// Reads `pid`'s memory and CPU time; panics if the process is gone.
pub fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status (has havok exited?): {e}"));
    let kb = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let after = &stat[stat.rfind(')').expect("a (comm) field") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the comm.
    let ticks: u64 =
        fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
    // SAFETY: sysconf only reads a constant of the C library.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Sample {
        rss_kb: kb("VmRSS:"),
        anon_kb: kb("RssAnon:"),
        hwm_kb: kb("VmHWM:"),
        cpu_s: ticks as f64 / per_second,
    }
}

/// Kilobytes as megabytes.
pub fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// One `full pass done` line of havok's JSON log.
#[derive(Debug, Clone, Default)]
pub struct Pass {
    pub keys_read: u64,
    pub bytes_read: u64,
    /// Servers this node wants (the resync with K running must say K).
    pub servers: u64,
    pub took_ms: f64,
}

/// Every full pass havok logged so far (it runs with `--log-format json`
/// and `havok::reconcile` at debug, where that line is).
pub fn passes(havok: &Havok) -> Vec<Pass> {
    havok
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| v["fields"]["message"] == "full pass done")
        .map(|v| {
            let f = &v["fields"];
            let n = |k: &str| f[k].as_u64().unwrap_or(0);
            Pass {
                keys_read: n("keys_read"),
                bytes_read: n("bytes_read"),
                servers: n("servers"),
                took_ms: f["took"].as_str().map_or(f64::NAN, debug_duration_ms),
            }
        })
        .collect()
}

/// `Duration`'s `Debug` text (`1.234ms`, `873.2µs`, `2.5s`, `12ns`) in ms.
fn debug_duration_ms(text: &str) -> f64 {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().unwrap_or(f64::NAN);
    match unit {
        "ns" => number / 1e6,
        "µs" | "us" => number / 1e3,
        "ms" => number,
        "s" => number * 1e3,
        _ => f64::NAN,
    }
}
