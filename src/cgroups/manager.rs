//! The container's cgroup in every hierarchy: create, join, list, destroy, and the serialisable
//! state that lets another cella invocation (kill, delete) act on the same directories.

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::fsutil;
use super::path::{mount_relative, Base, CgroupConfig};
use super::{CgroupError, CgroupMode, CgroupVersion};

/// How long destroy waits for killed processes to leave the cgroup.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// One hierarchy the container is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HierarchyState {
    /// v1 controller list as `/proc/self/cgroup` prints it ("cpu,cpuacct", "name=systemd");
    /// empty for cgroup2.
    pub controllers: String,
    /// `true` for the cgroup2 hierarchy.
    pub unified: bool,
    /// Mount point relative to the cgroup root: "" on a unified host, "memory", "unified".
    pub mount: String,
    /// The container's cgroup relative to the mount point: "process_api/817d/ctr".
    pub path: String,
    /// Directories `create` made, relative to the mount point, parents first. `destroy`
    /// removes the leaf and exactly these, never a directory it found.
    #[serde(default)]
    pub created: Vec<String>,
}

impl HierarchyState {
    /// Whether this hierarchy carries the v1 controller (or `name=...` hierarchy) `name`.
    pub fn has_controller(&self, name: &str) -> bool {
        !self.unified && self.controllers.split(',').any(|c| c == name)
    }
}

/// What `state.json` keeps about the container's cgroups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupState {
    pub mode: CgroupMode,
    pub hierarchies: Vec<HierarchyState>,
}

/// The container's cgroups on this host.
#[derive(Debug, Clone)]
pub struct Manager {
    root: PathBuf,
    state: CgroupState,
}

impl Manager {
    /// Places the container's cgroup on every mounted hierarchy (no file system access): on
    /// v1 and hybrid hosts every v1 hierarchy the runtime is in, including `name=systemd`,
    /// plus the cgroup2 mount, as runc joins them all.
    pub fn new(config: &CgroupConfig) -> Result<Manager, CgroupError> {
        let mode = config.layout.mode;
        let mut hierarchies: Vec<HierarchyState> = Vec::new();
        for mount in &config.layout.mounts {
            let (controllers, base) = if mount.unified {
                match &config.path.unified_base {
                    Some(base) => (String::new(), base.clone()),
                    None => continue,
                }
            } else {
                let key =
                    config.path.v1_base.iter().find(|(key, _)| {
                        key.split(',').all(|c| mount.options.iter().any(|o| o == c))
                    });
                match key {
                    Some((key, own)) => (key.clone(), Base::Cgroup(own.clone())),
                    None => {
                        log::warn!(
                            "cgroup hierarchy at {:?} is not listed in /proc/self/cgroup, skipped",
                            mount.dir
                        );
                        continue;
                    }
                }
            };
            // The same hierarchy mounted twice: one directory is enough.
            if hierarchies
                .iter()
                .any(|h| h.unified == mount.unified && h.controllers == controllers)
            {
                continue;
            }
            let path = mount_relative(&config.path, &base, &mount.root, &mount.dir)?;
            hierarchies.push(HierarchyState {
                controllers,
                unified: mount.unified,
                mount: mount.dir.clone(),
                path,
                created: Vec::new(),
            });
        }
        if hierarchies.is_empty() {
            return Err(CgroupError::NoHierarchy);
        }
        // Device limits are a security boundary on v1: no devices hierarchy, no container.
        if mode != CgroupMode::Unified && !hierarchies.iter().any(|h| h.has_controller("devices")) {
            return Err(CgroupError::NoDevicesHierarchy);
        }
        Ok(Manager {
            root: config.root.clone(),
            state: CgroupState { mode, hierarchies },
        })
    }

