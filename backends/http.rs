//! The reqwest client shared by the HTTP backends (etcd v2, Vulcand's API):
//! rustls, the configured CA and client identity, and the request timeout.

use std::time::Duration;

use super::files::TlsFiles;
use crate::config::ConfigError;

/// Builds a client that verifies servers with `tls.ca` (else the system roots)
/// and presents `tls.identity` when given.
pub fn client(tls: Option<&TlsFiles>, timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(timeout)
        .connect_timeout(timeout)
        // Vulcand and etcd answer quickly; an idle pool keeps keepalive traffic cheap.
        .pool_idle_timeout(Duration::from_secs(90));
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca {
            let cert = reqwest::Certificate::from_pem(ca).map_err(|e| {
                ConfigError::Invalid(format!("CA certificate is not valid PEM: {e}"))
            })?;
            builder = builder
                .tls_built_in_root_certs(false)
                .add_root_certificate(cert);
        }
        if let Some((cert, key)) = &tls.identity {
            let mut pem = cert.clone();
            pem.push(b'\n');
            pem.extend_from_slice(key);
            let identity = reqwest::Identity::from_pem(&pem).map_err(|e| {
                ConfigError::Invalid(format!("client certificate and key are not valid PEM: {e}"))
            })?;
            builder = builder.identity(identity);
        }
    }
    builder
        .build()
        .map_err(|e| ConfigError::Invalid(format!("cannot set up the HTTP client: {e}")))
}

/// A reqwest error as one line, with its cause (connection refused, TLS, timeout).
pub fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
