//! The identity of routes and servers: [`RouteKey`], and the ids havok names them by in Vulcand.
//!
//! Pure, and below both `model` (which makes keys and ids from containers) and
//! `vulcand` (which puts ids into key paths and values).
//!
//! Vulcand's v3 engine deletes by key prefix, so no id havok writes may be a
//! prefix of another: every id is `<readable part without dots>.<fixed-length hex>`,
//! which makes the set prefix-free (the only dot is at the same place in both).
//! Ids are also stable: a new havok recognises what an older one wrote, so the
//! digest and the lengths below must not change.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// RFC 1123: a DNS label has at most 63 characters.
pub const DNS_LABEL_MAX: usize = 63;
/// RFC 1123: a DNS name has at most 253 characters in all (without the trailing dot).
pub const DNS_NAME_MAX: usize = 253;

/// The readable part of an id is cut to this many characters: enough to tell
/// a host or container by eye in `etcdctl get` output, and it bounds the id
/// whatever the host name (up to 253); the hex part, not this, makes ids unique.
const READABLE_MAX: usize = 60;
/// Hex digits of a route id's digest (40 bits): with the readable part in
/// front, two routes never share one in practice, and the id stays short.
const ROUTE_HEX: usize = 10;
/// Hex digits of the node tag, the first half of a server id's hex part
/// (32 bits): [`ServerId::owned_by`] tells this node's servers by it.
const NODE_TAG_HEX: usize = 8;
/// Hex digits of the node-and-container digest, the second half (32 bits).
const SERVER_HEX: usize = 8;

/// What Vulcand routes to one place: a host name and an optional path prefix.
/// Each route has its own frontend and backend (Vulcand keys its router by the
/// route expression, so two frontends must never share one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RouteKey {
    /// Lower-case, validated DNS name.
    pub host: String,
    /// `/api` for `havok.path=/api`; `None` routes every path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RouteKey {
    pub fn host(host: &str) -> RouteKey {
        RouteKey {
            host: host.to_string(),
            path: None,
        }
    }

    /// The id of this route's Vulcand backend and frontend.
    pub fn id(&self) -> RouteId {
        RouteId::of(self)
    }
}

impl fmt::Display for RouteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}{}", self.host, path),
            None => f.write_str(&self.host),
        }
    }
}

/// The id of a route's backend and of its frontend (Vulcand keeps them in separate namespaces).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RouteId(String);

