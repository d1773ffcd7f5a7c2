//! The raw command line (clap derive): every flag in both spellings, the
//! original's single-dash `-etcd-machines x` and `--etcd-machines x`.
//!
//! No flag has a clap default: a flag the user did not type is `None` and is
//! left out when figment merges the layers, so it cannot override the config
//! file or the `HAVOK_*` environment. Defaults live in `config::RawConfig`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};
use serde::Serialize;

/// `--version`: the package version and the compiled-in backends.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (backends: ",
    env!("BUILD_HAVOK_BACKENDS"),
    ")"
);

const ABOUT: &str = "Routes Docker containers through Vulcand: every running container whose \
name matches --names becomes the server <hostname>.<root-domain> -> http://<host-ip>:<published port>, \
written to etcd v3, etcd v2 or Vulcand's HTTP API.";

const AFTER_HELP: &str = "\
Every flag can also be spelled with one dash (-etcd-machines, as the original havok), set in the \
--config TOML file (etcd_machines = \"...\") or in the environment (HAVOK_ETCD_MACHINES=...). \
Precedence: built-in defaults < config file < HAVOK_* environment < flags.

Examples:
  havok --dry-run -names '^web-'              # watch Docker and log what would be written
  havok --backend etcd3 -etcd-machines http://127.0.0.1:2379 -host-ip 10.0.0.5 -root-domain example.com
  havok routes                                # print the route table the running containers make";

/// `havok [FLAGS]` runs the bridge; `havok routes` prints the route table once.
#[derive(Debug, Clone, Default, Parser, Serialize)]
// args_override_self: a flag given twice takes its last value, as Go's flag package did.
#[command(name = "havok", version = VERSION, about = ABOUT, after_help = AFTER_HELP, max_term_width = 100, args_override_self = true)]
pub struct Cli {
    #[command(subcommand)]
    #[serde(skip)]
    pub command: Option<Command>,

    /// TOML file with any of the settings below (keys spelled with underscores: root_domain = "example.com").
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,

    /// Where routes are written: etcd3, etcd2 or vulcand-api (the Cargo feature names).
    /// [default: the first compiled in, in that order]
    #[arg(long, value_name = "BACKEND", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,

    /// Docker daemon: unix:///path or tcp://host:port (TLS when DOCKER_TLS_VERIFY is set,
    /// certificates from DOCKER_CERT_PATH, as the docker CLI).
    /// [default: $DOCKER_HOST, else unix:///var/run/docker.sock]
    #[arg(long, value_name = "URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,

    /// Comma-separated etcd endpoints; a request that fails on one is tried on the next.
    /// [default: http://127.0.0.1:2379]
    #[arg(long, value_name = "URLS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_machines: Option<String>,

    /// Vulcand's -etcdKey: etcd v3 keys are <prefix>/backends/... as given (no leading slash),
    /// etcd v2 keys are /<prefix>/backends/... [default: vulcand]
    #[arg(long, value_name = "PREFIX", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_prefix: Option<String>,

    /// Key prefix for havok's own bookkeeping (which node wrote which server), outside
    /// Vulcand's prefix: on etcd v3 neither may start with the other (Vulcand watches
    /// `vulcand` as a string prefix, so `vulcand2` is inside it); on etcd v2 neither may
    /// be a directory inside the other. [default: havok]
    #[arg(long, value_name = "PREFIX", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_prefix: Option<String>,

    /// The most operations havok puts in one etcd v3 transaction; match etcd's own
    /// --max-txn-ops. A route with more servers is written in several. [default: 128]
    #[arg(long, value_name = "N", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_max_txn_ops: Option<usize>,

    /// Vulcand's HTTP API, for --backend vulcand-api. [default: http://127.0.0.1:8182]
    #[arg(long, value_name = "URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulcand_api: Option<String>,

    /// Address in server URLs for ports published on all interfaces (a binding to one
    /// address, -p 10.0.0.5::80, uses that address). [default: 127.0.0.1]
    #[arg(long, value_name = "IP", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,

    /// Domain appended to container hostnames: -h foo → foo.<root-domain>. [default: local]
    #[arg(long, value_name = "DOMAIN", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_domain: Option<String>,

    /// Regex matched against container names (without Docker's leading /). [default: .*]
    #[arg(long, value_name = "REGEX", global = true, allow_hyphen_values = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub names: Option<String>,

    /// This Docker host's name in server ids and bookkeeping; must be unique per host.
    /// [default: the Docker daemon's host name, `docker info` → Name]
    #[arg(long, value_name = "ID", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,

