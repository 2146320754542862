//! Reading what /proc says about a process, and capability names as bitmasks.

/// Capability numbers by name (linux/capability.h), up to CAP_CHECKPOINT_RESTORE.
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The bitmask of capability `names`, as /proc/PID/status prints it (16 hex digits).
#[track_caller]
pub fn cap_mask(names: &[&str]) -> String {
    let mut mask = 0u64;
    for n in names {
        let bit = CAPS
            .iter()
            .position(|c| c == n)
            .unwrap_or_else(|| panic!("unknown cap {n}"));
        mask |= 1 << bit;
    }
    format!("{mask:016x}")
}

/// The value of `key:` in a /proc/PID/status text, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(str::trim))
}

/// The namespace inode `ns` (e.g. "net") of `pid`, as readlink prints it ("net:[4026...]").
pub fn ns_link(pid: &str, ns: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{ns}"))
        .map(|l| l.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The host directory of `pid`'s cgroup in the cgroup v1 hierarchy that has `controller`
/// ("memory", "pids", "cpu"...): its path from /proc/PID/cgroup, put under the hierarchy's
/// mount point (less the mount's own root) from /proc/self/mountinfo.
pub fn cgroup_dir(pid: i32, controller: &str) -> Option<std::path::PathBuf> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    v1_cgroup_dir(&cgroups, &mountinfo, controller)
}

/// Every cgroup directory of `pid` on the host, one per hierarchy: (the controllers as
/// /proc/PID/cgroup names them, "" for the cgroup v2 hierarchy; the directory).
pub fn cgroup_dirs(pid: i32) -> Vec<(String, std::path::PathBuf)> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    all_cgroup_dirs(&cgroups, &mountinfo)
}

fn all_cgroup_dirs(cgroups: &str, mountinfo: &str) -> Vec<(String, std::path::PathBuf)> {
    cgroups
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            let dir = if ctrls.is_empty() {
                mount_point_of(mountinfo, path, |fstype, _| fstype == "cgroup2")
            } else {
                let first = ctrls.split(',').next()?;
                mount_point_of(mountinfo, path, |fstype, opts| {
                    fstype == "cgroup" && opts.split(',').any(|o| o == first)
                })
            };
            Some((ctrls.to_string(), dir?))
        })
        .collect()
}

/// `path` (a cgroup path from /proc/PID/cgroup) under the first mount of `mountinfo` that
/// `is_hierarchy(fstype, super options)` accepts, less the mount's own root.
fn mount_point_of(
    mountinfo: &str,
    path: &str,
    is_hierarchy: impl Fn(&str, &str) -> bool,
) -> Option<std::path::PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (mount, sup) = l.split_once(" - ")?;
        let mut sup = sup.split(' ');
        let (fstype, _, opts) = (sup.next()?, sup.next()?, sup.next()?);
        if !is_hierarchy(fstype, opts) {
            return None;
        }
        let f: Vec<&str> = mount.split(' ').collect();
        let (root, point) = (*f.get(3)?, *f.get(4)?);
        let rel = path.strip_prefix(root)?.trim_start_matches('/');
        Some(std::path::Path::new(point).join(rel))
    })
}

fn v1_cgroup_dir(cgroups: &str, mountinfo: &str, controller: &str) -> Option<std::path::PathBuf> {
    let path = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
        ctrls.split(',').any(|c| c == controller).then_some(path)
    })?;
    mount_point_of(mountinfo, path, |fstype, opts| {
        fstype == "cgroup" && opts.split(',').any(|o| o == controller)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_match_the_kernel_numbers() {
        assert_eq!(cap_mask(&["CAP_CHOWN"]), "0000000000000001");
        assert_eq!(
            cap_mask(&["CAP_KILL", "CAP_NET_BIND_SERVICE"]),
            "0000000000000420"
        );
        assert_eq!(cap_mask(&["CAP_AUDIT_WRITE"]), "0000000020000000");
        assert_eq!(cap_mask(CAPS), "000001ffffffffff");
    }

    #[test]
    fn cgroup_dirs_are_found_under_their_hierarchy() {
        let cgroups = "9:name=systemd:/c1\n4:memory:/outer/c1\n1:cpu,cpuacct:/c1\n0::/c1\n";
        let mountinfo = "\
            30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n\
            33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:8 - cgroup cgroup rw,cpu,cpuacct\n\
            35 30 0:32 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
            36 30 0:33 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let dir = |c| v1_cgroup_dir(cgroups, mountinfo, c);
        assert_eq!(dir("cpuacct"), Some("/sys/fs/cgroup/cpu,cpuacct/c1".into()));
        assert_eq!(dir("memory"), Some("/sys/fs/cgroup/memory/c1".into()));
        assert_eq!(dir("pids"), None);
        assert_eq!(
            all_cgroup_dirs(cgroups, mountinfo),
            [
                ("memory".to_string(), "/sys/fs/cgroup/memory/c1".into()),
                (
                    "cpu,cpuacct".to_string(),
                    "/sys/fs/cgroup/cpu,cpuacct/c1".into()
                ),
                (String::new(), "/sys/fs/cgroup/unified/c1".into()),
            ]
        );
    }

    #[test]
    fn status_fields_are_found_by_key() {
        let s = "Name:\tsh\nCapEff:\t0000000000000420\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(s, "CapEff"), Some("0000000000000420"));
        assert_eq!(status_field(s, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(s, "Cap"), None);
    }
}
