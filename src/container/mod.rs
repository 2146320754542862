//! A container as the runtime keeps it between invocations: one directory under `--root`.
//!
//! Layout of `<root>/<id>/`:
//! - `state.json`: [`Record`], replaced atomically (write to a temp file, rename);
//! - `start.sock`: the listening socket init waits on until `start` (present = created);
//! - the directory itself is the lock: every mutating command holds `flock(LOCK_EX)` on it, so
//!   concurrent commands on one container serialise and different containers never contend.

pub mod create;
pub mod delete;
pub mod exec;
pub mod kill;
pub mod pause;
mod socket;
pub mod start;
pub mod state;
pub mod update;

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::kill as send_signal;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

pub use state::{Lifecycle, Status};

pub const STATE_FILE: &str = "state.json";
pub const START_SOCKET: &str = "start.sock";

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists: {0}")]
    Exists(String),
    #[error("invalid container id format: {0:?}")]
    InvalidId(String),
    #[error("create state directory {path}: {source}")]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("lock {path}: {source}")]
    Lock { path: PathBuf, source: Errno },
    #[error("read state {path}: {source}")]
    ReadState { path: PathBuf, source: io::Error },
    #[error("parse state {path}: {source}")]
    ParseState {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("write state {path}: {source}")]
    WriteState { path: PathBuf, source: io::Error },
    #[error("remove state directory {path}: {source}")]
    RemoveDir { path: PathBuf, source: io::Error },
}

/// What the runtime remembers about a container (our own format, not the OCI state document).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host pid of the container process; 0 until the clone happened.
    pub pid: i32,
    /// Start time of `pid` in clock ticks since boot (/proc/PID/stat field 22): a recycled pid
    /// has another, so we never signal a stranger.
    pub pid_start: u64,
    /// Status as last recorded; [`Container::status`] refines it with what is alive.
    pub status: Status,
    pub created: String,
    /// The container's cgroup, so that any later command can find and remove it.
    #[serde(default)]
    pub cgroup: Option<crate::cgroups::CgroupState>,
    /// The configuration as it was at create: later edits of config.json must not matter.
    pub config: Spec,
}

/// A container whose directory exists, usually locked.
pub struct Container {
    pub dir: PathBuf,
    pub record: Record,
    _lock: Option<File>,
}

/// runc's id rule: `^[\w+-\.]+$`, and not `.` or `..`.
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if id.is_empty() || id == "." || id == ".." || !id.chars().all(ok_char) {
        return Err(ContainerError::InvalidId(id.to_owned()));
    }
    Ok(())
}

fn lock_dir(dir: &Path) -> Result<File, ContainerError> {
    let f = File::open(dir).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ContainerError::NotExist,
        _ => ContainerError::Lock {
            path: dir.to_owned(),
            source: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
        },
    })?;
    // flock on a dup of the fd; the lock lives as long as the File.
    flock_exclusive(&f).map_err(|source| ContainerError::Lock {
        path: dir.to_owned(),
        source,
    })?;
    Ok(f)
}

fn flock_exclusive(f: &File) -> Result<(), Errno> {
    loop {
        match f.lock() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Errno::from_raw(e.raw_os_error().unwrap_or(0))),
        }
    }
}

impl Container {
    /// Makes `<root>/<id>` (refusing an existing one) and locks it.
    pub fn create_dir(root: &Path, id: &str) -> Result<(PathBuf, File), ContainerError> {
        validate_id(id)?;
        fs::create_dir_all(root).map_err(|source| ContainerError::CreateDir {
            path: root.to_owned(),
            source,
        })?;
        let dir = root.join(id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ContainerError::Exists(id.to_owned()))
            }
            Err(source) => return Err(ContainerError::CreateDir { path: dir, source }),
        }
        let lock = lock_dir(&dir)?;
        Ok((dir, lock))
    }

    /// Opens and locks an existing container.
    pub fn load(root: &Path, id: &str) -> Result<Container, ContainerError> {
        validate_id(id).map_err(|_| ContainerError::NotExist)?;
        let dir = root.join(id);
        let lock = lock_dir(&dir)?;
        let record = read_record(&dir)?;
        Ok(Container {
            dir,
            record,
            _lock: Some(lock),
        })
    }

    /// Reads a container without locking, for `state` and `list`: the record is replaced
    /// atomically, so a reader sees the old or the new one, never half of one.
    pub fn peek(root: &Path, id: &str) -> Result<Container, ContainerError> {
        validate_id(id).map_err(|_| ContainerError::NotExist)?;
        let dir = root.join(id);
        let record = read_record(&dir)?;
        Ok(Container {
            dir,
            record,
            _lock: None,
        })
    }

    pub fn from_parts(dir: PathBuf, record: Record, lock: File) -> Container {
        Container {
            dir,
            record,
            _lock: Some(lock),
        }
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    pub fn pid(&self) -> Option<Pid> {
        (self.record.pid > 0).then(|| Pid::from_raw(self.record.pid))
    }

    /// Writes the record atomically.
    pub fn save(&self) -> Result<(), ContainerError> {
        write_record(&self.dir, &self.record)
    }

    /// The status now: the recorded one, corrected by whether the process still lives and
    /// whether it still waits for `start`.
    pub fn status(&self) -> Status {
        let alive = self
            .pid()
            .is_some_and(|pid| process_alive(pid, self.record.pid_start));
        match self.record.status {
            Status::Creating if !alive => {
                // `create` saves the pid with `Created` and holds the lock until then: a
                // record still `creating` under our lock was left by a runtime that died.
                if self.record.pid == 0 && self._lock.is_none() {
                    Status::Creating
                } else {
                    Status::Stopped
                }
            }
            Status::Creating => Status::Creating,
            _ if !alive => Status::Stopped,
            Status::Paused => Status::Paused,
            _ if self.dir.join(START_SOCKET).exists() => Status::Created,
            _ => Status::Running,
        }
    }

    /// The container's cgroups, when it has any recorded.
    pub fn cgroup(&self) -> Option<crate::cgroups::Manager> {
        let state = self.record.cgroup.as_ref()?;
        match crate::cgroups::Manager::from_state(
            state,
            &crate::cgroups::CgroupSources::default().root,
        ) {
            Ok(m) => Some(m),
            Err(e) => {
                log::warn!("ignoring the recorded cgroup: {e}");
                None
            }
        }
    }

    /// Removes the state directory (the lock goes with it).
    pub fn remove_dir(&self) -> Result<(), ContainerError> {
        remove_state_dir(&self.dir)
    }
}

