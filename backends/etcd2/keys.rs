//! A thin client for etcd's v2 keys API (`/v2/keys`): one method per call
//! havok makes, with failover across the `--etcd-machines` members.
//!
//! The calls are the ones Vulcand's own v2 engine makes through
//! `go.etcd.io/etcd/client/v2` (vulcand/vulcand `engine/etcdng/v2/etcd.go`:
//! `kapi.Get` with `Recursive`, `kapi.Set` with `TTL`, `kapi.Delete`), plus the
//! conditional forms havok needs (`prevExist`, `dir`, `refresh`, `wait`). No
//! conditional write touches a key Vulcand reads (docs/vulcand.md).

use std::sync::atomic::{AtomicUsize, Ordering};

use reqwest::{Method, StatusCode};

use super::wire::{
    key_url, parse_error, write_form, Answer, EtcdError, Node, COMPARE_FAILED, DIR_NOT_EMPTY,
    EVENT_INDEX_CLEARED, KEY_NOT_FOUND, NODE_EXISTS,
};
use crate::backends::http;
use crate::config::Secret;
use crate::sink::SinkError;

/// Why a keys-API call failed.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// No member answered: each was down, refused the connection or timed out.
    #[error("cannot reach etcd v2 at {tried}: {reason}")]
    Unreachable { tried: String, reason: String },
    /// A member answered with one of etcd's JSON error bodies.
    #[error("etcd v2 at {member} refused {key}: {error}")]
    Etcd {
        member: String,
        key: String,
        error: EtcdError,
    },
    /// A member answered with something that is not etcd's JSON (a proxy, or
    /// etcd 3.4+ without `--enable-v2=true`, which answers `404 page not found`).
    #[error("etcd v2 at {member} refused {key}: {reason}")]
    Http {
        member: String,
        key: String,
        reason: String,
    },
    /// A member answered 2xx with a body that is not the keys API's JSON.
    #[error("etcd v2 at {member} sent an unreadable answer for {key}: {reason}")]
    Decode {
        member: String,
        key: String,
        reason: String,
    },
}

impl KeysError {
    /// The etcd error code, when etcd sent one.
    pub fn code(&self) -> Option<u32> {
        match self {
            KeysError::Etcd { error, .. } => error.code,
            _ => None,
        }
    }
}

impl From<KeysError> for SinkError {
    fn from(e: KeysError) -> SinkError {
        match e {
            KeysError::Unreachable { tried, reason } => SinkError::Unreachable {
                store: format!("etcd v2 at {tried}"),
                reason,
            },
            KeysError::Etcd { member, key, error } => SinkError::Refused {
                store: format!("etcd v2 at {member}"),
                object: key,
                reason: error.to_string(),
            },
            KeysError::Http {
                member,
                key,
                reason,
            }
            | KeysError::Decode {
                member,
                key,
                reason,
            } => SinkError::Refused {
                store: format!("etcd v2 at {member}"),
                object: key,
                reason,
            },
        }
    }
}

/// A successful read: the node and what it cost.
#[derive(Debug)]
pub struct Read {
    pub node: Node,
    pub bytes: u64,
}

/// How to delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delete {
    /// One key.
    Key,
    /// A directory, only if it is empty (`dir=true` without `recursive`).
    EmptyDir,
    /// A directory and everything under it (`recursive=true`).
    Tree,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Done,
    /// Nothing was there (errorCode 100): as good as done.
    Missing,
    /// The directory holds keys (errorCode 108).
    NotEmpty,
}

/// The members and the client that talks to them.
pub struct KeysApi {
    http: reqwest::Client,
    machines: Vec<String>,
    /// The member that answered last: tried first, so a dead member costs
    /// one failed connect when it dies, not one per request. Atomic so calls
    /// can run concurrently through `&self`; it is only a hint, so a race
    /// between two calls costs at most one extra failed connect.
    current: AtomicUsize,
    auth: Option<(String, Secret)>,
}

impl KeysApi {
    pub fn new(
        http: reqwest::Client,
        machines: Vec<String>,
        auth: Option<(String, Secret)>,
    ) -> KeysApi {
        KeysApi {
            http,
            machines,
            current: AtomicUsize::new(0),
            auth,
        }
    }

    pub fn machines(&self) -> &[String] {
        &self.machines
    }

