//! File operations relative to a directory fd that was resolved inside the rootfs. Every call
//! acts on the last component without following it (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, or a
//! `/proc/self/fd` path of an `O_PATH` handle whose type was checked), so no entry of a layer
//! can make the unpacker write through a symlink.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode, OFlags, Timestamps};
use rustix::fs::{Gid, Timespec, Uid, XattrFlags};
use rustix::io::Errno;

use super::meta::{Meta, Time};

pub(crate) fn io_err(errno: Errno) -> io::Error {
    io::Error::from_raw_os_error(errno.raw_os_error())
}

/// The errno of a pathrs error, when it came from a system call.
pub(crate) fn pathrs_errno(err: &pathrs::error::Error) -> Option<i32> {
    match err.kind() {
        pathrs::error::ErrorKind::OsError(errno) => errno,
        _ => None,
    }
}

fn timespec(t: Time) -> Timespec {
    Timespec {
        tv_sec: t.sec,
        tv_nsec: t.nsec,
    }
}

pub(crate) fn timestamps(meta: &Meta) -> Timestamps {
    Timestamps {
        last_access: timespec(meta.atime),
        last_modification: timespec(meta.mtime),
    }
}

fn mode(bits: u32) -> Mode {
    Mode::from_raw_mode(bits & 0o7777)
}

/// Creates a new regular file for writing; fails with EEXIST if anything is at `name`.
pub(crate) fn create_file(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<File> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rfs::openat(dir, name, flags, Mode::from_raw_mode(0o600))
        .map(File::from)
        .map_err(io_err)
}

/// Opens an existing directory (not a symlink to one) for metadata changes.
pub(crate) fn open_dir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    rfs::openat(dir, name, flags, Mode::empty()).map_err(io_err)
}

pub(crate) fn mkdir(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    rfs::mkdirat(dir, name, Mode::from_raw_mode(0o700)).map_err(io_err)
}

pub(crate) fn symlink(target: &OsStr, dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    rfs::symlinkat(target, dir, name).map_err(io_err)
}

/// Hard-links `target_dir/target_name` (itself, never what it may point to) as `dir/name`.
pub(crate) fn hard_link(
    target_dir: BorrowedFd<'_>,
    target_name: &OsStr,
    dir: BorrowedFd<'_>,
    name: &OsStr,
) -> io::Result<()> {
    rfs::linkat(target_dir, target_name, dir, name, AtFlags::empty()).map_err(io_err)
}

/// Special files: character and block devices, fifos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Special {
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

impl Special {
    fn file_type(self) -> FileType {
        match self {
            Special::Char { .. } => FileType::CharacterDevice,
            Special::Block { .. } => FileType::BlockDevice,
            Special::Fifo => FileType::Fifo,
        }
    }
}

pub(crate) fn mknod(dir: BorrowedFd<'_>, name: &OsStr, special: Special) -> io::Result<()> {
    let dev = match special {
        Special::Char { major, minor } | Special::Block { major, minor } => {
            rfs::makedev(major, minor)
        }
        Special::Fifo => 0,
    };
    rfs::mknodat(
        dir,
        name,
        special.file_type(),
        Mode::from_raw_mode(0o600),
        dev,
    )
    .map_err(io_err)
}

/// What is at `dir/name`, not following a symlink; `None` when nothing is.
pub(crate) fn file_type_at(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<Option<FileType>> {
    match rfs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
        Err(Errno::NOENT) => Ok(None),
        Err(errno) => Err(io_err(errno)),
    }
}

pub(crate) fn unlink(dir: BorrowedFd<'_>, name: &OsStr) -> io::Result<()> {
    rfs::unlinkat(dir, name, AtFlags::empty()).map_err(io_err)
}

/// A failed metadata step: which one, for the caller's error message.
#[derive(Debug)]
pub(crate) enum MetaError {
    Chown(io::Error),
    Chmod(io::Error),
    Times(io::Error),
    Xattr { name: String, source: io::Error },
}

