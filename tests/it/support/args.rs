//! The flags every test havok gets: its backend, a `-names` regex, a node id,
//! and short timings (TTL 6 s, resync 2 s) so that tests converge in seconds.

/// The TTL of test havoks: short, so a dead node's servers leave quickly.
pub const TTL: &str = "6s";
/// The resync interval of test havoks: drift is repaired within seconds.
pub const RESYNC: &str = "2s";

/// `--backend backend -names names --node-id node`, the short timings,
/// debug logs of havok's own modules, then `extra` (the store's flags and
/// the test's own; a flag given again there wins).
pub fn havok_args(backend: &str, names: &str, node: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--backend",
        backend,
        "-names",
        names,
        "--node-id",
        node,
        "--ttl",
        TTL,
        "--resync-interval",
        RESYNC,
        "--max-backoff",
        "1s",
        "--timeout",
        "2s",
        "--log-level",
        "havok=debug,info",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The `&str`s of `args`, as `Havok::spawn` takes them.
pub fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
