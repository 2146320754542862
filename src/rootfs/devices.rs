//! /dev inside the rootfs: device nodes (mknod, or bind mounts of the host's nodes in a user
//! namespace where mknod is refused), /dev/ptmx -> pts/ptmx and the /proc/self/fd links.

use std::fs::Permissions;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstat, makedev, umask, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use pathrs::{InodeType, Root};

use super::mounts::{ensure_file, mkdir_all, path_error, resolve_existing};
use super::types::{DevSetup, DeviceKind, DeviceNode};
use super::{pathrs_errno, RootfsError};
use crate::sys::mount::{self as sysmount, OPEN_TREE_CLONE};

/// Links every container gets in /dev (runc's list); /dev/core only where /proc/kcore exists.
const DEV_SYMLINKS: [(&str, &str); 4] = [
    ("/dev/fd", "/proc/self/fd"),
    ("/dev/stdin", "/proc/self/fd/0"),
    ("/dev/stdout", "/proc/self/fd/1"),
    ("/dev/stderr", "/proc/self/fd/2"),
];

pub(super) fn setup_dev(root: &Root, dev: &DevSetup) -> Result<(), RootfsError> {
    mkdir_all(root, Path::new("/dev"))?;
    // Device modes are exact, as the spec gives them.
    let old_umask = umask(Mode::empty());
    let result = dev
        .devices
        .iter()
        .try_for_each(|node| create_device(root, node, dev.bind_from_host));
    umask(old_umask);
    result?;
    setup_ptmx(root)?;
    let kcore = Path::new("/proc/kcore")
        .exists()
        .then_some(("/dev/core", "/proc/kcore"));
    for (link, target) in DEV_SYMLINKS.into_iter().chain(kcore) {
        symlink(root, Path::new(link), target)?;
    }
    Ok(())
}

fn symlink(root: &Root, link: &Path, target: &str) -> Result<(), RootfsError> {
    match root.create(link, &InodeType::Symlink(PathBuf::from(target))) {
        Err(e) if pathrs_errno(&e) != Some(libc::EEXIST) => Err(path_error("symlink", link)(e)),
        _ => Ok(()),
    }
}

/// /dev/ptmx must be the devpts instance's ptmx (mounted at /dev/pts with newinstance), not the
/// host's multiplexer.
fn setup_ptmx(root: &Root) -> Result<(), RootfsError> {
    let ptmx = Path::new("/dev/ptmx");
    if resolve_existing(root, ptmx, true)?.is_none() {
        return symlink(root, ptmx, "pts/ptmx");
    }
    match root.remove_file(ptmx) {
        Err(e) if pathrs_errno(&e) != Some(libc::ENOENT) => {
            return Err(path_error("remove", ptmx)(e))
        }
        _ => {}
    }
    symlink(root, ptmx, "pts/ptmx")
}

fn device_err(step: &'static str, path: &Path) -> impl FnOnce(nix::errno::Errno) -> RootfsError {
    let path = path.to_path_buf();
    move |errno| RootfsError::Device { step, path, errno }
}

fn create_device(root: &Root, node: &DeviceNode, bind: bool) -> Result<(), RootfsError> {
    if let Some(parent) = node.path.parent() {
        mkdir_all(root, parent)?;
    }
    if bind {
        return bind_device(root, node);
    }
    let perm = Permissions::from_mode(node.mode);
    let rdev = makedev(node.major, node.minor);
    let inode = match node.kind {
        DeviceKind::Char => InodeType::CharacterDevice(perm, rdev),
        DeviceKind::Block => InodeType::BlockDevice(perm, rdev),
        DeviceKind::Fifo => InodeType::Fifo(perm),
    };
    match root.create(&node.path, &inode) {
        Ok(()) => {}
        // The spec: an existing file that is not the requested device is an error.
        Err(e) if pathrs_errno(&e) == Some(libc::EEXIST) => return check_existing(root, node),
        // No CAP_MKNOD (e.g. dropped from the bounding set of a privileged runtime): bind.
        Err(e) if pathrs_errno(&e) == Some(libc::EPERM) => return bind_device(root, node),
        Err(e) => return Err(path_error("mknod", &node.path)(e)),
    }
    let handle = resolve_existing(root, &node.path, true)?
        .ok_or_else(|| device_err("resolve", &node.path)(nix::errno::Errno::ENOENT))?;
    fchownat(
        Some(handle.as_fd().as_raw_fd()),
        "",
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::AT_EMPTY_PATH,
    )
    .map_err(device_err("chown", &node.path))
}

fn check_existing(root: &Root, node: &DeviceNode) -> Result<(), RootfsError> {
    let handle = root
        .resolve_nofollow(&node.path)
        .map_err(path_error("resolve", &node.path))?;
    let st = fstat(handle.as_fd().as_raw_fd()).map_err(device_err("stat", &node.path))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let matches = match node.kind {
        DeviceKind::Char => kind == SFlag::S_IFCHR && st.st_rdev == makedev(node.major, node.minor),
        DeviceKind::Block => {
            kind == SFlag::S_IFBLK && st.st_rdev == makedev(node.major, node.minor)
        }
        DeviceKind::Fifo => kind == SFlag::S_IFIFO,
    };
    if matches {
        Ok(())
    } else {
        Err(RootfsError::DeviceMismatch {
            path: node.path.clone(),
        })
    }
}

/// Bind the host's node at the same path over an empty file: the only way to get a device into
/// a container whose user namespace may not mknod.
fn bind_device(root: &Root, node: &DeviceNode) -> Result<(), RootfsError> {
    let target = ensure_file(root, &node.path)?;
    let tree = sysmount::open_tree(&node.path, OPEN_TREE_CLONE)
        .map_err(device_err("open host node", &node.path))?;
    sysmount::move_mount(tree.as_fd(), target.as_fd())
        .map_err(device_err("bind host node", &node.path))
}
