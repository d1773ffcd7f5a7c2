//! `EtcdSettings`: what the etcd backends (v3 and v2) need from the store
//! settings, validated when one of them is chosen: the members, Vulcand's and
//! havok's key prefixes (and the overlap rule of each etcd version), TLS
//! files, the user and password, and the v3 transaction size.

use crate::config::{ConfigError, Secret, StoreSettings};

use super::files::{read_file, read_pem, TlsFiles};

/// The ops of one route's put besides its servers' (two each): backend,
/// frontend, each of havok's middlewares (put or delete), marker.
pub(crate) const ROUTE_OPS: usize = 3 + crate::vulcand::HAVOK_MIDDLEWARES.len();

/// One route's put with one server (and its record); etcd counts a
/// transaction's compares apart from its ops.
const MIN_TXN_OPS: usize = ROUTE_OPS + 2;

/// The validated etcd settings.
#[derive(Debug, Clone)]
pub struct EtcdSettings {
    /// `--etcd-machines`: the members' URLs, without trailing slashes.
    pub machines: Vec<String>,
    /// `--etcd-prefix` as this etcd version's Vulcand engine reads it:
    /// `vulcand` on v3 (used literally), `/vulcand` on v2 (the keys API roots
    /// every key at `/`); never with a trailing slash.
    pub prefix: String,
    /// `--state-prefix`, in the same form: havok's bookkeeping, apart from `prefix`.
    pub state_prefix: String,
    pub tls: Option<TlsFiles>,
    pub auth: Option<(String, Secret)>,
    /// `--etcd-max-txn-ops`: the most operations in one etcd v3 transaction.
    pub max_txn_ops: usize,
}

impl EtcdSettings {
    /// The settings for etcd v3, where a prefix is a plain string prefix.
    pub fn v3(store: &StoreSettings) -> Result<EtcdSettings, ConfigError> {
        let unslashed = |p: &str| p.trim_end_matches('/').to_string();
        let settings = EtcdSettings::build(store, unslashed)?;
        check_v3_prefixes(&settings.prefix, &settings.state_prefix)?;
        Ok(settings)
    }

    /// The settings for etcd v2, where a prefix is a directory.
    pub fn v2(store: &StoreSettings) -> Result<EtcdSettings, ConfigError> {
        let settings = EtcdSettings::build(store, rooted)?;
        check_v2_prefixes(&settings.prefix, &settings.state_prefix)?;
        Ok(settings)
    }

    /// What both versions check; `form` spells a prefix as the version's keys do.
    fn build(
        store: &StoreSettings,
        form: impl Fn(&str) -> String,
    ) -> Result<EtcdSettings, ConfigError> {
        let machines = machines(&store.etcd_machines)?;
        let (prefix, state_prefix) = prefixes(store)?;
        let tls = tls(store)?;
        let auth = auth(store)?;
        if store.etcd_max_txn_ops < MIN_TXN_OPS {
            return Err(ConfigError::Invalid(format!(
                "--etcd-max-txn-ops {}: expected at least {MIN_TXN_OPS} (one route's backend, frontend, middlewares and a server)",
                store.etcd_max_txn_ops
            )));
        }
        Ok(EtcdSettings {
            machines,
            prefix: form(&prefix),
            state_prefix: form(&state_prefix),
            tls,
            auth,
            max_txn_ops: store.etcd_max_txn_ops,
        })
    }
}

/// `--etcd-machines`: comma-separated http(s) URLs, at least one.
fn machines(given: &str) -> Result<Vec<String>, ConfigError> {
    let machines: Vec<String> = given
        .split(',')
        .map(|m| m.trim().trim_end_matches('/').to_string())
        .filter(|m| !m.is_empty())
        .collect();
    if machines.is_empty() {
        return Err(ConfigError::Invalid(
            "--etcd-machines is empty: expected URLs such as http://127.0.0.1:2379".into(),
        ));
    }
    match machines
        .iter()
        .find(|m| !(m.starts_with("http://") || m.starts_with("https://")))
    {
        Some(m) => Err(ConfigError::Invalid(format!(
            "--etcd-machines entry {m:?}: expected an http:// or https:// URL"
        ))),
        None => Ok(machines),
    }
}

/// `--etcd-prefix` and `--state-prefix`, trimmed; neither empty, nor the same.
fn prefixes(store: &StoreSettings) -> Result<(String, String), ConfigError> {
    let prefix = store.etcd_prefix.trim().to_string();
    if prefix.trim_matches('/').is_empty() {
        return Err(ConfigError::Invalid(
            "--etcd-prefix is empty: expected Vulcand's -etcdKey, e.g. vulcand".into(),
        ));
    }
    let state = store.state_prefix.trim().trim_end_matches('/').to_string();
    if state.is_empty() || state.trim_start_matches('/') == prefix.trim_matches('/') {
        return Err(ConfigError::Invalid(format!(
            "--state-prefix {:?}: expected a prefix of its own, outside --etcd-prefix",
            store.state_prefix
        )));
    }
    Ok((prefix, state))
}

