//! One gate for what a test needs from the machine.

use std::path::Path;

/// Something a test needs from the host; see [`requires`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    /// Effective uid 0: every test here creates containers.
    Root,
    /// The kernel has user namespaces and lets root create them.
    UserNs,
    /// The kernel has time namespaces (Linux 5.6+).
    TimeNs,
    /// The kernel has cgroup namespaces.
    CgroupNs,
    /// An executable of this name on the host's PATH (e.g. "unshare" for namespace holders).
    HostTool(&'static str),
}

impl Req {
    /// Why the requirement is not met, or `None` when it is.
    fn missing(self) -> Option<String> {
        match self {
            Req::Root => (!nix::unistd::geteuid().is_root()).then(|| "not root".to_string()),
            Req::UserNs => {
                let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                (max == 0 || !Path::new("/proc/self/ns/user").exists())
                    .then(|| "user namespaces are not available".to_string())
            }
            Req::TimeNs => (!Path::new("/proc/self/ns/time").exists())
                .then(|| "time namespaces are not available".to_string()),
            Req::CgroupNs => (!Path::new("/proc/self/ns/cgroup").exists())
                .then(|| "cgroup namespaces are not available".to_string()),
            Req::HostTool(name) => {
                let path = std::env::var("PATH").unwrap_or_default();
                let found = path.split(':').any(|d| Path::new(d).join(name).is_file());
                (!found).then(|| format!("{name} is not on the host's PATH"))
            }
        }
    }
}

/// Returns false, after printing why, when one of `reqs` is not met; the test then returns
/// early: `if !requires(&[Req::Root]) { return; }`.
pub fn requires(reqs: &[Req]) -> bool {
    let missing: Vec<String> = reqs.iter().filter_map(|r| r.missing()).collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!("SKIPPED: {}", missing.join("; "));
    false
}
