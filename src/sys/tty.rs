//! Pseudo-terminals: open a pty pair in the current mount namespace's devpts, make a terminal
//! the controlling one, window sizes.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

const TIOCGPTPEER: libc::c_ulong = 0x5441;

/// Opens /dev/ptmx as this process sees it (inside the container after pivot_root, so the pty
/// belongs to the container's devpts), unlocks it, and opens the slave through the master
/// (TIOCGPTPEER), never by path, so no rename in /dev/pts can hand us another file.
/// Returns (master, slave, slave number).
pub fn open_pty() -> Result<(OwnedFd, OwnedFd, u32), Errno> {
    // SAFETY: the path is a valid NUL-terminated string; the returned fd is checked and owned.
    let master = unsafe {
        libc::open(
            c"/dev/ptmx".as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    let master = Errno::result(master)?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which is valid for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) })?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int to the pointer, which is valid for the call.
    Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    let slave = Errno::result(unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, flags) })?;
    // SAFETY: the kernel just returned this fd to us and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    Ok((master, slave, number))
}

/// Makes `tty` the controlling terminal of the calling process, which must lead its session.
pub fn set_controlling(tty: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: TIOCSCTTY takes an int argument by value.
    Errno::result(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

pub fn get_winsize(tty: RawFd) -> Result<libc::winsize, Errno> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize to the pointer, which is valid for the call.
    Errno::result(unsafe { libc::ioctl(tty, libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

pub fn set_winsize(tty: RawFd, rows: u16, cols: u16) -> Result<(), Errno> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which is valid for the call.
    Errno::result(unsafe { libc::ioctl(tty, libc::TIOCSWINSZ, &ws) }).map(drop)
}
