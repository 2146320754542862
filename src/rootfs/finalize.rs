//! The steps after the switch into the rootfs, all relative to the container's own /:
//! read-only remounts, root.readonly, sysctl writes, readonlyPaths, maskedPaths. Only
//! fd-based mount calls here: the container's /proc is not trusted as a path to the kernel.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::stat::{fstat, makedev, SFlag};
use pathrs::flags::OpenFlags;
use pathrs::{Handle, Root, RootRef};

use super::mounts::{self, is_procfs, path_error, resolve};
use super::types::{RootfsPlan, Sysctl};
use super::{pathrs_errno, RootfsError};
use crate::sys::mount::{self as sysmount, MountAttr, AT_RECURSIVE, OPEN_TREE_CLONE};

const READ_ONLY: MountAttr<'static> = MountAttr {
    set: libc::MOUNT_ATTR_RDONLY,
    clear: 0,
    propagation: 0,
    userns: None,
};

pub(super) fn finalize(plan: &RootfsPlan) -> Result<(), RootfsError> {
    let root = Root::open("/").map_err(path_error("open", Path::new("/")))?;
    for path in &plan.readonly_remounts {
        let mounted = resolve(&root, path)?;
        sysmount::mount_setattr(mounted.as_fd(), false, &READ_ONLY).map_err(|errno| {
            RootfsError::RemountReadonly {
                path: path.clone(),
                errno,
            }
        })?;
    }
    if plan.readonly_root {
        // The Root descriptor is the container's / itself, the root of its mount.
        sysmount::mount_setattr(root.as_fd(), false, &READ_ONLY).map_err(|errno| {
            RootfsError::RemountReadonly {
                path: "/".into(),
                errno,
            }
        })?;
    }
    if !plan.sysctl.is_empty() {
        write_sysctls(&root, &plan.sysctl)?;
    }
    for path in &plan.readonly_paths {
        readonly_path(&root, path)?;
    }
    let mut dev_null = None;
    for path in &plan.masked_paths {
        mask_path(&root, path, &mut dev_null)?;
    }
    Ok(())
}

/// Resolve `path`, `None` when it does not exist (missing masked and readonly paths are
/// skipped, as runc does).
fn resolve_existing(root: &Root, path: &Path) -> Result<Option<Handle>, RootfsError> {
    mounts::resolve_existing(root, path, false)
}

/// Write each value to /proc/sys/<path>, checking that what we write to is procfs (a container
/// could have put anything at /proc).
fn write_sysctls(root: &Root, sysctls: &[Sysctl]) -> Result<(), RootfsError> {
    let first = &sysctls[0].key;
    let err = |step: &'static str, key: &str| {
        let key = key.to_string();
        move |errno: Errno| RootfsError::Sysctl { key, step, errno }
    };
    let pathrs_err = |step: &'static str, key: &str| {
        let key = key.to_string();
        move |e: pathrs::error::Error| RootfsError::Sysctl {
            key,
            step,
            errno: Errno::from_raw(pathrs_errno(&e).unwrap_or(libc::EIO)),
        }
    };
    let dir = OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC;
    let proc = root
        .resolve("/proc")
        .and_then(|h| h.reopen(dir))
        .map_err(pathrs_err("open /proc", first))?;
    if !is_procfs(proc.as_fd()) {
        return Err(err("/proc is not procfs", first)(Errno::EXDEV));
    }
    let proc_root = RootRef::from_fd(proc.as_fd());
    for sysctl in sysctls {
        let path = Path::new("sys").join(&sysctl.path);
        let mut file = proc_root
            .resolve(&path)
            .and_then(|h| h.reopen(OpenFlags::O_WRONLY | OpenFlags::O_CLOEXEC))
            .map_err(pathrs_err("open", &sysctl.key))?;
        if !is_procfs(file.as_fd()) {
            return Err(err("not a procfs file", &sysctl.key)(Errno::EXDEV));
        }
        file.write_all(sysctl.value.as_bytes()).map_err(|e| {
            err("write", &sysctl.key)(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
        })?;
    }
    Ok(())
}

/// Bind the path (with its submounts) over itself and make the whole tree read-only. Only the
/// read-only bit is set: nosuid/nodev/noexec of the path are kept.
fn readonly_path(root: &Root, path: &Path) -> Result<(), RootfsError> {
    let Some(target) = resolve_existing(root, path)? else {
        return Ok(());
    };
    let err = |step: &'static str| {
        let path = path.to_path_buf();
        move |errno| RootfsError::ReadonlyPath { path, step, errno }
    };
    let tree = sysmount::open_tree_fd(target.as_fd(), OPEN_TREE_CLONE | AT_RECURSIVE)
        .map_err(err("clone"))?;
    sysmount::mount_setattr(tree.as_fd(), true, &READ_ONLY).map_err(err("set read-only"))?;
    sysmount::move_mount(tree.as_fd(), target.as_fd()).map_err(err("attach"))
}

/// Hide a path: a directory under an empty read-only tmpfs, anything else under /dev/null.
fn mask_path(root: &Root, path: &Path, dev_null: &mut Option<Handle>) -> Result<(), RootfsError> {
    let Some(target) = resolve_existing(root, path)? else {
        return Ok(());
    };
    let err = |step: &'static str| {
        let path = path.to_path_buf();
        move |errno| RootfsError::MaskPath { path, step, errno }
    };
    let st = fstat(target.as_fd().as_raw_fd()).map_err(err("stat"))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR;
    let cover = if is_dir {
        let fs = sysmount::fsopen("tmpfs").map_err(err("open tmpfs"))?;
        sysmount::fsconfig_create(fs.as_fd()).map_err(err("create tmpfs"))?;
        sysmount::fsmount(fs.as_fd(), libc::MOUNT_ATTR_RDONLY).map_err(err("mount tmpfs"))?
    } else {
        if dev_null.is_none() {
            *dev_null = Some(checked_dev_null(root).map_err(err("/dev/null"))?);
        }
        let null = dev_null
            .as_ref()
            .map(|h| h.as_fd())
            .ok_or(Errno::ENOENT)
            .map_err(err("/dev/null"))?;
        sysmount::open_tree_fd(null, OPEN_TREE_CLONE).map_err(err("clone /dev/null"))?
    };
    sysmount::move_mount(cover.as_fd(), target.as_fd()).map_err(err("attach"))
}

/// The container's /dev/null, refused unless it is the real null device: binding whatever a
/// hostile image put there over a masked path would unmask it (CVE-2025-31133).
fn checked_dev_null(root: &Root) -> Result<Handle, Errno> {
    let handle = root
        .resolve_nofollow("/dev/null")
        .map_err(|e| Errno::from_raw(pathrs_errno(&e).unwrap_or(libc::EIO)))?;
    let st = fstat(handle.as_fd().as_raw_fd())?;
    let is_chr = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFCHR;
    if is_chr && st.st_rdev == makedev(1, 3) {
        Ok(handle)
    } else {
        Err(Errno::ENODEV)
    }
}
