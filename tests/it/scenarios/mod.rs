//! The one list of end-to-end scenarios (`list.rs`), run against every
//! backend by `for_each_backend!`: the real havok binary, the real Docker
//! daemon, and the backend's real store (etcd v3 or v2 in a container) or,
//! for the Vulcand API, a real memng Vulcand.
//!
//! Through the real Vulcand: each fixture also runs Vulcand on its store
//! (the v3 engine for etcd3, the v2 engine for etcd2, memng for the API),
//! so `wait_urls` and `wait_gone` also wait until a client of the proxy is
//! answered by exactly those containers (or gets Vulcand's 404), and the
//! fixture fails the test when Vulcand logged a change it could not apply.
//! Without a Vulcand binary (outside CI) the proxy checks are skipped with
//! one printed line, and the API backend runs against the contract server.

mod list;
pub mod proxy;
mod readiness;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::*;

/// Which store a scenario runs against (shared with the latency benchmark).
pub use crate::support::Backend;

/// One scenario's world: its store, its view of the store, and its name scope.
pub struct Fixture {
    pub backend: Backend,
    /// `havok-test-<test>-<random>`: containers are `<scope>-<name>`, havok gets `-names ^<scope>-`.
    pub scope: String,
    pub view: Box<dyn StoreView>,
    store_args: Vec<String>,
    pub etcd: Option<EtcdServer>,
    #[cfg(feature = "vulcand-api")]
    pub contract: Option<crate::support::vulcand_contract::ContractServer>,
    /// The real Vulcand on this fixture's store, when its binary is there.
    pub vulcand: Option<Arc<Vulcand>>,
    /// Server URL -> container name, for the containers `web` started: who
    /// must answer through Vulcand.
    names: Mutex<BTreeMap<String, String>>,
}

/// Short TTL and resync so that scenarios converge in seconds.
pub use crate::support::args::{RESYNC, TTL};

impl Fixture {
    pub async fn start(backend: Backend, test: &str) -> Fixture {
        Fixture::start_with(backend, test, false).await
    }

    /// Like [`start`](Self::start), but `vulcand-api` writes to the contract
    /// server, for a test that counts the write requests themselves.
    pub async fn start_on_contract(backend: Backend, test: &str) -> Fixture {
        Fixture::start_with(backend, test, true).await
    }

    async fn start_with(backend: Backend, test: &str, contract: bool) -> Fixture {
        let scope = unique_name(test);
        let mut fixture = Fixture {
            backend,
            scope,
            view: Box::new(NoView),
            store_args: Vec::new(),
            etcd: None,
            #[cfg(feature = "vulcand-api")]
            contract: None,
            vulcand: None,
            names: Mutex::default(),
        };
        let binary = vulcand::binary(&format!("{test} on {}", backend.flag()));
        match backend {
            Backend::Etcd3 | Backend::Etcd2 => {
                let etcd = EtcdServer::start().await;
                let urls = vec![etcd.url()];
                fixture.view = match backend {
                    #[cfg(feature = "etcd3")]
                    Backend::Etcd3 => Box::new(Etcd3View::new(&urls)),
                    #[cfg(feature = "etcd2")]
                    Backend::Etcd2 => Box::new(Etcd2View::new(&urls)),
                    _ => unreachable!("the macro only runs compiled-in backends"),
                };
                fixture.store_args = vec!["-etcd-machines".into(), etcd.url()];
                if let Some(binary) = binary {
                    let engine = match backend {
                        Backend::Etcd3 => Engine::EtcdV3(etcd.url()),
                        _ => Engine::EtcdV2(etcd.url()),
                    };
                    fixture.vulcand = Some(Arc::new(Vulcand::start(binary, engine).await));
                }
                fixture.etcd = Some(etcd);
            }
            Backend::VulcandApi if binary.is_some() && !contract => {
                let vulcand = Arc::new(Vulcand::start(binary.unwrap(), Engine::Memng).await);
                fixture.store_args = vec!["--vulcand-api".into(), vulcand.api_url()];
                fixture.view = Box::new(vulcand.clone());
                fixture.vulcand = Some(vulcand);
            }
            Backend::VulcandApi => {
                #[cfg(feature = "vulcand-api")]
                {
                    let contract = crate::support::vulcand_contract::ContractServer::start().await;
                    fixture.store_args = vec!["--vulcand-api".into(), contract.url()];
                    fixture.view = Box::new(contract.clone());
                    fixture.contract = Some(contract);
                }
            }
        }
        fixture
    }

