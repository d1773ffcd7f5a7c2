//! What keeps this node's keys alive on etcd v2, at the fewest writes: each
//! server key refreshed once per keep-alive (every 2/3 of the TTL), the
//! records directory once per [`RECORDS_EVERY`] keep-alives, and the
//! cluster's one orphan collector key by the node that holds it.
//!
//! Every refresh is an fsync on every etcd member, so the cost per server
//! per TTL is what a fleet pays: 1.5 writes for its key, plus the records
//! directory's `1.5 / RECORDS_EVERY` per node. Records carry no TTL of their
//! own: they live in a directory that expires [`RECORDS_TTL`] TTLs after the
//! node's last refresh, which only havok reads.

use std::sync::atomic::Ordering;

use futures_util::{stream, StreamExt};

use super::keys::KeysError;
use super::sink::{Etcd2Sink, PARALLEL_PUTS};
use crate::sink::SinkError;

/// The records directory is refreshed once per this many keep-alives
/// (every 4 TTLs at a keep-alive every 2/3 of the TTL).
pub(super) const RECORDS_EVERY: u32 = 6;

/// The records directory's TTL, in TTLs: one TTL longer than the time
/// between its refreshes, so one late refresh does not lose it.
pub(super) const RECORDS_TTL: u64 = 5;

impl Etcd2Sink {
    /// `<state>/nodes/<node>/servers`, without the trailing slash.
    pub(super) fn records_dir_key(&self) -> String {
        self.state.records_dir().trim_end_matches('/').to_string()
    }

    /// Whether the records directory is known to exist: records can go
    /// with their server keys.
    pub(super) fn records_ready(&self) -> bool {
        self.records_ready.load(Ordering::Relaxed)
    }

    /// Creates the records directory with its TTL before the first record
    /// goes in: a record written into a missing directory would create it
    /// without one (the next refresh would give it one).
    pub(super) async fn ensure_records_dir(&self) -> Result<(), SinkError> {
        if self.records_ready() {
            return Ok(());
        }
        let ttl = self.ttl * RECORDS_TTL;
        if self.api.create_dir(&self.records_dir_key(), ttl).await? {
            tracing::debug!(dir = %self.records_dir_key(), ttl, "etcd v2: created the records directory");
        }
        self.records_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Refreshes every held server key with `refresh=true` (no watch event,
    /// so Vulcand does not reload), concurrently, every key tried even when
    /// one fails. Returns the keys found expired (forgotten here) and the
    /// first failure in key order.
    async fn refresh_servers(&self) -> (Vec<String>, Option<KeysError>) {
        // A copy: the lock must not be held across the refreshes.
        let held: Vec<String> = self.held_keys().iter().cloned().collect();
        let (held, ttl, api) = (&held, self.ttl, &self.api);
        let results: Vec<(usize, Result<bool, KeysError>)> = stream::iter(0..held.len())
            .map(|i| async move { (i, api.refresh(&held[i], ttl).await) })
            .buffer_unordered(PARALLEL_PUTS)
            .collect()
            .await;
        let mut expired = Vec::new();
        let mut failed: Option<(usize, KeysError)> = None;
        for (i, result) in results {
            match result {
                Ok(true) => {}
                Ok(false) => expired.push(held[i].clone()),
                // The first in key order, whichever answered first.
                Err(e) if failed.as_ref().is_none_or(|(j, _)| i < *j) => failed = Some((i, e)),
                Err(_) => {}
            }
        }
        expired.sort();
        let mut still_held = self.held_keys();
        for key in &expired {
            still_held.remove(key);
        }
        (expired, failed.map(|(_, e)| e))
    }

    /// Refreshes the records directory when due; `false` when it is gone.
    async fn refresh_records_dir(&self, due: bool) -> Result<bool, KeysError> {
        if !due {
            return Ok(true);
        }
        self.api
            .refresh(&self.records_dir_key(), self.ttl * RECORDS_TTL)
            .await
    }

    /// One keep-alive: server keys, the records directory when due, and the
    /// collector key, all at once. Every part is tried; the first failure
    /// is returned. Keys found expired are reported as a lost lease, so the
    /// next pass writes them again.
    pub(super) async fn keep_alive(&mut self) -> Result<(), SinkError> {
        self.ticks = self.ticks.wrapping_add(1);
        let due = self.records_ready.load(Ordering::Relaxed) && self.ticks >= self.records_due;
        let ((mut expired, mut failed), dir, collector) = tokio::join!(
            self.refresh_servers(),
            self.refresh_records_dir(due),
            self.look_for_collector(self.collecting),
        );
        match dir {
            Ok(true) if due => self.records_due = self.ticks + RECORDS_EVERY,
            Ok(true) => {}
            Ok(false) => {
                // Gone with every record: the next pass finds this node's
                // live servers without records and writes them again.
                self.records_ready.store(false, Ordering::Relaxed);
                expired.push(self.records_dir_key());
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
        match collector {
            Ok(holds) => self.set_collecting(holds),
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        let Some(first) = expired.first() else {
            return Ok(());
        };
        let reason = format!(
            "{} of its keys expired before they were refreshed, {first} among them",
            expired.len()
        );
        Err(SinkError::LeaseLost {
            store: self.store(),
            reason,
        })
    }

    /// Whether this node is the cluster's orphan collector (see
    /// [`look_for_collector`](Self::look_for_collector)).
    pub(super) async fn collector(&mut self) -> Result<bool, KeysError> {
        let holds = self.look_for_collector(self.collecting).await?;
        self.set_collecting(holds);
        Ok(holds)
    }

    /// Whether this node holds the collector key: while it does (`held`)
    /// it refreshes the key, only while the key still names it; otherwise
    /// it reads the key, and claims it when there is none
    /// (`prevExist=false`: one node wins). Another node's key costs one read.
    async fn look_for_collector(&self, held: bool) -> Result<bool, KeysError> {
        let key = self.state.collector_key();
        if held && self.api.refresh_if(&key, &self.node, self.ttl).await? {
            return Ok(true);
        }
        match self.api.get(&key, false).await?.and_then(|r| r.node.value) {
            // Also a key of this node's earlier run: refreshed from the next keep-alive.
            Some(node) => Ok(node == self.node),
            None => self.api.create(&key, &self.node, Some(self.ttl)).await,
        }
    }

    fn set_collecting(&mut self, holds: bool) {
        if holds != self.collecting {
            if holds {
                tracing::info!(
                    key = %self.state.collector_key(),
                    "etcd v2: this node is the cluster's orphan collector"
                );
            } else {
                tracing::info!("etcd v2: no longer the cluster's orphan collector");
            }
            self.collecting = holds;
        }
    }
}
