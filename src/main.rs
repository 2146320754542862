//! cella: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod commands;
mod config;
mod container;
mod hooks;
mod logging;
mod namespaces;
mod plan;
mod process;
mod rootfs;
mod seccomp;
mod sys;
mod tty;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!(
            "unable to open log file {:?}: {e}",
            cli.log
                .as_deref()
                .unwrap_or_else(|| std::path::Path::new(""))
        );
        return ExitCode::FAILURE;
    }
    // Before anything is cloned into a container (CVE-2019-5736): see process::exe.
    if matches!(
        cli.command,
        cli::Command::Create(_) | cli::Command::Run(_) | cli::Command::Exec(_)
    ) {
        if let Err(e) = process::exe::protect() {
            log::warn!("runtime binary left writable from containers that reach it: {e}");
        }
    }
    match commands::dispatch(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let msg = error_message(&err);
            log::error!("{msg}");
            if !logging::logs_to_stderr(cli.log.as_deref()) {
                eprintln!("{msg}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes in one line, skipping a cause whose text the message before it
/// already carries (our error types embed their source's text).
pub fn error_message(err: &anyhow::Error) -> String {
    let mut msg = err.to_string();
    let mut last = msg.clone();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !last.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        last = text;
    }
    msg
}
