//! File descriptor helpers: close-on-exec ranges, pidfds.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::unistd::Pid;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every fd from `first` upwards close-on-exec, so nothing the runtime inherited or opened
/// leaks into the container (CVE-2024-21626 class).
pub fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    let first = libc::c_uint::try_from(first).map_err(|_| Errno::EBADF)?;
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it only sets flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    Errno::result(ret).map(drop)
}

/// Clears close-on-exec on `fd` so it survives execve (--preserve-fds, LISTEN_FDS).
pub fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl with F_SETFD on an integer fd touches no memory of ours.
    Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// Opens a pidfd for `pid` (pidfd_open(2)).
pub fn pidfd_open(pid: Pid) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments.
    let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = Errno::result(ret)?;
    let fd = RawFd::try_from(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Closes every fd from `first` upwards except those in `keep`, so the container process does
/// not hold the runtime's locks, log or state files while it waits for `start`.
pub fn close_from_except(first: RawFd, keep: &[RawFd]) -> Result<(), Errno> {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= first).collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo = first;
    for fd in keep.into_iter().chain(std::iter::once(RawFd::MAX)) {
        if fd > lo {
            let (a, b) = (libc::c_uint::try_from(lo), libc::c_uint::try_from(fd - 1));
            let (Ok(a), Ok(b)) = (a, b) else {
                return Err(Errno::EBADF);
            };
            // SAFETY: close_range takes plain integers; the fds in [a, b] are ours to close:
            // this runs in the freshly cloned child, which owns no Rust object using them
            // except those the caller listed in `keep`.
            Errno::result(unsafe { libc::syscall(libc::SYS_close_range, a, b, 0) })?;
        }
        lo = fd.saturating_add(1);
    }
    Ok(())
}

/// openat2(2) of `path` below `dir` with `flags` (O_CLOEXEC added) and `resolve`. EAGAIN (a
/// concurrent rename or mount made the kernel give up the lookup) is retried a few times.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
    resolve: ResolveFlag,
) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(resolve);
    let mut tries = 0;
    loop {
        match nix::fcntl::openat2(dir.as_raw_fd(), path, how) {
            Err(Errno::EAGAIN) if tries < 16 => tries += 1,
            Err(e) => return Err(e),
            // SAFETY: the kernel just returned this fd to us and nothing else owns it.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd) }),
        }
    }
}

/// Takes ownership of an fd the kernel just handed us (SCM_RIGHTS).
pub fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller passes an fd it received from the kernel and that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Borrows one of the process's stdio fds (0, 1, 2), which live as long as the process.
pub fn stdio(fd: RawFd) -> std::os::fd::BorrowedFd<'static> {
    assert!(
        (0..3).contains(&fd),
        "only stdio fds can be borrowed for 'static"
    );
    // SAFETY: stdio fds stay open for the life of the process (we never close them).
    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }
}
