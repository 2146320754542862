//! cella-rootfs: build root filesystems for cella's tests and examples.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cella-rootfs",
    version,
    about = "Build root filesystems for cella"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a minimal root filesystem from Debian's busybox-static in DIR (created if missing;
    /// building again into the same DIR brings it up to date)
    Busybox {
        /// Directory to build the root filesystem in
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("cella-rootfs: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Busybox { dir } => rootfs_tools::busybox_rootfs(&dir)
            .with_context(|| format!("build busybox root filesystem in {}", dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn busybox_takes_one_dir() {
        let cli = Cli::try_parse_from(["cella-rootfs", "busybox", "/tmp/r"]).unwrap();
        let Command::Busybox { dir } = cli.command;
        assert_eq!(dir, PathBuf::from("/tmp/r"));
        assert!(Cli::try_parse_from(["cella-rootfs", "busybox"]).is_err());
        assert!(Cli::try_parse_from(["cella-rootfs"]).is_err());
    }
}
