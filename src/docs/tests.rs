//! The generated man page, completions and default file against the flags.

use super::*;
use crate::config::known_keys;
use crate::model::labels;

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
    let source = include_str!("../model/rules.rs");
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

/// README.md and docs/operators.md hold the table of every label and flag,
/// exactly as `reference::table` makes it; every flag of `--help` and every
/// label is a row.
#[test]
fn reference_table_is_in_the_docs() {
    let table = reference::table();
    let help = Cli::command().render_long_help().to_string();
    for flag in words_of(&help, r"--[a-z][a-z0-9-]*[a-z0-9]") {
        if flag == "--remove" || flag == "--all" {
            continue; // `havok legacy`'s, named in its own help
        }
        assert!(table.contains(&format!("`{flag}")), "{flag} has no row");
    }
    assert!(reference::labels_documented());
    for s in &crate::model::SETTINGS {
        assert!(
            table.contains(&format!("| `havok.{}` |", s.key)),
            "{}",
            s.key
        );
    }
    for doc in [
        include_str!("../../README.md"),
        include_str!("../../docs/operators.md"),
    ] {
        assert!(
            doc.contains(&table),
            "a doc lacks the reference table; it must read:\n{table}"
        );
    }
}
