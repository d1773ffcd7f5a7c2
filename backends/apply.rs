//! The one order every backend applies ops in: each run of consecutive puts
//! of distinct routes is handed over whole (a backend may batch or run it
//! concurrently), and every removal runs alone in its place, so it sees
//! every put before it done and none after it started.

use async_trait::async_trait;

use crate::ids::{RouteKey, ServerId};
use crate::sink::{Op, RoutePut, SinkError};

/// How one backend's transport writes what the ops come down to.
#[async_trait]
pub trait Writes: Send {
    /// Puts of routes that are all different: no two share a key.
    async fn put_routes(&mut self, puts: &[&RoutePut]) -> Result<(), SinkError>;

    /// Deletes one of this node's servers and its record.
    async fn delete_server(&mut self, key: &RouteKey, server: &ServerId) -> Result<(), SinkError>;

    /// Removes a route havok created if no server of any node is left on it.
    async fn remove_route_if_empty(&mut self, key: &RouteKey) -> Result<(), SinkError>;
}

/// Applies `ops` in order through `writes`.
pub async fn apply<W: Writes + ?Sized>(writes: &mut W, ops: &[Op]) -> Result<(), SinkError> {
    let mut rest = ops;
    while let Some(op) = rest.first() {
        match op {
            Op::Put(_) => {
                let mut run: Vec<&RoutePut> = Vec::new();
                while let Some(Op::Put(put)) = rest.first() {
                    // A route that comes again starts a new run: one route's
                    // puts never overlap.
                    if run.iter().any(|p| p.key == put.key) {
                        break;
                    }
                    run.push(put);
                    rest = &rest[1..];
                }
                writes.put_routes(&run).await?;
                continue;
            }
            Op::DeleteServer { key, server } => writes.delete_server(key, server).await?,
            Op::RemoveRouteIfEmpty { key } => writes.remove_route_if_empty(key).await?,
        }
        rest = &rest[1..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RouteSpec;

    /// Records what it was asked to do, one line per call.
    #[derive(Default)]
    struct Log(Vec<String>);

    #[async_trait]
    impl Writes for Log {
        async fn put_routes(&mut self, puts: &[&RoutePut]) -> Result<(), SinkError> {
            let hosts: Vec<&str> = puts.iter().map(|p| p.key.host.as_str()).collect();
            self.0.push(format!("put {}", hosts.join(",")));
            Ok(())
        }
        async fn delete_server(&mut self, key: &RouteKey, _: &ServerId) -> Result<(), SinkError> {
            self.0.push(format!("delete {}", key.host));
            Ok(())
        }
        async fn remove_route_if_empty(&mut self, key: &RouteKey) -> Result<(), SinkError> {
            self.0.push(format!("remove {}", key.host));
            Ok(())
        }
    }

    fn put(host: &str) -> Op {
        let spec = RouteSpec::plain(RouteKey::host(host));
        Op::Put(RoutePut::new(&spec, vec![], false))
    }

    /// Runs of puts break at a removal and at a route that comes again.
    #[tokio::test]
    async fn runs_break_at_removals_and_repeats() {
        let key = RouteKey::host("c");
        let ops = [
            put("a"),
            put("b"),
            put("a"),
            Op::DeleteServer {
                key: key.clone(),
                server: ServerId::new("n", "w"),
            },
            Op::RemoveRouteIfEmpty { key },
            put("d"),
        ];
        let mut log = Log::default();
        apply(&mut log, &ops).await.unwrap();
        assert_eq!(log.0, ["put a,b", "put a", "delete c", "remove c", "put d"]);
    }
}
