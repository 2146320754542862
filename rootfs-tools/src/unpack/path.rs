//! What a layer entry's name means: a path inside the rootfs (cleaned with chroot semantics:
//! `..` stops at the root, a leading `/` is the rootfs's root), or a whiteout.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Prefix of a whiteout file: `.wh.NAME` removes NAME of the lower layers.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The marker that makes its directory opaque: nothing of the lower layers shows through.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of AUFS's own bookkeeping entries (hard link directories and the like), which layers
/// made on AUFS hosts sometimes carry; they mean nothing to an unpacked rootfs.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// `raw` as a relative path in the rootfs, `..` clamped at the root like `/..` is. The empty
/// path is the rootfs itself.
pub fn clean(raw: &Path) -> PathBuf {
    let mut clean = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::ParentDir => {
                clean.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    clean
}

/// What an entry does to the tree.
#[derive(Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Create or replace this path.
    Write,
    /// Remove `parent/name` as the lower layers have it.
    Whiteout { name: &'a OsStr },
    /// Remove every lower-layer entry of `parent`.
    Opaque,
    /// AUFS bookkeeping: skip.
    Ignore,
}

/// Classifies an entry by its (cleaned) file name.
pub fn action(path: &Path) -> Action<'_> {
    let Some(name) = path.file_name() else {
        return Action::Write;
    };
    let bytes = name.as_bytes();
    if bytes == OPAQUE_MARKER.as_bytes() {
        Action::Opaque
    } else if bytes.starts_with(AUFS_META_PREFIX.as_bytes()) {
        Action::Ignore
    } else if let Some(rest) = bytes.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        if rest.is_empty() || rest == b"." || rest == b".." {
            Action::Ignore
        } else {
            Action::Whiteout {
                name: OsStr::from_bytes(rest),
            }
        }
    } else {
        Action::Write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_clamps_at_the_root() {
        assert_eq!(clean(Path::new("../escape")), Path::new("escape"));
        assert_eq!(clean(Path::new("/abs/file")), Path::new("abs/file"));
        assert_eq!(clean(Path::new("./a/./b/")), Path::new("a/b"));
        assert_eq!(clean(Path::new("a/../../../b/../c")), Path::new("c"));
        assert_eq!(clean(Path::new("./")), Path::new(""));
        assert_eq!(clean(Path::new("/..")), Path::new(""));
    }

    #[test]
    fn whiteouts_and_opaque_markers() {
        assert_eq!(action(Path::new("etc/passwd")), Action::Write);
        assert_eq!(action(Path::new("")), Action::Write);
        assert_eq!(
            action(Path::new("etc/.wh.passwd")),
            Action::Whiteout {
                name: OsStr::new("passwd")
            }
        );
        assert_eq!(action(Path::new("var/.wh..wh..opq")), Action::Opaque);
        assert_eq!(action(Path::new(".wh..wh.plnk")), Action::Ignore);
        assert_eq!(action(Path::new("a/.wh.")), Action::Ignore);
        assert_eq!(action(Path::new("a/.wh...")), Action::Ignore);
        assert_eq!(action(Path::new("a.wh.b")), Action::Write);
    }
}
