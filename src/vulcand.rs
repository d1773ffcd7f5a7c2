//! Vulcand's object layout as Vulcand parses it: ids, key paths and JSON values.
//!
//! Facts from vulcand/vulcand v0.9.2 (`engine/model.go`, `engine/etcdng/v3/etcd.go`,
//! `engine/etcdng/v2/etcd.go`, `plugin/ratelimit`, `plugin/connlimit`) and
//! `../shared/VULCAND.md`, which was checked against a real Vulcand:
//! - `<p>/backends/<bid>/backend` = `{"Type":"http"}`
//! - `<p>/backends/<bid>/servers/<sid>` = `{"URL":"http://10.0.0.5:32768"}`
//! - `<p>/frontends/<fid>/frontend` = ``{"Type":"http","BackendId":"<bid>","Route":"Host(`h`) && PathRegexp(`/.*`)"}``
//! - `<p>/frontends/<fid>/middlewares/<mid>` = `{"Type":"ratelimit","Priority":1,"Middleware":{…}}`
//!
//! Vulcand's v3 engine deletes by key prefix, so no id havok writes may be a
//! prefix of another: every id is `<readable part without dots>.<fixed-length hex>`,
//! which makes the set prefix-free (the only dot is at the same place in both).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::model::{dns_safe, Limits, RouteKey, RouteSpec};

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
        RouteId(format!("{}.{}", readable_part(&readable), &hash[..10]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
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
            &digest(&[node.as_bytes(), container.as_bytes()])[..8]
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
                hex.len() == 16
                    && hex.bytes().all(|b| b.is_ascii_hexdigit())
                    && hex.starts_with(&node_tag(node))
            }
            None => false,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for RouteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn node_tag(node: &str) -> String {
    digest(&[b"node", node.as_bytes()])[..8].to_string()
}

fn readable_part(s: &str) -> String {
    let slug = dns_safe(s);
    let slug = if slug.is_empty() {
        "x".to_string()
    } else {
        slug
    };
    slug.chars().take(60).collect()
}

fn digest(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Middleware ids havok writes under its frontends. Neither is a prefix of the other.
pub const RATELIMIT_ID: &str = "havok-ratelimit";
pub const CONNLIMIT_ID: &str = "havok-connlimit";

/// Every middleware id havok writes: any other under a frontend is an
/// operator's, never read as havok's nor deleted.
pub const HAVOK_MIDDLEWARES: [&str; 2] = [RATELIMIT_ID, CONNLIMIT_ID];

/// Whether `id` is one of havok's middlewares.
pub fn is_havok_middleware(id: &str) -> bool {
    HAVOK_MIDDLEWARES.contains(&id)
}

/// Vulcand's route expression for a route: ``Host(`foo.local`) && PathRegexp(`/.*`)``.
/// Host names and paths were validated by the model and hold no backquote.
pub fn route_expression(key: &RouteKey) -> String {
    match &key.path {
        None => format!("Host(`{}`) && PathRegexp(`/.*`)", key.host),
        // `/api` matches `/api` and `/api/…`, not `/apix`; `.` is the only regexp
        // meta character the model lets into a path.
        Some(path) => format!(
            "Host(`{}`) && PathRegexp(`^{}(/.*)?$`)",
            key.host,
            path.replace('.', "\\.")
        ),
    }
}

/// The backend value: `{"Type":"http"}` (engine/model.go: Type must be `http`).
pub fn backend_value() -> Value {
    json!({"Type": "http"})
}

/// The server value: `{"URL":"…"}`.
pub fn server_value(url: &str) -> Value {
    json!({"URL": url})
}

/// The `URL` of a server value as stored, else the raw value, which then
/// differs from any URL havok wants, so the plan writes the server again.
pub fn server_url(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => match map.get("URL") {
            Some(Value::String(url)) => url.clone(),
            _ => raw.to_string(),
        },
        _ => raw.to_string(),
    }
}

/// A stored JSON value; a value that is not JSON is kept as a string, so it
/// differs from what havok would write and the plan rewrites it.
pub fn stored_json(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
}

/// The frontend value for a route.
pub fn frontend_value(key: &RouteKey) -> Value {
    json!({"Type": "http", "BackendId": key.id().as_str(), "Route": route_expression(key)})
}

/// The middlewares a route spec asks for, by id, as Vulcand's
/// `{"Type","Priority","Middleware"}` values (lower priority runs first).
pub fn middleware_values(limits: &Limits) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(rate) = &limits.rate {
        // plugin/ratelimit: FromOther(RateLimit{PeriodSeconds, Requests, Burst, Variable, RateVar}).
        out.push((
            RATELIMIT_ID,
            json!({"Type": "ratelimit", "Priority": 1, "Middleware": {
                "PeriodSeconds": 1, "Requests": rate.requests, "Burst": rate.burst,
                "Variable": rate.variable, "RateVar": ""}}),
        ));
    }
    if let Some(conn) = &limits.conn {
        // plugin/connlimit: FromOther(ConnLimit{Connections, Variable}).
        out.push((
            CONNLIMIT_ID,
            json!({"Type": "connlimit", "Priority": 2, "Middleware": {
                "Connections": conn.connections, "Variable": conn.variable}}),
        ));
    }
    out
}

