//! `delete`: undo create (process, cgroup, state) and run the poststop hooks.

use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};

use super::{Container, ContainerError, Lifecycle, Status};
use crate::hooks;

#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("cannot delete container {id} that is not stopped: {status}")]
    NotStopped { id: String, status: Status },
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("container process {pid} did not die after SIGKILL")]
    Unkillable { pid: i32 },
    #[error(transparent)]
    Network(#[from] crate::network::NetworkError),
}

pub fn delete(c: &Container, force: bool) -> Result<(), DeleteError> {
    let status = c.status();
    if !status.can_delete() && !force {
        return Err(DeleteError::NotStopped {
            id: c.id().to_owned(),
            status,
        });
    }
    if status != Status::Stopped {
        stop(c)?;
    }
    if let Some(cg) = c.cgroup() {
        cg.destroy()?;
    }
    // Before the state dir goes: a lease whose container still exists is never reclaimed.
    if let Some(root) = c.dir.parent() {
        crate::network::release(root, c.id())?;
    }
    log::debug!("removing the state of {}", c.id());
    c.remove_dir()?;
    let hooks = c.record.config.hooks().clone().unwrap_or_default();
    if let Some(poststop) = hooks.poststop().as_ref().filter(|h| !h.is_empty()) {
        hooks::run_all_warn(
            "poststop",
            poststop,
            &super::state_doc(c, Status::Stopped).to_oci_json(),
        );
    }
    Ok(())
}

/// SIGKILLs the container process and waits until it is gone.
fn stop(c: &Container) -> Result<(), DeleteError> {
    let Some(pid) = c.pid() else { return Ok(()) };
    if c.status() == Status::Stopped {
        return Ok(());
    }
    let pidfd = crate::sys::fd::pidfd_open(pid).ok();
    if kill(pid, Signal::SIGKILL).is_err() {
        return Ok(());
    }
    super::pause::thaw_after_kill(c);
    if let Some(fd) = pidfd {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(Duration::from_secs(10).as_millis() as i32)
            .unwrap_or(PollTimeout::MAX);
        if matches!(poll(&mut fds, ms), Ok(0)) {
            return Err(DeleteError::Unkillable { pid: pid.as_raw() });
        }
    }
    Ok(())
}
