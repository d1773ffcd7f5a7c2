//! The readiness probes (`readiness` decides what to probe): one task per
//! server waiting to be routed, probing with backoff until the upstream
//! answers or the task is aborted (its container went away).
//!
//! Probes run concurrently, so a slow container delays only itself. After
//! the probe's timeout a task logs one warning and keeps probing.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::readiness::{Probe, Target};

/// The first pause between attempts: short, since most apps listen within
/// milliseconds of `start` and each pause is added to the route's latency.
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause between attempts: an app that starts late is routed at
/// most this long after it listens.
const MAX_PAUSE: Duration = Duration::from_millis(500);

/// One attempt may take this long (a port that accepts and never answers).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a probe task reports to the reconciler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// Docker's container id.
    pub container: String,
    /// The server URL that is now ready.
    pub url: String,
    /// From the first attempt to the first answer.
    pub took: Duration,
    pub attempts: u32,
}

/// Starts probing; the task reports once on `answered` and ends. Abort the
/// returned handle when the container goes away.
pub fn spawn(
    http: reqwest::Client,
    container: String,
    name: String,
    url: String,
    probe: Probe,
    answered: mpsc::Sender<Answered>,
) -> AbortHandle {
    tokio::spawn(async move {
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        let mut attempts = 0u32;
        let mut warned = false;
        loop {
            attempts += 1;
            match attempt(&http, &probe.target).await {
                Ok(()) => {
                    let took = started.elapsed();
                    if warned {
                        tracing::info!(container = %name, url = %url, took = ?took, "upstream answers at last; routing it");
                    } else {
                        tracing::debug!(container = %name, url = %url, took = ?took, attempts, "upstream answers");
                    }
                    let _ = answered
                        .send(Answered {
                            container,
                            url,
                            took,
                            attempts,
                        })
                        .await;
                    return;
                }
                Err(why) => {
                    if !warned && started.elapsed() >= probe.timeout {
                        warned = true;
                        tracing::warn!(
                            container = %name,
                            url = %url,
                            probe = %probe.target,
                            "not routed: the upstream has not answered for {} ({why}); probing goes on",
                            humantime::format_duration(probe.timeout)
                        );
                    }
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    })
    .abort_handle()
}

/// The HTTP client of the probes: no redirects followed (a 302 is an
/// answer), any certificate accepted (an answer over TLS is an answer).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .danger_accept_invalid_certs(true)
        .timeout(ATTEMPT_TIMEOUT)
        .connect_timeout(ATTEMPT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .build()
        .expect("a TLS backend is compiled in")
}

/// One attempt: any HTTP response, or an accepted TCP connection.
async fn attempt(http: &reqwest::Client, target: &Target) -> Result<(), String> {
    match target {
        Target::Http(url) => http
            .get(url)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| describe(&e)),
        Target::Tcp(addr) => {
            match tokio::time::timeout(ATTEMPT_TIMEOUT, tokio::net::TcpStream::connect(addr)).await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer in {ATTEMPT_TIMEOUT:?}")),
            }
        }
    }
}

/// A reqwest error with its innermost cause ("connection refused").
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}
