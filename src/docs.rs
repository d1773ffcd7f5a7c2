//! `havok generate-docs --out DIR` (a hidden subcommand, for packagers): the
//! man page `havok.1`, the bash, zsh and fish completions and
//! `havok.default` (the packages' `/etc/default/havok`), all made from the
//! clap definitions in `cli` and the settings of `config`, so none of them can
//! drift from `--help`. `scripts/package` runs it with the binary it packs, so
//! each package documents the backends compiled into its own binary.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use crate::cli::Cli;
use crate::config::{known_keys, RawConfig, DEFAULT_DOCKER};
use crate::model::labels;

/// The files `generate` writes, by name.
pub const MAN_PAGE: &str = "havok.1";
pub const BASH_COMPLETION: &str = "havok.bash";
pub const ZSH_COMPLETION: &str = "_havok";
pub const FISH_COMPLETION: &str = "havok.fish";
pub const DEFAULT_FILE: &str = "havok.default";

/// Every container label havok reads, with its meaning: the man page's LABELS.
pub const LABELS: [(&str, &str); 11] = [
    (
        labels::ENABLE,
        "true or false: opt the container in or out (see --exposed-by-default).",
    ),
    (
        labels::HOST,
        "Comma-separated host names instead of <hostname>.<root-domain>; inside --root-domain unless --allow-any-host.",
    ),
    (
        labels::PORT,
        "The container port to route [default: the lowest-numbered published TCP port].",
    ),
    (
        labels::PATH,
        "Route only this path prefix (/api): its own frontend and backend.",
    ),
    (labels::SCHEME, "http or https: the upstream's scheme [default: http]."),
    (
        labels::NETWORK,
        "Route to the container's own address on this Docker network (as --network).",
    ),
    (
        labels::RATE_LIMIT,
        "Requests per second for this container's route (overrides --rate-limit; 0 turns it off).",
    ),
    (
        labels::CONN_LIMIT,
        "Concurrent connections for this container's route (overrides --conn-limit; 0 turns it off).",
    ),
    (
        labels::PROBE,
        "http, tcp or none: how readiness is told (overrides --probe).",
    ),
    (
        labels::PROBE_PATH,
        "The path of the HTTP readiness probe (overrides --probe-path).",
    ),
    (
        labels::PROBE_TIMEOUT,
        "Warn after this long without an answer (overrides --probe-timeout).",
    ),
];

const EXIT_STATUS: [(&str, &str); 4] = [
    (
        "0",
        "Stopped by SIGTERM or SIGINT, or havok routes, --help or --version done.",
    ),
    (
        "1",
        "havok routes could not reach Docker or got no node name from it; the --listen address \
         is in use; the Docker watcher or the reconciler died (one line says which).",
    ),
    (
        "2",
        "A configuration error: one line on standard error names the flag, variable or file. \
         Restarting will not help.",
    ),
    ("130", "A second SIGTERM or SIGINT forced the exit."),
];

/// Writes every file into `out` (created when missing); returns their paths.
pub fn generate(out: &Path) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let files: [(&str, Vec<u8>); 5] = [
        (MAN_PAGE, man_page().into_bytes()),
        (BASH_COMPLETION, completion(Shell::Bash)),
        (ZSH_COMPLETION, completion(Shell::Zsh)),
        (FISH_COMPLETION, completion(Shell::Fish)),
        (DEFAULT_FILE, default_file().into_bytes()),
    ];
    let mut written = Vec::new();
    for (name, bytes) in files {
        let path = out.join(name);
        std::fs::write(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// `Cli::command()` without its hidden subcommands (`generate-docs`), which
/// clap_complete would otherwise offer.
pub fn public_command() -> clap::Command {
    let full = Cli::command();
    let mut cmd = clap::Command::new("havok")
        .version(crate::cli::VERSION)
        .max_term_width(100)
        .args_override_self(true);
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    if let Some(after) = full.get_after_help() {
        cmd = cmd.after_help(after.clone());
    }
    for arg in full.get_arguments() {
        cmd = cmd.arg(arg.clone());
    }
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        cmd = cmd.subcommand(sub.clone());
    }
    cmd
}

/// The completion script of `shell` for `havok`.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut public_command(), "havok", &mut buf);
    buf
}

