//! The havok binary under test as a child process: its stdout and stderr go
//! to a log file the test can read and wait on; killed on drop, and the log's
//! tail printed when the test failed.
//!
//! The binary is the one Cargo built for the running test or benchmark: the
//! library cannot see `env!("CARGO_BIN_EXE_havok")`, which only test and
//! bench targets are compiled with, so [`binary`] finds it at run time.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::wait::eventually;

/// A running havok; SIGKILLed on drop.
pub struct Havok {
    child: Child,
    dir: Option<TempDir>,
    log: PathBuf,
    exit: Option<ExitStatus>,
}

impl Havok {
    /// Starts `havok args…` with `NO_COLOR=1` and without any `HAVOK_*` variable of the test's environment.
    pub fn spawn(args: &[&str]) -> Havok {
        Havok::spawn_with_env(args, &[])
    }

    /// Like [`spawn`](Self::spawn), with extra environment variables (`HAVOK_TTL=5s`).
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Havok {
        let dir = tempfile::Builder::new()
            .prefix("havok-test-log-")
            .tempdir()
            .expect("create a log directory");
        let log = dir.path().join("havok.log");
        let file = File::create(&log).expect("create the log file");
        let binary = binary();
        let mut command = Command::new(&binary);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the log file"))
            .stderr(file)
            .env("NO_COLOR", "1");
        for (key, _) in std::env::vars() {
            if key.starts_with("HAVOK_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().copied());
        die_with_parent(&mut command);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
        Havok {
            child,
            dir: Some(dir),
            log,
            exit: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything havok printed so far (stdout and stderr interleaved).
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    pub fn sigkill(&self) {
        self.signal(libc::SIGKILL);
    }

    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn signal(&self, signal: libc::c_int) {
        if self.exit.is_some() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which is not reaped yet (exit is None).
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, signal);
        }
    }

    /// Whether havok has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.exit.is_none() {
            self.exit = self.child.try_wait().expect("wait for havok");
        }
        self.exit
    }

    /// Waits for havok to exit; panics with the log's tail after `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        eventually("havok to exit", timeout, || {
            let status = self.exited();
            async move { status }
        })
        .await
    }

    /// Waits until the log contains `needle`; panics early if havok exits without it.
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) {
        let what = format!("havok to log {needle:?}");
        eventually(&what, timeout, || {
            let text = self.log_text();
            let status = if text.contains(needle) {
                None
            } else {
                self.exited()
            };
            async move {
                if text.contains(needle) {
                    return Ok(());
                }
                if let Some(status) = status {
                    panic!("havok exited ({status}) without logging {needle:?}");
                }
                Err(format!("{} bytes of log without it", text.len()))
            }
        })
        .await
    }

    /// How many full passes havok has logged (needs `havok=debug` in `--log-level`).
    pub fn full_passes(&self) -> usize {
        self.log_text().matches("full pass done").count()
    }

    /// Waits until havok has made `n` more full passes than now.
    pub async fn wait_full_passes(&self, n: usize) {
        let seen = self.full_passes();
        eventually(
            &format!("{n} more full passes"),
            super::wait::TIMEOUT,
            || {
                let now = self.full_passes();
                async move { now >= seen + n }
            },
        )
        .await
    }

    /// The last `n` lines of the log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Havok {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            // Keep the whole log for a look after the test.
            print_kept_log("havok", self.dir.take(), "havok.log", &self.log_text(), 60);
        }
    }
}

/// The havok binary of this build: `CARGO_BIN_EXE_havok` as Cargo (or
/// nextest, as `NEXTEST_BIN_EXE_havok`) sets it when running a test or a
/// benchmark, else `havok` next to the `deps/` folder the running test
/// executable is in, where Cargo puts both (older Cargo sets the variable
/// at compile time only).
pub fn binary() -> PathBuf {
    for variable in ["CARGO_BIN_EXE_havok", "NEXTEST_BIN_EXE_havok"] {
        if let Some(path) = std::env::var_os(variable) {
            return PathBuf::from(path);
        }
    }
    let exe = std::env::current_exe().expect("the running test's path");
    exe.parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("havok"))
        .unwrap_or_else(|| panic!("no Cargo target folder above {}", exe.display()))
}

/// Makes the child die with the test process: if nextest kills the test
/// (its timeout) before any Drop runs, the kernel kills the child too.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: prctl is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// After a failed test: keeps `dir` (with its log `file`) on disk and prints
/// the last `lines` lines of `text`, the log of `what`.
pub fn print_kept_log(what: &str, dir: Option<TempDir>, file: &str, text: &str, lines: usize) {
    let kept = dir.map(TempDir::keep).map(|d| d.join(file));
    let all: Vec<&str> = text.lines().collect();
    eprintln!(
        "---- last {lines} lines of {what}'s log ({}) ----\n{}\n---- end of {what}'s log ----",
        kept.unwrap_or_default().display(),
        all[all.len().saturating_sub(lines)..].join("\n")
    );
}
