//! The `vulcand-api` backend: havok's routes written through Vulcand's own
//! HTTP API (vulcand/vulcand `api/api.go`), for a Vulcand on `-engine=memng`
//! or one whose etcd havok cannot reach.
//!
//! The API is not a key-value store, which shapes this file:
//! - no transactions: the last-server removal lists, then deletes; a server
//!   another node adds in between loses its frontend until that node's next
//!   resync writes it again (the Caveat in `crate::sink`);
//! - every write makes Vulcand reload the object (memng emits a change per
//!   upsert, `engine/memng/mem.go`), so the backend, frontend and middlewares
//!   are written only when missing or when a resync found them different;
//! - memng keeps nothing across a Vulcand restart, so `observe` reads
//!   Vulcand's live objects, never a record of its own, and a restarted
//!   Vulcand shows up as missing objects the reconciler writes again.

//!
//! - `client`: one API call, its answer or error.
//! - `wire`: what the API answers, normalized to what havok writes to etcd.
//! - `reads`: one method per GET, counted in the pass's cost.
//! - `sink`: the `RouteSink`: observe, apply, keepalive, orphans.
//! - `writes`: a route's objects in Vulcand's order, and the removals.

mod client;
mod reads;
mod sink;
mod wire;
mod writes;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{http, SinkTiming, TlsFiles, VulcandApiSettings};
use crate::config::ConfigError;
use crate::ids::{RouteKey, ServerId};
use wire::without_credentials;

/// Writes routes through Vulcand's HTTP API.
pub struct VulcandApiSink {
    /// The API's base URL without a trailing slash (`http://127.0.0.1:8182`).
    api: String,
    /// `Vulcand API <url without credentials>`: the store named in every error.
    store: String,
    client: reqwest::Client,
    node: String,
    /// The TTL sent with each server upsert.
    ttl: Duration,
    /// Routes whose backend and frontend Vulcand is known to hold (filled by
    /// `observe` and by successful writes, cleared by removal), so a Put that
    /// only adds a server does not make Vulcand reload the frontend.
    held_routes: BTreeSet<RouteKey>,
    /// This node's servers Vulcand holds, for `keepalive`: the API has no
    /// lease to refresh, each server's TTL is renewed by upserting it again.
    held_servers: BTreeMap<RouteKey, BTreeMap<ServerId, String>>,
    /// Whether a pass has looked through every havok route for this node's
    /// servers: once after start, to find those an earlier run left (memng
    /// never expires them); afterwards a pass reads only this node's routes.
    adopted: bool,
    /// Where the next orphan scan starts in the sorted havok routes: each
    /// scan checks at most [`ORPHAN_CHECKS`] of them, the next ones after.
    orphan_cursor: usize,
}

/// How many havok routes one orphan scan checks (one request each): a
/// constant cost per node however large the cluster; a fleet's routes are
/// all checked within a few scans.
const ORPHAN_CHECKS: usize = 32;

impl VulcandApiSink {
    /// A sink for `node` on the API `settings` name.
    pub fn new(
        settings: VulcandApiSettings,
        timing: SinkTiming,
        node: &str,
    ) -> Result<VulcandApiSink, ConfigError> {
        let tls = TlsFiles {
            ca: settings.ca,
            identity: None,
        };
        Ok(VulcandApiSink {
            store: format!("Vulcand API {}", without_credentials(settings.url)),
            api: settings.api,
            client: http::client(Some(&tls), timing.timeout)?,
            node: node.to_string(),
            ttl: timing.ttl,
            held_routes: BTreeSet::new(),
            held_servers: BTreeMap::new(),
            adopted: false,
            orphan_cursor: 0,
        })
    }
}