/// Where a route's objects live under a key prefix (`vulcand` on v3, `/vulcand` on v2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// `prefix` is used exactly as given, without a trailing slash.
    pub fn new(prefix: &str) -> Layout {
        Layout {
            prefix: prefix.trim_end_matches('/').to_string(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<p>/backends/<bid>/`: the backend and all its servers.
    pub fn backend_dir(&self, id: &RouteId) -> String {
        format!("{}/backends/{}/", self.prefix, id)
    }

    pub fn backend_key(&self, id: &RouteId) -> String {
        format!("{}backend", self.backend_dir(id))
    }

    /// `<p>/backends/<bid>/servers/`
    pub fn servers_dir(&self, id: &RouteId) -> String {
        format!("{}servers/", self.backend_dir(id))
    }

    pub fn server_key(&self, id: &RouteId, server: &ServerId) -> String {
        format!("{}{}", self.servers_dir(id), server)
    }

    /// `<p>/frontends/<fid>/`: the frontend and its middlewares.
    pub fn frontend_dir(&self, id: &RouteId) -> String {
        format!("{}/frontends/{}/", self.prefix, id)
    }

    pub fn frontend_key(&self, id: &RouteId) -> String {
        format!("{}frontend", self.frontend_dir(id))
    }

    pub fn middlewares_dir(&self, id: &RouteId) -> String {
        format!("{}middlewares/", self.frontend_dir(id))
    }

    pub fn middleware_key(&self, id: &RouteId, middleware: &str) -> String {
        format!("{}{}", self.middlewares_dir(id), middleware)
    }
}

/// A route's shared objects as they should be: what every node writes alike.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteObjects {
    pub id: RouteId,
    pub backend: Value,
    pub frontend: Value,
    pub middlewares: Vec<(&'static str, Value)>,
}

impl RouteObjects {
    pub fn of(spec: &RouteSpec) -> RouteObjects {
        RouteObjects {
            id: spec.key.id(),
            backend: backend_value(),
            frontend: frontend_value(&spec.key),
            middlewares: middleware_values(&spec.limits),
        }
    }

    /// Havok's middlewares this route does not have: a rewrite deletes them,
    /// so a limit taken off a route leaves nothing behind.
    pub fn stale_middlewares(&self) -> impl Iterator<Item = &'static str> + '_ {
        HAVOK_MIDDLEWARES
            .into_iter()
            .filter(|mid| !self.middlewares.iter().any(|(m, _)| m == mid))
    }
}

/// Parses a route expression havok wrote back into its route, so a frontend
/// read from Vulcand can be recognised as havok's (its id must also match).
pub fn parse_route_expression(route: &str) -> Option<RouteKey> {
    let rest = route.strip_prefix("Host(`")?;
    let (host, rest) = rest.split_once("`) && PathRegexp(`")?;
    let regexp = rest.strip_suffix("`)")?;
    let path = if regexp == "/.*" {
        None
    } else {
        let inner = regexp.strip_prefix('^')?.strip_suffix("(/.*)?$")?;
        Some(inner.replace("\\.", "."))
    };
    let key = RouteKey {
        host: host.to_string(),
        path,
    };
    (route_expression(&key) == route).then_some(key)
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

    /// Ids are deterministic and readable.
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
    }

    #[test]
    fn keys_follow_vulcand_layout() {
        let v3 = Layout::new("vulcand");
        let v2 = Layout::new("/vulcand/");
        let id = RouteKey::host("foo.local").id();
        let sid = ServerId::new("n", "web-1");
        assert_eq!(
            v3.backend_key(&id),
            format!("vulcand/backends/{id}/backend")
        );
        assert_eq!(
            v3.server_key(&id, &sid),
            format!("vulcand/backends/{id}/servers/{sid}")
        );
        assert_eq!(
            v3.frontend_key(&id),
            format!("vulcand/frontends/{id}/frontend")
        );
        assert_eq!(
            v2.middleware_key(&id, RATELIMIT_ID),
            format!("/vulcand/frontends/{id}/middlewares/havok-ratelimit")
        );
    }

    /// Each row: a route and its expression; the expression parses back to the route.
    #[test]
    fn route_expressions() {
        let cases = [
            (
                RouteKey::host("foo.local"),
                "Host(`foo.local`) && PathRegexp(`/.*`)",
            ),
            (
                RouteKey {
                    host: "a-1.local".into(),
                    path: Some("/api/v1.2".into()),
                },
                "Host(`a-1.local`) && PathRegexp(`^/api/v1\\.2(/.*)?$`)",
            ),
        ];
        for (key, want) in cases {
            assert_eq!(route_expression(&key), want);
            assert_eq!(parse_route_expression(want), Some(key));
        }
        assert_eq!(parse_route_expression("Host(`x`)"), None);
        assert_eq!(
            parse_route_expression("Host(`a`) && PathRegexp(`/b`)"),
            None
        );
    }

    /// Each row: a stored server value and the URL read back from it.
    #[test]
    fn server_urls() {
        for (value, want) in [
            (
                r#"{"URL":"http://10.0.0.5:32768"}"#,
                "http://10.0.0.5:32768",
            ),
            (r#"{"URL":5}"#, r#"{"URL":5}"#),
            ("not json", "not json"),
        ] {
            assert_eq!(server_url(value), want);
        }
        assert_eq!(stored_json("not json"), json!("not json"));
    }

    /// A route's stale middlewares are havok's that it does not have.
    #[test]
    fn stale_middlewares() {
        let spec = RouteSpec {
            key: RouteKey::host("foo.local"),
            limits: Limits {
                rate: None,
                conn: Some(crate::model::ConnLimit {
                    connections: 3,
                    variable: "client.ip".into(),
                }),
            },
        };
        let objects = RouteObjects::of(&spec);
        assert_eq!(
            objects.stale_middlewares().collect::<Vec<_>>(),
            [RATELIMIT_ID]
        );
    }

    #[test]
    fn values() {
        let key = RouteKey::host("foo.local");
        let fe = frontend_value(&key);
        assert_eq!(fe["Type"], "http");
        assert_eq!(fe["BackendId"], key.id().as_str());
        assert_eq!(backend_value(), json!({"Type": "http"}));
        let limits = Limits {
            rate: Some(crate::model::RateLimit {
                requests: 5,
                burst: 2,
                variable: "client.ip".into(),
            }),
            conn: Some(crate::model::ConnLimit {
                connections: 3,
                variable: "client.ip".into(),
            }),
        };
        let mws = middleware_values(&limits);
        assert_eq!(mws[0].1["Middleware"]["Requests"], 5);
        assert_eq!(mws[1].1["Type"], "connlimit");
    }
}
