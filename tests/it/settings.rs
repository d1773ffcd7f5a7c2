//! Route settings from labels (`havok.<key>`) through the real Vulcand, on
//! every backend: what a client sees where a setting has a visible effect
//! (redirect, read timeout, body limit, circuit breaker, trace records),
//! what Vulcand's API answers where it has none, and that a re-created
//! container's changed labels leave nothing stale. `refusals_match_vulcand`
//! cross-checks every value havok refuses against the real API.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use havok::ids::RouteKey;
use havok::model::{route_container, Container, Port, Refusal, Rules, Verdict};
use serde_json::{json, Value};

use crate::scenarios::{Backend, Fixture};
use crate::support::*;

/// GET `path` of Vulcand's API as JSON.
async fn api_get(vulcand: &Vulcand, path: &str) -> Value {
    let url = format!("{}{path}", vulcand.api_url());
    let answer = http_get(&url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(answer.status, 200, "GET {url}: {}", answer.body);
    serde_json::from_str(&answer.body).unwrap_or_else(|e| panic!("GET {url}: {e}: {}", answer.body))
}

/// The middleware ids of `host`'s frontend, as Vulcand's API lists them.
async fn middleware_ids(vulcand: &Vulcand, host: &str) -> BTreeSet<String> {
    let id = RouteKey::host(host).id();
    let list = api_get(vulcand, &format!("/v2/frontends/{id}/middlewares")).await;
    list["Middlewares"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Id"].as_str().map(String::from))
        .collect()
}

/// Waits until `request` through Vulcand to `host` gives an answer `ok` accepts.
async fn wait_answer(
    vulcand: &Vulcand,
    what: &str,
    host: &str,
    (method, path, body): (&str, &str, Option<&str>),
    ok: impl Fn(&HttpResponse) -> bool,
) -> HttpResponse {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        match vulcand.request(method, host, path, body).await {
            Ok(answer) if ok(&answer) => return answer,
            Ok(answer) => {
                last = format!(
                    "{} {:?} {}",
                    answer.status,
                    answer.headers,
                    answer.body.trim()
                )
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: {method} {host}{path} never answered as expected; last: {last}");
}

/// One container with every kind of setting, one with a circuit breaker
/// that trips, one with a bad value; then the first re-created with other
/// labels.
async fn settings_take_effect_through_vulcand(b: Backend) {
    let f = Fixture::start(b, "settings").await;
    let Some(vulcand) = f.vulcand.clone() else {
        return; // skipped, with the line `vulcand::binary` printed
    };
    let traces = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let trace_addr = format!("syslog://{}", traces.local_addr().unwrap());
    let havok = f.havok("n1", &[]);
    let labels = [
        "havok.rewrite.regexp=^http://([^/]+)/old$",
        "havok.rewrite.replacement=http://$1/new",
        "havok.rewrite.redirect=true",
        "havok.timeout.read=1s",
        "havok.max-body-bytes=10",
        "havok.max-mem-body-bytes=4096",
        "havok.pass-host-header=true",
        "havok.keepalive.period=30s",
        "havok.keepalive.max-idle-per-host=7",
        "havok.timeout.tls-handshake=5s",
        "havok.tls.insecure-skip-verify=true",
        "havok.forward-hostname=proxy.example.com",
        "havok.trust-forward-header=true",
        "havok.failover-predicate=IsNetworkError() && RequestMethod() == \"GET\" && Attempts() <= 2",
        "havok.timeout.raed=1s",
    ];
    let trace_label = format!("havok.trace.addr={trace_addr}");
    let mut args: Vec<&str> = vec!["-P"];
    for label in labels.iter().copied().chain([trace_label.as_str()]) {
        args.extend(["-l", label]);
    }
    let app = run_httpd(&f.name("app"), "app", &args);
    f.answers_as(&app);
    f.wait_urls("app.local", &[f.url_of(&app)]).await;

    // rewrite.redirect: 302 to the rewritten URL.
    let moved = wait_answer(
        &vulcand,
        "redirect",
        "app.local",
        ("GET", "/old", None),
        |a| a.status == 302,
    )
    .await;
    assert_eq!(
        moved.header("location"),
        Some("http://app.local/new"),
        "{moved:?}"
    );

    // timeout.read=1s: an upstream that answers after 3 s is a gateway error within ~1 s.
    let started = Instant::now();
    let slow = vulcand
        .request("POST", "app.local", "/cgi-bin/slow?3", Some("x"))
        .await
        .expect("an answer from Vulcand");
    assert!(
        [502, 504].contains(&slow.status) && started.elapsed() < Duration::from_millis(2900),
        "{slow:?} after {:?}",
        started.elapsed()
    );

    // max-body-bytes=10: a larger body is refused, a smaller one passes.
    let small = vulcand
        .request("POST", "app.local", "/cgi-bin/who", Some("12345"))
        .await
        .unwrap();
    assert_eq!(small.status, 200, "{small:?}");
    let large = vulcand
        .request("POST", "app.local", "/cgi-bin/who", Some(&"x".repeat(100)))
        .await
        .unwrap();
    assert_eq!(large.status, 413, "{large:?}");

    // trace.addr: records reach the test's UDP listener.
    let mut buf = vec![0u8; 65536];
    let record = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let _ = vulcand.request("GET", "app.local", "/who", None).await;
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(500), traces.recv(&mut buf)).await
            {
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
    })
    .await
    .expect("a trace record within 10 s");
    assert!(record.contains("@cee:"), "{record}");

    // No visible effect: what Vulcand's API holds.
    let id = RouteKey::host("app.local").id();
    let backend = api_get(&vulcand, &format!("/v2/backends/{id}")).await;
    let settings = &backend["Settings"];
    assert_eq!(
        settings["KeepAlive"],
        json!({"Period": "30s", "MaxIdleConnsPerHost": 7}),
        "{backend}"
    );
    assert_eq!(settings["Timeouts"]["TLSHandshake"], "5s", "{backend}");
    assert_eq!(settings["Timeouts"]["Read"], "1s", "{backend}");
    assert_eq!(settings["TLS"]["InsecureSkipVerify"], true, "{backend}");
    let frontend = api_get(&vulcand, &format!("/v2/frontends/{id}")).await;
    let settings = &frontend["Settings"];
    assert_eq!(settings["Limits"]["MaxMemBodyBytes"], 4096, "{frontend}");
    assert_eq!(settings["PassHostHeader"], true, "{frontend}");
    assert_eq!(settings["TrustForwardHeader"], true, "{frontend}");
    assert_eq!(settings["Hostname"], "proxy.example.com", "{frontend}");
    assert_eq!(
        settings["FailoverPredicate"],
        r#"IsNetworkError() && RequestMethod() == "GET" && Attempts() <= 2"#,
        "{frontend}"
    );
    assert_eq!(
        middleware_ids(&vulcand, "app.local").await,
        BTreeSet::from(["havok-rewrite".into(), "havok-trace".into()])
    );

    // The typo is warned about once, and did not stop the route.
    let typo: Vec<String> = havok
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("havok.timeout.raed"))
        .map(String::from)
        .collect();
    assert_eq!(typo.len(), 1, "{typo:#?}");

    // A circuit breaker whose condition holds (most answers are 2xx) answers its fallback.
    let cb = run_httpd(
        &f.name("cb"),
        "cb",
        &[
            "-P",
            "-l",
            "havok.cbreaker.condition=ResponseCodeRatio(200, 300, 0, 600) > 0.5",
            "-l",
            "havok.cbreaker.fallback-status=503",
            "-l",
            "havok.cbreaker.fallback-body=breaker open",
            "-l",
            "havok.cbreaker.check-period=50ms",
            "-l",
            "havok.stream=true",
        ],
    );
    f.wait_urls("cb.local", &[f.url_of(&cb)]).await;
    let streamed = api_get(
        &vulcand,
        &format!("/v2/frontends/{}", RouteKey::host("cb.local").id()),
    )
    .await;
    assert_eq!(streamed["Settings"]["Stream"], true, "{streamed}");
    wait_answer(
        &vulcand,
        "the breaker's fallback",
        "cb.local",
        ("GET", "/who", None),
        |a| a.status == 503 && a.body.trim() == "breaker open",
    )
    .await;

    // A bad value refuses its container's route, with one line naming it.
    let bad = run_httpd(
        &f.name("bad"),
        "bad",
        &["-P", "-l", "havok.timeout.read=soon"],
    );
    havok.wait_full_passes(2).await;
    let refused: Vec<String> = havok
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(bad.name()))
        .map(String::from)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(
        refused[0].contains(r#"havok.timeout.read="soon""#)
            && refused[0].contains("expected a Go duration"),
        "{refused:#?}"
    );
    assert!(!f.view.snapshot().await.has_route("bad.local"));

    // Re-created with other labels: the changed setting is written, the
    // removed ones leave nothing behind.
    drop(app);
    f.wait_gone("app.local").await;
    let app = run_httpd(
        &f.name("app"),
        "app",
        &["-P", "-l", "havok.timeout.read=30s"],
    );
    f.answers_as(&app);
    f.wait_urls("app.local", &[f.url_of(&app)]).await;
    let backend = api_get(&vulcand, &format!("/v2/backends/{id}")).await;
    assert_eq!(backend["Settings"]["Timeouts"]["Read"], "30s", "{backend}");
    assert_eq!(backend["Settings"]["KeepAlive"]["Period"], "", "{backend}");
    let frontend = api_get(&vulcand, &format!("/v2/frontends/{id}")).await;
    assert_eq!(
        frontend["Settings"]["Limits"]["MaxMemBodyBytes"], 0,
        "{frontend}"
    );
    assert!(middleware_ids(&vulcand, "app.local").await.is_empty());
    let old = vulcand
        .request("GET", "app.local", "/old", None)
        .await
        .unwrap();
    assert_eq!(old.status, 404, "no redirect any more: {old:?}");
    let slow = vulcand
        .request("POST", "app.local", "/cgi-bin/slow?2", Some("x"))
        .await
        .unwrap();
    assert_eq!(slow.status, 200, "the read timeout is 30s now: {slow:?}");

    drop((app, cb, bad));
    f.wait_gone("app.local").await;
    f.wait_gone("cb.local").await;
}

per_backend!(settings_take_effect_through_vulcand);

/// How the real API takes a value havok refuses.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Api {
    /// 500, nothing written.
    Refuses,
    /// 200, and then the route is gone from the proxy (404 `not found`) and
    /// Vulcand logs that it could not build it.
    BreaksTheRoute,
    /// 200, and the route serves: Go reads a negative timeout or idle count
    /// as none, and would write any status of 100–999. havok refuses these
    /// all the same, as mistakes (HTTP's statuses are 100–599).
    Ignores,
}

