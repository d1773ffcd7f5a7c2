//! `--dry-run`: a sink that writes nothing. The reconciler logs every write it
//! would make; this sink remembers them in memory so a resync does not log
//! the same writes again.

use std::collections::BTreeSet;

use async_trait::async_trait;

use crate::ids::RouteKey;
use crate::plan::record;
use crate::sink::{Observed, Op, RouteSink, SinkError};

/// Holds what would have been written.
#[derive(Default)]
pub struct DryRunSink {
    store: Observed,
}

#[async_trait]
impl RouteSink for DryRunSink {
    fn name(&self) -> &'static str {
        "dry-run"
    }

    fn describe(&self) -> String {
        "dry run: nothing is written; every write is logged".into()
    }

    async fn connect(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn observe(&mut self, _routes: &BTreeSet<RouteKey>) -> Result<Observed, SinkError> {
        Ok(self.store.clone())
    }

    async fn apply(&mut self, ops: &[Op]) -> Result<(), SinkError> {
        record(&mut self.store, ops);
        Ok(())
    }

    async fn keepalive(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn orphans(&mut self) -> Result<Vec<RouteKey>, SinkError> {
        Ok(Vec::new())
    }
}
