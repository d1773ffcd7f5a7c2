//! The one table of every label and flag, each with the Vulcand object it
//! sets and an example: generated here, and found verbatim in README.md and
//! docs/operators.md (a unit test compares them).

use super::man::LABELS;
use crate::model::{labels, SETTINGS};

/// The Vulcand object and an example of each label of [`LABELS`].
const LABEL_ROWS: [(&str, &str, &str); 11] = [
    (
        labels::ENABLE,
        "— (whether the container is routed)",
        "havok.enable=false",
    ),
    (
        labels::HOST,
        "frontend `Route` ``Host(`…`)``, one frontend and backend per host",
        "havok.host=a.example.com,b.example.com",
    ),
    (labels::PORT, "server `URL` port", "havok.port=8080"),
    (
        labels::PATH,
        "frontend `Route` ``PathRegexp(`^/api(/.*)?$`)``, its own frontend and backend",
        "havok.path=/api",
    ),
    (labels::SCHEME, "server `URL` scheme", "havok.scheme=https"),
    (
        labels::NETWORK,
        "server `URL`: the container's address and port on that network",
        "havok.network=frontend-net",
    ),
    (
        labels::RATE_LIMIT,
        "middleware `havok-ratelimit` (ratelimit) `Requests`",
        "havok.rate-limit=50",
    ),
    (
        labels::CONN_LIMIT,
        "middleware `havok-connlimit` (connlimit) `Connections`",
        "havok.conn-limit=10",
    ),
    (
        labels::PROBE,
        "— (when the server is written)",
        "havok.probe=tcp",
    ),
    (
        labels::PROBE_PATH,
        "— (when the server is written)",
        "havok.probe-path=/healthz",
    ),
    (
        labels::PROBE_TIMEOUT,
        "— (a warning)",
        "havok.probe-timeout=10s",
    ),
];

/// Every flag: the Vulcand object it sets (or `—` and what it is about) and an example.
pub const FLAG_ROWS: [(&str, &str, &str); 41] = [
    ("--config", "—", "--config /etc/havok.toml"),
    (
        "--backend",
        "where the objects are written",
        "--backend etcd2",
    ),
    ("--docker", "— (Docker)", "--docker tcp://10.0.0.5:2376"),
    (
        "--etcd-machines",
        "the etcd Vulcand reads",
        "--etcd-machines http://10.0.0.9:2379",
    ),
    (
        "--etcd-prefix",
        "every key (Vulcand's `-etcdKey`)",
        "--etcd-prefix vulcand",
    ),
    (
        "--state-prefix",
        "— (havok's bookkeeping keys)",
        "--state-prefix havok",
    ),
    (
        "--etcd-max-txn-ops",
        "— (etcd's `--max-txn-ops`)",
        "--etcd-max-txn-ops 128",
    ),
    (
        "--vulcand-api",
        "the Vulcand API written to",
        "--vulcand-api http://10.0.0.9:8182",
    ),
    ("--host-ip", "server `URL` host", "--host-ip 10.0.0.5"),
    (
        "--root-domain",
        "frontend `Route` host suffix",
        "--root-domain example.com",
    ),
    ("--names", "— (which containers)", "--names '^web-'"),
    (
        "--node-id",
        "server ids (`<node>.<container>`)",
        "--node-id docker-7",
    ),
    (
        "--label-filter",
        "— (which containers)",
        "--label-filter team=web",
    ),
    (
        "--route-default",
        "any setting row above, fleet-wide (a label overrides it)",
        "--route-default timeout.read=30s",
    ),
    (
        "--exposed-by-default",
        "— (which containers)",
        "--exposed-by-default=false",
    ),
    (
        "--allow-any-host",
        "frontend `Route` hosts outside `--root-domain`",
        "--allow-any-host",
    ),
    (
        "--network",
        "server `URL`: container addresses on that network",
        "--network frontend-net",
    ),
    ("--probe", "— (when the server is written)", "--probe tcp"),
    (
        "--probe-path",
        "— (when the server is written)",
        "--probe-path /healthz",
    ),
    ("--probe-timeout", "— (a warning)", "--probe-timeout 10s"),
    (
        "--rate-limit",
        "middleware `havok-ratelimit` `Requests`",
        "--rate-limit 50",
    ),
    (
        "--rate-limit-burst",
        "middleware `havok-ratelimit` `Burst`",
        "--rate-limit-burst 10",
    ),
    (
        "--rate-limit-var",
        "middleware `havok-ratelimit` `Variable`",
        "--rate-limit-var request.host",
    ),
    (
        "--conn-limit",
        "middleware `havok-connlimit` `Connections`",
        "--conn-limit 10",
    ),
    (
        "--conn-limit-var",
        "middleware `havok-connlimit` `Variable`",
        "--conn-limit-var client.ip",
    ),
    (
        "--ttl",
        "server TTL (v2 key TTL, v3 lease, API `TTL`)",
        "--ttl 30s",
    ),
    (
        "--resync-interval",
        "— (how often the store is repaired)",
        "--resync-interval 60s",
    ),
    ("--timeout", "— (one store request)", "--timeout 5s"),
    ("--max-backoff", "— (retries)", "--max-backoff 10s"),
    ("--dry-run", "nothing: writes are logged only", "--dry-run"),
    (
        "--deregister-on-exit",
        "this node's servers, removed at SIGTERM",
        "--deregister-on-exit",
    ),
    (
        "--listen",
        "— (`/healthz`, `/metrics`, `/routes`)",
        "--listen 127.0.0.1:9180",
    ),
    ("--log-format", "—", "--log-format json"),
    ("--log-level", "—", "--log-level debug"),
    ("--etcd-ca", "— (etcd TLS)", "--etcd-ca /etc/havok/ca.pem"),
    (
        "--etcd-cert",
        "— (etcd TLS)",
        "--etcd-cert /etc/havok/client.pem",
    ),
    (
        "--etcd-key",
        "— (etcd TLS)",
        "--etcd-key /etc/havok/client-key.pem",
    ),
    ("--etcd-username", "— (etcd auth)", "--etcd-username havok"),
    (
        "--etcd-password-file",
        "— (etcd auth)",
        "--etcd-password-file /etc/havok/password",
    ),
    (
        "--vulcand-ca",
        "— (API TLS)",
        "--vulcand-ca /etc/havok/vulcand-ca.pem",
    ),
    ("--help, --version", "—", "--version"),
];

/// The markdown table: labels, named routes, settings, flags.
pub fn table() -> String {
    let mut out =
        String::from("| label or flag | Vulcand object it sets | example |\n|---|---|---|\n");
    let mut row = |name: &str, object: &str, example: &str| {
        out.push_str(&format!("| `{name}` | {object} | `{example}` |\n"));
    };
    for (label, object, example) in LABEL_ROWS {
        row(label, object, example);
    }
    row(
        "havok.routes.<name>.<key>",
        "a named route: its own frontend and backend; <key> is any key of `havok.<key>` but `enable`",
        "havok.routes.admin.port=9090",
    );
    for s in &SETTINGS {
        row(
            &format!("havok.{}", s.key),
            &format!("`{}`", s.sets),
            &format!("havok.{}={}", s.key, s.example),
        );
    }
    for (flag, object, example) in FLAG_ROWS {
        row(flag, object, example);
    }
    out
}

/// Every label of the man page has a row.
pub fn labels_documented() -> bool {
    LABELS
        .iter()
        .map(|(l, _)| *l)
        .eq(LABEL_ROWS.iter().map(|(l, _, _)| *l))
}
