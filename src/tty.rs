//! Terminals: the container's pty (made inside the container so it belongs to its devpts),
//! /dev/console, and handing the master to a console socket as runc does.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;

use crate::sys::tty as systty;

#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    #[error("open pseudo-terminal: {0}")]
    Open(Errno),
    #[error("set console size: {0}")]
    Size(Errno),
    #[error("{op} /dev/console: {source}")]
    Console { op: &'static str, source: Errno },
    #[error("make the terminal the controlling one: {0}")]
    Controlling(Errno),
    #[error("connect to console socket {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("send console to {path}: {source}")]
    Send { path: PathBuf, source: Errno },
}

/// Runs in the container process after pivot_root: opens a pty in the container's devpts,
/// applies `size`, bind-mounts the slave on /dev/console when `console` (the container's init
/// only, as runc: an exec'd process shares the container's mounts, and its pty, gone with it,
/// would stay mounted there and break the next `exec -t` with ENOENT), and makes it the
/// session's controlling terminal and the process's stdio. Returns the master and the slave's
/// name.
pub fn setup_in_container(
    size: Option<(u16, u16)>,
    console: bool,
) -> Result<(OwnedFd, String), TtyError> {
    let (master, slave, number) = systty::open_pty().map_err(TtyError::Open)?;
    if let Some((rows, cols)) = size {
        systty::set_winsize(master.as_raw_fd(), rows, cols).map_err(TtyError::Size)?;
    }
    if console {
        mount_console(&slave)?;
    }
    nix::unistd::setsid().map_err(TtyError::Controlling)?;
    systty::set_controlling(slave.as_fd()).map_err(TtyError::Controlling)?;
    for target in 0..3 {
        nix::unistd::dup2(slave.as_raw_fd(), target).map_err(TtyError::Controlling)?;
    }
    Ok((master, format!("/dev/pts/{number}")))
}

/// Binds the pty slave over /dev/console. The path is opened without following a symlink the
/// image may have put there (a link would let the mount land elsewhere), and must be a plain
/// file or a device node; a missing one is created as an empty file.
fn mount_console(slave: &OwnedFd) -> Result<(), TtyError> {
    let console = Path::new("/dev/console");
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(console, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => {
            let created = open(
                console,
                OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC
                    | OFlag::O_RDONLY,
                Mode::from_bits_truncate(0o600),
            )
            .map_err(|source| TtyError::Console {
                op: "create",
                source,
            })?;
            nix::unistd::close(created).map_err(|source| TtyError::Console {
                op: "create",
                source,
            })?;
            open(console, flags, Mode::empty())
                .map_err(|source| TtyError::Console { op: "open", source })?
        }
        Err(source) => return Err(TtyError::Console { op: "open", source }),
    };
    let st =
        nix::sys::stat::fstat(fd).map_err(|source| TtyError::Console { op: "stat", source })?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != libc::S_IFREG && kind != libc::S_IFCHR {
        let _ = nix::unistd::close(fd);
        return Err(TtyError::Console {
            op: "check",
            source: Errno::EINVAL,
        });
    }
    let src = format!("/proc/self/fd/{}", slave.as_raw_fd());
    let dst = format!("/proc/self/fd/{fd}");
    let res = mount(
        Some(src.as_str()),
        dst.as_str(),
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    );
    let _ = nix::unistd::close(fd);
    res.map_err(|source| TtyError::Console {
        op: "mount",
        source,
    })
}

/// Sends the pty master to the console socket at `path`: one SCM_RIGHTS message carrying
/// exactly one fd, with the pty's name as payload (what containerd and conmon expect).
pub fn send_to_console_socket(path: &Path, master: &OwnedFd, name: &str) -> Result<(), TtyError> {
    crate::process::channel::send_fd_to(path, master.as_fd(), name).map_err(|e| match e {
        crate::process::channel::SendFdError::Connect(source) => TtyError::Connect {
            path: path.to_owned(),
            source,
        },
        crate::process::channel::SendFdError::Send(source) => TtyError::Send {
            path: path.to_owned(),
            source,
        },
    })
}

/// runc's rules for terminals: a detached process with a terminal needs a console socket
/// (nobody else would hold the master), and a console socket needs a detached process with a
/// terminal.
pub fn check_console_rules(
    terminal: bool,
    detached: bool,
    console_socket: bool,
) -> Result<(), String> {
    if terminal && detached && !console_socket {
        return Err(
            "cannot allocate tty if runc will detach without setting console socket".into(),
        );
    }
    // The socket only makes sense when nobody else holds the master: a detached process
    // with a terminal.
    if console_socket && !(terminal && detached) {
        return Err("cannot use console socket if runc will not detach or allocate tty".into());
    }
    Ok(())
}

/// Where a new process's pty master goes: to the console socket, or kept for the runtime to
/// proxy (`run` and `exec` in the foreground).
pub struct ConsoleSink<'a> {
    pub socket: Option<&'a Path>,
    pub kept: &'a mut Option<OwnedFd>,
}

impl ConsoleSink<'_> {
    pub fn take(&mut self, master: OwnedFd, name: &str) -> Result<(), String> {
        match self.socket {
            Some(path) => send_to_console_socket(path, &master, name).map_err(|e| e.to_string()),
            None => {
                *self.kept = Some(master);
                Ok(())
            }
        }
    }
}

/// The caller's terminal in raw mode until dropped (for `run` proxying a container's pty).
pub struct RawMode {
    fd: RawFd,
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    /// None when `fd` is not a terminal.
    pub fn enter(fd: RawFd) -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let borrowed = crate::sys::fd::stdio(fd);
        let saved = tcgetattr(borrowed).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(borrowed, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        use nix::sys::termios::{tcsetattr, SetArg};
        let _ = tcsetattr(crate::sys::fd::stdio(self.fd), SetArg::TCSANOW, &self.saved);
    }
}

/// Copies the window size of the terminal at `from` (our stdin) to the pty master `to`.
pub fn copy_winsize(from: RawFd, to: RawFd) {
    if let Ok(ws) = systty::get_winsize(from) {
        let _ = systty::set_winsize(to, ws.ws_row, ws.ws_col);
    }
}

#[cfg(test)]
mod tests {
    use super::check_console_rules;

    #[test]
    fn console_rules_follow_runc() {
        // (terminal, detached, socket) -> ok?
        let cases = [
            ((true, true, true), true),
            ((true, true, false), false),
            ((true, false, false), true),
            ((true, false, true), false),
            ((false, true, true), false),
            ((false, false, true), false),
            ((false, true, false), true),
            ((false, false, false), true),
        ];
        for ((t, d, s), ok) in cases {
            assert_eq!(
                check_console_rules(t, d, s).is_ok(),
                ok,
                "terminal={t} detached={d} socket={s}"
            );
        }
    }
}
