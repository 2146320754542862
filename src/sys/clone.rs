//! clone3(2) used like fork(2): the child continues on a copy of the caller's stack.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::unistd::Pid;

/// What clone3 returned, as fork(2) does.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// `struct clone_args` (linux/sched.h), version 2 (with `cgroup`).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

pub const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Clones the calling process with namespace `flags` (CLONE_NEW*, CLONE_PARENT), SIGCHLD as exit
/// signal, and optionally straight into the cgroup open at `cgroup`.
///
/// The caller must be single-threaded: the child gets a copy of this thread only, so any lock
/// another thread held would stay locked forever in the child.
pub fn clone3(flags: u64, cgroup: Option<BorrowedFd<'_>>) -> Result<Forked, Errno> {
    // clone3 refuses an exit signal with CLONE_PARENT: the child then reports to our parent
    // with our own exit signal (SIGCHLD).
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags,
        exit_signal,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = u64::try_from(fd.as_raw_fd()).map_err(|_| Errno::EBADF)?;
    }
    // SAFETY: `args` is a valid, fully initialised clone_args of the size we pass. With a zero
    // stack and no CLONE_VM the kernel gives the child a copy-on-write copy of our address space
    // and it returns here on its copy of our stack, exactly like fork(2); the caller guarantees
    // the process is single-threaded.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            std::ptr::addr_of_mut!(args),
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(
            i32::try_from(pid).map_err(|_| Errno::EOVERFLOW)?,
        ))),
    }
}

/// Terminates the calling process at once, without running atexit handlers or flushing stdio
/// buffers that belong to the parent's copy.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes no pointers and never returns.
    unsafe { libc::_exit(code) }
}
