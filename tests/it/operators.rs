//! Operator features end to end, with the real binary, Docker and each
//! backend's store: label filters and `havok.enable`, the `havok.*` labels
//! (hosts, port, path, scheme, network), bad labels, Docker health checks,
//! rate and connection limits and their conflicts, `--listen`, `havok routes`
//! and the log flags. Each scenario takes a backend; `per_backend!` runs it
//! on every compiled-in one.

use std::collections::BTreeSet;
#[cfg(feature = "etcd3")]
use std::time::Duration;

use havok::ids::RouteKey;
use serde_json::Value;

use crate::scenarios::proxy::DockerProxy;
use crate::scenarios::{Backend, Fixture};
use crate::support::endpoints::{get, listen_url, wait_health};
#[cfg(feature = "etcd3")]
use crate::support::oneshot::run_havok;
use crate::support::*;

/// `--label-filter` (both spellings, repeated): only containers with every pair are routed, by listing and by event.
async fn label_filter_selects(b: Backend) {
    let f = Fixture::start(b, "label-filter").await;
    let both_labels = ["-P", "-l", "team=a", "-l", "tier=web"];
    let early = run_httpd(&f.name("early"), "both", &both_labels);
    let _one = run_httpd(&f.name("one"), "one", &["-P", "-l", "team=a"]);
    let _other = run_httpd(
        &f.name("other"),
        "other",
        &["-P", "-l", "team=b", "-l", "tier=web"],
    );
    // Labels match, but the name is outside -names: -names still applies.
    let _outside = run_httpd(&unique_name("label-filter-out"), "outside", &both_labels);
    let havok = f.havok(
        "n1",
        &["--label-filter", "team=a", "-label-filter", "tier=web"],
    );
    // One before havok (listing), one after (event). havok filters the
    // events' labels itself: a late container with other labels, started
    // first, would be routed by the time the matching one is.
    let _late_other = run_httpd(
        &f.name("late-other"),
        "late-other",
        &["-P", "-l", "team=b", "-l", "tier=web"],
    );
    let late = run_httpd(&f.name("late"), "both", &both_labels);
    let urls = [f.url_of(&early), f.url_of(&late)];
    let s = f.wait_urls("both.local", &urls).await;
    assert_eq!(hosts(&s), ["both.local"], "{s:#?}");
    only_host_after_passes(&f, &havok, "both.local", &urls).await;
}

/// Waits until `host` routes to `urls`, lets `havok` make two more full
/// passes, and checks that `host` is still the only host routed.
async fn only_host_after_passes(f: &Fixture, havok: &Havok, host: &str, urls: &[String]) {
    f.wait_urls(host, urls).await;
    havok.wait_full_passes(2).await;
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), [host], "{s:#?}");
}

/// `--exposed-by-default=false`: only `havok.enable=true` containers are routed.
async fn exposed_by_default_false(b: Backend) {
    let f = Fixture::start(b, "opt-in").await;
    let havok = f.havok("n1", &["--exposed-by-default=false"]);
    let _plain = f.web("plain", "plain");
    let _out = run_httpd(&f.name("out"), "out", &["-P", "-l", "havok.enable=false"]);
    let opted = run_httpd(&f.name("in"), "in", &["-P", "-l", "havok.enable=true"]);
    only_host_after_passes(&f, &havok, "in.local", &[f.url_of(&opted)]).await;
}

/// By default every matching container is routed, except one labelled `havok.enable=false`.
async fn enable_false_opts_out(b: Backend) {
    let f = Fixture::start(b, "opt-out").await;
    let havok = f.havok("n1", &[]);
    let _out = run_httpd(&f.name("out"), "out", &["-P", "-l", "havok.enable=false"]);
    let plain = f.web("plain", "plain");
    only_host_after_passes(&f, &havok, "plain.local", &[f.url_of(&plain)]).await;
}

