//! `kill`: send a signal to the container process (or to all of its processes).

use nix::sys::signal::{kill as send, Signal};

use super::{Container, ContainerError, Lifecycle};

#[derive(Debug, thiserror::Error)]
pub enum KillError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("container not running")]
    NotRunning,
    #[error("send {signal} to container process {pid}: {source}")]
    Send {
        signal: Signal,
        pid: i32,
        source: nix::errno::Errno,
    },
}

pub fn kill(c: &Container, signal: Signal, all: bool) -> Result<(), KillError> {
    if !c.status().can_kill() {
        return Err(KillError::NotRunning);
    }
    if all {
        if let Some(cg) = c.cgroup() {
            return Ok(cg.signal_all(signal)?);
        }
    }
    let pid = c.pid().ok_or(KillError::NotRunning)?;
    send(pid, signal).map_err(|source| match source {
        nix::errno::Errno::ESRCH => KillError::NotRunning,
        _ => KillError::Send {
            signal,
            pid: pid.as_raw(),
            source,
        },
    })?;
    if signal == Signal::SIGKILL {
        super::pause::thaw_after_kill(c);
    }
    Ok(())
}
