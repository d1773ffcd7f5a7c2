//! The benchmark's command line: the sizes of its phases and the backends to run.

use std::time::Duration;

use havok::testkit::Backend;

pub const USAGE: &str = "\
usage: cargo bench --features testkit --bench latency -- [--quick] [--backend etcd3|etcd2|vulcand-api]... [--n N] [--m M] [--k K]
  --quick      N=5 M=10 K=10, for CI (sizes given after it still apply)
  --backend B  only this backend (repeatable; default: every compiled-in one)
  --n N        sequential starts and stops, one at a time (default 50)
  --m M        containers started at once in the burst (default 100)
  --k K        containers running when havok starts (default 200)
  --soak [MIN] instead of the phases: MIN minutes (default 10) of container
               churn, printing havok's RSS minute by minute";

pub struct Sizes {
    pub n: usize,
    pub m: usize,
    pub k: usize,
    pub quick: bool,
    /// `--soak`: minutes of churn instead of the phases.
    pub soak: Option<u64>,
}

impl Sizes {
    /// Pause for havok to go quiet before a memory reading.
    pub fn settle(&self) -> Duration {
        Duration::from_secs(if self.quick { 1 } else { 3 })
    }

    /// The window idle CPU is measured over (ticks are 10 ms: longer is finer).
    pub fn idle_window(&self) -> Duration {
        Duration::from_secs(if self.quick { 2 } else { 10 })
    }
}

/// The sizes and backends asked for; `Err("")` for `--help`.
pub fn parse_args() -> Result<(Sizes, Vec<Backend>), String> {
    let mut sizes = Sizes {
        n: 50,
        m: 100,
        k: 200,
        quick: false,
        soak: None,
    };
    let mut backends = Vec::new();
    let mut args = std::env::args().skip(1);
    let number = |flag: &str, value: Option<String>| -> Result<usize, String> {
        value
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{flag} needs a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // cargo bench passes --bench to every bench target.
            "--bench" => {}
            "--quick" => {
                sizes = Sizes {
                    n: 5,
                    m: 10,
                    k: 10,
                    quick: true,
                    soak: sizes.soak,
                }
            }
            "--n" => sizes.n = number("--n", args.next())?,
            "--m" => sizes.m = number("--m", args.next())?,
            "--k" => sizes.k = number("--k", args.next())?,
            "--soak" => {
                sizes.soak = Some(10);
            }
            minutes if sizes.soak.is_some() && minutes.parse::<u64>().is_ok() => {
                sizes.soak = minutes.parse().ok().filter(|m| *m > 0);
                if sizes.soak.is_none() {
                    return Err("--soak needs a positive number of minutes".into());
                }
            }
            "--backend" => {
                let flag = args.next().unwrap_or_default();
                let backend = Backend::parse(&flag).ok_or_else(|| {
                    let known: Vec<&str> =
                        Backend::compiled_in().iter().map(|b| b.flag()).collect();
                    format!("--backend {flag:?}: compiled in are {}", known.join(", "))
                })?;
                backends.push(backend);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if backends.is_empty() {
        backends = Backend::compiled_in();
    }
    Ok((sizes, backends))
}
