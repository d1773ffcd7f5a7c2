//! The havok binary run to completion (`havok routes`, `--help`, a
//! configuration error), with a deadline so that a havok that should have
//! exited but runs on fails the test instead of hanging it.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `havok args…` with `env` added and no `HAVOK_*` of the test's own
/// environment; kills it and panics after `within`.
pub fn run_havok(args: &[&str], env: &[(&str, &str)], within: Duration) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_havok"));
    command
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars() {
        if key.starts_with("HAVOK_") {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().copied());
    let mut child = command.spawn().expect("run havok");
    let started = Instant::now();
    // Polling try_wait keeps this free of threads; the output is small
    // enough to sit in the pipe buffers until the end.
    while child.try_wait().expect("wait for havok").is_none() {
        if started.elapsed() > within {
            let _ = child.kill();
            let out = child.wait_with_output().expect("havok's output");
            panic!(
                "havok {args:?} still ran after {within:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("havok's output")
}
