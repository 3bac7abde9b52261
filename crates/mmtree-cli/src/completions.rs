//! `mmtree completions SHELL` and `mmtree man [SUBCOMMAND]`: generated from the clap
//! definitions, so they always match the binary.

use crate::common::{exit, exit_with, out_bytes};
use anyhow::Result;

/// Prints a shell completion script for SHELL to standard output.
///
/// Example: mmtree completions bash > ~/.local/share/bash-completion/completions/mmtree
///
/// Example: mmtree completions zsh > ~/.zfunc/_mmtree
///
/// Example: mmtree completions fish > ~/.config/fish/completions/mmtree.fish
#[derive(clap::Args)]
pub struct Args {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::Shell,
}

/// Prints a man page (roff) to standard output: mmtree(1), or mmtree-SUBCOMMAND(1).
///
/// Example: mmtree man | man -l -
///
/// Example: mmtree man put > mmtree-put.1
#[derive(clap::Args)]
pub struct ManArgs {
    /// A subcommand's page instead of the main one.
    subcommand: Option<String>,
}

pub fn completions(args: Args, mut command: clap::Command) -> Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "mmtree", &mut script);
    out_bytes(&script)
}

pub fn man(args: ManArgs, command: clap::Command) -> Result<()> {
    let command = match &args.subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command
                .get_subcommands()
                .find(|sub| sub.get_name() == name && !sub.is_hide_set())
            else {
                return Err(exit_with(
                    exit::USAGE,
                    format!("no subcommand {name:?} (see `mmtree --help`)"),
                ));
            };
            // Once per process, so leaking the name (clap wants `&'static str` here) is fine.
            let page: &'static str = Box::leak(format!("mmtree-{name}").into_boxed_str());
            sub.clone()
                .name(page)
                .bin_name(page)
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command).render(&mut page)?;
    out_bytes(&page)
}
