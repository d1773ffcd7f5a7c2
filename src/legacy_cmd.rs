//! `havok legacy`: the original havok's pre-0.8 keys in etcd v2, listed, and
//! removed with `--remove` (`crate::backends::etcd2::legacy`). Needs the
//! `etcd2` feature, whichever backend `--backend` names.

use crate::config::Config;

/// Prints the keys (and what was deleted) on stdout.
pub async fn run(config: &Config, remove: bool, all: bool) -> Result<(), String> {
    cfg_if::cfg_if! {
        if #[cfg(feature = "etcd2")] {
            use crate::backends::etcd2::legacy;
            use crate::backends::EtcdSettings;
            let settings = EtcdSettings::v2(&config.store).map_err(|e| e.to_string())?;
            let host_ip = config.rules.host_ip.to_string();
            let lines = legacy::run(settings, config.timeout, &host_ip, remove, all)
                .await
                .map_err(|e| e.to_string())?;
            for line in lines {
                println!("{line}");
            }
            Ok(())
        } else {
            let _ = (config, remove, all);
            Err(crate::config::ConfigError::Invalid(
                "havok legacy works in etcd v2 and this build has no etcd2 backend: \
                 build with --features etcd2"
                    .into(),
            )
            .to_string())
        }
    }
}
