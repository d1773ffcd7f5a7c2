//! Unit tests of the layers and the section builders.

use super::*;
use figment::Jail;

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["havok"];
    all.extend_from_slice(args);
    Cli::parse_args(all).unwrap()
}

fn raw(args: &[&str]) -> RawConfig {
    Config::figment(&cli(args)).unwrap().extract().unwrap()
}

/// Each layer beats the one below it; a flag the user did not type beats nothing.
#[test]
fn precedence() {
    Jail::expect_with(|jail| {
        jail.create_file("havok.toml", "root_domain = \"file.example\"\nnames = \"^file-\"\nhost_ip = \"10.0.0.1\"\nttl = \"20s\"")?;
        // defaults only
        assert_eq!(raw(&[]).root_domain, "local");
        assert_eq!(raw(&[]).names, ".*");
        // file beats defaults
        let r = raw(&["--config", "havok.toml"]);
        assert_eq!(
            (r.root_domain.as_str(), r.names.as_str(), r.ttl.as_str()),
            ("file.example", "^file-", "20s")
        );
        // environment beats the file
        jail.set_env("HAVOK_ROOT_DOMAIN", "env.example");
        jail.set_env("HAVOK_TTL", "40s");
        let r = raw(&["--config", "havok.toml"]);
        assert_eq!(
            (r.root_domain.as_str(), r.names.as_str(), r.ttl.as_str()),
            ("env.example", "^file-", "40s")
        );
        // flags beat the environment; untyped flags leave file and env alone
        let r = raw(&["--config", "havok.toml", "-root-domain", "flag.example"]);
        assert_eq!(r.root_domain, "flag.example");
        assert_eq!(r.names, "^file-");
        assert_eq!(r.host_ip, "10.0.0.1");
        assert_eq!(r.ttl, "40s");
        Ok(())
    });
}

/// Environment values that look like numbers or lists still work.
#[test]
fn environment_values() {
    Jail::expect_with(|jail| {
        jail.set_env("HAVOK_NODE_ID", "7");
        jail.set_env("HAVOK_LABEL_FILTER", "team=web,tier=front");
        jail.set_env("HAVOK_EXPOSED_BY_DEFAULT", "false");
        jail.set_env("HAVOK_ETCD_MACHINES", "http://a:2379,http://b:2379");
        // One setting per line: a value may hold commas.
        jail.set_env(
            "HAVOK_ROUTE_DEFAULT",
            "timeout.read=30s\ncbreaker.condition=ResponseCodeRatio(500, 600, 0, 600) > 0.5",
        );
        let c = Config::load(&cli(&[])).unwrap();
        assert_eq!(
            c.rules
                .route_defaults
                .get("cbreaker.condition")
                .map(String::as_str),
            Some("ResponseCodeRatio(500, 600, 0, 600) > 0.5")
        );
        assert_eq!(c.rules.route_defaults.len(), 2);
        assert_eq!(c.node_id.as_deref(), Some("7"));
        assert_eq!(
            c.rules.label_filters,
            vec![
                ("team".into(), "web".into()),
                ("tier".into(), "front".into())
            ]
        );
        assert!(!c.rules.exposed_by_default);
        assert_eq!(c.store.etcd_machines, "http://a:2379,http://b:2379");
        Ok(())
    });
}

/// Documented defaults.
#[test]
fn defaults() {
    Jail::expect_with(|jail| {
        jail.set_env("DOCKER_HOST", "");
        let c = Config::load(&cli(&[])).unwrap();
        assert_eq!(c.docker, "unix:///var/run/docker.sock");
        assert_eq!(c.backend, None);
        assert_eq!(c.store.etcd_machines, "http://127.0.0.1:2379");
        assert_eq!(c.store.etcd_prefix, "vulcand");
        assert_eq!(c.store.state_prefix, "havok");
        assert_eq!(c.store.etcd_max_txn_ops, ETCD_MAX_TXN_OPS);
        assert_eq!(c.rules.root_domain, "local");
        assert_eq!(c.rules.host_ip.to_string(), "127.0.0.1");
        assert_eq!(c.rules.names.as_str(), ".*");
        assert_eq!(c.ttl, Duration::from_secs(30));
        assert_eq!(c.resync_interval, Duration::from_secs(60));
        assert_eq!(c.store.vulcand_api, "http://127.0.0.1:8182");
        assert!(!c.dry_run && !c.deregister_on_exit && c.listen.is_none());
        jail.set_env("DOCKER_HOST", "tcp://10.1.1.1:2375");
        assert_eq!(
            Config::load(&cli(&[])).unwrap().docker,
            "tcp://10.1.1.1:2375"
        );
        Ok(())
    });
}