/// Every kind of value havok refuses (one row per check), each posted to the
/// real Vulcand API (memng) as havok would write it: Vulcand refuses it, or
/// takes it and then cannot serve the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_match_vulcand() {
    let Some(binary) = vulcand::binary("refusals_match_vulcand") else {
        return;
    };
    let vulcand = Vulcand::start(binary, Engine::Memng).await;
    let upstream = run_httpd(&unique_name("refusals"), "", &["-P"]);
    let url = format!("http://127.0.0.1:{}", upstream.host_port(80));
    let rules = Rules::new(
        regex::Regex::new(".*").unwrap(),
        "local",
        "127.0.0.1".parse().unwrap(),
    );
    let cbreaker = |condition: &str, fallback: Value, check: i64| {
        json!({"Type": "cbreaker", "Middleware": {"Condition": condition, "Fallback": fallback,
            "FallbackDuration": 10_000_000_000i64, "RecoveryDuration": 10_000_000_000i64, "CheckPeriod": check}})
    };
    let fallback = json!({"Type": "response", "Action": {"StatusCode": 503, "Body": ""}});
    #[rustfmt::skip]
    let rows: Vec<(&str, &str, &str, Value, Api)> = vec![
        ("timeout.read", "abc", "backend", json!({"Timeouts": {"Read": "abc"}}), Api::Refuses),
        ("timeout.dial", "10", "backend", json!({"Timeouts": {"Dial": "10"}}), Api::Refuses),
        ("keepalive.period", "1 s", "backend", json!({"KeepAlive": {"Period": "1 s"}}), Api::Refuses),
        ("timeout.read", "-1s", "backend", json!({"Timeouts": {"Read": "-1s"}}), Api::Ignores),
        ("keepalive.max-idle-per-host", "-1", "backend", json!({"KeepAlive": {"MaxIdleConnsPerHost": -1}}), Api::Ignores),
        ("max-mem-body-bytes", "-1", "frontend", json!({"Limits": {"MaxMemBodyBytes": -1}}), Api::BreaksTheRoute),
        ("failover-predicate", "!IsNetworkError()", "frontend", json!({"FailoverPredicate": "!IsNetworkError()"}), Api::Refuses),
        ("max-body-bytes", "-1", "frontend", json!({"Limits": {"MaxBodyBytes": -1}}), Api::BreaksTheRoute),
        ("cbreaker.condition", "NetworkErrorRatio() > 1", "middleware",
            cbreaker("NetworkErrorRatio() > 1", fallback.clone(), 100_000_000), Api::Refuses),
        ("cbreaker.condition", "IsNetworkError()", "middleware",
            cbreaker("IsNetworkError()", fallback.clone(), 100_000_000), Api::Refuses),
        ("cbreaker.fallback-status", "700", "middleware",
            cbreaker("NetworkErrorRatio() > 0.5", json!({"Type": "response", "Action": {"StatusCode": 700, "Body": ""}}), 100_000_000),
            Api::Ignores),
        ("cbreaker.check-period", "-1s", "middleware",
            cbreaker("NetworkErrorRatio() > 0.5", fallback.clone(), -1_000_000_000), Api::Ignores),
        ("rewrite.regexp", "(?<n>a)", "middleware",
            json!({"Type": "rewrite", "Middleware": {"Regexp": "(?<n>a)", "Replacement": "", "RewriteBody": false, "Redirect": false}}),
            Api::BreaksTheRoute),
        ("trace.addr", "udp://127.0.0.1:514", "middleware",
            json!({"Type": "trace", "Middleware": {"Addr": "udp://127.0.0.1:514"}}), Api::Refuses),
        ("trace.addr", "syslog://no-such-host.invalid:514", "middleware",
            json!({"Type": "trace", "Middleware": {"Addr": "syslog://no-such-host.invalid:514"}}), Api::Refuses),
    ];
    let mut seen = Vec::new();
    for (i, (key, value, object, posted, expected)) in rows.into_iter().enumerate() {
        // havok refuses the value, naming the label and the value.
        let container = Container {
            id: format!("{i:064}"),
            name: format!("web-{i}"),
            hostname: "web".into(),
            running: true,
            ports: vec![Port {
                port: 80,
                protocol: "tcp".into(),
                bindings: vec![("0.0.0.0".into(), 8080)],
            }],
            labels: [(format!("havok.{key}"), value.to_string())].into(),
            ..Container::default()
        };
        // The unresolvable host is Vulcand's to find: havok checks the form only.
        let dns_only = value.contains(".invalid");
        match route_container(&container, &rules, "n1") {
            Verdict::Refused(Refusal::BadSetting {
                label, value: v, ..
            }) if !dns_only => {
                assert_eq!(
                    (label.as_str(), v.as_str()),
                    (format!("havok.{key}").as_str(), value)
                );
            }
            other if dns_only => assert!(matches!(other, Verdict::Routed(_)), "{other:?}"),
            other => panic!("havok.{key}={value:?}: {other:?}"),
        }
        // The real API.
        let host = format!("r{i}.local");
        let id = format!("r{i}");
        let route = format!("Host(`{host}`) && PathRegexp(`/.*`)");
        let (backend_settings, frontend_settings, middleware) = match object {
            "backend" => (Some(posted), None, None),
            "frontend" => (None, Some(posted), None),
            _ => (None, None, Some(posted)),
        };
        let mut backend = json!({"Id": id, "Type": "http"});
        if let Some(s) = backend_settings {
            backend["Settings"] = s;
        }
        let mut statuses = vec![post(&vulcand, "/v2/backends", json!({"Backend": backend})).await];
        statuses.push(
            post(
                &vulcand,
                &format!("/v2/backends/{id}/servers"),
                json!({"Server": {"Id": "s1", "URL": url}}),
            )
            .await,
        );
        let mut frontend = json!({"Id": id, "Type": "http", "BackendId": id, "Route": route});
        if let Some(s) = frontend_settings {
            frontend["Settings"] = s;
        }
        statuses.push(
            post(
                &vulcand,
                "/v2/frontends",
                json!({"Frontend": frontend, "TTL": ""}),
            )
            .await,
        );
        if let Some(mut m) = middleware {
            m["Id"] = json!("m1");
            m["Priority"] = json!(1);
            statuses.push(
                post(
                    &vulcand,
                    &format!("/v2/frontends/{id}/middlewares"),
                    json!({"Middleware": m}),
                )
                .await,
            );
        }
        let refused = statuses.iter().any(|(status, _)| *status == 500);
        let answer = vulcand.request("GET", &host, "/who", None).await.unwrap();
        let broken = !refused && answer.status == 404 && answer.body.contains("not found");
        let api = match (refused, broken, answer.status) {
            (true, _, _) => Some(Api::Refuses),
            (false, true, _) => Some(Api::BreaksTheRoute),
            (false, false, 200) => Some(Api::Ignores),
            _ => None,
        };
        let ok = if api == Some(expected) {
            "ok"
        } else {
            "UNEXPECTED"
        };
        let mut line = format!(
            "{ok}: havok.{key}={value:?}: want {expected:?}, got {api:?}: {statuses:?}, proxy {} {}",
            answer.status,
            answer.body.trim()
        );
        line.truncate(600);
        seen.push(line);
    }
    assert!(
        !seen.iter().any(|l| l.starts_with("UNEXPECTED")),
        "{}",
        seen.join("\n")
    );
    // Every value Vulcand took and could not use is named in its log.
    let log = vulcand.log_text();
    assert!(log.contains("failed to"), "{log}");
    drop(upstream);
}

/// POSTs JSON to Vulcand's API: (status, body).
async fn post(vulcand: &Vulcand, path: &str, body: Value) -> (u16, String) {
    let url = format!("{}{path}", vulcand.api_url());
    let text = body.to_string();
    let answer = http(
        "POST",
        &url,
        &[("Content-Type", "application/json")],
        Some(&text),
    )
    .await
    .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (answer.status, answer.body.trim().to_string())
}
