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
//!
//! A route's settings (`crate::model::Settings`) add `Settings` to the
//! backend and frontend values, as the API returns them (every field), and
//! the cbreaker, rewrite and trace middlewares (`plugin/cbreaker`,
//! `plugin/rewrite`, `plugin/trace`). A route without settings is written
//! as before settings existed.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::ids::{RouteId, RouteKey, ServerId};
use crate::model::{BackendSettings, FrontendSettings, Limits, RouteSpec, Settings};

/// Middleware ids havok writes under its frontends. None is a prefix of another.
pub const RATELIMIT_ID: &str = "havok-ratelimit";
pub const CONNLIMIT_ID: &str = "havok-connlimit";
pub const CBREAKER_ID: &str = "havok-cbreaker";
pub const REWRITE_ID: &str = "havok-rewrite";
pub const TRACE_ID: &str = "havok-trace";

/// Every middleware id havok writes: any other under a frontend is an
/// operator's, never read as havok's nor deleted.
pub const HAVOK_MIDDLEWARES: [&str; 5] = [
    RATELIMIT_ID,
    CONNLIMIT_ID,
    CBREAKER_ID,
    REWRITE_ID,
    TRACE_ID,
];

/// Middleware priorities (lower runs first): trace sees every request, a
/// rewrite redirects before limits count, the breaker sits next to the servers.
const TRACE_PRIORITY: i64 = -2;
const REWRITE_PRIORITY: i64 = -1;
const RATELIMIT_PRIORITY: i64 = 1;
const CONNLIMIT_PRIORITY: i64 = 2;
const CBREAKER_PRIORITY: i64 = 3;

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

/// The backend value: `{"Type":"http"}` (engine/model.go: Type must be
/// `http`), with `Settings` when the route has any.
pub fn backend_value(settings: &BackendSettings) -> Value {
    if *settings == BackendSettings::default() {
        json!({"Type": "http"})
    } else {
        json!({"Type": "http", "Settings": backend_settings_value(settings)})
    }
}

