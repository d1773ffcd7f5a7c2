//! The `etcd2` backend: Vulcand's routes in etcd's v2 keys API, for a Vulcand
//! started with `-etcdApiVer=2` (its engine is vulcand/vulcand `engine/etcdng/v2/etcd.go`).
//!
//! - `wire`: the keys API on the wire: key and form encoding, answers, error bodies.
//! - `keys`: a thin client for `/v2/keys`: one method per call, failover
//!   across `--etcd-machines`.
//! - `sink`: [`Etcd2Sink`], the `RouteSink`: key layout, `observe`, TTL
//!   refresh, orphans.
//! - `writes`: its writes: Vulcand's order, and the guarded removal of a route.
//! - `liveness`: the keep-alive at the fewest writes, and the orphan collector.
//! - `legacy`: `havok legacy`, the original havok's pre-0.8 keys.

mod keys;
pub mod legacy;
mod liveness;
mod sink;
mod wire;
mod writes;

pub use sink::Etcd2Sink;
