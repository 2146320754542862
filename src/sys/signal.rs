//! Signal dispositions.

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal};

/// Restores the default disposition of `sig`.
pub fn set_default(sig: Signal) -> Result<(), Errno> {
    // SAFETY: SIG_DFL installs no handler of ours, so no Rust code can run in signal context.
    unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }.map(drop)
}
