//! cella-rootfs: build root filesystems and bundles for cella's tests and examples.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use rootfs_tools::{BundleOptions, ImageRef};

#[derive(Debug, Parser)]
#[command(
    name = "cella-rootfs",
    version,
    about = "Build root filesystems and bundles for cella"
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
    /// Make a bundle (rootfs/ and config.json) from an OCI image layout or a docker archive
    Bundle {
        /// SRC[:TAG]: an OCI image layout (directory or tar) or a docker archive (docker save
        /// output, tar or directory); TAG picks the image by its org.opencontainers.image.ref.name
        /// or RepoTags (default: the only image, or the one tagged latest)
        #[arg(long, value_name = "SRC[:TAG]")]
        image: String,
        /// The bundle directory to create (must not exist, or be empty)
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// No progress bar, even on a terminal
        #[arg(long, short)]
        quiet: bool,
    },
    /// Make DST a bundle whose rootfs is an overlay on SRC's rootfs (mounted on the host), with a
    /// copy of SRC's config.json
    Clone {
        /// The bundle to clone
        src: PathBuf,
        /// The new bundle (must not exist)
        dst: PathBuf,
    },
    /// Unmount (if a clone) and delete a bundle directory
    Remove {
        /// The bundle to remove
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
        Command::Bundle { image, out, quiet } => {
            let image_ref = ImageRef::parse(&image)?;
            let options = BundleOptions { progress: !quiet };
            let report = rootfs_tools::bundle(&image_ref, &out, &options)
                .with_context(|| format!("make bundle {} from {image}", out.display()))?;
            for warning in &report.warnings {
                eprintln!("cella-rootfs: warning: {warning}");
            }
            Ok(())
        }
        Command::Clone { src, dst } => rootfs_tools::clone_bundle(&src, &dst)
            .with_context(|| format!("clone {} to {}", src.display(), dst.display())),
        Command::Remove { dir } => rootfs_tools::remove_bundle(&dir)
            .with_context(|| format!("remove bundle {}", dir.display())),
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
        let Command::Busybox { dir } = cli.command else {
            panic!("not busybox: {:?}", cli.command);
        };
        assert_eq!(dir, PathBuf::from("/tmp/r"));
        assert!(Cli::try_parse_from(["cella-rootfs", "busybox"]).is_err());
        assert!(Cli::try_parse_from(["cella-rootfs"]).is_err());
    }

    #[test]
    fn bundle_clone_and_remove_arguments() {
        let cli = Cli::try_parse_from([
            "cella-rootfs",
            "bundle",
            "--image",
            "img:v1",
            "--out",
            "/tmp/b",
        ])
        .unwrap();
        let Command::Bundle { image, out, quiet } = cli.command else {
            panic!("not bundle: {:?}", cli.command);
        };
        assert_eq!(
            (image.as_str(), out, quiet),
            ("img:v1", PathBuf::from("/tmp/b"), false)
        );
        assert!(Cli::try_parse_from(["cella-rootfs", "bundle", "--image", "img"]).is_err());

        let cli = Cli::try_parse_from(["cella-rootfs", "clone", "/a", "/b"]).unwrap();
        assert!(matches!(cli.command, Command::Clone { .. }));
        assert!(Cli::try_parse_from(["cella-rootfs", "clone", "/a"]).is_err());
        let cli = Cli::try_parse_from(["cella-rootfs", "remove", "/b"]).unwrap();
        assert!(matches!(cli.command, Command::Remove { .. }));
    }
}
