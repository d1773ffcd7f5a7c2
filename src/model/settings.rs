//! Vulcand's per-route settings, from a route's labels (`havok.<key>`, or a
//! named route's `havok.routes.<name>.<key>`) over the fleet's defaults
//! (`--route-default <key>=<value>`): [`Settings`] of the frontend, the
//! backend, and the cbreaker, rewrite and trace middlewares.
//!
//! Every value is checked as Vulcand v0.9.2 checks it (Go durations, its
//! predicate grammars, Go's RE2), and further where Vulcand takes a value
//! that then breaks the route (negative sizes and durations, a regexp it
//! compiles only later): a bad value refuses its route. [`SETTINGS`] is the
//! one list of keys, for the parser, the docs and the man page.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{predicate, re2, Container, Refusal};

/// One setting key: what it sets in Vulcand, the values it takes, an example.
pub struct Setting {
    /// The key after `havok.` (or `havok.routes.<name>.`).
    pub key: &'static str,
    /// The Vulcand object and field it sets.
    pub sets: &'static str,
    /// What a value must be.
    pub expected: &'static str,
    pub example: &'static str,
}

/// Every setting key, in the order of the docs' table.
pub const SETTINGS: [Setting; 24] = [
    Setting {
        key: keys::FAILOVER_PREDICATE,
        sets: "frontend Settings.FailoverPredicate",
        expected: "a Vulcand failover predicate such as IsNetworkError() && Attempts() <= 2",
        example: "IsNetworkError() && Attempts() <= 2",
    },
    Setting {
        key: keys::PASS_HOST_HEADER,
        sets: "frontend Settings.PassHostHeader",
        expected: "true or false",
        example: "true",
    },
    Setting {
        key: keys::TRUST_FORWARD_HEADER,
        sets: "frontend Settings.TrustForwardHeader",
        expected: "true or false",
        example: "true",
    },
    Setting {
        key: keys::FORWARD_HOSTNAME,
        sets: "frontend Settings.Hostname",
        expected: "a host name without spaces",
        example: "proxy.example.com",
    },
    Setting {
        key: keys::MAX_BODY_BYTES,
        sets: "frontend Settings.Limits.MaxBodyBytes",
        expected: "a whole number of bytes, 0 or more (0: no limit)",
        example: "1048576",
    },
    Setting {
        key: keys::MAX_MEM_BODY_BYTES,
        sets: "frontend Settings.Limits.MaxMemBodyBytes",
        expected: "a whole number of bytes, 0 or more (0: Vulcand's default)",
        example: "65536",
    },
    Setting {
        key: keys::STREAM,
        sets: "frontend Settings.Stream",
        expected: "true or false",
        example: "true",
    },
    Setting {
        key: keys::TIMEOUT_READ,
        sets: "backend Settings.Timeouts.Read",
        expected: "a Go duration, 0 or more, such as 10s or 1m30s",
        example: "30s",
    },
    Setting {
        key: keys::TIMEOUT_DIAL,
        sets: "backend Settings.Timeouts.Dial",
        expected: "a Go duration, 0 or more, such as 10s or 1m30s",
        example: "5s",
    },
    Setting {
        key: keys::TIMEOUT_TLS_HANDSHAKE,
        sets: "backend Settings.Timeouts.TLSHandshake",
        expected: "a Go duration, 0 or more, such as 10s or 1m30s",
        example: "10s",
    },
    Setting {
        key: keys::KEEPALIVE_PERIOD,
        sets: "backend Settings.KeepAlive.Period",
        expected: "a Go duration, 0 or more, such as 10s or 1m30s",
        example: "30s",
    },
    Setting {
        key: keys::KEEPALIVE_MAX_IDLE,
        sets: "backend Settings.KeepAlive.MaxIdleConnsPerHost",
        expected: "a whole number, 0 or more",
        example: "32",
    },
    Setting {
        key: keys::TLS_INSECURE,
        sets: "backend Settings.TLS.InsecureSkipVerify",
        expected: "true or false",
        example: "true",
    },
    Setting {
        key: keys::CBREAKER_CONDITION,
        sets: "middleware havok-cbreaker (cbreaker) Condition",
        expected: "a Vulcand cbreaker condition such as NetworkErrorRatio() > 0.5",
        example: "NetworkErrorRatio() > 0.5",
    },
    Setting {
        key: keys::CBREAKER_STATUS,
        sets: "havok-cbreaker Fallback.Action.StatusCode",
        expected: "an HTTP status, 100 to 599 (default 503)",
        example: "503",
    },
    Setting {
        key: keys::CBREAKER_BODY,
        sets: "havok-cbreaker Fallback.Action.Body",
        expected: "any text (default empty)",
        example: "down for a moment",
    },
    Setting {
        key: keys::CBREAKER_FALLBACK_DURATION,
        sets: "havok-cbreaker FallbackDuration",
        expected: "a Go duration, 0 or more (default 10s)",
        example: "10s",
    },
    Setting {
        key: keys::CBREAKER_RECOVERY_DURATION,
        sets: "havok-cbreaker RecoveryDuration",
        expected: "a Go duration, 0 or more (default 10s)",
        example: "10s",
    },
    Setting {
        key: keys::CBREAKER_CHECK_PERIOD,
        sets: "havok-cbreaker CheckPeriod",
        expected: "a Go duration, 0 or more (default 100ms; 0 checks on every request)",
        example: "100ms",
    },
    Setting {
        key: keys::REWRITE_REGEXP,
        sets: "middleware havok-rewrite (rewrite) Regexp",
        expected: "a Go (RE2) regexp, matched against scheme://host/path?query",
        example: "^http://old\\.local/(.*)",
    },
    Setting {
        key: keys::REWRITE_REPLACEMENT,
        sets: "havok-rewrite Replacement",
        expected: "any text; $1 names a group",
        example: "http://new.local/$1",
    },
    Setting {
        key: keys::REWRITE_REDIRECT,
        sets: "havok-rewrite Redirect",
        expected: "true or false: answer 302 when the URL changed",
        example: "true",
    },
    Setting {
        key: keys::REWRITE_BODY,
        sets: "havok-rewrite RewriteBody",
        expected: "true or false: the response body is a template",
        example: "false",
    },
    Setting {
        key: keys::TRACE_ADDR,
        sets: "middleware havok-trace (trace) Addr",
        expected: "syslog://host:port (UDP) or syslog:///path/to/socket",
        example: "syslog://10.0.0.9:514",
    },
];

