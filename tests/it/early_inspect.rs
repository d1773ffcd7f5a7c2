//! The watcher inspects a starting container at its network `connect`, so
//! its route does not wait for the `start` event and an inspect after it:
//! a start and a restart are routed from that inspect (havok's debug log
//! says which inspect a route came from), and a `docker network connect` to
//! a running container does not stand in for its next start.

use serde_json::Value;

use crate::scenarios::{Backend, Fixture};
use crate::support::*;

/// Havok's `inspected after event` lines for `container`: each one's action.
fn inspects_of(havok: &Havok, container: &str) -> Vec<String> {
    havok
        .log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|v| {
            v["fields"]["message"] == "inspected after event"
                && v["fields"]["container"] == container
        })
        .map(|v| v["fields"]["action"].as_str().unwrap_or("").to_string())
        .collect()
}

/// A start, then (after a network connect and a stop) a restart on a new
/// port: both routed from the inspect sent at the network connect, none
/// after the `start` event.
async fn starts_are_routed_from_the_connect_inspect(b: Backend) {
    let f = Fixture::start(b, "early-inspect").await;
    let havok = f.havok(
        "n1",
        &[
            "--log-format",
            "json",
            "--log-level",
            "info,havok::docker=debug",
        ],
    );
    let web = f.web("web1", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    assert_eq!(
        inspects_of(&havok, web.name()),
        ["connect"],
        "the start routed from the inspect at its network connect:\n{}",
        havok.log_text()
    );
    assert!(
        havok
            .log_text()
            .contains("start event: inspected at network connect"),
        "the start event needed no inspect of its own:\n{}",
        havok.log_text()
    );

    // A network connect to the running container is inspected too (it can
    // change an address), but is not taken for the next start's.
    let net = TestNetwork::create("early-net");
    docker(&["network", "connect", net.name(), web.name()]);
    eventually(
        "the connect to the running container to be inspected",
        TIMEOUT,
        || async { inspects_of(&havok, web.name()).len() == 2 },
    )
    .await;
    web.stop();
    f.wait_gone("foo.local").await;
    web.start();
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    assert_eq!(
        inspects_of(&havok, web.name()),
        ["connect", "connect", "connect"],
        "the restart routed from its own connect's inspect:\n{}",
        havok.log_text()
    );
}

per_backend!(starts_are_routed_from_the_connect_inspect);
