//! Secure transports and secrets end to end: havok against an etcd that
//! demands TLS client certificates (etcd v3 and v2), certificate files that
//! are missing or unreadable (a configuration error), a server it cannot
//! verify (a repeated connection error, `/healthz` 503, never a hang), and
//! an etcd password that must never show in logs, `--help`, errors or the
//! `--listen` endpoints.

use std::time::Duration;

use crate::support::certs::Pki;
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
use crate::support::endpoints::{get, listen_url, wait_health};
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
use crate::support::etcd_tls::TlsEtcd;
use crate::support::oneshot::run_havok;
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
use crate::support::*;

/// havok talks etcd v3 over TLS with a client certificate, and routes.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd3_over_tls_with_client_certificate() {
    let pki = Pki::new();
    let etcd = TlsEtcd::start(&pki).await;
    let view = crate::support::etcd_tls::SecureEtcd3View::new(&[etcd.url()], Some(&pki), None);
    routes_over_tls("etcd3", &pki, &etcd, &view).await;
}

/// havok talks etcd v2 over TLS with a client certificate, and routes.
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd2_over_tls_with_client_certificate() {
    let pki = Pki::new();
    let etcd = TlsEtcd::start(&pki).await;
    let view = crate::support::etcd_tls::SecureEtcd2View::new(&etcd.url(), Some(&pki), None);
    routes_over_tls("etcd2", &pki, &etcd, &view).await;
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
async fn routes_over_tls(backend: &str, pki: &Pki, etcd: &TlsEtcd, view: &dyn StoreView) {
    let scope = unique_name(&format!("tls-{backend}"));
    let web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let tls = tls_args(pki, "ca.pem");
    let havok = Havok::spawn(&strs(&args(backend, &scope, &etcd.url(), &tls)));
    let url = format!("http://127.0.0.1:{}", web.host_port(80));
    wait_for_snapshot(view, "the route over TLS", TIMEOUT, |s| {
        s.urls("foo.local") == [url.clone()] && s.has_route("foo.local")
    })
    .await;
    assert!(
        !havok.log_text().contains("unavailable"),
        "{}",
        havok.log_tail(30)
    );
}

/// A missing or unreadable certificate, key or CA file is a configuration error: exit 2, one line naming flag and file.
// The etcd files are read when an etcd backend is the one chosen (the default here).
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
#[test]
fn unreadable_certificate_files_are_configuration_errors() {
    let pki = Pki::new();
    let missing = pki.arg("missing.pem");
    // Running as root, a mode-000 file is still readable: a directory is not.
    let unreadable = pki.dir().to_str().unwrap().to_string();
    let empty = pki.arg("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let (ca, cert, key) = (
        pki.arg("ca.pem"),
        pki.arg("client.pem"),
        pki.arg("client-key.pem"),
    );
    let mut cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (vec!["--etcd-ca", &missing], "--etcd-ca", &missing),
        (vec!["--etcd-ca", &unreadable], "--etcd-ca", &unreadable),
        (vec!["--etcd-ca", &empty], "--etcd-ca", &empty),
        (
            vec![
                "--etcd-ca",
                &ca,
                "--etcd-cert",
                &missing,
                "--etcd-key",
                &key,
            ],
            "--etcd-cert",
            &missing,
        ),
        (
            vec![
                "--etcd-ca",
                &ca,
                "--etcd-cert",
                &cert,
                "--etcd-key",
                &unreadable,
            ],
            "--etcd-key",
            &unreadable,
        ),
        (
            vec!["--etcd-ca", &ca, "--etcd-cert", &cert],
            "--etcd-key",
            "go together",
        ),
        (
            vec!["--etcd-username", "root", "--etcd-password-file", &missing],
            "--etcd-password-file",
            &missing,
        ),
    ];
    // The API's CA is only the API backend's setting: read when it is chosen.
    cases.extend(cfg!(feature = "vulcand-api").then(|| {
        (
            vec!["--backend", "vulcand-api", "--vulcand-ca", &missing],
            "--vulcand-ca",
            missing.as_str(),
        )
    }));
    for (extra, flag, names) in cases {
        let mut all = vec!["--node-id", "n1", "-etcd-machines", "https://127.0.0.1:1"];
        all.extend(extra.iter().copied());
        let out = run_havok(&all, &[], Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{extra:?}: one line: {stderr}"
        );
        assert!(
            stderr.contains(flag) && stderr.contains(names),
            "{extra:?}: names {flag} and {names}: {stderr}"
        );
    }
}

