//! The settings table: labels (and fleet defaults) in, Vulcand settings or
//! a one-line refusal out.

use std::collections::BTreeMap;

use super::*;

fn settings(
    labels: &[(&str, &str)],
    defaults: &[(&str, &str)],
) -> Result<(Settings, Vec<String>), String> {
    let container = Container {
        labels: labels
            .iter()
            .map(|(k, v)| (format!("havok.{k}"), v.to_string()))
            .collect(),
        ..Container::default()
    };
    let defaults: BTreeMap<String, String> = defaults
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    settings_of(&container, &defaults)
        .map(|(s, w)| (s, w.iter().map(ToString::to_string).collect()))
        .map_err(|r| r.to_string())
}

/// Each row: labels, fleet defaults, and what the settings must hold.
#[test]
fn settings_from_labels() {
    type Check = fn(&Settings) -> bool;
    type Pairs<'a> = &'a [(&'a str, &'a str)];
    #[rustfmt::skip]
    let cases: [(Pairs, Pairs, Check); 12] = [
        (&[], &[], |s| *s == Settings::default()),
        (&[("pass-host-header", "true"), ("trust-forward-header", "true"), ("forward-hostname", "proxy.local")], &[],
            |s| s.frontend.pass_host_header && s.frontend.trust_forward_header && s.frontend.hostname == "proxy.local"),
        (&[("max-body-bytes", "10"), ("max-mem-body-bytes", "4096")], &[],
            |s| s.frontend.max_body_bytes == 10 && s.frontend.max_mem_body_bytes == 4096),
        (&[("failover-predicate", "IsNetworkError() && Attempts() <= 2")], &[],
            |s| s.frontend.failover_predicate == "IsNetworkError() && Attempts() <= 2"),
        (&[("timeout.read", "1m30s"), ("timeout.dial", "5s"), ("timeout.tls-handshake", "250ms")], &[],
            |s| s.backend.timeout_read == "1m30s" && s.backend.timeout_dial == "5s" && s.backend.timeout_tls_handshake == "250ms"),
        (&[("keepalive.period", "30s"), ("keepalive.max-idle-per-host", "7"), ("tls.insecure-skip-verify", "true")], &[],
            |s| s.backend.keepalive_period == "30s" && s.backend.keepalive_max_idle_per_host == 7 && s.backend.tls_insecure_skip_verify),
        // A condition alone: oxy's defaults written out, durations in nanoseconds.
        (&[("cbreaker.condition", "NetworkErrorRatio() > 0.5")], &[],
            |s| s.cbreaker == Some(CircuitBreaker {
                condition: "NetworkErrorRatio() > 0.5".into(), fallback_status: 503, fallback_body: String::new(),
                fallback_duration_ns: 10_000_000_000, recovery_duration_ns: 10_000_000_000, check_period_ns: 100_000_000,
            })),
        (&[("cbreaker.condition", "ResponseCodeRatio(500, 600, 0, 600) > 0.5"), ("cbreaker.fallback-status", "502"),
           ("cbreaker.fallback-body", "down"), ("cbreaker.fallback-duration", "1s"), ("cbreaker.check-period", "50ms")], &[],
            |s| s.cbreaker.as_ref().is_some_and(|c| c.fallback_status == 502 && c.fallback_body == "down"
                && c.fallback_duration_ns == 1_000_000_000 && c.check_period_ns == 50_000_000)),
        // The replacement is taken as written, spaces and all.
        (&[("rewrite.regexp", "^http://a/(.*)"), ("rewrite.replacement", "http://b/$1 "), ("rewrite.redirect", "true")], &[],
            |s| s.rewrite == Some(Rewrite { regexp: "^http://a/(.*)".into(), replacement: "http://b/$1 ".into(), redirect: true, body: false })),
        (&[("trace.addr", "syslog://127.0.0.1:5140")], &[],
            |s| s.trace == Some(Trace { addr: "syslog://127.0.0.1:5140".into() })),
        // A fleet default applies where the route has no label; a label wins.
        (&[("timeout.read", "2s")], &[("timeout.read", "9s"), ("timeout.dial", "3s")],
            |s| s.backend.timeout_read == "2s" && s.backend.timeout_dial == "3s"),
        (&[("trace.addr", "syslog:///dev/log")], &[],
            |s| s.trace.as_ref().is_some_and(|t| t.addr == "syslog:///dev/log")),
    ];
    for (labels, defaults, check) in cases {
        let (s, warnings) =
            settings(labels, defaults).unwrap_or_else(|e| panic!("{labels:?}: {e}"));
        assert!(check(&s), "{labels:?} {defaults:?}: {s:?}");
        assert!(warnings.is_empty(), "{labels:?}: {warnings:?}");
    }
}

