//! Freezing (pause/resume) and signalling every process of the container.
//!
//! v1: `freezer.state` takes FROZEN/THAWED and reads FREEZING while tasks are still running;
//! a freeze can stall (a task in an uninterruptible sleep), so it is re-requested, and given
//! up (thawed again) after a bound. v2: `cgroup.freeze` takes 1/0 and `cgroup.events` shows
//! `frozen 1` once every task stopped.

use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::fsutil;
use super::manager::Manager;
use super::{CgroupError, CgroupMode};

const FREEZE_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreezerState {
    Thawed,
    /// Asked to freeze, some task still runs.
    Freezing,
    Frozen,
}

/// Which interface freezes this container.
enum Freezer {
    /// The v1 `freezer` hierarchy's leaf.
    V1(PathBuf),
    /// The cgroup2 leaf.
    V2(PathBuf),
}

impl Manager {
    fn freezer(&self) -> Result<Freezer, CgroupError> {
        if self.mode() == CgroupMode::Unified {
            let dir = self.controller_dir("").ok_or(CgroupError::NoHierarchy)?;
            return Ok(Freezer::V2(dir));
        }
        match self.controller_dir("freezer") {
            Some(dir) => Ok(Freezer::V1(dir)),
            None => Err(CgroupError::NoFreezer(
                "the freezer hierarchy is not mounted".into(),
            )),
        }
    }

    /// Stops every task of the container and returns once all are stopped.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => freeze_v1(&dir.join("freezer.state")),
            Freezer::V2(dir) => {
                fsutil::write(&dir.join("cgroup.freeze"), "1")?;
                let start = Instant::now();
                loop {
                    if v2_events_frozen(&dir)? {
                        return Ok(());
                    }
                    if start.elapsed() >= FREEZE_WAIT {
                        let _ = fsutil::write(&dir.join("cgroup.freeze"), "0");
                        return Err(CgroupError::Timeout {
                            what: format!("{} never showed frozen 1", dir.display()),
                            millis: FREEZE_WAIT.as_millis(),
                        });
                    }
                    thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => fsutil::write(&dir.join("freezer.state"), "THAWED"),
            Freezer::V2(dir) => fsutil::write(&dir.join("cgroup.freeze"), "0"),
        }
    }

    pub fn freezer_state(&self) -> Result<FreezerState, CgroupError> {
        match self.freezer()? {
            Freezer::V1(dir) => {
                let file = dir.join("freezer.state");
                match fsutil::read(&file)?.as_str() {
                    "THAWED" => Ok(FreezerState::Thawed),
                    "FREEZING" => Ok(FreezerState::Freezing),
                    "FROZEN" => Ok(FreezerState::Frozen),
                    other => Err(CgroupError::Parse {
                        what: file.display().to_string(),
                        reason: format!("unknown state {other:?}"),
                    }),
                }
            }
            Freezer::V2(dir) => {
                let file = dir.join("cgroup.freeze");
                // Kernels before 5.2 have no v2 freezer: then nothing is ever frozen.
                match fsutil::read_optional(&file)?.as_deref() {
                    None | Some("0") => Ok(FreezerState::Thawed),
                    Some("1") if v2_events_frozen(&dir)? => Ok(FreezerState::Frozen),
                    Some("1") => Ok(FreezerState::Freezing),
                    Some(other) => Err(CgroupError::Parse {
                        what: file.display().to_string(),
                        reason: format!("unexpected value {other:?}"),
                    }),
                }
            }
        }
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(self.freezer_state()? == FreezerState::Frozen)
    }

    /// Sends `signal` to every process of the container (`kill --all`, and `destroy`).
    ///
    /// v2 with SIGKILL: one write to `cgroup.kill` (kernel 5.14+), which also catches processes
    /// forked meanwhile. Otherwise, as runc does: freeze so nothing forks between listing and
    /// signalling, signal each pid, thaw. Without a freezer the pids are signalled unfrozen. A
    /// container that was frozen before stays frozen, except for SIGKILL: v1 frozen tasks only
    /// die once thawed.
    pub fn signal_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if signal == Signal::SIGKILL && self.mode() == CgroupMode::Unified {
            if let Some(dir) = self.controller_dir("") {
                let file = dir.join("cgroup.kill");
                if file.exists() {
                    return fsutil::write(&file, "1");
                }
            }
        }
        let has_freezer = self.freezer().is_ok();
        let was_frozen = has_freezer && self.is_frozen().unwrap_or(false);
        let froze = has_freezer
            && !was_frozen
            && match self.freeze() {
                Ok(()) => true,
                Err(e) => {
                    log::warn!("signalling without freezing first: {e}");
                    false
                }
            };
        let result = self.processes().and_then(|pids| signal_pids(&pids, signal));
        let thaw = froze || (was_frozen && signal == Signal::SIGKILL);
        let thawed = if thaw { self.thaw() } else { Ok(()) };
        result.and(thawed)
    }
}

fn signal_pids(pids: &[i32], signal: Signal) -> Result<(), CgroupError> {
    for &pid in pids {
        match kill(Pid::from_raw(pid), signal) {
            // Exited since the listing.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => {
                return Err(CgroupError::Signal {
                    pid,
                    signal: signal.to_string(),
                    source,
                })
            }
        }
    }
    Ok(())
}

fn freeze_v1(state: &std::path::Path) -> Result<(), CgroupError> {
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        // Re-requesting FROZEN retries the tasks that were not stopped yet; an occasional thaw
        // lets a task stuck in the kernel finish what it was doing.
        if attempt % 50 == 49 {
            fsutil::write(state, "THAWED")?;
            thread::sleep(Duration::from_millis(10));
        }
        fsutil::write(state, "FROZEN")?;
        match fsutil::read(state)?.as_str() {
            "FROZEN" => return Ok(()),
            "FREEZING" => {}
            other => {
                return Err(CgroupError::Parse {
                    what: state.display().to_string(),
                    reason: format!("unexpected state {other:?} after writing FROZEN"),
                })
            }
        }
        if start.elapsed() >= FREEZE_WAIT {
            let _ = fsutil::write(state, "THAWED");
            return Err(CgroupError::Timeout {
                what: format!("{} stayed FREEZING", state.display()),
                millis: FREEZE_WAIT.as_millis(),
            });
        }
        attempt += 1;
        thread::sleep(Duration::from_millis(if attempt.is_multiple_of(25) {
            10
        } else {
            1
        }));
    }
}

fn v2_events_frozen(dir: &std::path::Path) -> Result<bool, CgroupError> {
    let events = fsutil::read(&dir.join("cgroup.events"))?;
    Ok(events.lines().any(|l| l.trim() == "frozen 1"))
}
