//! The conditions every runtime runs under: a private mount namespace where the host looks
//! like plain cgroup v1 (or v2), a tmpfs for state and bundles, and the cgroup files read
//! after a container stopped.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// Where the hybrid layout mounts its cgroup2 hierarchy next to the v1 controllers.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The cgroup layout the runtimes see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    V1,
    V2,
}

impl Layout {
    pub fn detect() -> Layout {
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            Layout::V2
        } else {
            Layout::V1
        }
    }

    /// The file holding the peak memory charged to the cgroup at `path` (absolute
    /// cgroupsPath), and what the report calls it.
    pub fn memory_peak_file(self, path: &str) -> PathBuf {
        let rel = path.trim_start_matches('/');
        match self {
            Layout::V1 => Path::new("/sys/fs/cgroup/memory")
                .join(rel)
                .join("memory.max_usage_in_bytes"),
            Layout::V2 => Path::new("/sys/fs/cgroup").join(rel).join("memory.peak"),
        }
    }

    pub fn memory_peak_name(self) -> &'static str {
        match self {
            Layout::V1 => "memory.max_usage_in_bytes",
            Layout::V2 => "memory.peak",
        }
    }
}

/// Moves the bench into a mount namespace of its own, with every mount private so nothing
/// done here reaches the host, and unmounts the hybrid layout's cgroup2 hierarchy unless
/// `keep_unified`: crun 1.8.1 refuses hybrid hosts, so all runtimes see plain v1. Must run
/// while the bench is single-threaded (unshare(CLONE_NEWNS) fails in a threaded process).
/// Returns whether the unified hierarchy was unmounted.
pub fn private_namespace(keep_unified: bool) -> io::Result<bool> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| io_err("unshare(CLONE_NEWNS)", e))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| io_err("make / rprivate", e))?;
    if keep_unified || !is_mount_point(UNIFIED) {
        return Ok(false);
    }
    umount2(UNIFIED, MntFlags::empty()).map_err(|e| io_err("umount /sys/fs/cgroup/unified", e))?;
    Ok(true)
}

/// Mounts a tmpfs on `dir` (inside the private namespace): state dirs and bundles live in
/// memory, as /run does on most hosts, and vanish with the namespace.
pub fn mount_tmpfs(dir: &Path) -> io::Result<()> {
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=755"),
    )
    .map_err(|e| io_err(&format!("mount tmpfs on {}", dir.display()), e))
}

pub fn unmount(dir: &Path) {
    let _ = umount2(dir, MntFlags::MNT_DETACH);
}

fn is_mount_point(path: &str) -> bool {
    fs::read_to_string("/proc/self/mountinfo")
        .map(|m| m.lines().any(|l| l.split(' ').nth(4) == Some(path)))
        .unwrap_or(false)
}

/// Mount points of every cgroup hierarchy visible here (v1 controllers or the v2 root).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let Ok(m) = fs::read_to_string("/proc/self/mountinfo") else {
        return Vec::new();
    };
    m.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let point = pre.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(point))
        })
        .collect()
}

/// Removes the cgroups whose top-level name starts with `prefix` in every hierarchy (they
/// are empty once their containers are deleted). Returns the ones that could not go.
pub fn remove_cgroups(prefix: &str) -> Vec<String> {
    let mut left = Vec::new();
    for m in cgroup_mounts() {
        let Ok(rd) = fs::read_dir(&m) else { continue };
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(prefix) {
                continue;
            }
            if let Err(err) = remove_tree(&e.path()) {
                left.push(format!("{}: {err}", e.path().display()));
            }
        }
    }
    left
}

/// rmdir of a cgroup and its sub-cgroups, children first (cgroupfs has no recursive rmdir).
fn remove_tree(dir: &Path) -> io::Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_tree(&e.path())?;
        }
    }
    fs::remove_dir(dir)
}

/// The machine line of the report: cores, kernel, CPU model.
pub fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let mem = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib: u64 = m.lines().next()?.split_whitespace().nth(1)?.parse().ok()?;
            Some(format!(", {} GiB RAM", (kib + (1 << 19)) >> 20))
        })
        .unwrap_or_default();
    format!("{nproc} CPUs ({cpu}){mem}, Linux {kernel}")
}

fn io_err(what: &str, e: nix::errno::Errno) -> io::Error {
    io::Error::new(io::Error::from(e).kind(), format!("{what}: {e}"))
}
