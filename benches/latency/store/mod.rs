//! The store under test and a timestamped record of every change in it: an
//! etcd v3 watch on all keys, an etcd v2 streaming watch, or a poll of the
//! in-process Vulcand contract server; and the store's floor, one bare write
//! of a server's size timed against the same record.
//!
//! Every change is stamped with `SystemTime::now()` when it reaches this
//! process, the clock Docker's `time_nano` is on, so "event → seen" is one
//! subtraction. Keys are recorded without a leading slash (`vulcand/…`) for
//! every backend, so the analysis does not care which store it was.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use havok::testkit::{Backend, EtcdServer};

use crate::context::within;

#[cfg(feature = "vulcand-api")]
mod api;
#[cfg(feature = "etcd2")]
mod etcd2;
#[cfg(feature = "etcd3")]
mod etcd3;

/// Vulcand's key prefix as the record keeps it, whatever the backend.
pub const VULCAND_PREFIX: &str = "vulcand";
/// How long the watch may take to report one bare write before the run fails.
const FLOOR_WAIT: Duration = Duration::from_secs(10);
/// How long one start-up probe write may take to show up before another is
/// made: a write made before the watch registered is never reported.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// How long the watch may take to go live at all (the host is shared and busy).
const LIVE: Duration = Duration::from_secs(60);

/// One change as it reached the benchmark.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: SystemTime,
    /// A put (create or update); false for a delete or an expiry.
    pub put: bool,
    /// Without a leading slash: `vulcand/backends/<bid>/servers/<sid>`.
    pub key: String,
}

impl Seen {
    /// The server id, when this is a Vulcand server key.
    pub fn server(&self) -> Option<&str> {
        let rest = self
            .key
            .strip_prefix(VULCAND_PREFIX)?
            .strip_prefix("/backends/")?;
        let (_, sid) = rest.split_once("/servers/")?;
        (!sid.contains('/')).then_some(sid)
    }

