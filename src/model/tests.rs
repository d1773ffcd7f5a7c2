//! The model's table-driven tests: containers in, verdicts and route tables out.

use regex::Regex;

use super::*;
use crate::ids::RouteKey;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn rules() -> Rules {
    Rules::new(
        Regex::new("^web-").unwrap(),
        "local",
        "127.0.0.1".parse().unwrap(),
    )
}

/// A container port and its host bindings.
fn port(port: u16, protocol: &str, bindings: &[(&str, u16)]) -> Port {
    Port {
        port,
        protocol: protocol.into(),
        bindings: bindings.iter().map(|&(ip, p)| (ip.into(), p)).collect(),
    }
}

fn web(name: &str, hostname: &str) -> Container {
    Container {
        id: ID.into(),
        name: name.into(),
        hostname: hostname.into(),
        running: true,
        ports: vec![port(80, "tcp", &[("0.0.0.0", 32768), ("::", 32768)])],
        ..Container::default()
    }
}

/// `web-1` as `foo` with these ports.
fn web_ports(ports: Vec<Port>) -> Container {
    Container {
        ports,
        ..web("web-1", "foo")
    }
}

fn with_label(mut c: Container, key: &str, value: &str) -> Container {
    c.labels.insert(key.into(), value.into());
    c
}

fn routed(v: &Verdict) -> Vec<(String, String)> {
    match v {
        Verdict::Routed(list) => list
            .iter()
            .map(|(spec, server)| (spec.key.to_string(), server.url.clone()))
            .collect(),
        other => panic!("expected a route, got {other:?}"),
    }
}

/// The rules of `rules()` with `edit` applied.
fn rules_with(edit: impl FnOnce(&mut Rules)) -> Rules {
    let mut r = rules();
    edit(&mut r);
    r
}

/// `c` with `edit` applied.
fn edited(mut c: Container, edit: impl FnOnce(&mut Container)) -> Container {
    edit(&mut c);
    c
}

/// `c` attached to the Docker network `name` at `ip`.
fn on_network(c: Container, name: &str, ip: &str) -> Container {
    edited(c, |c| {
        c.networks.insert(name.into(), ip.parse().unwrap());
    })
}

/// `web-1` as `foo` with one label.
fn foo_with(key: &str, value: &str) -> Container {
    with_label(web("web-1", "foo"), key, value)
}

