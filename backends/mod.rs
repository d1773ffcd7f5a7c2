//! The `RouteSink` implementations, one per Cargo feature, and `build()`, which
//! picks the one `--backend` names. Adding a backend: one feature line in
//! Cargo.toml, one `mod` line here, one file.

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
#[cfg(any(feature = "etcd2", feature = "vulcand-api"))]
mod http;
#[cfg(feature = "vulcand-api")]
pub mod vulcand_api;

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

/// Builds the sink `config.backend` names, for this node.
pub fn build(config: &Config, node: &str) -> Result<Box<dyn RouteSink>, ConfigError> {
    ensure_compiled(config.backend)?;
    match config.backend {
        #[cfg(feature = "etcd3")]
        BackendKind::Etcd3 => Ok(Box::new(etcd3::Etcd3Sink::new(config, node)?)),
        #[cfg(feature = "etcd2")]
        BackendKind::Etcd2 => Ok(Box::new(etcd2::Etcd2Sink::new(config, node)?)),
        #[cfg(feature = "vulcand-api")]
        BackendKind::VulcandApi => Ok(Box::new(vulcand_api::VulcandApiSink::new(config, node)?)),
        #[allow(unreachable_patterns)]
        other => unreachable!("{other} passed ensure_compiled"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
