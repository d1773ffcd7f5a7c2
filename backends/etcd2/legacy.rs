//! `havok legacy`: the keys the original havok (2014) wrote in Vulcand's
//! pre-0.8 etcd v2 layout, which Vulcand v0.9.2 refuses to start with
//! (`failed to get snapshot: Host foo.local parameters missing`):
//! - `<prefix>/hosts/<host>/locations/home/{path,upstream}` and
//!   `…/middlewares/{ratelimit,connlimit}/default`;
//! - `<prefix>/upstreams/up-<host>/endpoints/<container>` = `http://<ip>:<port>`
//!   (ehazlett/havok `engine/engine.go`).
//!
//! A legacy host is a `hosts/<host>` directory with `locations/` and no
//! `host` key (v0.9 keeps a host's TLS settings in `hosts/<host>/host`, which
//! is never touched). Finding them and planning their removal is pure; the
//! deletes run through [`KeysApi`].

use std::time::Duration;

use super::keys::{Delete, KeysApi, KeysError};
use super::wire::Node;
use crate::backends::{http, EtcdSettings};
use crate::config::ConfigError;

/// An endpoint: its key and URL.
pub type Endpoint = (String, String);
/// An upstream directory: its key, its name, its endpoints.
pub type Upstream = (String, String, Vec<Endpoint>);
/// One delete of a removal: the key and how.
pub type Deletion = (String, Delete);

/// What the original left in the store.
#[derive(Debug, Default, PartialEq)]
pub struct LegacyKeys {
    /// Legacy host directories, with the upstreams their locations name.
    pub hosts: Vec<(String, Vec<String>)>,
    /// Upstream directories (by name), with their endpoints: key and URL.
    pub upstreams: Vec<Upstream>,
}

impl LegacyKeys {
    /// Classifies the trees of `<prefix>/hosts` and `<prefix>/upstreams`.
    pub fn of(hosts: Option<&Node>, upstreams: Option<&Node>) -> LegacyKeys {
        let mut found = LegacyKeys::default();
        for host in hosts.iter().flat_map(|h| &h.nodes).filter(|n| n.dir) {
            let Some(locations) = host.child("locations") else {
                continue;
            };
            if host.child("host").is_some() {
                continue; // Vulcand v0.9's own host entry: not ours to touch.
            }
            let named = locations
                .nodes
                .iter()
                .filter_map(|l| l.child("upstream")?.value.clone())
                .collect();
            found.hosts.push((host.key.clone(), named));
        }
        for up in upstreams.iter().flat_map(|u| &u.nodes).filter(|n| n.dir) {
            let endpoints = up
                .child("endpoints")
                .iter()
                .flat_map(|e| &e.nodes)
                .filter(|e| !e.dir)
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect();
            found
                .upstreams
                .push((up.key.clone(), up.name().to_string(), endpoints));
        }
        found
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.upstreams.is_empty()
    }

    /// Whether an endpoint's URL points at this node (`--host-ip`).
    pub fn is_ours(url: &str, host_ip: &str) -> bool {
        reqwest::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']) == host_ip))
            .unwrap_or(false)
    }

    /// The deletes of `--remove`, in order: this node's endpoints, then every
    /// legacy host whose upstreams are all left without endpoints, then those
    /// upstreams. With `all`: every legacy host, then every upstream.
    pub fn removal(&self, host_ip: &str, all: bool) -> Vec<Deletion> {
        let mut deletes = Vec::new();
        let mut emptied = Vec::new();
        for (key, name, endpoints) in &self.upstreams {
            let left = endpoints
                .iter()
                .filter(|(k, url)| {
                    let ours = !all && Self::is_ours(url, host_ip);
                    if ours {
                        deletes.push((k.clone(), Delete::Key));
                    }
                    !ours
                })
                .count();
            if all || left == 0 {
                emptied.push((key.clone(), name.clone()));
            }
        }
        for (key, named) in &self.hosts {
            let gone = named.iter().all(|up| {
                emptied.iter().any(|(_, name)| name == up)
                    || !self.upstreams.iter().any(|(_, name, _)| name == up)
            });
            if all || gone {
                deletes.push((key.clone(), Delete::Tree));
            }
        }
        deletes.extend(emptied.into_iter().map(|(key, _)| (key, Delete::Tree)));
        deletes
    }
}

/// Reads the original's keys under `prefix` (`/vulcand`).
pub async fn find(api: &KeysApi, prefix: &str) -> Result<LegacyKeys, KeysError> {
    let hosts = api.get(&format!("{prefix}/hosts"), true).await?;
    let upstreams = api.get(&format!("{prefix}/upstreams"), true).await?;
    Ok(LegacyKeys::of(
        hosts.as_ref().map(|r| &r.node),
        upstreams.as_ref().map(|r| &r.node),
    ))
}

/// Runs `deletes` in order; a key already gone is as good as deleted.
pub async fn remove_keys(api: &KeysApi, deletes: &[Deletion]) -> Result<(), KeysError> {
    for (key, how) in deletes {
        api.delete(key, *how).await?;
    }
    Ok(())
}

/// Why `havok legacy` failed.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] KeysError),
}