/// Each row: a container and the (route, url) pairs it must become.
#[test]
fn containers_become_routes() {
    type Row = (
        &'static str,
        Container,
        Rules,
        &'static [(&'static str, &'static str)],
    );
    const URL: &str = "http://127.0.0.1:32768";
    let foo = web("web-1", "foo");
    let bound = |bindings: &[(&str, u16)]| web_ports(vec![port(80, "tcp", bindings)]);
    let p8080 = port(8080, "tcp", &[("0.0.0.0", 5001)]);
    let p443 = port(443, "tcp", &[("0.0.0.0", 5002)]);
    let some_ports = vec![
        p8080.clone(),
        p443.clone(),
        port(53, "udp", &[("0.0.0.0", 5003)]),
        port(22, "tcp", &[]),
    ];
    let example = Rules::new(
        Regex::new(".*").unwrap(),
        "example.com",
        "10.0.0.1".parse().unwrap(),
    );
    let unpublished = on_network(web_ports(vec![port(9000, "tcp", &[])]), "n1", "fd00::5");
    #[rustfmt::skip]
    let cases: Vec<Row> = vec![
        ("hostname and root domain", foo.clone(), rules(), &[("foo.local", URL)]),
        ("host name is lower-cased", web("web-1", "FoO"), rules(), &[("foo.local", URL)]),
        (
            "hostname.domainname equal to the root domain is the root domain",
            edited(web("web-1", "example"), |c| c.domainname = "com".into()),
            example,
            &[("example.com", "http://10.0.0.1:32768")],
        ),
        ("other domainname is ignored", edited(foo.clone(), |c| c.domainname = "corp".into()), rules(), &[("foo.local", URL)]),
        (
            "default hostname uses the DNS-safe container name",
            web("web_proj_1", &ID[..12]),
            rules_with(|r| r.names = Regex::new(".*").unwrap()),
            &[("web-proj-1.local", URL)],
        ),
        ("specific binding address is used as it is", bound(&[("192.168.5.5", 4000)]), rules(), &[("foo.local", "http://192.168.5.5:4000")]),
        ("IPv6-only specific binding is bracketed", bound(&[("::1", 4000)]), rules(), &[("foo.local", "http://[::1]:4000")]),
        ("IPv4 binding wins over IPv6", bound(&[("::1", 4001), ("127.0.0.2", 4000)]), rules(), &[("foo.local", "http://127.0.0.2:4000")]),
        ("lowest container port wins", web_ports(some_ports), rules(), &[("foo.local", "http://127.0.0.1:5002")]),
        ("havok.port picks a port", with_label(web_ports(vec![p8080, p443]), labels::PORT, "8080"), rules(), &[("foo.local", "http://127.0.0.1:5001")]),
        ("havok.host names several hosts", foo_with(labels::HOST, "a.local, B.a.local,a.local"), rules(), &[("a.local", URL), ("b.a.local", URL)]),
        (
            "havok.host may name any host with --allow-any-host",
            foo_with(labels::HOST, "x.example.com"),
            rules_with(|r| r.allow_any_host = true),
            &[("x.example.com", URL)],
        ),
        ("havok.path routes a prefix", foo_with(labels::PATH, "/api/"), rules(), &[("foo.local/api", URL)]),
        ("havok.scheme=https", foo_with(labels::SCHEME, "https"), rules(), &[("foo.local", "https://127.0.0.1:32768")]),
        (
            "--network routes to the container address and port",
            on_network(foo.clone(), "backend", "172.20.0.5"),
            rules_with(|r| r.network = Some("backend".into())),
            &[("foo.local", "http://172.20.0.5:80")],
        ),
        ("havok.network routes an unpublished port", with_label(unpublished, labels::NETWORK, "n1"), rules(), &[("foo.local", "http://[fd00::5]:9000")]),
        ("explicit havok.enable=true", foo_with(labels::ENABLE, "true"), rules_with(|r| r.exposed_by_default = false), &[("foo.local", URL)]),
        ("healthy container is routed", edited(foo, |c| c.health = Health::Healthy), rules(), &[("foo.local", URL)]),
    ];
    for (what, container, rules, want) in cases {
        let got = routed(&route_container(&container, &rules, "node-a"));
        let want: Vec<(String, String)> = want.iter().map(|&(a, b)| (a.into(), b.into())).collect();
        assert_eq!(got, want, "{what}");
    }
}

/// Each row: a container the model must ignore silently.
#[test]
fn containers_ignored() {
    let foo = web("web-1", "foo");
    let team_a = || rules_with(|r| r.label_filters = vec![("team".into(), "a".into())]);
    #[rustfmt::skip]
    let cases: Vec<(&str, Container, Rules)> = vec![
        ("not running", edited(foo.clone(), |c| c.running = false), rules()),
        ("name does not match", web("db-1", "foo"), rules()),
        ("label filter", foo.clone(), team_a()),
        ("label filter value differs", with_label(foo.clone(), "team", "b"), team_a()),
        ("opted out", foo_with(labels::ENABLE, "false"), rules()),
        ("not opted in", foo.clone(), rules_with(|r| r.exposed_by_default = false)),
        ("health starting", edited(foo.clone(), |c| c.health = Health::Starting), rules()),
        ("unhealthy", edited(foo, |c| c.health = Health::Unhealthy), rules()),
    ];
    for (what, container, rules) in cases {
        let v = route_container(&container, &rules, "node-a");
        assert!(matches!(v, Verdict::Ignored(_)), "{what}: {v:?}");
    }
}

