//! `havok legacy`: taking over from the original havok (2014), whose keys in
//! Vulcand's pre-0.8 etcd v2 layout stop Vulcand v0.9.2 from starting.
//! Seeded the original's way (ehazlett/havok `engine/engine.go`), through the
//! real Vulcand on the v2 engine.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::oneshot::run_havok;
use crate::support::store::etcd_keyspace;
use crate::support::*;

/// What the original wrote for one container `name` of host `host` at `url`.
async fn seed_original(etcd: &str, host: &str, name: &str, url: &str) {
    let http = reqwest::Client::new();
    let up = format!("up-{host}");
    let keys = [
        (format!("/vulcand/hosts/{host}/locations/home/path"), "/.*".to_string()),
        (format!("/vulcand/hosts/{host}/locations/home/upstream"), up.clone()),
        (
            format!("/vulcand/hosts/{host}/locations/home/middlewares/ratelimit/default"),
            r#"{"Type":"ratelimit","Middleware":{"Requests":100,"PeriodSeconds":1,"Burst":100,"Variable":"client.ip"}}"#.to_string(),
        ),
        (format!("/vulcand/upstreams/{up}/endpoints/{name}"), url.to_string()),
    ];
    for (key, value) in keys {
        http.put(format!("{etcd}/v2/keys{key}"))
            .form(&[("value", value)])
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("seed {key}: {e}"));
    }
}

fn legacy(etcd: &str, extra: &[&str]) -> (String, String) {
    let mut args = vec!["legacy", "--etcd-machines", etcd, "--host-ip", "127.0.0.1"];
    args.extend_from_slice(extra);
    let out = run_havok(&args, &[], Duration::from_secs(30));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "havok legacy {extra:?}: {stderr}\n{stdout}"
    );
    (stdout, stderr)
}

/// The original's keys stop a v2 Vulcand; `havok legacy` lists them and
/// changes nothing; `--remove` deletes this node's and what they leave
/// empty; `--remove --all` the rest; then Vulcand starts and havok's routes answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_originals_keys_are_listed_then_removed() {
    let Some(binary) = vulcand::binary("havok legacy") else {
        return;
    };
    let etcd = EtcdServer::start().await;
    let url = etcd.url();
    seed_original(&url, "mine.local", "web1", "http://127.0.0.1:32768").await;
    seed_original(&url, "theirs.local", "web2", "http://10.9.9.9:32768").await;

    let log = Vulcand::refused_start(binary.clone(), Engine::EtcdV2(url.clone())).await;
    assert!(log.contains("parameters missing"), "Vulcand's log:\n{log}");

    // Listing changes nothing.
    let before = etcd_keyspace(&url).await;
    let (listed, _) = legacy(&url, &[]);
    assert!(
        listed.contains("legacy host /vulcand/hosts/mine.local"),
        "{listed}"
    );
    assert!(
        listed.contains("legacy host /vulcand/hosts/theirs.local"),
        "{listed}"
    );
    assert!(
        listed.contains(
            "/vulcand/upstreams/up-mine.local/endpoints/web1 = http://127.0.0.1:32768 (this node)"
        ),
        "{listed}"
    );
    assert!(
        listed.contains(
            "/vulcand/upstreams/up-theirs.local/endpoints/web2 = http://10.9.9.9:32768\n"
        ),
        "{listed}"
    );
    assert_eq!(
        etcd_keyspace(&url).await,
        before,
        "havok legacy without --remove changed the store"
    );

    // This node's: its endpoint, its now empty host and upstream; the other node's stay.
    let (removed, _) = legacy(&url, &["--remove"]);
    let left: BTreeSet<String> = etcd_keyspace(&url).await.into_keys().collect();
    assert!(
        left.iter().all(|k| !k.contains("mine.local")),
        "{removed}\n{left:?}"
    );
    assert!(
        left.iter()
            .any(|k| k.contains("/vulcand/hosts/theirs.local/")),
        "{left:?}"
    );
    assert!(
        left.iter()
            .any(|k| k.contains("up-theirs.local/endpoints/web2")),
        "{left:?}"
    );
    let log = Vulcand::refused_start(binary.clone(), Engine::EtcdV2(url.clone())).await;
    assert!(log.contains("theirs.local"), "Vulcand's log:\n{log}");

    // Every legacy key: Vulcand starts, and havok's route answers through it.
    legacy(&url, &["--remove", "--all"]);
    let left: Vec<String> = etcd_keyspace(&url)
        .await
        .into_keys()
        .filter(|k| k.contains("/vulcand/"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let vulcand = Vulcand::start(binary, Engine::EtcdV2(url.clone())).await;
    let scope = unique_name("legacy");
    let web = run_httpd(&format!("{scope}-web"), "mine", &["-P"]);
    let args = havok_args(
        "etcd2",
        &format!("^{scope}-"),
        &scope,
        &["-etcd-machines", &url],
    );
    let _havok = Havok::spawn(&strs(&args));
    let names = BTreeSet::from([web.name().to_string()]);
    vulcand.wait_answered_by("mine.local", &names).await;
    vulcand.assert_applied_everything();
}
