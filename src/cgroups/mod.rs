//! Control groups: one small manager for cgroup v1 (legacy), hybrid and v2 (unified) hosts,
//! chosen at run time from `/proc/self/mountinfo`.
//!
//! Flow used by the runtime (before the clone, single-threaded):
//!
//! ```text
//! let config = CgroupSources::default().config(spec.cgroups_path, id)?; // mountinfo + own cgroup
//! let mut cg = Manager::new(&config)?;                                   // computes paths only
//! cg.create()?;                                                          // mkdir, cpuset/subtree
//! cg.apply(&plan_resources(resources, cg.version())?)?;                  // limits
//! let join = CgroupJoin::open(&cg)?;     // cgroup2 dir fd, v1 `tasks` files (see join.rs)
//! clone3(CLONE_INTO_CGROUP if join.clone_into); the child: CgroupJoin::join_v1(join.tasks)
//! save cg.state() in state.json; later: Manager::from_state(&state, root) for kill/delete
//! ```
//!
//! Paths follow runc's cgroupfs driver (`cgroupsPath` absolute = from the hierarchy root,
//! relative or absent = below the runtime's own cgroup), see [`path::resolve`].
//!
//! Why our own code rather than the `cgroups-rs` crate (0.5.1, looked at for this decision):
//! - it decides v1 against v2 by `statfs("/sys/fs/cgroup")` and reads the fixed files
//!   `/proc/self/mountinfo` and `/proc/self/cgroup`; nothing lets unit tests point it at a
//!   temporary directory, so its users can only test on a real host;
//! - on a hybrid host it only looks at mounts of type `cgroup`, so the container never joins the
//!   cgroup2 hierarchy at `/sys/fs/cgroup/unified` as runc does;
//! - it has no call that hands out the cgroup directory as a file descriptor, which we need for
//!   `clone3(CLONE_INTO_CGROUP)`, and nothing that records which parent directories it created
//!   so that `delete` in another process removes exactly those;
//! - it always pulls in `zbus` (an async D-Bus stack) and an older `nix`, for a runtime that
//!   must stay single-threaded until the clone.
//!
//! What we need is small: parse two text files, mkdir/rmdir, write values to files. Resource
//! limits are planned as data ([`resources::CgroupWrite`] lists) that unit tests compare.

mod bpf;
mod defaults;
pub(crate) mod freezer;
mod fsutil;
mod join;
mod manager;
mod mountinfo;
mod oom;
mod path;
mod resources;
mod restore;
pub mod stats;

#[cfg(test)]
pub(crate) mod testutil;

use std::io;
use std::path::PathBuf;

pub use bpf::{attach_device_filter, DeviceFilterError};
pub use defaults::device_rules;
pub use join::{CgroupJoin, TasksFile};
pub use manager::{CgroupState, Manager};
pub use oom::OomWatch;
pub use path::CgroupSources;
pub use resources::{plan_resources, CgroupWrite, ResourcePlan};

use serde::{Deserialize, Serialize};

/// How the host mounts its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CgroupMode {
    /// Only v1 hierarchies (one per controller or comounted group).
    Legacy,
    /// v1 hierarchies for the controllers plus a cgroup2 mount (usually `/sys/fs/cgroup/unified`)
    /// that processes join but whose limits are not used.
    Hybrid,
    /// One cgroup2 hierarchy at `/sys/fs/cgroup`.
    Unified,
}

impl CgroupMode {
    /// The file format resource limits use: v1 files on legacy and hybrid hosts, as runc does.
    pub fn version(self) -> CgroupVersion {
        match self {
            CgroupMode::Legacy | CgroupMode::Hybrid => CgroupVersion::V1,
            CgroupMode::Unified => CgroupVersion::V2,
        }
    }
}

/// Which controller interface files limits go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

/// Errors of the cgroup manager. Each names the file or directory and keeps the OS error.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("write {value:?} to {path}: {source}")]
    Write {
        path: PathBuf,
        value: String,
        source: io::Error,
    },
    #[error("create cgroup directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("remove cgroup directory {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },
    #[error("open cgroup directory {path}: {source}")]
    OpenDir { path: PathBuf, source: io::Error },
    #[error("open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("parse {what}: {reason}")]
    Parse { what: String, reason: String },
    #[error("no cgroup hierarchy is mounted under /sys/fs/cgroup")]
    NoHierarchy,
    #[error("the devices cgroup hierarchy is not mounted: refusing to run without device limits")]
    NoDevicesHierarchy,
    #[error("invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error(
        "own cgroup {cgroup:?} is outside the mount of hierarchy {hierarchy:?} (root {root:?})"
    )]
    OutsideMount {
        hierarchy: String,
        cgroup: String,
        root: String,
    },
    #[error("invalid cgroup state: {0}")]
    InvalidState(String),
    #[error("send {signal} to pid {pid}: {source}")]
    Signal {
        pid: i32,
        signal: String,
        source: nix::errno::Errno,
    },
    #[error("no freezer: {0}")]
    NoFreezer(String),
    #[error("timed out after {millis} ms: {what}")]
    Timeout { what: String, millis: u128 },
    #[error("memory limit {value} for {path} is below the current usage {usage} (memory.checkBeforeUpdate)")]
    BelowUsage {
        path: PathBuf,
        value: u64,
        usage: u64,
    },
    #[error("invalid linux.resources.{field}: {reason}")]
    InvalidResource { field: String, reason: String },
    #[error("linux.resources.unified needs cgroup v2, this host sets limits through cgroup v1")]
    UnifiedOnV1,
    #[error("no cgroup hierarchy for controller {controller:?} (needed for {file})")]
    NoController { controller: String, file: String },
    #[error("write {value:?} to {path}: no such file (is the {controller} controller available and enabled?)")]
    MissingFile {
        path: PathBuf,
        value: String,
        controller: String,
    },
}
