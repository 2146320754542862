//! Getting a new process into the container's cgroups without paying for the runtime's
//! migration lock.
//!
//! Writing a pid to `cgroup.procs` moves a whole thread group, under the global
//! `cgroup_threadgroup_rwsem` taken for writing; that percpu rwsem first waits for an RCU grace
//! period unless another writer held it a moment before: 4.5 to 17 ms on this kind of host
//! for a lone container start, on every v1 `create` and `exec`. Two ways around it:
//!
//! - cgroup2 (unified host, or the cgroup2 hierarchy of a hybrid one): `clone3` with
//!   `CLONE_INTO_CGROUP` creates the process in its cgroup; the fork path only takes the rwsem
//!   for reading.
//! - cgroup v1: the child writes `0` (itself) to the v1 `tasks` file. Moving the calling
//!   thread alone needs no thread-group stability, so the kernel skips the rwsem
//!   (`cgroup_procs_write_start`); our child is single-threaded, so its one thread is the whole
//!   process. Measured here: 0.03 ms against 8.5 to 11 ms for the same move through
//!   `cgroup.procs` after an idle spell.
//!
//! The runtime opens the `tasks` files (for `exec` before the clone; for `create` after it,
//! once it has made the cgroups, sent over the channel with SCM_RIGHTS): the kernel checks
//! the credentials a file was opened with (host root), so the join works from inside the
//! container's new user namespace too.

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::{CgroupError, Manager};

/// A v1 `tasks` file of the container's cgroup, open for writing.
#[derive(Debug)]
pub struct TasksFile {
    path: PathBuf,
    fd: OwnedFd,
}

impl TasksFile {
    /// A file received from the runtime (SCM_RIGHTS) with the path it was opened at.
    pub fn from_parts(path: PathBuf, fd: OwnedFd) -> TasksFile {
        TasksFile { path, fd }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The descriptor number, for the child's list of fds to keep.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        std::os::fd::AsRawFd::as_raw_fd(&self.fd)
    }

    /// Moves the calling thread into this cgroup. Called by the container's (single-threaded)
    /// child process before it makes anything that must be in the cgroup.
    pub fn join_self(&self) -> Result<(), CgroupError> {
        nix::unistd::write(&self.fd, b"0").map_err(|errno| CgroupError::Write {
            path: self.path.clone(),
            value: "0".into(),
            source: std::io::Error::from(errno),
        })?;
        Ok(())
    }
}

/// How the container's process gets into its cgroups: cloned into the cgroup2 one, then joins
/// the v1 ones itself.
#[derive(Debug, Default)]
pub struct CgroupJoin {
    /// The cgroup2 leaf for `clone3(CLONE_INTO_CGROUP)`, on unified and hybrid hosts.
    pub clone_into: Option<OwnedFd>,
    /// The v1 `tasks` files, for [`TasksFile::join_self`] in the child.
    pub tasks: Vec<TasksFile>,
}

impl CgroupJoin {
    /// Opens what a new process of the container needs to join `cg` (see the module doc).
    pub fn open(cg: &Manager) -> Result<CgroupJoin, CgroupError> {
        Ok(CgroupJoin {
            clone_into: cg.open_dir()?,
            tasks: Self::open_tasks(cg)?,
        })
    }

    /// The v1 `tasks` files of `cg` (none on a unified host).
    pub fn open_tasks(cg: &Manager) -> Result<Vec<TasksFile>, CgroupError> {
        cg.state()
            .hierarchies
            .iter()
            .filter(|h| !h.unified)
            .map(|h| {
                let path = cg.leaf(h).join("tasks");
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_CLOEXEC)
                    .open(&path)
                    .map_err(|source| CgroupError::Open {
                        path: path.clone(),
                        source,
                    })?;
                Ok(TasksFile {
                    path,
                    fd: file.into(),
                })
            })
            .collect()
    }

    /// For the child: joins every v1 cgroup, then closes the files.
    pub fn join_v1(tasks: Vec<TasksFile>) -> Result<(), CgroupError> {
        for file in &tasks {
            file.join_self()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::testutil::{get, FakeHost, PURE_V2};

    #[test]
    fn hybrid_host_clones_into_cgroup2_and_joins_v1_through_tasks() {
        let host = FakeHost::hybrid();
        let mut m = host.manager(None, "ctr");
        m.create().unwrap();
        // No kernel here: the tasks files must exist to be opened for writing.
        let err = CgroupJoin::open(&m).unwrap_err().to_string();
        assert!(
            err.contains("/ctr/tasks") && err.contains("os error 2"),
            "{err}"
        );
        for dir in m.leaf_dirs() {
            std::fs::write(dir.join("tasks"), "").unwrap();
        }
        let join = CgroupJoin::open(&m).unwrap();
        assert!(join.clone_into.is_some());
        // Every v1 hierarchy of the hybrid host: 9, cgroup2 excluded.
        assert_eq!(join.tasks.len(), 9);
        assert!(join.tasks.iter().all(|t| t.path.ends_with("ctr/tasks")));
        assert!(!join
            .tasks
            .iter()
            .any(|t| t.path.starts_with(host.root().join("unified"))));
        CgroupJoin::join_v1(join.tasks).unwrap();
        for dir in m
            .leaf_dirs()
            .iter()
            .filter(|d| !d.starts_with(host.root().join("unified")))
        {
            assert_eq!(get(dir, "tasks"), "0");
        }
    }

    #[test]
    fn unified_host_only_clones_into_the_cgroup() {
        let host = FakeHost::new(PURE_V2, "0::/\n");
        let mut m = host.manager(Some("/c"), "c");
        m.create().unwrap();
        let join = CgroupJoin::open(&m).unwrap();
        assert!(join.clone_into.is_some());
        assert!(join.tasks.is_empty());
    }
}
