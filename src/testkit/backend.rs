//! Which store havok writes to in a test or a benchmark run, named by its
//! `--backend` flag, and the backends this build has.

/// One of havok's backends, as `--backend` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Etcd3,
    Etcd2,
    VulcandApi,
}

impl Backend {
    pub fn flag(self) -> &'static str {
        match self {
            Backend::Etcd3 => "etcd3",
            Backend::Etcd2 => "etcd2",
            Backend::VulcandApi => "vulcand-api",
        }
    }

    /// The compiled-in backend `--backend flag` names.
    pub fn parse(flag: &str) -> Option<Backend> {
        Backend::compiled_in()
            .into_iter()
            .find(|b| b.flag() == flag)
    }

    /// The backends this build of havok has, in `--backend`'s default order.
    pub fn compiled_in() -> Vec<Backend> {
        let mut all = Vec::new();
        if cfg!(feature = "etcd3") {
            all.push(Backend::Etcd3);
        }
        if cfg!(feature = "etcd2") {
            all.push(Backend::Etcd2);
        }
        if cfg!(feature = "vulcand-api") {
            all.push(Backend::VulcandApi);
        }
        all
    }

    /// The backend a test module is named after (`etcd3`, `etcd2`, `vulcand_api`).
    pub fn from_module(name: &str) -> Backend {
        match name {
            "etcd3" => Backend::Etcd3,
            "etcd2" => Backend::Etcd2,
            _ => Backend::VulcandApi,
        }
    }

    /// Whether a store write is visible at once or only after a resync races
    /// (etcd v3 transactions make the race outcome exact at once).
    pub fn exact_at_once(self) -> bool {
        self == Backend::Etcd3
    }
}
