//! Parsers for `/proc/self/mountinfo` (which hierarchies exist, where) and `/proc/self/cgroup`
//! (which cgroup this process is in, per hierarchy). Pure functions over text.

use super::{CgroupError, CgroupMode};

/// Where cgroup hierarchies are mounted on every host we support. Mounts elsewhere (for example
/// a container's own view of cgroupfs) are not ours to manage and are ignored.
pub const CGROUP_MOUNT_PREFIX: &str = "/sys/fs/cgroup";

/// One mounted hierarchy, as mountinfo shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    /// `true` for cgroup2.
    pub unified: bool,
    /// Mount point relative to [`CGROUP_MOUNT_PREFIX`]: "" (v2), "memory", "cpu,cpuacct",
    /// "unified", "systemd".
    pub dir: String,
    /// The cgroup shown at the mount point (mountinfo field 4): "/" normally, deeper when a
    /// parent runtime bind-mounted only its container's cgroup.
    pub root: String,
    /// Super-block options: for v1 they name the controllers ("rw,cpu,cpuacct").
    pub options: Vec<String>,
}

/// The host's cgroup layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub mode: CgroupMode,
    /// v1 hierarchies in mountinfo order, then the cgroup2 mount if any.
    pub mounts: Vec<CgroupMount>,
}

