//! Fast paths for the common lookups inside the rootfs, in front of pathrs.
//!
//! pathrs resolves with exactly one `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, but
//! around it, per call, it builds its error values eagerly (a failed lookup reads the fd's
//! path back through a freshly checked /proc: about 8 syscalls) and `mkdir_all` re-validates
//! its cached procfs handle and reopens the directory through it (about 40 syscalls even when
//! the directory exists). A container start makes some 40 such calls: 800 of the child's 1,100
//! syscalls, about 1 ms. Here the same `openat2` answers the two cheap outcomes, found and
//! missing; anything else (a symlink to follow while creating, EXDEV, ENOSYS on an old
//! kernel...) goes back to pathrs, whose checks and error messages stay the reference.

use std::os::fd::AsFd;
use std::path::{Component, Path};

use nix::errno::Errno;
use nix::fcntl::{OFlag, ResolveFlag};
use nix::sys::stat::Mode;
use pathrs::{Handle, Root};

use crate::sys::fd::openat2;

/// What a fast lookup found.
pub(super) enum Lookup {
    Found(Handle),
    /// ENOENT: a component does not exist.
    Missing,
    /// Anything else: ask pathrs.
    Ask,
}

/// `path` inside `root`, as pathrs's `resolve` (trailing symlink followed inside the root) or
/// `resolve_nofollow` would find it.
pub(super) fn lookup(root: &Root, path: &Path, nofollow: bool) -> Lookup {
    let flags = if nofollow {
        OFlag::O_PATH | OFlag::O_NOFOLLOW
    } else {
        OFlag::O_PATH
    };
    match in_root(root, path, flags) {
        Ok(handle) => Lookup::Found(handle),
        Err(Errno::ENOENT) => Lookup::Missing,
        Err(_) => Lookup::Ask,
    }
}

/// The directory `path` inside `root`, made (mode 0755 before umask, as pathrs makes them)
/// with its missing parents when it is a plain path. `None`: ask pathrs (symlinks or `..` in
/// the part to create, something in the way, an old kernel).
pub(super) fn mkdir_all(root: &Root, path: &Path) -> Option<Handle> {
    match in_root(root, path, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(handle) => return Some(handle),
        Err(Errno::ENOENT) => {}
        Err(_) => return None,
    }
    let name = match path.components().next_back()? {
        Component::Normal(name) => name,
        _ => return None,
    };
    let parent = mkdir_all(root, path.parent()?)?;
    match nix::sys::stat::mkdirat(
        Some(std::os::fd::AsRawFd::as_raw_fd(&parent.as_fd())),
        name,
        Mode::from_bits_truncate(0o755),
    ) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(_) => return None,
    }
    // One plain component below a directory we hold: no symlink may stand there now.
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
    let resolve = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS;
    openat2(parent.as_fd(), Path::new(name), flags, resolve)
        .ok()
        .map(Handle::from_fd)
}

fn in_root(root: &Root, path: &Path, flags: OFlag) -> Result<Handle, Errno> {
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    openat2(root.as_fd(), path, flags, resolve).map(Handle::from_fd)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn found(l: Lookup) -> Option<Handle> {
        match l {
            Lookup::Found(h) => Some(h),
            _ => None,
        }
    }

    #[test]
    fn lookups_stay_in_the_root_and_tell_missing_from_other_failures() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        std::fs::create_dir_all(r.join("etc")).unwrap();
        std::fs::write(r.join("etc/file"), "x").unwrap();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../etc", r.join("up")).unwrap();
        let root = Root::open(r).unwrap();
        // Absolute and escaping links resolve inside the root, as pathrs resolves them.
        for p in ["/abs/file", "/up/file", "etc/file"] {
            let h = found(lookup(&root, Path::new(p), false)).unwrap();
            let host = nix::fcntl::readlink(&crate::sys::mount::proc_fd_path(h.as_fd())).unwrap();
            assert_eq!(Path::new(&host), r.join("etc/file"), "{p}");
        }
        assert!(matches!(
            lookup(&root, Path::new("/nope/x"), false),
            Lookup::Missing
        ));
        // Not a directory on the way: neither found nor missing.
        assert!(matches!(
            lookup(&root, Path::new("/etc/file/x"), false),
            Lookup::Ask
        ));
        // nofollow: the link itself.
        let link = found(lookup(&root, Path::new("/abs"), true)).unwrap();
        let st = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&link.as_fd())).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    }

    #[test]
    fn mkdir_all_makes_plain_paths_and_leaves_links_to_pathrs() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let root = Root::open(r).unwrap();
        assert!(mkdir_all(&root, Path::new("/a/b/c")).is_some());
        assert!(r.join("a/b/c").is_dir());
        // Existing (through a link inside the root): found as is.
        symlink("/a/b", r.join("l")).unwrap();
        assert!(mkdir_all(&root, Path::new("/l/c")).is_some());
        // A dangling link where a directory should be made: pathrs's business.
        symlink("/nowhere", r.join("dangling")).unwrap();
        assert!(mkdir_all(&root, Path::new("/dangling")).is_none());
        assert!(!r.join("nowhere").exists());
        // `..` in the part to make.
        assert!(mkdir_all(&root, Path::new("/x/../y")).is_none());
        // A file in the way.
        std::fs::write(r.join("f"), "").unwrap();
        assert!(mkdir_all(&root, Path::new("/f/g")).is_none());
    }
}
