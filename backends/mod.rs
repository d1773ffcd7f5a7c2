//! The `RouteSink` implementations, one per Cargo feature, and [`Backend`]:
//! the one `--backend` names (else the first compiled in) with its own
//! settings, validated at start, which then builds the sink. Adding a
//! backend: one feature line in Cargo.toml, one `mod` line here, one file
//! (and one for its settings).
//!
//! - `etcd_settings`: what etcd v3 and v2 need (members, prefixes, TLS, auth).
//! - `vulcand_api_settings`: what the API backend needs (URL, CA).
//! - `files`: the certificate, key and password files those settings name.
//! - `http`: the reqwest client of the HTTP backends.

use std::time::Duration;

use crate::config::{BackendKind, Config, ConfigError};
use crate::sink::RouteSink;

#[cfg(not(any(feature = "etcd3", feature = "etcd2", feature = "vulcand-api")))]
compile_error!(
    "havok needs at least one backend to write routes to: build with one or more of the Cargo \
     features `etcd3`, `etcd2`, `vulcand-api` (e.g. `cargo build --no-default-features --features etcd3`)"
);

mod apply;
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
mod bookkeeping;
mod observe;

#[cfg(feature = "etcd2")]
pub mod etcd2;
#[cfg(feature = "etcd3")]
pub mod etcd3;
#[cfg(any(feature = "etcd3", feature = "etcd2"))]
pub mod etcd_settings;
mod files;
#[cfg(any(feature = "etcd2", feature = "vulcand-api"))]
mod http;
#[cfg(feature = "vulcand-api")]
pub mod vulcand_api;
#[cfg(feature = "vulcand-api")]
pub mod vulcand_api_settings;

#[cfg(any(feature = "etcd3", feature = "etcd2"))]
pub use etcd_settings::EtcdSettings;
pub use files::TlsFiles;
#[cfg(feature = "vulcand-api")]
pub use vulcand_api_settings::VulcandApiSettings;

cfg_if::cfg_if! {
    if #[cfg(feature = "etcd3")] {
        const DEFAULT: BackendKind = BackendKind::Etcd3;
    } else if #[cfg(feature = "etcd2")] {
        const DEFAULT: BackendKind = BackendKind::Etcd2;
    } else {
        const DEFAULT: BackendKind = BackendKind::VulcandApi;
    }
}

/// The backend used when `--backend` is not given: the first compiled in, in
/// the order etcd3, etcd2, vulcand-api.
pub fn default_backend() -> BackendKind {
    DEFAULT
}

/// Whether `kind` was compiled into this binary.
pub fn is_compiled(kind: BackendKind) -> bool {
    match kind {
        BackendKind::Etcd3 => cfg!(feature = "etcd3"),
        BackendKind::Etcd2 => cfg!(feature = "etcd2"),
        BackendKind::VulcandApi => cfg!(feature = "vulcand-api"),
    }
}

/// A configuration error naming the Cargo feature when `kind` is not compiled in.
pub fn ensure_compiled(kind: BackendKind) -> Result<(), ConfigError> {
    if is_compiled(kind) {
        return Ok(());
    }
    Err(not_compiled(kind, env!("BUILD_HAVOK_BACKENDS")))
}

/// The error for a backend missing from a build whose backends are `compiled`.
fn not_compiled(kind: BackendKind, compiled: &str) -> ConfigError {
    ConfigError::Invalid(format!(
        "backend {kind:?} is not compiled into this havok (compiled in: {compiled}): rebuild with `cargo build --features {kind}`",
        kind = kind.as_str()
    ))
}

/// The core settings every sink uses besides its own.
#[derive(Debug, Clone, Copy)]
pub struct SinkTiming {
    /// `--ttl`: how long a written server lives without a refresh.
    pub ttl: Duration,
    /// `--timeout`: the longest one call to the store may take.
    pub timeout: Duration,
}

impl SinkTiming {
    pub fn of(config: &Config) -> SinkTiming {
        SinkTiming {
            ttl: config.ttl,
            timeout: config.timeout,
        }
    }
}

/// The chosen backend and its validated settings: all its sink needs but
/// the node name, which may have to wait for Docker. Made at start, so a bad
/// setting is refused before anything runs.
#[derive(Debug)]
pub enum Backend {
    #[cfg(feature = "etcd3")]
    Etcd3(EtcdSettings),
    #[cfg(feature = "etcd2")]
    Etcd2(EtcdSettings),
    #[cfg(feature = "vulcand-api")]
    VulcandApi(VulcandApiSettings),
}