/// `havok.host` names several hosts inside the root domain; a foreign one is refused once, and allowed with `--allow-any-host`.
async fn explicit_hosts(b: Backend) {
    let f = Fixture::start(b, "hosts").await;
    let n1 = f.havok("n1", &["-root-domain", "example.com"]);
    let multi = run_httpd(
        &f.name("multi"),
        "multi",
        &["-P", "-l", "havok.host=a.example.com, B.example.com"],
    );
    let foreign = run_httpd(
        &f.name("foreign"),
        "foreign",
        &["-P", "-l", "havok.host=x.other.org"],
    );
    let url = f.url_of(&multi);
    f.wait_urls("a.example.com", std::slice::from_ref(&url))
        .await;
    f.wait_urls("b.example.com", std::slice::from_ref(&url))
        .await;
    n1.wait_full_passes(2).await;
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), ["a.example.com", "b.example.com"], "{s:#?}");
    let warning = "outside the root domain";
    assert_warned_once(&n1, foreign.name(), warning);

    let _n2 = f.havok("n2", &["-root-domain", "example.com", "--allow-any-host"]);
    f.wait_urls("x.other.org", &[f.url_of(&foreign)]).await;
    n1.wait_full_passes(2).await;
    assert_warned_once(&n1, foreign.name(), warning);
}

/// `havok.port` picks the published port, the lowest is the default, `havok.scheme=https` changes the URL.
async fn port_and_scheme_labels(b: Backend) {
    let f = Fixture::start(b, "port-scheme").await;
    // These upstreams do not all answer (nothing listens on 8080, nor TLS on
    // 80): with probing they would wait; this test is about their URLs.
    let havok = f.havok("n1", &["--probe", "none"]);
    let two_ports = ["-P", "--expose", "8080"];
    let alt = run_httpd(
        &f.name("alt"),
        "alt",
        &[&two_ports[..], &["-l", "havok.port=8080"]].concat(),
    );
    let low = run_httpd(&f.name("low"), "low", &two_ports);
    let tls = run_httpd(&f.name("tls"), "tls", &["-P", "-l", "havok.scheme=https"]);
    let unpublished = run_httpd(&f.name("nopub"), "nopub", &["-P", "-l", "havok.port=9999"]);
    f.wait_urls(
        "alt.local",
        &[format!("http://127.0.0.1:{}", alt.host_port(8080))],
    )
    .await;
    f.wait_urls("low.local", &[f.url_of(&low)]).await;
    f.wait_urls(
        "tls.local",
        &[format!("https://127.0.0.1:{}", tls.host_port(80))],
    )
    .await;
    havok.wait_full_passes(2).await;
    assert_warned_once(&havok, unpublished.name(), "container port 9999/tcp");
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), ["alt.local", "low.local", "tls.local"], "{s:#?}");
}

/// `havok.path=/api` is a route of its own (frontend, backend, PathRegexp) and is removed with its last server.
async fn path_label_is_its_own_route(b: Backend) {
    let f = Fixture::start(b, "path").await;
    let _havok = f.havok("n1", &[]);
    let api = run_httpd(&f.name("api"), "foo", &["-P", "-l", "havok.path=/api/"]);
    let root = f.web("root", "foo");
    let api_key = RouteKey {
        host: "foo.local".into(),
        path: Some("/api".into()),
    };
    let api_url = f.url_of(&api);
    let s = wait_for_snapshot(f.view.as_ref(), "the /api route", TIMEOUT, |s| {
        key_urls(s, &api_key) == [api_url.clone()] && key_has_route(s, &api_key)
    })
    .await;
    let s2 = f.wait_urls("foo.local", &[f.url_of(&root)]).await;
    let frontend = frontend_of(&s, &api_key).expect("the /api frontend");
    assert_eq!(
        frontend["Route"],
        "Host(`foo.local`) && PathRegexp(`^/api(/.*)?$`)"
    );
    assert_eq!(frontend["BackendId"], api_key.id().as_str());
    assert_eq!(s2.backends.len(), 2, "two backends: {s2:#?}");
    assert_eq!(s2.frontends.len(), 2, "two frontends: {s2:#?}");

    api.stop();
    let s = wait_for_snapshot(f.view.as_ref(), "the /api route to go", TIMEOUT, |s| {
        !s.backends.contains_key(api_key.id().as_str())
            && !s.frontends.contains_key(api_key.id().as_str())
    })
    .await;
    assert_eq!(s.urls("foo.local"), [f.url_of(&root)], "{s:#?}");
    assert!(s.has_route("foo.local"), "{s:#?}");
}

