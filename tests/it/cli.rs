//! The binary's command line: help, version, one-line configuration errors
//! with exit status 2, and `--dry-run`, which needs nothing but Docker.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn havok(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_havok"))
        .args(args)
        .env_remove("HAVOK_ETCD_MACHINES")
        .output()
        .expect("run havok")
}

/// `--help` and `-h` document every flag with its default, in the long spelling.
#[test]
fn help_documents_flags_and_defaults() {
    for flag in ["--help", "-h"] {
        let out = havok(&[flag]);
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for needle in [
            "--etcd-machines",
            "[default: http://127.0.0.1:2379]",
            "--docker",
            "--host-ip",
            "[default: 127.0.0.1]",
            "--root-domain",
            "[default: local]",
            "--names",
            "[default: .*]",
            "--etcd-prefix",
            "[default: vulcand]",
            "--backend",
            "--node-id",
            "--ttl",
            "[default: 30s]",
            "--resync-interval",
            "[default: 60s]",
            "--dry-run",
            "--deregister-on-exit",
            "--rate-limit",
            "--conn-limit",
            "--listen",
            "one dash",
        ] {
            assert!(text.contains(needle), "{flag} lacks {needle:?}:\n{text}");
        }
    }
}

/// `--version` names the version and the compiled-in backends.
#[test]
fn version_names_backends() {
    let out = havok(&["--version"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    // Each backend is named exactly when it is compiled in.
    for (backend, compiled) in [
        ("etcd3", cfg!(feature = "etcd3")),
        ("etcd2", cfg!(feature = "etcd2")),
        ("vulcand-api", cfg!(feature = "vulcand-api")),
    ] {
        assert_eq!(text.contains(backend), compiled, "{backend}: {text}");
    }
}

/// Each row: bad input, and a piece of the single line on stderr; exit status 2, at once.
#[test]
fn configuration_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_toml = dir.path().join("bad.toml");
    std::fs::write(&bad_toml, "root_domain = [").unwrap();
    let bad_toml = bad_toml.to_str().unwrap().to_string();
    let mut cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["-names", "(["],
            "--names \"([\" is not a valid regular expression",
        ),
        (vec!["--backend", "consul"], "unknown backend \"consul\""),
        (
            vec!["--ttl", "forever"],
            "--ttl \"forever\" is not a duration",
        ),
        (vec!["-host-ip=not-an-ip"], "--host-ip \"not-an-ip\""),
        (vec!["--config", &bad_toml], "bad.toml"),
        (
            vec!["--config", "/nonexistent/havok.toml"],
            "/nonexistent/havok.toml",
        ),
        (
            vec![
                "--etcd-cert",
                "/nonexistent/c.pem",
                "--etcd-key",
                "/nonexistent/k.pem",
            ],
            "/nonexistent/c.pem",
        ),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ];
    // A state prefix inside Vulcand's is refused by the backend's settings,
    // at start: a string prefix on v3, a directory on v2.
    #[cfg(feature = "etcd3")]
    cases.push((
        vec![
            "--backend",
            "etcd3",
            "--node-id",
            "n1",
            "--state-prefix",
            "vulcand2",
        ],
        "--state-prefix \"vulcand2\" overlaps --etcd-prefix \"vulcand\"",
    ));
    #[cfg(feature = "etcd2")]
    cases.push((
        vec![
            "--backend",
            "etcd2",
            "--node-id",
            "n1",
            "--state-prefix",
            "vulcand/havok",
        ],
        "--state-prefix \"/vulcand/havok\" overlaps --etcd-prefix \"/vulcand\"",
    ));
    // Only the chosen backend's settings are checked: on etcd3 a bad
    // --vulcand-api is no error, the state prefix is.
    #[cfg(feature = "etcd3")]
    cases.push((
        vec![
            "--backend",
            "etcd3",
            "--vulcand-api",
            "nope",
            "--state-prefix",
            "vulcand2",
        ],
        "--state-prefix \"vulcand2\" overlaps --etcd-prefix \"vulcand\"",
    ));
    #[cfg(feature = "vulcand-api")]
    cases.push((
        vec!["--backend", "vulcand-api", "--vulcand-api", "nope"],
        "--vulcand-api \"nope\": expected an http:// or https:// URL",
    ));
    for (args, want) in cases {
        let started = std::time::Instant::now();
        let out = havok(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{args:?}: one line: {stderr}"
        );
        assert!(stderr.contains(want), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} took {:?}",
            started.elapsed()
        );
    }
}