/// The man page (roff): clap_mangen's title, synopsis, description and
/// options, then the commands, configuration, labels, environment, files and
/// exit status. Non-ASCII characters of the help text become groff escapes, so
/// the page renders the same under any locale.
pub fn man_page() -> String {
    let full = public_command();
    let about = full.get_about().map(|a| a.to_string()).unwrap_or_default();
    let cmd = full
        .clone()
        .about("route Docker containers through the Vulcand reverse proxy")
        .long_about(about);
    let man = Man::new(cmd.clone()).manual("havok manual");
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut render = |f: &dyn Fn(&mut Vec<u8>) -> io::Result<()>| {
        let mut buf = Vec::new();
        f(&mut buf).expect("rendering into memory");
        chunks.push(buf);
    };
    render(&|w| man.render_title(w));
    render(&|w| man.render_name_section(w));
    render(&|w| man.render_synopsis_section(w));
    render(&|w| man.render_description_section(w));
    render(&|w| man.render_options_section(w));
    render(&|w| extra_sections(&full).to_writer(w));
    render(&|w| man.render_version_section(w));

    // Every chunk starts with roff's apostrophe preamble: keep the first.
    let preamble = Roff::new().render();
    let mut page = String::new();
    for (i, chunk) in chunks.into_iter().enumerate() {
        let text = String::from_utf8(chunk).expect("roff is UTF-8");
        let text = if i == 0 {
            text.as_str()
        } else {
            text.strip_prefix(&preamble).unwrap_or(&text)
        };
        page.push_str(text);
    }
    page.chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", c as u32)
            }
        })
        .collect()
}

