//! What a container may leave on the host after it is gone.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::Runtime;

/// Everything container `id` (bundle at `bundle`) left behind, one description per item:
/// its state directory under the runtime's `--root`, host mounts naming the bundle path,
/// cgroup directories named after the id (or at `cgroups_path`) under /sys/fs/cgroup/*/
/// within three levels, and live processes whose root is the bundle's rootfs or whose cgroup
/// names the id. Empty means clean.
pub fn leftovers(rt: &Runtime, id: &str, bundle: &Path, cgroups_path: Option<&str>) -> Vec<String> {
    let mut found = Vec::new();
    let state = rt.root().join(id);
    if state.exists() {
        found.push(format!("state dir {}", state.display()));
    }
    let bundle_str = bundle.to_string_lossy();
    for line in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if line.contains(bundle_str.as_ref()) {
            found.push(format!("mount: {line}"));
        }
    }
    for dir in cgroup_dirs(id, cgroups_path) {
        found.push(format!("cgroup {}", dir.display()));
    }
    for pid in container_processes(id, &bundle.join("rootfs")) {
        let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        found.push(format!("process {pid}: {cmd}"));
    }
    found
}

/// Whether `name` is `id` itself or `id` followed by a non-digit (as in "<id>.scope"), so
/// cella-test-1-1 does not match cella-test-1-10.
fn names_id(name: &str, id: &str) -> bool {
    match name.find(id) {
        Some(i) => !name[i + id.len()..].starts_with(|c: char| c.is_ascii_digit()),
        None => false,
    }
}

pub(crate) fn cgroup_dirs(id: &str, cgroups_path: Option<&str>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut hierarchies = vec![PathBuf::from("/sys/fs/cgroup")];
    if let Ok(entries) = fs::read_dir("/sys/fs/cgroup") {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                hierarchies.push(e.path());
            }
        }
    }
    for h in &hierarchies {
        walk(h, 3, &mut |p| {
            if p.file_name()
                .is_some_and(|n| names_id(&n.to_string_lossy(), id))
            {
                found.push(p.to_path_buf());
            }
        });
        if let Some(cg) = cgroups_path.filter(|c| !c.contains(':')) {
            let p = h.join(cg.trim_start_matches('/'));
            if p.join("cgroup.procs").exists() {
                found.push(p);
            }
        }
    }
    // /sys/fs/cgroup itself is walked too (for cgroup v2 there): drop the double finds.
    found.sort();
    found.dedup();
    found
}

fn walk(dir: &Path, depth: u32, f: &mut impl FnMut(&Path)) {
    if depth == 0 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            f(&p);
            walk(&p, depth - 1, f);
        }
    }
}

/// Live (non-zombie) processes but the test process itself for which `keep(pid)` holds.
pub(crate) fn live_processes(mut keep: impl FnMut(i32) -> bool) -> Vec<i32> {
    let me = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|&pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            !matches!(state, None | Some('Z' | 'X'))
        })
        .filter(|&pid| keep(pid))
        .collect()
}

/// Whether a cgroup path of `pid` (any hierarchy) has a component for which `matches` holds.
pub(crate) fn in_cgroup_named(pid: i32, mut matches: impl FnMut(&str) -> bool) -> bool {
    let cgroup = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    cgroup
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .any(|path| path.split('/').any(&mut matches))
}

/// Live processes that belong to the container: root is the rootfs (same device and inode,
/// or a path inside the bundle) or a cgroup path component is the id.
pub(crate) fn container_processes(id: &str, rootfs: &Path) -> Vec<i32> {
    let root_meta = fs::metadata(rootfs).ok();
    let rootfs_str = rootfs.to_string_lossy().into_owned();
    live_processes(|pid| {
        let same_root = root_meta.as_ref().is_some_and(|rm| {
            fs::metadata(format!("/proc/{pid}/root"))
                .is_ok_and(|m| m.dev() == rm.dev() && m.ino() == rm.ino())
        });
        let root_inside = fs::read_link(format!("/proc/{pid}/root"))
            .is_ok_and(|l| l.to_string_lossy().starts_with(&rootfs_str));
        same_root || root_inside || in_cgroup_named(pid, |c| names_id(c, id))
    })
}

#[cfg(test)]
mod tests {
    use super::names_id;

    #[test]
    fn id_match_does_not_take_longer_ids() {
        assert!(names_id("cella-test-1-1", "cella-test-1-1"));
        assert!(names_id("cri-cella-test-1-1.scope", "cella-test-1-1"));
        assert!(!names_id("cella-test-1-10", "cella-test-1-1"));
        assert!(!names_id("other", "cella-test-1-1"));
    }
}