impl Backend {
    /// The backend `config.backend` names (else [`default_backend`]), refused
    /// when not compiled in, with its settings built from `config.store`:
    /// only its own, so another backend's setting is never an error.
    pub fn from_config(config: &Config) -> Result<Backend, ConfigError> {
        let kind = config.backend.unwrap_or_else(default_backend);
        ensure_compiled(kind)?;
        let store = &config.store;
        match kind {
            #[cfg(feature = "etcd3")]
            BackendKind::Etcd3 => Ok(Backend::Etcd3(EtcdSettings::v3(store)?)),
            #[cfg(feature = "etcd2")]
            BackendKind::Etcd2 => Ok(Backend::Etcd2(EtcdSettings::v2(store)?)),
            #[cfg(feature = "vulcand-api")]
            BackendKind::VulcandApi => Ok(Backend::VulcandApi(VulcandApiSettings::new(store)?)),
            #[allow(unreachable_patterns)]
            other => unreachable!("{other} passed ensure_compiled"),
        }
    }

    /// The sink, for this node.
    pub fn sink(self, timing: SinkTiming, node: &str) -> Result<Box<dyn RouteSink>, ConfigError> {
        Ok(match self {
            #[cfg(feature = "etcd3")]
            Backend::Etcd3(settings) => Box::new(etcd3::Etcd3Sink::new(settings, timing, node)),
            #[cfg(feature = "etcd2")]
            Backend::Etcd2(settings) => Box::new(etcd2::Etcd2Sink::new(settings, timing, node)?),
            #[cfg(feature = "vulcand-api")]
            Backend::VulcandApi(settings) => {
                Box::new(vulcand_api::VulcandApiSink::new(settings, timing, node)?)
            }
        })
    }
}

/// Both steps at once: the backend `config` names, with its settings, and its sink for `node`.
pub fn build(config: &Config, node: &str) -> Result<Box<dyn RouteSink>, ConfigError> {
    Backend::from_config(config)?.sink(SinkTiming::of(config), node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    /// The config of the defaults with `edit` applied.
    fn config(edit: impl FnOnce(&mut RawConfig)) -> Config {
        let mut raw = RawConfig::default();
        edit(&mut raw);
        Config::from_raw(raw).unwrap()
    }

    /// Only the chosen backend's settings are validated: a bad `--vulcand-api`
    /// does not stop an etcd run, nor bad etcd settings an API run; the chosen
    /// backend's own bad setting is refused.
    #[test]
    fn only_the_chosen_backend_is_validated() {
        for kind in BackendKind::ALL.into_iter().filter(|k| is_compiled(*k)) {
            let bad_other = config(|r| {
                r.backend = kind.as_str().into();
                match kind {
                    BackendKind::VulcandApi => r.etcd_machines = "127.0.0.1:2379".into(),
                    _ => r.vulcand_api = "nope".into(),
                }
            });
            let built = Backend::from_config(&bad_other);
            assert!(built.is_ok(), "{kind}: {built:?}");
            assert!(build(&bad_other, "n1").is_ok(), "{kind}");
            let bad_own = config(|r| {
                r.backend = kind.as_str().into();
                r.etcd_machines = "127.0.0.1:2379".into();
                r.vulcand_api = "nope".into();
            });
            let err = Backend::from_config(&bad_own).unwrap_err().to_string();
            let flag = match kind {
                BackendKind::VulcandApi => "--vulcand-api \"nope\"",
                _ => "--etcd-machines entry \"127.0.0.1:2379\"",
            };
            assert!(err.contains(flag), "{kind}: {err}");
        }
    }

    /// With no `--backend`, the default one is built.
    #[test]
    fn no_backend_named_builds_the_default() {
        let sink = build(&config(|_| {}), "n1").unwrap();
        assert_eq!(sink.name(), default_backend().as_str());
    }

    /// The default is the first compiled-in backend, in the order etcd3, etcd2, vulcand-api.
    #[test]
    fn default_is_first_compiled_in() {
        let first = BackendKind::ALL
            .into_iter()
            .find(|b| is_compiled(*b))
            .unwrap();
        assert_eq!(default_backend(), first);
        assert!(ensure_compiled(default_backend()).is_ok());
    }

    /// Naming a backend that is not compiled in is an error naming the Cargo
    /// feature to enable and what the build has: each backend, as a build
    /// with only one of the others would say it.
    #[test]
    fn missing_backend_names_its_feature() {
        for kind in BackendKind::ALL {
            for other in BackendKind::ALL.into_iter().filter(|o| *o != kind) {
                let err = not_compiled(kind, other.as_str()).to_string();
                assert!(err.contains(&format!("--features {kind}")), "{err}");
                assert!(err.contains(&format!("compiled in: {other}")), "{err}");
                assert!(err.contains("not compiled into this havok"), "{err}");
            }
        }
    }

    /// This build refuses exactly the backends it lacks (in the single-feature
    /// builds CI makes, two of them), and names its own.
    #[test]
    fn this_build_refuses_what_it_lacks() {
        for kind in BackendKind::ALL {
            match ensure_compiled(kind) {
                Ok(()) => assert!(is_compiled(kind)),
                Err(err) => {
                    assert!(!is_compiled(kind), "{err}");
                    let err = err.to_string();
                    assert!(err.contains(&format!("--features {kind}")), "{err}");
                    assert!(err.contains(env!("BUILD_HAVOK_BACKENDS")), "{err}");
                }
            }
        }
    }
}