/// Lists the original's keys on the etcd v2 members `settings` name (one
/// line each, this node's endpoints marked), and with `remove` deletes them
/// as [`LegacyKeys::removal`] says. Returns the lines to print.
pub async fn run(
    settings: EtcdSettings,
    timeout: Duration,
    host_ip: &str,
    remove: bool,
    all: bool,
) -> Result<Vec<String>, LegacyError> {
    let client = http::client(settings.tls.as_ref(), timeout)?;
    let api = KeysApi::new(client, settings.machines, settings.auth);
    let found = find(&api, &settings.prefix).await?;
    let mut lines = Vec::new();
    for (key, upstreams) in &found.hosts {
        lines.push(format!(
            "legacy host {key} (upstreams: {})",
            upstreams.join(", ")
        ));
    }
    for (key, _, endpoints) in &found.upstreams {
        lines.push(format!("legacy upstream {key}"));
        for (endpoint, url) in endpoints {
            let ours = if LegacyKeys::is_ours(url, host_ip) {
                " (this node)"
            } else {
                ""
            };
            lines.push(format!("legacy endpoint {endpoint} = {url}{ours}"));
        }
    }
    if found.is_empty() {
        lines.push(format!(
            "no keys of the original havok under {}/hosts or {}/upstreams",
            settings.prefix, settings.prefix
        ));
        return Ok(lines);
    }
    if !remove {
        lines.push(
            "nothing changed; --remove deletes this node's endpoints (URL host = --host-ip) and what they leave empty, --remove --all every key above"
                .into(),
        );
        return Ok(lines);
    }
    let deletes = found.removal(host_ip, all);
    remove_keys(&api, &deletes).await?;
    lines.extend(deletes.iter().map(|(key, _)| format!("deleted {key}")));
    lines.push(format!(
        "{} legacy keys or directories deleted",
        deletes.len()
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, value: Option<&str>, nodes: Vec<Node>) -> Node {
        Node {
            key: key.into(),
            value: value.map(str::to_string),
            dir: value.is_none(),
            nodes,
            ..Node::default()
        }
    }

    /// Two legacy hosts (one served by this node only, one shared with
    /// another node), and a v0.9 host entry that must stay.
    fn seeded() -> LegacyKeys {
        let location = |host: &str| {
            node(
                &format!("/vulcand/hosts/{host}/locations"),
                None,
                vec![node(
                    &format!("/vulcand/hosts/{host}/locations/home"),
                    None,
                    vec![
                        node(
                            &format!("/vulcand/hosts/{host}/locations/home/path"),
                            Some("/.*"),
                            vec![],
                        ),
                        node(
                            &format!("/vulcand/hosts/{host}/locations/home/upstream"),
                            Some(&format!("up-{host}")),
                            vec![],
                        ),
                    ],
                )],
            )
        };
        let hosts = node(
            "/vulcand/hosts",
            None,
            vec![
                node("/vulcand/hosts/a.local", None, vec![location("a.local")]),
                node("/vulcand/hosts/b.local", None, vec![location("b.local")]),
                node(
                    "/vulcand/hosts/tls.local",
                    None,
                    vec![node("/vulcand/hosts/tls.local/host", Some("{}"), vec![])],
                ),
            ],
        );
        let upstream = |host: &str, urls: &[(&str, &str)]| {
            let dir = format!("/vulcand/upstreams/up-{host}");
            let endpoints = urls
                .iter()
                .map(|(name, url)| node(&format!("{dir}/endpoints/{name}"), Some(url), vec![]))
                .collect();
            node(
                &dir,
                None,
                vec![node(&format!("{dir}/endpoints"), None, endpoints)],
            )
        };
        let upstreams = node(
            "/vulcand/upstreams",
            None,
            vec![
                upstream("a.local", &[("web1", "http://10.0.0.1:32768")]),
                upstream(
                    "b.local",
                    &[
                        ("web2", "http://10.0.0.1:32769"),
                        ("web3", "http://10.0.0.2:32770"),
                    ],
                ),
            ],
        );
        LegacyKeys::of(Some(&hosts), Some(&upstreams))
    }

    /// The v0.9 host entry is not a legacy host; the others name their upstreams.
    #[test]
    fn finds_the_originals_keys_only() {
        let found = seeded();
        assert_eq!(
            found.hosts,
            vec![
                (
                    "/vulcand/hosts/a.local".to_string(),
                    vec!["up-a.local".to_string()]
                ),
                (
                    "/vulcand/hosts/b.local".to_string(),
                    vec!["up-b.local".to_string()]
                ),
            ]
        );
        assert_eq!(found.upstreams.len(), 2);
        assert!(LegacyKeys::of(None, None).is_empty());
    }

    /// Each row: host ip, `--all`, the deletes in order.
    #[test]
    fn removals() {
        let found = seeded();
        let key = |k: &str| (k.to_string(), Delete::Key);
        let tree = |k: &str| (k.to_string(), Delete::Tree);
        let cases: Vec<(&str, bool, Vec<Deletion>)> = vec![
            (
                "10.0.0.1",
                false,
                vec![
                    key("/vulcand/upstreams/up-a.local/endpoints/web1"),
                    key("/vulcand/upstreams/up-b.local/endpoints/web2"),
                    tree("/vulcand/hosts/a.local"),
                    tree("/vulcand/upstreams/up-a.local"),
                ],
            ),
            ("10.9.9.9", false, vec![]),
            (
                "10.0.0.1",
                true,
                vec![
                    tree("/vulcand/hosts/a.local"),
                    tree("/vulcand/hosts/b.local"),
                    tree("/vulcand/upstreams/up-a.local"),
                    tree("/vulcand/upstreams/up-b.local"),
                ],
            ),
        ];
        for (ip, all, want) in cases {
            assert_eq!(found.removal(ip, all), want, "{ip} all={all}");
        }
    }

    #[test]
    fn endpoint_owner() {
        assert!(LegacyKeys::is_ours("http://10.0.0.1:80", "10.0.0.1"));
        assert!(!LegacyKeys::is_ours("http://10.0.0.10:80", "10.0.0.1"));
        assert!(LegacyKeys::is_ours("http://[::1]:80", "::1"));
        assert!(!LegacyKeys::is_ours("not a url", "10.0.0.1"));
    }
}
