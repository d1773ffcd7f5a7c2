//! Real etcd 3.4 (v2 API enabled) in containers: one server, or a cluster on
//! a test-owned network. Each member's client port is published on a
//! 127.0.0.1 port the test picks, so it stays the same across stop and start.

use std::net::TcpListener;
use std::time::Duration;

use super::docker::{unique_name, TestContainer, TestNetwork};
use super::http::http_get;
use super::images;
use super::wait::eventually;

/// How long etcd may take to answer `/health` after a (re)start.
const HEALTHY: Duration = Duration::from_secs(30);

/// One etcd member in its container.
#[derive(Debug)]
struct Member {
    container: TestContainer,
    port: u16,
}

impl Member {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Runs `docker run` on a free port, retrying when another process took the port meanwhile.
    fn run(name: &str, network: Option<&str>, flags: impl Fn(u16) -> Vec<String>) -> Member {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let publish = format!("127.0.0.1:{port}:2379");
            let mut args = vec!["-p", &publish];
            if let Some(network) = network {
                args.extend(["--network", network]);
            }
            args.push(images::etcd());
            let flags = flags(port);
            args.extend(flags.iter().map(String::as_str));
            match TestContainer::try_run(name, &args) {
                Ok(container) => return Member { container, port },
                Err(e)
                    if e.contains("already allocated") || e.contains("address already in use") =>
                {
                    last = e
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("no free port for etcd after 5 tries: {last}")
    }

    async fn wait_healthy(&self) {
        wait_health(
            &format!("etcd {}", self.container.name()),
            &format!("{}/health", self.url()),
        )
        .await
    }
}

/// Polls an etcd member's plain-HTTP `GET /health` until it says `"true"`.
pub async fn wait_health(member: &str, url: &str) {
    let what = format!("{member} healthy at {url}");
    eventually(&what, HEALTHY, || async {
        match http_get(url).await {
            Ok(r) if r.status == 200 && r.body.contains("\"true\"") => Ok(()),
            Ok(r) => Err(format!("{} {}", r.status, r.body)),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// A single-member etcd; removed on drop.
#[derive(Debug)]
pub struct EtcdServer {
    member: Member,
}

impl EtcdServer {
    /// Starts etcd and waits until it is healthy.
    pub async fn start() -> EtcdServer {
        EtcdServer::start_with(&[]).await
    }

    /// Like [`start`](Self::start), with extra etcd flags (`--max-txn-ops=16`).
    pub async fn start_with(extra: &[&str]) -> EtcdServer {
        let name = unique_name("etcd");
        let member = Member::run(&name, None, |port| {
            let mut flags = common_flags("n1", port, "http://127.0.0.1:2380");
            flags.extend([
                "--initial-cluster".into(),
                "n1=http://127.0.0.1:2380".into(),
            ]);
            flags.extend(extra.iter().map(|f| f.to_string()));
            flags
        });
        let server = EtcdServer { member };
        server.wait_healthy().await;
        server
    }

    /// `http://127.0.0.1:<port>`, for `--etcd-machines`.
    pub fn url(&self) -> String {
        self.member.url()
    }

    pub fn port(&self) -> u16 {
        self.member.port
    }

    pub fn container(&self) -> &TestContainer {
        &self.member.container
    }

    /// `docker stop`: etcd goes away, its data stays in the container.
    pub fn stop(&self) {
        self.member.container.stop();
    }

    /// `docker start` after [`stop`](Self::stop), on the same port and data;
    /// waits until healthy. (Not `start`: that name is the constructor's.)
    pub async fn start_again(&self) {
        self.member.container.start();
        self.wait_healthy().await;
    }

    /// Polls `GET /health` until it says `"true"` (panics after 30 s).
    pub async fn wait_healthy(&self) {
        self.member.wait_healthy().await
    }
}

/// An etcd cluster of containers on its own network; removed on drop.
#[derive(Debug)]
pub struct EtcdCluster {
    // Dropped in this order: the members, then their network.
    members: Vec<Member>,
    network: TestNetwork,
}

impl EtcdCluster {
    /// Starts `size` members and waits until every one is healthy.
    pub async fn start(size: usize) -> EtcdCluster {
        let network = TestNetwork::create("etcd-net");
        let base = unique_name("etcd");
        let peer = |i: usize| format!("http://{base}-{i}:2380");
        let initial: Vec<String> = (0..size).map(|i| format!("m{i}={}", peer(i))).collect();
        let initial = initial.join(",");
        let members = (0..size)
            .map(|i| {
                Member::run(&format!("{base}-{i}"), Some(network.name()), |port| {
                    let mut flags = common_flags(&format!("m{i}"), port, &peer(i));
                    flags.extend([
                        "--initial-cluster".into(),
                        initial.clone(),
                        "--initial-cluster-token".into(),
                        base.clone(),
                    ]);
                    flags
                })
            })
            .collect();
        let cluster = EtcdCluster { members, network };
        for member in &cluster.members {
            member.wait_healthy().await;
        }
        cluster
    }

    /// Every member's client URL, in member order.
    pub fn urls(&self) -> Vec<String> {
        self.members.iter().map(Member::url).collect()
    }

    /// The URLs joined by commas, for `--etcd-machines`.
    pub fn machines(&self) -> String {
        self.urls().join(",")
    }

    pub fn container(&self, i: usize) -> &TestContainer {
        &self.members[i].container
    }

    pub fn network(&self) -> &TestNetwork {
        &self.network
    }

    pub fn stop_member(&self, i: usize) {
        self.members[i].container.stop();
    }

    /// Starts a stopped member again and waits until it is healthy.
    pub async fn start_member(&self, i: usize) {
        self.members[i].container.start();
        self.members[i].wait_healthy().await;
    }

    /// The index of the member that reports itself leader (`/v2/stats/self`),
    /// waiting up to 30 s for an election; stopped members are skipped.
    pub async fn leader_index(&self) -> usize {
        let urls = self.urls();
        eventually("an etcd leader", HEALTHY, || async {
            let mut states = Vec::new();
            for (i, url) in urls.iter().enumerate() {
                match http_get(&format!("{url}/v2/stats/self")).await {
                    Ok(r) if r.body.contains("\"state\":\"StateLeader\"") => return Ok(i),
                    Ok(r) => states.push(format!("m{i}: {} {}", r.status, r.body)),
                    Err(e) => states.push(format!("m{i}: {e}")),
                }
            }
            Err(states)
        })
        .await
    }
}

/// The flags every member gets; client URL advertised as the published port.
fn common_flags(name: &str, port: u16, peer_url: &str) -> Vec<String> {
    [
        "--name",
        name,
        "--data-dir",
        "/var/lib/etcd",
        "--listen-client-urls",
        "http://0.0.0.0:2379",
        "--advertise-client-urls",
        &format!("http://127.0.0.1:{port}"),
        "--listen-peer-urls",
        "http://0.0.0.0:2380",
        "--initial-advertise-peer-urls",
        peer_url,
        "--initial-cluster-state",
        "new",
        "--enable-v2=true",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// A port free on 127.0.0.1 right now (the kernel picks it; Docker binds it next).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().unwrap().port()
}

/// The sum of every sample of the counters `names` in the `/metrics` of the
/// etcd member at `url` (`etcd_debugging_store_writes_total` sums over its
/// `action` label).
pub async fn metric_sum(url: &str, names: &[&str]) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .unwrap_or_else(|e| panic!("etcd metrics at {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("etcd metrics at {url}: {e}"));
    text.lines()
        .filter(|l| {
            names.iter().any(|n| {
                l.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The counters of the writes an etcd member applied: every v2 store write
/// (refreshes included), or every v3 put and delete. Lease keep-alives are
/// not writes.
pub fn write_counters(v2: bool) -> &'static [&'static str] {
    if v2 {
        &["etcd_debugging_store_writes_total"]
    } else {
        &[
            "etcd_debugging_mvcc_put_total",
            "etcd_debugging_mvcc_delete_total",
        ]
    }
}