/// Sets owner, mode, extended attributes and times of an open regular file or directory, in
/// that order: chown clears set-id bits and file capabilities, so mode and xattrs come after.
/// Directories' times are left to the caller (entries written later would change them).
pub(crate) fn set_meta_fd(
    fd: BorrowedFd<'_>,
    meta: &Meta,
    times: bool,
    xattr_failed: &mut dyn FnMut(&str, io::Error) -> Result<(), MetaError>,
) -> Result<(), MetaError> {
    chown_fd(fd, meta)?;
    rfs::fchmod(fd, mode(meta.mode)).map_err(|e| MetaError::Chmod(io_err(e)))?;
    for (name, value) in &meta.xattrs {
        if let Err(errno) = rfs::fsetxattr(fd, name.as_str(), value, XattrFlags::empty()) {
            xattr_failed(name, io_err(errno))?;
        }
    }
    if times {
        rfs::futimens(fd, &timestamps(meta)).map_err(|e| MetaError::Times(io_err(e)))?;
    }
    Ok(())
}

fn chown_fd(fd: BorrowedFd<'_>, meta: &Meta) -> Result<(), MetaError> {
    let (uid, gid) = (Uid::from_raw(meta.uid), Gid::from_raw(meta.gid));
    rfs::fchown(fd, Some(uid), Some(gid)).map_err(|e| MetaError::Chown(io_err(e)))
}

/// Sets the metadata of a symlink or special file at `dir/name`.
pub(crate) fn set_meta_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    meta: &Meta,
    xattr_failed: &mut dyn FnMut(&str, io::Error) -> Result<(), MetaError>,
) -> Result<(), MetaError> {
    let (uid, gid) = (Uid::from_raw(meta.uid), Gid::from_raw(meta.gid));
    rfs::chownat(dir, name, Some(uid), Some(gid), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| MetaError::Chown(io_err(e)))?;
    // A handle on the inode itself (O_PATH does not open devices or fifos), checked not to be a
    // symlink; its /proc/self/fd link then reaches that inode and nothing else.
    let handle = rfs::openat(
        dir,
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| MetaError::Chmod(io_err(e)))?;
    let is_symlink = FileType::from_raw_mode(
        rfs::fstat(&handle)
            .map_err(|e| MetaError::Chmod(io_err(e)))?
            .st_mode,
    ) == FileType::Symlink;
    let fd_path = format!("/proc/self/fd/{}", handle.as_fd().as_raw_fd());
    if !is_symlink {
        rfs::chmodat(
            rfs::CWD,
            fd_path.as_str(),
            mode(meta.mode),
            AtFlags::empty(),
        )
        .map_err(|e| MetaError::Chmod(io_err(e)))?;
    }
    for (xname, value) in &meta.xattrs {
        let result = if is_symlink {
            // The parent's link is followed to the directory, the last component is not.
            let parent = format!("/proc/self/fd/{}", dir.as_raw_fd());
            let path = std::path::Path::new(&parent).join(name);
            rfs::lsetxattr(&path, xname.as_str(), value, XattrFlags::empty())
        } else {
            rfs::setxattr(fd_path.as_str(), xname.as_str(), value, XattrFlags::empty())
        };
        if let Err(errno) = result {
            xattr_failed(xname, io_err(errno))?;
        }
    }
    rfs::utimensat(dir, name, &timestamps(meta), AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| MetaError::Times(io_err(e)))
}

/// Sets the times of the directory `fd` is a handle on.
pub(crate) fn set_dir_times(fd: BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
    let dir = open_dir(fd, OsStr::new("."))?;
    rfs::futimens(&dir, &timestamps(meta)).map_err(io_err)
}

/// Names in the directory `fd` is a handle on, without `.` and `..`.
pub(crate) fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<std::ffi::OsString>> {
    use std::os::unix::ffi::OsStrExt;
    let dir = open_dir(fd, OsStr::new("."))?;
    let mut names = Vec::new();
    for entry in rfs::Dir::new(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    Ok(names)
}
