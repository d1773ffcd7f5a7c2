//! Waiting without sleeps: poll until a condition holds or a deadline passes,
//! and say what was last seen when it does not.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use super::store::{Snapshot, StoreView};

/// How long a test waits for havok to converge: generous, since CI has two
/// cores shared by several tests, each with its own etcd.
pub const TIMEOUT: Duration = Duration::from_secs(30);

const POLL: Duration = Duration::from_millis(75);

/// What a poll returned: a value, or what was observed instead.
pub trait Outcome {
    type Value;
    fn into_result(self) -> Result<Self::Value, String>;
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.ok_or_else(|| "None".to_string())
    }
}

impl<T, E: Debug> Outcome for Result<T, E> {
    type Value = T;
    fn into_result(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:#?}"))
    }
}

impl Outcome for bool {
    type Value = ();
    fn into_result(self) -> Result<(), String> {
        if self {
            Ok(())
        } else {
            Err("false".to_string())
        }
    }
}

/// Calls `f` every 75 ms until it returns `Some`/`Ok`/`true`, and returns
/// that value; panics after `timeout` with `what` and the last `None`/`Err`.
/// A call that hangs is cut off at the deadline.
pub async fn eventually<F, Fut, O>(what: &str, timeout: Duration, mut f: F) -> O::Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
    O: Outcome,
{
    let started = Instant::now();
    let deadline = started + timeout;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let last = match tokio::time::timeout(left.max(POLL), f()).await {
            Ok(outcome) => match outcome.into_result() {
                Ok(value) => return value,
                Err(observed) => observed,
            },
            Err(_) => "the last attempt did not finish by the deadline".to_string(),
        };
        if Instant::now() >= deadline {
            panic!(
                "timed out after {:?} ({attempts} attempts) waiting for {what}; last observed: {last}",
                started.elapsed()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the store's snapshot satisfies `pred`, and returns it; on
/// timeout the panic shows the last snapshot.
pub async fn wait_for_snapshot(
    view: &dyn StoreView,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&Snapshot) -> bool,
) -> Snapshot {
    eventually(what, timeout, || async {
        let snapshot = view.snapshot().await;
        if pred(&snapshot) {
            Ok(snapshot)
        } else {
            Err(snapshot)
        }
    })
    .await
}