/// `--network NAME` routes to the container's address and port on that network, and the URL answers.
async fn network_flag_routes_container_address(b: Backend) {
    let f = Fixture::start(b, "network-flag").await;
    let net = TestNetwork::create("op-net");
    let havok = f.havok("n1", &["--network", net.name()]);
    let web = run_httpd(&f.name("web"), "foo", &["--network", net.name()]);
    let elsewhere = f.web("elsewhere", "bar");
    let url = format!("http://{}:80", web.ip(net.name()));
    f.wait_urls("foo.local", std::slice::from_ref(&url)).await;
    let answer = http_get(&format!("{url}/"))
        .await
        .expect("GET the server URL");
    assert!(answer.body.contains("hello from foo"), "{}", answer.body);
    havok.wait_full_passes(2).await;
    assert_warned_once(&havok, elsewhere.name(), "not attached to network");
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), ["foo.local"], "{s:#?}");
}

/// The `havok.network` label routes an unpublished container by its address on that network.
async fn network_label_routes_container_address(b: Backend) {
    let f = Fixture::start(b, "network-label").await;
    let net = TestNetwork::create("op-net");
    let _havok = f.havok("n1", &[]);
    let label = format!("havok.network={}", net.name());
    let web = run_httpd(
        &f.name("web"),
        "foo",
        &["--network", net.name(), "-l", &label],
    );
    f.wait_urls("foo.local", &[format!("http://{}:80", web.ip(net.name()))])
        .await;
}

/// Bad label values: one warning per container naming the label and what is expected; the container is skipped, nothing else changes.
async fn bad_labels_warn_once(b: Backend) {
    let f = Fixture::start(b, "bad-labels").await;
    let havok = f.havok("n1", &[]);
    let cases = [
        (
            "port",
            "havok.port=http",
            "label havok.port=\"http\": expected",
        ),
        (
            "scheme",
            "havok.scheme=ftp",
            "label havok.scheme=\"ftp\": expected http or https",
        ),
        (
            "path",
            "havok.path=api",
            "label havok.path=\"api\": expected",
        ),
        (
            "rate",
            "havok.rate-limit=fast",
            "label havok.rate-limit=\"fast\": expected a whole number",
        ),
        (
            "conn",
            "havok.conn-limit=-3",
            "label havok.conn-limit=\"-3\": expected a whole number",
        ),
        (
            "enable",
            "havok.enable=yes",
            "label havok.enable=\"yes\": expected true or false",
        ),
        (
            "host",
            "havok.host=ok.local,bad_host.local",
            "label havok.host=\"bad_host.local\": expected",
        ),
    ];
    let bad: Vec<(TestContainer, &str)> = cases
        .iter()
        .map(|(suffix, label, warning)| {
            let c = run_httpd(&f.name(suffix), suffix, &["-P", "-l", label]);
            (c, *warning)
        })
        .collect();
    let good = f.web("good", "good");
    f.wait_urls("good.local", &[f.url_of(&good)]).await;
    havok.wait_full_passes(3).await;
    for (c, warning) in &bad {
        assert_eq!(
            warnings_for(&havok, c.name(), warning),
            1,
            "one warning for {} containing {warning:?}:\n{}",
            c.name(),
            havok.log_tail(40)
        );
        assert_eq!(
            havok
                .log_text()
                .lines()
                .filter(|l| l.contains("not routed") && l.contains(c.name()))
                .count(),
            1,
            "no other warning for {}",
            c.name()
        );
    }
    let s = f.view.snapshot().await;
    assert_eq!(hosts(&s), ["good.local"], "{s:#?}");
}