    /// Rebuilds the manager from `state.json`. Every path must stay below `root`: the state
    /// file decides what `destroy` removes.
    pub fn from_state(state: &CgroupState, root: &Path) -> Result<Manager, CgroupError> {
        for h in &state.hierarchies {
            check_relative(&h.mount, true)?;
            check_relative(&h.path, false)?;
            for dir in &h.created {
                check_relative(dir, false)?;
                if !(Path::new(&h.path).starts_with(dir)) {
                    return Err(CgroupError::InvalidState(format!(
                        "created directory {dir:?} is not on the path {:?}",
                        h.path
                    )));
                }
            }
        }
        Ok(Manager {
            root: root.to_path_buf(),
            state: state.clone(),
        })
    }

    /// What to persist (after `create`, which fills `created`).
    pub fn state(&self) -> &CgroupState {
        &self.state
    }

    pub fn mode(&self) -> CgroupMode {
        self.state.mode
    }

    /// Which file format resource limits use on this host.
    pub fn version(&self) -> CgroupVersion {
        self.state.mode.version()
    }

    /// The container's directory in every hierarchy.
    pub fn leaf_dirs(&self) -> Vec<PathBuf> {
        self.state
            .hierarchies
            .iter()
            .map(|h| self.leaf(h))
            .collect()
    }

