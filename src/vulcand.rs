//! Vulcand's object layout as Vulcand parses it: key paths and JSON values
//! (the route and server ids in them are [`crate::ids`]).
//!
//! Facts from vulcand/vulcand v0.9.2 (`engine/model.go`, `engine/etcdng/v3/etcd.go`,
//! `engine/etcdng/v2/etcd.go`, `plugin/ratelimit`, `plugin/connlimit`), as
//! `docs/vulcand.md` records them, checked against a real Vulcand:
//! - `<p>/backends/<bid>/backend` = `{"Type":"http"}`
//! - `<p>/backends/<bid>/servers/<sid>` = `{"URL":"http://10.0.0.5:32768"}`
//! - `<p>/frontends/<fid>/frontend` = ``{"Type":"http","BackendId":"<bid>","Route":"Host(`h`) && PathRegexp(`/.*`)"}``
//! - `<p>/frontends/<fid>/middlewares/<mid>` = `{"Type":"ratelimit","Priority":1,"Middleware":{…}}`

use serde_json::{json, Value};

use crate::ids::{RouteId, RouteKey, ServerId};
use crate::model::{Limits, RouteSpec};

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

    /// `<p>/<kind>/<id>/`.
    fn object_dir(&self, kind: &str, id: &RouteId) -> String {
        format!("{}/{kind}/{id}/", self.prefix)
    }

    /// `<p>/backends/<bid>/`: the backend and all its servers.
    pub fn backend_dir(&self, id: &RouteId) -> String {
        self.object_dir("backends", id)
    }

    pub fn backend_key(&self, id: &RouteId) -> String {
        self.backend_dir(id) + "backend"
    }

    /// `<p>/backends/<bid>/servers/`
    pub fn servers_dir(&self, id: &RouteId) -> String {
        self.backend_dir(id) + "servers/"
    }

    pub fn server_key(&self, id: &RouteId, server: &ServerId) -> String {
        self.servers_dir(id) + server.as_str()
    }

    /// `<p>/frontends/<fid>/`: the frontend and its middlewares.
    pub fn frontend_dir(&self, id: &RouteId) -> String {
        self.object_dir("frontends", id)
    }

    pub fn frontend_key(&self, id: &RouteId) -> String {
        self.frontend_dir(id) + "frontend"
    }

    pub fn middlewares_dir(&self, id: &RouteId) -> String {
        self.frontend_dir(id) + "middlewares/"
    }

    pub fn middleware_key(&self, id: &RouteId, middleware: &str) -> String {
        self.middlewares_dir(id) + middleware
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
            settings: Default::default(),
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
