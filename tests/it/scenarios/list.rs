//! The scenarios themselves: each takes a backend and proves one behaviour
//! end to end. `mod.rs` runs every one against every compiled-in backend.

use std::time::Duration;

pub use super::readiness::{
    late_listener_is_routed_once_it_answers, rolling_replacement_loses_no_request,
    silent_container_is_never_routed,
};

use super::proxy::DockerProxy;
use super::{Backend, Fixture, STOP_WITHIN};
use crate::support::*;

/// A container started after havok becomes a server of `<hostname>.<root>`, with Vulcand's frontend.
pub async fn route_appears(b: Backend) {
    let f = Fixture::start(b, "route-appears").await;
    let _havok = f.havok("n1", &[]);
    let web = f.web("web1", "foo");
    let snapshot = f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    let (backend, frontend) = snapshot.route("foo.local");
    assert_eq!(backend.unwrap().backend.as_ref().unwrap()["Type"], "http");
    let frontend = frontend.unwrap().frontend.as_ref().unwrap();
    assert_eq!(frontend["Route"], "Host(`foo.local`) && PathRegexp(`/.*`)");
    assert_eq!(
        frontend["BackendId"],
        havok::ids::RouteKey::host("foo.local").id().as_str()
    );
    // The URL written is the one that answers for the container.
    let answer = http_get(&format!("{}/", f.url_of(&web)))
        .await
        .expect("GET the server URL");
    assert!(answer.body.contains("hello from foo"), "{}", answer.body);
}

/// Two containers with one hostname are two servers of one route.
pub async fn two_servers_one_host(b: Backend) {
    let f = Fixture::start(b, "two-servers").await;
    let _havok = f.havok("n1", &[]);
    let web1 = f.web("web1", "foo");
    let web2 = f.web("web2", "foo");
    let snapshot = f
        .wait_urls("foo.local", &[f.url_of(&web1), f.url_of(&web2)])
        .await;
    assert_eq!(snapshot.backends.len(), 1, "one backend: {snapshot:#?}");
    assert_eq!(snapshot.frontends.len(), 1, "one frontend: {snapshot:#?}");
}

/// A container whose name does not match -names gets no route.
pub async fn names_excludes(b: Backend) {
    let f = Fixture::start(b, "names-excludes").await;
    let _havok = f.havok("n1", &[]);
    let _other = run_httpd(&unique_name("names-excludes-other"), "bar", &["-P"]);
    let web = f.web("web1", "foo");
    let snapshot = f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    assert!(snapshot.urls("bar.local").is_empty(), "{snapshot:#?}");
    assert!(!snapshot.has_route("bar.local"));
}

/// Stopping one of two containers removes its server and keeps the other.
pub async fn stop_removes_server(b: Backend) {
    let f = Fixture::start(b, "stop-removes").await;
    let _havok = f.havok("n1", &[]);
    let web1 = f.web("web1", "foo");
    let web2 = f.web("web2", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web1), f.url_of(&web2)])
        .await;
    let keep = f.url_of(&web2);
    web1.stop();
    f.wait_urls("foo.local", &[keep]).await;
}

/// Stopping the last container of a host removes its server, frontend and backend.
pub async fn last_stop_removes_host(b: Backend) {
    let f = Fixture::start(b, "last-stop").await;
    let _havok = f.havok("n1", &[]);
    let web = f.web("web1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    web.stop();
    let snapshot = f.wait_gone("foo.local").await;
    assert!(snapshot.is_empty(), "nothing left: {snapshot:#?}");
}

/// A hostname that would inject a route expression is refused with one warning and writes nothing.
pub async fn hostile_hostname_is_refused(b: Backend) {
    let f = Fixture::start(b, "hostile").await;
    let mut havok = f.havok("n1", &[]);
    let _evil = run_httpd(&f.name("evil"), "x`) || Host(`victim.local", &["-P"]);
    let good = f.web("good", "foo");
    f.wait_urls("foo.local", &[f.url_of(&good)]).await;
    // Let two more full passes run: the warning must not repeat.
    havok.wait_full_passes(2).await;
    havok
        .wait_for_log("is not a valid DNS name", Duration::from_secs(1))
        .await;
    let warnings = havok.log_text().matches("is not a valid DNS name").count();
    assert_eq!(
        warnings,
        1,
        "one warning per container:\n{}",
        havok.log_tail(40)
    );
    let snapshot = f.view.snapshot().await;
    assert_eq!(
        snapshot.backends.len(),
        1,
        "only the good route: {snapshot:#?}"
    );
    assert_eq!(
        snapshot.frontends.len(),
        1,
        "only the good route: {snapshot:#?}"
    );
    // The whole store, not only Vulcand's prefix: nothing anywhere names the
    // refused container or the host its hostname tried to inject.
    let keyspace = f.keyspace().await;
    assert!(!keyspace.is_empty(), "the good route is in the store");
    let stray: Vec<_> = keyspace
        .iter()
        .filter(|(k, v)| k.contains("victim") || v.contains("victim") || v.contains("-evil"))
        .collect();
    assert!(
        stray.is_empty(),
        "written for the refused container: {stray:#?}"
    );
}

/// Containers already running when havok starts are routed (the original only saw new ones).
pub async fn existing_containers_are_routed_at_start(b: Backend) {
    let f = Fixture::start(b, "existing").await;
    let web1 = f.web("web1", "foo");
    let web2 = f.web("web2", "bar");
    let _havok = f.havok("n1", &[]);
    f.wait_urls("foo.local", &[f.url_of(&web1)]).await;
    f.wait_urls("bar.local", &[f.url_of(&web2)]).await;
}

/// After SIGKILL, a restarted havok removes the servers of containers gone meanwhile and adds new ones.
pub async fn sigkill_then_restart_converges(b: Backend) {
    let f = Fixture::start(b, "sigkill").await;
    let mut havok = f.havok("n1", &[]);
    let web1 = f.web("web1", "foo");
    let web2 = f.web("web2", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web1), f.url_of(&web2)])
        .await;
    havok.sigkill();
    havok.wait_exit(STOP_WITHIN).await;
    web1.stop();
    let web3 = f.web("web3", "foo");
    let _havok = f.havok("n1", &[]);
    f.wait_urls("foo.local", &[f.url_of(&web2), f.url_of(&web3)])
        .await;
}

