//! A TLS-terminating proxy made with Debian's `socat`: TLS on 127.0.0.1 with
//! the test PKI's server certificate, plain bytes to the Docker socket or a
//! TCP port behind it; its whole process group is killed on drop.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tempfile::TempDir;

use super::certs::Pki;
use super::wait::{eventually, TIMEOUT};

/// A running `socat OPENSSL-LISTEN:…,fork …`; SIGKILLed with its
/// per-connection children on drop.
pub struct TlsProxy {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
    dir: Option<TempDir>,
}

impl TlsProxy {
    /// TLS in front of the Docker socket that demands a client certificate
    /// signed by the PKI's `ca.pem`, as dockerd's `--tlsverify` does.
    pub async fn docker(pki: &Pki) -> TlsProxy {
        let upstream = format!("UNIX-CONNECT:{}", docker_socket().display());
        TlsProxy::start(pki, &upstream, true).await
    }

    /// TLS in front of `upstream` (a plain TCP server), no client certificate asked.
    pub async fn tcp(pki: &Pki, upstream: SocketAddr) -> TlsProxy {
        TlsProxy::start(pki, &format!("TCP:{upstream}"), false).await
    }

    /// Port 0, so no two tests race for a port: the bound address is read
    /// from socat's `listening on` line (`-d -d`).
    async fn start(pki: &Pki, upstream: &str, verify_client: bool) -> TlsProxy {
        assert!(
            Path::new("/usr/bin/socat").exists(),
            "/usr/bin/socat is missing: install the Debian package socat"
        );
        let mut listen = format!(
            "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,cert={},key={}",
            pki.arg("server.pem"),
            pki.arg("server-key.pem")
        );
        if verify_client {
            listen.push_str(&format!(",verify=1,cafile={}", pki.arg("ca.pem")));
        } else {
            listen.push_str(",verify=0");
        }
        let dir = tempfile::Builder::new()
            .prefix("havok-test-socat-")
            .tempdir()
            .expect("create a socat log directory");
        // socat makes its SSL_CTX before forking, so every child shares the
        // session-ticket key but sets no session id context: a client resuming
        // a session (rustls does, on the next connection) is then refused with
        // "session id context uninitialized" when `verify=1`. dockerd (Go)
        // has no such quirk; without tickets a resumption attempt misses the
        // child's empty session cache and becomes a full handshake.
        let conf = dir.path().join("openssl.cnf");
        std::fs::write(
            &conf,
            "openssl_conf = init\n[init]\nssl_conf = ssl\n[ssl]\nsystem_default = defaults\n\
             [defaults]\nOptions = -SessionTicket\n",
        )
        .expect("write socat's openssl.cnf");
        let log = dir.path().join("socat.log");
        let file = File::create(&log).expect("create the socat log");
        let mut command = Command::new("/usr/bin/socat");
        command
            .args(["-d", "-d", &listen, upstream])
            .env("OPENSSL_CONF", &conf)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone the socat log"))
            .stderr(file)
            // Its own group: drop kills the forked per-connection children too.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe. If the test process is killed
        // before Drop runs, the kernel kills socat too.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command.spawn().expect("spawn /usr/bin/socat");
        let mut proxy = TlsProxy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log,
            dir: Some(dir),
        };
        proxy.addr = proxy.wait_listening().await;
        let addr = proxy.addr;
        eventually("socat to accept connections", TIMEOUT, || async move {
            tokio::net::TcpStream::connect(addr).await.map(drop)
        })
        .await;
        proxy
    }

    /// `127.0.0.1:<port>` where socat takes TLS connections.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Everything socat logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_listening(&mut self) -> SocketAddr {
        let log = self.log.clone();
        let child = &mut self.child;
        eventually("socat to listen", TIMEOUT, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let exited = child.try_wait().expect("wait for socat");
            async move {
                let addr = text
                    .lines()
                    .find_map(|l| l.split_once("listening on AF=2 "))
                    .and_then(|(_, addr)| addr.trim().parse::<SocketAddr>().ok());
                match (addr, exited) {
                    (Some(addr), _) => Ok(addr),
                    (None, Some(status)) => panic!("socat exited ({status}):\n{text}"),
                    (None, None) => Err(text),
                }
            }
        })
        .await
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of our own unreaped child.
        unsafe {
            libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL);
        }
        let _ = self.child.wait();
        if std::thread::panicking() {
            crate::support::child::print_kept_log(
                "socat",
                self.dir.take(),
                "socat.log",
                &self.log_text(),
                30,
            );
        }
    }
}

/// The Docker socket the tests' `docker` CLI uses: `DOCKER_HOST` when it is
/// `unix://…`, else `/var/run/docker.sock`.
fn docker_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}