/// Detects the layout from the text of `/proc/self/mountinfo`.
///
/// cgroup2 mounted at `/sys/fs/cgroup` itself means [`CgroupMode::Unified`]; v1 mounts plus a
/// cgroup2 mount below the prefix mean [`CgroupMode::Hybrid`]; v1 mounts only mean
/// [`CgroupMode::Legacy`].
pub fn parse_mountinfo(text: &str) -> Result<Layout, CgroupError> {
    let mut mounts: Vec<CgroupMount> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| CgroupError::Parse {
            what: format!("mountinfo line {}", n + 1),
            reason: format!("{reason}: {line:?}"),
        };
        let (left, right) = line
            .split_once(" - ")
            .ok_or_else(|| bad("no ' - ' separator"))?;
        let fields: Vec<&str> = left.split_whitespace().collect();
        let tail: Vec<&str> = right.split_whitespace().collect();
        if fields.len() < 6 || tail.len() < 3 {
            return Err(bad("too few fields"));
        }
        let unified = match tail[0] {
            "cgroup2" => true,
            "cgroup" => false,
            _ => continue,
        };
        let mount_point = unescape(fields[4]);
        let dir = match mount_point.strip_prefix(CGROUP_MOUNT_PREFIX) {
            Some("") => String::new(),
            Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/').to_string(),
            _ => continue,
        };
        let mount = CgroupMount {
            unified,
            dir,
            root: unescape(fields[3]),
            options: tail[2].split(',').map(str::to_string).collect(),
        };
        // A later mount on the same point hides the earlier one.
        mounts.retain(|m| m.dir != mount.dir);
        mounts.push(mount);
    }

    if let Some(v2) = mounts.iter().find(|m| m.unified && m.dir.is_empty()) {
        return Ok(Layout {
            mode: CgroupMode::Unified,
            mounts: vec![v2.clone()],
        });
    }
    let unified = mounts.iter().find(|m| m.unified).cloned();
    let mut v1: Vec<CgroupMount> = mounts.into_iter().filter(|m| !m.unified).collect();
    match (v1.is_empty(), unified) {
        (true, None) => Err(CgroupError::NoHierarchy),
        (true, Some(u)) => Ok(Layout {
            mode: CgroupMode::Unified,
            mounts: vec![u],
        }),
        (false, None) => Ok(Layout {
            mode: CgroupMode::Legacy,
            mounts: v1,
        }),
        (false, Some(u)) => {
            v1.push(u);
            Ok(Layout {
                mode: CgroupMode::Hybrid,
                mounts: v1,
            })
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let v = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of `/proc/self/cgroup`, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcSelfCgroup {
    /// v1 hierarchies: (controller list as printed, e.g. "cpu,cpuacct" or "name=systemd", path).
    pub v1: Vec<(String, String)>,
    /// The path on the `0::` line (the cgroup2 hierarchy), if present.
    pub unified: Option<String>,
}

impl ProcSelfCgroup {
    pub fn parse(text: &str) -> Result<ProcSelfCgroup, CgroupError> {
        let mut own = ProcSelfCgroup::default();
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let mut parts = line.splitn(3, ':');
            let (id, controllers, path) = match (parts.next(), parts.next(), parts.next()) {
                (Some(id), Some(c), Some(p)) => (id, c, p),
                _ => {
                    return Err(CgroupError::Parse {
                        what: format!("/proc/self/cgroup line {}", n + 1),
                        reason: format!("expected id:controllers:path, got {line:?}"),
                    })
                }
            };
            if id == "0" && controllers.is_empty() {
                own.unified = Some(path.to_string());
            } else {
                own.v1.push((controllers.to_string(), path.to_string()));
            }
        }
        Ok(own)
    }

    /// The cgroup path of the v1 hierarchy whose controller list is `key`.
    #[cfg(test)]
    pub fn v1_path(&self, key: &str) -> Option<&str> {
        self.v1
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, p)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroups::testutil::{HYBRID, PURE_V2};

    /// Ubuntu 20.04 style hybrid with comounted controllers and a nested-container mount root.
    const COMOUNTED: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
36 30 0:32 /docker/abc /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
37 30 0:33 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,devices
99 27 0:33 / /var/lib/other/rootfs/sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
";

    #[test]
    fn hybrid_machine_layout() {
        let layout = parse_mountinfo(HYBRID).unwrap();
        assert_eq!(layout.mode, CgroupMode::Hybrid);
        let dirs: Vec<&str> = layout.mounts.iter().map(|m| m.dir.as_str()).collect();
        assert_eq!(
            dirs,
            [
                "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                "systemd", "unified"
            ]
        );
        let systemd = &layout.mounts[8];
        assert!(!systemd.unified);
        assert_eq!(systemd.options, ["rw", "name=systemd"]);
        assert!(layout.mounts[9].unified);
        assert_eq!(layout.mounts[9].root, "/");
    }

    #[test]
    fn pure_v2_layout() {
        let layout = parse_mountinfo(PURE_V2).unwrap();
        assert_eq!(layout.mode, CgroupMode::Unified);
        assert_eq!(layout.mounts.len(), 1);
        assert_eq!(layout.mounts[0].dir, "");
        assert!(layout.mounts[0].unified);
    }

    #[test]
    fn legacy_layout_when_cgroup2_is_unmounted() {
        let text: String =
            HYBRID
                .lines()
                .filter(|l| !l.contains("cgroup2"))
                .fold(String::new(), |mut s, l| {
                    s.push_str(l);
                    s.push('\n');
                    s
                });
        let layout = parse_mountinfo(&text).unwrap();
        assert_eq!(layout.mode, CgroupMode::Legacy);
        assert_eq!(layout.mounts.len(), 9);
    }

    #[test]
    fn comounted_and_mount_root_and_foreign_mounts() {
        let layout = parse_mountinfo(COMOUNTED).unwrap();
        assert_eq!(layout.mode, CgroupMode::Hybrid);
        let dirs: Vec<&str> = layout.mounts.iter().map(|m| m.dir.as_str()).collect();
        assert_eq!(dirs, ["systemd", "cpu,cpuacct", "devices", "unified"]);
        assert_eq!(layout.mounts[1].root, "/docker/abc");
    }

    #[test]
    fn no_cgroup_mounts_is_an_error() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n";
        assert!(matches!(
            parse_mountinfo(text),
            Err(CgroupError::NoHierarchy)
        ));
    }

    #[test]
    fn malformed_line_is_an_error_naming_the_line() {
        let err = parse_mountinfo("31 23 0:28 / /sys/fs/cgroup rw\n").unwrap_err();
        assert!(err.to_string().contains("mountinfo line 1"), "{err}");
    }

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape(r"/trailing\04"), r"/trailing\04");
    }

    #[test]
    fn proc_self_cgroup_of_this_machine() {
        let text = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/817d\n1:cpu:/\n0::/\n";
        let own = ProcSelfCgroup::parse(text).unwrap();
        assert_eq!(own.v1.len(), 4);
        assert_eq!(own.v1_path("memory"), Some("/process_api/817d"));
        assert_eq!(own.v1_path("name=systemd"), Some("/"));
        assert_eq!(own.unified.as_deref(), Some("/"));
    }

    #[test]
    fn proc_self_cgroup_pure_v2_and_colons_in_path() {
        let own = ProcSelfCgroup::parse("0::/user.slice/a:b.scope\n").unwrap();
        assert!(own.v1.is_empty());
        assert_eq!(own.unified.as_deref(), Some("/user.slice/a:b.scope"));
        assert!(ProcSelfCgroup::parse("garbage\n").is_err());
    }
}
