//! What each write does to memng's state: api.go parse*Pack, engine/json.go
//! *FromJSON, the memng engine, and the ratelimit/connlimit plugins' checks.

use serde_json::{json, Map, Value};

use super::api::{not_found, to_value, Answer, ApiError};
use super::pack::{check_ttl, field, int_field, object, read_pack, settings, string_field};
use super::{go, Backend, BackendSettings, Frontend, FrontendSettings, Mem, Middleware, Server};

impl Mem {
    /// api.go upsertBackend → parseBackendPack → engine.BackendFromJSON → memng UpsertBackend.
    pub(super) fn upsert_backend(&mut self, body: &[u8]) -> Answer {
        let (raw, _) = read_pack(body, "backendReadPack", "Backend", false)?;
        let raw = object(&raw, "engine.rawBackend")?;
        let id = string_field(&raw, "rawBackend", "Id")?;
        let kind = string_field(&raw, "rawBackend", "Type")?;
        if kind != "http" {
            return Err(ApiError::Internal(format!(
                "Unsupported backend type {kind}"
            )));
        }
        let settings: BackendSettings = settings(&raw)?;
        // engine.NewHTTPBackend → transportSettings parses each duration.
        for (what, value) in [
            ("read timeout", &settings.timeouts.read),
            ("dial timeout", &settings.timeouts.dial),
            ("tls handshake timeout", &settings.timeouts.tls_handshake),
            ("keepalive period", &settings.keep_alive.period),
        ] {
            if !value.is_empty() {
                go::parse_duration(value)
                    .map_err(|e| ApiError::Internal(format!("invalid {what}: {e}")))?;
            }
        }
        let backend = Backend { id, kind, settings };
        // memng accepts an empty id (the etcd engines refuse it).
        self.backends.insert(backend.id.clone(), backend.clone());
        Ok(to_value(&backend))
    }

    pub(super) fn get_backend(&self, id: &str) -> Answer {
        self.backends.get(id).map(to_value).ok_or_else(not_found)
    }

    /// memng DeleteBackend: refused while a frontend uses it; its servers stay.
    pub(super) fn delete_backend(&mut self, id: &str) -> Answer {
        if let Some(user) = self.frontends.values().find(|f| f.backend_id == id) {
            return Err(ApiError::Internal(format!(
                "Backend is in use by {}",
                user.go_value()
            )));
        }
        self.backends.remove(id).ok_or_else(not_found)?;
        Ok(json!({"message": "Backend deleted"}))
    }

    /// api.go upsertServer → parseServerPack → engine.ServerFromJSON/NewServer.
    pub(super) fn upsert_server(&mut self, bid: &str, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "serverReadPack", "Server", true)?;
        let raw = object(&raw, "engine.Server")?;
        let id = string_field(&raw, "Server", "Id")?;
        let url = string_field(&raw, "Server", "URL")?;
        if !go::parse_request_uri(&url) {
            return Err(ApiError::Internal(format!(
                "endpoint url '{url}' is not valid"
            )));
        }
        check_ttl(&ttl)?;
        // memng takes a server for a backend it does not know (checked
        // against the real Vulcand v0.9.2); only the etcd engines refuse it.
        let server = Server { id, url };
        // memng UpsertServer: replace by id, else append; the TTL is ignored.
        let servers = self.servers.entry(bid.to_string()).or_default();
        match servers.iter_mut().find(|s| s.id == server.id) {
            Some(existing) => *existing = server.clone(),
            None => servers.push(server.clone()),
        }
        Ok(to_value(&server))
    }

    pub(super) fn get_server(&self, bid: &str, id: &str) -> Answer {
        let servers = self.servers.get(bid).ok_or_else(not_found)?;
        servers
            .iter()
            .find(|s| s.id == id)
            .map(to_value)
            .ok_or_else(not_found)
    }

    pub(super) fn delete_server(&mut self, bid: &str, id: &str) -> Answer {
        let servers = self.servers.get_mut(bid).ok_or_else(not_found)?;
        let at = servers
            .iter()
            .position(|s| s.id == id)
            .ok_or_else(not_found)?;
        servers.remove(at);
        Ok(json!({"message": "Server deleted"}))
    }

    /// api.go upsertFrontend → parseFrontendPack → engine.FrontendFromJSON /
    /// NewHTTPFrontend → memng UpsertFrontend (backend must exist).
    pub(super) fn upsert_frontend(&mut self, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "frontendReadPack", "Frontend", true)?;
        let raw = object(&raw, "engine.rawFrontend")?;
        let id = string_field(&raw, "rawFrontend", "Id")?;
        let route = string_field(&raw, "rawFrontend", "Route")?;
        let kind = string_field(&raw, "rawFrontend", "Type")?;
        let backend_id = string_field(&raw, "rawFrontend", "BackendId")?;
        if kind != "http" {
            return Err(ApiError::Internal(format!(
                "Unsupported frontend type: {kind}"
            )));
        }
        let settings: FrontendSettings = settings(&raw)?;
        let frontend = Frontend {
            id,
            route,
            kind,
            backend_id,
            settings,
        };
        if frontend.id.is_empty() || frontend.backend_id.is_empty() {
            return Err(ApiError::Internal(
                "supply valid  route, id, and backendId".into(),
            ));
        }
        if !go::valid_route(&frontend.route) {
            return Err(ApiError::Internal(format!(
                "route should be a valid route expression: {}",
                frontend.route
            )));
        }
        check_ttl(&ttl)?;
        if !self.backends.contains_key(&frontend.backend_id) {
            return Err(ApiError::NotFound(format!(
                "backend: {} not found",
                frontend.backend_id
            )));
        }
        self.frontends.insert(frontend.id.clone(), frontend.clone());
        Ok(to_value(&frontend))
    }

    pub(super) fn get_frontend(&self, id: &str) -> Answer {
        self.frontends.get(id).map(to_value).ok_or_else(not_found)
    }

    /// memng DeleteFrontend: the frontend only; its middlewares stay behind.
    pub(super) fn delete_frontend(&mut self, id: &str) -> Answer {
        self.frontends.remove(id).ok_or_else(not_found)?;
        Ok(json!({"message": "Frontend deleted"}))
    }

    /// api.go upsertMiddleware → parseMiddlewarePack → engine.MiddlewareFromJSON
    /// (the plugin's FromOther validates) → memng UpsertMiddleware.
    pub(super) fn upsert_middleware(&mut self, fid: &str, body: &[u8]) -> Answer {
        let (raw, ttl) = read_pack(body, "middlewareReadPack", "Middleware", true)?;
        let raw = object(&raw, "engine.RawMiddleware")?;
        let id = string_field(&raw, "RawMiddleware", "Id")?;
        let kind = string_field(&raw, "RawMiddleware", "Type")?;
        let priority = int_field(&raw, "RawMiddleware", "Priority", "int")?;
        let plugin = field(&raw, "Middleware").cloned();
        let middleware = match kind.as_str() {
            "ratelimit" => ratelimit(plugin)?,
            "connlimit" => connlimit(plugin)?,
            _ => {
                return Err(ApiError::Internal(format!(
                    "middleware of type {kind} is not supported"
                )))
            }
        };
        check_ttl(&ttl)?;
        let middleware = Middleware {
            id,
            priority,
            kind,
            middleware,
        };
        if !self.frontends.contains_key(fid) {
            return Err(ApiError::NotFound(format!("'{fid}' not found")));
        }
        let list = self.middlewares.entry(fid.to_string()).or_default();
        match list.iter_mut().find(|m| m.id == middleware.id) {
            Some(existing) => *existing = middleware.clone(),
            None => list.push(middleware.clone()),
        }
        Ok(to_value(&middleware))
    }

    pub(super) fn get_middleware(&self, fid: &str, id: &str) -> Answer {
        let list = self
            .middlewares
            .get(fid)
            .ok_or_else(|| ApiError::NotFound(format!("'{fid}' not found")))?;
        list.iter()
            .find(|m| m.id == id)
            .map(to_value)
            .ok_or_else(|| ApiError::NotFound(format!("'{fid}.{id}' not found")))
    }

    pub(super) fn delete_middleware(&mut self, fid: &str, id: &str) -> Answer {
        let list = self.middlewares.get_mut(fid).ok_or_else(not_found)?;
        let at = list.iter().position(|m| m.id == id).ok_or_else(not_found)?;
        list.remove(at);
        Ok(json!({"message": "Middleware deleted"}))
    }
}