    /// `<scope>-<suffix>`: a container name havok of this fixture routes.
    pub fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.scope)
    }

    /// The arguments every havok of this fixture gets, plus `extra`.
    pub fn args(&self, node: &str, extra: &[&str]) -> Vec<String> {
        self.args_with_names(node, &format!("^{}-", self.scope), extra)
    }

    /// Like [`args`](Self::args) with another `-names` regex (several nodes splitting one Docker).
    pub fn args_with_names(&self, node: &str, names: &str, extra: &[&str]) -> Vec<String> {
        let mut rest: Vec<&str> = self.store_args.iter().map(String::as_str).collect();
        rest.extend_from_slice(extra);
        havok_args(self.backend.flag(), names, node, &rest)
    }

    /// Starts havok as node `node` with the fixture's arguments and `extra`.
    pub fn havok(&self, node: &str, extra: &[&str]) -> Havok {
        let args = self.args(node, extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Havok::spawn(&refs)
    }

    /// Starts havok as node `node` routing only containers whose name matches `names`.
    pub fn havok_with_names(&self, node: &str, names: &str, extra: &[&str]) -> Havok {
        let args = self.args_with_names(node, names, extra);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        Havok::spawn(&refs)
    }

    /// Runs the test httpd as `<scope>-<suffix>` with `-h hostname -P`.
    pub fn web(&self, suffix: &str, hostname: &str) -> TestContainer {
        let web = run_httpd(&self.name(suffix), hostname, &["-P"]);
        self.answers_as(&web);
        web
    }

    /// Records that `c`'s server URL answers `/who` with its name, for the proxy checks.
    pub fn answers_as(&self, c: &TestContainer) {
        let url = self.url_of(c);
        self.names.lock().unwrap().insert(url, c.name().to_string());
    }

    /// Records that `c`'s published `port` answers `/who` with `who`.
    pub fn answers_on(&self, c: &TestContainer, port: u16, who: &str) {
        let url = format!("http://127.0.0.1:{}", c.host_port(port));
        self.names.lock().unwrap().insert(url, who.to_string());
    }

    /// The URL havok must write for a container's published port 80.
    pub fn url_of(&self, c: &TestContainer) -> String {
        format!("http://127.0.0.1:{}", c.host_port(80))
    }

    /// Waits until the route for `host` has exactly `urls` and its frontend.
    /// Through Vulcand (when it runs), also waits until the proxy's answers
    /// for `host` come from exactly those servers' containers.
    pub async fn wait_urls(&self, host: &str, urls: &[String]) -> Snapshot {
        self.wait_urls_within(host, urls, TIMEOUT).await
    }

    /// [`wait_urls`](Self::wait_urls), with the store given only `within`.
    pub async fn wait_urls_within(
        &self,
        host: &str,
        urls: &[String],
        within: Duration,
    ) -> Snapshot {
        let mut want: Vec<String> = urls.to_vec();
        want.sort();
        let what = format!("{host} to have exactly {want:?} within {within:?}");
        let snapshot = wait_for_snapshot(self.view.as_ref(), &what, within, |s| {
            s.urls(host) == want && (want.is_empty() || s.has_route(host))
        })
        .await;
        // https upstreams are the test httpd without TLS: Vulcand cannot reach them.
        let plain = want.iter().all(|u| u.starts_with("http://"));
        if let (Some(vulcand), false, true) = (&self.vulcand, want.is_empty(), plain) {
            let names: BTreeSet<String> = {
                let known = self.names.lock().unwrap();
                want.iter().filter_map(|u| known.get(u).cloned()).collect()
            };
            // Containers not started by `web` may not listen on the routed
            // port (a label test's `--expose 8080`): only the store is checked.
            if names.len() == want.len() {
                vulcand.wait_answered_by(host, &names).await;
            }
        }
        snapshot
    }

    /// Waits until nothing of `host` is left: no servers, backend or frontend.
    /// Through Vulcand (when it runs), also waits until the proxy has no route for it.
    pub async fn wait_gone(&self, host: &str) -> Snapshot {
        let what = format!("{host} to be removed");
        let snapshot = wait_for_snapshot(self.view.as_ref(), &what, TIMEOUT, |s| {
            let (b, f) = s.route(host);
            b.is_none_or(|b| b.backend.is_none() && b.servers.is_empty())
                && f.is_none_or(|f| f.frontend.is_none())
        })
        .await;
        if let Some(vulcand) = &self.vulcand {
            vulcand.wait_not_routed(host).await;
        }
        snapshot
    }

    /// Makes the store go away and come back (etcd: `docker stop`/`start`
    /// with its data; the contract server: a memng restart, which loses everything).
    pub async fn restart_store(&self, while_down: impl std::future::Future<Output = ()>) {
        if let Some(etcd) = &self.etcd {
            etcd.stop();
            while_down.await;
            etcd.start_again().await;
            return;
        }
        if let (Some(vulcand), Backend::VulcandApi) = (&self.vulcand, self.backend) {
            vulcand.kill();
            while_down.await;
            vulcand.start_again().await;
            return;
        }
        #[cfg(feature = "vulcand-api")]
        if let Some(contract) = &self.contract {
            contract.restart();
            while_down.await;
        }
    }

    /// Everything the store holds, for "wrote nothing" checks: every key of
    /// the whole etcd (v3 and v2 keyspaces, not only Vulcand's prefix), or
    /// every object of the Vulcand API, as `key -> value` lines.
    pub async fn keyspace(&self) -> BTreeMap<String, String> {
        if let Some(etcd) = &self.etcd {
            return crate::support::store::etcd_keyspace(&etcd.url()).await;
        }
        let s = self.view.snapshot().await;
        let mut all = BTreeMap::new();
        for (id, b) in &s.backends {
            all.insert(format!("backend {id}"), format!("{:?}", b.backend));
            for (sid, url) in &b.servers {
                all.insert(format!("backend {id} server {sid}"), url.clone());
            }
        }
        for (id, f) in &s.frontends {
            all.insert(format!("frontend {id}"), format!("{:?}", f.frontend));
            for (mid, m) in &f.middlewares {
                all.insert(format!("frontend {id} middleware {mid}"), m.to_string());
            }
        }
        all
    }

    /// The URL of the Vulcand API havok writes to (`--backend vulcand-api`).
    pub fn api_url(&self) -> String {
        if let Some(vulcand) = &self.vulcand {
            return vulcand.api_url();
        }
        #[cfg(feature = "vulcand-api")]
        if let Some(contract) = &self.contract {
            return contract.url();
        }
        panic!("this fixture has no Vulcand API")
    }
}

