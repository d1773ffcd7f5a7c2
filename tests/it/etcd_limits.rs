//! etcd's request limits on the etcd v3 backend: a host with more servers
//! than one transaction may hold is written in several, each complete on its
//! own; a request etcd refuses for its content is reported as refused (not
//! as an unreachable store), names the setting to change, and is retried
//! only at the resync interval.

use std::time::Duration;

use crate::support::endpoints::{get, listen_url, wait_health};
use crate::support::*;

/// etcd's `--max-txn-ops` in these tests, small enough that 12 servers of
/// one host (25 ops and more) cannot go in one transaction.
const MAX_TXN_OPS: &str = "16";
const SERVERS: usize = 12;

/// The test flags for node `n1` on `etcd`, plus `extra`.
fn node_args(scope: &str, etcd: &EtcdServer, extra: &[&str]) -> Vec<String> {
    let url = etcd.url();
    let mut store = vec!["-etcd-machines", url.as_str()];
    store.extend_from_slice(extra);
    havok_args("etcd3", &format!("^{scope}-"), "n1", &store)
}

fn spawn(args: &[String]) -> Havok {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Havok::spawn(&refs)
}

/// With etcd at `--max-txn-ops 16` and havok told so, 12 servers of one
/// host are written at start-up (several transactions), stay without
/// rewrites, are all answered through Vulcand, and are removed with the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_servers_of_one_host_fit_a_small_max_txn_ops() {
    let etcd = EtcdServer::start_with(&["--max-txn-ops", MAX_TXN_OPS]).await;
    let vulcand = match vulcand::binary("many_servers_of_one_host_fit_a_small_max_txn_ops") {
        Some(binary) => Some(Vulcand::start(binary, Engine::EtcdV3(etcd.url())).await),
        None => None,
    };
    let scope = unique_name("max-txn");
    let webs: Vec<TestContainer> = (0..SERVERS)
        .map(|i| run_httpd(&format!("{scope}-w{i}"), "many", &["-P"]))
        .collect();
    let mut urls: Vec<String> = webs
        .iter()
        .map(|w| format!("http://127.0.0.1:{}", w.host_port(80)))
        .collect();
    urls.sort();
    // Start-up pass: every container is there before havok.
    let mut havok = spawn(&node_args(
        &scope,
        &etcd,
        &["--etcd-max-txn-ops", MAX_TXN_OPS],
    ));
    let view = Etcd3View::new(&[etcd.url()]);
    wait_for_snapshot(&view, "all 12 servers", TIMEOUT, |s| {
        s.urls("many.local") == urls && s.has_route("many.local")
    })
    .await;
    if let Some(vulcand) = &vulcand {
        let names = webs.iter().map(|w| w.name().to_string()).collect();
        vulcand.wait_answered_by("many.local", &names).await;
    }
    // Steady state: two more full passes write nothing and refuse nothing.
    havok.wait_full_passes(2).await;
    let text = havok.log_text();
    assert!(!text.contains("refused"), "{}", havok.log_tail(30));
    assert!(
        !text.contains("store unavailable"),
        "{}",
        havok.log_tail(30)
    );
    let last_pass = text
        .lines()
        .rev()
        .find(|l| l.contains("full pass done"))
        .unwrap_or_default();
    assert!(last_pass.contains("ops=0"), "a resync rewrote: {last_pass}");
    // Removal: every server, then the host.
    drop(webs);
    let s = wait_for_snapshot(&view, "the host to be removed", TIMEOUT, |s| s.is_empty()).await;
    assert!(s.is_empty(), "{s:#?}");
    if let Some(vulcand) = &vulcand {
        vulcand.wait_not_routed("many.local").await;
        vulcand.assert_applied_everything();
    }
    assert!(havok.exited().is_none(), "{}", havok.log_tail(30));
}

/// etcd at `--max-txn-ops 16`, havok not told (its default is 128): etcd
/// refuses the start-up transaction. havok reports it once as refused, names
/// the setting, retries only at the resync interval, and `/healthz` answers
/// 503 with the reason; it never calls the store unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transaction_is_reported_as_refused() {
    let etcd = EtcdServer::start_with(&["--max-txn-ops", MAX_TXN_OPS]).await;
    let scope = unique_name("txn-refused");
    let _webs: Vec<TestContainer> = (0..SERVERS)
        .map(|i| run_httpd(&format!("{scope}-w{i}"), "many", &["-P"]))
        .collect();
    let mut havok = spawn(&node_args(&scope, &etcd, &["--listen", "127.0.0.1:0"]));
    let base = listen_url(&mut havok).await;
    havok.wait_for_log("store refused a request", TIMEOUT).await;
    let health = wait_health(&base, 503, TIMEOUT).await;
    assert!(
        health.body.contains("too many operations in txn request"),
        "{}",
        health.body
    );
    let text = havok.log_text();
    let line = text
        .lines()
        .find(|l| l.contains("store refused a request"))
        .unwrap();
    assert!(
        line.contains("--etcd-max-txn-ops"),
        "names the setting: {line}"
    );
    // Retried at the resync interval (2 s), not in a tight loop: over 5 s,
    // at most 3 more failed store calls, and the refusal is logged once.
    let before = store_failures(&base).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let more = store_failures(&base).await - before;
    assert!(
        more <= 3.0,
        "{more} failed store calls in 5 s:\n{}",
        havok.log_tail(30)
    );
    let text = havok.log_text();
    assert_eq!(
        text.matches("store refused a request").count(),
        1,
        "{}",
        havok.log_tail(30)
    );
    assert!(
        !text.contains("store unavailable"),
        "{}",
        havok.log_tail(30)
    );
    assert!(havok.exited().is_none());
}

/// `havok_store_failures_total` from `/metrics`, summed over backends.
async fn store_failures(base: &str) -> f64 {
    get(base, "/metrics")
        .await
        .body
        .lines()
        .filter(|l| l.starts_with("havok_store_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