pub fn remove_state_dir(dir: &Path) -> Result<(), ContainerError> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ContainerError::RemoveDir {
            path: dir.to_owned(),
            source,
        }),
    }
}

fn read_record(dir: &Path) -> Result<Record, ContainerError> {
    let path = dir.join(STATE_FILE);
    let data = fs::read(&path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => ContainerError::NotExist,
        _ => ContainerError::ReadState {
            path: path.clone(),
            source,
        },
    })?;
    serde_json::from_slice(&data).map_err(|source| ContainerError::ParseState { path, source })
}

pub fn write_record(dir: &Path, record: &Record) -> Result<(), ContainerError> {
    let path = dir.join(STATE_FILE);
    let tmp = dir.join(".state.json.tmp");
    let data = serde_json::to_vec(record).expect("a record always serialises");
    let write = || -> io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&data)?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|source| ContainerError::WriteState { path, source })
}

/// Start time (field 22 of /proc/PID/stat) of a live, non-zombie process.
pub fn process_start_time(pid: Pid) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_start(&stat)
}

/// Field 22 of a /proc/PID/stat line, or None for a zombie or dead process. The command name
/// (field 2) may contain spaces and parentheses, so parsing starts after the last ')'.
fn parse_stat_start(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // `rest` starts at field 3; field 22 is 19 further on.
    fields.nth(18)?.parse().ok()
}

fn process_alive(pid: Pid, start: u64) -> bool {
    process_start_time(pid) == Some(start) && send_signal(pid, None).is_ok()
}

/// The state document of `c` with `status` (OCI form for hooks, runc form for `state`).
pub fn state_doc(c: &Container, status: Status) -> runtime_spec::State {
    let r = &c.record;
    let mut doc = new_state(&r.config, &r.id, &r.bundle, &r.rootfs, status, r.pid);
    doc.created.clone_from(&r.created);
    doc
}

/// The state document of a container made from `spec`, before `created` and `owner` exist
/// (hooks during `create` get it so).
pub fn new_state(
    spec: &Spec,
    id: &str,
    bundle: &Path,
    rootfs: &Path,
    status: Status,
    pid: i32,
) -> runtime_spec::State {
    runtime_spec::State {
        oci_version: spec.version().clone(),
        id: id.to_owned(),
        status,
        pid,
        bundle: bundle.to_owned(),
        annotations: spec
            .annotations()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        rootfs: rootfs.to_owned(),
        created: String::new(),
        owner: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runc() {
        for good in ["a", "web-1", "x_y.z+1", "A9"] {
            assert!(validate_id(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", "ü"] {
            assert!(validate_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stat_start_time_survives_odd_comm() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 10";
        assert_eq!(parse_stat_start(line), Some(777));
        let zombie = "42 (x) Z 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777 1000 10";
        assert_eq!(parse_stat_start(zombie), None);
    }

    #[test]
    fn own_start_time_is_readable() {
        assert!(process_start_time(nix::unistd::getpid()).is_some());
    }

    #[test]
    fn a_record_left_creating_is_stopped_once_its_creator_let_go_of_the_lock() {
        let root = tempfile::tempdir().unwrap();
        let (dir, lock) = Container::create_dir(root.path(), "c1").unwrap();
        let record = Record {
            id: "c1".into(),
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            pid: 0,
            pid_start: 0,
            status: Status::Creating,
            created: String::new(),
            cgroup: None,
            config: Spec::default(),
        };
        write_record(&dir, &record).unwrap();
        // Being made: the creator holds the lock.
        assert_eq!(
            Container::peek(root.path(), "c1").unwrap().status(),
            Status::Creating
        );
        drop(lock);
        assert_eq!(
            Container::load(root.path(), "c1").unwrap().status(),
            Status::Stopped
        );
    }

    #[test]
    fn exists_and_not_exists() {
        let root = tempfile::tempdir().unwrap();
        let (dir, _lock) = Container::create_dir(root.path(), "c1").unwrap();
        assert!(dir.is_dir());
        assert!(matches!(
            Container::create_dir(root.path(), "c1"),
            Err(ContainerError::Exists(_))
        ));
        assert!(matches!(
            Container::peek(root.path(), "nope"),
            Err(ContainerError::NotExist)
        ));
        assert!(matches!(
            Container::load(root.path(), "../c1"),
            Err(ContainerError::NotExist)
        ));
    }
}