/// The setting keys (after `havok.`).
pub mod keys {
    pub const FAILOVER_PREDICATE: &str = "failover-predicate";
    pub const PASS_HOST_HEADER: &str = "pass-host-header";
    pub const TRUST_FORWARD_HEADER: &str = "trust-forward-header";
    pub const FORWARD_HOSTNAME: &str = "forward-hostname";
    pub const MAX_BODY_BYTES: &str = "max-body-bytes";
    pub const MAX_MEM_BODY_BYTES: &str = "max-mem-body-bytes";
    pub const STREAM: &str = "stream";
    pub const TIMEOUT_READ: &str = "timeout.read";
    pub const TIMEOUT_DIAL: &str = "timeout.dial";
    pub const TIMEOUT_TLS_HANDSHAKE: &str = "timeout.tls-handshake";
    pub const KEEPALIVE_PERIOD: &str = "keepalive.period";
    pub const KEEPALIVE_MAX_IDLE: &str = "keepalive.max-idle-per-host";
    pub const TLS_INSECURE: &str = "tls.insecure-skip-verify";
    pub const CBREAKER_CONDITION: &str = "cbreaker.condition";
    pub const CBREAKER_STATUS: &str = "cbreaker.fallback-status";
    pub const CBREAKER_BODY: &str = "cbreaker.fallback-body";
    pub const CBREAKER_FALLBACK_DURATION: &str = "cbreaker.fallback-duration";
    pub const CBREAKER_RECOVERY_DURATION: &str = "cbreaker.recovery-duration";
    pub const CBREAKER_CHECK_PERIOD: &str = "cbreaker.check-period";
    pub const REWRITE_REGEXP: &str = "rewrite.regexp";
    pub const REWRITE_REPLACEMENT: &str = "rewrite.replacement";
    pub const REWRITE_REDIRECT: &str = "rewrite.redirect";
    pub const REWRITE_BODY: &str = "rewrite.body";
    pub const TRACE_ADDR: &str = "trace.addr";
}

