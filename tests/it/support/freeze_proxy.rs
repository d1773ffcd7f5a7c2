//! A TCP proxy on 127.0.0.1 whose open connections can be frozen: they stay
//! open and carry nothing more, as across a partition that drops packets,
//! while connections made afterwards pass. A client that keeps using a
//! frozen connection hangs; only one that reconnects gets through.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The proxy; every connection it holds is closed on drop.
pub struct FreezeProxy {
    addr: SocketAddr,
    /// How many times [`freeze`](Self::freeze) was called: a connection
    /// made before the n-th call is frozen by it.
    frozen: watch::Sender<u64>,
    stop: CancellationToken,
}

impl FreezeProxy {
    /// Listens on a port the kernel picks and forwards to `target`.
    pub async fn start(target: SocketAddr) -> FreezeProxy {
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
                tokio::spawn(pipe(client, target, rx, born, token.clone()));
            }
        });
        FreezeProxy { addr, frozen, stop }
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

impl Drop for FreezeProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Copies both ways until either side closes, or until frozen: then holds
/// both sockets open, silent, until the proxy is dropped.
async fn pipe(
    mut client: TcpStream,
    target: SocketAddr,
    mut frozen: watch::Receiver<u64>,
    born: u64,
    stop: CancellationToken,
) {
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        return;
    };
    let froze = tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => false,
        _ = frozen.wait_for(|n| *n > born) => true,
    };
    if froze {
        stop.cancelled().await;
    }
}
