//! File descriptor helpers: close-on-exec ranges, pidfds.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::unistd::Pid;

const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;

/// Marks every fd from `first` upwards close-on-exec, so nothing the runtime inherited or opened
/// leaks into the container (CVE-2024-21626 class).
///
/// This can run after the container's seccomp filter is in place (the filter goes on before the
/// user switch when the process keeps no CAP_SYS_ADMIN). Profiles written before Linux 5.9 do
/// not list close_range and answer ENOSYS or EPERM for it (runtime-tools' default profile does):
/// then the fds are found in /proc/self/fd and marked one by one with fcntl.
pub fn cloexec_from(first: RawFd) -> Result<(), Errno> {
    let first_u = libc::c_uint::try_from(first).map_err(|_| Errno::EBADF)?;
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it only sets flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first_u,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    match Errno::result(ret) {
        Err(e @ (Errno::ENOSYS | Errno::EPERM)) => cloexec_from_proc(first).map_err(|_| e),
        r => r.map(drop),
    }
}

/// `cloexec_from` without close_range: every open fd listed in /proc/self/fd.
pub fn cloexec_from_proc(first: RawFd) -> Result<(), Errno> {
    let fds: Vec<RawFd> = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect();
    // The directory's own fd is in the list but closed by now: EBADF for it is expected.
    for fd in fds {
        // SAFETY: fcntl F_GETFD/F_SETFD on an integer fd only reads and sets its flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags < 0 {
            continue;
        }
        // SAFETY: as above.
        Errno::result(unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) })?;
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use super::*;

    fn has_cloexec(fd: RawFd) -> bool {
        // SAFETY: F_GETFD on an fd the test owns only reads its flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert!(flags >= 0, "fcntl(F_GETFD, {fd})");
        flags & libc::FD_CLOEXEC != 0
    }

    #[test]
    fn proc_fallback_marks_fds_close_on_exec() {
        let file = std::fs::File::open("/dev/null").unwrap();
        // dup(2) returns an fd without FD_CLOEXEC, as an inherited fd would be.
        // SAFETY: dup of an open fd; the new fd is owned right away below.
        let raw = unsafe { libc::dup(file.as_raw_fd()) };
        assert!(raw >= 0);
        let dup = owned(raw);
        assert!(!has_cloexec(dup.as_raw_fd()));
        cloexec_from_proc(dup.as_raw_fd()).unwrap();
        assert!(has_cloexec(dup.as_raw_fd()));
    }
}