/// A CA file that is not a certificate is a configuration error too, not a retry loop.
#[test]
fn certificate_that_is_not_pem_is_a_configuration_error() {
    let pki = Pki::new();
    let garbage = pki.arg("garbage.pem");
    std::fs::write(&garbage, "not a certificate\n").unwrap();
    for backend in compiled_etcd_backends() {
        let out = run_havok(
            &[
                "--backend",
                backend,
                "--node-id",
                "n1",
                "-etcd-machines",
                "https://127.0.0.1:1",
                "--etcd-ca",
                &garbage,
            ],
            &[],
            Duration::from_secs(10),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{backend}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{backend}: {stderr}");
        assert!(stderr.contains("--etcd-ca"), "{backend}: {stderr}");
    }
}

/// A server havok cannot verify (another CA): repeated connection errors naming the certificate, `/healthz` 503, no hang, no exit.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd3_unverifiable_server_is_a_repeated_error() {
    unverifiable_server("etcd3").await;
}

/// The same for etcd v2 over HTTPS.
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd2_unverifiable_server_is_a_repeated_error() {
    unverifiable_server("etcd2").await;
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
async fn unverifiable_server(backend: &str) {
    let pki = Pki::new();
    let etcd = TlsEtcd::start(&pki).await;
    let scope = unique_name(&format!("bad-ca-{backend}"));
    let _web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let mut extra = tls_args(&pki, "other-ca.pem");
    extra.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let mut havok = Havok::spawn(&strs(&args(backend, &scope, &etcd.url(), &extra)));
    let base = listen_url(&mut havok).await;
    let h = &havok;
    eventually("three store warnings", TIMEOUT, || async move {
        let n = store_warnings(h).len();
        (n >= 3).then_some(n).ok_or(n)
    })
    .await;
    let warnings = store_warnings(&havok);
    for line in &warnings {
        let lower = line.to_ascii_lowercase();
        assert!(
            lower.contains("certificate")
                || lower.contains("unknownissuer")
                || lower.contains("tls"),
            "the error says why: {line}"
        );
    }
    // /healthz answers at once (nothing hangs) and names the store.
    let started = std::time::Instant::now();
    let down = wait_health(&base, 503, Duration::from_secs(5)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(down.body.contains("store"), "{}", down.body);
    assert!(havok.exited().is_none(), "{}", havok.log_tail(30));
}

/// The etcd v3 password from `--etcd-password-file` (and `HAVOK_ETCD_PASSWORD`) logs in, and never shows in logs, `--help`, errors or `/routes`.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd3_password_never_leaks() {
    password_never_leaks("etcd3").await;
}

/// The etcd v2 password (basic auth) logs in and never shows.
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd2_password_never_leaks() {
    password_never_leaks("etcd2").await;
}

/// Starts an etcd with `backend`'s auth on for a new password, and checks
/// that havok logs in with it and never shows it.
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
async fn password_never_leaks(backend: &str) {
    use crate::support::etcd_tls;
    let password = format!("pw-{}", unique_name("secret"));
    let etcd = EtcdServer::start().await;
    let view: Box<dyn StoreView> = match backend {
        #[cfg(feature = "etcd3")]
        "etcd3" => {
            etcd_tls::enable_v3_auth(&etcd.url(), &password).await;
            let view = etcd_tls::SecureEtcd3View::new(&[etcd.url()], None, Some(&password));
            Box::new(view)
        }
        #[cfg(feature = "etcd2")]
        "etcd2" => {
            etcd_tls::enable_v2_auth(&etcd.url(), &password).await;
            let view = etcd_tls::SecureEtcd2View::new(&etcd.url(), None, Some(&password));
            Box::new(view)
        }
        other => panic!("no password test for {other}"),
    };
    logs_in_and_never_shows(backend, &etcd, &*view, &password).await;
}

/// havok `backend` logs in to `etcd` with `password` (from a file and from
/// the environment), and the password never shows.
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
async fn logs_in_and_never_shows(
    backend: &str,
    etcd: &EtcdServer,
    view: &dyn StoreView,
    password: &str,
) {
    let scope = unique_name(&format!("auth-{backend}"));
    let web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let url = format!("http://127.0.0.1:{}", web.host_port(80));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let file = file.to_str().unwrap();

    // From the file, node n1.
    let extra = [
        "--etcd-username",
        "root",
        "--etcd-password-file",
        file,
        "--listen",
        "127.0.0.1:0",
        "--log-level",
        "trace",
    ];
    let mut n1 = Havok::spawn(&strs(&args(backend, &scope, &etcd.url(), &owned(&extra))));
    let base = listen_url(&mut n1).await;
    wait_for_snapshot(view, "n1's server", TIMEOUT, |s| {
        s.urls("foo.local") == [url.clone()]
    })
    .await;
    // From the environment, node n2: a second server of the same container.
    let mut args2 = args(
        backend,
        &scope,
        &etcd.url(),
        &owned(&["--etcd-username", "root"]),
    );
    args2[5] = "n2".into(); // --node-id
    let n2 = Havok::spawn_with_env(&strs(&args2), &[("HAVOK_ETCD_PASSWORD", password)]);
    wait_for_snapshot(view, "n2's server", TIMEOUT, |s| {
        s.urls("foo.local") == [url.clone(), url.clone()]
    })
    .await;
    wait_health(&base, 200, TIMEOUT).await;
    for path in ["/routes", "/metrics", "/healthz"] {
        let body = get(&base, path).await.body;
        assert!(!body.contains(password), "{path} shows the password");
    }

    // A wrong password: an error that does not echo it.
    let wrong = format!("{password}-wrong");
    let mut args3 = args(
        backend,
        &scope,
        &etcd.url(),
        &owned(&["--etcd-username", "root"]),
    );
    args3[5] = "n3".into();
    let mut n3 = Havok::spawn_with_env(&strs(&args3), &[("HAVOK_ETCD_PASSWORD", &wrong)]);
    // Retrying cannot help a wrong password: refused, retried at each resync.
    n3.wait_for_log("store refused a request", TIMEOUT).await;

    // --help with the password in the environment, and configuration errors.
    let help = run_havok(
        &["--help"],
        &[("HAVOK_ETCD_PASSWORD", password)],
        Duration::from_secs(10),
    );
    let no_user = run_havok(
        &["--node-id", "n1", "--etcd-password-file", file],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(no_user.status.code(), Some(2));
    let bad_ttl = run_havok(
        &["--node-id", "n1", "--ttl", "soon"],
        &[("HAVOK_ETCD_PASSWORD", password)],
        Duration::from_secs(10),
    );
    assert_eq!(bad_ttl.status.code(), Some(2));
    for (what, text) in [
        ("n1's log", n1.log_text()),
        ("n2's log", n2.log_text()),
        ("n3's log", n3.log_text()),
        ("--help", String::from_utf8_lossy(&help.stdout).into_owned()),
        (
            "the no-username error",
            String::from_utf8_lossy(&no_user.stderr).into_owned(),
        ),
        (
            "the bad --ttl error",
            String::from_utf8_lossy(&bad_ttl.stderr).into_owned(),
        ),
    ] {
        assert!(
            !text.contains(password),
            "{what} shows the password:\n{text}"
        );
    }
    assert!(
        !n3.log_text().contains(&wrong),
        "the wrong password is not shown either"
    );
}

// ---- helpers ----

/// The etcd backends compiled into this binary.
fn compiled_etcd_backends() -> Vec<&'static str> {
    let mut out = Vec::new();
    if cfg!(feature = "etcd3") {
        out.push("etcd3");
    }
    if cfg!(feature = "etcd2") {
        out.push("etcd2");
    }
    out
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
/// Every havok of these tests: `--node-id` is `args[5]`; `--log-level` only
/// when `extra` gives none.
fn args(backend: &str, scope: &str, machines: &str, extra: &[String]) -> Vec<String> {
    let mut args = havok_args(
        backend,
        &format!("^{scope}-"),
        "n1",
        &["-etcd-machines", machines],
    );
    if extra.iter().any(|a| a == "--log-level") {
        let at = args
            .iter()
            .position(|a| a == "--log-level")
            .expect("havok_args sets it");
        args.drain(at..at + 2);
    }
    args.extend(extra.iter().cloned());
    args
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
/// `--etcd-ca <ca> --etcd-cert client.pem --etcd-key client-key.pem`.
fn tls_args(pki: &Pki, ca: &str) -> Vec<String> {
    vec![
        "--etcd-ca".into(),
        pki.arg(ca),
        "--etcd-cert".into(),
        pki.arg("client.pem"),
        "--etcd-key".into(),
        pki.arg("client-key.pem"),
    ]
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
fn store_warnings(h: &Havok) -> Vec<String> {
    h.log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("store unavailable"))
        .map(String::from)
        .collect()
}

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}