    /// Only consider containers carrying this label (KEY=VALUE); repeat for several, all must match.
    #[arg(long = "label-filter", value_name = "KEY=VALUE", global = true)]
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "label_filter")]
    pub label_filters: Vec<String>,

    /// Fleet-wide default of a route setting (KEY=VALUE, KEY as in the label havok.KEY,
    /// e.g. timeout.read=30s); repeat for several; a container's label overrides it.
    #[arg(long = "route-default", value_name = "KEY=VALUE", global = true)]
    #[serde(skip_serializing_if = "Vec::is_empty", rename = "route_default")]
    pub route_defaults: Vec<String>,

    /// With false, only containers labelled havok.enable=true are routed. [default: true]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_by_default: Option<bool>,

    /// Let the havok.host label name hosts outside --root-domain. [default: false]
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_any_host: Option<bool>,

    /// Route to container addresses on this Docker network (for a Vulcand on that network)
    /// instead of published ports. [default: published ports]
    #[arg(long, value_name = "NAME", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,

    /// How to tell that a container's upstream is ready before routing it: `http` (a GET of
    /// the server URL plus --probe-path; any HTTP response counts), `tcp` (a connect to the
    /// container's own address and port) or `none` (route at start). A container with a
    /// HEALTHCHECK is routed when Docker says healthy. Label havok.probe overrides. [default: http]
    #[arg(long, value_name = "KIND", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,

    /// The path of the HTTP readiness probe (label havok.probe-path overrides). [default: /]
    #[arg(long, value_name = "PATH", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_path: Option<String>,

    /// After this long without an answer, warn once and show the container as waiting in
    /// /routes; probing goes on (label havok.probe-timeout overrides). [default: 30s]
    #[arg(long, value_name = "DURATION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_timeout: Option<String>,

    /// Vulcand ratelimit middleware on every frontend: requests per second (label
    /// havok.rate-limit overrides). [default: off]
    #[arg(long, value_name = "N", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,

    /// Burst of the ratelimit middleware. [default: 1]
    #[arg(long, value_name = "N", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_burst: Option<u32>,

    /// Variable the ratelimit groups requests by (client.ip, request.host, request.header.X).
    /// [default: client.ip]
    #[arg(long, value_name = "VAR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit_var: Option<String>,

    /// Vulcand connlimit middleware on every frontend: concurrent connections (label
    /// havok.conn-limit overrides). [default: off]
    #[arg(long, value_name = "N", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn_limit: Option<u32>,

    /// Variable the connlimit groups connections by. [default: client.ip]
    #[arg(long, value_name = "VAR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conn_limit_var: Option<String>,

    /// This node's servers expire this long after havok stops keeping them alive
    /// (it refreshes every TTL/3; on etcd v2, where each refresh is a write,
    /// every 2/3 of it). [default: 30s]
    #[arg(long, value_name = "DURATION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,

    /// Full pass: list containers, read the store, repair any difference. [default: 60s]
    #[arg(long, value_name = "DURATION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resync_interval: Option<String>,

    /// Timeout of one request to the store. [default: 5s]
    #[arg(long, value_name = "DURATION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,

    /// Longest wait between retries when Docker or the store is down. [default: 10s]
    #[arg(long, value_name = "DURATION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_backoff: Option<String>,

    /// Watch Docker and log every write havok would make, touching no store.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,

    /// On SIGTERM, remove this node's servers before exiting (default: leave them, so a
    /// restart causes no traffic gap; they expire after --ttl if havok does not come back).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deregister_on_exit: Option<bool>,

    /// Serve /healthz, /metrics (Prometheus) and /routes on this address, e.g. 127.0.0.1:9180.
    /// [default: off]
    #[arg(long, value_name = "ADDR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,

    /// Log format: text or json. [default: text]
    #[arg(long, value_name = "FORMAT", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,

    /// Log level, or a level per target (info, debug, havok=debug,info). [default: info]
    #[arg(long, value_name = "LEVEL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<String>,

    /// etcd: CA certificate (PEM) to verify the servers; turns on TLS.
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_ca: Option<PathBuf>,

    /// etcd: client certificate (PEM), with --etcd-key.
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_cert: Option<PathBuf>,

    /// etcd: client private key (PEM), with --etcd-cert.
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_key: Option<PathBuf>,

    /// etcd: user name (v3 auth, v2 basic auth). The password comes from HAVOK_ETCD_PASSWORD
    /// or --etcd-password-file, never the command line.
    #[arg(long, value_name = "USER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_username: Option<String>,

    /// etcd: file holding the password (trailing newline ignored).
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd_password_file: Option<PathBuf>,

    /// Vulcand API: CA certificate (PEM) for an https:// --vulcand-api.
    #[arg(long, value_name = "FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vulcand_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print the route table the running containers make now, and exit; writes nothing.
    Routes {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Taking over from the original havok (2014): list the keys it wrote in
    /// Vulcand's pre-0.8 etcd v2 layout (`<prefix>/hosts/<host>/locations/…`,
    /// `<prefix>/upstreams/…`), which Vulcand v0.9 refuses to start with.
    /// Works in the etcd v2 keyspace of `--etcd-machines`, whatever --backend
    /// says; never touches Vulcand's current layout. Changes nothing unless
    /// --remove is given.
    Legacy {
        /// Delete this node's legacy endpoints (URL host = --host-ip), then
        /// every legacy host and upstream left without endpoints.
        #[arg(long)]
        remove: bool,
        /// With --remove: delete every legacy key, whichever node wrote it.
        #[arg(long, requires = "remove")]
        all: bool,
    },
    /// For packagers: write the man page havok.1, the bash, zsh and fish completions and
    /// havok.default (every HAVOK_* setting, commented out) into DIR, from these flags.
    #[command(hide = true)]
    GenerateDocs {
        /// The directory to write into (created when missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

impl Cli {
    /// Parses `args` (with the program name first), accepting single-dash long flags.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString>,
    {
        Cli::try_parse_from(single_dash_to_double(args))
    }
}

/// Rewrites the original's `-etcd-machines` / `-etcd-machines=x` to
/// `--etcd-machines…` for every long flag havok knows; `-h` and values are left alone.
fn single_dash_to_double<I, T>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString>,
{
    let mut command = Cli::command();
    command.build();
    let mut subcommand_args = command
        .get_subcommands()
        .flat_map(|s| s.get_arguments().cloned().collect::<Vec<_>>())
        .collect::<Vec<_>>();
    subcommand_args.extend(command.get_arguments().cloned());
    // (long name, whether the next word is its value)
    let longs: Vec<(String, bool)> = subcommand_args
        .iter()
        .filter_map(|a| {
            let takes_value = a.get_num_args().is_some_and(|n| n.min_values() > 0);
            a.get_long().map(|l| (l.to_string(), takes_value))
        })
        .chain([("help".to_string(), false), ("version".to_string(), false)])
        .collect();
    let mut out = Vec::new();
    let mut next_is_value = false;
    let mut rest_is_positional = false;
    for arg in args.into_iter().map(Into::into) {
        let text = arg.to_string_lossy().into_owned();
        if next_is_value || rest_is_positional {
            next_is_value = false;
            out.push(arg);
            continue;
        }
        if text == "--" {
            rest_is_positional = true;
        }
        let (dashes, rest) = if let Some(r) = text.strip_prefix("--") {
            ("--", r)
        } else if let Some(r) = text.strip_prefix('-') {
            ("-", r)
        } else {
            out.push(arg);
            continue;
        };
        let (name, has_inline_value) = rest
            .split_once('=')
            .map_or((rest, false), |(n, _)| (n, true));
        match longs.iter().find(|(l, _)| l == name) {
            Some((_, takes_value)) if name.len() > 1 => {
                next_is_value = *takes_value && !has_inline_value;
                out.push(if dashes == "-" {
                    OsString::from(format!("-{text}"))
                } else {
                    arg
                });
            }
            _ => out.push(arg),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        let mut all = vec!["havok"];
        all.extend_from_slice(args);
        Cli::parse_args(all).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// Each row: the same setting in the original's spelling and in the long one.
    #[test]
    fn both_spellings() {
        let cases: [(&[&str], &[&str]); 5] = [
            (
                &["-etcd-machines", "http://a:2379"],
                &["--etcd-machines", "http://a:2379"],
            ),
            (
                &["-etcd-machines=http://a:2379"],
                &["--etcd-machines=http://a:2379"],
            ),
            (
                &["-host-ip", "10.0.0.1", "-root-domain", "example.com"],
                &["--host-ip=10.0.0.1", "--root-domain", "example.com"],
            ),
            (
                &["-names", "^web-", "-docker", "tcp://x:2375"],
                &["--names=^web-", "--docker=tcp://x:2375"],
            ),
            (
                &["-rate-limit", "5", "-conn-limit=3", "-dry-run"],
                &["--rate-limit", "5", "--conn-limit", "3", "--dry-run"],
            ),
        ];
        for (single, double) in cases {
            let a = serde_json::to_value(parse(single)).unwrap();
            let b = serde_json::to_value(parse(double)).unwrap();
            assert_eq!(a, b, "{single:?} vs {double:?}");
            assert_ne!(a, serde_json::json!({}), "{single:?} set nothing");
        }
    }

    /// A value that looks like a flag is left alone; -h is still help.
    #[test]
    fn values_and_short_flags_are_kept() {
        let cli = parse(&["-names", "-docker"]);
        assert_eq!(cli.names.as_deref(), Some("-docker"));
        let err = Cli::parse_args(["havok", "-h"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
    }

    /// Flags the user did not type serialize to nothing, so they cannot override lower layers.
    #[test]
    fn untyped_flags_are_absent() {
        assert_eq!(
            serde_json::to_value(parse(&[])).unwrap(),
            serde_json::json!({})
        );
    }

    /// A flag given twice keeps its last value, as the original's Go flags did.
    #[test]
    fn last_flag_wins() {
        assert_eq!(
            parse(&["--ttl", "5s", "-ttl", "7s"]).ttl.as_deref(),
            Some("7s")
        );
    }

    #[test]
    fn routes_subcommand() {
        let cli = parse(&["routes", "--json", "-names", "^x"]);
        assert!(matches!(cli.command, Some(Command::Routes { json: true })));
        assert_eq!(cli.names.as_deref(), Some("^x"));
    }
}
