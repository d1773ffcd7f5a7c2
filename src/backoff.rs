//! Capped exponential backoff with jitter for Docker and the store, and the
//! policy for logging retries: clearly, but not once per retry forever.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio_util::sync::CancellationToken;

/// Retry state of one dependency (Docker, the store).
pub struct Backoff {
    what: &'static str,
    builder: ExponentialBuilder,
    delays: ExponentialBackoff,
    attempts: u32,
    last_error: String,
}

impl Backoff {
    /// Delays start at 200 ms and double up to `max`, with jitter.
    pub fn new(what: &'static str, max: Duration) -> Backoff {
        let builder = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200).min(max))
            .with_max_delay(max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Backoff {
            what,
            delays: builder.build(),
            builder,
            attempts: 0,
            last_error: String::new(),
        }
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Records a failure and returns how long to wait. Logs a warning on the
    /// 1st, 2nd, 4th, 8th… failure and whenever the error changes.
    pub fn failed(&mut self, error: &str) -> Duration {
        self.attempts += 1;
        let delay = self.delays.next().unwrap_or(Duration::from_secs(1));
        let changed = error != self.last_error;
        if changed || self.attempts.is_power_of_two() {
            tracing::warn!(
                attempt = self.attempts,
                retry_in = ?delay,
                "{} unavailable: {error}",
                self.what
            );
        } else {
            tracing::debug!(attempt = self.attempts, retry_in = ?delay, "{} still unavailable: {error}", self.what);
        }
        self.last_error = error.to_string();
        delay
    }

    /// Records a failure and waits; false when shutdown came first.
    pub async fn wait(&mut self, error: &str, shutdown: &CancellationToken) -> bool {
        let delay = self.failed(error);
        tokio::select! {
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }

    /// Records a success: logs the recovery and starts the delays over.
    pub fn succeeded(&mut self) {
        if self.attempts > 0 {
            tracing::info!(after_attempts = self.attempts, "{} is back", self.what);
        }
        self.attempts = 0;
        self.last_error.clear();
        self.delays = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delays grow, stay under the cap, and start over after a success.
    #[test]
    fn delays_grow_to_the_cap_and_reset() {
        let max = Duration::from_secs(2);
        let mut b = Backoff::new("test", max);
        let delays: Vec<Duration> = (0..12).map(|_| b.failed("down")).collect();
        assert!(delays.iter().all(|d| *d <= max * 2), "{delays:?}");
        assert!(
            delays[11] >= Duration::from_secs(1),
            "reaches the cap region: {delays:?}"
        );
        assert!(delays[0] < Duration::from_millis(500), "{delays:?}");
        assert_eq!(b.attempts(), 12);
        b.succeeded();
        assert_eq!(b.attempts(), 0);
        assert!(b.failed("down") < Duration::from_millis(500));
    }
}