/// Each row: labels and the start of the one-line refusal, which names the
/// label, the value and what is expected.
#[test]
fn bad_settings_are_refused() {
    #[rustfmt::skip]
    let cases: [(&[(&str, &str)], &str); 16] = [
        (&[("timeout.read", "abc")], r#"label havok.timeout.read="abc": not a Go duration; expected a Go duration"#),
        (&[("timeout.dial", "-1s")], r#"label havok.timeout.dial="-1s": out of range: below 0"#),
        (&[("keepalive.period", "10")], r#"label havok.keepalive.period="10": not a Go duration"#),
        (&[("max-body-bytes", "-1")], r#"label havok.max-body-bytes="-1": out of range: below 0"#),
        (&[("max-mem-body-bytes", "1k")], r#"label havok.max-mem-body-bytes="1k": not a whole number"#),
        (&[("stream", "yes")], r#"label havok.stream="yes": not true or false"#),
        (&[("failover-predicate", "!IsNetworkError()")], r#"label havok.failover-predicate="!IsNetworkError()""#),
        (&[("cbreaker.condition", "NetworkErrorRatio() > 1")], r#"label havok.cbreaker.condition="NetworkErrorRatio() > 1""#),
        (&[("cbreaker.condition", "IsNetworkError()")], r#"label havok.cbreaker.condition="IsNetworkError()""#),
        (&[("cbreaker.condition", "NetworkErrorRatio() > 0.5"), ("cbreaker.fallback-status", "700")],
            r#"label havok.cbreaker.fallback-status="700": out of range"#),
        (&[("cbreaker.condition", "NetworkErrorRatio() > 0.5"), ("cbreaker.check-period", "-1s")],
            r#"label havok.cbreaker.check-period="-1s": out of range: below 0"#),
        (&[("cbreaker.fallback-status", "502")], r#"label havok.cbreaker.fallback-status="502": it needs havok.cbreaker.condition"#),
        (&[("rewrite.regexp", "(?<name>a)")], r#"label havok.rewrite.regexp="(?<name>a)": (?<name>…) is Rust's"#),
        (&[("rewrite.redirect", "true")], r#"label havok.rewrite.redirect="true": it needs havok.rewrite.regexp"#),
        (&[("trace.addr", "udp://127.0.0.1:514")], r#"label havok.trace.addr="udp://127.0.0.1:514": not a syslog:// address"#),
        (&[("trace.addr", "syslog://host")], r#"label havok.trace.addr="syslog://host": no port"#),
    ];
    for (labels, start) in cases {
        let refusal = settings(labels, &[]).map(|(s, _)| s).unwrap_err();
        assert!(
            refusal.starts_with(start),
            "{labels:?}:\n  got  {refusal}\n  want {start}…"
        );
        assert!(!refusal.contains('\n'), "{refusal}");
    }
    // A bad fleet default names its flag.
    let refusal = settings(&[], &[("timeout.read", "soon")]).unwrap_err();
    assert!(
        refusal.starts_with(r#"label --route-default timeout.read="soon""#),
        "{refusal}"
    );
}

#[test]
fn stream_warns_of_what_it_turns_off() {
    let (s, warnings) = settings(
        &[
            ("stream", "true"),
            ("max-body-bytes", "10"),
            ("failover-predicate", "IsNetworkError()"),
        ],
        &[],
    )
    .unwrap();
    assert!(s.frontend.stream);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("label havok.max-body-bytes has no effect with stream=true"));
    assert!(warnings[1].starts_with("label havok.failover-predicate has no effect"));
}

#[test]
fn every_setting_key_is_listed_once() {
    let mut keys: Vec<&str> = SETTINGS.iter().map(|s| s.key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), SETTINGS.len());
    assert!(SETTINGS
        .iter()
        .all(|s| is_setting(s.key) && !s.example.is_empty()));
    // Every example is a value the parser takes (with what it needs beside it).
    for s in &SETTINGS {
        let mut labels = vec![(s.key, s.example)];
        if s.key.starts_with("cbreaker.") && s.key != keys::CBREAKER_CONDITION {
            labels.push((keys::CBREAKER_CONDITION, "NetworkErrorRatio() > 0.5"));
        }
        if s.key.starts_with("rewrite.") && s.key != keys::REWRITE_REGEXP {
            labels.push((keys::REWRITE_REGEXP, "^(.*)$"));
        }
        settings(&labels, &[]).unwrap_or_else(|e| panic!("example of {}: {e}", s.key));
    }
}