/// A container with a health check is routed once healthy, removed when unhealthy, routed again on recovery.
async fn health_check_gates_routing(b: Backend) {
    let f = Fixture::start(b, "health").await;
    let havok = f.havok("n1", &[]);
    let web = run_httpd(
        &f.name("web"),
        "foo",
        &[
            "-P",
            "--health-cmd",
            "test -f /tmp/ok",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
            "--health-timeout",
            "2s",
        ],
    );
    let health = |c: &TestContainer| {
        c.inspect()["State"]["Health"]["Status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let w = &web;
    eventually("the container to turn unhealthy", TIMEOUT, || async move {
        health(w) == "unhealthy"
    })
    .await;
    havok.wait_full_passes(2).await;
    let s = f.view.snapshot().await;
    assert!(s.is_empty(), "not routed before it is healthy: {s:#?}");

    let url = f.url_of(&web);
    // The scratch image has no /tmp until the test makes one.
    let healthy = || {
        docker(&[
            "exec",
            web.name(),
            "sh",
            "-c",
            "mkdir -p /tmp && touch /tmp/ok",
        ])
    };
    healthy();
    f.wait_urls("foo.local", std::slice::from_ref(&url)).await;
    docker(&["exec", web.name(), "rm", "/tmp/ok"]);
    f.wait_gone("foo.local").await;
    healthy();
    f.wait_urls("foo.local", &[url]).await;
}

/// `-rate-limit*` and `--conn-limit*` become Vulcand's ratelimit and connlimit middlewares (plugin field names), labels override, and they go with the frontend.
async fn middlewares_from_flags_and_labels(b: Backend) {
    let f = Fixture::start(b, "middlewares").await;
    let _havok = f.havok(
        "n1",
        &[
            "-rate-limit",
            "5",
            "--rate-limit-burst",
            "3",
            "-rate-limit-var=request.host",
            "--conn-limit",
            "7",
            "-conn-limit-var",
            "client.ip",
        ],
    );
    let limited = f.web("foo", "foo");
    let bar = run_httpd(
        &f.name("bar"),
        "bar",
        &["-P", "-l", "havok.rate-limit=2", "-l", "havok.conn-limit=0"],
    );
    f.wait_urls("foo.local", &[f.url_of(&limited)]).await;
    f.wait_urls("bar.local", &[f.url_of(&bar)]).await;
    let s = wait_for_snapshot(f.view.as_ref(), "the middlewares", TIMEOUT, |s| {
        middlewares(s, "foo.local").len() == 2 && middlewares(s, "bar.local").len() == 1
    })
    .await;
    let foo_mw = middlewares(&s, "foo.local");
    check_ratelimit(&foo_mw["havok-ratelimit"], 5, 3, "request.host");
    check_connlimit(&foo_mw["havok-connlimit"], 7, "client.ip");
    let bar_mw = middlewares(&s, "bar.local");
    check_ratelimit(&bar_mw["havok-ratelimit"], 2, 3, "request.host");
    assert!(!bar_mw.contains_key("havok-connlimit"), "{bar_mw:#?}");

    limited.stop();
    let s = f.wait_gone("foo.local").await;
    assert!(
        middlewares(&s, "foo.local").is_empty(),
        "middlewares go with the frontend: {s:#?}"
    );
    assert_eq!(middlewares(&s, "bar.local").len(), 1, "{s:#?}");
}

/// Two containers of one node asking one host for different limits: the first by name wins, one warning naming both values.
async fn container_limit_conflict_warns_once(b: Backend) {
    let f = Fixture::start(b, "limit-conflict").await;
    let havok = f.havok("n1", &[]);
    let a = run_httpd(&f.name("a"), "foo", &["-P", "-l", "havok.rate-limit=4"]);
    let b2 = run_httpd(&f.name("b"), "foo", &["-P", "-l", "havok.rate-limit=9"]);
    f.wait_urls("foo.local", &[f.url_of(&a), f.url_of(&b2)])
        .await;
    havok.wait_full_passes(3).await;
    let s = f.view.snapshot().await;
    check_ratelimit(
        &middlewares(&s, "foo.local")["havok-ratelimit"],
        4,
        1,
        "client.ip",
    );
    let lines = conflict_lines(&havok, "foo.local");
    assert_eq!(lines.len(), 1, "{}", havok.log_tail(40));
    assert!(
        lines[0].contains(b2.name()) && lines[0].contains('9') && lines[0].contains('4'),
        "names the container and both values: {}",
        lines[0]
    );
}

/// Two nodes with different `-rate-limit` on one host: the middleware stops changing and the second node warns once.
async fn node_limit_conflict_does_not_flap(b: Backend) {
    let f = Fixture::start(b, "node-conflict").await;
    let n1 = f.havok(
        "n1",
        &["-rate-limit", "5", "--route-default", "timeout.read=5s"],
    );
    let web = f.web("web", "foo");
    let url = f.url_of(&web);
    let requests = |s: &Snapshot| {
        middlewares(s, "foo.local")
            .get("havok-ratelimit")
            .map(|m| m["Middleware"]["Requests"].clone())
    };
    wait_for_snapshot(f.view.as_ref(), "n1's route", TIMEOUT, |s| {
        s.urls("foo.local") == [url.clone()] && requests(s) == Some(5.into())
    })
    .await;
    let n2 = f.havok(
        "n2",
        &["-rate-limit", "10", "--route-default", "timeout.read=9s"],
    );
    f.wait_urls("foo.local", &[url.clone(), url.clone()]).await;
    // Watch the value while both nodes make three more full passes each.
    let seen = std::sync::Mutex::new(BTreeSet::new());
    let (p1, p2) = (n1.full_passes(), n2.full_passes());
    eventually("three more passes of both nodes", TIMEOUT, || {
        let done = n1.full_passes() >= p1 + 3 && n2.full_passes() >= p2 + 3;
        let (view, seen) = (f.view.as_ref(), &seen);
        async move {
            let value = requests(&view.snapshot().await).map(|v| v.to_string());
            seen.lock().unwrap().insert(value);
            done
        }
    })
    .await;
    assert_eq!(
        seen.into_inner().unwrap(),
        BTreeSet::from([Some("5".to_string())]),
        "the first node's value stays"
    );
    let lines = conflict_lines(&n2, "foo.local");
    assert_eq!(lines.len(), 1, "n2 warns once:\n{}", n2.log_tail(40));
    assert!(
        lines[0].contains("\"Requests\":10") && lines[0].contains("\"Requests\":5"),
        "names both values: {}",
        lines[0]
    );
    // Settings conflict as limits do, and the warning names both containers:
    // n2's own, and n1's server on the route.
    assert!(
        lines[0].contains("\"Read\":\"9s\"") && lines[0].contains("\"Read\":\"5s\""),
        "names both settings: {}",
        lines[0]
    );
    assert!(
        lines[0].contains(&format!("this node's {}", web.name())) && lines[0].contains("n1--"),
        "names both containers: {}",
        lines[0]
    );
    assert!(
        conflict_lines(&n1, "foo.local").is_empty(),
        "{}",
        n1.log_tail(40)
    );
}

/// `--listen`: `/healthz` 200 while Docker and the store are fine, 503 naming which is not; `/metrics` and `/routes`.
async fn listen_endpoints(b: Backend) {
    let f = Fixture::start(b, "listen").await;
    let proxy = DockerProxy::start().await;
    let docker_url = format!("tcp://{}", proxy.addr());
    let mut havok = f.havok("n1", &["--listen", "127.0.0.1:0", "--docker", &docker_url]);
    let base = listen_url(&mut havok).await;
    let web = f.web("web", "foo");
    let url = f.url_of(&web);
    f.wait_urls("foo.local", std::slice::from_ref(&url)).await;
    let ok = wait_health(&base, 200, TIMEOUT).await;
    assert_eq!(ok.body.trim(), "ok");

    let metrics = eventually("metrics with one route", TIMEOUT, || async {
        let m = get(&base, "/metrics").await;
        let text = m.body.clone();
        (text.contains("havok_routes 1") && text.contains("havok_servers 1")).then_some(m)
    })
    .await;
    assert_eq!(metrics.status, 200);
    let backend = format!("backend=\"{}\"", b.flag());
    for needle in [
        "havok_docker_events_total{action=",
        "havok_store_writes_total{",
        backend.as_str(),
        "op=\"put\"",
        "havok_resyncs_total",
        "havok_resync_duration_seconds_bucket",
        "havok_resync_duration_seconds_count",
        "havok_seconds_since_last_sync",
    ] {
        assert!(
            metrics.body.contains(needle),
            "/metrics lacks {needle:?}:\n{}",
            metrics.body
        );
    }
    let age = metric_value(&metrics.body, "havok_seconds_since_last_sync");
    assert!((0.0..30.0).contains(&age), "{age}");

    let routes = get(&base, "/routes").await;
    assert_eq!(routes.status, 200, "{}", routes.body);
    let table: Value = serde_json::from_str(&routes.body)
        .unwrap_or_else(|e| panic!("/routes is JSON ({e}): {}", routes.body));
    assert!(routes.body.contains("foo.local"), "{table:#}");
    assert!(routes.body.contains(&url), "{table:#}");

    // Docker's side down: 503 naming Docker.
    proxy.cut();
    let down = wait_health(&base, 503, TIMEOUT).await;
    assert!(down.body.contains("docker"), "{}", down.body);
    proxy.restore();
    wait_health(&base, 200, TIMEOUT).await;

    // The store down: 503 naming the store, counted as failures.
    if let Some(etcd) = &f.etcd {
        etcd.stop();
        let down = wait_health(&base, 503, TIMEOUT).await;
        assert!(down.body.contains("store"), "{}", down.body);
        let m = get(&base, "/metrics").await;
        assert!(
            m.body
                .contains(&format!("havok_store_failures_total{{{backend}}}")),
            "{}",
            m.body
        );
        etcd.start_again().await;
        wait_health(&base, 200, TIMEOUT).await;
    }
    assert!(havok.exited().is_none(), "{}", havok.log_tail(30));
}

/// `havok routes` prints the route table of the running containers (table and `--json`) and writes nothing.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_command_prints_and_writes_nothing() {
    let f = Fixture::start(Backend::Etcd3, "routes-cmd").await;
    let plain = f.web("foo", "foo");
    let api = run_httpd(&f.name("api"), "foo", &["-P", "-l", "havok.path=/api"]);
    let bad = run_httpd(&f.name("bad"), "bad", &["-P", "-l", "havok.port=x"]);
    let args = f.args("n1", &["routes"]);
    let out = run_havok(&strs(&args), &[], ONE_SHOT);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("ROUTE") && lines[0].contains("URL") && lines[0].contains("CONTAINER"),
        "{stdout}"
    );
    assert_eq!(lines.len(), 3, "a header and two rows:\n{stdout}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("foo.local ") && l.contains(&f.url_of(&plain))),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("foo.local/api") && l.contains(&f.url_of(&api))),
        "{stdout}"
    );
    assert!(
        stderr.contains(bad.name()) && stderr.contains("label havok.port"),
        "the refused container is named on stderr: {stderr}"
    );

    let mut args = f.args("n1", &["routes", "--json"]);
    args.retain(|a| a != "--log-level" && a != "havok=debug,info");
    let out = run_havok(&strs(&args), &[], ONE_SHOT);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("--json prints one JSON document ({e}):\n{stdout}"));
    let text = json.to_string();
    assert!(
        text.contains("foo.local") && text.contains("/api"),
        "{json:#}"
    );
    assert!(text.contains(&f.url_of(&plain)), "{json:#}");

    // The whole etcd, v3 and v2 keyspaces, not only Vulcand's prefix.
    let keyspace = f.keyspace().await;
    assert!(
        keyspace.is_empty(),
        "havok routes wrote to the store: {keyspace:#?}"
    );
}

