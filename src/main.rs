//! cella: an OCI container runtime with runc's command line.

mod cgroups;
mod cli;
mod commands;
mod config;
mod container;
mod hooks;
mod logging;
mod lsm;
mod namespaces;
mod network;
mod plan;
mod process;
mod rootfs;
mod seccomp;
mod sys;
mod tty;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(usage_exit_code(e.kind()));
        }
    };
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

/// runc's exit codes for command-line trouble: help and version are not errors, an unknown
/// command is 3 (urfave/cli's "command not found"), anything else wrong with the arguments 1.
fn usage_exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::InvalidSubcommand => 3,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_like_runc() {
        let code = |args: &[&str]| {
            cli::Cli::try_parse_from(args).map_or_else(|e| usage_exit_code(e.kind()), |_| 255)
        };
        assert_eq!(code(&["cella", "frobnicate"]), 3);
        assert_eq!(code(&["cella", "kill"]), 1);
        assert_eq!(code(&["cella", "run", "--no-such-flag", "x"]), 1);
        assert_eq!(code(&["cella", "--help"]), 0);
        assert_eq!(code(&["cella", "--version"]), 0);
    }
}