/// Whether `key` (after `havok.`) is a setting key.
pub fn is_setting(key: &str) -> bool {
    SETTINGS.iter().any(|s| s.key == key)
}

/// A route's Vulcand settings; `Default` writes none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Settings {
    pub frontend: FrontendSettings,
    pub backend: BackendSettings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cbreaker: Option<CircuitBreaker>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// engine.HTTPFrontendSettings, as havok sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FrontendSettings {
    pub failover_predicate: String,
    pub hostname: String,
    pub trust_forward_header: bool,
    pub pass_host_header: bool,
    pub stream: bool,
    pub max_body_bytes: i64,
    pub max_mem_body_bytes: i64,
}

/// engine.HTTPBackendSettings, as havok sets it: durations as written (Go syntax).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct BackendSettings {
    pub timeout_read: String,
    pub timeout_dial: String,
    pub timeout_tls_handshake: String,
    pub keepalive_period: String,
    pub keepalive_max_idle_per_host: i64,
    pub tls_insecure_skip_verify: bool,
}

/// plugin/cbreaker: durations in nanoseconds, as Vulcand reads them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CircuitBreaker {
    pub condition: String,
    pub fallback_status: u16,
    pub fallback_body: String,
    pub fallback_duration_ns: i64,
    pub recovery_duration_ns: i64,
    pub check_period_ns: i64,
}

/// plugin/rewrite.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Rewrite {
    pub regexp: String,
    pub replacement: String,
    pub redirect: bool,
    pub body: bool,
}

/// plugin/trace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Trace {
    pub addr: String,
}

/// oxy's cbreaker defaults, written out: Vulcand reads a missing duration as 0.
const CBREAKER_DEFAULT_STATUS: u16 = 503;
const CBREAKER_DEFAULT_FALLBACK_NS: i64 = 10_000_000_000;
const CBREAKER_DEFAULT_RECOVERY_NS: i64 = 10_000_000_000;
const CBREAKER_DEFAULT_CHECK_NS: i64 = 100_000_000;

/// The values of one route: its labels over the fleet's defaults.
struct Values<'a> {
    labels: &'a BTreeMap<String, String>,
    defaults: &'a BTreeMap<String, String>,
}

impl Values<'_> {
    /// `(label, value)`: the label names where the value came from.
    fn get(&self, key: &str) -> Option<(String, String)> {
        let label = format!("havok.{key}");
        match self.labels.get(&label) {
            Some(value) => Some((label, value.trim().to_string())),
            None => self
                .defaults
                .get(key)
                .map(|v| (format!("--route-default {key}"), v.trim().to_string())),
        }
    }

    fn parse<T>(
        &self,
        key: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, Refusal> {
        let Some((label, value)) = self.get(key) else {
            return Ok(None);
        };
        parse(&value).map(Some).map_err(|why| Refusal::BadSetting {
            label,
            value,
            why,
            expected: expected_of(key),
        })
    }

    fn flag(&self, key: &str) -> Result<bool, Refusal> {
        Ok(self.parse(key, boolean)?.unwrap_or(false))
    }

    /// A key whose label needs `needs` set too: refused without it (a
    /// fleet default applies only to routes that have `needs`).
    fn requires(&self, key: &str, needs: &str) -> Result<(), Refusal> {
        let labelled = self.labels.contains_key(&format!("havok.{key}"));
        match (self.get(key), self.get(needs)) {
            (Some((label, value)), None) if labelled => Err(Refusal::BadSetting {
                label,
                value,
                why: format!("it needs havok.{needs}"),
                expected: expected_of(needs),
            }),
            _ => Ok(()),
        }
    }
}

