//! The contract server's HTTP side, as api.go has it: gorilla mux's routes,
//! handlerWithBody's error answers, and responses marshalled as Go does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};

use super::{go, Shared};

/// An error as handlerWithBody answers it: `{"message": err.Error()}`.
pub(super) enum ApiError {
    /// engine.NotFoundError: 404.
    NotFound(String),
    /// Everything else havok can meet: 500 (api.go maps only
    /// InvalidFormatError, AlreadyExistsError and a value errMissingField to
    /// other codes, and memng raises none of them; parse*Pack returns a
    /// *pointer* errMissingField, which falls through to 500 too).
    Internal(String),
}

pub(super) type Answer = Result<Value, ApiError>;

pub(super) fn not_found() -> ApiError {
    // engine.NotFoundError with no message.
    ApiError::NotFound("object not found".into())
}

/// Every request: gorilla mux's routes from api.go InitProxyController, and
/// its NotFoundHandler (`Object not found`) for any other path or method.
pub(super) async fn handle(State(shared): State<Arc<Mutex<Shared>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 16 << 20).await else {
        return respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!("failed to read request body"),
        );
    };
    // handlerWithBody runs r.ParseForm() first: for a form content type on
    // POST/PUT/PATCH that reads the body, leaving nothing for the JSON decoder.
    let form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let body: &[u8] = if form && [Method::POST, Method::PUT, Method::PATCH].contains(&parts.method)
    {
        b""
    } else {
        &bytes
    };
    let path: Vec<String> = parts.uri.path()[1..]
        .split('/')
        .map(percent_decode)
        .collect();
    let path: Vec<&str> = path.iter().map(String::as_str).collect();

    let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
    if parts.method != Method::GET {
        shared
            .writes
            .push(format!("{} {}", parts.method, parts.uri.path()));
    }
    let mem = &mut shared.mem;
    let answer = match (parts.method.as_str(), path.as_slice()) {
        ("GET", ["v1" | "v2", "status"]) => Ok(json!({"Status": "ok"})),

        ("POST", ["v2", "backends"]) => mem.upsert_backend(body),
        ("GET", ["v2", "backends"]) => Ok(json!({"Backends": list(&mem.backends)})),
        ("GET", ["v2", "backends", id]) => mem.get_backend(id),
        ("DELETE", ["v2", "backends", id]) => mem.delete_backend(id),

        ("GET", ["v2", "backends", bid, "servers"]) => Ok(json!({
            "Servers": mem.servers.get(*bid).cloned().unwrap_or_default()
        })),
        ("POST", ["v2", "backends", bid, "servers"]) => mem.upsert_server(bid, body),
        ("GET", ["v2", "backends", bid, "servers", id]) => mem.get_server(bid, id),
        ("DELETE", ["v2", "backends", bid, "servers", id]) => mem.delete_server(bid, id),

        ("POST", ["v2", "frontends"]) => mem.upsert_frontend(body),
        ("GET", ["v2", "frontends"]) => Ok(json!({"Frontends": list(&mem.frontends)})),
        ("GET", ["v2", "frontends", id]) => mem.get_frontend(id),
        ("DELETE", ["v2", "frontends", id]) => mem.delete_frontend(id),

        ("POST", ["v2", "frontends", fid, "middlewares"]) => mem.upsert_middleware(fid, body),
        ("GET", ["v2", "frontends", fid, "middlewares"]) => Ok(json!({
            "Middlewares": mem.middlewares.get(*fid).cloned().unwrap_or_default()
        })),
        ("GET", ["v2", "frontends", fid, "middlewares", id]) => mem.get_middleware(fid, id),
        ("DELETE", ["v2", "frontends", fid, "middlewares", id]) => mem.delete_middleware(fid, id),

        _ => Err(ApiError::NotFound("Object not found".into())),
    };
    drop(shared);
    match answer {
        Ok(value) => respond(StatusCode::OK, value),
        Err(ApiError::NotFound(m)) => respond(StatusCode::NOT_FOUND, json!({"message": m})),
        Err(ApiError::Internal(m)) => {
            respond(StatusCode::INTERNAL_SERVER_ERROR, json!({"message": m}))
        }
    }
}

/// api.go sendResponse: JSON as Go marshals it.
fn respond(status: StatusCode, value: Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(go::marshal(&value)))
        .expect("a response")
}

fn list<T: Serialize>(objects: &BTreeMap<String, T>) -> Vec<&T> {
    objects.values().collect()
}

pub(super) fn to_value(object: &impl Serialize) -> Value {
    serde_json::to_value(object).expect("serializable")
}

/// gorilla mux matches the decoded path (`r.URL.Path`).
fn percent_decode(segment: &str) -> String {
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
