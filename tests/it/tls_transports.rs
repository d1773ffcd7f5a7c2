//! The secure transports that are not etcd's: Docker over TLS with a client
//! certificate (`DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`, as the docker CLI)
//! and Vulcand's API over HTTPS (`--vulcand-ca`), each through a real TLS
//! proxy (socat) in front of the real Docker socket or the Vulcand contract
//! server; and, for both, a server havok cannot verify: a repeated error
//! naming the certificate, `/healthz` 503, never a hang or an exit.

use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::support::certs::Pki;
use crate::support::endpoints::{listen_url, wait_health};
use crate::support::tls_proxy::TlsProxy;
#[cfg(feature = "vulcand-api")]
use crate::support::vulcand_contract::ContractServer;
use crate::support::*;

/// havok lists and follows Docker's events over TLS with a client certificate,
/// and routes a new container into a real etcd, answered through Vulcand.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_over_tls_routes() {
    use crate::scenarios::{Backend, Fixture};
    let pki = Pki::new();
    let proxy = TlsProxy::docker(&pki).await;
    let certs = docker_cert_path(&pki, "ca.pem");
    let f = Fixture::start(Backend::Etcd3, "docker-tls").await;
    let docker = format!("tcp://{}", proxy.addr());
    let args = f.args("n1", &["--docker", &docker, "--listen", "127.0.0.1:0"]);
    let mut havok = Havok::spawn_with_env(&strs(&args), &docker_tls_env(&certs));
    let base = listen_url(&mut havok).await;
    // The listing goes over TLS; the container started after it comes by the event stream.
    havok
        .wait_for_log("listed running containers", TIMEOUT)
        .await;
    let web = f.web("web", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    wait_health(&base, 200, TIMEOUT).await;
    assert_log_lacks(&havok, "Docker unavailable");
}

/// A Docker TLS server signed by a CA havok does not trust: repeated errors naming the certificate, `/healthz` 503, no exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_tls_wrong_ca_is_a_repeated_error() {
    let pki = Pki::new();
    let proxy = TlsProxy::docker(&pki).await;
    let certs = docker_cert_path(&pki, "other-ca.pem");
    let scope = unique_name("docker-bad-ca");
    let _web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let mut havok = docker_tls_havok(&scope, &proxy, &certs);
    repeated_certificate_errors(&mut havok, "Docker").await;
    assert_log_lacks(&havok, "listed running containers");
}

/// havok writes routes through Vulcand's API over HTTPS, verifying it with `--vulcand-ca`.
#[cfg(feature = "vulcand-api")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulcand_api_over_https_routes() {
    let (pki, contract, proxy, scope, web) = api_behind_tls("api-https").await;
    let url = format!("http://127.0.0.1:{}", web.host_port(80));
    let mut havok = Havok::spawn(&strs(&api_args(&scope, &proxy, &pki.arg("ca.pem"))));
    let base = listen_url(&mut havok).await;
    wait_for_snapshot(&contract, "the route over HTTPS", TIMEOUT, |s| {
        s.urls("foo.local") == [url.clone()] && s.has_route("foo.local")
    })
    .await;
    wait_health(&base, 200, TIMEOUT).await;
    assert_log_lacks(&havok, "store unavailable");
}

/// Vulcand's API behind a certificate that `--vulcand-ca` does not sign: repeated errors naming the certificate, `/healthz` 503, no exit.
#[cfg(feature = "vulcand-api")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vulcand_api_wrong_ca_is_a_repeated_error() {
    let (pki, contract, proxy, scope, _web) = api_behind_tls("api-bad-ca").await;
    let mut havok = Havok::spawn(&strs(&api_args(&scope, &proxy, &pki.arg("other-ca.pem"))));
    repeated_certificate_errors(&mut havok, "store").await;
    assert_eq!(contract.write_count(), 0, "{:?}", contract.writes());
}

// ---- helpers ----

/// A `DOCKER_CERT_PATH` as the docker CLI reads it: `ca.pem` (here `ca`),
/// and the PKI's client certificate as `cert.pem` and `key.pem`.
fn docker_cert_path(pki: &Pki, ca: &str) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("havok-test-docker-certs-")
        .tempdir()
        .expect("create a DOCKER_CERT_PATH");
    for (from, to) in [
        (ca, "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ] {
        std::fs::copy(pki.path(from), dir.path().join(to))
            .unwrap_or_else(|e| panic!("copy {from} to {to}: {e}"));
    }
    dir
}

