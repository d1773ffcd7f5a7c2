//! `VulcandApiSettings`: what the `vulcand-api` backend needs from the store
//! settings (`--vulcand-api`, `--vulcand-ca`), validated only when that
//! backend is chosen.

use reqwest::Url;

use crate::config::{ConfigError, StoreSettings};

use super::files::read_pem;

/// The validated API settings.
#[derive(Debug, Clone)]
pub struct VulcandApiSettings {
    /// The API's base URL as given, without a trailing slash (`http://127.0.0.1:8182`).
    pub api: String,
    /// The same URL parsed.
    pub url: Url,
    /// `--vulcand-ca`: PEM of the CA that signs the API's certificate; `None`: the system roots.
    pub ca: Option<Vec<u8>>,
}

impl VulcandApiSettings {
    pub fn new(store: &StoreSettings) -> Result<VulcandApiSettings, ConfigError> {
        let given = &store.vulcand_api;
        if !(given.starts_with("http://") || given.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "--vulcand-api {given:?}: expected an http:// or https:// URL"
            )));
        }
        let api = given.trim().trim_end_matches('/').to_string();
        let url = Url::parse(&api).map_err(|e| {
            ConfigError::Invalid(format!("--vulcand-api {api:?} is not a URL: {e}"))
        })?;
        let ca = store
            .vulcand_ca
            .as_ref()
            .map(|p| read_pem("--vulcand-ca", p))
            .transpose()?;
        Ok(VulcandApiSettings { api, url, ca })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawConfig};

    fn store(api: &str, ca: Option<&str>) -> StoreSettings {
        let raw = RawConfig {
            vulcand_api: api.into(),
            vulcand_ca: ca.map(Into::into),
            ..RawConfig::default()
        };
        Config::from_raw(raw).unwrap().store
    }

    /// Each row: `--vulcand-api`, `--vulcand-ca`, and the base URL or a piece of the one-line error.
    #[test]
    fn settings() {
        for (api, ca, want) in [
            ("http://127.0.0.1:8182", None, Ok("http://127.0.0.1:8182")),
            ("https://vulcand:8182/", None, Ok("https://vulcand:8182")),
            (
                "127.0.0.1:8182",
                None,
                Err("--vulcand-api \"127.0.0.1:8182\": expected an http:// or https:// URL"),
            ),
            (
                "http://a b",
                None,
                Err("--vulcand-api \"http://a b\" is not a URL"),
            ),
            (
                "https://vulcand:8182",
                Some("/nonexistent/ca.pem"),
                Err("cannot read --vulcand-ca /nonexistent/ca.pem"),
            ),
        ] {
            let got = VulcandApiSettings::new(&store(api, ca));
            match (got, want) {
                (Ok(s), Ok(want)) => assert_eq!(s.api, want),
                (Err(e), Err(want)) => {
                    let e = e.to_string();
                    assert!(e.contains(want) && !e.contains('\n'), "{api}: {e}");
                }
                (got, want) => panic!("{api}: {got:?}, expected {want:?}"),
            }
        }
    }
}
