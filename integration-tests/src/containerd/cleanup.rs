//! Finding and removing what a private containerd and its containers left on the host.
//!
//! Everything the daemon makes carries one of two marks: a path under its private directory
//! (the daemon's and shims' command lines, mount points) or the test's unique tag as the first
//! component of a cgroup path (ctr's namespace, the CRI pods' cgroup parent). Only what carries
//! a mark is killed or removed.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A mount namespace by its nsfs device and inode. Only meaningful while something holds the
/// namespace open: a freed namespace's inode number is given to the next new one.
pub type NsId = (u64, u64);

/// What still carries the marks of `dir`/`tag`, one description per item; empty means clean.
/// `mnt_ns` is the daemon's private mount namespace, whose processes are ours.
pub fn leftovers(dir: &Path, tag: &str, mnt_ns: Option<NsId>) -> Vec<String> {
    let mut found = Vec::new();
    for (pid, why) in our_processes(dir, tag, mnt_ns) {
        found.push(format!("process {pid} ({why}): {}", cmdline(pid)));
    }
    for m in mounts_under(dir) {
        found.push(format!("mount {}", m.display()));
    }
    for cg in cgroup_trees(tag) {
        found.push(format!("cgroup {}", cg.display()));
    }
    if dir.exists() {
        found.push(format!("directory {}", dir.display()));
    }
    found
}

/// Kills our processes (thawing our frozen cgroups first: a frozen process does not die),
/// unmounts what is mounted under `dir`, removes the cgroup trees named `tag` and `dir`.
pub fn sweep(dir: &Path, tag: &str, mnt_ns: Option<NsId>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = our_processes(dir, tag, mnt_ns);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        thaw(tag);
        for (pid, _) in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut mounts = mounts_under(dir);
    // Deepest first, so a mount on top of another goes before it.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for m in mounts {
        let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
    }
    for tree in cgroup_trees(tag) {
        remove_cgroup_tree(&tree);
    }
    let _ = fs::remove_dir_all(dir);
}

/// Live processes that are ours: in the daemon's mount namespace (daemon, shims), naming
/// `dir` on their command line (a shim of a daemon that never came up, ctr), or in a cgroup
/// under `/<tag>` (the containers). Each with the mark it carries.
fn our_processes(dir: &Path, tag: &str, mnt_ns: Option<NsId>) -> Vec<(i32, &'static str)> {
    let me = std::process::id() as i32;
    let dir = dir.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me || is_zombie(pid) {
            continue;
        }
        let ns = fs::metadata(format!("/proc/{pid}/ns/mnt")).ok();
        let in_ns = mnt_ns.is_some_and(|n| ns.is_some_and(|m| (m.dev(), m.ino()) == n));
        let names_dir = cmdline(pid).contains(&dir);
        let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        let why = if in_ns {
            "in the daemon's mount namespace"
        } else if names_dir {
            "names the private directory"
        } else if in_tagged_cgroup(&cgroup, tag) {
            "in a cgroup of the test"
        } else {
            continue;
        };
        pids.push((pid, why));
    }
    pids
}

/// Whether a /proc/PID/cgroup text puts the process under `/<tag>` in some hierarchy.
pub fn in_tagged_cgroup(proc_cgroup: &str, tag: &str) -> bool {
    proc_cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .any(|path| path.trim_start_matches('/').split('/').next() == Some(tag))
}

fn is_zombie(pid: i32) -> bool {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit_once(") ")
        .is_none_or(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
}

fn cmdline(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&raw).replace('\0', " ")
}

/// Mount points in the host's (our) mount namespace at or under `dir`.
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(PathBuf::from)
        .filter(|m| m.starts_with(dir))
        .collect()
}

/// `/sys/fs/cgroup/<hierarchy>/<tag>` (and `/sys/fs/cgroup/<tag>` on cgroup v2) that exist.
fn cgroup_trees(tag: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut trees = vec![root.join(tag)];
    if let Ok(entries) = fs::read_dir(root) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                trees.push(e.path().join(tag));
            }
        }
    }
    trees.retain(|t| t.is_dir());
    trees
}

fn thaw(tag: &str) {
    for tree in cgroup_trees(tag) {
        visit_dirs(&tree, &mut |d| {
            let _ = fs::write(d.join("freezer.state"), "THAWED");
            let _ = fs::write(d.join("cgroup.freeze"), "0");
        });
    }
}

/// Removes a cgroup directory and its children, deepest first (cgroup dirs go with rmdir,
/// their files with them); retries briefly while dying processes still hold them.
fn remove_cgroup_tree(tree: &Path) {
    let mut dirs = Vec::new();
    visit_dirs(tree, &mut |d| dirs.push(d.to_path_buf()));
    dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
    for d in dirs {
        let deadline = Instant::now() + Duration::from_secs(2);
        while fs::remove_dir(&d).is_err() && d.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn visit_dirs(dir: &Path, f: &mut impl FnMut(&Path)) {
    f(dir);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            visit_dirs(&e.path(), f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_cgroup_is_the_first_path_component() {
        let tag = "cella-test-1-2";
        assert!(in_tagged_cgroup("4:pids:/cella-test-1-2/c1\n", tag));
        assert!(in_tagged_cgroup("0::/cella-test-1-2\n", tag));
        assert!(!in_tagged_cgroup("4:pids:/cella-test-1-20/c1\n", tag));
        assert!(!in_tagged_cgroup("4:pids:/other/cella-test-1-2\n", tag));
        assert!(!in_tagged_cgroup("4:pids:/\n", tag));
    }

    #[test]
    fn a_missing_dir_leaves_nothing() {
        let dir = Path::new("/nonexistent/cella-test-none");
        assert_eq!(
            leftovers(dir, "cella-test-none-x", None),
            Vec::<String>::new()
        );
    }
}
