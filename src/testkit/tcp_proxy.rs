//! A TCP proxy on 127.0.0.1 for faults a real store cannot be asked for:
//! - [`freeze`](TcpProxy::freeze): the connections open now stay open and
//!   carry nothing more, as across a partition that drops packets, while
//!   connections made afterwards pass. A client that keeps using a frozen
//!   connection hangs; only one that reconnects gets through.
//! - [`with_latency`](TcpProxy::with_latency): every chunk of bytes, either
//!   way, is held back for a while, as over a slow link, so that calls made
//!   one after another take visibly longer than calls made together.
//! - [`traffic`](TcpProxy::traffic): the bytes each way and the HTTP/1.1
//!   requests that went through it, for the fleet benchmark's costs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The proxy; every connection it holds is closed on drop.
pub struct TcpProxy {
    addr: SocketAddr,
    /// How many times [`freeze`](Self::freeze) was called: a connection
    /// made before the n-th call is frozen by it.
    frozen: watch::Sender<u64>,
    stop: CancellationToken,
    counts: Arc<Counts>,
}

/// What went through a proxy so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Bytes from clients to the target.
    pub up: u64,
    /// Bytes from the target to clients.
    pub down: u64,
    /// HTTP/1.1 requests (request lines seen from clients; 0 for HTTP/2).
    pub requests: u64,
}

impl std::ops::Sub for Traffic {
    type Output = Traffic;
    fn sub(self, earlier: Traffic) -> Traffic {
        Traffic {
            up: self.up - earlier.up,
            down: self.down - earlier.down,
            requests: self.requests - earlier.requests,
        }
    }
}

#[derive(Default)]
struct Counts {
    up: AtomicU64,
    down: AtomicU64,
    requests: AtomicU64,
}

impl TcpProxy {
    /// Listens on a port the kernel picks and forwards to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        TcpProxy::with_latency(target, Duration::ZERO).await
    }

    /// As [`start`](Self::start), holding back each chunk by `latency`.
    pub async fn with_latency(target: SocketAddr, latency: Duration) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (frozen, _) = watch::channel(0u64);
        let stop = CancellationToken::new();
        let (tx, token) = (frozen.clone(), stop.clone());
        let counts = Arc::new(Counts::default());
        let counted = counts.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                let mut rx = tx.subscribe();
                let born = *rx.borrow_and_update();
                let pipe = Pipe {
                    client,
                    target,
                    latency,
                    frozen: rx,
                    born,
                    stop: token.clone(),
                };
                tokio::spawn(pipe.counted(counted.clone()));
            }
        });
        TcpProxy {
            addr,
            frozen,
            stop,
            counts,
        }
    }

    /// The bytes and HTTP/1.1 requests that went through so far.
    pub fn traffic(&self) -> Traffic {
        Traffic {
            up: self.counts.up.load(Ordering::Relaxed),
            down: self.counts.down.load(Ordering::Relaxed),
            requests: self.counts.requests.load(Ordering::Relaxed),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Freezes every connection open now; later ones pass.
    pub fn freeze(&self) {
        self.frozen.send_modify(|n| *n += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// One connection: where it goes, how slowly, and when it freezes.
struct Pipe {
    client: TcpStream,
    target: SocketAddr,
    latency: Duration,
    frozen: watch::Receiver<u64>,
    born: u64,
    stop: CancellationToken,
}

impl Pipe {
    /// Copies both ways until either side closes, or until frozen: then
    /// holds both sockets open, silent, until the proxy is dropped.
    async fn counted(mut self, counts: Arc<Counts>) {
        let Ok(upstream) = TcpStream::connect(self.target).await else {
            return;
        };
        let (mut client_read, mut client_write) = self.client.into_split();
        let (mut upstream_read, mut upstream_write) = upstream.into_split();
        let born = self.born;
        let froze = tokio::select! {
            _ = self.stop.cancelled() => false,
            _ = copy(&mut client_read, &mut upstream_write, self.latency, &counts, true) => false,
            _ = copy(&mut upstream_read, &mut client_write, self.latency, &counts, false) => false,
            _ = self.frozen.wait_for(|n| *n > born) => true,
        };
        if froze {
            self.stop.cancelled().await;
        }
    }
}

/// One direction, each chunk after `latency`, until end of stream or an
/// error, counted (`up`: from the client, where requests are counted).
async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    latency: Duration,
    counts: &Counts,
    up: bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if up {
            counts.up.fetch_add(n as u64, Ordering::Relaxed);
            // A request line ends with the version; bodies of havok's
            // requests (JSON, form values) never hold it.
            let lines = buf[..n].windows(10).filter(|w| w == b" HTTP/1.1\r").count();
            counts.requests.fetch_add(lines as u64, Ordering::Relaxed);
        } else {
            counts.down.fetch_add(n as u64, Ordering::Relaxed);
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
