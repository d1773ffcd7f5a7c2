//! Request bodies read as encoding/json reads them into Vulcand's structs:
//! the pack, its fields (case-insensitive names, Go's type errors) and `Settings`.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::api::ApiError;
use super::go;

/// api.go parse*Pack: the body decoded into `{<field> json.RawMessage, TTL string}`,
/// then the missing-field check. Returns the raw object and the TTL.
pub(super) fn read_pack(
    body: &[u8],
    go_type: &str,
    name: &str,
    has_ttl: bool,
) -> Result<(Value, String), ApiError> {
    if let Some(error) = go::json_syntax_error(body) {
        return Err(ApiError::Internal(error));
    }
    let value: Value = serde_json::from_slice(body).expect("checked JSON");
    let pack = match value {
        // parseBackendPack decodes into a pointer, which `null` leaves nil;
        // the others into a zero struct: both end as a missing parameter.
        Value::Null => Map::new(),
        Value::Object(map) => map,
        other => {
            return Err(ApiError::Internal(format!(
                "json: cannot unmarshal {} into Go value of type api.{go_type}",
                go::kind(&other)
            )))
        }
    };
    let ttl = if has_ttl {
        string_field(&pack, go_type, "TTL")?
    } else {
        String::new()
    };
    match field(&pack, name) {
        None | Some(Value::Null) => Err(ApiError::Internal(format!(
            "Missing mandatory parameter: {name}"
        ))),
        Some(raw) => Ok((raw.clone(), ttl)),
    }
}

/// The pack's TTL, parsed by time.ParseDuration when not empty.
pub(super) fn check_ttl(ttl: &str) -> Result<(), ApiError> {
    if ttl.is_empty() {
        return Ok(());
    }
    go::parse_duration(ttl).map_err(ApiError::Internal)
}

pub(super) fn object(value: &Value, go_type: &str) -> Result<Map<String, Value>, ApiError> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        other => Err(ApiError::Internal(format!(
            "json: cannot unmarshal {} into Go value of type {go_type}",
            go::kind(other)
        ))),
    }
}

/// A struct field as encoding/json finds it: the exact key, else one that
/// matches without regard to case.
pub(super) fn field<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

pub(super) fn string_field(
    map: &Map<String, Value>,
    go_struct: &str,
    name: &str,
) -> Result<String, ApiError> {
    match field(map, name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::Internal(format!(
            "json: cannot unmarshal {} into Go struct field {go_struct}.{name} of type string",
            go::kind(other)
        ))),
    }
}

pub(super) fn int_field(
    map: &Map<String, Value>,
    go_struct: &str,
    name: &str,
    go_kind: &str,
) -> Result<i64, ApiError> {
    let wrong = |what: String| {
        Err(ApiError::Internal(format!(
            "json: cannot unmarshal {what} into Go struct field {go_struct}.{name} of type {go_kind}"
        )))
    };
    match field(map, name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) => Ok(i),
            None => wrong(format!("number {n}")),
        },
        Some(other) => wrong(go::kind(other).to_string()),
    }
}

/// `Settings`, decoded as Go would into the settings struct (missing fields
/// zero); a type error reports serde's wording, not Go's.
pub(super) fn settings<T: Default + for<'de> Deserialize<'de>>(
    raw: &Map<String, Value>,
) -> Result<T, ApiError> {
    match field(raw, "Settings") {
        None | Some(Value::Null) => Ok(T::default()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|e| ApiError::Internal(format!("json: {e}"))),
    }
}