impl RouteId {
    /// `foo.local` → `foo-local.<10 hex>`; `foo.local` + `/api` → `foo-local-api.<10 hex>`.
    pub fn of(key: &RouteKey) -> RouteId {
        let readable = match &key.path {
            Some(path) => format!("{}-{}", key.host, path),
            None => key.host.clone(),
        };
        let hash = digest(&[
            key.host.as_bytes(),
            key.path.as_deref().unwrap_or("").as_bytes(),
        ]);
        RouteId(format!(
            "{}.{}",
            readable_part(&readable),
            &hash[..ROUTE_HEX]
        ))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of one container's server: unique per node and container name, so
/// two Docker hosts each running `web-1` never touch each other's server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServerId(String);

impl ServerId {
    /// `node-a`, `web-1` → `node-a--web-1.<8 hex of node><8 hex of node and name>`.
    pub fn new(node: &str, container: &str) -> ServerId {
        let readable = format!("{}--{}", readable_part(node), readable_part(container));
        ServerId(format!(
            "{}.{}{}",
            readable,
            node_tag(node),
            &digest(&[node.as_bytes(), container.as_bytes()])[..SERVER_HEX]
        ))
    }

    /// Takes an id read from the store as it is.
    pub fn from_raw(id: &str) -> ServerId {
        ServerId(id.to_string())
    }

    /// Whether havok wrote this id for `node` (the first half of the hex part).
    pub fn owned_by(&self, node: &str) -> bool {
        match self.0.rsplit_once('.') {
            Some((_, hex)) => {
                hex.len() == NODE_TAG_HEX + SERVER_HEX
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    && hex.starts_with(&node_tag(node))
            }
            None => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The readable part, `<node>--<container>` (without the hex tag), for logs.
    pub fn readable(&self) -> &str {
        self.0
            .split_once('.')
            .map_or(&self.0, |(readable, _)| readable)
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `proj_web_1` → `proj-web-1`: a container name as one DNS label.
pub fn dns_safe(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_matches('-');
    trimmed
        .chars()
        .take(DNS_LABEL_MAX)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The first half of a server id's hex part: the same for every server of `node`.
fn node_tag(node: &str) -> String {
    digest(&[b"node", node.as_bytes()])[..NODE_TAG_HEX].to_string()
}

/// `s` as a DNS-safe slug without dots, never empty, at most [`READABLE_MAX`] characters.
fn readable_part(s: &str) -> String {
    let slug = dns_safe(s);
    let slug = if slug.is_empty() {
        "x".to_string()
    } else {
        slug
    };
    slug.chars().take(READABLE_MAX).collect()
}

/// SHA-256 of the parts, each preceded by its length (so `("ab", "c")` and
/// `("a", "bc")` differ), in lower-case hex.
fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No two ids havok can write are prefixes of each other, even when the readable parts are.
    #[test]
    fn ids_are_prefix_free() {
        let keys = [
            RouteKey::host("foo.local"),
            RouteKey::host("foo.local.au"),
            RouteKey::host("foo-local"),
            RouteKey {
                host: "foo.local".into(),
                path: Some("/api".into()),
            },
            RouteKey {
                host: "foo.local".into(),
                path: Some("/api2".into()),
            },
        ];
        let mut ids: Vec<String> = keys.iter().map(|k| k.id().to_string()).collect();
        for node in ["a", "ab", "node-1", "node-10"] {
            for name in ["s1", "s10", "web-1", "web-10", "web_1"] {
                ids.push(ServerId::new(node, name).to_string());
            }
        }
        for (i, a) in ids.iter().enumerate() {
            for (j, b) in ids.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a.as_str()), "{a} is a prefix of {b}");
                }
            }
        }
    }

    /// Ids are deterministic and readable, and the same in every havok version
    /// (a new one must recognise what an older one wrote).
    #[test]
    fn ids_are_stable() {
        let id = RouteKey::host("foo.local").id();
        assert_eq!(id, RouteKey::host("foo.local").id());
        assert!(id.as_str().starts_with("foo-local."), "{id}");
        let sid = ServerId::new("node-a", "web-1");
        assert!(sid.as_str().starts_with("node-a--web-1."), "{sid}");
        assert!(sid.owned_by("node-a"));
        assert!(!sid.owned_by("node-b"));
        assert!(!ServerId::from_raw("web-1").owned_by("node-a"));

        assert_eq!(id.as_str(), "foo-local.c65dd78672");
        let api = RouteKey {
            host: "foo.local".into(),
            path: Some("/api".into()),
        };
        assert_eq!(api.id().as_str(), "foo-local-api.7810d8d4bc");
        assert_eq!(sid.as_str(), "node-a--web-1.22194dc2158ca57d");
    }

    /// Server ids differ across nodes and container names; one node and name is one id.
    #[test]
    fn server_ids_differ_by_node_and_container() {
        let a = ServerId::new("node-a", "web-1");
        assert_eq!(a, ServerId::new("node-a", "web-1"));
        assert_ne!(a, ServerId::new("node-b", "web-1"));
        assert_ne!(a, ServerId::new("node-a", "web-2"));
        assert!(ServerId::new("node-a", "web-2").owned_by("node-a"));
        assert_eq!(a.readable(), "node-a--web-1");
    }

    /// The readable part is cut, the id stays unique; an empty name still has one.
    #[test]
    fn long_and_empty_names() {
        let long = "a".repeat(2 * READABLE_MAX);
        let id = RouteKey::host(&long).id();
        assert_eq!(id.as_str().len(), READABLE_MAX + 1 + ROUTE_HEX);
        assert_ne!(id, RouteKey::host(&long[1..]).id());
        assert!(ServerId::new("n", "").as_str().starts_with("n--x."));
    }

    #[test]
    fn dns_safe_names() {
        for (name, want) in [
            ("proj_web_1", "proj-web-1"),
            ("Web.1", "web-1"),
            ("__a__", "a"),
            ("a--b", "a-b"),
        ] {
            assert_eq!(dns_safe(name), want);
        }
        let long = "a".repeat(DNS_LABEL_MAX + 1);
        assert_eq!(dns_safe(&long).len(), DNS_LABEL_MAX);
    }
}
