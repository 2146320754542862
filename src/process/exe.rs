//! The runtime's own binary, kept out of the containers' reach (CVE-2019-5736).
//!
//! Until its execve, a container process is a clone of the runtime: its /proc/PID/exe is the
//! binary the runtime was started from. Worse, when the container's program is a link to
//! /proc/self/exe (or a `#!/proc/self/exe` script), the kernel resolves that link in the
//! process doing the execve, so the runtime's binary itself runs in the container, dumpable;
//! any process of the container can open its /proc/PID/exe and write the file once nothing
//! executes it any more. Being non-dumpable until execve (init.rs) only covers the first
//! case, and not against CAP_SYS_PTRACE.
//!
//! So `create`, `run` and `exec`, before they clone anything, make sure the binary they run
//! from cannot be written through /proc/PID/exe. A binary on a read-only mount (an image-based
//! system, or one the administrator bound read-only) or in a sealed memfd is left alone.
//! Otherwise the runtime executes itself again, same arguments, environment and descriptors,
//! from a read-only clone of the mount of its binary (`open_tree` + `mount_setattr`: no copy,
//! about 1.5 ms), or, when that fails (Linux < 5.12, no CAP_SYS_ADMIN), from a sealed memfd
//! copy (about 5 ms for a 6 MB binary). The clone is detached: once our descriptor closes (at
//! that execve) it belongs to no mount namespace, so nobody can remount it read-write or bind
//! it elsewhere, CAP_SYS_ADMIN or not.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{fcntl, AtFlags, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::statvfs::{fstatvfs, FsFlags};

use crate::sys::mount::{self as sysmount, MountAttr, OPEN_TREE_CLONE};

/// Set in the environment of the execution from the protected binary, so that a check that
/// still finds it writable does not loop; removed again first thing.
const REEXECUTED: &str = "_CELLA_EXE_PROTECTED";

const SELF_EXE: &str = "/proc/self/exe";

#[derive(Debug, thiserror::Error)]
pub enum ExeError {
    #[error("open {SELF_EXE}: {0}")]
    Open(std::io::Error),
    #[error("statvfs {SELF_EXE}: {0}")]
    Statvfs(Errno),
    #[error("clone the mount of {SELF_EXE} read-only ({op}): {errno}")]
    ReadonlyClone { op: &'static str, errno: Errno },
    #[error("copy {SELF_EXE} into a sealed memfd ({op}): {source}")]
    SealedCopy {
        op: &'static str,
        source: std::io::Error,
    },
    #[error("execveat the protected binary: {0}")]
    Exec(Errno),
    #[error("still writable after executing from a read-only mount or sealed memfd")]
    StillWritable,
}

/// Returns once the running binary is protected: at once when it already is, else after
/// executing it again from a protected copy (this call then returns in the new program).
/// An error leaves the binary as it was; the caller may go on.
pub fn protect() -> Result<(), ExeError> {
    let reexecuted = std::env::var_os(REEXECUTED).is_some();
    std::env::remove_var(REEXECUTED);
    let exe = File::open(SELF_EXE).map_err(ExeError::Open)?;
    if write_protected(&exe)? {
        return Ok(());
    }
    if reexecuted {
        return Err(ExeError::StillWritable);
    }
    let protected = match readonly_clone() {
        Ok(fd) => fd,
        Err(clone_err) => {
            log::debug!("{clone_err}; falling back to a sealed memfd copy");
            sealed_copy(exe)?
        }
    };
    Err(reexec(&protected))
}

/// Whether nobody can write `file` through any descriptor of it: it is on a read-only mount
/// (or file system), or it is a memfd sealed against writes.
pub fn write_protected(file: &File) -> Result<bool, ExeError> {
    let st = fstatvfs(file.as_fd()).map_err(ExeError::Statvfs)?;
    if st.flags().contains(FsFlags::ST_RDONLY) {
        return Ok(true);
    }
    // EINVAL: not a file that supports seals.
    let seals = fcntl(file.as_raw_fd(), FcntlArg::F_GET_SEALS).unwrap_or(0);
    Ok(SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_WRITE))
}

