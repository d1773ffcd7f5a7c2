//! The files the store settings name (CA, client certificate and key, the
//! etcd password), read and checked once at start, and [`TlsFiles`], the TLS
//! material the sinks are built with.

use std::path::Path;

use crate::config::ConfigError;

/// Every PEM block opens with this; a file without one is not PEM.
const PEM_BEGIN: &[u8] = b"-----BEGIN ";

/// TLS material for a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM of the CA that signs the servers, read at start.
    pub ca: Option<Vec<u8>>,
    /// PEM client certificate and key, read at start.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// The bytes of the file `flag` names; an empty file is an error too.
pub fn read_file(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| ConfigError::File {
        what: flag,
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if bytes.is_empty() {
        return Err(ConfigError::File {
            what: flag,
            path: path.to_path_buf(),
            reason: "the file is empty".into(),
        });
    }
    Ok(bytes)
}

/// Reads a certificate or key file and checks that it is PEM: the TLS
/// libraries only parse it at the first connection, where a wrong file would
/// look like an unreachable store and be retried forever.
pub fn read_pem(flag: &'static str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bytes = read_file(flag, path)?;
    if !bytes.windows(PEM_BEGIN.len()).any(|w| w == PEM_BEGIN) {
        return Err(ConfigError::File {
            what: flag,
            path: path.to_path_buf(),
            reason: "not a PEM file (expected a -----BEGIN ...----- block)".into(),
        });
    }
    Ok(bytes)
}
