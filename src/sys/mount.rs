//! The fd-based mount API (Linux 5.2+, mount_setattr 5.12+): `open_tree`, `move_mount`,
//! `mount_setattr`, `fsopen`, `fsconfig`, `fsmount`. Mounting onto an `O_PATH` fd instead of a
//! path string is what keeps container mounts from being redirected by symlinks in the rootfs.
//! The classic `mount(2)`/`umount2(2)` come from nix and need no wrapper here.
#![allow(dead_code)]

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;

/// Flags of `open_tree(2)`.
pub const OPEN_TREE_CLONE: u32 = libc::OPEN_TREE_CLONE;
/// `AT_RECURSIVE`: clone or change a whole mount tree, not only its top mount.
pub const AT_RECURSIVE: u32 = libc::AT_RECURSIVE as u32;

/// Attribute changes for `mount_setattr(2)`. `MOUNT_ATTR_*` bits in `set` are switched on, those
/// in `clear` off; `propagation` is one of `MS_SHARED`, `MS_SLAVE`, `MS_PRIVATE`,
/// `MS_UNBINDABLE` (or 0 to leave it); `userns` is required with `MOUNT_ATTR_IDMAP`.
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr<'a> {
    pub set: u64,
    pub clear: u64,
    pub propagation: u64,
    pub userns: Option<BorrowedFd<'a>>,
}

fn path_cstring(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

fn fd_result(ret: libc::c_long) -> Result<OwnedFd, Errno> {
    if ret < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as RawFd) })
}

fn unit_result(ret: libc::c_long) -> Result<(), Errno> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// `open_tree(AT_FDCWD, path, OPEN_TREE_CLOEXEC | flags)`: with `OPEN_TREE_CLONE` a detached copy
/// of the mount at `path` (and its submounts with `AT_RECURSIVE`), like a bind mount that is not
/// attached anywhere yet.
pub fn open_tree(path: &Path, flags: u32) -> Result<OwnedFd, Errno> {
    let c_path = path_cstring(path)?;
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call; the flags are plain
    // integers and the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::OPEN_TREE_CLOEXEC | flags,
        )
    };
    fd_result(ret)
}

/// `open_tree(fd, "", AT_EMPTY_PATH | OPEN_TREE_CLOEXEC | flags)`: the same for the file `fd`
/// refers to (an `O_PATH` handle from a scoped lookup).
pub fn open_tree_fd(fd: BorrowedFd<'_>, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: fd is a live descriptor for the duration of the call, the path is a static empty
    // C string; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32 | flags,
        )
    };
    fd_result(ret)
}

/// `move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)`: attach the
/// (detached or attached) mount `from` on top of the file or directory `to` refers to.
pub fn move_mount(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: both descriptors are live for the duration of the call and the paths are static
    // empty C strings; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    unit_result(ret)
}

/// `mount_setattr(fd, "", AT_EMPTY_PATH [| AT_RECURSIVE], attr)`: change the attributes of the
/// mount whose root `fd` refers to (`EINVAL` when `fd` is not a mount root).
pub fn mount_setattr(
    fd: BorrowedFd<'_>,
    recursive: bool,
    attr: &MountAttr<'_>,
) -> Result<(), Errno> {
    let mut raw = libc::mount_attr {
        attr_set: attr.set,
        attr_clr: attr.clear,
        propagation: attr.propagation,
        userns_fd: attr.userns.map_or(0, |fd| fd.as_raw_fd() as u64),
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: fd (and the userns fd, if any) are live for the duration of the call; raw is a
    // properly initialised mount_attr whose size we pass; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &mut raw as *mut libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    unit_result(ret)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a filesystem context to configure with [`fsconfig_string`]
/// and [`fsconfig_create`].
pub fn fsopen(fstype: &str) -> Result<OwnedFd, Errno> {
    let c_type = CString::new(fstype).map_err(|_| Errno::EINVAL)?;
    // SAFETY: c_type is a valid C string that outlives the call; the result is checked.
    let ret = unsafe { libc::syscall(libc::SYS_fsopen, c_type.as_ptr(), libc::FSOPEN_CLOEXEC) };
    fd_result(ret)
}

/// `fsconfig(fs, FSCONFIG_SET_STRING, key, value, 0)`.
pub fn fsconfig_string(fs: BorrowedFd<'_>, key: &str, value: &str) -> Result<(), Errno> {
    let c_key = CString::new(key).map_err(|_| Errno::EINVAL)?;
    let c_value = CString::new(value).map_err(|_| Errno::EINVAL)?;
    fsconfig(fs, libc::FSCONFIG_SET_STRING, Some(&c_key), Some(&c_value))
}

/// `fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`: create the superblock.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> Result<(), Errno> {
    fsconfig(fs, libc::FSCONFIG_CMD_CREATE, None, None)
}

fn fsconfig(
    fs: BorrowedFd<'_>,
    cmd: libc::c_uint,
    key: Option<&CStr>,
    value: Option<&CStr>,
) -> Result<(), Errno> {
    // SAFETY: fs is live; key and value are either null or valid C strings that outlive the
    // call; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            key.map_or(std::ptr::null(), CStr::as_ptr),
            value.map_or(std::ptr::null(), CStr::as_ptr),
            0,
        )
    };
    unit_result(ret)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr)`: a detached mount of the created superblock with the
/// `MOUNT_ATTR_*` bits in `attr`.
pub fn fsmount(fs: BorrowedFd<'_>, attr: u64) -> Result<OwnedFd, Errno> {
    // SAFETY: fs is live for the duration of the call; the result is checked.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            libc::FSMOUNT_CLOEXEC,
            attr as libc::c_uint,
        )
    };
    fd_result(ret)
}

/// The path of the magic link `/proc/self/fd/N` for `fd`, for the syscalls that only take paths
/// (`mount(2)` with filesystem data). Only valid while the process still sees a real procfs at
/// `/proc`, i.e. before pivot_root.
pub fn proc_fd_path(fd: BorrowedFd<'_>) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_tree_of_missing_path_reports_enoent() {
        // Unprivileged callers get EPERM for OPEN_TREE_CLONE, so only check the lookup part:
        // without CLONE, open_tree is a plain O_PATH open.
        let err = open_tree(Path::new("/nonexistent-cella-test"), 0).unwrap_err();
        assert_eq!(err, Errno::ENOENT);
        let fd = open_tree(Path::new("/"), 0).expect("open_tree / without clone");
        assert!(fd.as_raw_fd() >= 0);
    }

    #[test]
    fn path_with_nul_is_rejected() {
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/a\0b"));
        assert_eq!(open_tree(p, 0).unwrap_err(), Errno::EINVAL);
    }
}
