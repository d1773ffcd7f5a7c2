//! The man page `havok.1`: clap_mangen's synopsis and options, then the
//! sections clap does not know of (commands, configuration, labels,
//! environment, files, exit status).

use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

use std::io;

use super::default_file::{flag_of, settings_in_flag_order};
use super::public_command;
use crate::model::labels;

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
    roff.control("TP", []);
    roff.text([bold("havok.routes.<name>.<key>")]);
    roff.text([roman(
        "A named route ([a-z0-9-]+) of the container, for several ports or hosts: <key> is any \
         key of havok.<key> except enable, e.g. havok.routes.admin.port=9090 and \
         havok.routes.admin.host=admin.example.com. Without host it takes the default host. \
         A container uses named routes or the plain labels, never both.",
    )]);
    roff.text([roman(
        "Route settings, written to Vulcand exactly as it parses them (a bad value refuses \
         the route; an unknown havok. label is warned about and ignored); --route-default \
         KEY=VALUE sets a fleet-wide default:",
    )]);
    for setting in crate::model::SETTINGS {
        roff.control("TP", []);
        roff.text([bold(format!("havok.{}", setting.key))]);
        roff.text([roman(format!(
            "{}: {} (e.g. {}).",
            setting.sets, setting.expected, setting.example
        ))]);
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
