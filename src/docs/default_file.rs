//! The packages' `/etc/default/havok`: every setting the environment may
//! set, commented out, with its flag's help and its built-in default.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::config::{known_keys, RawConfig, DEFAULT_DOCKER};

/// The settings of `config::known_keys`, in the order of `--help`, then the
/// ones without a flag.
pub fn settings_in_flag_order() -> Vec<String> {
    let mut keys = known_keys();
    keys.sort();
    keys.dedup();
    let cmd = Cli::command();
    let mut ordered: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(|long| long.replace('-', "_"))
        .filter(|key| keys.contains(key))
        .collect();
    for key in keys {
        if !ordered.contains(&key) {
            ordered.push(key);
        }
    }
    ordered
}

pub(super) fn flag_of(cmd: &clap::Command, key: &str) -> Option<String> {
    let long = key.replace('_', "-");
    cmd.get_arguments()
        .filter_map(|a| a.get_long())
        .find(|l| *l == long)
        .map(str::to_string)
}

/// `/etc/default/havok`: every `HAVOK_*` setting commented out, with its
/// flag's help and its built-in default as the value.
pub fn default_file() -> String {
    let defaults = RawConfig {
        // The built-in default, not whatever DOCKER_HOST the packager has.
        docker: DEFAULT_DOCKER.to_string(),
        ..RawConfig::default()
    };
    let defaults = match serde_json::to_value(&defaults) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let cmd = Cli::command();
    let mut out = String::from(
        "# Settings of havok, read by its systemd unit (havok.service). Each HAVOK_*\n\
         # variable is a flag of havok(1): HAVOK_ETCD_MACHINES is --etcd-machines.\n\
         # Uncomment a line to set it; the value shown is the built-in default.\n\
         # Precedence: built-in defaults < --config file < HAVOK_* < flags.\n\
         # The unit is installed disabled: systemctl enable --now havok\n",
    );
    for key in settings_in_flag_order() {
        out.push('\n');
        let long = key.replace('_', "-");
        let help = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()))
            .map(|a| {
                let value = a
                    .get_value_names()
                    .and_then(|v| v.first())
                    .map(|v| format!(" {v}"))
                    .unwrap_or_default();
                let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
                format!("--{long}{value}: {help}")
            })
            .unwrap_or_else(|| {
                "The etcd password for --etcd-username. Prefer --etcd-password-file \
                 naming a file of mode 0600: this file is world-readable."
                    .to_string()
            });
        for line in wrap(&help, 76) {
            out.push_str("# ");
            out.push_str(&line);
            out.push('\n');
        }
        let value = match defaults.get(&key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        out.push_str(&format!("#HAVOK_{}={value}\n", key.to_ascii_uppercase()));
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}
