//! Self-tests of the harness: the test images, etcd (one server and a
//! cluster) and the store views work, so a scenario failure is havok's.

use std::time::{Duration, Instant};

use crate::support::*;

/// The httpd image answers `hello from <hostname>` on its published port, and `docker stop` is quick.
#[tokio::test(flavor = "multi_thread")]
async fn httpd_answers_with_its_hostname() {
    let web = run_httpd("harness-httpd", "foo", &["-P"]);
    let url = format!("http://127.0.0.1:{}/", web.host_port(80));
    let body = eventually("the httpd to answer", TIMEOUT, || async {
        http_get(&url).await.map(|r| r.body)
    })
    .await;
    assert_eq!(body.trim(), "hello from foo");
    let started = Instant::now();
    web.stop();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "docker stop took {:?}: is --init working?",
        started.elapsed()
    );
}

/// etcd serves v3 and v2, the views read Vulcand's layout, and stop/start keeps the port and data.
#[cfg(all(feature = "etcd3", feature = "etcd2"))]
#[tokio::test(flavor = "multi_thread")]
async fn etcd_server_keeps_port_and_data() {
    use havok::ids::{RouteKey, ServerId};
    use havok::vulcand::{backend_value, frontend_value, server_value, Layout};

    let etcd = EtcdServer::start().await;
    let key = RouteKey::host("foo.local");
    let id = key.id();
    let v3 = Layout::new("vulcand");
    let mut client = etcd_client::Client::connect([etcd.url()], None)
        .await
        .unwrap();
    let puts = [
        (v3.backend_key(&id), backend_value(&Default::default())),
        (
            v3.server_key(&id, &ServerId::new("n", "web-1")),
            server_value("http://127.0.0.1:1234"),
        ),
        (
            v3.frontend_key(&id),
            frontend_value(&key, &Default::default()),
        ),
    ];
    for (k, v) in puts {
        client.put(k, v.to_string(), None).await.unwrap();
    }
    let view3 = Etcd3View::new(&[etcd.url()]);
    let snapshot = view3.snapshot().await;
    assert!(snapshot.has_route("foo.local"), "{snapshot:#?}");
    assert_eq!(snapshot.urls("foo.local"), ["http://127.0.0.1:1234"]);

    let v2 = Layout::new("/vulcand");
    let server = v2.server_key(&id, &ServerId::new("n", "web-2"));
    let put = reqwest::Client::new()
        .put(format!("{}/v2/keys{server}", etcd.url()))
        .form(&[("value", server_value("http://127.0.0.1:5678").to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 201, "{}", put.text().await.unwrap());
    let view2 = Etcd2View::new(&[etcd.url()]);
    assert_eq!(
        view2.snapshot().await.urls("foo.local"),
        ["http://127.0.0.1:5678"]
    );
    assert!(!view2.snapshot().await.has_route("foo.local"));

    let url = etcd.url();
    etcd.stop();
    assert!(view3.try_snapshot().await.is_err(), "etcd is stopped");
    etcd.start_again().await;
    assert_eq!(etcd.url(), url);
    assert_eq!(view3.snapshot().await, snapshot);
    assert_eq!(
        view2.snapshot().await.urls("foo.local"),
        ["http://127.0.0.1:5678"]
    );
}

/// A 3-member cluster elects a leader and still takes writes after the leader stops.
#[cfg(feature = "etcd3")]
#[tokio::test(flavor = "multi_thread")]
async fn etcd_cluster_survives_its_leader() {
    let cluster = EtcdCluster::start(3).await;
    let leader = cluster.leader_index().await;
    cluster.stop_member(leader);
    let rest: Vec<String> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| cluster.urls()[i].clone())
        .collect();
    eventually("a put on the remaining members", TIMEOUT, || async {
        let mut client = etcd_client::Client::connect(&rest, None).await?;
        client.put("vulcand/probe", "1", None).await
    })
    .await;
    let new_leader = cluster.leader_index().await;
    assert_ne!(new_leader, leader);
    cluster.start_member(leader).await;
    let rejoined = [cluster.urls()[leader].clone()];
    let value = eventually("the restarted member to serve the put", TIMEOUT, || async {
        let mut client = etcd_client::Client::connect(&rejoined, None).await?;
        let response = client.get("vulcand/probe", None).await?;
        match response.kvs().first() {
            Some(kv) => Ok(kv.value().to_vec()),
            None => Err(etcd_client::Error::InvalidArgs(
                "no vulcand/probe yet".into(),
            )),
        }
    })
    .await;
    assert_eq!(value, b"1");
}

/// The havok binary runs as a child whose output is captured, and signals reach it.
#[tokio::test(flavor = "multi_thread")]
async fn havok_child_is_captured_and_signalled() {
    let mut help = Havok::spawn(&["--help"]);
    assert!(help.wait_exit(TIMEOUT).await.success());
    assert!(
        help.log_text().contains("--etcd-machines"),
        "{}",
        help.log_text()
    );

    let scope = unique_name("harness-child");
    let mut daemon = Havok::spawn(&["--dry-run", "--names", &format!("^{scope}-")]);
    daemon.wait_for_log("starting", TIMEOUT).await;
    daemon.sigkill();
    let status = daemon.wait_exit(TIMEOUT).await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "{}",
        daemon.log_text()
    );
}