/// havok `--dry-run` against Docker at `tcp://<proxy>` with TLS verification on.
fn docker_tls_havok(scope: &str, proxy: &TlsProxy, certs: &TempDir) -> Havok {
    let docker = format!("tcp://{}", proxy.addr());
    let names = format!("^{scope}-");
    let flags = "--dry-run --node-id n1 --resync-interval 2s --max-backoff 1s \
                 --listen 127.0.0.1:0 --log-level havok=debug,info";
    let mut args: Vec<&str> = flags.split_whitespace().collect();
    args.extend(["-names", &names, "--docker", &docker]);
    Havok::spawn_with_env(&args, &docker_tls_env(certs))
}

/// The docker CLI's TLS settings, pointing at `certs`.
fn docker_tls_env(certs: &TempDir) -> [(&'static str, &str); 2] {
    [
        ("DOCKER_TLS_VERIFY", "1"),
        (
            "DOCKER_CERT_PATH",
            certs.path().to_str().expect("a UTF-8 path"),
        ),
    ]
}

/// havok `--backend vulcand-api` at `https://<proxy>`, verified with `ca`.
#[cfg(feature = "vulcand-api")]
fn api_args(scope: &str, proxy: &TlsProxy, ca: &str) -> Vec<String> {
    let api = format!("https://{}", proxy.addr());
    havok_args(
        "vulcand-api",
        &format!("^{scope}-"),
        "n1",
        &[
            "--vulcand-api",
            &api,
            "--vulcand-ca",
            ca,
            "--listen",
            "127.0.0.1:0",
        ],
    )
}

/// Fails, with the log's tail, if havok's log says `text`.
fn assert_log_lacks(havok: &Havok, text: &str) {
    let log = havok.log_text();
    assert!(!log.contains(text), "{text:?} in:\n{}", havok.log_tail(30));
}

/// The Vulcand contract server behind a TLS proxy signed by a new PKI, a
/// unique scope named after `what`, and a web container `foo` in that scope.
#[cfg(feature = "vulcand-api")]
async fn api_behind_tls(what: &str) -> (Pki, ContractServer, TlsProxy, String, TestContainer) {
    let pki = Pki::new();
    let contract = ContractServer::start().await;
    let proxy = TlsProxy::tcp(&pki, contract_addr(&contract)).await;
    let scope = unique_name(what);
    let web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    (pki, contract, proxy, scope, web)
}

#[cfg(feature = "vulcand-api")]
fn contract_addr(contract: &ContractServer) -> std::net::SocketAddr {
    let url = contract.url();
    url.strip_prefix("http://")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("the contract server's URL {url} is http://<addr>"))
}

/// Waits for havok's `--listen` address and for three `<what> unavailable`
/// retries (warnings, or the debug lines between them), checks that each
/// says why (the certificate), that `/healthz` answers 503 at once naming
/// `what`, and that havok still runs.
async fn repeated_certificate_errors(havok: &mut Havok, what: &str) {
    let base = listen_url(havok).await;
    let lines = |h: &Havok| -> Vec<String> {
        h.log_text()
            .lines()
            .filter(|l| {
                l.contains(&format!("{what} unavailable"))
                    || l.contains(&format!("{what} still unavailable"))
            })
            .map(String::from)
            .collect()
    };
    let h = &*havok;
    eventually(&format!("three {what} retries"), TIMEOUT, || async {
        let n = lines(h).len();
        (n >= 3).then_some(n).ok_or_else(|| h.log_tail(5))
    })
    .await;
    for line in lines(havok) {
        let lower = line.to_ascii_lowercase();
        assert!(
            lower.contains("certificate") || lower.contains("unknownissuer"),
            "the error says why: {line}"
        );
    }
    let started = Instant::now();
    let down = wait_health(&base, 503, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        down.body.contains(&what.to_ascii_lowercase()),
        "{}",
        down.body
    );
    assert!(havok.exited().is_none(), "{}", havok.log_tail(30));
}