fn expected_of(key: &str) -> &'static str {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .map_or("a valid value", |s| s.expected)
}

fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("not true or false".into()),
    }
}

fn non_negative(v: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        Ok(_) => Err("out of range: below 0".into()),
        Err(_) => Err("not a whole number".into()),
    }
}

/// A Go duration (`time.ParseDuration`), in nanoseconds, 0 or more.
fn duration_ns(v: &str) -> Result<i64, String> {
    match go_parse_duration::parse_duration(v) {
        Ok(ns) if ns >= 0 => Ok(ns),
        Ok(_) => Err("out of range: below 0".into()),
        Err(_) => Err("not a Go duration".into()),
    }
}

/// A Go duration as Vulcand's backend reads it: the text, once it parses.
fn duration_text(v: &str) -> Result<String, String> {
    duration_ns(v).map(|_| v.to_string())
}

fn status(v: &str) -> Result<u16, String> {
    match v.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok(code),
        Ok(_) => Err("out of range: not 100 to 599".into()),
        Err(_) => Err("not a whole number".into()),
    }
}

fn hostname(v: &str) -> Result<String, String> {
    if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err("empty or with spaces".into())
    } else {
        Ok(v.to_string())
    }
}

/// `syslog://host:port` (UDP) or `syslog:///path`: the forms Vulcand dials.
fn trace_addr(v: &str) -> Result<String, String> {
    let rest = v
        .strip_prefix("syslog://")
        .ok_or("not a syslog:// address")?;
    let valid = if let Some(path) = rest.strip_prefix('/') {
        !path.is_empty() && !path.contains(['?', '#', ' '])
    } else {
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port),
            None => return Err("no port".into()),
        };
        let host_ok =
            host.parse::<std::net::IpAddr>().is_ok() || super::normalize_host(host).is_ok();
        host_ok && port.parse::<u16>().is_ok_and(|p| p > 0)
    };
    if valid {
        Ok(v.to_string())
    } else {
        Err("not syslog://host:port nor syslog:///path".into())
    }
}

/// Checks fleet defaults (`--route-default`) as a route would take them,
/// those of the cbreaker and rewrite too (on a route that has one).
pub fn check_route_defaults(defaults: &BTreeMap<String, String>) -> Result<(), Refusal> {
    let mut labels = BTreeMap::new();
    for (key, value) in [
        (keys::CBREAKER_CONDITION, "NetworkErrorRatio() > 0.5"),
        (keys::REWRITE_REGEXP, "^$"),
    ] {
        if !defaults.contains_key(key) {
            labels.insert(format!("havok.{key}"), value.to_string());
        }
    }
    let probe = Container {
        labels,
        ..Container::default()
    };
    settings_of(&probe, defaults).map(|_| ())
}

