//! /proc/self/mountinfo, for the few decisions that depend on the current mounts: whether the
//! mount holding the rootfs is shared, and which host procfs/sysfs mounts to hide before a chroot.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// Path of the mounted directory inside the mount's filesystem ("/" for a whole filesystem).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields such as "shared:12" or "master:3".
    pub optional: Vec<String>,
    pub fstype: String,
}

impl MountInfo {
    pub fn is_shared(&self) -> bool {
        self.optional.iter().any(|f| f.starts_with("shared:"))
    }
}

/// Parse mountinfo text; malformed lines are skipped.
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<MountInfo> {
    // id parent major:minor root mount_point options [optional...] - fstype source super_options
    let mut fields = line.split(' ');
    let root = fields.nth(3)?;
    let mount_point = fields.next()?;
    fields.next()?;
    let mut optional = Vec::new();
    loop {
        match fields.next()? {
            "-" => break,
            field => optional.push(field.to_string()),
        }
    }
    let fstype = fields.next()?;
    Some(MountInfo {
        root: PathBuf::from(unescape(root)),
        mount_point: PathBuf::from(unescape(mount_point)),
        optional,
        fstype: unescape(fstype),
    })
}

/// The kernel escapes space, tab, newline and backslash as \ooo octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount `path` lives on: the last (topmost) of the mounts with the longest mount point that
/// is `path` or one of its ancestors.
pub fn containing_mount<'a>(mounts: &'a [MountInfo], path: &Path) -> Option<&'a MountInfo> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.mount_point))
        .max_by_key(|(i, m)| (m.mount_point.components().count(), *i))
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 27 0:37 / /var/lib/with\\040space rw,relatime shared:7 master:2 - ext4 /dev/vdb rw
41 40 0:38 /sub /var/lib/with\\040space/bundle/rootfs rw - overlay overlay rw
42 27 0:39 / /var rw - tmpfs tmpfs rw
43 42 0:40 / /var rw - tmpfs tmpfs rw
bogus line
";

    #[test]
    fn parses_fields_and_unescapes() {
        let mounts = parse_mountinfo(SAMPLE);
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[0].fstype, "proc");
        assert!(!mounts[0].is_shared());
        assert!(mounts[1].is_shared());
        assert_eq!(mounts[2].mount_point, Path::new("/var/lib/with space"));
        assert_eq!(mounts[2].optional, vec!["shared:7", "master:2"]);
        assert_eq!(mounts[3].root, Path::new("/sub"));
    }

    #[test]
    fn containing_mount_is_longest_prefix_and_topmost() {
        let mounts = parse_mountinfo(SAMPLE);
        let rootfs = Path::new("/var/lib/with space/bundle/rootfs");
        assert_eq!(containing_mount(&mounts, rootfs).unwrap().fstype, "overlay");
        let other = Path::new("/var/lib/with space/bundle");
        assert_eq!(containing_mount(&mounts, other).unwrap().fstype, "ext4");
        // Component-wise: /var/lib/withspace... is not under /var/lib/with space.
        let var = containing_mount(&mounts, Path::new("/var/x")).unwrap();
        assert_eq!(var.mount_point, Path::new("/var"));
        assert!(
            std::ptr::eq(var, &mounts[5]),
            "the topmost of two mounts on /var"
        );
        assert_eq!(
            containing_mount(&mounts, Path::new("/etc"))
                .unwrap()
                .mount_point,
            Path::new("/")
        );
    }
}