/// `--etcd-ca`, `--etcd-cert` and `--etcd-key`; none of them: no TLS.
fn tls(store: &StoreSettings) -> Result<Option<TlsFiles>, ConfigError> {
    let identity = match (&store.etcd_cert, &store.etcd_key) {
        (Some(c), Some(k)) => Some((read_pem("--etcd-cert", c)?, read_pem("--etcd-key", k)?)),
        (None, None) => None,
        _ => {
            return Err(ConfigError::Invalid(
                "--etcd-cert and --etcd-key go together: expected both or neither".into(),
            ))
        }
    };
    let ca = store
        .etcd_ca
        .as_ref()
        .map(|p| read_pem("--etcd-ca", p))
        .transpose()?;
    Ok((ca.is_some() || identity.is_some()).then_some(TlsFiles { ca, identity }))
}

/// `--etcd-username` with `--etcd-password-file` (else `HAVOK_ETCD_PASSWORD`).
fn auth(store: &StoreSettings) -> Result<Option<(String, Secret)>, ConfigError> {
    let password = match &store.etcd_password_file {
        Some(path) => Some(
            String::from_utf8_lossy(&read_file("--etcd-password-file", path)?)
                .trim_end_matches(['\n', '\r'])
                .to_string(),
        ),
        None => Some(store.etcd_password.expose().trim().to_string()).filter(|p| !p.is_empty()),
    };
    let user = store.etcd_username.trim();
    match (user.is_empty(), password) {
        (false, Some(pw)) => Ok(Some((user.to_string(), Secret::new(pw)))),
        (false, None) => Err(ConfigError::Invalid(format!(
            "--etcd-username {user:?} has no password: expected HAVOK_ETCD_PASSWORD or --etcd-password-file"
        ))),
        (true, Some(_)) => Err(ConfigError::Invalid(
            "an etcd password is set without --etcd-username".into(),
        )),
        (true, None) => Ok(None),
    }
}

/// `vulcand` → `/vulcand`; `/havok/` → `/havok`.
fn rooted(prefix: &str) -> String {
    format!("/{}", prefix.trim_matches('/'))
}

/// Refuses a bookkeeping prefix that overlaps Vulcand's. Vulcand's v3 engine
/// reads and watches `-etcdKey` as a plain string prefix (`WithPrefix`), so
/// with `vulcand` it also sees `vulcand2/…`: either prefix being a string
/// prefix of the other puts havok's records in Vulcand's view, or Vulcand's
/// keys under havok's.
fn check_v3_prefixes(vulcand: &str, state: &str) -> Result<(), ConfigError> {
    if !(vulcand.starts_with(state) || state.starts_with(vulcand)) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "--state-prefix {state:?} overlaps --etcd-prefix {vulcand:?}: Vulcand's etcd v3 engine reads \
         every key that starts with {vulcand:?}, so neither may start with the other \
         (expected a prefix of its own, e.g. havok)"
    )))
}

