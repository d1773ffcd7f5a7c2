//! One call to Vulcand's API: always JSON, its answer read, a 404 told
//! apart from a refusal and from a proxy that cannot reach Vulcand.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::wire::vulcand_message;
use super::VulcandApiSink;
use crate::backends::http;
use crate::backends::observe::count_read;
use crate::sink::{Observed, SinkError};

/// What an API call came back with, when it did not fail.
pub(super) enum Reply {
    Ok(Vec<u8>),
    /// 404 and Vulcand's message: the object (or its parent) does not exist.
    Missing(String),
}

/// How many objects a list answer holds, for `Observed::keys_read`.
pub(super) trait Counted {
    fn count(&self) -> u64 {
        1
    }
}

impl VulcandApiSink {
    /// One API call. Always JSON: with a form content type Vulcand's
    /// handlerWithBody (api.go) has `ParseForm` consume the body and then
    /// answers `unexpected end of JSON input`.
    pub(super) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        object: impl FnOnce() -> String,
    ) -> Result<Reply, SinkError> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.api))
            .header(CONTENT_TYPE, "application/json");
        if let Some(body) = body {
            request = request.body(body.to_string());
        }
        let unreachable = |e: reqwest::Error| SinkError::Unreachable {
            store: self.store.clone(),
            // `without_url`: the store already names the URL, without credentials.
            reason: format!("{method} {path}: {}", http::describe(&e.without_url())),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?.to_vec();
        if status.is_success() {
            return Ok(Reply::Ok(bytes));
        }
        if matches!(
            status,
            StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT
        ) {
            // A proxy in front of Vulcand, not Vulcand: retry with backoff.
            return Err(SinkError::Unreachable {
                store: self.store.clone(),
                reason: format!("{method} {path}: HTTP {status}"),
            });
        }
        // api.go handlerWithBody answers every error as `{"message": err.Error()}`:
        // 404 for engine.NotFoundError, 500 for nearly everything else.
        let message = vulcand_message(&bytes).unwrap_or_else(|| format!("HTTP {status}"));
        if status == StatusCode::NOT_FOUND {
            return Ok(Reply::Missing(message));
        }
        Err(self.refused(object(), message))
    }

    /// An upsert: a 404 (missing parent) is a refusal like any other error.
    pub(super) async fn post(
        &self,
        path: String,
        body: &Value,
        object: impl FnOnce() -> String + Clone,
    ) -> Result<(), SinkError> {
        match self
            .call(Method::POST, &path, Some(body), object.clone())
            .await?
        {
            Reply::Ok(_) => Ok(()),
            Reply::Missing(message) => Err(self.refused(object(), message)),
        }
    }

    /// A delete: 404 means already gone, which is what was asked. api.go
    /// deleteServer/deleteFrontend/deleteBackend/deleteMiddleware answer
    /// `{"message":"<Kind> deleted"}`; memng's NotFoundError is the 404.
    pub(super) async fn delete(
        &self,
        path: String,
        object: impl FnOnce() -> String,
    ) -> Result<(), SinkError> {
        self.call(Method::DELETE, &path, None, object)
            .await
            .map(|_| ())
    }

    /// A read, counted in `cost`; `None` when Vulcand answers 404.
    pub(super) async fn get<T: DeserializeOwned + Counted>(
        &self,
        path: String,
        object: impl FnOnce() -> String + Clone,
        cost: &mut Observed,
    ) -> Result<Option<T>, SinkError> {
        match self.call(Method::GET, &path, None, object.clone()).await? {
            Reply::Missing(_) => Ok(None),
            Reply::Ok(bytes) => {
                let value: T = serde_json::from_slice(&bytes).map_err(|e| {
                    self.refused(object(), format!("unexpected answer to GET {path}: {e}"))
                })?;
                count_read(cost, value.count(), bytes.len());
                Ok(Some(value))
            }
        }
    }

    pub(super) fn refused(&self, object: String, reason: String) -> SinkError {
        SinkError::Refused {
            store: self.store.clone(),
            object,
            reason,
        }
    }
}