/// `--log-format json`: one JSON object per line; `--log-level warn` keeps only warnings; no colour codes into a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_and_level() {
    let scope = unique_name("log-format");
    let names = format!("^{scope}-");
    let _web = run_httpd(&format!("{scope}-web"), "foo", &["-P"]);
    let _bad = run_httpd(
        &format!("{scope}-bad"),
        "bad",
        &["-P", "-l", "havok.port=x"],
    );
    let base = [
        "--dry-run",
        "-names",
        &names,
        "--node-id",
        "n1",
        "--resync-interval",
        "1s",
    ];

    let mut json =
        Havok::spawn(&[&base[..], &["--log-format", "json", "--log-level", "debug"]].concat());
    json.wait_for_log("would add server", TIMEOUT).await;
    json.wait_for_log("full pass done", TIMEOUT).await;
    let text = json.log_text();
    let mut levels = BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line:?}"));
        assert!(v.is_object(), "{line}");
        assert!(
            v["timestamp"].is_string() && v["fields"].is_object(),
            "{line}"
        );
        levels.insert(v["level"].as_str().expect("a level").to_string());
    }
    assert!(
        levels.contains("INFO") && levels.contains("WARN") && levels.contains("DEBUG"),
        "{levels:?}"
    );

    // An empty NO_COLOR does not turn colours off: only the terminal test does.
    let mut warn = Havok::spawn_with_env(
        &[&base[..], &["--log-level", "warn"]].concat(),
        &[("NO_COLOR", "")],
    );
    warn.wait_for_log("not routed", TIMEOUT).await;
    let text = warn.log_text();
    assert!(
        text.lines().all(|l| l.contains("WARN")),
        "only warnings:\n{text}"
    );
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal (docker logs, journald):\n{text:?}"
    );
}

