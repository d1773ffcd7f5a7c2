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

fn web(name: &str, hostname: &str) -> Container {
    Container {
        id: ID.into(),
        name: name.into(),
        hostname: hostname.into(),
        running: true,
        ports: vec![Port {
            port: 80,
            protocol: "tcp".into(),
            bindings: vec![("0.0.0.0".into(), 32768), ("::".into(), 32768)],
        }],
        ..Container::default()
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

/// Each row: a container and the (route, url) pairs it must become.
#[test]
fn containers_become_routes() {
    type Row = (
        &'static str,
        Container,
        Rules,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Row> = vec![
        (
            "hostname and root domain",
            web("web-1", "foo"),
            rules(),
            vec![("foo.local", "http://127.0.0.1:32768")],
        ),
        (
            "host name is lower-cased",
            web("web-1", "FoO"),
            rules(),
            vec![("foo.local", "http://127.0.0.1:32768")],
        ),
        (
            "hostname.domainname equal to the root domain is the root domain",
            Container {
                domainname: "com".into(),
                ..web("web-1", "example")
            },
            Rules::new(
                Regex::new(".*").unwrap(),
                "example.com",
                "10.0.0.1".parse().unwrap(),
            ),
            vec![("example.com", "http://10.0.0.1:32768")],
        ),
        (
            "other domainname is ignored",
            Container {
                domainname: "corp".into(),
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://127.0.0.1:32768")],
        ),
        (
            "default hostname uses the DNS-safe container name",
            web("web_proj_1", &ID[..12]),
            Rules {
                names: Regex::new(".*").unwrap(),
                ..rules()
            },
            vec![("web-proj-1.local", "http://127.0.0.1:32768")],
        ),
        (
            "specific binding address is used as it is",
            Container {
                ports: vec![Port {
                    port: 80,
                    protocol: "tcp".into(),
                    bindings: vec![("192.168.5.5".into(), 4000)],
                }],
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://192.168.5.5:4000")],
        ),
        (
            "IPv6-only specific binding is bracketed",
            Container {
                ports: vec![Port {
                    port: 80,
                    protocol: "tcp".into(),
                    bindings: vec![("::1".into(), 4000)],
                }],
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://[::1]:4000")],
        ),
        (
            "IPv4 binding wins over IPv6",
            Container {
                ports: vec![Port {
                    port: 80,
                    protocol: "tcp".into(),
                    bindings: vec![("::1".into(), 4001), ("127.0.0.2".into(), 4000)],
                }],
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://127.0.0.2:4000")],
        ),
        (
            "lowest container port wins",
            Container {
                ports: vec![
                    Port {
                        port: 8080,
                        protocol: "tcp".into(),
                        bindings: vec![("0.0.0.0".into(), 5001)],
                    },
                    Port {
                        port: 443,
                        protocol: "tcp".into(),
                        bindings: vec![("0.0.0.0".into(), 5002)],
                    },
                    Port {
                        port: 53,
                        protocol: "udp".into(),
                        bindings: vec![("0.0.0.0".into(), 5003)],
                    },
                    Port {
                        port: 22,
                        protocol: "tcp".into(),
                        bindings: vec![],
                    },
                ],
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://127.0.0.1:5002")],
        ),
        (
            "havok.port picks a port",
            with_label(
                Container {
                    ports: vec![
                        Port {
                            port: 8080,
                            protocol: "tcp".into(),
                            bindings: vec![("0.0.0.0".into(), 5001)],
                        },
                        Port {
                            port: 443,
                            protocol: "tcp".into(),
                            bindings: vec![("0.0.0.0".into(), 5002)],
                        },
                    ],
                    ..web("web-1", "foo")
                },
                labels::PORT,
                "8080",
            ),
            rules(),
            vec![("foo.local", "http://127.0.0.1:5001")],
        ),
        (
            "havok.host names several hosts",
            with_label(
                web("web-1", "foo"),
                labels::HOST,
                "a.local, B.a.local,a.local",
            ),
            rules(),
            vec![
                ("a.local", "http://127.0.0.1:32768"),
                ("b.a.local", "http://127.0.0.1:32768"),
            ],
        ),
        (
            "havok.host may name any host with --allow-any-host",
            with_label(web("web-1", "foo"), labels::HOST, "x.example.com"),
            Rules {
                allow_any_host: true,
                ..rules()
            },
            vec![("x.example.com", "http://127.0.0.1:32768")],
        ),
        (
            "havok.path routes a prefix",
            with_label(web("web-1", "foo"), labels::PATH, "/api/"),
            rules(),
            vec![("foo.local/api", "http://127.0.0.1:32768")],
        ),
        (
            "havok.scheme=https",
            with_label(web("web-1", "foo"), labels::SCHEME, "https"),
            rules(),
            vec![("foo.local", "https://127.0.0.1:32768")],
        ),
        (
            "--network routes to the container address and port",
            Container {
                networks: [("backend".to_string(), "172.20.0.5".parse().unwrap())].into(),
                ..web("web-1", "foo")
            },
            Rules {
                network: Some("backend".into()),
                ..rules()
            },
            vec![("foo.local", "http://172.20.0.5:80")],
        ),
        (
            "havok.network routes an unpublished port",
            with_label(
                Container {
                    ports: vec![Port {
                        port: 9000,
                        protocol: "tcp".into(),
                        bindings: vec![],
                    }],
                    networks: [("n1".to_string(), "fd00::5".parse().unwrap())].into(),
                    ..web("web-1", "foo")
                },
                labels::NETWORK,
                "n1",
            ),
            rules(),
            vec![("foo.local", "http://[fd00::5]:9000")],
        ),
        (
            "explicit havok.enable=true",
            with_label(web("web-1", "foo"), labels::ENABLE, "true"),
            Rules {
                exposed_by_default: false,
                ..rules()
            },
            vec![("foo.local", "http://127.0.0.1:32768")],
        ),
        (
            "healthy container is routed",
            Container {
                health: Health::Healthy,
                ..web("web-1", "foo")
            },
            rules(),
            vec![("foo.local", "http://127.0.0.1:32768")],
        ),
    ];
    for (what, container, rules, want) in cases {
        let got = routed(&route_container(&container, &rules, "node-a"));
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        assert_eq!(got, want, "{what}");
    }
}

/// Each row: a container the model must ignore silently.
#[test]
fn containers_ignored() {
    let cases: Vec<(&str, Container, Rules)> = vec![
        (
            "not running",
            Container {
                running: false,
                ..web("web-1", "foo")
            },
            rules(),
        ),
        ("name does not match", web("db-1", "foo"), rules()),
        (
            "label filter",
            web("web-1", "foo"),
            Rules {
                label_filters: vec![("team".into(), "a".into())],
                ..rules()
            },
        ),
        (
            "label filter value differs",
            with_label(web("web-1", "foo"), "team", "b"),
            Rules {
                label_filters: vec![("team".into(), "a".into())],
                ..rules()
            },
        ),
        (
            "opted out",
            with_label(web("web-1", "foo"), labels::ENABLE, "false"),
            rules(),
        ),
        (
            "not opted in",
            web("web-1", "foo"),
            Rules {
                exposed_by_default: false,
                ..rules()
            },
        ),
        (
            "health starting",
            Container {
                health: Health::Starting,
                ..web("web-1", "foo")
            },
            rules(),
        ),
        (
            "unhealthy",
            Container {
                health: Health::Unhealthy,
                ..web("web-1", "foo")
            },
            rules(),
        ),
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
    let mut cases_owned: Vec<(String, Container, Rules, &str)> = Vec::new();
    let cases: Vec<(&str, Container, Rules, &str)> = vec![
        (
            "backquote and route injection",
            web("web-1", "x`) || Host(`victim.local"),
            rules(),
            "host name",
        ),
        ("space", web("web-1", "a b"), rules(), "host name"),
        (
            "slash escapes the key prefix",
            web("web-1", "x/y"),
            rules(),
            "host name",
        ),
        ("quote", web("web-1", "a\"b"), rules(), "host name"),
        (
            "control character",
            web("web-1", "a\nb"),
            rules(),
            "host name",
        ),
        (
            "label longer than 63",
            web("web-1", &long),
            rules(),
            "host name",
        ),
        ("leading hyphen", web("web-1", "-foo"), rules(), "host name"),
        (
            "too long in all",
            with_label(
                web("web-1", "foo"),
                labels::HOST,
                &format!("{}.local", ["abcdefghij"; 25].join(".")),
            ),
            rules(),
            "label havok.host=",
        ),
        (
            "no published port",
            Container {
                ports: vec![],
                ..web("web-1", "foo")
            },
            rules(),
            "no published TCP port",
        ),
        (
            "udp only",
            Container {
                ports: vec![Port {
                    port: 53,
                    protocol: "udp".into(),
                    bindings: vec![("0.0.0.0".into(), 53)],
                }],
                ..web("web-1", "foo")
            },
            rules(),
            "no published TCP port",
        ),
        (
            "not on network",
            web("web-1", "foo"),
            Rules {
                network: Some("nope".into()),
                ..rules()
            },
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