impl Fixture {
    /// Deletes the route's frontend directly in the store, as an operator might.
    pub async fn delete_frontend_by_hand(&self, host: &str) {
        let id = havok::ids::RouteKey::host(host).id();
        match self.backend {
            #[cfg(feature = "etcd3")]
            Backend::Etcd3 => {
                let url = self.etcd.as_ref().expect("etcd").url();
                let mut client = etcd_client::Client::connect([url], None)
                    .await
                    .expect("connect to etcd");
                let key = format!("vulcand/frontends/{id}/frontend");
                let deleted = client
                    .delete(key.as_str(), None)
                    .await
                    .expect("delete the frontend");
                assert_eq!(deleted.deleted(), 1, "{key} existed");
            }
            #[cfg(feature = "etcd2")]
            Backend::Etcd2 => {
                let url = self.etcd.as_ref().expect("etcd").url();
                http_delete(format!("{url}/v2/keys/vulcand/frontends/{id}/frontend")).await;
            }
            #[cfg(feature = "vulcand-api")]
            Backend::VulcandApi => {
                http_delete(format!("{}/v2/frontends/{id}", self.api_url())).await;
            }
            #[allow(unreachable_patterns)]
            other => panic!("{other:?} is not compiled in"),
        }
    }
}

/// DELETE `url`, which must succeed.
async fn http_delete(url: String) {
    let answer = reqwest::Client::new()
        .delete(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DELETE {url}: {e}"));
    assert!(answer.status().is_success(), "DELETE {url}: {answer:?}");
}

/// A failing test keeps its own panic; a passing one fails here if Vulcand
/// logged a change of havok's it could not apply.
impl Drop for Fixture {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        if let Some(vulcand) = &self.vulcand {
            vulcand.assert_applied_everything();
        }
    }
}

struct NoView;

#[async_trait::async_trait]
impl StoreView for NoView {
    async fn snapshot(&self) -> Snapshot {
        panic!("this backend is not compiled in")
    }
}

/// Generates one `#[tokio::test]` per scenario and compiled-in backend:
/// `etcd3::route_appears`, `etcd2::route_appears`, `vulcand_api::route_appears`…
macro_rules! for_each_backend {
    ($($scenario:ident),* $(,)?) => {
        #[cfg(feature = "etcd3")]
        mod etcd3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::list::$scenario(super::Backend::Etcd3).await
                }
            )*
        }
        #[cfg(feature = "etcd2")]
        mod etcd2 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::list::$scenario(super::Backend::Etcd2).await
                }
            )*
        }
        #[cfg(feature = "vulcand-api")]
        mod vulcand_api {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::list::$scenario(super::Backend::VulcandApi).await
                }
            )*
        }
    };
}

for_each_backend!(
    route_appears,
    two_servers_one_host,
    names_excludes,
    stop_removes_server,
    last_stop_removes_host,
    hostile_hostname_is_refused,
    existing_containers_are_routed_at_start,
    sigkill_then_restart_converges,
    store_restart_converges,
    docker_connection_cut_converges,
    deregister_on_exit,
    drift_is_repaired,
    rolling_replacement_loses_no_request,
    late_listener_is_routed_once_it_answers,
    silent_container_is_never_routed,
);

/// How long a graceful stop may take.
pub const STOP_WITHIN: Duration = Duration::from_secs(3);