fn extra_sections(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    let mut built = cmd.clone();
    built.build();

    roff.control("SH", ["COMMANDS"]);
    roff.control("TP", []);
    roff.text([bold("havok"), roman(" ["), italic("FLAGS"), roman("]")]);
    roff.text([roman(
        "Watch Docker and keep every matching container routed until SIGTERM or SIGINT.",
    )]);
    let globals: Vec<&str> = built.get_arguments().map(|a| a.get_id().as_str()).collect();
    // clap's own `help` command is left out, as in --help's terms it is -h.
    for sub in built
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        let own: Vec<&clap::Arg> = sub
            .get_arguments()
            .filter(|a| !globals.contains(&a.get_id().as_str()))
            .filter(|a| !a.is_hide_set())
            .collect();
        let mut usage: Vec<Inline> = vec![bold(format!("havok {}", sub.get_name()))];
        for arg in &own {
            if let Some(long) = arg.get_long() {
                usage.push(roman(" ["));
                usage.push(bold(format!("--{long}")));
                usage.push(roman("]"));
            }
        }
        usage.extend([roman(" ["), italic("FLAGS"), roman("]")]);
        roff.control("TP", []);
        roff.text(usage);
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            roff.text([roman(about.to_string())]);
        }
        for arg in &own {
            if let (Some(long), Some(help)) = (arg.get_long(), arg.get_help()) {
                roff.control("br", []);
                roff.text([bold(format!("--{long}")), roman(format!(": {help}"))]);
            }
        }
    }
    roff.control("PP", []);
    roff.text([roman(
        "Every flag above applies to every command, before or after the command's name.",
    )]);

    roff.control("SH", ["CONFIGURATION"]);
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|a| a.to_string())
        .unwrap_or_default();
    for (i, paragraph) in after.split("\n\n").enumerate() {
        if i > 0 {
            roff.control("PP", []);
        }
        let lines: Vec<&str> = paragraph.lines().collect();
        let literal = lines.iter().skip(1).all(|l| l.starts_with("  ")) && lines.len() > 1;
        if literal {
            // "Examples:" then indented command lines: keep them as they are.
            roff.text([roman(lines[0])]);
            roff.control("PP", []);
            roff.control("nf", []);
            roff.control("RS", ["4"]);
            for line in &lines[1..] {
                roff.text([roman(line.trim_start())]);
            }
            roff.control("RE", []);
            roff.control("fi", []);
        } else {
            roff.text([roman(paragraph.replace('\n', " "))]);
        }
    }

    roff.control("SH", ["LABELS"]);
    roff.text([roman(
        "Container labels adjust one container's routes. --names, --label-filter and \
         havok.enable combine with AND.",
    )]);
    for (label, meaning) in LABELS {
        roff.control("TP", []);
        roff.text([bold(label)]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(
        "Every setting can be given as a HAVOK_* variable, the flag's name in capitals with \
         underscores: it overrides the --config file and is overridden by the flag. The \
         packages' /etc/default/havok lists them all, commented out.",
    )]);
    for key in settings_in_flag_order() {
        roff.control("TP", []);
        roff.text([bold(format!("HAVOK_{}", key.to_ascii_uppercase()))]);
        match flag_of(&built, &key) {
            Some(long) => roff.text([roman("As "), bold(format!("--{long}")), roman(".")]),
            None if key == "etcd_password" => roff.text([roman(
                "The etcd password for --etcd-username; prefer --etcd-password-file. \
                 Never given on the command line.",
            )]),
            None => roff.text([roman("A setting of the --config file.")]),
        };
    }
    for (var, meaning) in [
        (
            "DOCKER_HOST",
            "The default of --docker when it is not empty.",
        ),
        (
            "DOCKER_TLS_VERIFY, DOCKER_CERT_PATH",
            "TLS to a tcp:// Docker daemon, as the docker CLI.",
        ),
        (
            "NO_COLOR",
            "When set and not empty, text logs have no colours.",
        ),
        (
            "RUST_BACKTRACE",
            "When set, a panic is reported in full with its backtrace instead of one log line.",
        ),
    ] {
        roff.control("TP", []);
        roff.text([bold(var)]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([bold("/etc/default/havok")]);
    roff.text([roman(
        "HAVOK_* settings read by the systemd unit, every one commented out as installed.",
    )]);
    roff.control("TP", []);
    roff.text([bold("havok.service")]);
    roff.text([roman(
        "The systemd unit; installed disabled: systemctl enable --now havok.",
    )]);

    roff.control("SH", ["EXIT STATUS"]);
    for (status, meaning) in EXIT_STATUS {
        roff.control("TP", []);
        roff.text([bold(status)]);
        roff.text([roman(meaning)]);
    }

    roff.control("SH", ["SEE ALSO"]);
    roff.text([
        bold("docker"),
        roman("(1), "),
        bold("systemctl"),
        roman("(1), "),
        bold("systemd.exec"),
        roman("(5)"),
    ]);
    roff
}

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

fn flag_of(cmd: &clap::Command, key: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The man page source with roff's escapes undone, to search for flags.
    fn man_text() -> String {
        man_page()
            .replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fI", "")
            .replace("\\fR", "")
            .replace("\\fP", "")
            .replace("\\&", "")
    }

    fn words_of<'a>(text: &'a str, re: &str) -> Vec<&'a str> {
        let re = regex::Regex::new(re).unwrap();
        re.find_iter(text).map(|m| m.as_str()).collect()
    }

    /// Every long flag and every label that `--help` names is in the man page.
    #[test]
    fn man_page_names_every_flag_and_label_of_help() {
        let help = Cli::command().render_long_help().to_string();
        let man = man_text();
        let flags = words_of(&help, r"--[a-z][a-z0-9-]*[a-z0-9]");
        assert!(flags.len() > 40, "{flags:?}");
        for flag in flags {
            assert!(man.contains(flag), "{flag} is not in the man page");
        }
        for label in words_of(&help, r"havok\.[a-z][a-z-]*[a-z]") {
            assert!(man.contains(label), "{label} is not in the man page");
        }
        for (label, _) in LABELS {
            assert!(man.contains(label), "{label}");
        }
        assert!(!man.contains("generate-docs"), "the hidden command leaked");
        assert!(man.is_ascii());
    }

    /// The label table is model::labels, every one.
    #[test]
    fn labels_are_the_ones_havok_reads() {
        let documented: Vec<&str> = LABELS.iter().map(|(label, _)| *label).collect();
        assert_eq!(documented, labels::ALL);
        // A label added to model::labels without a line in ALL is caught here.
        let source = include_str!("model/rules.rs");
        let declared = words_of(source, r#"pub const [A-Z_]+: &str = "havok\.[a-z-]+""#).len();
        assert_eq!(declared, labels::ALL.len());
    }

    /// Every setting the environment may set is in /etc/default/havok, commented out.
    #[test]
    fn default_file_holds_every_setting_commented_out() {
        let file = default_file();
        for key in known_keys() {
            let var = format!("\n#HAVOK_{}=", key.to_ascii_uppercase());
            assert!(file.contains(&var), "{var} missing:\n{file}");
        }
        for line in file.lines() {
            assert!(line.is_empty() || line.starts_with('#'), "{line:?}");
        }
        assert!(file.contains("\n#HAVOK_DOCKER=unix:///var/run/docker.sock\n"));
        assert!(file.contains("\n#HAVOK_ETCD_MACHINES=http://127.0.0.1:2379\n"));
        assert!(!file.lines().any(|l| l.len() > 80), "{file}");
    }

    #[test]
    fn completions_name_the_flags() {
        let ids = |c: clap::Command| -> Vec<String> {
            c.get_arguments().map(|a| a.get_id().to_string()).collect()
        };
        assert_eq!(ids(public_command()), ids(Cli::command()));
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = String::from_utf8(completion(shell)).unwrap();
            assert!(text.contains("etcd-machines"), "{shell}");
            assert!(text.contains("routes"), "{shell}");
            assert!(!text.contains("generate-docs"), "{shell}");
        }
    }
}
