//! cella: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod commands;
mod logging;
mod rootfs;
mod sys;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("unable to open log file {:?}: {e}", cli.log.as_deref().unwrap_or_else(|| std::path::Path::new("")));
        return ExitCode::FAILURE;
    }
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let msg = format!("{err:#}");
            log::error!("{msg}");
            if !logging::logs_to_stderr(cli.log.as_deref()) {
                eprintln!("{msg}");
            }
            ExitCode::FAILURE
        }
    }
}
