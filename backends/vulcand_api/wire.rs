//! What Vulcand's API answers (engine/model.go types, as api.go marshals
//! them), normalized to the values havok writes to etcd so the plan compares
//! like with like; and which frontends are havok's.

use reqwest::Url;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use super::client::Counted;
use crate::ids::RouteKey;
use crate::vulcand::{self, parse_route_expression};

/// The route a frontend is havok's for: its Route parses as one havok writes
/// and both its id and its BackendId are that route's id. Anything else is an
/// operator's and never touched.
pub(super) fn havok_route(frontend: &ApiFrontend) -> Option<RouteKey> {
    let key = parse_route_expression(&frontend.route)?;
    let id = key.id();
    (frontend.id == id.as_str() && frontend.backend_id == id.as_str()).then_some(key)
}

/// `value` (one of `crate::vulcand`'s objects) with `"Id"` added, as the API wants it.
pub(super) fn with_id(value: &Value, id: &str) -> Value {
    let mut value = value.clone();
    value["Id"] = json!(id);
    value
}

/// The `message` of Vulcand's error body (api.go sendResponse).
pub(super) fn vulcand_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Error {
        message: String,
    }
    serde_json::from_slice::<Error>(body)
        .ok()
        .map(|e| e.message)
}

pub(super) fn without_credentials(mut url: Url) -> String {
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str().trim_end_matches('/').to_string()
}

/// An etcd-backed Vulcand marshals an empty list as `null` (etcdng/v3
/// GetServers starts from a nil slice); memng as `[]`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Option::<Vec<T>>::deserialize(d).map(Option::unwrap_or_default)
}

/// A list answer (`{"Frontends":[…]}`, `{"Backends":[…]}`, `{"Servers":[…]}`,
/// `{"Middlewares":[…]}`): every list of the API has one field, named for what it holds.
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub(super) struct List<T> {
    #[serde(
        default = "Vec::new",
        deserialize_with = "list",
        alias = "Frontends",
        alias = "Backends",
        alias = "Servers",
        alias = "Middlewares"
    )]
    pub(super) items: Vec<T>,
}

impl<T> Counted for List<T> {
    fn count(&self) -> u64 {
        self.items.len() as u64
    }
}
impl Counted for ApiFrontend {}

/// engine.Frontend (every field may be missing: `default`); the answer
/// also carries `Stats`, which havok does not read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiFrontend {
    pub(super) id: String,
    pub(super) route: String,
    #[serde(rename = "Type")]
    pub(super) kind: String,
    pub(super) backend_id: String,
    /// Vulcand answers every field, all zero when none was posted.
    pub(super) settings: Option<Value>,
}

impl ApiFrontend {
    /// The shape `crate::vulcand::frontend_value` writes to etcd, so the
    /// reconciler compares like with like: zero settings are no settings.
    pub(super) fn normalized(&self) -> Value {
        let value = json!({"Type": self.kind, "BackendId": self.backend_id, "Route": self.route});
        with_settings(
            value,
            &self.settings,
            vulcand::frontend_settings_value(&Default::default()),
        )
    }
}

/// `value` with the answer's `Settings`, unless they are `zero` (Vulcand
/// answers every field, all zero when none was posted) or missing.
fn with_settings(mut value: Value, settings: &Option<Value>, zero: Value) -> Value {
    match settings {
        Some(settings) if *settings != zero && !settings.is_null() => {
            value["Settings"] = settings.clone();
        }
        _ => {}
    }
    value
}

/// engine.Backend.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiBackend {
    pub(super) id: String,
    #[serde(rename = "Type")]
    pub(super) kind: String,
    /// Vulcand answers every field, all zero when none was posted.
    pub(super) settings: Option<Value>,
}

impl ApiBackend {
    /// `crate::vulcand::backend_value`'s shape: zero settings are no settings.
    pub(super) fn normalized(&self) -> Value {
        with_settings(
            json!({"Type": self.kind}),
            &self.settings,
            vulcand::backend_settings_value(&Default::default()),
        )
    }
}

/// engine.Server.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ApiServer {
    #[serde(rename = "Id")]
    pub(super) id: String,
    #[serde(rename = "URL")]
    pub(super) url: String,
}

/// engine.Middleware: the plugin's own struct under `Middleware` (for
/// ratelimit and connlimit, the fields havok writes).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct ApiMiddleware {
    pub(super) id: String,
    pub(super) priority: i64,
    #[serde(rename = "Type")]
    pub(super) kind: String,
    pub(super) middleware: Value,
}

impl ApiMiddleware {
    /// `crate::vulcand::middleware_values`' shape: no `Id`.
    pub(super) fn normalized(&self) -> Value {
        json!({"Type": self.kind, "Priority": self.priority, "Middleware": self.middleware})
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BackendSettings, FrontendSettings};

    /// Frontends are havok's only when route, id and backend id all agree.
    #[test]
    fn ownership_of_frontends() {
        let key = RouteKey::host("foo.local");
        let id = key.id().to_string();
        let frontend = |id: &str, backend: &str, route: &str| ApiFrontend {
            id: id.into(),
            route: route.into(),
            kind: "http".into(),
            backend_id: backend.into(),
            settings: None,
        };
        let route = vulcand::route_expression(&key);
        assert_eq!(havok_route(&frontend(&id, &id, &route)), Some(key));
        assert_eq!(havok_route(&frontend("f1", &id, &route)), None);
        assert_eq!(havok_route(&frontend(&id, "b1", &route)), None);
        assert_eq!(havok_route(&frontend(&id, &id, "Host(`foo.local`)")), None);
    }

    /// What the API answers normalizes to exactly what `crate::vulcand` writes to etcd.
    #[test]
    fn answers_normalize_to_etcd_values() {
        let key = RouteKey::host("foo.local");
        let id = key.id().to_string();
        // Zero settings (what Vulcand answers when none were posted) are none;
        // any other settings are kept as they are.
        let plain = FrontendSettings::default();
        let limited = FrontendSettings {
            max_body_bytes: 10,
            ..Default::default()
        };
        for settings in [&plain, &limited] {
            let answer = json!({"Frontends": [{"Id": id, "Route": vulcand::route_expression(&key),
                "Type": "http", "BackendId": id, "Settings": vulcand::frontend_settings_value(settings)}]});
            let list: List<ApiFrontend> = serde_json::from_value(answer).unwrap();
            assert_eq!(
                list.items[0].normalized(),
                vulcand::frontend_value(&key, settings)
            );
        }
        let timed = BackendSettings {
            timeout_read: "1s".into(),
            tls_insecure_skip_verify: true,
            ..Default::default()
        };
        for settings in [&BackendSettings::default(), &timed] {
            let backend: List<ApiBackend> = serde_json::from_value(json!({"Backends": [{"Id": id,
                "Type": "http", "Settings": vulcand::backend_settings_value(settings)}]}))
            .unwrap();
            assert_eq!(
                backend.items[0].normalized(),
                vulcand::backend_value(settings)
            );
        }
        let none: List<ApiServer> = serde_json::from_value(json!({"Servers": null})).unwrap();
        assert!(none.items.is_empty());
    }

    #[test]
    fn error_bodies_and_urls() {
        assert_eq!(
            vulcand_message(br#"{"message":"object not found"}"#).as_deref(),
            Some("object not found")
        );
        assert_eq!(vulcand_message(b"<html>"), None);
        let url = Url::parse("https://user:pw@vulcand:8182/").unwrap();
        assert_eq!(without_credentials(url), "https://vulcand:8182");
    }
}
