//! One handler per subcommand.

use crate::cli::Cli;

/// Runs the parsed command; the value is the process exit status.
pub fn dispatch(_cli: &Cli) -> anyhow::Result<u8> {
    anyhow::bail!("not implemented yet")
}
