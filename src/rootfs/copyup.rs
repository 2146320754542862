//! `tmpcopyup`: copy the contents of the directory a new tmpfs hides into that tmpfs, keeping
//! modes and owners. Works on directory descriptors only: the source is the shadowed directory,
//! reachable only through the descriptor opened before the tmpfs was mounted over it.

use std::fs::Permissions;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstatat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};
use pathrs::flags::OpenFlags;
use pathrs::{InodeType, RootRef};

use super::pathrs_errno;

type CopyError = (PathBuf, Errno);

fn at(path: &Path) -> impl Fn(Errno) -> CopyError + '_ {
    move |errno| (path.to_path_buf(), errno)
}

fn pathrs_at(path: &Path) -> impl Fn(pathrs::error::Error) -> CopyError + '_ {
    move |e| {
        (
            path.to_path_buf(),
            Errno::from_raw(pathrs_errno(&e).unwrap_or(libc::EIO)),
        )
    }
}

/// Copy every entry of directory `src` into directory `dst`. `rel` is the path below the copy's
/// top, for error messages. Returns the failing path and errno.
pub(super) fn copy_tree(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    rel: &Path,
) -> Result<(), CopyError> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let mut dir = Dir::openat(Some(src.as_raw_fd()), ".", flags, Mode::empty()).map_err(at(rel))?;
    let names: Vec<std::ffi::OsString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| std::ffi::OsStr::from_bytes(e.file_name().to_bytes()).to_os_string())
        .filter(|n| n != "." && n != "..")
        .collect();
    let (src_root, dst_root) = (RootRef::from_fd(src), RootRef::from_fd(dst));
    for name in names {
        let path = rel.join(&name);
        let st = fstatat(
            Some(src.as_raw_fd()),
            name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(at(&path))?;
        let perm = Permissions::from_mode(st.st_mode & 0o7777);
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        match kind {
            SFlag::S_IFDIR => {
                dst_root
                    .create(&name, &InodeType::Directory(perm))
                    .map_err(pathrs_at(&path))?;
                let open = OpenFlags::O_RDONLY | OpenFlags::O_DIRECTORY | OpenFlags::O_CLOEXEC;
                let sub_src = src_root
                    .resolve_nofollow(&name)
                    .and_then(|h| h.reopen(open));
                let sub_dst = dst_root
                    .resolve_nofollow(&name)
                    .and_then(|h| h.reopen(open));
                copy_tree(
                    sub_src.map_err(pathrs_at(&path))?.as_fd(),
                    sub_dst.map_err(pathrs_at(&path))?.as_fd(),
                    &path,
                )?;
            }
            SFlag::S_IFREG => {
                let mut from = src_root
                    .resolve_nofollow(&name)
                    .and_then(|h| h.reopen(OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC))
                    .map_err(pathrs_at(&path))?;
                let flags = OpenFlags::O_WRONLY
                    | OpenFlags::O_EXCL
                    | OpenFlags::O_NOFOLLOW
                    | OpenFlags::O_CLOEXEC;
                let mut to = dst_root
                    .create_file(&name, flags, &perm)
                    .map_err(pathrs_at(&path))?;
                std::io::copy(&mut from, &mut to).map_err(|e| {
                    (
                        path.clone(),
                        Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                    )
                })?;
            }
            SFlag::S_IFLNK => {
                let target = nix::fcntl::readlinkat(Some(src.as_raw_fd()), name.as_os_str())
                    .map_err(at(&path))?;
                dst_root
                    .create(&name, &InodeType::Symlink(target.into()))
                    .map_err(pathrs_at(&path))?;
            }
            SFlag::S_IFCHR => {
                dst_root
                    .create(&name, &InodeType::CharacterDevice(perm, st.st_rdev))
                    .map_err(pathrs_at(&path))?;
            }
            SFlag::S_IFBLK => {
                dst_root
                    .create(&name, &InodeType::BlockDevice(perm, st.st_rdev))
                    .map_err(pathrs_at(&path))?;
            }
            SFlag::S_IFIFO => {
                dst_root
                    .create(&name, &InodeType::Fifo(perm))
                    .map_err(pathrs_at(&path))?;
            }
            // Sockets cannot be copied: they only mean something to their listener.
            _ => continue,
        }
        let (uid, gid) = (
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
        );
        fchownat(
            Some(dst.as_raw_fd()),
            name.as_os_str(),
            uid,
            gid,
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(at(&path))?;
        if kind != SFlag::S_IFLNK {
            // After chown (which clears setuid bits) and without the umask's interference.
            let mode = Mode::from_bits_truncate(st.st_mode & 0o7777);
            // Not a symlink: we just created this entry ourselves.
            fchmodat(
                Some(dst.as_raw_fd()),
                name.as_os_str(),
                mode,
                FchmodatFlags::FollowSymlink,
            )
            .map_err(at(&path))?;
        }
    }
    Ok(())
}
