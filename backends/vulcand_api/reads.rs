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
    fn path(self) -> String {
        match self {
            Read::Frontends => "/v2/frontends".into(),
            Read::Frontend(id) => format!("/v2/frontends/{id}"),
            Read::Backends => "/v2/backends".into(),
            Read::Servers(id) => format!("/v2/backends/{id}/servers"),
            Read::Middlewares(id) => format!("/v2/frontends/{id}/middlewares"),
        }
    }

    /// The object named in an error.
    fn object(self) -> String {
        match self {
            Read::Frontends => "the frontend list".into(),
            Read::Frontend(id) => format!("frontend {id}"),
            Read::Backends => "the backend list".into(),
            Read::Servers(id) => format!("servers of backend {id}"),
            Read::Middlewares(id) => format!("middlewares of frontend {id}"),
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
        self.get(read.path(), move || read.object(), cost).await
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
