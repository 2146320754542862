//! Staying with a process in the foreground (`run`, `exec` without --detach): forward signals
//! to it, proxy its terminal, and return its exit status.

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Signals blocked while in the foreground, read from a signalfd instead.
pub struct Blocked {
    set: SigSet,
}

/// Signals we pass on to the container process instead of dying of them.
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

pub fn block_signals() -> anyhow::Result<Blocked> {
    let set = forwarded();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    Ok(Blocked { set })
}

/// Waits for `pid` (our child), forwarding signals and, when `console` is the pty master,
/// copying our stdin to it and its output to our stdout. The exit code, 128+N for signal N.
pub fn supervise(pid: Pid, blocked: &Blocked, console: Option<OwnedFd>) -> anyhow::Result<u8> {
    let sfd = SignalFd::with_flags(&blocked.set, SfdFlags::SFD_CLOEXEC)?;
    let stdin = std::io::stdin();
    let _raw = console
        .as_ref()
        .and_then(|_| crate::tty::RawMode::enter(stdin.as_raw_fd()));
    if let Some(m) = &console {
        crate::tty::copy_winsize(stdin.as_raw_fd(), m.as_raw_fd());
    }
    let mut master = console.map(std::fs::File::from);
    let mut stdin_open = master.is_some();
    let mut buf = [0u8; 8192];
    let mut exit = None;
    loop {
        if let Some(code) = exit {
            // Drain what the process wrote before it exited.
            if let Some(m) = master.as_mut() {
                copy_available(m, &mut buf);
            }
            return Ok(code);
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = &master {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if master_ready {
            if let Some(m) = master.as_mut() {
                match m.read(&mut buf) {
                    Ok(0) | Err(_) => master = None,
                    Ok(n) => {
                        let mut out = std::io::stdout().lock();
                        let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                    }
                }
            }
        }
        if stdin_ready {
            match stdin.lock().read(&mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    if let Some(m) = master.as_mut() {
                        let _ = m.write_all(&buf[..n]);
                    }
                }
            }
        }
        if sig_ready {
            if let Ok(Some(info)) = sfd.read_signal() {
                let sig = Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)).ok();
                match sig {
                    Some(Signal::SIGCHLD) => {}
                    Some(Signal::SIGWINCH) => {
                        if let Some(m) = &master {
                            crate::tty::copy_winsize(stdin.as_raw_fd(), m.as_raw_fd());
                        }
                    }
                    Some(s) => {
                        let _ = kill(pid, s);
                    }
                    None => {}
                }
            }
        }
        exit = reap(pid)?;
    }
}

/// The exit code of `pid` if it has ended; other children are reaped and ignored.
fn reap(pid: Pid) -> anyhow::Result<Option<u8>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => {
                return Ok(Some(u8::try_from(code & 0xff).unwrap_or(255)))
            }
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => {
                return Ok(Some(u8::try_from(128 + sig as i32).unwrap_or(255)))
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Copies whatever the pty still holds to stdout, without blocking.
fn copy_available(master: &mut std::fs::File, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        match master.read(buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
            }
        }
    }
}
