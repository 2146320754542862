//! `run`: create + start, then (in the foreground) forward signals, wait, delete.

use std::path::Path;

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::lifecycle::create_request;
use crate::cli::RunArgs;
use crate::container::{self, create};

/// Signals `run` passes on to the container process instead of dying of them.
fn forwarded() -> SigSet {
    let mut set = SigSet::all();
    for s in [
        Signal::SIGKILL,
        Signal::SIGSTOP,
        Signal::SIGSEGV,
        Signal::SIGBUS,
        Signal::SIGILL,
        Signal::SIGFPE,
        Signal::SIGTRAP,
        Signal::SIGABRT,
        Signal::SIGSYS,
    ] {
        set.remove(s);
    }
    set
}

pub fn run(root: &Path, a: &RunArgs) -> anyhow::Result<u8> {
    let req = create_request(root, &a.create)?;
    // Block before the clone so no signal is lost between start and the wait loop; the
    // container process clears its mask before execve.
    let set = forwarded();
    let mut old = SigSet::empty();
    if !a.detach {
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))?;
    }
    let mut c = create::create(&req)?;
    if let Err(e) = container::start::start(&mut c) {
        let _ = container::delete::delete(&c, true);
        return Err(e.into());
    }
    if a.detach {
        return Ok(0);
    }
    let pid = c.pid().expect("a started container has a pid");
    let code = forward_and_wait(pid, &set)?;
    if !a.keep {
        container::delete::delete(&c, true)?;
    }
    Ok(code)
}

/// Forwards every signal we get to `pid` until it exits; its exit code, or 128+N for signal N.
fn forward_and_wait(pid: Pid, set: &SigSet) -> anyhow::Result<u8> {
    loop {
        // Reap first: the child may have exited before we started waiting for SIGCHLD.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == pid => {
                    return Ok(u8::try_from(code & 0xff).unwrap_or(255))
                }
                Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => {
                    return Ok(u8::try_from(128 + sig as i32).unwrap_or(255))
                }
                Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => break,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let sig = set.wait()?;
        if sig != Signal::SIGCHLD {
            let _ = kill(pid, sig);
        }
    }
}
