//! The `havok` binary: parse flags, load config, start logging, run until a signal.

use std::process::ExitCode;
use std::time::Duration;

use clap::error::ErrorKind;
use havok::backends::Backend;
use havok::cli::{Cli, Command};
use havok::config::{Config, ConfigError};
use tokio_util::sync::CancellationToken;

/// The C library's `pow`, defined here for the one caller havok links:
/// tokio's multi-thread scheduler (its `rt-multi-thread` feature is on for
/// the tests; havok itself runs a current-thread runtime, so it is never
/// called). Taken from the `libm` crate, it keeps glibc's libm.so out of the
/// process: the loader maps 0.3 to 0.5 MB of it for this one symbol.
#[no_mangle]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

fn main() -> ExitCode {
    let cli = match Cli::parse_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's message is several lines; the first names the bad flag or value.
            let text = e.to_string();
            let line = text.lines().next().unwrap_or("invalid arguments");
            eprintln!(
                "havok: {} (see havok --help)",
                line.trim_start_matches("error: ")
            );
            return ExitCode::from(2);
        }
    };
    // Needs no configuration: packagers run it at build time (scripts/package).
    if let Some(Command::GenerateDocs { out }) = &cli.command {
        return match havok::docs::generate(out) {
            Ok(files) => {
                for file in files {
                    println!("{}", file.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("havok: generate-docs: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let (config, backend) = match load(&cli) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("havok: {e}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config);
    init_panic_hook();
    // One thread: havok mostly waits, and its work is one event loop's. Measured
    // with the latency bench (etcd3, N=40): idle RSS 11.62 → 10.99 MB (anonymous
    // 1.60 → 1.22 MB), route latency unchanged within its noise.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("havok: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Some(Command::Routes { json }) => {
                match havok::routes_cmd::print_routes(&config, json).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("havok: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Some(Command::Legacy { remove, all }) => {
                match havok::legacy_cmd::run(&config, remove, all).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("havok: legacy: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Some(Command::GenerateDocs { .. }) => unreachable!("handled before the configuration"),
            None => {
                let shutdown = CancellationToken::new();
                tokio::spawn(on_signals(shutdown.clone()));
                match havok::run(config, backend, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(havok::RunError::Config(e)) => {
                        eprintln!("havok: {e}");
                        ExitCode::from(2)
                    }
                    Err(e) => {
                        eprintln!("havok: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
    });
    // Requests still in flight (a dead store) must not hold up the exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    code
}

/// The configuration and the backend it names, with that backend's settings
/// validated: every configuration error is found here, before anything runs
/// (for `havok routes` too, which writes nothing but refuses what a run would).
fn load(cli: &Cli) -> Result<(Config, Backend), ConfigError> {
    let config = Config::load(cli)?;
    let backend = Backend::from_config(&config)?;
    Ok((config, backend))
}

/// First SIGTERM or SIGINT: graceful shutdown. Second: exit at once.
async fn on_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop havok with SIGKILL");
        return;
    };
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::info!("shutting down (send the signal again to force)");
    shutdown.cancel();
    tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
    tracing::warn!("second signal: exiting now");
    std::process::exit(130);
}

fn init_logging(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    let filter: tracing_subscriber::filter::Targets = config
        .log_level
        .parse()
        .expect("--log-level was checked with the configuration");
    // Colours only on a terminal: under docker logs or journald they are noise.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry();
    if config.log_json {
        registry.with(layer.json().with_filter(filter)).init();
    } else {
        registry.with(layer.with_filter(filter)).init();
    }
}

/// A panic becomes one log line saying where it happened, instead of the
/// default report of several; `run` then ends with one line naming the task
/// that died. With `RUST_BACKTRACE` set, the default report (and its
/// backtrace) is kept.
fn init_panic_hook() {
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info
            .location()
            .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let thread = std::thread::current();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            %location,
            "panic: {}",
            message.lines().collect::<Vec<_>>().join(" ")
        );
    }));
}