/// The binary through a detached, read-only clone of its mount (only the file itself: a bind
/// mount of a file).
fn readonly_clone() -> Result<OwnedFd, ExeError> {
    let tree = sysmount::open_tree(Path::new(SELF_EXE), OPEN_TREE_CLONE).map_err(|errno| {
        ExeError::ReadonlyClone {
            op: "open_tree",
            errno,
        }
    })?;
    let read_only = MountAttr {
        set: libc::MOUNT_ATTR_RDONLY,
        ..MountAttr::default()
    };
    sysmount::mount_setattr(tree.as_fd(), false, &read_only).map_err(|errno| {
        ExeError::ReadonlyClone {
            op: "mount_setattr",
            errno,
        }
    })?;
    Ok(tree)
}

/// A copy of the binary in a memfd sealed against any change.
fn sealed_copy(mut exe: File) -> Result<OwnedFd, ExeError> {
    let err = |op| move |source| ExeError::SealedCopy { op, source };
    let errno = |op| {
        move |e: Errno| ExeError::SealedCopy {
            op,
            source: std::io::Error::from(e),
        }
    };
    let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
    let mut copy = File::from(memfd_create(c"cella", flags).map_err(errno("memfd_create"))?);
    std::io::copy(&mut exe, &mut copy).map_err(err("copy"))?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(copy.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals)).map_err(errno("seal"))?;
    Ok(OwnedFd::from(copy))
}

/// Executes `binary` with our arguments and environment (plus [`REEXECUTED`]); returns only
/// on failure. Our descriptors without close-on-exec (stdio, --preserve-fds, LISTEN_FDS) carry
/// over, and the pid stays.
fn reexec(binary: &OwnedFd) -> ExeError {
    let cstring = |bytes: Vec<u8>| CString::new(bytes).map_err(|_| ExeError::Exec(Errno::EINVAL));
    let args: Result<Vec<CString>, _> =
        std::env::args_os().map(|a| cstring(a.into_vec())).collect();
    let env: Result<Vec<CString>, _> = std::env::vars_os()
        .chain([(OsString::from(REEXECUTED), OsString::from("1"))])
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            cstring(kv)
        })
        .collect();
    let (args, env) = match (args, env) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    match nix::unistd::execveat(
        Some(binary.as_raw_fd()),
        c"",
        &args,
        &env,
        AtFlags::AT_EMPTY_PATH,
    ) {
        Err(e) => ExeError::Exec(e),
        Ok(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn a_plain_file_is_not_write_protected() {
        let f = tempfile::tempfile().unwrap();
        assert!(!write_protected(&f).unwrap());
    }

    #[test]
    fn a_memfd_is_protected_once_sealed_against_writes() {
        let flags = MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING;
        let mut f = File::from(memfd_create(c"test", flags).unwrap());
        f.write_all(b"binary").unwrap();
        assert!(!write_protected(&f).unwrap());
        fcntl(f.as_raw_fd(), FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_WRITE)).unwrap();
        assert!(write_protected(&f).unwrap());
    }

    #[test]
    fn a_sealed_copy_has_the_same_bytes_and_refuses_writes() {
        let mut src = tempfile::NamedTempFile::new().unwrap();
        src.write_all(b"\x7fELF and more").unwrap();
        let copy = File::from(sealed_copy(src.reopen().unwrap()).unwrap());
        assert!(write_protected(&copy).unwrap());
        let mut bytes = [0u8; 13];
        std::os::unix::fs::FileExt::read_exact_at(&copy, &mut bytes, 0).unwrap();
        assert_eq!(&bytes, b"\x7fELF and more");
        let reopened = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{}", copy.as_raw_fd()));
        let written = reopened.and_then(|mut w| w.write_all(b"PWNED"));
        assert!(written.is_err());
    }
}
