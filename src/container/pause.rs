//! `pause` and `resume`: freeze and thaw every process of the container through its cgroup
//! (v1 freezer, v2 cgroup.freeze), and record the status.
//!
//! As in runc, a created container can be paused too (its init waits for `start` in the
//! frozen cgroup); resume records "running", which [`Container::status`] reports as
//! "created" again while init still waits for `start`.

use super::{Container, ContainerError, Status};

#[derive(Debug, thiserror::Error)]
pub enum PauseError {
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error("container not running")]
    NotRunning,
    #[error("container not paused")]
    NotPaused,
    #[error("container {0} has no cgroup to freeze")]
    NoCgroup(String),
}

pub fn pause(c: &mut Container) -> Result<(), PauseError> {
    if !matches!(c.status(), Status::Running | Status::Created) {
        return Err(PauseError::NotRunning);
    }
    let cg = c
        .cgroup()
        .ok_or_else(|| PauseError::NoCgroup(c.id().to_owned()))?;
    cg.freeze()?;
    c.record.status = Status::Paused;
    if let Err(e) = c.save() {
        // Not recorded as paused: do not leave it frozen behind the record's back.
        let _ = cg.thaw();
        return Err(e.into());
    }
    Ok(())
}

pub fn resume(c: &mut Container) -> Result<(), PauseError> {
    if c.status() != Status::Paused {
        return Err(PauseError::NotPaused);
    }
    let cg = c
        .cgroup()
        .ok_or_else(|| PauseError::NoCgroup(c.id().to_owned()))?;
    cg.thaw()?;
    c.record.status = Status::Running;
    c.save()?;
    Ok(())
}

/// After SIGKILL to a paused container: v1 frozen tasks die only once thawed, so thaw (runc
/// does the same); the recorded status stays, [`Container::status`] reads "stopped" once the
/// process is gone.
pub fn thaw_after_kill(c: &Container) {
    if c.record.status != Status::Paused {
        return;
    }
    if let Some(cg) = c.cgroup() {
        if let Err(e) = cg.thaw() {
            log::warn!("thaw {} after SIGKILL: {e}", c.id());
        }
    }
}
