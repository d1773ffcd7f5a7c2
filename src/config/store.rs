//! `StoreSettings`: where routes are written, as the layers gave it. Only the
//! chosen backend reads and validates these (each owns its settings), so a
//! setting of a backend not in use is never an error.

use std::fmt;
use std::path::PathBuf;

use super::raw::RawConfig;

/// A password or other secret: never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The store settings as given (strings and paths, unchecked); the field
/// docs of `RawConfig` say what each holds.
#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub etcd_machines: String,
    pub etcd_prefix: String,
    pub state_prefix: String,
    pub etcd_max_txn_ops: usize,
    pub etcd_ca: Option<PathBuf>,
    pub etcd_cert: Option<PathBuf>,
    pub etcd_key: Option<PathBuf>,
    pub etcd_username: String,
    /// `HAVOK_ETCD_PASSWORD`; `etcd_password_file` wins when both are set.
    pub etcd_password: Secret,
    pub etcd_password_file: Option<PathBuf>,
    pub vulcand_api: String,
    pub vulcand_ca: Option<PathBuf>,
}

impl StoreSettings {
    /// The store section of `raw`, taken as it is.
    pub(super) fn from_raw(raw: &RawConfig) -> StoreSettings {
        StoreSettings {
            etcd_machines: raw.etcd_machines.clone(),
            etcd_prefix: raw.etcd_prefix.clone(),
            state_prefix: raw.state_prefix.clone(),
            etcd_max_txn_ops: raw.etcd_max_txn_ops,
            etcd_ca: raw.etcd_ca.clone(),
            etcd_cert: raw.etcd_cert.clone(),
            etcd_key: raw.etcd_key.clone(),
            etcd_username: raw.etcd_username.clone(),
            etcd_password: Secret(raw.etcd_password.clone()),
            etcd_password_file: raw.etcd_password_file.clone(),
            vulcand_api: raw.vulcand_api.clone(),
            vulcand_ca: raw.vulcand_ca.clone(),
        }
    }
}
