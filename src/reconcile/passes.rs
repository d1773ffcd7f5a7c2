//! The passes that write: a full pass (re-read the store, repair, collect
//! orphans now and then), an incremental one (the cache), the writes
//! themselves, what a failure schedules, and deregistering at exit.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::Instant;

use super::report::log_op;
use super::{gc_due, Reconciler};
use crate::ids::RouteKey;
use crate::metrics::{BackendLabel, WriteLabels};
use crate::model::RouteTable;
use crate::plan::{plan, plan_within, record};
use crate::sink::{Op, SinkError};

impl Reconciler {
    /// Re-reads the store and repairs every difference; collects orphans now and then.
    pub(super) async fn full_pass(&mut self) -> Result<(), SinkError> {
        let started = Instant::now();
        // This pass builds and plans every route.
        self.touched.clear();
        self.sink.connect().await?;
        // Every routed container's routes, ready or not: a server the store
        // already holds is ready without a probe.
        let keys: BTreeSet<RouteKey> = self
            .containers
            .values()
            .flatten()
            .map(|(spec, _)| spec.key.clone())
            .collect();
        let mut observed = self.sink.observe(&keys).await?;
        self.gate.adopt(&self.containers, &observed);
        let desired = self.desired();
        self.publish(&desired, None);
        let (keys_read, bytes_read) = (observed.keys_read, observed.bytes_read);
        self.metrics.keys_read.inc_by(keys_read);
        let plan = plan(&desired, &observed);
        self.warn_conflicts(&plan.conflicts, None);
        self.write(&plan.ops).await?;
        record(&mut observed, &plan.ops);
        self.passes += 1;
        if gc_due(self.passes, self.settings.gc_every) {
            let orphans: Vec<Op> = self
                .sink
                .orphans()
                .await?
                .into_iter()
                // Not a route this node is about to serve: one whose servers
                // still wait for their probe has none in the store yet.
                .filter(|k| !keys.contains(k))
                .map(|key| Op::RemoveRouteIfEmpty { key })
                .collect();
            if !orphans.is_empty() {
                tracing::info!(
                    routes = orphans.len(),
                    "removing routes whose servers all expired"
                );
                self.write(&orphans).await?;
            }
        }
        self.cache = Some(observed);
        self.metrics.resyncs.inc();
        self.metrics
            .resync_seconds
            .observe(started.elapsed().as_secs_f64());
        tracing::debug!(
            ops = plan.ops.len(),
            keys_read,
            bytes_read,
            routes = desired.routes.len(),
            servers = desired.server_count(),
            took = ?started.elapsed(),
            "full pass done"
        );
        Ok(())
    }

    /// Writes the difference between the desired state and the cache, for
    /// the routes touched since the last pass only: the work of an event
    /// does not grow with the routes this node holds.
    pub(super) async fn incremental(&mut self) -> Result<(), SinkError> {
        let touched = std::mem::take(&mut self.touched);
        if touched.is_empty() {
            return Ok(());
        }
        let desired = self.desired_within(&touched);
        self.publish(&desired, Some(&touched));
        let cache = self.cache.as_ref().expect("incremental needs a cache");
        let plan = plan_within(&desired, cache, &touched);
        self.warn_conflicts(&plan.conflicts, Some(&touched));
        self.write(&plan.ops).await?;
        if let Some(cache) = self.cache.as_mut() {
            record(cache, &plan.ops);
        }
        Ok(())
    }

    pub(super) async fn write(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        if ops.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.sink.apply(ops).await?;
        // Once written: a log write does not delay the store's, and the
        // lines say what the store holds now. `took` is the whole apply.
        let took = started.elapsed();
        for op in ops {
            log_op(op, self.settings.dry_run, took);
        }
        let backend = self.sink.name().to_string();
        for op in ops {
            self.metrics
                .writes
                .get_or_create(&WriteLabels {
                    backend: backend.clone(),
                    op: op.name().into(),
                })
                .inc();
        }
        Ok(())
    }

    /// Handles a pass's result: on failure drop the cache and schedule a retry.
    pub(super) fn after(&mut self, result: Result<(), SinkError>) -> Option<Instant> {
        match result {
            Ok(()) => {
                if self.refusal.take().is_some() {
                    tracing::info!("the store takes havok's writes again");
                }
                self.backoff.succeeded();
                self.status.set_store(None);
                None
            }
            Err(e) => {
                self.metrics
                    .failures
                    .get_or_create(&BackendLabel {
                        backend: self.sink.name().into(),
                    })
                    .inc();
                self.status.set_store(Some(e.to_string()));
                self.cache = None;
                if let SinkError::Refused { .. } = e {
                    let text = e.to_string();
                    if self.refusal.as_deref() != Some(text.as_str()) {
                        tracing::error!(
                            retry_in = ?self.settings.resync,
                            "store refused a request (not a connection problem; retried at each resync): {text}"
                        );
                        self.refusal = Some(text);
                    }
                    return Some(Instant::now() + self.settings.resync);
                }
                Some(Instant::now() + self.backoff.failed(&e.to_string()))
            }
        }
    }

    /// `--deregister-on-exit`: removes this node's servers (and emptied routes).
    pub(super) async fn deregister(&mut self) {
        let attempt = async {
            if self.cache.is_none() {
                self.sink.connect().await?;
                self.cache = Some(self.sink.observe(&BTreeSet::new()).await?);
            }
            let ops = plan(
                &RouteTable::default(),
                self.cache.as_ref().expect("just set"),
            )
            .ops;
            let count = ops.len();
            self.write(&ops).await?;
            Ok::<usize, SinkError>(count)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(count)) => tracing::info!(servers = count, "deregistered this node's servers"),
            Ok(Err(e)) => tracing::warn!("could not deregister on exit: {e}"),
            Err(_) => tracing::warn!("could not deregister on exit: timed out after 5s"),
        }
    }
}