    /// The container's directory for a v1 controller (or `name=...`), or for cgroup2 with "".
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        let h = self.state.hierarchies.iter().find(|h| {
            if controller.is_empty() {
                h.unified
            } else {
                h.has_controller(controller)
            }
        })?;
        Some(self.leaf(h))
    }

    pub(super) fn leaf(&self, h: &HierarchyState) -> PathBuf {
        self.mount_dir(h).join(&h.path)
    }

    fn mount_dir(&self, h: &HierarchyState) -> PathBuf {
        if h.mount.is_empty() {
            self.root.clone()
        } else {
            self.root.join(&h.mount)
        }
    }

    #[cfg(test)]
    pub(super) fn hierarchies(&self) -> &[HierarchyState] {
        &self.state.hierarchies
    }

    /// Lists in `created` the directories [`Self::create`] is about to make (those missing
    /// now), so that the state saved before `create` already names them: a runtime killed
    /// while making them leaves `delete --force` the whole list, without a second save after
    /// `create`. One that another runtime makes meanwhile stays listed; `destroy` leaves it
    /// alone while it is in use.
    pub fn plan_created(&mut self) {
        for i in 0..self.state.hierarchies.len() {
            let h = &self.state.hierarchies[i];
            let mount = self.mount_dir(h);
            let mut relative = PathBuf::new();
            let mut missing = Vec::new();
            for component in Path::new(&h.path).components() {
                relative.push(component);
                let name = relative.to_string_lossy().into_owned();
                // Below a missing directory everything is missing: no more stat calls.
                let absent = !missing.is_empty() || !mount.join(&relative).exists();
                if absent && !h.created.contains(&name) {
                    missing.push(name);
                }
            }
            self.state.hierarchies[i].created.extend(missing);
        }
    }

    /// Makes the container's directory in every hierarchy, recording each directory made.
    /// v1 cpuset: a new cgroup starts with empty `cpuset.cpus`/`cpuset.mems` (no task could
    /// join it), so each one made is filled from its parent. v2: every level above the leaf
    /// delegates the controllers it has (`cgroup.subtree_control`), or no limit could be set.
    pub fn create(&mut self) -> Result<(), CgroupError> {
        self.create_hierarchies(false)
    }

    /// [`Self::create`] for the cgroup2 hierarchy alone (a no-op on legacy hosts): on a hybrid
    /// host it must exist before the clone (`CLONE_INTO_CGROUP`), the v1 ones may follow.
    pub fn create_cgroup2(&mut self) -> Result<(), CgroupError> {
        self.create_hierarchies(true)
    }

    fn create_hierarchies(&mut self, cgroup2_only: bool) -> Result<(), CgroupError> {
        let unified_host = self.state.mode == CgroupMode::Unified;
        for i in 0..self.state.hierarchies.len() {
            let h = &self.state.hierarchies[i];
            if cgroup2_only && !h.unified {
                continue;
            }
            let mount = self.mount_dir(h);
            if !mount.is_dir() {
                return Err(CgroupError::CreateDir {
                    path: mount,
                    source: io::Error::from_raw_os_error(libc::ENOENT),
                });
            }
            let cpuset = h.has_controller("cpuset");
            let delegate = h.unified && unified_host;
            let path = PathBuf::from(&h.path);
            let mut current = mount;
            let mut relative = PathBuf::new();
            let mut created = Vec::new();
            for component in path.components() {
                if delegate {
                    enable_controllers(&current)?;
                }
                let parent = current.clone();
                current.push(component);
                relative.push(component);
                match fs::DirBuilder::new().mode(0o755).create(&current) {
                    Ok(()) => {
                        let name = relative.to_string_lossy().into_owned();
                        if !h.created.contains(&name) {
                            created.push(name);
                        }
                        if cpuset {
                            copy_cpuset_from_parent(&parent, &current)?;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(source) => {
                        return Err(CgroupError::CreateDir {
                            path: current,
                            source,
                        })
                    }
                }
            }
            // Recorded per hierarchy as it goes, so a failure in a later hierarchy still
            // leaves an accurate list for the cleanup.
            self.state.hierarchies[i].created.extend(created);
        }
        Ok(())
    }

    /// The cgroup2 leaf directory as a file descriptor for `clone3(CLONE_INTO_CGROUP)`, on
    /// unified and hybrid hosts; `None` on legacy (v1 only) hosts. The v1 hierarchies of a
    /// hybrid host are joined after the clone (see [`super::CgroupJoin`]).
    pub fn open_dir(&self) -> Result<Option<OwnedFd>, CgroupError> {
        let Some(path) = self.controller_dir("") else {
            return Ok(None);
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)
            .map_err(|source| CgroupError::OpenDir { path, source })?;
        Ok(Some(OwnedFd::from(file)))
    }

    /// Moves `pid` (the whole process) into the container's cgroup in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        let value = pid.to_string();
        for h in &self.state.hierarchies {
            let file = self.leaf(h).join("cgroup.procs");
            // EINVAL while the new task is not fully set up yet: retried, as runc does.
            let mut attempt = 0;
            loop {
                match fsutil::write_raw(&file, &value) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) && attempt < 5 => {
                        attempt += 1;
                        thread::sleep(Duration::from_millis(30));
                    }
                    Err(source) => {
                        return Err(CgroupError::Write {
                            path: file,
                            value,
                            source,
                        });
                    }
                }
            }
        }
        Ok(())
    }

    /// Every process in the container's cgroups and their sub-cgroups, sorted, once each (the
    /// union over hierarchies, so a process that left one hierarchy is still found).
    pub fn processes(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        for h in &self.state.hierarchies {
            let mut dirs = Vec::new();
            fsutil::cgroup_tree(&self.leaf(h), &mut dirs)?;
            for dir in dirs {
                let file = dir.join("cgroup.procs");
                let Some(text) = fsutil::read_optional(&file)? else {
                    continue;
                };
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let pid = line.trim().parse::<i32>().map_err(|e| CgroupError::Parse {
                        what: file.display().to_string(),
                        reason: format!("{line:?}: {e}"),
                    })?;
                    pids.push(pid);
                }
            }
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Kills what is left (SIGKILL, waits until no process remains, bounded), then removes
    /// the leaf (with any sub-cgroups the container made) in every hierarchy and the parent
    /// directories `create` made. Missing directories are fine. Parents still in use by
    /// another container stay. Every hierarchy is tried; the first error is returned.
    pub fn destroy(&self) -> Result<(), CgroupError> {
        self.destroy_with_timeout(KILL_WAIT)
    }

    pub(super) fn destroy_with_timeout(&self, wait: Duration) -> Result<(), CgroupError> {
        // The usual case, a stopped container: each leaf goes with one rmdir, which the kernel
        // refuses (EBUSY) while a process or a sub-cgroup is left. The first refusal sends
        // what remains through the scan, kill and wait below, which also finds processes that
        // left an already removed hierarchy.
        let emptied = self.state.hierarchies.iter().all(|h| {
            fs::remove_dir(self.leaf(h))
                .or_else(|e| match e.kind() {
                    io::ErrorKind::NotFound => Ok(()),
                    _ => Err(e),
                })
                .is_ok()
        });
        // An empty cgroup cannot fill up again by itself: only a leftover is waited for.
        if !emptied && self.leaf_dirs().iter().any(|d| d.exists()) && !self.processes()?.is_empty()
        {
            self.signal_all(Signal::SIGKILL)?;
            self.wait_empty(wait)?;
        }
        let mut first_error = None;
        for h in &self.state.hierarchies {
            if let Err(e) = self.remove_hierarchy(h) {
                log::warn!("{e}");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn wait_empty(&self, wait: Duration) -> Result<(), CgroupError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(1);
        loop {
            let left = self.processes()?;
            if left.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= wait {
                return Err(CgroupError::Timeout {
                    what: format!("processes {left:?} still in the container's cgroup"),
                    millis: wait.as_millis(),
                });
            }
            thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    fn remove_hierarchy(&self, h: &HierarchyState) -> Result<(), CgroupError> {
        fsutil::remove_tree(&self.leaf(h))?;
        let mount = self.mount_dir(h);
        for dir in h.created.iter().rev().filter(|d| **d != h.path) {
            let path = mount.join(dir);
            match fsutil::rmdir(&path) {
                Ok(()) => {}
                // Another container's cgroup lives below it now: it stays for that one.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                    log::debug!("keeping {}: {e}", path.display());
                    break;
                }
                Err(source) => return Err(CgroupError::RemoveDir { path, source }),
            }
        }
        Ok(())
    }
}

/// Paths in the state file must be plain relative paths (no `..`, no root) so `destroy` cannot
/// be steered outside the cgroup root. `mount` may be empty (unified host).
fn check_relative(path: &str, may_be_empty: bool) -> Result<(), CgroupError> {
    let p = Path::new(path);
    let plain = p.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || (path.is_empty() && !may_be_empty) {
        return Err(CgroupError::InvalidState(format!(
            "path {path:?} is not a plain relative path"
        )));
    }
    Ok(())
}

/// Delegates every controller `dir` has to its children, all in one write, or one by one when
/// the kernel refuses the batch (some controllers cannot be enabled where processes live); a
/// controller that stays off surfaces later as a missing file naming it.
fn enable_controllers(dir: &Path) -> Result<(), CgroupError> {
    let available = fsutil::read_optional(&dir.join("cgroup.controllers"))?.unwrap_or_default();
    let enabled = fsutil::read_optional(&dir.join("cgroup.subtree_control"))?.unwrap_or_default();
    let missing: Vec<String> = available
        .split_whitespace()
        .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let file = dir.join("cgroup.subtree_control");
    if fsutil::write_raw(&file, &missing.join(" ")).is_err() {
        for c in &missing {
            if let Err(e) = fsutil::write_raw(&file, c) {
                log::debug!("cannot enable {c} in {}: {e}", file.display());
            }
        }
    }
    Ok(())
}

fn copy_cpuset_from_parent(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for name in ["cpuset.cpus", "cpuset.mems"] {
        let own = fsutil::read_optional(&dir.join(name))?;
        if own.as_deref().is_some_and(|v| !v.is_empty()) || own.is_none() {
            continue;
        }
        let value = fsutil::read(&parent.join(name))?;
        fsutil::write(&dir.join(name), &value)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "manager_tests.rs"]
mod tests;