/// Each row: bad input and a piece of the one-line error that must name it.
#[test]
fn bad_values_are_one_line_errors() {
    let cases: [(&[&str], &str); 15] = [
        (&["--node-id", "a/b"], "--node-id \"a/b\": expected letters"),
        (
            &["-names", "(["],
            "--names \"([\" is not a valid regular expression",
        ),
        (
            &["--backend", "consul"],
            "unknown backend \"consul\": expected etcd3, etcd2 or vulcand-api",
        ),
        (
            &["-host-ip", "nope"],
            "--host-ip \"nope\" is not an IP address",
        ),
        (&["-root-domain", "a b"], "--root-domain \"a b\""),
        (&["--ttl", "soon"], "--ttl \"soon\" is not a duration"),
        (&["--ttl", "1s"], "--ttl \"1s\" is too short"),
        (
            &["--label-filter", "novalue"],
            "--label-filter \"novalue\": expected KEY=VALUE",
        ),
        (
            &["--route-default", "timeout.read"],
            "--route-default \"timeout.read\": expected KEY=VALUE",
        ),
        (
            &["--route-default", "timeout.raed=1s"],
            "--route-default \"timeout.raed=1s\": \"timeout.raed\" is not a route setting (expected one of failover-predicate,",
        ),
        (
            &["--route-default", "cbreaker.fallback-status=700"],
            "--route-default cbreaker.fallback-status=\"700\": out of range: not 100 to 599; expected an HTTP status",
        ),
        (&["--log-format", "xml"], "--log-format \"xml\""),
        (
            &["--log-level", "havok=loud"],
            "--log-level \"havok=loud\": expected a level such as info or debug",
        ),
        (
            &["--probe", "udp"],
            "--probe \"udp\": expected http, tcp or none",
        ),
        (
            &["--listen", "9180"],
            "--listen \"9180\": expected ADDRESS:PORT",
        ),
    ];
    for (args, want) in cases {
        Jail::expect_with(|_| {
            let err = Config::load(&cli(args)).unwrap_err().to_string();
            assert!(err.contains(want), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{args:?}: more than one line: {err}");
            Ok(())
        });
    }
}

/// `--log-level` takes a level and `target=level` pairs, as documented.
#[test]
fn log_levels() {
    for level in [
        "info",
        "warn",
        "havok=debug",
        "info,havok::reconcile=debug,havok::docker=debug",
    ] {
        Jail::expect_with(|_| {
            let config = Config::load(&cli(&["--log-level", level])).expect(level);
            assert_eq!(config.log_level, level);
            Ok(())
        });
    }
}

/// An unparsable config file and an unknown key are one-line errors naming them.
#[test]
fn bad_config_file() {
    Jail::expect_with(|jail| {
        jail.create_file("bad.toml", "root_domain = ")?;
        let err = Config::load(&cli(&["--config", "bad.toml"]))
            .unwrap_err()
            .to_string();
        assert!(!err.contains('\n') && !err.is_empty(), "{err}");
        jail.create_file("typo.toml", "root_domian = \"x\"")?;
        let err = Config::load(&cli(&["--config", "typo.toml"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("root_domian"), "{err}");
        let err = Config::load(&cli(&["--config", "missing.toml"]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.toml"), "{err}");
        Ok(())
    });
}

/// The password never shows in Debug output.
#[test]
fn secrets_are_hidden() {
    Jail::expect_with(|jail| {
        jail.set_env("HAVOK_ETCD_PASSWORD", "hunter2");
        let c = Config::load(&cli(&["--etcd-username", "root"])).unwrap();
        assert_eq!(c.store.etcd_password.expose(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        Ok(())
    });
}

/// The store settings are kept as given: only the backend that uses them
/// validates them, so a bad one is no error here.
#[test]
fn store_settings_are_left_to_the_backend() {
    Jail::expect_with(|_| {
        let c = Config::load(&cli(&[
            "-etcd-machines",
            "127.0.0.1:2379",
            "--vulcand-api",
            "nope",
            "--etcd-ca",
            "/nonexistent/ca.pem",
        ]))
        .unwrap();
        assert_eq!(c.store.etcd_machines, "127.0.0.1:2379");
        assert_eq!(c.store.vulcand_api, "nope");
        Ok(())
    });
}