/// Refuses a bookkeeping prefix that overlaps Vulcand's. etcd v2 keys are
/// paths and Vulcand's v2 engine reads the directory `-etcdKey`, so only a
/// directory inside the other counts: `/vulcand2` is apart from `/vulcand`.
fn check_v2_prefixes(vulcand: &str, state: &str) -> Result<(), ConfigError> {
    let parts = |p: &str| -> Vec<String> {
        p.split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let (v, s) = (parts(vulcand), parts(state));
    if !(v.starts_with(&s) || s.starts_with(&v)) {
        return Ok(());
    }
    Err(ConfigError::Invalid(format!(
        "--state-prefix {state:?} overlaps --etcd-prefix {vulcand:?}: on etcd v2 neither may be \
         a directory inside the other (expected a prefix of its own, e.g. havok)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawConfig};

    /// The store settings of the defaults with `edit` applied.
    fn store(edit: impl FnOnce(&mut RawConfig)) -> StoreSettings {
        let mut raw = RawConfig::default();
        edit(&mut raw);
        Config::from_raw(raw).unwrap().store
    }

    /// The defaults make valid settings, each prefix spelled as its version's keys are.
    #[test]
    fn defaults() {
        let v3 = EtcdSettings::v3(&store(|_| {})).unwrap();
        assert_eq!(v3.machines, vec!["http://127.0.0.1:2379"]);
        assert_eq!(
            (v3.prefix.as_str(), v3.state_prefix.as_str()),
            ("vulcand", "havok")
        );
        assert!(v3.tls.is_none() && v3.auth.is_none());
        let v2 = EtcdSettings::v2(&store(|_| {})).unwrap();
        assert_eq!(
            (v2.prefix.as_str(), v2.state_prefix.as_str()),
            ("/vulcand", "/havok")
        );
    }

    /// A configured prefix and the key root used in etcd v2.
    #[test]
    fn prefixes_are_rooted() {
        for given in ["vulcand", "/vulcand", "vulcand/"] {
            assert_eq!(rooted(given), "/vulcand", "{given:?}");
        }
        assert_eq!(rooted("a/b"), "/a/b");
    }

    /// Each row: `--etcd-prefix`, `--state-prefix`, and whether they may be
    /// used together on v3 (plain key prefixes) and on v2 (directories).
    const PREFIX_PAIRS: [(&str, &str, bool, bool); 10] = [
        ("vulcand", "havok", true, true),
        ("vulcand", "havok/vulcand", true, true),
        ("/vulcand", "/havok", true, true),
        ("vulcand", "vulcand2", false, true),
        ("vulcand", "vul", false, true),
        ("vulcand", "/vulcand/", true, false),
        ("vulcand", "vulcand/havok", false, false),
        ("a/b", "a", false, false),
        ("vulcand", "vulcand", false, false),
        ("vulcand", "vulcand//havok", false, false),
    ];

    /// v3: the rows of `PREFIX_PAIRS` that overlap as key prefixes are refused.
    #[test]
    fn v3_overlapping_prefixes_are_refused() {
        for (vulcand, state, ok, _) in PREFIX_PAIRS {
            let got = check_v3_prefixes(vulcand, state);
            assert_eq!(got.is_ok(), ok, "{vulcand:?} {state:?}: {got:?}");
        }
    }

    /// v2: the rows of `PREFIX_PAIRS` where one is a directory inside the other are refused.
    #[test]
    fn v2_overlapping_prefixes_are_refused() {
        for (vulcand, state, _, ok) in PREFIX_PAIRS {
            let got = check_v2_prefixes(&rooted(vulcand), &rooted(state));
            assert_eq!(got.is_ok(), ok, "{vulcand:?} {state:?}: {got:?}");
        }
    }

    /// Each row: a bad etcd setting and a piece of the one-line error that must name it.
    #[test]
    fn bad_values_are_one_line_errors() {
        type Edit = fn(&mut RawConfig);
        let cases: [(Edit, &str); 9] = [
            (
                |r| r.etcd_machines = "127.0.0.1:2379".into(),
                "--etcd-machines entry \"127.0.0.1:2379\"",
            ),
            (
                |r| r.etcd_machines = " , ".into(),
                "--etcd-machines is empty",
            ),
            (
                |r| r.etcd_ca = Some("/nonexistent/ca.pem".into()),
                "cannot read --etcd-ca /nonexistent/ca.pem",
            ),
            (
                |r| r.etcd_cert = Some("/nonexistent/c.pem".into()),
                "--etcd-cert and --etcd-key go together",
            ),
            (
                |r| r.etcd_username = "root".into(),
                "--etcd-username \"root\" has no password",
            ),
            (
                |r| r.etcd_password = "pw".into(),
                "an etcd password is set without --etcd-username",
            ),
            (|r| r.etcd_prefix = "/".into(), "--etcd-prefix is empty"),
            (
                |r| r.state_prefix = "/vulcand/".into(),
                "--state-prefix \"/vulcand/\": expected a prefix of its own",
            ),
            (
                |r| r.etcd_max_txn_ops = 2,
                "--etcd-max-txn-ops 2: expected at least 10",
            ),
        ];
        for (edit, want) in cases {
            let store = store(edit);
            for err in [EtcdSettings::v3(&store), EtcdSettings::v2(&store)] {
                let err = err.unwrap_err().to_string();
                assert!(err.contains(want), "{want}: {err}");
                assert!(!err.contains('\n'), "more than one line: {err}");
            }
        }
    }

    /// The password read from its file is used, and never shows in Debug output.
    #[test]
    fn secrets_are_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "hunter2\n").unwrap();
        let settings = EtcdSettings::v3(&store(|r| {
            r.etcd_username = "root".into();
            r.etcd_password_file = Some(file);
        }))
        .unwrap();
        let (user, password) = settings.auth.as_ref().unwrap();
        assert_eq!((user.as_str(), password.expose()), ("root", "hunter2"));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