/// The store going away and coming back: havok retries, converges, and loses nothing.
pub async fn store_restart_converges(b: Backend) {
    let f = Fixture::start(b, "store-restart").await;
    let mut havok = f.havok("n1", &[]);
    let web1 = f.web("web1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web1)]).await;
    let mut web2 = None;
    f.restart_store(async {
        web2 = Some(f.web("web2", "foo"));
        // A memng Vulcand is down for the while too; the contract server is not.
        if b != Backend::VulcandApi || f.vulcand.is_some() {
            havok.wait_for_log("store unavailable", TIMEOUT).await;
        }
    })
    .await;
    let web2 = web2.expect("started while the store was down");
    f.wait_urls("foo.local", &[f.url_of(&web1), f.url_of(&web2)])
        .await;
    assert!(
        havok.exited().is_none(),
        "havok must not exit:\n{}",
        havok.log_tail(30)
    );
}

/// The Docker connection cut and restored: havok reconnects, re-lists and converges.
pub async fn docker_connection_cut_converges(b: Backend) {
    let f = Fixture::start(b, "docker-cut").await;
    let proxy = DockerProxy::start().await;
    let docker_url = format!("tcp://{}", proxy.addr());
    let mut havok = f.havok("n1", &["--docker", &docker_url]);
    let web1 = f.web("web1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web1)]).await;
    proxy.cut();
    havok.wait_for_log("Docker unavailable", TIMEOUT).await;
    let web2 = f.web("web2", "foo");
    web1.stop();
    proxy.restore();
    f.wait_urls("foo.local", &[f.url_of(&web2)]).await;
    havok.wait_for_log("Docker is back", TIMEOUT).await;
}

/// SIGTERM stops havok quickly; servers stay unless --deregister-on-exit.
pub async fn deregister_on_exit(b: Backend) {
    let f = Fixture::start(b, "deregister").await;
    let web = f.web("web1", "foo");
    let url = f.url_of(&web);
    let mut havok = f.havok("n1", &[]);
    f.wait_urls("foo.local", std::slice::from_ref(&url)).await;
    havok.sigterm();
    assert!(
        havok.wait_exit(STOP_WITHIN).await.success(),
        "{}",
        havok.log_tail(20)
    );
    assert_eq!(
        f.view.snapshot().await.urls("foo.local"),
        vec![url.clone()],
        "kept without the flag"
    );

    let mut havok = f.havok("n1", &["--deregister-on-exit"]);
    havok.wait_for_log("full pass done", TIMEOUT).await;
    havok.sigterm();
    assert!(
        havok.wait_exit(STOP_WITHIN).await.success(),
        "{}",
        havok.log_tail(20)
    );
    let snapshot = f.view.snapshot().await;
    assert!(
        snapshot.urls("foo.local").is_empty(),
        "removed with the flag: {snapshot:#?}"
    );
    assert!(!snapshot.has_route("foo.local"), "{snapshot:#?}");
}

/// A frontend deleted by hand is written again by the next resync.
pub async fn drift_is_repaired(b: Backend) {
    let f = Fixture::start(b, "drift").await;
    let _havok = f.havok("n1", &[]);
    let web = f.web("web1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    f.delete_frontend_by_hand("foo.local").await;
    wait_for_snapshot(
        f.view.as_ref(),
        "the frontend to be written again",
        TIMEOUT,
        |s| s.has_route("foo.local"),
    )
    .await;
}