per_backend!(
    label_filter_selects,
    exposed_by_default_false,
    enable_false_opts_out,
    explicit_hosts,
    port_and_scheme_labels,
    path_label_is_its_own_route,
    network_flag_routes_container_address,
    network_label_routes_container_address,
    bad_labels_warn_once,
    health_check_gates_routing,
    middlewares_from_flags_and_labels,
    container_limit_conflict_warns_once,
    node_limit_conflict_does_not_flap,
    listen_endpoints,
);

// ---- helpers ----

#[cfg(feature = "etcd3")]
/// How long a one-shot havok (`havok routes`) may take.
const ONE_SHOT: Duration = Duration::from_secs(30);

/// Fails, with the log's tail, unless havok warned exactly once about
/// `container` with `needle`.
fn assert_warned_once(h: &Havok, container: &str, needle: &str) {
    let n = warnings_for(h, container, needle);
    assert_eq!(n, 1, "{container} {needle:?}:\n{}", h.log_tail(30));
}

/// Warning lines about `container` that contain `needle`.
fn warnings_for(h: &Havok, container: &str, needle: &str) -> usize {
    h.log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(container) && l.contains(needle))
        .count()
}

/// Warning lines about conflicting frontend settings of `host`.
fn conflict_lines(h: &Havok, host: &str) -> Vec<String> {
    h.log_text()
        .lines()
        .filter(|l| {
            l.contains("WARN")
                && l.contains(host)
                && (l.contains("leaving it as it is") || l.contains("other route settings"))
        })
        .map(String::from)
        .collect()
}

