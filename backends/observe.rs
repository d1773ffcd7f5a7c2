//! What every backend's `observe` does alike: which routes to read (those
//! asked about and those this node has a record of), and how this node's
//! servers are merged from Vulcand's keys and its records (a record whose
//! server key is gone is a server to write again or to clean up).

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{RouteKey, ServerId};
use crate::sink::{Observed, RouteState, ServerState};

/// The routes a pass reads, in order, each once: those the reconciler asked
/// about and those this node's records name.
pub fn routes_to_read<'a>(
    asked: &'a BTreeSet<RouteKey>,
    recorded: impl IntoIterator<Item = &'a RouteKey>,
) -> Vec<RouteKey> {
    asked
        .iter()
        .chain(recorded)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// This node's servers on one route: the live ones found in Vulcand's keys,
/// plus each recorded one they lack, as [`ServerState::RecordOnly`].
pub fn own_servers<'a>(
    live: impl IntoIterator<Item = (ServerId, ServerState)>,
    recorded: impl IntoIterator<Item = &'a ServerId>,
) -> BTreeMap<ServerId, ServerState> {
    let mut own: BTreeMap<ServerId, ServerState> = live.into_iter().collect();
    for sid in recorded {
        own.entry(sid.clone()).or_insert(ServerState::RecordOnly);
    }
    own
}

/// Files one route read back: its shared objects, and this node's servers
/// on it when it has any.
pub fn add_route(
    observed: &mut Observed,
    key: RouteKey,
    state: RouteState,
    own: BTreeMap<ServerId, ServerState>,
) {
    if !own.is_empty() {
        observed.servers.insert(key.clone(), own);
    }
    observed.routes.insert(key, state);
}

/// Counts what a read cost: keys (or objects) and bytes.
pub fn count_read(observed: &mut Observed, keys: u64, bytes: usize) {
    observed.keys_read += keys;
    observed.bytes_read += bytes as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asked and recorded routes are read once each, in order.
    #[test]
    fn routes_asked_or_recorded() {
        let (a, b, c) = (
            RouteKey::host("a"),
            RouteKey::host("b"),
            RouteKey::host("c"),
        );
        let asked = BTreeSet::from([c.clone(), a.clone()]);
        assert_eq!(routes_to_read(&asked, [&b, &a]), vec![a, b, c]);
    }

    /// A recorded server missing from Vulcand's keys is record-only; a live one stays live.
    #[test]
    fn records_without_keys_are_record_only() {
        let (s1, s2) = (ServerId::new("n", "web-1"), ServerId::new("n", "web-2"));
        let live = [(s1.clone(), ServerState::Live("http://a".into()))];
        let own = own_servers(live, [&s1, &s2]);
        assert_eq!(own[&s1], ServerState::Live("http://a".into()));
        assert_eq!(own[&s2], ServerState::RecordOnly);
    }
}
