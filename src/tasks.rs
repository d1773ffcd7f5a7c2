//! The two tasks `run` keeps going, the Docker watcher and the reconciler,
//! and what their end means: before shutdown, either one ending is a fault
//! that must end the process with a failure status, so that a supervisor
//! (systemd's `Restart=on-failure`, Docker's restart policy) starts havok again.

use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

/// A task of `run` that ended before shutdown.
#[derive(Debug, thiserror::Error)]
#[error("the {task} stopped: {reason}; exiting")]
pub struct TaskDied {
    /// `Docker watcher` or `reconciler`.
    pub task: &'static str,
    /// `panicked: <message>`, or why it returned.
    pub reason: String,
}

/// Waits until both tasks have ended; an error names the first that died.
///
/// When one ends, the other is told to stop through `shutdown`: the
/// reconciler then deregisters if asked to, and is waited for; the watcher
/// is given a second, as a Docker call that hangs must not hold up the exit.
/// A task that panicked, or that ended before shutdown was asked for, died.
pub async fn supervise(
    mut watcher: JoinHandle<()>,
    mut reconciler: JoinHandle<()>,
    shutdown: CancellationToken,
) -> Result<(), TaskDied> {
    const WATCHER: &str = "Docker watcher";
    const RECONCILER: &str = "reconciler";
    let (first, watched, reconciled, asked) = tokio::select! {
        watched = &mut watcher => {
            let asked = shutdown.is_cancelled();
            shutdown.cancel();
            (WATCHER, Some(watched), reconciler.await, asked)
        }
        reconciled = &mut reconciler => {
            let asked = shutdown.is_cancelled();
            shutdown.cancel();
            let watched = tokio::time::timeout(std::time::Duration::from_secs(1), watcher)
                .await
                .ok();
            (RECONCILER, watched, reconciled, asked)
        }
    };
    if let Some(Err(e)) = watched {
        return Err(died(WATCHER, e));
    }
    if let Err(e) = reconciled {
        return Err(died(RECONCILER, e));
    }
    if !asked {
        // The reconciler also ends when the watcher's channel closes, so
        // the one that ended first is the one to name.
        return Err(TaskDied {
            task: first,
            reason: "it ended before shutdown".into(),
        });
    }
    Ok(())
}

fn died(task: &'static str, e: JoinError) -> TaskDied {
    let reason = match e.try_into_panic() {
        Ok(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            // One line: the exit message must stay one line.
            format!(
                "panicked: {}",
                message.lines().collect::<Vec<_>>().join(" ")
            )
        }
        Err(e) => e.to_string(),
    };
    TaskDied { task, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// How a task of a test row ends.
    #[derive(Debug, Clone, Copy)]
    enum End {
        /// At the shutdown token, as both tasks do when asked to stop.
        AtShutdown,
        /// Panics with "boom" at once.
        Panics,
        /// Returns at once, without being asked.
        Returns,
    }

    fn task(end: End, shutdown: &CancellationToken) -> JoinHandle<()> {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            match end {
                End::AtShutdown => shutdown.cancelled().await,
                End::Panics => panic!("boom"),
                End::Returns => {}
            }
        })
    }

    /// Each row: how the watcher and the reconciler end, whether shutdown
    /// was asked for, and the task `supervise` must report dead (with a
    /// piece of its reason), if any.
    #[tokio::test]
    async fn a_dead_task_is_an_error() {
        use End::*;
        /// The task reported dead and a piece of its reason.
        type Died = Option<(&'static str, &'static str)>;
        let watcher_panicked: Died = Some(("Docker watcher", "panicked: boom"));
        let watcher_returned: Died = Some(("Docker watcher", "before shutdown"));
        let reconciler_panicked: Died = Some(("reconciler", "panicked: boom"));
        let reconciler_returned: Died = Some(("reconciler", "before shutdown"));
        let cases: [(End, End, bool, Died); 6] = [
            (AtShutdown, AtShutdown, true, None),
            (Panics, AtShutdown, false, watcher_panicked),
            (AtShutdown, Panics, false, reconciler_panicked),
            (Returns, AtShutdown, false, watcher_returned),
            (AtShutdown, Returns, false, reconciler_returned),
            // A panic while stopping is still a fault.
            (Panics, AtShutdown, true, watcher_panicked),
        ];
        for (watcher, reconciler, asked, want) in cases {
            let shutdown = CancellationToken::new();
            if asked {
                shutdown.cancel();
            }
            let (w, r) = (task(watcher, &shutdown), task(reconciler, &shutdown));
            let got =
                tokio::time::timeout(Duration::from_secs(5), supervise(w, r, shutdown.clone()))
                    .await
                    .expect("supervise returns once both tasks ended");
            let row = format!("{watcher:?} {reconciler:?} asked={asked}: {got:?}");
            match (got, want) {
                (Ok(()), None) => {}
                (Err(e), Some((task, reason))) => {
                    assert_eq!(e.task, task, "{row}");
                    assert!(e.reason.contains(reason), "{row}");
                    assert_eq!(e.to_string().lines().count(), 1, "{row}");
                }
                _ => panic!("{row}"),
            }
            assert!(
                shutdown.is_cancelled(),
                "{row}: the other task is told to stop"
            );
        }
    }
}
