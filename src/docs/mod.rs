//! `havok generate-docs --out DIR` (a hidden subcommand, for packagers): the
//! man page `havok.1`, the bash, zsh and fish completions and
//! `havok.default` (the packages' `/etc/default/havok`), all made from the
//! clap definitions in `cli` and the settings of `config`, so none of them can
//! drift from `--help`. `scripts/package` runs it with the binary it packs,
//! so each package documents the backends compiled into its own binary.
//!
//! - `man`: the man page; `default_file`: `/etc/default/havok`;
//!   `reference`: the table of every label and flag in README.md and docs/operators.md.

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

mod default_file;
mod man;
pub mod reference;

pub use default_file::{default_file, settings_in_flag_order};
pub use man::{man_page, LABELS};

/// The files `generate` writes, by name.
pub const MAN_PAGE: &str = "havok.1";
pub const BASH_COMPLETION: &str = "havok.bash";
pub const ZSH_COMPLETION: &str = "_havok";
pub const FISH_COMPLETION: &str = "havok.fish";
pub const DEFAULT_FILE: &str = "havok.default";

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

#[cfg(test)]
mod tests;
