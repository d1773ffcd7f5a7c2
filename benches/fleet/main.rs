//! The fleet benchmark: N havok nodes (default 200; `--quick`: 20), each with
//! its own `--node-id` and name filter, sharing one Docker daemon, one
//! three-member etcd cluster (the etcd backends) and a real Vulcand
//! (`../shared/vulcand/`, or `$HAVOK_VULCAND`), for each compiled-in backend.
//!
//! ```text
//! cargo bench --features testkit --bench fleet -- [--quick] [--nodes N] [--backend etcd3|etcd2|vulcand-api]...
//! ```
//!
//! Node `i` routes one container, `<scope>-n<i>-h<i/2>`: hosts are shared by
//! two nodes. It prints per backend, as a table and one `BENCH_JSON` line:
//! - the time from all containers started to all routed, seen through Vulcand;
//! - store requests and bytes per node per minute while idle (through a
//!   counting TCP proxy in front of each member), and the writes etcd applied;
//! - the keys and bytes one resync of each node reads;
//! - RSS per node;
//! - how many changes reach Vulcand's keys while every node is restarted in
//!   turn with everything in place (from an etcd watch);
//! - the time from a SIGKILL of half the nodes (both nodes of every other
//!   host) to their servers gone and their empty hosts removed, seen through Vulcand.
//!
//! On vulcand-api, memng keeps a dead node's servers until Vulcand restarts
//! and cannot be watched: the node-loss and restart rows do not apply.
//!
//! # Layout
//! - `world`: the store, Vulcand, the proxies, the containers, the nodes.
//! - `phases`: the measurements, in the order `main` runs them.
//! - `costs`: what etcd counts (`/metrics`) and the changes under Vulcand's prefix.
//! - shared with the latency bench: `containers` (bulk create and start),
//!   `process` (RSS from `/proc`, full passes from havok's log), `report`.

#[path = "../latency/fleet.rs"]
#[allow(dead_code)]
mod containers;
mod costs;
mod phases;
#[path = "../latency/process.rs"]
#[allow(dead_code)]
mod process;
#[path = "../latency/report.rs"]
#[allow(dead_code)]
mod report;
mod world;

use std::process::ExitCode;

use havok::testkit::{vulcand, Backend};
use serde_json::json;

use report::Report;
use world::World;

const USAGE: &str = "\
usage: cargo bench --features testkit --bench fleet -- [--quick] [--nodes N] [--backend etcd3|etcd2|vulcand-api]...
  --quick      20 nodes and a 20 s idle window, for CI (a --nodes after it still applies)
  --nodes N    havok nodes (default 200)
  --backend B  only this backend (repeatable; default: every compiled-in one)";

/// The size of one run.
pub struct Sizes {
    pub nodes: usize,
    pub quick: bool,
}

fn parse_args() -> Result<(Sizes, Vec<Backend>), String> {
    let mut sizes = Sizes {
        nodes: 200,
        quick: false,
    };
    let mut backends = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => {
                sizes = Sizes {
                    nodes: 20,
                    quick: true,
                }
            }
            "--nodes" => {
                let value = args.next().unwrap_or_default();
                sizes.nodes = value
                    .parse()
                    .ok()
                    .filter(|n: &usize| *n >= 4)
                    .ok_or_else(|| format!("--nodes {value:?}: expected a number, at least 4"))?;
            }
            "--backend" => {
                let flag = args.next().unwrap_or_default();
                backends.push(Backend::parse(&flag).ok_or_else(|| {
                    let known: Vec<&str> =
                        Backend::compiled_in().iter().map(|b| b.flag()).collect();
                    format!("--backend {flag:?}: compiled in are {}", known.join(", "))
                })?);
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

fn main() -> ExitCode {
    let (sizes, backends) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    // Panics under CI=true when it is missing: the fleet is measured through it.
    let Some(binary) = vulcand::binary("the fleet benchmark") else {
        return ExitCode::SUCCESS;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        for backend in backends {
            let mut report = Report::new(
                format!(
                    "havok fleet bench: {} with {} nodes{}",
                    backend.flag(),
                    sizes.nodes,
                    if sizes.quick { ", --quick" } else { "" }
                ),
                json!({"backend": backend.flag(), "nodes": sizes.nodes, "quick": sizes.quick}),
            );
            let mut world = World::start(backend, &sizes, binary.clone()).await;
            phases::run(&mut world, &sizes, &mut report).await;
            report.print();
        }
    });
    ExitCode::SUCCESS
}
