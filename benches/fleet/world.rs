//! One backend's fleet: the store (a three-member etcd cluster, or Vulcand's
//! memng API), the real Vulcand on it, a counting TCP proxy in front of each
//! member (havok goes through them; Vulcand and the benchmark do not), the
//! containers, and the N havok nodes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use havok::testkit::tcp_proxy::Traffic;
use havok::testkit::{unique_name, Backend, EtcdCluster, Havok, StoreView, TcpProxy};
use havok::testkit::{Engine, Vulcand};

use crate::containers::Fleet;
use crate::Sizes;

/// havok's `--ttl` and `--resync-interval` in the benchmark.
pub const TTL: Duration = Duration::from_secs(10);
pub const RESYNC: Duration = Duration::from_secs(10);

pub struct World {
    pub backend: Backend,
    /// `havok-test-bench-…`: containers are `<scope>-n<i>-h<k>`.
    pub scope: String,
    /// The nodes, by index; `None` once killed.
    pub nodes: Vec<Option<Havok>>,
    pub containers: Fleet,
    pub vulcand: Arc<Vulcand>,
    pub view: Box<dyn StoreView>,
    /// What havok sends to the store and receives, one proxy per member.
    pub proxies: Vec<TcpProxy>,
    /// The members' own URLs (etcd backends), for `/metrics` and watches.
    pub members: Vec<String>,
    cluster: Option<EtcdCluster>,
}

impl World {
    /// The store, Vulcand and the proxies; no node or container yet.
    pub async fn start(backend: Backend, sizes: &Sizes, binary: PathBuf) -> World {
        let scope = unique_name("bench");
        let docker = Docker::connect_with_local_defaults().expect("the Docker daemon");
        let containers = Fleet::new(docker, &scope);
        let (cluster, vulcand, view, targets): (_, _, Box<dyn StoreView>, Vec<String>) =
            match backend {
                Backend::VulcandApi => {
                    let vulcand = Arc::new(Vulcand::start(binary, Engine::Memng).await);
                    let view: Box<dyn StoreView> = Box::new(vulcand.clone());
                    let api = vulcand.api_url();
                    (None, vulcand, view, vec![api])
                }
                _ => {
                    let cluster = EtcdCluster::start(3).await;
                    let urls = cluster.urls();
                    let engine = match backend {
                        Backend::Etcd3 => Engine::EtcdV3(urls[0].clone()),
                        _ => Engine::EtcdV2(urls[0].clone()),
                    };
                    let vulcand = Arc::new(Vulcand::start(binary, engine).await);
                    let view: Box<dyn StoreView> = match backend {
                        #[cfg(feature = "etcd3")]
                        Backend::Etcd3 => Box::new(havok::testkit::Etcd3View::new(&urls)),
                        #[cfg(feature = "etcd2")]
                        Backend::Etcd2 => Box::new(havok::testkit::Etcd2View::new(&urls)),
                        other => unreachable!("{other:?} is not compiled in"),
                    };
                    (Some(cluster), vulcand, view, urls)
                }
            };
        let mut proxies = Vec::new();
        for url in &targets {
            let addr: SocketAddr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .parse()
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            proxies.push(TcpProxy::start(addr).await);
        }
        eprintln!(
            "[{}] {} nodes, store {}, Vulcand at {}",
            backend.flag(),
            sizes.nodes,
            targets.join(","),
            vulcand.url()
        );
        World {
            backend,
            scope,
            nodes: (0..sizes.nodes).map(|_| None).collect(),
            containers,
            vulcand,
            view,
            proxies,
            members: if cluster.is_some() {
                targets
            } else {
                Vec::new()
            },
            cluster,
        }
    }

    /// Whether the store is etcd (with a cluster to count and watch).
    pub fn on_etcd(&self) -> bool {
        self.cluster.is_some()
    }

    /// Node `i`'s one container.
    pub fn container(&self, i: usize) -> String {
        format!("{}-n{i}-{}", self.scope, host_of(i))
    }

    /// Starts node `i` (again).
    pub fn spawn(&mut self, i: usize) {
        let store: Vec<String> = self.proxies.iter().map(TcpProxy::url).collect();
        let (store_flag, store) = match self.backend {
            Backend::VulcandApi => ("--vulcand-api", store[0].clone()),
            _ => ("-etcd-machines", store.join(",")),
        };
        let args = [
            "--backend".to_string(),
            self.backend.flag().to_string(),
            "-names".into(),
            format!("^{}-n{i}-", self.scope),
            "--node-id".into(),
            format!("{}-n{i}", self.scope),
            "--ttl".into(),
            format!("{}s", TTL.as_secs()),
            "--resync-interval".into(),
            format!("{}s", RESYNC.as_secs()),
            "--log-format".into(),
            "json".into(),
            "--log-level".into(),
            "havok=debug,info".into(),
            store_flag.into(),
            store,
        ];
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        self.nodes[i] = Some(Havok::spawn(&refs));
    }

    /// The nodes running now, with their index.
    pub fn live(&self) -> impl Iterator<Item = (usize, &Havok)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// Everything havok sent and received through the proxies so far.
    pub fn traffic(&self) -> Traffic {
        self.proxies
            .iter()
            .map(TcpProxy::traffic)
            .fold(Traffic::default(), |a, b| Traffic {
                up: a.up + b.up,
                down: a.down + b.down,
                requests: a.requests + b.requests,
            })
    }
}

/// The host node `i` serves: `h<i/2>`, so nodes `2k` and `2k+1` share `h<k>`.
pub fn host_of(i: usize) -> String {
    format!("h{}", i / 2)
}

/// The node indexes the node-loss phase kills: both nodes of every other
/// host (`i % 4` is 0 or 1), so their hosts are left empty.
pub fn doomed(i: usize) -> bool {
    i % 4 < 2
}