/// plugin/ratelimit FromOther's checks, in its order.
fn ratelimit(plugin: Option<Value>) -> Result<Value, ApiError> {
    let raw = plugin_object(plugin, "ratelimit.RateLimit")?;
    let int = |name| int_field(&raw, "RateLimit", name, "int64");
    let (period, requests, burst) = (int("PeriodSeconds")?, int("Requests")?, int("Burst")?);
    let variable = string_field(&raw, "RateLimit", "Variable")?;
    let rate_var = string_field(&raw, "RateLimit", "RateVar")?;
    let fail = |m: String| Err(ApiError::Internal(m));
    if requests <= 0 {
        return fail(format!("requests should be > 0, got {requests}"));
    }
    if burst < 0 {
        return fail(format!("burst should be >= 0, got {burst}"));
    }
    if period <= 0 {
        return fail(format!("period seconds should be > 0, got {period}"));
    }
    check_variable(&variable)?;
    if !rate_var.is_empty() && !rate_var.starts_with("request.header.") {
        return fail(format!("unsupported variable format: {rate_var}"));
    }
    Ok(
        json!({"PeriodSeconds": period, "Requests": requests, "Burst": burst,
        "Variable": variable, "RateVar": rate_var}),
    )
}

/// plugin/connlimit NewConnLimit's checks, in its order.
fn connlimit(plugin: Option<Value>) -> Result<Value, ApiError> {
    let raw = plugin_object(plugin, "connlimit.ConnLimit")?;
    let connections = int_field(&raw, "ConnLimit", "Connections", "int64")?;
    let variable = string_field(&raw, "ConnLimit", "Variable")?;
    check_variable(&variable)?;
    if connections < 0 {
        return Err(ApiError::Internal(format!(
            "connections should be > 0, got {connections}"
        )));
    }
    Ok(json!({"Connections": connections, "Variable": variable}))
}

/// vulcand/oxy utils.NewExtractor.
fn check_variable(variable: &str) -> Result<(), ApiError> {
    match variable {
        "client.ip" | "request.host" => Ok(()),
        v if v.starts_with("request.header.") => match &v["request.header.".len()..] {
            "" => Err(ApiError::Internal("wrong header: ".into())),
            _ => Ok(()),
        },
        v => Err(ApiError::Internal(format!(
            "unsupported limiting variable: '{v}'"
        ))),
    }
}

/// The plugin spec's FromJSON unmarshals the raw `Middleware` into the
/// plugin's struct: nothing there is Go's `unexpected end of JSON input`,
/// `null` leaves the struct zero.
fn plugin_object(plugin: Option<Value>, go_type: &str) -> Result<Map<String, Value>, ApiError> {
    match plugin {
        None => Err(ApiError::Internal("unexpected end of JSON input".into())),
        Some(Value::Null) => Ok(Map::new()),
        Some(value) => object(&value, go_type),
    }
}