    pub fn in_vulcand(&self) -> bool {
        self.key
            .strip_prefix(VULCAND_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

type Record = Arc<Mutex<Vec<Seen>>>;

/// A server value as havok writes it, for the floor's bare write.
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
const SERVER_VALUE: &str = r#"{"URL":"http://127.0.0.1:32768"}"#;

/// The store, its record of changes, and what havok needs to reach it.
pub struct Store {
    backend: Backend,
    seen: Record,
    /// How many events the etcd v2 watch had to replay from etcd's history.
    resumed: Arc<AtomicUsize>,
    stop: CancellationToken,
    url: String,
    // Kept for its Drop: the etcd container is removed with the store.
    #[allow(dead_code)]
    etcd: Option<EtcdServer>,
    #[cfg(feature = "vulcand-api")]
    contract: Option<havok::testkit::vulcand_contract::ContractServer>,
    /// The floor's own etcd v3 client, connected on the first bare write.
    #[cfg(feature = "etcd3")]
    etcd3: tokio::sync::OnceCell<etcd_client::Client>,
    /// The lease of the transaction floor's server and record.
    #[cfg(feature = "etcd3")]
    etcd3_lease: tokio::sync::OnceCell<i64>,
    /// Set once the floor's backend exists in the Vulcand API.
    #[cfg(feature = "vulcand-api")]
    floor_backend: tokio::sync::OnceCell<()>,
}

impl Store {
    /// Starts the store and its watch; returns once the watch sees a write.
    pub async fn start(backend: Backend) -> Store {
        let seen: Record = Arc::default();
        let resumed = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let mut store = match backend {
            Backend::Etcd3 | Backend::Etcd2 => {
                let etcd = EtcdServer::start().await;
                Store {
                    backend,
                    seen: seen.clone(),
                    resumed: resumed.clone(),
                    stop: stop.clone(),
                    url: etcd.url(),
                    etcd: Some(etcd),
                    #[cfg(feature = "vulcand-api")]
                    contract: None,
                    #[cfg(feature = "etcd3")]
                    etcd3: Default::default(),
                    #[cfg(feature = "etcd3")]
                    etcd3_lease: Default::default(),
                    #[cfg(feature = "vulcand-api")]
                    floor_backend: Default::default(),
                }
            }
            Backend::VulcandApi => {
                #[cfg(feature = "vulcand-api")]
                {
                    let contract = havok::testkit::vulcand_contract::ContractServer::start().await;
                    Store {
                        backend,
                        seen: seen.clone(),
                        resumed: resumed.clone(),
                        stop: stop.clone(),
                        url: contract.url(),
                        etcd: None,
                        contract: Some(contract),
                        #[cfg(feature = "etcd3")]
                        etcd3: Default::default(),
                        #[cfg(feature = "etcd3")]
                        etcd3_lease: Default::default(),
                        floor_backend: Default::default(),
                    }
                }
                #[cfg(not(feature = "vulcand-api"))]
                unreachable!("only compiled-in backends are run")
            }
        };
        store.watch();
        let probe = store.live().await;
        eprintln!(
            "[{}] store at {}, watch live (probe seen after {probe:.2} ms)",
            backend.flag(),
            store.url
        );
        store
    }

    fn watch(&mut self) {
        let (seen, stop) = (self.seen.clone(), self.stop.clone());
        match self.backend {
            #[cfg(feature = "etcd3")]
            Backend::Etcd3 => {
                tokio::spawn(etcd3::watch(self.url.clone(), seen, stop));
            }
            #[cfg(feature = "etcd2")]
            Backend::Etcd2 => {
                let resumed = self.resumed.clone();
                tokio::spawn(etcd2::watch(self.url.clone(), seen, resumed, stop));
            }
            #[cfg(feature = "vulcand-api")]
            Backend::VulcandApi => {
                let contract = self.contract.clone().expect("a contract server");
                // A thread of its own: its 0.5 ms poll must not wait for the runtime's workers.
                std::thread::Builder::new()
                    .name("bench-api-poll".into())
                    .spawn(move || api::poll(contract, seen, stop))
                    .expect("spawn the API poller");
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?} is not compiled in"),
        }
    }

    /// The flags that point havok at this store.
    pub fn havok_args(&self) -> Vec<String> {
        match self.backend {
            Backend::Etcd3 | Backend::Etcd2 => vec!["--etcd-machines".into(), self.url.clone()],
            Backend::VulcandApi => vec!["--vulcand-api".into(), self.url.clone()],
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Seen>> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The position of the next change: pass it to `first` or `since`.
    pub fn mark(&self) -> usize {
        self.lock().len()
    }

    /// When server `sid` was first put (or deleted) at or after `mark`.
    pub fn first(&self, mark: usize, sid: &str, put: bool) -> Option<SystemTime> {
        self.lock()[mark..]
            .iter()
            .find(|s| s.put == put && s.server() == Some(sid))
            .map(|s| s.at)
    }

    /// When `key` (without a leading slash) was first put at or after `mark`.
    pub fn first_put(&self, mark: usize, key: &str) -> Option<SystemTime> {
        self.lock()[mark..]
            .iter()
            .find(|s| s.put && s.key == key)
            .map(|s| s.at)
    }

    /// The first put (or delete) of each server at or after `mark`, by server id.
    pub fn firsts(&self, mark: usize, put: bool) -> HashMap<String, SystemTime> {
        let mut out = HashMap::new();
        for s in self.lock()[mark..].iter().filter(|s| s.put == put) {
            if let Some(sid) = s.server() {
                out.entry(sid.to_string()).or_insert(s.at);
            }
        }
        out
    }

    /// Every change at or after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Seen> {
        self.lock()[mark..].to_vec()
    }

    /// How many events the etcd v2 watch replayed from etcd's history after
    /// its stream was dropped (they arrive late, which would inflate
    /// latencies): 0 for the others.
    pub fn resumed(&self) -> usize {
        self.resumed.load(Ordering::Relaxed)
    }

    /// Write requests the Vulcand API received so far (each makes Vulcand
    /// reload), or `None` for etcd, whose writes the watch counts.
    pub fn api_writes(&self) -> Option<usize> {
        #[cfg(feature = "vulcand-api")]
        if let Some(contract) = &self.contract {
            return Some(contract.write_count());
        }
        None
    }

    /// Bare write number `i` of a key as long as `like`, with a server's
    /// value: milliseconds from the write's start until the watch saw it.
    pub async fn floor(&self, i: usize, like: &str) -> f64 {
        self.timed_write(i, like, FLOOR_WAIT)
            .await
            .unwrap_or_else(|| {
                panic!("timed out after {FLOOR_WAIT:?} waiting for the watch to see a bare write")
            })
    }

    /// The watch is live once it reports a write made after it registered:
    /// probe writes until one is reported; returns that one's floor.
    async fn live(&self) -> f64 {
        let deadline = Instant::now() + LIVE;
        // Floor numbers far above any N, so the probes' keys are their own.
        for i in (9000..=9999).rev() {
            if let Some(ms) = self.timed_write(i, "havok-bench/probe", PROBE_WAIT).await {
                return ms;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        panic!("the store's watch reported none of its probe writes in {LIVE:?}")
    }

    /// Whether [`txn_floor`](Self::txn_floor) measures anything here.
    pub fn has_txn_floor(&self) -> bool {
        cfg!(feature = "etcd3") && self.backend == Backend::Etcd3
    }

    /// etcd v3 only (see [`has_txn_floor`](Self::has_txn_floor)): one
    /// transaction shaped like havok's write of a new host (five keys under
    /// a compare) → seen by the watch, in ms. Keys outside Vulcand's prefix,
    /// numbered by `i`.
    #[cfg_attr(not(feature = "etcd3"), allow(unused_variables))]
    pub async fn txn_floor(&self, i: usize) -> f64 {
        #[cfg(feature = "etcd3")]
        if self.backend == Backend::Etcd3 {
            let base = format!("havok-bench/floor-txn/{i:04}");
            let keys = ["backend", "server", "record", "frontend", "marker"]
                .map(|part| format!("{base}/{part}"));
            let txn = etcd3::new_host_txn(&self.etcd3, &self.etcd3_lease, &self.url, &keys);
            return self.timed(FLOOR_WAIT, txn).await.unwrap_or_else(|| {
                panic!("timed out after {FLOOR_WAIT:?} waiting for the watch to see a bare txn")
            });
        }
        panic!("{:?} has no transaction floor (etcd v3 only)", self.backend)
    }

    /// [`floor`](Self::floor), or `None` when the watch has not reported the write after `wait`.
    async fn timed_write(&self, i: usize, like: &str, wait: Duration) -> Option<f64> {
        // Outside Vulcand's prefix, so the floor never counts as a route change.
        let base = format!("havok-bench/floor/{i:04}-");
        let key = format!(
            "{base}{}",
            "x".repeat(like.len().saturating_sub(base.len()))
        );
        self.timed(wait, self.write(&key)).await
    }

    /// Milliseconds from now until the watch saw the key `write` returns
    /// (awaited here, after the mark); `None` when not seen within `wait`.
    async fn timed(
        &self,
        wait: Duration,
        write: impl std::future::Future<Output = String>,
    ) -> Option<f64> {
        let mark = self.mark();
        let started = SystemTime::now();
        let wanted = write.await;
        let at = within(wait, || {
            self.lock()[mark..]
                .iter()
                .find(|s| s.key == wanted)
                .map(|s| s.at)
        })
        .await?;
        Some(crate::report::ms_between(at, started))
    }

    /// Writes one key; returns the key as the watch records it.
    async fn write(&self, key: &str) -> String {
        match self.backend {
            #[cfg(feature = "etcd3")]
            Backend::Etcd3 => {
                etcd3::put(&self.etcd3, &self.url, key, SERVER_VALUE).await;
                key.to_string()
            }
            #[cfg(feature = "etcd2")]
            Backend::Etcd2 => {
                let url = format!("{}/v2/keys/{key}", self.url);
                let answer = http()
                    .put(&url)
                    .form(&[("value", SERVER_VALUE)])
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("PUT {url}: {e}"));
                assert!(answer.status().is_success(), "PUT {url}: {answer:?}");
                key.to_string()
            }
            #[cfg(feature = "vulcand-api")]
            Backend::VulcandApi => api::upsert_server(&self.floor_backend, &self.url, key).await,
            #[allow(unreachable_patterns)]
            other => panic!("{other:?} is not compiled in"),
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One HTTP client for every bare write: connections are reused, as havok's are.
#[cfg(any(feature = "etcd2", feature = "vulcand-api"))]
fn http() -> &'static reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a reqwest client")
    })
}

fn push(seen: &Record, at: SystemTime, put: bool, key: &str) {
    seen.lock().unwrap_or_else(|e| e.into_inner()).push(Seen {
        at,
        put,
        key: key.trim_start_matches('/').to_string(),
    });
}