/// Each row: a container the model must refuse, and the start of the warning.
#[test]
fn containers_refused() {
    let long = "a".repeat(64);
    let too_long = format!("{}.local", ["abcdefghij"; 25].join("."));
    let udp_only = web_ports(vec![port(53, "udp", &[("0.0.0.0", 53)])]);
    let mut cases_owned: Vec<(String, Container, Rules, &str)> = Vec::new();
    #[rustfmt::skip]
    let cases: Vec<(&str, Container, Rules, &str)> = vec![
        ("backquote and route injection", web("web-1", "x`) || Host(`victim.local"), rules(), "host name"),
        ("space", web("web-1", "a b"), rules(), "host name"),
        ("slash escapes the key prefix", web("web-1", "x/y"), rules(), "host name"),
        ("quote", web("web-1", "a\"b"), rules(), "host name"),
        ("control character", web("web-1", "a\nb"), rules(), "host name"),
        ("label longer than 63", web("web-1", &long), rules(), "host name"),
        ("leading hyphen", web("web-1", "-foo"), rules(), "host name"),
        ("too long in all", foo_with(labels::HOST, &too_long), rules(), "label havok.host="),
        ("no published port", web_ports(vec![]), rules(), "no published TCP port"),
        ("udp only", udp_only, rules(), "no published TCP port"),
        (
            "not on network",
            web("web-1", "foo"),
            rules_with(|r| r.network = Some("nope".into())),
            "not attached to network \"nope\"",
        ),
    ];
    // Each row: one bad label on an otherwise routable container.
    let bad_labels: [(&str, &str, &str); 9] = [
        (
            labels::HOST,
            "victim.example.com",
            "host name \"victim.example.com\" from label",
        ), // foreign host
        (
            labels::HOST,
            "ok.local,bad`.local",
            "label havok.host=\"bad`.local\": expected",
        ), // bad havok.host entry
        (labels::PORT, "81", "container port 81/tcp"), // havok.port not published
        (labels::PORT, "http", "label havok.port=\"http\""), // havok.port not a number
        (labels::ENABLE, "yes", "label havok.enable=\"yes\""), // havok.enable garbage
        (labels::SCHEME, "ftp", "label havok.scheme=\"ftp\""), // havok.scheme garbage
        (labels::PATH, "/a`b", "label havok.path"),    // havok.path with backquote
        (labels::PATH, "api", "label havok.path"),     // havok.path relative
        (labels::RATE_LIMIT, "-1", "label havok.rate-limit"), // havok.rate-limit garbage
    ];
    for (label, value, want) in bad_labels {
        let what = format!("{label}={value}");
        cases_owned.push((
            what,
            with_label(web("web-1", "foo"), label, value),
            rules(),
            want,
        ));
    }
    for (what, container, rules, want) in cases
        .into_iter()
        .map(|(w, c, r, want)| (w.to_string(), c, r, want))
        .chain(cases_owned)
    {
        match route_container(&container, &rules, "node-a") {
            Verdict::Refused(r) => assert!(r.to_string().starts_with(want), "{what}: {r}"),
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
}

/// Labels override the flags' middlewares; 0 turns one off.
#[test]
fn limits_from_flags_and_labels() {
    let mut r = rules();
    r.limits.rate = Some(RateLimit {
        requests: 10,
        burst: 5,
        variable: "client.ip".into(),
    });
    let spec = |c: &Container, r: &Rules| match route_container(c, r, "n") {
        Verdict::Routed(list) => list[0].0.limits.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(spec(&web("web-1", "foo"), &r).rate.unwrap().requests, 10);
    let c = with_label(web("web-1", "foo"), labels::RATE_LIMIT, "3");
    assert_eq!(
        spec(&c, &r).rate,
        Some(RateLimit {
            requests: 3,
            burst: 5,
            variable: "client.ip".into()
        })
    );
    let c = with_label(web("web-1", "foo"), labels::RATE_LIMIT, "0");
    assert_eq!(spec(&c, &r).rate, None);
    let c = with_label(web("web-1", "foo"), labels::CONN_LIMIT, "7");
    assert_eq!(
        spec(&c, &r).conn,
        Some(ConnLimit {
            connections: 7,
            variable: "client.ip".into()
        })
    );
}

/// Server ids differ across nodes and containers; one container on two hosts is one id.
#[test]
fn server_ids_are_per_node_and_container() {
    let c = with_label(web("web-1", "foo"), labels::HOST, "a.local,b.local");
    let Verdict::Routed(a) = route_container(&c, &rules(), "node-a") else {
        panic!()
    };
    let Verdict::Routed(b) = route_container(&c, &rules(), "node-b") else {
        panic!()
    };
    assert_eq!(a[0].1.id, a[1].1.id);
    assert_ne!(a[0].1.id, b[0].1.id);
    assert!(a[0].1.id.owned_by("node-a") && !a[0].1.id.owned_by("node-b"));
}

/// Two containers on one host make one route with two servers; settings conflicts are kept for a warning.
#[test]
fn table_groups_servers_by_route() {
    let r = rules();
    let mut all = Vec::new();
    for (name, rate) in [("web-2", Some("5")), ("web-1", None)] {
        let mut c = web(name, "foo");
        if let Some(rate) = rate {
            c = with_label(c, labels::RATE_LIMIT, rate);
        }
        let Verdict::Routed(list) = route_container(&c, &r, "n") else {
            panic!()
        };
        all.extend(list);
    }
    let table = RouteTable::build(&all);
    let entry = &table.routes[&RouteKey::host("foo.local")];
    assert_eq!(entry.servers.len(), 2);
    assert_eq!(
        entry.spec.limits,
        Limits::default(),
        "web-1 sorts first and wins"
    );
    assert_eq!(entry.conflicts.len(), 1);
    assert_eq!(entry.conflicts[0].0, "web-2");
    assert_eq!(table.server_count(), 2);
}

/// Containers that ask one route for other settings conflict as for limits:
/// the first by name wins, the other is named with what it wanted.
#[test]
fn table_conflicts_over_settings() {
    let routed = |c: Container| match route_container(&c, &rules(), "n") {
        Verdict::Routed(list) => list,
        other => panic!("{other:?}"),
    };
    let mut all = routed(with_label(web("web-1", "foo"), "havok.timeout.read", "5s"));
    all.extend(routed(with_label(
        web("web-2", "foo"),
        "havok.timeout.read",
        "9s",
    )));
    all.extend(routed(with_label(
        web("web-3", "foo"),
        "havok.timeout.read",
        "5s",
    )));
    let table = RouteTable::build(&all);
    let entry = &table.routes[&RouteKey::host("foo.local")];
    assert_eq!(entry.spec.settings.backend.timeout_read, "5s");
    assert_eq!(entry.conflicts.len(), 1);
    assert_eq!(entry.conflicts[0].0, "web-2");
    assert_eq!(entry.conflicts[0].1.settings.backend.timeout_read, "9s");
}

/// The table is JSON (`/routes`, `havok routes --json`), keyed by `host` or `host/path`.
#[test]
fn table_serializes_to_json() {
    let mut all = Vec::new();
    for c in [
        web("web-1", "foo"),
        with_label(web("web-2", "foo"), labels::PATH, "/api"),
    ] {
        let Verdict::Routed(list) = route_container(&c, &rules(), "n") else {
            panic!()
        };
        all.extend(list);
    }
    let json = serde_json::to_value(RouteTable::build(&all)).unwrap();
    let routes = json["routes"].as_object().unwrap();
    let keys: Vec<&str> = routes.keys().map(String::as_str).collect();
    assert_eq!(keys, ["foo.local", "foo.local/api"]);
    assert_eq!(routes["foo.local/api"]["spec"]["key"]["path"], "/api");
}

/// `c` with these labels.
fn labelled(mut c: Container, pairs: &[(&str, &str)]) -> Container {
    for (k, v) in pairs {
        c.labels.insert(k.to_string(), v.to_string());
    }
    c
}

/// `web-1` as `foo` publishing 8080 (on 5001) and 9090 (on 5002).
fn two_ports() -> Container {
    web_ports(vec![
        port(8080, "tcp", &[("0.0.0.0", 5001)]),
        port(9090, "tcp", &[("0.0.0.0", 5002)]),
    ])
}

/// Each row: a container with named routes (`havok.routes.<name>.<key>`),
/// the (route, url) pairs routed, and the start of the warning if any.
#[test]
fn named_routes() {
    const WEB: &str = "http://127.0.0.1:5001";
    const ADMIN: &str = "http://127.0.0.1:5002";
    type Case<'a> = (
        &'a str,
        Container,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
    );
    #[rustfmt::skip]
    let cases: Vec<Case> = vec![
        (
            "the issue's example: web on the default host, admin on its own",
            labelled(two_ports(), &[
                ("havok.routes.web.port", "8080"),
                ("havok.routes.admin.port", "9090"),
                ("havok.routes.admin.host", "admin.example.local"),
            ]),
            &[("admin.example.local", ADMIN), ("foo.local", WEB)],
            None,
        ),
        (
            "a named route's path and scheme are its own",
            labelled(two_ports(), &[
                ("havok.routes.web.port", "8080"),
                ("havok.routes.api.port", "9090"),
                ("havok.routes.api.path", "/api"),
                ("havok.routes.api.scheme", "https"),
            ]),
            &[("foo.local/api", "https://127.0.0.1:5002"), ("foo.local", WEB)],
            None,
        ),
        (
            "havok.enable goes with named routes",
            labelled(two_ports(), &[("havok.enable", "true"), ("havok.routes.web.port", "8080")]),
            &[("foo.local", WEB)],
            None,
        ),
        (
            "a bad value refuses its route only, naming its label",
            labelled(two_ports(), &[
                ("havok.routes.web.port", "8080"),
                ("havok.routes.admin.port", "nine"),
                ("havok.routes.admin.host", "admin.local"),
            ]),
            &[("foo.local", WEB)],
            Some("route \"admin\": label havok.routes.admin.port=\"nine\""),
        ),
        (
            "an unpublished port refuses its route only",
            labelled(two_ports(), &[
                ("havok.routes.web.port", "8080"),
                ("havok.routes.db.port", "5432"),
                ("havok.routes.db.host", "db.local"),
            ]),
            &[("foo.local", WEB)],
            Some("route \"db\": container port 5432/tcp named by havok.port is not published"),
        ),
        (
            "two routes on one host and path: the first by name keeps it",
            labelled(two_ports(), &[("havok.routes.b.port", "9090"), ("havok.routes.a.port", "8080")]),
            &[("foo.local", WEB)],
            Some("routes \"a\" and \"b\" both ask for foo.local"),
        ),
    ];
    for (what, container, want, warning) in cases {
        let verdict = route_container(&container, &rules(), "node-a");
        let (list, why) = match verdict {
            Verdict::Routed(list) => (list, None),
            Verdict::RoutedWithWarning(list, why) => (list, Some(why.to_string())),
            other => panic!("{what}: expected routes, got {other:?}"),
        };
        let got: Vec<(String, String)> = list
            .iter()
            .map(|(spec, server)| (spec.key.to_string(), server.url.clone()))
            .collect();
        let want: Vec<(String, String)> = want.iter().map(|&(a, b)| (a.into(), b.into())).collect();
        assert_eq!(got, want, "{what}");
        match (warning, why) {
            (None, None) => {}
            (Some(w), Some(why)) => assert!(why.starts_with(w), "{what}: {why}"),
            (w, why) => panic!("{what}: warning {why:?}, expected {w:?}"),
        }
    }
}

/// Each row: named-route labels that refuse the whole container, and the warning's start.
#[test]
fn named_routes_refused() {
    #[rustfmt::skip]
    let cases: Vec<(&str, Container, &str)> = vec![
        (
            "mixing both forms",
            labelled(two_ports(), &[("havok.port", "8080"), ("havok.routes.admin.port", "9090")]),
            "labels havok.port and havok.routes.admin.* mix",
        ),
        (
            "a name with a capital",
            labelled(two_ports(), &[("havok.routes.Web.port", "8080")]),
            "label havok.routes.Web.port=\"8080\": expected a label havok.routes.<name>.<key>",
        ),
        (
            "a name without a key",
            labelled(two_ports(), &[("havok.routes.web", "8080")]),
            "label havok.routes.web=",
        ),
        (
            "every route refused",
            labelled(two_ports(), &[("havok.routes.a.port", "1"), ("havok.routes.b.port", "2")]),
            "route \"a\": container port 1/tcp named by havok.port is not published; route \"b\"",
        ),
    ];
    for (what, container, want) in cases {
        match route_container(&container, &rules(), "node-a") {
            Verdict::Refused(why) => {
                let why = why.to_string();
                assert!(why.starts_with(want), "{what}: {why}");
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
    }
    // A bad setting of a named route refuses that route alone, naming its
    // label; a typo is warned about and the route kept.
    let container = labelled(
        two_ports(),
        &[
            ("havok.routes.web.port", "8080"),
            ("havok.routes.web.timeout.raed", "1s"),
            ("havok.routes.admin.port", "9090"),
            ("havok.routes.admin.timeout.read", "soon"),
        ],
    );
    match route_container(&container, &rules(), "node-a") {
        Verdict::RoutedWithWarning(routed, why) => {
            assert_eq!(routed.len(), 1);
            let why = why.to_string();
            assert!(
                why.contains(r#"label havok.routes.admin.timeout.read="soon": not a Go duration"#),
                "{why}"
            );
            assert!(
                why.contains("label havok.routes.web.timeout.raed is not one havok knows"),
                "{why}"
            );
        }
        other => panic!("expected the web route with a warning, got {other:?}"),
    }
}
