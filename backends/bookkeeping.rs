//! havok's own keys in etcd, beside Vulcand's, for both etcd backends: which
//! servers this node wrote (records) and which routes havok created (markers).
//!
//! Under the state prefix (`havok` on v3, `/havok` on v2):
//! - `<state>/nodes/<node>/lease` — etcd v3: this node's lease id, on the
//!   lease itself, so a restarted havok finds and reuses a live lease.
//! - `<state>/nodes/<node>/servers/<route id>/<server id>` = [`ServerRecord`],
//!   so a resync reads this node's records and the routes they name, never
//!   the whole prefix. On v3 each record is on the node's lease; on v2 the
//!   `servers` directory carries a long TTL, refreshed rarely, so records
//!   cost no write per server at each keep-alive.
//! - `<state>/routes/<route id>` = [`RouteMarker`] (never expires): the routes
//!   havok created, for the orphan collection.
//! - `<state>/collector` = the node id of the cluster's one orphan collector,
//!   on its lease (v3) or with the TTL (v2): while it lives, no other node
//!   reads the markers.

use serde::{Deserialize, Serialize};

use crate::ids::{RouteId, RouteKey, ServerId};
use crate::model::ServerSpec;

/// Where havok's own keys live, for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateLayout {
    prefix: String,
    node: String,
}

impl StateLayout {
    /// `prefix` is used exactly as given, without a trailing slash.
    pub fn new(prefix: &str, node: &str) -> StateLayout {
        StateLayout {
            prefix: prefix.trim_end_matches('/').to_string(),
            node: node.to_string(),
        }
    }

    #[cfg(feature = "etcd2")]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<state>/nodes/<node>/`: everything of this node.
    pub fn node_dir(&self) -> String {
        format!("{}/nodes/{}/", self.prefix, self.node)
    }

    #[cfg(feature = "etcd3")]
    pub fn lease_key(&self) -> String {
        format!("{}lease", self.node_dir())
    }

    /// `<state>/nodes/<node>/servers/`: this node's records, by route.
    pub fn records_dir(&self) -> String {
        format!("{}servers/", self.node_dir())
    }

    pub fn record_key(&self, route: &RouteId, server: &ServerId) -> String {
        format!("{}{}/{}", self.records_dir(), route, server)
    }

    /// `<state>/collector`: which node collects orphans for the cluster.
    pub fn collector_key(&self) -> String {
        format!("{}/collector", self.prefix)
    }

    /// `<state>/routes/`: every node's route markers.
    pub fn routes_dir(&self) -> String {
        format!("{}/routes/", self.prefix)
    }

    pub fn marker_key(&self, route: &RouteId) -> String {
        format!("{}{}", self.routes_dir(), route)
    }
}

/// The record of one server this node wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub url: String,
    #[serde(default)]
    pub container: String,
}

impl ServerRecord {
    pub fn of(key: &RouteKey, server: &ServerSpec) -> ServerRecord {
        ServerRecord {
            host: key.host.clone(),
            path: key.path.clone(),
            url: server.url.clone(),
            container: server.container.clone(),
        }
    }

    /// The route the server is on.
    pub fn key(&self) -> RouteKey {
        RouteKey {
            host: self.host.clone(),
            path: self.path.clone(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a record serializes")
    }
}

/// The marker of a route havok created: the route it names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteMarker {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl RouteMarker {
    pub fn of(key: &RouteKey) -> RouteMarker {
        RouteMarker {
            host: key.host.clone(),
            path: key.path.clone(),
        }
    }

    /// The route a marker's value names, if it is a marker of the route id
    /// `id` (the last part of its key): anything else is not havok's.
    pub fn parse(value: &[u8], id: &str) -> Option<RouteKey> {
        let marker: RouteMarker = serde_json::from_slice(value).ok()?;
        let key = RouteKey {
            host: marker.host,
            path: marker.path,
        };
        (key.id().as_str() == id).then_some(key)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a marker serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of both etcd backends, from one layout.
    #[test]
    fn keys() {
        let v3 = StateLayout::new("havok", "n1");
        let v2 = StateLayout::new("/havok/", "n1");
        let id = RouteKey::host("foo.local").id();
        let sid = ServerId::new("n1", "web-1");
        #[cfg(feature = "etcd3")]
        assert_eq!(v3.lease_key(), "havok/nodes/n1/lease");
        assert_eq!(
            v3.record_key(&id, &sid),
            format!("havok/nodes/n1/servers/{id}/{sid}")
        );
        assert_eq!(v2.marker_key(&id), format!("/havok/routes/{id}"));
        assert_eq!(v2.records_dir(), "/havok/nodes/n1/servers/");
        assert_eq!(v3.collector_key(), "havok/collector");
        assert_eq!(v2.collector_key(), "/havok/collector");
    }

    /// A marker keeps the route it names; one that names another route is refused.
    #[test]
    fn markers() {
        let key = RouteKey::host("a-1.local");
        let json = RouteMarker::of(&key).to_json();
        assert_eq!(json, r#"{"host":"a-1.local"}"#);
        let id = key.id();
        assert_eq!(RouteMarker::parse(json.as_bytes(), id.as_str()), Some(key));
        assert_eq!(
            RouteMarker::parse(json.as_bytes(), "other.0123456789"),
            None
        );
        let api = RouteKey {
            host: "x".into(),
            path: Some("/api".into()),
        };
        let back = RouteMarker::parse(br#"{"host":"x","path":"/api"}"#, api.id().as_str());
        assert_eq!(back, Some(api));
        assert_eq!(RouteMarker::parse(b"not json", id.as_str()), None);
    }
}
