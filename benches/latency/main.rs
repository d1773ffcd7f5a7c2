//! The latency and cost benchmark: how quickly a new container
//! takes traffic, how quickly a dead one stops, and what havok costs on a
//! host, measured against the real Docker daemon and a real store for each
//! compiled-in backend, printed as a table and one `BENCH_JSON` line each.
//!
//! ```text
//! cargo bench --features testkit --bench latency -- [--quick] [--backend etcd3|etcd2|vulcand-api] [--n 50 --m 100 --k 200]
//! cargo bench --features testkit --bench latency -- --soak [MINUTES] [--backend B]
//! ```
//!
//! `docs/performance.md` explains every figure and holds one run's tables.
//!
//! # Layout
//! - `args`: the command line: the sizes and the backends.
//! - `context`: what every phase of one backend's run shares (store, Docker's
//!   events, the containers, the sizes), starting havok and waiting.
//! - `phases`: one file per phase, in the order [`bench`] runs them: `warmup`,
//!   `sequential` (route and removal latency, the floors), `idle`, `burst`,
//!   `probe` (`--probe http`), `startup` (with K running), `restart` (with
//!   everything in place), then `cost` (memory and CPU rows) and `verdict`
//!   (the targets and notes); `soak` instead of them all with `--soak`.
//! - `store`: the store (etcd 3.4 in a container, or the Vulcand contract
//!   server), a record of every change with its arrival time, the bare-write floor.
//! - `fleet`: the benchmark's containers and Docker's own event timestamps.
//! - `process`: havok's full passes from its log, its cost from `/proc`.
//! - `report`: percentiles, the table, the targets, the JSON line.
//! - `havok::testkit` (the `testkit` feature, which this target requires),
//!   shared with the integration tests: etcd, the test image, unique names
//!   and the havok child process (the binary `cargo bench` builds with the
//!   release profile).
//!
//! Clocks: Docker stamps events with its wall clock (`time_nano`) and the
//! store record stamps arrivals with `SystemTime::now()` on the same host,
//! so "event → visible in the store" is one subtraction of the two.

mod args;
mod context;
mod fleet;
mod phases;
mod process;
mod report;
mod store;

use std::process::ExitCode;

use havok::testkit::Backend;

use args::{parse_args, Sizes, USAGE};
use context::{finish, Context};
use phases::{burst, cost, idle, probe, restart, sequential, soak, startup, verdict, warmup};
use report::Report;

fn main() -> ExitCode {
    let (sizes, backends) = match parse_args() {
        Ok(parsed) => parsed,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    eprintln!(
        "havok latency bench: N={} M={} K={}, binary {}",
        sizes.n,
        sizes.m,
        sizes.k,
        env!("CARGO_BIN_EXE_havok")
    );
    // Two workers: the benchmark's own watches must keep up with havok, not compete with it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        for backend in backends {
            let mut report = match sizes.soak {
                Some(minutes) => {
                    let ctx = Context::start(backend, &sizes).await;
                    let mut report = ctx.report();
                    soak::run(&ctx, &mut report, minutes).await;
                    report
                }
                None => bench(backend, &sizes).await,
            };
            report.print();
        }
    });
    ExitCode::SUCCESS
}

/// Every phase for one backend, in order, on one fresh store.
async fn bench(backend: Backend, sizes: &Sizes) -> Report {
    let ctx = Context::start(backend, sizes).await;
    let mut report = ctx.report();
    let mut main = warmup::run(&ctx).await;
    let sequential = sequential::run(&ctx, &mut report, &main).await;
    let idle = idle::run(&ctx, main.pid()).await;
    let bursts = burst::run(&ctx, &mut report, main.pid()).await;
    let end = finish(&mut main).await;
    probe::run(&ctx, &mut report, sequential.route).await;
    let startup = startup::run(&ctx, &mut report).await;
    let restart = restart::run(&ctx, &mut report, &startup).await;
    cost::write(&mut report, &idle, &bursts, &end, &startup, &restart);
    verdict::write(
        &ctx,
        &mut report,
        &sequential,
        &idle,
        &bursts,
        &startup,
        &restart,
    );
    report
}