    /// `GET key` (`recursive=true` for a whole tree); `None` when the key does not exist.
    pub async fn get(&self, key: &str, recursive: bool) -> Result<Option<Read>, KeysError> {
        let query: &[(&str, &str)] = if recursive {
            &[("recursive", "true"), ("sorted", "true")]
        } else {
            &[]
        };
        match self.call(Method::GET, key, query, None).await {
            Ok((member, body)) => {
                let answer: Answer =
                    serde_json::from_slice(&body).map_err(|e| KeysError::Decode {
                        member,
                        key: key.to_string(),
                        reason: e.to_string(),
                    })?;
                Ok(Some(Read {
                    node: answer.node,
                    bytes: body.len() as u64,
                }))
            }
            Err(e) if e.code() == Some(KEY_NOT_FOUND) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `PUT key value=…&ttl=…`: create or overwrite (a watch event either way).
    pub async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), KeysError> {
        let form = write_form(value, ttl);
        self.call(Method::PUT, key, &[], Some(&form)).await?;
        Ok(())
    }

    /// `PUT key value=…&prevExist=false`: create only when missing, so an
    /// existing key fires no watch event. `false` when it already existed.
    pub async fn create(
        &self,
        key: &str,
        value: &str,
        ttl: Option<u64>,
    ) -> Result<bool, KeysError> {
        let form = write_form(value, ttl);
        match self
            .call(Method::PUT, key, &[("prevExist", "false")], Some(&form))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(NODE_EXISTS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT key refresh=true&prevExist=true&ttl=…` without a value: extends
    /// the TTL without notifying watchers, so Vulcand does not reload.
    /// `false` when the key no longer exists (it expired).
    pub async fn refresh(&self, key: &str, ttl: u64) -> Result<bool, KeysError> {
        let query = [("refresh", "true"), ("prevExist", "true")];
        let form = [("ttl", ttl.to_string())];
        match self.call(Method::PUT, key, &query, Some(&form)).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(KEY_NOT_FOUND) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT key refresh=true&prevValue=…&ttl=…`: like [`refresh`](Self::refresh),
    /// only while the key still holds `value`. `false` when it expired or
    /// another value replaced it.
    pub async fn refresh_if(&self, key: &str, value: &str, ttl: u64) -> Result<bool, KeysError> {
        let query = [("refresh", "true"), ("prevValue", value)];
        let form = [("ttl", ttl.to_string())];
        match self.call(Method::PUT, key, &query, Some(&form)).await {
            Ok(_) => Ok(true),
            Err(e) if matches!(e.code(), Some(KEY_NOT_FOUND | COMPARE_FAILED)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `PUT key dir=true&prevExist=false&ttl=…`: creates a directory that
    /// expires with everything in it. `false` when it already existed.
    pub async fn create_dir(&self, key: &str, ttl: u64) -> Result<bool, KeysError> {
        let query = [("dir", "true"), ("prevExist", "false")];
        let form = [("ttl", ttl.to_string())];
        match self.call(Method::PUT, key, &query, Some(&form)).await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(NODE_EXISTS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `DELETE key` in one of the [`Delete`] forms.
    pub async fn delete(&self, key: &str, how: Delete) -> Result<Deleted, KeysError> {
        Ok(self.delete_indexed(key, how).await?.0)
    }

    /// Like [`delete`](Self::delete), with the etcd index at which it was
    /// decided: the delete's own index, or the index etcd reported with its
    /// refusal (`Missing`, `NotEmpty`).
    pub async fn delete_indexed(
        &self,
        key: &str,
        how: Delete,
    ) -> Result<(Deleted, u64), KeysError> {
        let query: Vec<(&str, &str)> = match how {
            Delete::Key => vec![],
            Delete::EmptyDir => vec![("dir", "true")],
            Delete::Tree => vec![("recursive", "true")],
        };
        match self.call(Method::DELETE, key, &query, None).await {
            Ok((_, body)) => {
                let index = serde_json::from_slice::<Answer>(&body)
                    .map(|a| a.node.modified_index)
                    .unwrap_or_default();
                Ok((Deleted::Done, index))
            }
            Err(e) => {
                let index = match &e {
                    KeysError::Etcd { error, .. } => error.index.unwrap_or_default(),
                    _ => 0,
                };
                match e.code() {
                    Some(KEY_NOT_FOUND) => Ok((Deleted::Missing, index)),
                    Some(DIR_NOT_EMPTY) => Ok((Deleted::NotEmpty, index)),
                    _ => Err(e),
                }
            }
        }
    }

    /// The changes under `dir` with an index in `after+1 ..= until`, from
    /// etcd's event history (`wait=true&waitIndex=…`, which answers at once
    /// for an index already passed). `None` when etcd no longer keeps that
    /// history (errorCode 401: it keeps the last 1000 events).
    pub async fn changes(
        &self,
        dir: &str,
        after: u64,
        until: u64,
    ) -> Result<Option<Vec<Answer>>, KeysError> {
        let mut out = Vec::new();
        let mut next = after + 1;
        while next <= until {
            let from = next.to_string();
            let query = [
                ("wait", "true"),
                ("recursive", "true"),
                ("waitIndex", from.as_str()),
            ];
            let (member, body) = match self.call(Method::GET, dir, &query, None).await {
                Ok(answer) => answer,
                Err(e) if e.code() == Some(EVENT_INDEX_CLEARED) => return Ok(None),
                Err(e) => return Err(e),
            };
            let answer: Answer = serde_json::from_slice(&body).map_err(|e| KeysError::Decode {
                member,
                key: dir.to_string(),
                reason: e.to_string(),
            })?;
            let index = answer.node.modified_index;
            if index > until || index < next {
                break;
            }
            next = index + 1;
            out.push(answer);
        }
        Ok(Some(out))
    }

    /// Sends one request, starting at the member that answered last and
    /// moving on when a member cannot be reached or answers 5xx (no leader,
    /// raft timeout). Returns the member and the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        key: &str,
        query: &[(&str, &str)],
        form: Option<&[(&str, String)]>,
    ) -> Result<(String, Vec<u8>), KeysError> {
        let n = self.machines.len();
        let mut failures = Vec::new();
        let mut answered = None;
        let current = self.current.load(Ordering::Relaxed);
        for step in 0..n {
            let i = (current + step) % n;
            let member = self.machines[i].clone();
            let mut req = self
                .http
                .request(method.clone(), key_url(&member, key))
                .query(query);
            if let Some(form) = form {
                req = req.form(form);
            }
            if let Some((user, password)) = &self.auth {
                req = req.basic_auth(user, Some(password.expose()));
            }
            let (status, body) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    match resp.bytes().await {
                        Ok(body) => (status, body.to_vec()),
                        Err(e) => {
                            failures.push(format!("{member}: {}", http::describe(&e)));
                            continue;
                        }
                    }
                }
                Err(e) => {
                    failures.push(format!("{member}: {}", http::describe(&e)));
                    continue;
                }
            };
            if status.is_success() {
                if i != current {
                    tracing::warn!(
                        member = %member,
                        failed = %failures.join("; "),
                        "etcd v2: switched to another member"
                    );
                    self.current.store(i, Ordering::Relaxed);
                }
                return Ok((member, body));
            }
            let error = error_of(&member, key, status, &body);
            if status.is_server_error() {
                failures.push(format!("{member}: {error}"));
                answered = Some(error);
                continue;
            }
            // An answer about the key itself (4xx): the member works.
            self.current.store(i, Ordering::Relaxed);
            return Err(error);
        }
        Err(answered.unwrap_or_else(|| KeysError::Unreachable {
            tried: self.machines.join(","),
            reason: failures.join("; "),
        }))
    }
}

fn error_of(member: &str, key: &str, status: StatusCode, body: &[u8]) -> KeysError {
    match parse_error(status, body) {
        Ok(error) => KeysError::Etcd {
            member: member.to_string(),
            key: key.to_string(),
            error,
        },
        Err(reason) => KeysError::Http {
            member: member.to_string(),
            key: key.to_string(),
            reason,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An etcd error becomes a `Refused` naming the member, the key and the reason.
    #[test]
    fn errors_name_the_key() {
        let e = error_of(
            "http://m:2379",
            "/vulcand/frontends/f/frontend",
            StatusCode::PRECONDITION_FAILED,
            br#"{"errorCode":101,"message":"Compare failed","cause":"[1 != 5]","index":5}"#,
        );
        assert_eq!(e.code(), Some(101));
        let sink: SinkError = e.into();
        assert_eq!(
            sink.to_string(),
            "etcd v2 at http://m:2379 refused /vulcand/frontends/f/frontend: Compare failed ([1 != 5]), errorCode 101"
        );
    }
}