/// engine.HTTPBackendSettings, every field as the API returns it.
pub fn backend_settings_value(settings: &BackendSettings) -> Value {
    let mut value = json!({
        "Timeouts": {
            "Read": settings.timeout_read,
            "Dial": settings.timeout_dial,
            "TLSHandshake": settings.timeout_tls_handshake,
        },
        "KeepAlive": {
            "Period": settings.keepalive_period,
            "MaxIdleConnsPerHost": settings.keepalive_max_idle_per_host,
        },
    });
    if settings.tls_insecure_skip_verify {
        // engine.TLSSettings, every field as the API returns it.
        value["TLS"] = json!({
            "PreferServerCipherSuites": false,
            "InsecureSkipVerify": true,
            "MinVersion": "",
            "MaxVersion": "",
            "SessionTicketsDisabled": false,
            "SessionCache": {"Type": "", "Settings": null},
            "CipherSuites": null,
        });
    }
    value
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

/// The frontend value for a route, with `Settings` when it has any.
pub fn frontend_value(key: &RouteKey, settings: &FrontendSettings) -> Value {
    let mut value =
        json!({"Type": "http", "BackendId": key.id().as_str(), "Route": route_expression(key)});
    if *settings != FrontendSettings::default() {
        value["Settings"] = frontend_settings_value(settings);
    }
    value
}

/// engine.HTTPFrontendSettings, every field as the API returns it.
pub fn frontend_settings_value(settings: &FrontendSettings) -> Value {
    json!({
        "Limits": {
            "MaxMemBodyBytes": settings.max_mem_body_bytes,
            "MaxBodyBytes": settings.max_body_bytes,
        },
        "FailoverPredicate": settings.failover_predicate,
        "Hostname": settings.hostname,
        "TrustForwardHeader": settings.trust_forward_header,
        "PassHostHeader": settings.pass_host_header,
        "Stream": settings.stream,
        "StreamFlushIntervalNanoSecs": 0,
    })
}

/// The middlewares a route spec asks for, by id, as Vulcand's
/// `{"Type","Priority","Middleware"}` values (lower priority runs first).
pub fn middleware_values(limits: &Limits, settings: &Settings) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if let Some(trace) = &settings.trace {
        // plugin/trace: {ReqHeaders, RespHeaders, Addr}.
        out.push((
            TRACE_ID,
            json!({"Type": "trace", "Priority": TRACE_PRIORITY, "Middleware": {
                "ReqHeaders": null, "RespHeaders": null, "Addr": trace.addr}}),
        ));
    }
    if let Some(rewrite) = &settings.rewrite {
        // plugin/rewrite: {Regexp, Replacement, RewriteBody, Redirect}.
        out.push((
            REWRITE_ID,
            json!({"Type": "rewrite", "Priority": REWRITE_PRIORITY, "Middleware": {
                "Regexp": rewrite.regexp, "Replacement": rewrite.replacement,
                "RewriteBody": rewrite.body, "Redirect": rewrite.redirect}}),
        ));
    }
    if let Some(rate) = &limits.rate {
        // plugin/ratelimit: FromOther(RateLimit{PeriodSeconds, Requests, Burst, Variable, RateVar}).
        out.push((
            RATELIMIT_ID,
            json!({"Type": "ratelimit", "Priority": RATELIMIT_PRIORITY, "Middleware": {
                "PeriodSeconds": 1, "Requests": rate.requests, "Burst": rate.burst,
                "Variable": rate.variable, "RateVar": ""}}),
        ));
    }
    if let Some(conn) = &limits.conn {
        // plugin/connlimit: FromOther(ConnLimit{Connections, Variable}).
        out.push((
            CONNLIMIT_ID,
            json!({"Type": "connlimit", "Priority": CONNLIMIT_PRIORITY, "Middleware": {
                "Connections": conn.connections, "Variable": conn.variable}}),
        ));
    }
    if let Some(cb) = &settings.cbreaker {
        // plugin/cbreaker: durations in nanoseconds; the fallback is oxy's
        // response action, whose Body is Go []byte (base64 in JSON).
        out.push((
            CBREAKER_ID,
            json!({"Type": "cbreaker", "Priority": CBREAKER_PRIORITY, "Middleware": {
                "Condition": cb.condition,
                "Fallback": {"Type": "response", "Action": {
                    "ContentType": "text/plain",
                    "StatusCode": cb.fallback_status,
                    "Body": base64::engine::general_purpose::STANDARD.encode(&cb.fallback_body),
                }},
                "OnTripped": null,
                "OnStandby": null,
                "FallbackDuration": cb.fallback_duration_ns,
                "RecoveryDuration": cb.recovery_duration_ns,
                "CheckPeriod": cb.check_period_ns}}),
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
            backend: backend_value(&spec.settings.backend),
            frontend: frontend_value(&spec.key, &spec.settings.frontend),
            middlewares: middleware_values(&spec.limits, &spec.settings),
        }
    }

    /// Havok's middlewares this route does not have: those of them the
    /// store holds, a rewrite deletes, so a limit taken off leaves nothing behind.
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
            [RATELIMIT_ID, CBREAKER_ID, REWRITE_ID, TRACE_ID]
        );
    }

    /// A route's settings as Vulcand reads them: durations of the backend as
    /// Go strings, of the cbreaker as nanoseconds, its fallback body in base64.
    #[test]
    fn settings_values() {
        let key = RouteKey::host("foo.local");
        let settings = Settings {
            frontend: FrontendSettings {
                max_body_bytes: 10,
                pass_host_header: true,
                ..Default::default()
            },
            backend: BackendSettings {
                timeout_read: "1s".into(),
                tls_insecure_skip_verify: true,
                ..Default::default()
            },
            cbreaker: Some(crate::model::CircuitBreaker {
                condition: "NetworkErrorRatio() > 0.5".into(),
                fallback_status: 503,
                fallback_body: "down".into(),
                fallback_duration_ns: 10_000_000_000,
                recovery_duration_ns: 10_000_000_000,
                check_period_ns: 100_000_000,
            }),
            rewrite: Some(crate::model::Rewrite {
                regexp: "^http://a/(.*)".into(),
                replacement: "http://b/$1".into(),
                redirect: true,
                body: false,
            }),
            trace: Some(crate::model::Trace {
                addr: "syslog://127.0.0.1:514".into(),
            }),
        };
        let fe = frontend_value(&key, &settings.frontend);
        assert_eq!(
            fe["Settings"]["Limits"],
            json!({"MaxMemBodyBytes": 0, "MaxBodyBytes": 10})
        );
        assert_eq!(fe["Settings"]["PassHostHeader"], true);
        let be = backend_value(&settings.backend);
        assert_eq!(
            be["Settings"]["Timeouts"],
            json!({"Read": "1s", "Dial": "", "TLSHandshake": ""})
        );
        assert_eq!(be["Settings"]["TLS"]["InsecureSkipVerify"], true);
        let mws = middleware_values(&Limits::default(), &settings);
        let ids: Vec<_> = mws.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [TRACE_ID, REWRITE_ID, CBREAKER_ID]);
        assert!(ids.iter().all(|id| is_havok_middleware(id)));
        let cb = &mws[2].1;
        assert_eq!(cb["Middleware"]["CheckPeriod"], 100_000_000);
        assert_eq!(cb["Middleware"]["Fallback"]["Action"]["Body"], "ZG93bg==");
        assert_eq!(mws[1].1["Middleware"]["Redirect"], true);
        assert_eq!(mws[0].1["Middleware"]["Addr"], "syslog://127.0.0.1:514");
        // Havok's middleware ids are prefix-free (Vulcand's v3 engine deletes by prefix).
        for a in HAVOK_MIDDLEWARES {
            for b in HAVOK_MIDDLEWARES {
                assert!(a == b || !a.starts_with(b), "{a} starts with {b}");
            }
        }
    }

    #[test]
    fn values() {
        let key = RouteKey::host("foo.local");
        let fe = frontend_value(&key, &FrontendSettings::default());
        assert_eq!(fe["Type"], "http");
        assert_eq!(fe["BackendId"], key.id().as_str());
        assert_eq!(fe.get("Settings"), None);
        assert_eq!(
            backend_value(&BackendSettings::default()),
            json!({"Type": "http"})
        );
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
        let mws = middleware_values(&limits, &Settings::default());
        assert_eq!(mws[0].1["Middleware"]["Requests"], 5);
        assert_eq!(mws[1].1["Type"], "connlimit");
    }
}