/// The hosts (with paths) that have a frontend, sorted.
pub(crate) fn hosts(s: &Snapshot) -> Vec<String> {
    let mut out: Vec<String> = s
        .frontends
        .values()
        .filter_map(|f| f.frontend.as_ref())
        .filter_map(|f| f["Route"].as_str())
        .map(|r| {
            r.trim_start_matches("Host(`")
                .split('`')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    out.sort();
    out
}

fn key_urls(s: &Snapshot, key: &RouteKey) -> Vec<String> {
    let mut urls: Vec<String> = s
        .backends
        .get(key.id().as_str())
        .map(|b| b.servers.values().cloned().collect())
        .unwrap_or_default();
    urls.sort();
    urls
}

fn key_has_route(s: &Snapshot, key: &RouteKey) -> bool {
    let id = key.id();
    s.backends
        .get(id.as_str())
        .is_some_and(|b| b.backend.is_some())
        && frontend_of(s, key).is_some()
}

fn frontend_of<'a>(s: &'a Snapshot, key: &RouteKey) -> Option<&'a Value> {
    s.frontends
        .get(key.id().as_str())
        .and_then(|f| f.frontend.as_ref())
}

/// The middlewares of `host`'s frontend by id.
fn middlewares(s: &Snapshot, host: &str) -> std::collections::BTreeMap<String, Value> {
    s.frontends
        .get(RouteKey::host(host).id().as_str())
        .map(|f| f.middlewares.clone())
        .unwrap_or_default()
}

/// A ratelimit as vulcand/vulcand plugin/ratelimit/ratelimit.go `RateLimit`
/// reads it: exactly `PeriodSeconds, Requests, Burst` (int64), `Variable, RateVar` (string).
fn check_ratelimit(m: &Value, requests: u64, burst: u64, variable: &str) {
    assert_eq!(m["Type"], "ratelimit", "{m:#}");
    assert!(m["Priority"].is_i64(), "{m:#}");
    let body = m["Middleware"].as_object().expect("a Middleware object");
    let fields: BTreeSet<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from(["PeriodSeconds", "Requests", "Burst", "Variable", "RateVar"]),
        "{m:#}"
    );
    assert_eq!(body["PeriodSeconds"].as_u64(), Some(1), "{m:#}");
    assert_eq!(body["Requests"].as_u64(), Some(requests), "{m:#}");
    assert_eq!(body["Burst"].as_u64(), Some(burst), "{m:#}");
    assert_eq!(body["Variable"], variable, "{m:#}");
    assert_eq!(body["RateVar"], "", "{m:#}");
}

/// A connlimit as plugin/connlimit/connlimit.go `ConnLimit` reads it: `Connections` (int64), `Variable`.
fn check_connlimit(m: &Value, connections: u64, variable: &str) {
    assert_eq!(m["Type"], "connlimit", "{m:#}");
    assert!(m["Priority"].is_i64(), "{m:#}");
    let body = m["Middleware"].as_object().expect("a Middleware object");
    let fields: BTreeSet<&str> = body.keys().map(String::as_str).collect();
    assert_eq!(fields, BTreeSet::from(["Connections", "Variable"]), "{m:#}");
    assert_eq!(body["Connections"].as_u64(), Some(connections), "{m:#}");
    assert_eq!(body["Variable"], variable, "{m:#}");
}

/// The value of an unlabelled metric line `name value`.
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}
