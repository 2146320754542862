//! seccomp: `linux.seccomp` compiled to a BPF program in the runtime, installed by the
//! container process just before execve.
//!
//! libseccomp builds the filter in the runtime, before the clone ([`compile`]); what crosses
//! the clone is plain data ([`SeccompProgram`]: the BPF instructions and the flags), so the
//! container process makes no library call, only one seccomp(2) ([`install`]).
//!
//! Where the child installs it (see `process::init`): as late as possible, right before
//! execve, so that the filter governs the user program and not the runtime's own steps
//! (startContainer hooks included). Two cases move it earlier:
//! - without no_new_privs the kernel requires CAP_SYS_ADMIN; when the process loses it at the
//!   user switch, the filter goes in before that switch (runc does the same);
//! - with SCMP_ACT_NOTIFY rules the listener fd must reach the runtime, which hands it to the
//!   agent at `listenerPath`: the init installs it before it reports `Ready` (while `create`
//!   still runs), an exec'd process before its execve. The child then sends the fd with
//!   sendmsg and may write log lines: NOTIFY is refused on `write` and `sendmsg`, which would
//!   block forever on a listener nobody holds yet.

mod compile;
mod enosys;
mod features;
mod listener;

use std::os::fd::OwnedFd;

pub use compile::compile;
pub use features::host_features;
pub use listener::hand_to_agent;

use crate::sys::seccomp as sys;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp {what}: errnoRet {value} does not fit in the 16 bits of a seccomp action")]
    ErrnoRange { what: String, value: u32 },
    #[error("seccomp {what}: {action} takes no errnoRet")]
    ErrnoNotAllowed { what: String, action: String },
    #[error("seccomp: create filter with default action {action}: {source}")]
    Create {
        action: String,
        source: libseccomp::error::SeccompError,
    },
    #[error("seccomp architecture {arch}: {reason}")]
    Arch { arch: String, reason: String },
    #[error("seccomp flag {flag} is not supported by this kernel")]
    Flag { flag: String },
    #[error("seccomp rule for syscall {syscall} ({action}): {reason}")]
    Rule {
        syscall: String,
        action: String,
        reason: String,
    },
    #[error("seccomp: export filter as BPF: {0}")]
    Export(String),
    #[error(
        "seccomp filter has {0} BPF instructions, more than the kernel's limit of {max}",
        max = compile::MAX_INSTRUCTIONS
    )]
    TooLong(usize),
    #[error("seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}): {}{hint}", errno.desc().to_lowercase())]
    Install {
        flags: u32,
        errno: nix::errno::Errno,
        hint: &'static str,
    },
    #[error("seccomp notify: linux.seccomp.listenerPath is not set")]
    NoListenerPath,
    #[error("seccomp notify: send the listener to {path}: {reason}")]
    Agent {
        path: std::path::PathBuf,
        reason: String,
    },
}

/// A compiled filter: plain data that survives the clone.
#[derive(Clone, PartialEq, Eq)]
pub struct SeccompProgram {
    /// The program as an array of `struct sock_filter` (8 bytes each), in native byte order.
    pub bpf: Vec<u8>,
    /// SECCOMP_FILTER_FLAG_* to install it with; [`install`] adds NEW_LISTENER.
    pub flags: u32,
    /// Some rule has SCMP_ACT_NOTIFY: installing returns a listener fd for the agent.
    pub has_notify: bool,
}

impl SeccompProgram {
    pub fn instructions(&self) -> usize {
        self.bpf.len() / sys::INSTRUCTION_SIZE
    }
}

impl std::fmt::Debug for SeccompProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeccompProgram")
            .field("instructions", &self.instructions())
            .field("flags", &format_args!("{:#x}", self.flags))
            .field("has_notify", &self.has_notify)
            .finish()
    }
}

/// Installs `p` on the calling thread; returns the notification listener (close-on-exec)
/// when the program has NOTIFY rules. Runs in the container process: one syscall, no
/// library call.
pub fn install(p: &SeccompProgram) -> Result<Option<OwnedFd>, SeccompError> {
    let flags = install_flags(p);
    let program = sys::decode(&p.bpf).map_err(|errno| SeccompError::Install {
        flags,
        errno,
        hint: " (the program is not a whole number of instructions)",
    })?;
    sys::set_mode_filter(flags, &program).map_err(|errno| SeccompError::Install {
        flags,
        errno,
        hint: if errno == nix::errno::Errno::EACCES {
            " (a filter needs no_new_privileges or CAP_SYS_ADMIN)"
        } else {
            ""
        },
    })
}

fn install_flags(p: &SeccompProgram) -> u32 {
    if p.has_notify {
        p.flags | sys::FLAG_NEW_LISTENER
    } else {
        p.flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_programs_ask_for_a_listener() {
        let mut p = SeccompProgram {
            bpf: vec![0; 16],
            flags: sys::FLAG_LOG,
            has_notify: false,
        };
        assert_eq!(install_flags(&p), sys::FLAG_LOG);
        p.has_notify = true;
        assert_eq!(install_flags(&p), sys::FLAG_LOG | sys::FLAG_NEW_LISTENER);
        assert_eq!(
            format!("{p:?}"),
            "SeccompProgram { instructions: 2, flags: 0x2, has_notify: true }"
        );
    }

    #[test]
    fn install_errors_explain_eacces() {
        let e = SeccompError::Install {
            flags: 0,
            errno: nix::errno::Errno::EACCES,
            hint: " (a filter needs no_new_privileges or CAP_SYS_ADMIN)",
        };
        assert_eq!(
            e.to_string(),
            "seccomp(SECCOMP_SET_MODE_FILTER, flags 0x0): permission denied (a filter needs \
             no_new_privileges or CAP_SYS_ADMIN)"
        );
    }
}