/// `--dry-run` logs every write it would make (host, server id, URL) and touches no store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_logs_writes_and_needs_only_docker() {
    let scope = unique_name("dry-run");
    // A listener that never accepts: any connection attempt (etcd v3, v2 or
    // the API) waits in its backlog, where the end of the test finds it.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let store = format!("http://{}", trap.local_addr().unwrap());
    let mut havok = Havok::spawn(&[
        "--dry-run",
        "-names",
        &format!("^{scope}-"),
        "-etcd-machines",
        &store,
        "--vulcand-api",
        &store,
    ]);
    let web = run_httpd(&format!("{scope}-web1"), "foo", &["-P"]);
    let url = format!("http://127.0.0.1:{}", web.host_port(80));
    let line = logged_line(&mut havok, "would add server").await;
    assert!(
        line.contains("foo.local") && line.contains(&url) && line.contains("server="),
        "{line}"
    );
    web.stop();
    havok.wait_for_log("would remove server", TIMEOUT).await;
    havok.sigterm();
    assert!(havok.wait_exit(Duration::from_secs(3)).await.success());
    // Read after the run: the whole log, and every connection ever tried.
    let log = havok.log_text();
    assert!(
        !log.contains("unavailable") && !log.contains("refused"),
        "touched a store:\n{log}"
    );
    match trap.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("--dry-run connected to the store address: {other:?}\n{log}"),
    }
}

/// A second SIGTERM exits at once while the first is still shutting down (here: a deregistration stuck on a silent store).
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_forces_exit() {
    let (mut havok, _silent) =
        havok_with_silent_store("second-signal", &["--deregister-on-exit"]).await;
    havok.sigterm();
    havok.wait_for_log("shutting down", TIMEOUT).await;
    let started = std::time::Instant::now();
    havok.sigterm();
    let status = havok.wait_exit(Duration::from_secs(3)).await;
    assert_eq!(status.code(), Some(130), "{}", havok.log_tail(10));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// SIGTERM stops havok within two seconds even while a store request hangs.
#[cfg(feature = "etcd2")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_quick_with_a_hanging_store() {
    let (mut havok, _silent) = havok_with_silent_store("sigterm-hang", &[]).await;
    let started = std::time::Instant::now();
    havok.sigterm();
    let status = havok.wait_exit(Duration::from_secs(3)).await;
    assert!(status.success(), "{}", havok.log_tail(10));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// havok (etcd v2 backend, 30 s request timeout) against a store that accepts
/// connections and never answers, once it has listed Docker; keep the listener alive.
#[cfg(feature = "etcd2")]
async fn havok_with_silent_store(test: &str, extra: &[&str]) -> (Havok, std::net::TcpListener) {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let scope = unique_name(test);
    let names = format!("^{scope}-");
    let mut args = vec![
        "--backend",
        "etcd2",
        "-etcd-machines",
        &url,
        "-names",
        &names,
        "--node-id",
        &scope,
        "--timeout",
        "30s",
    ];
    args.extend_from_slice(extra);
    let mut havok = Havok::spawn(&args);
    havok
        .wait_for_log("listed running containers", TIMEOUT)
        .await;
    (havok, silent)
}

/// Waits for havok to log `needle` and returns the first line that has it.
async fn logged_line(havok: &mut Havok, needle: &str) -> String {
    havok.wait_for_log(needle, TIMEOUT).await;
    let log = havok.log_text();
    let line = log.lines().find(|l| l.contains(needle));
    line.expect("the line waited for").to_string()
}
