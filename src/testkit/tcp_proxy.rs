//! A TCP proxy on 127.0.0.1 for faults a real store cannot be asked for:
//! - [`freeze`](TcpProxy::freeze): the connections open now stay open and
//!   carry nothing more, as across a partition that drops packets, while
//!   connections made afterwards pass. A client that keeps using a frozen
//!   connection hangs; only one that reconnects gets through.
//! - [`with_latency`](TcpProxy::with_latency): every chunk of bytes, either
//!   way, is held back for a while, as over a slow link, so that calls made
//!   one after another take visibly longer than calls made together.

use std::net::SocketAddr;
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
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((client, _)) = accepted else { continue };
                let mut rx = tx.subscribe();
                let born = *rx.borrow_and_update();
                tokio::spawn(pipe(client, target, latency, rx, born, token.clone()));
            }
        });
        TcpProxy { addr, frozen, stop }
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

/// Copies both ways until either side closes, or until frozen: then holds
/// both sockets open, silent, until the proxy is dropped.
async fn pipe(
    client: TcpStream,
    target: SocketAddr,
    latency: Duration,
    mut frozen: watch::Receiver<u64>,
    born: u64,
    stop: CancellationToken,
) {
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let froze = tokio::select! {
        _ = stop.cancelled() => false,
        _ = copy(&mut client_read, &mut upstream_write, latency) => false,
        _ = copy(&mut upstream_read, &mut client_write, latency) => false,
        _ = frozen.wait_for(|n| *n > born) => true,
    };
    if froze {
        stop.cancelled().await;
    }
}

/// One direction, each chunk after `latency`, until end of stream or an error.
async fn copy(
    from: &mut (impl AsyncReadExt + Unpin),
    to: &mut (impl AsyncWriteExt + Unpin),
    latency: Duration,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
