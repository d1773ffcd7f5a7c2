//! The Vulcand API sink's reads: what each GET asks for, and a 404 read as
//! "no such object" (or an empty list); every read is counted in the pass's cost.

use serde::de::DeserializeOwned;

use super::client::Counted;
use super::wire::List;
use super::VulcandApiSink;
use crate::ids::RouteId;
use crate::sink::{Observed, SinkError};

/// One GET of api.go.
#[derive(Debug, Clone, Copy)]
pub(super) enum Read<'a> {
    /// getFrontends: `{"Frontends":[{"Id","Route","Type","BackendId","Settings"}…]}`.
    Frontends,
    /// getFrontend: the frontend, or 404 `object not found`.
    Frontend(&'a RouteId),
    /// getBackends: `{"Backends":[{"Id","Type","Settings"}…]}`.
    Backends,
    /// getServers: all servers of a backend, of every node (memng and etcd
    /// both answer an empty list, not 404, for an unknown backend).
    Servers(&'a RouteId),
    /// getMiddlewares: `{"Middlewares":[{"Id","Priority","Type","Middleware"}…]}`.
    Middlewares(&'a RouteId),
}

impl Read<'_> {
    /// The request's path, and the object an error names.
    fn target(self) -> (String, String) {
        match self {
            Read::Frontends => ("/v2/frontends".into(), "the frontend list".into()),
            Read::Frontend(id) => (format!("/v2/frontends/{id}"), format!("frontend {id}")),
            Read::Backends => ("/v2/backends".into(), "the backend list".into()),
            Read::Servers(id) => (
                format!("/v2/backends/{id}/servers"),
                format!("servers of backend {id}"),
            ),
            Read::Middlewares(id) => (
                format!("/v2/frontends/{id}/middlewares"),
                format!("middlewares of frontend {id}"),
            ),
        }
    }
}

impl VulcandApiSink {
    /// One object; `None` when Vulcand answers 404.
    pub(super) async fn read<T: DeserializeOwned + Counted>(
        &self,
        read: Read<'_>,
        cost: &mut Observed,
    ) -> Result<Option<T>, SinkError> {
        let (path, object) = read.target();
        self.get(path, move || object, cost).await
    }

    /// A list; empty when Vulcand answers 404.
    pub(super) async fn list<T: DeserializeOwned>(
        &self,
        read: Read<'_>,
        cost: &mut Observed,
    ) -> Result<Vec<T>, SinkError> {
        let list: Option<List<T>> = self.read(read, cost).await?;
        Ok(list.map(|l| l.items).unwrap_or_default())
    }
}
