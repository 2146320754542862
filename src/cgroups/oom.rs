//! OOM notifications of the container's memory cgroup, for `events`.
//!
//! v1: an eventfd registered through `cgroup.event_control` on `memory.oom_control`; the
//! kernel signals it on every OOM of the cgroup, and once more when the cgroup is removed
//! (then `cgroup.event_control` is gone, which tells the two apart). v2 has no such
//! registration: `memory.events`' `oom_kill` counter is read at every check.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::sys::eventfd::{EfdFlags, EventFd};

use super::stats::oom_kill_count;
use super::{fsutil, CgroupError, CgroupVersion, Manager};

/// What one [`OomWatch::check`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OomCheck {
    /// OOM notifications since the last check.
    pub ooms: u64,
    /// The memory cgroup was removed: no more notifications will come.
    pub gone: bool,
}

pub struct OomWatch {
    source: Source,
}

enum Source {
    V1 {
        eventfd: EventFd,
        /// Must stay open while registered.
        _oom_control: File,
        dir: PathBuf,
    },
    V2 {
        dir: PathBuf,
        seen: u64,
    },
    /// No memory controller: nothing to watch.
    Nothing,
}

impl Manager {
    /// Starts watching for OOMs; OOMs from before this call are not reported.
    pub fn watch_oom(&self) -> Result<OomWatch, CgroupError> {
        let source = match self.version() {
            CgroupVersion::V1 => match self.controller_dir("memory") {
                Some(dir) => register_v1(dir)?,
                None => Source::Nothing,
            },
            CgroupVersion::V2 => {
                let dir = self.controller_dir("").ok_or(CgroupError::NoHierarchy)?;
                let seen = oom_kill_count(&dir)?;
                Source::V2 { dir, seen }
            }
        };
        Ok(OomWatch { source })
    }
}

fn register_v1(dir: PathBuf) -> Result<Source, CgroupError> {
    let control_path = dir.join("memory.oom_control");
    let oom_control = File::open(&control_path).map_err(|source| CgroupError::Read {
        path: control_path,
        source,
    })?;
    let eventfd = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
        .map_err(|e| CgroupError::Read {
            path: "eventfd".into(),
            source: e.into(),
        })?;
    let line = format!("{} {}", eventfd.as_raw_fd(), oom_control.as_raw_fd());
    fsutil::write(&dir.join("cgroup.event_control"), &line)?;
    Ok(Source::V1 {
        eventfd,
        _oom_control: oom_control,
        dir,
    })
}

impl OomWatch {
    /// A descriptor that turns readable when there is something to check (v1); `None` when
    /// the caller must call [`OomWatch::check`] periodically instead (v2).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.source {
            Source::V1 { eventfd, .. } => Some(eventfd.as_fd()),
            Source::V2 { .. } | Source::Nothing => None,
        }
    }

    /// Whether [`OomWatch::check`] must be called periodically to notice OOMs.
    pub fn needs_polling(&self) -> bool {
        matches!(self.source, Source::V2 { .. })
    }

    /// What happened since the last check; never blocks.
    pub fn check(&mut self) -> Result<OomCheck, CgroupError> {
        match &mut self.source {
            Source::V1 { eventfd, dir, .. } => match eventfd.read() {
                Ok(_) if !dir.join("cgroup.event_control").exists() => Ok(OomCheck {
                    ooms: 0,
                    gone: true,
                }),
                Ok(_) => Ok(OomCheck {
                    ooms: 1,
                    gone: false,
                }),
                Err(Errno::EAGAIN) => Ok(OomCheck::default()),
                Err(e) => Err(CgroupError::Read {
                    path: "eventfd".into(),
                    source: e.into(),
                }),
            },
            Source::V2 { dir, seen } => {
                if !dir.exists() {
                    return Ok(OomCheck {
                        ooms: 0,
                        gone: true,
                    });
                }
                let now = oom_kill_count(dir)?;
                let ooms = now.saturating_sub(*seen);
                *seen = now;
                Ok(OomCheck { ooms, gone: false })
            }
            Source::Nothing => Ok(OomCheck::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{put, FakeHost};
    use super::*;

    #[test]
    fn v2_reports_new_oom_kills_only() {
        let host = FakeHost::unified("0::/user.slice/x.scope\n");
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let dir = m.controller_dir("").unwrap();
        put(
            &dir,
            "memory.events",
            "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n",
        );
        let mut w = m.watch_oom().unwrap();
        assert!(w.fd().is_none() && w.needs_polling());
        assert_eq!(w.check().unwrap(), OomCheck::default());
        put(
            &dir,
            "memory.events",
            "low 0\nhigh 0\nmax 9\noom 4\noom_kill 3\n",
        );
        assert_eq!(
            w.check().unwrap(),
            OomCheck {
                ooms: 1,
                gone: false
            }
        );
        assert_eq!(w.check().unwrap(), OomCheck::default());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(w.check().unwrap().gone);
    }

    #[test]
    fn v2_without_memory_events_never_reports() {
        let host = FakeHost::unified("0::/\n");
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let mut w = m.watch_oom().unwrap();
        assert_eq!(w.check().unwrap(), OomCheck::default());
    }

    #[test]
    fn v1_registers_the_eventfd_with_oom_control() {
        let host = FakeHost::hybrid();
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let dir = m.controller_dir("memory").unwrap();
        put(
            &dir,
            "memory.oom_control",
            "oom_kill_disable 0\nunder_oom 0\n",
        );
        put(&dir, "cgroup.event_control", "");
        let mut w = m.watch_oom().unwrap();
        let line = std::fs::read_to_string(dir.join("cgroup.event_control")).unwrap();
        let fds: Vec<i32> = line.split(' ').map(|f| f.parse().unwrap()).collect();
        assert_eq!(fds[0], w.fd().unwrap().as_raw_fd(), "{line}");
        assert_eq!(w.check().unwrap(), OomCheck::default());
        // What the kernel does on an OOM.
        if let Source::V1 { eventfd, .. } = &w.source {
            eventfd.write(1).unwrap();
        }
        assert_eq!(w.check().unwrap().ooms, 1);
        std::fs::remove_file(dir.join("cgroup.event_control")).unwrap();
        if let Source::V1 { eventfd, .. } = &w.source {
            eventfd.write(1).unwrap();
        }
        assert_eq!(
            w.check().unwrap(),
            OomCheck {
                ooms: 0,
                gone: true
            }
        );
    }

    #[test]
    fn v1_without_memory_hierarchy_watches_nothing() {
        let host = FakeHost::new(
            "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
             36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n",
            "5:devices:/\n",
        );
        let mut m = host.manager(Some("/ctr"), "c");
        m.create().unwrap();
        let mut w = m.watch_oom().unwrap();
        assert!(w.fd().is_none() && !w.needs_polling());
        assert_eq!(w.check().unwrap(), OomCheck::default());
    }
}
