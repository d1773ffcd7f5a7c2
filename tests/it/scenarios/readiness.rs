//! Readiness, through the real Vulcand on every backend: a container is
//! routed only once its upstream answers, so a rolling replacement loses no
//! request, a late listener is routed right after it listens, and one that
//! never listens is never routed and leaves no trace.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Backend, Fixture};
use crate::support::endpoints::{get, listen_url};
use crate::support::*;

/// How many times the rolling replacement replaces the host's container.
const REPLACEMENTS: usize = 4;

/// A host replaced 4 times in a row (start the new container, wait until
/// Vulcand routes it, `docker stop -t 3` the old one) under a continuous
/// stream of POSTs, which Vulcand does not retry: not one fails. The new
/// container is routed only once it answers, the old one drained at `kill`.
pub async fn rolling_replacement_loses_no_request(b: Backend) {
    let f = Fixture::start(b, "rolling").await;
    let Some(vulcand) = f.vulcand.clone() else {
        return; // the fixture printed why
    };
    let _havok = f.havok("n1", &[]);
    // An app that serves for 1 s after SIGTERM: havok removes it at `kill`,
    // before it stops listening. One that exits at once loses what Vulcand
    // sends it in between, whatever the bridge does.
    let app = |i: usize| {
        let web = start_httpd(&f.name(&format!("v{i}")), "app", &["-P", "-e", "DRAIN=1"]);
        f.answers_as(&web);
        web
    };
    let mut old = app(0);
    f.wait_urls("app.local", &[f.url_of(&old)]).await;

    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (stop, vulcand) = (stop.clone(), vulcand.clone());
        let t0 = Instant::now();
        tokio::spawn(async move {
            let (mut sent, mut failed) = (0u32, Vec::new());
            while !stop.load(Ordering::SeqCst) {
                sent += 1;
                let answer = vulcand
                    .request("POST", "app.local", "/cgi-bin/who", Some("x"))
                    .await;
                match answer {
                    Ok(r) if r.status == 200 => {}
                    Ok(r) => {
                        failed.push(format!("{:?} {} {}", t0.elapsed(), r.status, r.body.trim()))
                    }
                    Err(e) => failed.push(format!("{:?} {e}", t0.elapsed())),
                }
            }
            (sent, failed)
        })
    };
    for i in 1..=REPLACEMENTS {
        let new = app(i);
        f.wait_urls("app.local", &[f.url_of(&old), f.url_of(&new)])
            .await;
        docker(&["stop", "-t", "3", old.name()]);
        f.wait_urls("app.local", &[f.url_of(&new)]).await;
        old = new;
    }
    stop.store(true, Ordering::SeqCst);
    let (sent, failed) = client.await.expect("the client task");
    eprintln!("rolling replacement: {sent} POSTs, {} failed", failed.len());
    assert!(sent > 100, "the client sent only {sent} POSTs");
    assert!(
        failed.is_empty(),
        "{} of {sent} POSTs failed during {REPLACEMENTS} replacements: {:?}",
        failed.len(),
        &failed
    );
}

/// A container whose app listens only 2 s after it starts is not in the
/// store (nor answered by Vulcand) before then, and is routed right after.
pub async fn late_listener_is_routed_once_it_answers(b: Backend) {
    let f = Fixture::start(b, "late-listener").await;
    let mut havok = f.havok("n1", &[]);
    havok.wait_for_log("full pass done", TIMEOUT).await;
    let started = Instant::now();
    let web = start_httpd(&f.name("late"), "late", &["-P", "-e", "LISTEN_AFTER=2"]);
    f.answers_as(&web);
    // The app listens 2 s after its start, which is before `docker run` returns.
    while started.elapsed() < Duration::from_millis(1700) {
        let s = f.view.snapshot().await;
        assert!(
            s.urls("late.local").is_empty() && !s.has_route("late.local"),
            "routed {:?} after docker run, before the app listens: {s:#?}",
            started.elapsed()
        );
        if let Some(vulcand) = &f.vulcand {
            let answer = vulcand.request("GET", "late.local", "/who", None).await;
            let status = answer.as_ref().map(|r| r.status).unwrap_or_default();
            assert_eq!(status, 404, "Vulcand has no route yet: {answer:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let direct = format!("http://{}:80/who", web.ip("bridge"));
    eventually("the app to listen", TIMEOUT, || http_get(&direct)).await;
    let listening = Instant::now();
    f.wait_urls("late.local", &[f.url_of(&web)]).await;
    let took = listening.elapsed();
    eprintln!(
        "the late listener listened {:?} after docker run and was routed {took:?} later",
        listening - started
    );
    // At most one probe pause (0.5 s) and a write, with room for a loaded CI.
    assert!(
        took < Duration::from_millis(2000),
        "routed {took:?} after the app listened"
    );
}

/// A container that never listens is not routed, gets one warning after the
/// probe timeout, shows in `/routes` as waiting, and leaves no trace once removed.
pub async fn silent_container_is_never_routed(b: Backend) {
    let f = Fixture::start(b, "never-listens").await;
    let mut havok = f.havok("n1", &["--probe-timeout", "2s", "--listen", "127.0.0.1:0"]);
    let base = listen_url(&mut havok).await;
    let mute = start_httpd(
        &f.name("mute"),
        "mute",
        &["-P", "-e", "LISTEN_AFTER=100000"],
    );
    // A container that answers, so the test knows havok is at work.
    let web = f.web("web", "foo");
    f.wait_urls("foo.local", &[f.url_of(&web)]).await;
    havok.wait_for_log("has not answered for 2s", TIMEOUT).await;
    let waiting = eventually(
        "/routes to show the container as waiting",
        TIMEOUT,
        || async {
            let routes: Value = serde_json::from_str(&get(&base, "/routes").await.body).unwrap();
            let waiting = routes["waiting"].as_array().cloned().unwrap_or_default();
            let overdue = waiting
                .iter()
                .any(|w| w["container"] == mute.name() && w["overdue"] == true);
            if overdue {
                Ok(waiting)
            } else {
                Err(routes)
            }
        },
    )
    .await;
    assert_eq!(waiting.len(), 1, "only the silent one waits: {waiting:?}");
    // Two more full passes: still not routed, and the warning is not repeated.
    havok.wait_full_passes(2).await;
    let s = f.view.snapshot().await;
    assert!(!format!("{s:?}").contains("mute"), "{s:#?}");
    assert_eq!(
        havok.log_text().matches("has not answered for").count(),
        1,
        "one warning:\n{}",
        havok.log_tail(30)
    );
    if let Some(vulcand) = &f.vulcand {
        let answer = vulcand.request("GET", "mute.local", "/", None).await;
        assert_eq!(answer.map(|r| r.status).ok(), Some(404));
    }
    let name = mute.name().to_string();
    drop(mute);
    eventually(
        "/routes to forget the removed container",
        TIMEOUT,
        || async {
            let body = get(&base, "/routes").await.body;
            let routes: Value = serde_json::from_str(&body).unwrap();
            let gone = routes["waiting"].as_array().is_some_and(|w| w.is_empty());
            if gone && !body.contains(&name) {
                Ok(())
            } else {
                Err(body)
            }
        },
    )
    .await;
    let s = f.view.snapshot().await;
    assert!(!format!("{s:?}").contains("mute"), "{s:#?}");
}