/// The settings of a route (`container` is the route's view: its labels as
/// `havok.<key>`), and warnings that do not stop it: unknown keys, and
/// settings that `stream=true` turns off.
pub(super) fn settings_of(
    container: &Container,
    defaults: &BTreeMap<String, String>,
) -> Result<(Settings, Vec<Refusal>), Refusal> {
    let v = Values {
        labels: &container.labels,
        defaults,
    };
    let frontend = FrontendSettings {
        failover_predicate: v
            .parse(keys::FAILOVER_PREDICATE, |p| {
                predicate::check(&predicate::FAILOVER, p).map(|()| p.to_string())
            })?
            .unwrap_or_default(),
        hostname: v
            .parse(keys::FORWARD_HOSTNAME, hostname)?
            .unwrap_or_default(),
        trust_forward_header: v.flag(keys::TRUST_FORWARD_HEADER)?,
        pass_host_header: v.flag(keys::PASS_HOST_HEADER)?,
        stream: v.flag(keys::STREAM)?,
        max_body_bytes: v.parse(keys::MAX_BODY_BYTES, non_negative)?.unwrap_or(0),
        max_mem_body_bytes: v
            .parse(keys::MAX_MEM_BODY_BYTES, non_negative)?
            .unwrap_or(0),
    };
    let backend = BackendSettings {
        timeout_read: v
            .parse(keys::TIMEOUT_READ, duration_text)?
            .unwrap_or_default(),
        timeout_dial: v
            .parse(keys::TIMEOUT_DIAL, duration_text)?
            .unwrap_or_default(),
        timeout_tls_handshake: v
            .parse(keys::TIMEOUT_TLS_HANDSHAKE, duration_text)?
            .unwrap_or_default(),
        keepalive_period: v
            .parse(keys::KEEPALIVE_PERIOD, duration_text)?
            .unwrap_or_default(),
        keepalive_max_idle_per_host: v
            .parse(keys::KEEPALIVE_MAX_IDLE, non_negative)?
            .unwrap_or(0),
        tls_insecure_skip_verify: v.flag(keys::TLS_INSECURE)?,
    };
    for key in [
        keys::CBREAKER_STATUS,
        keys::CBREAKER_BODY,
        keys::CBREAKER_FALLBACK_DURATION,
        keys::CBREAKER_RECOVERY_DURATION,
        keys::CBREAKER_CHECK_PERIOD,
    ] {
        v.requires(key, keys::CBREAKER_CONDITION)?;
    }
    for key in [
        keys::REWRITE_REPLACEMENT,
        keys::REWRITE_REDIRECT,
        keys::REWRITE_BODY,
    ] {
        v.requires(key, keys::REWRITE_REGEXP)?;
    }
    let condition = v.parse(keys::CBREAKER_CONDITION, |c| {
        predicate::check(&predicate::CBREAKER, c).map(|()| c.to_string())
    })?;
    let cbreaker = match condition {
        None => None,
        Some(condition) => Some(CircuitBreaker {
            condition,
            fallback_status: v
                .parse(keys::CBREAKER_STATUS, status)?
                .unwrap_or(CBREAKER_DEFAULT_STATUS),
            fallback_body: v
                .get(keys::CBREAKER_BODY)
                .map(|(_, b)| b)
                .unwrap_or_default(),
            fallback_duration_ns: v
                .parse(keys::CBREAKER_FALLBACK_DURATION, duration_ns)?
                .unwrap_or(CBREAKER_DEFAULT_FALLBACK_NS),
            recovery_duration_ns: v
                .parse(keys::CBREAKER_RECOVERY_DURATION, duration_ns)?
                .unwrap_or(CBREAKER_DEFAULT_RECOVERY_NS),
            check_period_ns: v
                .parse(keys::CBREAKER_CHECK_PERIOD, duration_ns)?
                .unwrap_or(CBREAKER_DEFAULT_CHECK_NS),
        }),
    };
    let regexp = v.parse(keys::REWRITE_REGEXP, |r| {
        re2::check(r).map(|()| r.to_string())
    })?;
    let rewrite = match regexp {
        None => None,
        Some(regexp) => Some(Rewrite {
            regexp,
            // Taken as written (not trimmed): a replacement may end in a space.
            replacement: container
                .labels
                .get(&format!("havok.{}", keys::REWRITE_REPLACEMENT))
                .cloned()
                .or_else(|| defaults.get(keys::REWRITE_REPLACEMENT).cloned())
                .unwrap_or_default(),
            redirect: v.flag(keys::REWRITE_REDIRECT)?,
            body: v.flag(keys::REWRITE_BODY)?,
        }),
    };
    let trace = v
        .parse(keys::TRACE_ADDR, trace_addr)?
        .map(|addr| Trace { addr });

    let mut warnings = Vec::new();
    if frontend.stream {
        for key in [keys::MAX_BODY_BYTES, keys::FAILOVER_PREDICATE] {
            if let Some((label, _)) = v.get(key) {
                warnings.push(Refusal::StreamIgnores { label });
            }
        }
    }
    Ok((
        Settings {
            frontend,
            backend,
            cbreaker,
            rewrite,
            trace,
        },
        warnings,
    ))
}

#[cfg(test)]
mod tests;
