//! User namespaces made only to carry an ID mapping for `MOUNT_ATTR_IDMAP`: a helper child
//! unshares a user namespace, we write its `uid_map`/`gid_map` from outside, keep a descriptor of
//! the namespace and let the child exit. The namespace lives on as long as the descriptor.
//! Also the fork helper the privileged rootfs tests use to confine themselves.
#![allow(dead_code)]

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe2, ForkResult, Pid};

/// A failed step of [`userns_with_mappings`].
#[derive(Debug, thiserror::Error)]
#[error("{step}: {errno}")]
pub struct UsernsError {
    pub step: &'static str,
    pub errno: Errno,
}

fn step(step: &'static str) -> impl FnOnce(Errno) -> UsernsError {
    move |errno| UsernsError { step, errno }
}

fn io_step(step: &'static str) -> impl FnOnce(std::io::Error) -> UsernsError {
    move |e| UsernsError {
        step,
        errno: Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
    }
}

/// A descriptor of a new user namespace whose `uid_map` and `gid_map` are `uid_map`/`gid_map`
/// (lines of "inside outside count", as written to /proc/PID/uid_map). The caller needs
/// CAP_SETUID/CAP_SETGID over the mapped IDs; the process must be able to fork.
pub fn userns_with_mappings(uid_map: &str, gid_map: &str) -> Result<OwnedFd, UsernsError> {
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).map_err(step("pipe"))?;
    let (release_r, release_w) = pipe2(OFlag::O_CLOEXEC).map_err(step("pipe"))?;
    // SAFETY: the child only makes raw syscalls (close, unshare, write, read, _exit): no
    // allocation or locks, so it is sound even if other threads existed at fork time.
    match unsafe { fork() }.map_err(step("fork"))? {
        ForkResult::Child => {
            drop(release_w);
            drop(ready_r);
            let errno = match unshare(CloneFlags::CLONE_NEWUSER) {
                Ok(()) => 0i32,
                Err(e) => e as i32,
            };
            let _ = nix::unistd::write(&ready_w, &errno.to_ne_bytes());
            // Wait until the parent has opened our namespace: it closes its end, we read EOF.
            let mut byte = [0u8; 1];
            let _ = nix::unistd::read(release_r.as_raw_fd(), &mut byte);
            // SAFETY: _exit ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(release_r);
            let result = configure_helper(child, &ready_r, uid_map, gid_map);
            drop(release_w);
            let _ = waitpid(child, None);
            result
        }
    }
}

fn configure_helper(
    child: Pid,
    ready: &OwnedFd,
    uid_map: &str,
    gid_map: &str,
) -> Result<OwnedFd, UsernsError> {
    let mut buf = [0u8; 4];
    let n = nix::unistd::read(ready.as_fd().as_raw_fd(), &mut buf).map_err(step("read helper"))?;
    if n != buf.len() {
        return Err(UsernsError {
            step: "helper exited early",
            errno: Errno::ECHILD,
        });
    }
    let errno = i32::from_ne_bytes(buf);
    if errno != 0 {
        return Err(UsernsError {
            step: "unshare user namespace",
            errno: Errno::from_raw(errno),
        });
    }
    std::fs::write(format!("/proc/{child}/uid_map"), uid_map).map_err(io_step("write uid_map"))?;
    std::fs::write(format!("/proc/{child}/gid_map"), gid_map).map_err(io_step("write gid_map"))?;
    let ns = File::open(format!("/proc/{child}/ns/user")).map_err(io_step("open userns"))?;
    Ok(ns.into())
}

/// Run `f` in a forked child and return its exit status (128 + signal if it was killed; a panic
/// exits 101). For tests that must change process-wide state (mount namespace, root) without
/// touching the test runner. The child must not rely on locks other threads may hold at fork.
pub fn run_in_child(f: impl FnOnce() -> i32) -> Result<i32, Errno> {
    // SAFETY: see the doc comment: callers run only code that does not depend on other threads;
    // glibc's malloc is fork-safe.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: _exit ends the forked child without running the parent's atexit handlers
            // or flushing its copied stdio buffers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => loop {
            match waitpid(child, None) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(code),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(128 + sig as i32),
                Ok(_) => continue,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e),
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_in_child_reports_exit_code_and_panic() {
        assert_eq!(run_in_child(|| 7).unwrap(), 7);
        assert_eq!(run_in_child(|| panic!("boom")).unwrap(), 101);
    }

    #[test]
    fn userns_gets_the_requested_mappings() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let fd = userns_with_mappings("0 1000 10\n", "0 2000 5\n").expect("userns");
        // Join it in a child and read back the mapping as seen from inside.
        let code = run_in_child(|| {
            if nix::sched::setns(&fd, CloneFlags::CLONE_NEWUSER).is_err() {
                return 2;
            }
            let uid = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
            let gid = std::fs::read_to_string("/proc/self/gid_map").unwrap_or_default();
            let uid: Vec<&str> = uid.split_whitespace().collect();
            let gid: Vec<&str> = gid.split_whitespace().collect();
            i32::from(uid != ["0", "1000", "10"] || gid != ["0", "2000", "5"]) * 3
        })
        .unwrap();
        assert_eq!(code, 0);
    }
}
