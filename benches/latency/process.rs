//! havok under measurement: what its log says about each full pass, and what
//! it costs as the kernel counts it (`/proc/<pid>/status` and `/proc/<pid>/stat`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

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

/// How havok handled one container's start, by its own log's clock (the
/// same wall clock as Docker's event stamps and the store record's).
#[derive(Debug, Clone, Copy)]
pub struct Handled {
    /// The inspect was sent: at the container's network `connect` (before
    /// the `start` event), or when the `start` event reached havok (the
    /// inspect line less its `took`).
    pub sent: SystemTime,
    /// Whether that inspect was sent at the network `connect`.
    pub at_connect: bool,
    /// Its one inspect answered.
    pub inspected: SystemTime,
    /// The write of its server began (the `add server` line less its `took`).
    pub writing: SystemTime,
    /// The store answered that write.
    pub written: SystemTime,
}

/// Each container's first start as havok logged it, by name: its
/// `inspected after event` line (`havok::docker` at debug; written `since`
/// after the inspect answered; `action` is `connect` or `start`) and its
/// first `add server` line (info), each with the `took` of what it followed.
pub fn handled(havok: &Havok) -> HashMap<String, Handled> {
    let mut inspected: HashMap<String, (SystemTime, Duration)> = HashMap::new();
    let mut at_connect: HashMap<String, bool> = HashMap::new();
    let mut written: HashMap<String, (SystemTime, Duration)> = HashMap::new();
    for line in havok.log_text().lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let f = &v["fields"];
        let (Some(at), Some(took), Some(container)) = (
            v["timestamp"]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339(t).ok()),
            f["took"].as_str().map(debug_duration_ms),
            f["container"].as_str(),
        ) else {
            continue;
        };
        let took = Duration::from_secs_f64(took.max(0.0) / 1e3);
        // The inspect line is written once the update is on its way; `since`
        // is how long after the inspect's answer.
        let since = f["since"].as_str().map_or(Duration::ZERO, |t| {
            Duration::from_secs_f64(debug_duration_ms(t).max(0.0) / 1e3)
        });
        let into = match f["message"].as_str() {
            Some("inspected after event") if f["action"] == "start" || f["action"] == "connect" => {
                at_connect
                    .entry(container.to_string())
                    .or_insert(f["action"] == "connect");
                &mut inspected
            }
            Some("add server") => &mut written,
            _ => continue,
        };
        into.entry(container.to_string())
            .or_insert((at - since, took));
    }
    inspected
        .into_iter()
        .filter_map(|(name, (inspected, inspect))| {
            let (written, write) = *written.get(&name)?;
            let handled = Handled {
                sent: inspected - inspect,
                at_connect: at_connect[&name],
                inspected,
                writing: written - write,
                written,
            };
            Some((name, handled))
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
